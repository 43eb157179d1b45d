"""Task 1 — unsupervised pattern learning by a winner-take-all layer (``pattern_learning``).

Network (all numbers in :class:`PatternParams`): ``n_inputs`` spike sources project all-to-all
onto ``n_neurons`` LIF neurons (delta synapses, weights in mV) through plastic synapses (pair
STDP, all-to-all pairing, additive, hard bounds); each output neuron inhibits all others
(lateral inhibition, static), has an adaptive threshold (Diehl & Cook 2015) and its total input
weight is normalised (synaptic scaling toward a target total, as Diehl & Cook's weight
normalisation).

Inputs: ``n_patterns`` random binary patterns with ``n_active`` of the ``n_inputs`` units on.
A presentation draws a noisy version (each unit flips with probability ``flip``) and encodes it
as Poisson trains (``rate_on``/``rate_off`` Hz) for ``t_present`` ms, followed by ``t_rest`` ms
of silence. An epoch presents every pattern once, in a fresh random order, with learning on.

Score after each epoch, learning frozen (``net.set_learning(False)``): ``n_label`` noisy
presentations per pattern label each neuron with the pattern it responded to most (neurons that
never fired stay unlabelled); then ``n_test`` held-out noisy presentations per pattern are
classified as the pattern whose labelled neurons fired most on average (Diehl & Cook's rule); a
presentation without output spikes counts as wrong. ``epochs_to_converge`` is the first epoch
whose accuracy reaches ``threshold`` (0.9) and stays there for the next two epochs (None if that
does not happen within ``max_epochs``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ..connectivity import AllToAll
from ..distributions import Uniform
from ..models import LIF, SpikeSource
from ..network import Network
from ..plasticity import STDP, AdaptiveThreshold, SynapticScaling
from .common import ResultMixin, SpikeSchedule, check_task_args, spike_counts


@dataclass(frozen=True)
class PatternParams:
    n_patterns: int = 10
    n_inputs: int = 100
    n_active: int = 20
    n_neurons: int = 20
    rate_on: float = 60.0          # Hz
    rate_off: float = 2.0          # Hz
    flip: float = 0.05             # probability that an input unit flips per presentation
    t_present: float = 100.0       # ms
    t_rest: float = 50.0           # ms
    n_label: int = 2               # labelling presentations per pattern and epoch
    n_test: int = 3                # held-out test presentations per pattern and epoch
    max_epochs: int = 15
    threshold: float = 0.9
    # neurons (LIF, delta synapses, mV)
    tau_m: float = 20.0
    v_rest: float = -65.0
    v_thresh: float = -52.0
    tau_refrac: float = 5.0
    w_inh: float = -15.0           # lateral inhibition, mV
    # plasticity
    w_max: float = 4.0
    w_total: float = 40.0          # target total input weight per neuron (mV)
    A_plus: float = 0.4
    A_minus: float = 0.2
    tau_stdp: float = 20.0
    theta_plus: float = 1.0        # mV per spike
    tau_theta: float = 20000.0     # ms
    dt: float = 0.1


@dataclass
class PatternResult(ResultMixin):
    task: str
    seed: int
    device: str
    backend: str
    epochs_to_converge: int | None
    converged: bool
    accuracy_curve: list
    final_accuracy: float
    threshold: float
    wall_s: float
    simulated_s: float
    params: dict = field(default_factory=dict)


def make_patterns(p: PatternParams, rng: np.random.Generator) -> np.ndarray:
    """``(n_patterns, n_inputs)`` boolean patterns with ``n_active`` units on, all distinct."""
    pats = np.zeros((p.n_patterns, p.n_inputs), bool)
    for k in range(p.n_patterns):
        while True:
            on = rng.choice(p.n_inputs, p.n_active, replace=False)
            row = np.zeros(p.n_inputs, bool)
            row[on] = True
            if not any((row == pats[j]).all() for j in range(k)):
                break
        pats[k] = row
    return pats


def _schedule(p: PatternParams, pats, rng):
    """The whole experiment's input spikes and its presentation list per epoch and phase."""
    sched = SpikeSchedule(p.n_inputs, rng, p.dt)
    period = p.t_present + p.t_rest
    t = 0.0
    epochs = []

    def present(k):
        nonlocal t
        noisy = pats[k] ^ (rng.random(p.n_inputs) < p.flip)
        sched.poisson(np.where(noisy, p.rate_on, p.rate_off), t, p.t_present)
        start = t
        t += period
        return (k, start)

    for _ in range(p.max_epochs):
        train = [present(k) for k in rng.permutation(p.n_patterns)]
        t_train_end = t
        label = [present(k) for k in np.repeat(np.arange(p.n_patterns), p.n_label)]
        test = [present(k) for k in np.repeat(np.arange(p.n_patterns), p.n_test)]
        epochs.append((train, t_train_end, label, test, t))
    return sched.times(), epochs


