"""Random distributions for parameters, initial states, weights and delays.

A distribution is a small immutable record with a ``sample(rng, n)`` method that draws ``n``
values with a :class:`numpy.random.Generator`. Values are in the unit of whatever they are used
for (mV for a membrane potential, pA/nS/mV for a weight, ms for a delay).

Where the values are stored in float32 (weights, initial states), ``Network.connect`` and
``Network.add_population`` check the distribution's parameters against float32's range, and
the drawn values are checked again when the network is built, so a draw never silently becomes
``inf``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _validate as V


class Distribution:
    """Base class: ``sample(rng, n) -> float64 array of length n``."""

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def bounds(self) -> tuple[float, float]:
        """Smallest and largest value the distribution can produce."""
        raise NotImplementedError  # pragma: no cover


@dataclass(frozen=True)
class Uniform(Distribution):
    """Uniform on ``[low, high)``."""

    low: float
    high: float

    def __post_init__(self):
        V.real("Uniform", "low", self.low)
        V.real("Uniform", "high", self.high)
        if not self.high >= self.low:
            raise ValueError(f"Uniform: high must be >= low, got low={self.low}, high={self.high}")

    def sample(self, rng, n):
        return rng.uniform(self.low, self.high, size=n)

    def bounds(self):
        return (float(self.low), float(self.high))


@dataclass(frozen=True)
class Normal(Distribution):
    """Normal with ``mean`` and ``std``, optionally bounded to ``[low, high]``.

    ``bound="redraw"`` (default) redraws values outside the bounds (a truncated normal, as NEST's
    ``redraw``), keeping no mass at the bounds; ``bound="clip"`` clips them to the bounds (as
    ``max(0, N(40, 15))`` in the COBA benchmark). ``low``/``high`` default to unbounded. With
    ``redraw``, an interval more than 6 standard deviations from the mean is refused, since
    redrawing would practically never finish.
    """

    mean: float
    std: float
    low: float | None = None
    high: float | None = None
    bound: str = "redraw"

    def __post_init__(self):
        V.real("Normal", "mean", self.mean)
        V.non_negative("Normal", "std", self.std)
        lo = -np.inf if self.low is None else V.real("Normal", "low", self.low)
        hi = np.inf if self.high is None else V.real("Normal", "high", self.high)
        if not hi >= lo:
            raise ValueError(f"Normal: high must be >= low, got low={self.low}, high={self.high}")
        if self.bound == "redraw" and self.std == 0 and not lo <= self.mean <= hi:
            raise ValueError(f"Normal: with std=0 the mean {self.mean} must lie in [low, high]")
        if self.bound not in ("redraw", "clip"):
            raise ValueError(f"Normal: bound must be 'redraw' or 'clip', got {self.bound!r}")
        if self.bound == "redraw" and self.std > 0 and (lo > self.mean + 6 * self.std or hi < self.mean - 6 * self.std):
            raise ValueError(
                f"Normal: the interval [{lo}, {hi}] lies more than 6 std from the mean {self.mean}")

    def sample(self, rng, n):
        out = rng.normal(self.mean, self.std, size=n)
        lo, hi = self.bounds()
        if self.bound == "clip":
            return np.clip(out, lo, hi)
        if np.isfinite(lo) or np.isfinite(hi):
            bad = np.flatnonzero((out < lo) | (out > hi))
            while bad.size:
                out[bad] = rng.normal(self.mean, self.std, size=bad.size)
                bad = bad[(out[bad] < lo) | (out[bad] > hi)]
        return out

    def bounds(self):
        return (-np.inf if self.low is None else float(self.low),
                np.inf if self.high is None else float(self.high))


def resolve(where: str, name: str, value, n: int, rng: np.random.Generator, *,
            float32: bool = False) -> np.ndarray | float:
    """Turn a scalar, an array of length ``n`` or a Distribution into a float or float64 array.

    ``float32``: the values are stored in float32 (state, weights), so a draw beyond float32's
    range is an error instead of a silent ``inf``.
    """
    if isinstance(value, Distribution):
        out = value.sample(rng, n)
        if float32:
            V.fits_float32(where, f"{name} (drawn from {value!r})", out)
        return out
    if spec_kind(where, name, value) == "scalar":
        return V.real(where, name, value, float32=float32)
    return V.real_array(where, name, value, length=n, float32=float32)


def spec_kind(where: str, name: str, value) -> str:
    """``"distribution"``, ``"scalar"`` or ``"array"``; a TypeError for anything else."""
    if isinstance(value, Distribution):
        return "distribution"
    if V.is_number(value):
        return "scalar"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "array"
    raise TypeError(f"{where}: {name} must be a number, an array of numbers or a distribution "
                    f"such as ns.Normal(...), got {V.show(value)}")


def check_spec(where: str, name: str, value, n: int | None = None, *,
               float32: bool = False) -> None:
    """Validate a scalar/array/Distribution argument without drawing anything.

    ``float32``: the values will be stored in float32, so numbers (and a distribution's
    parameters) must lie within float32's range.
    """
    kind = spec_kind(where, name, value)
    if kind == "distribution":
        if float32:
            _check_distribution_float32(where, name, value)
    elif kind == "scalar":
        V.real(where, name, value, float32=float32)
    else:
        V.real_array(where, name, value, length=n, float32=float32)


def _check_distribution_float32(where: str, name: str, dist: Distribution) -> None:
    for key, val in vars(dist).items():
        if V.is_number(val):
            V.fits_float32(where, f"{name} ({type(dist).__name__}.{key})", val)


def value_range(value) -> tuple[float, float]:
    """Smallest and largest value a spec can take (used to check signs and delays up front)."""
    if isinstance(value, Distribution):
        return value.bounds()
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 0:
        return (0.0, 0.0)
    return (float(arr.min()), float(arr.max()))
