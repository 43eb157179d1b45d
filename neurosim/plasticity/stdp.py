r"""Pair-based spike-timing-dependent plasticity (``STDP``), trace-based and event-driven.

For a pair of a presynaptic arrival at ``t_pre`` and a postsynaptic spike at ``t_post``,
``Delta t = t_post - t_pre`` (delays count as axonal, see :mod:`.numpy_runtime`)::

    Delta t >= 0:  w <- w + A_plus  f_+(w) exp(-Delta t / tau_plus)     (potentiation)
    Delta t <  0:  w <- w - A_minus f_-(w) exp( Delta t / tau_minus)    (depression)

with ``f = 1`` (``update="additive"``) or ``f_+ = 1 - u``, ``f_- = u``, ``u = (w - w_min) /
(w_max - w_min)`` (``update="multiplicative"``, soft bounds), then clipped to ``[w_min, w_max]``.
Which pairs count (``pairing``), after Morrison, Diesmann & Gerstner (2008, Fig. 7):

- ``"all"`` (all-to-all): every pre/post pair; traces add ``+1`` per spike;
- ``"nearest"`` (symmetric nearest neighbour, NEST ``stdp_nn_symm_synapse``): a postsynaptic spike
  pairs with the last presynaptic arrival, a presynaptic arrival with the last postsynaptic
  spike; traces are reset to 1 per spike;
- ``"nearest_reduced"`` (restricted symmetric nearest neighbour: Morrison et al. 2008 Fig. 7C,
  NEST ``stdp_nn_restr_synapse``, the scheme of Masquelier, Guyonneau & Thorpe 2008): as
  ``"nearest"``, but a presynaptic arrival depresses only if no other arrival came since that
  postsynaptic spike, and a postsynaptic spike potentiates only if no other postsynaptic spike
  came since that arrival — every spike takes part in at most one potentiating and one
  depressing pair.

Within a step, arrivals are processed before postsynaptic spikes, so ``Delta t = 0`` is a
potentiating pair (and not a depressing one).
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from .base import PlasticityRule, choice, f32
from .numpy_runtime import PlasticRuntime
from .update import depress, potentiate

PAIRINGS = ("all", "nearest", "nearest_reduced")
UPDATES = ("additive", "multiplicative")


class STDP(PlasticityRule):
    """Pair-based STDP (see the module docstring for the exact semantics).

    ``A_plus``, ``A_minus``: amplitudes (weight units: pA, nS or mV like the weights), ``>= 0``;
    ``tau_plus``, ``tau_minus``: time constants (ms); ``w_min``, ``w_max``: hard bounds;
    ``pairing``: ``"all"``, ``"nearest"`` or ``"nearest_reduced"``; ``update``: ``"additive"``
    or ``"multiplicative"``. Set ``rule.enabled = False`` to freeze the weights.
    """

    def __init__(self, A_plus: float = 0.01, A_minus: float = 0.0105, tau_plus: float = 20.0,
                 tau_minus: float = 20.0, w_min: float = 0.0, w_max: float = 1.0,
                 pairing: str = "all", update: str = "additive"):
        super().__init__(w_min, w_max)
        where = "STDP"
        self.A_plus = V.non_negative(where, "A_plus", A_plus)
        self.A_minus = V.non_negative(where, "A_minus", A_minus)
        self.tau_plus = V.positive(where, "tau_plus", tau_plus)
        self.tau_minus = V.positive(where, "tau_minus", tau_minus)
        self.pairing = choice(where, "pairing", pairing, PAIRINGS)
        self.update = choice(where, "update", update, UPDATES)

    def window(self, delta_t) -> np.ndarray:
        """The weight change of one isolated pair (additive form), ``Delta t = t_post - t_pre``."""
        dt = np.asarray(delta_t, float)
        return np.where(dt >= 0, self.A_plus * np.exp(-np.abs(dt) / self.tau_plus),
                        -self.A_minus * np.exp(-np.abs(dt) / self.tau_minus))

    def build_numpy(self, engine, proj):
        return StdpNumpy(engine, proj, self)


class StdpNumpy(PlasticRuntime):
    """NumPy runtime of :class:`STDP`: traces ``x`` (presynaptic) and ``y`` (postsynaptic)."""

    def __init__(self, engine, proj, rule: STDP):
        all_to_all = rule.pairing == "all"
        self.pre_traces = {"x": (rule.tau_plus, all_to_all)}
        self.post_traces = {"y": (rule.tau_minus, all_to_all)}
        self.track_times = rule.pairing == "nearest_reduced"
        super().__init__(engine, proj, rule)
        self.a_plus, self.a_minus = f32(rule.A_plus), f32(rule.A_minus)
        self.w_min, self.w_max = f32(rule.w_min), f32(rule.w_max)
        self.mult = rule.update == "multiplicative"

    def on_arrival(self, n, syn, learn):
        if not learn or not self.a_minus:
            return
        i = self.post[syn]
        y = self.y["y"][i]
        if self.track_times:                        # only the first arrival after a post spike
            _, prev_arrival = self.arrival_steps(syn, n)
            y = np.where(self.post_last[i] >= prev_arrival, y, np.float32(0.0))
        self.w[syn] = depress(self.w[syn], y, self.a_minus, self.w_min, self.w_max, self.mult)

    def on_post(self, n, col, learn):
        if not learn or not self.a_plus:
            return
        x = self.pre_trace("x", col, n)
        if self.track_times:                        # only the first post spike after an arrival
            last_arrival, _ = self.arrival_steps(col, n)
            x = np.where(last_arrival > self.post_last[col.post], x, np.float32(0.0))
        syn = col.syn
        self.w[syn] = potentiate(self.w[syn], x, self.a_plus, self.w_min, self.w_max, self.mult)
