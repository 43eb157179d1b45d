"""The benchmark report: context building and rendering to Markdown, HTML and SVG files.

A benchmark run writes one results file (``validate_results`` in :mod:`neurosim.report.schema`
defines and checks its schema); ``render_report`` turns it into ``BENCHMARKS.md`` and a
self-contained ``benchmarks.html`` plus the plots as ``figures/*.svg``. Every figure in the report
comes from that results file or from a named earlier run of the same machine (``load_history``).

The pieces live in small modules, all re-exported here (importing this module imports Jinja2):
:mod:`~neurosim.report.schema` (results schema, load/save, file names, time parsing),
:mod:`~neurosim.report.history` (earlier runs of the same machine),
:mod:`~neurosim.report.formatting` (``fmt_*`` and text helpers),
:mod:`~neurosim.report.metrics` (``METRICS`` and peer comparisons),
:mod:`~neurosim.report.targets` (``targets.json``), :mod:`~neurosim.report.rules`
(recommendations), :mod:`~neurosim.report.microcircuit` (the Potjans–Diesmann section),
:mod:`~neurosim.report.figures` (SVG figures) and :mod:`~neurosim.report.badges` (the badges:
shields.io links in Markdown, inline SVG in HTML). This module holds the convergence and history
tables, ``build_context``, the Jinja2 environment and ``render_report``.

Speeds are "x real time": simulated seconds per wall-clock second (> 1 is faster than real time).
"""

from __future__ import annotations

import datetime as dt
import statistics
from pathlib import Path
from typing import Any

import jinja2

from neurosim import sysinfo
from neurosim.report.badges import (BADGE_COLOURS, BADGE_HEX, badge_svg, badge_url,
                                    build_badges)
from neurosim.report.figures import FIGURE_NAMES, build_figures
from neurosim.report.formatting import (fmt_bytes, fmt_int, fmt_num, fmt_target, fmt_x,
                                        inline_md, md_cell, with_unit)
from neurosim.report.history import earlier_runs, load_history, machine_key
from neurosim.report.metrics import (HISTORY_METRICS, METRICS, NETWORK_NAMES, PEER_NAMES,
                                     Measured, MetricDef, Missing, PeerComparison,
                                     compute_metrics, fmt_measured, peer_comparisons)
from neurosim.report.distributed import FILE_NAME as DISTRIBUTED_FILE
from neurosim.report.distributed import distributed_context, load_scaling
from neurosim.report.microcircuit import microcircuit_context
from neurosim.report.stepcost import step_costs_context
from neurosim.report.rules import (RATE_TOLERANCE, REGRESSION_TOLERANCE, RULES, Recommendation,
                                   recommendations)
from neurosim.report.schema import (RESULTS_SCHEMA, SCHEMA_VERSION, load_results, parse_time,
                                    results_filename, save_results, validate_results)
from neurosim.report.targets import (COMPARATOR_TEXT, COMPARATORS, TARGETS_PATH, Target,
                                     TargetResult, evaluate_targets, load_targets)

__all__ = [
    # schema
    "RESULTS_SCHEMA", "SCHEMA_VERSION", "load_results", "parse_time", "results_filename",
    "save_results", "validate_results",
    # history
    "earlier_runs", "load_history", "machine_key",
    # formatting
    "fmt_bytes", "fmt_int", "fmt_num", "fmt_target", "fmt_x", "inline_md", "md_cell",
    "with_unit",
    # metrics and peer comparisons
    "HISTORY_METRICS", "METRICS", "NETWORK_NAMES", "PEER_NAMES", "Measured", "MetricDef",
    "Missing", "PeerComparison", "compute_metrics", "fmt_measured", "peer_comparisons",
    # targets
    "COMPARATORS", "COMPARATOR_TEXT", "TARGETS_PATH", "Target", "TargetResult",
    "evaluate_targets", "load_targets",
    # recommendations
    "RATE_TOLERANCE", "REGRESSION_TOLERANCE", "RULES", "Recommendation", "recommendations",
    # figures
    "FIGURE_NAMES", "build_figures",
    # badges
    "BADGE_COLOURS", "BADGE_HEX", "badge_svg", "badge_url", "build_badges",
    # distributed scaling
    "DISTRIBUTED_FILE", "distributed_context", "load_scaling",
    # this module
    "build_context", "make_environment", "render_report",
]


