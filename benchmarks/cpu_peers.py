"""neurosim on the CPU (NumPy, cpu:native) beside Brian2, NEST and ANNarchy: the table of issue 14.

Every run is a fresh process (``benchmarks/peers/<sim>_cases.py`` through
:func:`neurosim.peers.run_peer`, or ``neurosim_cases.py``), the simulators interleaved round by
round so that a change of machine load falls on all of them alike; ``--repeats`` rounds (median
reported), the 1-minute load average recorded before every run. Cases (docs/benchmark-cases.md,
dt 0.1 ms, 1 s simulated, every spike recorded, simulation loop only): uncoupled LIF at 100 and
100,000 neurons, COBA (4,000) with exponential Euler, COBA with forward Euler in the peers that
offer it (ANNarchy's ``explicit``), Brunel 2000 (12,500). Threads: 1 and 2 for every simulator
that has them (neurosim's native backend, NEST, ANNarchy); Brian2 (cython) and NumPy have one.

    NEUROSIM_BRIAN2_PYTHON=... NEUROSIM_NEST_PYTHON=... NEUROSIM_ANNARCHY_PYTHON=... \\
        python benchmarks/cpu_peers.py --repeats 3 --out benchmarks/results/cpu_peers.json

Writes the raw runs as JSON and the table (``--table``, Markdown) with only measured numbers.
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
sys.path.insert(0, str(ROOT))

ROWS = [  # (row label, case, n, neurosim ok, peer target per simulator or None to skip)
    ("uncoupled LIF, 100 neurons", "lif", 100,
     {"brian2": "cython", "nest": "nest", "annarchy": "exponential"}),
    ("uncoupled LIF, 100,000 neurons", "lif", 100000,
     {"brian2": "cython", "nest": "nest", "annarchy": "exponential"}),
    ("COBA, 4,000 neurons, exponential Euler", "coba", None,
     {"brian2": "cython", "annarchy": "exponential"}),
    ("COBA, 4,000 neurons, forward Euler in the peers", "coba", None,
     {"annarchy": "explicit", "nest": "nest"}),
    ("Brunel 2000, 12,500 neurons", "brunel", None,
     {"brian2": "cython", "nest": "nest", "annarchy": "exponential"}),
]
COLUMNS = [  # (column label, simulator, threads)
    ("neurosim NumPy", "neurosim-numpy", 1),
    ("neurosim cpu:native 1 thread", "neurosim-native", 1),
    ("neurosim cpu:native 2 threads", "neurosim-native", 2),
    ("neurosim cpu:native 2 threads, libgomp's default spin", "neurosim-native", 2),
    ("ANNarchy 1 thread", "annarchy", 1),
    ("ANNarchy 2 threads", "annarchy", 2),
    ("NEST 1 thread", "nest", 1),
    ("NEST 2 threads", "nest", 2),
    ("Brian2 (cython)", "brian2", 1),
]


def run_neurosim(target: str, case: str, n, threads: int, seed: int, duration_ms: float):
    cmd = [sys.executable, str(ROOT / "benchmarks" / "peers" / "neurosim_cases.py"),
           "--case", case, "--duration", repr(duration_ms), "--seed", str(seed),
           "--target", target, "--threads", str(threads)]
    if n:
        cmd += ["--n", str(n)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def one(sim: str, threads: int, case: str, n, target, seed: int, duration_ms: float):
    from neurosim.peers import run_peer
    if sim.startswith("neurosim-"):
        return run_neurosim(sim.split("-")[1], case, n, threads, seed, duration_ms)
    return run_peer(sim, case, n=n, duration_ms=duration_ms, seed=seed, target=target,
                    threads=threads, timeout_s=1800)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--duration", type=float, default=1000.0)
    p.add_argument("--seed", type=int, default=2, help="2: seed 1 leaves COBA silent")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "cpu_peers.json"))
    p.add_argument("--table", default=str(ROOT / "reports" / "cpu-peers.md"))
    p.add_argument("--only", default="", help="comma-separated simulators to run")
    p.add_argument("--render", action="store_true",
                   help="only write the table from the runs already in --out")
    args = p.parse_args(argv)
    if args.render:
        runs = json.loads(Path(args.out).read_text())["runs"]
        Path(args.table).write_text(render(runs))
        print(render(runs))
        return 0
    from neurosim.peers import find_peers
    found = find_peers()
    only = set(filter(None, args.only.split(",")))
    runs = []
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for rep in range(args.repeats):
        for label, case, n, peers in ROWS:
            for col, sim, threads in COLUMNS:
                if "default spin" in col or (only and sim not in only):
                    continue
                target = None
                if not sim.startswith("neurosim-"):
                    if sim not in found or sim not in peers:
                        continue
                    target = peers[sim]
                elif "forward" in label:
                    continue          # neurosim has exponential Euler only: the row above
                load = os.getloadavg()[0]
                t0 = time.perf_counter()
                try:
                    res = one(sim, threads, case, n, target, args.seed, args.duration)
                    err = None
                except Exception as exc:   # noqa: BLE001 -- recorded, the table says failed
                    res, err = None, str(exc).splitlines()[-1][:300] if str(exc) else repr(exc)
                rec = dict(row=label, column=col, simulator=sim, threads=threads,
                           repeat=rep, load1_before=load, wall_s=time.perf_counter() - t0,
                           result=res, error=err)
                runs.append(rec)
                print(f"[{rep}] {label} | {col}: "
                      + (f"sim {res['sim_s']:.4f} s, build {res['build_s']:.2f} s, "
                         f"{res['mean_rate_hz']:.1f} Hz (load {load:.1f})" if res else
                         f"FAILED {err}"), flush=True)
                out.write_text(json.dumps({"created": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                    time.gmtime()),
                                           "cpu_count": os.cpu_count(), "runs": runs},
                                          indent=1))
    Path(args.table).write_text(render(runs))
    print(render(runs))
    return 0


def render(runs) -> str:
    """The Markdown table: median sim_s per row and column (n = runs), only measured values."""
    cells, loads = {}, []
    for r in runs:
        loads.append(r["load1_before"])
        if r["result"]:
            col = r["column"]
            if (r["simulator"] == "neurosim-native" and r["threads"] > 1
                    and r["result"].get("gomp_spincount") is None):
                col = "neurosim cpu:native 2 threads, libgomp's default spin"   # before 4aa4288
            cells.setdefault((r["row"], col), []).append(r["result"])
    cols = [c for c, _, _ in COLUMNS if any(k[1] == c for k in cells)]
    lines = ["| case | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for label, *_ in ROWS:
        row = []
        for c in cols:
            res = cells.get((label, c))
            if not res:
                row.append("—")
                continue
            sim = statistics.median(x["sim_s"] for x in res)
            rate = statistics.median(x["mean_rate_hz"] for x in res)
            row.append(f"{sim:.3g} s ({rate:.0f} Hz, n={len(res)})")
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    builds = {}
    for (label, c), res in cells.items():
        builds.setdefault(c, []).append(max(x["build_s"] for x in res))
    lines.append("")
    lines.append("Simulation loop only, median of the runs (n); dt 0.1 ms, 1 s simulated, every "
                 "spike recorded; mean rate in parentheses. 1-minute load average before the "
                 f"runs: min {min(loads):.1f}, median {statistics.median(loads):.1f}, max "
                 f"{max(loads):.1f} on {os.cpu_count()} cores. Longest build (construction, "
                 "code generation, compilation; first compile included where it happened): "
                 + ", ".join(f"{c} {max(v):.1f} s" for c, v in builds.items()) + ".")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
