#!/usr/bin/env python
"""Cost of a closed-loop callback every 1 ms of simulated time (issue 13).

    python benchmarks/callback_cost.py                          # NumPy, 1 s of simulated time
    python benchmarks/callback_cost.py --device cuda:host --duration 200
    python benchmarks/callback_cost.py --device cuda --duration 5000

A 1,000-neuron conductance-based network (800 excitatory, 200 inhibitory LIFCond, 2%
connectivity, 100 Poisson sources at 20 Hz) runs the same simulated time three times, from the
same seed: plainly; with ``run(T, every=1.0, callback=...)`` and a callback that does nothing;
and with a closed-loop callback that reads a spike monitor and sets the sources' rates
(``net.set_rates``) while the network is silent. Reported: wall times and the cost per
callback (the run with callbacks minus the plain run, divided by the number of callbacks).
The aim: the callbacks cost less than the simulation itself. Prints one line per run and, with
``--output``, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

try:
    import neurosim as ns
except ImportError:  # a source checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import neurosim as ns


def build(device: str):
    net = ns.Network(dt=0.1, device=device, seed=1)
    cell = ns.LIFCond(tau_m=20.0, cm=200.0, v_rest=-60.0, v_reset=-60.0, v_thresh=-50.0,
                      tau_refrac=5.0, tau_syn_E=5.0, tau_syn_I=10.0, e_rev_E=0.0,
                      e_rev_I=-80.0)
    exc = net.add_population(800, cell, name="exc", initial={"v": ns.Normal(-55.0, 5.0)})
    inh = net.add_population(200, cell, name="inh", initial={"v": ns.Normal(-55.0, 5.0)})
    src = net.add_population(100, ns.PoissonSource(rate=20.0), name="src")
    for post in (exc, inh):
        net.connect(exc, post, ns.FixedProbability(0.02), weight=6.0)
        net.connect(inh, post, ns.FixedProbability(0.02), weight=67.0, receptor="inhibitory")
        net.connect(src, post, ns.FixedProbability(0.1), weight=3.0)
    spikes = net.record_spikes(exc)
    net.build()
    net.run(10.0)                       # compiled and warm
    return net, src, spikes


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--duration", type=float, default=1000.0, help="simulated ms per run")
    ap.add_argument("--output", default=None, help="JSON file to write")
    args = ap.parse_args(argv)
    T, out = args.duration, {"device": args.device, "duration_ms": args.duration}

    net, _, _ = build(args.device)
    t0 = time.perf_counter()
    net.run(T)
    out["plain_s"] = time.perf_counter() - t0

    net, _, _ = build(args.device)
    t0 = time.perf_counter()
    net.run(T, every=1.0, callback=lambda t: None)
    out["noop_callback_s"] = time.perf_counter() - t0

    net, src, spikes = build(args.device)
    seen = [0]

    def closed_loop(t):
        n = spikes.num_spikes
        if n == seen[0]:                 # silent during the last ms: brighter
            net.set_rates(src, net.get_rates(src) + 1.0)
        seen[0] = n
    t0 = time.perf_counter()
    net.run(T, every=1.0, callback=closed_loop)
    out["closed_loop_s"] = time.perf_counter() - t0

    n_cb = int(round(T))
    out["callbacks"] = n_cb
    out["us_per_noop_callback"] = (out["noop_callback_s"] - out["plain_s"]) / n_cb * 1e6
    out["us_per_closed_loop_callback"] = (out["closed_loop_s"] - out["plain_s"]) / n_cb * 1e6
    print(f"{args.device}: {T:g} ms of a 1,000-neuron network: plain {out['plain_s']:.3f} s; "
          f"every 1 ms a no-op callback {out['noop_callback_s']:.3f} s "
          f"({out['us_per_noop_callback']:.0f} us per callback); a closed-loop callback "
          f"(monitor read + set_rates) {out['closed_loop_s']:.3f} s "
          f"({out['us_per_closed_loop_callback']:.0f} us per callback)")
    if args.output:
        Path(args.output).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
