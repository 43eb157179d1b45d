"""Number and text formatting shared by the report, its templates and its recommendations.

``fmt_*`` turn measured values into short text (3 significant digits, thousands separators,
byte units); ``md_cell`` and ``inline_md`` make text safe for Markdown tables and HTML.
"""

from __future__ import annotations

import math
import re
from typing import Any

from markupsafe import Markup, escape


def fmt_num(x: Any, digits: int = 3) -> str:
    """3 significant digits; thousands separators; e-notation from 1e6 and below 1e-3."""
    if x is None:
        return "—"
    x = float(x)
    if not math.isfinite(x):
        return "∞" if x > 0 else "n/a"
    a = abs(x)
    if a == 0:
        return "0"
    if a >= 1e6 or a < 1e-3:
        mantissa, exp = f"{x:.{digits - 1}e}".split("e")
        return f"{mantissa}e{int(exp)}"
    decimals = max(0, digits - 1 - math.floor(math.log10(a)))
    return f"{x:,.{decimals}f}"


def fmt_int(n: Any) -> str:
    return "—" if n is None else f"{int(n):,}"


def fmt_bytes(n: Any) -> str:
    if n is None:
        return "—"
    for scale, unit in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(n) >= scale:
            return f"{fmt_num(n / scale)} {unit}"
    return f"{int(n)} B"


def fmt_x(x: Any) -> str:
    return f"{fmt_num(x)}×"


def fmt_target(x: float) -> str:
    """A target value as written in targets.json: 10 -> '10', 3e8 -> '3e8', 0.9 -> '0.9'."""
    if abs(x) >= 1e6:
        mantissa, exp = f"{x:e}".split("e")
        return f"{float(mantissa):g}e{int(exp)}"
    return f"{x:g}"


def with_unit(value: str, unit: str) -> str:
    """'1.2' + '×' -> '1.2×'; '8.1' + 'B/synapse' -> '8.1 B/synapse'."""
    if not unit:
        return value
    return f"{value}{unit}" if unit.startswith("×") else f"{value} {unit}"


def md_cell(text: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def inline_md(text: Any) -> Markup:
    """HTML for the small Markdown subset used in generated texts: `code` and **bold**."""
    html = str(escape(str(text)))
    html = re.sub(r"`([^`]+)`", r"<code>\1</code>", html)
    return Markup(re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html))
