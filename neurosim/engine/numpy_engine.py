"""The NumPy engine: the reference implementation of the loop of docs/architecture.md.

One step ``n`` advances the state from ``t_n = n*dt`` to ``t_{n+1}``:

1. gather input — ring slot ``n % D`` holds what arrives at ``t_{n+1}``; Poisson drives add
   into it; each group reads its columns;
2. update neurons — one fused update per group (integrate over the step, add the arrivals,
   refractory clamp, threshold, reset) producing a compact list of spiking indices (spikes
   stamped ``t_{n+1}``); spike sources emit theirs;
3. propagate — each spike walks its CSR rows and adds its weights into slot
   ``(n + delay) % D``: it arrives at ``t_{n+1} + delay``, in step ``n + delay``;
4. learn — plastic projections (see :mod:`neurosim.plasticity`);
5. record — monitors append spike lists and samples; they reach the user's arrays in chunks.
"""

from __future__ import annotations

import logging
import time
from collections import deque

import numpy as np

from ..models.sources import PoissonSource, SpikeSource
from .common import ProjectionAccess, Progress, chunk_steps, non_finite_error
from .layout import _ranges, current_amplitude
from .state import export_engine, import_engine, philox_at
from .stimulus import NEVER, Stimulus

log = logging.getLogger(__name__)

U24 = np.float32(2.0 ** -24)
_EMPTY = np.zeros(0, np.int64)


class _NeuronGroup:
    """Runtime of one merged group of neurons.

    Refractory neurons are kept as a sparse set (clamped each step with one fancy assignment):
    ``batches`` holds (last clamped step, indices) per spiking step, ``r_idx`` their union.
    """

    def __init__(self, g, dtype=np.float32):
        self.g = g
        self.cls = g.model_cls
        self.flat = _contiguous_state(g.state, dtype)
        # generated models (NeuronModel descriptions): their hold code on refractory neurons,
        # which cannot spike (clamp); the built-in models clamp v to v_reset below
        self.integrate, self.threshold, self.reset, self.clamp = g.model_cls.numpy_step(dtype)
        self.s = g.state
        self.c = g.consts
        self.start, self.size = g.start, g.size
        self.tmp = np.empty((g.model_cls.scratch, g.size), dtype)
        self.mask = np.empty(g.size, bool)
        self.i_ext = np.zeros(g.size, dtype) if g.has_current else None
        self.col0 = g.col_offset
        self.col1 = g.col_offset + g.n_cols
        self.nch = len(g.channels)
        self.active = tuple(g.active)
        self.n_ref = g.n_ref
        self.scalar_ref = np.ndim(g.n_ref) == 0
        self.v = g.state["v"]
        vr = g.consts.get("v_reset")
        self.v_reset = vr if vr is None or np.ndim(vr) == 0 else None
        self.v_reset_arr = vr if vr is not None and np.ndim(vr) else None
        self.batches = deque()
        self.r_idx = _EMPTY
        self.last = _EMPTY
        self.zero = np.zeros(self.flat.size, dtype)
        if self.flat.dtype == np.float64:
            self.finite = self._finite64

    def finite(self) -> bool:
        """Whether every state value is finite: one BLAS dot of all the group's state with
        zeros (``x * 0`` is 0 for a finite ``x`` and NaN for inf or NaN), about 1 us for 10^4
        values, so the check runs every step (float64 state: :meth:`_finite64`)."""
        return self.flat.dot(self.zero) == 0.0

    def _finite64(self) -> bool:
        """:meth:`finite` for float64 state: the minimum and the maximum (NaN propagates
        through both; an inf is one of them). OpenBLAS runs ``ddot`` on several threads from
        10^4 values: milliseconds a step on a busy machine."""
        f = self.flat
        return not f.size or bool(np.isfinite(f.min()) and np.isfinite(f.max()))

    def step(self, n: int, row) -> np.ndarray:
        s, c = self.s, self.c
        inp = row[self.col0:self.col1].reshape(self.nch, self.size) if self.col0 >= 0 else None
        self.integrate(s, inp, self.active, c, self.i_ext, self.tmp)
        batches = self.batches
        if batches:
            if batches[0][0] < n:
                drop = 0
                while batches and batches[0][0] < n:
                    drop += batches.popleft()[1].size
                self.r_idx = self.r_idx[drop:]      # batches are kept in r_idx's order
            r = self.r_idx
            if r.size:
                if self.clamp is not None:
                    self.clamp(s, c, r)
                elif self.v_reset_arr is None:
                    self.v[r] = self.v_reset
                else:
                    self.v[r] = self.v_reset_arr[r]
        if self.clamp is not None:       # refractory neurons cannot spike
            idx = self.threshold(s, c, self.mask, self.r_idx)
        else:
            idx = self.threshold(s, c, self.mask)
        if idx.size:
            self.reset(s, c, idx)
            if self.n_ref is not None:
                if self.scalar_ref:
                    batches.append((n + self.n_ref, idx))
                    self.r_idx = np.concatenate((self.r_idx, idx)) if self.r_idx.size else idx
                else:                       # per-neuron periods: one batch per end step
                    ends = n + self.n_ref[idx]
                    for e in np.unique(ends):
                        batches.append((int(e), idx[ends == e]))
                    self.batches = deque(sorted(batches, key=lambda b: b[0]))
                    self._rebuild()
        self.last = idx
        return idx

    def _rebuild(self) -> None:
        b = self.batches
        self.r_idx = (_EMPTY if not b else b[0][1] if len(b) == 1
                      else np.concatenate([x[1] for x in b]))


