"""Task 3 — homeostatic adaptation of a recurrent network to steps of the input rate
(``homeostatic_adaptation``).

Network (:class:`HomeostasisParams`): a recurrent network of ``n_neurons`` excitatory and
``n_inh`` inhibitory LIF neurons (delta synapses, mV, delay ``delay``): every neuron receives
``rec_indegree`` excitatory (``w_exc`` mV) and ``rec_indegree // 4`` inhibitory (``w_inh`` mV)
recurrent synapses, and ``indegree`` random inputs (``weight`` mV) from ``n_inputs`` Poisson
sources (a :class:`~neurosim.models.PoissonSource` population). The excitatory neurons have
intrinsic plasticity (:class:`neurosim.IntrinsicPlasticity`: an integral controller on each
neuron's threshold driven by its filtered rate) toward ``target_rate``; the recurrent excitation amplifies every change of
the input, so the controller must act against the network's own gain.

Control (``control``): the same network, seed and inputs without intrinsic plasticity; its rate
error per phase is ``control_rate_error``.

Protocol (the stimulus API: no input spike is generated in advance): the input rate is
``rates[0]`` for ``durations[0]`` (the network settles from its initial thresholds), then steps
to ``rates[1]``, ``rates[2]``, ..., each step a ``net.set_rates(inputs, rate)`` on the built
network between two ``run`` calls (:func:`_input_phase`). The population rate is recorded
in bins of ``bin`` ms and smoothed by a causal moving average over ``smooth`` ms
(``rate_trace``: bin ends and smoothed rate; ``raw_rate_hz``: unsmoothed). For each input step
the adaptation time is the time from the step until the smoothed rate enters the band
``target_rate * (1 +- tolerance)`` for good (it stays inside until the next step); a step after
which it never settles is reported with its whole phase and ``settled`` False. The same measure
from the start (initial thresholds) is ``initial_settling_s``. The rate error is
``|rate - target| / target`` of the smoothed excitatory rate: over time (``rate_error``, per
bin) and as its mean over the last second of each phase (``rate_error_per_phase``, the task's
per-epoch metric), with and without homeostasis.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .. import _validate as V
from ..connectivity import FixedIndegree
from ..models import LIF, PoissonSource
from ..network import Network
from ..plasticity import IntrinsicPlasticity
from .common import ResultMixin, check_task_args


@dataclass(frozen=True)
class HomeostasisParams:
    n_neurons: int = 800                             # excitatory, with intrinsic plasticity
    n_inh: int = 200                                 # inhibitory, static thresholds
    n_inputs: int = 10000                            # many sources: small common fluctuations
    indegree: int = 50
    weight: float = 1.0                              # mV per input spike
    rec_indegree: int = 40                           # excitatory recurrent inputs per neuron
    w_exc: float = 0.5                               # mV
    w_inh: float = -1.0                              # mV (rec_indegree // 4 inputs)
    delay: float = 1.5                               # ms, recurrent delays
    control: bool = True                             # also run without homeostasis
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

    def __post_init__(self):
        _check(self, "HomeostasisParams")


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
    rate_error: list                 # |smoothed rate - target| / target per bin (rate_trace)
    rate_error_per_phase: list       # its mean over the last second of each phase
    control_rate_error_per_phase: list | None  # the same without homeostasis
    control_final_rates: list | None
    phase_wall_s: list
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


def _input_phase(net, inputs, rate: float, duration: float) -> None:
    """One phase: every input source at ``rate`` Hz from now on, for ``duration`` ms."""
    net.set_rates(inputs, rate)
    net.run(duration)


def _check(p: HomeostasisParams, where: str) -> None:
    for name in ("n_neurons", "n_inputs", "indegree"):
        V.integer(where, name, getattr(p, name), minimum=1)
    for name in ("n_inh", "rec_indegree"):
        V.integer(where, name, getattr(p, name), minimum=0)
    if p.indegree > p.n_inputs:
        raise ValueError(f"{where}: indegree must be at most n_inputs = {p.n_inputs}, got "
                         f"{p.indegree}")
    if p.rec_indegree > p.n_neurons - 1:
        raise ValueError(f"{where}: rec_indegree must be below n_neurons = {p.n_neurons}, got "
                         f"{p.rec_indegree}")
    if p.rec_indegree // 4 > p.n_inh:
        raise ValueError(f"{where}: rec_indegree // 4 = {p.rec_indegree // 4} inhibitory inputs "
                         f"need n_inh >= that, got n_inh = {p.n_inh}")
    if len(p.rates) != len(p.durations) or not len(p.rates):
        raise ValueError(f"{where}: rates and durations must be non-empty and of the same "
                         f"length, got {len(p.rates)} and {len(p.durations)}")
    for r in p.rates:
        V.non_negative(where, "rates", r)
    for d in p.durations:
        V.positive(where, "durations", d)
    for name in ("target_rate", "tolerance", "tau_rate", "interval", "bin", "smooth", "tau_m",
                 "delay", "dt"):
        V.positive(where, name, getattr(p, name))
    for name in ("eta", "w_exc", "weight", "tau_refrac"):
        V.non_negative(where, name, getattr(p, name))
    if p.w_inh > 0:
        raise ValueError(f"{where}: w_inh must be <= 0 (mV, inhibition), got {p.w_inh}")
    if p.delay < p.dt:
        raise ValueError(f"{where}: delay must be at least dt = {p.dt} ms, got {p.delay}")
    V.boolean(where, "control", p.control)


def _simulate(p: HomeostasisParams, seed: int, device: str, homeostasis: bool, progress=None):
    starts = np.concatenate(([0.0], np.cumsum(p.durations)[:-1]))
    net = Network(dt=p.dt, device=device, seed=seed)
    inp = net.add_population(p.n_inputs, PoissonSource(rate=p.rates[0]), name="input")
    lif = LIF(tau_m=p.tau_m, v_rest=p.v_rest, v_reset=p.v_rest, v_thresh=p.v_thresh,
              tau_refrac=p.tau_refrac, synapse="delta")
    pop = net.add_population(p.n_neurons, lif, name="excitatory")
    targets = [pop]
    net.connect(inp, pop, FixedIndegree(p.indegree), weight=p.weight, delay=p.dt)
    if p.n_inh:
        inh = net.add_population(p.n_inh, lif, name="inhibitory")
        net.connect(inp, inh, FixedIndegree(p.indegree), weight=p.weight, delay=p.dt)
        targets.append(inh)
    for post in targets:
        if p.rec_indegree and p.w_exc:
            net.connect(pop, post, FixedIndegree(p.rec_indegree, allow_self=False)
                        if post is pop else FixedIndegree(p.rec_indegree),
                        weight=p.w_exc, delay=p.delay)
        if p.n_inh and p.rec_indegree // 4 and p.w_inh:
            net.connect(inh, post, FixedIndegree(p.rec_indegree // 4, allow_self=False)
                        if post is inh else FixedIndegree(p.rec_indegree // 4),
                        weight=p.w_inh, delay=p.delay, receptor="inhibitory")
    ip = None
    if homeostasis:
        ip = net.add_homeostasis(pop, IntrinsicPlasticity(p.target_rate, eta=p.eta,
                                                          tau_rate=p.tau_rate,
                                                          interval=p.interval))
    mon = net.record_rate(pop, bin_size=p.bin)
    theta, walls = [], []
    for k, (rate, d) in enumerate(zip(p.rates, p.durations)):
        w0 = time.perf_counter()
        _input_phase(net, inp, rate, d)
        walls.append(time.perf_counter() - w0)
        theta.append(float(ip.theta.mean()) if ip is not None else 0.0)
        if progress is not None:
            progress(k, theta[-1])
    rates, t_bins = mon.rates, mon.times
    k = max(1, int(round(p.smooth / p.bin)))
    csum = np.concatenate(([0.0], np.cumsum(rates)))
    idx = np.arange(rates.size)
    lo = np.maximum(0, idx + 1 - k)
    smoothed = (csum[idx + 1] - csum[lo]) / (idx + 1 - lo)
    t_end = t_bins + p.bin                           # a bin's average is known at its end
    ends = starts + np.asarray(p.durations)
    error = np.abs(smoothed - p.target_rate) / p.target_rate
    last = [(t_end > max(b - 1000.0, a)) & (t_end <= b) for a, b in zip(starts, ends)]
    return dict(net=net, rates=rates, smoothed=smoothed, t_end=t_end, starts=starts, ends=ends,
                theta=theta, walls=walls, error=error,
                final=[float(smoothed[m].mean()) for m in last],
                error_phase=[float(error[m].mean()) for m in last])


def homeostatic_adaptation(seed: int = 0, device: str = "cpu",
                           params: HomeostasisParams | None = None, quick: bool = False,
                           progress=None) -> HomeostasisResult:
    """Run the input-step protocol on the recurrent network and measure the adaptation times
    and the rate error, with and without homeostasis (module docstring).

    ``quick``: a quarter of the neurons, a fifth of the inputs, ``dt = 0.5`` ms and 2 s phases
    (when ``params`` is not given).
    """
    check_task_args("homeostatic_adaptation()", seed, device, params, HomeostasisParams, quick,
                    progress)
    p = params or (HomeostasisParams(n_neurons=200, n_inh=50, n_inputs=2000, dt=0.5,
                                          durations=(2000.0,) * 3) if quick
                   else HomeostasisParams())
    wall0 = time.perf_counter()
    r = _simulate(p, seed, device, True, progress)
    wall = time.perf_counter() - wall0
    c = _simulate(p, seed, device, False) if p.control else None
    times = adaptation_times(r["smoothed"], r["t_end"], r["starts"], r["ends"], p.target_rate,
                             p.tolerance)
    steps = times[1:]
    durations = np.asarray(p.durations[1:], float) * 1e-3
    net = r["net"]
    return HomeostasisResult(
        "homeostatic_adaptation", seed, device, net.backend, p.target_rate,
        [float(d) if t is None else float(t) for t, d in zip(steps, durations)],
        [t is not None for t in steps], times[0], (r["starts"][1:] * 1e-3).tolist(),
        {"t_s": (r["t_end"] * 1e-3).tolist(), "rate_hz": r["smoothed"].tolist()},
        r["rates"].tolist(), r["final"], r["theta"], r["error"].tolist(), r["error_phase"],
        None if c is None else c["error_phase"], None if c is None else c["final"], r["walls"],
        wall, net.t * 1e-3, _plain_params(p))


def _plain_params(p) -> dict:
    d = asdict(p)
    d["rates"], d["durations"] = list(p.rates), list(p.durations)
    return d
