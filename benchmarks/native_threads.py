"""Thread scaling of ``device="cpu:native"``: each case at each thread count in fresh processes.

    python benchmarks/native_threads.py [--cases lif100,lif100k,coba,coba-euler,brunel]
        [--threads 1,2] [--repeats 3] [--sim-ms 1000] [--json out.json]

Every (case, threads) runs ``--repeats`` times, each in a new process (interleaved: round after
round, so that other load on a shared machine falls on every configuration alike). A process
builds the network (the standard cases of ``benchmarks/peers/neurosim_cases.py``: uncoupled
LIF, COBA with exponential or forward Euler, Brunel 2000; every spike recorded), runs 10 ms
untimed, then ``--sim-ms`` timed: the wall time and the process CPU time of that run (on a
shared machine the CPU time, summed over threads, says what the code costs; the wall time what
a user waits). Prints the medians, and the 1-minute load average before each round.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(case: str, threads: int, sim_ms: float) -> dict:
    sys.path.insert(0, str(ROOT))
    from neurosim.bench import cases
    device = "cpu:native" if threads > 0 else "cpu"
    if case.startswith("lif"):
        n = int(case[3:].rstrip("k")) * (1000 if case.endswith("k") else 1)
        built = cases.lif_uncoupled(n, device=device, seed=1)
        net = built.network
    else:
        kw = {}
        if case.startswith("coba"):
            kw["integration"] = "euler" if case == "coba-euler" else "exponential_euler"
        ref = cases.build_reference(case.split("-")[0], device=device, seed=1, **kw)
        net = ref.network
    if threads > 0:
        net.threads = threads
    net.build()
    net.run(10.0)
    t0, c0 = time.perf_counter(), time.process_time()
    net.run(sim_ms)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"case": case, "threads": getattr(net._engine, "threads", 1), "wall_s": wall,
            "cpu_s": cpu}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default="lif100,lif100k,coba,coba-euler,brunel")
    p.add_argument("--threads", default="1,2", help="0 = the NumPy engine")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sim-ms", type=float, default=1000.0)
    p.add_argument("--json", default=None)
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        print(json.dumps(child(a.child[0], int(a.child[1]), float(a.child[2]))))
        return 0
    configs = [(c, int(t)) for c in a.cases.split(",") for t in a.threads.split(",")]
    runs: dict = {cfg: [] for cfg in configs}
    loads = []
    for _ in range(a.repeats):
        loads.append(os.getloadavg()[0])
        for case, threads in configs:
            out = subprocess.run([sys.executable, __file__, "--child", case, str(threads),
                                  str(a.sim_ms)], capture_output=True, text=True, check=True)
            runs[(case, threads)].append(json.loads(out.stdout.strip().splitlines()[-1]))
    rows = []
    for (case, threads), rs in runs.items():
        row = {"case": case, "threads": threads,
               "wall_s": statistics.median(r["wall_s"] for r in rs),
               "cpu_s": statistics.median(r["cpu_s"] for r in rs),
               "walls": [round(r["wall_s"], 4) for r in rs]}
        rows.append(row)
        print(f"{case:11s} threads={threads}  wall {row['wall_s']:.4f} s  cpu {row['cpu_s']:.4f} s"
              f"  (walls {row['walls']})", flush=True)
    print(f"load average (1 min) before each round: {loads}")
    if a.json:
        Path(a.json).write_text(json.dumps({"rows": rows, "load1": loads}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
