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
Recorded spikes go into a buffer sized from the counts (:class:`~neurosim.engine.cuda_recorder.Recorder`): the step end halts
the clock before a step whose spikes might not fit (every recorded neuron spiking), every
kernel of a halted step does nothing, the chunk ends there, the host takes the recordings,
grows the buffer when the counts ask for it, and goes on — nothing is lost and no step leaves
the graphs. In the host build, the first step of each parity of a plan goes through the
kernels' strict argument checks and the others call the same C launchers with the same
(checked) arguments directly, which makes a step about five times cheaper; it stops at a halted
clock (``HOST_STOP_AT_HALT``) where a GPU runs the rest of the graph to no effect.

Kernel arguments are bound by name: each kernel's parameter list is parsed from its source
(:func:`~neurosim.backends.kernel_source.kernel_names`), and every parameter takes the engine
value of the same name — the neuron kernels' constants are the model's ``constants()`` keys and
their state arrays its state variables, so a mismatch between a model and its kernel is an
error at build time. Every scalar is a typed NumPy scalar. Per-neuron constants: each constant
is a ``const ns_real *`` (one value for the group, or one per neuron) and ``per_neuron`` has bit
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

import logging
import os
import time
import traceback

import numpy as np

from ..errors import DeviceMemoryError
from . import cuda_tuning as T
from .common import ProjectionAccess, Progress, chunk_steps, non_finite_error
from .cuda_device import Device, Launch, _host_prebound, kernel_signature
from .cuda_device import _cupy_module, grid_for, lanes_for  # noqa: F401  (importable from here too)
from .cuda_recorder import Recorder
from .cuda_runtimes import ClassRuntime, GroupRuntime
from .device_memory import check_memory, device_bytes, free_device_memory, record_budget  # noqa: F401
from .interrupts import chunk_transaction
from .state import DeviceSnapshot, export_engine, import_engine
from .memory import gib
from .layout import current_amplitude, member_positions

log = logging.getLogger(__name__)

I32, U32, I64, U64, F32 = np.int32, np.uint32, np.int64, np.uint64, np.float32
_Device = Device   # older name


