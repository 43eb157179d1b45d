"""Run history: which earlier results files come from the same machine as a given run.

Two runs are comparable when ``machine_key`` (CPU model and sorted GPU names) is equal;
``load_history`` reads such runs from a results directory and ``earlier_runs`` keeps those made
before a given run.
"""

from __future__ import annotations

import logging
from pathlib import Path

from neurosim.report.schema import load_results, parse_time

logger = logging.getLogger(__name__)


def machine_key(system: dict) -> tuple[str, tuple[str, ...]]:
    """What makes two runs comparable: the CPU model and the sorted GPU names."""
    cpu = (system.get("cpu") or {}).get("model") or "unknown CPU"
    gpus = tuple(sorted(str(g.get("name", "?")) for g in system.get("gpus") or []))
    return " ".join(str(cpu).split()), gpus


def load_history(results_dir: str | Path, system: dict, *,
                 exclude_run_id: str | None = None) -> list[dict]:
    """Runs in ``results_dir`` (``*.json``) made on the same machine as ``system``, oldest first.

    Files that are not valid results are skipped with a logged warning.
    """
    runs = []
    key = machine_key(system)
    for path in sorted(Path(results_dir).glob("*.json")):
        try:
            run = load_results(path)
        except (OSError, ValueError) as exc:
            logger.warning("history: skipping %s", exc)
            continue
        if machine_key(run["system"]) == key and run["run_id"] != exclude_run_id:
            runs.append(run)
    return sorted(runs, key=lambda r: parse_time(r["created"]))


def earlier_runs(results: dict, history: list[dict]) -> list[dict]:
    """The runs of ``history`` made before ``results`` on the same machine, oldest first."""
    key, now = machine_key(results["system"]), parse_time(results["created"])
    keep = [r for r in history if r["run_id"] != results["run_id"]
            and machine_key(r["system"]) == key and parse_time(r["created"]) < now]
    return sorted(keep, key=lambda r: parse_time(r["created"]))