# ------------------------------------------------------------------------------- convergence
def _convergence_rows(results: dict, judged: dict[str, TargetResult]) -> list[dict]:
    conv = results["convergence"]
    rows = []

    def status(key: str) -> str:
        return judged[key].status if key in judged else "—"

    def not_run(task: str, metric: str, name: str) -> dict:
        value = conv.get(name)
        reason = value["reason"] if value else "no record in this run"
        return {"task": task, "metric": metric, "value": "not run", "detail": reason,
                "status": "not measured"}

    p = conv.get("pattern_learning")
    if p is None or "status" in p:
        rows.append(not_run("Pattern learning", "epochs to threshold", "pattern_learning"))
    else:
        curve = p["accuracy_curve"]
        rows.append({
            "task": "Pattern learning", "metric": f"epochs to accuracy ≥ {fmt_num(p['threshold'])}",
            "value": (fmt_int(p["epochs_to_converge"]) if p["epochs_to_converge"] is not None
                      else f"not reached in {len(curve)} epochs"),
            "detail": (f"test accuracy per epoch {', '.join(fmt_num(a) for a in curve) or '—'}"
                       + _pattern_extras(p)
                       + f"; {p['device']}, seed {p['seed']}, {fmt_num(p['wall_s'])} s wall"),
            "status": status("pattern_learning_epochs")})
    s = conv.get("sequence_learning")
    if s is None or "status" in s:
        rows.append(not_run("Sequence learning", "recall", "sequence_learning"))
    else:
        epochs = s["epochs_to_90"]
        rows.append({
            "task": "Sequence learning", "metric": "recall before → after training",
            "value": f"{fmt_num(s['recall_before'])} → {fmt_num(s['recall_after'])}",
            "detail": ((f"recall ≥ 0.9 after {epochs} epochs" if epochs is not None
                        else f"recall 0.9 not reached in {len(s['curve'])} epochs")
                       + _sequence_extras(s)),
            "status": status("sequence_recall")})
    h = conv.get("homeostasis")
    if h is None or "status" in h:
        rows.append(not_run("Homeostatic adaptation", "adaptation time", "homeostasis"))
    else:
        times = h["adaptation_time_s"]
        rates = h["rate_trace"]["rate_hz"]
        rows.append({
            "task": "Homeostatic adaptation", "metric": "time to reach the target rate (median)",
            "value": f"{fmt_num(statistics.median(times))} s" if times else "—",
            "detail": (f"{len(times)} trial(s), {fmt_num(min(times)) if times else '—'}–"
                       f"{fmt_num(max(times)) if times else '—'} s; target "
                       f"{fmt_num(h['target_rate_hz'])} Hz, final rate "
                       f"{fmt_num(rates[-1]) if rates else '—'} Hz" + _homeostasis_extras(h)),
            "status": "—"})
    return rows


def _pattern_extras(p: dict) -> str:
    """Control, baselines and the published result, where the record has them."""
    out = ""
    if p.get("control_accuracy") is not None:
        out += f"; without plasticity {fmt_num(p['control_accuracy'])}"
    for name, acc in (p.get("baselines") or {}).items():
        out += f"; {name.replace('_', ' ')} {fmt_num(acc)}"
    pub = p.get("published")
    if pub:
        out += (f"; published {fmt_num(pub['accuracy'])} ({pub['reference']}, "
                f"{pub['n_neurons']} neurons, {pub['data']})")
    if p.get("epoch_wall_s"):
        out += f"; {fmt_num(sum(p['epoch_wall_s']) / len(p['epoch_wall_s']))} s per epoch"
    seeds = p.get("per_seed") or []
    if len(seeds) > 1:
        out += (f"; final accuracy over {len(seeds)} seeds {fmt_num(p['final_accuracy_mean'])}"
                f" ± {fmt_num(p['final_accuracy_sd'])} (sd; per seed "
                + ", ".join(fmt_num(s["final_accuracy"]) for s in seeds) + ")")
    return out


