r"""Homeostasis of populations: adaptive thresholds, intrinsic plasticity, synaptic scaling.

Attach with ``net.add_homeostasis(population, rule)`` (one rule object per population). Each
runs in the "learn" stage of every step, after the plastic projections, and sees the spikes of
the step (stamped ``t_{n+1}``); a threshold it changes acts from the next step on.

- :class:`AdaptiveThreshold` (Diehl & Cook 2015): per neuron ``theta`` decays with
  ``tau_theta`` and jumps by ``theta_plus`` at each spike; the neuron fires when
  ``v >= v_thresh + theta``. Decay is ``theta <- theta exp(-dt/tau_theta)`` every step, then the
  jumps of the step's spikes.
- :class:`IntrinsicPlasticity`: a per-neuron rate estimate ``r`` in Hz (the spike train
  filtered with ``tau_rate``: ``r <- r exp(-T/tau_rate) + k (1 - exp(-T/tau_rate)) / T`` every
  ``interval`` ``T``, ``k`` the spikes counted in it; unbiased: a spike weighs one spike in
  total) drives an integral controller on the threshold,
  ``theta <- theta + eta (r - target_rate) T``: the rate returns to ``target_rate`` whatever the
  input (``eta`` in mV per second per Hz of error).
- :class:`SynapticScaling`: every ``interval`` the incoming weights of each neuron (from the chosen
  projections, default all excitatory ones) are multiplied by one factor per neuron: toward a
  target rate, ``1 + eta (target_rate - r) / target_rate T`` (Turrigiano-style, multiplicative,
  ``r`` estimated as above, ``eta`` per second, factor clipped to [0.5, 2]); or toward a target
  total input weight, ``target_total / sum_j w_ij`` (the weight normalisation of Diehl & Cook;
  the sum and the division in float64, the factor then rounded once). Plastic weights are then
  clipped to their rule's bounds.

Every rule here is a :class:`~.homeostasis_model.HomeostasisModel` description
(:data:`ADAPTIVE_THRESHOLD`, :data:`INTRINSIC_PLASTICITY`, :data:`SCALING_RATE`,
:data:`SCALING_TOTAL`), run by :class:`HomeostasisNumpy` and its CUDA twin; a user's rule is
``ns.HomeostasisModel(...)(**parameters)`` (a :class:`DescribedHomeostasis`).

Threshold rules need a model with a ``v_thresh`` parameter (``LIF``, ``LIFCond``); several
threshold rules on one population add their shifts.

State (``theta``, rate estimates, spike counts, factors) is in the network's real type (float32,
or float64 with ``Network(precision="double")``); constants are computed in float64 and rounded
once to it.
"""

from __future__ import annotations

import weakref

import numpy as np

from .. import _validate as V
from .base import DescribedValues, HomeostasisRule
from .homeostasis_model import HomeostasisModel, threshold_shift
from .numpy_runtime import select_local


def real_type(engine):
    """The scalar type of the engine's network (np.float32, or np.float64 in double)."""
    return np.dtype(getattr(engine.L, "dtype", np.float32)).type

_SHIFTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _inf(sign: float) -> float:
    return float(sign) * float("inf")


#: Diehl & Cook (2015): theta decays with tau_theta every step, then jumps by theta_plus at
#: each spike; v_thresh = base + theta
ADAPTIVE_THRESHOLD = HomeostasisModel(
    "adaptive_threshold",
    parameters={"theta_plus": 0.05, "tau_theta": 1e7, "theta_init": 0.0},
    state={"theta": "theta_init"},
    derived={"P": "exp(-dt / tau_theta)"},
    every_step="theta = theta * P",
    on_spike="theta += theta_plus",
    threshold="theta")

