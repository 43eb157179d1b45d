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
from .base import PlasticityRule, choice
from .cuda_runtime import RuleCuda
from .description import DescribedRule, PlasticityModel
from .numpy_runtime import RuleNumpy

#: The description: ``r2``/``o2`` read in on_pre/on_post are the values before the spike's own
#: jump (the description language's semantics of traces).
TRIPLET = PlasticityModel(
    "triplet_stdp", form="triplet",
    parameters={"A2_plus": 5e-10, "A3_plus": 6.2e-3, "A2_minus": 7e-3, "A3_minus": 0.0,
                "tau_plus": 16.8, "tau_minus": 33.7, "tau_x": 101.0, "tau_y": 125.0},
    pre_traces={"r1": "tau_plus", "r2": "tau_x"},
    post_traces={"o1": "tau_minus", "o2": "tau_y"},
    on_pre="w -= o1 * (A2_minus + A3_minus * r2)",
    on_post="w += r1 * (A2_plus + A3_plus * o2)",
    non_negative=("A2_plus", "A3_plus", "A2_minus", "A3_minus"), pairings=("all", "nearest"),
    doc="triplet STDP (Pfister & Gerstner 2006)")


class TripletNumpy(RuleNumpy):
    """NumPy runtime of :class:`TripletSTDP` (generated from its description)."""


class TripletCuda(RuleCuda):
    """CUDA runtime of :class:`TripletSTDP` (kernels generated from its description)."""


class TripletSTDP(DescribedRule):
    """Triplet STDP of Pfister & Gerstner (2006); defaults: minimal visual-cortex model."""

    numpy_runtime, cuda_runtime = TripletNumpy, TripletCuda

    def __init__(self, A2_plus: float = 5e-10, A3_plus: float = 6.2e-3, A2_minus: float = 7e-3,
                 A3_minus: float = 0.0, tau_plus: float = 16.8, tau_minus: float = 33.7,
                 tau_x: float = 101.0, tau_y: float = 125.0, w_min: float = 0.0,
                 w_max: float = 1.0, pairing: str = "all"):
        PlasticityRule.__init__(self, w_min, w_max)
        where = "TripletSTDP"
        for name, value in (("A2_plus", A2_plus), ("A3_plus", A3_plus),
                            ("A2_minus", A2_minus), ("A3_minus", A3_minus)):
            setattr(self, name, V.non_negative(where, name, value, float32=True))
        for name, value in (("tau_plus", tau_plus), ("tau_minus", tau_minus),
                            ("tau_x", tau_x), ("tau_y", tau_y)):
            setattr(self, name, V.positive(where, name, value, float32=True))
        self.pairing = choice(where, "pairing", pairing, ("all", "nearest"))

    @property
    def description(self) -> PlasticityModel:
        return TRIPLET