class _PoissonGroup:
    """Spikes where ``u < p``, i.e. ``raw < ceil(p * 2^24) << 40`` on the raw Philox draws."""

    def __init__(self, g):
        from .layout import uniform_thresholds
        self.g, self.start, self.size = g, g.start, g.size
        self.thr, self.o = uniform_thresholds(g.consts["p"]), g.rng_offset
        self.last = _EMPTY
        self.table = None               # (steps, p) once rates are set (engine.stimulus)
        self.next = NEVER               # the step where the table's next row starts

    def set_table(self, steps, p) -> None:
        self.table, self.next = (steps, p), -NEVER

    def _select(self, n: int) -> None:
        steps, p = self.table
        k = int(np.searchsorted(steps, n, "right")) - 1
        from .layout import uniform_thresholds
        self.thr = uniform_thresholds(p[k])
        self.next = int(steps[k + 1]) if k + 1 < steps.size else NEVER

    def step(self, n, raw):
        if n >= self.next:
            self._select(n)
        self.last = (raw[self.o:self.o + self.size] < self.thr).nonzero()[0]
        return self.last


class _SpikeSourceGroup:
    def __init__(self, g):
        self.g, self.start, self.size = g, g.start, g.size
        self.steps, self.idx = g.consts["schedule"]
        self.last = _EMPTY

    def set_schedule(self, steps, idx) -> None:
        self.steps, self.idx = steps, idx

    def step(self, n, u):
        lo = np.searchsorted(self.steps, n, "left")
        hi = np.searchsorted(self.steps, n, "right")
        self.last = self.idx[lo:hi]
        return self.last


class _Recorder:
    """Monitor bindings: per-step appends to Python lists, flushed to monitors in chunks."""

    def __init__(self, engine):
        self.engine = engine
        self.spikes, self.states, self.rates = [], [], []

    def add(self, mon, n_now: int):
        from ..monitors import RateMonitor, SpikeMonitor, StateMonitor
        g, off = self.engine.L.pop_group[mon.population.index]
        rt = self.engine.rt[g.index]
        lo, hi = off, off + mon.population.size
        whole = lo == 0 and hi == g.size
        if isinstance(mon, SpikeMonitor):
            keep = None
            if mon.neurons is not None:
                keep = np.zeros(mon.population.size, bool)
                keep[mon.neurons] = True
            self.spikes.append([mon, rt, lo, hi, whole, keep, [], [], np.array([lo, hi])])
        elif isinstance(mon, StateMonitor):
            cols = np.arange(lo, hi) if mon.neurons is None else lo + mon.neurons
            self.states.append([mon, rt, mon.variable, cols, n_now, [], []])
        elif isinstance(mon, RateMonitor):
            self.rates.append([mon, rt, lo, hi, whole, [], np.array([lo, hi])])

    def record(self, n: int) -> None:
        for b in self.spikes:
            idx = b[1].last
            if idx.size:
                if not b[4]:                        # spike lists are sorted: cut by bisection
                    lo, hi = idx.searchsorted(b[8])
                    idx = idx[lo:hi] - b[2] if b[2] else idx[lo:hi]
                if b[5] is not None and idx.size:
                    idx = idx[b[5][idx]]
                if idx.size:
                    b[6].append(n)
                    b[7].append(idx)
        for b in self.states:
            if (n - b[4] + 1) % b[0].every == 0:
                b[5].append(n)
                b[6].append(b[1].s[b[2]][b[3]])
        for b in self.rates:
            idx = b[1].last
            if b[4] or not idx.size:
                b[5].append(idx.size)
            else:
                lo, hi = idx.searchsorted(b[6])
                b[5].append(int(hi - lo))

    def discard(self) -> None:
        for b in self.spikes:
            b[6], b[7] = [], []
        for b in self.states:
            b[5], b[6] = [], []
        for b in self.rates:
            b[5] = []

    def flush(self) -> None:
        for b in self.spikes:
            if b[6]:
                lens = [a.size for a in b[7]]
                b[0]._append(np.repeat(np.asarray(b[6], np.int64), lens), np.concatenate(b[7]))
                b[6], b[7] = [], []
        for b in self.states:
            if b[5]:
                b[0]._append(np.asarray(b[5], np.int64), np.stack(b[6]))
                b[5], b[6] = [], []
        for b in self.rates:
            if b[5]:
                b[0]._append(np.asarray(b[5], np.int64))
                b[5] = []


