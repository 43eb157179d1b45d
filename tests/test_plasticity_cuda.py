"""Plasticity on the CUDA backend without a GPU: ``device="cuda:host"`` runs
``kernels/plasticity.cu.j2`` (rendered) compiled for the CPU and must learn what the NumPy
runtime learns.

How results are compared, and why:

- pair STDP, triplet STDP, adaptive thresholds: **exactly** (bit for bit) against the NumPy
  event-by-event runtimes (``StdpNumpy``, ``TripletNumpy``), in natural and in shuffled thread
  order: the kernels do the float32 operations of ``update.py`` in its order, and no weight is
  updated by two threads in one launch (a synapse gets at most one arrival and one
  postsynaptic spike per step), so the order of threads cannot matter. Spike trains are imposed
  by ``SpikeSource``s through "parrot" neurons, and the plastic weights are too small to make
  a neuron fire, so the float sums in the ring (atomicAdd, any order) never change a spike;
- additive ``"all"``/``"nearest"`` STDP against the NumPy default (``StdpDeferredNumpy``,
  float64 settling): within 1e-5 (absolute, weights of order 1);
- reward-modulated STDP and intrinsic plasticity call ``expf``/``expm1f`` (NumPy's ``exp``
  may differ in the last bit): weights within 1e-5 of the weight range, rates and thresholds
  within 1e-6 relative;
- synaptic scaling: exact for the rate form; the total form sums weights in float64 with
  atomics (order-dependent last bits): within 1e-6 relative;
- a recurrent plastic network (per-synapse delays): exact in natural thread order (the ring
  sums add in NumPy's order), statistically (spike count within 10%, mean weight within 5%)
  with shuffled threads.
"""

from __future__ import annotations

import numpy as np
import pytest

import neurosim as ns
from neurosim.backends import host_build_status, hostbuild
from neurosim.engine import cuda_tuning
from neurosim.plasticity import (STDP, AdaptiveThreshold, IntrinsicPlasticity, RewardSTDP,
                                 SynapticScaling, TripletSTDP)
from neurosim.plasticity.stdp import StdpNumpy

pytestmark = pytest.mark.skipif(not host_build_status()[0], reason="no g++ for the host build")

DT = 0.1
PRECISIONS = {"single": np.float32, "double": np.float64}
PARROT = dict(tau_m=20.0, v_rest=0.0, v_reset=0.0, v_thresh=20.0, tau_refrac=0.5,
              synapse="delta")


@pytest.fixture(params=[False, True], ids=["natural", "shuffled"])
def order(request):
    with hostbuild.shuffle_order(request.param):
        yield request.param


class EventStdp(STDP):
    """STDP whose NumPy runtime is always the event-by-event one (exact reference)."""

    def build_numpy(self, engine, proj):
        return StdpNumpy(engine, proj, self)


def trains(rng, n, k, steps):
    """``n`` spike trains of ``k`` distinct grid times (ms) before ``steps * DT``."""
    return [np.sort(rng.choice(np.arange(2, steps), k, replace=False)) * DT for _ in range(n)]


def network(device, rule, *, n_pre=12, n_post=6, connect="all", delay=1.0, seed=3,
            duration=60.0, switch_at=None, w0=0.005, precision="single"):
    """Pre sources -> parrot neurons (plastic, tiny weights), teachers impose the post spikes."""
    rng = np.random.default_rng(seed)
    steps = int(duration / DT) - 40
    net = ns.Network(dt=DT, device=device, seed=1, precision=precision)
    pre = net.add_population(n_pre, ns.SpikeSource(trains(rng, n_pre, 25, steps)))
    teach = net.add_population(n_post, ns.SpikeSource(
        [t - DT for t in trains(rng, n_post, 20, steps)]))
    post = net.add_population(n_post, ns.LIF(**PARROT))
    conn = ns.AllToAll() if connect == "all" else ns.FixedProbability(0.5)
    proj = net.connect(pre, post, conn, weight=w0, delay=delay, plasticity=rule)
    net.connect(teach, post, ns.OneToOne(), weight=50.0, delay=DT)
    mon = net.record_spikes(post)
    if switch_at is None:
        net.run(duration)
    else:
        net.run(switch_at)
        rule.enabled = False
        net.run(duration / 4)
        rule.enabled = True
        net.run(duration - switch_at - duration / 4)
    return np.asarray(proj.weights), mon, proj