#: rate estimate r (Hz) folded in every interval T from the spikes counted in it (a spike
#: weighs (1 - P) / T per interval: one spike in total), and an integral controller on theta
INTRINSIC_PLASTICITY = HomeostasisModel(
    "intrinsic_plasticity",
    parameters={"target_rate": 5.0, "eta": 0.5, "tau_rate": 500.0, "interval": 10.0,
                "theta_min": _inf(-1), "theta_max": _inf(1)},
    state={"theta": 0.0, "r": "target_rate", "counts": 0.0},
    derived={"P": "exp(-T / tau_rate)", "gain": "-expm1(-T / tau_rate) * 1000.0 / T",
             "eta_T": "eta * T * 0.001"},
    on_spike="counts += 1",
    every_interval="""
        r = r * P + counts * gain
        counts = 0
        theta = clip(theta + eta_T * (r - target_rate), theta_min, theta_max)
    """,
    interval="interval",
    threshold="theta")


#: SynapticScaling toward a target rate: the rate estimate of IntrinsicPlasticity and one
#: multiplicative factor per neuron at the end of each interval, then every scaled synapse's
#: weight times the factor of its target (clipped to its plastic rule's bounds)
SCALING_RATE = HomeostasisModel(
    "synaptic_scaling_rate",
    parameters={"target_rate": 5.0, "eta": 1.0, "tau_rate": 1000.0, "interval": 100.0},
    state={"r": "target_rate", "counts": 0.0, "factor": 1.0},
    derived={"P": "exp(-T / tau_rate)", "gain_r": "-expm1(-T / tau_rate) * 1000.0 / T",
             "gain": "eta * T * 0.001 / target_rate"},
    on_spike="counts += 1",
    every_interval="""
        r = r * P + counts * gain_r
        counts = 0
        factor = clip(1 + gain * (target_rate - r), 0.5, 2)
    """,
    weights="w = w * factor",
    interval="interval")

#: SynapticScaling toward a target total weight (Diehl & Cook's normalisation): at the end of
#: each interval the sum of every neuron's incoming weights (float64), the factor
#: target_total / sum (in float64, then rounded; 1 without input), and the weights scaled
SCALING_TOTAL = HomeostasisModel(
    "synaptic_scaling_total",
    parameters={"target_total": 1.0, "interval": 100.0},
    state={"factor": 1.0},
    incoming={"total": "w"},
    every_interval="factor = target_total / total if total > 0 else 1",
    weights="w = w * factor",
    interval="interval")


class _Scaling:
    """A :class:`SynapticScaling` rule as a described rule (its description by form, run by
    the generic runtimes inside the scaling runtimes)."""

    def __init__(self, rule):
        self.rule = rule
        self.description = SCALING_RATE if rule.target_rate is not None else SCALING_TOTAL
        self.projections = rule.projections
        self._runtime = None

    @property
    def enabled(self) -> bool:
        return self.rule.enabled

    @property
    def parameters(self) -> dict:
        return {p: getattr(self.rule, p) for p in self.description.parameters}