def _sequence_extras(s: dict) -> str:
    out = ""
    if s.get("shuffled_recall") is not None:
        out += f"; shuffled orders {fmt_num(s['shuffled_recall'])}"
    if s.get("control_recall") is not None:
        out += f"; without plasticity {fmt_num(s['control_recall'])}"
    per = s.get("per_interval") or []
    if per:
        out += "; after training per interval " + ", ".join(
            f"{fmt_num(r['interval_ms'])} ms {fmt_num(r['recall_after'])}" for r in per)
    return out


def _homeostasis_extras(h: dict) -> str:
    out = ""
    if h.get("rate_error_per_phase"):
        out += "; rate error per phase " + ", ".join(fmt_num(e) for e in h["rate_error_per_phase"])
    if h.get("control_rate_error_per_phase"):
        out += ("; without homeostasis " + ", ".join(
            fmt_num(e) for e in h["control_rate_error_per_phase"]))
    return out


# ----------------------------------------------------------------------------------- context
def _history_table(results: dict, earlier: list[dict]) -> dict:
    rows = []
    for i, run in enumerate(earlier + [results]):
        rows.append({"number": i + 1, "run_id": run["run_id"], "created": run["created"],
                     "quick": run["quick"], "current": run is results,
                     "cells": [fmt_measured(METRICS[k].compute(run), k)
                                for k in HISTORY_METRICS]})
    return {"columns": [METRICS[k].label for k in HISTORY_METRICS], "rows": rows}


