"""Task 1 — unsupervised learning of handwritten digits (``pattern_learning``).

A Diehl & Cook (2015)-style network built with the public API, trained without labels on the
handwritten digits shipped with neurosim (:mod:`neurosim.tasks.digits`: 8 x 8 images, 1,797 of
them, UCI, CC BY 4.0). All numbers are in :class:`PatternParams`.

Network: 64 Poisson sources (:class:`neurosim.PoissonSource`, one per pixel) project
all-to-all onto ``n_neurons`` conductance-based LIF neurons (:class:`neurosim.LIFCond`, weights
in nS, delay ``dt``) through plastic synapses: pair STDP with all-to-all pairing and soft bounds
(``update="multiplicative"``: potentiation ``A_plus (w_max - w) / w_max x_pre`` at a
postsynaptic spike, depression ``A_minus w / w_max y_post`` at an arrival).
Competition: every neuron inhibits every other (``w_inh`` nS onto the inhibitory conductance,
``tau_syn_I``, reversal ``e_rev_I``, delay ``dt``: the net effect of Diehl & Cook's 1:1
excitatory -> inhibitory and inhibitory -> all-other-excitatory pathway, without the
inhibitory neurons' own dynamics), an adaptive threshold (:class:`neurosim.AdaptiveThreshold`,
``theta_plus`` mV per spike, decay ``tau_theta``; optionally a per-neuron initial value drawn
from ``Uniform(0, theta_init_max)``) keeps any neuron from winning every image, and the total
input weight of every neuron is scaled back to ``w_total`` after every presentation
(:class:`neurosim.SynapticScaling`, Diehl & Cook's weight normalisation). The inhibition is a
conductance, as in Diehl & Cook: with delta synapses (a fixed jump in mV) the winner's spikes
pushed the other neurons so far below rest that the previous image's winner also won the next
image.

What is Diehl & Cook's and what differs. Theirs: Poisson pixels, conductance-based excitatory
neurons (rest and reset -65 mV, 5 ms refractory, 1 ms / 2 ms synaptic time constants),
all-to-all plastic input weights normalised to a fixed total, inhibition of every other
excitatory neuron, an adaptive threshold that grows per spike, re-presentation of silent images
brighter, label assignment on training images. Different here, each measured against the
alternative on 300-1,000 training images (``reports/pattern-learning.md``):

- no inhibitory population: Diehl & Cook's 1:1 excitatory -> inhibitory neurons (own 10 ms
  membrane, reset above rest) that inhibit all other excitatory neurons are replaced by direct
  inhibition; with the population the inhibition arrives a step later and the inhibitory
  neurons fire again after their reset: 16-26 neurons fired per training image instead of 3-8,
  with lower accuracy (0.18-0.44);
- the threshold: theirs is -52 mV plus ``theta``, which grows through 60,000 presentations x 3
  (``theta_plus`` 0.05 mV, ``tau_theta`` 10^7 ms: hardly any decay); with the ~2,000
  presentations here, ``v_thresh`` is -40 mV from the start and ``theta`` (0.2 mV per spike,
  decaying with 10^5 ms, so that it stays bounded however long the training) spreads the wins.
  A high threshold makes a neuron fire only for images close to its weights; the closed loop
  below then raises the brightness until the best-matching neurons fire;
- ``dt`` = 0.25 ms (theirs 0.5 ms): fewer neurons cross threshold in the same step, before the
  inhibition (delay ``dt``) reaches them;
- pair STDP with multiplicative soft bounds (``A_minus`` << ``A_plus``, as their
  nu_pre << nu_post) instead of their trace rule with a target offset (which learned worse
  here), ``tau_m`` 20 ms instead of 100 ms, a state reset instead of 150 ms of rest, pixel 16 at
  ``rate_max`` = 96 Hz (theirs: pixel 255 at 63.75 Hz, on 784 pixels instead of 64);
- training images are shown for ``t_present`` = 100 ms, labelling and test images for
  ``t_eval`` = 250 ms (theirs: 350 ms for both): 2.5 times the spikes to count, so sqrt(2.5)
  less relative Poisson noise in the counts read out;
- the readout is a proportional vote by default (``label_rule``, below), their rule on request;
  both are recorded.

Input, a closed loop on the stimulus API (:class:`Presenter`): an image is shown by
``net.set_rates`` for ``t_present`` ms, pixel ``p`` at ``p / 16 * rate_max`` Hz, then
``t_rest`` ms of silence (the last input spikes arrive); then the membranes and conductances
are set back to rest (``net.set_state``) and the STDP traces to zero (``net.reset_traces``), so
no image leaks into the next (Diehl & Cook let them relax for 150 ms instead). With fewer than
``min_spikes`` output spikes the image is shown again, ``1 + boost``, ``1 + 2 boost``... times
brighter (at most ``max_boosts`` times; Diehl & Cook add 32 Hz per retry). The network is built
once; nothing is generated in advance.

Data: a seeded split (``seed``) of ``n_train`` training and ``n_test`` test images. An epoch
presents the training images once in a fresh order with learning on. Then, learning frozen
(``net.set_learning(False)``: weights and thresholds), the first ``n_label`` training images
and every test image are shown again (``t_eval`` ms each) and the spike counts read out with
``label_rule``: ``"vote"`` (default) gives every neuron a class profile, its mean count per
image of each class over the labelling images divided by its sum over the classes, and a test
image goes to the class with the largest sum of count x profile (the "proportion weighting"
readout of BindsNET's Diehl & Cook network); ``"max"`` is Diehl & Cook's rule, every neuron
labelled with the class it fired most for and the class whose labelled neurons fired most on
average wins. An image without output spikes (or without a vote) counts as wrong.
``accuracy_curve`` holds the test accuracy after each epoch with ``label_rule``; every seed's
record (``per_seed``) also holds both rules' curves and controls.

Control: the same network, seed and images with learning off throughout (the initial random
weights and thresholds), labelled and tested the same way (``control_accuracy``). Baselines on
the same split (:mod:`neurosim.tasks.digits`): nearest class centroid and k-means with
``n_neurons`` clusters. Diehl & Cook report 82.9 % test accuracy with 100 excitatory neurons on
MNIST (Diehl P.U., Cook M. (2015) Unsupervised learning of digit recognition using
spike-timing-dependent plasticity. Front. Comput. Neurosci. 9:99,
doi:10.3389/fncom.2015.00099); the digits here are smaller (8 x 8, 0-16) and fewer.

``epochs_to_converge`` is the first epoch whose accuracy reaches ``threshold`` and stays there
in every later epoch of the run, at least one of them (None otherwise; the report reads it with
the curve).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .. import _validate as V
from ..connectivity import AllToAll
from ..distributions import Uniform
from ..models import LIFCond, PoissonSource
from ..network import Network
from ..plasticity import STDP, AdaptiveThreshold, SynapticScaling
from . import digits
from .common import ResultMixin, check_task_args

#: Diehl & Cook (2015), 100 excitatory neurons, MNIST test set (Table 1 of the paper).
PUBLISHED = {"accuracy": 0.829, "n_neurons": 100, "data": "MNIST (28 x 28, 60,000 training "
             "images)", "reference": "Diehl & Cook (2015), Front. Comput. Neurosci. 9:99"}


#: how test images are classified from the spike counts (see :func:`predict`)
LABEL_RULES = ("max", "vote")


@dataclass(frozen=True)
class PatternParams:
    n_neurons: int = 100
    n_train: int = 1000            # training images (a seeded split of the 1,797)
    n_test: int = 797              # held-out test images
    n_label: int = 1000            # training images shown again (learning off) to label neurons
    epochs: int = 2
    rate_max: float = 96.0         # Hz, the rate of a pixel of value 16
    input_total: float = 0.0       # Hz: if > 0, every image is scaled to this summed rate
    t_present: float = 100.0       # ms, training presentations
    t_eval: float = 250.0          # ms, presentations for labelling and testing
    t_rest: float = 5.0            # ms of silence after an image, then the state is reset
    min_spikes: int = 5            # fewer output spikes: the image is shown again, brighter
    boost: float = 0.5             # each showing again is (1 + k boost) times brighter
    max_boosts: int = 4            # at most this many showings again
    threshold: float = 0.8         # accuracy for ``epochs_to_converge``
    control: bool = True           # also run the network without plasticity
    seeds: int = 3                 # networks trained (seed, seed + 1, ...) for mean and sd
    # neurons (LIFCond: conductance-based, weights in nS)
    tau_m: float = 20.0
    cm: float = 200.0              # pF (leak conductance cm / tau_m = 10 nS)
    v_rest: float = -65.0
    v_thresh: float = -40.0        # mV: D&C's -52 mV plus the theta their training builds up
    tau_refrac: float = 5.0
    tau_syn_E: float = 1.0         # ms
    tau_syn_I: float = 2.0         # ms
    e_rev_E: float = 0.0           # mV
    e_rev_I: float = -85.0         # mV: bounds the hyperpolarisation by the lateral inhibition
    w_inh: float = 100.0           # lateral inhibition, nS (conductance)
    # plasticity
    w_max: float = 13.0            # nS
    w_total: float = 130.0         # total input conductance per neuron after normalisation (nS)
    A_plus: float = 0.33
    A_minus: float = 0.017
    tau_stdp: float = 20.0
    theta_plus: float = 0.2        # mV per spike
    theta_init_max: float = 0.0    # mV: initial theta per neuron drawn from Uniform(0, this)
    tau_theta: float = 1e5         # ms
    dt: float = 0.25               # ms: fewer neurons cross threshold in one step than at 0.5
    label_rule: str = "vote"       # "vote" (proportional vote) or "max" (Diehl & Cook's)

    def __post_init__(self):
        self.check()

    def check(self, where: str = "PatternParams") -> None:
        n_images = len(digits.load_digits()[0])
        for name in ("n_neurons", "n_train", "n_test", "n_label", "epochs", "seeds"):
            V.integer(where, name, getattr(self, name), minimum=1)
        for name in ("min_spikes", "max_boosts"):
            V.integer(where, name, getattr(self, name), minimum=0)
        if self.n_train + self.n_test > n_images:
            raise ValueError(f"{where}: n_train + n_test must be at most {n_images} (the images "
                             f"in the data set), got {self.n_train} + {self.n_test}")
        if self.n_label > self.n_train:
            raise ValueError(f"{where}: n_label must be at most n_train = {self.n_train}, got "
                             f"{self.n_label}")
        for name in ("rate_max", "t_present", "t_eval", "tau_m", "cm", "tau_syn_E", "tau_syn_I",
                     "w_max", "w_total", "tau_stdp", "tau_theta", "dt"):
            V.positive(where, name, getattr(self, name))
        for name in ("t_rest", "tau_refrac", "A_plus", "A_minus", "theta_plus", "input_total",
                     "w_inh", "boost", "theta_init_max"):
            V.non_negative(where, name, getattr(self, name))
        V.probability(where, "threshold", self.threshold)
        if not self.e_rev_I < self.v_rest < self.v_thresh < self.e_rev_E:
            raise ValueError(f"{where}: e_rev_I < v_rest < v_thresh < e_rev_E is needed, got "
                             f"{self.e_rev_I}, {self.v_rest}, {self.v_thresh}, {self.e_rev_E}")
        if not self.v_thresh > self.v_rest:
            raise ValueError(f"{where}: v_thresh must be above v_rest = {self.v_rest}, got "
                             f"{self.v_thresh}")
        V.boolean(where, "control", self.control)
        if self.label_rule not in LABEL_RULES:
            raise ValueError(f"{where}: label_rule must be one of {LABEL_RULES}, got "
                             f"{self.label_rule!r}")


@dataclass
class PatternResult(ResultMixin):
    task: str
    seed: int
    device: str
    backend: str
    accuracy_curve: list           # test accuracy after each epoch
    final_accuracy: float
    epochs_to_converge: int | None
    converged: bool
    threshold: float
    control_accuracy: float | None  # no plasticity (initial weights), same protocol
    baselines: dict                # non-spiking accuracies on the same split
    published: dict                # Diehl & Cook (2015)
    silent_test_fraction: float    # test images without any output spike (last epoch)
    epoch_wall_s: list             # wall time of each epoch (training, labelling, test), s
    wall_s: float                  # every seed, controls and baselines included
    simulated_s: float             # simulated time of the first seed's trained network
    showings: int                  # presentations of the first seed (re-showings included)
    final_accuracy_mean: float     # over the seeds
    final_accuracy_sd: float
    per_seed: list                 # per seed: curve, control, baselines, walls, showings
    params: dict = field(default_factory=dict)


# -- stimulus: small functions, so that a protocol API can replace them ---------------------------
def image_rates(p: PatternParams, image: np.ndarray) -> np.ndarray:
    """Poisson rate (Hz) of each of the 64 inputs for one image: pixel 16 -> ``rate_max``, or,
    with ``input_total > 0``, the image scaled so that its rates sum to ``input_total``."""
    r = np.asarray(image, float) / 16.0 * p.rate_max
    if p.input_total > 0 and r.sum() > 0:
        r *= p.input_total / r.sum()
    return r


def assign_labels(counts: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Class (0-9) each neuron fired most for, as mean count per image of the class (-1 if it
    never fired)."""
    resp = _class_means(counts, labels)
    return np.where(resp.sum(axis=0) > 0, resp.argmax(axis=0), -1)


