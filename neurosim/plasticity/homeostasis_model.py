r"""Homeostasis rules described once, generated for NumPy and CUDA.

A :class:`HomeostasisModel` describes a per-neuron rule in the code language of neuron models
(:mod:`neurosim.models.language`): parameters, per-neuron ``state`` (initial value a number or
the name of a parameter, which may then be one value per neuron), ``derived`` constants (float64
expressions over the parameters, ``dt`` and, for rules with an interval, ``T``, the interval's
length in ms: ``round(interval / dt)`` steps), and up to three per-neuron blocks:

- ``every_step``: every neuron, every step (after the step's neurons and projections);
- ``on_spike``: every neuron that spiked in the step (after ``every_step``);
- ``every_interval``: every neuron at the end of each interval (steps ``n`` with
  ``(n + 1) % k == 0``, ``k = max(1, round(interval / dt))``; ``interval`` names the parameter).

A rule may also act on the weights of the projections onto its population (the rule's
``projections``, default all of the population's excitatory ones), at the end of each interval:

- ``incoming``: name -> a per-synapse expression (over ``w``, ``w_min``, ``w_max``, the
  constants and the target neuron's state), summed per target neuron in float64 before
  ``every_interval``, the only block that reads the sums. There, an expression that reads one
  is computed in float64 (NumPy promotes so; the C code casts every operand to ``double``), and
  what an assignment stores (a state variable or a local) is rounded once to the network's
  type, so both backends hold the same values after every statement. The device adds with
  atomics in any order; a float64 sum of float32 values within a factor of about 2^29 of each
  other (and fewer than about 2^20 of them) is exact whatever the order, beyond that its last
  bits may differ;
- ``weights``: per-synapse code after ``every_interval`` that assigns ``w`` (reading it, its
  bounds, the constants and the target's state); the result is clipped to ``[w_min, w_max]``,
  the plastic rule's bounds (``-inf, inf`` for static weights).

``threshold`` names the state variable that shifts the population's threshold:
``v_thresh = base + shift`` (the model's ``v_thresh``), rewritten after every step in which a
block that assigns it ran. With ``rule.enabled = False`` nothing runs (the state still acts).

From one description :func:`numpy_functions` makes one vectorised Python function per block
(the literals in the network's precision; the incoming sums' function is
:meth:`HomeostasisModel.numpy_incoming`) and :func:`cuda_source` renders
``kernels/homeostasis_rule.cu.j2`` into the kernels ``<name>_every_step``,
``<name>_on_spike``, ``<name>_incoming``, ``<name>_every_interval``, ``<name>_weights``
(every ``+ - * /`` rounded on its own, as for plasticity rules, so they repeat NumPy's
operations bit for bit where no ``exp`` is involved) and, for a threshold rule,
``<name>_threshold`` (:data:`THRESHOLD_SHIFT`). The runtimes are
:class:`~neurosim.plasticity.homeostasis.HomeostasisNumpy` and
:class:`~neurosim.plasticity.cuda_runtime.HomeostasisCuda`. The built-in
:class:`~neurosim.plasticity.homeostasis.AdaptiveThreshold`,
:class:`~neurosim.plasticity.homeostasis.IntrinsicPlasticity` and both forms of
:class:`~neurosim.plasticity.homeostasis.SynapticScaling` are such descriptions; a user's rule
is ``HomeostasisModel(...)(**parameters)``, attached with ``net.add_homeostasis``.
"""

from __future__ import annotations

import ast
import copy
import functools
import hashlib

import numpy as np

from .. import _validate as V
from ..models.language import (ModelDefinitionError, Scope, check_name, parse_block,
                               parse_expression)

KIND = "HomeostasisModel"
BLOCKS = ("every_step", "on_spike", "every_interval", "weights")
# kernel arguments and runtime keys of the machinery (a state variable may not take them)
_TAKEN = frozenset("""clk spk nspk lo size off k every_k learn thr base dt T enabled population
    kind n w w_min w_max post pos has_pos n_syn projections""".split())
#: names the per-synapse code (``incoming``, ``weights``) reads besides the constants and state
_SYNAPSE = {"w": "synapse's weight", "w_min": "lower weight bound (-inf for static weights)",
            "w_max": "upper weight bound (+inf for static weights)"}