def both(make_rule, **kw):
    a, ma, pa = network("cpu", make_rule(), **kw)
    b, mb, pb = network("cuda:host", make_rule(), **kw)
    np.testing.assert_array_equal(ma.steps, mb.steps)
    np.testing.assert_array_equal(ma.indices, mb.indices)
    np.testing.assert_array_equal(pa.sources, pb.sources)
    np.testing.assert_array_equal(pa.targets, pb.targets)
    return a, b


# -- pair STDP --------------------------------------------------------------------------------

@pytest.mark.parametrize("precision", ["single", "double"])
@pytest.mark.parametrize("update", ["additive", "multiplicative"])
@pytest.mark.parametrize("pairing", ["all", "nearest", "nearest_reduced"])
def test_pair_stdp_exact(pairing, update, precision, order):
    rule = lambda: EventStdp(A_plus=0.002, A_minus=0.0021, w_max=0.01, pairing=pairing,  # noqa
                             update=update)
    a, b = both(rule, precision=precision)
    assert a.dtype == b.dtype == np.dtype(PRECISIONS[precision])
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - 0.005).max() > 1e-4                       # it learned
    assert a.min() >= 0.0 and a.max() <= 0.01


@pytest.mark.parametrize("pairing", ["all", "nearest"])
def test_pair_stdp_against_numpy_default(pairing):
    rule = lambda: STDP(A_plus=0.002, A_minus=0.0021, w_max=0.01, pairing=pairing)  # noqa
    a, b = both(rule)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-8)          # weights up to 0.01


@pytest.mark.parametrize("pairing", ["all", "nearest_reduced"])
def test_pair_stdp_per_synapse_delays_and_sparse(pairing, order):
    rule = lambda: EventStdp(A_plus=0.002, A_minus=0.0021, w_max=0.01, pairing=pairing,  # noqa
                             update="multiplicative")
    a, b = both(rule, connect="sparse", delay=ns.Uniform(0.1, 2.5))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("lanes", [4, 32])
def test_rows_and_columns_walked_by_several_threads(lanes, monkeypatch):
    """As on a GPU: several threads per presynaptic row and per column, shuffled."""
    monkeypatch.setattr(cuda_tuning, "HOST_LANES", lanes)
    with hostbuild.shuffle_order(True):
        rule = lambda: EventStdp(A_plus=0.002, A_minus=0.0021, w_max=0.01,  # noqa
                                 pairing="nearest_reduced")
        a, b = both(rule)
        np.testing.assert_array_equal(a, b)
        rule = lambda: TripletSTDP(A2_plus=0.001, A3_plus=0.002, A2_minus=0.0015,  # noqa
                                   w_max=0.01)
        a, b = both(rule, connect="sparse", delay=ns.Uniform(0.1, 2.5))
        np.testing.assert_array_equal(a, b)


def test_learning_switch(order):
    make = lambda: EventStdp(A_plus=0.0003, A_minus=0.00032, w_max=0.01)  # noqa: E731
    a, b = both(make, switch_at=20.0)
    np.testing.assert_array_equal(a, b)
    full, _, _ = network("cuda:host", make())
    assert np.abs(a - full).max() > 1e-4                      # the frozen time counted


def test_weights_read_and_set_between_runs():
    net = ns.Network(dt=DT, device="cuda:host", seed=1)
    a = net.add_population(3, ns.SpikeSource([[1.0], [2.0], [3.0]]))
    b = net.add_population(2, ns.LIF(**PARROT))
    proj = net.connect(a, b, ns.AllToAll(), weight=0.5, plasticity=STDP())
    net.run(1.0)
    w = np.linspace(0.0, 1.0, 6, dtype=np.float32)
    proj.weights = w
    np.testing.assert_array_equal(proj.weights, w)
    with pytest.raises(ValueError, match="within"):
        proj.weights = w + 2.0


