#!/usr/bin/env python
"""What STDP costs the CUDA path of the Brunel (2000) network, counted without a GPU (issue 13).

    python benchmarks/stdp_stepcost.py                        # n_exc = 2000, 10 ms counted
    python benchmarks/stdp_stepcost.py --n-exc 1000 --output /tmp/stdp-stepcost.json

The network and the rule of ``benchmarks/stdp_cost.py`` (``brunel_2000``, g = 5, eta = 2; pair
STDP on E->E, all-to-all, additive, A+ = 0.001 J, A- = 1.05 A+, bounds [0, 2 J]) run on
``device="cuda:host"`` with counting host modules (:mod:`neurosim.backends.hostcount`: the
kernel sources compiled with every load and store counted), once static and once plastic, from
the same seed: after an uncounted warm-up, a window of steps is counted. Reported per step, for
each run: kernel launches and the **distinct** bytes every kernel reads and writes (the traffic
of a GPU whose caches hold repeated reads within a launch), by kernel; and per spike arriving
through an E->E synapse, the bytes of the kernels that deliver and learn on that projection.
These are properties of the kernels and the network, not of this machine (no GPU timing is
made or implied). Writes JSON (default ``reports/stdp-stepcost.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

try:
    import neurosim as ns
except ImportError:  # a source checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import neurosim as ns
from neurosim.backends import hostcount
from neurosim.networks import brunel_2000
from neurosim.plasticity import STDP


def count(n_exc: int, seed: int, plastic: bool, warmup: float, window: float) -> dict:
    with hostcount.counting() as tally:
        rn = brunel_2000(n_exc=n_exc, seed=seed, device="cuda:host")
        net, exc = rn.network, rn.populations["exc"]
        J = rn.params["J"]
        ee = next(p for p in net.projections if p.pre is exc and p.post is exc)
        if plastic:
            ee.plasticity = STDP(A_plus=1e-3 * J, A_minus=1.05e-3 * J, tau_plus=20.0,
                                 tau_minus=20.0, w_min=0.0, w_max=2.0 * J, pairing="all")
        net.run(warmup)
        mon = net.record_spikes(exc)
        first = net._steps_done
        tally.reset()
        net.run(window)
        steps = net._steps_done - first
        kernels = tally.kernels()
    idx = np.asarray(mon.indices)
    out_degree = np.bincount(np.asarray(ee.sources), minlength=exc.size)
    arrivals = int(out_degree[idx].sum())      # E->E synapses carrying the window's spikes
    per_kernel = {}
    for k, v in sorted(kernels.items()):
        per_kernel[k] = {
            "launches_per_step": v["launches"] / steps,
            "distinct_bytes_per_step": (sum(v["read_distinct"].values())
                                        + sum(v["write_distinct"].values())) / steps,
            "arrays_distinct_bytes_per_step": {
                a: (v["read_distinct"].get(a, 0) + v["write_distinct"].get(a, 0)) / steps
                for a in sorted(set(v["read_distinct"]) | set(v["write_distinct"]))}}
    return {"plastic": plastic, "steps": steps, "exc_spikes_per_step": idx.size / steps,
            "ee_synapse_events_per_step": arrivals / steps,
            "launches_per_step": sum(k["launches_per_step"] for k in per_kernel.values()),
            "distinct_bytes_per_step": sum(k["distinct_bytes_per_step"]
                                           for k in per_kernel.values()),
            "kernels": per_kernel, "n_synapses": sum(p.n_synapses for p in net.projections)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-exc", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--warmup", type=float, default=100.0, help="uncounted ms")
    ap.add_argument("--window", type=float, default=10.0, help="counted ms")
    ap.add_argument("--output", default=str(Path(__file__).resolve().parents[1] / "reports"
                                            / "stdp-stepcost.json"))
    args = ap.parse_args(argv)
    if not hostcount.is_available():
        print("counting host build unavailable (needs g++ with -fsanitize=thread)")
        return 1
    static = count(args.n_exc, args.seed, False, args.warmup, args.window)
    stdp = count(args.n_exc, args.seed, True, args.warmup, args.window)
    extra_b = stdp["distinct_bytes_per_step"] - static["distinct_bytes_per_step"]
    ev = stdp["ee_synapse_events_per_step"]
    result = {"benchmark": "stdp_stepcost", "network": "brunel_2000(g=5, eta=2)",
              "n_exc": args.n_exc, "seed": args.seed, "warmup_ms": args.warmup,
              "window_ms": args.window,
              "counted_on": "cuda:host (host build of kernels/, loads and stores counted)",
              "static": static, "stdp": stdp,
              "launch_ratio": stdp["launches_per_step"] / static["launches_per_step"],
              "byte_ratio": stdp["distinct_bytes_per_step"] / static["distinct_bytes_per_step"],
              "extra_bytes_per_ee_synapse_event": extra_b / ev if ev else None,
              "neurosim": ns.__version__}
    print(f"Brunel 2000, {args.n_exc + args.n_exc // 4:,} neurons, counted on cuda:host, "
          f"{static['steps']} steps")
    print(f"{'':8s}{'launches/step':>15s}{'bytes/step':>14s}{'E->E events/step':>18s}")
    for name, r in (("static", static), ("STDP", stdp)):
        print(f"{name:8s}{r['launches_per_step']:15.2f}{r['distinct_bytes_per_step']:14.4g}"
              f"{r['ee_synapse_events_per_step']:18.1f}")
    print(f"STDP / static: {result['launch_ratio']:.2f}x launches, {result['byte_ratio']:.2f}x "
          f"bytes; {result['extra_bytes_per_ee_synapse_event'] or float('nan'):.1f} extra bytes "
          f"per E->E synapse event")
    for name, r in (("static", static), ("STDP", stdp)):
        print(f"  {name}:")
        for k, v in r["kernels"].items():
            print(f"    {k:40s}{v['launches_per_step']:8.2f}{v['distinct_bytes_per_step']:12.4g}")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
