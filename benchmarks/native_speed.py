"""Speed of ``device="cpu:native"`` beside NumPy on the cases of issue 14 (helper for tuning).

    python benchmarks/native_speed.py [--cases lif100,lif100k,brunel] [--threads 1,2]
        [--numpy] [--repeats 3] [--sim-ms 1000] [--json reports/native-speed.json]
        [--rounds N]

Each case is built once per device (build and first compile timed apart), run 10 ms untimed,
then ``--repeats`` runs of ``--sim-ms`` are timed (median wall and process CPU time reported:
on a shared machine the CPU time says more about the code than the wall time) with every spike
recorded.
Cases: ``lif<N>`` / ``lif<N>k`` (uncoupled LIF), ``brunel``, ``coba``, ``pd<scale>`` (the
Potjans-Diesmann microcircuit at ``scale`` of the neurons, in-degrees kept, Poisson background).
Per-step overhead: ``lif1`` (one neuron) gives µs per step where the neuron update costs nothing.
Each record has the real-time factor (``rtf``: wall seconds per simulated second), the threads
the step loop ran on, and how many synapse classes the native delay queue delivered.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import neurosim as ns
from neurosim.bench import cases
from neurosim.networks import brunel_2000


def build(case: str, device: str):
    if case.startswith("lif") and case[3:].rstrip("k").isdigit():
        n = int(case[3:].rstrip("k")) * (1000 if case.endswith("k") else 1)
        b = cases.lif_uncoupled(n, device=device, seed=1)
        return b.network, b.monitors
    if case == "brunel":
        r = brunel_2000(device=device, seed=2)
        return r.network, list(r.monitors.values())
    if case == "coba":
        from neurosim.networks import vogels_abbott_coba
        r = vogels_abbott_coba(device=device, seed=2)
        return r.network, list(r.monitors.values())
    if case.startswith("pd"):     # pd<scale>: the microcircuit, in-degrees kept (k_scale 1)
        from neurosim.networks import potjans_diesmann
        r = potjans_diesmann(scale=float(case[2:]), device=device, seed=1, connectivity="host")
        return r.network, list(r.monitors.values())
    raise SystemExit(f"unknown case {case!r}")


def measure(case: str, device: str, threads: int | None, sim_ms: float, repeats: int) -> dict:
    net, mons = build(case, device)
    if threads is not None:
        net.threads = threads
    t0 = time.perf_counter()
    net.build()
    build_s = time.perf_counter() - t0
    net.run(10.0)
    walls = []
    before = sum(m.num_spikes for m in mons)
    cpus = []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        net.run(sim_ms)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    spikes = sum(m.num_spikes for m in mons) - before
    n = sum(p.size for p in net.populations)
    wall = statistics.median(walls)
    steps = round(sim_ms / net.dt)
    engine = net._engine
    return {"case": case, "device": device, "threads": threads, "n_neurons": n,
            "threads_run": getattr(engine, "threads", None),
            "queued_classes": len(getattr(engine, "_queued", ())),
            "rtf": wall / (sim_ms * 1e-3),
            "sim_ms": sim_ms, "steps": steps, "build_s": build_s, "wall_s": wall,
            "walls": walls, "us_per_step": wall / steps * 1e6,
            "cpu_s": statistics.median(cpus), "cpus": cpus,
            "rate_hz": spikes / (n * repeats * sim_ms * 1e-3),
            "load1": os.getloadavg()[0]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default="lif100,lif100k,brunel")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--numpy", action="store_true", help="also time the NumPy engine")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sim-ms", type=float, default=1000.0)
    p.add_argument("--json", default=None, help="append the records to this JSON list")
    p.add_argument("--rounds", type=int, default=0,
                   help="run every (case, device, threads) in a fresh process, the "
                        "configurations interleaved round by round, ROUNDS rounds; print the "
                        "median over rounds of each process's median (needs --json)")
    a = p.parse_args(argv)
    if a.rounds:
        return interleaved(a)
    rows = []
    for case in a.cases.split(","):
        runs = [("cpu", None)] if a.numpy else []
        runs += [("cpu:native", int(t)) for t in a.threads.split(",") if t]
        for device, threads in runs:
            r = measure(case, device, threads, a.sim_ms, a.repeats)
            rows.append(r)
            print(f"{case:8s} {device:10s} threads={threads}  {r['wall_s']:.4f} s  "
                  f"(RTF {r['rtf']:.2f}, queued classes {r['queued_classes']}) "
                  f"({r['us_per_step']:.3f} us/step, cpu {r['cpu_s']:.4f} s, {r['rate_hz']:.1f} Hz, build "
                  f"{r['build_s']:.2f} s, load {r['load1']:.2f})", flush=True)
    if a.json:
        old = json.load(open(a.json)) if os.path.exists(a.json) else []
        meta = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                "python": sys.version.split()[0], "time": time.strftime("%Y-%m-%d %H:%M:%S")}
        json.dump(old + [dict(r, **meta) for r in rows], open(a.json, "w"), indent=1)


def interleaved(a) -> None:
    """--rounds: each configuration in a fresh process per round (a process's memory layout
    and the machine's other load change from one process to the next: interleaving spreads
    both over every configuration alike)."""
    import subprocess
    if not a.json:
        raise SystemExit("--rounds needs --json")
    configs = [(case, dev, t) for case in a.cases.split(",")
               for dev, t in ([("cpu", None)] if a.numpy else [])
               + [("cpu:native", t) for t in a.threads.split(",") if t]]
    for r in range(a.rounds):
        for case, dev, t in configs:
            cmd = [sys.executable, os.path.abspath(__file__), "--cases", case,
                   "--repeats", str(a.repeats), "--sim-ms", str(a.sim_ms), "--json", a.json]
            cmd += ["--numpy", "--threads", ""] if dev == "cpu" else ["--threads", t]
            print(f"round {r + 1}/{a.rounds}: ", end="", flush=True)
            subprocess.run(cmd, check=True)
    rows = json.load(open(a.json))
    for case, dev, t in configs:
        mine = [x for x in rows if x["case"] == case and x["device"] == dev
                and (x["threads"] is None if t is None else x["threads"] == int(t))]
        rtf = [x["rtf"] for x in mine]
        if rtf:
            print(f"{case:8s} {dev:10s} threads={t}: median RTF {statistics.median(rtf):.2f} "
                  f"over {len(rtf)} processes (each the median of {a.repeats}: "
                  f"{', '.join(f'{v:.2f}' for v in rtf)})")


if __name__ == "__main__":
    main()