class HomeostasisModel:
    """A per-neuron homeostasis rule described once (see the module docstring).

    ``name``: an identifier (it names the kernels); ``parameters``: name -> default number;
    ``state``: variable -> initial value (a number or a parameter's name); ``derived``: name
    -> expression; ``every_step``, ``on_spike``, ``every_interval``: code; ``incoming``: name
    -> per-synapse expression summed per neuron; ``weights``: per-synapse code assigning
    ``w``; ``interval``: the parameter holding the interval (ms), needed by
    ``every_interval``, ``incoming`` and ``weights``; ``threshold``: the state variable added
    to the population's ``v_thresh``; ``positive`` / ``non_negative``: parameters a rule's
    values must keep so (``interval`` must be positive). ``model(**parameters)`` makes a rule.
    Errors
    (:class:`~neurosim.models.language.ModelDefinitionError`) name the rule, block, line and
    name at fault.
    """

    def __init__(self, name: str, *, parameters: dict, state: dict, derived: dict | None = None,
                 every_step: str = "", on_spike: str = "", every_interval: str = "",
                 interval: str | None = None, threshold: str | None = None,
                 incoming: dict | None = None, weights: str = "", positive=(),
                 non_negative=()):
        if not isinstance(name, str) or not name.isidentifier():
            raise ModelDefinitionError(f"{KIND}: name must be an identifier, got {name!r}")
        check_name(name, "rule", name, KIND)
        self.name = name
        where = f"{KIND} {name!r}"
        for what, value in (("parameters", parameters), ("state", state),
                            ("derived", derived or {}), ("incoming", incoming or {})):
            if not isinstance(value, dict):
                raise ModelDefinitionError(f"{where}: {what} must be a dict, got "
                                           f"{type(value).__name__}")
        seen: dict = {}

        def declare(what, n):
            check_name(name, what, n, KIND)
            if n in _TAKEN:
                raise ModelDefinitionError(f"{where}: {what} name {n!r} is reserved (the "
                                           f"runtimes use it); choose another")
            if n in seen:
                raise ModelDefinitionError(f"{where}: {n!r} is declared twice (as a {seen[n]} "
                                           f"and as a {what})")
            seen[n] = what

        self.parameters = {}
        for p, value in parameters.items():
            declare("parameter", p)
            try:
                self.parameters[p] = V.real(where, f"parameter {p}", value, float32=True,
                                            allow_inf=True)
            except (TypeError, ValueError) as exc:
                raise ModelDefinitionError(str(exc)) from None
        self.state = {}
        for s, value in state.items():
            declare("state variable", s)
            if isinstance(value, str):
                if value not in self.parameters:
                    raise ModelDefinitionError(f"{where}: the initial value of {s!r} names "
                                               f"{value!r}, which is not a parameter")
                self.state[s] = value
            else:
                try:
                    self.state[s] = V.real(where, f"initial value of {s}", value, float32=True)
                except (TypeError, ValueError) as exc:
                    raise ModelDefinitionError(str(exc)) from None
        if interval is not None and interval not in self.parameters:
            raise ModelDefinitionError(f"{where}: interval must name a parameter, got "
                                       f"{interval!r}")
        self.interval = interval
        if threshold is not None and threshold not in self.state:
            raise ModelDefinitionError(f"{where}: threshold must name a state variable, got "
                                       f"{threshold!r}")
        self.threshold = threshold
        consts = {p: "parameter" for p in self.parameters}
        consts["dt"] = "time step"
        if interval is not None:
            consts["T"] = "interval length (ms)"
        self.derived = {}
        for d, text in (derived or {}).items():
            declare("derived constant", d)
            self.derived[d] = parse_expression(name, f"derived[{d!r}]", text,
                                               Scope(dict(consts)), "float", KIND)
            consts[d] = "derived constant"
        kinds = dict(consts, **{s: "state variable" for s in self.state})
        writable = frozenset(self.state)
        # per synapse of the rule's projections: the weight, its bounds, the constants and the
        # target neuron's state (read only)
        syn_kinds = dict(kinds, **_SYNAPSE)
        self.incoming = {}
        for inc, text in (incoming or {}).items():
            declare("incoming sum", inc)
            self.incoming[inc] = parse_expression(name, f"incoming[{inc!r}]", text,
                                                  Scope(syn_kinds), "float", KIND)
        late = {i: "an incoming sum is made at the end of each interval: read it in "
                   "every_interval (and keep what later blocks need in a state variable)"
                for i in self.incoming}
        self.blocks = {}
        for block, text in (("every_step", every_step), ("on_spike", on_spike),
                            ("every_interval", every_interval), ("weights", weights)):
            if text is None or (isinstance(text, str) and not text.strip()):
                continue
            if block == "weights":
                scope = Scope(syn_kinds, frozenset({"w"}), True, dict(late))
            elif block == "every_interval":
                scope = Scope(dict(kinds, **{i: "incoming sum (float64)"
                                             for i in self.incoming}), writable, True)
            else:
                scope = Scope(kinds, writable, True, dict(late))
            self.blocks[block] = parse_block(name, block, text, scope, KIND)
        if not set(self.blocks) - {"weights"}:
            raise ModelDefinitionError(f"{where}: every_step, on_spike or every_interval must "
                                       f"hold code")
        for what, needs in (("every_interval", "every_interval" in self.blocks),
                            ("weights", "weights" in self.blocks),
                            ("incoming", bool(self.incoming))):
            if needs and interval is None:
                raise ModelDefinitionError(f"{where}: {what} needs interval= (the parameter "
                                           f"holding the interval in ms)")
        if "weights" in self.blocks and "w" not in self.blocks["weights"].writes:
            raise ModelDefinitionError(f"{where}: weights must assign w (the synapse's new "
                                       f"weight)")
        seen_by_interval = (self.blocks["every_interval"].reads
                            if "every_interval" in self.blocks else set())
        unread = [i for i in self.incoming if i not in seen_by_interval]
        if unread:
            raise ModelDefinitionError(f"{where}: incoming sum {unread[0]!r} is not read by "
                                       f"every_interval (the only block that sees it)")
        for what, names in (("positive", positive), ("non_negative", non_negative)):
            if isinstance(names, str) or not all(isinstance(p, str) for p in names):
                raise ModelDefinitionError(f"{where}: {what} must be a list of parameter "
                                           f"names, got {names!r}")
            for p in names:
                if p not in self.parameters:
                    raise ModelDefinitionError(f"{where}: {what} names {p!r}, which is not a "
                                               f"parameter")
        self.positive = tuple(dict.fromkeys((*positive, *([interval] if interval else []))))
        self.non_negative = tuple(dict.fromkeys(non_negative))
        self._numpy: dict = {}
        self._cuda = None

    def per_neuron_parameters(self) -> frozenset:
        """The parameters that may be one value per neuron: initial values of state variables
        that no code or derived constant reads."""
        read = set().union(*(b.reads for b in (*self.blocks.values(), *self.derived.values(),
                                               *self.incoming.values())))
        return frozenset(v for v in self.state.values() if isinstance(v, str) and v not in read)

    @property
    def array_params(self) -> frozenset:
        """:meth:`per_neuron_parameters` (what checkpoints may store as arrays)."""
        return self.per_neuron_parameters()

    def __call__(self, projections=None, **params):
        """A rule of this description with these parameter values (the others keep their
        defaults), to attach with ``net.add_homeostasis(population, rule)``;
        ``projections``: for a rule that reads or scales weights, the projections onto the
        population it acts on (default: all of its excitatory projections)."""
        from .homeostasis import DescribedHomeostasis
        return DescribedHomeostasis(self, params, projections)

    @property
    def synaptic(self) -> bool:
        """Whether the rule reads or scales weights (``incoming``, ``weights``): it then acts
        on projections onto its population (``projections=``, default the excitatory ones)."""
        return bool(self.incoming) or "weights" in self.blocks

    @property
    def shift_every_step(self) -> bool:
        """Whether the threshold is rewritten every step (else at the end of each interval)."""
        return any(self.threshold in self.blocks[b].writes
                   for b in ("every_step", "on_spike") if b in self.blocks)

    def interval_steps(self, values: dict, dt: float) -> int:
        return max(1, int(round(values[self.interval] / dt))) if self.interval else 0

    def constants(self, values: dict, dt: float, dtype) -> dict:
        """The scalar parameters and the derived constants (float64 on the host, in the order
        declared), rounded once to ``dtype``."""
        from .description import _host_eval
        vals = {p: np.float64(v) for p, v in values.items() if np.ndim(v) == 0}
        vals["dt"] = np.float64(dt)
        if self.interval:
            vals["T"] = np.float64(self.interval_steps(values, dt) * dt)
        for d, block in self.derived.items():
            vals[d] = np.float64(_host_eval(block.body[0], vals))
        real = np.dtype(dtype).type
        return {k: real(v) for k, v in vals.items()}

    def numpy(self, double: bool = False) -> tuple[dict, dict]:
        """(functions, sources) per block, made once per precision."""
        if double not in self._numpy:
            self._numpy[double] = numpy_functions(self, double)
        return self._numpy[double]

    def numpy_incoming(self, double: bool = False):
        """(function, source): ``fn(v)`` takes the values the incoming sums read per synapse
        and returns, per sum, what each synapse adds to its target's (None without sums)."""
        key = ("incoming", double)
        if key not in self._numpy:
            self._numpy[key] = _numpy_incoming(self, double) if self.incoming else (None, None)
        return self._numpy[key]

    def cuda(self) -> tuple[str, dict, str]:
        """(kernel file, {block: kernel name}, source), made once."""
        if self._cuda is None:
            self._cuda = cuda_source(self)
        return self._cuda

    def __repr__(self):
        return f"HomeostasisModel({self.name!r})"


