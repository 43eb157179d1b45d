"""Monitors: what a run records, returned as NumPy arrays whatever the device.

Engines append recordings in chunks (arrays, not per-spike Python objects); memory grows with
what is recorded, not with the number of steps times neurons. Spike times are the end of the
step in which the spike happened (see :mod:`neurosim.models.lif`); state samples are taken after
the update of a step and stamped with its end, every ``every`` steps.
"""

from __future__ import annotations

import numpy as np

from . import _validate as V


def _concat(chunks, dtype, shape_tail=()):
    if not chunks:
        return np.zeros((0,) + shape_tail, dtype)
    if len(chunks) > 1:
        merged = np.concatenate(chunks)
        chunks[:] = [merged]
    return chunks[0]


class Monitor:
    """Base class: bound to one population of one network."""

    def __init__(self, population, indices):
        self.population = population
        n = population.size
        if indices is None:
            self.neurons = None
        else:
            idx = np.asarray(indices)
            if idx.ndim != 1 or not (idx.size == 0 or np.issubdtype(idx.dtype, np.integer)):
                raise TypeError(f"{type(self).__name__}: indices must be a 1-D integer array, got "
                                f"dtype {idx.dtype}, shape {idx.shape} ({indices!r})")
            if idx.size and (idx.min() < 0 or idx.max() >= n):
                bad = idx[(idx < 0) | (idx >= n)][0]
                raise ValueError(f"{type(self).__name__}: index {bad} is outside population "
                                 f"{population.name!r} of size {n}")
            if np.unique(idx).size != idx.size:
                raise ValueError(f"{type(self).__name__}: indices must not repeat")
            self.neurons = idx.astype(np.int64)
        self.t_start = population.network.t

    @property
    def dt(self) -> float:
        return self.population.network.dt

    @property
    def start_step(self) -> int:
        """The step at which the monitor started recording (``t_start / dt``)."""
        return int(round(self.t_start / self.dt))

    def _lists(self) -> tuple:
        """The chunk lists an engine appends to (parallel lists: same number of entries)."""
        raise NotImplementedError  # pragma: no cover

    def _mark(self) -> int:
        """How many entries the monitor holds (for :meth:`_rollback`): counted from the last
        count on when the chunks counted then are still there (a mark per chunk of steps, and
        ``run(every=...)`` makes many chunks)."""
        chunks = self._lists()[0]
        k, total, last = getattr(self, "_counted", (0, 0, None))
        if not (k <= len(chunks) and (k == 0 or chunks[k - 1] is last)):
            k, total = 0, 0
        total += sum(len(a) for a in chunks[k:])
        self._counted = (len(chunks), total, chunks[-1] if chunks else None)
        return int(total)

    def _rollback(self, mark: int) -> None:
        """Drop every entry recorded after :meth:`_mark` returned ``mark``."""
        lists = self._lists()
        if sum(len(a) for a in lists[0]) == mark:
            return
        for chunks in lists:
            merged = np.concatenate(chunks)[:mark]
            chunks[:] = [merged] if merged.size else []

    @property
    def n_recorded(self) -> int:
        return self.population.size if self.neurons is None else self.neurons.size


