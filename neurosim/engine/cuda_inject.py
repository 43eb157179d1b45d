"""Delivering spikes that a CUDA engine did not emit itself into its delay ring.

An MPI rank's engine (:mod:`neurosim.distributed`) emits the spikes of its own neurons, sends
them to the other ranks and receives every rank's spikes of an exchange interval at once; it
then delivers them, step by step, through the synapses onto its own neurons. Those synapses are
CSR rows over the *global* neuron ids (any neuron of the network may reach a rank), which the
engine's own step (its spike list of local ids) cannot use. :class:`SpikeInjector` holds them
and delivers a given list of source ids of a given step through them with the engine's own
propagation kernel (``kernels/propagate.cu``), bound to a clock, spike list and counters of its
own: the same kernel, so the same additions in the same order as a single-process engine makes
for the same spikes (spikes in list order, each spike's rows class by class, rows in order).

The engine's step and the injector never run at once: the rank runs the interval's steps (whose
propagation has no synapse classes and only ends the step), then delivers the interval's
spikes. A spike of step ``n`` goes into ring slot ``(n + d) % D`` with ``d >= d_min`` no smaller
than the interval, so no step of the interval reads it: deferred delivery is exact.
"""

from __future__ import annotations

import numpy as np

from . import cuda_tuning as T
from .cuda_device import kernel_signature
from .cuda_runtimes import ClassRuntime

I32, U64 = np.int32, np.uint64


class SpikeInjector:
    """Static synapse ``classes`` (:class:`~neurosim.engine.layout.SynapseClass`, drawn on the
    host, columns of ``engine``'s ring) on ``engine``'s device, and the delivery of spikes of
    given source rows into ``engine``'s ring."""

    def __init__(self, engine, classes):
        if any(c.generated for c in classes):
            raise ValueError("SpikeInjector: synapse classes generated on the device cannot be "
                             "injected into; draw them on the host (connectivity='host')")
        self.e = engine
        dev = engine.dev
        self.n_rows = len(classes[0].indptr) - 1 if classes else 0
        row_len = np.zeros(self.n_rows, np.int64)
        for c in classes:
            row_len += np.diff(c.indptr).astype(np.int64)
        self.row_len = row_len
        self.n_synapses = int(row_len.sum())
        with dev.context():
            self.classes = [ClassRuntime(engine, c) for c in classes]
            self.class_tab = dev.put(np.array([v for rt in self.classes for v in rt.table()]
                                              or [0], np.uint64))
            self.bad = dev.put(np.array([T.NO_BAD, T.NO_BAD], np.int64))
            self.rec_total = dev.zeros(1, np.int32)
        self._cap_steps = 0
        self._cap_spikes = 0
        self.kernel = dev.kernel("propagate.cu", "propagate")
        from .cuda_engine import propagate_grid
        self.grid = propagate_grid(dev, self.n_synapses)
        self.signature = [arg for _, arg in kernel_signature("propagate.cu", "propagate")]

    def _reserve(self, steps: int, spikes: int) -> None:
        dev = self.e.dev
        if steps > self._cap_steps:
            self._cap_steps = max(steps, 2 * self._cap_steps)
            self.clock = dev.zeros(4 * (self._cap_steps + 1), np.int64)
            self.nspk = dev.zeros(self._cap_steps, np.uint64)
            self.rec_end = dev.zeros(self._cap_steps, np.int32)
        if spikes > self._cap_spikes:
            self._cap_spikes = max(spikes, 2 * self._cap_spikes)
            self.spk = dev.zeros(self._cap_spikes, np.int32)
            self.spk_work = dev.zeros(self._cap_spikes, np.int64)

    def deliver(self, n0: int, per_step) -> None:
        """Deliver the spikes of steps ``n0, n0 + 1, ...``: ``per_step[k]`` holds the source rows
        (ids, sorted) of step ``n0 + k``, delivered in that order into ring slots
        ``(n0 + k + delay) % D``; steps in order, one launch per step with spikes."""
        if not self.classes:
            return
        m = len(per_step)
        sizes = np.fromiter((s.size for s in per_step), np.int64, m)
        if not sizes.any():
            return
        rows = np.concatenate([s for s in per_step if s.size]).astype(np.int64)
        if rows.min() < 0 or rows.max() >= self.n_rows:
            raise ValueError(f"SpikeInjector.deliver: source ids must lie in [0, "
                             f"{self.n_rows}), got {rows.min()} .. {rows.max()}")
        lens = self.row_len[rows]
        keep = lens > 0                 # spikes without synapses here are not sent over
        if not keep.all():
            step_of = np.repeat(np.arange(m), sizes)[keep]
            rows, lens = rows[keep], lens[keep]
            sizes = np.bincount(step_of, minlength=m).astype(np.int64)
            if not rows.size:
                return
        starts = np.zeros(m + 1, np.int64)
        np.cumsum(sizes, out=starts[1:])
        work = np.cumsum(lens)
        before = np.concatenate([[0], work])[starts[:-1]]        # work before each step
        totals = np.concatenate([[0], work])[starts[1:]] - before
        offsets = work - lens - np.repeat(before, sizes)          # within the step
        counters = (sizes.astype(np.uint64) << U64(T.WORK_BITS)) | totals.astype(np.uint64)
        clocks = np.zeros((m + 1, 4), np.int64)
        clocks[:m, 0] = n0 + np.arange(m)
        clocks[:m, 1] = np.arange(m)
        e, dev = self.e, self.e.dev
        self._reserve(m, rows.size)
        with dev.context():
            self.spk[:rows.size] = dev.put(rows.astype(np.int32))
            self.spk_work[:rows.size] = dev.put(offsets)
            self.nspk[:m] = dev.put(counters)
            self.clock[:4 * (m + 1)] = dev.put(clocks.reshape(-1))
            values = dict(clk_next=self.clock[4 * m:4 * m + 4], nspk=self.nspk,
                          n_classes=I32(len(self.classes)), class_tab=self.class_tab,
                          ring=e.ring, ring_width=I32(e.L.ring_width), n_slots=I32(e.n_slots),
                          bad=self.bad, rec_total=self.rec_total,
                          rec_room=I32(np.iinfo(np.int32).max), rec_end=self.rec_end)
            for k in np.flatnonzero(totals):
                a = int(starts[k])
                values.update(clk=self.clock[4 * k:4 * k + 4], spk=self.spk[a:],
                              spk_work=self.spk_work[a:])
                self.kernel(self.grid[0], self.grid[1],
                            tuple(values[name] for name in self.signature))