class DescribedHomeostasis(DescribedValues, HomeostasisRule):
    """A homeostasis rule run from its :class:`~.homeostasis_model.HomeostasisModel`
    (``description``).

    A user's rule is ``model(**parameters)`` (:meth:`HomeostasisModel.__call__`): its values
    are in ``parameters`` (also readable as attributes, ``rule.tau``). A built-in rule is a
    subclass with ``description`` as a class attribute and its own constructor, which sets and
    checks the parameters as attributes of the same names. Both backends run either.
    ``projections``: for a rule that reads or scales weights, the projections onto the
    population it acts on (None: all of the population's excitatory projections)."""

    description: HomeostasisModel = None
    numpy_runtime = None            # the runtime classes (named: checkpoints record them)
    cuda_runtime = None
    projections = None

    def __init__(self, description: HomeostasisModel | None = None, params: dict | None = None,
                 projections=None):
        super().__init__()
        if description is None:                  # a built-in subclass: its constructor checks
            return
        d = description
        where = f"{d.name}()"
        unknown = sorted(set(params) - set(d.parameters))
        if unknown:
            raise ValueError(f"{where}: unknown parameter(s) {unknown}; parameters: "
                             f"{sorted(d.parameters)}")
        per_neuron = d.per_neuron_parameters()
        values = dict(d.parameters)
        for p, v in params.items():
            if p in per_neuron:
                values[p] = V.scalar_or_array(where, p, v, float32=True)
            else:
                values[p] = V.real(where, p, v, float32=True, allow_inf=True)
        for p in d.positive:
            V.positive(where, p, values[p], float32=True)
        for p in d.non_negative:
            V.non_negative(where, p, values[p], float32=True)
        if projections is not None:
            if not d.synaptic:
                raise ValueError(f"{where}: projections= is for rules that read or scale "
                                 f"weights (incoming, weights); {d.name!r} does neither")
            projections = _projection_list(where, projections)
        self.description, self._values, self.projections = d, values, projections

    def _check_model(self, where, population):
        d = self.description
        if d.threshold is not None and "v_thresh" not in population.model.parameters():
            raise ValueError(f"{where}: {type(population.model).__name__} has no v_thresh "
                             f"parameter; threshold homeostasis needs a model such as LIF or "
                             f"LIFCond")
        for p, v in self.parameters.items():
            if np.ndim(v) and np.size(v) != population.size:
                raise ValueError(f"{where}: {p} has {np.size(v)} values but population "
                                 f"{population.name!r} has {population.size} neurons")
        _check_projections(where, self.projections, population)

    def value(self, name: str) -> np.ndarray:
        """The current per-neuron value of state variable ``name`` (a copy)."""
        if name not in self.description.state:
            raise ValueError(f"{type(self).__name__}.value(): {name!r} is not a state "
                             f"variable of {self.description.name!r}; it has "
                             f"{sorted(self.description.state)}")
        if self._runtime is None:
            raise RuntimeError(f"{type(self).__name__}.value(): the network is not built yet")
        return np.array(self._runtime.value(name), copy=True)

    def build_numpy(self, engine, population):
        return (self.numpy_runtime or HomeostasisNumpy)(engine, population, self)

    def build_cuda(self, engine, population):
        from .cuda_runtime import HomeostasisCuda
        return (self.cuda_runtime or HomeostasisCuda)(engine, population, self)


class _ThresholdRule(DescribedHomeostasis):
    @property
    def theta(self) -> np.ndarray:
        """The current threshold shift (mV) per neuron (a copy)."""
        if self._runtime is None:
            raise RuntimeError(f"{type(self).__name__}.theta: the network is not built yet")
        return self._runtime.theta.copy()


class AdaptiveThreshold(_ThresholdRule):
    """Diehl & Cook (2015) adaptive threshold: ``theta`` jumps by ``theta_plus`` (mV) per spike
    and decays with ``tau_theta`` (ms); ``theta_init`` (mV) is its initial value, a number or
    one value per neuron (e.g. thresholds learned in another network)."""

    array_params = ("theta_init",)        # may be per-neuron arrays (checkpoints store them)

    def __init__(self, theta_plus: float = 0.05, tau_theta: float = 1e7,
                 theta_init: float = 0.0):
        super().__init__()
        where = "AdaptiveThreshold"
        self.theta_plus = V.non_negative(where, "theta_plus", theta_plus, float32=True)
        self.tau_theta = V.positive(where, "tau_theta", tau_theta, float32=True)
        self.theta_init = V.scalar_or_array(where, "theta_init", theta_init, float32=True)

    def _check_model(self, where, population):
        super()._check_model(where, population)
        if np.ndim(self.theta_init) and self.theta_init.size != population.size:
            raise ValueError(f"{where}: theta_init has {self.theta_init.size} values but "
                             f"population {population.name!r} has {population.size} neurons")

    description = ADAPTIVE_THRESHOLD

    @property
    def numpy_runtime(self):
        return AdaptiveThresholdNumpy

    @property
    def cuda_runtime(self):
        from .cuda_runtime import AdaptiveThresholdCuda
        return AdaptiveThresholdCuda