def _class_means(counts: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(10, n_neurons)``: each neuron's mean count per image of each class (0 for a class
    without images)."""
    resp = np.zeros((digits.N_CLASSES, counts.shape[1]))
    for c in range(digits.N_CLASSES):
        sel = labels == c
        if sel.any():
            resp[c] = counts[sel].mean(axis=0)
    return resp


def classify(counts: np.ndarray, neuron_labels: np.ndarray) -> np.ndarray:
    """Per image: the class whose labelled neurons fired most on average (-1 without spikes)."""
    scores = np.full((counts.shape[0], digits.N_CLASSES), -1.0)
    for c in range(digits.N_CLASSES):
        members = neuron_labels == c
        if members.any():
            scores[:, c] = counts[:, members].mean(axis=1)
    out = scores.argmax(axis=1)
    out[counts.sum(axis=1) == 0] = -1
    return out


def class_profile(counts: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(10, n_neurons)``: each neuron's mean count per image of each class, divided by its
    sum over the classes (the share of its response that each class gets; 0 for a neuron that
    never fired)."""
    resp = _class_means(counts, labels)
    total = resp.sum(axis=0)
    return np.divide(resp, total, out=np.zeros_like(resp), where=total > 0)


def classify_vote(counts: np.ndarray, profile: np.ndarray) -> np.ndarray:
    """Per image: the class with the largest vote, every neuron voting with its spike count
    times its class profile (:func:`class_profile`); -1 without a vote (no spikes, or spikes
    only from neurons that never fired while labelling)."""
    votes = counts @ profile.T
    out = votes.argmax(axis=1)
    out[votes.max(axis=1) <= 0] = -1
    return out


