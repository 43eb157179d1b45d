"""Plasticity rules against their published definitions and data (not against themselves).

Spike pairs are imposed: every synapse has its own presynaptic ``SpikeSource`` neuron and its own
postsynaptic LIF neuron (delta synapses) that a "teacher" source makes fire at a chosen time;
the plastic weights are far too small to make it fire on their own.
"""

from __future__ import annotations

import numpy as np
import pytest

import neurosim as ns
from neurosim.plasticity import (STDP, AdaptiveThreshold, IntrinsicPlasticity, RewardSTDP,
                                 SynapticScaling, TripletSTDP)


DT = 0.1


PARROT = dict(tau_m=20.0, v_rest=0.0, v_reset=0.0, v_thresh=20.0, tau_refrac=0.5,
              synapse="delta")


def imposed(pre_times, post_times, rule, delay=1.0, w0=1.0, dt=DT, device="cpu"):
    """One synapse per entry: pre neuron i spikes at ``pre_times[i]``, post neuron i at
    ``post_times[i]`` (exactly); returns (final weights, projection, post monitor)."""
    n = len(pre_times)
    net = ns.Network(dt=dt, device=device, seed=1)
    pre = net.add_population(n, ns.SpikeSource([np.atleast_1d(t) for t in pre_times]))
    teach = net.add_population(n, ns.SpikeSource([np.atleast_1d(t) - dt for t in post_times]))
    post = net.add_population(n, ns.LIF(**PARROT))
    proj = net.connect(pre, post, ns.OneToOne(), weight=w0, delay=delay, plasticity=rule)
    net.connect(teach, post, ns.OneToOne(), weight=50.0, delay=dt)
    mon = net.record_spikes(post)
    last = max(np.max(np.atleast_1d(t)) for t in list(pre_times) + list(post_times))
    end = last + np.max(np.atleast_1d(delay)) + 20.0
    net.run(round(np.ceil(end / dt) * dt, 6))
    return proj.weights, proj, mon


# -- pair STDP ----------------------------------------------------------------------------------

@pytest.mark.parametrize("pairing", ["all", "nearest", "nearest_reduced"])
def test_stdp_window_is_the_exponential_curve(pairing, device):
    """One isolated pair per synapse: Delta w(Delta t) is A+ e^(-Dt/tau+) for Dt >= 0 and
    -A- e^(Dt/tau-) for Dt < 0 (Bi & Poo-shaped window), exactly (float32)."""
    rule = STDP(A_plus=0.01, A_minus=0.012, tau_plus=16.8, tau_minus=33.7, w_min=0.0, w_max=2.0,
                pairing=pairing)
    dts = np.arange(-80.0, 80.01, 2.5)
    delay, t_post = 1.5, 200.0
    w, _, mon = imposed(t_post - delay - dts, np.full(dts.size, t_post), rule, delay=delay,
                        device=device)
    assert np.allclose(mon.times, t_post)
    expected = np.where(dts >= 0, 0.01 * np.exp(-dts / 16.8), -0.012 * np.exp(dts / 33.7))
    np.testing.assert_allclose(w - 1.0, expected, rtol=1e-4, atol=2e-7)


def test_multiplicative_update_is_soft_bounded(device):
    """update="multiplicative": Delta w+ = A+ (w_max - w)/(w_max - w_min) e^(-Dt/tau), Delta w- =
    A- (w - w_min)/(w_max - w_min) e^(Dt/tau) (Guetig et al. 2003 with mu = 1)."""
    rule = STDP(A_plus=0.5, A_minus=0.5, tau_plus=20.0, tau_minus=20.0, w_min=0.0, w_max=4.0,
                update="multiplicative")
    w0 = np.array([0.5, 2.0, 3.5, 0.5, 2.0, 3.5])
    dts = np.array([10.0, 10.0, 10.0, -10.0, -10.0, -10.0])
    net = ns.Network(dt=DT, device=device, seed=1)
    pre = net.add_population(6, ns.SpikeSource([[150.0 - 1.0 - d] for d in dts]))
    teach = net.add_population(6, ns.SpikeSource([[150.0 - DT]] * 6))
    post = net.add_population(6, ns.LIF(**PARROT))
    proj = net.connect(pre, post, ns.OneToOne(), weight=w0, delay=1.0, plasticity=rule)
    net.connect(teach, post, ns.OneToOne(), weight=50.0, delay=DT)
    net.run(250.0)
    u = w0 / 4.0
    k = np.exp(-10.0 / 20.0)
    expected = np.where(dts > 0, w0 + 0.5 * k * (1 - u), w0 - 0.5 * k * u)
    np.testing.assert_allclose(proj.weights, expected, rtol=1e-5)


