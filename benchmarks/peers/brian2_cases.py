#!/usr/bin/env python3
"""Brian2 side of neurosim's standard benchmark cases (docs/benchmark-cases.md).

Run with the Brian2 venv made by ``install_peers.sh``::

    peers/brian2/bin/python benchmarks/peers/brian2_cases.py --case coba --target cython

Prints ONE JSON object on stdout; everything else (Brian2's log, compiler output) goes to
stderr. Cases, all at dt = 0.1 ms, every spike recorded by one ``SpikeMonitor``:

- ``lif``: N uncoupled LIF neurons, ``method='exact'``, R·I = 25 mV, threshold ``v > -50 mV``.
- ``coba``: Vogels-Abbott, 3,200 + 800 neurons, ``connect(p=0.02)`` (self-connections allowed),
  no synaptic delay (a spike at step k acts on v from step k+1), weights 6 nS / 67 nS,
  integrated with ``method='exponential_euler'`` (the equations are not linear in the
  product g·v, so ``exact`` does not apply; NEST uses an adaptive RKF45 instead), or with
  ``--integration euler`` by forward Euler (``method='euler'``).
- ``brunel``: Brunel 2000 (g = 5, eta = 2), C_E = 1,000 / C_I = 250 sources per neuron drawn
  with replacement in NumPy and passed to ``Synapses.connect(i=..., j=...)``, delay 1.5 ms,
  ``on_pre='v_post += w * int(not_refractory_post)'`` so input is ignored while refractory.
  External drive: ``PoissonInput(N=C_E, rate=eta*nu_thr, weight='0.1*mV*int(not_refractory)')``,
  i.e. a binomial draw per neuron and step (not C_E explicit Poisson sources). v starts at
  0 mV (as in NEST's brunel_delta example; the case does not fix it).

With ``--n`` the populations of coba/brunel are scaled 4:1 keeping p = 0.02 (coba) or the
fixed in-degrees (brunel); only the default N is the standard case.

Build versus simulation time. Brian2 (runtime mode) generates and, for the cython target,
compiles every code object inside ``Network.run()``, in ``before_run``, before its loop
starts; the loop itself is timed by Brian2 and stored in ``device._last_run_time``. So one
``run(duration)`` is made, no warm-up run is needed, and:

- ``sim_s``   = ``device._last_run_time`` (the time-step loop only);
- ``build_s`` = construction of groups/synapses/monitors (including ``connect``)
  + (wall time of ``run()`` - ``sim_s``), i.e. code generation, Cython compilation and
  ``after_run``. ``build_detail`` splits the two.

For the cython target the compilation cache is a fresh temporary directory by default, so
``build_s`` always includes a cold compilation; ``--cache-dir`` reuses a cache instead
(``compile_cache`` in the output says which).

C++ standalone (``--target cpp_standalone``, with ``--threads K``: OpenMP with
``prefs.devices.cpp_standalone.openmp_threads = K``, also for K = 1, so that every thread
count runs the same generated code and timer). Brian2 writes the whole simulation as a C++
project, compiles it with make and g++ (its default flags, ``-O3 -ffast-math -march=native``
and ``-fopenmp``) and runs the binary, which creates the synapses (``connect`` runs in C++),
runs the loop and writes the results to disk. The script builds the project with
``device.build(compile=True, run=False)`` and runs it with ``device.run()``, each in a fresh
project directory (a temporary one, removed at exit). Times:

- ``sim_s``   = ``device._last_run_time``: what the binary wrote to ``results/last_run_info.txt``,
  the ``omp_get_wtime()`` wall time around the time-step loop of ``Network::run`` in the
  generated ``network.cpp`` (the loop only: no synapse creation, no ``before_run``, no
  writing of results);
- ``build_s`` = construction of the Python objects + code generation (``net.run`` records the
  run; ``device.build`` writes the project) + compilation (``make``, Brian2's own timer) +
  the binary's time outside the loop (process start, reading the initial values, creating
  the synapses, ``before_run``, writing the results: the binary's wall time - ``sim_s``) +
  restoring a cached build (below). ``build_detail`` has every part, the binary's CPU time
  (``binary_cpu_s``: user + system of the child process; OpenMP's spin-waiting counts too)
  and the ``OMP_*``/``GOMP_*`` environment (none set: libgomp's defaults, as a user gets).

The threads meet at OpenMP barriers several times per step; with other work on the machine a
barrier waits for a descheduled thread, so 2-thread figures need quiet cores (measured here
at a load average of 9 on 2 cores: LIF, 100 neurons, 7-16 s for the loop at 2 threads
against 0.04 s at 1 thread). In standalone mode the synapses exist only once the program
runs, so Brunel's weights are set by an expression of the source index (the same values).

With ``--cache-dir DIR`` the compiled project of a case (by case, N, integration and thread
count) is kept in ``DIR/standalone-<case>-<N>-<integration>-<K>t`` after a run that compiled
it, without its results and initial-value files, and copied (file times kept) into the next
run's fresh project directory: Brian2 rewrites only the files whose text changed, so make
recompiles only those (none for the same case, seed and duration). ``compile_cache`` says
whether the build was "fresh" or "reused:DIR/...".
"""
from __future__ import annotations

