"""Engines: the simulation state and loop of one network on one backend (see docs/architecture.md)."""

from __future__ import annotations

from .layout import Layout, build_layout


def build_engine(net, backend: str):
    """Build the engine of ``net`` for ``backend`` ("numpy", "cpu:native", "cuda" or "cuda:host").

    Static projections are drawn on the host or generated on the device as
    ``net.connectivity`` says (:mod:`neurosim.engine.device_connect`). Memory is checked before
    any synapse is drawn, from the description (:mod:`neurosim.engine.memory`): the host's for
    every backend, the device's for CUDA (and again, precisely, once the layout is drawn).
    """
    from .device_connect import generated_projections
    on_device = generated_projections(net, backend)        # raises before any work
    check = _memory_check(net, backend, on_device)
    if backend == "numpy":
        from .numpy_engine import NumpyEngine
        return NumpyEngine(net, build_layout(net, before_synapses=check))
    if backend == "cpu:native":
        from .native_engine import NativeEngine
        from ..backends.native import threads_for
        layout = build_layout(net, before_synapses=check)
        return NativeEngine(net, layout, net.threads or threads_for(layout.n_total))
    if backend in ("cuda", "cuda:host"):
        from .cuda_engine import CudaEngine
        from .cuda_device import Device as _Device
        from .device_connect import DeviceConnectivity
        dev = _Device(host=(backend == "cuda:host"), double=net.precision == "double")
        gen = DeviceConnectivity(dev, net, on_device) if on_device else None
        try:
            layout = build_layout(net, device_gen=gen, before_synapses=check)
        except MemoryError as exc:      # CuPy's OutOfMemoryError: FixedIndegree's sort keys
            from ..errors import NeurosimError
            if gen is None or isinstance(exc, NeurosimError):
                raise
            from ..errors import DeviceMemoryError
            raise DeviceMemoryError(f"counting the synapses generated on {backend} ran out of "
                                    f"device memory ({exc}): free device memory, use "
                                    f"connectivity='host', or device='cpu'") from None
        return CudaEngine(net, layout, host=(backend == "cuda:host"), dev=dev, gen=gen)
    raise ValueError(f"build_engine(): unknown backend {backend!r}")


def _memory_check(net, backend: str, on_device):
    """Check host memory now, from the description alone (HostMemoryError before anything is
    allocated), and return the check ``build_layout`` runs before drawing synapses: device
    memory for CUDA (DeviceMemoryError; for cuda:host, whose device arrays are host memory,
    the host's again with them added). Both are estimated from the planned synapse classes."""
    from dataclasses import replace

    from .memory import check_host_memory, host_bytes, planned_classes

    classes, max_delay = planned_classes(net, on_device)
    n_syn = sum(c.n_synapses for c in classes)
    what = (f"building the network ({sum(p.size for p in net.populations):,} neurons, about "
            f"{n_syn:,} static synapses) on {backend}")
    host = host_bytes(net, classes, max_delay, backend)
    check_host_memory(host, what)
    if backend == "numpy":
        return None

    def check(partial):
        from .device_memory import check_memory, device_bytes, record_budget
        device = device_bytes(replace(partial, classes=classes, max_delay=max_delay),
                              record_budget(net), net)
        if backend in ("cuda:host", "cpu:native"):
            # the host-drawn synapse arrays are the device's there (no copy)
            aliased = sum(c.n_synapses * (8 + c.delay_itemsize) for c in classes
                          if not c.generated)
            check_host_memory(host, what, extra=max(0, sum(device.values()) - aliased))
        else:
            check_memory(device, host=False)
    return check


__all__ = ["Layout", "build_layout", "build_engine"]