# Spike trains where the pairing schemes differ (Morrison, Diesmann & Gerstner 2008, Fig. 7):
# times of presynaptic arrivals and postsynaptic spikes, and the pairs each scheme counts.
TRAINS = {
    "pre-post-post": ([100.0], [110.0, 125.0]),
    "post-pre-pre": ([110.0, 125.0], [100.0]),
    "pre-pre-post-post": ([100.0, 105.0], [112.0, 120.0]),
    "post-post-pre-pre": ([112.0, 120.0], [100.0, 105.0]),
}


def _expected_pairs(pre, post, pairing, ap, am, tp, tm):
    """Sum of the pair contributions counted by a pairing scheme (definitions of the paper)."""
    dw = 0.0
    if pairing == "all":
        for a in pre:
            for b in post:
                dw += ap * np.exp(-(b - a) / tp) if b >= a else -am * np.exp((b - a) / tm)
        return dw
    for b in post:                          # potentiation: each post with the last pre before
        before = [a for a in pre if a <= b]
        if not before:
            continue
        a = max(before)
        prev_post = [c for c in post if c < b]
        if pairing == "nearest_reduced" and prev_post and max(prev_post) >= a:
            continue                        # that pre spike already paired with an earlier post
        dw += ap * np.exp(-(b - a) / tp)
    for a in pre:                           # depression: each pre with the last post before
        before = [b for b in post if b < a]
        if not before:
            continue
        b = max(before)
        prev_pre = [c for c in pre if c < a]
        if pairing == "nearest_reduced" and prev_pre and max(prev_pre) > b:
            continue                        # that post spike already paired with an earlier pre
        dw -= am * np.exp((b - a) / tm)
    return dw


@pytest.mark.parametrize("pairing", ["all", "nearest", "nearest_reduced"])
def test_pairing_schemes_count_the_published_pairs(pairing, device):
    """all-to-all sums every pair; nearest pairs each spike with the last one of the other side;
    the reduced scheme (Masquelier et al. 2008; NEST stdp_nn_restr_synapse) also drops a pair
    when a spike of the same side intervened (a spike joins at most one pair per sign)."""
    ap, am, tp, tm = 0.01, 0.012, 20.0, 25.0
    rule = STDP(A_plus=ap, A_minus=am, tau_plus=tp, tau_minus=tm, w_min=0.0, w_max=2.0,
                pairing=pairing)
    delay = 1.0
    names = list(TRAINS)
    w, _, mon = imposed([np.asarray(TRAINS[k][0]) - delay for k in names],
                        [np.asarray(TRAINS[k][1]) for k in names], rule, delay=delay,
                        device=device)
    expected = [_expected_pairs(*TRAINS[k], pairing, ap, am, tp, tm) for k in names]
    np.testing.assert_allclose(w - 1.0, expected, rtol=1e-4, atol=2e-7)
    if pairing != "all":                    # the schemes really differ on these trains
        full = [_expected_pairs(*TRAINS[k], "all", ap, am, tp, tm) for k in names]
        assert not np.allclose(expected, full)


def test_delays_are_axonal_for_learning(device):
    """Delta t is measured from the arrival of the presynaptic spike: synapses of one projection
    with different delays (1-20 ms) and the same spike times see Dt = t_post - t_pre - d."""
    n = 12
    delays = np.linspace(1.0, 20.0, n).round(1)
    t_pre, t_post = 100.0, 112.0
    rule = STDP(A_plus=0.01, A_minus=0.01, tau_plus=20.0, tau_minus=20.0, w_min=0.0, w_max=2.0)
    net = ns.Network(dt=DT, device=device, seed=1)
    pre = net.add_population(1, ns.SpikeSource([[t_pre]]))
    teach = net.add_population(n, ns.SpikeSource([[t_post - DT]] * n))
    post = net.add_population(n, ns.LIF(**PARROT))
    proj = net.connect(pre, post, ns.AllToAll(), weight=1.0, delay=delays, plasticity=rule)
    net.connect(teach, post, ns.OneToOne(), weight=50.0, delay=DT)
    net.run(200.0)
    np.testing.assert_allclose(proj.delays, delays)
    dt_pair = t_post - t_pre - delays
    np.testing.assert_allclose(proj.weights - 1.0, rule.window(dt_pair), rtol=1e-4, atol=2e-7)


