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

import math
from dataclasses import dataclass

import numpy as np

from . import _validate as V
from . import truncnorm

REDRAW_MIN_MASS = 0.25      # Normal: redraw when [low, high] holds this much, else inverse CDF
REDRAW_ROUNDS = 100         # Normal: redraws before the inverse CDF takes the rest
MAX_TAIL_STD = 1e6          # Normal: farthest bound from the mean, in standard deviations
# |z| of a Box-Muller normal from 53-bit uniforms is at most sqrt(-2 ln 2^-53) = 8.57 (the
# device's draws, kernels/connect.cu); NumPy's exceed it with probability below 1e-17
MAX_NORMAL_Z = math.sqrt(-2.0 * math.log(2.0 ** -53))


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

    ``bound="redraw"`` (default) gives the normal truncated to the bounds (as NEST's
    ``redraw``), keeping no mass at the bounds; ``bound="clip"`` clips values to the bounds (as
    ``max(0, N(40, 15))`` in the COBA benchmark). ``low``/``high`` default to unbounded.

    Truncated values are drawn in bounded time whatever the mass of ``[low, high]``: when it holds
    at least :data:`REDRAW_MIN_MASS` of the distribution, values outside are redrawn, at most
    :data:`REDRAW_ROUNDS` times (the few left after that, about ``0.75^100`` of them, are drawn
    as below); a smaller interval (a tail such as ``low = mean + 8 std``, or a narrow window) is
    sampled directly by the inverse CDF of the truncated distribution
    (:mod:`neurosim.truncnorm`). Either way the values follow the truncated normal exactly. An
    interval more than 10^6 standard deviations from the mean is refused (its values would be
    the bound itself: give that number instead).
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
        if self.bound == "redraw" and self.std > 0:
            far = MAX_TAIL_STD * self.std
            if not (lo <= self.mean + far and hi >= self.mean - far):
                raise ValueError(
                    f"Normal: the interval [low, high] = [{lo}, {hi}] lies more than "
                    f"{MAX_TAIL_STD:g} std (std = {self.std}) from the mean {self.mean}; every "
                    f"value would be the bound itself: give that number instead")

    def truncated_mass(self) -> float:
        """The probability that N(mean, std) falls within [low, high] (1.0 when std = 0)."""
        lo, hi = self.bounds()
        if self.std == 0:
            return 1.0
        return truncnorm.mass((lo - self.mean) / self.std, (hi - self.mean) / self.std)

    def sample(self, rng, n):
        lo, hi = self.bounds()
        if self.bound == "clip":
            return np.clip(rng.normal(self.mean, self.std, size=n), lo, hi)
        if not (np.isfinite(lo) or np.isfinite(hi)) or self.std == 0:
            return rng.normal(self.mean, self.std, size=n)
        if self.truncated_mass() < REDRAW_MIN_MASS:
            return truncnorm.sample_normal(rng, n, self.mean, self.std, lo, hi)
        out = rng.normal(self.mean, self.std, size=n)
        bad = np.flatnonzero((out < lo) | (out > hi))
        for _ in range(REDRAW_ROUNDS):
            if not bad.size:
                break
            out[bad] = rng.normal(self.mean, self.std, size=bad.size)
            bad = bad[(out[bad] < lo) | (out[bad] > hi)]
        if bad.size:
            out[bad] = truncnorm.sample_normal(rng, bad.size, self.mean, self.std, lo, hi)
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


def reach(value) -> float:
    """The largest value a weight/delay spec can practically produce (ms for a delay).

    A number or an array: its largest value; a distribution: its upper bound, or, for a normal
    without ``high`` (also through ``device_form()``), ``mean + 8.57 std`` (the largest value
    the device draws; NumPy's draws exceed it with probability below 1e-17 each, and drawn
    delays are checked again when the network is built), or, for a tail beyond that sampled by
    the inverse CDF, the largest value that can give. ``inf`` when unknown.
    """
    if isinstance(value, Distribution):
        hi = value.bounds()[1]
        if math.isfinite(hi):
            return float(hi)
        form = getattr(value, "device_form", None)
        spec = form() if form is not None and not isinstance(value, Normal) else value
        if isinstance(spec, Normal):
            top = spec.mean + MAX_NORMAL_Z * spec.std
            lo = spec.bounds()[0]
            if spec.bound == "redraw" and spec.std > 0 and math.isfinite(lo):
                # a tail drawn by the inverse CDF reaches further: its largest value
                x = truncnorm.largest((lo - spec.mean) / spec.std, math.inf)
                top = max(top, spec.mean + spec.std * x)
            return float(top)
        return math.inf
    return value_range(value)[1]