class SpikeMonitor(Monitor):
    """Spikes of a population (or of ``indices`` within it).

    ``times`` (ms, float64) and ``indices`` (population-local, int32) in order of time;
    ``count`` (spikes per neuron of the population), ``num_spikes``, ``rates()``.
    """

    def __init__(self, population, indices=None):
        super().__init__(population, indices)
        self._steps: list[np.ndarray] = []
        self._idx: list[np.ndarray] = []

    def _lists(self) -> tuple:
        return self._steps, self._idx

    def _append(self, steps: np.ndarray, local_idx: np.ndarray) -> None:
        if steps.size:
            self._steps.append(np.asarray(steps, np.int64))
            self._idx.append(np.asarray(local_idx, np.int32))

    @property
    def steps(self) -> np.ndarray:
        """Index of the step that emitted each spike (spike time = (step + 1) * dt)."""
        return _concat(self._steps, np.int64)

    @property
    def times(self) -> np.ndarray:
        return (self.steps + 1) * self.dt

    @property
    def indices(self) -> np.ndarray:
        return _concat(self._idx, np.int32)

    @property
    def num_spikes(self) -> int:
        return int(sum(a.size for a in self._idx))

    @property
    def count(self) -> np.ndarray:
        return np.bincount(self.indices, minlength=self.population.size)

    def rates(self, t_start: float | None = None, t_stop: float | None = None) -> np.ndarray:
        """Mean firing rate (Hz) of each neuron of the population over [t_start, t_stop) ms."""
        where = "SpikeMonitor.rates"
        t0 = self.t_start if t_start is None else V.real(where, "t_start", t_start)
        t1 = self.population.network.t if t_stop is None else V.real(where, "t_stop", t_stop)
        if not t1 > t0:
            raise ValueError(f"SpikeMonitor.rates: t_stop must be > t_start, got t_start={t0}, "
                             f"t_stop={t1}")
        times = self.times
        sel = (times > t0) & (times <= t1)
        counts = np.bincount(self.indices[sel], minlength=self.population.size)
        return counts / ((t1 - t0) * 1e-3)

    def mean_rate(self, t_start: float | None = None, t_stop: float | None = None) -> float:
        """Mean rate (Hz) over the recorded neurons."""
        r = self.rates(t_start, t_stop)
        return float(r.mean() if self.neurons is None else r[self.neurons].mean())

    def to_neo(self) -> list:
        """One ``neo.SpikeTrain`` per recorded neuron, with units and annotations
        (:mod:`neurosim.neo_io`; needs ``neurosim[neo]``)."""
        from .neo_io import spike_trains
        return spike_trains(self)

    def spike_trains(self) -> list[np.ndarray]:
        """Spike times (ms) of each neuron of the population."""
        order = np.argsort(self.indices, kind="stable")
        idx, t = self.indices[order], self.times[order]
        bounds = np.searchsorted(idx, np.arange(self.population.size + 1))
        return [t[bounds[i]:bounds[i + 1]] for i in range(self.population.size)]


class StateMonitor(Monitor):
    """Samples of one state variable: ``values`` has shape (samples, recorded neurons), the
    network's dtype (float32, or float64 with ``Network(precision="double")``)."""

    def __init__(self, population, variable: str, indices=None, every: int = 1):
        super().__init__(population, indices)
        self.variable = variable
        self.every = int(every)
        self._steps: list[np.ndarray] = []
        self._vals: list[np.ndarray] = []

    def _lists(self) -> tuple:
        return self._steps, self._vals

    def _append(self, steps: np.ndarray, values: np.ndarray) -> None:
        if steps.size:
            self._steps.append(np.asarray(steps, np.int64))
            self._vals.append(np.asarray(values, self._dtype))

    @property
    def times(self) -> np.ndarray:
        return (_concat(self._steps, np.int64) + 1) * self.dt

    @property
    def values(self) -> np.ndarray:
        return _concat(self._vals, self._dtype, (self.n_recorded,))

    @property
    def _dtype(self) -> np.dtype:
        """The network's precision: float32, or float64 with ``precision="double"``."""
        return self.population.network.dtype

    @property
    def indices(self) -> np.ndarray:
        return np.arange(self.population.size) if self.neurons is None else self.neurons

    def to_neo(self):
        """A ``neo.AnalogSignal`` (samples x recorded neurons) with units and annotations
        (:mod:`neurosim.neo_io`; needs ``neurosim[neo]``)."""
        from .neo_io import state_signal
        return state_signal(self)


class RateMonitor(Monitor):
    """Population rate (Hz) in bins of ``bin_size`` ms (a multiple of dt)."""

    def __init__(self, population, bin_size: float):
        super().__init__(population, None)
        self.bin_steps = int(round(bin_size / population.network.dt))
        self._step0 = int(round(self.t_start / population.network.dt))
        self._counts: list[np.ndarray] = []

    def _lists(self) -> tuple:
        return (self._counts,)

    def _append(self, counts_per_step: np.ndarray) -> None:
        if counts_per_step.size:
            self._counts.append(np.asarray(counts_per_step, np.int64))

    @property
    def bin_size(self) -> float:
        return self.bin_steps * self.dt

    @property
    def counts(self) -> np.ndarray:
        """Spikes of the population in each step since the monitor started."""
        return _concat(self._counts, np.int64)

    @property
    def rates(self) -> np.ndarray:
        c = self.counts
        nb = c.size // self.bin_steps
        binned = c[:nb * self.bin_steps].reshape(nb, self.bin_steps).sum(axis=1)
        return binned / (self.population.size * self.bin_size * 1e-3)

    def to_neo(self):
        """A ``neo.AnalogSignal`` of the population rate in Hz (:mod:`neurosim.neo_io`)."""
        from .neo_io import rate_signal
        return rate_signal(self)

    @property
    def times(self) -> np.ndarray:
        """Start time (ms) of each bin."""
        nb = self.counts.size // self.bin_steps
        return self.t_start + np.arange(nb) * self.bin_size
