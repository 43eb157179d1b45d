"""Performance targets: loading ``targets.json`` and judging each as met, not met or not measured.

Every target names a metric of :data:`neurosim.report.metrics.METRICS`, a comparator and a
value; a target that requires a GPU model counts as not measured on other hardware.
"""

from __future__ import annotations

import json
import operator
from dataclasses import dataclass
from pathlib import Path

from neurosim.report.metrics import METRICS, Missing, compute_metrics, fmt_measured

TARGETS_PATH = Path(__file__).with_name("targets.json")


COMPARATORS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}
COMPARATOR_TEXT = {"<=": "≤", "<": "<", ">=": "≥", ">": ">"}


@dataclass(frozen=True)
class Target:
    key: str
    description: str
    comparator: str
    target: float
    unit: str
    requires_gpu: str | None = None


@dataclass(frozen=True)
class TargetResult:
    target: Target
    status: str  # "met", "not met" or "not measured"
    current: str
    note: str
    value: float | None


def load_targets(path: str | Path | None = None) -> list[Target]:
    """Read targets.json; every key must name a metric and every comparator be known."""
    data = json.loads(Path(path or TARGETS_PATH).read_text(encoding="utf-8"))
    targets = []
    for i, item in enumerate(data["targets"]):
        t = Target(**item)
        if t.key not in METRICS:
            raise ValueError(f"targets[{i}].key: unknown metric {t.key!r}; known: "
                             f"{', '.join(sorted(METRICS))}")
        if t.comparator not in COMPARATORS:
            raise ValueError(f"targets[{i}].comparator: expected one of "
                             f"{', '.join(COMPARATORS)}, got {t.comparator!r}")
        targets.append(t)
    return targets


def evaluate_targets(results: dict, targets: list[Target] | None = None,
                     metrics: dict | None = None) -> list[TargetResult]:
    metrics = metrics if metrics is not None else compute_metrics(results)
    gpu_names = [g.get("name", "") for g in results["system"].get("gpus") or []]
    out = []
    for t in targets if targets is not None else load_targets():
        m = metrics[t.key]
        if isinstance(m, Missing):
            out.append(TargetResult(t, "not measured", "—", m.reason, None))
            continue
        current = fmt_measured(m, t.key)
        if t.requires_gpu and not any(t.requires_gpu.lower() in n.lower() for n in gpu_names):
            out.append(TargetResult(t, "not measured", current,
                                    f"target applies to an {t.requires_gpu}; measured on "
                                    f"{', '.join(gpu_names) or 'no GPU'} ({m.source})", m.value))
            continue
        met = COMPARATORS[t.comparator](m.value, t.target)
        out.append(TargetResult(t, "met" if met else "not met", current, m.source, m.value))
    return out
