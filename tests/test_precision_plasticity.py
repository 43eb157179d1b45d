"""Plasticity and homeostasis in ``Network(precision="double")``: weights, traces, eligibility,
thresholds and rate estimates in float64 on every backend, checked against float64 closed forms
written here (and float32 shown not to reach them, so the checks discriminate). The CPU/CUDA
parity of the rules in double is in tests/test_plasticity_cuda.py (parametrised by precision).
"""

from __future__ import annotations

import numpy as np
import pytest

import neurosim as ns
from neurosim.plasticity import STDP, AdaptiveThreshold, RewardSTDP

DT = 0.1
PARROT = dict(tau_m=20.0, v_rest=0.0, v_reset=0.0, v_thresh=20.0, tau_refrac=0.5,
              synapse="delta")


def _host_ok() -> bool:
    from neurosim.backends import host_build_status
    return bool(host_build_status()[0])


def pairs(device, precision, rule, dts, delay=1.5, t_post=60.0):
    """One synapse per entry of ``dts``: its presynaptic spike arrives ``dts[i]`` ms before its
    postsynaptic neuron fires at ``t_post`` (imposed by a teacher); (weights, network)."""
    n = len(dts)
    net = ns.Network(dt=DT, device=device, seed=1, precision=precision)
    pre = net.add_population(n, ns.SpikeSource([[t_post - delay - d] for d in dts]))
    teach = net.add_population(n, ns.SpikeSource([[t_post - DT]] * n))
    post = net.add_population(n, ns.LIF(**PARROT))
    proj = net.connect(pre, post, ns.OneToOne(), weight=1.0, delay=delay, plasticity=rule)
    net.connect(teach, post, ns.OneToOne(), weight=50.0, delay=DT)
    mon = net.record_spikes(post)
    net.run(t_post + 100.0)
    assert np.allclose(mon.times, t_post)
    return proj.weights, net


@pytest.mark.parametrize("pairing", ["all", "nearest_reduced"])   # lazy and event-by-event NumPy
def test_stdp_pair_in_double_is_the_float64_closed_form(pairing, device):
    """One isolated pair per synapse: Delta w = A+ exp(-Dt/tau+) (Dt >= 0) and
    -A- exp(Dt/tau-) (Dt < 0) to 1e-12 in double; float32 misses that by orders of magnitude."""
    A_p, A_m, tau_p, tau_m = 0.01, 0.012, 16.8, 33.7
    dts = np.array([-40.0, -7.5, -0.1, 0.0, 0.1, 2.0, 7.5, 40.0])
    expected = np.where(dts >= 0, A_p * np.exp(-dts / tau_p), -A_m * np.exp(dts / tau_m))

    def rule():
        return STDP(A_plus=A_p, A_minus=A_m, tau_plus=tau_p, tau_minus=tau_m, w_min=0.0,
                    w_max=2.0, pairing=pairing)

    w, net = pairs(device, "double", rule(), dts)
    assert w.dtype == np.float64 and net.dtype == np.float64
    np.testing.assert_allclose(w - 1.0, expected, rtol=0, atol=1e-12)
    w32, _ = pairs(device, "single", rule(), dts)
    assert w32.dtype == np.float32
    assert np.abs((w32.astype(np.float64) - 1.0) - expected).max() > 1e-9