def predict(rule: str, label_counts, label_classes, test_counts) -> np.ndarray:
    """Classes of the test images from the labelling counts with ``rule``: ``"max"`` (Diehl &
    Cook: every neuron labelled with its strongest class, the class whose neurons fired most
    on average wins) or ``"vote"`` (:func:`classify_vote`)."""
    if rule == "max":
        return classify(test_counts, assign_labels(label_counts, label_classes))
    return classify_vote(test_counts, class_profile(label_counts, label_classes))


# -- the network and its protocol -----------------------------------------------------------------
def build(p: PatternParams, seed: int, device: str):
    """The network: ``pixels`` (64 Poisson sources, silent until an image is shown),
    ``excitatory`` (LIFCond, adaptive thresholds, weight normalisation), plastic
    pixels->excitatory and the lateral inhibition. Returns ``(net, pixels, excitatory,
    feedforward projection, spike monitor of the excitatory layer)``."""
    net = Network(dt=p.dt, device=device, seed=seed)
    inp = net.add_population(64, PoissonSource(rate=0.0), name="pixels")
    exc = net.add_population(p.n_neurons, LIFCond(
        tau_m=p.tau_m, cm=p.cm, v_rest=p.v_rest, v_reset=p.v_rest, v_thresh=p.v_thresh,
        tau_refrac=p.tau_refrac, tau_syn_E=p.tau_syn_E, tau_syn_I=p.tau_syn_I,
        e_rev_E=p.e_rev_E, e_rev_I=p.e_rev_I), name="excitatory")
    stdp = STDP(A_plus=p.A_plus, A_minus=p.A_minus, tau_plus=p.tau_stdp, tau_minus=p.tau_stdp,
                w_min=0.0, w_max=p.w_max, update="multiplicative")
    mean_w = p.w_total / 64
    ff = net.connect(inp, exc, AllToAll(), weight=Uniform(0.0, min(2 * mean_w, p.w_max)),
                     delay=p.dt, plasticity=stdp, name="pixels->excitatory")
    if p.w_inh:
        net.connect(exc, exc, AllToAll(allow_self=False), weight=p.w_inh, delay=p.dt,
                    receptor="inhibitory", name="lateral inhibition")
    theta0 = 0.0
    if p.theta_init_max:
        theta0 = np.random.default_rng([seed, 1]).uniform(0.0, p.theta_init_max, p.n_neurons)
    net.add_homeostasis(exc, AdaptiveThreshold(theta_plus=p.theta_plus, tau_theta=p.tau_theta,
                                               theta_init=theta0))
    net.add_homeostasis(exc, SynapticScaling(target_total=p.w_total,
                                             interval=p.t_present + p.t_rest, projections=[ff]))
    mon = net.record_spikes(exc)
    return net, inp, exc, ff, mon


