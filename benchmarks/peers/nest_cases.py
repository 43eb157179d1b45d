#!/usr/bin/env python3
"""NEST side of neurosim's standard benchmark cases (docs/benchmark-cases.md).

Run with the NEST venv made by ``install_peers.sh``::

    peers/nest/bin/python benchmarks/peers/nest_cases.py --case brunel --threads 1

Prints ONE JSON object on stdout; NEST's banner and messages go to stderr. Cases, all at
resolution 0.1 ms, every spike recorded by one ``spike_recorder``:

- ``lif``: N unconnected ``iaf_psc_delta`` (exact integration), C_m = 250 pF, tau_m = 20 ms,
  I_e = 312.5 pA (R·I = 25 mV), V_th = -50 mV (NEST fires at V_m >= V_th), V_reset = E_L =
  -70 mV, t_ref = 2 ms.
- ``coba``: Vogels-Abbott with ``iaf_cond_exp`` (GSL RKF45, adaptive), 3,200 + 800 neurons,
  ``pairwise_bernoulli`` p = 0.02 with autapses, delay 0.1 ms (one step, NEST's minimum),
  weights +6 nS (excitatory) and -67 nS (negative = inhibitory conductance in NEST).
- ``brunel``: Brunel 2000 with ``iaf_psc_delta`` (weights are jumps of V_m in mV,
  ``refractory_input=False`` so input is ignored while refractory), ``fixed_indegree``
  C_E = 1,000 / C_I = 250 with autapses and multapses (sources drawn with replacement),
  delay 1.5 ms, and one ``poisson_generator`` at C_E·eta·nu_thr = 20 kHz connected to all
  neurons with weight J (NEST draws an independent train per target). V_m starts at 0 mV
  (as in NEST's brunel_delta example; the case does not fix it).

With ``--n`` the populations of coba/brunel are scaled 4:1 keeping p = 0.02 (coba) or the
fixed in-degrees (brunel); only the default N is the standard case.

Build versus simulation time. ``nest.Simulate`` is split into its parts:

- ``build_s`` = ``Create`` + ``Connect`` + setting initial values + ``nest.Prepare()``
  (which builds NEST's connection infrastructure and calibrates the nodes);
- ``sim_s``   = ``nest.Run(duration)``, the update/deliver loop only.

``nest.Cleanup()`` and reading the spikes are not timed. ``build_detail`` adds NEST's own
kernel timers (time_construction_create/connect, time_communicate_prepare, time_simulate).
Initial values are drawn with NumPy from ``--seed``; NEST's ``rng_seed`` is ``--seed`` too.

Memory: NEST 3.10 keeps a separate connection container for every neuron connected to a
device, and the ``spike_recorder`` costs about 32 KB per recorded neuron (3.2 GB at N = 1e5,
measured); ``lif`` at N = 1e6 needs about 32 GB and is killed on a 24 GiB machine.
"""
from __future__ import annotations

import argparse
import datetime
import logging
import os
import platform
import sys
import time
from dataclasses import dataclass

import numpy as np

from _common import DEFAULT_N, DT_MS, cpu_model, run_case

log = logging.getLogger("nest_cases")

@dataclass
class Built:
    """A case ready to run: the neurons, their population boundaries and the synapse count."""

    neurons: object
    n_synapses: int
    populations: dict[str, tuple[int, int]]  # name -> [start, stop) in 0-based neuron index


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", required=True, choices=sorted(DEFAULT_N))
    p.add_argument("--n", type=int, default=None, help="number of neurons (default: the case's)")
    p.add_argument("--duration", type=float, default=1000.0, help="simulated time in ms")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="NEST local_num_threads")
    p.add_argument("--target", default=None, help="accepted for symmetry; ignored by NEST")
    args = p.parse_args(argv)
    if args.n is not None and args.n < 5:
        p.error(f"--n must be at least 5, got {args.n}")
    if args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    return args


def build_lif(nest, n: int, rng: np.random.Generator) -> Built:
    pop = nest.Create("iaf_psc_delta", n, params={
        "C_m": 250.0, "tau_m": 20.0, "E_L": -70.0, "V_th": -50.0, "V_reset": -70.0,
        "t_ref": 2.0, "I_e": 312.5})
    pop.set(V_m=rng.uniform(-70.0, -50.0, n))
    return Built(pop, 0, {"all": (0, n)})


def build_coba(nest, n: int, rng: np.random.Generator) -> Built:
    n_exc = n * 4 // 5
    pop = nest.Create("iaf_cond_exp", n, params={
        "C_m": 200.0, "g_L": 10.0, "E_L": -60.0, "E_ex": 0.0, "E_in": -80.0,
        "V_th": -50.0, "V_reset": -60.0, "t_ref": 5.0, "tau_syn_ex": 5.0,
        "tau_syn_in": 10.0, "I_e": 0.0})
    pop.set(V_m=rng.normal(-65.0, 5.0, n),
            g_ex=np.maximum(0.0, rng.normal(40.0, 15.0, n)),
            g_in=np.maximum(0.0, rng.normal(200.0, 120.0, n)))
    rule = {"rule": "pairwise_bernoulli", "p": 0.02, "allow_autapses": True}
    nest.Connect(pop[:n_exc], pop, rule, {"weight": 6.0, "delay": DT_MS})
    nest.Connect(pop[n_exc:], pop, rule, {"weight": -67.0, "delay": DT_MS})
    return Built(pop, nest.num_connections, {"exc": (0, n_exc), "inh": (n_exc, n)})


