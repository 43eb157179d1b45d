r"""Reward-modulated STDP with eligibility traces (Izhikevich 2007), ``RewardSTDP``.

Each synapse has an eligibility trace ``c`` and the projection a dopamine level ``d``::

    dc/dt = -c / tau_c + STDP(Delta t) delta(t - t_event)
    dd/dt = -(d - baseline) / tau_d + sum_k R_k delta(t - t_k)
    dw/dt = c d

``STDP`` is the pair rule of :class:`neurosim.STDP` (same pairings, traces, event order and
delays; ``A_plus``/``A_minus`` are in weight units per (dopamine unit x ms)); each STDP event
adds to ``c`` instead of ``w``. ``R_k`` is the reward the user delivers at run time
(``rule.deliver_reward(R)`` between two ``net.run`` calls); ``baseline`` is the tonic level.

The weights are integrated lazily and exactly: a synapse is brought up to date when it is
touched (its presynaptic spike is sent or arrives, its postsynaptic neuron spikes), when the
weights are read, and for all synapses at each reward (so that ``d`` is a single exponential
relaxation since the synapse's last update). Between updates ``c`` and ``d`` decay
exponentially and ``dw = int c d dt`` has the closed form of
:func:`neurosim.plasticity.update.reward_weight_change`. The weight is clipped to
``[w_min, w_max]`` when it is updated (not in between). With ``enabled = False`` the weights stay
frozen and STDP events do not add to ``c`` (``c`` still decays).
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from .base import f32
from .stdp import StdpNumpy, STDP
from .update import reward_weight_change, stdp_amount


class RewardSTDP(STDP):
    """Dopamine-modulated STDP (Izhikevich 2007); see the module docstring.

    Defaults follow the paper: ``A_plus = 1.0``, ``A_minus = 1.5``, ``tau_plus = tau_minus =
    20`` ms, ``tau_c = 1000`` ms, ``tau_d = 200`` ms; weights in the projection's unit.
    """

    def __init__(self, A_plus: float = 1.0, A_minus: float = 1.5, tau_plus: float = 20.0,
                 tau_minus: float = 20.0, tau_c: float = 1000.0, tau_d: float = 200.0,
                 baseline: float = 0.0, w_min: float = 0.0, w_max: float = 4.0,
                 pairing: str = "nearest"):
        super().__init__(A_plus, A_minus, tau_plus, tau_minus, w_min, w_max, pairing,
                         "additive")
        where = "RewardSTDP"
        self.tau_c = V.positive(where, "tau_c", tau_c, float32=True)
        self.tau_d = V.positive(where, "tau_d", tau_d, float32=True)
        self.baseline = V.non_negative(where, "baseline", baseline, float32=True)

    def deliver_reward(self, amount: float) -> None:
        """Add ``amount`` to the dopamine level now (the network's current time)."""
        amount = V.real("RewardSTDP.deliver_reward", "amount", amount, float32=True)
        if not self._runtimes:
            raise RuntimeError("RewardSTDP.deliver_reward(): the network is not built yet; "
                               "call net.build() or net.run() first")
        for rt in self._runtimes:
            rt.add_reward(amount)

    @property
    def dopamine(self) -> float:
        """The current dopamine level ``d`` (of the first projection using this rule)."""
        if not self._runtimes:
            return self.baseline
        return self._runtimes[0].dopamine_now()

    def build_numpy(self, engine, proj):
        return RewardNumpy(engine, proj, self)

    def build_cuda(self, engine, proj):
        from .cuda_runtime import RewardCuda
        return RewardCuda(engine, proj, self)


class RewardNumpy(StdpNumpy):
    """NumPy runtime of :class:`RewardSTDP`: per-synapse ``c`` and last-update step."""

    def __init__(self, engine, proj, rule: RewardSTDP):
        super().__init__(engine, proj, rule)
        n = self.pre.size
        self.c = np.zeros(n, np.float32)
        self.t1 = np.full(n, -1, np.int64)          # step whose end the synapse is brought to
        self.d_r, self.r_step = np.float32(rule.baseline), -1
        self.tau_c, self.tau_d = f32(rule.tau_c), f32(rule.tau_d)
        self.tau_e = f32(rule.tau_c * rule.tau_d / (rule.tau_c + rule.tau_d))
        self.base = f32(rule.baseline)

    def _now(self) -> int:
        return self.engine.net._steps_done - 1

    def _dopamine_at(self, steps):
        """``d`` at the end of ``steps`` (>= last reward step): exponential relaxation."""
        el = (np.asarray(steps) - self.r_step).astype(np.float32) * f32(self.dt)
        return self.base + (self.d_r - self.base) * np.exp(-el / self.tau_d)

    def dopamine_now(self) -> float:
        return float(self._dopamine_at(self._now()))

    def _bring(self, syn: np.ndarray, n: int) -> None:
        t1 = self.t1[syn]
        el = (n - t1).astype(np.float32) * f32(self.dt)
        c = self.c[syn]
        if self.rule.enabled:
            dw = reward_weight_change(c, self._dopamine_at(t1), self.base, el, self.tau_c,
                                      self.tau_e)
            self.w[syn] = np.clip(self.w[syn] + dw, self.w_min, self.w_max)
        self.c[syn] = c * np.exp(-el / self.tau_c)
        self.t1[syn] = n

    def sync(self) -> None:
        if self.pre.size:
            self._bring(np.arange(self.pre.size), self._now())

    def add_reward(self, amount: float) -> None:
        now = self._now()
        self.sync()
        self.d_r = np.float32(self._dopamine_at(now) + np.float32(amount))
        self.r_step = now

    def before_delivery(self, n, syn):
        self._bring(syn, n)

    def on_arrival(self, n, syn, learn):
        self._bring(syn, n)
        if not learn or not self.a_minus:
            return
        i = self.post[syn]
        y = self.y["y"][i]
        if self.track_times:
            _, prev_arrival = self.arrival_steps(syn, n)
            y = np.where(self.post_last[i] >= prev_arrival, y, np.float32(0.0))
        self.c[syn] -= stdp_amount(y, self.a_minus)

    def on_post(self, n, col, learn):
        self._bring(col.syn, n)
        if not learn or not self.a_plus:
            return
        x = self.pre_trace("x", col, n)
        if self.track_times:
            last_arrival, _ = self.arrival_steps(col, n)
            x = np.where(last_arrival > self.post_last[col.post], x, np.float32(0.0))
        self.c[col.syn] += stdp_amount(x, self.a_plus)
