"""The native CPU engine: the CUDA engine's plan, on the kernels compiled for this CPU.

:class:`NativeEngine` is :class:`~neurosim.engine.cuda_engine.CudaEngine` on a
:class:`NativeDevice` (kernels built by :mod:`neurosim.backends.native`: ``-O3``, OpenMP,
NumPy arrays as device memory). What differs from ``cuda:host``:

* every launch of the plan runs one block of one thread per CPU thread (``grid = (threads,)``,
  ``block = (1,)``): with ``NS_HOST_NATIVE`` each kernel's grid-stride loop is a contiguous
  share per thread (``kernels/common.cuh``), so each CPU thread runs one tight loop; every
  kernel is correct for any launch size (the kernels' convention), so the results are the
  same items computed in the same way;
* a chunk of steps is one call of the C plan runner (:class:`~neurosim.backends.native.PlanRunner`,
  ``kernels/native_loop.cpp``): no Python between steps, the clock, halts and recordings
  exactly as in a CUDA graph (the runner stops after a step that halted the clock, as the
  host build does), packed when the plan is built (``build()``), not in the first run; the
  first chunk is as long as a bound on a step's cost allows (:func:`first_chunk`), so a small
  network runs a whole run in one call, the next ones follow the measured wall time;
* ``threads`` OpenMP threads (``Network(threads=...)``, default every core), at most one per
  :data:`~neurosim.backends.native.WORK_PER_THREAD` units of work a step
  (:func:`~neurosim.backends.native.step_threads`; ``threads_asked`` keeps the request); on
  several, delivery into private rings, fewer barriers and one-barrier steps
  (:meth:`NativeEngine._threaded`);
* a neuron group with any per-neuron constant has all of them per neuron (the native neuron
  loops vectorise with constants all uniform or all per neuron);
* the delay queue (:meth:`NativeEngine._queue_choice`, ``kernels/native_delivery.cpp``): the
  classes with per-synapse delays of a network whose ring is larger than the caches are
  delivered one arrival slot a step, from a copy of their rows sorted by delay and by thread,
  each thread into its own columns of the ring; between chunks the ring holds every pending
  event, as without the queue.

With one thread, every launch runs the kernels' items in order, as the ``cuda:host`` build in
natural order does: the same arithmetic, so the same results. With more, each chunk of a
thread's neurons takes its spikes' slots in the step's list in the order the threads reach
them, and a neuron's synaptic input sums thread 0's deliveries, then each other thread's
private ring: sums of weights that add exactly are the same, others may differ in the last bit
(as on a GPU); spike lists are the same set per step wherever the sums are.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from . import cuda_tuning as T
from .cuda_device import Device, kernel_signature
from .cuda_engine import CudaEngine

I32 = np.int32
I64 = np.int64
log = logging.getLogger(__name__)
#: The native backend's own kernels (delivery without atomics, the step end alone).
NATIVE_FILE = "native_delivery.cpp"


#: A bound on what one step costs per neuron and per synapse on one thread, every synapse
#: delivering at every step (seconds): a step costs less, so a first chunk of steps sized from it
#: stays within :data:`CHUNK_SECONDS` (Ctrl-C stops a run at a chunk's end).
STEP_ITEM_SECONDS = 50e-9
#: Wall time per chunk of steps the engine aims at (``engine.common.chunk_steps``'s target).
CHUNK_SECONDS = 0.25


def first_chunk(n_neurons: int, n_synapses: int) -> int:
    """Steps of a native engine's first chunk: as many as :data:`CHUNK_SECONDS` holds at
    :data:`STEP_ITEM_SECONDS` per neuron and synapse (later chunks follow the measured wall
    time). A small network runs a whole run in one chunk: one return to Python, not three
    (a first chunk of 100 steps, as on a GPU, then two more growing to the measured speed)."""
    per_step = STEP_ITEM_SECONDS * max(1, int(n_neurons) + int(n_synapses))
    return int(min(T.MAX_CHUNK, max(T.GRAPH_STEPS, CHUNK_SECONDS // per_step)))


#: A class with per-synapse delays is delivered through the delay queue
#: (``propagate_queued``, ``kernels/native_delivery.cpp``) when the delay ring is at least this
#: large (bytes): a smaller ring stays in cache, where the ring's random writes are cheap.
QUEUE_RING_BYTES = 4 << 20
#: ``NEUROSIM_NATIVE_QUEUE``: ``auto`` (default, :data:`QUEUE_RING_BYTES`), ``1`` (every class
#: with per-synapse delays in a network without plasticity), ``0`` (never).
QUEUE_ENV = "NEUROSIM_NATIVE_QUEUE"
#: The queue's sorted copies, segment tables and spike history may take at most this share of
#: the memory available when the network is built; more, and the classes go through the ring.
QUEUE_MEMORY_SHARE = 0.5
#: On several threads the queue counts each neuron's spikes; after the chunk in which they
#: reach this many per neuron on average (at least :data:`QUEUE_BALANCE_MIN_SPIKES`), the
#: column shares are set once from the events delivered per column (``queue_load``), when the
#: busiest share has :data:`QUEUE_REBALANCE` times the mean or more. The rebuild costs about
#: as much as the copy's first build (1.5-2 s for the full-scale microcircuit, whose shares of
#: equal synapses give one thread 1.24 times the mean of the events), so only runs long
#: enough to gain it back balance (about 3 s simulated for the microcircuit).
QUEUE_BALANCE_SPIKES_PER_NEURON = 10.0
QUEUE_BALANCE_MIN_SPIKES = 10_000
QUEUE_REBALANCE = 1.05


def _shares(per_col: np.ndarray, n_part: int) -> list:
    """Column bounds ``[0, b1, ..., width]`` of ``n_part`` shares of about equal sums of
    ``per_col`` (synapses or delivered events per ring column)."""
    cum = np.cumsum(per_col)
    return [0] + [int(np.searchsorted(cum, cum[-1] * p / n_part, side="right"))
                  for p in range(1, n_part)] + [int(per_col.size)]


class NativeDevice(Device):
    """A host device whose kernels are native builds running ``threads`` OpenMP threads."""

    def __init__(self, threads: int, double: bool = False):
        super().__init__(host=True, double=double)
        self.threads = int(threads)
        self.sm_count = self.threads

    def kernel(self, filename: str, name: str):
        if filename not in self._modules:
            from ..backends.native import NativeModule
            from .cuda_device import DOUBLE_OPTION
            # double: no flush-to-zero, as in the host build's double variant
            self._modules[filename] = (
                NativeModule(filename, threads=self.threads, options=(DOUBLE_OPTION,),
                             ftz=False) if self.double
                else NativeModule(filename, threads=self.threads))
        return self._modules[filename].get_function(name)

    def per_spike_grid(self, n_max: int, lanes: int = 1) -> tuple:
        return (self.threads,), (1,)


class NativeEngine(CudaEngine):
    """Runs a layout on the native CPU backend (see module docstring)."""

    def __init__(self, net, layout, threads: int, gen=None):
        from ..backends.native import step_threads
        self.threads_asked = int(threads)
        self.threads = step_threads(threads, layout.n_total, layout.n_synapses)
        self._runner = None
        self._flags = None
        self._post = []
        super().__init__(net, layout, host=True,
                         dev=NativeDevice(self.threads, double=net.precision == "double"),
                         gen=gen)
        self.name = "cpu:native"
        self._constants_all_per_neuron()
        self._queued, self._rest = [], list(self.classes)
        self._queue_setup()
        self._chunk = first_chunk(layout.n_total, layout.n_synapses
                                  + sum(int(getattr(rt, "n_synapses", 0)) for rt in self.plastic))

    def _constants_all_per_neuron(self) -> None:
        """Every constant of a neuron group one value per neuron where any is (and the
        refractory steps with them): the native neuron loops vectorise where a group's
        constants are all uniform or all per neuron (``kernels/neuron_model.cu.j2``), and a
        group that merges populations with different parameters has some of each."""
        for rt in self.groups:
            if rt.is_source:
                continue
            v, g = rt.values, rt.g
            flags = int(v["flags"])
            ref_pn = bool(flags & T.NS_REF_PER_NEURON)
            if not int(v["per_neuron"]) and not ref_pn:
                continue
            sig = [name for _, name in kernel_signature(g.model_cls.kernel_file,
                                                         g.model_cls.kernel)]
            consts = [name for name in sig if name in g.consts]
            for k, name in enumerate(consts):
                if not (int(v["per_neuron"]) >> k) & 1:
                    v[name] = self.dev.put(np.full(g.size, self.dev.get(v[name])[0],
                                                   v[name].dtype))
            v["per_neuron"] = np.uint32((1 << len(consts)) - 1)
            if flags & T.NS_REF and not ref_pn:
                v["n_ref"] = self.dev.put(np.full(g.size, self.dev.get(v["n_ref"])[0], np.int32))
                v["flags"] = np.uint32(flags | T.NS_REF_PER_NEURON)

    # -- the delay queue (kernels/native_delivery.cpp) ------------------------------------------
    def _queue_choice(self) -> list:
        """The classes that the delay queue delivers: those with per-synapse delays, in a
        network without plastic runtimes (a homeostatic rule may scale static weights within
        a step), where the ring is at least :data:`QUEUE_RING_BYTES` and the queue's memory
        fits (:data:`QUEUE_ENV` forces it on or off)."""
        mode = os.environ.get(QUEUE_ENV, "auto").strip().lower()
        if mode not in ("auto", "0", "1"):
            raise ValueError(f"{QUEUE_ENV}={mode!r}: expected 'auto', '0' or '1'")
        if mode == "0" or self.plastic:
            return []
        chosen = [rt for rt in self.classes if rt.c.delay is None and rt.c.n_synapses > 0]
        if not chosen or mode == "1":
            return chosen
        real = np.dtype(self.real).itemsize
        if self.n_slots * self.L.ring_width * real < QUEUE_RING_BYTES:
            return []
        n_total = self.L.n_total
        need = sum(rt.c.n_synapses * (4 + real) for rt in chosen)
        need += len(chosen) * n_total * self.n_slots * self.threads * 8
        need += self.n_slots * n_total * 4
        if any(n_total * self.n_slots * self.threads > 2 * rt.c.n_synapses for rt in chosen):
            return []            # rows too short: more segment pointers than twice the synapses
        try:
            import psutil
            free = psutil.virtual_memory().available
        except Exception:                                   # pragma: no cover
            return []
        if need > QUEUE_MEMORY_SHARE * free:
            log.info("cpu:native: the delay queue would take %.1f GB of %.1f GB available: "
                     "delivering through the ring", need / 1e9, free / 1e9)
            return []
        return chosen

    def _queue_setup(self) -> None:
        """Allocate the queue of :meth:`_queue_choice`'s classes: per class the sorted copy and
        its segment pointers (filled by :meth:`_queue_build`), the history of spike lists, the
        table of ``propagate_queued`` and the table of the other classes' ``propagate``."""
        self._queued = self._queue_choice()
        if not self._queued:
            return
        dev, L = self.dev, self.L
        self._rest = [rt for rt in self.classes if rt not in self._queued]
        self._rest_tab = dev.put(np.array([v for rt in self._rest for v in rt.table()] or [0],
                                          np.uint64))
        n_part = self.threads
        inner = []
        if n_part > 1:            # shares of the columns with equal numbers of synapses
            per_col = np.zeros(L.ring_width, np.int64)
            for rt in self._queued:
                cols = dev.get(rt.cols)
                for a in range(0, rt.c.n_synapses, 1 << 24):    # bounded temporaries
                    per_col += np.bincount(cols[a:min(rt.c.n_synapses, a + (1 << 24))],
                                           minlength=L.ring_width)
            inner = _shares(per_col, n_part)[1:-1]
        self._q_bounds = dev.put(np.array([0] + inner + [L.ring_width], np.int32))
        self._q = []
        words = 1 if np.dtype(self.real).itemsize == 4 else 2   # an ns_qsyn: column, weight
        for rt in self._queued:
            d = dev.get(rt.delays)[:rt.c.n_synapses]
            dmin, dmax = int(d.min()), int(d.max())
            n_seg = dmax - dmin + 1
            self._q.append(dict(rt=rt, dmin=dmin, n_seg=n_seg,
                                dptr=dev.zeros(L.n_total * n_seg * n_part + 1, np.int64),
                                syn=dev.zeros(max(1, rt.c.n_synapses) * words, np.uint64)))
        self._q_lead = min(q["dmin"] for q in self._q)
        self._q_span = max(q["dmin"] + q["n_seg"] for q in self._q) - self._q_lead
        self._q_tab = dev.put(np.array(
            [v for q in self._q for v in (dev.address(q["dptr"], "dptr"),
                                          dev.address(q["syn"], "syn"), 0,
                                          q["dmin"], q["n_seg"])], np.uint64))
        self._q_hist = dev.zeros(self._q_span * max(1, L.n_total), np.int32)
        self._q_hist_n = dev.zeros(self._q_span, np.int64)
        self._q_spikes = dev.zeros(max(1, L.n_total), np.int64)
        self._q_balance = None
        self._queue_build()

    def _queue_build(self) -> None:
        """Fill each queued class's sorted copy from its columns, weights and delays
        (``queue_build``, on the engine's threads): again after its weights change."""
        dev, n_part = self.dev, self.threads
        kernel = dev.kernel(NATIVE_FILE, "queue_build")
        for q in self._q:
            rt = q["rt"]
            u8 = rt.delays.dtype == np.uint8
            scratch = dev.zeros(self.threads * q["n_seg"] * n_part, np.int64)
            kernel((self.threads,), (1,), (
                rt.indptr, rt.cols, rt.weights,
                rt.delays if u8 else self.dummy[np.dtype(np.uint8)],
                self.dev.zeros(1, np.int16) if u8 else rt.delays,
                I32(1 if u8 else 2), I64(self.L.n_total), I32(q["dmin"]), I32(q["n_seg"]),
                I32(n_part), self._q_bounds, q["dptr"], q["syn"], scratch))
        self._q_stale = False

    def _queue_values(self) -> dict:
        return dict(n_queued=I32(len(self._q)), queue_tab=self._q_tab, n_part=I32(self.threads),
                    lead=I32(self._q_lead), span=I32(self._q_span), hist=self._q_hist,
                    hist_n=self._q_hist_n, hist_len=I32(self._q_span),
                    hist_stride=I64(max(1, self.L.n_total)), q_spikes=self._q_spikes)

    def _queue_balance(self) -> None:
        """Once enough spikes are counted (:data:`QUEUE_BALANCE_SPIKES_PER_NEURON`), split the
        columns into shares of equal delivered events instead of equal synapses, and rebuild
        the sorted copies with them when that evens the shares out (:data:`QUEUE_REBALANCE`);
        ``_q_balance`` records the spikes counted, the busiest share's load over the mean
        before and after, and the seconds it took. The results do not change: every ring cell
        is still written by one thread, in the same order."""
        import time
        n_total, width, n_part = self.L.n_total, self.L.ring_width, self.threads
        spikes = int(self._q_spikes.sum())
        if spikes < max(QUEUE_BALANCE_MIN_SPIKES, QUEUE_BALANCE_SPIKES_PER_NEURON * n_total):
            return
        t0 = time.perf_counter()
        load = self.dev.zeros(n_part * width, np.int64)
        kernel = self.dev.kernel(NATIVE_FILE, "queue_load")
        for q in self._q:
            kernel((n_part,), (1,), (q["dptr"], q["syn"], self._q_spikes, I64(n_total),
                                     I32(q["n_seg"]), I32(n_part), I32(width), load))
        per_col = load.reshape(n_part, width).sum(axis=0)
        cum = np.concatenate([[0], np.cumsum(per_col)])

        def imbalance(bounds):
            parts = np.diff(cum[np.asarray(bounds)])
            return float(parts.max() / max(1e-300, parts.mean()))
        old = np.asarray(self._q_bounds).copy()
        new = np.array(_shares(per_col, n_part), np.int32)
        before, after = imbalance(old), imbalance(new)
        rebuilt = before >= QUEUE_REBALANCE and after < before
        if rebuilt:
            self._q_bounds[...] = new
            self._queue_build()
        self._q_balance = dict(spikes=spikes, before=before, after=after if rebuilt else before,
                               bounds=(new if rebuilt else old).tolist(), rebuilt=rebuilt,
                               seconds=time.perf_counter() - t0)
        log.info("cpu:native delay queue: busiest column share %.3f of the mean after %d "
                 "spikes%s (%.2f s)", before, spikes,
                 f", {after:.3f} with new shares" if rebuilt else "", time.perf_counter() - t0)

    def _queue_launches(self, grid, block) -> tuple:
        """``propagate_queued`` (a step's delivery) and ``queue_flush`` (after a chunk)."""
        values = self._queue_values()
        return (self.bind(NATIVE_FILE, "propagate_queued", values, grid, block),
                self.bind(NATIVE_FILE, "queue_flush", dict(values, clock=self.clock),
                          grid, block))

    def _propagate_launch(self):
        """``propagate`` of the classes the queue does not deliver (all when none is queued)."""
        if not self._queued:
            return super()._propagate_launch()
        from .cuda_engine import propagate_grid
        values = dict(n_classes=I32(len(self._rest)), class_tab=self._rest_tab)
        grid = propagate_grid(self.dev, sum(rt.c.n_synapses for rt in self._rest))
        return self.bind("propagate.cu", "propagate", values, *grid)

    def set_weights(self, proj, values):
        out = super().set_weights(proj, values)
        self._q_stale = True
        return out

    def import_state(self, state: dict, where: str) -> None:
        super().import_state(state, where)
        self._q_stale = True

    def restore(self, snapshot) -> None:
        super().restore(snapshot)
        self._q_stale = True

    def plan(self) -> list:
        """The step's launches (one block of one thread per CPU thread each), packed for the
        C plan runner when they are (re)built: at ``build()``, not in the first chunk."""
        fresh = self._plans is None
        plans = super().plan()
        if fresh:
            grid, block = (self.threads,), (1,)
            plans = [launch._replace(grid=grid, block=block) for launch in plans]
            self._flags = [0] * len(plans)
            self._post = []
            if self.threads > 1:
                plans, self._flags = self._threaded(plans, grid, block)
            elif self._queued:
                queued, flush = self._queue_launches(grid, block)
                at = len(self.groups) + 1                 # after propagate
                plans = plans[:at] + [queued] + plans[at:]
                self._flags = [0] * len(plans)
                self._post = [flush]
            self._plans = plans
            self._runner = self._pack_runner()
        return self._plans

    def min_delay_steps(self) -> int:
        """The shortest delay of every static synapse class, in steps (0 without classes)."""
        least = []
        for rt in self.classes:
            if rt.c.delay is not None:
                least.append(int(rt.c.delay))
            else:
                d = self.dev.get(rt.delays) if rt.delays is not None else None
                least.append(int(d[:rt.c.n_synapses].min()) if d is not None and
                             rt.c.n_synapses else 0)
        return min(least, default=0)

    def _threaded(self, plans: list, grid, block) -> tuple[list, list]:
        """The plan on several threads, and its launch flags (``kernels/native_loop.cpp``):

        * ``propagate_native`` delivers in place of ``propagate``: each thread but the first
          into a private ring, with plain additions; ``ring_merge_native``, first in every
          step, adds them where the step's neuron kernels read (each thread the columns its
          own neuron kernels read next: no barrier after it), and after the last step of every
          chunk, everywhere (``kernels/native_delivery.cpp``);
        * no barrier between the neuron kernels of different groups (each reads and writes its
          own group's state and ring columns; spikes take their slots with atomics);
        * one barrier a step where the step is its groups' kernels and delivery only (no
          plasticity or state recording launches) and every delay is at least two steps:
          ``step_end_native`` then ends the step on the last thread to finish the neuron
          kernels, before the step's one barrier, delivery has no barrier after it, and the
          spike list alternates between two buffers with the clock's parity."""
        from ..backends.native import LAST_ARRIVER, NO_BARRIER, SERIAL
        n_groups = len(self.groups)          # CudaEngine.plan(): the groups' kernels first,
        groups, prop, rest = plans[:n_groups], plans[n_groups], plans[n_groups + 1:]
        assert prop.kernel.name == "propagate", prop.kernel.name     # then propagate
        one_barrier = not rest and (not self.classes or self.min_delay_steps() >= 2)
        out, flags = [], []
        if self._rest:
            n_priv = self.threads - 1
            size = self.n_slots * self.L.ring_width
            if getattr(self, "_priv", None) is None or self._priv.size != n_priv * size:
                self._priv = self.dev.zeros(n_priv * size, self.real)
            seg = [(rt.g.col_offset + ch * rt.g.size, rt.g.size) for rt in self.groups
                   if not rt.is_source and rt.g.col_offset >= 0
                   for ch in range(len(rt.g.channels))]
            self._seg = self.dev.put(np.array(seg or [(0, 0)], np.int64).ravel())
            merge = dict(priv=self._priv, n_priv=I32(n_priv), seg=self._seg,
                         n_seg=I32(len(seg)))
            out.append(self.bind(NATIVE_FILE, "ring_merge_native", dict(merge, all=I32(0)),
                                 grid, block))
            flags.append(NO_BARRIER)
            self._post = [self.bind(NATIVE_FILE, "ring_merge_native",
                                    dict(merge, all=I32(1)), grid, block)]
            prop = self.bind(NATIVE_FILE, "propagate_native",
                             dict(n_classes=I32(len(self._rest)),
                                  class_tab=self._rest_tab if self._queued else self.class_tab,
                                  priv=self._priv, n_priv=I32(n_priv),
                                  end_step=I32(0 if one_barrier else 1)), grid, block)
        out += groups
        flags += [NO_BARRIER] * len(groups)
        queued = flush = None
        if self._queued:
            # thread p writes the ring's columns of part p itself: a barrier after a
            # propagate_native whose thread 0 writes into the ring too
            queued, flush = self._queue_launches(grid, block)
            self._post = [flush] + self._post
        if one_barrier:
            out.append(self.bind(NATIVE_FILE, "step_end_native", {}, (1,), (1,)))
            flags.append(LAST_ARRIVER | SERIAL)
            if self._rest:
                out.append(prop)
                flags.append(0 if queued is not None else NO_BARRIER)
            if queued is not None:
                out.append(queued)
                flags.append(NO_BARRIER)
            out = self._alternate_spike_lists(out)
        else:
            if flags:
                flags[-1] = 0
            out.append(prop)
            flags.append(0)
            if queued is not None:
                out.append(queued)
                flags.append(0)
            out += rest
            flags += [0] * len(rest)
        return out, flags

    def _alternate_spike_lists(self, plans: list) -> list:
        """The launches with the spike list of odd steps in a second buffer."""
        if getattr(self, "_spk1", None) is None or self._spk1.size != self.spk.size:
            self._spk1 = self.dev.zeros(self.spk.size, self.spk.dtype)
            self._spk_work1 = self.dev.zeros(self.spk_work.size, self.spk_work.dtype)
        swap = {id(self.spk): self._spk1, id(self.spk_work): self._spk_work1}
        return [launch._replace(args=(launch.args[0],
                                      tuple(swap.get(id(a), a) for a in launch.args[1])))
                for launch in plans]

    def _pack_runner(self):
        from ..backends.native import PlanRunner
        plans = [[(k.kernel, k.grid, k.block, k.args[p], f)
                  for k, f in zip(self._plans, self._flags)] for p in (0, 1)]
        post = [(k.kernel, k.grid, k.block, k.args[0]) for k in self._post]
        return PlanRunner(plans, self.clock, self.threads,
                          ftz=plans[0][0][0].module.ftz if plans[0] else True, post=post)

    def _launch(self, n0: int, n1: int) -> int:
        """Steps n0 .. n1 - 1 in one call of the C plan runner; the step after the last one
        run (it stops after a step that halted the clock)."""
        if self._queued and self._q_stale:
            self._queue_build()
        if self._runner is None:
            self._runner = self._pack_runner()
        reached = self._runner.run(n0, n1, T.HOST_STOP_AT_HALT)
        if self._queued and self.threads > 1 and self._q_balance is None:
            self._queue_balance()
        return reached
