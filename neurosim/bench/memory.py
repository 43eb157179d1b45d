"""Memory footprint of a built network, measured.

What is measured: ``tracemalloc`` traces every allocation made through Python's allocators,
and NumPy reports the data buffers of its arrays to it; so the traced bytes that
:meth:`Network.build` allocates and that are still held when it returns are exactly the host
memory the built network keeps: synapse arrays, row pointers, the ring buffer, neuron state,
scratch arrays, per-neuron parameters and the Python objects around them. The peak during the
build is recorded too. ``psutil``'s resident set size before and after is recorded as a cross
check; it is coarse (pages freed earlier in the process are reused, pages of ``np.zeros`` are
not resident until written). On the CUDA backend the device bytes are the growth of CuPy's
default memory pool.

Per synapse and per neuron: the same network is built twice, with its in-degree and with half
of it (same neurons, same ring buffer); the difference of the two totals divided by the
difference of the synapse counts is the cost of one synapse, and what the full network holds
beyond its synapses, divided by its neurons, is the cost of one neuron. :func:`components`
accounts for the bytes by array (``nbytes``) to explain the measured totals.
"""

from __future__ import annotations

import gc
import logging
import time
import tracemalloc
from dataclasses import dataclass, field

from .cases import lif_recurrent, n_synapses

log = logging.getLogger(__name__)

METHOD = ("tracemalloc: bytes allocated by build() and still held after it (NumPy arrays "
          "included); per synapse = difference to the same network at half the in-degree "
          "(rounded to 0.001 B); per neuron = the rest / neurons (rounded to 0.1 B)")
METHOD_DEVICE = ("CuPy memory pool growth during build(); per synapse = difference to the same "
                 "network at half the in-degree (rounded to 0.001 B); per neuron = the rest / "
                 "neurons (rounded to 0.1 B)")
# Two builds differ by a few hundred bytes of Python objects that do not scale with the network
# (dict and list growth): about 1e-3 B per synapse at 10^6 synapses and 5e-5 B at 10^7. The
# per-synapse figure is given to 0.001 B, the per-neuron one to 0.1 B.
SYNAPSE_DIGITS, NEURON_DIGITS = 3, 1


@dataclass
class BuildMemory:
    """What one ``build()`` allocated and kept (bytes)."""

    n_neurons: int
    n_synapses: int
    traced_bytes: int
    traced_peak_bytes: int
    rss_delta_bytes: int | None
    device_bytes: int | None
    build_s: float
    backend: str
    components: dict = field(default_factory=dict)


def _rss() -> int | None:
    try:
        import psutil
        return int(psutil.Process().memory_info().rss)
    except Exception:  # psutil missing or not permitted
        return None


def _device_pool(net):
    """CuPy's default memory pool when the network may land on CUDA, else None."""
    if net.device not in ("cuda", "auto"):
        return None
    from ..backends import cuda_status
    if not cuda_status()[0]:
        return None
    import cupy
    return cupy.get_default_memory_pool()


def measure_build(net) -> BuildMemory:
    """Build ``net`` and measure what the build allocated and kept (see module docstring)."""
    gc.collect()
    pool = _device_pool(net)
    dev0 = pool.used_bytes() if pool is not None else None
    rss0 = _rss()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    t0 = time.perf_counter()
    try:
        net.build()
        if net.backend == "cuda":
            import cupy
            cupy.cuda.Device().synchronize()
        build_s = time.perf_counter() - t0
        gc.collect()
        after, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    rss1 = _rss()
    dev = pool.used_bytes() - dev0 if pool is not None and net.backend == "cuda" else None
    return BuildMemory(
        n_neurons=net.n_neurons, n_synapses=n_synapses(net), traced_bytes=int(after - before),
        traced_peak_bytes=int(peak - before),
        rss_delta_bytes=None if rss0 is None or rss1 is None else rss1 - rss0,
        device_bytes=dev, build_s=build_s, backend=net.backend, components=components(net))


