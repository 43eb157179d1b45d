"""Task 3 — homeostatic adaptation to steps of the input rate (``homeostatic_adaptation``).

Network (:class:`HomeostasisParams`): ``n_neurons`` LIF neurons (delta synapses, mV), each with
``indegree`` random inputs from ``n_inputs`` Poisson spike sources, and intrinsic plasticity
(:class:`neurosim.IntrinsicPlasticity`: an integral controller on each neuron's threshold driven
by its filtered rate) toward ``target_rate``.

Protocol: the input rate is ``rates[0]`` for ``durations[0]`` (the network settles from its
initial thresholds), then steps to ``rates[1]``, ``rates[2]``, ... The population rate is
recorded in bins of ``bin`` ms and smoothed by a causal moving average over ``smooth`` ms
(``rate_trace``: bin ends and smoothed rate; ``raw_rate_hz``: unsmoothed). For each input step
the adaptation time is the time from the step until the smoothed rate enters the band
``target_rate * (1 +- tolerance)`` for good (it stays inside until the next step); a step after
which it never settles is reported with its whole phase and ``settled`` False. The same measure
from the start (initial thresholds) is ``initial_settling_s``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ..connectivity import FixedIndegree
from ..models import LIF, SpikeSource
from ..network import Network
from ..plasticity import IntrinsicPlasticity
from .common import ResultMixin, SpikeSchedule, check_task_args


@dataclass(frozen=True)
class HomeostasisParams:
    n_neurons: int = 1000
    n_inputs: int = 10000                            # many sources: small common fluctuations
    indegree: int = 50
    weight: float = 1.0                              # mV per input spike
    rates: tuple = (10.0, 20.0, 10.0)                # Hz, input rate of each phase
    durations: tuple = (6000.0, 6000.0, 6000.0)      # ms
    target_rate: float = 5.0                         # Hz
    tolerance: float = 0.1
    eta: float = 2.0                                 # mV / (Hz s)
    tau_rate: float = 20.0                           # ms (short: no lag in the control loop)
    interval: float = 5.0                            # ms between threshold updates
    bin: float = 100.0                               # ms
    smooth: float = 500.0                            # ms
    # neurons
    tau_m: float = 20.0
    v_rest: float = -65.0
    v_thresh: float = -50.0
    tau_refrac: float = 2.0
    dt: float = 0.1


@dataclass
class HomeostasisResult(ResultMixin):
    task: str
    seed: int
    device: str
    backend: str
    target_rate_hz: float
    adaptation_time_s: list          # per input step; a step that never settles counts its
                                     # whole phase (see ``settled``)
    settled: list                    # per input step: did the rate settle within the phase
    initial_settling_s: float | None  # from the initial thresholds, before the first step
    step_times_s: list               # times of the input steps
    rate_trace: dict                 # {"t_s": bin ends, "rate_hz": smoothed population rate}
    raw_rate_hz: list                # the unsmoothed rate per bin
    final_rates: list                # mean smoothed rate over the last second of each phase
    mean_threshold_shift: list       # mV, mean theta at the end of each phase
    wall_s: float
    simulated_s: float
    params: dict = field(default_factory=dict)


def adaptation_times(smoothed, times_ms, starts_ms, ends_ms, target, tol):
    """Per phase: seconds from its start until ``smoothed`` stays within the band (or None)."""
    inside = np.abs(smoothed - target) <= tol * target
    out = []
    for a, b in zip(starts_ms, ends_ms):
        sel = np.flatnonzero((times_ms >= a) & (times_ms < b))
        if not sel.size or not inside[sel[-1]]:
            out.append(None)
            continue
        bad = sel[~inside[sel]]
        first_good = sel[0] if not bad.size else bad[-1] + 1
        out.append(round((times_ms[first_good] - a) * 1e-3, 6))
    return out


def homeostatic_adaptation(seed: int = 0, device: str = "cpu",
                           params: HomeostasisParams | None = None, quick: bool = False,
                           progress=None) -> HomeostasisResult:
    """Run the input-step protocol and measure the adaptation times (module docstring).

    ``quick``: the default parameters at ``dt = 0.5`` ms with 4 s phases (when ``params`` is
    not given).
    """
    check_task_args("homeostatic_adaptation()", seed, device, params, HomeostasisParams, quick,
                    progress)
    p = params or (HomeostasisParams(dt=0.5, durations=(4000.0,) * 3) if quick
                   else HomeostasisParams())
    if len(p.rates) != len(p.durations):
        raise ValueError(f"homeostatic_adaptation(): rates and durations must have the same "
                         f"length, got {len(p.rates)} and {len(p.durations)}")
    rng = np.random.default_rng(seed)
    sched = SpikeSchedule(p.n_inputs, rng, p.dt)
    starts = np.concatenate(([0.0], np.cumsum(p.durations)[:-1]))
    for r, t0, d in zip(p.rates, starts, p.durations):
        sched.poisson(np.full(p.n_inputs, r), t0, d)
    net = Network(dt=p.dt, device=device, seed=seed)
    inp = net.add_population(p.n_inputs, SpikeSource(sched.times()), name="input")
    pop = net.add_population(p.n_neurons, LIF(tau_m=p.tau_m, v_rest=p.v_rest, v_reset=p.v_rest,
                                              v_thresh=p.v_thresh, tau_refrac=p.tau_refrac,
                                              synapse="delta"), name="neurons")
    net.connect(inp, pop, FixedIndegree(p.indegree), weight=p.weight, delay=p.dt)
    ip = net.add_homeostasis(pop, IntrinsicPlasticity(p.target_rate, eta=p.eta,
                                                      tau_rate=p.tau_rate,
                                                      interval=p.interval))
    mon = net.record_rate(pop, bin_size=p.bin)
    wall0 = time.perf_counter()
    theta = []
    for k, d in enumerate(p.durations):
        net.run(d)
        theta.append(float(ip.theta.mean()))
        if progress is not None:
            progress(k, theta[-1])
    wall = time.perf_counter() - wall0
    rates, t_bins = mon.rates, mon.times
    k = max(1, int(round(p.smooth / p.bin)))
    csum = np.concatenate(([0.0], np.cumsum(rates)))
    idx = np.arange(rates.size)
    lo = np.maximum(0, idx + 1 - k)
    smoothed = (csum[idx + 1] - csum[lo]) / (idx + 1 - lo)
    t_end = t_bins + p.bin                           # a bin's average is known at its end
    ends = starts + np.asarray(p.durations)
    times = adaptation_times(smoothed, t_end, starts, ends, p.target_rate, p.tolerance)
    final = [float(smoothed[(t_end > b - 1000.0) & (t_end <= b)].mean()) for b in ends]
    steps = times[1:]
    durations = np.asarray(p.durations[1:], float) * 1e-3
    return HomeostasisResult(
        "homeostatic_adaptation", seed, device, net.backend, p.target_rate,
        [float(d) if t is None else float(t) for t, d in zip(steps, durations)],
        [t is not None for t in steps], times[0], (starts[1:] * 1e-3).tolist(),
        {"t_s": (t_end * 1e-3).tolist(), "rate_hz": smoothed.tolist()}, rates.tolist(), final,
        theta, wall, net.t * 1e-3, asdict(p))