class IntrinsicPlasticity(_ThresholdRule):
    """Threshold adaptation toward ``target_rate`` (Hz): ``d theta/dt = eta (r - target_rate)``
    with ``eta`` in mV/(Hz s), ``r`` filtered with ``tau_rate`` (ms), updated every
    ``interval`` (ms); ``theta`` stays within ``[theta_min, theta_max]`` (mV)."""

    def __init__(self, target_rate: float, eta: float = 0.5, tau_rate: float = 500.0,
                 interval: float = 10.0, theta_min: float = -np.inf, theta_max: float = np.inf):
        super().__init__()
        where = "IntrinsicPlasticity"
        self.target_rate = V.positive(where, "target_rate", target_rate, float32=True)
        self.eta = V.non_negative(where, "eta", eta, float32=True)
        self.tau_rate = V.positive(where, "tau_rate", tau_rate, float32=True)
        self.interval = V.positive(where, "interval", interval, float32=True)
        self.theta_min = V.real(where, "theta_min", theta_min, float32=True, allow_inf=True)
        self.theta_max = V.real(where, "theta_max", theta_max, float32=True, allow_inf=True)
        if not self.theta_min < self.theta_max:
            raise ValueError(f"{where}: theta_min must be < theta_max, got {theta_min}, "
                             f"{theta_max}")

    @property
    def rate(self) -> np.ndarray:
        """The current rate estimate (Hz) per neuron (a copy)."""
        if self._runtime is None:
            raise RuntimeError("IntrinsicPlasticity.rate: the network is not built yet")
        return self._runtime.r.copy()

    description = INTRINSIC_PLASTICITY

    @property
    def numpy_runtime(self):
        return IntrinsicPlasticityNumpy

    @property
    def cuda_runtime(self):
        from .cuda_runtime import IntrinsicPlasticityCuda
        return IntrinsicPlasticityCuda


class SynapticScaling(HomeostasisRule):
    """Multiplicative scaling of incoming weights toward ``target_rate`` (Hz) or
    ``target_total`` (sum of incoming weights per neuron, weight units); see module docstring.

    ``projections``: the projections onto the population to scale (default: all of its
    projections on the excitatory receptor); ``interval`` (ms) between scalings; ``eta`` (per
    second) and ``tau_rate`` (ms) for the rate form.
    """

    def __init__(self, target_rate: float | None = None, target_total: float | None = None,
                 eta: float = 1.0, tau_rate: float = 1000.0, interval: float = 100.0,
                 projections=None):
        super().__init__()
        where = "SynapticScaling"
        if (target_rate is None) == (target_total is None):
            raise ValueError(f"{where}: give exactly one of target_rate and target_total")
        self.target_rate = (None if target_rate is None
                            else V.positive(where, "target_rate", target_rate, float32=True))
        self.target_total = (None if target_total is None
                             else V.positive(where, "target_total", target_total, float32=True))
        self.eta = V.non_negative(where, "eta", eta, float32=True)
        self.tau_rate = V.positive(where, "tau_rate", tau_rate, float32=True)
        self.interval = V.positive(where, "interval", interval, float32=True)
        self.projections = None if projections is None else _projection_list(where, projections)

    def _check_model(self, where, population):
        _check_projections(where, self.projections, population)

    def build_numpy(self, engine, population):
        return SynapticScalingNumpy(engine, population, self)

    def build_cuda(self, engine, population):
        from .cuda_runtime import SynapticScalingCuda
        return SynapticScalingCuda(engine, population, self)


def _check_projections(where: str, projections, population) -> None:
    for p in projections or ():
        if p.post is not population:
            raise ValueError(f"{where}: projection {p.name!r} does not end on population "
                             f"{population.name!r}")


def scaled_projections(net, population, rule) -> list:
    """The projections a weight rule acts on: ``rule.projections``, or all of the
    population's excitatory projections."""
    if rule.projections is not None:
        return list(rule.projections)
    return [p for p in net.projections if p.post is population and p.receptor == "excitatory"]


def _projection_list(where: str, projections) -> list:
    from ..network import Projection
    return V.sequence_of(where, "projections", projections, Projection,
                         "a Projection (as returned by net.connect)")


# -- NumPy runtimes -----------------------------------------------------------------------------

class _PopulationRuntime:
    """Common part: which neurons, and the spikes of the step among them."""

    proj = None                                   # not a projection (engine's plastic_runtime)

    def __init__(self, engine, population, rule):
        self.engine, self.pop, self.rule = engine, population, rule
        g, off = engine.L.pop_group[population.index]
        self.group, self.off, self.size = g, off, population.size
        self.lo = g.start + off
        self.block = (0, population.size)
        share = getattr(engine, "population_share", None)     # an MPI rank's block of it
        if share is not None:
            self.lo, self.size, self.block = share(population)
        self.dt = engine.L.dt
        self.real = real_type(engine)
        rule._runtime = self

    def spikes(self, S):
        return select_local(S, self.lo, self.size)


