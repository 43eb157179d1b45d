"""The NumPy form of a straight-line update block: ufuncs writing into reused buffers.

:class:`~neurosim.models.codegen.PyEmitter` writes a block in static single assignment form:
every operation makes a new array, and the state is stored at the end. That is simple and
always right, but a step of 10^5 neurons then spends its time allocating and copying. For a
block of assignments (no ``if`` statement) :func:`emit_inplace` writes the same operations, in
the same order and each on the same float32 operands, as NumPy ufunc calls with ``out=``:

- an operation whose operand is a temporary of the expression writes into that temporary (a
  local read for the last time counts as one); the others take a buffer from the step's
  scratch rows (``tmp[k]``), which are handed back as soon as the value they hold is no longer
  read (a local that later statements do not read, an operand consumed by its operation);
- an assignment to a state variable writes the result of its last operation straight into the
  state array, when nothing read afterwards still needs the old values of that array (``v +=
  dv`` is ``np.add(v, dv, out=v)``), and so do its intermediate results where the rest of the
  expression does not read the array any more (``v = v * P22 + c`` is ``v *= P22; v += c``);
  otherwise the new value lives in a buffer and is stored at the end of the block;
- operations on constants alone (parameters, derived constants, ``dt``, numbers) stay plain
  expressions: they are scalars, or per-neuron arrays that NumPy allocates;
- conditional expressions, comparisons and functions this module does not know are written by
  :class:`~neurosim.models.codegen.PyEmitter` (a fresh array) and used as operands.

The results are those of the SSA form bit for bit: the same float32 operations on the same
values; only where they are written differs. ``emit_inplace`` returns None for a block it does
not handle (``if`` statements), which then keeps the SSA form.
"""

from __future__ import annotations

import ast

from .codegen import PyEmitter, _PY_FUNCS
from .language import BIN_OPS

_UFUNC = {ast.Add: "np.add", ast.Sub: "np.subtract", ast.Mult: "np.multiply",
          ast.Div: "np.divide"}
_FUNC = {k: v for k, v in _PY_FUNCS.items()}        # exp -> np.exp, ...


class _Val:
    """A value while the block is emitted: ``kind`` "const" (scalar or read-only per-neuron
    constant, or any expression of constants), "array" (a read-only array: state, input,
    an opaque result), "temp" (scratch row ``buf``, free to overwrite unless a name owns it).
    ``state``: the state variable whose array this is."""

    __slots__ = ("kind", "code", "buf", "state")

    def __init__(self, kind, code, buf=None, state=None):
        self.kind, self.code, self.buf, self.state = kind, code, buf, state


