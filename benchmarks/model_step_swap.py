#!/usr/bin/env python
"""The neuron updates of one network, hand-written model code against generated code, in one
process on the same network and state.

    git archive 3fcf5ce | tar -x -C /tmp/neurosim-before      # the hand-written LIF/LIFCond
    python benchmarks/model_step_swap.py /tmp/neurosim-before microcircuit   # or brunel, coba

Builds the network (``device="cpu"``; the microcircuit at scale 0.1 with all in-degrees, Brunel
2000 and COBA at full size) with this tree, runs 20 ms, then runs 30 windows of 200 steps,
alternately with the NumPy engine's neuron groups using the generated ``integrate`` /
``threshold`` / ``reset`` / ``clamp`` of this tree and the hand-written class methods (and
their constants) of the model read from ``OLD/neurosim/models/`` (``lif.py`` or
``lif_cond.py`` with that tree's ``base.py``). Prints the median microseconds per step spent
in the neuron updates (``_NeuronGroup.step``) for each.
"""

import statistics
import sys
import time
import types

import numpy as np

OLD, case = sys.argv[1], sys.argv[2]
import neurosim as ns
from neurosim.engine import numpy_engine
from neurosim.networks import classic, potjans_diesmann
def load_old(path, name):
    base_src = open(OLD + "/neurosim/models/base.py").read().replace("from .. import", "from neurosim import")
    bmod = types.ModuleType(name + "_base"); sys.modules[name + "_base"] = bmod; exec(compile(base_src, name + "_base", "exec"), bmod.__dict__)
    src = open(path).read().replace("from .base import", f"from {name}_base import").replace("from .. import", "from neurosim import")
    mod = types.ModuleType(name); sys.modules[name] = mod; exec(compile(src, name, "exec"), mod.__dict__); return mod
if case == "microcircuit":
    net = potjans_diesmann(0.1, 1.0, background="poisson", device="cpu", seed=1, record=True, connectivity="host").network
    Old = load_old(OLD + "/neurosim/models/lif.py", "oldl").LIF
elif case == "brunel":
    net = classic.brunel_2000(5.0, 2.0, device="cpu", seed=1, record=True, connectivity="host").network
    Old = load_old(OLD + "/neurosim/models/lif.py", "oldl").LIF
else:
    net = classic.vogels_abbott_coba(device="cpu", seed=2, record=True, connectivity="host").network
    Old = load_old(OLD + "/neurosim/models/lif_cond.py", "oldlc").LIFCond
net.run(20.0)
eng = net._engine
grps = [g for g in eng.groups if isinstance(g, numpy_engine._NeuronGroup)] if hasattr(eng, "groups") else None
if grps is None:
    grps = [v for v in vars(eng).values() if isinstance(v, list) for v in v if isinstance(v, numpy_engine._NeuronGroup)]
new_attrs = [(g.integrate, g.threshold, g.reset, g.clamp, g.c, g.tmp) for g in grps]
old_attrs = []
for g in grps:
    c = Old.constants(g.g.params, net.dt)
    old_attrs.append((Old.integrate, Old.threshold, Old.reset, None, c, np.empty((Old.scratch, g.size), np.float32)))
spent = [0.0]
step = numpy_engine._NeuronGroup.step
def timed(self, n, row):
    t0 = time.perf_counter(); out = step(self, n, row); spent[0] += time.perf_counter() - t0; return out
numpy_engine._NeuronGroup.step = timed
res = {"hand": [], "generated": []}
for r in range(30):
    which = ["hand", "generated"][r % 2]
    for g, a in zip(grps, old_attrs if which == "hand" else new_attrs):
        g.integrate, g.threshold, g.reset, g.clamp, g.c, g.tmp = a
    spent[0] = 0.0
    net.run(20.0)
    res[which].append(spent[0] / 200 * 1e6)
print(case, {k: round(statistics.median(v), 2) for k, v in res.items()}, "us per step (neuron updates, median of 15 x 200 steps, alternating)")
