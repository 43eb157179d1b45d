"""AdExCond (neurosim/models/adex_cond.py) against an independent float64 forward-Euler
integration of its equations with conductance input from known spikes; Brette & Gerstner's
firing patterns; cpu vs cuda:host."""

import math

import numpy as np
import pytest

import neurosim as ns
from neurosim.backends import host_build_status

HOST = pytest.param("cuda:host", marks=pytest.mark.skipif(not host_build_status()[0],
                                                          reason="no g++"))
P = dict(cm=281.0, g_L=30.0, e_L=-70.6, v_T=-50.4, delta_T=2.0, v_reset=-70.6, v_peak=0.0,
         a=4.0, b=80.5, tau_w=144.0, tau_refrac=0.5, tau_syn_E=2.0, tau_syn_I=5.0,
         e_rev_E=0.0, e_rev_I=-85.0)
IN_E = np.arange(20.0, 400.0, 7.0)          # input spike times (ms) through the synapses
IN_I = np.arange(23.5, 400.0, 11.0)
W_E, W_I, DELAY = 12.0, 20.0, 1.0           # nS, nS, ms


def reference(i_offset, dt, steps, p=P):
    """float64, the model's step order: v and w by forward Euler from the state at the step's
    start with the conductances of that time; conductances decay exactly, then take the
    weights arriving at the end of the step; refractory hold; threshold; reset."""
    v, w, ge, gi, ref = p["e_L"], 0.0, 0.0, 0.0, 0
    n_ref = int(round(p["tau_refrac"] / dt))
    arrive_e = np.bincount(np.round((IN_E + DELAY) / dt).astype(int) - 1, minlength=steps)
    arrive_i = np.bincount(np.round((IN_I + DELAY) / dt).astype(int) - 1, minlength=steps)
    spikes = []
    for n in range(steps):
        spike_current = p["g_L"] * p["delta_T"] * math.exp(
            (min(v, p["v_peak"]) - p["v_T"]) / p["delta_T"])
        i_total = (p["g_L"] * (p["e_L"] - v) + spike_current + ge * (p["e_rev_E"] - v)
                   + gi * (p["e_rev_I"] - v))
        dv = dt * (i_total - w + i_offset) / p["cm"]
        w += dt * (p["a"] * (v - p["e_L"]) - w) / p["tau_w"]
        v += dv
        ge = ge * math.exp(-dt / p["tau_syn_E"]) + W_E * arrive_e[n]
        gi = gi * math.exp(-dt / p["tau_syn_I"]) + W_I * arrive_i[n]
        if ref > 0:
            v, ref = p["v_reset"], ref - 1
        elif v >= p["v_peak"]:
            v, w, ref = p["v_reset"], w + p["b"], n_ref
            spikes.append(n)
    return np.array(spikes)


@pytest.mark.parametrize("device", ["cpu", HOST])
def test_matches_a_float64_reference_with_conductance_input(device):
    dt, steps = 0.1, 5000
    currents = [1000.0, 1300.0, 1800.0]
    net = ns.Network(dt=dt, device=device)
    src = net.add_population(2, ns.SpikeSource([IN_E, IN_I]))
    pop = net.add_population(3, ns.AdExCond(**P, i_offset=np.array(currents)))
    net.connect(src, pop, ns.Explicit([0, 0, 0], [0, 1, 2]), weight=W_E, delay=DELAY)
    net.connect(src, pop, ns.Explicit([1, 1, 1], [0, 1, 2]), weight=W_I, delay=DELAY,
                receptor="inhibitory")
    mon = net.record_spikes(pop)
    net.run(steps * dt)
    for j, i in enumerate(currents):
        ref = reference(i, dt, steps)
        got = mon.steps[mon.indices == j]
        assert ref.size >= 5 and got.size == ref.size, (i, got.size, ref.size)
        assert np.max(np.abs(got - ref)) <= 1, i       # float32 vs float64: a step at most


def test_synaptic_input_drives_it_and_inhibition_holds_it_back():
    """Excitatory conductance input alone makes a resting cell fire; the same input with
    strong inhibition at e_rev_I fires less."""
    def rate(w_inh):
        net = ns.Network(dt=0.1, device="cpu", seed=3)
        drive = net.add_population(200, ns.PoissonSource(rate=20.0))
        cell = net.add_population(10, ns.AdExCond(tau_syn_E=5.0, tau_syn_I=10.0))
        net.connect(drive, cell, ns.AllToAll(), weight=3.0)
        if w_inh:
            net.connect(drive, cell, ns.AllToAll(), weight=w_inh, receptor="inhibitory")
        mon = net.record_spikes(cell)
        net.run(1000.0)
        return mon.num_spikes / 10.0
    excited, inhibited = rate(0.0), rate(4.0)
    assert excited > 5.0 and inhibited < 0.5 * excited


@pytest.mark.parametrize("device", [HOST])
def test_cpu_and_cuda_host_agree(device):
    def run(dev):
        net = ns.Network(dt=0.1, device=dev, seed=5)
        drive = net.add_population(100, ns.PoissonSource(rate=30.0))
        cell = net.add_population(50, ns.AdExCond(tau_syn_E=5.0, tau_syn_I=10.0),
                                  initial={"v": ns.Uniform(-70.0, -55.0)})
        net.connect(drive, cell, ns.FixedProbability(0.5), weight=4.0, delay=1.0)
        net.connect(cell, cell, ns.FixedProbability(0.1), weight=2.0, delay=1.5,
                    receptor="inhibitory")
        mon = net.record_spikes(cell)
        net.run(500.0)
        return mon
    a, b = run("cpu"), run(device)
    assert a.num_spikes > 100
    assert abs(a.num_spikes - b.num_spikes) <= 0.05 * a.num_spikes     # exp(): last-bit drift
    n_first = min(50, a.num_spikes, b.num_spikes)
    np.testing.assert_array_equal(a.steps[:n_first], b.steps[:n_first])