def build_context(results: dict, history: list[dict] | None = None,
                  targets: list[Target] | None = None,
                  generated: dt.datetime | None = None,
                  distributed: dict | None = None,
                  distributed_source: str | None = None) -> dict[str, Any]:
    """Everything the templates show, computed from ``results`` and earlier runs (and the
    distributed scaling measurement ``distributed``, :func:`load_scaling`'s, read from
    ``distributed_source``)."""
    validate_results(results)
    metrics = compute_metrics(results)
    judged_list = evaluate_targets(results, targets, metrics)
    judged = {r.target.key: r for r in judged_list}
    earlier = earlier_runs(results, history or [])
    has_cuda = any(r["device"] == "cuda"
                   for r in results["throughput"] + results["reference_networks"])
    system = results["system"]
    gpus = [g.get("name", "?") for g in system.get("gpus") or []]
    unmeasured = None
    if not has_cuda:
        why = (f"a GPU was detected ({', '.join(gpus)}) but not benchmarked" if gpus
               else system.get("gpu_note") or "no GPU detected")
        unmeasured = f"GPU speed is unmeasured: this run has no CUDA record ({why})."
    generated = generated or dt.datetime.now().astimezone()
    methods = list(dict.fromkeys(m["method"] for m in results["memory"]))  # each written once
    return {
        "generated": generated.strftime("%Y-%m-%d %H:%M:%S %Z").strip(),
        "run_id": results["run_id"], "created": results["created"], "quick": results["quick"],
        "badges": build_badges(results, metrics, judged),
        "throughput": sorted(results["throughput"],
                             key=lambda r: (r["device"], r["n_neurons"], r["n_synapses"])),
        "has_cuda": has_cuda, "gpu_unmeasured": unmeasured,
        "memory": [dict(m, delays=m.get("delays", "constant"),
                        method_ref=methods.index(m["method"]) + 1)
                   for m in sorted(results["memory"],
                                   key=lambda r: (r["device"], r["n_neurons"], r["n_synapses"]))],
        "memory_methods": methods,
        "convergence": _convergence_rows(results, judged),
        "reference_networks": [
            dict(n, label=NETWORK_NAMES.get(n["name"], n["name"]),
                 rates=", ".join(f"{k} {fmt_num(v)}" for k, v in n["rates_hz"].items()) or "—")
            for n in sorted(results["reference_networks"], key=lambda r: (r["name"], r["device"]))
            if n["name"] != "potjans_diesmann"],      # those have their own section
        "microcircuit": microcircuit_context(results, judged),
        "step_costs": step_costs_context(results, earlier),
        "distributed": dict(distributed_context(distributed, distributed_source),
                            file_name=DISTRIBUTED_FILE),
        "peers": [dict(p, label=PEER_NAMES.get(p["simulator"], p["simulator"]),
                       case_label=NETWORK_NAMES.get(p["case"], p["case"]))
                  for p in sorted(results["peers"],
                                  key=lambda p: (p["case"], p["n_neurons"], p["simulator"]))],
        "comparisons": [{"case": NETWORK_NAMES.get(c.case, c.case), "n_neurons": c.n_neurons,
                         "device": c.device, "neurosim_x": c.neurosim_x,
                         "neurosim_rate": c.neurosim_rate_hz, "peer": c.peer_label,
                         "peer_x": c.peer_x, "peer_rate": c.peer_rate_hz, "ratio": c.ratio,
                         "verdict": c.verdict} for c in peer_comparisons(results)],
        "raster": results["raster"], "gpu_tests": results["gpu_tests"],
        "system_text": sysinfo.format_text(system),
        "recommendations": recommendations(results, history, targets),
        "targets": [{"description": r.target.description,
                     "target": with_unit(f"{COMPARATOR_TEXT[r.target.comparator]} "
                                         f"{fmt_target(r.target.target)}", r.target.unit),
                     "current": r.current, "status": r.status, "note": r.note}
                    for r in judged_list],
        "history": _history_table(results, earlier), "earlier_runs": len(earlier),
        "figures": build_figures(results, earlier),
    }


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("neurosim", "report/templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"),
                                            default_for_string=False, default=False),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(num=fmt_num, grouped=fmt_int, bytes=fmt_bytes, times=fmt_x, md=md_cell,
                       html_md=inline_md)
    return env


def render_report(results: dict, out_dir: str | Path, history: list[dict] | None = None, *,
                  targets: list[Target] | None = None,
                  generated: dt.datetime | None = None,
                  distributed: str | Path | None = None) -> dict[str, Path]:
    """Write BENCHMARKS.md, benchmarks.html and figures/*.svg into ``out_dir``.

    ``history`` is a list of results dicts (``load_history``); only earlier runs of the same
    machine are used. ``distributed``: the distributed scaling measurement
    (``distributed-scaling.json``, :mod:`neurosim.report.distributed`); default: that file
    in ``out_dir`` if there is one (else the section says it was not measured). Returns
    {relative name: path} of every file written.
    """
    path = Path(distributed) if distributed is not None else Path(out_dir) / DISTRIBUTED_FILE
    scaling = load_scaling(path) if distributed is not None or path.exists() else None
    context = build_context(results, history, targets, generated, scaling,
                            path.as_posix() if scaling is not None else None)
    env = make_environment()
    out = Path(out_dir)
    figdir = out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, template in (("BENCHMARKS.md", "BENCHMARKS.md.j2"),
                           ("benchmarks.html", "report.html.j2")):
        text = env.get_template(template).render(context)
        (out / name).write_text(text, encoding="utf-8")
        written[name] = out / name
    for fig in context["figures"]:
        path = figdir / f"{fig['name']}.svg"
        path.write_text(fig["svg_text"] + "\n", encoding="utf-8")
        written[fig["file"]] = path
    for stale in figdir.glob("*.svg"):  # figures of an earlier report that this one lacks
        if stale.stem in FIGURE_NAMES and f"figures/{stale.name}" not in written:
            stale.unlink()
    return written