def test_weights_in_source_order_with_per_synapse_delays():
    """The device sorts rows by delay; reads and writes keep the NumPy order."""
    got = {}
    for device in ("cpu", "cuda:host"):
        net = ns.Network(dt=DT, device=device, seed=1)
        a = net.add_population(5, ns.SpikeSource([[]] * 5))
        b = net.add_population(4, ns.LIF(**PARROT))
        proj = net.connect(a, b, ns.AllToAll(), weight=ns.Uniform(0.0, 1.0),
                           delay=ns.Uniform(0.1, 3.0), plasticity=STDP())
        net.run(1.0)
        before = proj.weights
        proj.weights = before[::-1].copy()
        got[device] = (before, proj.weights, proj.delays, proj.targets)
    for x, y in zip(got["cpu"], got["cuda:host"]):
        np.testing.assert_array_equal(x, y)


def test_delivery_matches_static_synapses():
    """Frozen plastic weights deliver exactly what static synapses deliver (same v)."""
    def run(plastic, device):
        net = ns.Network(dt=DT, device=device, seed=2)
        src = net.add_population(8, ns.SpikeSource([[1.0 + i * 0.3, 5.0 + i] for i in range(8)]))
        post = net.add_population(3, ns.LIF(tau_m=10.0, v_thresh=1e3, synapse="delta"))
        rule = STDP(w_max=1.0) if plastic else None
        if rule is not None:
            rule.enabled = False
        net.connect(src, post, ns.AllToAll(), weight=0.25, delay=1.5, plasticity=rule)
        mon = net.record_state(post, "v")
        net.run(20.0)
        return np.asarray(mon.values)
    ref = run(False, "cpu")
    np.testing.assert_array_equal(run(True, "cpu"), ref)
    np.testing.assert_array_equal(run(True, "cuda:host"), ref)


def _recurrent(device, pairing):
    net = ns.Network(dt=DT, device=device, seed=3)
    drive = net.add_population(200, ns.PoissonSource(rate=20.0))
    pop = net.add_population(100, ns.LIF(tau_m=20.0, v_rest=0.0, v_reset=0.0, v_thresh=15.0,
                                         tau_refrac=2.0, synapse="delta"))
    net.connect(drive, pop, ns.FixedIndegree(40), weight=1.0)
    proj = net.connect(pop, pop, ns.FixedProbability(0.1), weight=ns.Uniform(0.0, 0.5),
                       delay=ns.Uniform(0.5, 3.0),
                       plasticity=EventStdp(A_plus=0.02, A_minus=0.021, w_max=1.0,
                                            pairing=pairing, update="multiplicative"))
    mon = net.record_spikes(pop)
    net.run(300.0)
    return proj.weights, mon


@pytest.mark.parametrize("pairing", ["all", "nearest_reduced"])
def test_recurrent_plastic_network(pairing, order):
    """Plastic recurrent synapses with per-synapse delays (pre = post population). In natural
    thread order the ring sums add in NumPy's order: spikes and weights are exact; shuffled,
    the sums may round differently and the run is compared statistically."""
    wa, ma = _recurrent("cpu", pairing)
    wb, mb = _recurrent("cuda:host", pairing)
    assert ma.steps.size > 300
    if not order:
        np.testing.assert_array_equal(ma.steps, mb.steps)
        np.testing.assert_array_equal(ma.indices, mb.indices)
        np.testing.assert_array_equal(wa, wb)
    else:
        assert mb.steps.size == pytest.approx(ma.steps.size, rel=0.1)
        assert wb.mean() == pytest.approx(wa.mean(), rel=0.05)


# -- triplet and reward-modulated STDP ----------------------------------------------------------

@pytest.mark.parametrize("precision", ["single", "double"])
@pytest.mark.parametrize("pairing", ["all", "nearest"])
def test_triplet_exact(pairing, precision, order):
    rule = lambda: TripletSTDP(A2_plus=0.001, A3_plus=0.002, A2_minus=0.0015,  # noqa
                               A3_minus=0.0005, w_max=0.01, pairing=pairing)
    a, b = both(rule, connect="sparse", delay=1.2, precision=precision)
    assert a.dtype == b.dtype == np.dtype(PRECISIONS[precision])
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - 0.005).max() > 1e-3


