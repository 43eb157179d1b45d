"""The report's "launches and bytes per step" section, from a results' ``step_costs`` entry.

Each network's row shows this run's count and, where an earlier run of the same machine counted
different kernel code (another ``kernels_hash``), the most recent such count beside it as
"before", so that a change to the step shows its effect.
"""

from __future__ import annotations

from neurosim.bench.stepcost import NETWORKS

LABELS = {"coba": "Vogels–Abbott COBA", "brunel": "Brunel 2000",
          "potjans_diesmann": "Potjans–Diesmann microcircuit"}
#: the aims of the CUDA step, per network (issue of the tracker: at most 3 launches per step,
#: distinct bytes within 1.5x of the stated minimum)
MAX_LAUNCHES = 3
MAX_RATIO = 1.5


def _before(results: dict, earlier: list[dict]) -> dict | None:
    now = (results.get("step_costs") or {}).get("kernels_hash")
    for run in reversed(earlier):
        entry = run.get("step_costs")
        if entry and entry.get("networks") and entry.get("kernels_hash") != now:
            return dict(entry, run_id=run["run_id"])
    return None


def _row(rec: dict, key: str, old: dict | None) -> dict:
    r = rec[key]
    prev = old[key] if old else None
    kernels = sorted(r["kernels"].items(), key=lambda kv: -kv[1]["distinct"])
    return {
        "network": LABELS.get(rec["network"], rec["network"]),
        "scale": rec["scale"], "neurons": rec["neurons"], "synapses": rec["synapses"],
        "recording": "yes" if key == "recording" else "no",
        "launches": r["launches_per_step"], "bytes": r["bytes_per_step"],
        "accessed": r["accessed_bytes_per_step"], "minimum": r["minimum_bytes_per_step"],
        "ratio": r["ratio_to_minimum"],
        "launches_before": prev["launches_per_step"] if prev else None,
        "bytes_before": prev["bytes_per_step"] if prev else None,
        "meets": (r["launches_per_step"] <= MAX_LAUNCHES
                  and (r["ratio_to_minimum"] is None or r["ratio_to_minimum"] <= MAX_RATIO)),
        "kernels": ", ".join(f"{name} {k['launches']:g}× {k['distinct'] / 1024:.3g} KiB"
                             for name, k in kernels),
    }


def step_costs_context(results: dict, earlier: list[dict]) -> dict:
    """``{"rows", "not_run", "kernels_hash", "before"}`` for the templates."""
    entry = results.get("step_costs")
    if not entry:
        return {"rows": [], "not_run": "not counted in this run", "kernels_hash": None,
                "before": None, "max_launches": MAX_LAUNCHES, "max_ratio": MAX_RATIO}
    before = _before(results, earlier)
    old = {rec["network"]: rec for rec in (before or {}).get("networks", [])}
    rows = []
    order = {name: i for i, name in enumerate(NETWORKS)}
    for rec in sorted(entry["networks"], key=lambda r: order.get(r["network"], 99)):
        prev = old.get(rec["network"])
        if prev is not None and prev["scale"] != rec["scale"]:
            prev = None                      # another size: not comparable
        for key in ("recording", "no_recording"):
            rows.append(_row(rec, key, prev))
    return {"rows": rows, "not_run": entry.get("not_run"),
            "kernels_hash": entry["kernels_hash"],
            "before": ({"run_id": before["run_id"], "kernels_hash": before["kernels_hash"]}
                       if before else None),
            "max_launches": MAX_LAUNCHES, "max_ratio": MAX_RATIO}
