"""Code generation from checked description blocks (:mod:`neurosim.models.language`).

Two emitters walk the same checked ``ast`` trees:

- :class:`PyEmitter` writes Python source over NumPy arrays, in static single assignment form:
  every assignment makes a new array (nothing is updated in place until the block's end), and
  an ``if``/``else`` block runs both branches for every neuron and merges what they assign
  with ``np.where`` — the vectorised form of a per-neuron branch. Literals become float32 (the
  step) or float64 (the host's derived constants) constants of the namespace the source runs
  in. The source is compiled with ``compile()``: it is generated text, built only from
  validated identifiers (prefixed, so no user name can reach a Python builtin) and numbers
  re-printed from their parsed values; the user's text itself is never evaluated;
- :class:`CEmitter` writes the same statements as C for the CUDA template
  (``kernels/neuron_model.cu.j2``): ``ns_real`` arithmetic (float32, or float64 in the double
  variant) in the same order (``x ** 3`` is ``(x * x) * x`` on both sides), NaN-propagating
  ``min``/``max``/``clip`` as ``np.minimum`` / ``np.maximum`` are, ``ns_exp ns_expm1 ns_log
  ns_sqrt ns_fabs`` (``expf expm1f logf sqrtf fabsf`` in float); literals are ``NS_LIT(float, double)``.

Each operation is one float32 operation on both backends in the same order, so where no
transcendental function is involved the host build reproduces NumPy bit for bit.
"""

from __future__ import annotations

import ast

import numpy as np

from .language import AUG_OPS, BIN_OPS, CMP_OPS, ModelDefinitionError

_PY_FUNCS = {"exp": "np.exp", "log": "np.log", "sqrt": "np.sqrt", "abs": "np.abs",
             "expm1": "np.expm1"}
_C_FUNCS = {"exp": "ns_exp", "log": "ns_log", "sqrt": "ns_sqrt", "abs": "ns_fabs",
            "expm1": "ns_expm1"}


def _pow(x, k):
    """x ** k as repeated multiplication, left to right (the kernels' ns_pow)."""
    r = x
    for _ in range(k - 1):
        r = r * x
    return r


def _sub(a, idx):
    """A constant for the neurons ``idx``: itself if it is one value for all."""
    return a if np.ndim(a) == 0 else a[idx]