@pytest.mark.parametrize("precision, atol", [("single", 1e-7), ("double", 1e-16)])
@pytest.mark.parametrize("pairing", ["nearest", "nearest_reduced", "all"])
def test_reward_stdp_within_rounding(pairing, precision, atol, order):
    """Equal up to the last bits of ``exp`` (NumPy's and the C library's may differ): 1e-5 of
    w_max in float32, 1e-14 of it in double."""
    out = {}
    for device in ("cpu", "cuda:host"):
        rng = np.random.default_rng(5)
        net = ns.Network(dt=DT, device=device, seed=1, precision=precision)
        pre = net.add_population(10, ns.SpikeSource(trains(rng, 10, 20, 1500)))
        teach = net.add_population(4, ns.SpikeSource([t - DT for t in trains(rng, 4, 15, 1500)]))
        post = net.add_population(4, ns.LIF(**PARROT))
        rule = RewardSTDP(A_plus=0.001, A_minus=0.0015, tau_c=100.0, tau_d=50.0,
                          baseline=0.01, w_max=0.01, pairing=pairing)
        proj = net.connect(pre, post, ns.AllToAll(), weight=0.005, delay=1.0, plasticity=rule)
        net.connect(teach, post, ns.OneToOne(), weight=50.0, delay=DT)
        seen = []
        for k in range(8):
            net.run(20.0)
            rule.deliver_reward(0.5 if k % 2 else -0.2)
            if k == 4:
                rule.enabled = False
            if k == 6:
                rule.enabled = True
            seen.append(np.asarray(proj.weights))
        out[device] = (np.array(seen), rule.dopamine)
    (a, da), (b, db) = out["cpu"], out["cuda:host"]
    assert a.dtype == b.dtype == np.dtype(PRECISIONS[precision])
    np.testing.assert_allclose(a, b, rtol=0, atol=atol)
    assert da == pytest.approx(db, rel=1e-6 if precision == "single" else 1e-14)
    assert np.abs(a[-1] - 0.005).max() > 1e-4


# -- homeostasis --------------------------------------------------------------------------------

def _homeo(device, rule, duration=200.0, precision="single"):
    net = ns.Network(dt=DT, device=device, seed=4, precision=precision)
    drive = net.add_population(50, ns.PoissonSource(rate=40.0))
    pop = net.add_population(20, ns.LIF(tau_m=10.0, v_thresh=-50.0, synapse="delta"))
    net.connect(drive, pop, ns.FixedProbability(0.3), weight=4.0)
    net.add_homeostasis(pop, rule)
    mon = net.record_spikes(pop)
    net.run(duration / 2)
    rule.enabled = False
    net.run(duration / 4)
    rule.enabled = True
    net.run(duration / 4)
    return mon, rule


@pytest.mark.parametrize("precision", ["single", "double"])
def test_adaptive_threshold_exact(precision, order):
    ma, ra = _homeo("cpu", AdaptiveThreshold(theta_plus=0.5, tau_theta=50.0),
                    precision=precision)
    mb, rb = _homeo("cuda:host", AdaptiveThreshold(theta_plus=0.5, tau_theta=50.0),
                    precision=precision)
    assert ra.theta.dtype == rb.theta.dtype == np.dtype(PRECISIONS[precision])
    np.testing.assert_array_equal(ma.steps, mb.steps)
    np.testing.assert_array_equal(ma.indices, mb.indices)
    np.testing.assert_array_equal(ra.theta, rb.theta)
    assert ma.steps.size > 50 and ra.theta.max() > 0.5


@pytest.mark.parametrize("precision", ["single", "double"])
def test_intrinsic_plasticity_parity(precision):
    make = lambda: IntrinsicPlasticity(target_rate=5.0, eta=2.0, tau_rate=50.0,  # noqa
                                       interval=5.0)
    ma, ra = _homeo("cpu", make(), precision=precision)
    mb, rb = _homeo("cuda:host", make(), precision=precision)
    assert ra.rate.dtype == rb.rate.dtype == np.dtype(PRECISIONS[precision])
    np.testing.assert_array_equal(ma.indices, mb.indices)
    np.testing.assert_allclose(ra.rate, rb.rate, rtol=1e-6)
    np.testing.assert_allclose(ra.theta, rb.theta, rtol=1e-6, atol=1e-6)
    assert np.abs(ra.theta).max() > 0.1


