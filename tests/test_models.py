"""Izhikevich firing patterns (Izhikevich 2003), AdEx adaptation, LIFCond vs a fine ODE solution."""

import numpy as np
import pytest

import neurosim as ns


def run_single(model, current, device, duration=1000.0, start=20.0):
    net = ns.Network(dt=0.1, device=device, seed=1)
    pop = net.add_population(1, model)
    net.inject(pop, ns.DCCurrent(current, start=start))
    mon = net.record_spikes(pop)
    net.run(duration)
    return mon.times


def test_izhikevich_regular_spiking(device):
    t = run_single(ns.Izhikevich.preset("RS"), 10.0, device)
    isi = np.diff(t)
    assert 10 <= t.size <= 60
    assert isi.min() > 15.0                         # no bursts
    assert isi[0] < isi[-1]                         # spike-frequency adaptation
    assert np.std(isi[3:]) / np.mean(isi[3:]) < 0.05  # then regular


def test_izhikevich_fast_spiking(device):
    fs = run_single(ns.Izhikevich.preset("FS"), 10.0, device)
    rs = run_single(ns.Izhikevich.preset("RS"), 10.0, device)
    isi = np.diff(fs)
    assert fs.size > 3 * rs.size                    # high frequency
    assert np.std(isi[3:]) / np.mean(isi[3:]) < 0.05  # tonic, little adaptation
    assert isi.min() > 3.0


def test_izhikevich_chattering_bursts(device):
    t = run_single(ns.Izhikevich.preset("CH"), 10.0, device)
    isi = np.diff(t)
    short, long_ = isi < 8.0, isi > 25.0
    assert short.sum() > 20 and long_.sum() >= 10   # repeated bursts
    assert short.sum() + long_.sum() == isi.size    # bimodal: nothing in between
    # every burst has at least two spikes
    assert np.all(np.diff(np.flatnonzero(long_)) >= 2)


def test_izhikevich_intrinsic_bursting(device):
    t = run_single(ns.Izhikevich.preset("IB"), 10.0, device)
    isi = np.diff(t)
    assert np.all(isi[:2] < 8.0)                    # initial burst
    assert np.all(isi[2:] > 20.0)                   # then regular single spikes
    assert isi.size > 10


def test_adex_spike_frequency_adaptation(device):
    t = run_single(ns.AdEx(), 1000.0, device, duration=600.0, start=0.0)
    isi = np.diff(t)
    assert isi.size >= 8
    assert np.all(np.diff(isi[:6]) > 0)             # interspike intervals grow
    assert isi[-1] > 1.8 * isi[0]


def test_adex_spike_detection_level_is_a_parameter(device):
    t0 = run_single(ns.AdEx(v_peak=0.0), 1000.0, device, duration=300.0, start=0.0)
    t1 = run_single(ns.AdEx(v_peak=-50.4 + 5 * 2.0), 1000.0, device, duration=300.0, start=0.0)
    assert t0.size > 3 and t1.size > 3
    assert not np.array_equal(t0, t1)


def _lifcond_reference(t_end, dt_fine, spikes, p):
    """Fine-step RK4 in float64 of the LIFCond ODE with conductance jumps at spike times."""
    n = int(round(t_end / dt_fine))
    v, ge, gi = p["v_rest"], 0.0, 0.0
    gl = p["cm"] / p["tau_m"]
    out = np.empty(n)
    jumps = {int(round(ts / dt_fine)): (we, wi) for ts, we, wi in spikes}

    def f(v, ge, gi):
        return ((gl * (p["v_rest"] - v) + ge * (p["e_rev_E"] - v) + gi * (p["e_rev_I"] - v)) / p["cm"],
                -ge / p["tau_syn_E"], -gi / p["tau_syn_I"])

    for k in range(n):
        if k in jumps:
            ge += jumps[k][0]
            gi += jumps[k][1]
        y = np.array([v, ge, gi])
        k1 = np.array(f(*y))
        k2 = np.array(f(*(y + dt_fine / 2 * k1)))
        k3 = np.array(f(*(y + dt_fine / 2 * k2)))
        k4 = np.array(f(*(y + dt_fine * k3)))
        v, ge, gi = y + dt_fine / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out[k] = v
    return out


def test_lif_cond_psp_matches_fine_ode_solution(device):
    p = dict(cm=200.0, tau_m=20.0, v_rest=-60.0, v_reset=-60.0, v_thresh=0.0, tau_refrac=5.0,
             tau_syn_E=5.0, tau_syn_I=10.0, e_rev_E=0.0, e_rev_I=-80.0)
    net = ns.Network(dt=0.1, device=device, seed=1)
    src = net.add_population(2, ns.SpikeSource([[2.0], [10.0]]))
    tgt = net.add_population(1, ns.LIFCond(**p))
    net.connect(src, tgt, ns.Explicit([0], [0]), weight=20.0, delay=1.0)
    net.connect(src, tgt, ns.Explicit([1], [0]), weight=40.0, delay=1.0, receptor="inhibitory")
    vm = net.record_state(tgt, "v")
    net.run(60.0)
    ref = _lifcond_reference(60.0, 0.01, [(3.0, 20.0, 0.0), (11.0, 0.0, 40.0)], p)
    ref_at_steps = ref[9::10]                       # v at t = 0.1, 0.2, ...
    err = np.abs(vm.values[:, 0] - ref_at_steps)
    peak = np.abs(ref_at_steps + 60.0).max()
    assert peak > 2.0                               # a real PSP, several mV
    assert err.max() < 0.03 * peak                  # first-order scheme, within 3% of the PSP


def test_per_neuron_parameter_arrays(device):
    currents = np.array([300.0, 500.0, 800.0])
    net = ns.Network(dt=0.1, device=device, seed=1)
    pop = net.add_population(3, ns.LIF(tau_m=20.0, cm=250.0, v_rest=-70.0, v_reset=-70.0,
                                       v_thresh=-50.0, tau_refrac=np.array([2.0, 4.0, 1.0]),
                                       i_offset=currents))
    mon = net.record_spikes(pop)
    net.run(300.0)
    counts = mon.count
    assert counts[0] < counts[1] and counts[2] > counts[0]
    for i, tr in enumerate([2.0, 4.0, 1.0]):
        isi = np.diff(mon.spike_trains()[i])
        ri = currents[i] * 20.0 / 250.0
        expected = tr + 20.0 * np.log(ri / (ri - 20.0))
        assert np.all(np.abs(isi - expected) <= 0.1 + 1e-4)


def test_populations_with_different_parameters_merge_into_one_group():
    net = ns.Network(dt=0.1, device="cpu", seed=1)
    a = net.add_population(4, ns.LIF(i_offset=400.0))
    b = net.add_population(3, ns.LIF(i_offset=800.0, tau_m=15.0))
    net.build()
    layout = net._engine.L
    assert len(layout.groups) == 1
    ma, mb = net.record_spikes(a), net.record_spikes(b)
    net.run(200.0)
    # each behaves as if alone
    solo = ns.Network(dt=0.1, device="cpu", seed=1)
    sb = solo.add_population(3, ns.LIF(i_offset=800.0, tau_m=15.0))
    ms = solo.record_spikes(sb)
    solo.run(200.0)
    np.testing.assert_array_equal(mb.times, ms.times)
    assert ma.num_spikes > 0
