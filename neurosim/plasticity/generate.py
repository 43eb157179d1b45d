"""From a checked :class:`~neurosim.plasticity.description.PlasticityModel` to code for each
backend.

- :func:`numpy_functions`: one Python function per block (``on_pre``, ``on_post``,
  ``between``), vectorised over the synapses an event touches: ``fn(v)`` takes a dict of the
  values the block reads (arrays per synapse, scalars of the network's real type for the
  constants) and returns a
  dict of what it assigns (``w`` clipped to ``[w_min, w_max]``). Which synapses an event
  touches, and what trace values they see, is the runtime's
  (:class:`~neurosim.plasticity.numpy_runtime.RuleNumpy`);
- :func:`cuda_source`: the rule's kernels, rendered from ``kernels/plasticity_rule.cu.j2``
  and registered with :func:`neurosim.backends.kernel_source.register_source` under a name
  made from the rule's name and the source's hash, so the CUDA engine loads them (CuPy or the
  host build) as it loads the shared kernels (:func:`machinery_source`, rendered from
  ``kernels/plasticity.cu.j2``).

Both emit the statements with the emitters of neuron models (:mod:`neurosim.models.codegen`);
the C one here rounds every ``+ - * /`` on its own (``ns_add`` ... of ``kernels/plastic.cuh``:
no FMA contraction on a GPU), so that the kernels repeat NumPy's float32 operations exactly.
"""

from __future__ import annotations

import ast
import copy
import functools
import hashlib

import numpy as np

from ..models.codegen import BIN_OPS, CEmitter, PyEmitter
from ..models.snippets import DECAY, ELAPSED, TRACE_JUMP, c_expr

_ERRSTATE = 'with np.errstate(divide="ignore", over="ignore", invalid="ignore"):'
_C_OPS = {"+": "ns_add", "-": "ns_sub", "*": "ns_mul", "/": "ns_div"}
_C_MATH = ("exp", "expm1", "log", "sqrt", "abs")
_REALS = (np.dtype(np.float32), np.dtype(np.float64))


#: A modulator's level ``elapsed`` ms after it was ``level``: the exact relaxation toward
#: ``rest`` with time constant ``tau`` between deliveries (Izhikevich 2007's dopamine). Written
#: once: the NumPy function (:func:`modulator_relaxation`, the host side of both runtimes) and
#: the kernels' expression (:func:`modulator_relaxation_c`) are generated from it.
MODULATOR_RELAXATION = "rest + (level - rest) * exp(-elapsed / tau)"
_RELAXATION_ARGS = ("level", "elapsed", "tau", "rest")


@functools.lru_cache(maxsize=None)
def _relaxation():
    from ..models.language import Scope, parse_expression
    kinds = dict(level="level after the last change", elapsed="time since it (ms)",
                 tau="time constant (ms)", rest="resting level")
    return parse_expression("modulator", "relaxation", MODULATOR_RELAXATION, Scope(kinds),
                            "float", "PlasticityModel").body[0]


@functools.lru_cache(maxsize=None)
def modulator_relaxation(double: bool = False):
    """``relax(level, elapsed, tau, rest)`` from :data:`MODULATOR_RELAXATION` (NumPy, literals
    float64 when ``double``)."""
    em = PyEmitter("modulator", float64=double)
    env = {n: f"_a_{n}" for n in _RELAXATION_ARGS}
    em.emit(f"return {em.expr(_relaxation(), env)}", 1)
    header = "def relax(" + ", ".join(env.values()) + "):"
    return em.compile(header, "<neurosim plasticity: modulator relaxation>")[0]


def modulator_relaxation_c(names: dict) -> str:
    """:data:`MODULATOR_RELAXATION` as C (every operation rounded on its own), ``names``
    mapping level, elapsed, tau and rest to C expressions."""
    return RoundedCEmitter("modulator").expr(_relaxation(), names)


# -- NumPy -----------------------------------------------------------------------------------------