@pytest.mark.parametrize("form", ["rate", "total"])
def test_synaptic_scaling_parity(form, order):
    """Static and plastic weights scaled alike (the total form sums in float64 with atomics:
    within 1e-6 relative)."""
    out = {}
    for device in ("cpu", "cuda:host"):
        net = ns.Network(dt=DT, device=device, seed=2)
        src = net.add_population(30, ns.PoissonSource(rate=40.0))
        pop = net.add_population(6, ns.LIF(tau_m=10.0, v_thresh=-60.0, synapse="delta"))
        plastic = net.connect(src, pop, ns.AllToAll(), weight=ns.Uniform(0.5, 1.0),
                              plasticity=EventStdp(A_plus=0.01, A_minus=0.01, w_max=5.0))
        static = net.connect(src, pop, ns.FixedIndegree(10), weight=ns.Uniform(0.5, 1.0))
        rule = (SynapticScaling(target_rate=5.0, eta=5.0, tau_rate=20.0, interval=5.0)
                if form == "rate" else SynapticScaling(target_total=20.0, interval=5.0))
        net.add_homeostasis(pop, rule)
        mon = net.record_spikes(pop)
        net.run(30.0)
        rule.enabled = False
        net.run(10.0)
        rule.enabled = True
        net.run(20.0)
        out[device] = (plastic.weights, static.weights, mon.steps.size)
        if form == "total":                   # the run ends with a scaling
            total = (np.bincount(plastic.targets, plastic.weights, 6)
                     + np.bincount(static.targets, static.weights, 6))
            np.testing.assert_allclose(total, 20.0, rtol=1e-5)
    (pa, sa, na), (pb, sb, nb) = out["cpu"], out["cuda:host"]
    assert na > 5
    if form == "rate":
        assert na == nb
        np.testing.assert_array_equal(pa, pb)
        np.testing.assert_array_equal(sa, sb)
    else:
        np.testing.assert_allclose(pa, pb, rtol=1e-6)
        np.testing.assert_allclose(sa, sb, rtol=1e-6)


def test_unsupported_combinations_raise():
    net = ns.Network(dt=DT, device="cuda:host", seed=1)
    src = net.add_population(2, ns.SpikeSource([[1.0], [2.0]]))
    pop = net.add_population(2, ns.LIF())
    net.connect(src, pop, ns.AllToAll(), weight=0.1, plasticity=RewardSTDP(), name="dopa")
    net.add_homeostasis(pop, SynapticScaling(target_rate=5.0))
    with pytest.raises(ValueError, match="'dopa' has RewardSTDP"):
        net.run(1.0)
    net = ns.Network(dt=DT, device="cuda:host", seed=1)
    pop = net.add_population(2, ns.LIF())
    net.add_homeostasis(pop, AdaptiveThreshold())
    net.add_homeostasis(pop, IntrinsicPlasticity(target_rate=5.0))
    with pytest.raises(ValueError, match="more than one threshold rule"):
        net.run(1.0)


def test_pair_stdp_exact_through_halted_steps(monkeypatch):
    """A spike buffer that halts the clock at nearly every recorded spike, and the halted steps
    launched anyway (as the rest of a CUDA graph is): the plastic kernels of those steps must
    do nothing, so weights and spikes stay exact."""
    monkeypatch.setattr(cuda_tuning, "REC_START", 1)
    monkeypatch.setattr(cuda_tuning, "RECORD_BUDGET", 64)
    monkeypatch.setattr(cuda_tuning, "HOST_STOP_AT_HALT", False)
    a, b = both(lambda: EventStdp(A_plus=0.01, A_minus=0.012, w_max=0.02, pairing="all"))
    np.testing.assert_array_equal(a, b)
