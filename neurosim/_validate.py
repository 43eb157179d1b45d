"""Argument checks shared by the whole package. Each raises before any work is done.

One set of validators for every public entry point (models, rules, distributions, inputs,
plasticity and homeostasis rules, the network and the reference-network builders), so that the
same kind of mistake gets the same kind of message everywhere. Every message names where
(``where``), the argument (``name``), the value given and what was expected.

Conventions:

- numbers are real numbers: ``bool`` (and ``numpy.bool_``), strings, ``None`` and complex values
  are refused with a ``TypeError``; a 0-d NumPy array counts as its scalar;
- booleans are booleans: ``True``/``False`` or ``numpy.bool_``, never ``"no"`` or ``0``;
- values that end up in the simulation's float32 state, weights or inputs are checked against
  float32's range (``float32=True``), since a larger finite float64 would silently become
  ``inf``;
- sizes that become int32 indices (neurons, synapses of one projection) are at most
  :data:`MAX_INDEX`.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

#: the largest finite float32 (the precision of state, weights and inputs)
F32_MAX = float(np.finfo(np.float32).max)
#: the largest count that int32 indices can address (neurons, synapses of one projection)
MAX_INDEX = 2**31 - 1


# -- showing values ----------------------------------------------------------------------------

def show(value) -> str:
    """A short representation of ``value`` for error messages, with its type unless it is a
    plain int or float."""
    if isinstance(value, np.ndarray):
        if value.size > 6:
            return f"array(shape={value.shape}, dtype={value.dtype})"
        return f"array({value.tolist()!r}, dtype={value.dtype})"
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    if type(value) in (int, float):
        return text
    return f"{text} ({type(value).__name__})"


def instance(where: str, name: str, value, cls, expected: str):
    """``value`` if it is an instance of ``cls``; else a TypeError saying ``expected``."""
    if not isinstance(value, cls):
        text = repr(value)
        text = text if len(text) <= 60 else text[:57] + "..."
        raise TypeError(f"{where}: {name} must be {expected}, got {type(value).__name__} {text}")
    return value


# -- scalars -----------------------------------------------------------------------------------

def _is_real_scalar(x) -> bool:
    if isinstance(x, (bool, np.bool_)):
        return False
    if isinstance(x, numbers.Real):
        return True
    return isinstance(x, np.ndarray) and x.ndim == 0 and x.dtype.kind in "iuf"


def is_number(x) -> bool:
    """True for a real scalar (not a bool); a 0-d numeric array counts."""
    return _is_real_scalar(x)


def fits_float32(where: str, name: str, value) -> None:
    """Raise if a scalar or array holds a finite value beyond float32's range (it would become
    ``inf`` when stored); two reductions, no temporaries, on the usual path."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 0 or (arr.max() <= F32_MAX and arr.min() >= -F32_MAX):
        return
    big = (np.abs(arr) > F32_MAX) & np.isfinite(arr)
    if np.any(big):
        bad = float(arr[big].flat[0])
        raise ValueError(f"{where}: {name} = {bad:g} does not fit the simulation's float32 "
                         f"precision; values must lie within +-{F32_MAX:g}")


def real(where: str, name: str, value, *, float32: bool = False,
         allow_inf: bool = False) -> float:
    """A real scalar: finite (or +-inf where ``allow_inf``), within float32's range if asked."""
    if not _is_real_scalar(value):
        raise TypeError(f"{where}: {name} must be a real number, got {show(value)}")
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise ValueError(f"{where}: {name} must be finite, got {v}")
    if float32:
        fits_float32(where, name, v)
    return v


def positive(where: str, name: str, value, *, float32: bool = False) -> float:
    v = real(where, name, value, float32=float32)
    if v <= 0:
        raise ValueError(f"{where}: {name} must be > 0, got {v}")
    return v


def non_negative(where: str, name: str, value, *, float32: bool = False) -> float:
    v = real(where, name, value, float32=float32)
    if v < 0:
        raise ValueError(f"{where}: {name} must be >= 0, got {v}")
    return v


def integer(where: str, name: str, value, *, minimum: int | None = None,
            maximum: int | None = None) -> int:
    """An integer (Python or NumPy; not a bool, not a float such as 10.0)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: {name} must be an integer, got {show(value)}")
    v = int(value)
    if minimum is not None and v < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {v}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{where}: {name} must be <= {maximum}, got {v}")
    return v


def boolean(where: str, name: str, value) -> bool:
    """``True``/``False`` (or ``numpy.bool_``); strings and integers are refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {name} must be True or False, got {show(value)}")
    return bool(value)


def probability(where: str, name: str, value) -> float:
    v = real(where, name, value)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{where}: {name} must be in [0, 1], got {v}")
    return v


def text(where: str, name: str, value) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value:
        raise TypeError(f"{where}: {name} must be a non-empty string, got {show(value)}")
    return value


