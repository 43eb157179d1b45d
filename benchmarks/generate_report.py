#!/usr/bin/env python
"""Render the benchmark report from results JSON: the same as ``neurosim report``.

    python benchmarks/generate_report.py                       # newest run in benchmarks/results
    python benchmarks/generate_report.py --input RESULTS.json --output reports/

Works from a source checkout without installing neurosim.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    from neurosim import cli
except ImportError:  # a source checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from neurosim import cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="generate_report.py", description=__doc__.splitlines()[0],
        epilog="Exit codes: 0 ok, 2 usage error (missing or invalid results).")
    cli.add_report_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else cli.EXIT_USAGE
    try:
        return cli.run_report(args)
    except cli.UsageError as exc:
        print(f"generate_report.py: error: {exc}", file=sys.stderr)
        return cli.EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
