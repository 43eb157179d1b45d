"""Task 2 — sequence learning over a range of intervals with drawn delays (``sequence_learning``).

Network (:class:`SequenceParams`): ``n_assemblies`` assemblies of ``assembly_size`` LIF neurons
(delta synapses, mV), recurrently connected all-to-all (no self-connections) through plastic
synapses (pair STDP, all-to-all pairing, additive, hard bounds ``[0, w_max]``) whose conduction
delays are *drawn*, uniformly in ``[delay_min, delay_max]`` ms, once per synapse — never set to
the interval. Weak background Poisson input (``noise_rate``; each such spike makes its neuron
fire). Each neuron also has a stimulus spike source (one-to-one, ``w_stim`` mV, enough to make
it fire).

Training: an epoch stimulates the assemblies once in order, A at ``t``, B at ``t + interval``,
... (each neuron's stimulus jittered by ``jitter`` ms). STDP selects the synapses whose delay
fits: a synapse A -> B with delay ``d`` slightly below the interval delivers its spike just
before B fires and is potentiated; longer delays deliver after B fired and are depressed, as are
the backward and within-assembly synapses. The same parameters are trained, in fresh networks,
for every interval of ``intervals`` (10 to 60 ms by default). STDP potentiates every synapse
whose spike arrives before the next assembly fires (less the earlier it arrives); ``tau_minus >
tau_plus`` makes uncorrelated pairings depress, and ``w_total > 0`` adds synaptic scaling of each
neuron's recurrent weights, so that delays compete (off by default: it sharpened the selected
delays but left them too weak to carry replay in our runs).

Test (learning frozen), before training and after every epoch: ``n_cues`` times only assembly A
is stimulated. An assembly's activation time is the median first spike of its neurons in its
earliest burst (at least half of it firing within ``burst`` ms). Transition k -> k+1 is replayed
if both are activated and the lag ``T_{k+1} - T_k`` lies within ``tolerance * interval +
slack`` ms of the interval. ``recall`` is the fraction of replayed transitions (mean over cues).

Controls, from the same spikes and from a second network: *shuffled order* — the recall of the
same test spikes scored against ``n_shuffles`` random orders of the assemblies (other than the
trained one), which a network that fires everything, or in a fixed order of its own, also
scores; *no plasticity* — the same network, seed and stimuli with learning off throughout.

The record's ``curve``, ``recall_before``, ``recall_after``, ``shuffled_recall`` and
``control_recall`` are means over the intervals; ``per_interval`` keeps each interval's values.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .. import _validate as V
from ..connectivity import AllToAll, OneToOne
from ..distributions import Uniform
from ..models import LIF, SpikeSource
from ..network import Network
from ..plasticity import STDP, SynapticScaling
from .common import ResultMixin, SpikeSchedule, check_task_args


@dataclass(frozen=True)
class SequenceParams:
    n_assemblies: int = 6
    assembly_size: int = 20
    intervals: tuple = (10.0, 20.0, 40.0, 60.0)   # ms between assemblies during training
    delay_min: float = 1.0         # ms, recurrent delays ~ Uniform(delay_min, delay_max)
    delay_max: float = 70.0
    jitter: float = 1.0            # ms, std of the stimulus times
    n_epochs: int = 8
    n_cues: int = 3                # test trials per evaluation
    tolerance: float = 0.5         # accepted |lag - interval| as a fraction of the interval ...
    slack: float = 3.0             # ... plus this (ms)
    burst: float = 10.0            # ms, the window in which half an assembly must fire
    gap: float = 200.0             # ms of quiet after a presentation or a cue (> delay_max)
    noise_rate: float = 1.0        # Hz, background input spikes per neuron
    n_shuffles: int = 20           # random orders for the shuffled-order control
    control: bool = True           # also run the network without plasticity
    # neurons (LIF, delta synapses, mV)
    tau_m: float = 20.0
    v_rest: float = -65.0
    v_thresh: float = -55.0
    tau_refrac: float = 5.0
    w_stim: float = 30.0
    # plasticity
    w_init: float = 0.2            # initial recurrent weights ~ Uniform(0, w_init) mV
    w_global: float = -0.3         # mV, static all-to-all feedback inhibition (delay dt)
    w_max: float = 6.0
    w_total: float = 0.0           # mV: if > 0, each neuron's recurrent weights are scaled to
                                   # this total every 100 ms (synapses compete: delay selection)
    A_plus: float = 1.0
    A_minus: float = 1.2
    tau_plus: float = 10.0
    tau_minus: float = 20.0        # longer than tau_plus: uncorrelated pairs depress
    dt: float = 0.5

    def __post_init__(self):
        self.check()

    def check(self, where: str = "SequenceParams") -> None:
        V.integer(where, "n_assemblies", self.n_assemblies, minimum=2)
        for name in ("assembly_size", "n_epochs", "n_cues", "n_shuffles"):
            V.integer(where, name, getattr(self, name), minimum=1)
        if not isinstance(self.intervals, (tuple, list)) or not self.intervals:
            raise ValueError(f"{where}: intervals must be a non-empty tuple of intervals (ms), "
                             f"got {V.show(self.intervals)}")
        for x in self.intervals:
            V.positive(where, "intervals", x)
        for name in ("delay_min", "delay_max", "burst", "gap", "tau_m", "w_stim", "w_max",
                     "tau_plus", "tau_minus", "dt"):
            V.positive(where, name, getattr(self, name))
        for name in ("jitter", "tolerance", "slack", "noise_rate", "tau_refrac", "w_init",
                     "A_plus", "A_minus", "w_total"):
            V.non_negative(where, name, getattr(self, name))
        if not self.delay_min < self.delay_max:
            raise ValueError(f"{where}: delay_min must be < delay_max = {self.delay_max}, got "
                             f"{self.delay_min}")
        if self.delay_min < self.dt:
            raise ValueError(f"{where}: delay_min must be at least dt = {self.dt} ms, got "
                             f"{self.delay_min}")
        if self.w_init > self.w_max:
            raise ValueError(f"{where}: w_init must be at most w_max = {self.w_max}, got "
                             f"{self.w_init}")
        if self.w_global > 0:
            raise ValueError(f"{where}: w_global must be <= 0 (mV, inhibition), got "
                             f"{self.w_global}")
        if not self.v_thresh > self.v_rest:
            raise ValueError(f"{where}: v_thresh must be above v_rest = {self.v_rest}, got "
                             f"{self.v_thresh}")
        V.boolean(where, "control", self.control)


@dataclass
class SequenceResult(ResultMixin):
    task: str
    seed: int
    device: str
    backend: str
    recall_before: float           # means over the intervals
    recall_after: float
    curve: list                    # recall after each epoch
    epochs_to_90: int | None
    shuffled_recall: float         # after training, against shuffled orders
    control_recall: float | None   # after training without plasticity
    per_interval: list             # {"interval_ms", "curve", "recall_before", ...} per interval
    epoch_wall_s: list
    wall_s: float
    simulated_s: float
    params: dict = field(default_factory=dict)


# -- stimulus: small functions, so that a protocol API can replace them ---------------------------
def _stimulate(sched, p, members, k, at, rng) -> None:
    """One stimulus spike for every neuron of assembly ``k`` around ``at`` (ms)."""
    sched.spikes(members[k], at + rng.normal(0.0, p.jitter, p.assembly_size))


def _plan(p: SequenceParams, interval: float, rng):
    """Stimulus spikes for the whole experiment and the (kind, cue times, end) of every block."""
    n = p.n_assemblies * p.assembly_size
    sched = SpikeSchedule(n, rng, p.dt)
    members = np.arange(n).reshape(p.n_assemblies, p.assembly_size)
    span = p.n_assemblies * interval + p.gap
    t = 10.0
    blocks = []

    def test_block():
        nonlocal t
        cues = []
        for _ in range(p.n_cues):
            _stimulate(sched, p, members, 0, t, rng)
            cues.append(t)
            t += span
        return cues

    blocks.append(("test", test_block(), t))
    for _ in range(p.n_epochs):
        t0 = t
        for k in range(p.n_assemblies):
            _stimulate(sched, p, members, k, t + k * interval, rng)
        t += span
        blocks.append(("train", [t0], t))
        blocks.append(("test", test_block(), t))
    return sched.times(), blocks, members


def recall_score(p: SequenceParams, interval: float, times, idx, cue_times, members) -> float:
    """Fraction of transitions of ``members`` (assemblies in the order to score) replayed with a
    lag within ``tolerance * interval + slack`` of ``interval`` (mean over the cues)."""
    order = np.argsort(times, kind="stable")
    times, idx = times[order], idx[order]
    span = len(members) * interval * (1 + p.tolerance) + p.slack + p.burst
    lo_ok = interval * (1 - p.tolerance) - p.slack
    hi_ok = interval * (1 + p.tolerance) + p.slack
    scores = []
    for c in cue_times:
        lo = np.searchsorted(times, c - 3 * p.jitter - p.dt)
        hi = np.searchsorted(times, c + span)
        t, i = times[lo:hi], idx[lo:hi]
        T = [_activation(t, i, m, p.burst) for m in members]
        ok = [T[k] is not None and T[k + 1] is not None and lo_ok <= T[k + 1] - T[k] <= hi_ok
              for k in range(len(members) - 1)]
        scores.append(float(np.mean(ok)))
    return float(np.mean(scores))


def _activation(times, idx, members, burst):
    """Median first-spike time of the earliest burst of ``members`` (None without one)."""
    sel = np.isin(idx, members)
    t, i = times[sel], idx[sel]
    need = (members.size + 1) // 2
    for a in range(t.size):
        b = np.searchsorted(t, t[a] + burst, "right")
        who, first = np.unique(i[a:b], return_index=True)
        if who.size >= need:
            return float(np.median(t[a:b][first]))
    return None


def shuffled_recall(p, interval, times, idx, cue_times, members, rng) -> float:
    """Mean recall of the same spikes scored against ``n_shuffles`` random assembly orders that
    start with the cued assembly and differ from the trained order."""
    out = []
    while len(out) < p.n_shuffles:
        perm = np.concatenate(([0], 1 + rng.permutation(p.n_assemblies - 1)))
        if p.n_assemblies > 2 and (perm == np.arange(p.n_assemblies)).all():
            continue
        out.append(recall_score(p, interval, times, idx, cue_times, members[perm]))
    return float(np.mean(out))


def build(p: SequenceParams, seed: int, device: str, stim_times):
    n = len(stim_times)
    net = Network(dt=p.dt, device=device, seed=seed)
    stim = net.add_population(n, SpikeSource(stim_times), name="stimulus")
    rec = net.add_population(n, LIF(tau_m=p.tau_m, v_rest=p.v_rest, v_reset=p.v_rest,
                                    v_thresh=p.v_thresh, tau_refrac=p.tau_refrac,
                                    synapse="delta"), name="recurrent")
    net.connect(stim, rec, OneToOne(), weight=p.w_stim, delay=p.dt, name="stimulus")
    rule = STDP(A_plus=p.A_plus, A_minus=p.A_minus, tau_plus=p.tau_plus, tau_minus=p.tau_minus,
                w_min=0.0, w_max=p.w_max)
    plastic = net.connect(rec, rec, AllToAll(allow_self=False), weight=Uniform(0.0, p.w_init),
                          delay=Uniform(p.delay_min, p.delay_max), plasticity=rule,
                          name="recurrent")
    if p.w_total > 0:
        net.add_homeostasis(rec, SynapticScaling(target_total=p.w_total, interval=100.0,
                                                 projections=[plastic]))
    if p.w_global:
        net.connect(rec, rec, AllToAll(allow_self=False), weight=p.w_global, delay=p.dt,
                    receptor="inhibitory", name="feedback inhibition")
    if p.noise_rate > 0:
        net.add_poisson_input(rec, rate=p.noise_rate, weight=p.v_thresh - p.v_rest + 1.0)
    return net, net.record_spikes(rec)


def _one_interval(p, interval, seed, device, learn: bool, progress=None):
    rng = np.random.default_rng(seed)
    stim_times, blocks, members = _plan(p, interval, rng)
    net, mon = build(p, seed, device, stim_times)
    curve, walls, w0 = [], [], time.perf_counter()
    last_cues = None
    for kind, starts, t_end in blocks:
        net.set_learning(learn and kind == "train")
        net.run(round(t_end - net.t, 6))
        if kind == "test":
            curve.append(recall_score(p, interval, mon.times, mon.indices, starts, members))
            walls.append(time.perf_counter() - w0)
            last_cues = starts
            if progress is not None:
                progress(len(curve) - 1, curve[-1])
    shuffled = shuffled_recall(p, interval, mon.times, mon.indices, last_cues, members,
                               np.random.default_rng(seed + 1))
    return curve, shuffled, walls, net


def sequence_learning(seed: int = 0, device: str = "cpu", params: SequenceParams | None = None,
                      quick: bool = False, progress=None) -> SequenceResult:
    """Train fresh networks on the ordered sequence at every interval and score replay against
    shuffled orders and a network without plasticity (see the module docstring).

    ``quick``: a smoke run for ``neurosim bench --quick`` — intervals 20 and 40 ms, one cue per
    test, 5 shuffled orders (when ``params`` is not given; replay appears only after 5-7 epochs,
    so the epochs stay).
    """
    check_task_args("sequence_learning()", seed, device, params, SequenceParams, quick, progress)
    p = params or (SequenceParams(intervals=(20.0, 40.0), n_cues=1, n_shuffles=5) if quick
                   else SequenceParams())
    wall0 = time.perf_counter()
    per, sim, walls, backend = [], 0.0, np.zeros(p.n_epochs + 1), None
    for interval in p.intervals:
        curve, shuffled, w, net = _one_interval(p, float(interval), seed, device, True, progress)
        backend, sim = net.backend, sim + net.t * 1e-3
        walls += np.asarray(w)
        rec = {"interval_ms": float(interval), "recall_before": curve[0], "curve": curve[1:],
               "recall_after": curve[-1], "shuffled_recall": shuffled, "control_recall": None}
        if p.control:
            c_curve, _, _, c_net = _one_interval(p, float(interval), seed, device, False)
            rec["control_recall"] = c_curve[-1]
            sim += c_net.t * 1e-3
        per.append(rec)
    wall = time.perf_counter() - wall0
    mean = lambda key: float(np.mean([r[key] for r in per]))            # noqa: E731
    curve = np.mean([r["curve"] for r in per], axis=0).tolist()
    e90 = next((e + 1 for e, r in enumerate(curve) if r >= 0.9), None)
    control = mean("control_recall") if p.control else None
    return SequenceResult("sequence_learning", seed, device, backend, mean("recall_before"),
                          curve[-1], curve, e90, mean("shuffled_recall"), control, per,
                          np.diff(walls, prepend=0.0).tolist()[1:], wall, sim,
                          _plain_params(p))


def _plain_params(p) -> dict:
    d = asdict(p)
    d["intervals"] = [float(x) for x in p.intervals]
    return d