import argparse
import atexit
import datetime
import logging
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from _common import DEFAULT_N, DT_MS, cpu_model, run_case

log = logging.getLogger("brian2_cases")

TARGETS = ("cython", "numpy", "cpp_standalone")
#: what a cached standalone build leaves out: written afresh by every run
NOT_CACHED = ("results", "static_arrays")

@dataclass
class Built:
    """A case ready to run: the objects, the spike monitor and population boundaries."""

    objects: list
    monitor: object
    n_neurons: int
    synapses: list   # the Synapses objects (counted after the run: standalone creates them then)
    populations: dict[str, tuple[int, int]]  # name -> [start, stop)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", required=True, choices=sorted(DEFAULT_N))
    p.add_argument("--n", type=int, default=None, help="number of neurons (default: the case's)")
    p.add_argument("--duration", type=float, default=1000.0, help="simulated time in ms")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--target", choices=TARGETS, default="cython")
    p.add_argument("--cache-dir", default=None,
                   help="reuse this compiled-code cache (Cython's, or the standalone builds; "
                        "default: compile afresh)")
    p.add_argument("--integration", choices=["exponential_euler", "euler"],
                   default="exponential_euler", help="the coba case's method")
    p.add_argument("--threads", type=int, default=1,
                   help="OpenMP threads of cpp_standalone; must be 1 for cython and numpy")
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error(f"--threads must be at least 1, got {args.threads}")
    if args.threads != 1 and args.target != "cpp_standalone":
        p.error(f"--threads: Brian2 runtime mode ({args.target}) is single-threaded, got "
                f"{args.threads}; threads need --target cpp_standalone")
    if args.n is not None and args.n < 5:
        p.error(f"--n must be at least 5, got {args.n}")
    return args


def build_lif(b, n: int, rng: np.random.Generator) -> Built:
    ms, mV = b.ms, b.mV
    eqs = "dv/dt = (v_rest - v + RI) / tau_m : volt (unless refractory)"
    ns = {"v_rest": -70 * mV, "RI": 25 * mV, "tau_m": 20 * ms, "v_th": -50 * mV}
    g = b.NeuronGroup(n, eqs, threshold="v > v_th", reset="v = v_rest", refractory=2 * ms,
                      method="exact", namespace=ns, name="lif")
    g.v = rng.uniform(-70.0, -50.0, n) * mV
    mon = b.SpikeMonitor(g)
    return Built([g, mon], mon, n, [], {"all": (0, n)})


