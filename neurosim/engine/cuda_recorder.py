"""The CUDA engine's recorder: monitors' device buffers for a chunk and their transfer."""

from __future__ import annotations

import numpy as np

from . import cuda_tuning as T
from .cuda_device import grid_for

I32, U32, I64 = np.int32, np.uint32, np.int64


def _ascending_within_steps(steps: np.ndarray, idx: np.ndarray, n0: int):
    """The spikes (non-decreasing ``steps``, ids ``idx``) ordered by id within each step, as
    NumPy records them: unchanged where they already are (one CPU thread emits them in order),
    else sorted by the key ``(step - n0) * span + id`` (one integer sort, much faster than a
    lexsort of the two columns). The sort is the stable one (timsort), which takes the runs
    already in order (the spikes of one chunk of neurons, one thread's chunks one after the
    other) as they are: 8.6 ns a spike against 62 for the default sort on 1.3 million spikes
    of two threads. A step keeps its number of spikes, so ``steps`` stays as it is and the ids
    are the key less ``(step - n0) * span``: no division."""
    if idx.size < 2:
        return steps, idx
    same = steps[1:] == steps[:-1]
    if not (same & (idx[1:] < idx[:-1])).any():
        return steps, idx
    span = int(idx.max()) + 1
    base = (steps - n0) * span
    key = base + idx
    key.sort(kind="stable")
    key -= base
    return steps, key


class Recorder:
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
        self.last_total = 0
        self._whole = False
        self.send_all = False       # record every neuron's spikes for take_spikes()
        self.sent = []              # (steps, local ids) of the chunks since the last take

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
        if self.send_all:
            mask[:] = 1
        for _, lo, hi, keep in self.spikes:
            mask[lo:hi] |= 1 if keep is None else keep.astype(np.uint8)
        self.n_rec = int(np.count_nonzero(mask))
        # the recorded neurons are exactly one spike monitor's (all of its population's)
        self._whole = (not self.send_all and len(self.spikes) == 1
                       and self.spikes[0][3] is None)
        slots, self.rate_slot_of = {}, []
        rate_slot = np.full(n, -1, np.int32)
        for _, lo, hi in self.rates:
            if (lo, hi) not in slots:
                slots[(lo, hi)] = len(slots)
                rate_slot[lo:hi] = slots[(lo, hi)]
            self.rate_slot_of.append(slots[(lo, hi)])
        self.n_rate = len(slots)
        per_step = 8 + 4 + 4 * self.n_rate + sum(
            e.real.itemsize * len(s["idx"]) / s["every"] for s in self.states)
        q = T.GRAPH_STEPS
        K = int(np.clip(T.RECORD_BUDGET // per_step, q, max(q, T.MAX_CHUNK))) // q * q
        self.cap_max = max(T.RECORD_BUDGET // 4, self.n_rec + 1)
        d = e.dummy
        self.values = dict(rec_flags=U32(self.n_rec > 0), n_rate=I32(self.n_rate),
                           rec_mask=dev.put(mask) if self.n_rec else d[np.dtype(np.uint8)],
                           rec_total=dev.zeros(1, np.int32), rec_end=dev.zeros(K + 1, np.int32),
                           rate_slot=dev.put(rate_slot) if self.n_rate else d[np.dtype(np.int32)],
                           rate_counts=dev.zeros(max(1, self.n_rate * (K + 1)), np.int32))
        self._resize(min(self.n_rec + T.REC_START, self.cap_max) if self.n_rec else 1)
        for s in self.states:
            rows = (K + 1) // s["every"] + 1
            s["out"] = dev.zeros(rows * len(s["idx"]), e.real)
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

    def begin_chunk(self, steps: int | None = None) -> None:
        """Clear the counters of a chunk of ``steps`` steps (default: every step they hold)."""
        v = self.values
        if self.n_rec:
            v["rec_total"].fill(0)
        if self.n_rate:
            v["rate_counts"][:None if steps is None else steps * self.n_rate].fill(0)

    def end_chunk(self, n0: int, k: int) -> None:
        """Hand the first ``k`` steps of the chunk that started at ``n0`` to the monitors."""
        dev, v = self.e.dev, self.values
        self.last_total = 0
        if self.n_rec and (self.spikes or self.send_all) and k:
            ends = dev.get(v["rec_end"][:k])
            total = self.last_total = int(ends[-1])
        if self.last_total:              # (nothing to hand over from a chunk without spikes)
            counts = np.empty(k, ends.dtype)       # np.diff(ends, prepend=0), in ufuncs
            counts[0] = ends[0]
            np.subtract(ends[1:], ends[:-1], out=counts[1:])
            idx = dev.get(v["rec_idx"][:total]).astype(np.int64)
            steps = np.arange(n0, n0 + k, dtype=np.int64).repeat(counts)
            steps, idx = _ascending_within_steps(steps, idx, n0)   # ascending, as NumPy
            if self.send_all:
                self.sent.append((steps, idx))
            if self._whole:              # one monitor of every neuron recorded: no selection
                mon, lo, _, _ = self.spikes[0]
                mon._append(steps, idx - lo)
            else:
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
