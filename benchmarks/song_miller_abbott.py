#!/usr/bin/env python
"""Song, Miller & Abbott (2000), full length: STDP makes weights bimodal and the output rate
nearly independent of the input rate.

    python benchmarks/song_miller_abbott.py                    # 300 s, A+ = 0.005 g_max
    python benchmarks/song_miller_abbott.py --duration 60 --a-plus 0.02 --output /tmp/s.json

One conductance-based LIF neuron per input rate (tau_m = 20 ms, V_rest = -70 mV, threshold
-54 mV, reset -60 mV, E_ex = 0, E_in = -70 mV, tau_ex = tau_in = 5 ms, g_L = 10 nS), each with
1000 excitatory Poisson inputs at that rate through additive all-to-all STDP (A+ given in units
of g_max = 0.015 g_L, A- = 1.05 A+, tau+ = tau- = 20 ms, weights starting at g_max) and 200
inhibitory Poisson inputs at 10 Hz (g = 0.05 g_L); dt = 0.1 ms. Every ``--report`` seconds the
output rates and the weight histograms (fifths of g_max) are printed; the final state is
written as JSON (default ``reports/song-miller-abbott.json``). The test suite runs a 20 s
version with larger amplitudes (tests/test_plasticity.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

try:
    import neurosim as ns
except ImportError:  # a source checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import neurosim as ns
from neurosim.plasticity import STDP


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="10,20,30,40", help="input rates (Hz), comma-separated")
    ap.add_argument("--duration", type=float, default=300.0, help="simulated seconds")
    ap.add_argument("--a-plus", type=float, default=0.005, help="A+ in units of g_max")
    ap.add_argument("--report", type=float, default=20.0, help="seconds between reports")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--output", default=str(Path(__file__).resolve().parents[1] / "reports"
                                            / "song-miller-abbott.json"))
    args = ap.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",")]
    n, k, gmax = 1000, len(rates), 0.015 * 10.0
    net = ns.Network(dt=0.1, device="cpu", seed=args.seed)
    post = net.add_population(k, ns.LIFCond(tau_m=20.0, cm=200.0, v_rest=-70.0, v_reset=-60.0,
                                            v_thresh=-54.0, tau_refrac=1.0, tau_syn_E=5.0,
                                            tau_syn_I=5.0, e_rev_E=0.0, e_rev_I=-70.0),
                              initial={"v": -60.0})
    inp = net.add_population(n * k, ns.PoissonSource(rate=np.repeat(rates, n)))
    a = args.a_plus * gmax
    rule = STDP(A_plus=a, A_minus=1.05 * a, tau_plus=20.0, tau_minus=20.0, w_min=0.0,
                w_max=gmax)
    proj = net.connect(inp, post, ns.Explicit(np.arange(n * k), np.repeat(np.arange(k), n)),
                       weight=gmax, delay=0.1, plasticity=rule)
    net.add_poisson_input(post, rate=10.0, weight=0.05 * 10.0, n_sources=200,
                          receptor="inhibitory")
    mon = net.record_spikes(post)
    wall0 = time.perf_counter()
    history = []
    t_s = 0.0
    while t_s < args.duration - 1e-9:
        step = min(args.report, args.duration - t_s)
        net.run(step * 1000.0)
        t_s += step
        w, tg = proj.weights / gmax, proj.targets
        recent = mon.times > (t_s - step) * 1000.0
        out = [float(np.count_nonzero(recent & (mon.indices == j)) / step) for j in range(k)]
        hists = [np.histogram(w[tg == j], bins=5, range=(0.0, 1.0))[0].tolist()
                 for j in range(k)]
        history.append({"t_s": t_s, "output_hz": out, "weight_fifths": hists})
        print(f"t = {t_s:6.1f} s  output " + "  ".join(f"{r:g} Hz in: {o:5.1f} Hz"
                                                       for r, o in zip(rates, out)), flush=True)
        for r, h in zip(rates, hists):
            print(f"    {r:g} Hz weights in fifths of g_max: {h}")
    result = {"benchmark": "song_miller_abbott_2000", "input_rates_hz": rates,
              "duration_s": args.duration, "a_plus_gmax": args.a_plus, "seed": args.seed,
              "wall_s": time.perf_counter() - wall0, "final": history[-1],
              "history": history}
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