class Presenter:
    """Shows one image at a time to a network from :func:`build` (the closed loop of Diehl &
    Cook): rates on for ``t_present``, off for ``t_rest``; then membranes and conductances back
    to rest and the STDP traces to zero, so that no image leaks into the next. With fewer than
    ``min_spikes`` output spikes the image is shown again, ``boost`` times brighter each time
    (``1 + boost``, ``1 + 2 boost``...; at most ``max_boosts`` times). Returns the output spike
    counts of the last showing."""

    def __init__(self, p: PatternParams, net, inp, exc, mon):
        self.p, self.net, self.inp, self.exc, self.mon = p, net, inp, exc, mon
        self.showings = 0

    def present(self, image, duration: float | None = None) -> np.ndarray:
        p, net = self.p, self.net
        duration = p.t_present if duration is None else duration
        base = image_rates(p, image)
        for k in range(p.max_boosts + 1):
            n0 = self.mon.num_spikes
            net.set_rates(self.inp, base * (1.0 + k * p.boost))
            net.run(duration)
            net.set_rates(self.inp, 0.0)
            if p.t_rest:
                net.run(p.t_rest)
            self.showings += 1
            self._reset()
            counts = np.bincount(self.mon.indices[n0:], minlength=p.n_neurons)
            if counts.sum() >= p.min_spikes:
                break
        return counts

    def _reset(self) -> None:
        net, p = self.net, self.p
        net.set_state(self.exc, "v", p.v_rest)
        net.set_state(self.exc, "g_e", 0.0)
        net.set_state(self.exc, "g_i", 0.0)
        net.reset_traces()

    def counts(self, images, duration: float | None = None) -> np.ndarray:
        """Output spike counts per image (rows) and neuron (columns), every image shown for
        ``duration`` ms (default ``t_present``)."""
        return np.stack([self.present(x, duration) for x in images]) if len(images) else \
            np.zeros((0, self.p.n_neurons), np.int64)