def build_coba(b, n: int, rng: np.random.Generator,
               method: str = "exponential_euler") -> Built:
    ms, mV, nS, pF = b.ms, b.mV, b.nS, b.pF
    n_exc = n * 4 // 5
    eqs = """
    dv/dt = (g_l*(E_l - v) + g_e*(E_e - v) + g_i*(E_i - v)) / C : volt (unless refractory)
    dg_e/dt = -g_e / tau_e : siemens
    dg_i/dt = -g_i / tau_i : siemens
    """
    ns = {"C": 200 * pF, "g_l": 10 * nS, "E_l": -60 * mV, "E_e": 0 * mV, "E_i": -80 * mV,
          "tau_e": 5 * ms, "tau_i": 10 * ms, "v_th": -50 * mV, "v_reset": -60 * mV,
          "w_e": 6 * nS, "w_i": 67 * nS}
    g = b.NeuronGroup(n, eqs, threshold="v > v_th", reset="v = v_reset", refractory=5 * ms,
                      method=method, namespace=ns, name="coba")
    g.v = rng.normal(-65.0, 5.0, n) * mV
    g.g_e = np.maximum(0.0, rng.normal(40.0, 15.0, n)) * nS
    g.g_i = np.maximum(0.0, rng.normal(200.0, 120.0, n)) * nS
    exc, inh = g[:n_exc], g[n_exc:]
    s_e = b.Synapses(exc, g, on_pre="g_e_post += w_e", namespace=ns, name="syn_e")
    s_i = b.Synapses(inh, g, on_pre="g_i_post += w_i", namespace=ns, name="syn_i")
    s_e.connect(p=0.02)
    s_i.connect(p=0.02)
    mon = b.SpikeMonitor(g)
    return Built([g, s_e, s_i, mon], mon, n, [s_e, s_i],
                 {"exc": (0, n_exc), "inh": (n_exc, n)})


def fixed_indegree(rng: np.random.Generator, n_src: int, n_tgt: int, k: int, offset: int = 0):
    """Sources (with replacement, offset added) and targets: k inputs for every target."""
    src = rng.integers(0, n_src, size=n_tgt * k, dtype=np.int64) + offset
    tgt = np.repeat(np.arange(n_tgt, dtype=np.int64), k)
    return src, tgt


def build_brunel(b, n: int, rng: np.random.Generator) -> Built:
    ms, mV, Hz = b.ms, b.mV, b.Hz
    n_exc = n * 4 // 5
    c_e, c_i, j, g_rel, eta, tau_m, theta = 1000, 250, 0.1, 5.0, 2.0, 20.0, 20.0
    nu_thr_hz = theta / (j * c_e * tau_m) * 1000.0  # 10 Hz
    ns = {"tau_m": tau_m * ms, "theta": theta * mV, "v_reset": 10 * mV, "J": j * mV}
    g = b.NeuronGroup(n, "dv/dt = -v / tau_m : volt (unless refractory)",
                      threshold="v > theta", reset="v = v_reset", refractory=2 * ms,
                      method="exact", namespace=ns, name="brunel")
    g.v = 0 * mV
    syn = b.Synapses(g, g, "w : volt", on_pre="v_post += w * int(not_refractory_post)",
                     delay=1.5 * ms, name="syn")
    src_e, tgt_e = fixed_indegree(rng, n_exc, n, c_e)
    src_i, tgt_i = fixed_indegree(rng, n - n_exc, n, c_i, offset=n_exc)
    syn.connect(i=np.concatenate([src_e, src_i]), j=np.concatenate([tgt_e, tgt_i]))
    if b.get_device().__class__.__name__ == "CPPStandaloneDevice":
        # the synapses exist only once the binary runs: the weights by an expression (the
        # excitatory sources are i < n_exc, as in the index ranges below)
        syn.w = f"({j}*mV) * int(i < {n_exc}) + ({-g_rel * j}*mV) * int(i >= {n_exc})"
    else:
        syn.w[: src_e.size] = j * mV
        syn.w[src_e.size:] = -g_rel * j * mV
    drive = b.PoissonInput(g, "v", N=c_e, rate=eta * nu_thr_hz * Hz,
                           weight=f"{j}*mV * int(not_refractory)")
    mon = b.SpikeMonitor(g)
    return Built([g, syn, drive, mon], mon, n, [syn],
                 {"exc": (0, n_exc), "inh": (n_exc, n)})


