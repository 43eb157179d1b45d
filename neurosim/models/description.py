r"""Neuron models described once (:class:`NeuronModel`), generated for every backend.

A description names a model's parameters, its state, the constants derived from them, and its
update, threshold and reset as code in a small safe language (:mod:`neurosim.models.language`).
Calling the description with parameter values gives a model for
:meth:`neurosim.Network.add_population`, like ``ns.LIF(...)``::

    adlif = ns.NeuronModel(
        "adaptive_lif",
        parameters={"tau_m": 20.0, "tau_w": 100.0, "a": 0.5, "b": 20.0, "v_rest": -70.0,
                    "v_reset": -65.0, "v_thresh": -50.0, "cm": 250.0, "tau_refrac": 2.0,
                    "tau_syn_E": 5.0, "tau_syn_I": 5.0},
        state={"v": "v_rest", "w": 0.0},
        update='''
            v += dt * ((v_rest - v) / tau_m + (I_syn + I_ext - w) / cm)
            w += dt * (a * (v - v_rest) - w) / tau_w
        ''',
        threshold="v >= v_thresh",
        reset="v = v_reset; w += b",
        synapses={"excitatory": "current", "inhibitory": "current"},
        refractory="tau_refrac", hold="v = v_reset",
    )
    pop = net.add_population(1000, adlif(tau_w=150.0), initial={"v": ns.Uniform(-70, -50)})

Units are the simulator's (ms, mV, pA, nS, pF, Hz): ``dt`` is in ms, ``I_syn``/``I_ext`` in pA,
``g_e``/``g_i`` in nS; the parameters' units are the model's to document.

One step of length ``dt`` (the order of the built-in models, NEST's):

1. ``update`` runs, statement after statement, reading the state at the start of the step and
   the synaptic input of that time: ``I_syn`` (pA, the sum of the current synapses' states
   ``i_syn_e + i_syn_i``) or ``g_e``/``g_i`` (nS, conductance synapses), and ``I_ext`` (pA, the
   current injected with :meth:`~neurosim.Network.inject`, 0 without);
2. synapses: ``"current"`` and ``"conductance"`` synapses are exponential — their state decays
   by ``exp(-dt / tau_syn_E)`` (``tau_syn_I`` for the inhibitory receptor; both must be
   parameters, in ms) and then jumps by the weights of the spikes arriving at the end of the
   step (pA or nS); with ``"delta"`` synapses an arriving spike makes ``v`` jump by its weight
   (mV). Excitatory weights are >= 0; inhibitory ones <= 0 for current and delta synapses and
   >= 0 for conductances;
3. ``refractory`` (the name of a parameter, ms): for ``round(tau_refrac / dt)`` updates after a
   spike (NEST's count) a neuron runs ``hold`` (e.g. ``"v = v_reset"``) after its update and
   cannot spike; its other state keeps evolving;
4. ``threshold`` (a condition) selects the neurons that spike, stamped at the end of the step;
   ``reset`` runs for them.

``derived`` constants are expressions over the parameters, ``dt`` and the derived constants
before them, computed once per population on the host in float64 and rounded to float32 (for
propagators such as ``exp(-dt / tau_m)``). ``state`` gives each variable's default initial
value: a number or an expression over the parameters (float64, then float32). The state is
float32, the arithmetic of the step float32 in the order written, on both backends (float64
throughout, constants unrounded, in a ``Network(precision="double")``).

The update *is* the integration scheme: write the scheme's arithmetic (exact propagators as
derived constants, an exponential-Euler step, forward Euler) and name it with
``integration="..."`` for readers. An option that changes the equations is one description per
value (``variant=``) joined into one class by :func:`model_family` (``LIF(synapse="delta")``).
Without an injected current the step leaves out the terms of ``I_ext`` rather than adding 0
(``x + I_ext``, ``x + I_ext * k`` are ``x``), and the NumPy step does the same for a parameter
whose default is 0 when a whole group has it at 0 (``gbar_e * e_rev_E`` with ``e_rev_E = 0``):
for finite values the same numbers, one operation less.
"""

from __future__ import annotations

import ast
import dataclasses
from typing import ClassVar

import numpy as np

