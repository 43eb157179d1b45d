"""External inputs: injected currents and Poisson input drives.

Amplitudes must lie within float32's range (the injected current is float32). Currents (pA)
are piecewise constant and switch at step boundaries: a current that starts at
``t`` acts on every update from the step beginning at ``round(t/dt)*dt`` on, and stops likewise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _validate as V


class Current:
    """Base class: ``segments(dt) -> list of (start_step, stop_step or None, amplitude)``."""

    def segments(self, dt: float):  # pragma: no cover - abstract
        raise NotImplementedError

    def check_size(self, n: int, where: str) -> None:
        for _, _, amp in self.segments(1.0):
            if isinstance(amp, np.ndarray) and amp.shape[0] != n:
                raise ValueError(f"{where}: amplitude has {amp.shape[0]} values but the "
                                 f"population has {n} neurons")


@dataclass(frozen=True, eq=False)
class DCCurrent(Current):
    """A constant current ``amplitude`` (pA, scalar or per neuron) from ``start`` to ``stop`` (ms)."""

    amplitude: float
    start: float = 0.0
    stop: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "amplitude",
                           V.scalar_or_array("DCCurrent", "amplitude", self.amplitude,
                                             float32=True))
        V.non_negative("DCCurrent", "start", self.start)
        if self.stop is not None and V.real("DCCurrent", "stop", self.stop) < self.start:
            raise ValueError(f"DCCurrent: stop must be >= start, got start={self.start}, "
                             f"stop={self.stop}")

    def segments(self, dt):
        stop = None if self.stop is None else int(round(self.stop / dt))
        return [(int(round(self.start / dt)), stop, self.amplitude)]


@dataclass(frozen=True, eq=False)
class StepCurrent(Current):
    """A current that takes ``amplitudes[k]`` (pA) from ``times[k]`` (ms) until the next time.

    ``amplitudes[k]`` may be a scalar or an array with one value per neuron.
    """

    times: tuple
    amplitudes: tuple

    def __post_init__(self):
        times = V.real_array("StepCurrent", "times", self.times)
        if times.size == 0:
            raise ValueError("StepCurrent: times must not be empty")
        if np.any(times < 0) or np.any(np.diff(times) <= 0):
            raise ValueError(f"StepCurrent: times must be >= 0 and strictly increasing, got {times}")
        amps = self.amplitudes
        # a list may mix scalars and per-neuron arrays, so its shape is never asked of NumPy
        if isinstance(amps, (list, tuple)) or (isinstance(amps, np.ndarray) and amps.ndim > 0):
            amps = list(amps)
        else:
            amps = [amps]
        if len(amps) != times.size:
            raise ValueError(f"StepCurrent: amplitudes must have one entry per time "
                             f"({times.size}), got {len(amps)}")
        amps = [V.scalar_or_array("StepCurrent", f"amplitudes[{k}]", a, float32=True)
                for k, a in enumerate(amps)]
        object.__setattr__(self, "times", tuple(times.tolist()))
        object.__setattr__(self, "amplitudes", tuple(amps))

    def segments(self, dt):
        steps = [int(round(t / dt)) for t in self.times]
        out = []
        for k, (s, a) in enumerate(zip(steps, self.amplitudes)):
            stop = steps[k + 1] if k + 1 < len(steps) else None
            out.append((s, stop, a))
        return out


@dataclass(frozen=True, eq=False)
class PoissonInput:
    """``n_sources`` independent Poisson trains at ``rate`` Hz into every neuron of a population.

    Each step a neuron receives ``k ~ Poisson(n_sources * rate * dt)`` spikes, each adding
    ``weight`` to the given receptor (as Brian2's ``PoissonInput``/NEST's ``poisson_generator``
    with one-to-one connections). Drawn from the network's Philox stream by inverting the Poisson
    CDF (a float32 table computed in float64 on the host), identically on every backend.
    Created with :meth:`neurosim.Network.add_poisson_input`.
    """

    target: object
    rate: float
    weight: float
    n_sources: int
    receptor: str