class _Shift:
    """Threshold of one population: ``v_thresh`` + the sum of the rules' shifts (in place)."""

    def __init__(self, engine, group, off, size):
        c = group.consts
        thr = c["v_thresh"]
        if np.ndim(thr) == 0:
            thr = np.full(group.size, thr, np.asarray(thr).dtype)
            c["v_thresh"] = thr               # the group's threshold becomes per neuron
        self.thr = thr
        self.sl = slice(off, off + size)
        self.base = thr[self.sl].copy()
        self.parts: list = []

    def apply(self):
        total = self.parts[0] if len(self.parts) == 1 else np.sum(self.parts, axis=0)
        self.thr[self.sl] = threshold_shift()(self.base, total)


def _shift_for(engine, population, size):
    per_engine = _SHIFTS.setdefault(engine, {})
    if population.index not in per_engine:
        g, off = engine.L.pop_group[population.index]
        per_engine[population.index] = _Shift(engine, g, off, size)
    return per_engine[population.index]


def _share(value, block):
    """A per-neuron initial value cut to the neurons ``block`` = (a, b) of the population."""
    return np.asarray(value)[block[0]:block[1]] if np.ndim(value) else value


class HomeostasisNumpy(_PopulationRuntime):
    """The NumPy runtime of a described homeostasis rule: its per-neuron state (``state``,
    by name, in the network's real type), the functions generated from its description run
    over all neurons (``every_step``; ``every_interval`` at the end of each interval) or the
    step's spiking neurons (``on_spike``), then the threshold rewritten (``base + shift``)."""

    def __init__(self, engine, population, rule):
        super().__init__(engine, population, rule)
        d = self.description = rule.description
        values = rule.parameters
        R_ = self.real
        self.fns = dict(d.numpy(double=R_ is np.float64)[0],
                        incoming=d.numpy_incoming(double=R_ is np.float64)[0])
        self.consts = d.constants(values, self.dt, R_)
        self.k = d.interval_steps(values, self.dt)
        self.state = {s: np.array(np.broadcast_to(_share(values[v] if isinstance(v, str)
                                                         else v, self.block), (self.size,)), R_)
                      for s, v in d.state.items()}
        self.reads = {b: sorted(blk.reads | blk.writes) for b, blk in d.blocks.items()}
        self.reads["incoming"] = sorted(set().union(*(e.reads for e in d.incoming.values())))
        self.shift = None
        if d.threshold is not None:
            self.shift = _shift_for(engine, population, self.size)
            self._part = len(self.shift.parts)
            self.shift.parts.append(self.state[d.threshold])
            self.shift.apply()
        self.handles = ([_weight_handle(engine, p)
                         for p in scaled_projections(engine.net, population, rule)]
                        if d.synaptic else [])

    def value(self, name: str) -> np.ndarray:
        return self.state[name]

    @property
    def theta(self):
        return self.state["theta"]

    @property
    def r(self):
        return self.state["r"]

    def _run(self, block: str, idx=None, extra=None) -> None:
        v = dict(self.consts, **(extra or {}))
        for name in self.reads[block]:
            if name in self.state:
                v[name] = self.state[name] if idx is None else self.state[name][idx]
        out = self.fns[block](v)
        if idx is not None:
            for name, a in out.items():
                self.state[name][idx] = a
            return
        # all neurons: a result that is a state array itself (``b = a``) is copied before any
        # state changes; fresh arrays of the state's type replace the state's (no copy),
        # numbers fill it
        mine = [id(a) for a in self.state.values()]
        out = {k: (a.copy() if id(a) in mine else a) for k, a in out.items()}
        for name, a in out.items():
            if isinstance(a, np.ndarray) and a.dtype == self.real and a.shape == (self.size,):
                self.state[name] = a
                if name == self.description.threshold:
                    self.shift.parts[self._part] = a
            else:
                self.state[name][...] = a

    def step(self, n, S, D):
        if not self.rule.enabled:
            return
        d = self.description
        if "every_step" in d.blocks:
            self._run("every_step")
        if "on_spike" in d.blocks:
            idx = self.spikes(S)
            if idx.size:
                self._run("on_spike", idx)
        ended = bool(self.k) and (n + 1) % self.k == 0
        sums = self._incoming() if ended and d.incoming else {}
        if ended and "every_interval" in d.blocks:
            self._run("every_interval", extra=sums)
        if ended and "weights" in d.blocks:
            self._weights()
        if self.shift is not None and (d.shift_every_step or ended):
            self.shift.apply()

    def _synapse_values(self, h, names) -> dict:
        """What the per-synapse code of handle ``h`` reads: the constants, ``w``, its bounds
        and the target neurons' state."""
        v = dict(self.consts, w=h.get(), w_min=h.bounds[0], w_max=h.bounds[1])
        for name in names:
            if name in self.state:
                v[name] = self.state[name][h.post]
        return v

    def _incoming(self) -> dict:
        """The incoming sums (float64, per neuron) over every handle's synapses."""
        sums = {i: np.zeros(self.size, np.float64) for i in self.description.incoming}
        for h in self.handles:
            parts = self.fns["incoming"](self._synapse_values(h, self.reads["incoming"]))
            for i, x in parts.items():
                x = np.broadcast_to(x, h.post.shape)
                sums[i] += np.bincount(h.post, weights=x, minlength=self.size)
        return sums

    def _weights(self) -> None:
        for h in self.handles:
            h.put(self.fns["weights"](self._synapse_values(h, self.reads["weights"]))["w"])