class NumpyEngine(ProjectionAccess):
    """Runs a :class:`~neurosim.engine.layout.Layout` with NumPy arrays on the CPU."""

    name = "numpy"

    def __init__(self, net, layout):
        self.net, self.L = net, layout
        self.rt = []
        for g in layout.groups:
            if g.model_cls is PoissonSource:
                self.rt.append(_PoissonGroup(g))
            elif g.model_cls is SpikeSource:
                self.rt.append(_SpikeSourceGroup(g))
            else:
                self.rt.append(_NeuronGroup(g, layout.dtype))
        self.neurons = [r for r in self.rt if isinstance(r, _NeuronGroup)]
        self.sources = [r for r in self.rt if not isinstance(r, _NeuronGroup)]
        D = layout.ring_slots
        self.ring = np.zeros((D, layout.ring_width), layout.dtype) if D else None
        self.bitgen = np.random.Philox(key=layout.philox_key)
        # Plastic projections: each rule builds a runtime with step(n, spikes, D), n_synapses,
        # array(kind) and set_weights(values); step() delivers the step's spikes into
        # self.ring[(n + delay) % D] (arrival at t_{n+1} + delay, read in step n + delay) and
        # learns (see neurosim.plasticity).
        self.plastic = [proj.plasticity.build_numpy(self, proj)
                        for proj in net.projections if proj.plasticity is not None]
        # Homeostasis of populations runs in the same stage, after the projections' rules
        # (runtimes with step(n, spikes, D) and proj = None).
        self.plastic += [rule.build_numpy(self, pop) for pop, rule in net.homeostasis]
        self.recorder = _Recorder(self)
        for mon in net.monitors:
            self.recorder.add(mon, mon.start_step)
        self._event_ptr = 0
        self._chunk = 100
        self._rollback = {}              # the last rollback copy (its buffers are reused)
        self.stim = Stimulus(self)
        self._drive_next = NEVER         # the step of the next change of a drive's rate

    # -- the loop ------------------------------------------------------------------------------
    def run(self, steps: int, progress=None, guard=None) -> None:
        """Advance ``steps`` steps in chunks; each chunk commits (time, monitors) only once all
        its steps are done. An exception inside a chunk rolls the engine back to the chunk's
        first step (:mod:`neurosim.engine.interrupts`); a non-finite state commits the steps up
        to the one that produced it. ``guard.pending`` (a deferred Ctrl-C) stops the run at the
        next chunk boundary."""
        from .interrupts import chunk_transaction
        n = self.net._steps_done
        n_end = n + steps
        bar = Progress(progress, n * self.L.dt, n_end * self.L.dt) if progress else None
        try:
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # reported below
                while n < n_end and not (guard is not None and guard.pending):
                    stop = min(n_end, n + self._chunk)
                    wall, cpu = time.perf_counter(), time.thread_time()
                    with chunk_transaction(self) as tx:
                        snap = time.thread_time() - cpu         # the rollback copy's cost
                        try:
                            self._steps(n, stop)
                        except _Stop as halt:
                            tx.commit(halt.step + 1)
                            raise halt.error from None
                        tx.commit(stop)
                    # chunks of about a quarter of a second, longer where the rollback copy
                    # (plastic state: O(synapses)) would cost more than ~2% of their CPU time
                    # (CPU, not wall: on a loaded machine a chunk's wall time is mostly waiting)
                    wall = time.perf_counter() - wall
                    cpu = time.thread_time() - cpu
                    self._chunk = chunk_steps(stop - n, wall,
                                              max(0.25, 50.0 * snap * wall / max(cpu, 1e-6)))
                    n = stop
                    if bar is not None:
                        bar.update(n * self.L.dt)
        finally:
            if bar is not None:
                bar.close()

    def commit(self, n: int) -> None:
        """Hand the recordings up to step ``n`` to the monitors and set the network's time."""
        self.recorder.flush()
        self.net._steps_done = n
        self._step_now = None

    def discard(self) -> None:
        """Drop recordings not yet handed to the monitors (a rolled-back chunk's)."""
        self.recorder.discard()
        self._step_now = None

    def seek(self, n: int) -> None:
        """Set what follows from the step count: the Philox position and injected currents."""
        self.bitgen = philox_at(self.L.philox_key, n * self.L.rng_width)
        for r in self.neurons:
            if r.i_ext is not None:
                r.i_ext[:] = 0.0
        self._event_ptr = 0
        if n > 0:
            self._apply_currents(n - 1)
        for pi in self.stim.offsets:
            self.stim_current(self.net.populations[pi], n)
        for r in self.sources:
            if isinstance(r, _PoissonGroup) and r.table is not None:
                r.next = -NEVER
        self._drive_next = -NEVER if self.L.drives else NEVER

    # -- stimulus (engine.stimulus) ----------------------------------------------------------
    def stim_rates(self, g, steps, p) -> None:
        self.rt[g.index].set_table(steps, p)

    def stim_schedule(self, g, steps, idx) -> None:
        self.rt[g.index].set_schedule(steps, idx)

    def stim_drives_changed(self) -> None:
        self._drive_next = -NEVER

    def stim_current(self, pop, n: int | None = None) -> None:
        """Injected plus added current of ``pop`` as in force before step ``n`` (default:
        the next step to run; the events of step ``n`` itself are applied when it runs)."""
        n = self.net._steps_done if n is None else n
        g, off = self.L.pop_group[pop.index]
        r = self.rt[g.index]
        if r.i_ext is None:
            r.i_ext = np.zeros(g.size, np.float32)
            g.has_current = True
        r.i_ext[off:off + pop.size] = (current_amplitude(self.L, pop, n - 1)
                                       + self.stim.offset(pop.index))

    def snapshot(self, static_weights: bool = False) -> dict:
        """A rollback copy of the dynamic state (see :mod:`neurosim.engine.interrupts`),
        written into the buffers of the previous one (one copy at a time is ever needed: a
        chunk's copy is dropped when it commits or has been restored)."""
        self._rollback = export_engine(self, static_weights,
                                       rollback=getattr(self, "_rollback", {}))
        return self._rollback

    def restore(self, snapshot: dict) -> None:
        self.import_state(snapshot, "rollback")

    def export_state(self, static_weights: bool = False) -> dict:
        """The dynamic state as arrays (:mod:`neurosim.engine.state`)."""
        return export_engine(self, static_weights)

    def import_state(self, state: dict, where: str) -> None:
        import_engine(self, state, where)

    def _steps(self, n0: int, n1: int) -> int:
        L, ring = self.L, self.ring
        D = ring.shape[0] if ring is not None else 0
        neurons, sources, drives = self.neurons, self.sources, L.drives
        classes, W = L.classes, L.rng_width
        record, events = self.recorder.record, L.current_events
        plastic = self.plastic
        for n in range(n0, n1):
            self._step_now = n                  # engine.step_now; cleared by commit/discard
            if self._event_ptr < len(events) and events[self._event_ptr][0] <= n:
                self._apply_currents(n)
            if n >= self._drive_next:
                self._drive_next = self.stim.apply_drives(n)[1]
            row = ring[n % D] if D else None
            raw = self.bitgen.random_raw(W) if W else None
            for d in drives:
                seg = row[d.col:d.col + d.n]
                seg += _poisson_counts(d, raw[d.rng_offset:d.rng_offset + d.n], L.dtype) * d.weight
            spikes = []
            for r in neurons:
                idx = r.step(n, row)
                if idx.size:
                    spikes.append(idx + r.start if r.start else idx)
            for r in sources:
                idx = r.step(n, raw)
                if idx.size:
                    spikes.append(idx + r.start if r.start else idx)
            if D:
                row.fill(0.0)
            if spikes:
                S = spikes[0] if len(spikes) == 1 else np.concatenate(spikes)
                for c in classes:
                    self._propagate(c, S, n, D)
            else:
                S = _EMPTY
            for p in plastic:
                p.step(n, S, D)
            record(n)
            self._check_finite(n)
        return n1

    def _propagate(self, c, S, n, D):
        """Deliver the spikes ``S`` of step ``n`` through synapse class ``c`` into the ring."""
        cols, w, d = _gather_rows(c, S)
        if not cols.size:
            return
        if c.delay is not None:
            np.add.at(self.ring[(n + c.delay) % D], cols, w)
        else:
            slot = (n + d.astype(np.int64)) % D
            slot *= self.ring.shape[1]
            slot += cols
            np.add.at(self.ring.reshape(-1), slot, w)

    def _apply_currents(self, n: int) -> None:
        events = self.L.current_events
        while self._event_ptr < len(events) and events[self._event_ptr][0] <= n:
            _, gi, lo, hi, pi = events[self._event_ptr]
            pop = self.net.populations[pi]
            self.rt[gi].i_ext[lo:hi] = (current_amplitude(self.L, pop, n)
                                        + self.stim.offset(pi))
            self._event_ptr += 1

    def _check_finite(self, n: int) -> None:
        """After step ``n``: every state variable of every group, the exact step (as the CUDA
        kernels flag it): the first bad neuron, then its first bad variable."""
        for r in self.neurons:
            if not r.finite():
                raise _Stop(n, _non_finite(self.L, r, n))

    # -- access --------------------------------------------------------------------------------
    def add_monitor(self, mon) -> None:
        self.recorder.add(mon, self.net._steps_done)

    def get_state(self, pop, var):
        g, off = self.L.pop_group[pop.index]
        return self.rt[g.index].s[var][off:off + pop.size].copy()

    def set_state(self, pop, var, values):
        g, off = self.L.pop_group[pop.index]
        self.rt[g.index].s[var][off:off + pop.size] = values

    def set_weights(self, proj, values):
        if proj in self.L.proj_class:
            from .layout import member_positions
            ci, _ = self.L.proj_class[proj]
            self.L.classes[ci].weights[member_positions(self.L, proj)] = values
        else:
            self._plastic_for(proj).set_weights(values)

    def _class_arrays(self, ci):
        c = self.L.classes[ci]
        return c.cols, c.weights, c.delays