# -- the threshold of a threshold rule ---------------------------------------------------------------

#: How ``threshold=`` acts: the population's threshold is the model's ``v_thresh`` (``base``)
#: plus the rule's ``shift`` (on NumPy the sum of its threshold rules' shifts). Written once:
#: :func:`threshold_shift` (NumPy) and the ``<rule>_threshold`` kernels are generated from it.
THRESHOLD_SHIFT = "base + shift"


@functools.lru_cache(maxsize=None)
def _threshold_shift():
    kinds = dict(base="the model's v_thresh", shift="the rule's shift")
    return parse_expression("threshold", "shift", THRESHOLD_SHIFT, Scope(kinds), "float",
                            KIND).body[0]


@functools.lru_cache(maxsize=None)
def threshold_shift():
    """``fn(base, shift)``: :data:`THRESHOLD_SHIFT` for NumPy (no literals: any precision)."""
    from ..models.codegen import PyEmitter
    em = PyEmitter("threshold")
    em.emit(f"return {em.expr(_threshold_shift(), dict(base='base', shift='shift'))}", 1)
    return em.compile("def threshold(base, shift):", "<neurosim homeostasis: threshold>")[0]


def _threshold_c(d) -> str:
    from .generate import RoundedCEmitter
    return RoundedCEmitter(d.name).expr(_threshold_shift(),
                                        dict(base="base[i]", shift=f"{d.threshold}[i]"))


