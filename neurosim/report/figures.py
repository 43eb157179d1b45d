"""The report's figures as SVG text: throughput, step time, memory, learning, homeostasis,
raster and per-metric history across earlier runs of the same machine.

``build_figures`` returns one dict per figure (name, title, SVG text and markup, file, caption);
``FIGURE_NAMES`` lists every name it can produce, so stale figure files can be removed.
"""

from __future__ import annotations

import math
from typing import Callable

from markupsafe import Markup

from neurosim.report import svg
from neurosim.report.formatting import fmt_num
from neurosim.report.metrics import HISTORY_METRICS, METRICS, Measured


def _group(records: list[dict], key: Callable[[dict], str]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in records:
        out.setdefault(key(r), []).append(r)
    return out


def _series_by(records, label, x, y) -> list[svg.Series]:
    groups = _group(records, label)
    return [svg.Series(name, [x(r) for r in sorted(rs, key=x)], [y(r) for r in sorted(rs, key=x)])
            for name, rs in sorted(groups.items())]


def _figure(name: str, title: str, svg_text: str, caption: str) -> dict:
    return {"name": name, "title": title, "svg_text": svg_text, "svg": Markup(svg_text),
            "file": f"figures/{name}.svg", "caption": caption}


def build_figures(results: dict, earlier: list[dict]) -> list[dict]:
    figs = []
    tp = results["throughput"]
    if tp:
        figs.append(_figure("throughput", "Step throughput", svg.line_plot(
            _series_by(tp, _throughput_label, lambda r: r["n_neurons"],
                       lambda r: r["neuron_updates_per_s"]),
            title="Neuron updates per second", xlabel="neurons", ylabel="neuron updates / s",
            xlog=True, ylog=True), "Neuron updates per wall-clock second against network size."))
        figs.append(_figure("step_time", "Time per step", svg.line_plot(
            _series_by(tp, _throughput_label, lambda r: r["n_neurons"],
                       lambda r: r["us_per_step"]),
            title="Wall time per step", xlabel="neurons", ylabel="µs / step",
            xlog=True, ylog=True), "Wall-clock µs per simulation step against network size."))
    mem = [m for m in results["memory"] if (m["host_bytes"] or 0) + (m["device_bytes"] or 0) > 0]
    if mem:
        figs.append(_memory_figure(mem))
    conv = results["convergence"]
    series, hlines = [], []
    p, s = conv.get("pattern_learning"), conv.get("sequence_learning")
    if p and "status" not in p and p["accuracy_curve"]:
        c = p["accuracy_curve"]
        series.append(svg.Series("pattern accuracy", list(range(1, len(c) + 1)), c))
        hlines.append((p["threshold"], f"pattern threshold {fmt_num(p['threshold'])}"))
        if p.get("control_accuracy") is not None:
            hlines.append((p["control_accuracy"], "pattern, no plasticity"))
    if s and "status" not in s and s["curve"]:
        series.append(svg.Series("sequence recall", list(range(1, len(s["curve"]) + 1)), s["curve"]))
        if s.get("shuffled_recall") is not None:
            hlines.append((s["shuffled_recall"], "sequence, shuffled orders"))
    if series:
        figs.append(_figure("learning", "Learning curves", svg.line_plot(
            series, title="Learning curves", xlabel="epoch", ylabel="accuracy / recall",
            hlines=hlines, xinteger=True, yzero=True),
            "Accuracy (pattern learning) and recall (sequence learning) per epoch."))
    h = conv.get("homeostasis")
    if h and "status" not in h and h["rate_trace"]["t_s"]:
        figs.append(_figure("homeostasis", "Homeostatic adaptation", svg.line_plot(
            [svg.Series("population rate", h["rate_trace"]["t_s"], h["rate_trace"]["rate_hz"],
                        mode="lines")],
            title="Firing rate under homeostasis", xlabel="time (s)", ylabel="rate (Hz)",
            hlines=[(h["target_rate_hz"], f"target {fmt_num(h['target_rate_hz'])} Hz")]),
            "Population firing rate while homeostasis adapts, with the target rate."))
    raster = results["raster"]
    if raster is not None:
        text, caption = svg.raster_plot(raster["t_ms"], raster["index"],
                                        title=f"Spike raster: {raster['network']}",
                                        window_ms=raster["window_ms"])
        figs.append(_figure("raster", f"Spike raster ({raster['network']})", text, caption))
    runs = earlier + [results]
    for key in HISTORY_METRICS:
        points = [(i + 1, m.value) for i, run in enumerate(runs)
                  if isinstance(m := METRICS[key].compute(run), Measured) and math.isfinite(m.value)]
        if len(points) >= 2 and len(earlier) >= 1:
            values = [v for _, v in points]
            ylog = min(values) > 0 and max(values) / min(values) > 20
            figs.append(_figure(f"history_{key}", f"History: {METRICS[key].label}", svg.line_plot(
                [svg.Series(METRICS[key].label, [x for x, _ in points], values)],
                title=f"{METRICS[key].label} across runs", xlabel="run (see the History table)",
                ylabel=METRICS[key].unit or "value", ylog=ylog, xinteger=True, yzero=True),
                f"{METRICS[key].label} per run of this machine; run numbers as in the History table."))
    return figs


FIGURE_NAMES = {"throughput", "step_time", "memory", "learning", "homeostasis", "raster",
                *(f"history_{k}" for k in HISTORY_METRICS)}


def _memory_figure(records: list[dict]) -> dict:
    """Bytes against synapses (log-log), one line per device and delay mode: networks of the
    same size with different in-degrees are different points, and the slope is bytes/synapse."""
    nets = sorted({(r["n_neurons"], r["n_synapses"]) for r in records}, key=lambda k: k[::-1])
    listed = "; ".join(f"{n:,} neurons × {fmt_num(s / n)} synapses per neuron"
                       for n, s in nets)
    undrawn = sum(1 for r in records if r["n_synapses"] <= 0)
    caption = ("Bytes held by each network (host + device) against its number of synapses, "
               f"log-log, one line per device and delay mode. Networks: {listed}.")
    if undrawn:
        caption += f" {undrawn} record(s) without synapses cannot be drawn on the log axis."
    text = svg.line_plot(
        _series_by(records, lambda r: f"{r['device']}, "
                   f"{r.get('delays', 'constant').replace('_', '-')} delay",
                   lambda r: r["n_synapses"],
                   lambda r: (r["host_bytes"] or 0) + (r["device_bytes"] or 0)),
        title="Memory against number of synapses", xlabel="synapses (count)",
        ylabel="memory held, host + device (bytes)", xlog=True, ylog=True)
    return _figure("memory", "Memory footprint", text, caption)


def _throughput_label(record: dict) -> str:
    """One line per device and network kind (uncoupled vs recurrent records differ)."""
    kind = record.get("network") or ("uncoupled" if record.get("n_synapses", 0) == 0
                                     else "recurrent")
    return f"{record['device']}, {kind}"
