"""Benchmark report generation: results schema, history, targets, Markdown/HTML/SVG output.

The code lives in small modules (``schema``, ``history``, ``formatting``, ``metrics``,
``targets``, ``rules``, ``figures``, ``render``); :mod:`neurosim.report.render` re-exports all of
their public names, and the names below are re-exported here lazily from it, so that importing
``neurosim.report.svg`` (or this package) does not import Jinja2.
"""

from __future__ import annotations

__all__ = ["SCHEMA_VERSION", "build_context", "evaluate_targets", "load_history",
           "load_results", "load_targets", "machine_key", "recommendations", "render_report",
           "save_results", "validate_results"]


def __getattr__(name: str):
    if name in __all__:
        from neurosim.report import render

        return getattr(render, name)
    raise AttributeError(f"module 'neurosim.report' has no attribute {name!r}")