def build_brunel(nest, n: int, rng: np.random.Generator) -> Built:
    del rng  # connectivity and Poisson drive come from NEST's rng_seed; V_m starts at 0
    n_exc = n * 4 // 5
    c_e, c_i, j, g_rel, eta, tau_m, theta, delay = 1000, 250, 0.1, 5.0, 2.0, 20.0, 20.0, 1.5
    nu_thr_hz = theta / (j * c_e * tau_m) * 1000.0  # 10 Hz
    pop = nest.Create("iaf_psc_delta", n, params={
        "C_m": 250.0, "tau_m": tau_m, "E_L": 0.0, "V_th": theta, "V_reset": 10.0,
        "t_ref": 2.0, "V_m": 0.0, "I_e": 0.0, "refractory_input": False})
    multi = {"allow_autapses": True, "allow_multapses": True}
    nest.Connect(pop[:n_exc], pop, {"rule": "fixed_indegree", "indegree": c_e, **multi},
                 {"weight": j, "delay": delay})
    nest.Connect(pop[n_exc:], pop, {"rule": "fixed_indegree", "indegree": c_i, **multi},
                 {"weight": -g_rel * j, "delay": delay})
    n_syn = nest.num_connections
    drive = nest.Create("poisson_generator", params={"rate": c_e * eta * nu_thr_hz})
    nest.Connect(drive, pop, "all_to_all", {"weight": j, "delay": delay})
    return Built(pop, n_syn, {"exc": (0, n_exc), "inh": (n_exc, n)})


BUILDERS = {"lif": build_lif, "coba": build_coba, "brunel": build_brunel}


def rates(built: Built, senders: np.ndarray, duration_s: float) -> dict[str, float]:
    first_id = int(built.neurons[0].global_id)
    n = len(built.neurons)
    counts = np.bincount(senders - first_id, minlength=n)
    return {name: float(counts[a:z].sum()) / ((z - a) * duration_s)
            for name, (a, z) in built.populations.items()}


def kernel_timers(nest) -> dict[str, float]:
    names = ["time_construction_create", "time_construction_connect",
             "time_communicate_prepare", "time_simulate"]
    status = nest.GetKernelStatus()
    return {k: float(np.max(status[k])) for k in names if k in status}  # some are per thread


def simulate(args: argparse.Namespace) -> dict:
    os.environ.setdefault("PYNEST_QUIET", "1")
    import nest  # inside the stdout redirection: NEST writes to fd 1

    n = args.n or DEFAULT_N[args.case]
    nest.ResetKernel()
    nest.verbosity = nest.VerbosityLevel.WARNING
    nest.SetKernelStatus({"resolution": DT_MS, "local_num_threads": args.threads,
                          "rng_seed": args.seed})
    rng = np.random.default_rng(args.seed)
    log.info("building %s (N=%d, threads=%d)", args.case, n, args.threads)
    t0 = time.perf_counter()
    built = BUILDERS[args.case](nest, n, rng)
    recorder = nest.Create("spike_recorder")
    nest.Connect(built.neurons, recorder)
    construct_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    nest.Prepare()
    prepare_s = time.perf_counter() - t1
    log.info("built in %.2f s (+ Prepare %.2f s); running %.0f ms",
             construct_s, prepare_s, args.duration)
    t2 = time.perf_counter()
    nest.Run(args.duration)
    sim_s = time.perf_counter() - t2
    nest.Cleanup()
    duration_s = args.duration / 1000.0
    senders = np.asarray(recorder.get("events", "senders"), dtype=np.int64)
    per_pop = rates(built, senders, duration_s)
    return {
        "simulator": "nest", "version": nest.__version__, "target": "nest",
        "case": args.case, "n_neurons": n, "n_synapses": int(built.n_synapses),
        "duration_ms": args.duration, "dt_ms": DT_MS, "seed": args.seed,
        "build_s": construct_s + prepare_s, "sim_s": sim_s, "x_realtime": duration_s / sim_s,
        "n_spikes": int(senders.size), "mean_rate_hz": senders.size / (n * duration_s),
        "rates_hz": per_pop if len(per_pop) > 1 else {},
        "threads": args.threads,
        "build_detail": {"construct_s": construct_s, "prepare_s": prepare_s,
                         **kernel_timers(nest)},
        "numpy": np.__version__, "python": platform.python_version(),
        "cpu": cpu_model(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def main(argv: list[str] | None = None) -> int:
    return run_case("nest_cases", parse_args, simulate, argv)


if __name__ == "__main__":
    sys.exit(main())