def components(net) -> dict:
    """Bytes of the built network's arrays by role (``nbytes``; NumPy engine), for explanation.

    Keys: ``synapse_targets`` (int32 ring columns), ``synapse_weights`` (float32),
    ``synapse_delays`` (uint8/int16, per-synapse-delay class only), ``row_pointers`` (CSR
    indptr, one per neuron + 1 per synapse class), ``source_counts`` (int32 synapses per source
    neuron per projection, kept to read weights back), ``ring_buffer`` (float32, max delay in
    steps x receptor channels x neurons), ``neuron_state``, ``neuron_scratch`` (per-step
    temporaries), ``neuron_parameters`` (per-neuron parameter and constant arrays).
    """
    eng = net._engine
    if eng is None or getattr(eng, "name", None) != "numpy":
        return {}
    L = eng.L
    out = dict.fromkeys(("synapse_targets", "synapse_weights", "synapse_delays", "row_pointers",
                         "source_counts", "ring_buffer", "neuron_state", "neuron_scratch",
                         "neuron_parameters"), 0)
    for c in L.classes:
        out["synapse_targets"] += c.cols.nbytes
        out["synapse_weights"] += c.weights.nbytes
        out["synapse_delays"] += 0 if c.delays is None else c.delays.nbytes
        out["row_pointers"] += c.indptr.nbytes
        out["source_counts"] += sum(counts.nbytes for _, counts in c.members)
    out["ring_buffer"] = 0 if eng.ring is None else eng.ring.nbytes
    seen = set()
    for g in L.groups:
        for arr in g.state.values():
            out["neuron_state"] += _nbytes(arr, seen)
        for table in (g.params, g.consts):
            for value in table.values():
                out["neuron_parameters"] += _nbytes(value, seen)
    for rt in eng.neurons:
        for name in ("tmp", "mask", "i_ext"):
            out["neuron_scratch"] += _nbytes(getattr(rt, name, None), seen)
    out["max_delay_steps"] = int(L.max_delay)
    return out


def _nbytes(value, seen: set) -> int:
    nb = getattr(value, "nbytes", None)
    if nb is None or getattr(value, "ndim", 0) == 0 or id(value) in seen:
        return 0
    seen.add(id(value))
    return int(nb)


_WARM: set = set()


def _warm_up(delays: str, device: str) -> None:
    """Build a tiny network of the same kind once, so lazy imports and caches are not counted."""
    if (delays, device) in _WARM:
        return
    measure_build(lif_recurrent(100, indegree=10, delays=delays, device=device,
                                record=False).network)
    _WARM.add((delays, device))


def memory_record(n: int, indegree: int, *, delays: str = "constant", device: str = "cpu",
                  seed: int = 1) -> dict:
    """Schema memory record of the recurrent LIF network (``cases.lif_recurrent``).

    ``n`` neurons, ``indegree`` synapses per neuron (``n * indegree`` in all), ``delays``
    ``"constant"`` (1.5 ms) or ``"per_synapse"`` (uniform in [1, 2] ms).
    """
    if indegree < 2:
        raise ValueError(f"memory_record(): indegree must be >= 2, got {indegree}")
    _warm_up(delays, device)
    full = measure_build(lif_recurrent(n, indegree=indegree, delays=delays, device=device,
                                       seed=seed, record=False).network)
    half = measure_build(lif_recurrent(n, indegree=indegree // 2, delays=delays, device=device,
                                       seed=seed, record=False).network)
    gc.collect()
    on_device = full.backend == "cuda"
    total_full = full.device_bytes if on_device else full.traced_bytes
    total_half = half.device_bytes if on_device else half.traced_bytes
    per_syn = (total_full - total_half) / (full.n_synapses - half.n_synapses)
    per_neuron = (total_full - per_syn * full.n_synapses) / full.n_neurons
    log.info("memory %s, %d neurons, %d synapses: %.3f B/synapse, %.1f B/neuron", delays, n,
             full.n_synapses, per_syn, per_neuron)
    return {
        "device": full.backend, "n_neurons": full.n_neurons, "n_synapses": full.n_synapses,
        "host_bytes": full.traced_bytes, "device_bytes": full.device_bytes,
        "bytes_per_neuron": round(per_neuron, NEURON_DIGITS),
        "bytes_per_synapse": round(per_syn, SYNAPSE_DIGITS),
        "bytes_per_synapse_unrounded": per_syn,
        "method": METHOD_DEVICE if on_device else METHOD, "delays": delays,
        "network": "lif_recurrent", "indegree": indegree,
        "delay_ms": [1.0, 2.0] if delays == "per_synapse" else 1.5,
        "host_peak_bytes": full.traced_peak_bytes, "rss_delta_bytes": full.rss_delta_bytes,
        "build_s_traced": full.build_s, "components": full.components,
        "half": {"n_synapses": half.n_synapses, "host_bytes": half.traced_bytes,
                 "device_bytes": half.device_bytes},
    }
