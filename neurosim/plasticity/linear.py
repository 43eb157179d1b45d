r"""Which descriptions the deferred NumPy runtime can run: the *linear additive* trace rules.

:func:`linear_additive_form` reads a :class:`~.description.PlasticityModel`'s parsed
``on_pre``/``on_post`` code and recognises exactly the form that
:class:`~.stdp.StdpDeferredNumpy` (the NumPy default for it, with ``pairing="all"`` or
``"nearest"``) settles lazily::

    on_pre  = "w -= <depression coefficient> * <post trace>"     # at each arrival
    on_post = "w += <potentiation coefficient> * <pre trace>"    # at each postsynaptic spike

(the factors in either order, or the trace alone for a coefficient of 1), with one presynaptic
and one postsynaptic trace, each coefficient an expression of parameters, derived constants and
``w_min``/``w_max`` only, no per-synapse state, no ``between`` block, no modulator. The
additive pair STDP of :data:`.stdp.PAIR` is of this form (``w -= A_minus * y``,
``w += A_plus * x``), and so is any user's description written so. The equation stays in the
description: the runtime takes the coefficients (evaluated on the host, float64 then the
network's precision, as every constant of a rule: :meth:`LinearAdditiveForm.values`) and the
traces' time constants from here.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import numpy as np

__all__ = ["LinearAdditiveForm", "linear_additive_form"]


@dataclass(frozen=True)
class LinearAdditiveForm:
    """The parts of a linear additive rule: the coefficient expressions (AST nodes of the
    description's code), the traces' names and the parameters holding their time constants."""

    potentiation: ast.expr         # of on_post: w += potentiation * pre_trace
    depression: ast.expr           # of on_pre:  w -= depression * post_trace
    pre_trace: str
    post_trace: str
    tau_pre: str                   # parameter names
    tau_post: str

    def values(self, rule, dtype=np.float32) -> dict:
        """``a_plus``, ``a_minus`` (the coefficients of ``rule``, computed in float64 and rounded
        once to ``dtype``, as :meth:`~.description.DescribedRule.constants`) and ``tau_plus``,
        ``tau_minus`` (the traces' time constants, ms, as the rule holds them)."""
        from .description import _host_eval
        vals = rule.host_constants()
        real = np.dtype(dtype).type

        def coef(node):
            if isinstance(node, ast.Name):
                return real(vals[node.id])
            return real(np.float64(_host_eval(node, vals)))

        params = rule.parameters
        return {"a_plus": coef(self.potentiation), "a_minus": coef(self.depression),
                "tau_plus": params[self.tau_pre], "tau_minus": params[self.tau_post]}


def _increment(block, op, trace_names):
    """(coefficient node, trace name) of ``w <op>= coef * trace`` (or ``trace * coef`` or
    ``trace``), the block's only statement; else None."""
    if block is None or len(block.body) != 1:
        return None
    st = block.body[0]
    if not (isinstance(st, ast.AugAssign) and isinstance(st.op, op)
            and isinstance(st.target, ast.Name) and st.target.id == "w"):
        return None
    v = st.value
    if isinstance(v, ast.Name) and v.id in trace_names:
        return ast.Constant(1.0), v.id
    if not (isinstance(v, ast.BinOp) and isinstance(v.op, ast.Mult)):
        return None
    for coef, tr in ((v.left, v.right), (v.right, v.left)):
        if isinstance(tr, ast.Name) and tr.id in trace_names:
            return coef, tr.id
    return None


def _constant(node, names) -> bool:
    """Whether expression ``node`` reads only ``names`` (no traces, state, ``w``, ``dt``)."""
    return all(n.id in names for n in ast.walk(node) if isinstance(n, ast.Name)
               and not _is_call_name(node, n))


def _is_call_name(root, name) -> bool:
    return any(isinstance(c, ast.Call) and c.func is name for c in ast.walk(root))


def linear_additive_form(d) -> LinearAdditiveForm | None:
    """The :class:`LinearAdditiveForm` of description ``d``, or None where ``d`` is not a
    linear additive trace rule (see the module docstring)."""
    if (len(d.pre_traces) != 1 or len(d.post_traces) != 1 or d.state or d.between is not None
            or d.modulator is not None):
        return None
    (x, tau_x), = d.pre_traces.items()
    (y, tau_y), = d.post_traces.items()
    dep = _increment(d.on_pre, ast.Sub, (y,))
    pot = _increment(d.on_post, ast.Add, (x,))
    if dep is None or pot is None:
        return None
    consts = {*d.parameters, *d.derived, "w_min", "w_max"}
    if not (_constant(dep[0], consts) and _constant(pot[0], consts)):
        return None
    return LinearAdditiveForm(pot[0], dep[0], x, y, tau_x, tau_y)