def test_learning_switch_freezes_weights(device):
    rule = STDP(A_plus=0.01, A_minus=0.012, w_min=0.0, w_max=2.0)
    net = ns.Network(dt=DT, device=device, seed=3)
    src = net.add_population(50, ns.PoissonSource(rate=40.0))
    post = net.add_population(5, ns.LIF(**PARROT))
    proj = net.connect(src, post, ns.AllToAll(), weight=1.0, plasticity=rule)
    net.run(200.0)
    w1 = proj.weights
    assert not np.allclose(w1, 1.0)
    net.set_learning(False)
    assert rule.enabled is False
    net.run(200.0)
    np.testing.assert_array_equal(proj.weights, w1)
    rule.enabled = True
    net.run(200.0)
    assert not np.array_equal(proj.weights, w1)


def test_weights_readable_and_settable_in_source_order(device):
    rule = STDP(w_min=0.0, w_max=5.0)
    net = ns.Network(dt=DT, device=device, seed=3)
    a = net.add_population(4, ns.SpikeSource([[]] * 4))
    b = net.add_population(3, ns.LIF(**PARROT))
    pre, post = np.array([3, 0, 2, 0, 1]), np.array([0, 2, 1, 1, 0])
    w = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    proj = net.connect(a, b, ns.Explicit(pre, post), weight=w, delay=2.0, plasticity=rule)
    order = np.argsort(pre, kind="stable")
    np.testing.assert_array_equal(proj.sources, pre[order])
    np.testing.assert_array_equal(proj.targets, post[order])
    np.testing.assert_allclose(proj.weights, w[order])
    np.testing.assert_allclose(proj.delays, 2.0)
    proj.weights = np.full(5, 4.0)
    np.testing.assert_allclose(proj.weights, 4.0)
    with pytest.raises(ValueError, match="w_min, w_max"):
        proj.weights = np.full(5, 6.0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="pairing"):
        STDP(pairing="closest")
    with pytest.raises(ValueError, match="w_max must be > w_min"):
        STDP(w_min=1.0, w_max=1.0)
    with pytest.raises(ValueError, match="A_plus"):
        STDP(A_plus=-1.0)
    with pytest.raises(ValueError, match="tau_minus"):
        STDP(tau_minus=0.0)
    net = ns.Network(dt=DT, device="cpu", seed=1)
    a = net.add_population(3, ns.PoissonSource(rate=5.0))
    b = net.add_population(3, ns.LIF())
    with pytest.raises(ValueError, match="within"):
        net.connect(a, b, ns.AllToAll(), weight=2.0, plasticity=STDP(w_max=1.0))
    with pytest.raises(ValueError, match="w_min must be >= 0"):
        net.connect(a, b, ns.AllToAll(), weight=0.0, plasticity=STDP(w_min=-1.0))
    with pytest.raises(TypeError, match="plasticity rule"):
        net.connect(a, b, ns.AllToAll(), weight=0.0, plasticity="stdp")
    izh = net.add_population(3, ns.Izhikevich())
    with pytest.raises(ValueError, match="v_thresh"):
        net.add_homeostasis(izh, AdaptiveThreshold())
    rule = AdaptiveThreshold()
    net.add_homeostasis(b, rule)
    with pytest.raises(ValueError, match="already attached"):
        net.add_homeostasis(net.add_population(2, ns.LIF()), rule)
    with pytest.raises(TypeError, match="homeostatic rule"):
        net.add_homeostasis(b, STDP())
    with pytest.raises(ValueError, match="exactly one"):
        SynapticScaling()
    with pytest.raises(RuntimeError, match="not built"):
        RewardSTDP().deliver_reward(1.0)
    with pytest.raises(TypeError, match="True or False"):
        STDP().enabled = 1


# -- triplet STDP -------------------------------------------------------------------------------

# Sjoestroem, Turrigiano & Nelson (2001), as plotted by Pfister & Gerstner (2006, Fig. 6):
# relative weight change after pairings at each frequency, for Dt = +10 and -10 ms.
SJOSTROM = {+10.0: {0.1: -0.04, 10.0: 0.14, 20.0: 0.29, 40.0: 0.53, 50.0: 0.56},
            -10.0: {0.1: -0.29, 10.0: -0.41, 20.0: -0.34, 40.0: 0.56, 50.0: 0.75}}