def _clip(x, lo, hi, *others):
    """``w`` clipped to ``[lo, hi]`` as ``np.minimum(np.maximum(x, lo), hi)``; in place when
    ``x`` is a float32 or float64 array that no other result of the block is (the values a
    block computes from are the runtime's copies, never its own arrays)."""
    if isinstance(x, np.ndarray) and x.dtype in _REALS and x.ndim \
            and not any(o is x for o in others):
        np.maximum(x, lo, out=x)
        return np.minimum(x, hi, out=x)
    return np.minimum(np.maximum(x, lo), hi)


def _numpy_block(d, block, fname: str, double: bool = False):
    em = PyEmitter(d.name, float64=double)
    em.namespace["_clip"] = _clip
    em.emit(_ERRSTATE, 1)
    env = {}
    for name in sorted(block.reads | block.writes):
        em.emit(f"_v_{name} = v[{name!r}]")
        env[name] = f"_v_{name}"
    em.stmts(block.body, env)
    out = []
    for name in sorted(block.writes):
        value = env[name]
        if name == "w":
            others = "".join(f", {env[o]}" for o in sorted(block.writes) if o != "w")
            value = f"_clip({value}, v['w_min'], v['w_max']{others})"
        out.append(f"{name!r}: {value}")
    em.emit("return {" + ", ".join(out) + "}")
    return em.compile(f"def {fname}(v):", f"<neurosim plasticity {d.name}: {fname}>")


def numpy_functions(d, double: bool = False) -> tuple[dict, dict]:
    """(functions, their Python sources) of description ``d``, per block name; ``double``:
    the literals float64 (the float64 values of ``Network(precision="double")``), else
    float32."""
    pairs = {name: _numpy_block(d, block, name, double) for name, block in d.blocks().items()}
    return {k: v[0] for k, v in pairs.items()}, {k: v[1] for k, v in pairs.items()}


# -- CUDA ------------------------------------------------------------------------------------------

class _AugToAssign(ast.NodeTransformer):
    """``x += e`` as ``x = x + (e)``: the C emitter then rounds the operation like any other."""

    def visit_AugAssign(self, node):
        value = ast.BinOp(left=ast.Name(id=node.target.id, ctx=ast.Load()), op=node.op,
                          right=node.value)
        return ast.copy_location(ast.Assign(targets=[ast.Name(id=node.target.id,
                                                               ctx=ast.Store())],
                                            value=value), node)


class RoundedCEmitter(CEmitter):
    """C statements in ``ns_real`` whose every arithmetic operation is rounded on its own."""

    def expr(self, node, names: dict) -> str:
        if isinstance(node, ast.BinOp) and not isinstance(node.op, ast.Pow):
            fn = _C_OPS[BIN_OPS[type(node.op)]]
            return f"{fn}({self.expr(node.left, names)}, {self.expr(node.right, names)})"
        if isinstance(node, ast.Constant) and not isinstance(node.value, bool):
            return f"(ns_real){super().expr(node, names)}"
        if isinstance(node, ast.Call) and node.func.id in _C_MATH:
            return f"ns_{node.func.id}({self.expr(node.args[0], names)})"
        return super().expr(node, names)

    LOCAL_ZERO = "(ns_real)0"

    def prepare(self, body) -> list:
        """``x op= e`` as ``x = x op e``, so the operation is rounded like the others."""
        return [_AugToAssign().visit(copy.deepcopy(st)) for st in body]


def _names(d) -> dict:
    names = {p: f"p_{p}" for p in (*d.parameters, *d.derived)}
    names.update(w_min="w_min", w_max="w_max", dt="dt", w="ns_w", elapsed="ns_el")
    names.update({s: f"s_{s}" for s in d.state})
    names.update({t: f"t_{t}" for t in (*d.pre_traces, *d.post_traces)})
    if d.modulator:
        names[d.modulator["name"]] = "ns_mod"
    return names


