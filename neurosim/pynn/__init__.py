"""A PyNN backend on neurosim: ``import neurosim.pynn as sim``.

Needs PyNN 0.13 (``pip install "neurosim[pynn]"``). Standard cells ``IF_curr_exp``,
``IF_curr_delta``, ``IF_cond_exp``, ``EIF_cond_exp_isfa_ista``,
``Izhikevich``, ``SpikeSourcePoisson``, ``SpikeSourceArray``; PyNN's connectors;
``StaticSynapse`` and ``STDPMechanism`` (``SpikePairRule`` with ``Additive``/
``MultiplicativeWeightDependence``); ``DCSource`` and ``StepCurrentSource``; recording of
spikes and state variables to Neo. ``setup(timestep, min_delay, device="cpu", seed=0)``.
What differs from NEST is in the project's ``docs/pynn.md``.
"""

try:
    import pyNN  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised without PyNN
    raise ImportError("neurosim.pynn needs PyNN 0.13: pip install 'neurosim[pynn]' "
                      "(or pip install 'pyNN>=0.13')") from exc

from pyNN import errors, random, space                                    # noqa: F401
from pyNN.connectors import (AllToAllConnector, ArrayConnector, CloneConnector,  # noqa: F401
                             CSAConnector, DisplacementDependentProbabilityConnector,
                             DistanceDependentProbabilityConnector, FixedNumberPostConnector,
                             FixedNumberPreConnector, FixedProbabilityConnector,
                             FixedTotalNumberConnector, FromFileConnector, FromListConnector,
                             IndexBasedProbabilityConnector, OneToOneConnector,
                             SmallWorldConnector)
from pyNN.random import GSLRNG, NumpyRNG, RandomDistribution              # noqa: F401
from pyNN.recording import *                                              # noqa: F401,F403
from pyNN.space import Space                                              # noqa: F401
from pyNN.standardmodels import StandardCellType

from .control import (end, get_current_time, get_max_delay, get_min_delay,  # noqa: F401
                      get_time_step, initialize, num_processes, rank, reset, run, run_for,
                      run_until, setup)
from .populations import Assembly, Population, PopulationView           # noqa: F401
from .procedural_api import connect, create, record, record_gsyn, record_v  # noqa: F401
from .projections import Projection                                     # noqa: F401
from .standardmodels import (DCSource, EIF_cond_exp_isfa_ista, IF_cond_exp,  # noqa: F401
                             IF_curr_delta, IF_curr_exp, Izhikevich,
                             AdditiveWeightDependence, MultiplicativeWeightDependence,
                             SpikePairRule, SpikeSourceArray, SpikeSourcePoisson,
                             STDPMechanism, StaticSynapse, StepCurrentSource)

from pyNN.network import Network  # noqa: F401,E402

from .unsupported import *  # noqa: F401,F403,E402


def register() -> None:
    """Make ``import pyNN.neurosim`` (PyNN's plug-in naming, used by
    ``pyNN.utility.get_simulator``) give this backend."""
    import sys

    import pyNN as _pyNN
    sys.modules["pyNN.neurosim"] = sys.modules[__name__]
    _pyNN.neurosim = sys.modules[__name__]


def list_standard_models():
    """The standard cell types this backend supports."""
    return [obj.__name__ for obj in globals().values()
            if isinstance(obj, type) and issubclass(obj, StandardCellType)]