def test_triplet_rule_reproduces_frequency_dependence(device):
    """Minimal all-to-all triplet model with the visual-cortex parameters (Pfister & Gerstner
    2006), 60 pairings per frequency: little change (+10 ms) or depression (-10 ms) at 0.1 Hz,
    potentiation for both orders at 50 Hz, LTP growing with frequency; within 0.35 of the
    data everywhere. At 0.1 Hz the traces (tau <= 125 ms) vanish between pairs (10 s), so 3
    pairings are simulated and the change scaled by 20."""
    dt, delay, n_pairs = 0.5, 0.5, 60
    freqs = [0.1, 10.0, 20.0, 40.0, 50.0]
    conds = [(f, s) for f in freqs for s in (+10.0, -10.0)]
    pre_times, post_times, scale = [], [], []
    for f, s in conds:
        k = 3 if f < 1 else n_pairs
        t = 50.0 + np.arange(k) * 1000.0 / f
        pre_times.append(t)
        post_times.append(t + delay + s)
        scale.append(n_pairs / k)
    w, _, mon = imposed(pre_times, post_times, TripletSTDP(w_min=0.0, w_max=100.0),
                        delay=delay, dt=dt, device=device)
    assert mon.num_spikes == sum(len(t) for t in post_times)
    dw = (w - 1.0) * np.asarray(scale)
    got = {c: float(x) for c, x in zip(conds, dw)}
    assert abs(got[(0.1, +10.0)]) < 0.1
    assert got[(0.1, -10.0)] < -0.15
    assert got[(50.0, +10.0)] > 0.3 and got[(50.0, -10.0)] > 0.3
    assert got[(20.0, +10.0)] > 0 > got[(20.0, -10.0)]
    ltp = [got[(f, +10.0)] for f in freqs]
    assert np.all(np.diff(ltp) > 0)
    for (f, s), x in got.items():
        assert abs(x - SJOSTROM[s][f]) < 0.35, (f, s, x)


# -- reward-modulated STDP ----------------------------------------------------------------------

def test_reward_stdp_follows_izhikevich_equations(device):
    """A single causal pair (Dt = 10 ms) sets the eligibility c = A+ e^(-10/20); nothing changes
    without dopamine; a reward R at t_r gives w(t) - w0 = c e^(-(t_r - t_post)/tau_c) R tau_e
    (1 - e^(-(t - t_r)/tau_e)), tau_e = tau_c tau_d / (tau_c + tau_d) — the closed-form solution
    of dc/dt = -c/tau_c, dd/dt = -d/tau_d, dw/dt = c d (Izhikevich 2007)."""
    rule = RewardSTDP(A_plus=1.0, A_minus=1.5, w_min=0.0, w_max=100.0)
    net = ns.Network(dt=DT, device=device, seed=1)
    pre = net.add_population(2, ns.SpikeSource([[10.0], [30.0]]))
    teach = net.add_population(2, ns.SpikeSource([[21.0 - DT], [21.0 - DT]]))
    post = net.add_population(2, ns.LIF(**dict(PARROT, v_thresh=500.0)))   # w0 = 50 mV
    proj = net.connect(pre, post, ns.OneToOne(), weight=50.0, delay=1.0, plasticity=rule)
    net.connect(teach, post, ns.OneToOne(), weight=600.0, delay=DT)
    net.run(1000.0)
    np.testing.assert_array_equal(proj.weights, 50.0)        # no dopamine yet
    rule.deliver_reward(0.5)
    net.run(500.0)
    w1 = proj.weights
    net.run(3500.0)
    w2 = proj.weights
    tc, td = 1000.0, 200.0
    te = tc * td / (tc + td)
    c_causal = 1.0 * np.exp(-10.0 / 20.0) * np.exp(-(1000.0 - 21.0) / tc)
    c_acausal = -1.5 * np.exp(-10.0 / 20.0) * np.exp(-(1000.0 - 31.0) / tc)
    for c, col in ((c_causal, 0), (c_acausal, 1)):
        for w, t in ((w1, 500.0), (w2, 4000.0)):
            np.testing.assert_allclose(w[col] - 50.0, c * 0.5 * te * (1 - np.exp(-t / te)),
                                       rtol=2e-4)
    assert rule.dopamine == pytest.approx(0.5 * np.exp(-4000.0 / td), rel=1e-3, abs=1e-12)


