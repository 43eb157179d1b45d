r"""Plasticity rules described once (:class:`PlasticityModel`), generated for every backend.

A description names a rule's parameters, its traces, its per-synapse state and what happens to
a synapse at a presynaptic arrival (``on_pre``) and at a postsynaptic spike (``on_post``), as code
in the language of neuron models (:mod:`neurosim.models.language`). Calling the description with
parameter values gives a rule for ``net.connect(..., plasticity=rule)``, like ``ns.STDP(...)``::

    sym = ns.PlasticityModel(
        "symmetric_stdp",
        parameters={"A": 0.01, "tau": 20.0},
        pre_traces={"x": "tau"},          # trace name -> the parameter holding its tau (ms)
        post_traces={"y": "tau"},
        on_pre="w += A * y",              # at each presynaptic arrival
        on_post="w += A * x",             # at each postsynaptic spike
    )
    net.connect(a, b, ns.AllToAll(), weight=0.5, plasticity=sym(A=0.005, w_max=1.0))

Semantics (those of the built-in rules, written as such descriptions: :class:`neurosim.STDP`,
:class:`neurosim.TripletSTDP`, :class:`neurosim.RewardSTDP`; the event order and the treatment
of delays are in :mod:`neurosim.plasticity.numpy_runtime`):

- **traces**: ``dx/dt = -x / tau`` between spikes, sampled exactly on the grid (one
  multiplication by ``exp(-dt / tau)`` per step); at a spike of its neuron a trace jumps by 1
  (``pairing="all"``) or is set to 1 (``"nearest"``, ``"nearest_reduced"``). Presynaptic traces
  (``pre_traces``) follow the spikes as they *arrive* (delays are axonal), postsynaptic ones
  (``post_traces``) the spikes of the target neuron;
- **on_pre** runs for every synapse at which a presynaptic spike arrives, reading the
  postsynaptic traces at that time (without the postsynaptic spikes of the same step) and the
  presynaptic traces just before the arrival's own jump; **on_post** runs for every synapse of
  a spiking neuron, reading the presynaptic traces with the arrivals of that step and the
  postsynaptic traces just before the spike's own jump. Within a step arrivals come first, so
  ``Delta t = 0`` pairs are causal;
- with ``pairing="nearest_reduced"`` (Morrison et al. 2008, Fig. 7C) ``on_pre`` reads the
  postsynaptic traces as 0 unless it is the first arrival since that neuron's last spike, and
  ``on_post`` reads the presynaptic traces as 0 unless it is the first spike since that
  synapse's last arrival;
- both blocks may assign the weight ``w`` and the per-synapse ``state`` variables, and read the
  parameters, the ``derived`` constants, ``w_min``, ``w_max`` and ``dt``; after a block that
  assigns ``w``, ``w`` is clipped to ``[w_min, w_max]``. With ``rule.enabled = False`` neither
  block runs (the traces go on);
- **between** (optional): how a synapse's state and weight change in an interval without
  events, in closed form (the rule is then integrated lazily and exactly, as reward-modulated
  STDP is): it reads ``elapsed`` (ms since the synapse was last brought up to date) and the
  ``modulator``'s level at the start of that interval, and runs before ``on_pre``/``on_post``
  touch a synapse, before a synapse's spike is delivered, and for every synapse when the
  weights are read or written, the learning is switched or the modulator changes. With
  learning off its assignments to ``w`` are dropped (its state still evolves);
- **modulator** (optional, with ``between``): ``{"name": "d", "tau": "tau_d", "rest":
  "baseline"}`` declares a level shared by the projection's synapses that relaxes to the
  parameter ``rest`` with time constant ``tau`` and jumps by what :meth:`DescribedRule.deliver`
  adds (a reward, dopamine).

All arithmetic is in the network's precision (float32, or float64 with
``Network(precision="double")``: weights, traces, per-synapse state, the modulator; parameters
and derived constants are computed in float64 and rounded once to it), in the order written, on
both backends; where no transcendental function is involved the CUDA kernels reproduce NumPy bit
for bit.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from ..models.language import (ModelDefinitionError, Scope, check_name, parse_block,
                               parse_expression)
from .base import DescribedValues, PlasticityRule

KIND = "PlasticityModel"
PAIRINGS = ("all", "nearest", "nearest_reduced")
MAX_TRACES = 8
# names a runtime keeps next to the rule's state (checkpoint entries) or a rule object uses
_STATE_TAKEN = frozenset("""w X t0 yv ydep v Z t1 T kind d_r r_step pending arrived undo xr y
    pre_last pre_prev post_last post_prev pre_spk pre_cnt dop form step dopamine""".split())
_PARAM_TAKEN = frozenset("""w w_min w_max dt elapsed enabled pairing update check description
    parameters deliver deliver_reward dopamine modulator window name""".split())


class PlasticityModel:
    """A plasticity rule described once; call it with parameter values to get a rule.

    ``name``: an identifier (it names the rule's kernels); ``parameters``: name -> default
    number; ``pre_traces`` / ``post_traces``: trace name -> the parameter holding its time
    constant (ms); ``state``: per-synapse variable -> initial value (a number); ``on_pre``,
    ``on_post``, ``between``: code; ``derived``: name -> expression over the parameters (and
    ``w_min``, ``w_max``, the constants before it), computed once per rule in float64 and rounded
    to float32; ``modulator``: see the module docstring; ``pairings``: the pairings the rule
    accepts (the first is the default); ``positive`` / ``non_negative``: parameters that must be
    > 0 / >= 0 (the traces' time constants are checked anyway); ``w_min``, ``w_max``: default
    bounds; ``form``: the name of the rule's form in checkpoints (default: ``name``).
    Errors (:class:`~neurosim.models.language.ModelDefinitionError`, a ValueError) name the
    rule, the block, the line and the name at fault.
    """

    def __init__(self, name: str, *, parameters: dict, on_pre: str = "", on_post: str = "",
                 pre_traces: dict | None = None, post_traces: dict | None = None,
                 state: dict | None = None, derived: dict | None = None,
                 between: str | None = None, modulator: dict | None = None,
                 pairings=PAIRINGS, positive=(), non_negative=(), w_min: float = 0.0,
                 w_max: float = 1.0, form: str | None = None, doc: str = ""):
        if not isinstance(name, str) or not name.isidentifier():
            raise ModelDefinitionError(f"{KIND}: name must be an identifier such as "
                                       f"'symmetric_stdp', got {name!r}")
        check_name(name, "rule", name, KIND)
        self.name, self.doc, self.form = name, doc, form or name
        self._declare(parameters, pre_traces or {}, post_traces or {}, state or {},
                      derived or {}, modulator, pairings, positive, non_negative)
        where = f"{KIND} {name!r}"
        self.w_min = V.real(where, "w_min", w_min, float32=True)
        self.w_max = V.real(where, "w_max", w_max, float32=True)
        self._parse(on_pre, on_post, between)
        self._numpy = None
        self._cuda = None

    # -- declarations ----------------------------------------------------------------------------
    def _declare(self, parameters, pre_traces, post_traces, state, derived, modulator,
                 pairings, positive, non_negative):
        where = f"{KIND} {self.name!r}"
        for what, value in (("parameters", parameters), ("pre_traces", pre_traces),
                            ("post_traces", post_traces), ("state", state),
                            ("derived", derived)):
            if not isinstance(value, dict):
                raise ModelDefinitionError(f"{where}: {what} must be a dict, got "
                                           f"{type(value).__name__}")
        seen: dict = {}

        def declare(what, n):
            check_name(self.name, what, n, KIND)
            if n in _PARAM_TAKEN:
                raise ModelDefinitionError(f"{where}: {what} name {n!r} is reserved (the "
                                           f"language of rules and the rule objects use it); "
                                           f"choose another")
            if n in seen:
                raise ModelDefinitionError(f"{where}: {n!r} is declared twice (as a {seen[n]} "
                                           f"and as a {what}: parameters, traces, state and "
                                           f"derived constants share one namespace)")
            seen[n] = what

        self.parameters = {}
        for p, value in parameters.items():
            declare("parameter", p)
            try:
                self.parameters[p] = V.real(where, f"parameter {p}", value, float32=True)
            except (TypeError, ValueError) as exc:
                raise ModelDefinitionError(str(exc)) from None
        self.pre_traces, self.post_traces = {}, {}
        for what, src, dst in (("presynaptic trace", pre_traces, self.pre_traces),
                               ("postsynaptic trace", post_traces, self.post_traces)):
            if len(src) > MAX_TRACES:
                raise ModelDefinitionError(f"{where}: at most {MAX_TRACES} {what}s, got "
                                           f"{len(src)}")
            for t, tau in src.items():
                declare(what, t)
                if not isinstance(tau, str) or tau not in self.parameters:
                    raise ModelDefinitionError(
                        f"{where}: {what} {t!r} must name the parameter holding its time "
                        f"constant (ms), got {tau!r}; parameters: {sorted(self.parameters)}")
                dst[t] = tau
        self.state = {}
        for s, value in state.items():
            declare("state variable", s)
            if s in _STATE_TAKEN:
                raise ModelDefinitionError(f"{where}: state variable name {s!r} is reserved "
                                           f"(the runtimes' own state); choose another")
            try:
                self.state[s] = V.real(where, f"initial value of state variable {s}", value,
                                       float32=True)
            except (TypeError, ValueError) as exc:
                raise ModelDefinitionError(str(exc)) from None
        for d in derived:
            declare("derived constant", d)
        if isinstance(pairings, str) or not pairings or \
                any(p not in PAIRINGS for p in pairings):
            raise ModelDefinitionError(f"{where}: pairings must be a non-empty list of "
                                       f"{list(PAIRINGS)}, got {pairings!r}")
        self.pairings = tuple(pairings)
        for what, names in (("positive", positive), ("non_negative", non_negative)):
            for p in names:
                if p not in self.parameters:
                    raise ModelDefinitionError(f"{where}: {what} names {p!r}, which is not a "
                                               f"parameter")
        taus = (*self.pre_traces.values(), *self.post_traces.values())
        self.modulator = None
        if modulator is not None:
            if not isinstance(modulator, dict) or set(modulator) != {"name", "tau", "rest"}:
                raise ModelDefinitionError(f"{where}: modulator must be a dict with the keys "
                                           f"'name', 'tau' and 'rest', got {modulator!r}")
            declare("modulator", modulator["name"])
            for key in ("tau", "rest"):
                if modulator[key] not in self.parameters:
                    raise ModelDefinitionError(f"{where}: modulator[{key!r}] must name a "
                                               f"parameter, got {modulator[key]!r}")
            self.modulator = dict(modulator)
            taus += (modulator["tau"],)
        self.positive = tuple(dict.fromkeys((*positive, *taus)))
        self.non_negative = tuple(dict.fromkeys(non_negative))
        self._derived_text = dict(derived)

    def _parse(self, on_pre, on_post, between):
        consts = {p: "parameter" for p in self.parameters}
        consts.update(w_min="weight bound", w_max="weight bound")
        self.derived = {}
        for name, text in self._derived_text.items():
            self.derived[name] = parse_expression(self.name, f"derived[{name!r}]", text,
                                                  Scope(dict(consts)), "float", KIND)
            consts[name] = "derived constant"
        consts["dt"] = "time step"
        state = {s: "state variable" for s in self.state}
        traces = {t: "presynaptic trace" for t in self.pre_traces}
        traces.update({t: "postsynaptic trace" for t in self.post_traces})
        writable = frozenset({"w", *self.state})
        mod = self.modulator["name"] if self.modulator else None
        event = dict(consts, **state, **traces, w="weight")
        absent = {"elapsed": "it is only defined in the between block"}
        if mod:
            absent[mod] = "the modulator is read in the between block only"
        self.on_pre = self.on_post = self.between = None
        for attr, text in (("on_pre", on_pre), ("on_post", on_post)):
            if text is None or (isinstance(text, str) and not text.strip()):
                continue
            setattr(self, attr, parse_block(self.name, attr, text,
                                            Scope(event, writable, True, absent), KIND))
        if self.on_pre is None and self.on_post is None:
            raise ModelDefinitionError(f"{KIND} {self.name!r}: on_pre or on_post must hold "
                                       f"code (what a synapse does at an arrival or a "
                                       f"postsynaptic spike)")
        if between is not None and not (isinstance(between, str) and not between.strip()):
            kinds = dict(consts, **state, w="weight", elapsed="time since the last update (ms)")
            if mod:
                kinds[mod] = "modulator"
            gone = {t: "traces are read in on_pre and on_post only" for t in traces}
            self.between = parse_block(self.name, "between", between,
                                       Scope(kinds, writable, True, gone), KIND)
        elif self.modulator is not None:
            raise ModelDefinitionError(f"{KIND} {self.name!r}: a modulator acts through the "
                                       f"between block (how the weight follows it between "
                                       f"events), which is missing")

    # -- what the runtimes need ------------------------------------------------------------------
    @property
    def lazy(self) -> bool:
        """Whether synapses are brought up to date lazily (a ``between`` block)."""
        return self.between is not None

    def blocks(self) -> dict:
        return {k: b for k, b in (("on_pre", self.on_pre), ("on_post", self.on_post),
                                  ("between", self.between)) if b is not None}

    def pre_read_on_pre(self) -> bool:
        """Whether ``on_pre`` reads a presynaptic trace (it then needs the row one step before
        the arrival: the checkpoint window is one step longer)."""
        return self.on_pre is not None and bool(self.on_pre.reads & set(self.pre_traces))

    def numpy(self, double: bool = False):
        """The generated NumPy functions (:func:`.generate.numpy_functions`), made once per
        precision; ``double``: literals float64 (``Network(precision="double")``)."""
        if self._numpy is None:
            self._numpy = {}
        if double not in self._numpy:
            from .generate import numpy_functions
            self._numpy[double] = numpy_functions(self, double=double)
        return self._numpy[double]

    def cuda(self):
        """(kernel file, kernel names, source) of the generated CUDA kernels, made once."""
        if self._cuda is None:
            from .generate import cuda_source
            self._cuda = cuda_source(self)
        return self._cuda

    @property
    def numpy_sources(self) -> dict:
        """The generated Python source of each block (for reading)."""
        return self.numpy()[1]

    @property
    def cuda_source(self) -> str:
        """The generated CUDA source of the rule's kernels (for reading)."""
        return self.cuda()[2]

    def __call__(self, w_min=None, w_max=None, pairing=None, **params) -> "DescribedRule":
        return DescribedRule(self, params, self.w_min if w_min is None else w_min,
                             self.w_max if w_max is None else w_max,
                             self.pairings[0] if pairing is None else pairing)

    def __repr__(self):
        return f"PlasticityModel({self.name!r})"


class DescribedRule(DescribedValues, PlasticityRule):
    """A rule made from a :class:`PlasticityModel` (``description``) and parameter values.

    Built-in rules (:class:`neurosim.STDP`, ...) subclass it with their own constructor (which
    calls :meth:`PlasticityRule.__init__` and validates as it documents), keep their parameters
    as attributes and return their description from the ``description`` property; rules of a
    user's description keep them in ``parameters`` (also readable as attributes, ``rule.A``).
    """

    def __init__(self, description: PlasticityModel, params: dict, w_min, w_max, pairing):
        super().__init__(w_min, w_max, where=f"{description.name}()")
        d = description
        where = f"{d.name}()"
        self._description = d
        unknown = sorted(set(params) - set(d.parameters))
        if unknown:
            raise ValueError(f"{where}: unknown parameter(s) {unknown}; parameters: "
                             f"{sorted(d.parameters)}")
        values = dict(d.parameters)
        for p, v in params.items():
            values[p] = V.real(where, p, v, float32=True)
        for p in d.positive:
            V.positive(where, p, values[p], float32=True)
        for p in d.non_negative:
            V.non_negative(where, p, values[p], float32=True)
        self._values = values
        self.pairing = self._check_pairing(pairing)

    def _check_pairing(self, pairing) -> str:
        options = self.description.pairings
        if not isinstance(pairing, str) or pairing not in options:
            raise ValueError(f"{self.description.name}(): pairing must be one of "
                             f"{list(options)}, got {pairing!r}")
        return pairing


    @property
    def description(self) -> PlasticityModel:
        return self._description

    def _label(self) -> str:
        return self.description.name if self._values is not None else type(self).__name__

    def host_constants(self) -> dict:
        """Parameters, ``w_min``, ``w_max`` and the derived constants as float64 host values
        (computed in the order the derived constants read them)."""
        vals = {p: np.float64(v) for p, v in self.parameters.items()}
        vals.update(w_min=np.float64(self.w_min), w_max=np.float64(self.w_max))
        for name, block in self.description.derived.items():
            vals[name] = np.float64(_host_eval(block.body[0], vals))
        return vals

    def constants(self, dtype=np.float32) -> dict:
        """:meth:`host_constants` rounded once to ``dtype`` (the network's: float32, or float64
        in a double network)."""
        vals = self.host_constants()
        real = np.dtype(dtype).type
        return {k: real(v) for k, v in vals.items()}

    # -- the modulator ---------------------------------------------------------------------------
    def deliver(self, amount: float) -> None:
        """Add ``amount`` to the modulator's level now (the network's current time)."""
        where = f"{type(self).__name__}.deliver"
        if self.description.modulator is None:
            raise ValueError(f"{where}(): rule {self.description.name!r} has no modulator")
        amount = V.real(where, "amount", amount, float32=True)
        if not self._runtimes:
            raise RuntimeError(f"{where}(): the network is not built yet; call net.build() or "
                               f"net.run() first")
        for rt in self._runtimes:
            rt.add_modulator(amount)

    @property
    def modulator_level(self) -> float:
        """The modulator's current level (of the first projection using this rule)."""
        m = self.description.modulator
        if m is None:
            raise ValueError(f"rule {self.description.name!r} has no modulator")
        if not self._runtimes:
            return float(np.float32(self.parameters[m["rest"]]))
        return self._runtimes[0].modulator_now()

    # -- engines ---------------------------------------------------------------------------------
    numpy_runtime = None        # built-in rules name their runtime classes (checkpoint kinds)
    cuda_runtime = None

    def build_numpy(self, engine, proj):
        """A linear additive rule (:func:`.linear.linear_additive_form`: pair STDP's additive
        form, or a user's description written so) with ``"all"``/``"nearest"`` pairing and
        non-negative coefficients runs the deferred runtime
        (:class:`~.stdp.StdpDeferredNumpy`, same weights, several times cheaper); every other
        rule the event-by-event one (``numpy_runtime``, by default :class:`RuleNumpy`)."""
        from .numpy_runtime import RuleNumpy
        from .linear import linear_additive_form
        form = linear_additive_form(self.description) if self.pairing in ("all", "nearest") \
            else None
        if form is not None:
            c = form.values(self, np.float64)
            if c["a_plus"] >= 0 and c["a_minus"] >= 0:
                from .stdp import StdpDeferredNumpy
                return StdpDeferredNumpy(engine, proj, self, form)
        return (self.numpy_runtime or RuleNumpy)(engine, proj, self)

    def build_cuda(self, engine, proj):
        from .cuda_runtime import RuleCuda
        return (self.cuda_runtime or RuleCuda)(engine, proj, self)

    def _params(self) -> dict:
        if self._values is None:
            return super()._params()
        return dict(self._values, w_min=self.w_min, w_max=self.w_max, pairing=self.pairing)

    def __repr__(self):
        if self._values is None:
            return super().__repr__()
        fields = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{self.description.name}({fields})"


def _host_eval(node, vals: dict) -> float:
    """A checked expression over float64 values (derived constants): the NumPy emitter's
    float64 form, compiled once."""
    from ..models.codegen import PyEmitter
    em = PyEmitter("derived", float64=True)
    env = {n: f"_c_{n}" for n in vals}
    for n in vals:
        em.namespace[f"_c_{n}"] = vals[n]
    em.emit('with np.errstate(all="ignore"):', 1)
    em.emit(f"return {em.expr(node, env)}")
    fn, _ = em.compile("def value():", "<neurosim plasticity: derived>")
    return fn()
