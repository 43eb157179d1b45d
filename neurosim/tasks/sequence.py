"""Task 2 — sequence learning over a range of intervals with drawn delays (``sequence_learning``).

Network (:class:`SequenceParams`): ``n_assemblies`` assemblies of ``assembly_size`` LIF neurons
(delta synapses, mV). Every neuron receives ``k_rec`` recurrent synapses from the other neurons,
drawn at random with repetition (about ``k_rec / n`` synapses per ordered pair of neurons: 5 by
default), each with its own conduction delay *drawn* uniformly in ``[delay_min, delay_max]``
(4-70 ms) — never set to the interval: a pair of neurons is joined by several delay lines.
Weak background Poisson input (``noise_rate``; each such spike makes its neuron fire), static
all-to-all feedback inhibition (``w_global`` mV per spike), and a stimulus spike source per
neuron (one-to-one, ``w_stim`` mV, enough to make it fire).

Mechanism — STDP selects the delay lines that fit the interval:

- *the rule* (:data:`DELAY_SELECTION`, a :class:`neurosim.PlasticityModel` description): pair
  STDP (all-to-all pairing, additive, hard bounds ``[0, w_max]``) with a narrow potentiation
  window ``tau_plus`` and a constant depression ``c_pre`` at every presynaptic arrival::

      arrival at t_pre:     w <- w - A_minus y - c_pre      (y: postsynaptic trace, tau_minus)
      postsynaptic spike:   w <- w + A_plus x               (x: presynaptic trace, tau_plus)

  A synapse whose spike arrives ``Delta`` ms before its target fires gains ``A_plus
  exp(-Delta / tau_plus) - c_pre`` per presentation: only arrivals within ``tau_plus
  ln(A_plus / c_pre)`` ms (4.8 ms by default) before the target's spike grow; every earlier and
  every later one shrinks. Of the delay lines from assembly k to k+1 (and to k+2... where the
  delays reach), STDP keeps those whose delay lies just below the interval (times the lag) and
  prunes all others, backward and within-assembly ones included; the conduction delays, not
  the membrane, carry the interval, as in Izhikevich's polychronous groups (2006). Plain pair
  STDP lacks the constant term: every arrival before the target's spike, however early, then
  grows a little per presentation, and after some epochs the early lines make the next
  assembly fire too early (the cause of the earlier version's recall falling from epoch to
  epoch, and staying weak at 60 ms);
- *encoding without retrieval*: during a training presentation a hyperpolarising current
  (``train_bias`` mV, through ``net.set_current``) keeps the recurrent input alone below
  threshold, so every assembly fires when its stimulus says, not when the learned lines
  predict it; otherwise each epoch would learn the network's own slightly early replay and the
  selected delays would drift shorter (the latency reduction of STDP, Song et al. 2000). This
  is the separation of encoding and retrieval that acetylcholine is thought to provide
  (Hasselmo 1999). STDP and the current stop once the presentation's last spikes have arrived;
- *a bound on each neuron's input*: every ``scale_every`` ms of training a neuron whose
  recurrent weights sum to more than ``w_total`` mV has them scaled down to it (a
  ``run(every=, callback=)`` callback), so a neuron's learned input stays below what the bias
  holds back, and does not grow with the number of earlier assemblies whose delays reach it
  (at 10 ms, five; at 60 ms, one).

No parameter depends on the interval: the same network learns 10 ms and 60 ms, in one epoch,
and keeps it.

Protocol (the stimulus API: nothing is generated in advance): the stimulus is a
:class:`~neurosim.models.SpikeSource` without spikes; every trial appends its spikes with
``net.set_spike_times(stimulus, ..., append=True)``, runs ``n_assemblies * interval + gap`` ms,
and clears the STDP traces (``net.reset_traces()``). A training trial stimulates the
assemblies in order, A at ``t``, B at ``t + interval``, ... (each neuron jittered by ``jitter``
ms) with learning on and the bias from ``bias_lead`` ms before; a test trial (learning off, no
bias) stimulates only assembly A (a cue).

Test, before training and after every epoch (one training trial): ``n_cues`` cues. An
assembly's activation time is the median first spike of its neurons in its earliest burst (at
least half of it firing within ``burst`` ms). Transition k -> k+1 is replayed if both are
activated and the lag ``T_{k+1} - T_k`` lies within ``tolerance * interval + slack`` ms of the
interval. ``recall`` is the fraction of replayed transitions (mean over cues).

Controls, from the same spikes and from a second network: *shuffled order* — the recall of the
same test spikes scored against ``n_shuffles`` random orders of the assemblies (other than the
trained one), which a network that fires everything, or in a fixed order of its own, also
scores; *no plasticity* — the same network, seed and protocol (stimuli and bias) with
learning off throughout.

The record's ``curve``, ``recall_before``, ``recall_after``, ``shuffled_recall`` and
``control_recall`` are means over the intervals; ``per_interval`` keeps each interval's values
(with ``shuffled_curve``, the shuffled-order control after every epoch); ``epoch_wall_s`` is
the wall time of each epoch (training and test, summed over the intervals, without the
control).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .. import _validate as V
from ..connectivity import AllToAll, FixedIndegree, OneToOne
from ..distributions import Uniform
from ..models import LIF, SpikeSource
from ..network import Network
from ..plasticity import PlasticityModel
from .common import ResultMixin, check_task_args

#: Pair STDP with a constant depression at every presynaptic arrival: the delay-selection rule
#: (see the module docstring).
DELAY_SELECTION = PlasticityModel(
    "delay_selection_stdp",
    parameters={"A_plus": 5.0, "A_minus": 5.0, "tau_plus": 4.0, "tau_minus": 20.0,
                "c_pre": 1.5},
    pre_traces={"x": "tau_plus"}, post_traces={"y": "tau_minus"},
    on_pre="w -= A_minus * y + c_pre",
    on_post="w += A_plus * x",
    non_negative=("A_plus", "A_minus", "c_pre"), pairings=("all",),
    doc="pair STDP with a constant presynaptic depression (delay selection)")


@dataclass(frozen=True)
class SequenceParams:
    n_assemblies: int = 6
    assembly_size: int = 20
    intervals: tuple = (10.0, 20.0, 40.0, 60.0)   # ms between assemblies during training
    delay_min: float = 4.0         # ms, recurrent delays ~ Uniform(delay_min, delay_max)
    delay_max: float = 70.0
    k_rec: int = 600               # recurrent synapses per neuron (several per pair of neurons)
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
    w_stim: float = 50.0
    cm: float = 250.0              # pF (the bias current's scale only)
    train_bias: float = -25.0      # mV, steady shift of v during training trials (a current)
    bias_lead: float = 60.0        # ms the bias acts before a training trial's first stimulus
    # plasticity (DELAY_SELECTION)
    w_init: float = 0.05           # initial recurrent weights ~ Uniform(0, w_init) mV
    w_global: float = -0.3         # mV, static all-to-all feedback inhibition (delay dt)
    w_max: float = 6.0
    A_plus: float = 5.0
    A_minus: float = 5.0
    tau_plus: float = 4.0
    tau_minus: float = 20.0
    c_pre: float = 1.5             # mV per arrival: arrivals > tau_plus ln(A_plus/c_pre) early shrink
    w_total: float = 32.0          # mV: if > 0, a neuron's recurrent weights summing to more
                                   # are scaled down to it every ``scale_every`` ms of training
    scale_every: float = 100.0
    dt: float = 0.5

    def __post_init__(self):
        self.check()

    def check(self, where: str = "SequenceParams") -> None:
        V.integer(where, "n_assemblies", self.n_assemblies, minimum=2)
        for name in ("assembly_size", "n_epochs", "n_cues", "n_shuffles", "k_rec"):
            V.integer(where, name, getattr(self, name), minimum=1)
        if not isinstance(self.intervals, (tuple, list)) or not self.intervals:
            raise ValueError(f"{where}: intervals must be a non-empty tuple of intervals (ms), "
                             f"got {V.show(self.intervals)}")
        for x in self.intervals:
            V.positive(where, "intervals", x)
        for name in ("delay_min", "delay_max", "burst", "gap", "tau_m", "w_stim", "w_max",
                     "tau_plus", "tau_minus", "dt", "scale_every", "cm"):
            V.positive(where, name, getattr(self, name))
        for name in ("jitter", "tolerance", "slack", "noise_rate", "tau_refrac", "w_init",
                     "A_plus", "A_minus", "c_pre", "w_total", "bias_lead"):
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
        if self.train_bias > 0:
            raise ValueError(f"{where}: train_bias must be <= 0 (mV, a hyperpolarisation), got "
                             f"{self.train_bias}")
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


def build(p: SequenceParams, seed: int, device: str):
    """The network (module docstring) with a stimulus source that has no spikes yet; returns
    ``(net, stimulus population, recurrent population, plastic projection, spike monitor)``."""
    n = p.n_assemblies * p.assembly_size
    net = Network(dt=p.dt, device=device, seed=seed)
    stim = net.add_population(n, SpikeSource([()] * n), name="stimulus")
    rec = net.add_population(n, LIF(tau_m=p.tau_m, cm=p.cm, v_rest=p.v_rest, v_reset=p.v_rest,
                                    v_thresh=p.v_thresh, tau_refrac=p.tau_refrac,
                                    synapse="delta"), name="recurrent")
    net.connect(stim, rec, OneToOne(), weight=p.w_stim, delay=p.dt, name="stimulus")
    rule = DELAY_SELECTION(A_plus=p.A_plus, A_minus=p.A_minus, tau_plus=p.tau_plus,
                           tau_minus=p.tau_minus, c_pre=p.c_pre, w_min=0.0, w_max=p.w_max)
    plastic = net.connect(rec, rec, FixedIndegree(p.k_rec, allow_self=False, multapses=True),
                          weight=Uniform(0.0, p.w_init), delay=Uniform(p.delay_min, p.delay_max),
                          plasticity=rule, name="recurrent")
    if p.w_global:
        net.connect(rec, rec, AllToAll(allow_self=False), weight=p.w_global, delay=p.dt,
                    receptor="inhibitory", name="feedback inhibition")
    if p.noise_rate > 0:
        net.add_poisson_input(rec, rate=p.noise_rate, weight=p.v_thresh - p.v_rest + 1.0)
    return net, stim, rec, plastic, net.record_spikes(rec)


def _trial(net, stim, rec, plastic, p, members, assemblies, interval, rng, train: bool,
           learn: bool) -> float:
    """One trial: stimulate ``assemblies`` in order, ``interval`` ms apart (spikes appended to
    the stimulus source's), run it and clear the traces; returns the time of the first
    stimulus. A training trial (``train``) has the ``train_bias`` current from ``bias_lead`` ms
    before its first stimulus, and learning (if ``learn``: STDP and the bound on the input
    totals), both until the last stimulus's spikes have all arrived; the rest of the gap is
    neither biased nor learned, so that the next trial starts at rest."""
    lead = p.bias_lead if train and p.train_bias else 5.0
    if train and p.train_bias:
        net.set_current(rec, p.train_bias * p.cm / p.tau_m)      # pA: shift by train_bias mV
    t0 = net.t + lead
    times = [[] for _ in range(members.size)]
    for j, k in enumerate(assemblies):
        at = t0 + j * interval + rng.normal(0.0, p.jitter, p.assembly_size)
        for i, t in zip(members[k], np.maximum(at, net.t + p.dt)):
            times[i].append(t)
    net.set_spike_times(stim, [sorted(t) for t in times], append=True)
    total = lead - 5.0 + p.n_assemblies * interval + p.gap
    if train:
        first = min(total, lead + (p.n_assemblies - 1) * interval + p.delay_max + 5.0)
        net.set_learning(learn)
        if learn and p.w_total > 0:
            net.run(round(first, 6), every=p.scale_every,
                    callback=lambda t: _cap_totals(plastic, p.w_total))
        else:
            net.run(round(first, 6))
        net.set_current(rec, 0.0)
        total -= first
    net.set_learning(False)
    net.run(round(total, 6))
    net.reset_traces()
    return t0


def _cap_totals(plastic, w_total: float) -> None:
    """Divisive normalisation, downward only: every neuron whose recurrent weights sum to more
    than ``w_total`` has them scaled to that sum."""
    w, post = plastic.weights, plastic.targets
    total = np.bincount(post, w, minlength=plastic.post.size)
    factor = np.minimum(1.0, w_total / np.maximum(total, 1e-30))
    if (factor < 1.0).any():
        plastic.weights = w * factor[post]


def _one_interval(p, interval, seed, device, learn: bool, progress=None):
    """Train and test one network at ``interval``: recall and shuffled recall after every epoch
    (index 0: before training), the wall time at every test and the network."""
    rng = np.random.default_rng(seed)
    net, stim, rec, plastic, mon = build(p, seed, device)
    members = np.arange(p.n_assemblies * p.assembly_size).reshape(p.n_assemblies, -1)
    order = list(range(p.n_assemblies))
    curve, shuffled, walls, w0 = [], [], [], time.perf_counter()
    for epoch in range(p.n_epochs + 1):
        if epoch:
            _trial(net, stim, rec, plastic, p, members, order, interval, rng, True, learn)
        cues = [_trial(net, stim, rec, plastic, p, members, [0], interval, rng, False, False)
                for _ in range(p.n_cues)]
        curve.append(recall_score(p, interval, mon.times, mon.indices, cues, members))
        shuffled.append(shuffled_recall(p, interval, mon.times, mon.indices, cues, members,
                                        np.random.default_rng(seed + 1)))
        walls.append(time.perf_counter() - w0)
        if progress is not None:
            progress(epoch, curve[-1])
    return curve, shuffled, walls, net


def sequence_learning(seed: int = 0, device: str = "cpu", params: SequenceParams | None = None,
                      quick: bool = False, progress=None) -> SequenceResult:
    """Train fresh networks on the ordered sequence at every interval and score replay against
    shuffled orders and a network without plasticity (see the module docstring).

    ``quick``: a smoke run for ``neurosim bench --quick`` — intervals 20 and 40 ms, 3 epochs,
    one cue per test, 5 shuffled orders (when ``params`` is not given).
    """
    check_task_args("sequence_learning()", seed, device, params, SequenceParams, quick, progress)
    p = params or (SequenceParams(intervals=(20.0, 40.0), n_epochs=3, n_cues=1,
                                    n_shuffles=5) if quick
                   else SequenceParams())
    wall0 = time.perf_counter()
    per, sim, walls, backend = [], 0.0, np.zeros(p.n_epochs + 1), None
    for interval in p.intervals:
        curve, shuffled, w, net = _one_interval(p, float(interval), seed, device, True, progress)
        backend, sim = net.backend, sim + net.t * 1e-3
        walls += np.asarray(w)
        rec = {"interval_ms": float(interval), "recall_before": curve[0], "curve": curve[1:],
               "recall_after": curve[-1], "shuffled_curve": shuffled[1:],
               "shuffled_recall": shuffled[-1], "control_recall": None}
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
                          np.diff(walls).tolist(), wall, sim, _plain_params(p))


def _plain_params(p) -> dict:
    d = asdict(p)
    d["intervals"] = [float(x) for x in p.intervals]
    return d
