r"""Triplet STDP (Pfister & Gerstner 2006), ``TripletSTDP``.

Four traces: presynaptic ``r1`` (``tau_plus``) and ``r2`` (``tau_x``), postsynaptic ``o1``
(``tau_minus``) and ``o2`` (``tau_y``); each jumps by 1 at a spike (``pairing="all"``) or is set
to 1 (``pairing="nearest"``, the paper's nearest-spike model). At a presynaptic arrival and at a
postsynaptic spike::

    pre  arrival:  w <- w - o1 (A2_minus + A3_minus r2(t - eps))
    post spike:    w <- w + r1 (A2_plus  + A3_plus  o2(t - eps))

then clipped to ``[w_min, w_max]``; ``r2(t - eps)``/``o2(t - eps)`` are the values just before
the spike's own jump. The defaults are the *minimal* all-to-all model fitted to the visual cortex
data of Sjoestroem et al. (2001) (Pfister & Gerstner 2006, Table 4: ``tau_plus = 16.8``,
``tau_minus = 33.7``, ``tau_y = 125`` ms, ``A2_plus = 5e-10``, ``A3_plus = 6.2e-3``,
``A2_minus = 7e-3``, ``A3_minus = 0``), in units of the weight. Event order and delays are as
for :class:`neurosim.STDP` (arrivals before postsynaptic spikes within a step).
"""

from __future__ import annotations

from .. import _validate as V
from .base import PlasticityRule, choice, f32
from .numpy_runtime import PlasticRuntime
from .update import triplet_depress, triplet_potentiate


class TripletSTDP(PlasticityRule):
    """Triplet STDP of Pfister & Gerstner (2006); defaults: minimal visual-cortex model."""

    def __init__(self, A2_plus: float = 5e-10, A3_plus: float = 6.2e-3, A2_minus: float = 7e-3,
                 A3_minus: float = 0.0, tau_plus: float = 16.8, tau_minus: float = 33.7,
                 tau_x: float = 101.0, tau_y: float = 125.0, w_min: float = 0.0,
                 w_max: float = 1.0, pairing: str = "all"):
        super().__init__(w_min, w_max)
        where = "TripletSTDP"
        for name, value in (("A2_plus", A2_plus), ("A3_plus", A3_plus),
                            ("A2_minus", A2_minus), ("A3_minus", A3_minus)):
            setattr(self, name, V.non_negative(where, name, value, float32=True))
        for name, value in (("tau_plus", tau_plus), ("tau_minus", tau_minus),
                            ("tau_x", tau_x), ("tau_y", tau_y)):
            setattr(self, name, V.positive(where, name, value, float32=True))
        self.pairing = choice(where, "pairing", pairing, ("all", "nearest"))

    def build_numpy(self, engine, proj):
        return TripletNumpy(engine, proj, self)

    def build_cuda(self, engine, proj):
        from .cuda_runtime import TripletCuda
        return TripletCuda(engine, proj, self)


class TripletNumpy(PlasticRuntime):
    """NumPy runtime of :class:`TripletSTDP`."""

    def __init__(self, engine, proj, rule: TripletSTDP):
        a2a = rule.pairing == "all"
        self.pre_traces = {"r1": (rule.tau_plus, a2a), "r2": (rule.tau_x, a2a)}
        self.post_traces = {"o1": (rule.tau_minus, a2a), "o2": (rule.tau_y, a2a)}
        super().__init__(engine, proj, rule)
        self.c = {k: f32(getattr(rule, k)) for k in ("A2_plus", "A3_plus", "A2_minus",
                                                     "A3_minus", "w_min", "w_max")}

    def on_arrival(self, n, syn, learn):
        if not learn:
            return
        c = self.c
        o1 = self.y["o1"][self.post[syn]]
        # r2 just before this arrival's own jump: the row of the previous step, decayed one step
        r2 = self.pre_trace("r2", syn, n, back=1) * self.P_pre["r2"]
        self.w[syn] = triplet_depress(self.w[syn], o1, r2, c["A2_minus"], c["A3_minus"],
                                      c["w_min"], c["w_max"])

    def on_post(self, n, col, learn):
        if not learn:
            return
        c = self.c
        r1 = self.pre_trace("r1", col, n)
        o2 = self.y["o2"][col.post]                 # not yet jumped for this step's spike
        syn = col.syn
        self.w[syn] = triplet_potentiate(self.w[syn], r1, o2, c["A2_plus"], c["A3_plus"],
                                         c["w_min"], c["w_max"])
