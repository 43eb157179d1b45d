"""Base classes of plasticity rules (per projection) and homeostatic rules (per population).

A rule is a description: parameters validated at construction, nothing simulated. The engine
asks it for a runtime when the network is built (``build_numpy(engine, projection)`` or
``build_cuda(engine, projection)``). The only state a rule object carries at run time is its
switch ``enabled`` (read by its runtimes at every step) and, for modulated rules such as
reward-modulated STDP, the reward it forwards to its runtimes.

What an engine offers the runtimes is declared by :class:`EngineInterface` (both engines) and
:class:`NumpyEngineInterface` / :class:`CudaEngineInterface`; runtimes use nothing else of an
engine.
"""

from __future__ import annotations

import math
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .. import _validate as V
from .. import distributions as D


@runtime_checkable
class EngineInterface(Protocol):
    """What an engine offers the runtimes of plasticity and homeostasis rules."""

    net: Any            #: the :class:`~neurosim.Network` (projections, populations; read only)
    L: Any              #: the :class:`~neurosim.engine.layout.Layout` (groups, dt, offsets)

    @property
    def steps_done(self) -> int:
        """Steps completed (the index of the next step)."""

    @property
    def step_now(self) -> int:
        """The step whose updates are running inside a chunk, else ``steps_done - 1``."""

    def plastic_runtime(self, proj) -> Any:
        """The runtime of a plastic projection built by this engine."""

    def projection_array(self, proj, kind: str) -> np.ndarray:
        """A projection's ``"sources"``, ``"targets"``, ``"weights"`` or ``"delays"``."""


@runtime_checkable
class NumpyEngineInterface(EngineInterface, Protocol):
    """The NumPy engine's part: runtimes deliver their spikes into the delay ring."""

    ring: np.ndarray    #: the delay ring, ``(slots, width)``: runtimes add weights to a slot


@runtime_checkable
class CudaEngineInterface(EngineInterface, Protocol):
    """The CUDA engine's part: device arrays and kernel launches."""

    dev: Any            #: the device (``put``, ``get``, ``zeros``, ``context``, grids)

    def bind(self, filename: str, name: str, values: dict, grid, block) -> Any:
        """A launch of kernel ``name`` of ``filename``, arguments taken by name."""

    def replan(self) -> None:
        """Rebuild the step's launches before the next step."""

    def claim_threshold(self, population) -> bool:
        """Own ``population``'s threshold (False if a rule does already)."""

    def group_values(self, population) -> dict:
        """The kernel arguments of the group holding ``population``'s neurons."""

    def class_weights(self, ci: int) -> Any:
        """The device weights of static synapse class ``ci``."""


class DescribedValues:
    """Parameters of a rule made from a description: ``_values`` (name -> value) for a rule
    called from a user's description, else the built-in rule's own attributes; the values
    read as attributes too."""

    _values = None

    @property
    def parameters(self) -> dict:
        """Parameter name -> value of this rule."""
        if self._values is not None:
            return dict(self._values)
        return {p: getattr(self, p) for p in self.description.parameters}

    def __getattr__(self, name):
        values = self.__dict__.get("_values")
        if values is not None and name in values:
            return values[name]
        raise AttributeError(f"{type(self).__name__!s} object has no attribute {name!r}")


class PlasticityRule:
    """Base class of synaptic plasticity rules passed as ``net.connect(..., plasticity=rule)``.

    ``enabled`` (default True): set to False to freeze the weights (testing after training);
    traces keep following the spikes meanwhile, so turning learning back on continues exactly.
    One rule object may serve several projections (they share parameters and the switch).
    """

    name = "plasticity"

    def __init__(self, w_min: float, w_max: float, where: str | None = None):
        where = where or type(self).__name__
        self.w_min = V.real(where, "w_min", w_min, float32=True)
        self.w_max = V.real(where, "w_max", w_max, float32=True)
        if not self.w_max > self.w_min:
            raise ValueError(f"{where}: w_max must be > w_min, got w_min={self.w_min}, "
                             f"w_max={self.w_max}")
        self._runtimes: list = []
        self._enabled = True

    @property
    def enabled(self) -> bool:
        """Whether the weights learn (False freezes them; traces keep following spikes)."""
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        value = V.boolean(type(self).__name__, "enabled", value)
        for rt in self._runtimes:          # lazy rules settle the time spent in the old mode
            rt.sync()
        self._enabled = bool(value)
        for rt in self._runtimes:          # device runtimes copy the switch to the device
            hook = getattr(rt, "switched", None)
            if hook is not None:
                hook()

    # -- checks at connect time --------------------------------------------------------------
    def check(self, pre, post, receptor: str, weight) -> None:
        """Called by ``Network.connect``: weights within bounds, bounds of the receptor's sign."""
        where = f"connect(plasticity={self._label()})"
        sign = post.model.weight_sign.get(receptor, 0)
        if sign > 0 and self.w_min < 0:
            raise ValueError(f"{where}: w_min must be >= 0 for the {receptor} receptor of "
                             f"{type(post.model).__name__}, got {self.w_min}")
        if sign < 0 and self.w_max > 0:
            raise ValueError(f"{where}: w_max must be <= 0 for the {receptor} receptor of "
                             f"{type(post.model).__name__} (weights are negative), got "
                             f"{self.w_max}")
        lo, hi = D.value_range(weight)
        if lo < self.w_min or hi > self.w_max:
            raise ValueError(f"{where}: initial weights must lie within [w_min, w_max] = "
                             f"[{self.w_min}, {self.w_max}], got values in [{lo}, {hi}]")

    def _label(self) -> str:
        """The rule's name in messages."""
        return type(self).__name__

    # -- engines ------------------------------------------------------------------------------
    def build_numpy(self, engine, proj):  # pragma: no cover - abstract
        raise NotImplementedError

    def _bind(self, runtime) -> None:
        self._runtimes.append(runtime)

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({fields})"

    def _params(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


class HomeostasisRule:
    """Base class of homeostatic rules attached with ``net.add_homeostasis(population, rule)``.

    A rule object serves exactly one population. ``enabled`` freezes its adaptation when False
    (its state, such as an adaptive threshold, is kept and still acts).
    """

    def __init__(self):
        self.enabled = True
        self.population = None
        self._runtime = None

    @property
    def enabled(self) -> bool:
        """Whether the rule adapts (False freezes it; its state still acts)."""
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self._enabled = V.boolean(type(self).__name__, "enabled", value)
        hook = getattr(getattr(self, "_runtime", None), "switched", None)
        if hook is not None:                 # device runtimes copy the switch to the device
            hook()

    def check(self, population) -> None:
        """Called by ``Network.add_homeostasis``: the model must support the rule."""
        where = f"add_homeostasis({type(self).__name__})"
        if self.population is not None:
            raise ValueError(f"{where}: this rule object is already attached to population "
                             f"{self.population.name!r}; create one rule per population")
        if population.model.is_source:
            raise ValueError(f"{where}: population {population.name!r} is a spike source")
        self._check_model(where, population)
        self.population = population

    def _check_model(self, where, population) -> None:
        pass

    def build_numpy(self, engine, population):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                           if not k.startswith("_") and k not in ("enabled", "population"))
        return f"{type(self).__name__}({fields})"


def positive_time(where: str, name: str, value) -> float:
    v = V.positive(where, name, value, float32=True)
    if math.isinf(v):  # pragma: no cover - V.positive rejects inf already
        raise ValueError(f"{where}: {name} must be finite, got {v}")
    return v


def choice(where: str, name: str, value, options) -> str:
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{where}: {name} must be one of {list(options)}, got {value!r}")
    return value

