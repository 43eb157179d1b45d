"""LIFCond(integration="euler"): forward Euler for v, against an independent reference.

The reference below is written from the equations of ``neurosim.models.lif_cond`` and the step
order of ``docs/architecture.md`` (update from the state at t, exact decay of the conductances,
arrivals added at t + h, threshold, reset, refractory hold), in float64 with NumPy; it shares
no code with the simulator. In double precision the simulator must give the same spikes and the
same v to rounding; in single precision v to float32 accuracy.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import neurosim as ns

DT = 0.1
P = dict(cm=200.0, tau_m=20.0, v_rest=-60.0, v_reset=-60.0, v_thresh=-50.0, tau_refrac=5.0,
         tau_syn_E=5.0, tau_syn_I=10.0, e_rev_E=0.0, e_rev_I=-80.0)
I_OFFSET = np.array([0.0, 60.0, 260.0, 400.0])       # pA: silent, subthreshold, firing
# input spikes (source, time ms): source 0 excitatory (weight W_E), source 1 inhibitory (W_I)
INPUT = {0: [2.0, 2.5, 3.0, 3.2, 10.0, 30.0, 30.1, 30.2, 30.3, 30.4, 31.0],
         1: [6.0, 20.0, 40.0]}
W_E, W_I, DELAY = 3.0, 10.0, 1.0
T_MS = 60.0


def euler_reference(steps: int):
    """Forward Euler in float64: v at the end of every step (steps x n) and the spikes
    as (step, neuron), steps counted from 1 (a spike at t = k*DT has step k)."""
    n = I_OFFSET.size
    g_l = P["cm"] / P["tau_m"]
    v = np.full(n, P["v_rest"])
    g_e, g_i = np.zeros(n), np.zeros(n)
    hold = np.zeros(n, int)
    n_hold = int(round(P["tau_refrac"] / DT))
    arrive = {}
    for src, w in ((0, (W_E, 0.0)), (1, (0.0, W_I))):
        for t in INPUT[src]:
            k = int(round((t + DELAY) / DT))
            a = arrive.setdefault(k, [0.0, 0.0])
            a[0] += w[0]
            a[1] += w[1]
    vs, spikes = np.empty((steps, n)), []
    for k in range(1, steps + 1):               # the step from (k-1)*DT to k*DT
        dv = (g_l * (P["v_rest"] - v) + g_e * (P["e_rev_E"] - v) + g_i * (P["e_rev_I"] - v)
              + I_OFFSET) * DT / P["cm"]
        v = v + dv
        g_e = g_e * np.exp(-DT / P["tau_syn_E"])
        g_i = g_i * np.exp(-DT / P["tau_syn_I"])
        if k in arrive:
            g_e = g_e + arrive[k][0]
            g_i = g_i + arrive[k][1]
        held = hold > 0
        v[held] = P["v_reset"]
        hold[held] -= 1
        fired = (~held) & (v >= P["v_thresh"])
        for j in np.flatnonzero(fired):
            spikes.append((k, int(j)))
        v[fired] = P["v_reset"]
        hold[fired] = n_hold
        vs[k - 1] = v
    return vs, spikes


def simulate(device: str, precision: str, integration: str = "euler"):
    net = ns.Network(dt=DT, device=device, seed=1, precision=precision)
    src = net.add_population(2, ns.SpikeSource([INPUT[0], INPUT[1]]))
    pop = net.add_population(I_OFFSET.size, ns.LIFCond(**P, i_offset=I_OFFSET,
                                                       integration=integration))
    every = np.arange(I_OFFSET.size)
    net.connect(src, pop, ns.Explicit(np.zeros_like(every), every), weight=W_E, delay=DELAY)
    net.connect(src, pop, ns.Explicit(np.ones_like(every), every), weight=W_I, delay=DELAY,
                receptor="inhibitory")
    vm = net.record_state(pop, "v")
    sp = net.record_spikes(pop)
    net.run(T_MS)
    # the monitor's step k is the update from k*DT to (k+1)*DT (the reference's step k + 1)
    return np.asarray(vm.values, np.float64), sorted(zip((sp.steps + 1).tolist(),
                                                         sp.indices.tolist()))


def test_reference_sees_input_and_spikes():
    vs, spikes = euler_reference(int(round(T_MS / DT)))
    assert {j for _, j in spikes} == {0, 1, 2, 3} and len(spikes) >= 8
    # neurons 0 and 1 are below threshold without input: they fire after the burst at 31 ms
    assert all(k * DT > 31.0 for k, j in spikes if j in (0, 1))
    before = int(30.0 / DT)
    assert vs[:before, 0].max() > P["v_rest"] + 0.5       # an EPSP in the resting neuron
    assert vs[:before, 0].min() < P["v_rest"] - 0.3       # and an IPSP


def test_forward_euler_matches_reference_in_double(device):
    steps = int(round(T_MS / DT))
    ref_v, ref_spikes = euler_reference(steps)
    v, spikes = simulate(device, "double")
    assert spikes == ref_spikes
    np.testing.assert_allclose(v, ref_v, rtol=0, atol=1e-9)


def test_forward_euler_matches_reference_in_single(device):
    steps = int(round(T_MS / DT))
    ref_v, ref_spikes = euler_reference(steps)
    v, spikes = simulate(device, "single")
    assert spikes == ref_spikes            # no threshold crossing is closer than float32's error
    np.testing.assert_allclose(v, ref_v, rtol=0, atol=2e-3)


def test_schemes_differ_and_default_is_exponential_euler():
    v_fe, _ = simulate("cpu", "double", "euler")
    v_ee, _ = simulate("cpu", "double", "exponential_euler")
    diff = np.abs(v_fe - v_ee)
    assert 1e-6 < diff[:, 1].max() < 0.5                 # same dynamics, another scheme
    model = ns.LIFCond()
    assert model.integration == "exponential_euler" and model.options() == ("exponential_euler",)
    euler = ns.LIFCond(integration="euler", cm=180.0)
    assert isinstance(euler, ns.LIFCond) and type(euler).__name__ == "LIFCond"
    assert type(euler).description is ns.LIFCond.descriptions["euler"]
    assert ns.LIFCond.description is ns.LIFCond.descriptions["exponential_euler"]
    assert type(euler).integration.startswith("forward Euler")
    assert type(dataclasses.replace(model, integration="euler")) is type(euler)


def test_two_schemes_are_two_groups_and_a_checkpoint_keeps_the_scheme(tmp_path):
    net = ns.Network(dt=DT, device="cpu", seed=1)
    net.add_population(3, ns.LIFCond(i_offset=300.0))
    net.add_population(3, ns.LIFCond(integration="euler", i_offset=300.0))
    net.build()
    assert len(net._engine.L.groups) == 2
    net.run(5.0)
    net.save(tmp_path / "c.npz")
    again = ns.checkpoint.load(tmp_path / "c.npz", device="cpu")
    assert [p.model.integration for p in again.populations] == ["exponential_euler", "euler"]


def test_bad_integration_is_refused():
    with pytest.raises(ValueError, match=r"LIFCond: integration must be 'exponential_euler' or "
                                         r"'euler', got 'rk4'"):
        ns.LIFCond(integration="rk4")
    from neurosim.networks.classic import vogels_abbott_coba
    with pytest.raises(ValueError, match=r"vogels_abbott_coba\(\): integration must be one of "
                                         r"\('exponential_euler', 'euler'\), got 'explicit'"):
        vogels_abbott_coba(integration="explicit")


def test_coba_forward_euler_is_asynchronous_irregular():
    """A quarter-size COBA with forward Euler settles at a rate of the same order as with
    exponential Euler (the schemes differ by the step's first-order error only)."""
    from neurosim.networks.classic import vogels_abbott_coba
    rates = {}
    for scheme in ("euler", "exponential_euler"):
        ref = vogels_abbott_coba(800, 200, p=0.08, device="cpu", seed=2, integration=scheme)
        ref.network.run(300.0)
        rates[scheme] = np.mean([m.mean_rate() for m in ref.monitors.values()])
    assert ref.params["integration"] == "exponential_euler"
    assert rates["euler"] > 1.0 and rates["exponential_euler"] > 1.0
    assert 0.5 < rates["euler"] / rates["exponential_euler"] < 2.0
