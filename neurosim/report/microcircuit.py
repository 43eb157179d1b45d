"""The report's Potjans–Diesmann microcircuit section: measured rows, published figures, target.

The suite's microcircuit records live in ``results["reference_networks"]`` (name
``"potjans_diesmann"``) with ``scale``, ``k_scale``, ``background``, ``recording``, ``sim_ms``,
``build_s``, ``wall_s`` and ``rtf`` (wall s per simulated s); ``results["microcircuit"]`` (absent
in older files) says what the suite asked for and where it did not run. One table row is one
build: a device and a recording mode, with a wall time and real-time factor per simulated time.
"""

from __future__ import annotations

import json
from pathlib import Path

from neurosim.report.formatting import fmt_num, fmt_target, with_unit
from neurosim.report.metrics import MICROCIRCUIT, is_full_scale, recorded, rtf_of
from neurosim.report.targets import COMPARATOR_TEXT

TARGET_KEY = "gpu_potjans_diesmann_rtf"

PUBLISHED_PATH = Path(__file__).with_name("published.json")


def load_published(path: Path = PUBLISHED_PATH) -> dict:
    """The published figures of other simulators on the full-scale model (``published.json``):
    ``{"rows": [...], "sources": [...]}``, each row with the number of its source (1, 2...)
    and each source with its citation, DOI, figure or table, what was timed and how it was
    checked. Context only: not measured here, on other hardware."""
    data = json.loads(path.read_text(encoding="utf-8"))
    keys = list(dict.fromkeys(row["source"] for row in data["figures"]))
    missing = [k for k in keys if k not in data["sources"]]
    if missing:
        raise ValueError(f"{path.name}: figures cite {missing}, which 'sources' does not define")
    return {"rows": [dict(row, ref=keys.index(row["source"]) + 1) for row in data["figures"]],
            "sources": [dict(data["sources"][k], ref=i + 1) for i, k in enumerate(keys)]}


def _g(x: float) -> str:
    """Scales and simulated seconds as written: 0.1, 1, 10."""
    return f"{x:g}"


def microcircuit_records(results: dict) -> list[dict]:
    return [n for n in results["reference_networks"] if n["name"] == MICROCIRCUIT]


def scale_label(rec: dict) -> str:
    if is_full_scale(rec):
        return "full (1 / 1)"
    return f"scaled: ×{_g(rec['scale'])} neurons, ×{_g(rec['k_scale'])} in-degrees"


def _rows(recs: list[dict], times: list[float]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in recs:
        key = (r["device"], recorded(r), r.get("scale", 1.0), r.get("k_scale", 1.0),
               r.get("background"))
        groups.setdefault(key, []).append(r)
    rows = []
    for (device, rec_on, *_), members in sorted(groups.items(), key=lambda kv: (
            kv[0][0], not kv[0][1], -kv[0][2], -kv[0][3])):
        by_time = {}
        for m in members:
            by_time.setdefault(m["sim_ms"], m)
        longest = by_time[max(by_time)]
        rates = ", ".join(f"{k} {fmt_num(v)}" for k, v in longest["rates_hz"].items())
        rows.append({
            "device": (f"{device} (synapses generated on the device)"
                       if longest.get("connectivity") == "device" else device),
            "recording": "yes" if rec_on else "no",
            "scale": scale_label(longest), "full_scale": is_full_scale(longest),
            "background": longest.get("background", "—"),
            "n_neurons": longest["n_neurons"], "n_synapses": longest["n_synapses"],
            "build_s": longest["build_s"],
            "cells": [(by_time[t]["wall_s"], rtf_of(by_time[t])) if t in by_time else None
                      for t in times],
            "rates": (f"{rates} (over {_g(longest['sim_ms'] / 1000)} s)" if rates
                      else "not recorded" if not rec_on else "—")})
    return rows


def microcircuit_context(results: dict, judged: dict) -> dict:
    """What the templates show in the microcircuit section (``judged``: target key ->
    TargetResult)."""
    recs = microcircuit_records(results)
    setup = results.get("microcircuit")
    times = sorted({r["sim_ms"] for r in recs} | set((setup or {}).get("sim_ms", [])))
    scaled = sorted({scale_label(r).removeprefix("scaled: ") for r in recs
                     if not is_full_scale(r)})
    notes = []
    if scaled:
        notes.append("Scaled instance (" + "; ".join(scaled) + "): in-degrees are reduced with "
                     "weights × 1/sqrt(k_scale) and NEST's DC compensation, so its speed is not "
                     "comparable with full-scale figures, the published ones below or the target.")
    if setup is not None and times and max(times) < 10_000:
        notes.append(f"This run simulated {_g(max(times) / 1000)} s only (the full suite "
                     "reports 1 s and 10 s).")
    for item in (setup or {}).get("not_run", []):
        notes.append(f"Not run on {item['device']}: {item['reason']}.")
    if not recs and setup is None:
        notes.append("These results predate the microcircuit benchmark: no microcircuit was "
                     "run.")
    target = judged.get(TARGET_KEY)
    ours = None
    if target is not None:
        t = target.target
        ours = {"status": target.status, "note": target.note,
                "current": target.current if target.value is not None else "unmeasured",
                "description": t.description,
                "target": with_unit(f"{COMPARATOR_TEXT[t.comparator]} {fmt_target(t.target)}",
                                    t.unit)}
    return {
        "rows": _rows(recs, times),
        "columns": [_g(t / 1000) for t in times],
        "notes": notes, "published": load_published(),
        "target": ours,
    }
