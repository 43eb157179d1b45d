"""The code language of neuron model descriptions (:class:`neurosim.NeuronModel`).

A small, safe subset of Python, parsed with :mod:`ast` and checked when the model is defined;
nothing a user writes is ever evaluated. What it allows:

- statements (``update``, ``reset``, ``hold``): assignments ``x = e``, ``x += e``, ``x -= e``,
  ``x *= e``, ``x /= e`` to a state variable or to a local name (a temporary of the block, which
  must be assigned before it is read), and ``if``/``elif``/``else`` blocks; ``;`` separates
  statements on one line. Statements run in order, as in Python: a statement reads what the
  ones before it assigned;
- expressions: numbers, ``True``/``False``, names, ``+ - * /``, ``x ** k`` for an integer literal ``k`` from 2 to 4
  (repeated multiplication), unary ``-``, comparisons (chains too), ``and``, ``or``, ``not``,
  conditional expressions ``a if c else b``, and the functions ``exp log sqrt abs`` and
  ``expm1`` (``exp(x) - 1`` without the cancellation near ``x = 0``; one argument), ``min max``
  (two or more) and ``clip(x, lo, hi)``.

Values are real numbers or conditions (the result of a comparison): arithmetic on a condition,
or a number where a condition is expected, is an error. Every error is a
:class:`ModelDefinitionError` that names the model, the code block, its line and the name or
construct at fault.
"""

from __future__ import annotations

import ast
import keyword
import re
import textwrap
from dataclasses import dataclass, field

FUNCTIONS = {"exp": (1, 1), "log": (1, 1), "sqrt": (1, 1), "abs": (1, 1), "expm1": (1, 1),
             "min": (2, None), "max": (2, None), "clip": (3, 3)}
AUG_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
BIN_OPS = dict(AUG_OPS)
CMP_OPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
MAX_POWER = 4

# Names a description cannot declare: the language's own, the neuron kernels' arguments and the
# C/CUDA words that a kernel parameter of that name would shadow.
_KERNEL_ARGS = """clk n_neurons start flags ring ring_width n_slots col0 key0 key1 stream_width
    n_drives drive_tab drive_w drive_cdf i_ext ref n_ref per_neuron spk spk_work nspk row_len
    rec_flags rec_mask rec_idx rec_total n_rate rate_slot rate_counts bad i n in out drives"""
_C_WORDS = """auto bool break case char const continue default do double else enum extern float
    for goto if inline int long register restrict return short signed sizeof static struct
    switch typedef union unsigned void volatile while class delete new operator private
    protected public template this throw try catch namespace using virtual friend true false
    nullptr expf logf sqrtf fabsf fminf fmaxf exp2 isfinite isnan isinf INFINITY NAN threadIdx
    blockIdx blockDim gridDim warpSize atomicAdd atomicMin atomicMax printf assert xor bitand
    bitor compl and_eq or_eq xor_eq not_eq mutable constexpr decltype noexcept static_assert
    typename typeid alignas alignof wchar_t char16_t char32_t thread_local export explicit
    reinterpret_cast static_cast dynamic_cast const_cast concept requires asm dim3 half size_t
    ptrdiff_t int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t
    expm1f"""
RESERVED = frozenset(set(FUNCTIONS) | {"dt", "I_syn", "I_ext", "g_e", "g_i", "i_syn_e",
                                       "i_syn_i", "True", "False", "None"}
                     | set(_KERNEL_ARGS.split()) | set(_C_WORDS.split()))
_VECTOR_TYPE = re.compile(r"^(u?char|u?short|u?int|u?long|u?longlong|float|double)[1-4]$")


class ModelDefinitionError(ValueError):
    """A neuron model description that cannot be used (raised when it is defined)."""


def check_name(model: str, what: str, name, kind: str = "NeuronModel") -> str:
    """A name a description may declare (parameter, state variable, derived constant);
    ``kind`` names the sort of description in messages."""
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ModelDefinitionError(f"{kind} {model!r}: {what} name {name!r} is not a valid "
                                   f"identifier (letters, digits and '_', not a Python keyword)")
    if name in RESERVED or name.startswith(("ns_", "NS_", "_")) or _VECTOR_TYPE.match(name):
        raise ModelDefinitionError(
            f"{kind} {model!r}: {what} name {name!r} is reserved (the language's own "
            f"names, the kernels' arguments, C words, and names starting with '_' or 'ns_' "
            f"cannot be declared); choose another")
    return name


@dataclass
class Scope:
    """What a block may read and write. ``kinds``: name -> what it is (for messages);
    ``writable``: names the block may assign; ``locals_ok``: whether new names are locals."""

    kinds: dict
    writable: frozenset = frozenset()
    locals_ok: bool = False
    absent: dict = field(default_factory=dict)     # name -> why it cannot be used here