from .. import _validate as V
from .base import Model, f32
from .language import ModelDefinitionError, Scope, check_name, parse_block, parse_expression
from .snippets import propagator

SYNAPSE_KINDS = ("current", "conductance", "delta")
RECEPTORS = ("excitatory", "inhibitory")
MAX_STATE = 8          # the NaN flag packs the variable's index in 3 bits (kernels/neuron.cuh)
MAX_CONSTANTS = 32     # per_neuron is a 32-bit mask of the kernel's constants
_SIGN = {"current": {"excitatory": 1, "inhibitory": -1},
         "conductance": {"excitatory": 1, "inhibitory": 1},
         "delta": {"excitatory": 1, "inhibitory": -1}}
_UNIT = {"current": "pA", "conductance": "nS", "delta": "mV"}
_TAU = {"excitatory": "tau_syn_E", "inhibitory": "tau_syn_I"}


class NeuronModel:
    """A neuron model described once; call it with parameter values to get a model.

    ``name``: an identifier (it names the model's class and kernel); ``parameters``: name ->
    default number; ``state``: name -> default initial value (number or expression over the
    parameters), with ``v`` (mV) among them; ``update``, ``reset``, ``hold``: code;
    ``threshold``: a condition; ``derived``: name -> expression; ``synapses``: receptor
    (``"excitatory"``, ``"inhibitory"``) -> ``"current"``, ``"conductance"`` or ``"delta"`` (one
    kind per model); ``refractory``: the parameter holding the refractory period (ms) or None;
    ``integration``: the name of the integration scheme the update implements, for readers
    (``"forward Euler"``, ``"exact (Rotter & Diesmann 1999)"``, ``"exponential Euler"``; the
    update is the scheme: the engine runs it as written); ``variant``: the option value this
    description implements when several share a name (see :func:`model_family`);
    ``positive`` / ``non_negative``: parameters that must be > 0 / >= 0 (the synaptic time
    constants and the refractory period are checked anyway); ``constraints``: condition over
    the parameters -> the error message when a model breaks it (``{"c < v_peak": "c must be
    below v_peak"}``, checked for every neuron in float64); ``presets``: name -> parameter
    values, for :meth:`preset`. See the module docstring for the step. Errors (:class:`~neurosim.models.language.ModelDefinitionError`, a ValueError)
    name the model, the block, the line and the name at fault.
    """

    def __init__(self, name: str, *, parameters: dict, state: dict, update: str,
                 threshold: str, reset: str = "", derived: dict | None = None,
                 synapses: dict | None = None, refractory: str | None = None,
                 hold: str = "", positive=(), non_negative=(), constraints: dict | None = None,
                 presets: dict | None = None, doc: str = "", integration: str = "",
                 variant: str | None = None):
        if not isinstance(name, str) or not name.isidentifier():
            raise ModelDefinitionError(f"NeuronModel: name must be an identifier such as "
                                       f"'adaptive_lif', got {name!r}")
        for what, value in (("integration", integration), ("doc", doc)):
            if not isinstance(value, str):
                raise ModelDefinitionError(f"NeuronModel {name!r}: {what} must be a string, got "
                                           f"{type(value).__name__}")
        if variant is not None and (not isinstance(variant, str) or not variant.isidentifier()):
            raise ModelDefinitionError(f"NeuronModel {name!r}: variant must be None or an "
                                       f"identifier such as 'delta', got {variant!r}")
        self.name, self.doc, self.integration, self.variant = name, doc, integration, variant
        self._declare(parameters, state, derived or {}, synapses or {}, refractory,
                      positive, non_negative)
        self._parse(update, threshold, reset, hold, state, derived or {})
        self._extras(constraints or {}, presets or {})
        from .generate import numpy_functions
        self.functions, self.numpy_sources = numpy_functions(self)
        self.kernel = f"{name.lower()}_update"
        self._cuda = None                   # (kernel file, source), rendered when first needed
        self.model_class = _model_class(self)

    # -- declarations ----------------------------------------------------------------------------
    def _declare(self, parameters, state, derived, synapses, refractory, positive, non_negative):
        where = f"NeuronModel {self.name!r}"
        for what, value in (("parameters", parameters), ("state", state), ("derived", derived),
                            ("synapses", synapses)):
            if not isinstance(value, dict):
                raise ModelDefinitionError(f"{where}: {what} must be a dict, got "
                                           f"{type(value).__name__}")
        self.parameters = {}
        for p, value in parameters.items():
            check_name(self.name, "parameter", p)
            try:
                self.parameters[p] = V.real(where, f"parameter {p}", value, float32=True)
            except (TypeError, ValueError) as exc:
                raise ModelDefinitionError(f"{exc} (a default is one number; per-neuron "
                                           f"values are given to the model)") from None
        seen = set(self.parameters)
        for what, names in (("state variable", state), ("derived constant", derived)):
            for n in names:
                check_name(self.name, what, n)
                if n in seen:
                    raise ModelDefinitionError(f"{where}: {n!r} is declared twice (parameters, "
                                               f"state and derived constants share one "
                                               f"namespace)")
                seen.add(n)
        if "v" not in state:
            raise ModelDefinitionError(f"{where}: state must include 'v', the membrane "
                                       f"potential (mV), got {sorted(state)}")
        self.user_state = tuple(state)
        kinds = set()
        for receptor, kind in synapses.items():
            if receptor not in RECEPTORS:
                raise ModelDefinitionError(f"{where}: synapses: unknown receptor {receptor!r}; "
                                           f"expected {' or '.join(map(repr, RECEPTORS))}")
            if kind not in SYNAPSE_KINDS:
                raise ModelDefinitionError(f"{where}: synapses[{receptor!r}] must be one of "
                                           f"{', '.join(map(repr, SYNAPSE_KINDS))}, got {kind!r}")
            kinds.add(kind)
            if kind != "delta" and _TAU[receptor] not in self.parameters:
                raise ModelDefinitionError(f"{where}: {kind} synapses on the {receptor} "
                                           f"receptor decay with the parameter "
                                           f"{_TAU[receptor]!r} (ms), which is not declared")
        if len(kinds) > 1:
            raise ModelDefinitionError(f"{where}: synapses must all be of one kind, got "
                                       f"{dict(synapses)}")
        self.synapses = dict(synapses)
        self.synapse_kind = kinds.pop() if kinds else None
        receptors = [r for r in RECEPTORS if r in synapses]
        if self.synapse_kind == "delta":
            self.synaptic_channels, self.receptors = ("v",), {r: 0 for r in receptors}
            self.synaptic_state, self.decay_names = (), ()
        elif self.synapse_kind is not None:
            base = "i_syn" if self.synapse_kind == "current" else "g"
            self.synaptic_state = tuple(f"{base}_{r[0]}" for r in receptors)
            self.synaptic_channels = self.synaptic_state
            self.receptors = {r: k for k, r in enumerate(receptors)}
            self.decay_names = tuple(f"ns_decay_{r[0]}" for r in receptors)
        else:
            self.synaptic_channels, self.receptors = (), {}
            self.synaptic_state, self.decay_names = (), ()
        self.state_names = self.user_state + self.synaptic_state
        if len(self.state_names) > MAX_STATE:
            raise ModelDefinitionError(f"{where}: at most {MAX_STATE} state variables "
                                       f"(synaptic ones included), got {list(self.state_names)}")
        self.derived_names = tuple(derived)
        self.constant_names = (tuple(self.parameters) + self.derived_names + ("dt",)
                               + self.decay_names)
        if len(self.constant_names) > MAX_CONSTANTS:
            raise ModelDefinitionError(f"{where}: at most {MAX_CONSTANTS} parameters and derived "
                                       f"constants together, got {len(self.constant_names) - 1}")
        if refractory is not None and refractory not in self.parameters:
            raise ModelDefinitionError(f"{where}: refractory must name a parameter (the period "
                                       f"in ms), got {refractory!r}; parameters: "
                                       f"{sorted(self.parameters)}")
        self.refractory = refractory
        for what, names in (("positive", positive), ("non_negative", non_negative)):
            for p in names:
                if p not in self.parameters:
                    raise ModelDefinitionError(f"{where}: {what} names {p!r}, which is not a "
                                               f"parameter")
        taus = tuple(_TAU[r] for r in receptors if self.synapse_kind not in (None, "delta"))
        self.positive = tuple(dict.fromkeys((*positive, *taus)))
        self.non_negative = tuple(dict.fromkeys((*non_negative,
                                                 *((refractory,) if refractory else ()))))

    def _parse(self, update, threshold, reset, hold, state, derived):
        params = {p: "parameter" for p in self.parameters}
        host = dict(params, dt="time step")
        self.derived = {}
        for name, text in derived.items():
            self.derived[name] = parse_expression(self.name, f"derived[{name!r}]", text,
                                                  Scope(dict(host)), "float")
            host[name] = "derived constant"
        self.initial = {name: parse_expression(self.name, f"state[{name!r}]", value,
                                               Scope(dict(params)), "float")
                        for name, value in state.items()}
        consts = dict(host)
        states = {n: "state variable" for n in self.user_state}
        states.update({n: "synaptic input (updated by the engine)"
                       for n in self.synaptic_state})
        writable = frozenset(self.user_state)
        update_only = "it is available in update only"
        absent = {"I_syn": update_only, "I_ext": update_only}
        if self.synapse_kind != "current":
            absent["I_syn"] = (f"the model has {self.synapse_kind} synapses" if self.synapse_kind
                               else "the model declares no synapses")
        for g in ("g_e", "g_i", "i_syn_e", "i_syn_i"):
            absent.setdefault(g, "the model declares no such synapse (see synapses=)")
        for n in self.synaptic_state:
            absent.pop(n, None)
        update_scope = dict(consts, **states, I_ext="injected current")
        if self.synapse_kind == "current":
            update_scope["I_syn"] = "synaptic current"
        update_absent = {k: v for k, v in absent.items() if k not in update_scope}
        self.update = parse_block(self.name, "update", update,
                                  Scope(update_scope, writable, True, update_absent))
        self.threshold = parse_expression(self.name, "threshold", threshold,
                                          Scope(dict(consts, **states), absent=absent), "bool")
        block_scope = Scope(dict(consts, **states), writable, True, absent)
        self.reset = parse_block(self.name, "reset", reset, block_scope) if reset else None
        if hold and self.refractory is None:
            raise ModelDefinitionError(f"NeuronModel {self.name!r}: hold code runs during the "
                                       f"refractory period, but refractory is None")
        self.hold = parse_block(self.name, "hold", hold, block_scope) if hold else None
        blocks = [b for b in (self.update, self.threshold, self.reset, self.hold) if b]
        reads = set().union(*(b.reads for b in blocks)) | set(self.decay_names)
        #: the constants the step reads (the others are parameters only derived ones use)
        self.step_constants = tuple(n for n in self.constant_names if n in reads)

    def _extras(self, constraints, presets):
        for what, value in (("constraints", constraints), ("presets", presets)):
            if not isinstance(value, dict):
                raise ModelDefinitionError(f"NeuronModel {self.name!r}: {what} must be a dict, "
                                           f"got {type(value).__name__}")
        params = Scope({p: "parameter" for p in self.parameters})
        self.constraints = {}
        for k, (text, message) in enumerate(constraints.items()):
            block = parse_expression(self.name, f"constraints[{k}]", text, params, "bool")
            fn, _ = _constraint_function(self, block, k)
            order = [n.id for n in _in_order(block.body[0]) if n.id in block.reads]
            self.constraints[text] = (str(message), list(dict.fromkeys(order)), fn)
        for preset, values in presets.items():
            bad = sorted(set(values) - set(self.parameters)) if isinstance(values, dict) else 0
            if bad != []:
                raise ModelDefinitionError(f"NeuronModel {self.name!r}: presets[{preset!r}] must "
                                           f"map parameters to values, got {values!r}")
        self.presets = {k: dict(v) for k, v in presets.items()}

    def check(self, params: dict) -> None:
        """Raise ValueError naming the values if ``params`` break a constraint."""
        for message, names, fn in self.constraints.values():
            if not np.all(fn(params)):
                got = ", ".join(f"{n}={params[n]}" for n in names)
                raise ValueError(f"{self.name}: {message}, got {got}")

    @property
    def kernel_file(self) -> str:
        """The name under which the generated CUDA source is registered for the kernel loader
        (rendered from ``kernels/neuron_model.cu.j2`` on first use: importing neurosim needs no
        Jinja2 until a CUDA engine or a reader asks)."""
        return self._cuda_files()[0]

    @property
    def cuda_source(self) -> str:
        """The generated CUDA source of the model's kernel."""
        return self._cuda_files()[1]

    def _cuda_files(self) -> tuple:
        if self._cuda is None:
            from .generate import cuda_source
            filename, kernel, source = cuda_source(self)
            assert kernel == self.kernel
            self._cuda = (filename, source)
        return self._cuda

    @property
    def __name__(self) -> str:     # noqa: A003 -- reads like the model classes' name
        return self.name

    # -- use ---------------------------------------------------------------------------------------
    def preset(self, name: str, **overrides) -> Model:
        """The model with the parameters of preset ``name``, then ``overrides``."""
        V.choice(f"{self.name}.preset", "name", name, self.presets)
        return self(**{**self.presets[name], **overrides})

    def __call__(self, **overrides) -> Model:
        unknown = sorted(set(overrides) - set(self.parameters))
        if unknown:
            raise TypeError(f"{self.name}(): unknown parameter(s) {unknown}; parameters: "
                            f"{list(self.parameters)}")
        return self.model_class(**overrides)

    def __repr__(self) -> str:
        extra = f", variant={self.variant!r}" if self.variant else ""
        scheme = f", integration={self.integration!r}" if self.integration else ""
        return (f"NeuronModel({self.name!r}, parameters={list(self.parameters)}, "
                f"state={list(self.user_state)}, synapses={self.synapses}{scheme}{extra})")

    def step_functions(self, dtype) -> dict:
        """The NumPy step functions for state of ``dtype``: :attr:`functions` (float32
        literals), or their float64 twins (made at the first double-precision build)."""
        if np.dtype(dtype) != np.float64:
            return self.functions
        if getattr(self, "_functions64", None) is None:
            from .generate import numpy_functions
            self._functions64 = numpy_functions(self, double=True)[0]
        return self._functions64

    # -- host computations (float64) ------------------------------------------------------------------
    def constants(self, params: dict, dt: float) -> dict:
        out = {p: f32(params[p]) for p in self.parameters}
        derived = self.functions["derived"](params, float(dt))
        out.update({name: f32(derived[name]) for name in self.derived_names})
        out["dt"] = f32(dt)
        for receptor, decay in zip(self.receptors, self.decay_names):
            out[decay] = f32(propagator(dt, params[_TAU[receptor]], np.float64))
        return out

    def initial_state(self, params: dict, n: int) -> dict:
        values = self.functions["initial"](params)
        state = {name: np.broadcast_to(f32(values[name]), (n,)).copy()
                 for name in self.user_state}
        state.update({name: np.zeros(n, np.float32) for name in self.synaptic_state})
        return state


