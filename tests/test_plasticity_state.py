"""Plasticity and homeostasis state read and written by name (Network.get_state/set_state on
projections, rules and populations; reset_traces), on NumPy and the CUDA engine (host build),
checked against the rules' own equations and between backends."""

import numpy as np
import pytest

import neurosim as ns


def _net(device, rule=None, seed=1, pre_rate=80.0):
    net = ns.Network(dt=0.1, device=device, seed=seed)
    inputs = net.add_population(30, ns.PoissonSource(rate=pre_rate), name="inputs")
    cell = net.add_population(3, ns.LIF(synapse="delta", tau_refrac=2.0), name="cell")
    rule = rule or ns.STDP(A_plus=0.01, A_minus=0.0105, tau_plus=20.0, tau_minus=30.0,
                           w_min=0.0, w_max=2.0, update="multiplicative")
    syn = net.connect(inputs, cell, ns.AllToAll(), weight=ns.Uniform(0.5, 2.0),
                      delay=ns.Uniform(0.1, 2.0), plasticity=rule)
    theta = net.add_homeostasis(cell, ns.AdaptiveThreshold(theta_plus=0.5, tau_theta=1e3))
    return net, inputs, cell, syn, theta


def test_traces_decay_as_the_rule_says_after_being_set(device):
    """Set traces with no spikes to come: x decays with tau_plus, y with tau_minus."""
    net, inputs, cell, syn, _ = _net(device, pre_rate=0.0)
    net.run(5.0)
    x0 = np.linspace(0.0, 1.0, 30)
    net.set_state(syn, "pre.x", x0)
    net.set_state(syn, "post.y", [0.2, 0.4, 0.8])
    np.testing.assert_array_equal(net.get_state(syn, "pre.x"), x0.astype(np.float32))
    net.run(10.0)
    np.testing.assert_allclose(net.get_state(syn, "pre.x"), x0 * np.exp(-10.0 / 20.0),
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(net.get_state(syn, "post.y"),
                               np.array([0.2, 0.4, 0.8]) * np.exp(-10.0 / 30.0), rtol=1e-5)


def test_a_set_presynaptic_trace_potentiates_at_a_post_spike(device):
    """Multiplicative STDP: a postsynaptic spike adds A_plus (w_max - w) x_pre to each weight;
    with x set to a known value and no presynaptic spikes, the change is that exactly."""
    net = ns.Network(dt=0.1, device=device, seed=1)
    pre = net.add_population(4, ns.SpikeSource([[], [], [], []]), name="pre")
    post = net.add_population(1, ns.SpikeSource([[2.0]]), name="post_driver")
    cell = net.add_population(1, ns.LIF(synapse="delta", tau_refrac=2.0), name="cell")
    stdp = ns.STDP(A_plus=0.1, A_minus=0.0, tau_plus=20.0, tau_minus=20.0, w_min=0.0,
                   w_max=1.0, update="multiplicative")
    syn = net.connect(pre, cell, ns.AllToAll(), weight=0.5, delay=1.0, plasticity=stdp)
    net.connect(post, cell, ns.AllToAll(), weight=100.0, delay=0.1)   # forces a spike at 2.1
    spikes = net.record_spikes(cell)
    net.build()
    x = np.array([0.0, 0.25, 0.5, 1.0], np.float32)
    net.set_state(syn, "pre.x", x)
    net.run(3.0)
    assert spikes.times.tolist() == pytest.approx([2.1])
    # the synapse reads the presynaptic trace as it arrives, delay (1 ms) late: the trace set
    # at t = 0, decayed to 2.1 - 1.0 ms (no presynaptic spike)
    x_at_spike = x * np.exp(-(2.1 - 1.0) / 20.0)
    np.testing.assert_allclose(syn.weights, 0.5 + 0.1 * 0.5 * x_at_spike, rtol=1e-5)


def test_reset_traces_and_parity_between_backends():
    """After learning, traces, thresholds and weights are equal on NumPy and the host build;
    reset_traces zeroes every trace and nothing else; both continue alike."""
    from conftest import _host_ok
    if not _host_ok()[0]:
        pytest.skip("cuda:host unavailable")
    out = {}
    for device in ("cpu", "cuda:host"):
        net, inputs, cell, syn, theta = _net(device)
        spikes = net.record_spikes(cell)
        net.run(150.0)
        before = {k: net.get_state(syn, k) for k in ("pre.x", "post.y")}
        w, th = syn.weights.copy(), net.get_state(cell, "theta")
        net.reset_traces()
        assert not np.any(net.get_state(syn, "pre.x")) and not np.any(net.get_state(syn, "post.y"))
        np.testing.assert_array_equal(syn.weights, w)
        np.testing.assert_array_equal(net.get_state(theta, "theta"), th)
        net.run(100.0)
        out[device] = (before, w, th, syn.weights.copy(), spikes.steps.copy())
    (b0, w0, t0, wa, s0), (b1, w1, t1, wb, s1) = out["cpu"], out["cuda:host"]
    assert s0.size > 5 and np.any(b0["pre.x"]) and np.any(t0)
    for k in b0:
        np.testing.assert_array_equal(b0[k], b1[k])
    np.testing.assert_array_equal(w0, w1)
    np.testing.assert_array_equal(t0, t1)
    np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(s0, s1)


def test_threshold_set_acts_on_firing(device):
    """theta set to 10 mV lifts the threshold above a steady state that fired before:
    a LIF held at v_inf = v_rest + I tau_m / cm stops firing, and fires again at theta 0."""
    net = ns.Network(dt=0.1, device=device, seed=1)
    cell = net.add_population(2, ns.LIF(), name="cell")         # v_rest -70, v_thresh -50
    net.inject(cell, ns.DCCurrent(np.array([600.0, 600.0])))    # v_inf = -70 + 24 = -46 mV
    rule = net.add_homeostasis(cell, ns.AdaptiveThreshold(theta_plus=0.0, tau_theta=1e9,
                                                          theta_init=[0.0, 10.0]))
    spikes = net.record_spikes(cell)
    np.testing.assert_allclose(net.get_state(rule, "theta"), [0.0, 10.0])
    net.run(100.0)
    assert spikes.count[0] > 2 and spikes.count[1] == 0
    net.set_state(cell, "theta", [10.0, 0.0])
    net.run(100.0)
    late = spikes.indices[spikes.times > 120.0]
    assert set(late.tolist()) == {1}


def test_intrinsic_plasticity_state(device):
    net = ns.Network(dt=0.1, device=device, seed=1)
    cell = net.add_population(4, ns.LIF(), name="cell")
    net.inject(cell, ns.DCCurrent(600.0))
    ip = net.add_homeostasis(cell, ns.IntrinsicPlasticity(target_rate=5.0, interval=10.0))
    net.run(50.0)
    r = net.get_state(cell, "rate_estimate")
    assert np.all(r > 5.0)
    net.set_state(ip, "rate_estimate", 5.0)
    net.set_state(ip, "theta", [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(net.get_state(cell, "theta"), [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(net.get_state(cell, "rate_estimate"), 5.0)


def test_learned_state_carries_into_a_fresh_network(device, tmp_path):
    """The documented ways: copy weights and thresholds (theta_init as an array) into a new
    network, or save/load; a frozen copy answers a test input as the original does."""
    net, inputs, cell, syn, theta = _net(device)
    net.run(200.0)
    net.set_learning(False)
    w, th = syn.weights.copy(), net.get_state(cell, "theta")
    assert np.any(th)

    fresh, _, cell2, syn2, _ = _net(device)
    fresh.homeostasis.clear()
    fresh.add_homeostasis(cell2, ns.AdaptiveThreshold(theta_plus=0.5, tau_theta=1e3,
                                                      theta_init=th))
    fresh.build()
    syn2.weights = w
    fresh.set_learning(False)
    np.testing.assert_array_equal(syn2.weights, w)
    np.testing.assert_array_equal(fresh.get_state(cell2, "theta"), th)
    fresh.save(tmp_path / "fresh.npz")
    back = ns.load(tmp_path / "fresh.npz", device="cpu")
    np.testing.assert_array_equal(back.projections[0].weights, w)
    np.testing.assert_array_equal(back.get_state(back.populations[1], "theta"), th)


@pytest.mark.parametrize("rule, names", [
    (ns.TripletSTDP(w_max=2.0), ("pre.r1", "pre.r2", "post.o1", "post.o2")),
    (ns.RewardSTDP(w_max=2.0), ("pre.x", "post.y", "c", "dopamine")),
])
def test_every_rule_state_round_trips(device, rule, names):
    net, inputs, cell, syn, _ = _net(device, rule=rule)
    net.run(30.0)
    for name in names:
        size = net.get_state(syn, name).size
        value = 0.25 if name == "dopamine" else np.linspace(0.0, 1.0, size)
        net.set_state(syn, name, value)
        np.testing.assert_allclose(net.get_state(syn, name), value, rtol=1e-7)
    assert net.get_state(syn, "c").size == 90 if "c" in names else True
    net.reset_traces()
    for name in names:
        if name.startswith(("pre.", "post.")):
            assert not np.any(net.get_state(syn, name))
    net.run(10.0)