def _run(p, seed, device, images, labels, train_idx, test_idx, learn: bool, progress=None):
    """One network: with ``learn``, ``p.epochs`` of training (the training images in a fresh
    order each epoch), labelling and testing; without, labelling and testing of the untrained
    network (the control). Returns (curve, epoch walls, silent test fraction, net, showings,
    test accuracy per epoch by label rule)."""
    rng = np.random.default_rng(seed)
    net, inp, exc, ff, mon = build(p, seed, device)
    show = Presenter(p, net, inp, exc, mon)
    lab_idx = train_idx[:p.n_label]
    curve, walls, silent = [], [], 0.0
    by_rule = {r: [] for r in LABEL_RULES}
    for e in range(p.epochs if learn else 1):
        w0 = time.perf_counter()
        if learn:
            net.set_learning(True)
            show.counts(images[rng.permutation(train_idx)])
        net.set_learning(False)
        lab = show.counts(images[lab_idx], p.t_eval)
        test = show.counts(images[test_idx], p.t_eval)
        for rule in LABEL_RULES:
            pred = predict(rule, lab, labels[lab_idx], test)
            by_rule[rule].append(float((pred == labels[test_idx]).mean()))
        acc = by_rule[p.label_rule][-1]
        silent = float((test.sum(axis=1) == 0).mean())
        curve.append(acc)
        walls.append(time.perf_counter() - w0)
        if progress is not None:
            progress(e + 1, acc)
    return curve, walls, silent, net, show.showings, by_rule


