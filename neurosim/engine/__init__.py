"""Engines: the simulation state and loop of one network on one backend (see DESIGN.md)."""

from __future__ import annotations

from .layout import Layout, build_layout


def build_engine(net, backend: str):
    """Build the engine of ``net`` for ``backend`` ("numpy", "cuda" or "cuda:host")."""
    layout = build_layout(net)
    if backend == "numpy":
        from .numpy_engine import NumpyEngine
        return NumpyEngine(net, layout)
    if backend in ("cuda", "cuda:host"):
        from .cuda_engine import CudaEngine
        return CudaEngine(net, layout, host=(backend == "cuda:host"))
    raise ValueError(f"build_engine(): unknown backend {backend!r}")


__all__ = ["Layout", "build_layout", "build_engine"]