class AdaptiveThresholdNumpy(HomeostasisNumpy):
    """:class:`AdaptiveThreshold` on NumPy (named: checkpoints record the runtime kind)."""


class IntrinsicPlasticityNumpy(HomeostasisNumpy):
    """:class:`IntrinsicPlasticity` on NumPy (named: checkpoints record the runtime kind)."""


class SynapticScalingNumpy(_PopulationRuntime):
    """:class:`SynapticScaling` on NumPy: the runtime of its description (``inner``, a
    :class:`HomeostasisNumpy` of :data:`SCALING_RATE` or :data:`SCALING_TOTAL`): the factor per
    neuron, then every scaled projection's weights times the factor of their target (plastic
    ones clipped to their rule's bounds). Named: checkpoints record the runtime kind and the
    rate form's ``r`` and ``counts``."""

    def __init__(self, engine, population, rule):
        super().__init__(engine, population, rule)
        self.inner = HomeostasisNumpy(engine, population, _Scaling(rule))
        self.k = self.inner.k
        self.handles = self.inner.handles
        rule._runtime = self

    @property
    def state(self) -> dict:
        """The rate form's per-neuron state: ``r``, ``counts`` (empty for the total form)."""
        return {k: a for k, a in self.inner.state.items() if k in ("r", "counts")}

    def step(self, n, S, D):
        self.inner.step(n, S, D)


class _WeightHandle:
    """The weights of one projection (plastic or static), read and written in place, their
    targets and bounds (the plastic rule's; +-inf for static weights)."""

    def __init__(self, post, get, put, bounds):
        self.post, self.get, self.put, self.bounds = post, get, put, bounds


def _weight_handle(engine, proj):
    if proj.plasticity is not None:
        rt = engine.plastic_runtime(proj)
        real = real_type(engine)
        return _WeightHandle(rt.post, rt.current_weights, rt.set_weights,
                             (real(proj.plasticity.w_min), real(proj.plasticity.w_max)))
    from ..engine.layout import member_positions
    ci, _ = engine.L.proj_class[proj]
    weights = engine.L.classes[ci].weights
    members = getattr(engine, "static_members", None)      # an MPI rank's share of proj
    if members is not None:
        pos, _, post = members(proj)
    else:
        pos = member_positions(engine.L, proj)
        post = engine.projection_array(proj, "targets").astype(np.int64)

    def put(w):
        weights[pos] = w
    real = real_type(engine)
    return _WeightHandle(post, lambda: weights[pos], put, (real(-np.inf), real(np.inf)))
