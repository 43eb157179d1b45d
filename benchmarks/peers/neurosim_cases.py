"""Run one standard benchmark case (docs/benchmark-cases.md) in neurosim; print one JSON line.

The counterpart of the peer scripts beside it, so that ``benchmarks/cpu_peers.py`` runs every
simulator the same way (a fresh process per run)::

    python benchmarks/peers/neurosim_cases.py --case brunel --target native --threads 2

``--target numpy`` (``device="cpu"``) or ``native`` (``device="cpu:native"``, ``--threads``
OpenMP threads); ``--integration`` picks the COBA neurons' scheme (``LIFCond(integration=...)``:
``exponential_euler`` or ``euler``). Networks: :mod:`neurosim.bench.cases` (``lif_uncoupled``, and COBA and
Brunel 2000 at full size), every spike recorded. ``build_s`` covers construction and, for the
native backend, the first compile of its kernels (``compile_s``: 0 when they were cached);
``sim_s`` the simulation loop only.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # this checkout's neurosim

import numpy as np  # noqa: E402

from _common import DEFAULT_N, DT_MS, cpu_model, run_case  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", required=True, choices=sorted(DEFAULT_N))
    p.add_argument("--n", type=int, default=None)
    p.add_argument("--duration", type=float, default=1000.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--target", choices=["numpy", "native"], default="native")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--integration", choices=["exponential_euler", "euler"],
                   default="exponential_euler",
                   help="the coba case's scheme: LIFCond(integration=...)")
    args = p.parse_args(argv)
    if args.target == "numpy" and args.threads != 1:
        p.error("--threads: the NumPy backend is single-threaded")
    return args


def simulate(args: argparse.Namespace) -> dict:
    import neurosim
    from neurosim.backends import native
    from neurosim.bench import cases

    native.threads_for = lambda n: args.threads      # every network of this run
    device = "cpu" if args.target == "numpy" else "cpu:native"
    n = args.n or DEFAULT_N[args.case]
    compile0 = native.build_seconds()
    t1 = time.perf_counter()
    if args.case == "lif":
        built = cases.lif_uncoupled(n, device=device, seed=args.seed)
        net, mons = built.network, built.monitors
        pops = {"all": (0, n)}
    else:
        kw = {"integration": args.integration} if args.case == "coba" else {}
        if n != DEFAULT_N[args.case]:      # scaled 4:1 as the peers' scripts do
            kw["scale"] = n / DEFAULT_N[args.case]
        ref = cases.build_reference(args.case, device=device, seed=args.seed, **kw)
        net, mons = ref.network, ref.monitors
        n_exc = n * 4 // 5
        pops = {"exc": (0, n_exc), "inh": (n_exc, n)}
    net.build()
    net._engine.plan() if hasattr(net._engine, "plan") else None
    build_s = time.perf_counter() - t1
    compile_s = native.build_seconds() - compile0
    t2 = time.perf_counter()
    net.run(args.duration)
    sim_s = time.perf_counter() - t2
    mon_list = list(mons.values()) if isinstance(mons, dict) else list(mons)
    n_spikes = int(sum(m.num_spikes for m in mon_list))
    duration_s = args.duration / 1000.0
    rates = {}
    if isinstance(mons, dict) and len(mons) > 1:
        rates = {name: m.num_spikes / ((pops[name][1] - pops[name][0]) * duration_s)
                 for name, m in mons.items() if name in pops}
    return {
        "simulator": "neurosim", "version": getattr(neurosim, "__version__", "?"),
        "target": args.target, "case": args.case, "n_neurons": n,
        "n_synapses": int(cases.n_synapses(net)), "duration_ms": args.duration,
        "dt_ms": DT_MS, "seed": args.seed, "build_s": build_s, "sim_s": sim_s,
        "x_realtime": duration_s / sim_s, "n_spikes": n_spikes,
        "mean_rate_hz": n_spikes / (n * duration_s), "rates_hz": rates,
        "threads": getattr(net._engine, "threads", 1), "backend": net.backend,
        "integration": args.integration if args.case == "coba" else "exact",
        "build_detail": {"compile_s": compile_s},
        "gomp_spincount": __import__("os").environ.get("GOMP_SPINCOUNT"),
        "numpy": np.__version__, "python": platform.python_version(), "cpu": cpu_model(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def main(argv: list[str] | None = None) -> int:
    return run_case("neurosim_cases", parse_args, simulate, argv)


if __name__ == "__main__":
    sys.exit(main())
