#!/usr/bin/env python
"""NumPy step time of two neurosim trees side by side: the generated model code against the
hand-written code it replaced (or any two versions).

    git archive <commit> | tar -x -C /tmp/neurosim-before
    python benchmarks/model_step_speed.py /tmp/neurosim-before .          # before, after
    python benchmarks/model_step_speed.py A B --rounds 7 --window-ms 20

For each network -- COBA (``LIFCond``, 4,000 neurons), Brunel 2000 (``LIF`` with delta
synapses, 12,500 neurons) and the Potjans-Diesmann microcircuit (``LIF`` with exponential
synapses, ``--pd-scale`` of the neurons, all in-degrees) on ``device="cpu"`` -- and for the
single neurons of ``--models`` (10^5 uncoupled neurons each), each tree is run in its own
process (``PYTHONPATH`` = the tree), the processes alternating round by round so that both see
the same machine load. A process builds the network, runs a warm-up, then times ``blocks``
windows of ``--window-ms`` each: the whole step (``Network.run``) and the neuron updates alone
(``_NeuronGroup.step`` of the NumPy engine: integrate, refractory hold, threshold, reset).
Printed: the median ms per step over every window of every round, per tree, and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent(r"""
    import json, sys, time
    import numpy as np
    import neurosim as ns
    from neurosim.engine import numpy_engine
    case, window, blocks = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    pd_scale = float(sys.argv[4])
    spent = [0.0]
    step = numpy_engine._NeuronGroup.step
    def timed(self, n, row):
        t0 = time.perf_counter()
        out = step(self, n, row)
        spent[0] += time.perf_counter() - t0
        return out
    numpy_engine._NeuronGroup.step = timed
    from neurosim.networks import classic, potjans_diesmann
    kw = dict(device="cpu", seed=1, record=True, connectivity="host")
    if case == "coba":
        net = classic.vogels_abbott_coba(**kw).network
    elif case == "brunel":
        net = classic.brunel_2000(5.0, 2.0, **kw).network
    elif case == "microcircuit":
        net = potjans_diesmann(pd_scale, 1.0, background="poisson", **kw).network
    else:                                     # one model, 10^5 uncoupled neurons, DC drive
        model = {"LIF": lambda: ns.LIF(i_offset=400.0),
                 "LIF_delta": lambda: ns.LIF(i_offset=400.0, synapse="delta"),
                 "LIFCond": lambda: ns.LIFCond(i_offset=400.0),
                 "AdEx": lambda: ns.AdEx(i_offset=800.0),
                 "Izhikevich": lambda: ns.Izhikevich(i_offset=10.0)}[case]()
        net = ns.Network(dt=0.1, device="cpu", seed=1)
        pop = net.add_population(100_000, model)
        net.record_spikes(pop)
    net.run(2 * window)
    total, neurons = [], []
    steps = int(round(window / 0.1))
    for _ in range(blocks):
        spent[0] = 0.0
        t0 = time.perf_counter()
        net.run(window)
        total.append((time.perf_counter() - t0) / steps * 1e3)
        neurons.append(spent[0] / steps * 1e3)
    print(json.dumps({"total": total, "neurons": neurons}))
""")


def run(tree: Path, case: str, args) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, "-c", CHILD, case, str(args.window_ms),
                          str(args.blocks), str(args.pd_scale)],
                         env=env, cwd=str(tree), capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("before", type=Path, help="repository root of the first tree")
    ap.add_argument("after", type=Path, help="repository root of the second tree")
    ap.add_argument("--cases", default="coba,brunel,microcircuit",
                    help="comma-separated: coba, brunel, microcircuit, LIF, LIF_delta, "
                         "LIFCond, AdEx, Izhikevich")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--window-ms", type=float, default=20.0)
    ap.add_argument("--pd-scale", type=float, default=0.1)
    args = ap.parse_args(argv)
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    print(f"load average {os.getloadavg()[0]:.2f}; {args.rounds} rounds x {args.blocks} "
          f"windows of {args.window_ms} ms; medians in ms per step")
    print(f"{'case':14s} {'part':8s} {'before':>9s} {'after':>9s} {'after/before':>13s}")
    for case in args.cases.split(","):
        got = {k: {"total": [], "neurons": []} for k in trees}
        for r in range(args.rounds):
            order = list(trees) if r % 2 == 0 else list(trees)[::-1]
            for k in order:
                res = run(trees[k], case, args)
                for part in ("total", "neurons"):
                    got[k][part] += res[part]
        for part in ("total", "neurons"):
            b = statistics.median(got["before"][part])
            a = statistics.median(got["after"][part])
            print(f"{case:14s} {part:8s} {b:9.3f} {a:9.3f} {a / b:13.3f}", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