def score(p: PatternParams, times, idx, label, test) -> float:
    """Accuracy on ``test`` presentations of neurons labelled on ``label`` presentations."""
    win = lambda pres: [(s, s + p.t_present + 5.0) for _, s in pres]   # noqa: E731
    lab = spike_counts(times, idx, p.n_neurons, win(label))
    resp = np.zeros((p.n_patterns, p.n_neurons))
    for (k, _), row in zip(label, lab):
        resp[k] += row
    fired = resp.sum(axis=0) > 0
    labels = np.where(fired, resp.argmax(axis=0), -1)
    cnt = spike_counts(times, idx, p.n_neurons, win(test))
    correct = 0
    for (k, _), row in zip(test, cnt):
        if row.sum() == 0:
            continue
        scores = np.full(p.n_patterns, -1.0)
        for c in range(p.n_patterns):
            members = labels == c
            if members.any():
                scores[c] = row[members].mean()
        correct += int(scores.argmax() == k)
    return correct / len(test)


def epochs_to_converge(curve, threshold: float, hold: int = 2):
    """First epoch (1-based) with accuracy >= threshold for it and the next ``hold`` epochs."""
    for e in range(len(curve) - hold):
        if all(a >= threshold for a in curve[e:e + hold + 1]):
            return e + 1
    return None


def build(p: PatternParams, seed: int, device: str, input_times):
    net = Network(dt=p.dt, device=device, seed=seed)
    inp = net.add_population(p.n_inputs, SpikeSource(input_times), name="input")
    out = net.add_population(p.n_neurons, LIF(tau_m=p.tau_m, v_rest=p.v_rest, v_reset=p.v_rest,
                                              v_thresh=p.v_thresh, tau_refrac=p.tau_refrac,
                                              synapse="delta"), name="wta")
    stdp = STDP(A_plus=p.A_plus, A_minus=p.A_minus, tau_plus=p.tau_stdp, tau_minus=p.tau_stdp,
                w_min=0.0, w_max=p.w_max)
    mean_w = p.w_total / p.n_inputs
    ff = net.connect(inp, out, AllToAll(), weight=Uniform(0.5 * mean_w, 1.5 * mean_w),
                     delay=p.dt, plasticity=stdp, name="input->wta")
    net.connect(out, out, AllToAll(allow_self=False), weight=p.w_inh, delay=p.dt,
                receptor="inhibitory", name="lateral")
    net.add_homeostasis(out, AdaptiveThreshold(theta_plus=p.theta_plus, tau_theta=p.tau_theta))
    net.add_homeostasis(out, SynapticScaling(target_total=p.w_total, interval=p.t_present,
                                             projections=[ff]))
    mon = net.record_spikes(out)
    return net, ff, mon


def pattern_learning(seed: int = 0, device: str = "cpu", params: PatternParams | None = None,
                     quick: bool = False, progress=None) -> PatternResult:
    """Train and score the winner-take-all pattern learner (see module docstring).

    ``quick``: the default parameters at ``dt = 0.5`` ms (when ``params`` is not given).
    """
    check_task_args("pattern_learning()", seed, device, params, PatternParams, quick, progress)
    p = params or (PatternParams(dt=0.5) if quick else PatternParams())
    rng = np.random.default_rng(seed)
    pats = make_patterns(p, rng)
    input_times, epochs = _schedule(p, pats, rng)
    net, ff, mon = build(p, seed, device, input_times)
    wall0 = time.perf_counter()
    curve = []
    for e, (train, t_train_end, label, test, t_end) in enumerate(epochs):
        net.set_learning(True)
        net.run(round(t_train_end - net.t, 6))
        net.set_learning(False)
        net.run(round(t_end - net.t, 6))
        curve.append(score(p, mon.times, mon.indices, label, test))
        if progress is not None:
            progress(e + 1, curve[-1])
        if epochs_to_converge(curve, p.threshold) is not None:
            break
    wall = time.perf_counter() - wall0
    etc = epochs_to_converge(curve, p.threshold)
    return PatternResult("pattern_learning", seed, device, net.backend, etc, etc is not None,
                         curve, curve[-1], p.threshold, wall, net.t * 1e-3, asdict(p))
