#!/usr/bin/env python
"""Quick benchmark: the same as ``neurosim bench --quick`` (under two minutes on a 2-core CPU).

    python benchmarks/quick_benchmark.py                     # every usable device ("auto")
    python benchmarks/quick_benchmark.py --device cpu --sizes 100,1000,10000
    python benchmarks/quick_benchmark.py --peers             # + Brian2/NEST (several minutes)

Measures step throughput, memory footprint, learning-task convergence, the real-time factor
of COBA and Brunel 2000 and of the Potjans-Diesmann microcircuit scaled to 0.1 (1 s, with and
without spike recording; ``--microcircuit-scale`` changes the scale) (``neurosim.bench.run_suite``), saves the results JSON under
``benchmarks/results/`` and writes ``reports/BENCHMARKS.md``, ``reports/benchmarks.html`` and
``reports/figures/`` (of this checkout, wherever it is run from). Any other option of ``neurosim bench`` is accepted (``--help``). Works
from a source checkout without installing neurosim.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "neurosim" / "__init__.py").is_file():   # run this checkout's neurosim, installed or not
    sys.path.insert(0, str(ROOT))
from neurosim import cli  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        print(__doc__)
        return cli.main(["bench", "--help"])
    if not any(a.startswith("--results-dir") for a in argv):
        argv += ["--results-dir", str(ROOT / "benchmarks" / "results")]
    if not any(a.startswith("--output") for a in argv):
        argv += ["--output", str(ROOT / "reports")]
    t0 = time.perf_counter()
    verbose = [a for a in argv if a in ("-v", "--verbose")]
    rest = [a for a in argv if a not in ("-v", "--verbose")]
    code = cli.main([*verbose[:1], "bench", "--quick", *rest])
    print(f"quick benchmark finished in {time.perf_counter() - t0:.0f} s (exit code {code})")
    return code


if __name__ == "__main__":
    sys.exit(main())
