"""neurosim: a GPU-accelerated spiking neural network simulator.

Units everywhere: time ms, potential mV, current pA, conductance nS, capacitance pF, rate Hz.
"""

from . import networks
from .backends import available
from .connectivity import (AllToAll, Explicit, FixedIndegree, FixedOutdegree, FixedProbability,
                           FixedTotalNumber, OneToOne)
from .distributions import Normal, Uniform
from .errors import (CheckpointError, DeviceMemoryError, DeviceUnavailableError,
                     HostMemoryError, NeurosimError,
                     SimulationError)
from .inputs import DCCurrent, StepCurrent
from .models import (QIF, AdaptiveLIF, AdEx, AdExCond, Izhikevich, LIF, LIFCond, ModelDefinitionError,
                     NeuronModel, PoissonSource, SpikeSource)
from .models import HodgkinHuxley
from .monitors import RateMonitor, SpikeMonitor, StateMonitor
from .network import Network, Population, Projection
from . import plasticity, tasks
from .checkpoint import load
from . import nir_io as nir      # ns.nir.load / ns.nir.export (needs the nir package when called)
from .plasticity import (STDP, AdaptiveThreshold, HomeostasisModel, IntrinsicPlasticity,
                         PlasticityModel, RewardSTDP, SynapticScaling, TripletSTDP)

__version__ = "0.1.0"

__all__ = [
    "Network", "Population", "Projection",
    "LIF", "LIFCond", "Izhikevich", "AdEx", "AdExCond", "QIF", "AdaptiveLIF", "NeuronModel", "ModelDefinitionError",
    "HodgkinHuxley",
    "PoissonSource", "SpikeSource",
    "AllToAll", "OneToOne", "FixedProbability", "FixedIndegree", "FixedOutdegree", "FixedTotalNumber",
    "Explicit",
    "Uniform", "Normal", "DCCurrent", "StepCurrent",
    "SpikeMonitor", "StateMonitor", "RateMonitor",
    "NeurosimError", "DeviceUnavailableError", "SimulationError", "DeviceMemoryError",
    "CheckpointError", "load", "HostMemoryError",
    "available", "networks",
    "STDP", "TripletSTDP", "RewardSTDP", "PlasticityModel", "AdaptiveThreshold",
    "IntrinsicPlasticity", "SynapticScaling", "HomeostasisModel", "plasticity", "tasks", "nir",
]