class GeneratedModel(Model):
    """Base of the model classes made from :class:`NeuronModel` descriptions."""

    description: ClassVar[NeuronModel]

    def _check(self) -> None:
        self.description.check(self.parameters())

    @classmethod
    def constants(cls, params, dt):
        return cls.description.constants(params, dt)

    @classmethod
    def numpy_step(cls, dtype):
        f = cls.description.step_functions(dtype)
        return f["integrate"], f["threshold"], f["reset"], f["clamp"]

    @classmethod
    def layout(cls, options):
        return cls.channels, cls.receptors, cls.weight_unit

    @classmethod
    def initial_state(cls, params, n, options):
        return cls.description.initial_state(params, n)


def _in_order(node):
    """The names of an expression, left to right."""
    if isinstance(node, ast.Name):
        yield node
    for child in ast.iter_child_nodes(node):
        yield from _in_order(child)


def _constraint_function(d: NeuronModel, block, k: int):
    """float64 function of the parameters: the condition of constraint ``k``."""
    from .codegen import PyEmitter
    em = PyEmitter(d.name, float64=True)
    env = {}
    for name in sorted(block.reads):
        em.emit(f"_c_{name} = np.asarray(p[{name!r}], np.float64)", 1)
        env[name] = f"_c_{name}"
    em.emit(f"return {em.expr(block.body[0], env)}", 1)
    return em.compile(f"def constraint_{k}(p):", f"<neurosim model {d.name}: constraint {k}>")


