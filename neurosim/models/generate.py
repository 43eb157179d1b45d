"""From a checked :class:`~neurosim.models.description.NeuronModel` to code for each backend.

- :func:`numpy_functions`: the NumPy step as the engine calls a model class's ``integrate``,
  ``threshold``, ``reset`` and ``clamp`` (vectorised over a group; ``reset`` and ``clamp`` over
  the spiking / refractory neurons only), and the host functions of the derived constants and
  default initial state (float64);
- :func:`cuda_source`: the neuron kernel, rendered from ``kernels/neuron_model.cu.j2`` and
  registered with :func:`neurosim.backends.kernel_source.register_source` under a name made
  from the model's name and the source's hash, so the CUDA engine loads it (CuPy or the host
  build) exactly as it loads the files of ``kernels/``.

Both make the same step (see :mod:`neurosim.models.description`): update, synaptic decay and
arrivals, refractory hold, threshold, reset, with the same float32 operations in the same
order. Every built-in neuron model is a description, so this is the only place where a neuron
kernel or NumPy step is written.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import hashlib
import itertools

import numpy as np

from . import inplace, snippets
from .codegen import CEmitter, PyEmitter
_CHANNEL_SUFFIX = {"excitatory": "e", "inhibitory": "i"}


def _loads(em: PyEmitter, d, reads: set, subset: bool, indent: int = 2) -> dict:
    """Emit the reads of constants and state; the name environment."""
    env = {}
    for name in d.constant_names:
        if name in reads:
            em.emit(f"_c_{name} = c[{name!r}]", indent)
            if subset:                  # one value for the group, or one per neuron
                em.emit(f"_c_{name} = _c_{name} if _c_{name}.ndim == 0 else _c_{name}[idx]",
                        indent)
            env[name] = f"_c_{name}"
    for name in d.state_names:
        if name in reads:
            em.emit(f"_s_{name} = s[{name!r}][idx]" if subset else f"_s_{name} = s[{name!r}]",
                    indent)
            env[name] = f"_s_{name}"
    return env


def _writes(em: PyEmitter, d, block, env: dict, subset: bool, indent: int = 2,
            assigned=None) -> None:
    """Store what the block assigned. Values that are still another variable's state view are
    copied first: the stores must not see each other."""
    pending = []
    for name in d.user_state:
        if name in (block.writes if assigned is None else assigned) and \
                env[name] != f"_s_{name}":
            value = env[name]
            if value.startswith("_s_"):
                copy = em.fresh(name)
                em.emit(f"{copy} = np.array({value}, copy=True)", indent)
                value = copy
            pending.append((name, value))
    for name, value in pending:
        em.emit(f"s[{name!r}][idx] = {value}" if subset else f"s[{name!r}][...] = {value}",
                indent)


def _statement_function(d, block, fname: str, subset: bool, double: bool = False):
    em = PyEmitter(d.name, float64=double)
    em.emit("pass", 1)
    if block is not None:
        env = _loads(em, d, block.reads, subset, indent=1)
        em.stmts(block.body, env, 1)
        _writes(em, d, block, env, subset, indent=1)
    header = f"def {fname}(s, c, idx):"
    return em.compile(header, f"<neurosim model {d.name}: {fname}>")


# -- values that are zero: I_ext without an injected current, parameters that are 0 --------------

_ZERO = object()


def _fold(node, zeros: set):
    """``node`` with the names ``zeros`` known to be 0: ``x + z``, ``z + x``, ``x - z`` are
    ``x``; ``x * z``, ``z * x``, ``z / x`` and ``-z`` are zero in turn, so the step makes none
    of their operations (as the hand-written models skipped an absent current and a zero
    reversal potential; for finite ``x`` the result is the same number); where a zero cannot
    be dropped it is the number 0."""
    if isinstance(node, ast.Name):
        return _ZERO if node.id in zeros else node
    if isinstance(node, ast.BinOp):
        left, right = _fold(node.left, zeros), _fold(node.right, zeros)
        op = type(node.op)
        if op is ast.Add and left is _ZERO:
            return right
        if op in (ast.Add, ast.Sub) and right is _ZERO:
            return left
        if op is ast.Mult and (left is _ZERO or right is _ZERO):
            return _ZERO
        if op is ast.Div and left is _ZERO:
            return _ZERO
        return ast.BinOp(left=_zero(left), op=node.op, right=_zero(right))
    if isinstance(node, ast.UnaryOp):
        inner = _fold(node.operand, zeros)
        if inner is _ZERO and isinstance(node.op, (ast.USub, ast.UAdd)):
            return _ZERO
        return ast.UnaryOp(op=node.op, operand=_zero(inner))
    if not any(isinstance(n, ast.Name) and n.id in zeros for n in ast.walk(node)):
        return node
    clone = copy.copy(node)
    for field, value in ast.iter_fields(node):
        if isinstance(value, list):
            setattr(clone, field, [_zero(_fold(v, zeros)) if isinstance(v, ast.expr) else v
                                   for v in value])
        elif isinstance(value, ast.expr):
            setattr(clone, field, _zero(_fold(value, zeros)))
    return clone


def _zero(node):
    return ast.Constant(value=0.0) if node is _ZERO else node


def fold_zeros(body, zeros: set) -> list:
    """The statements ``body`` with the names ``zeros`` known to be 0 (see :func:`_fold`):
    ``x += z`` and ``x -= z`` vanish."""
    if not zeros:
        return body
    out = []
    for st in body:
        if isinstance(st, ast.Assign):
            out.append(ast.Assign(targets=st.targets, value=_zero(_fold(st.value, zeros))))
        elif isinstance(st, ast.AugAssign):
            value = _fold(st.value, zeros)
            if value is _ZERO and type(st.op) in (ast.Add, ast.Sub):
                continue
            out.append(ast.AugAssign(target=st.target, op=st.op, value=_zero(value)))
        elif isinstance(st, ast.If):
            out.append(ast.If(test=_zero(_fold(st.test, zeros)),
                              body=fold_zeros(st.body, zeros) or [ast.Pass()],
                              orelse=fold_zeros(st.orelse, zeros)))
        else:
            out.append(st)
    return out


#: parameters whose default is 0 that the NumPy step specialises for (at most this many; only
#: those whose zero leaves operations out)
MAX_ZERO_PARAMETERS = 2


def _operations(body) -> int:
    return sum(isinstance(n, (ast.BinOp, ast.UnaryOp, ast.Call)) for st in body
               for n in ast.walk(st))


def _integrate(d, double: bool = False):
    """``integrate``: the update (with ufuncs into scratch rows where it is straight-line code,
    see :mod:`neurosim.models.inplace`), then the synapses. The update is written once for each
    combination of ``I_ext`` absent (no injected current) or not and of each parameter with a
    default of 0 that it reads (at most :data:`MAX_ZERO_PARAMETERS`) being 0 for the whole
    group or not; each step runs the one that applies (see :func:`_fold`). ``double``: float64
    literals, for the float64 state of ``Network(precision="double")``."""
    em = PyEmitter(d.name, float64=double)
    block = d.update
    consts = set(d.constant_names)
    names = (block.reads | block.writes) - {"I_syn", "I_ext"}
    env = _loads(em, d, names, subset=False, indent=1)
    rows_at = len(em.lines)            # the scratch rows are bound here, once they are known
    reserved = 0
    if "I_syn" in block.reads:
        if len(d.synaptic_state) == 1:
            em.emit(f"_I_syn = s[{d.synaptic_state[0]!r}]", 1)
        else:
            em.emit("_I_syn = _t0", 1)
            em.emit("np.add(" + ", ".join(f"s[{n!r}]" for n in d.synaptic_state)
                    + ", out=_I_syn)", 1)
            reserved = 1
        env["I_syn"] = "_I_syn"
    optional = ["I_ext"] if "I_ext" in block.reads else []
    optional += [p for p, v in d.parameters.items() if v == 0.0 and p in block.reads
                 and _operations(fold_zeros(block.body, {p})) < _operations(block.body)
                 ][:MAX_ZERO_PARAMETERS]
    for name in optional:
        em.emit(f"_z_{name} = i_ext is None" if name == "I_ext" else
                f"_z_{name} = _c_{name}.ndim == 0 and _c_{name} == 0", 1)
    rows = reserved
    combos = list(itertools.product((True, False), repeat=len(optional)))
    for k, combo in enumerate(combos):
        zeros = {n for n, z in zip(optional, combo) if z}
        indent = 1
        if len(combos) > 1:
            test = " and ".join(f"{'' if z else 'not '}_z_{n}" for n, z in zip(optional, combo))
            em.emit("else:" if k == len(combos) - 1 else
                    f"{'if' if k == 0 else 'elif'} {test}:", 1)
            indent = 2
            em.emit("pass", 2)
        benv = dict(env)
        if "I_ext" in optional and "I_ext" not in zeros:
            em.emit("_I_ext = i_ext", indent)
            benv["I_ext"] = "_I_ext"
        body = fold_zeros(block.body, zeros)
        sub = dataclasses.replace(block, body=body)
        used = inplace.emit_inplace(em, sub, benv, d.user_state, consts, indent, reserved)
        if used is None:                                  # if statements: the SSA form
            senv = dict(benv)
            em.stmts(body, senv, indent)
            _writes(em, d, sub, senv, subset=False, indent=indent)
            used = reserved
        rows = max(rows, used)
    # the synapses (models/snippets.py): a channel decays, then receives the step's arrivals;
    # delta synapses: the arrivals jump v
    if d.synapse_kind == "delta":
        em.emit("if inp is not None and active[0]:", 1)
        em.emit("    _x = s['v']", 1)
        em.emit("    " + snippets.numpy_call(em, snippets.ARRIVAL, dict(x="_x", arrivals="inp[0]"),
                                             "_x"), 1)
    else:
        for ch, (name, decay) in enumerate(zip(d.synaptic_state, d.decay_names)):
            em.emit(f"_x = s[{name!r}]", 1)
            em.emit(snippets.numpy_call(em, snippets.DECAY, dict(x="_x", P=f"c[{decay!r}]"),
                                        "_x"), 1)
            em.emit(f"if inp is not None and active[{ch}]:", 1)
            em.emit("    " + snippets.numpy_call(em, snippets.ARRIVAL,
                                                 dict(x="_x", arrivals=f"inp[{ch}]"), "_x"), 1)
    em.emit("pass", 1)
    if rows:
        em.lines.insert(rows_at, "    " + ", ".join(f"_t{k}" for k in range(rows)) + " = "
                        + ", ".join(f"tmp[{k}]" for k in range(rows)))
    fn, source = em.compile("def integrate(s, inp, active, c, i_ext, tmp):",
                            f"<neurosim model {d.name}: integrate>")
    fn.scratch = max(rows, 1)            # the rows of tmp it uses
    return fn, source


def _hold_stays_below_threshold(d) -> bool:
    """Whether a refractory neuron can never pass the threshold, so that the NumPy step need
    not mask them: ``hold`` ends with ``v = X``, the threshold is ``v >= Y`` (or ``>``) and a
    constraint requires ``X < Y`` for every neuron (``LIF``: v_reset < v_thresh)."""
    if d.hold is None or not all(isinstance(st, ast.Assign) for st in d.hold.body):
        return False
    last = [st.value for st in d.hold.body if st.targets[0].id == "v"]
    cond = d.threshold.body[0]
    consts = set(d.constant_names)
    if not (last and isinstance(last[-1], ast.Name) and last[-1].id in consts
            and isinstance(cond, ast.Compare) and len(cond.ops) == 1
            and isinstance(cond.ops[0], (ast.GtE, ast.Gt)) and isinstance(cond.left, ast.Name)
            and cond.left.id == "v" and isinstance(cond.comparators[0], ast.Name)
            and cond.comparators[0].id in consts):
        return False
    want = (last[-1].id, cond.comparators[0].id)
    for text in d.constraints:
        c = ast.parse(text.strip(), mode="eval").body
        if isinstance(c, ast.Compare) and len(c.ops) == 1 and isinstance(c.ops[0], ast.Lt) \
                and isinstance(c.left, ast.Name) and isinstance(c.comparators[0], ast.Name) \
                and (c.left.id, c.comparators[0].id) == want:
            return True
    return False


def _threshold(d, double: bool = False):
    em = PyEmitter(d.name, float64=double)
    node = d.threshold.body[0]
    env = _loads(em, d, d.threshold.reads, subset=False, indent=1)
    ops = {ast.Lt: "np.less", ast.LtE: "np.less_equal", ast.Gt: "np.greater",
           ast.GtE: "np.greater_equal", ast.Eq: "np.equal", ast.NotEq: "np.not_equal"}
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        em.emit(f"{ops[type(node.ops[0])]}({em.expr(node.left, env)}, "
                f"{em.expr(node.comparators[0], env)}, out=mask)", 1)
    else:
        em.emit(f"mask[...] = {em.expr(node, env)}", 1)
    if not _hold_stays_below_threshold(d):
        em.emit("if r.size:", 1)
        em.emit("    mask[r] = False", 1)
    em.emit("return mask.nonzero()[0]", 1)
    em.namespace["_NONE"] = np.zeros(0, np.intp)
    return em.compile("def threshold(s, c, mask, r=_NONE):",
                      f"<neurosim model {d.name}: threshold>")


def _host_function(d, fname: str, blocks: dict, with_dt: bool):
    """float64 host function: ``blocks`` maps a result name to an expression block, evaluated
    in order over the parameters (each may read the results before it)."""
    em = PyEmitter(d.name, float64=True)
    em.emit('with np.errstate(all="ignore"):', 1)
    em.emit("out = {}")
    env = {}
    if with_dt:
        em.emit("_c_dt = np.float64(dt)")
        env["dt"] = "_c_dt"
    for name in d.parameters:
        em.emit(f"_c_{name} = np.asarray(p[{name!r}], np.float64)")
        env[name] = f"_c_{name}"
    for name, block in blocks.items():
        em.emit(f"_r_{name} = np.asarray({em.expr(block.body[0], env)}, np.float64)")
        em.emit(f"out[{name!r}] = _r_{name}")
        env[name] = f"_r_{name}"
    em.emit("return out", 1)
    args = "p, dt" if with_dt else "p"
    return em.compile(f"def {fname}({args}):", f"<neurosim model {d.name}: {fname}>")


def numpy_functions(d, double: bool = False) -> tuple[dict, dict]:
    """(functions, their Python sources) of description ``d``; ``double``: the step's literals
    float64, for the float64 state of ``Network(precision="double")``."""
    pairs = {
        "integrate": _integrate(d, double),
        "threshold": _threshold(d, double),
        "reset": _statement_function(d, d.reset, "reset", subset=True, double=double),
        "clamp": _statement_function(d, d.hold, "clamp", subset=True, double=double),
        "derived": _host_function(d, "derived", d.derived, with_dt=True),
        "initial": _host_function(d, "initial", d.initial, with_dt=False),
    }
    return ({k: v[0] for k, v in pairs.items()}, {k: v[1] for k, v in pairs.items()})


# -- CUDA ------------------------------------------------------------------------------------------

def _template():
    import jinja2
    from ..backends.kernel_source import kernels_dir
    text = (kernels_dir() / "neuron_model.cu.j2").read_text(encoding="utf-8")
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined, autoescape=False)
    return env.from_string(text)


def _update_c(em: CEmitter, d, names: dict, loaded: set) -> list:
    """The update in C: with ``I_ext`` absent (no injected current) folded away as in the
    NumPy step, in a branch of its own. Constants that only the update reads are loaded in
    each branch that reads them (the step without a current does not read ``P20``)."""
    def block(b, indent):
        lines = em.block(b, names, indent)
        reads = {n.id for st in b.body for n in ast.walk(st) if isinstance(n, ast.Name)}
        pad = "  " * (indent + 1)
        loads = [f"{pad}const ns_real c_{n} = NS_C({n}, {k});"
                 for k, n in enumerate(d.constant_names) if n in reads and n not in loaded]
        return lines[:1] + loads + lines[1:]
    if "I_ext" not in d.update.reads:
        return block(d.update, 2)
    folded = dataclasses.replace(d.update, body=fold_zeros(d.update.body, {"I_ext"}))
    return (["    if (flags & NS_EXT) {", "      const ns_real ns_I_ext = i_ext[i];"]
            + block(d.update, 3) + ["    } else {"] + block(folded, 3) + ["    }"])


def cuda_source(d) -> tuple[str, str, str]:
    """(kernel file name, kernel name, source) of description ``d``; the source is registered
    under the file name for the kernel loader."""
    from ..backends.kernel_source import register_source
    em = CEmitter(d.name)
    names = {n: f"c_{n}" for n in d.constant_names}
    names.update({n: f"s_{n}" for n in d.state_names})
    names.update(I_syn="ns_I_syn", I_ext="ns_I_ext")
    others = [b for b in (d.threshold, d.reset, d.hold) if b is not None]
    used = set().union(*(b.reads for b in others)) | set(d.decay_names)
    loads = [(n, k) for k, n in enumerate(d.constant_names) if n in used]
    # the synapses (models/snippets.py): a channel decays, then receives the step's arrivals
    # (read and cleared: ns_take, ns_native_read); delta synapses: the arrivals jump v
    synapses, native_synapses = [], []
    delta = d.synapse_kind == "delta"
    for ch, name in enumerate(["v"] if delta else d.synaptic_state):
        x = f"s_{name}"
        if not delta:
            decayed = snippets.c_expr(snippets.DECAY, dict(x=x, P=f"c_{d.decay_names[ch]}"), em)
            synapses.append(f"{x} = {decayed};")
            native_synapses.append(f"{x} = {decayed};")
        take = snippets.c_expr(snippets.ARRIVAL,
                               dict(x=x, arrivals=f"ns_take(in, {ch}, n_neurons, i, drives)"), em)
        synapses.append(f"if (flags & NS_IN{ch}) {x} = {take};")
        read = snippets.c_expr(snippets.ARRIVAL, dict(x=x, arrivals=f"ns_a{ch}"), em)
        native_synapses.append(f"{{ const ns_real ns_a{ch} = ns_native_read(ns_in{ch}, i - ns_c0); "
                               f"{x} = ns_on{ch} ? {read} : {x}; }}")
    kernel = f"{d.name.lower()}_update"
    source = _template().render(
        kernel=kernel, model=repr(d.name), state=list(d.state_names),
        consts=list(d.constant_names), channels=bool(d.synaptic_channels), loads=loads,
        i_syn=" + ".join(f"s_{n}" for n in d.synaptic_state) if "I_syn" in d.update.reads
        else "",
        update="\n".join(_update_c(em, d, names, used)),
        synapses=synapses, native_synapses=native_synapses,
        n_channels=len(d.synaptic_state) if d.synapse_kind != "delta" else 1,
        refractory=d.refractory is not None,
        hold="\n".join(em.block(d.hold, names, 4)) if d.hold is not None else "",
        threshold="(" + em.expr(d.threshold.body[0], names) + ")",
        reset="\n".join(em.block(d.reset, names, 3)) if d.reset is not None else "")
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    filename = f"generated-{d.name}-{d.variant + '-' if d.variant else ''}{digest}.cu"
    register_source(filename, source)
    return filename, kernel, source