BUILDERS = {"lif": build_lif, "coba": build_coba, "brunel": build_brunel}


def is_standalone(b) -> bool:
    from brian2.devices.cpp_standalone.device import CPPStandaloneDevice
    return isinstance(b.get_device(), CPPStandaloneDevice)


def configure(b, args: argparse.Namespace) -> str:
    """Set device or target, dt, seed; return a description of the compiled-code cache."""
    if args.target == "cpp_standalone":
        b.set_device("cpp_standalone", build_on_run=False)
        b.prefs.devices.cpp_standalone.openmp_threads = args.threads
    else:
        b.prefs.codegen.target = args.target
    b.defaultclock.dt = DT_MS * b.ms
    b.seed(args.seed)
    if args.target != "cython":
        return "n/a"       # standalone: run_standalone() says
    if args.cache_dir:
        b.prefs.codegen.runtime.cython.cache_dir = args.cache_dir
        return f"reused:{args.cache_dir}"
    fresh = tempfile.mkdtemp(prefix="brian2_cases_")
    atexit.register(shutil.rmtree, fresh, ignore_errors=True)
    b.prefs.codegen.runtime.cython.cache_dir = fresh
    return "fresh"


def cache_key(args: argparse.Namespace, n: int) -> str:
    """The folder name of a standalone build in ``--cache-dir``: one per generated model."""
    scheme = args.integration if args.case == "coba" else "exact"
    return f"standalone-{args.case}-{n}-{scheme}-{args.threads}t"


def copy_build(src: str, dst: str) -> None:
    """Copy a standalone project (file times kept, so make sees what is up to date) without
    the folders every run writes afresh (:data:`NOT_CACHED`); ``dst`` may exist."""
    def ignore(folder: str, names: list[str]) -> list[str]:
        return [x for x in names if x in NOT_CACHED] if os.path.samefile(folder, src) else []
    shutil.copytree(src, dst, ignore=ignore, dirs_exist_ok=True)


def restore_build(cache_dir: str | None, key: str, project: str) -> str:
    """Copy a cached build into the fresh ``project`` folder; the ``compile_cache`` entry."""
    if not cache_dir:
        return "fresh"
    cached = os.path.join(cache_dir, key)
    if not os.path.isdir(cached):
        return "fresh"
    copy_build(cached, project)
    return f"reused:{cached}"


def store_build(cache_dir: str | None, key: str, project: str) -> None:
    """Keep a freshly compiled project in the cache (complete or not at all: renamed into
    place, and left alone when another run stored it first)."""
    if not cache_dir:
        return
    cached = os.path.join(cache_dir, key)
    if os.path.isdir(cached):
        return
    os.makedirs(cache_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=key + ".", dir=cache_dir)
    try:
        copy_build(project, tmp)
        os.rename(tmp, cached)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not os.path.isdir(cached):
            raise