def choice(where: str, name: str, value, options) -> str:
    """One of ``options`` (strings)."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{where}: {name} must be one of {sorted(options)}, got {show(value)}")
    return value


def count(where: str, name: str, value, *, what: str = "neurons") -> int:
    """A size that becomes int32 indices: an integer in [1, MAX_INDEX]."""
    v = integer(where, name, value, minimum=1)
    check_count(where, f"{name} = {v}", v, what=what)
    return v


def check_count(where: str, label: str, n: int, *, what: str) -> None:
    """Raise before allocating when ``n`` items cannot be addressed by int32 indices."""
    if n > MAX_INDEX:
        raise ValueError(f"{where}: {label} means {n} {what}, more than int32 indices can "
                         f"address (at most {MAX_INDEX} = 2**31 - 1); use fewer {what}")


# -- arrays ------------------------------------------------------------------------------------

def _numeric_array(where: str, name: str, value, expected: str) -> np.ndarray:
    """``value`` as a float64 array, refusing strings, None, booleans and complex numbers."""
    if value is None or isinstance(value, (str, bytes, dict, set)):
        raise TypeError(f"{where}: {name} must be {expected}, got {show(value)}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{where}: {name} must be {expected}, got {show(value)}") from exc
    if arr.dtype.kind not in "iuf":
        kind = {"c": "complex", "b": "boolean", "U": "string", "S": "bytes",
                "O": "mixed or non-numeric"}.get(arr.dtype.kind, str(arr.dtype))
        raise TypeError(f"{where}: {name} must be {expected}, got {kind} values "
                        f"({show(value)})")
    return arr.astype(np.float64, copy=False)


def real_array(where: str, name: str, value, *, length: int | None = None,
               dtype=np.float64, float32: bool = False) -> np.ndarray:
    """A 1-D array of finite reals (optionally of a given length, within float32's range)."""
    arr = _numeric_array(where, name, value, "an array of numbers")
    if arr.ndim != 1:
        raise ValueError(f"{where}: {name} must be one-dimensional, got shape {arr.shape}")
    if length is not None and arr.shape[0] != length:
        raise ValueError(f"{where}: {name} must have length {length}, got {arr.shape[0]}")
    if arr.size and not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)][0]
        raise ValueError(f"{where}: {name} must be finite everywhere, found {bad}")
    if float32:
        fits_float32(where, name, arr)
    return arr.astype(dtype, copy=False)


def scalar_or_array(where: str, name: str, value, *, positive_only: bool = False,
                    non_negative_only: bool = False, float32: bool = False):
    """A finite scalar (returned as float) or a 1-D finite array (returned as float64 array)."""
    if _is_real_scalar(value):
        v = real(where, name, value, float32=float32)
        data = np.asarray(v)
    elif isinstance(value, (list, tuple, np.ndarray)):
        v = real_array(where, name, value, float32=float32)
        data = v
    else:
        raise TypeError(f"{where}: {name} must be an array of numbers (one per neuron) or a "
                        f"single number, got {show(value)}")
    if positive_only and np.any(data <= 0):
        raise ValueError(f"{where}: {name} must be > 0, got {_show(value)}")
    if non_negative_only and np.any(data < 0):
        raise ValueError(f"{where}: {name} must be >= 0, got {_show(value)}")
    return v


def per_neuron(where: str, name: str, value, n: int, *, float32: bool = True) -> np.ndarray:
    """A number (broadcast) or an array of ``n`` numbers, as float64 of length ``n``."""
    if _is_real_scalar(value):
        return np.full(n, real(where, name, value, float32=float32))
    if not isinstance(value, (list, tuple, np.ndarray)):
        raise TypeError(f"{where}: {name} must be a number or an array of {n} numbers, got "
                        f"{show(value)}")
    return real_array(where, name, value, length=n, float32=float32)


def finite_constants(where: str, consts: dict, dt: float) -> None:
    """Derived float32 constants of a model (e.g. ``exp(-dt/tau)``, ``tau/cm``) must be finite."""
    for key, value in consts.items():
        arr = np.asarray(value)
        if arr.dtype.kind == "f" and arr.size and not np.all(np.isfinite(arr)):
            raise ValueError(f"{where}: at dt = {dt} ms the derived constant {key} is "
                             f"{arr[~np.isfinite(arr)].flat[0]} in float32; a parameter is too "
                             f"large or too small for float32 (|x| <= {F32_MAX:g})")


# -- containers --------------------------------------------------------------------------------

def mapping(where: str, name: str, value, example: str) -> dict:
    """A dict with string keys (a copy); None gives an empty dict."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"{where}: {name} must be a dict such as {example}, got {show(value)}")
    for key in value:
        if not isinstance(key, str):
            raise TypeError(f"{where}: the keys of {name} must be strings, got {show(key)}")
    return dict(value)


def sequence_of(where: str, name: str, value, cls: type, what: str) -> list:
    """A list or tuple whose items are all instances of ``cls`` (each described as ``what``)."""
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{where}: {name} must be a list, each item {what}, got {show(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, cls):
            raise TypeError(f"{where}: {name}[{i}] must be {what}, got {show(item)}")
    return list(value)


# -- time resolution ---------------------------------------------------------------------------

def warn_coarse_refractory(where: str, tau_refrac, dt: float) -> None:
    """Warn (``UserWarning``) when ``dt`` cannot represent ``tau_refrac`` within 10%.

    The refractory period lasts ``round(tau_refrac / dt)`` steps; with ``dt = 50`` and
    ``tau_refrac = 2`` that is 0 steps, i.e. no refractory period at all.
    """
    tau = np.atleast_1d(np.asarray(tau_refrac, dtype=np.float64))
    steps = np.rint(tau / dt)
    off = (tau > 0) & (np.abs(steps * dt - tau) > 0.1 * tau)
    if not np.any(off):
        return
    i = int(np.flatnonzero(off)[0])
    warnings.warn(f"{where}: tau_refrac = {tau[i]:g} ms at dt = {dt:g} ms gives "
                  f"{int(steps[i])} refractory steps ({steps[i] * dt:g} ms); use a dt that "
                  f"divides tau_refrac (e.g. dt <= {tau[i] / 10:g} ms)", UserWarning,
                  stacklevel=3)


def _show(value) -> str:
    if isinstance(value, np.ndarray) and value.size > 6:
        return f"array(min={value.min():g}, max={value.max():g}, n={value.size})"
    return repr(value)
