"""The report's badges: label and measured value, coloured by the value's target status.

One badge list serves both reports. The Markdown report links each badge to the shields.io badge
service (``badge_url``); the HTML report draws the same badge as inline SVG (``badge_svg``), so
it shows its badges without network access. The colour rule is one table, ``BADGE_COLOURS``:
target met, not met, not measured, or no target (shields.io colour names), and ``BADGE_HEX``
gives the hex value shields.io draws for each name.
"""

from __future__ import annotations

import urllib.parse

from markupsafe import Markup

from neurosim.report.metrics import Measured, Missing, fmt_measured
from neurosim.report.svg import esc
from neurosim.report.targets import TargetResult

BADGE_COLOURS = {"met": "brightgreen", "not met": "orange", "not measured": "lightgrey",
                 None: "blue"}
BADGE_HEX = {"brightgreen": "#4c1", "orange": "#fe7d37", "lightgrey": "#9f9f9f",
             "blue": "#007ec6"}

#: (label, metric key, where it was measured) of the five metric badges, in report order
_SPECS = (("Throughput", "neuron_updates_per_s_100k", "@100k neurons"),
          ("Step time", "numpy_lif_us_per_step_100", "@100 neurons, numpy"),
          ("Memory", "bytes_per_synapse_constant_delay", ""),
          ("Convergence", "pattern_learning_epochs", ""))

_NARROW = set("ilj.,:;'|!()[] ")
_WIDE = set("mwMW@%")


def badge_url(label: str, message: str, colour: str) -> str:
    """The shields.io static badge for ``label``/``message`` (used by the Markdown report)."""
    def part(s: str) -> str:
        s = s.replace("-", "--").replace("_", "__").replace(" ", "_")
        return urllib.parse.quote(s, safe="")
    return f"https://img.shields.io/badge/{part(label)}-{part(message)}-{colour}"


def _text_width(text: str) -> float:
    """Approximate width in px of ``text`` at 11 px sans-serif (the box is sized from it and
    the text is fitted to the box with ``textLength``, so the estimate only sets proportions)."""
    return sum(3.5 if c in _NARROW else 10.0 if c in _WIDE else 7.5 if c.isupper() or c.isdigit()
               else 6.5 for c in text)


def badge_svg(label: str, message: str, colour: str) -> str:
    """A flat two-part badge as one inline ``<svg>`` element (no external resource)."""
    fill = BADGE_HEX.get(colour, colour)
    lw, mw = round(_text_width(label)) + 12, round(_text_width(message)) + 12
    width, name = lw + mw, esc(f"{label}: {message}")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="badge" width="{width}" height="20" '
            f'viewBox="0 0 {width} 20" role="img" aria-label="{name}"><title>{name}</title>'
            f'<rect width="{lw}" height="20" fill="#555"/>'
            f'<rect x="{lw}" width="{mw}" height="20" fill="{fill}"/>'
            '<g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">'
            f'<text x="6" y="14" textLength="{lw - 12}" lengthAdjust="spacingAndGlyphs">'
            f'{esc(label)}</text>'
            f'<text x="{lw + 6}" y="14" textLength="{mw - 12}" lengthAdjust="spacingAndGlyphs">'
            f'{esc(message)}</text></g></svg>')


def _badge(label: str, message: str, colour: str) -> dict:
    return {"label": label, "message": message, "colour": colour,
            "url": badge_url(label, message, colour),
            "svg": Markup(badge_svg(label, message, colour))}


def build_badges(results: dict, metrics: dict, judged: dict[str, TargetResult]) -> list[dict]:
    """The six badges: five metrics (value and where measured) and whether a GPU was measured."""
    real_time = ("gpu_brunel_x_realtime" if isinstance(metrics["gpu_brunel_x_realtime"], Measured)
                 else "brunel_x_realtime")
    badges = []
    for label, key, where in _SPECS + (("Real time", real_time, "Brunel"),):
        m = metrics[key]
        if isinstance(m, Missing):
            badges.append(_badge(label, "not measured", BADGE_COLOURS["not measured"]))
            continue
        if where and m.device and m.device not in where:
            where = f"{where}, {m.device}"
        message = fmt_measured(m, key) + (f" ({where})" if where else "")
        badges.append(_badge(label, message,
                             BADGE_COLOURS[judged[key].status if key in judged else None]))
    has_cuda = any(t["device"] == "cuda" for t in results["throughput"])
    badges.append(_badge("GPU", "measured" if has_cuda else "unmeasured",
                         "blue" if has_cuda else "lightgrey"))
    return badges