class _KernelFile:
    """``cls.kernel_file`` of a generated model class: its description's, rendered lazily."""

    def __get__(self, obj, owner) -> str:
        return owner.description.kernel_file


def _namespace(d: NeuronModel) -> dict:
    """The class attributes of the model class of description ``d``."""
    fns = d.functions
    return dict(
        description=d, kind=d.name, kernel=d.kernel, kernel_file=_KernelFile(),
        state_vars=d.state_names, channels=d.synaptic_channels, receptors=dict(d.receptors),
        weight_sign={r: _SIGN[d.synapse_kind][r] for r in d.receptors},
        weight_unit=_UNIT.get(d.synapse_kind, "pA"),
        positive_params=d.positive, non_negative_params=d.non_negative,
        has_refractory=d.refractory is not None, refractory_param=d.refractory or "",
        scratch=fns["integrate"].scratch,
        integrate=staticmethod(fns["integrate"]), threshold=staticmethod(fns["threshold"]),
        reset=staticmethod(fns["reset"]), clamp=staticmethod(fns["clamp"]),
        integration=d.integration, step_constants=d.step_constants,
        __doc__=d.doc or f"Neuron model {d.name!r} generated from a NeuronModel description.",
        __module__=__name__)


def _fields(d: NeuronModel) -> list:
    return [(p, float, dataclasses.field(default=v)) for p, v in d.parameters.items()]


