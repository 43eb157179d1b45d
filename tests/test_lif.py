"""LIF against closed forms: interspike interval, subthreshold trace, PSPs, refractoriness."""

import math

import numpy as np
import pytest

import neurosim as ns

DT = 0.1


def lif(**kw):
    base = dict(tau_m=20.0, cm=250.0, v_rest=-70.0, v_reset=-70.0, v_thresh=-50.0,
                tau_refrac=2.0, tau_syn_E=2.0, tau_syn_I=5.0)
    base.update(kw)
    return ns.LIF(**base)


@pytest.mark.parametrize("current", [300.0, 400.0, 600.0, 1000.0])
def test_interspike_interval_matches_closed_form(device, current):
    net = ns.Network(dt=DT, device=device, seed=1)
    pop = net.add_population(1, lif(i_offset=current))
    mon = net.record_spikes(pop)
    net.run(300.0)
    isi = np.diff(mon.times)
    ri = current * 20.0 / 250.0                      # R I in mV (R = tau_m / cm)
    expected = 2.0 + 20.0 * math.log(ri / (ri - 20.0))
    assert isi.size >= 3
    # spikes are detected at the end of the step in which v crosses: ISI in [T, T + dt)
    assert np.all(isi >= expected - 1e-4)
    assert np.all(isi < expected + DT + 1e-4)


def test_subthreshold_trace_matches_exact_solution(device):
    net = ns.Network(dt=DT, device=device, seed=1)
    pop = net.add_population(3, lif(i_offset=np.array([100.0, 200.0, 240.0])))
    vm = net.record_state(pop, "v")
    net.run(200.0)
    t = vm.times
    ri = np.array([100.0, 200.0, 240.0]) * 20.0 / 250.0
    exact = -70.0 + ri[None, :] * (1.0 - np.exp(-t[:, None] / 20.0))
    assert np.max(np.abs(vm.values - exact)) < 2e-5 * 70.0   # float32 precision


def test_psp_matches_exact_solution(device):
    """A spike at T through delay d makes the exact PSC-driven PSP from T + d on."""
    net = ns.Network(dt=DT, device=device, seed=1)
    src = net.add_population(1, ns.SpikeSource([[5.0]]))
    tgt = net.add_population(2, lif(v_thresh=0.0))
    w_e, w_i = 150.0, -80.0
    net.connect(src, tgt, ns.Explicit([0], [0]), weight=w_e, delay=1.5)
    net.connect(src, tgt, ns.Explicit([0], [1]), weight=w_i, delay=1.5, receptor="inhibitory")
    vm = net.record_state(tgt, "v")
    net.run(60.0)
    t = vm.times
    arrive = 5.0 + 1.5

    def psp(w, tau_s):
        s = np.clip(t - arrive, 0.0, None)
        return w / 250.0 * tau_s * 20.0 / (20.0 - tau_s) * (np.exp(-s / 20.0) - np.exp(-s / tau_s))

    np.testing.assert_allclose(vm.values[:, 0], -70.0 + psp(w_e, 2.0), atol=2e-5 * 70)
    np.testing.assert_allclose(vm.values[:, 1], -70.0 + psp(w_i, 5.0), atol=2e-5 * 70)
    assert vm.values[t <= arrive + 1e-9, 0].max() == pytest.approx(-70.0, abs=1e-5)


def test_delta_synapse_jump_decays_exponentially(device):
    net = ns.Network(dt=DT, device=device, seed=1)
    src = net.add_population(1, ns.SpikeSource([[2.0]]))
    tgt = net.add_population(1, ns.LIF(tau_m=20.0, v_rest=0.0, v_reset=10.0, v_thresh=20.0,
                                       synapse="delta"))
    net.connect(src, tgt, ns.AllToAll(), weight=4.0, delay=1.0)
    vm = net.record_state(tgt, "v")
    net.run(30.0)
    t, v = vm.times, vm.values[:, 0]
    arrive = 3.0
    after = t >= arrive - 1e-9
    np.testing.assert_allclose(v[after], 4.0 * np.exp(-(t[after] - arrive) / 20.0), rtol=1e-5)
    assert np.all(v[~after] == 0.0)


def test_refractory_holds_v_at_reset_for_tau_refrac(device):
    """After a spike stamped T, v stays at v_reset for round(tau_refrac/dt) updates (NEST's count)."""
    net = ns.Network(dt=DT, device=device, seed=1)
    pop = net.add_population(1, lif(i_offset=2000.0, tau_refrac=2.0))
    vm = net.record_state(pop, "v")
    mon = net.record_spikes(pop)
    net.run(40.0)
    t_spike = mon.times[0]
    t, v = vm.times, vm.values[:, 0]
    k = int(np.argmin(np.abs(t - t_spike)))
    clamped = v[k:k + 21]                     # the spike's own sample, then 20 clamped updates
    assert np.all(clamped == np.float32(-70.0))
    assert v[k + 21] > -70.0                  # integration resumes at T + 2 ms
    assert np.all(np.diff(mon.times) >= 2.0 + DT - 1e-9)


def test_inputs_during_refractory_period_are_ignored_for_delta_synapses(device):
    net = ns.Network(dt=DT, device=device, seed=1)
    src = net.add_population(1, ns.SpikeSource([[1.0, 2.0]]))
    tgt = net.add_population(1, ns.LIF(tau_m=20.0, v_rest=0.0, v_reset=0.0, v_thresh=20.0,
                                       tau_refrac=5.0, synapse="delta"))
    net.connect(src, tgt, ns.AllToAll(), weight=25.0, delay=0.1)
    vm = net.record_state(tgt, "v")
    mon = net.record_spikes(tgt)
    net.run(20.0)
    assert mon.num_spikes == 1               # the second input arrives while refractory
    assert mon.times[0] == pytest.approx(1.0 + 0.1)
    assert np.all(vm.values[(vm.times > 1.05) & (vm.times <= 6.1 + 1e-9), 0] == 0.0)


def test_exact_integration_independent_of_running_in_pieces(device):
    def trace(chunks):
        net = ns.Network(dt=DT, device=device, seed=3)
        pop = net.add_population(20, lif(i_offset=400.0), initial={"v": ns.Uniform(-70, -50)})
        mon = net.record_spikes(pop)
        for c in chunks:
            net.run(c)
        return mon.times, mon.indices

    a, b = trace([100.0]), trace([30.0, 0.0, 70.0])
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