class PyEmitter:
    """Python/NumPy source from checked blocks; ``float64``: literals as float64 (host)."""

    def __init__(self, model: str, float64: bool = False):
        self.model, self.float64 = model, float64
        self.lines: list[str] = []
        self.namespace: dict = {"np": np, "_pow": _pow, "_sub": _sub}
        self._literals: dict = {}
        self._count = 0

    def fresh(self, base: str) -> str:
        self._count += 1
        return f"_{base}_{self._count}"

    def literal(self, value) -> str:
        v = np.float64(value) if self.float64 else np.float32(value)
        if not np.isfinite(v):
            raise ModelDefinitionError(f"NeuronModel {self.model!r}: the number {value!r} is "
                                       f"beyond float32's range")
        key = (v.dtype.str, v.tobytes())
        if key not in self._literals:
            name = f"_k{len(self._literals)}"
            self._literals[key] = name
            self.namespace[name] = v
        return self._literals[key]

    def emit(self, line: str, indent: int = 2) -> None:
        self.lines.append("    " * indent + line)

    def expr(self, node, env: dict) -> str:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                return f"np.bool_({node.value})"
            return self.literal(node.value)
        if isinstance(node, ast.Name):
            return env[node.id]
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Pow):
                return f"_pow({self.expr(node.left, env)}, {node.right.value})"
            op = BIN_OPS[type(node.op)]
            return f"({self.expr(node.left, env)} {op} {self.expr(node.right, env)})"
        if isinstance(node, ast.UnaryOp):
            inner = self.expr(node.operand, env)
            if isinstance(node.op, ast.Not):
                return f"np.logical_not({inner})"
            return f"(-{inner})" if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.BoolOp):
            fn = "np.logical_and" if isinstance(node.op, ast.And) else "np.logical_or"
            out = self.expr(node.values[0], env)
            for v in node.values[1:]:
                out = f"{fn}({out}, {self.expr(v, env)})"
            return out
        if isinstance(node, ast.Compare):
            sides = [self.expr(x, env) for x in [node.left, *node.comparators]]
            parts = [f"({a} {CMP_OPS[type(op)]} {b})"
                     for a, op, b in zip(sides, node.ops, sides[1:])]
            out = parts[0]
            for p in parts[1:]:
                out = f"np.logical_and({out}, {p})"
            return out
        if isinstance(node, ast.IfExp):
            return (f"np.where({self.expr(node.test, env)}, {self.expr(node.body, env)}, "
                    f"{self.expr(node.orelse, env)})")
        if isinstance(node, ast.Call):
            name, args = node.func.id, [self.expr(a, env) for a in node.args]
            if name in _PY_FUNCS:
                return f"{_PY_FUNCS[name]}({args[0]})"
            if name == "clip":
                return f"np.minimum(np.maximum({args[0]}, {args[1]}), {args[2]})"
            fn = "np.minimum" if name == "min" else "np.maximum"
            out = args[0]
            for a in args[1:]:
                out = f"{fn}({out}, {a})"
            return out
        raise AssertionError(f"unchecked node {type(node).__name__}")  # pragma: no cover

    def stmts(self, body, env: dict, indent: int = 2) -> None:
        """Emit statements in SSA form; ``env`` maps each name to its current Python name."""
        for st in body:
            if isinstance(st, ast.Assign):
                name = st.targets[0].id
                value = self.expr(st.value, env)
                if isinstance(st.value, ast.Name):
                    # ``x = y`` renames, it makes no array: ``x = _s_y`` would alias y's state
                    # array, which the stores overwrite (they copy such values first)
                    env[name] = value
                    continue
            elif isinstance(st, ast.AugAssign):
                name = st.target.id
                value = f"({env[name]} {AUG_OPS[type(st.op)]} {self.expr(st.value, env)})"
            elif isinstance(st, ast.If):
                mask = self.fresh("m")
                self.emit(f"{mask} = {self.expr(st.test, env)}", indent)
                then, other = dict(env), dict(env)
                self.stmts(st.body, then, indent)
                self.stmts(st.orelse, other, indent)
                merged_env = {}
                for key in then:        # kept: assigned on every path
                    if key not in other:
                        continue
                    if then[key] == other[key]:
                        merged_env[key] = then[key]
                    else:
                        merged = self.fresh(key)
                        self.emit(f"{merged} = np.where({mask}, {then[key]}, {other[key]})",
                                  indent)
                        merged_env[key] = merged
                env.clear()
                env.update(merged_env)
                continue
            else:                       # Pass
                continue
            new = self.fresh(name)
            self.emit(f"{new} = {value}", indent)
            env[name] = new

    def compile(self, header: str, filename: str):
        """Compile the function ``header`` + the emitted lines; (function, source)."""
        source = header + "\n" + "\n".join(self.lines) + "\n"
        code = compile(source, filename, "exec")
        namespace = dict(self.namespace)
        exec(code, namespace)       # noqa: S102 -- generated text, see the module docstring
        name = header.split()[1].split("(")[0]
        return namespace[name], source


def c_float(value) -> str:
    """A float32 C literal that reads back as exactly ``np.float32(value)``."""
    v = np.float32(value)
    text = str(v)
    if "." not in text and "e" not in text:
        text += ".0"
    return text + "f"


def c_real(value) -> str:
    """``NS_LIT(<float literal>, <double literal>)``: exactly ``np.float32(value)`` in a float
    module and ``np.float64(value)`` in a double one (kernels/common.cuh)."""
    text = repr(float(value))
    if "." not in text and "e" not in text:
        text += ".0"
    return f"NS_LIT({c_float(value)}, {text})"


