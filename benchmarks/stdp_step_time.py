#!/usr/bin/env python
"""Step time of the Brunel (2000) network with pair STDP on E->E, NumPy backend: the whole step
and the plastic runtime's part of it, median over repeated runs (issue 12: the rules written as
descriptions must not be slower than the hand-written ones).

    python benchmarks/stdp_step_time.py --n-exc 2000 --duration 200 --repeat 5

Each variant of ``ns.STDP`` (pairing x update) runs in a fresh network (same seed) for 50 ms of
warm-up, then ``duration`` ms timed. Prints one line per variant: median ms per step, median µs
per step in the plastic runtime, and the sum of the final weights (float64), which must not
change between two versions that compute the same thing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

try:
    import neurosim as ns  # noqa: F401
except ImportError:  # a source checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from neurosim.networks import brunel_2000
from neurosim.plasticity import STDP

VARIANTS = [("all", "additive"), ("nearest", "additive"), ("nearest_reduced", "additive"),
            ("all", "multiplicative"), ("nearest", "multiplicative")]


def one(n_exc: int, duration: float, pairing: str, update: str):
    rn = brunel_2000(n_exc=n_exc, seed=1, device="cpu")
    net, exc = rn.network, rn.populations["exc"]
    J = rn.params["J"]
    ee = next(p for p in net.projections if p.pre is exc and p.post is exc)
    rule = STDP(A_plus=1e-3 * J, A_minus=1.05e-3 * J, w_min=0.0, w_max=2.0 * J,
                pairing=pairing, update=update)
    rule.check(ee.pre, ee.post, ee.receptor, ee.weight)
    ee.plasticity = rule
    net.build()
    rt = net._ensure_built().plastic[0]
    spent = [0.0]
    inner = rt.step

    def timed(*args):
        t0 = time.perf_counter()
        inner(*args)
        spent[0] += time.perf_counter() - t0
    rt.step = timed
    net.run(50.0)
    spent[0] = 0.0
    t0 = time.perf_counter()
    net.run(duration)
    steps = round(duration / net.dt)
    return ((time.perf_counter() - t0) / steps * 1e3, spent[0] / steps * 1e6,
            float(np.asarray(ee.weights, np.float64).sum()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-exc", type=int, default=2000)
    ap.add_argument("--duration", type=float, default=200.0, help="timed ms")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    for pairing, update in VARIANTS:
        runs = [one(args.n_exc, args.duration, pairing, update) for _ in range(args.repeat)]
        step = statistics.median(r[0] for r in runs)
        plastic = statistics.median(r[1] for r in runs)
        print(f"{pairing:16s} {update:14s} step {step:7.3f} ms  plastic {plastic:8.1f} us  "
              f"sum w {runs[-1][2]!r}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
