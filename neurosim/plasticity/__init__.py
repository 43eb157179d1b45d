"""Synaptic plasticity and homeostasis (docs/architecture.md, stage 4 "learn").

Rules are descriptions attached to the network; each builds a runtime per backend when the
network is built:

- per projection, ``net.connect(..., plasticity=rule)``: :class:`STDP` (pair rule: all-to-all,
  nearest-neighbour and reduced nearest-neighbour pairing, additive or multiplicative),
  :class:`TripletSTDP` (Pfister & Gerstner 2006), :class:`RewardSTDP` (Izhikevich 2007);
- per population, ``net.add_homeostasis(pop, rule)``: :class:`AdaptiveThreshold`
  (Diehl & Cook 2015), :class:`IntrinsicPlasticity`, :class:`SynapticScaling`.

``rule.enabled = False`` (or ``net.set_learning(False)``) freezes learning. The event order
within a step and the treatment of delays are described in :mod:`.numpy_runtime`; the
per-synapse arithmetic, shared with the CUDA kernels, in :mod:`.update`.
"""

from .base import HomeostasisRule, PlasticityRule
from .homeostasis import AdaptiveThreshold, IntrinsicPlasticity, SynapticScaling
from .reward import RewardSTDP
from .stdp import STDP
from .triplet import TripletSTDP

__all__ = ["PlasticityRule", "HomeostasisRule", "STDP", "TripletSTDP", "RewardSTDP",
           "AdaptiveThreshold", "IntrinsicPlasticity", "SynapticScaling"]