class CEmitter:
    """C statements for the CUDA template from checked blocks."""

    def __init__(self, model: str):
        self.model = model

    def expr(self, node, names: dict) -> str:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                return "true" if node.value else "false"
            v = np.float32(node.value)
            if not np.isfinite(v):
                raise ModelDefinitionError(f"NeuronModel {self.model!r}: the number "
                                           f"{node.value!r} is beyond float32's range")
            return c_real(node.value)
        if isinstance(node, ast.Name):
            return names[node.id]
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Pow):
                return f"ns_pow{node.right.value}({self.expr(node.left, names)})"
            op = BIN_OPS[type(node.op)]
            return f"({self.expr(node.left, names)} {op} {self.expr(node.right, names)})"
        if isinstance(node, ast.UnaryOp):
            inner = self.expr(node.operand, names)
            if isinstance(node.op, ast.Not):
                return f"(!{inner})"
            return f"(-{inner})" if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.BoolOp):
            op = " && " if isinstance(node.op, ast.And) else " || "
            return "(" + op.join(self.expr(v, names) for v in node.values) + ")"
        if isinstance(node, ast.Compare):
            sides = [self.expr(x, names) for x in [node.left, *node.comparators]]
            parts = [f"({a} {CMP_OPS[type(op)]} {b})"
                     for a, op, b in zip(sides, node.ops, sides[1:])]
            return parts[0] if len(parts) == 1 else "(" + " && ".join(parts) + ")"
        if isinstance(node, ast.IfExp):
            return (f"({self.expr(node.test, names)} ? {self.expr(node.body, names)} : "
                    f"{self.expr(node.orelse, names)})")
        if isinstance(node, ast.Call):
            name, args = node.func.id, [self.expr(a, names) for a in node.args]
            if name in _C_FUNCS:
                return f"{_C_FUNCS[name]}({args[0]})"
            if name == "clip":
                return f"ns_min(ns_max({args[0]}, {args[1]}), {args[2]})"
            fn = "ns_min" if name == "min" else "ns_max"
            out = args[0]
            for a in args[1:]:
                out = f"{fn}({out}, {a})"
            return out
        raise AssertionError(f"unchecked node {type(node).__name__}")  # pragma: no cover

    def stmts(self, body, names: dict, indent: int) -> list[str]:
        pad = "  " * indent
        out = []
        for st in body:
            if isinstance(st, ast.Assign):
                target = names[st.targets[0].id]
                out.append(f"{pad}{target} = {self.expr(st.value, names)};")
            elif isinstance(st, ast.AugAssign):
                target = names[st.target.id]
                op = AUG_OPS[type(st.op)]
                out.append(f"{pad}{target} = {target} {op} {self.expr(st.value, names)};")
            elif isinstance(st, ast.If):
                out.append(f"{pad}if ({self.expr(st.test, names)}) {{")
                out += self.stmts(st.body, names, indent + 1)
                if st.orelse:
                    out.append(f"{pad}}} else {{")
                    out += self.stmts(st.orelse, names, indent + 1)
                out.append(f"{pad}}}")
        return out

    #: the initial value of a numeric local (subclasses may write it otherwise)
    LOCAL_ZERO = "0.0f"

    def prepare(self, body) -> list:
        """The statements of a block as :meth:`block` emits them (subclasses rewrite them)."""
        return body

    def block(self, block, names: dict, indent: int) -> list[str]:
        """A block in its own C scope, its locals declared (and zeroed) first."""
        pad = "  " * indent
        names = dict(names)
        lines = [pad + "{"]
        for local, kind in block.local_types.items():
            names[local] = f"l_{local}"
            init = "false" if kind == "bool" else self.LOCAL_ZERO
            lines.append(f"{pad}  {'bool' if kind == 'bool' else 'ns_real'} l_{local} = {init};")
        lines += self.stmts(self.prepare(block.body), names, indent + 1)
        lines.append(pad + "}")
        return lines
