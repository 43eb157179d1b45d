"""The few equations the engine applies itself (not a model's or a rule's own code), each
written once here in the description language and rendered by the emitters of
:mod:`neurosim.models.codegen` for every backend:

- :data:`PROPAGATOR`: a time constant's factor over one step, ``exp(-dt / tau)`` (a synaptic
  channel's decay, the traces of plasticity rules), evaluated in float64 on the host and
  rounded once to the network's real type (:func:`propagator`);
- :data:`DECAY`: one step of exponential decay, ``x * P`` (a synaptic channel's state,
  ``P`` the model's derived propagator; a plasticity trace, ``P`` from :func:`propagator`);
- :data:`ARRIVAL`: the step's synaptic input added to what it drives, ``x + arrivals`` (a
  channel's state, or ``v`` for delta synapses);
- :data:`TRACE_JUMP`: a plasticity trace at a spike of its neuron, ``x + 1`` (all-to-all
  pairing) or ``1`` (nearest neighbour);
- :data:`ELAPSED`: the time ``steps`` steps span, ``steps * dt`` (ms, in the network's real
  type: how long a lazily updated synapse or a modulator has gone without an update).

Python: :func:`numpy_call` writes one as a NumPy ufunc call into an output array (``x *= P`` is
``np.multiply(x, P, out=x)``), :func:`numpy_function` compiles it into a function. C:
:func:`c_expr`, with the plain emitter of neuron kernels or the rounded one of plasticity
kernels (:class:`~neurosim.plasticity.generate.RoundedCEmitter`). The float32 (or float64)
operations are the same on every backend, so the results stay bit for bit the same.
"""

from __future__ import annotations

import ast
import functools

import numpy as np

from .codegen import CEmitter, PyEmitter
from .language import BIN_OPS

PROPAGATOR = "exp(-dt / tau)"
DECAY = "x * P"
ARRIVAL = "x + arrivals"
TRACE_JUMP = {"all": "x + 1", "nearest": "1"}
ELAPSED = "steps * dt"

_KINDS = dict(x="the decaying or receiving quantity", P="its propagator over one step",
              arrivals="the input of the step", dt="the time step (ms)",
              tau="the time constant (ms)", steps="a number of steps")
_UFUNC = {"+": "np.add", "-": "np.subtract", "*": "np.multiply", "/": "np.divide"}


@functools.lru_cache(maxsize=None)
def parsed(text: str):
    """The checked expression tree of snippet ``text``."""
    from .language import Scope, parse_expression
    return parse_expression("engine", "snippet", text, Scope(_KINDS), "float").body[0]


def numpy_call(em: PyEmitter, text: str, env: dict, out: str | None = None) -> str:
    """Snippet ``text`` as Python over the names ``env`` (its literals constants of ``em``):
    a ufunc call writing into ``out`` where the snippet is one arithmetic operation and
    ``out`` is given, else an expression."""
    node = parsed(text)
    if out is not None and isinstance(node, ast.BinOp) and not isinstance(node.op, ast.Pow):
        ufunc = _UFUNC[BIN_OPS[type(node.op)]]
        return f"{ufunc}({em.expr(node.left, env)}, {em.expr(node.right, env)}, out={out})"
    return em.expr(node, env)


@functools.lru_cache(maxsize=None)
def numpy_function(text: str, args: tuple, double: bool = False, with_out: bool = False):
    """Snippet ``text`` as a Python function of ``args`` (in that order; ``with_out``: and an
    output array ``out``, None for a new result); literals float64 when ``double``, else
    float32."""
    em = PyEmitter("engine", float64=double)
    env = {a: f"_a_{a}" for a in args}
    params = list(env.values())
    if with_out:
        params.append("out=None")
        em.emit("if out is None:", 1)
        em.emit(f"    return {numpy_call(em, text, env)}", 1)
        call = numpy_call(em, text, env, "out")
        if call.startswith("np."):
            em.emit(f"return {call}", 1)
        else:
            em.emit(f"out[...] = {call}", 1)
            em.emit("return out", 1)
    else:
        em.emit(f"return {numpy_call(em, text, env)}", 1)
    return em.compile("def snippet(" + ", ".join(params) + "):",
                      f"<neurosim snippet {text!r}>")[0]


def propagator(dt: float, tau, real=np.float32):
    """:data:`PROPAGATOR` for step ``dt`` and time constant ``tau`` (ms; one value, or one per
    neuron): computed in float64, rounded once to ``real`` (the network's type)."""
    fn = numpy_function(PROPAGATOR, ("dt", "tau"), double=True)
    return real(fn(np.float64(dt), np.asarray(tau, np.float64)))


def c_expr(text: str, names: dict, emitter: CEmitter | None = None) -> str:
    """Snippet ``text`` as a C expression, ``names`` mapping its names to C expressions;
    ``emitter``: the neuron kernels' :class:`~.codegen.CEmitter` by default."""
    return (emitter or CEmitter("engine")).expr(parsed(text), names)
