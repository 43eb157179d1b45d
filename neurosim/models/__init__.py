"""Neuron models and spike sources. Units: mV, ms, pA, nS, pF, Hz."""

from .adaptive_lif import AdaptiveLIF
from .adex import AdEx
from .adex_cond import AdExCond
from .base import Model
from .description import NeuronModel
from .hodgkin_huxley import HodgkinHuxley
from .izhikevich import Izhikevich
from .language import ModelDefinitionError
from .lif import LIF
from .lif_cond import LIFCond
from .qif import QIF
from .sources import PoissonSource, SpikeSource

#: The built-in neuron models' NeuronModel descriptions (every kernel is generated from one).
DESCRIBED = (*LIF.descriptions.values(), *LIFCond.descriptions.values(), AdEx.description, Izhikevich, QIF,
             AdaptiveLIF, AdExCond, HodgkinHuxley)

__all__ = ["Model", "NeuronModel", "ModelDefinitionError", "LIF", "LIFCond", "Izhikevich", "AdEx",
           "QIF", "AdaptiveLIF", "AdExCond", "HodgkinHuxley", "PoissonSource", "SpikeSource"]
