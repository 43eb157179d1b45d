"""setup(), run(), reset(), end() and the state queries of the neurosim PyNN backend."""

from __future__ import annotations

import logging
import os
import warnings

from pyNN import common
from pyNN.common.control import DEFAULT_MAX_DELAY, DEFAULT_MIN_DELAY, DEFAULT_TIMESTEP
from pyNN.recording import get_io

from . import simulator

_DEVICES = ("cpu", "cuda", "cuda:host", "auto")


def setup(timestep=DEFAULT_TIMESTEP, min_delay=DEFAULT_MIN_DELAY, **extra_params):
    """Initialise the simulator; any existing network is destroyed.

    ``timestep``, ``min_delay``, ``max_delay`` in ms. neurosim's extra arguments:
    ``device`` (``"cpu"``; ``"cuda"``, ``"cuda:host"``, ``"auto"``; default: the environment
    variable ``NEUROSIM_PYNN_DEVICE``, else ``"cpu"``, so that an unchanged script can be run
    on another device) and ``seed`` (an integer; default 0: a script gives the same result
    every time).
    """
    device = extra_params.pop("device", os.environ.get("NEUROSIM_PYNN_DEVICE", "cpu"))
    seed = extra_params.pop("seed", extra_params.pop("rng_seed", 0))
    if device not in _DEVICES:
        raise ValueError(f"setup(): device must be one of {list(_DEVICES)}, got {device!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"setup(): seed must be an integer >= 0, got {seed!r}")
    if extra_params.get("spike_precision", "on_grid") != "on_grid":
        warnings.warn(f"setup(): neurosim stamps every spike at the end of its time step; "
                      f"spike_precision={extra_params['spike_precision']!r} is treated as "
                      f"'on_grid'", UserWarning, stacklevel=2)
    for other in sorted(set(extra_params) - {"max_delay", "rank", "num_processes"}):
        # other simulators' options (NEURON's t_flush, NEST's threads...): PyNN scripts pass
        # them to every backend, so they are accepted and ignored, as pyNN.nest does.
        logging.getLogger(__name__).info("setup(): ignoring %s=%r (not a neurosim option)",
                                         other, extra_params[other])
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

get_current_time, get_time_step, _get_min_delay, _get_max_delay, num_processes, rank = \
    common.build_state_queries(simulator)


def _delays():
    import numpy as np
    arrays = [p._finalize()["delay"] for p in simulator.state.projections]
    arrays = [a for a in arrays if a.size]
    return np.concatenate(arrays) if arrays else None


def get_min_delay():
    """The minimum delay (ms): setup()'s min_delay, or with 'auto' the smallest delay of
    any projection (the time step when there is none)."""
    state = simulator.state
    if state.min_delay != "auto":
        return state.min_delay
    d = _delays()
    return state.dt if d is None else float(d.min())


def get_max_delay():
    """The maximum delay (ms): setup()'s max_delay, or with 'auto' the largest delay of
    any projection (the time step when there is none)."""
    state = simulator.state
    if state.max_delay != "auto":
        return state.max_delay
    d = _delays()
    return state.dt if d is None else float(d.max())