@dataclass
class Block:
    """A checked block of statements (or one expression)."""

    where: str
    text: str
    body: list                      # ast statements, or [ast.expr] for an expression
    reads: set                      # declared names read (not locals)
    writes: set                     # declared names assigned
    local_types: dict               # local name -> "float" | "bool"


class _Checker:
    def __init__(self, model: str, where: str, text: str, scope: Scope,
                 kind: str = "NeuronModel"):
        self.model, self.where, self.text, self.scope = model, where, text, scope
        self.kind = kind
        self.lines = text.splitlines()
        self.reads, self.writes, self.local_types = set(), set(), {}

    def fail(self, node, message: str):
        line = getattr(node, "lineno", 1)
        code = self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""
        raise ModelDefinitionError(f"{self.kind} {self.model!r}, {self.where} line {line} "
                                   f"({code!r}): {message}")

    # -- statements ------------------------------------------------------------------------------
    def block(self, stmts, defined: set) -> set:
        """Check statements; the locals definitely assigned after them."""
        defined = set(defined)
        for st in stmts:
            if isinstance(st, ast.Assign):
                if len(st.targets) != 1 or not isinstance(st.targets[0], ast.Name):
                    self.fail(st, "assign one name at a time (x = ...); tuple or attribute "
                                  "targets are not supported")
                kind = self.expr(st.value, defined)
                self.target(st, st.targets[0].id, kind, defined, augmented=False)
            elif isinstance(st, ast.AugAssign):
                if type(st.op) not in AUG_OPS or not isinstance(st.target, ast.Name):
                    self.fail(st, f"unsupported augmented assignment; use one of "
                                  f"{', '.join(o + '=' for o in AUG_OPS.values())} on a name")
                if self.expr(st.value, defined) != "float":
                    self.fail(st, "a condition cannot be added, subtracted, multiplied or divided")
                name = st.target.id
                if name not in defined and name not in self.scope.kinds \
                        and name not in self.scope.absent and self.scope.locals_ok:
                    self.fail(st, f"unknown name {name!r} (a local must be assigned with = "
                                  f"before it is updated)")
                self.read_name(st.target, name, defined)
                self.target(st, st.target.id, "float", defined, augmented=True)
            elif isinstance(st, ast.If):
                if self.expr(st.test, defined) != "bool":
                    self.fail(st, "an if needs a condition (a comparison such as v > 0)")
                after_then = self.block(st.body, defined)
                after_else = self.block(st.orelse, defined)
                defined = after_then & after_else
            elif isinstance(st, ast.Pass):
                continue
            elif isinstance(st, ast.Expr):
                self.fail(st, "a statement must be an assignment or an if block; this "
                              "expression does nothing")
            else:
                self.fail(st, f"{type(st).__name__} statements are not supported (assignments "
                              f"and if/else only)")
        return defined

    def target(self, node, name: str, kind: str, defined: set, augmented: bool) -> None:
        scope = self.scope
        if name in scope.writable:
            if kind != "float":
                self.fail(node, f"state variable {name!r} must be assigned a number, not a "
                                f"condition")
            self.writes.add(name)
            return
        if name in scope.kinds:
            self.fail(node, f"{name!r} is a {scope.kinds[name]} and cannot be assigned"
                            + ("" if not scope.writable else
                               f" (assignable here: {sorted(scope.writable)})"))
        if name in scope.absent:
            self.fail(node, f"{name!r} cannot be assigned: {scope.absent[name]}")
        if not scope.locals_ok:
            self.fail(node, f"unknown name {name!r}: nothing can be assigned here")
        if name in RESERVED or name.startswith(("ns_", "NS_", "_")) or _VECTOR_TYPE.match(name):
            self.fail(node, f"{name!r} is a reserved name and cannot be a local variable")
        old = self.local_types.setdefault(name, kind)
        if old != kind:
            self.fail(node, f"local {name!r} holds a {old} elsewhere and a {kind} here")
        defined.add(name)

    # -- expressions -----------------------------------------------------------------------------
    def read_name(self, node, name: str, defined: set) -> str:
        scope = self.scope
        if name in defined:
            return self.local_types[name]
        if name in scope.kinds:
            self.reads.add(name)
            return "float"
        if name in scope.absent:
            self.fail(node, f"{name!r} cannot be used here: {scope.absent[name]}")
        if name in self.local_types:
            self.fail(node, f"local {name!r} may be unassigned here (assign it on every path "
                            f"before reading it)")
        if name in FUNCTIONS:
            self.fail(node, f"{name!r} is a function: call it, {name}(...)")
        known = sorted(scope.kinds)
        self.fail(node, f"unknown name {name!r}; known here: {', '.join(known) or 'none'}")

    def expr(self, node, defined: set) -> str:
        """Check an expression; its kind, "float" or "bool"."""
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                return "bool"
            if not isinstance(node.value, (int, float)):
                self.fail(node, f"unsupported constant {node.value!r} (numbers, True, False)")
            return "float"
        if isinstance(node, ast.Name):
            return self.read_name(node, node.id, defined)
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Pow):
                if self.expr(node.left, defined) != "float":
                    self.fail(node, "a condition cannot be raised to a power")
                k = node.right
                if not (isinstance(k, ast.Constant) and type(k.value) is int
                        and 2 <= k.value <= MAX_POWER):
                    self.fail(node, f"x ** k needs an integer literal k from 2 to {MAX_POWER} "
                                    f"(use exp and log for other powers)")
                return "float"
            if type(node.op) not in BIN_OPS:
                self.fail(node, f"operator {type(node.op).__name__} is not supported "
                                f"(+ - * / and ** with an integer literal)")
            for side in (node.left, node.right):
                if self.expr(side, defined) != "float":
                    self.fail(node, "arithmetic on a condition is not supported (use a "
                                    "conditional expression: a if c else b)")
            return "float"
        if isinstance(node, ast.UnaryOp):
            kind = self.expr(node.operand, defined)
            if isinstance(node.op, ast.Not):
                if kind != "bool":
                    self.fail(node, "not needs a condition")
                return "bool"
            if not isinstance(node.op, (ast.USub, ast.UAdd)) or kind != "float":
                self.fail(node, "unary - and + need a number")
            return "float"
        if isinstance(node, ast.BoolOp):
            for v in node.values:
                if self.expr(v, defined) != "bool":
                    self.fail(node, "and/or combine conditions (comparisons), not numbers")
            return "bool"
        if isinstance(node, ast.Compare):
            if any(type(op) not in CMP_OPS for op in node.ops):
                self.fail(node, "unsupported comparison (< <= > >= == != only)")
            for side in [node.left, *node.comparators]:
                if self.expr(side, defined) != "float":
                    self.fail(node, "comparisons compare numbers, not conditions")
            return "bool"
        if isinstance(node, ast.IfExp):
            if self.expr(node.test, defined) != "bool":
                self.fail(node, "the test of 'a if test else b' must be a condition")
            a, b = self.expr(node.body, defined), self.expr(node.orelse, defined)
            if a != b:
                self.fail(node, "both branches of 'a if test else b' must be numbers, or both "
                                "conditions")
            return a
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else None
            if name not in FUNCTIONS:
                shown = name or ast.unparse(node.func)
                self.fail(node, f"unsupported function {shown!r}; available: "
                                f"{', '.join(FUNCTIONS)}")
            if node.keywords:
                self.fail(node, f"{name}() takes no keyword arguments")
            lo, hi = FUNCTIONS[name]
            n = len(node.args)
            if n < lo or (hi is not None and n > hi):
                want = f"{lo}" if lo == hi else f"at least {lo}"
                self.fail(node, f"{name}() takes {want} argument(s), got {n}")
            for a in node.args:
                if isinstance(a, ast.Starred) or self.expr(a, defined) != "float":
                    self.fail(node, f"{name}() takes numbers")
            return "float"
        self.fail(node, f"{type(node).__name__} expressions are not supported")


