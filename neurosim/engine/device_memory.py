"""Device memory of the CUDA engine: the estimate by part, the free memory, the check.

:func:`device_bytes` estimates what a network needs, by part, first from the description (the
rules' synapse counts, :mod:`neurosim.engine.memory`) before the host layout is drawn, then
precisely from the drawn layout before the engine allocates anything; :func:`check_memory`
raises :class:`~neurosim.errors.DeviceMemoryError` with the estimate, its parts and the free
memory (:func:`free_device_memory`) when it does not fit.
"""

from __future__ import annotations

import os

import numpy as np

from ..connectivity import FixedIndegree
from ..errors import DeviceMemoryError
from ..models.sources import SpikeSource
from . import cuda_tuning as T
from .memory import gib, parts_text


def device_bytes(layout, record_bytes: int = T.RECORD_BUDGET, net=None) -> dict:
    """Estimated device bytes of a network's arrays, by part (see module docstring).

    ``layout`` is the drawn layout, or one whose classes are planned from the description
    (:func:`neurosim.engine.memory.planned_classes`, before anything is drawn). "build
    workspace" is the peak of device ``FixedIndegree`` generation: the projection's int64
    keys and, as large, the sort's (or the row count's) temporary. With ``net``, its
    homeostasis rules' runtimes count under "plasticity" too.
    """
    n = layout.n_total
    R = np.dtype(getattr(layout, "dtype", np.float32)).itemsize   # 8 with precision="double"
    parts = dict.fromkeys(("synapses", "build workspace", "delay ring", "neuron state",
                           "parameters", "inputs", "spike lists", "recording", "plasticity"), 0)
    slots = layout.ring_slots
    for c in layout.classes:
        parts["synapses"] += 8 * (n + 1) + c.n_synapses * (4 + R + _delay_itemsize(c))
        if c.generated and layout.ring_width:
            slots = max(slots, c.delay_bound)
        if c.generated:
            keys = [p.rule.size(p.pre.size, p.post.size, p.pre is p.post) for p, _ in c.members
                    if isinstance(p.rule, FixedIndegree)]
            parts["build workspace"] = max([parts["build workspace"]] + [16 * k for k in keys])
    parts["delay ring"] = R * slots * layout.ring_width
    for g in layout.groups:
        if g.model_cls is SpikeSource:
            parts["inputs"] += 12 * g.consts["schedule"][0].size
            continue
        per_neuron = sum(np.ndim(v) > 0 for v in g.consts.values() if not isinstance(v, tuple))
        parts["parameters"] += R * g.size * per_neuron + R * len(g.consts)
        parts["neuron state"] += g.size * (R * (len(g.state) + g.has_current)
                                           + 4 * ((g.n_ref is not None) + (np.ndim(g.n_ref) > 0)))
    parts["inputs"] += sum(4 * d.cdf.size for d in layout.drives)
    parts["spike lists"] = 16 * n          # spk, spk_work, row_len (kernels/step.cuh)
    parts["recording"] = int(record_bytes)
    parts["plasticity"] = sum(_plastic_bytes(layout, proj) for proj in layout.plastic)
    if net is not None and getattr(net, "homeostasis", None):
        from ..plasticity.cuda_runtime import homeostasis_device_bytes
        parts["plasticity"] += sum(homeostasis_device_bytes(net, pop, rule)
                                   for pop, rule in net.homeostasis)
    return parts


def record_budget(net) -> int:
    """Device bytes the recording buffers may take: T.RECORD_BUDGET when monitors are attached at
    build time, else the per-step counters of a chunk (T.MAX_CHUNK int32 values and a little)."""
    return T.RECORD_BUDGET if net.monitors else 4 * T.MAX_CHUNK + (1 << 16)


def _delay_itemsize(c) -> int:
    """Device bytes per synapse of a class's per-synapse delays (0 for a constant delay)."""
    if c.generated:
        return 3 if c.delay is None else 0          # int16 drawn, then a uint8 copy
    if hasattr(c, "delay_itemsize"):                # planned from the description
        return c.delay_itemsize
    return 0 if c.delays is None else c.delays.dtype.itemsize


def _plastic_bytes(layout, proj) -> int:
    """Device bytes of a plastic projection's runtime (:func:`~neurosim.plasticity.
    cuda_runtime.plastic_device_bytes`: the arrays it allocates), for its expected number of
    synapses and the largest delay its spec reaches."""
    from ..plasticity.cuda_runtime import plastic_device_bytes
    from .layout import _delay_key
    from .memory import delay_steps_reach, expected_synapses
    return plastic_device_bytes(proj.plasticity, expected_synapses(proj), proj.pre.size,
                                proj.post.size, delay_steps_reach(proj.delay, layout.dt),
                                _delay_key(proj.delay, layout.dt) == "hetero",
                                np.dtype(getattr(layout, "dtype", np.float32)).itemsize)


def free_device_memory(host: bool) -> tuple[int, str]:
    """(free bytes, device description): the GPU's free memory plus what CuPy's pool holds
    unused, or the host's available memory for the host build."""
    if host:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            free = 1 << 62
        return int(free), "the host (device='cuda:host')"
    import cupy
    dev = cupy.cuda.Device()
    free = cupy.cuda.runtime.memGetInfo()[0] + cupy.get_default_memory_pool().free_bytes()
    name = cupy.cuda.runtime.getDeviceProperties(dev.id)["name"]
    name = name.decode() if isinstance(name, bytes) else str(name)
    return int(free), f"GPU {dev.id} ({name})"


def check_memory(parts: dict, host: bool) -> None:
    """Raise DeviceMemoryError if the estimate ``parts`` does not fit in the free memory."""
    total = int(sum(parts.values()) * 1.05) + (1 << 20)     # pool rounding, small arrays
    free, where = free_device_memory(host)
    if total <= free:
        return
    detail = parts_text(parts)
    raise DeviceMemoryError(
        f"the network needs about {gib(total)} of device memory ({detail}) but {where} has "
        f"{gib(free)} free: reduce the largest part (fewer synapses or neurons, a shorter "
        f"maximum delay, fewer recorded neurons), free memory held by other arrays or "
        f"processes, or use device='cpu'")
