"""Engines: the simulation state and loop of one network on one backend (see docs/architecture.md)."""

from __future__ import annotations

from .layout import Layout, build_layout


def build_engine(net, backend: str):
    """Build the engine of ``net`` for ``backend`` ("numpy", "cuda" or "cuda:host").

    Static projections are drawn on the host or generated on the device as
    ``net.connectivity`` says (:mod:`neurosim.engine.device_connect`).
    """
    from .device_connect import generated_projections
    on_device = generated_projections(net, backend)        # raises before any work
    if backend == "numpy":
        from .numpy_engine import NumpyEngine
        return NumpyEngine(net, build_layout(net))
    if backend in ("cuda", "cuda:host"):
        from .cuda_engine import CudaEngine, _Device
        from .device_connect import DeviceConnectivity
        dev = _Device(host=(backend == "cuda:host"))
        gen = DeviceConnectivity(dev, net, on_device) if on_device else None
        try:
            layout = build_layout(net, device_gen=gen)
        except MemoryError as exc:      # CuPy's OutOfMemoryError: FixedIndegree's sort keys
            if gen is None:
                raise
            from ..errors import DeviceMemoryError
            raise DeviceMemoryError(f"counting the synapses generated on {backend} ran out of "
                                    f"device memory ({exc}): free device memory, use "
                                    f"connectivity='host', or device='cpu'") from None
        return CudaEngine(net, layout, host=(backend == "cuda:host"), dev=dev, gen=gen)
    raise ValueError(f"build_engine(): unknown backend {backend!r}")


__all__ = ["Layout", "build_layout", "build_engine"]