def _event(d, block, kernel: str, indent: int) -> dict | None:
    """Loads, code and stores of ``block`` in kernel ``kernel`` ("arrive", "post",
    "bring")."""
    if block is None:
        return None
    em = RoundedCEmitter(d.name)
    used = block.reads | block.writes
    loads = []
    if "w" in used:
        loads.append("ns_real ns_w = w[k];")
    loads += [f"ns_real s_{s} = st_{s}[k];" for s in d.state if s in used]
    for K, t in enumerate(d.pre_traces):
        if t not in used:
            continue
        if kernel == "arrive":       # just before the arrival's own jump: one step's decay
            seen = c_expr(DECAY, dict(x=f"xr[(ns_i64){K} * R * n_pre + ns_pmod(n - 1 - d, R) "
                                        f"* n_pre + j]", P=f"P_pre[{K}]"), em)
            loads.append(f"const ns_real t_{t} = {seen};")
        else:                        # with the arrivals of this step
            loads.append(f"const ns_real t_{t} = ns_gate ? xr[(ns_i64){K} * R * n_pre + row] "
                         f": (ns_real)0;")
    for K, t in enumerate(d.post_traces):
        if t not in used:
            continue
        if kernel == "arrive":
            loads.append(f"const ns_real t_{t} = ns_gate ? y[(ns_i64){K} * n_post + i] "
                         f": (ns_real)0;")
        else:
            loads.append(f"const ns_real t_{t} = y[(ns_i64){K} * n_post + i];")
    stores = []
    if "w" in block.writes:
        clip = "w[k] = ns_min(ns_max(ns_w, w_min), w_max);"
        stores.append(("if (ns_learn) " + clip) if kernel == "bring" else clip)
    stores += [f"st_{s}[k] = s_{s};" for s in d.state if s in block.writes]
    code = "\n".join(em.block(block, _names(d), indent))
    return {"loads": loads, "code": code, "stores": stores}


def _template(name: str = "plasticity_rule.cu.j2"):
    import jinja2
    from ..backends.kernel_source import kernels_dir
    text = (kernels_dir() / name).read_text(encoding="utf-8")
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined, autoescape=False)
    return env.from_string(text)


@functools.lru_cache(maxsize=None)
def machinery_source() -> str:
    """The name under which the kernels every plastic projection shares (trace decay and
    jumps, spike lists, delivery) are registered for the kernel loader: ``kernels/
    plasticity.cu.j2`` rendered with a trace's decay and jumps (:data:`~neurosim.models.
    snippets.DECAY`, :data:`~neurosim.models.snippets.TRACE_JUMP`) written by the rounded C
    emitter, as the NumPy runtime runs them."""
    from ..backends.kernel_source import register_source
    em = RoundedCEmitter("plasticity")
    source = _template("plasticity.cu.j2").render(
        decay=lambda x, P: c_expr(DECAY, dict(x=x, P=P), em),
        jump_all=lambda x: c_expr(TRACE_JUMP["all"], dict(x=x), em),
        jump_nearest=lambda x: c_expr(TRACE_JUMP["nearest"], dict(x=x), em))
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    filename = f"generated-plasticity-{digest}.cu"
    register_source(filename, source)
    return filename


def cuda_source(d) -> tuple[str, dict, str]:
    """(kernel file name, {role: kernel name}, source) of description ``d``; the source is
    registered under the file name for the kernel loader. Roles: ``arrive``, ``post`` and,
    for rules with a ``between`` block, ``bring_arrivals``, ``bring_all``."""
    from ..backends.kernel_source import register_source
    level = (modulator_relaxation_c(dict(level="dop[0]", elapsed="ns_el1", tau="mod_tau",
                                         rest="mod_rest")) if d.modulator else "")
    em = RoundedCEmitter(d.name)
    source = _template().render(
        elapsed=lambda steps: c_expr(ELAPSED, dict(steps=steps, dt="dt"), em),
        modulator_level=level, name=d.name, model=repr(d.name), state=list(d.state),
        consts=[*d.parameters, *d.derived], lazy=d.lazy, modulator=d.modulator is not None,
        pre_traces=list(d.pre_traces), post_traces=list(d.post_traces),
        on_pre=_event(d, d.on_pre, "arrive", 3), on_post=_event(d, d.on_post, "post", 3),
        between=_event(d, d.between, "bring", 4))
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    filename = f"generated-plasticity-{d.name}-{digest}.cu"
    register_source(filename, source)
    roles = ["arrive", "post"] + (["bring_arrivals", "bring_all"] if d.lazy else [])
    return filename, {r: f"{d.name}_{r}" for r in roles}, source

