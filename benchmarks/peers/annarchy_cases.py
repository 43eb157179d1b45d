"""Run one standard benchmark case (docs/benchmark-cases.md) in ANNarchy; print one JSON line.

Run with the ANNarchy venv's Python, its ``bin`` first on PATH (ANNarchy's CMake step looks for
the venv's tools there), e.g.::

    PATH=peers/annarchy/bin:$PATH peers/annarchy/bin/python benchmarks/peers/annarchy_cases.py \\
        --case coba --threads 2

- ``lif``: N uncoupled LIF neurons, the exact update written out (v relaxes towards
  v_rest + R*I with factor exp(-dt/tau_m) each step), threshold ``v > -50``, reset -70 mV,
  refractory 2 ms.
- ``coba``: Vogels-Abbott, 3,200 + 800 neurons, ``fixed_probability(0.02,
  allow_self_connections=True)``; ``--target exponential`` (default, the scheme neurosim
  uses) or ``explicit`` (forward Euler, ANNarchy's default).
- ``brunel``: 10,000 + 2,500 delta-synapse LIF neurons, exact update, ``fixed_number_pre``
  (1,000 excitatory and 250 inhibitory inputs per neuron; ANNarchy draws them without
  replacement, the standard case with replacement), delay 1.5 ms, no input while refractory;
  the external drive (1,000 Poisson inputs at 2 nu_thr per neuron, jumps of J) as one
  Binomial(1000, rate*dt) count per neuron and step, the same distribution.

``build_s`` covers construction, code generation and compilation; ``sim_s`` the simulation loop
only (``simulate()``). Threads: ANNarchy's OpenMP ``num_threads``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time

import numpy as np

from _common import DEFAULT_N, DT_MS, cpu_model, run_case


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", required=True, choices=sorted(DEFAULT_N))
    p.add_argument("--n", type=int, default=None, help="number of neurons (default: the case's)")
    p.add_argument("--duration", type=float, default=1000.0, help="simulated time in ms")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--target", choices=["exponential", "explicit"], default="exponential",
                   help="integration scheme of the coba case (the others are exact)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    if args.n is not None and args.n < 5:
        p.error(f"--n must be at least 5, got {args.n}")
    if args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    return args


def build_lif(ann, net, n, rng, args):
    neuron = ann.Neuron(
        parameters="v_rest = -70.0\nRI = 25.0\nP = 0.0",
        equations="v = v_rest + RI + (v - v_rest - RI) * P",
        spike="v > -50.0", reset="v = -70.0", refractory=2.0)
    pop = net.create(n, neuron, name="lif")
    pop.P = float(np.exp(-DT_MS / 20.0))
    pop.v = rng.uniform(-70.0, -50.0, n)
    return [pop], 0, {"all": (0, n)}


def build_coba(ann, net, n, rng, args):
    n_exc = n * 4 // 5
    neuron = ann.Neuron(
        parameters="""
            C = 200.0
            g_l = 10.0
            E_l = -60.0
            E_e = 0.0
            E_i = -80.0
            tau_e = 5.0
            tau_i = 10.0
        """,
        equations=f"""
            C * dv/dt = g_l * (E_l - v) + g_exc * (E_e - v) + g_inh * (E_i - v) : init=-60.0, {args.target}
            tau_e * dg_exc/dt = -g_exc : {args.target}
            tau_i * dg_inh/dt = -g_inh : {args.target}
        """,
        spike="v > -50.0", reset="v = -60.0", refractory=5.0)
    pop = net.create(n, neuron, name="coba")
    pop.v = rng.normal(-65.0, 5.0, n)
    pop.g_exc = np.maximum(0.0, rng.normal(40.0, 15.0, n))
    pop.g_inh = np.maximum(0.0, rng.normal(200.0, 120.0, n))
    exc, inh = pop[:n_exc], pop[n_exc:]
    pe = net.connect(exc, pop, "exc")
    pe.fixed_probability(0.02, weights=6.0, allow_self_connections=True)
    pi = net.connect(inh, pop, "inh")
    pi.fixed_probability(0.02, weights=67.0, allow_self_connections=True)
    return [pop], [pe, pi], {"exc": (0, n_exc), "inh": (n_exc, n)}


def build_brunel(ann, net, n, rng, args):
    n_exc = n * 4 // 5
    c_e, c_i, j, g_rel, eta, tau_m, theta = 1000, 250, 0.1, 5.0, 2.0, 20.0, 20.0
    nu_ext_hz = eta * theta / (j * c_e * tau_m) * 1000.0
    p_step = nu_ext_hz * DT_MS / 1000.0
    neuron = ann.Neuron(
        parameters=f"P = {float(np.exp(-DT_MS / tau_m))!r}\nJ = {j}",
        equations=f"v = v * P + J * Binomial({c_e}, {p_step!r}) + g_exc + g_inh : init=0.0",
        spike=f"v > {theta}", reset="v = 10.0", refractory=2.0)
    pop = net.create(n, neuron, name="brunel")
    exc, inh = pop[:n_exc], pop[n_exc:]
    pe = net.connect(exc, pop, "exc")
    pe.fixed_number_pre(c_e, weights=j, delays=1.5, allow_self_connections=True)
    pi = net.connect(inh, pop, "inh")
    pi.fixed_number_pre(c_i, weights=-g_rel * j, delays=1.5, allow_self_connections=True)
    return [pop], [pe, pi], {"exc": (0, n_exc), "inh": (n_exc, n)}


BUILDERS = {"lif": build_lif, "coba": build_coba, "brunel": build_brunel}


def simulate(args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    import ANNarchy as ann

    t_import = time.perf_counter() - t0
    n = args.n or DEFAULT_N[args.case]
    rng = np.random.default_rng(args.seed)
    t1 = time.perf_counter()
    net = ann.Network(dt=DT_MS, seed=args.seed)
    net.config(num_threads=args.threads)
    pops, projs, populations = BUILDERS[args.case](ann, net, n, rng, args)
    mon = net.monitor(pops[0], ["spike"])
    # compiled once per case, size, scheme and threading, then reused (build_s says which)
    cache = os.environ.get("NEUROSIM_ANNARCHY_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "neurosim", "annarchy")
    workdir = os.path.join(cache, f"{args.case}-{n}-{args.target}-{min(args.threads, 2)}")
    os.makedirs(workdir, exist_ok=True)
    net.compile(directory=os.path.join(workdir, "annarchy"), silent=True)
    build_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    net.simulate(args.duration)
    sim_s = time.perf_counter() - t2
    spikes = mon.get("spike")
    counts = np.zeros(n, np.int64)
    for rank, times in spikes.items():
        counts[rank] = len(times)
    duration_s = args.duration / 1000.0
    per_pop = {name: float(counts[a:z].sum()) / ((z - a) * duration_s)
               for name, (a, z) in populations.items()}
    n_syn = sum(p.nb_synapses for p in projs) if projs else 0
    return {
        "simulator": "annarchy", "version": ann.__version__,
        "target": args.target if args.case == "coba" else "exact",
        "case": args.case, "n_neurons": n, "n_synapses": int(n_syn),
        "duration_ms": args.duration, "dt_ms": DT_MS, "seed": args.seed,
        "build_s": build_s, "sim_s": sim_s, "x_realtime": duration_s / sim_s,
        "n_spikes": int(counts.sum()), "mean_rate_hz": counts.sum() / (n * duration_s),
        "rates_hz": per_pop if len(per_pop) > 1 else {},
        "threads": args.threads, "build_detail": {"import_s": t_import},
        "numpy": np.__version__, "python": platform.python_version(), "cpu": cpu_model(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def main(argv: list[str] | None = None) -> int:
    return run_case("annarchy_cases", parse_args, simulate, argv)


if __name__ == "__main__":
    sys.exit(main())