# -- float64 values: incoming sums -----------------------------------------------------------------
#
# An incoming sum is a float64 array (the sum of a neuron's synapses in float64). Read in
# every_interval, an expression that reads one is computed in float64 (NumPy promotes so; the C
# emitter casts each operand to double), and what an assignment stores, to a state variable or
# a local, is rounded once to the network's type (_Round), so both backends keep the same
# values at every statement.

class _Round(ast.expr):
    """A float64 value stored by an assignment: rounded to the network's real type."""

    _fields = ("value",)


def _is_wide(node, wide) -> bool:
    return bool(wide) and any(isinstance(n, ast.Name) and n.id in wide for n in ast.walk(node))


class _RoundWide(ast.NodeTransformer):
    def __init__(self, wide):
        self.wide = wide

    def visit_Assign(self, node):
        if _is_wide(node.value, self.wide):
            node.value = ast.copy_location(_Round(value=node.value), node.value)
        return node


def _body(d, block) -> list:
    """The statements of ``block`` as both emitters write them: in every_interval of a rule
    with incoming sums, ``x op= e`` as ``x = x op e`` and float64 values rounded when stored."""
    if block.where != "every_interval" or not d.incoming:
        return block.body
    from .generate import _AugToAssign
    wide = _RoundWide(frozenset(d.incoming))
    return [wide.visit(_AugToAssign().visit(copy.deepcopy(st))) for st in block.body]


