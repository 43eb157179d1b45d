"""Synaptic plasticity and homeostasis (docs/architecture.md, stage 4 "learn").

Rules are descriptions attached to the network; each builds a runtime per backend when the
network is built:

- per projection, ``net.connect(..., plasticity=rule)``: :class:`STDP` (pair rule: all-to-all,
  nearest-neighbour and reduced nearest-neighbour pairing, additive or multiplicative),
  :class:`TripletSTDP` (Pfister & Gerstner 2006), :class:`RewardSTDP` (Izhikevich 2007);
- per population, ``net.add_homeostasis(pop, rule)``: :class:`AdaptiveThreshold`
  (Diehl & Cook 2015), :class:`IntrinsicPlasticity`, :class:`SynapticScaling`.

Every projection rule is a :class:`PlasticityModel` description (:mod:`.description`): its
traces, state and ``on_pre``/``on_post`` code, from which the NumPy functions and the CUDA
kernels are generated (:mod:`.generate`, ``kernels/plasticity_rule.cu.j2``); a user describes
a rule of their own the same way (on NumPy, the linear additive ones, :mod:`.linear`, run a
faster deferred runtime). The homeostasis rules (both forms of synaptic scaling, the weights'
scaling included) are :class:`HomeostasisModel` descriptions (:mod:`.homeostasis_model`,
``kernels/homeostasis_rule.cu.j2``) in the same way; a user's is ``HomeostasisModel(...)
(**parameters)``. ``rule.enabled = False`` (or ``net.set_learning(False)``)
freezes learning. The event order within a step and the treatment of delays are described in
:mod:`.numpy_runtime`; what an engine offers the runtimes in :mod:`.base` (``EngineInterface``).

Adding a built-in rule: one file holding its description and rule class (as :mod:`.triplet`),
its entry in :data:`DESCRIBED` (so every kernel check compiles it), tests and a README row.
"""

from .base import HomeostasisRule, PlasticityRule
from .description import DescribedRule, PlasticityModel
from .homeostasis import (ADAPTIVE_THRESHOLD, INTRINSIC_PLASTICITY, SCALING_RATE,
                          SCALING_TOTAL, AdaptiveThreshold, DescribedHomeostasis,
                          IntrinsicPlasticity, SynapticScaling)
from .homeostasis_model import HomeostasisModel
from .reward import REWARD, RewardSTDP
from .stdp import PAIR, STDP
from .triplet import TRIPLET, TripletSTDP

#: The descriptions of the built-in rules.
DESCRIBED = (PAIR["additive"], PAIR["multiplicative"], TRIPLET, REWARD)
#: The descriptions of the built-in homeostasis rules.
DESCRIBED_HOMEOSTASIS = (ADAPTIVE_THRESHOLD, INTRINSIC_PLASTICITY, SCALING_RATE,
                         SCALING_TOTAL)

__all__ = ["PlasticityRule", "HomeostasisRule", "PlasticityModel", "DescribedRule", "STDP",
           "TripletSTDP", "RewardSTDP", "AdaptiveThreshold", "IntrinsicPlasticity",
           "SynapticScaling", "HomeostasisModel", "DescribedHomeostasis", "DESCRIBED", "DESCRIBED_HOMEOSTASIS"]
