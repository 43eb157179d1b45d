"""Spike sources: populations that emit spikes but receive no input.

``PoissonSource(rate)``: in every step each neuron spikes with probability ``rate * dt``
(``rate`` in Hz, scalar or one value per neuron; ``rate * dt`` must not exceed 1), drawn from
the network's counter-based Philox stream, so runs are reproducible from the seed and both
backends draw the same numbers. At most one spike per neuron and step (as Brian2's
``PoissonGroup``): the spike count of a neuron over T is Binomial(T/dt, rate dt), whose mean is
``rate * T``. To drive many independent Poisson trains into each neuron without creating source
neurons, use :meth:`neurosim.Network.add_poisson_input` instead (true Poisson counts per step).

``SpikeSource(times)``: given spike times (ms) per neuron. A spike at time ``T`` is emitted by
the step that ends at ``T`` rounded to the grid, i.e. stamped ``round(T/dt) * dt``; times must be
>= dt after rounding and at most 2^53 steps (checked by ``Network.add_population``). Several
spikes of one neuron falling in the same step count once. The times of each neuron must be
sorted (non-decreasing): unsorted times are an error rather than silently sorted, as NEST's
``spike_generator`` does, since they usually mean times and neurons were mixed up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .. import _validate as V
from .base import Model

MAX_SPIKE_STEP = 2**53          # latest step of a SpikeSource spike (exact in float64)


@dataclass(frozen=True, eq=False)
class PoissonSource(Model):
    """Independent Poisson spike trains at ``rate`` Hz (scalar or per neuron)."""

    rate: float = 10.0

    kind: ClassVar[str] = "poisson_source"
    kernel: ClassVar[str] = "poisson_source_update"
    state_vars: ClassVar[tuple[str, ...]] = ()
    non_negative_params: ClassVar[tuple[str, ...]] = ("rate",)
    is_source: ClassVar[bool] = True
    has_refractory: ClassVar[bool] = False

    @classmethod
    def initial_state(cls, p, n, options):
        return {}


@dataclass(frozen=True, eq=False)
class SpikeSource(Model):
    """Spikes at given times: ``times[i]`` is a sequence of spike times (ms) of neuron ``i``."""

    times: tuple = field(default=())

    kind: ClassVar[str] = "spike_source"
    kernel: ClassVar[str] = ""
    state_vars: ClassVar[tuple[str, ...]] = ()
    option_fields: ClassVar[tuple[str, ...]] = ("times",)
    is_source: ClassVar[bool] = True
    has_refractory: ClassVar[bool] = False

    @classmethod
    def initial_state(cls, p, n, options):
        return {}

    def __post_init__(self):
        if isinstance(self.times, (str, bytes)) or not hasattr(self.times, "__len__"):
            raise TypeError(f"SpikeSource: times must be a sequence of per-neuron sequences of "
                            f"spike times (ms), got {V.show(self.times)}")
        per_neuron = [_sorted_times(i, t) for i, t in enumerate(self.times)]
        object.__setattr__(self, "times", tuple(per_neuron))

    def group_key(self) -> tuple:
        # Every SpikeSource population is merged with others of its kind regardless of times.
        return (type(self), ())

    def options(self) -> tuple:
        return ()

    def check_size(self, n: int, where: str) -> None:
        if len(self.times) != n:
            raise ValueError(f"{where}: SpikeSource has spike times for {len(self.times)} neurons "
                             f"but the population has {n}")

    def check_times(self, dt: float, where: str = "SpikeSource") -> None:
        """Raise ValueError unless every spike time lies in ``[dt, MAX_SPIKE_STEP * dt]`` after
        rounding to the grid (checked on the float times, before any integer conversion)."""
        for i, t in enumerate(self.times):
            if not t.size:
                continue
            lo, hi = float(t.min()), float(t.max())
            if np.rint(lo / dt) < 1:
                raise ValueError(f"{where}: SpikeSource times[{i}] has a spike at {lo} ms; "
                                 f"spike times must be >= dt = {dt} ms after rounding to the "
                                 f"grid")
            if hi / dt > MAX_SPIKE_STEP:
                raise ValueError(f"{where}: SpikeSource times[{i}] has a spike at {hi:g} ms = "
                                 f"{hi / dt:.4g} steps of dt = {dt} ms; spike times must be at "
                                 f"most 2^53 steps ({MAX_SPIKE_STEP * dt:.4g} ms at this dt), "
                                 f"the steps a run can reach exactly (times are in ms)")

    def schedule(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """(step, neuron) pairs sorted by step: a spike at T is emitted by step round(T/dt) - 1."""
        self.check_times(dt)
        steps, idx = [], []
        for i, t in enumerate(self.times):
            k = np.unique(np.rint(t / dt).astype(np.int64))
            steps.append(k - 1)
            idx.append(np.full(k.size, i, np.int64))
        if not steps:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        s, j = np.concatenate(steps), np.concatenate(idx)
        order = np.argsort(s, kind="stable")
        return s[order], j[order]


def _sorted_times(i: int, t) -> np.ndarray:
    """Spike times of neuron ``i``: a number or a 1-D array of finite, non-decreasing times."""
    arr = V.real_array("SpikeSource", f"times[{i}]", [t] if V.is_number(t) else t)
    down = np.flatnonzero(arr[1:] < arr[:-1])
    if down.size:
        k = int(down[0])
        raise ValueError(f"SpikeSource: times[{i}] must be sorted (non-decreasing), got "
                         f"{arr[k]:g} before {arr[k + 1]:g} at positions {k} and {k + 1}; "
                         f"sort them first (np.sort)")
    return arr
