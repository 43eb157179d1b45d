"""AdaptiveLIF (neurosim/models/adaptive_lif.py) against an independent float64 forward-Euler
integration of its equations, spike-frequency adaptation, and cpu vs cuda:host."""

import numpy as np
import pytest

import neurosim as ns
from neurosim.backends import host_build_status

P = dict(tau_m=20.0, cm=250.0, v_rest=-70.0, v_reset=-65.0, v_thresh=-50.0, tau_refrac=2.0,
         a=2.0, b=60.0, tau_w=150.0)


def reference(i_offset, dt, steps, p=P):
    """float64 forward Euler, the model's step order: update (v and w from the old state),
    refractory hold, threshold, reset. Spike steps and the v trace."""
    v, w, ref = p["v_rest"], 0.0, 0
    n_ref = int(round(p["tau_refrac"] / dt))
    spikes, trace = [], np.empty(steps)
    for n in range(steps):
        dv = dt * ((p["v_rest"] - v) / p["tau_m"] + (i_offset - w) / p["cm"])
        w += dt * (p["a"] * (v - p["v_rest"]) - w) / p["tau_w"]
        v += dv
        if ref > 0:
            v, ref = p["v_reset"], ref - 1
        elif v >= p["v_thresh"]:
            v, w, ref = p["v_reset"], w + p["b"], n_ref
            spikes.append(n)
        trace[n] = v
    return np.array(spikes), trace


@pytest.mark.parametrize("device", ["cpu", pytest.param(
    "cuda:host", marks=pytest.mark.skipif(not host_build_status()[0], reason="no g++"))])
def test_matches_a_float64_forward_euler_reference(device):
    dt, steps = 0.1, 5000
    currents = [450.0, 600.0, 900.0]
    net = ns.Network(dt=dt, device=device)
    pop = net.add_population(3, ns.AdaptiveLIF(**P, i_offset=np.array(currents)))
    mon, vm = net.record_spikes(pop), net.record_state(pop, "v")
    net.run(steps * dt)
    for j, i in enumerate(currents):
        ref_steps, ref_v = reference(i, dt, steps)
        got = mon.steps[mon.indices == j]
        assert ref_steps.size >= 8 and got.size == ref_steps.size, (i, got.size, ref_steps.size)
        assert np.max(np.abs(got - ref_steps)) <= 1, i       # float32 vs float64: a step at most
        first = ref_steps[0]
        np.testing.assert_allclose(vm.values[:first, j], ref_v[:first], atol=2e-3)


def test_spike_frequency_adaptation():
    """With b > 0 the intervals lengthen towards a steady state; with a = b = 0 they do not."""
    def isis(**kw):
        net = ns.Network(dt=0.1, device="cpu")
        pop = net.add_population(1, ns.AdaptiveLIF(**{**P, **kw}, i_offset=600.0))
        mon = net.record_spikes(pop)
        net.run(1000.0)
        return np.diff(mon.times)
    adapting, plain = isis(), isis(a=0.0, b=0.0)
    assert adapting[-1] > 1.5 * adapting[0] and np.all(np.diff(adapting[:5]) > 0)
    assert np.ptp(plain) <= 0.1 + 1e-9


@pytest.mark.skipif(not host_build_status()[0], reason="no g++ for the host build")
def test_cpu_and_cuda_host_bit_identical():
    def run(device):
        net = ns.Network(dt=0.1, device=device, seed=9)
        src = net.add_population(20, ns.PoissonSource(rate=40.0))
        pop = net.add_population(25, ns.AdaptiveLIF(i_offset=np.linspace(300, 500, 25)),
                                 initial={"v": ns.Uniform(-70.0, -55.0)})
        net.connect(src, pop, ns.FixedIndegree(4), weight=100.0, delay=ns.Uniform(0.5, 2.0))
        net.connect(pop, pop, ns.FixedProbability(0.2), weight=-50.0, delay=1.0,
                    receptor="inhibitory")
        mon, w = net.record_spikes(pop), net.record_state(pop, "w", every=4)
        net.run(150.0)
        return mon, w
    (a, aw), (b, bw) = run("cpu"), run("cuda:host")
    assert a.num_spikes > 20
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(aw.values, bw.values)
