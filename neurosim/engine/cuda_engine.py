"""The CUDA engine: the loop of docs/architecture.md on a GPU (CuPy + ``kernels/``), or on the CPU.

``CudaEngine(net, layout)`` runs on a GPU through CuPy: state, synapses, the delay ring, Poisson
input and the monitors' buffers live in GPU memory; ``CudaEngine(net, layout, host=True)`` runs
the very same Python code on the same kernel sources compiled for the CPU
(:mod:`neurosim.backends.hostbuild`, NumPy arrays), which is how every CI run tests it.

One step ``n`` is a fixed sequence of kernel launches, in the order of the NumPy engine — two
for a network of one model without plasticity or state monitors (COBA, Brunel, the
microcircuit), three with state monitors:

1. gather input and update neurons — one fused kernel per group (named by the model's
   ``kernel``, in its ``kernel_file``: the source rendered from ``kernels/neuron_model.cu.j2``
   for the model's ``NeuronModel`` description): it
   reads the group's ring columns of slot ``n``, draws the
   group's Poisson drives itself (from the Philox positions the NumPy engine uses, added in its
   order: bit for bit the same input), clears the columns, integrates, and for each spike
   (``kernels/step.cuh: ns_spike``) reserves the spike's slot in the step's list ``spk`` and
   its offset in the step's synapse work with one 64-bit atomic on ``nspk[j]``, appends it to
   the spike recording if a monitor records the neuron, counts it for rate monitors, and flags
   non-finite state; sources (``poisson_source_update``, ``spike_source_update``) emit theirs
   the same way;
2. propagate — one kernel for every synapse class (``kernels/propagate.cu``): a fixed grid
   strides over the step's synapses, each thread finding its spike by binary search over the
   work offsets, so a few spikes with long rows use the whole GPU as well as many spikes with
   short rows do; one thread ends the step (next clock, halt, recording marks);
3. learn — plastic runtimes' launches (see below), only in plastic networks;
4. record state — every state monitor's samples in one ``record_state`` (``kernels/record.cu``).

The clock ``{n, j, halted, 0}`` (step, index of the step within the chunk, halt flag) lives on
the device, in two copies: step ``n`` reads copy ``n % 2`` and the step end writes the other.
So every launch of a step takes the same arguments at every step of that parity: the launch
lists are built once (:meth:`CudaEngine.plan`), the host never needs the spike counts, and on a
GPU a run of ``GRAPH_STEPS`` steps is captured once as a CUDA graph and replayed. The host meets
the device only between chunks of steps: it sets the clock, applies injected-current changes,
zeroes the chunk's counters, and after the chunk reads the clock, the recordings and the NaN
flag. A chunk lasts about a quarter of a second of wall time and is a whole number of graphs
(after one step to reach an even step); only the end of a run or an injected-current change
cuts one short. The per-step buffers (spike counters, recording marks, rate counts, state
samples) hold ``K`` steps, a whole number of graphs sized from what every step writes for sure.
Recorded spikes go into a buffer sized from the counts (:class:`_Recorder`): the step end halts
the clock before a step whose spikes might not fit (every recorded neuron spiking), every
kernel of a halted step does nothing, the chunk ends there, the host takes the recordings,
grows the buffer when the counts ask for it, and goes on — nothing is lost and no step leaves
the graphs. In the host build, the first step of each parity in a chunk goes through the
kernels' strict argument checks and the others call the same C launchers with the same
(checked) arguments directly, which makes a step about five times cheaper; it stops at a halted
clock (``HOST_STOP_AT_HALT``) where a GPU runs the rest of the graph to no effect.

Kernel arguments are bound by name: each kernel's parameter list is parsed from its source
(:func:`~neurosim.backends.kernel_source.kernel_names`), and every parameter takes the engine
value of the same name — the neuron kernels' constants are the model's ``constants()`` keys and
their state arrays its state variables, so a mismatch between a model and its kernel is an
error at build time. Every scalar is a typed NumPy scalar. Per-neuron constants: each constant
is a ``const float *`` (one value for the group, or one per neuron) and ``per_neuron`` has bit
``k`` set when the k-th constant parameter holds one value per neuron.

Non-finite state: the neuron kernels flag the first step in which any state value is NaN or
infinite, with the neuron and the variable (every step, at no cost: the values are in registers),
and the step end halts the clock after it; the flag is read at the end of each chunk. The run
then stops at that step — the monitors keep everything recorded up to it, the device state is
the one after it, and the network's time is set to it — and raises
:class:`~neurosim.errors.SimulationError` (the NumPy engine checks every state variable after
every step too, so both engines report the same step, neuron and variable). Interrupts and
other failures: see :mod:`neurosim.engine.interrupts` (chunks commit completely or roll back).

Device memory: :func:`device_bytes` estimates what the network needs, by part, first from the
description (the rules' synapse counts, :mod:`neurosim.engine.memory`) before the host layout
is drawn, then precisely from the drawn layout before the engine allocates anything; if it does
not fit in the free memory (:func:`free_device_memory`), a
:class:`~neurosim.errors.DeviceMemoryError` says the estimate, its parts, the free memory and what
to change. If an allocation fails anyway (the engine's arrays or a plastic runtime's), every
array allocated is released before the same error.

Plastic projections and homeostasis run on this engine when their rule provides
``build_cuda(engine, projection_or_population)``, returning a runtime with ``launches(engine)``
(launch tuples like :meth:`CudaEngine.plan`'s, run in the learn stage; each of their kernels
returns at once in a halted step), ``proj``,
``n_synapses``, ``array(kind)`` and ``set_weights(values)``; every rule of
:mod:`neurosim.plasticity` does (see :mod:`neurosim.plasticity.cuda_runtime`). A rule without
one, or a combination a runtime does not support, raises a ValueError that names it.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import os
import time
import traceback
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from ..connectivity import FixedIndegree
from ..errors import DeviceMemoryError
from ..models.sources import PoissonSource, SpikeSource
from .common import ProjectionAccess, Progress, chunk_steps, non_finite_error
from .device_connect import MAX_DELAY_STEPS
from .layout import current_amplitude, member_positions, member_starts
from .memory import gib, parts_text

log = logging.getLogger(__name__)

I32, U32, I64, U64, F32 = np.int32, np.uint32, np.int64, np.uint64, np.float32
BLOCK = 256                     # threads per block
NO_BAD = np.iinfo(np.int64).max
RECORD_BUDGET = 64 << 20        # bytes: per-chunk recording arrays; most of the spike buffer
REC_START = 1 << 16             # recorded-spike buffer entries beyond one step's worst case, at first
MAX_CHUNK = 100_000             # steps between host interactions, at most
GRAPH_STEPS = 64                # steps per captured CUDA graph (even: two clock parities)
HOST_SPIKE_BLOCK = 64           # host build: threads of the per-spike kernels (one block)
HOST_LANES = 1                  # host build: threads per spike in plastic rows (tests vary it)
HOST_PROPAGATE_THREADS = None   # host build: propagation threads (None: 1, or 64 when shuffled)
HOST_STOP_AT_HALT = True        # host build: stop launching at a halted clock (False: as a graph)
WORK_BITS = 36                  # kernels/step.cuh: NS_WORK_BITS

# flags of the neuron kernels (kernels/neuron.cuh)
NS_IN0, NS_IN1, NS_EXT, NS_REF, NS_REF_PER_NEURON, NS_DELTA = 1, 2, 4, 8, 16, 32


class Launch(NamedTuple):
    """One kernel launch of a step: ``args[p]`` for the steps of clock parity ``p``."""

    kernel: object
    grid: tuple
    block: tuple
    args: tuple


# -- the device: CuPy or the host build ----------------------------------------------------------

@lru_cache(maxsize=None)
def kernel_signature(filename: str, name: str) -> tuple:
    """``((ctype, argname), ...)`` of kernel ``name`` in ``kernels/<filename>``."""
    from ..backends.kernel_source import kernel_names, load_source
    table = dict(kernel_names(load_source(filename)))
    if name not in table:
        raise LookupError(f"kernels/{filename} has no kernel {name}()")
    return tuple(table[name])


_RAW_MODULES: dict = {}


def _cupy_module(filename: str):
    import cupy
    from ..backends.kernel_source import load_source
    from ..backends.cupy_options import RAWMODULE_OPTIONS
    key = (filename, cupy.cuda.Device().id)
    if key not in _RAW_MODULES:   # CuPy adds the rest (cupy_options) and caches the cubin on disk
        _RAW_MODULES[key] = cupy.RawModule(code=load_source(filename), options=RAWMODULE_OPTIONS)
    return _RAW_MODULES[key]


class _Device:
    """Array module, kernels and stream of one engine."""

    def __init__(self, host: bool):
        self.host = host
        self._modules: dict = {}
        if host:
            self.xp = np
            self.stream = None
            self.sm_count = 1
        else:
            import cupy
            self.xp = cupy
            # a blocking stream: it also waits for work that CuPy puts on the default stream
            self.stream = cupy.cuda.Stream()
            self.sm_count = cupy.cuda.Device().attributes["MultiProcessorCount"]

    def kernel(self, filename: str, name: str):
        if filename not in self._modules:
            if self.host:
                from ..backends.hostbuild import HostModule
                self._modules[filename] = HostModule(filename)
            else:
                self._modules[filename] = _cupy_module(filename)
        return self._modules[filename].get_function(name)

    def context(self):
        return contextlib.nullcontext() if self.host else self.stream

    def put(self, a, copy: bool = True):
        """A device array holding the host array ``a`` (the host build shares it if not copy)."""
        a = np.ascontiguousarray(a)
        if self.host:
            return a.copy() if copy else a
        return self.xp.asarray(a)

    def get(self, a) -> np.ndarray:
        return a if self.host else a.get()

    def zeros(self, n: int, dtype):
        return self.xp.zeros(n, dtype)

    def address(self, a, name: str = "table entry") -> int:
        """The device address of array ``a`` (for tables of arrays that kernels read); in a
        counting host build (:mod:`~neurosim.backends.hostcount`) the array's accesses are then
        counted under ``name``, as an argument's are."""
        if self.host:
            from ..backends import hostcount
            if hostcount.active_tally() is not None:
                hostcount.note_indirect(name, a)
            return int(a.ctypes.data)
        return int(a.data.ptr)

    def per_spike_grid(self, n_max: int, lanes: int = 1) -> tuple:
        """(grid, block) of a kernel looping over at most ``n_max`` spikes (grid-stride)."""
        if self.host:   # one block: every empty thread costs a call on the CPU
            return (1,), (HOST_SPIKE_BLOCK,)
        blocks = min(-(-max(1, n_max) * lanes // BLOCK), 4 * self.sm_count)
        return (max(1, blocks),), (BLOCK,)


def grid_for(threads: int) -> tuple:
    """(grid, block) with at least ``threads`` threads."""
    return (max(1, -(-int(threads) // BLOCK)),), (BLOCK,)


def lanes_for(mean_row: float) -> int:
    """Threads per spike on a GPU: a warp for long rows, a power of two >= the mean row."""
    lanes = 1
    while lanes < 32 and lanes < mean_row:
        lanes *= 2
    return lanes


# -- memory ----------------------------------------------------------------------------------------

def device_bytes(layout, record_bytes: int = RECORD_BUDGET, net=None) -> dict:
    """Estimated device bytes of a network's arrays, by part (see module docstring).

    ``layout`` is the drawn layout, or one whose classes are planned from the description
    (:func:`neurosim.engine.memory.planned_classes`, before anything is drawn). "build
    workspace" is the peak of device ``FixedIndegree`` generation: the projection's int64
    keys and, as large, the sort's (or the row count's) temporary. With ``net``, its
    homeostasis rules' runtimes count under "plasticity" too.
    """
    n = layout.n_total
    parts = dict.fromkeys(("synapses", "build workspace", "delay ring", "neuron state",
                           "parameters", "inputs", "spike lists", "recording", "plasticity"), 0)
    slots = layout.ring_slots
    for c in layout.classes:
        parts["synapses"] += 8 * (n + 1) + c.n_synapses * (8 + _delay_itemsize(c))
        if c.generated and layout.ring_width:
            slots = max(slots, c.delay_bound)
        if c.generated:
            keys = [p.rule.size(p.pre.size, p.post.size, p.pre is p.post) for p, _ in c.members
                    if isinstance(p.rule, FixedIndegree)]
            parts["build workspace"] = max([parts["build workspace"]] + [16 * k for k in keys])
    parts["delay ring"] = 4 * slots * layout.ring_width
    for g in layout.groups:
        if g.model_cls is SpikeSource:
            parts["inputs"] += 12 * g.consts["schedule"][0].size
            continue
        per_neuron = sum(np.ndim(v) > 0 for v in g.consts.values() if not isinstance(v, tuple))
        parts["parameters"] += 4 * g.size * per_neuron + 4 * len(g.consts)
        parts["neuron state"] += 4 * g.size * (len(g.state) + (g.n_ref is not None)
                                               + (np.ndim(g.n_ref) > 0) + g.has_current)
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
    """Device bytes the recording buffers may take: RECORD_BUDGET when monitors are attached at
    build time, else the per-step counters of a chunk (MAX_CHUNK int32 values and a little)."""
    return RECORD_BUDGET if net.monitors else 4 * MAX_CHUNK + (1 << 16)


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
                                _delay_key(proj.delay, layout.dt) == "hetero")


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


# -- the engine ------------------------------------------------------------------------------------

class CudaEngine(ProjectionAccess):
    """Runs a :class:`~neurosim.engine.layout.Layout` with the kernels of ``kernels/``."""

    def __init__(self, net, layout, host: bool = False, dev=None, gen=None):
        self.net, self.L = net, layout
        self.name = "cuda:host" if host else "cuda"
        _check_rules_supported(net)
        self.dev = dev if dev is not None else _Device(host)
        self.gen = gen                  # DeviceConnectivity of the generated classes, or None
        self.xp = self.dev.xp
        self.memory = device_bytes(layout, record_budget(net), net)
        check_memory(self.memory, host)
        try:
            with self.dev.context():
                self._allocate()
            self.plastic = []
            for target, rule in _plastic_rules(net):
                self.plastic.append(rule.build_cuda(self, target))
        except MemoryError as exc:       # cupy's OutOfMemoryError is a MemoryError
            # the frames below (a half-built runtime's locals) must not keep arrays alive
            traceback.clear_frames(exc.__traceback__)
            self._release()
            raise DeviceMemoryError(f"allocating the network on {self.name} failed ({exc}) "
                                    f"although the estimate ({gib(sum(self.memory.values()))})"
                                    f" fitted: free device memory, or use device='cpu'") from None
        except Exception as exc:         # e.g. generated delays beyond the int16 range
            traceback.clear_frames(exc.__traceback__)
            self._release()
            raise
        self.recorder = _Recorder(self)
        for mon in net.monitors:
            self.recorder.add(mon, mon.start_step)
        self._plans = None
        self._graph = None
        self._warm = False
        self._graph_ok = not host and os.environ.get("NEUROSIM_CUDA_GRAPHS", "1") != "0"
        self._event_ptr = 0
        self._chunk = 100
        self._reached = net._steps_done

    # -- building --------------------------------------------------------------------------------
    def _allocate(self) -> None:
        L, dev = self.L, self.dev
        # synapses first: generated per-synapse delays set the ring's size
        self.classes = [_ClassRuntime(self, c) for c in L.classes]
        _check_work_bits(L)
        self.class_tab = dev.put(np.array([v for rt in self.classes for v in rt.table()] or [0],
                                          np.uint64))
        row_len = np.zeros(L.n_total, np.int64)
        for c in L.classes:
            row_len += np.diff(c.indptr)
        self.row_len = dev.put(np.append(row_len, 0).astype(np.int32))
        # the clock's two copies {n, j, halted, 0}: see kernels/step.cuh
        self.clock = self.xp.zeros((2, 4), np.int64)
        self.clk = (self.clock[0], self.clock[1])
        self.bad = dev.put(np.array([NO_BAD, NO_BAD], np.int64))
        self.spk = dev.zeros(max(1, L.n_total), np.int32)
        self.spk_work = dev.zeros(max(1, L.n_total), np.int64)
        self.n_slots = max(1, L.ring_slots)
        self.ring = dev.zeros(max(1, L.ring_slots * L.ring_width), np.float32)
        self.dummy = {np.dtype(t): dev.zeros(1, t)
                      for t in (np.float32, np.int32, np.int64, np.uint8)}
        self.nspk = None               # per-step spike counters of a chunk: see plan()
        self.groups = [_GroupRuntime(self, g) for g in L.groups]

    def _release(self) -> None:
        """Drop every device array of a failed build: the engine's, its plastic runtimes'
        (built or half-built), and the rules' references to those runtimes."""
        for rt in self.__dict__.get("plastic", ()):
            rt.__dict__.pop("v", None)
        for _, rule in _plastic_rules(self.net):
            if getattr(rule, "_runtimes", None):
                rule._runtimes = [rt for rt in rule._runtimes
                                  if getattr(rt, "engine", None) is not self]
            if getattr(getattr(rule, "_runtime", None), "engine", None) is self:
                rule._runtime = None
        for name in ("clock", "clk", "bad", "spk", "spk_work", "row_len", "class_tab", "ring",
                     "dummy", "groups", "classes", "nspk", "plastic", "_threshold_owners",
                     "_snap"):
            self.__dict__.pop(name, None)
        if not self.dev.host:
            import cupy
            cupy.get_default_memory_pool().free_all_blocks()

    def shared_values(self) -> dict:
        """The engine values that kernels take by name (besides each launch's own)."""
        L = self.L
        values = dict(spk=self.spk, spk_work=self.spk_work, nspk=self.nspk,
                      row_len=self.row_len, bad=self.bad, ring=self.ring,
                      ring_width=I32(L.ring_width), n_slots=I32(self.n_slots),
                      key0=U64(L.philox_key[0]), key1=U64(L.philox_key[1]),
                      stream_width=I64(L.rng_width))
        recorder = getattr(self, "recorder", None)
        if recorder is not None and recorder.values:
            values.update(recorder.values)
        return values

    def bind(self, filename: str, name: str, values: dict, grid, block) -> Launch:
        """A :class:`Launch` of kernel ``name``, its arguments taken by name from ``values``,
        then :meth:`shared_values`; ``clk``/``clk_next`` are the clock copies of each parity."""
        shared = self.shared_values()
        per_parity = []
        for p in (0, 1):
            args = []
            for _, arg in kernel_signature(filename, name):
                if arg == "clk":
                    args.append(self.clk[p])
                elif arg == "clk_next":
                    args.append(self.clk[1 - p])
                elif arg in values:
                    args.append(values[arg])
                elif arg in shared:
                    args.append(shared[arg])
                else:
                    raise RuntimeError(f"kernels/{filename}: {name}() takes {arg!r}, which the "
                                       f"CUDA engine does not provide")
            per_parity.append(tuple(args))
        return Launch(self.dev.kernel(filename, name), tuple(grid), tuple(block),
                      tuple(per_parity))

    def plan(self) -> list:
        """The launches of one step, in order (see module docstring); rebuilt when needed."""
        if self._plans is None:
            if self.recorder.dirty:
                self.K = self.recorder.allocate()
                self.nspk = self.dev.zeros(self.K + 1, np.uint64)
            launches = [r.launch() for r in self.groups if not r.is_source]
            launches += [r.launch() for r in self.groups if r.is_source]
            launches.append(self._propagate_launch())
            for rt in self.plastic:
                launches += rt.launches(self)
            launches += self.recorder.launches()
            self._plans = launches
            self._graph = None
        return self._plans

    def _propagate_launch(self) -> Launch:
        """Delivery of every class, and the step's end (kernels/propagate.cu)."""
        values = dict(n_classes=I32(len(self.classes)), class_tab=self.class_tab)
        kernel = self.dev.kernel("propagate.cu", "propagate")
        if self.dev.host:
            threads = HOST_PROPAGATE_THREADS or (HOST_SPIKE_BLOCK if kernel.shuffle else 1)
            grid = (1,), (int(threads),)
        else:   # a fixed grid: a few blocks per SM, fewer when the synapses are few
            most = max(1, self.L.n_synapses)
            grid = (max(1, min(-(-most // BLOCK), 4 * self.dev.sm_count)),), (BLOCK,)
        return self.bind("propagate.cu", "propagate", values, *grid)

    # -- the loop --------------------------------------------------------------------------------
    def run(self, steps: int, progress=None, guard=None) -> None:
        """Advance ``steps`` steps in chunks that commit completely or not at all (see
        :mod:`neurosim.engine.interrupts`); ``guard.pending`` (a deferred Ctrl-C) stops the run
        at the next chunk boundary."""
        from .interrupts import chunk_transaction
        n = self.net._steps_done
        n_end = n + steps
        bar = Progress(progress, n * self.L.dt, n_end * self.L.dt) if progress else None
        try:
            with self.dev.context():
                self.plan()
                while n < n_end and not (guard is not None and guard.pending):
                    self._apply_currents(n)
                    stop = min(n_end, n + self._chunk_length(n), self._next_event(n_end))
                    wall = time.perf_counter()
                    with chunk_transaction(self) as tx:
                        bad = self._chunk_steps(n, stop)
                        stop = self._reached        # a full recording buffer stops a chunk early
                        if bad is not None:
                            # the step end halted the clock after the non-finite step: device
                            # state, recordings and time all stop there
                            tx.commit(stop)
                            raise bad[1]
                        tx.commit(stop)
                    self._chunk = chunk_steps(stop - n, time.perf_counter() - wall)
                    n = stop
                    self.plan()                     # rebuilt if the recording buffer grew
                    if bar is not None:
                        bar.update(n * self.L.dt)
        finally:
            if bar is not None:
                bar.close()

    def _chunk_length(self, n: int) -> int:
        """Steps of the next chunk: whole graphs (after one step to reach an even step)."""
        q = GRAPH_STEPS
        return max(q, min(self._chunk, self.K) // q * q) + (n & 1)

    def _chunk_steps(self, n0: int, n1: int):
        """Steps ``n0 .. n1 - 1`` on the device (fewer where the clock halts: ``_reached`` says
        where the chunk ended), their recordings handed to the monitors; (first non-finite step,
        SimulationError) or None."""
        self._begin_chunk(n0)
        launched = self._launch(n0, n1)
        return self._end_chunk(n0, launched)

    def commit(self, n: int) -> None:
        """The recordings up to step ``n`` are with the monitors: set the network's time."""
        self.net._steps_done = n

    def discard(self) -> None:
        """Nothing to drop: each chunk starts its recording buffers afresh."""

    def seek(self, n: int) -> None:
        """Set what follows from the step count: the injected currents (the Philox position
        is the device clock, set at each chunk)."""
        for rt in self.groups:
            if rt.i_ext is not None:
                with self.dev.context():
                    rt.i_ext[...] = 0.0
        self._event_ptr = 0
        if n > 0:
            self._apply_currents(n - 1)

    def snapshot(self, static_weights: bool = False):
        """A rollback copy of the dynamic state: device buffers, reused (see
        :mod:`neurosim.engine.interrupts`); host arrays where they do not fit."""
        from .state import DeviceSnapshot
        key = bool(static_weights)
        if getattr(self, "_snap_key", None) != key:
            self._snap, self._snap_key = DeviceSnapshot.create(self, key), key
            if self._snap is None:
                log.info("rollback copies of the state do not fit in device memory: keeping "
                         "them on the host (slower chunks)")
        if self._snap is None:
            return self.export_state(static_weights)
        return self._snap.take()

    def restore(self, snapshot) -> None:
        if isinstance(snapshot, dict):
            self.import_state(snapshot, "rollback")
        else:
            snapshot.restore()

    def export_state(self, static_weights: bool = False) -> dict:
        """The dynamic state as host arrays (:mod:`neurosim.engine.state`)."""
        from .state import export_engine
        return export_engine(self, static_weights)

    def import_state(self, state: dict, where: str) -> None:
        from .state import import_engine
        import_engine(self, state, where)

    def _begin_chunk(self, n: int) -> None:
        self.clock[n % 2] = self.dev.put(np.array([n, 0, 0, 0], np.int64))
        self.nspk.fill(0)
        self.recorder.begin_chunk()

    def _launch(self, n0: int, n1: int) -> int:
        """Launch steps n0 .. n1 - 1; the step after the last one launched (see _end_chunk)."""
        plans = [[(k.kernel, k.grid, k.block, k.args[p]) for k in self._plans] for p in (0, 1)]
        n = n0
        if self.dev.host:
            return self._launch_host(plans, n0, n1)
        # graphs only once every kernel has run directly (lazy module loading)
        if self._graph_ok and self._warm and n1 - n0 >= GRAPH_STEPS + (n0 & 1):
            if n % 2:
                for k, g, b, a in plans[1]:
                    k(g, b, a)
                n += 1
            graph = self._get_graph(plans)
            while graph is not None and n1 - n >= GRAPH_STEPS:
                graph.launch(self.dev.stream)
                n += GRAPH_STEPS
        for m in range(n, n1):
            for k, g, b, a in plans[m & 1]:
                k(g, b, a)
        self._warm = n1 - n0 >= 2 or self._warm
        return n1

    def _launch_host(self, plans, n0: int, n1: int) -> int:
        """The host build: the first step of each parity through the kernels' strict checks,
        the others straight through their ctypes launchers with the same, checked, arguments
        (a plan's arguments never change; this saves ~90% of the Python time of a step).
        It stops after a step that halted the clock (a GPU runs the rest of the graph, whose
        steps then do nothing; HOST_STOP_AT_HALT = False does the same)."""
        stop_at_halt = HOST_STOP_AT_HALT
        clock = self.clock
        fast = None
        for m in range(n0, n1):
            if m < n0 + 2:
                for k, g, b, a in plans[m & 1]:
                    k(g, b, a)
            else:
                if fast is None:
                    fast = [[_host_prebound(k, g, b, a) for k, g, b, a in plans[p]]
                            for p in (0, 1)]
                for call in fast[m & 1]:
                    call()
            if stop_at_halt and clock[(m + 1) & 1, 2]:
                return m + 1
        return n1

    def _get_graph(self, plans):
        """The CUDA graph of GRAPH_STEPS steps from an even step, captured once per plan."""
        if self._graph is None:
            s = self.dev.stream
            try:
                s.begin_capture()
                try:
                    for i in range(GRAPH_STEPS):
                        for k, g, b, a in plans[i & 1]:
                            k(g, b, a)
                finally:
                    graph = s.end_capture()
                self._graph = graph
            except Exception as exc:  # noqa: BLE001 -- any capture failure: launch directly
                log.warning("CUDA graph capture failed (%s: %s); launching kernels one by one",
                            type(exc).__name__, exc)
                self._graph_ok = False
                return None
        return self._graph

    def _end_chunk(self, n0: int, launched: int):
        """Fetch the chunk's recordings; (first bad step, SimulationError) or None. The chunk
        reached the step that the clock after the last launched step names (``_reached``):
        ``launched``, or less where the clock halted (see kernels/step.cuh)."""
        clock = self.dev.get(self.clock[launched % 2])
        reached, halted = int(clock[0]), bool(clock[2])
        bad = self.dev.get(self.bad)
        error = None
        if bad[0] != NO_BAD:
            step, code = int(bad[0]), int(bad[1])
            reached = step + 1             # the clock halted after it
            error = self._nan_error(step, code)
            self.bad[...] = self.dev.put(np.array([NO_BAD, NO_BAD], np.int64))
        self.recorder.end_chunk(n0, reached - n0)
        self._reached = reached
        if error is not None:
            return reached - 1, error
        if self.recorder.fit(reached - n0, halted, self._chunk_length(reached)):
            self._plans = None             # the spike buffer grew: new arguments
        return None

    def _nan_error(self, step: int, code: int):
        gid, var = divmod(code, 8)
        rt = next(r for r in self.groups if r.g.start <= gid < r.g.start + r.g.size)
        name = rt.state_order[var]
        local = gid - rt.g.start
        now = float(self.dev.get(rt.state[name][local:local + 1])[0])   # the state went on
        values = np.zeros(rt.g.size, np.float32)
        values[local] = now if not np.isfinite(now) else np.nan
        return non_finite_error(self.L, rt.g, values, name, step, step - 1)

    def _next_event(self, default: int) -> int:
        events = self.L.current_events
        return events[self._event_ptr][0] if self._event_ptr < len(events) else default

    def _apply_currents(self, n: int) -> None:
        events = self.L.current_events
        while self._event_ptr < len(events) and events[self._event_ptr][0] <= n:
            _, gi, lo, hi, pi = events[self._event_ptr]
            amp = current_amplitude(self.L, self.net.populations[pi], n)
            self.groups[gi].i_ext[lo:hi] = self.dev.put(
                np.broadcast_to(np.asarray(amp, np.float32), (hi - lo,)))
            self._event_ptr += 1

    # -- access ----------------------------------------------------------------------------------
    def kernel(self, filename: str, name: str):
        """A kernel of ``kernels/<filename>`` as this engine launches it (CuPy or host build)."""
        return self.dev.kernel(filename, name)

    def add_monitor(self, mon) -> None:
        self.recorder.add(mon, self.net._steps_done)
        self._plans = None

    def get_state(self, pop, var):
        g, off = self.L.pop_group[pop.index]
        with self.dev.context():
            return np.array(self.dev.get(self.groups[g.index].state[var][off:off + pop.size]))

    def set_state(self, pop, var, values):
        g, off = self.L.pop_group[pop.index]
        with self.dev.context():
            self.groups[g.index].state[var][off:off + pop.size] = self.dev.put(
                np.asarray(values, np.float32))

    def set_weights(self, proj, values):
        if proj not in self.L.proj_class:
            return self._plastic_for(proj).set_weights(values)
        ci, _ = self.L.proj_class[proj]
        pos = member_positions(self.L, proj)
        with self.dev.context():
            self.classes[ci].weights[self.dev.put(pos, copy=False)] = self.dev.put(
                np.asarray(values, np.float32), copy=False)

    def _class_arrays(self, ci):
        rt, c = self.classes[ci], self.L.classes[ci]
        with self.dev.context():
            weights = self.dev.get(rt.weights)
            if not c.generated:
                return c.cols, weights, c.delays
            return (self.dev.get(rt.cols), weights,
                    None if rt.delays is None else self.dev.get(rt.delays))


_HOST_SEEDS = itertools.count(1 << 20)


@lru_cache(maxsize=None)
def _host_launcher(path: str, name: str, specs: tuple):
    """The ctypes function ``launch_<name>`` of a host build, its argument types set."""
    import ctypes
    fn = getattr(ctypes.CDLL(path), f"launch_{name}")
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_uint] * 7 + [ctypes.c_int] + [
        ctypes.c_void_p if pointer else np.ctypeslib.as_ctypes_type(np.dtype(dtype))
        for pointer, dtype in specs]
    return fn


def _host_prebound(kernel, grid, block, args):
    """A callable that launches a host-build kernel with these arguments, already checked by
    a call of ``kernel`` itself: its ``launch_<name>`` C launcher (hostbuild's documented
    entry point) with converted arguments, a fresh thread order per call when shuffling."""
    if getattr(kernel.module, "count", False):    # counting: every launch through the checks
        return functools.partial(kernel, grid, block, args)
    fn = _host_launcher(str(kernel.module.path), kernel.name,
                        tuple((s.pointer, s.dtype.str) for s in kernel.args))
    dims = [int(x) for x in (*grid, 1, 1)[:3]] + [int(x) for x in (*block, 1, 1)[:3]]
    values = [a.ctypes.data if isinstance(a, np.ndarray) else a.item() for a in args]
    ftz = int(kernel.module.ftz)
    if kernel.shuffle:
        return lambda: fn(*dims, next(_HOST_SEEDS) & 0xFFFFFFFF or 1, ftz, *values)
    return functools.partial(fn, *dims, 0, ftz, *values)


def _plastic_rules(net):
    """(projection or population, rule) of every plastic projection and homeostatic rule."""
    out = [(proj, proj.plasticity) for proj in net.projections if proj.plasticity is not None]
    return out + [(pop, rule) for pop, rule in getattr(net, "homeostasis", [])]


def _check_work_bits(layout) -> None:
    """The spike list's 64-bit counters hold 2^(64 - WORK_BITS) spikes and 2^WORK_BITS synapses
    a step (kernels/step.cuh)."""
    if layout.n_total >= 1 << (64 - WORK_BITS) or layout.n_synapses >= 1 << WORK_BITS:
        raise ValueError(f"the CUDA engine handles fewer than 2**{64 - WORK_BITS} neurons and "
                         f"2**{WORK_BITS} static synapses; this network has {layout.n_total} "
                         f"and {layout.n_synapses}")


def _check_rules_supported(net) -> None:
    for target, rule in _plastic_rules(net):
        if getattr(rule, "build_cuda", None) is None:
            what = (f"plastic projection {target.name!r} ({type(rule).__name__})"
                    if target in net.projections else
                    f"homeostasis rule {type(rule).__name__} of population {target.name!r}")
            raise ValueError(f"{what}: plastic projections and homeostasis are not yet "
                             f"supported on the CUDA backend; use device='cpu' for this "
                             f"network")


# -- runtimes --------------------------------------------------------------------------------------

class _GroupRuntime:
    """Device arrays and the launch of one group (neurons, Poisson or spike source)."""

    def __init__(self, engine, g):
        self.e, self.g = engine, g
        self.is_source = g.is_source
        dev = engine.dev
        self.state = {name: dev.put(arr.astype(np.float32)) for name, arr in g.state.items()}
        self.i_ext = dev.zeros(g.size, np.float32) if g.has_current else None
        if g.model_cls is PoissonSource:
            p = g.consts["p"]
            self.values = dict(offset=I64(g.rng_offset), n_neurons=I32(g.size),
                               start=I32(g.start), p=dev.put(np.atleast_1d(p)),
                               per_neuron=U32(np.ndim(p) > 0))
            self.grid = grid_for(g.size // 4 + 2)
        elif g.model_cls is SpikeSource:
            steps, idx = g.consts["schedule"]
            most = int(np.unique(steps, return_counts=True)[1].max()) if steps.size else 1
            # one padding entry past n_sched: never searched, avoids zero-size arrays
            self.values = dict(sched_step=dev.put(np.append(steps, 0).astype(np.int64)),
                               sched_idx=dev.put(np.append(idx, 0).astype(np.int32)),
                               n_sched=I32(steps.size), start=I32(g.start))
            self.grid = engine.dev.per_spike_grid(most)
        else:
            self.values = self._neuron_values()
            self.grid = grid_for(g.size)

    def _neuron_values(self) -> dict:
        g, dev, dummy = self.g, self.e.dev, self.e.dummy
        kernel = g.model_cls.kernel
        flags = sum(1 << ch for ch, on in enumerate(g.active) if on)
        if g.channels and g.channels[0] == "v":
            flags |= NS_DELTA              # input is a jump of v
        if g.has_current:
            flags |= NS_EXT
        values = dict(n_neurons=I32(g.size), start=I32(g.start), col0=I32(max(0, g.col_offset)),
                      i_ext=self.i_ext if g.has_current else dummy[np.dtype(np.float32)],
                      ref=dummy[np.dtype(np.int32)], n_ref=dummy[np.dtype(np.int32)])
        if g.n_ref is not None:
            flags |= NS_REF | (NS_REF_PER_NEURON if np.ndim(g.n_ref) else 0)
            values["ref"] = dev.zeros(g.size, np.int32)
            values["n_ref"] = dev.put(np.atleast_1d(np.asarray(g.n_ref, np.int32)))
        values["flags"] = U32(flags)
        values.update(self._drive_values())
        full = kernel_signature(g.model_cls.kernel_file, kernel)
        sig = [arg for _, arg in full]
        consts = [name for name in sig if name in g.consts]
        missing = sorted(set(g.consts) - set(consts))
        if missing:
            raise RuntimeError(f"{g.model_cls.kernel_file}: {kernel}() has no parameter for the "
                               f"constants {missing} of {g.model_cls.__name__}")
        values["per_neuron"] = U32(sum(1 << k for k, name in enumerate(consts)
                                       if np.ndim(g.consts[name])))
        for name in consts:
            values[name] = dev.put(np.atleast_1d(np.asarray(g.consts[name], np.float32)))
        values.update(self.state)
        shared = self.e.shared_values()
        # the state arrays in kernel order: ns_flag_bad's variable index is a position here
        self.state_order = [name for ctype, name in full
                            if ctype.startswith("float *") and name not in shared]
        for name in self.state_order:      # state this group lacks (LIF delta: i_syn_*)
            values.setdefault(name, dummy[np.dtype(np.float32)])
        return values

    def _drive_values(self) -> dict:
        """The group's Poisson drives as the neuron kernels take them (kernels/step.cuh:
        ns_drives): sorted by column, stably, so drives into the same neurons keep their
        order."""
        g, dev, dummy = self.g, self.e.dev, self.e.dummy
        drives = sorted((d for d in self.e.L.drives if d.group is g), key=lambda d: d.col)
        if not drives:
            return dict(n_drives=I32(0), drive_tab=dummy[np.dtype(np.int64)],
                        drive_w=dummy[np.dtype(np.float32)],
                        drive_cdf=dummy[np.dtype(np.float32)])
        tab, start = [], 0
        for a, b in zip(drives, drives[1:]):
            if a.col + a.n > b.col and (a.col, a.n) != (b.col, b.n):
                raise RuntimeError(f"Poisson drives into columns {a.col}+{a.n} and "
                                   f"{b.col}+{b.n} overlap partly; the kernels expect drives "
                                   f"into the same neurons or disjoint ones")
        for d in drives:
            tab += [d.col - g.col_offset, d.n, d.rng_offset, start, d.cdf.size]
            start += d.cdf.size
        return dict(n_drives=I32(len(drives)), drive_tab=dev.put(np.array(tab, np.int64)),
                    drive_w=dev.put(np.array([d.weight for d in drives], np.float32)),
                    drive_cdf=dev.put(np.concatenate([d.cdf for d in drives])
                                      .astype(np.float32)))

    def launch(self) -> Launch:
        g = self.g
        if g.model_cls is PoissonSource:
            return self.e.bind("inputs.cu", "poisson_source_update", self.values, *self.grid)
        if g.model_cls is SpikeSource:
            return self.e.bind("inputs.cu", "spike_source_update", self.values, *self.grid)
        return self.e.bind(g.model_cls.kernel_file, g.model_cls.kernel, self.values, *self.grid)


class _ClassRuntime:
    """A synapse class on the device: int64 row pointers, columns, weights, delays."""

    def __init__(self, engine, c):
        self.e, self.c = engine, c
        dev = engine.dev
        self.indptr = dev.put(c.indptr.astype(np.int64), copy=False)
        if c.generated:
            self._generate()
        else:
            self.cols = dev.put(c.cols, copy=False)
            self.weights = dev.put(c.weights, copy=False)
            self.delays = None if c.delays is None else dev.put(c.delays, copy=False)

    def table(self) -> list:
        """The class's row of the table that kernels/propagate.cu reads (NS_CLASS_FIELDS)."""
        dev, c = self.e.dev, self.c
        if c.delay is not None:
            delays, delay, kind = 0, int(c.delay), 0
        else:
            delays, delay, kind = dev.address(self.delays, "delays"), 0, (
                1 if self.delays.dtype == np.uint8 else 2)
        return [dev.address(self.indptr, "indptr"), dev.address(self.cols, "cols"),
                dev.address(self.weights, "weights"), delays, delay, kind]

    def _generate(self) -> None:
        """Draw the class's synapses on the device (device_connect), member by member; the
        per-synapse delays are drawn as int16 and kept as uint8 when all are below 256 steps,
        and they raise the engine's maximum delay."""
        e, c, dev, L = self.e, self.c, self.e.dev, self.e.L
        n = c.n_synapses
        self.cols = dev.zeros(max(1, n), np.int32)
        self.weights = dev.zeros(max(1, n), np.float32)
        steps = None if c.delay is not None else dev.zeros(max(1, n), np.int16)
        bad = dev.zeros(2, np.int32)
        for proj, counts in c.members:
            g, off = L.pop_group[proj.post.index]
            ch = g.model_cls.layout(g.options)[1][proj.receptor]
            e.gen.fill(proj, counts.astype(np.int64), member_starts(L, proj),
                       g.col_offset + ch * g.size + off, self.cols, self.weights, steps, bad)
            flags = dev.get(bad)
            if flags[1]:
                raise ValueError(f"connect(): delays of {proj.name!r} reach more than "
                                 f"{MAX_DELAY_STEPS} steps of dt = {L.dt} ms, the most "
                                 f"supported")
        self.delays = None
        if steps is not None:
            with dev.context():
                top = int(steps.max()) if n else 1
                self.delays = steps.astype(np.uint8) if top < 256 else steps
            del steps
            L.max_delay = max(L.max_delay, top)


class _Recorder:
    """Monitors' device buffers for one chunk, and their transfer to the monitors.

    Spikes of recorded neurons are appended by the kernels that emit them (kernels/step.cuh)
    into ``rec_idx``, which holds ``room`` entries plus one step's worst case (every recorded
    neuron spiking): the step end halts the clock before a step that might not fit, so the
    chunk stops there, the host takes what was recorded and goes on (nothing is lost). The
    buffer starts small (``REC_START`` entries beyond the worst step) and grows between chunks
    to what the counts recorded so far ask for, up to about ``RECORD_BUDGET`` bytes. The other
    buffers (per-step counters, rates, state samples) are sized for ``K`` steps, whatever the
    spikes: a chunk never has more than K + 1 steps.
    """

    def __init__(self, engine):
        self.e = engine
        self.spikes, self.states, self.rates = [], [], []
        self.values = {}
        self.dirty = True
        self.room = 0

    def add(self, mon, n_now: int) -> None:
        from ..monitors import RateMonitor, SpikeMonitor, StateMonitor
        e = self.e
        g, off = e.L.pop_group[mon.population.index]
        lo, size = g.start + off, mon.population.size
        self.dirty = True
        if isinstance(mon, SpikeMonitor):
            keep = None
            if mon.neurons is not None:
                keep = np.zeros(size, bool)
                keep[mon.neurons] = True
            self.spikes.append((mon, lo, lo + size, keep))
        elif isinstance(mon, StateMonitor):
            cols = np.arange(size) if mon.neurons is None else mon.neurons
            self.states.append(dict(mon=mon, group=e.groups[g.index], var=mon.variable,
                                    idx=(off + cols).astype(np.int32), first=int(n_now),
                                    every=int(mon.every)))
        elif isinstance(mon, RateMonitor):
            self.rates.append((mon, lo, lo + size))

    def allocate(self) -> int:
        """Build masks and buffers; K, the steps that the per-step buffers hold (a whole
        number of graphs)."""
        e, dev, n = self.e, self.e.dev, self.e.L.n_total
        mask = np.zeros(n, np.uint8)
        for _, lo, hi, keep in self.spikes:
            mask[lo:hi] |= 1 if keep is None else keep.astype(np.uint8)
        self.n_rec = int(np.count_nonzero(mask))
        slots, self.rate_slot_of = {}, []
        rate_slot = np.full(n, -1, np.int32)
        for _, lo, hi in self.rates:
            if (lo, hi) not in slots:
                slots[(lo, hi)] = len(slots)
                rate_slot[lo:hi] = slots[(lo, hi)]
            self.rate_slot_of.append(slots[(lo, hi)])
        self.n_rate = len(slots)
        per_step = 8 + 4 + 4 * self.n_rate + sum(
            4 * len(s["idx"]) / s["every"] for s in self.states)
        q = GRAPH_STEPS
        K = int(np.clip(RECORD_BUDGET // per_step, q, max(q, MAX_CHUNK))) // q * q
        self.cap_max = max(RECORD_BUDGET // 4, self.n_rec + 1)
        d = e.dummy
        self.values = dict(rec_flags=U32(self.n_rec > 0), n_rate=I32(self.n_rate),
                           rec_mask=dev.put(mask) if self.n_rec else d[np.dtype(np.uint8)],
                           rec_total=dev.zeros(1, np.int32), rec_end=dev.zeros(K + 1, np.int32),
                           rate_slot=dev.put(rate_slot) if self.n_rate else d[np.dtype(np.int32)],
                           rate_counts=dev.zeros(max(1, self.n_rate * (K + 1)), np.int32))
        self._resize(min(self.n_rec + REC_START, self.cap_max) if self.n_rec else 1)
        for s in self.states:
            rows = (K + 1) // s["every"] + 1
            s["out"] = dev.zeros(rows * len(s["idx"]), np.float32)
        self.dirty = False
        return K

    def _resize(self, capacity: int) -> None:
        """A spike buffer of ``capacity`` entries (its contents were taken)."""
        self.values["rec_idx"] = None
        self.values["rec_idx"] = self.e.dev.zeros(capacity, np.int32)
        self.room = capacity - self.n_rec
        self.values["rec_room"] = I32(self.room)

    def fit(self, steps: int, halted: bool, next_steps: int) -> bool:
        """After a chunk of ``steps`` steps that recorded ``self.last_total`` spikes: grow the
        spike buffer if the next chunk (``next_steps``) would likely not fit, or if this one
        halted (and the buffer may grow); True if it grew."""
        if not self.n_rec:
            return False
        want = int(self.last_total / max(1, steps) * next_steps * 1.25) + 1
        if halted:
            want = max(want, 2 * (self.room + self.n_rec))
        capacity = min(self.cap_max, self.n_rec + want)
        if capacity <= self.room + self.n_rec:
            return False
        self._resize(capacity)
        return True

    def launches(self) -> list:
        """Every state monitor's sampling in one launch (kernels/record.cu: record_state)."""
        e = self.e
        if not self.states:
            return []
        tab, start = [], 0
        for s in self.states:
            var = s["group"].state[s["var"]]
            tab += [e.dev.address(var, "sampled state"), e.dev.address(s["out"], "samples"),
                    s["first"], s["every"], start,
                    len(s["idx"])]
            start += len(s["idx"])
        self.state_tab = e.dev.put(np.array(tab, np.int64))
        self.state_idx = e.dev.put(np.concatenate([s["idx"] for s in self.states]))
        values = dict(n_mon=I32(len(self.states)), mon_tab=self.state_tab, idx=self.state_idx,
                      n_idx_all=I64(start))
        return [e.bind("record.cu", "record_state", values, *grid_for(start))]

    def begin_chunk(self) -> None:
        v = self.values
        if self.n_rec:
            v["rec_total"].fill(0)
        if self.n_rate:
            v["rate_counts"].fill(0)

    def end_chunk(self, n0: int, k: int) -> None:
        """Hand the first ``k`` steps of the chunk that started at ``n0`` to the monitors."""
        dev, v = self.e.dev, self.values
        self.last_total = 0
        if self.n_rec and self.spikes and k:
            ends = dev.get(v["rec_end"][:k]).astype(np.int64)
            counts = np.diff(ends, prepend=0)
            total = self.last_total = int(ends[-1])
            idx = dev.get(v["rec_idx"][:total]).astype(np.int64)
            steps = np.repeat(np.arange(n0, n0 + k, dtype=np.int64), counts)
            order = np.lexsort((idx, steps))        # ascending within a step, as NumPy
            steps, idx = steps[order], idx[order]
            for mon, lo, hi, keep in self.spikes:
                sel = (idx >= lo) & (idx < hi)
                local = idx[sel] - lo
                st = steps[sel]
                if keep is not None:
                    st, local = st[keep[local]], local[keep[local]]
                mon._append(st, local)
        if self.n_rate:
            counts = dev.get(v["rate_counts"][:k * self.n_rate]).reshape(k, self.n_rate)
            for (mon, _, _), slot in zip(self.rates, self.rate_slot_of):
                mon._append(counts[:, slot].astype(np.int64))
        for s in self.states:
            steps = np.arange(n0, n0 + k, dtype=np.int64)
            steps = steps[(steps - s["first"] + 1) % s["every"] == 0]
            if steps.size:
                n_idx = len(s["idx"])
                rows = dev.get(s["out"][:steps.size * n_idx]).reshape(steps.size, n_idx)
                s["mon"]._append(steps, np.array(rows))