# -- NumPy -----------------------------------------------------------------------------------------

def _py_emitter(d, double: bool):
    from ..models.codegen import PyEmitter
    from .generate import _clip
    real = np.float64 if double else np.float32

    class Emitter(PyEmitter):
        def expr(self, node, env):
            if isinstance(node, _Round):
                return f"_real({self.expr(node.value, env)})"
            return super().expr(node, env)

    def bound(x, lo, hi):
        """``_clip``, or ``x`` itself when unbounded (static weights: the same values, NaN
        included, without two passes over the synapses)."""
        if lo == -np.inf and hi == np.inf:
            return x
        return _clip(x, lo, hi)

    em = Emitter(d.name, float64=double)
    em.namespace.update(_clip=bound, _real=lambda x: np.asarray(x, real))
    em.emit('with np.errstate(divide="ignore", over="ignore", invalid="ignore"):', 1)
    return em


def _numpy_block(d, block, fname: str, double: bool):
    em = _py_emitter(d, double)
    env = {}
    for name in sorted(block.reads | block.writes):
        em.emit(f"_v_{name} = v[{name!r}]")
        env[name] = f"_v_{name}"
    em.stmts(_body(d, block), env)
    out = [f"{n!r}: {env[n]}" for n in sorted(block.writes)]
    if fname == "weights":                       # clipped to the projection's bounds
        out = [f"'w': _clip({env['w']}, v['w_min'], v['w_max'])"]
    em.emit("return {" + ", ".join(out) + "}")
    return em.compile(f"def {fname}(v):", f"<neurosim homeostasis {d.name}: {fname}>")


def _numpy_incoming(d, double: bool):
    em = _py_emitter(d, double)
    reads = sorted(set().union(*(e.reads for e in d.incoming.values())))
    env = {}
    for name in reads:
        em.emit(f"_v_{name} = v[{name!r}]")
        env[name] = f"_v_{name}"
    em.emit("return {" + ", ".join(f"{i!r}: {em.expr(e.body[0], env)}"
                                   for i, e in d.incoming.items()) + "}")
    return em.compile("def incoming(v):", f"<neurosim homeostasis {d.name}: incoming>")


def numpy_functions(d, double: bool = False) -> tuple[dict, dict]:
    """One function per block: ``fn(v)`` takes the values the block reads (per-neuron arrays
    of the neurons it runs for, or per-synapse arrays for ``weights``; scalars for the
    constants) and returns what it assigns (``weights``: ``w`` clipped to ``[w_min, w_max]``).
    The incoming sums' function is :func:`_numpy_incoming`."""
    pairs = {b: _numpy_block(d, block, b, double) for b, block in d.blocks.items()}
    return {k: v[0] for k, v in pairs.items()}, {k: v[1] for k, v in pairs.items()}


# -- CUDA ------------------------------------------------------------------------------------------

def kernel_constants(d) -> list:
    """The constants the code reads (kernel arguments ``p_<name>``), in declaration order."""
    used = set().union(*(b.reads for b in (*d.blocks.values(), *d.incoming.values())))
    names = [*d.parameters, *d.derived, "dt"] + (["T"] if d.interval else [])
    return [c for c in names if c in used]