# -- Song, Miller & Abbott (2000) ---------------------------------------------------------------

def _conductance_neuron(tau_m, v_rest, tau_refrac):
    """Song et al.'s neuron: g_L = cm / tau_m = 10 nS, E_ex = 0, E_in = -70, threshold -54 mV,
    reset -60 mV, tau_ex = tau_in = 5 ms."""
    return ns.LIFCond(tau_m=tau_m, cm=10.0 * tau_m, v_rest=v_rest, v_reset=-60.0,
                      v_thresh=-54.0, tau_refrac=tau_refrac, tau_syn_E=5.0, tau_syn_I=5.0,
                      e_rev_E=0.0, e_rev_I=-70.0)


def song_network(seed, duration, dt=0.1, n=1000):
    """Three neurons with 1000 Poisson inputs each and additive all-to-all STDP (A-/A+ = 1.05,
    tau = 20 ms), shortened by larger amplitudes than the paper's A+ = 0.005 g_max:

    - ``"bimodal"``: the parameters of Brian2's version of the experiment (tau_m = 10 ms,
      E_L = -74 mV, g_max = 0.01 g_L, 15 Hz inputs, weights initially uniform in [0, g_max]),
      A+ = 0.04 g_max;
    - ``"rate"``: the paper's neuron (tau_m = 20 ms, V_rest = -70 mV, g_max = 0.015 g_L, 200
      inhibitory inputs at 10 Hz with g = 0.05 g_L) at 10 and at 20 Hz input, weights starting
      at g_max, A+ = 0.03 g_max.
    """
    net = ns.Network(dt=dt, device="cpu", seed=seed)
    a = net.add_population(1, _conductance_neuron(10.0, -74.0, 0.0), initial={"v": -60.0})
    b = net.add_population(2, _conductance_neuron(20.0, -70.0, 1.0), initial={"v": -60.0})
    inp = net.add_population(3 * n, ns.PoissonSource(rate=np.repeat([15.0, 10.0, 20.0], n)))
    ga, gb = 0.01 * 10.0, 0.015 * 10.0                  # nS
    stdp_a = STDP(A_plus=0.04 * ga, A_minus=1.05 * 0.04 * ga, w_min=0.0, w_max=ga)
    stdp_b = STDP(A_plus=0.03 * gb, A_minus=1.05 * 0.03 * gb, w_min=0.0, w_max=gb)
    pa = net.connect(inp, a, ns.Explicit(np.arange(n), np.zeros(n, int)),
                     weight=ns.Uniform(0.0, ga), delay=dt, plasticity=stdp_a)
    net.connect(inp, b, ns.Explicit(np.arange(n, 3 * n), np.repeat([0, 1], n)), weight=gb,
                delay=dt, plasticity=stdp_b)
    net.add_poisson_input(b, rate=10.0, weight=0.05 * 10.0, n_sources=200,
                          receptor="inhibitory")
    ma, mb = net.record_spikes(a), net.record_spikes(b)
    net.run(duration)
    tail = duration - 5000.0
    rates = [np.count_nonzero((mb.times > tail) & (mb.indices == j)) / 5.0 for j in (0, 1)]
    return pa.weights / ga, rates, float(np.count_nonzero(ma.times > tail) / 5.0)


def test_song_miller_abbott_bimodal_and_rate_normalising():
    """Song, Miller & Abbott (2000), shortened (20 s; the full run is in
    benchmarks/song_miller_abbott.py): additive STDP drives the weights to the bounds — a
    U-shaped distribution, more weights in each outer fifth than in any inner fifth — and the
    output rate hardly follows the input rate: doubling the input (10 -> 20 Hz) raises it by
    less than 30% (with the weights frozen at their initial values it rises 2.2-fold)."""
    w, (r10, r20), r15 = song_network(seed=2, duration=20000.0)
    hist = np.histogram(w, bins=5, range=(0.0, 1.0))[0]
    assert min(hist[0], hist[-1]) > max(hist[1:-1]), hist
    assert hist[0] + hist[-1] > 0.45 * w.size, hist
    assert 5.0 < r15 < 60.0
    assert 5.0 < r10 and r20 < 1.3 * r10, (r10, r20)


# -- homeostasis --------------------------------------------------------------------------------

