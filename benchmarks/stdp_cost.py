#!/usr/bin/env python
"""Cost of STDP relative to static synapses on the Brunel (2000) network (issue 4).

    python benchmarks/stdp_cost.py                      # full size, 1 s, NumPy backend
    python benchmarks/stdp_cost.py --n-exc 2000 --duration 500 --output /tmp/stdp.json
    python benchmarks/stdp_cost.py --repeats 5          # median of 5 runs of each

The same network (``neurosim.networks.brunel_2000``, g = 5, eta = 2, same seed) runs twice:
with static synapses, and with pair STDP on the excitatory-to-excitatory projection (10^7
synapses at full size; all-to-all pairing, additive, hard bounds [0, 2 J]). The amplitudes are
small (A+ = 0.001 J, A- = 1.05 A+) so that the activity, and with it the work of spike delivery,
stays that of the static network over the run: the rates of both runs are reported, so a reader
can check that the comparison is fair. Reported: build and simulation wall times, the ratio of
simulation times (the aim: under 2x on NumPy) in wall-clock and process CPU time (the latter is
less affected when other programs share the cores), rates, numbers of synapses. With
``--repeats N`` the two networks run N times each, alternately (static, STDP, static, ...), so
that a change of load on the machine hits both; each figure is the median of its N runs and the
ratios are those of the medians (every run's times are kept in the JSON). Prints a table and
writes JSON (default ``reports/stdp-cost.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

try:
    import neurosim as ns
except ImportError:  # a source checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import neurosim as ns
from neurosim.networks import brunel_2000
from neurosim.plasticity import STDP


def run(n_exc: int, duration: float, seed: int, device: str, plastic: bool, pairing: str):
    rn = brunel_2000(n_exc=n_exc, seed=seed, device=device)
    net, exc = rn.network, rn.populations["exc"]
    J = rn.params["J"]
    ee = next(p for p in net.projections if p.pre is exc and p.post is exc)
    if plastic:
        rule = STDP(A_plus=1e-3 * J, A_minus=1.05e-3 * J, tau_plus=20.0, tau_minus=20.0,
                    w_min=0.0, w_max=2.0 * J, pairing=pairing)
        rule.check(ee.pre, ee.post, ee.receptor, ee.weight)
        ee.plasticity = rule              # before the build: the engine makes it plastic
    t0 = time.perf_counter()
    net.build()
    build = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    net.run(duration)
    sim = time.perf_counter() - t0
    sim_cpu = time.process_time() - c0
    rates = {k: float(m.rates().mean()) for k, m in rn.monitors.items()}
    n_syn = sum(p.n_synapses for p in net.projections)
    rec = {"plastic": plastic, "pairing": pairing if plastic else None, "build_s": build,
           "sim_s": sim, "sim_cpu_s": sim_cpu, "x_realtime": duration * 1e-3 / sim, "rates_hz": rates,
           "n_synapses": n_syn, "n_plastic_synapses": ee.n_synapses if plastic else 0,
           "backend": net.backend}
    if plastic:
        w = ee.weights
        rec["weights_after"] = {"mean": float(w.mean()), "min": float(w.min()),
                                "max": float(w.max()), "initial": J}
    return rec


def _median_run(recs: list) -> dict:
    """The first run's record with build and simulation times replaced by the medians over
    ``recs`` (rates and weights are the same in every run: same seed), every run's times kept."""
    out = dict(recs[0])
    for k in ("build_s", "sim_s", "sim_cpu_s"):
        out[k] = float(np.median([r[k] for r in recs]))
        out[k + "_runs"] = [r[k] for r in recs]
    out["x_realtime"] = recs[0]["x_realtime"] * recs[0]["sim_s"] / out["sim_s"]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-exc", type=int, default=10_000)
    ap.add_argument("--duration", type=float, default=1000.0, help="simulated ms")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=1,
                    help="runs of each network, alternately; figures are medians")
    ap.add_argument("--pairing", default="all", choices=["all", "nearest", "nearest_reduced"])
    ap.add_argument("--output", default=str(Path(__file__).resolve().parents[1] / "reports"
                                            / "stdp-cost.json"))
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error(f"--repeats must be at least 1, got {args.repeats}")
    runs = {False: [], True: []}
    for _ in range(args.repeats):
        for plastic in (False, True):
            runs[plastic].append(run(args.n_exc, args.duration, args.seed, args.device, plastic,
                                     args.pairing))
    static, stdp = _median_run(runs[False]), _median_run(runs[True])
    ratio = stdp["sim_s"] / static["sim_s"]
    result = {"benchmark": "stdp_cost", "network": "brunel_2000(g=5, eta=2)",
              "n_exc": args.n_exc, "duration_ms": args.duration, "seed": args.seed,
              "device": args.device, "repeats": args.repeats, "static": static, "stdp": stdp,
              "sim_ratio": ratio, "sim_cpu_ratio": stdp["sim_cpu_s"] / static["sim_cpu_s"],
              "target_ratio": 2.0, "meets_target": bool(ratio < 2.0),
              "meets_target_cpu": bool(stdp["sim_cpu_s"] / static["sim_cpu_s"] < 2.0),
              "python": platform.python_version(), "numpy": np.__version__,
              "machine": platform.machine(), "cpu_count": os.cpu_count(),
              "neurosim": ns.__version__}
    print(f"Brunel 2000, {args.n_exc + args.n_exc // 4:,} neurons, {static['n_synapses']:,} "
          f"synapses ({stdp['n_plastic_synapses']:,} plastic E->E), {args.duration:g} ms, "
          f"backend {static['backend']}")
    print(f"{'':10s}{'build s':>10s}{'sim s':>10s}{'x real':>9s}{'exc Hz':>9s}{'inh Hz':>9s}")
    for name, r in (("static", static), ("STDP", stdp)):
        print(f"{name:10s}{r['build_s']:10.2f}{r['sim_s']:10.2f}{r['x_realtime']:9.3f}"
              f"{r['rates_hz']['exc']:9.2f}{r['rates_hz']['inh']:9.2f}")
    print(f"STDP / static simulation time: {ratio:.2f}x (aim: < 2x); process CPU time "
          f"{result['sim_cpu_ratio']:.2f}x (less sensitive to other load on the machine)")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
