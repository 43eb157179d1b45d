"""QIF (neurosim/models/qif.py): interspike intervals and the f-I curve against the closed form
for constant input, the rheobase, and cpu vs cuda:host."""

import numpy as np
import pytest

import neurosim as ns
from neurosim.backends import host_build_status

CM, K, V_REST, V_CRIT, V_PEAK, V_RESET = 100.0, 0.7, -60.0, -40.0, 35.0, -50.0


def closed_form_isi(i, tau_refrac=0.0):
    """cm dv/dt = k (v - v_rest)(v - v_crit) + I from v_reset to v_peak (ms)."""
    v_m = (V_REST + V_CRIT) / 2
    q = np.sqrt(i / K - ((V_CRIT - V_REST) / 2) ** 2)
    return CM / (K * q) * (np.arctan((V_PEAK - v_m) / q)
                           - np.arctan((V_RESET - v_m) / q)) + tau_refrac


def measured_isi(currents, dt, device="cpu", tau_refrac=0.0, t=400.0):
    net = ns.Network(dt=dt, device=device)
    pop = net.add_population(len(currents), ns.QIF(cm=CM, k=K, v_rest=V_REST, v_crit=V_CRIT,
                                                    v_peak=V_PEAK, v_reset=V_RESET,
                                                    i_offset=np.asarray(currents, float),
                                                    tau_refrac=tau_refrac),
                             initial={"v": V_RESET})
    mon = net.record_spikes(pop)
    net.run(t)
    return [np.diff(mon.times[mon.indices == j]) for j in range(len(currents))], mon


def test_f_i_curve_matches_the_closed_form():
    """Forward Euler at dt = 0.01 ms: every interval within 0.5% (+ one step) of the closed form,
    from just above the rheobase (70 pA) to 5x it."""
    currents = [75.0, 90.0, 120.0, 200.0, 350.0]
    isis, _ = measured_isi(currents, 0.01)
    for i, isi in zip(currents, isis):
        assert isi.size >= 3, i
        expected = closed_form_isi(i)
        assert np.all(np.abs(isi - expected) <= 0.005 * expected + 0.01), (i, isi, expected)
    rates = [1000.0 / isi.mean() for isi in isis]
    assert np.all(np.diff(rates) > 0)                 # the f-I curve rises


def test_refractory_period_adds_to_the_interval():
    isis, _ = measured_isi([200.0], 0.01, tau_refrac=2.0)
    expected = closed_form_isi(200.0, tau_refrac=2.0)
    assert np.all(np.abs(isis[0] - expected) <= 0.01 * expected + 0.01)


def test_below_rheobase_no_spike_and_rest_is_stable():
    rheobase = K * (V_CRIT - V_REST) ** 2 / 4          # 70 pA
    _, mon = measured_isi([0.0, 0.9 * rheobase], 0.1, t=500.0)
    assert mon.num_spikes == 0


@pytest.mark.skipif(not host_build_status()[0], reason="no g++ for the host build")
def test_cpu_and_cuda_host_bit_identical():
    """No transcendental function in the step: the host build equals NumPy bit for bit, with
    synaptic input (Poisson drive, recurrent inhibition) and per-neuron currents."""
    def run(device):
        net = ns.Network(dt=0.1, device=device, seed=4)
        pop = net.add_population(30, ns.QIF(i_offset=np.linspace(0.0, 150.0, 30),
                                             tau_refrac=1.0),
                                 initial={"v": ns.Uniform(-65.0, -45.0)})
        net.add_poisson_input(pop, rate=500.0, weight=40.0, n_sources=4)
        net.connect(pop, pop, ns.FixedProbability(0.2), weight=-16.0, delay=1.5,
                    receptor="inhibitory")
        mon, vm = net.record_spikes(pop), net.record_state(pop, "v", every=3)
        net.run(100.0)
        return mon, vm
    (a, av), (b, bv) = run("cpu"), run("cuda:host")
    assert a.num_spikes > 20
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(av.values, bv.values)