def test_adaptive_threshold_jumps_and_decays(device):
    """Diehl & Cook (2015): theta(t) = sum over spikes of theta_plus exp(-(t - t_k)/tau_theta);
    the neuron fires when v >= v_thresh + theta (checked by the next spike needing a larger
    input)."""
    net = ns.Network(dt=DT, device=device, seed=1)
    spikes = [20.0, 35.0, 50.0]
    teach = net.add_population(1, ns.SpikeSource([np.asarray(spikes) - DT]))
    probe = net.add_population(1, ns.SpikeSource([[100.0 - DT]]))
    post = net.add_population(1, ns.LIF(**PARROT))
    net.connect(teach, post, ns.AllToAll(), weight=50.0, delay=DT)
    net.connect(probe, post, ns.AllToAll(), weight=21.0, delay=DT)    # 20 mV + 1 mV
    rule = net.add_homeostasis(post, AdaptiveThreshold(theta_plus=2.0, tau_theta=40.0))
    mon = net.record_spikes(post)
    net.run(90.0)
    expected = sum(2.0 * np.exp(-(90.0 - t) / 40.0) for t in spikes)
    np.testing.assert_allclose(rule.theta, [expected], rtol=1e-4)
    net.run(20.0)                           # theta(100) ~ 1.6 mV > 1 mV: the probe fails
    assert list(mon.times) == spikes
    net.set_learning(False)                 # frozen theta still acts
    assert rule.theta[0] == pytest.approx(sum(2.0 * np.exp(-(110.0 - t) / 40.0) for t in spikes),
                                          rel=1e-4)


def _driven(n, rate, seed, device, n_sources=500):
    net = ns.Network(dt=0.5, device=device, seed=seed)
    pop = net.add_population(n, ns.LIF(tau_m=20.0, v_rest=-65.0, v_reset=-65.0, v_thresh=-50.0,
                                       tau_refrac=2.0, synapse="delta"))
    net.add_poisson_input(pop, rate=rate, weight=1.0, n_sources=n_sources)
    return net, pop


@pytest.mark.parametrize("rate", [8.0, 16.0])
def test_intrinsic_plasticity_reaches_target_rate(rate, device):
    """Whatever the drive (here 2x apart: 1 and 40 Hz without homeostasis), the population ends
    within 10% of the target rate."""
    net, pop = _driven(400, rate, 5, device, n_sources=250)
    net.add_homeostasis(pop, IntrinsicPlasticity(target_rate=5.0, eta=2.0, tau_rate=20.0,
                                                 interval=5.0))
    mon = net.record_spikes(pop)
    net.run(4000.0)
    r = mon.rates(t_start=3000.0, t_stop=4000.0).mean()
    assert r == pytest.approx(5.0, rel=0.1)


def test_synaptic_scaling_to_target_rate(device):
    net = ns.Network(dt=0.5, device=device, seed=2)
    src = net.add_population(300, ns.PoissonSource(rate=10.0))
    pop = net.add_population(200, ns.LIF(tau_m=20.0, v_rest=-65.0, v_reset=-65.0,
                                         v_thresh=-50.0, tau_refrac=2.0, synapse="delta"))
    proj = net.connect(src, pop, ns.FixedIndegree(100), weight=0.8)
    net.add_homeostasis(pop, SynapticScaling(target_rate=5.0, eta=2.0, tau_rate=200.0,
                                             interval=20.0))
    mon = net.record_spikes(pop)
    net.run(6000.0)
    assert mon.rates(t_start=5000.0, t_stop=6000.0).mean() == pytest.approx(5.0, rel=0.15)
    assert proj.weights.min() > 0           # multiplicative: the sign is kept


