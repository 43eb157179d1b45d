"""Pieces shared by the learning tasks: result records and Poisson input schedules."""

from __future__ import annotations

import dataclasses

import numpy as np


class ResultMixin:
    """``to_dict()`` for task result dataclasses: plain JSON-able values."""

    def to_dict(self) -> dict:
        return _plain(dataclasses.asdict(self))


def _plain(x):
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, np.generic):
        return x.item()
    return x


class SpikeSchedule:
    """Spike times (ms) of ``n`` input neurons, built presentation by presentation."""

    def __init__(self, n: int, rng: np.random.Generator, dt: float):
        self.n, self.rng, self.dt = n, rng, dt
        self._ids: list = []
        self._times: list = []

    def poisson(self, rates_hz: np.ndarray, t0: float, duration: float) -> None:
        """Independent Poisson trains at ``rates_hz`` (one per neuron) in [t0, t0 + duration)."""
        counts = self.rng.poisson(np.asarray(rates_hz, float) * duration * 1e-3)
        ids = np.repeat(np.arange(self.n), counts)
        self._ids.append(ids)
        self._times.append(t0 + self.rng.uniform(0.0, duration, ids.size))

    def spikes(self, ids, t) -> None:
        """One spike of each neuron in ``ids`` at ``t`` (a time, or one time per neuron)."""
        ids = np.asarray(ids, np.int64)
        self._ids.append(ids)
        self._times.append(np.broadcast_to(np.asarray(t, float), ids.shape).copy())

    def times(self) -> list:
        """Per-neuron sorted spike times, on or after ``dt`` (as ``SpikeSource`` wants)."""
        ids = np.concatenate(self._ids) if self._ids else np.zeros(0, np.int64)
        t = np.concatenate(self._times) if self._times else np.zeros(0)
        t = np.maximum(t, self.dt)
        order = np.lexsort((t, ids))
        ids, t = ids[order], t[order]
        cuts = np.searchsorted(ids, np.arange(1, self.n))
        return [np.asarray(x) for x in np.split(t, cuts)]


def spike_counts(times: np.ndarray, indices: np.ndarray, n: int, windows) -> np.ndarray:
    """Spike counts per (window, neuron) for windows ``[(start, stop), ...]`` (ms)."""
    out = np.zeros((len(windows), n), np.int64)
    order = np.argsort(times, kind="stable")
    times, indices = times[order], indices[order]
    for k, (a, b) in enumerate(windows):
        lo, hi = np.searchsorted(times, a, "left"), np.searchsorted(times, b, "left")
        out[k] = np.bincount(indices[lo:hi], minlength=n)
    return out


def check_task_args(where: str, seed, device, params, params_cls, quick, progress) -> None:
    """The arguments every task takes: ``seed`` (int >= 0), ``device`` (a device name),
    ``params`` (None or a ``params_cls``), ``quick`` (bool), ``progress`` (None, bool or a
    callable)."""
    from .. import _validate as V
    from ..backends import DEVICES
    V.integer(where, "seed", seed, minimum=0)
    V.choice(where, "device", device, DEVICES)
    if params is not None:
        V.instance(where, "params", params, params_cls, f"None or a {params_cls.__name__}")
    V.boolean(where, "quick", quick)
    if not (progress is None or isinstance(progress, bool) or callable(progress)):
        raise TypeError(f"{where}: progress must be None, a bool or a callable, got "
                        f"{V.show(progress)}")