def _names(node) -> set:
    """The names ``node`` reads (not the functions it calls)."""
    funcs = {id(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and id(n) not in funcs}


def _straight(body) -> bool:
    return all(isinstance(st, (ast.Assign, ast.AugAssign, ast.Pass)) for st in body)


class _Emitter:
    def __init__(self, em: PyEmitter, env: dict, state: set, consts: set, indent: int):
        self.em, self.env, self.state, self.consts = em, env, state, consts
        self.indent = indent
        self.free: list[int] = []
        self.n_buffers = 0
        self.owner: dict[int, set] = {}      # buffer -> the names whose value it holds
        self.dying: set = set()

    def emit(self, line: str) -> None:
        self.em.emit(line, self.indent)

    # -- buffers -------------------------------------------------------------------------------
    def alloc(self) -> int:
        if self.free:
            return self.free.pop()
        self.n_buffers += 1
        return self.n_buffers - 1

    def release(self, v: _Val) -> None:
        if v.kind == "temp" and not self.owner.get(v.buf) and v.buf not in self.free:
            self.free.append(v.buf)

    def own(self, name: str, v: _Val) -> None:
        if v.kind == "temp":
            self.owner.setdefault(v.buf, set()).add(name)

    def disown(self, name: str, v: _Val) -> None:
        if v.kind == "temp" and name in self.owner.get(v.buf, ()):
            self.owner[v.buf].discard(name)
            self.release(v)

    # -- expressions ---------------------------------------------------------------------------
    def operation(self, ufunc: str, args: list, target: _Val | None) -> _Val:
        """``ufunc(*args)`` into ``target``, an anonymous temporary operand, or a new buffer."""
        if all(a.kind == "const" for a in args):
            return _Val("const", f"{ufunc}({', '.join(a.code for a in args)})")
        out = target
        if out is None:
            out = next((a for a in args if a.kind == "temp" and not self.owner.get(a.buf)), None)
            if out is None:
                b = self.alloc()
                out = _Val("temp", f"_t{b}", b)
        self.emit(f"{ufunc}({', '.join(a.code for a in args)}, out={out.code})")
        for a in args:
            if a is not out and not (a.kind == "temp" and a.buf == out.buf):
                self.release(a)
        return out

    @staticmethod
    def aliases(v: _Val, target: _Val) -> bool:
        """Whether value ``v`` lives in ``target``'s array."""
        if target.state is not None:
            return v.state == target.state
        return v.kind == target.kind == "temp" and v.buf == target.buf

    def reads(self, node, target: _Val) -> bool:
        """Whether evaluating ``node`` reads ``target``'s array."""
        return any(self.aliases(self.env[n], target) for n in _names(node) if n in self.env)

    def value(self, node, target: _Val | None = None) -> _Val:
        """Emit ``node``; its value (the result of its last operation in ``target`` if given
        and the node is an operation). ``target``'s array may also hold intermediate results:
        the left operand when the right one does not read that array (``v * P22 + c`` with
        target ``v`` is ``v *= P22; v += c``), else the right one when the left one's value is
        elsewhere; the old values of the target are not read after the statement (see
        :meth:`assign`)."""
        if isinstance(node, ast.Constant) and not isinstance(node.value, bool):
            return _Val("const", self.em.literal(node.value))
        if isinstance(node, ast.Name):
            v = self.env[node.id]
            if node.id in self.dying and v.kind == "temp":    # its last read: the buffer
                self.owner.get(v.buf, set()).discard(node.id)  # is the expression's now
            return v
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            x = self.value(node.left)
            if x.kind == "const":
                return _Val("const", f"_pow({x.code}, {node.right.value})")
            self.own("<power>", x)           # x is read by every multiplication
            r = self.operation("np.multiply", [x, x], None if node.right.value > 2 else target)
            for k in range(node.right.value - 2):
                last = k == node.right.value - 3
                r = self.operation("np.multiply", [r, x], target if last else None)
            self.disown("<power>", x)
            return r
        if isinstance(node, ast.BinOp) and type(node.op) in _UFUNC:
            if target is not None and not self.reads(node.right, target):
                left = self.value(node.left, target)     # the target takes the left side
                right = self.value(node.right)
            else:
                left = self.value(node.left)
                right = self.value(node.right, None if target is None or
                                   self.aliases(left, target) else target)
            if left.kind == right.kind == "const":
                return _Val("const", f"({left.code} {BIN_OPS[type(node.op)]} {right.code})")
            return self.operation(_UFUNC[type(node.op)], [left, right], target)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd):
            return self.value(node.operand, target)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            x = self.value(node.operand)
            if x.kind == "const":
                return _Val("const", f"(-{x.code})")
            return self.operation("np.negative", [x], target)
        if isinstance(node, ast.Call) and node.func.id in _FUNC:
            return self.operation(_FUNC[node.func.id], [self.value(node.args[0], target)],
                                  target)
        if isinstance(node, ast.Call) and node.func.id in ("min", "max", "clip"):
            args = [self.value(a) for a in node.args]
            if node.func.id == "clip":
                r = self.operation("np.maximum", args[:2], None)
                return self.operation("np.minimum", [r, args[2]], target)
            fn = "np.minimum" if node.func.id == "min" else "np.maximum"
            r = args[0]
            for k, a in enumerate(args[1:]):
                r = self.operation(fn, [r, a], target if k == len(args) - 2 else None)
            return r
        # anything else: a fresh array (or constant) from the SSA emitter
        names = _names(node)
        code = self.em.expr(node, {n: self.env[n].code for n in names})
        if all(self.env[n].kind == "const" for n in names):
            return _Val("const", code)
        name = self.em.fresh("o")
        self.emit(f"{name} = {code}")
        return _Val("array", name)

    # -- statements ----------------------------------------------------------------------------
    def block(self, body, store_at_end: set) -> None:
        body = [st for st in body if not isinstance(st, ast.Pass)]
        later = [set() for _ in body]
        seen = set(store_at_end)
        for i in range(len(body) - 1, -1, -1):
            later[i] = set(seen)
            st = body[i]
            seen |= _names(st.value)
            if isinstance(st, ast.AugAssign):
                seen.add(st.target.id)
        for i, st in enumerate(body):
            if isinstance(st, ast.AugAssign):
                name = st.target.id
                value = ast.BinOp(left=ast.Name(id=name, ctx=ast.Load()), op=st.op,
                                  right=st.value)
            else:
                name, value = st.targets[0].id, st.value
            reads = [n.id for n in ast.walk(value) if isinstance(n, ast.Name)
                     and n.id in _names(value)]
            # names read once here and never after: their buffers may take results
            self.dying = {n for n in reads if reads.count(n) == 1 and n not in later[i]}
            self.assign(name, value, later[i])
            self.dying = set()
            for n, v in list(self.env.items()):      # values no later statement reads
                if n not in later[i]:
                    self.disown(n, v)

    def assign(self, name: str, node, live: set) -> None:
        old = self.env.get(name)
        target = None
        if name in self.state:
            array = _Val("array", f"_s_{name}", state=name)
            # the state array may take the result if no other live name still reads it
            if not any(v.state == name for n, v in self.env.items() if n != name and n in live):
                target = array
        elif old is not None and old.kind == "temp" and self.owner.get(old.buf) == {name}:
            target = old
        v = self.value(node, target)
        if target is not None and v is not target and v.kind != "const" \
                and not (v.kind == "temp" and target.kind == "temp" and v.buf == target.buf):
            if v.state == name:
                pass                                  # x = x
            elif name in self.state:
                self.emit(f"{target.code}[...] = {v.code}")
                self.release(v)
                v = target
        elif target is not None and target.kind == "array" and v.kind == "const":
            self.emit(f"{target.code}[...] = {v.code}")
            v = target
        if old is not None and not (old.kind == v.kind == "temp" and old.buf == v.buf):
            self.disown(name, old)
        self.own(name, v)
        self.env[name] = v