def test_synaptic_scaling_to_target_total_weight(device):
    """Every neuron's incoming weights (plastic and static) sum to target_total after a scaling,
    in their proportions (Diehl & Cook's normalisation)."""
    net = ns.Network(dt=DT, device=device, seed=2)
    src = net.add_population(30, ns.PoissonSource(rate=20.0))
    pop = net.add_population(4, ns.LIF(**PARROT))
    plastic = net.connect(src, pop, ns.AllToAll(), weight=ns.Uniform(0.1, 0.5),
                          plasticity=STDP(A_plus=0.0, A_minus=0.0, w_max=10.0))
    static = net.connect(src, pop, ns.FixedIndegree(10), weight=ns.Uniform(0.1, 0.5))
    net.add_homeostasis(pop, SynapticScaling(target_total=12.0, interval=10.0))
    net.build()
    w_p0, w_s0 = plastic.weights, static.weights
    net.run(10.0)
    total = (np.bincount(plastic.targets, plastic.weights, minlength=4)
             + np.bincount(static.targets, static.weights, minlength=4))
    np.testing.assert_allclose(total, 12.0, rtol=1e-5)
    total0 = (np.bincount(plastic.targets, w_p0, minlength=4)
              + np.bincount(static.targets, w_s0, minlength=4))
    factor = 12.0 / total0
    np.testing.assert_allclose(plastic.weights, w_p0 * factor[plastic.targets], rtol=1e-5)
    np.testing.assert_allclose(static.weights, w_s0 * factor[static.targets], rtol=1e-5)


@pytest.mark.parametrize("pairing", ["all", "nearest"])
@pytest.mark.parametrize("delay", [1.5, "mixed"])
def test_row_wise_runtime_matches_event_by_event(pairing, delay):
    """The additive runtime that settles potentiation row by row (StdpDeferredNumpy) gives the
    weights of the event-by-event runtime (StdpNumpy) on the same Poisson spike trains, with
    reads, writes and learning switches in between."""
    from neurosim.plasticity.stdp import StdpNumpy

    class Eager(STDP):
        def build_numpy(self, engine, proj):
            return StdpNumpy(engine, proj, self)

    def run(cls):
        net = ns.Network(dt=DT, device="cpu", seed=7)
        pre = net.add_population(40, ns.PoissonSource(rate=30.0))
        teach = net.add_population(25, ns.PoissonSource(rate=25.0))
        post = net.add_population(25, ns.LIF(**dict(PARROT, v_thresh=1000.0)))
        rule = cls(A_plus=0.01, A_minus=0.012, tau_plus=15.0, tau_minus=30.0, w_min=0.0,
                   w_max=1.0, pairing=pairing)
        d = 1.5 if delay == 1.5 else ns.Uniform(0.1, 6.0)
        proj = net.connect(pre, post, ns.FixedProbability(0.5), weight=ns.Uniform(0.2, 0.8),
                           delay=d, plasticity=rule)
        net.connect(teach, post, ns.OneToOne(), weight=2000.0, delay=DT)
        out = []
        for k in range(4):
            net.run(150.0)
            out.append(proj.weights)
            if k == 1:
                rule.enabled = False
            if k == 2:
                rule.enabled = True
                proj.weights = np.clip(proj.weights * 0.9, 0.0, 1.0)
        return out

    for a, b in zip(run(STDP), run(Eager)):
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-6)


def test_scaling_of_lazily_integrated_weights_does_not_depend_on_chunks():
    """SynapticScaling reads RewardSTDP's lazily integrated weights at its own step, not at the
    chunk's start: one long run, many short runs and a save/load in between give the same
    weights (before engine.step_now, the weights were integrated to the chunk's first step)."""
    import os
    import tempfile

    def build():
        net = ns.Network(dt=0.1, seed=3, device="cpu")
        src = net.add_population(40, ns.PoissonSource(rate=30.0))
        out = net.add_population(10, ns.LIF(tau_m=10.0, v_thresh=-55.0, v_rest=-65.0,
                                            v_reset=-65.0))
        rule = ns.RewardSTDP(A_plus=5.0, A_minus=5.0, tau_c=50.0, w_min=0.0, w_max=200.0)
        proj = net.connect(src, out, ns.FixedIndegree(20), weight=150.0, delay=1.0,
                           plasticity=rule)
        net.add_homeostasis(out, ns.SynapticScaling(target_rate=5.0, eta=1.0, interval=1.3))
        net.inject(out, ns.DCCurrent(300.0))
        return net, proj, rule

    a, pa, ra = build()
    a.run(20.0)
    ra.deliver_reward(5.0)
    a.run(40.0)
    b, pb, rb = build()
    for _ in range(8):
        b.run(2.5)
    rb.deliver_reward(5.0)
    for _ in range(7):
        b.run(2.5)
    path = os.path.join(tempfile.mkdtemp(), "ck")
    b.save(path)
    c = ns.load(path)
    c.run(22.5)
    assert np.ptp(pa.weights) > 1.0                  # reward and scaling moved the weights
    np.testing.assert_array_equal(pa.weights, c.projections[0].weights)