class CudaEngine(ProjectionAccess):
    """Runs a :class:`~neurosim.engine.layout.Layout` with the kernels of ``kernels/``."""

    def __init__(self, net, layout, host: bool = False, dev=None, gen=None,
                 monitors: bool = True, draw=None, share=None):
        self.net, self.L = net, layout
        if draw is not None:
            # an MPI rank's engine (neurosim.distributed.cuda): the plastic runtimes draw the
            # synapses onto the rank's neurons through it (PlasticRuntime.plastic_synapses),
            # the homeostasis runtimes take the rank's block of their population
            self.plastic_synapses = draw
        if share is not None:
            self.population_share = share
        self.name = "cuda:host" if host else "cuda"
        _check_rules_supported(net)
        self.dev = dev if dev is not None else Device(host, layout.dtype == np.float64)
        self.real = layout.dtype         # ns_real: float32, or float64 (precision="double")
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
        self.recorder = Recorder(self)
        for mon in (net.monitors if monitors else ()):
            self.recorder.add(mon, mon.start_step)
        self._plans = None
        self._graph = None
        self._warm = False
        self._graph_ok = not host and os.environ.get("NEUROSIM_CUDA_GRAPHS", "1") != "0"
        self._event_ptr = 0
        self._chunk = 100
        self._reached = net._steps_done
        from .stimulus import Stimulus
        self.stim = Stimulus(self)

    # -- building --------------------------------------------------------------------------------
    def _allocate(self) -> None:
        L, dev = self.L, self.dev
        # synapses first: generated per-synapse delays set the ring's size
        self.classes = [ClassRuntime(self, c) for c in L.classes]
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
        self.bad = dev.put(np.array([T.NO_BAD, T.NO_BAD], np.int64))
        self.spk = dev.zeros(max(1, L.n_total), np.int32)
        self.spk_work = dev.zeros(max(1, L.n_total), np.int64)
        self.n_slots = max(1, L.ring_slots)
        self.ring = dev.zeros(max(1, L.ring_slots * L.ring_width), self.real)
        self.dummy = {np.dtype(t): dev.zeros(1, t)
                      for t in (np.float32, self.real, np.int32, np.int64, np.uint8)}
        self.nspk = None               # per-step spike counters of a chunk: see plan()
        self.groups = [GroupRuntime(self, g) for g in L.groups]

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

    # -- what runtimes use besides ProjectionAccess's (plasticity.base.CudaEngineInterface) -----
    def replan(self) -> None:
        """Rebuild the step's launches before the next step (a runtime changed an argument)."""
        self._plans = None

    def claim_threshold(self, population) -> bool:
        """Record that a rule owns ``population``'s threshold; False if one did already."""
        owners = self.__dict__.setdefault("_threshold_owners", set())
        if population.index in owners:
            return False
        owners.add(population.index)
        return True

    def group_values(self, population) -> dict:
        """The kernel arguments (by name) of the group of ``population``'s neurons."""
        g, _ = self.L.pop_group[population.index]
        return self.groups[g.index].values

    def class_weights(self, ci: int):
        """The device weights of synapse class ``ci`` (static projections)."""
        return self.classes[ci].weights

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
        grid = propagate_grid(self.dev, self.L.n_synapses)
        return self.bind("propagate.cu", "propagate", values, *grid)

    # -- the loop --------------------------------------------------------------------------------
    def run(self, steps: int, progress=None, guard=None) -> None:
        """Advance ``steps`` steps in chunks that commit completely or not at all (see
        :mod:`neurosim.engine.interrupts`); ``guard.pending`` (a deferred Ctrl-C) stops the run
        at the next chunk boundary."""
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
        q = T.GRAPH_STEPS
        return max(q, min(self._chunk, self.K) // q * q) + (n & 1)

    def _chunk_steps(self, n0: int, n1: int):
        """Steps ``n0 .. n1 - 1`` on the device (fewer where the clock halts: ``_reached`` says
        where the chunk ended), their recordings handed to the monitors; (first non-finite step,
        SimulationError) or None."""
        self._begin_chunk(n0, n1)
        launched = self._launch(n0, n1)
        return self._end_chunk(n0, launched)

    # -- stepping driven by a caller (neurosim.distributed: the engine of one MPI rank) -------
    def send_spikes(self) -> None:
        """Record every neuron's spikes from now on, for :meth:`take_spikes`: the spikes that an
        MPI rank sends to the others once per exchange interval."""
        self.recorder.send_all = True
        self.recorder.dirty = True
        self._plans = None

    def advance(self, n0: int, n1: int):
        """Steps ``n0 .. n1 - 1`` on the device, in as many chunks as the recording buffer
        needs, outside :meth:`run`'s transactions: the caller keeps the network's time and the
        monitors. Returns None, or (step, SimulationError) for the first step whose state
        became non-finite (the device stopped after it)."""
        with self.dev.context():
            n = n0
            while n < n1:
                self._apply_currents(n)
                self.plan()
                bad = self._chunk_steps(n, min(n1, n + self.K, self._next_event(n1)))
                if bad is not None:
                    return bad
                n = self._reached
            self.plan()
        return None

    def take_spikes(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps, neuron ids of the layout) of every spike of the steps run since the last
        call, sorted by step, then id; :meth:`send_spikes` must be on."""
        sent, self.recorder.sent = self.recorder.sent, []
        if not sent:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        if len(sent) == 1:
            return sent[0]
        return (np.concatenate([s[0] for s in sent]), np.concatenate([s[1] for s in sent]))

    def injector(self, classes):
        """A :class:`~neurosim.engine.cuda_inject.SpikeInjector` that delivers given spikes
        through synapse ``classes`` (CSR rows over any source ids, columns of this engine's
        ring) into this engine's delay ring."""
        from .cuda_inject import SpikeInjector
        return SpikeInjector(self, classes)

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
        for pi in self.stim.offsets:
            self.stim_current(self.net.populations[pi], n)

    # -- stimulus (engine.stimulus) ----------------------------------------------------------
    def stim_rates(self, g, steps, p) -> None:
        if self.groups[g.index].set_rate_table(steps, p):
            self._plans = None

    def stim_schedule(self, g, steps, idx) -> None:
        self.groups[g.index].set_schedule(steps, idx)
        self._plans = None

    def stim_drives_changed(self) -> None:
        """New drive rates (tables over time included): every group with drives gets its
        tables, which the kernels read by step on the device (kernels/step.cuh)."""
        for gi in sorted({d.group.index for d in self.L.drives}):
            if self.groups[gi].set_drives(self.stim):
                self._plans = None

    def stim_current(self, pop, n: int | None = None) -> None:
        """Injected plus added current of ``pop`` as in force before step ``n`` (default:
        the next step to run; the events of step ``n`` itself are applied when it runs)."""
        n = self.net._steps_done if n is None else n
        g, off = self.L.pop_group[pop.index]
        if self.groups[g.index].set_current_array():
            self._plans = None
        amp = current_amplitude(self.L, pop, n - 1) + self.stim.offset(pop.index)
        with self.dev.context():
            self.groups[g.index].i_ext[off:off + pop.size] = self.dev.put(
                np.broadcast_to(np.asarray(amp, np.float32), (pop.size,)))

    def snapshot(self, static_weights: bool = False):
        """A rollback copy of the dynamic state: device buffers, reused (see
        :mod:`neurosim.engine.interrupts`); host arrays where they do not fit."""
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
        return export_engine(self, static_weights)

    def import_state(self, state: dict, where: str) -> None:
        import_engine(self, state, where)

    def _begin_chunk(self, n: int, n1: int | None = None) -> None:
        """Set the clock to step ``n`` and clear the per-step counters of the chunk's steps
        (``n .. n1 - 1``; all ``K`` when ``n1`` is None), not the whole buffers."""
        self.clock[n % 2] = self.dev.put(np.array([n, 0, 0, 0], np.int64))
        steps = self.K if n1 is None else min(self.K, n1 - n)
        self.nspk[:steps + 1].fill(0)
        self.recorder.begin_chunk(steps + 1)

    def _launch(self, n0: int, n1: int) -> int:
        """Launch steps n0 .. n1 - 1; the step after the last one launched (see _end_chunk)."""
        plans = [[(k.kernel, k.grid, k.block, k.args[p]) for k in self._plans] for p in (0, 1)]
        n = n0
        if self.dev.host:
            return self._launch_host(plans, n0, n1)
        # graphs only once every kernel has run directly (lazy module loading)
        if self._graph_ok and self._warm and n1 - n0 >= T.GRAPH_STEPS + (n0 & 1):
            if n % 2:
                for k, g, b, a in plans[1]:
                    k(g, b, a)
                n += 1
            graph = self._get_graph(plans)
            while graph is not None and n1 - n >= T.GRAPH_STEPS:
                graph.launch(self.dev.stream)
                n += T.GRAPH_STEPS
        for m in range(n, n1):
            for k, g, b, a in plans[m & 1]:
                k(g, b, a)
        self._warm = n1 - n0 >= 2 or self._warm
        return n1

    def _launch_host(self, plans, n0: int, n1: int) -> int:
        """The host build: the first step of each parity of a plan through the kernels' strict
        checks, the others (in this chunk and the next ones of the same plan) straight through
        their ctypes launchers with the same, checked, arguments (a plan's arguments never
        change; this saves ~90% of the Python time of a step).
        It stops after a step that halted the clock (a GPU runs the rest of the graph, whose
        steps then do nothing; T.HOST_STOP_AT_HALT = False does the same)."""
        stop_at_halt = T.HOST_STOP_AT_HALT
        clock = self.clock
        # the prebound launchers of this plan, kept while the plan lives (its arguments never
        # change): short chunks (run(every=...)) then skip the checked steps and the binding
        cached = getattr(self, "_fast", None)
        fast = cached[1] if cached is not None and cached[0] is self._plans else None
        # parities of this plan whose launches passed the checks (chunks of one step too)
        checked = getattr(self, "_checked", None)
        if checked is None or checked[0] is not self._plans:
            checked = self._checked = (self._plans, set())
        for m in range(n0, n1):
            if fast is None and len(checked[1]) < 2:     # until both parities passed
                for k, g, b, a in plans[m & 1]:
                    k(g, b, a)
                checked[1].add(m & 1)
            else:
                if fast is None:
                    fast = [[_host_prebound(k, g, b, a) for k, g, b, a in plans[p]]
                            for p in (0, 1)]
                    self._fast = (self._plans, fast)
                for call in fast[m & 1]:
                    call()
            if stop_at_halt and clock[(m + 1) & 1, 2]:
                return m + 1
        return n1

    def _get_graph(self, plans):
        """The CUDA graph of T.GRAPH_STEPS steps from an even step, captured once per plan."""
        if self._graph is None:
            s = self.dev.stream
            try:
                s.begin_capture()
                try:
                    for i in range(T.GRAPH_STEPS):
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
        if bad[0] != T.NO_BAD:
            step, code = int(bad[0]), int(bad[1])
            reached = step + 1             # the clock halted after it
            error = self._nan_error(step, code)
            self.bad[...] = self.dev.put(np.array([T.NO_BAD, T.NO_BAD], np.int64))
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
        values = np.zeros(rt.g.size, self.real)
        values[local] = now if not np.isfinite(now) else np.nan
        return non_finite_error(self.L, rt.g, values, name, step, step - 1)

    def _next_event(self, default: int) -> int:
        events = self.L.current_events
        return events[self._event_ptr][0] if self._event_ptr < len(events) else default

    def _apply_currents(self, n: int) -> None:
        events = self.L.current_events
        while self._event_ptr < len(events) and events[self._event_ptr][0] <= n:
            _, gi, lo, hi, pi = events[self._event_ptr]
            amp = (current_amplitude(self.L, self.net.populations[pi], n)
                   + self.stim.offset(pi))
            self.groups[gi].i_ext[lo:hi] = self.dev.put(
                np.broadcast_to(np.asarray(amp, self.real), (hi - lo,)))
            self._event_ptr += 1

    # -- access ----------------------------------------------------------------------------------
    def kernel(self, filename: str, name: str):
        """A kernel of ``kernels/<filename>`` as this engine launches it (CuPy or host build)."""
        return self.dev.kernel(filename, name)

    def add_monitor(self, mon, start: int | None = None) -> None:
        """Record ``mon`` from step ``start`` (default: the network's next step)."""
        self.recorder.add(mon, self.net._steps_done if start is None else start)
        self._plans = None

    def get_state(self, pop, var, size: int | None = None):
        """``pop``'s values of ``var``: its ``size`` neurons in this engine's layout (default
        ``pop.size``; an MPI rank's engine holds a block of them)."""
        g, off = self.L.pop_group[pop.index]
        n = pop.size if size is None else size
        with self.dev.context():
            return np.array(self.dev.get(self.groups[g.index].state[var][off:off + n]))

    def set_state(self, pop, var, values):
        g, off = self.L.pop_group[pop.index]
        values = np.asarray(values, self.real)
        with self.dev.context():
            self.groups[g.index].state[var][off:off + values.shape[0]] = self.dev.put(values)

    def set_weights(self, proj, values):
        if proj not in self.L.proj_class:
            return self._plastic_for(proj).set_weights(values)
        ci, _ = self.L.proj_class[proj]
        pos = member_positions(self.L, proj)
        with self.dev.context():
            self.classes[ci].weights[self.dev.put(pos, copy=False)] = self.dev.put(
                np.asarray(values, self.real), copy=False)

    def _class_arrays(self, ci):
        rt, c = self.classes[ci], self.L.classes[ci]
        with self.dev.context():
            weights = self.dev.get(rt.weights)
            if not c.generated:
                return c.cols, weights, c.delays
            return (self.dev.get(rt.cols), weights,
                    None if rt.delays is None else self.dev.get(rt.delays))


def propagate_grid(dev, n_synapses: int) -> tuple:
    """(grid, block) of kernels/propagate.cu's propagate for classes of ``n_synapses``."""
    kernel = dev.kernel("propagate.cu", "propagate")
    if dev.host:
        threads = T.HOST_PROPAGATE_THREADS or (T.HOST_SPIKE_BLOCK if kernel.shuffle else 1)
        return (1,), (int(threads),)
    # a fixed grid: a few blocks per SM, fewer when the synapses are few
    most = max(1, n_synapses)
    return (max(1, min(-(-most // T.BLOCK), 4 * dev.sm_count)),), (T.BLOCK,)


def _plastic_rules(net):
    """(projection or population, rule) of every plastic projection and homeostatic rule."""
    out = [(proj, proj.plasticity) for proj in net.projections if proj.plasticity is not None]
    return out + [(pop, rule) for pop, rule in getattr(net, "homeostasis", [])]


def _check_work_bits(layout) -> None:
    """The spike list's 64-bit counters hold 2^(64 - T.WORK_BITS) spikes and 2^T.WORK_BITS synapses
    a step (kernels/step.cuh)."""
    if layout.n_total >= 1 << (64 - T.WORK_BITS) or layout.n_synapses >= 1 << T.WORK_BITS:
        raise ValueError(f"the CUDA engine handles fewer than 2**{64 - T.WORK_BITS} neurons and "
                         f"2**{T.WORK_BITS} static synapses; this network has {layout.n_total} "
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
