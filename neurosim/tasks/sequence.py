"""Task 2 — sequence learning and replay in a recurrent network (``sequence_learning``).

Network (:class:`SequenceParams`): ``n_assemblies`` assemblies of ``assembly_size`` LIF neurons
(delta synapses, mV), recurrently connected all-to-all (no self-connections) through plastic
synapses (pair STDP, all-to-all pairing, additive, hard bounds ``[0, w_max]``) with a conduction
delay ``delay`` slightly shorter than the interval ``interval`` between the assemblies during
training, plus weak background Poisson input (``noise_rate``). Each neuron also has a stimulus
spike source (one-to-one, strong enough to make it fire).

Training: an epoch stimulates the assemblies once in order, A at ``t``, B at ``t + interval``,
... (each neuron's stimulus jittered by ``jitter`` ms). STDP potentiates A -> B (the arrival of
A's spikes precedes B's spikes by ``interval - delay``), depresses B -> A and the connections
within an assembly (their spikes arrive after the postsynaptic spikes), and potentiates
A -> C much less (``exp(-interval/tau_plus)`` of A -> B).

Test (learning frozen): ``n_cues`` times, only assembly A is stimulated. An assembly is *active*
if at least half of its neurons fire within the trial; its activation time is the median of
their first spikes. Transition k -> k+1 is replayed correctly if both are active and
``0 < T_{k+1} - T_k <= window``. The recall score is the fraction of correct transitions,
averaged over the cues; it is measured before training (``recall_before``), after every epoch
(``curve``) and after the last (``recall_after``). ``epochs_to_90`` is the first epoch
whose recall is at least 0.9 (None if none).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ..connectivity import AllToAll, OneToOne
from ..distributions import Uniform
from ..models import LIF, SpikeSource
from ..network import Network
from ..plasticity import STDP
from .common import ResultMixin, SpikeSchedule, check_task_args


@dataclass(frozen=True)
class SequenceParams:
    n_assemblies: int = 8
    assembly_size: int = 20
    interval: float = 25.0         # ms between assemblies during training
    delay: float = 23.0            # ms, recurrent conduction delay
    jitter: float = 1.0            # ms, std of the stimulus times
    n_epochs: int = 10
    n_cues: int = 3                # test trials per evaluation
    window: float = 37.5           # ms, the largest accepted lag of a transition at recall
    burst: float = 10.0            # ms, the window in which half an assembly must fire
    gap: float = 250.0             # ms of quiet after a training presentation or a cue
    noise_rate: float = 2.0        # Hz, background input spikes per neuron
    # neurons (LIF, delta synapses, mV)
    tau_m: float = 20.0
    v_rest: float = -65.0
    v_thresh: float = -50.0
    tau_refrac: float = 20.0       # longer than the drift of replay against the stimuli
    w_stim: float = 30.0
    # plasticity
    w_init: float = 0.1            # initial recurrent weights ~ Uniform(0, w_init) mV
    w_global: float = -0.3         # mV, static recurrent inhibition with the same delay
    w_max: float = 2.0
    A_plus: float = 0.5
    A_minus: float = 0.5
    tau_plus: float = 10.0
    tau_minus: float = 10.0
    dt: float = 0.1


@dataclass
class SequenceResult(ResultMixin):
    task: str
    seed: int
    device: str
    backend: str
    recall_before: float
    recall_after: float
    curve: list                    # recall after each epoch
    epochs_to_90: int | None
    wall_s: float
    simulated_s: float
    params: dict = field(default_factory=dict)


def _plan(p: SequenceParams, rng):
    """Stimulus spikes for the whole experiment and the (kind, start) of every block."""
    n = p.n_assemblies * p.assembly_size
    sched = SpikeSchedule(n, rng, p.dt)
    members = np.arange(n).reshape(p.n_assemblies, p.assembly_size)
    t = 10.0
    blocks = []

    def stimulate(k, at):
        sched.spikes(members[k], at + rng.normal(0.0, p.jitter, p.assembly_size))

    def test_block():
        nonlocal t
        cues = []
        for _ in range(p.n_cues):
            stimulate(0, t)
            cues.append(t)
            t += p.n_assemblies * p.interval + p.gap
        return cues

    blocks.append(("test", test_block(), t))
    for _ in range(p.n_epochs):
        t0 = t
        for k in range(p.n_assemblies):
            stimulate(k, t + k * p.interval)
        t += p.n_assemblies * p.interval + p.gap
        blocks.append(("train", [t0], t))
        blocks.append(("test", test_block(), t))
    return sched.times(), blocks, members


def recall_score(p: SequenceParams, times, idx, cue_times, members) -> float:
    """Fraction of transitions replayed in order within ``window`` (mean over the cues).

    An assembly's activation time is the median first spike of its neurons in its earliest
    burst: the first window of ``burst`` ms in which at least half of its neurons fire
    (searched from the cue to the end of the trial). Transition k -> k+1 is correct if both
    assemblies are activated and ``0 < T_{k+1} - T_k <= window``; a network that fires all at
    once or out of order scores 0 for those transitions.
    """
    order = np.argsort(times, kind="stable")
    times, idx = times[order], idx[order]
    span = p.n_assemblies * p.window + p.burst
    scores = []
    for c in cue_times:
        lo, hi = np.searchsorted(times, c - 3 * p.jitter - p.dt), np.searchsorted(times, c + span)
        t, i = times[lo:hi], idx[lo:hi]
        T = [_activation(t, i, m, p.burst) for m in members]
        ok = [T[k] is not None and T[k + 1] is not None and 0 < T[k + 1] - T[k] <= p.window
              for k in range(p.n_assemblies - 1)]
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


def sequence_learning(seed: int = 0, device: str = "cpu", params: SequenceParams | None = None,
                      quick: bool = False, progress=None) -> SequenceResult:
    """Train the recurrent network on the ordered sequence and score replay (module docstring).

    ``quick``: the default parameters at ``dt = 0.5`` ms (when ``params`` is not given).
    """
    check_task_args("sequence_learning()", seed, device, params, SequenceParams, quick, progress)
    p = params or (SequenceParams(dt=0.5) if quick else SequenceParams())
    rng = np.random.default_rng(seed)
    stim_times, blocks, members = _plan(p, rng)
    n = members.size
    net = Network(dt=p.dt, device=device, seed=seed)
    stim = net.add_population(n, SpikeSource(stim_times), name="stimulus")
    rec = net.add_population(n, LIF(tau_m=p.tau_m, v_rest=p.v_rest, v_reset=p.v_rest,
                                    v_thresh=p.v_thresh, tau_refrac=p.tau_refrac,
                                    synapse="delta"), name="recurrent")
    net.connect(stim, rec, OneToOne(), weight=p.w_stim, delay=p.dt, name="stimulus")
    rule = STDP(A_plus=p.A_plus, A_minus=p.A_minus, tau_plus=p.tau_plus, tau_minus=p.tau_minus,
                w_min=0.0, w_max=p.w_max)
    net.connect(rec, rec, AllToAll(allow_self=False), weight=Uniform(0.0, p.w_init),
                delay=p.delay, plasticity=rule, name="recurrent")
    if p.w_global:
        net.connect(rec, rec, AllToAll(allow_self=False), weight=p.w_global, delay=p.delay,
                    receptor="inhibitory", name="global inhibition")
    if p.noise_rate > 0:
        net.add_poisson_input(rec, rate=p.noise_rate, weight=p.v_thresh - p.v_rest + 1.0)
    mon = net.record_spikes(rec)
    wall0 = time.perf_counter()
    curve = []
    for kind, starts, t_end in blocks:
        net.set_learning(kind == "train")
        net.run(round(t_end - net.t, 6))
        if kind == "test":
            curve.append(recall_score(p, mon.times, mon.indices, starts, members))
            if progress is not None:
                progress(len(curve) - 1, curve[-1])
    wall = time.perf_counter() - wall0
    after = curve[1:]
    e90 = next((e + 1 for e, r in enumerate(after) if r >= 0.9), None)
    return SequenceResult("sequence_learning", seed, device, net.backend, curve[0],
                          after[-1] if after else curve[0], after, e90, wall, net.t * 1e-3,
                          asdict(p))
