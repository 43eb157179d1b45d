#!/usr/bin/env python
"""The host memory estimate (neurosim.engine.memory) against what building really takes.

    python benchmarks/memory_estimate.py                 # every case on cpu and cuda:host
    python benchmarks/memory_estimate.py FI STDP --device cpu

Each case is built in a fresh process; the table gives, per synapse, the estimated peak
(``memory.peak_bytes``, what the check before building compares with the available memory), the
peak tracemalloc saw during ``build()``, their ratio, and the growth of the peak RSS (pages
actually touched: lower, since np.empty's pages count only once written). About a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CASES = {
    "FI": "50,000 LIF, FixedIndegree(100), Uniform(0.5, 3) delays",
    "FI-const": "20,000 LIF, FixedIndegree(500), Normal weights, delay 1.5",
    "FP": "10,000 LIF, FixedProbability(0.05), Uniform delays",
    "EI": "40,000 + 10,000 LIF, four FixedIndegree projections, Poisson input",
    "FTN": "100,000 LIF, FixedTotalNumber(1e7), Normal(2, 0.5) delays",
    "STDP": "5,000 LIF, FixedIndegree(200) with STDP, Uniform delays",
}


def make(case: str, device: str):
    import neurosim as ns
    net = ns.Network(device=device, seed=1)
    if case == "FI":
        a = net.add_population(50_000, ns.LIF())
        net.connect(a, a, ns.FixedIndegree(100), weight=1.0, delay=ns.Uniform(0.5, 3.0))
    elif case == "FI-const":
        a = net.add_population(20_000, ns.LIF())
        net.connect(a, a, ns.FixedIndegree(500), weight=ns.Normal(1.0, 0.2, low=0.0), delay=1.5)
    elif case == "FP":
        a = net.add_population(10_000, ns.LIF())
        net.connect(a, a, ns.FixedProbability(0.05), weight=1.0, delay=ns.Uniform(0.5, 3.0))
    elif case == "EI":
        e = net.add_population(40_000, ns.LIF())
        i = net.add_population(10_000, ns.LIF())
        for pre, rec, w, k in ((e, "excitatory", 1.0, 40), (i, "inhibitory", -5.0, 10)):
            for post in (e, i):
                net.connect(pre, post, ns.FixedIndegree(k), weight=w, delay=1.5, receptor=rec)
        net.add_poisson_input(e, 10.0, 1.0, n_sources=100)
    elif case == "FTN":
        a = net.add_population(100_000, ns.LIF())
        net.connect(a, a, ns.FixedTotalNumber(10_000_000), weight=1.0,
                    delay=ns.Normal(2.0, 0.5, low=0.1))
    elif case == "STDP":
        a = net.add_population(5_000, ns.LIF())
        net.connect(a, a, ns.FixedIndegree(200), weight=0.5, delay=ns.Uniform(0.5, 3.0),
                    plasticity=ns.STDP(w_max=1.0))
    return net


def estimate(net, backend: str) -> int:
    """memory.peak_bytes of the check build_engine makes (cuda:host: with the device arrays)."""
    from dataclasses import replace

    from neurosim.engine import layout, memory
    from neurosim.engine.device_connect import generated_projections
    classes, max_delay = memory.planned_classes(net, generated_projections(net, backend))
    host = memory.host_bytes(net, classes, max_delay, backend)
    if backend != "cuda:host":
        return memory.peak_bytes(host)
    from neurosim.engine import device_memory

    class Stop(Exception):
        pass
    seen = {}

    def grab(partial):
        seen["d"] = device_memory.device_bytes(replace(partial, classes=classes,
                                                     max_delay=max_delay),
                                             device_memory.record_budget(net))
        raise Stop
    try:
        layout.build_layout(net, before_synapses=grab)
    except Stop:
        pass
    aliased = sum(c.n_synapses * (8 + c.delay_itemsize) for c in classes if not c.generated)
    return memory.peak_bytes(host, max(0, sum(seen["d"].values()) - aliased))


def measure(case: str, device: str) -> dict:
    import gc
    import resource
    import tracemalloc
    net = make(case, device)
    est = estimate(net, "numpy" if device == "cpu" else device)
    gc.collect()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    net.build()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss0
    n = sum(p.n_synapses for p in net.projections)
    return dict(case=case, device=device, synapses=n, estimate=est, traced_peak=peak,
                rss_growth=rss)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="*", default=list(CASES))
    ap.add_argument("--device", choices=("cpu", "cuda:host", "both"), default="both")
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)     # internal: a child process
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(measure(*args.one)))
        return 0
    devices = ("cpu", "cuda:host") if args.device == "both" else (args.device,)
    print(f"{'case':9s} {'device':10s} {'synapses':>11s} {'est B/syn':>9s} {'peak B/syn':>10s} "
          f"{'ratio':>6s} {'RSS B/syn':>9s}")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
         os.environ.get("PYTHONPATH", "")]))
    for device in devices:
        for case in args.cases:
            out = subprocess.run([sys.executable, __file__, "--one", case, device],
                                 capture_output=True, text=True, env=env, check=True)
            d = json.loads(out.stdout.strip().splitlines()[-1])
            n = d["synapses"]
            print(f"{case:9s} {device:10s} {n:11,d} {d['estimate'] / n:9.1f} "
                  f"{d['traced_peak'] / n:10.1f} {d['estimate'] / d['traced_peak']:6.2f} "
                  f"{d['rss_growth'] / n:9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