def _children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_standalone(b, net, args: argparse.Namespace, n: int) -> tuple[float, dict, str]:
    """Generate, compile and run the standalone project: (sim_s, build parts, cache)."""
    device = b.get_device()
    project = tempfile.mkdtemp(prefix="brian2_standalone_")
    atexit.register(shutil.rmtree, project, ignore_errors=True)
    key = cache_key(args, n)
    t0 = time.perf_counter()
    cache = restore_build(args.cache_dir, key, project)
    restore_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    net.run(args.duration * b.ms, namespace={}, profile=False)   # records the run
    device.build(directory=project, compile=True, run=False, with_output=False)
    build_wall = time.perf_counter() - t1
    make_s = float(device.timers["compile"]["make"])
    cpu0 = _children_cpu_s()
    device.run(directory=project, with_output=False)
    binary_cpu_s = _children_cpu_s() - cpu0
    binary_s = float(device.timers["run_binary"])
    sim_s = float(device._last_run_time)
    if device._last_run_completed_fraction != 1.0:
        raise RuntimeError(f"the standalone run stopped at "
                           f"{device._last_run_completed_fraction:.3f} of its duration")
    if cache == "fresh":
        store_build(args.cache_dir, key, project)
    detail = {"cache_restore_s": restore_s, "codegen_s": build_wall - make_s,
              "compile_s": make_s, "binary_s": binary_s,
              "binary_outside_loop_s": binary_s - sim_s, "binary_cpu_s": binary_cpu_s,
              "openmp_threads": int(b.prefs.devices.cpp_standalone.openmp_threads),
              "omp_environment": {k: v for k, v in os.environ.items() if k.startswith(
                  ("OMP_", "GOMP_"))},
              "compile_args": list(b.prefs.codegen.cpp.extra_compile_args_gcc)}
    return sim_s, detail, cache


def rates(built: Built, i: np.ndarray, duration_s: float) -> dict[str, float]:
    counts = np.bincount(i, minlength=built.n_neurons)
    return {name: float(counts[a:z].sum()) / ((z - a) * duration_s)
            for name, (a, z) in built.populations.items()}


def simulate(args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    import brian2 as b  # inside the stdout redirection; import time reported, not in build_s

    t_import = time.perf_counter() - t0
    cache = configure(b, args)
    n = args.n or DEFAULT_N[args.case]
    rng = np.random.default_rng(args.seed)
    log.info("building %s (N=%d, target=%s, %d thread(s))", args.case, n, args.target,
             args.threads)
    t1 = time.perf_counter()
    if args.case == "coba":
        built = build_coba(b, n, rng, args.integration)
    else:
        built = BUILDERS[args.case](b, n, rng)
    net = b.Network(*built.objects)
    construct_s = time.perf_counter() - t1
    log.info("built in %.2f s; running %.0f ms", construct_s, args.duration)
    if args.target == "cpp_standalone":
        sim_s, detail, cache = run_standalone(b, net, args, n)
        build_s = (construct_s + detail["cache_restore_s"] + detail["codegen_s"]
                   + detail["compile_s"] + detail["binary_outside_loop_s"])
        build_detail = {"construct_s": construct_s, **detail}
    else:
        t2 = time.perf_counter()
        net.run(args.duration * b.ms, namespace={}, profile=False)
        run_wall = time.perf_counter() - t2
        sim_s = float(b.get_device()._last_run_time)
        codegen_s = run_wall - sim_s
        build_s = construct_s + codegen_s
        build_detail = {"construct_s": construct_s, "codegen_compile_s": codegen_s}
    build_detail["import_s"] = t_import
    duration_s = args.duration / 1000.0
    i = np.asarray(built.monitor.i[:], dtype=np.int64)
    per_pop = rates(built, i, duration_s)
    return {
        "simulator": "brian2", "version": b.__version__, "target": args.target,
        "case": args.case, "n_neurons": n, "n_synapses": sum(len(s) for s in built.synapses),
        "duration_ms": args.duration, "dt_ms": DT_MS, "seed": args.seed,
        "build_s": build_s, "sim_s": sim_s, "x_realtime": duration_s / sim_s,
        "n_spikes": int(i.size), "mean_rate_hz": i.size / (n * duration_s),
        "rates_hz": per_pop if len(per_pop) > 1 else {},
        "threads": args.threads,
        "integration": args.integration if args.case == "coba" else "exact",
        "build_detail": build_detail,
        "compile_cache": cache, "numpy": np.__version__, "python": platform.python_version(),
        "cpu": cpu_model(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def main(argv: list[str] | None = None) -> int:
    return run_case("brian2_cases", parse_args, simulate, argv)


if __name__ == "__main__":
    sys.exit(main())