def test_plastic_state_reads_writes_and_checkpoints_in_double(tmp_path, device):
    """get_state/set_state of traces and eligibility, and a checkpoint, keep float64 values
    (a value float32 cannot hold comes back exactly), and the run goes on identically."""
    def build():
        net = ns.Network(dt=DT, device=device, seed=2, precision="double")
        pre = net.add_population(3, ns.PoissonSource(rate=80.0))
        post = net.add_population(2, ns.LIF(**PARROT))
        rule = RewardSTDP(A_plus=0.01, A_minus=0.012, tau_c=50.0, tau_d=20.0, baseline=0.1,
                          w_max=1.0)
        proj = net.connect(pre, post, ns.AllToAll(), weight=0.5, delay=1.0, plasticity=rule)
        net.connect(pre, post, ns.AllToAll(), weight=15.0, delay=DT)
        return net, proj, rule

    net, proj, rule = build()
    net.run(20.0)
    fine = 0.1 + 1e-12                              # not a float32 number
    net.set_state(proj, "post.y", fine)
    got = net.get_state(proj, "post.y")
    assert got.dtype == np.float64 and np.all(got == fine)
    net.set_state(proj, "c", np.full(6, 1e-3 + 1e-13))
    assert np.all(net.get_state(proj, "c") == 1e-3 + 1e-13)
    assert proj.weights.dtype == np.float64
    path = tmp_path / "double.nsim"
    net.save(path)
    rule.deliver_reward(1.0)
    net.run(30.0)
    w_direct = np.asarray(proj.weights)
    other = "cuda:host" if device == "cpu" else "cpu"
    for dev, tol in ((device, 0.0), (other, 1e-13)):     # its own form; the portable form
        if dev == "cuda:host" and not _host_ok():
            continue
        net2 = ns.load(path, device=dev)
        proj2 = net2.projections[0]
        assert net2.dtype == np.float64 and proj2.weights.dtype == np.float64
        assert np.all(net2.get_state(proj2, "post.y") == fine)
        proj2.plasticity.deliver_reward(1.0)
        net2.run(30.0)
        np.testing.assert_allclose(np.asarray(proj2.weights), w_direct, rtol=0, atol=tol)
    assert np.abs(w_direct - 0.5).max() > 1e-6                  # it learned


def test_adaptive_threshold_in_double_is_the_float64_closed_form(device):
    """theta(t) = sum_k theta_plus exp(-(t - t_k)/tau_theta) to 1e-12 mV in double (float32:
    no better than 1e-8); theta is float64."""
    spikes = [20.0, 35.0, 50.0]

    def theta(precision):
        net = ns.Network(dt=DT, device=device, seed=1, precision=precision)
        teach = net.add_population(1, ns.SpikeSource([np.asarray(spikes) - DT]))
        post = net.add_population(1, ns.LIF(**PARROT))
        net.connect(teach, post, ns.AllToAll(), weight=50.0, delay=DT)
        rule = net.add_homeostasis(post, AdaptiveThreshold(theta_plus=2.0, tau_theta=40.0))
        net.run(90.0)
        return rule.theta, net.get_state(rule, "theta")

    expected = sum(2.0 * np.exp(-(90.0 - t) / 40.0) for t in spikes)
    th, state = theta("double")
    assert th.dtype == np.float64 and state.dtype == np.float64
    np.testing.assert_allclose(th, [expected], rtol=0, atol=1e-12)
    th32, _ = theta("single")
    assert abs(float(th32[0]) - expected) > 1e-8


def test_device_estimates_count_8_bytes_per_plastic_value_in_double():
    """The CUDA runtimes' arrays in double (cuda:host): the estimates count float64 weights,
    traces, eligibility, thresholds and rate estimates, and match what is allocated."""
    if not _host_ok():
        pytest.skip("cuda:host unavailable")
    from neurosim.engine import device_memory, memory
    from neurosim.plasticity import IntrinsicPlasticity, cuda_runtime
    net = ns.Network(device="cuda:host", seed=3, precision="double")
    a = net.add_population(400, ns.LIF())
    b = net.add_population(300, ns.LIF())
    delay = ns.Uniform(0.5, 3.0)
    p = net.connect(a, b, ns.FixedIndegree(100), weight=0.5, delay=delay,
                    plasticity=RewardSTDP(w_max=1.0))
    rule = net.add_homeostasis(b, IntrinsicPlasticity(target_rate=5.0))
    net.build()
    plastic, homeo = net._engine.plastic
    assert plastic.v["w"].dtype == plastic.v["st_c"].dtype == plastic.v["xr"].dtype == np.float64
    estimate = device_memory._plastic_bytes(net._engine.L, p)
    assert estimate == pytest.approx(cuda_runtime.runtime_device_bytes(plastic), rel=0.03)
    bare = cuda_runtime.plastic_device_bytes(p.plasticity, 0, 400, 300,
                                             memory.delay_steps_reach(delay, 0.1), True, 8)
    # int32 pre, post, delay; int64 column index and last update; float64 weight and c
    assert (estimate - bare) / 30_000 == pytest.approx(4 * 3 + 8 * 2 + 8 * 2, abs=0.01)
    actual = sum(x.nbytes for x in homeo.v.values() if getattr(x, "ndim", 0) > 0)
    assert homeo.v["theta"].dtype == homeo.v["r"].dtype == np.float64
    assert cuda_runtime.homeostasis_device_bytes(net, b, rule) == pytest.approx(actual, rel=0.03)