def _c_emitter(d):
    from ..models.codegen import BIN_OPS
    from .generate import _C_OPS, RoundedCEmitter
    wide = frozenset(d.incoming)

    class Emitter(RoundedCEmitter):
        def expr(self, node, names):
            if isinstance(node, _Round):
                return f"(ns_real)({self.expr(node.value, names)})"
            if not _is_wide(node, wide):
                return super().expr(node, names)
            if isinstance(node, ast.BinOp):           # in double, each operand cast
                left = f"(double)({self.expr(node.left, names)})"
                if isinstance(node.op, ast.Pow):      # repeated multiplication, as _pow
                    out = left
                    for _ in range(node.right.value - 1):
                        out = f"ns_mul({out}, {left})"
                    return out
                fn = _C_OPS[BIN_OPS[type(node.op)]]
                return f"{fn}({left}, (double)({self.expr(node.right, names)}))"
            if isinstance(node, ast.Call):
                args = [f"(double)({self.expr(a, names)})" for a in node.args]
                name = node.func.id
                if name == "clip":
                    return f"ns_wmin(ns_wmax({args[0]}, {args[1]}), {args[2]})"
                if name in ("min", "max"):
                    out = args[0]
                    for a in args[1:]:
                        out = f"ns_w{name}({out}, {a})"
                    return out
                return f"{'fabs' if name == 'abs' else name}({args[0]})"
            return super().expr(node, names)

    return Emitter(d.name)


def _names(d) -> dict:
    names = {c: f"p_{c}" for c in kernel_constants(d)}
    names.update({s: f"h_{s}" for s in d.state})
    names.update({i: f"h_{i}" for i in d.incoming})
    names.update(w="ns_w", w_min="w_min", w_max="w_max")
    return names


def _event(d, block):
    if block is None:
        return None
    used = block.reads | block.writes
    loads = [f"ns_real h_{s} = {s}[i];" for s in d.state if s in used]
    stores = [f"{s}[i] = h_{s};" for s in d.state if s in block.writes]
    if block.where == "every_interval":             # the interval's sums, zeroed for the next
        loads += [f"const double h_{i} = {i}[i];" for i in d.incoming]
        stores += [f"{i}[i] = 0.0;" for i in d.incoming]
    if block.where == "weights":                    # per synapse: the target's state, w
        loads = (["const ns_i32 i = post[s];"] if loads else []) + loads
        loads.append("ns_real ns_w = w[q];")
        stores = ["w[q] = ns_min(ns_max(ns_w, w_min), w_max);"]
    code = "\n".join(_c_emitter(d).block(_Block(block, _body(d, block)), _names(d), 3))
    return {"loads": loads, "code": code, "stores": stores}


def _incoming(d):
    if not d.incoming:
        return None
    used = set().union(*(e.reads for e in d.incoming.values()))
    loads = [f"const ns_real h_{s} = {s}[i];" for s in d.state if s in used]
    if "w" in used:
        loads.append("const ns_real ns_w = w[has_pos ? pos[s] : s];")
    em, names = _c_emitter(d), _names(d)
    adds = [f"atomicAdd({i} + i, (double)({em.expr(e.body[0], names)}));"
            for i, e in d.incoming.items()]
    return {"loads": loads, "adds": adds}


class _Block:
    """A checked block with its statements replaced (for the emitters' ``block``)."""

    def __init__(self, block, body):
        self.body, self.local_types = body, block.local_types


def cuda_source(d) -> tuple[str, dict, str]:
    """(kernel file name, {block: kernel name}, source) of description ``d``, registered with
    the kernel loader under the file name (the rule's name and the source's hash); the
    kernels: one per block, and ``incoming`` for the incoming sums."""
    import jinja2

    from ..backends.kernel_source import kernels_dir, register_source
    text = (kernels_dir() / "homeostasis_rule.cu.j2").read_text(encoding="utf-8")
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined, autoescape=False)
    consts = kernel_constants(d)
    source = env.from_string(text).render(
        name=d.name, model=repr(d.name), state=list(d.state), consts=consts,
        incoming=list(d.incoming), sums=_incoming(d),
        every_step=_event(d, d.blocks.get("every_step")),
        on_spike=_event(d, d.blocks.get("on_spike")),
        every_interval=_event(d, d.blocks.get("every_interval")),
        weights=_event(d, d.blocks.get("weights")),
        threshold=_threshold_c(d) if d.threshold is not None else None)
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    filename = f"generated-homeostasis-{d.name}-{digest}.cu"
    register_source(filename, source)
    kernels = {b: f"{d.name}_{b}" for b in BLOCKS if b in d.blocks}
    if d.incoming:
        kernels["incoming"] = f"{d.name}_incoming"
    if d.threshold is not None:
        kernels["threshold"] = f"{d.name}_threshold"
    return filename, kernels, source
