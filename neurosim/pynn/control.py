"""setup(), run(), reset(), end() and the state queries of the neurosim PyNN backend."""

from __future__ import annotations

from pyNN import common
from pyNN.common.control import DEFAULT_MAX_DELAY, DEFAULT_MIN_DELAY, DEFAULT_TIMESTEP
from pyNN.recording import get_io

from . import simulator

_DEVICES = ("cpu", "cuda", "cuda:host", "auto")


def setup(timestep=DEFAULT_TIMESTEP, min_delay=DEFAULT_MIN_DELAY, **extra_params):
    """Initialise the simulator; any existing network is destroyed.

    ``timestep``, ``min_delay``, ``max_delay`` in ms. neurosim's extra arguments:
    ``device`` (``"cpu"``, default; ``"cuda"``, ``"cuda:host"``, ``"auto"``) and ``seed``
    (an integer; default 0, so that a script gives the same result every time).
    """
    device = extra_params.pop("device", "cpu")
    seed = extra_params.pop("seed", extra_params.pop("rng_seed", 0))
    if device not in _DEVICES:
        raise ValueError(f"setup(): device must be one of {list(_DEVICES)}, got {device!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"setup(): seed must be an integer >= 0, got {seed!r}")
    for unknown in set(extra_params) - {"max_delay", "rank", "num_processes", "threads",
                                        "verbosity", "spike_precision"}:
        raise ValueError(f"setup(): unknown argument {unknown!r} for neurosim.pynn; its own "
                         f"are device= and seed=")
    common.setup(timestep, min_delay, **extra_params)
    state = simulator.state
    state.clear()
    state.dt = float(timestep)
    state.min_delay = min_delay
    state.max_delay = extra_params.get("max_delay", DEFAULT_MAX_DELAY)
    state.device = device
    state.seed = seed
    return rank()


def end(compatible_output=True):
    """Write the data that record(..., to_file) asked for and drop the network."""
    state = simulator.state
    for (population, variables, filename) in state.write_on_end:
        population.write_data(get_io(filename), variables)
    state.write_on_end = []
    state.net = None


run, run_until = common.build_run(simulator)
run_for = run
reset = common.build_reset(simulator)
initialize = common.initialize

get_current_time, get_time_step, get_min_delay, get_max_delay, num_processes, rank = \
    common.build_state_queries(simulator)
