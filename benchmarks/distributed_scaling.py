"""Strong scaling of the MPI-distributed engines: Brunel and the microcircuit on R ranks.

Driver (launches ``mpirun -n R`` for each rank count and writes the table)::

    python benchmarks/distributed_scaling.py --ranks 1 2 --out reports/distributed-scaling.json

One measurement (what the driver launches; runs as is under mpirun)::

    mpirun -n 2 python benchmarks/distributed_scaling.py --case brunel --duration 200

Each rank reports its wall seconds for building and running, the run split into compute
(stepping, delivery, recording) and communication (the exchanges' collectives, waiting for the
slowest rank included: ``Network.timings``); rank 0 prints one JSON line with every rank's
figures, the spike count, and how many ranks hold at least one synapse of the average source
neuron (what an ``Alltoallv`` to "the ranks that need it" would save over ``Allgatherv``).
The 1-rank case runs the same distributed scheme on one process (no MPI). ``--device cuda``
runs the CUDA engine on every rank (rank r on GPU ``local_rank % n_gpus``: one rank per GPU),
``--device cuda:host`` its host build (a check, not a speed figure); default ``cpu`` (NumPy).
The benchmark report's "Distributed Scaling" section renders the JSON written with ``--out``
(in ``reports/``) and the scaling model for 8–64 GPUs (``--model`` prints its table; the model
and its assumptions are defined in ``neurosim/report/distributed.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def build(case: str, scale: float, device: str = "cpu"):
    from neurosim.networks import brunel_2000, potjans_diesmann
    if case == "brunel":
        return brunel_2000(n_exc=int(round(10_000 * scale)), seed=1, device=device)
    if case == "microcircuit":
        return potjans_diesmann(scale=scale, seed=1, device=device)
    raise ValueError(f"unknown case {case!r}")


def measure(case: str, scale: float, duration: float, warmup: float,
            device: str = "cpu") -> dict | None:
    t0 = time.perf_counter()
    ref = build(case, scale, device)
    net = ref.network
    net.build()
    t_build = time.perf_counter() - t0
    net.run(warmup)
    before = dict(net.timings)
    spikes0 = sum(m.num_spikes for m in ref.monitors.values())
    t1 = time.perf_counter()
    net.run(duration)
    t_run = time.perf_counter() - t1
    after = net.timings
    eng = net._engine
    L = eng.L
    # sources whose synapses this rank holds (any class): Alltoallv's destinations
    has = np.zeros(L.n_global, bool)
    for c in L.classes:
        has |= np.diff(c.indptr) > 0
    mine = {
        "rank": net.rank, "neurons": int(L.n_total), "synapses": int(L.n_synapses),
        "build_s": t_build, "run_s": t_run,
        "compute_s": after["compute"] - before["compute"],
        "comm_s": after["communication"] - before["communication"],
        "exchanges": after["exchanges"] - before["exchanges"],
        "bytes_received": after["bytes_received"] - before["bytes_received"],
        "sources_held": int(has.sum()),
    }
    # the floor of one exchange here: empty exchanges, timed the same way
    x = eng.exchanger
    c0, k = x.comm_seconds, 200
    for _ in range(k):
        x.exchange([np.zeros(0, np.int64)], False)
    mine["empty_exchange_us"] = (x.comm_seconds - c0) / k * 1e6
    every = net.comm.allgather(mine) if net.n_ranks > 1 else [mine]
    if net.rank != 0:
        return None
    spikes = sum(m.num_spikes for m in ref.monitors.values()) - spikes0
    held = sum(r["sources_held"] for r in every)
    return {
        "case": case, "device": net.backend, "scale": scale, "ranks": net.n_ranks,
        "duration_ms": duration,
        "warmup_ms": warmup, "neurons": net.n_neurons,
        "synapses": sum(r["synapses"] for r in every), "spikes": int(spikes),
        "rate_hz": spikes / net.n_neurons / (duration * 1e-3),
        "interval_steps": after["interval_steps"], "dt_ms": net.dt,
        "exchange": after["exchange"],
        "empty_exchange_us": max(r["empty_exchange_us"] for r in every),
        "ranks_per_source": held / L.n_global,
        "exchanges": every[0]["exchanges"],
        "run_s": max(r["run_s"] for r in every), "build_s": max(r["build_s"] for r in every),
        "per_rank": every,
    }


def drive(args) -> None:
    rows = []
    runs = [(n, "allgatherv") for n in args.ranks]
    runs += [(n, "alltoallv") for n in args.ranks if n > 1 and args.alltoallv]
    for case, scale, duration in args.cases:
        for n, mode in runs:
            cmd = [sys.executable, os.path.abspath(__file__), "--case", case, "--scale",
                   str(scale), "--duration", str(duration), "--warmup", str(args.warmup),
                   "--device", args.device]
            env = dict(os.environ, PYTHONPATH=ROOT, NEUROSIM_EXCHANGE=mode)
            if n == 1:
                env["NEUROSIM_DISTRIBUTED"] = "1"
            else:
                cmd = ["mpirun", "--oversubscribe", "--mca", "mpi_yield_when_idle", "1",
                       "-n", str(n)] + cmd
                env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
            out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
            line = [x for x in out.stdout.splitlines() if x.startswith("{")]
            if out.returncode or not line:
                raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
            row = json.loads(line[-1])
            rows.append(row)
            print(table_row(row), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"machine": machine(), "rows": rows}, f, indent=1)


def machine() -> dict:
    import platform
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "load_average": load,
            "python": platform.python_version()}


def table_row(r: dict) -> str:
    comp = max(x["compute_s"] for x in r["per_rank"])
    comm = max(x["comm_s"] for x in r["per_rank"])
    case = r["case"] if r.get("device", "numpy") == "numpy" else f"{r['case']} ({r['device']})"
    return (f"| {case} | {r['scale']} | {r['neurons']:,} | {r['synapses']:,} | "
            f"{r['ranks']} | {r['exchange']} | {r['duration_ms']:g} | {r['rate_hz']:.1f} | "
            f"{r['build_s']:.1f} | {r['run_s']:.2f} | {comp:.2f} | {comm:.2f} | {r['exchanges']} | "
            f"{r['empty_exchange_us']:.0f} | {r['ranks_per_source']:.2f} |")


# -- the scaling model: defined once, in neurosim/report/distributed.py (the report renders it)

def scaling_model() -> list[str]:
    if ROOT not in sys.path:                # a source checkout that is not installed
        sys.path.insert(0, ROOT)
    from neurosim.report.distributed import model_table
    return model_table()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", choices=("brunel", "microcircuit"))
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "cuda:host"),
                   help="every rank's engine: cpu (NumPy), cuda (one GPU per rank), cuda:host")
    p.add_argument("--duration", type=float, default=200.0, help="simulated ms (timed)")
    p.add_argument("--warmup", type=float, default=20.0, help="simulated ms before timing")
    p.add_argument("--ranks", type=int, nargs="+", help="driver: rank counts to launch")
    p.add_argument("--cases", default="brunel:1.0:200,microcircuit:0.5:100",
                   help="driver: case:scale:duration,...")
    p.add_argument("--out", help="driver: JSON file for the rows")
    p.add_argument("--alltoallv", action="store_true",
                   help="driver: also run NEUROSIM_EXCHANGE=alltoallv on more than one rank")
    p.add_argument("--model", action="store_true", help="print the scaling model's table")
    args = p.parse_args()
    if args.model:
        print("\n".join(scaling_model()))
        return
    if args.ranks:
        args.cases = [(c, float(s), float(d)) for c, s, d in
                      (x.split(":") for x in args.cases.split(","))]
        print("| network | scale | neurons | synapses | ranks | exchange | simulated ms | "
              "rate (Hz) | build (s) | run (s) | compute (s, max rank) | communication "
              "(s, max rank) | exchanges | empty exchange (us) | ranks per source |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        drive(args)
        return
    row = measure(args.case, args.scale, args.duration, args.warmup, args.device)
    if row is not None:
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
