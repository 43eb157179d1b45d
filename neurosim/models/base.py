"""What a neuron model is: declared once, stepped by every backend.

A model is a frozen dataclass of parameters (documented units, PyNN-style names) plus class-level
declarations:

- ``state_vars``: the state arrays (float32, or float64 in a ``Network(precision="double")``)
  the model keeps per neuron;
- ``channels``: its synaptic input channels; ``receptors`` maps the public receptor names
  ("excitatory", "inhibitory") to a channel; ``weight_sign`` says which weight sign each receptor
  accepts (current-based models take signed weights, conductances only non-negative ones);
- ``kernel``: the name of its fused CUDA kernel in ``kernel_file`` (the source generated from
  its :class:`~neurosim.models.description.NeuronModel` description; spike sources:
  ``kernels/inputs.cu``);
- ``positive_params`` / ``non_negative_params``: parameters that must be > 0 / >= 0; every
  numeric parameter must be a real number (or a 1-D array, one per neuron) within float32's
  range, and the constants derived from them for a given ``dt`` must be finite in float32;
- ``constants(params, dt)``: constants derived on the host once for a given ``dt`` (computed in
  float64, handed to the step as float32 scalars or arrays, or kept float64 when the layout
  builds a double-precision network: see :func:`f32` and :func:`host_precision`);
- ``integrate`` / ``threshold`` / ``reset`` / ``clamp``: the NumPy reference of one step, in
  place, generated from the model's description (:mod:`neurosim.models.generate`).

The engine adds what is common to every model: the refractory count (for
``round(tau_refrac / dt)`` updates after a spike the model's hold code runs, ``v = v_reset`` for
the built-in models, and the neuron cannot spike; other state keeps evolving) and spike lists.
When ``dt`` cannot represent ``tau_refrac`` within 10% (``tau_refrac = 2`` at ``dt = 50`` gives
no refractory step at all), :meth:`neurosim.Network.add_population` warns (``UserWarning``)
naming both.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from typing import ClassVar

import numpy as np

from .. import _validate as V

F32 = np.float32
_HOST_REAL = contextvars.ContextVar("neurosim_host_real", default=np.float32)


@contextlib.contextmanager
def host_precision(dtype):
    """Within the block, :func:`f32` rounds host values to ``dtype`` (float32 or float64): the
    layout computes a network's constants and initial state inside it, so that a
    ``Network(precision="double")`` keeps its float64 constants unrounded."""
    token = _HOST_REAL.set(np.dtype(dtype).type)
    try:
        yield
    finally:
        _HOST_REAL.reset(token)


def f32(x):
    """float64 host value -> a scalar or array of the precision being built: float32
    (np.float32) by default, float64 inside :func:`host_precision` (double precision)."""
    real = _HOST_REAL.get()
    if np.ndim(x) == 0:
        return real(x)
    return np.ascontiguousarray(x, dtype=real)


class Model:
    """Base class of neuron models and spike sources (see the module docstring); users
    describe their own with :class:`neurosim.NeuronModel`."""

    kind: ClassVar[str] = "abstract"
    kernel: ClassVar[str] = ""
    kernel_file: ClassVar[str] = ""               # where ``kernel`` is (a generated source)
    state_vars: ClassVar[tuple[str, ...]] = ("v",)
    channels: ClassVar[tuple[str, ...]] = ()
    receptors: ClassVar[dict[str, int]] = {}
    weight_sign: ClassVar[dict[str, int]] = {}   # +1: weights >= 0, -1: weights <= 0, 0: any
    weight_unit: ClassVar[str] = "pA"
    positive_params: ClassVar[tuple[str, ...]] = ()
    non_negative_params: ClassVar[tuple[str, ...]] = ()
    option_fields: ClassVar[tuple[str, ...]] = ()
    scratch: ClassVar[int] = 1        # scratch rows the NumPy step needs (``tmp[k]``, state dtype)
    is_source: ClassVar[bool] = False
    has_refractory: ClassVar[bool] = True
    refractory_param: ClassVar[str] = "tau_refrac"   # the parameter holding the period (ms)

    def __post_init__(self):
        where = type(self).__name__
        for f in dataclasses.fields(self):
            if f.name in self.option_fields:
                continue
            value = getattr(self, f.name)
            checked = V.scalar_or_array(
                where, f.name, value,
                positive_only=f.name in self.positive_params,
                non_negative_only=f.name in self.non_negative_params, float32=True)
            object.__setattr__(self, f.name, checked)
        self._check()

    def _check(self) -> None:
        """Model-specific consistency checks (override)."""

    # -- description helpers -------------------------------------------------------------------
    def parameters(self) -> dict:
        """Numeric parameters: name -> float or float64 array."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in self.option_fields}

    def options(self) -> tuple:
        """Non-numeric settings; populations merge into one engine group only if these match."""
        return tuple(getattr(self, name) for name in self.option_fields)

    def group_key(self) -> tuple:
        return (type(self), self.options())

    def check_size(self, n: int, where: str) -> None:
        for name, value in self.parameters().items():
            if isinstance(value, np.ndarray) and value.shape[0] != n:
                raise ValueError(
                    f"{where}: parameter {name} of {type(self).__name__} has {value.shape[0]} "
                    f"values but the population has {n} neurons")

    # -- engine interface (class-level: parameters come merged per group) ----------------------
    @classmethod
    def numpy_step(cls, dtype) -> tuple:
        """(integrate, threshold, reset, clamp or None): the NumPy step for state of ``dtype``
        (the hand-written steps follow their arrays' dtype; generated models have one set of
        functions per precision, their literals of that precision)."""
        return cls.integrate, cls.threshold, cls.reset, getattr(cls, "clamp", None)

    @classmethod
    def refractory_steps(cls, params: dict, dt: float):
        """Steps a neuron stays clamped after a spike (int or int array), or None."""
        if not cls.has_refractory:
            return None
        period = np.asarray(params[cls.refractory_param], dtype=np.float64)
        n_ref = np.rint(period / dt).astype(np.int64)
        if n_ref.ndim == 0:
            return int(n_ref) if n_ref > 0 else None
        return n_ref if n_ref.any() else None

    @classmethod
    def constants(cls, params: dict, dt: float) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def layout(cls, options: tuple):
        """(channel names, receptor -> channel, weight unit) for these options."""
        return cls.channels, cls.receptors, cls.weight_unit

    @classmethod
    def state_names(cls, options: tuple) -> tuple[str, ...]:
        return cls.state_vars

    @classmethod
    def initial_state(cls, params: dict, n: int, options: tuple) -> dict:
        """Default initial state (arrays of :func:`f32`'s precision); users override any of it
        per population."""
        return {"v": np.broadcast_to(f32(params["v_rest"]), (n,)).copy()}

    @classmethod
    def integrate(cls, s: dict, inp, active: tuple, c: dict, i_ext, tmp) -> None:
        """Advance the state over one step, in place.

        ``inp``: (channels, n) arrivals at the end of the step, or None; ``active``: per channel,
        whether anything can arrive there; ``i_ext``: injected current (pA) or None; ``tmp``:
        (scratch, n) float32 buffers the step may overwrite.
        """
        raise NotImplementedError  # pragma: no cover

    @classmethod
    def threshold(cls, s: dict, c: dict, mask: np.ndarray, r=None) -> np.ndarray:
        """Sorted indices of the neurons that spike (``mask``: a boolean scratch row; ``r``:
        refractory neurons, which cannot spike)."""
        raise NotImplementedError  # pragma: no cover

    @classmethod
    def reset(cls, s: dict, c: dict, idx: np.ndarray) -> None:
        """Reset the neurons ``idx`` after their spike, in place."""
        raise NotImplementedError  # pragma: no cover