def _contiguous_state(state: dict, dtype=np.float32) -> np.ndarray:
    """Move a group's state arrays into one block (the dict then holds row views of it), so
    that one BLAS call checks them all; the flat view of the block is returned."""
    if not state:
        return np.zeros(0, dtype)
    block = np.stack([np.asarray(a, dtype) for a in state.values()])
    for k, name in enumerate(list(state)):
        state[name] = block[k]
    return block.reshape(-1)


def _non_finite(layout, r, n: int):
    """The SimulationError of group runtime ``r`` in step ``n``: the smallest (neuron, variable
    position) with a non-finite value, the order in which the CUDA kernels report it."""
    best = None
    for k, (var, arr) in enumerate(r.s.items()):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size and (best is None or (int(bad[0]), k) < best[:2]):
            best = (int(bad[0]), k, var, arr)
    return non_finite_error(layout, r.g, best[3], best[2], n, n - 1)


def _poisson_counts(d, raw, dtype=np.float32) -> np.ndarray:
    """Poisson counts (as ``dtype``) of drive ``d`` from raw draws: table lookup, exact
    fix-ups. The draws compare with the float32 CDF table in either precision (24-bit
    uniforms: the counts' distribution is exact to about 6e-8 in probability)."""
    k = d.tab[raw >> np.uint64(48)]
    amb = (k < 0).nonzero()[0]
    if amb.size:
        k[amb] = np.searchsorted(d.thr, raw[amb], "right")
    return k.astype(dtype)


def _gather_rows(c, S):
    """(cols, weights, delays or None) of the CSR rows of the spiking sources ``S``.

    Few spikes with long rows: slices of the rows, concatenated (a memcpy per row); many
    spikes: one vectorised gather over the concatenated row ranges.
    """
    ip = c.indptr
    if S.size <= 256:
        starts, ends = ip[S].tolist(), ip[S + 1].tolist()
        spans = [(a, b) for a, b in zip(starts, ends) if b > a]
        if not spans:
            return _EMPTY, None, None
        if len(spans) == 1:
            (a, b), = spans
            return c.cols[a:b], c.weights[a:b], None if c.delays is None else c.delays[a:b]
        cols = np.concatenate([c.cols[a:b] for a, b in spans])
        w = np.concatenate([c.weights[a:b] for a, b in spans])
        d = None if c.delays is None else np.concatenate([c.delays[a:b] for a, b in spans])
        return cols, w, d
    starts = ip[S].astype(np.int64)
    syn = _ranges(starts, ip[S + 1].astype(np.int64) - starts)
    return c.cols[syn], c.weights[syn], None if c.delays is None else c.delays[syn]


class _Stop(Exception):
    def __init__(self, step, error):
        super().__init__(str(error))
        self.step, self.error = step, error
