"""Argument checks shared by the description layer. Each raises before any work is done."""

from __future__ import annotations

import math
import numbers

import numpy as np


def _is_real_scalar(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def real(where: str, name: str, value) -> float:
    """A finite real scalar."""
    if not _is_real_scalar(value):
        raise TypeError(f"{where}: {name} must be a real number, got {value!r} ({type(value).__name__})")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{where}: {name} must be finite, got {v}")
    return v


def positive(where: str, name: str, value) -> float:
    v = real(where, name, value)
    if v <= 0:
        raise ValueError(f"{where}: {name} must be > 0, got {v}")
    return v


def non_negative(where: str, name: str, value) -> float:
    v = real(where, name, value)
    if v < 0:
        raise ValueError(f"{where}: {name} must be >= 0, got {v}")
    return v


def integer(where: str, name: str, value, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: {name} must be an integer, got {value!r} ({type(value).__name__})")
    v = int(value)
    if minimum is not None and v < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {v}")
    return v


def probability(where: str, name: str, value) -> float:
    v = real(where, name, value)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{where}: {name} must be in [0, 1], got {v}")
    return v


def real_array(where: str, name: str, value, *, length: int | None = None,
               dtype=np.float64) -> np.ndarray:
    """A 1-D array of finite reals (optionally of a given length)."""
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{where}: {name} must be an array of numbers, got {type(value).__name__}") from exc
    if arr.ndim != 1:
        raise ValueError(f"{where}: {name} must be one-dimensional, got shape {arr.shape}")
    if length is not None and arr.shape[0] != length:
        raise ValueError(f"{where}: {name} must have length {length}, got {arr.shape[0]}")
    if arr.size and not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)][0]
        raise ValueError(f"{where}: {name} must be finite everywhere, found {bad}")
    return arr


def scalar_or_array(where: str, name: str, value, *, positive_only: bool = False,
                    non_negative_only: bool = False):
    """A finite scalar (returned as float) or a 1-D finite array (returned as float64 array)."""
    if _is_real_scalar(value):
        v = real(where, name, value)
        arr = None
    else:
        arr = real_array(where, name, value)
        v = None
    data = np.asarray(v if arr is None else arr)
    if positive_only and np.any(data <= 0):
        raise ValueError(f"{where}: {name} must be > 0, got {_show(value)}")
    if non_negative_only and np.any(data < 0):
        raise ValueError(f"{where}: {name} must be >= 0, got {_show(value)}")
    return v if arr is None else arr


def choice(where: str, name: str, value, options) -> str:
    if value not in options:
        raise ValueError(f"{where}: {name} must be one of {sorted(options)}, got {value!r}")
    return value


def _show(value) -> str:
    if isinstance(value, np.ndarray) and value.size > 6:
        return f"array(min={value.min():g}, max={value.max():g}, n={value.size})"
    return repr(value)
