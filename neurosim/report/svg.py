"""Tiny dependency-free SVG plots for the benchmark report.

``line_plot`` draws line and/or scatter series on linear or log axes with ticks, axis labels, a
legend and optional horizontal reference lines (targets); ``raster_plot`` draws a spike raster.
Both return one ``<svg>`` element as a string that works inline in HTML and as a standalone
``.svg`` file. Every piece of text is XML-escaped here, so callers may pass data-derived labels.
Points that cannot be drawn (NaN, infinity, or <= 0 on a log axis) are left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence
from xml.sax.saxutils import escape as _xml_escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf")
FONT = 'font-family="sans-serif" font-size="11"'


@dataclass(frozen=True)
class Series:
    """One labelled series; ``mode`` is "lines", "markers" or "lines+markers"."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    mode: str = "lines+markers"


@dataclass(frozen=True)
class _Axis:
    lo: float
    hi: float
    log: bool
    ticks: tuple[float, ...]

    def frac(self, v: float) -> float:
        if self.log:
            return (math.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        return (v - self.lo) / (self.hi - self.lo)


def esc(text: object) -> str:
    """XML-escape text for element content and attribute values."""
    return _xml_escape(str(text), {'"': "&quot;"})


def tick_label(v: float) -> str:
    """Compact tick text: 1000 -> '1k', 2.5e6 -> '2.5M', 0.001 -> '1e-3', 0.25 -> '0.25'."""
    if v == 0:
        return "0"
    a = abs(v)
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= scale:
            return f"{v / scale:.3g}{suffix}"
    if a < 1e-2:
        mantissa, exp = f"{v:.2e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{int(exp)}"
    return f"{v:.3g}"


def _nice_step(span: float, count: int = 5) -> float:
    raw = span / count
    mag = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= mult * mag:
            return mult * mag
    return 10 * mag


def make_axis(values: Sequence[float], log: bool, include: Sequence[float] = (),
              integer: bool = False) -> _Axis:
    """An axis covering ``values`` (and ``include``) with nice bounds and ticks (whole numbers
    only when ``integer``)."""
    vals = [v for v in list(values) + list(include) if math.isfinite(v) and (v > 0 or not log)]
    if not vals:
        vals = [1.0, 10.0] if log else [0.0, 1.0]
    lo, hi = min(vals), max(vals)
    if log:
        elo, ehi = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        if ehi == elo:
            ehi += 1
        stride = max(1, math.ceil((ehi - elo) / 8))
        ticks = [10.0 ** e for e in range(elo, ehi + 1, stride)]
        if ehi - elo <= 2:
            ticks = sorted(m * 10.0 ** e for e in range(elo, ehi + 1) for m in (1, 2, 5)
                           if m * 10.0 ** e <= 10.0 ** ehi)
        return _Axis(10.0 ** elo, 10.0 ** ehi, True, tuple(ticks))
    if hi == lo:
        lo, hi = (lo - 1, hi + 1) if lo == 0 else (lo - abs(lo) * 0.5, hi + abs(hi) * 0.5)
    step = max(1.0, _nice_step(hi - lo)) if integer else _nice_step(hi - lo)
    lo, hi = math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step
    n = int(round((hi - lo) / step))
    return _Axis(lo, hi, False, tuple(lo + i * step for i in range(n + 1)))


class _Frame:
    """Plot area geometry plus the axis frame, ticks and labels."""

    def __init__(self, width, height, xaxis, yaxis, legend_width):
        self.width, self.height = width, height
        self.left, self.top = 64, 30
        self.right = width - 12 - legend_width
        self.bottom = height - 42
        self.x, self.y = xaxis, yaxis

    def px(self, v: float) -> float:
        return self.left + self.x.frac(v) * (self.right - self.left)

    def py(self, v: float) -> float:
        return self.bottom - self.y.frac(v) * (self.bottom - self.top)

    def inside(self, x: float, y: float) -> bool:
        ok = all(math.isfinite(v) for v in (x, y))
        if ok and self.x.log:
            ok = x > 0
        if ok and self.y.log:
            ok = y > 0
        return ok

    def draw(self, title: str, xlabel: str, ylabel: str) -> list[str]:
        out = [f'<rect x="{self.left}" y="{self.top}" width="{self.right - self.left}" '
               f'height="{self.bottom - self.top}" fill="none" stroke="#444"/>',
               f'<text x="{(self.left + self.right) / 2:.1f}" y="18" text-anchor="middle" '
               f'font-weight="bold">{esc(title)}</text>',
               f'<text x="{(self.left + self.right) / 2:.1f}" y="{self.height - 8}" '
               f'text-anchor="middle">{esc(xlabel)}</text>',
               f'<text x="14" y="{(self.top + self.bottom) / 2:.1f}" text-anchor="middle" '
               f'transform="rotate(-90 14 {(self.top + self.bottom) / 2:.1f})">{esc(ylabel)}</text>']
        for t in self.x.ticks:
            x = self.px(t)
            out.append(f'<line x1="{x:.1f}" y1="{self.top}" x2="{x:.1f}" y2="{self.bottom}" '
                       f'stroke="#ddd"/><text x="{x:.1f}" y="{self.bottom + 14}" '
                       f'text-anchor="middle">{esc(tick_label(t))}</text>')
        for t in self.y.ticks:
            y = self.py(t)
            out.append(f'<line x1="{self.left}" y1="{y:.1f}" x2="{self.right}" y2="{y:.1f}" '
                       f'stroke="#ddd"/><text x="{self.left - 4}" y="{y + 4:.1f}" '
                       f'text-anchor="end">{esc(tick_label(t))}</text>')
        return out


def _open(width: int, height: int, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" {FONT}><title>{esc(title)}</title>'
            f'<rect width="{width}" height="{height}" fill="#fff"/>')


def line_plot(series: Sequence[Series], *, title: str, xlabel: str, ylabel: str,
              xlog: bool = False, ylog: bool = False, width: int = 640, height: int = 340,
              hlines: Sequence[tuple[float, str]] = (), xinteger: bool = False,
              yzero: bool = False) -> str:
    """Line/scatter plot of ``series``; ``hlines`` are (y, label) dashed reference lines;
    ``xinteger`` keeps x ticks on whole numbers; ``yzero`` makes a linear y axis include 0."""
    xs = [float(v) for s in series for v in s.x]
    ys = [float(v) for s in series for v in s.y]
    labels = [s.label for s in series] + [label for _, label in hlines]
    legend_width = min(210, 34 + int(6.3 * max((len(label) for label in labels), default=0)))
    yinclude = [y for y, _ in hlines] + ([0.0] if yzero and not ylog else [])
    frame = _Frame(width, height, make_axis(xs, xlog, integer=xinteger),
                   make_axis(ys, ylog, yinclude), legend_width)
    out = [_open(width, height, title)] + frame.draw(title, xlabel, ylabel)
    entries: list[tuple[str, str, bool]] = []
    for i, s in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        pts = [(frame.px(float(x)), frame.py(float(y))) for x, y in zip(s.x, s.y)
               if frame.inside(float(x), float(y))]
        if "lines" in s.mode and len(pts) > 1:
            d = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            out.append(f'<polyline points="{d}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
        if "markers" in s.mode:
            out.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>'
                       for x, y in pts)
        entries.append((s.label, colour, False))
    for i, (yv, label) in enumerate(hlines):
        colour = "#555"
        if frame.inside(frame.x.lo, yv):
            y = frame.py(yv)
            out.append(f'<line x1="{frame.left}" y1="{y:.1f}" x2="{frame.right}" y2="{y:.1f}" '
                       f'stroke="{colour}" stroke-dasharray="5,4"/>')
        entries.append((label, colour, True))
    if not xs:
        out.append(f'<text x="{(frame.left + frame.right) / 2:.1f}" '
                   f'y="{(frame.top + frame.bottom) / 2:.1f}" text-anchor="middle">no data</text>')
    lx = frame.right + 10
    for i, (label, colour, dashed) in enumerate(entries):
        y = frame.top + 8 + 16 * i
        dash = ' stroke-dasharray="5,4"' if dashed else ""
        text = label if len(label) <= 30 else label[:29] + "…"
        out.append(f'<line x1="{lx}" y1="{y}" x2="{lx + 16}" y2="{y}" stroke="{colour}" '
                   f'stroke-width="2"{dash}/><text x="{lx + 20}" y="{y + 4}">{esc(text)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def raster_plot(t_ms: Sequence[float], index: Sequence[int], *, title: str,
                window_ms: Sequence[float] | None = None, width: int = 640, height: int = 300,
                max_points: int = 20000) -> tuple[str, str]:
    """Spike raster; returns (svg, caption). Beyond ``max_points`` spikes every k-th neuron is
    kept (whole rows, so the rates stay readable) and the caption says so."""
    spikes = [(float(t), int(i)) for t, i in zip(t_ms, index)]
    if window_ms is not None:
        lo, hi = float(window_ms[0]), float(window_ms[1])
        spikes = [(t, i) for t, i in spikes if lo <= t <= hi]
    else:
        lo, hi = (min(t for t, _ in spikes), max(t for t, _ in spikes)) if spikes else (0, 1)
    total = len(spikes)
    stride = max(1, math.ceil(total / max_points)) if max_points > 0 else 1
    if stride > 1:
        spikes = [(t, i) for t, i in spikes if i % stride == 0]
    top = max((i for _, i in spikes), default=0)
    xaxis = make_axis([lo, hi], False)
    xaxis = _Axis(lo, hi if hi > lo else lo + 1, False,
                  tuple(t for t in xaxis.ticks if lo <= t <= hi))
    frame = _Frame(width, height, xaxis, make_axis([0, top + 1], False), 0)
    out = [_open(width, height, title)] + frame.draw(title, "time (ms)", "neuron index")
    d = "".join(f"M{frame.px(t):.1f} {frame.py(i):.1f}h1.2" for t, i in spikes)
    out.append(f'<path d="{d}" stroke="#222" stroke-width="1.2" fill="none"/>')
    out.append("</svg>")
    caption = f"{len(spikes):,} spikes in {lo:g}–{hi:g} ms"
    if stride > 1:
        caption += f" (every {stride}th neuron shown, {total:,} spikes in the window)"
    return "\n".join(out), caption
