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
exponentially and ``dw = int c d dt`` has the closed form of the description's ``between``
block (:data:`REWARD`)::

    dw = c1 [ baseline tau_c (1 - exp(-T/tau_c)) + (d1 - baseline) tau_e (1 - exp(-T/tau_e)) ]

over ``T`` ms since the synapse's last update, ``c1``/``d1`` the values then, ``tau_e = tau_c
tau_d / (tau_c + tau_d)``. The weight is clipped to
``[w_min, w_max]`` when it is updated (not in between). With ``enabled = False`` the weights stay
frozen and STDP events do not add to ``c`` (``c`` still decays).
"""

from __future__ import annotations

from .. import _validate as V
from .cuda_runtime import RuleCuda
from .description import PlasticityModel
from .numpy_runtime import RuleNumpy
from .stdp import PAIRINGS, STDP

#: The description: eligibility ``c`` per synapse, dopamine ``d`` as the modulator.
REWARD = PlasticityModel(
    "reward_stdp", form="reward",
    parameters={"A_plus": 1.0, "A_minus": 1.5, "tau_plus": 20.0, "tau_minus": 20.0,
                "tau_c": 1000.0, "tau_d": 200.0, "baseline": 0.0},
    pre_traces={"x": "tau_plus"}, post_traces={"y": "tau_minus"},
    state={"c": 0.0},
    derived={"tau_e": "tau_c * tau_d / (tau_c + tau_d)"},
    on_pre="c -= A_minus * y",
    on_post="c += A_plus * x",
    between="""
        w += c * (baseline * tau_c * -expm1(-elapsed / tau_c)
                  + (d - baseline) * tau_e * -expm1(-elapsed / tau_e))
        c *= exp(-elapsed / tau_c)
    """,
    modulator={"name": "d", "tau": "tau_d", "rest": "baseline"},
    positive=("tau_c",), non_negative=("A_plus", "A_minus", "baseline"), pairings=PAIRINGS,
    w_max=4.0, doc="reward-modulated STDP (Izhikevich 2007)")


class RewardNumpy(RuleNumpy):
    """NumPy runtime of :class:`RewardSTDP` (generated from its description)."""


class RewardCuda(RuleCuda):
    """CUDA runtime of :class:`RewardSTDP` (kernels generated from its description)."""


class RewardSTDP(STDP):
    """Dopamine-modulated STDP (Izhikevich 2007); see the module docstring.

    Defaults follow the paper: ``A_plus = 1.0``, ``A_minus = 1.5``, ``tau_plus = tau_minus =
    20`` ms, ``tau_c = 1000`` ms, ``tau_d = 200`` ms; weights in the projection's unit.
    """

    numpy_runtime, cuda_runtime = RewardNumpy, RewardCuda

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

    @property
    def description(self) -> PlasticityModel:
        return REWARD

    def deliver_reward(self, amount: float) -> None:
        """Add ``amount`` to the dopamine level now (the network's current time). On a
        network distributed over MPI ranks every rank must call it with the same amount (a
        collective call; see :mod:`neurosim.distributed.plastic`)."""
        amount = V.real("RewardSTDP.deliver_reward", "amount", amount, float32=True)
        if not self._runtimes:
            raise RuntimeError("RewardSTDP.deliver_reward(): the network is not built yet; "
                               "call net.build() or net.run() first")
        from ..distributed.plastic import agree_reward
        agree_reward(self, amount)          # collective on a network over several MPI ranks
        for rt in self._runtimes:
            rt.add_modulator(amount)

    @property
    def dopamine(self) -> float:
        """The current dopamine level ``d`` (of the first projection using this rule)."""
        if not self._runtimes:
            return self.baseline
        return self._runtimes[0].modulator_now()

    def build_numpy(self, engine, proj):
        return RewardNumpy(engine, proj, self)
