"""The NumPy engine on one MPI rank: its share of the network, spikes exchanged every
``d_min`` steps (see :mod:`neurosim.distributed`).

A step is the single-process engine's (:mod:`neurosim.engine.numpy_engine`) for the rank's
neurons, except that the spikes are not delivered at once: the steps of an interval
``[n0, n0 + m)`` (``m <= d_min``) run, their spikes (global ids) go into one exchange, and then
every step's spikes of every rank are delivered in step order (step ``n`` into ring slot
``(n + delay) % D`` as always) and recorded. A spike of step ``n`` is first read at step
``n + d_min >= n0 + m``, after the exchange: the result is the single-process loop's.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from ..engine.common import Progress, chunk_steps
from ..engine.layout import current_amplitude
from ..engine.numpy_engine import (NumpyEngine, _NeuronGroup, _PoissonGroup, _poisson_counts,
                                   _SpikeSourceGroup, _EMPTY)
from ..errors import SimulationError
from ..models.sources import PoissonSource, SpikeSource
from .exchange import Exchanger, agree, exchange_mode
from .plastic import finish, intervals, local_arrays, post_part, pre_part, send

log = logging.getLogger(__name__)


class _Failed(Exception):
    """A local failure inside an interval: stop stepping, flag it at the exchange."""

    def __init__(self, error):
        super().__init__(str(error))
        self.error = error


class DistributedNumpyEngine(NumpyEngine):
    """One rank's NumPy engine (a :class:`~neurosim.distributed.partition.LocalLayout`)."""

    name = "numpy"

    def __init__(self, net, layout, comm):
        self.net, self.L, self.comm = net, layout, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.rt = []
        for g in layout.groups:
            if g.model_cls is PoissonSource:
                self.rt.append(_PoissonGroup(g))
            elif g.model_cls is SpikeSource:
                self.rt.append(_SpikeSourceGroup(g))
            else:
                self.rt.append(_NeuronGroup(g))
        for r, gid in zip(self.rt, layout.gids):
            r.gid = gid
        self.neurons = [r for r in self.rt if isinstance(r, _NeuronGroup)]
        self.sources = [r for r in self.rt if not isinstance(r, _NeuronGroup)]
        D = layout.ring_slots
        self.ring = np.zeros((D, layout.ring_width), np.float32) if D else None
        from .plastic import build_runtimes
        self.plastic = build_runtimes(self)
        self.exchanger = Exchanger(comm, layout.n_global, exchange_mode())
        self.recorder = _Recorder(self)
        for mon in net.monitors:
            self.recorder.add(mon, mon.start_step)
        self._event_ptr = 0
        self._chunk = 10 * layout.d_min
        self._bitgens = None
        self.broken = None
        self.compute_seconds = 0.0

    # -- public figures -------------------------------------------------------------------------
    @property
    def timings(self) -> dict:
        """Wall seconds of this rank: ``compute`` (stepping, delivery, recording) and
        ``communication`` (the exchanges' collectives, waiting for the slowest rank
        included), the number of ``exchanges``, ``interval_steps`` (d_min), the ``exchange``
        collective and the bytes this rank received."""
        x = self.exchanger
        return {"ranks": self.size, "rank": self.rank, "exchange": x.mode,
                "interval_steps": self.L.d_min, "compute": self.compute_seconds, "communication": x.comm_seconds,
                "exchanges": x.exchanges, "bytes_received": x.bytes_received}

    # -- the loop -------------------------------------------------------------------------------
    def run(self, steps: int, progress=None, guard=None) -> None:
        """Advance ``steps`` steps in chunks of whole exchange intervals; every rank takes the
        same chunks (agreed at each chunk's end, with a pending Ctrl-C)."""
        if self.broken is not None:
            raise RuntimeError(f"this distributed network stopped at an error ({self.broken}); "
                               f"build it again to run")
        n = self.net._steps_done
        n_end = n + steps
        if self.exchanger.mode == "alltoallv":
            self.exchanger.announce(self._wanted())
        bar = (Progress(progress, n * self.L.dt, n_end * self.L.dt)
               if progress and self.rank == 0 else None)
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                while n < n_end:
                    stop = min(n_end, n + self._chunk)
                    wall = time.perf_counter()
                    comm0 = self.exchanger.comm_seconds
                    try:
                        failure = self._chunk_steps(n, stop)
                        elapsed = time.perf_counter() - wall
                        pending = bool(guard is not None and guard.pending)
                        if self.size > 1:
                            t_vote = time.perf_counter()
                            votes = self.comm.allgather((pending, elapsed, failure is not None))
                            self.exchanger.comm_seconds += time.perf_counter() - t_vote
                            pending = any(v[0] for v in votes)
                            elapsed = max(v[1] for v in votes)
                            if any(v[2] for v in votes):
                                agree(self.comm, failure)
                        elif failure is not None:
                            agree(self.comm, failure)
                        self.recorder.flush()
                    except BaseException as exc:
                        self.broken = f"{type(exc).__name__}: {exc}"
                        self.recorder.discard()
                        raise
                    n = stop
                    self.net._steps_done = n
                    comm = self.exchanger.comm_seconds - comm0
                    self.compute_seconds += time.perf_counter() - wall - comm
                    m = self.L.d_min
                    self._chunk = max(m, chunk_steps(self._chunk, elapsed) // m * m)
                    if bar is not None:
                        bar.update(n * self.L.dt)
                    if pending:
                        if guard is not None:
                            guard.pending = True
                        break
        finally:
            if bar is not None:
                bar.close()

    def _wanted(self) -> np.ndarray:
        """The global ids whose spikes this rank needs: sources of its synapses (static and
        plastic) and the neurons its spike and rate monitors record."""
        L = self.L
        want = np.zeros(L.n_global, bool)
        for c in L.classes:
            want |= np.diff(c.indptr) > 0
        for p in self.plastic:
            if p.proj is not None:          # homeostasis needs the rank's own spikes only
                want[p.pre_lo + np.unique(p.pre)] = True
        for b in self.recorder.spikes + self.recorder.rates:
            want[b[1][0]:b[1][1]] = True
        return want

    def _chunk_steps(self, n0: int, n1: int):
        """The intervals of steps ``[n0, n1)``; returns a failure of this rank in the last
        interval's delivery (reported at the chunk's end), raises one reported by an exchange
        (on every rank, :func:`~neurosim.distributed.exchange.agree`)."""
        D = self.ring.shape[0] if self.ring is not None else 0
        failure = None
        try:
            for a, b in intervals(self, n0, n1):
                if failure is None:
                    per_step, failure = self._interval(a, b)
                else:                           # a delivery failed: flag it at this exchange
                    per_step = [_EMPTY] * (b - a)
                spikes = self.exchanger.exchange(per_step, failure is not None)
                if spikes is None:
                    agree(self.comm, failure)
                    raise RuntimeError("internal error: a rank flagged a failure but sent none")
                try:
                    self._deliver(a, spikes)
                    self._step_now = b - 1
                    for p in self.plastic:
                        finish(p, b - 1, self.ring, D)
                except Exception as exc:
                    failure = exc
        finally:
            self._step_now = None           # engine.step_now: the last step done again
        return failure

    def _deliver(self, a: int, spikes: list) -> None:
        """Every rank's spikes of steps ``a, a + 1, ...`` (``spikes[k]``: sorted global ids)
        into the ring, the monitors and the plastic runtimes' presynaptic side."""
        D = self.ring.shape[0] if self.ring is not None else 0
        for k, S in enumerate(spikes):
            n = a + k
            if S.size and D:
                for c in self.L.classes:
                    self._propagate(c, S, n, D)
            self.recorder.record_spikes(n, S)
            for p in self.plastic:
                pre_part(p, n, S)

    def _interval(self, a: int, b: int):
        """Steps ``[a, b)`` of the rank's neurons: per step the sorted global ids of its
        spikes, and the exception that stopped it (None if all went well)."""
        per_step = []
        try:
            for n in range(a, b):
                per_step.append(self._step(n, n == b - 1))
        except Exception as exc:
            return per_step + [_EMPTY] * (b - a - len(per_step)), exc
        return per_step, None

    def _step(self, n: int, last: bool) -> np.ndarray:
        L, ring = self.L, self.ring
        D = ring.shape[0] if ring is not None else 0
        if self._event_ptr < len(L.current_events) and L.current_events[self._event_ptr][0] <= n:
            self._apply_currents(n)
        row = ring[n % D] if D else None
        raw = self._raw(n) if L.rng_width else None
        for d in L.drives:
            seg = row[d.col:d.col + d.n]
            seg += _poisson_counts(d, raw[d.rng_offset:d.rng_offset + d.n]) * d.weight
        spikes = []
        for r in self.neurons:
            idx = r.step(n, row)
            if idx.size:
                spikes.append(r.gid[idx])
        for r in self.sources:
            idx = r.step(n, raw)
            if idx.size:
                spikes.append(r.gid[idx])
        if D:
            row.fill(0.0)
        mine = (_EMPTY if not spikes else spikes[0] if len(spikes) == 1
                else np.sort(np.concatenate(spikes)))
        for p in self.plastic:
            post_part(p, n, mine)
            if not last:            # the interval's last step sends after the exchange
                send(p, n, ring, D)
        self.recorder.record_states(n)
        self._check_finite(n)
        return mine

    def _raw(self, n: int) -> np.ndarray:
        """This rank's Philox draws of step ``n``: its stretches of the whole network's
        positions ``n * W + offset``, each kept in a bit generator moved forward per step."""
        L = self.L
        if self._bitgens is None:
            self._bitgens = [None] * len(L.rng_segments)
            self._cursor = [0] * len(L.rng_segments)
            self._rawbuf = np.empty(L.rng_width, np.uint64)
        out = self._rawbuf
        for i, (loc, glob, length) in enumerate(L.rng_segments):
            p = n * L.rng_width_global + glob
            block, lane = divmod(p, 4)
            bg = self._bitgens[i]
            if bg is None or block < self._cursor[i]:
                bg = self._bitgens[i] = np.random.Philox(
                    key=np.asarray(L.philox_key, np.uint64),
                    counter=np.array([block, 0, 0, 0], np.uint64))
            else:
                bg.advance(block - self._cursor[i])      # also drops buffered values
            out[loc:loc + length] = bg.random_raw(lane + length)[lane:]
            self._cursor[i] = block + -(-(lane + length) // 4)
        return out

    def seek(self, n: int) -> None:
        self._bitgens = None
        for r in self.neurons:
            if r.i_ext is not None:
                r.i_ext[:] = 0.0
        self._event_ptr = 0
        if n > 0:
            self._apply_currents(n - 1)

    def _apply_currents(self, n: int) -> None:
        events = self.L.current_events
        while self._event_ptr < len(events) and events[self._event_ptr][0] <= n:
            _, gi, lo, hi, pi = events[self._event_ptr]
            pop = self.net.populations[pi]
            amp = current_amplitude(self.L, pop, n)
            if np.ndim(amp):
                a, b = self.L.blocks[pi]
                amp = np.asarray(amp)[a:b]
            self.rt[gi].i_ext[lo:hi] = amp
            self._event_ptr += 1

    def _check_finite(self, n: int) -> None:
        for r in self.neurons:
            if not r.finite():
                raise _non_finite(self.L, r, n)

    # -- access (collective where the whole population is returned) ------------------------
    def add_monitor(self, mon) -> None:
        self.recorder.add(mon, self.net._steps_done)

    def _gather(self, local: np.ndarray) -> np.ndarray:
        if self.size == 1:
            return local
        return np.concatenate(self.comm.allgather(local))

    def get_state(self, pop, var):
        g, off = self.L.pop_group[pop.index]
        a, b = self.L.blocks[pop.index]
        return self._gather(self.rt[g.index].s[var][off:off + b - a].copy())

    def set_state(self, pop, var, values):
        g, off = self.L.pop_group[pop.index]
        a, b = self.L.blocks[pop.index]
        self.rt[g.index].s[var][off:off + b - a] = values[a:b]

    def set_weights(self, proj, values):
        raise NotImplementedError(f"Projection.weights of {proj.name!r}: setting the weights "
                                  f"of a network distributed over MPI ranks is not supported "
                                  f"yet; set them on one process (distributed=False)")

    def projection_size(self, proj) -> int:
        return len(self.projection_array(proj, "sources"))

    def projection_array(self, proj, kind):
        """The whole projection on every rank (collective), ordered by source, then target,
        multapses in their drawn order."""
        if kind not in ("sources", "targets", "weights", "delays"):
            raise ValueError(f"unknown projection array {kind!r}")
        pre, post, w, d = self._local_projection(proj)
        if self.size > 1:
            parts = self.comm.allgather((pre, post, w if kind == "weights" else None,
                                         d if kind == "delays" else None))
            pre = np.concatenate([p[0] for p in parts])
            post = np.concatenate([p[1] for p in parts])
            w = np.concatenate([p[2] for p in parts]) if kind == "weights" else None
            d = np.concatenate([p[3] for p in parts]) if kind == "delays" else None
        order = np.lexsort((post, pre))
        out = {"sources": pre, "targets": post, "weights": w, "delays": d}[kind]
        return out[order]

    def population_share(self, pop):
        """(first global id, number of neurons, (a, b)) of this rank's block ``[a, b)`` of
        ``pop``: the neurons a homeostasis runtime runs for here."""
        a, b = self.L.blocks[pop.index]
        return self.L.global_starts[pop.index] + a, b - a, (a, b)

    def static_members(self, proj):
        """(positions in its synapse class, sources, targets relative to this rank's block)
        of the synapses of static ``proj`` held here, in source order (what synaptic scaling
        scales)."""
        ci, m = self.L.proj_class[proj]
        c = self.L.classes[ci]
        start = self.L.global_starts[proj.pre.index]
        rows = np.arange(start, start + proj.pre.size)
        before = np.zeros(proj.pre.size, np.int64)
        for p2, counts in c.members[:m]:
            if p2.pre is proj.pre:
                before += counts
        counts = c.members[m][1].astype(np.int64)
        from ..engine.layout import _ranges
        pos = _ranges(c.indptr[rows].astype(np.int64) + before, counts)
        pre = np.repeat(np.arange(proj.pre.size, dtype=np.int32), counts)
        g, off = self.L.pop_group[proj.post.index]
        ch = g.model_cls.layout(g.options)[1][proj.receptor]
        post = c.cols[pos].astype(np.int64) - (g.col_offset + ch * g.size + off)
        return pos, pre, post

    def plastic_synapses(self, proj):
        """The synapses of plastic ``proj`` onto this rank's neurons (targets relative to its
        block), drawn as static ones are (:func:`~neurosim.distributed.partition.draw_block`):
        the plastic runtimes call it."""
        from .partition import draw_block
        a, b = self.L.blocks[proj.post.index]
        pre, post, w, steps = draw_block(self.net, proj, a, b, True)
        return pre, post - a, w, np.asarray(steps, np.int64)

    def _local_projection(self, proj):
        for p in self.plastic:
            if p.proj is proj:
                return local_arrays(p)
        c = self.L.classes[self.L.proj_class[proj][0]]
        pos, pre, post = self.static_members(proj)
        post = post + self.L.blocks[proj.post.index][0]
        delays = (np.full(pos.size, c.delay * self.L.dt) if c.delay is not None
                  else c.delays[pos].astype(np.float64) * self.L.dt)
        return pre, post.astype(np.int32), c.weights[pos].copy(), delays


def _non_finite(L, r, n: int) -> SimulationError:
    """The error for the first non-finite value of group runtime ``r`` in step ``n``, naming
    the neuron by its index in its population (not in this rank's share)."""
    best = None
    for k, (var, arr) in enumerate(r.s.items()):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size and (best is None or (int(bad[0]), k) < best[:2]):
            best = (int(bad[0]), k, var, arr)
    local, _, var, arr = best
    g = r.g
    pop = next(p for p in g.pops
               if g.offsets[p.index] <= local < g.offsets[p.index] + np.diff(L.blocks[p.index])[0])
    neuron = L.blocks[pop.index][0] + local - g.offsets[pop.index]
    t, t_ok = round((n + 1) * L.dt, 9), round(n * L.dt, 9)
    msg = (f"population {pop.name!r}: state {var!r} became non-finite ({arr[local]}) for neuron "
           f"{neuron}, between t = {t_ok} ms and t = {t} ms; the simulation stopped at "
           f"t = {t} ms (a network distributed over MPI ranks cannot continue after it)")
    return SimulationError(msg, population=pop.name, variable=var, t_ms=t)


class _Recorder:
    """Monitors of a distributed network: spikes and rates from the exchanged spikes (the whole
    network's, on every rank); state samples of the rank's neurons, gathered to every rank at
    each chunk's end (:meth:`flush`, collective)."""

    def __init__(self, engine):
        self.engine = engine
        self.spikes, self.states, self.rates = [], [], []

    def add(self, mon, n_now: int):
        from ..monitors import RateMonitor, SpikeMonitor, StateMonitor
        L = self.engine.L
        pop = mon.population
        lo = L.global_starts[pop.index]
        bounds = np.array([lo, lo + pop.size])
        if isinstance(mon, SpikeMonitor):
            keep = None
            if mon.neurons is not None:
                keep = np.zeros(pop.size, bool)
                keep[mon.neurons] = True
            self.spikes.append([mon, bounds, keep, [], []])
        elif isinstance(mon, StateMonitor):
            g, off = L.pop_group[pop.index]
            a, b = L.blocks[pop.index]
            wanted = np.arange(pop.size) if mon.neurons is None else mon.neurons
            mine = np.flatnonzero((wanted >= a) & (wanted < b))     # monitor columns here
            cols = off + wanted[mine] - a
            self.states.append([mon, self.engine.rt[g.index], mon.variable, cols, n_now, [], [],
                                mine])
        elif isinstance(mon, RateMonitor):
            self.rates.append([mon, bounds, []])

    def record_spikes(self, n: int, S: np.ndarray) -> None:
        for b in self.spikes:
            lo, hi = S.searchsorted(b[1])
            if hi > lo:
                idx = S[lo:hi] - b[1][0]
                if b[2] is not None:
                    idx = idx[b[2][idx]]
                if idx.size:
                    b[3].append(n)
                    b[4].append(idx)
        for b in self.rates:
            lo, hi = S.searchsorted(b[1])
            b[2].append(int(hi - lo))

    def record_states(self, n: int) -> None:
        for b in self.states:
            if (n - b[4] + 1) % b[0].every == 0:
                b[5].append(n)
                b[6].append(b[1].s[b[2]][b[3]])

    def discard(self) -> None:
        for b in self.spikes:
            b[3], b[4] = [], []
        for b in self.states:
            b[5], b[6] = [], []
        for b in self.rates:
            b[2] = []

    def flush(self) -> None:
        for b in self.spikes:
            if b[3]:
                lens = [a.size for a in b[4]]
                b[0]._append(np.repeat(np.asarray(b[3], np.int64), lens), np.concatenate(b[4]))
                b[3], b[4] = [], []
        for b in self.rates:
            if b[2]:
                b[0]._append(np.asarray(b[2], np.int64))
                b[2] = []
        eng = self.engine
        for b in self.states:
            steps = np.asarray(b[5], np.int64)
            vals = (np.stack(b[6]) if b[6]
                    else np.zeros((0, b[3].size), np.float32))
            b[5], b[6] = [], []
            if eng.size > 1:
                parts = eng.comm.allgather((b[7], vals))
                n_cols = b[0].n_recorded
                full = np.empty((steps.size, n_cols), np.float32)
                for cols, v in parts:
                    full[:, cols] = v
                vals = full
            if steps.size:
                b[0]._append(steps, vals)