def _model_class(d: NeuronModel) -> type:
    return dataclasses.make_dataclass(d.name, _fields(d), bases=(GeneratedModel,), frozen=True,
                                      eq=False, namespace=_namespace(d))


def model_family(name: str, option: str, variants: dict, doc: str = "",
                 module: str | None = None) -> type:
    """One model class for descriptions that differ by an option, such as ``LIF``'s
    ``synapse="exponential"`` or ``"delta"``.

    ``variants``: option value -> :class:`NeuronModel` (the first is the default), all with
    the same name and parameters (names and defaults). Returns the class ``name``: its
    parameters are the descriptions', plus ``option`` (a string); ``name(..., option=value)``
    makes a model of the variant for ``value`` (an instance of a subclass bound to that
    description, also called ``name``); populations of different variants are different
    groups. Each description's ``model_class`` becomes its subclass.
    """
    descs = list(variants.values())
    if not descs or not all(isinstance(d, NeuronModel) for d in descs):
        raise ModelDefinitionError(f"model_family {name!r}: variants must map option values "
                                   f"to NeuronModel descriptions")
    first = descs[0]
    for value, d in variants.items():
        if d.name != name or d.parameters != first.parameters:
            raise ModelDefinitionError(f"model_family {name!r}: variant {value!r} must be "
                                       f"named {name!r} with the parameters {first.parameters}")
    default = next(iter(variants))
    index = len(first.parameters)
    choices = " or ".join(map(repr, variants))

    def __new__(cls, *args, **kwargs):
        value = args[index] if len(args) > index else kwargs.get(option, default)
        if not isinstance(value, str) or value not in subclasses:
            raise ValueError(f"{name}: {option} must be {choices}, got {value!r}")
        sub = subclasses[value]
        obj = object.__new__(sub)
        if not issubclass(sub, cls):          # e.g. dataclasses.replace to another variant
            sub.__init__(obj, *args, **kwargs)
        return obj

    module = module or __name__
    fields = _fields(first) + [(option, str, dataclasses.field(default=default))]
    base = dataclasses.make_dataclass(
        name, fields, bases=(GeneratedModel,), frozen=True, eq=False,
        namespace=dict(__new__=__new__, option_fields=(option,), descriptions=dict(variants),
                       __doc__=doc or first.doc, __module__=module))
    subclasses = {}
    for value, d in variants.items():
        sub = dataclasses.make_dataclass(name, [], bases=(base,), frozen=True, eq=False,
                                         namespace=dict(_namespace(d), __module__=module,
                                                        __doc__=base.__doc__))
        d.model_class = subclasses[value] = sub
    return base