def emit_inplace(em: PyEmitter, block, env_codes: dict, state: tuple, consts: set,
                 indent: int, reserved: int = 0):
    """Emit ``block`` (a straight-line update) with ufuncs into buffers, or return None if it
    has ``if`` statements. ``env_codes``: name -> Python name of every constant, state array
    and input the block reads (state arrays ``_s_<name>``); scratch row ``k`` is the name
    ``_t<k>``, which the caller binds to ``tmp[k]``. Returns the number of scratch rows
    it uses (rows below ``reserved`` are left alone); the state it assigns is in the state
    arrays when the emitted code ends."""
    if not _straight(block.body):
        return None
    env = {}
    for name, code in env_codes.items():
        if name in consts:
            env[name] = _Val("const", code)
        else:
            env[name] = _Val("array", code, state=name if name in state else None)
    e = _Emitter(em, env, set(state), consts, indent)
    e.n_buffers = reserved
    written = set(block.writes)
    e.block(block.body, written)
    pending = []
    for name in sorted(written):
        v = e.env[name]
        if v.state == name:
            continue
        if v.kind == "array" and v.state is not None:       # another state variable's array
            copy = em.fresh(name)
            e.emit(f"{copy} = {v.code}.copy()")
            v = _Val("array", copy)
        pending.append((name, v))
    for name, v in pending:
        e.emit(f"_s_{name}[...] = {v.code}")
    return e.n_buffers