def pattern_learning(seed: int = 0, device: str = "cpu", params: PatternParams | None = None,
                     quick: bool = False, progress=None) -> PatternResult:
    """Train the network on the digits without labels, then label and test it (see the module
    docstring); also the control without plasticity and the non-spiking baselines, for
    ``params.seeds`` seeds (``seed``, ``seed + 1``...: each its own split, initial weights and
    Poisson draws). The record's curve, control and baselines are those of ``seed``;
    ``per_seed`` holds every seed's, ``final_accuracy_mean`` / ``final_accuracy_sd`` their
    final test accuracies (sd with ``ddof=1``; 0 for one seed).

    ``quick``: a smoke run for ``neurosim bench --quick`` — 20 neurons, 150 training, 100
    labelling and 100 test images shown for 100 ms each (``t_eval`` 100), one epoch, one seed
    (when ``params`` is not given); about 25 s on one core.
    """
    check_task_args("pattern_learning()", seed, device, params, PatternParams, quick, progress)
    p = params or (PatternParams(n_neurons=20, n_train=150, n_test=100, n_label=100, epochs=1,
                                 t_eval=100.0, seeds=1) if quick else PatternParams())
    images, labels = digits.load_digits()
    x = images.astype(float)
    wall0 = time.perf_counter()
    runs = []
    for s in range(seed, seed + p.seeds):
        train_idx, test_idx = digits.split(p.n_train, p.n_test, s)
        w0 = time.perf_counter()
        curve, walls, silent, net, showings, by_rule = _run(
            p, s, device, images, labels, train_idx, test_idx, True,
            progress if s == seed else None)
        wall = time.perf_counter() - w0
        control, control_by_rule = None, None
        if p.control:
            c = _run(p, s, device, images, labels, train_idx, test_idx, False)
            control, control_by_rule = c[0][0], {k: v[0] for k, v in c[5].items()}
        baselines = {
            "nearest_centroid": digits.nearest_centroid_accuracy(
                x[train_idx], labels[train_idx], x[test_idx], labels[test_idx]),
            f"kmeans_{p.n_neurons}": digits.kmeans_accuracy(
                x[train_idx], labels[train_idx], x[test_idx], labels[test_idx], p.n_neurons, s)}
        runs.append(dict(seed=s, accuracy_curve=curve, final_accuracy=curve[-1],
                         accuracy_curve_by_rule=by_rule, control_accuracy_by_rule=control_by_rule,
                         control_accuracy=control, baselines=baselines,
                         silent_test_fraction=silent, showings=showings, epoch_wall_s=walls,
                         wall_s=wall, simulated_s=net.t * 1e-3, backend=net.backend))
    first = runs[0]
    finals = np.array([r["final_accuracy"] for r in runs])
    curve = first["accuracy_curve"]
    etc = epochs_to_converge(curve, p.threshold)
    return PatternResult(
        "pattern_learning", seed, device, first["backend"], curve, curve[-1], etc,
        etc is not None, p.threshold, first["control_accuracy"], first["baselines"],
        dict(PUBLISHED), first["silent_test_fraction"], first["epoch_wall_s"],
        time.perf_counter() - wall0, first["simulated_s"], first["showings"],
        float(finals.mean()), float(finals.std(ddof=1)) if finals.size > 1 else 0.0,
        [{k: v for k, v in r.items() if k != "backend"} for r in runs], asdict(p))


def epochs_to_converge(curve, threshold: float):
    """First epoch (1-based) whose accuracy is >= threshold and stays so in every later epoch
    of the run, of which there must be at least one (a threshold first reached in the last
    epoch is not confirmed: None)."""
    for e in range(len(curve) - 1):
        if all(a >= threshold for a in curve[e:]):
            return e + 1
    return None
