"""Step time of the COBA network (Vogels-Abbott, 4,000 neurons) per backend and precision.

    python benchmarks/precision_speed.py [--devices cpu cuda:host] [--repeats 7] [--ms 50]
                                         [--precisions single double]

Builds the network once per (device, precision), runs a warm-up, then ``repeats`` runs of
``ms`` ms each, and prints the median (and min/max) wall time per step as JSON. Used to check
that float32 paths did not get slower when precision="double" was added (run it on two trees
with the same machine and load; compare medians). Runs on any neurosim tree: on one without
the ``precision`` argument only "single" is measured.
"""

from __future__ import annotations

import argparse
import inspect
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
import neurosim as ns  # noqa: E402
from neurosim.networks.classic import vogels_abbott_coba  # noqa: E402


def measure(device: str, precision: str, repeats: int, ms: float) -> dict:
    ref = vogels_abbott_coba(device=device, seed=1, record=False, connectivity="host")
    net = ref.network
    if precision != "single":
        net.precision = precision      # before the build: the engine reads it then
    net.run(20.0)                      # build, compile, warm caches
    steps = int(round(ms / net.dt))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        net.run(ms)
        times.append((time.perf_counter() - t0) / steps)
    return {"device": device, "precision": precision, "steps_per_run": steps,
            "median_us_per_step": 1e6 * statistics.median(times),
            "min_us_per_step": 1e6 * min(times), "max_us_per_step": 1e6 * max(times)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda:host"])
    parser.add_argument("--precisions", nargs="+", default=["single", "double"])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--ms", type=float, default=50.0)
    args = parser.parse_args()
    has_precision = "precision" in inspect.signature(ns.Network).parameters
    out = []
    for device in args.devices:
        for precision in args.precisions:
            if precision != "single" and not has_precision:
                continue
            out.append(measure(device, precision, args.repeats, args.ms))
            print(json.dumps(out[-1]), flush=True)


if __name__ == "__main__":
    main()
