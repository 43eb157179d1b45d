"""neurosim on the CPU (NumPy, cpu:native) beside Brian2, NEST and ANNarchy: the table of issue 14.

The same run as ``neurosim bench --peers`` (:mod:`neurosim.bench.peers_table`): every standard
case in every simulator, each run a fresh process, the simulators interleaved round by round,
``--repeats`` rounds (median), the build (first run with empty compiled-code caches, and later
runs) reported apart from the simulation loop::

    NEUROSIM_BRIAN2_PYTHON=... NEUROSIM_NEST_PYTHON=... NEUROSIM_ANNARCHY_PYTHON=... \\
        python benchmarks/cpu_peers.py --repeats 3

Some columns and rows only (here Brian2's C++ standalone columns on two cases)::

    python benchmarks/cpu_peers.py --only brian2-standalone --rows lif-100,coba-exp-euler \\
        --repeats 2 --out /tmp/b2.json --table /tmp/b2.md

Writes the raw runs as JSON (``--out``, rewritten after every run) and the Markdown report
(``--table``); ``--render`` only re-renders the report from ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from neurosim.bench import peers_table  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--duration", type=float, default=1000.0, help="simulated ms")
    p.add_argument("--seed", type=int, default=2, help="2: seed 1 leaves COBA silent")
    p.add_argument("--threads", default="1,2", help="thread counts, comma-separated")
    p.add_argument("--timeout", type=float, default=1800.0,
                   help="seconds a run may take before it is stopped (reported as timed out)")
    p.add_argument("--only", default="",
                   help="comma-separated: neurosim,annarchy,nest,brian2 (or one Brian2 mode: "
                        "brian2-cython, brian2-standalone)")
    p.add_argument("--rows", default="",
                   help="comma-separated cases (default all): "
                        + ",".join(r.key for r in peers_table.ROWS))
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "cpu_peers.json"))
    p.add_argument("--table", default=str(ROOT / "reports" / "cpu-peers.md"))
    p.add_argument("--preamble", default="", help="a file whose text goes above the tables")
    p.add_argument("--render", action="store_true",
                   help="only write the report from the runs already in --out")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    preamble = Path(args.preamble).read_text() if args.preamble else ""
    if args.render:
        results = json.loads(Path(args.out).read_text())
    else:
        only = [s for s in args.only.split(",") if s] or None
        threads = tuple(int(k) for k in args.threads.split(","))
        try:
            rows = peers_table.rows_by_key(args.rows.split(",")) if args.rows else None
        except ValueError as exc:
            p.error(f"--rows: {exc}")
        try:
            results = peers_table.run_table(
                repeats=args.repeats, duration_ms=args.duration, seed=args.seed,
                threads=threads, only=only, rows=rows, timeout_s=args.timeout,
                checkpoint=lambda partial: peers_table.save(partial, args.out))
        except ValueError as exc:        # a bad argument, before anything ran
            p.error(str(exc))
        peers_table.save(results, args.out)
    text = peers_table.render(results, preamble=preamble)
    Path(args.table).parent.mkdir(parents=True, exist_ok=True)
    Path(args.table).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