def _parse(model: str, where: str, text: str, mode: str, kind: str = "NeuronModel"):
    if not isinstance(text, str):
        raise ModelDefinitionError(f"{kind} {model!r}: {where} must be a string of code, "
                                   f"got {type(text).__name__}")
    clean = textwrap.dedent(text).strip("\n")
    try:
        tree = ast.parse(clean, mode=mode)
    except SyntaxError as exc:
        line = exc.lineno or 1
        lines = clean.splitlines()
        code = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        raise ModelDefinitionError(f"{kind} {model!r}, {where} line {line} ({code!r}): "
                                   f"syntax error: {exc.msg}") from None
    return clean, tree


def parse_block(model: str, where: str, text: str, scope: Scope,
                kind: str = "NeuronModel") -> Block:
    """Parse and check a block of statements (``kind``: the description's sort, for messages)."""
    clean, tree = _parse(model, where, text, "exec", kind)
    checker = _Checker(model, where, clean, scope, kind)
    checker.block(tree.body, set())
    return Block(where, clean, tree.body, checker.reads, checker.writes, checker.local_types)


def parse_expression(model: str, where: str, text, scope: Scope, want: str,
                     kind: str = "NeuronModel") -> Block:
    """Parse and check one expression of kind ``want`` ("float" or "bool")."""
    if isinstance(text, (int, float)) and not isinstance(text, bool) and want == "float":
        text = repr(float(text))
    clean, tree = _parse(model, where, text, "eval", kind)
    checker = _Checker(model, where, clean, scope, kind)
    kind = checker.expr(tree.body, set())
    if kind != want:
        if want == "bool":
            checker.fail(tree.body, f"{where} must be a condition such as 'v >= v_thresh', got "
                                    f"the number {clean!r}")
        checker.fail(tree.body, f"{where} must be a number, got the condition {clean!r}")
    return Block(where, clean, [tree.body], checker.reads, set(), {})
