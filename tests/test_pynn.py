"""The PyNN backend (``neurosim.pynn``): units at the edge, cells, connectors, synapses,
currents, recording, reset and rebuild, errors, and a PyNN example on both backends."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("pyNN", reason="PyNN is not installed (pip install 'neurosim[pynn]')")
import neurosim.pynn as sim  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _fresh():
    sim.setup(timestep=0.1, min_delay=0.1)
    yield
    sim.end()


def _ns(pop):
    """The neurosim population behind a PyNN population (builds the network)."""
    sim.run(0.0)
    return pop._ns


# -- units: a value pasted from a PyNN script is never 1000x off ------------------------------

def test_cm_nF_and_i_offset_nA_become_pF_and_pA():
    p = sim.Population(2, sim.IF_curr_exp(cm=0.25, i_offset=0.5, tau_m=10.0))
    m = _ns(p).model
    assert m.cm == pytest.approx(250.0) and m.i_offset == pytest.approx(500.0)
    assert p.get("cm") == pytest.approx(0.25) and p.get("i_offset") == pytest.approx(0.5)


def test_conductance_and_reversal_parameters():
    p = sim.Population(1, sim.IF_cond_exp(cm=0.2, e_rev_E=5.0, e_rev_I=-75.0, i_offset=0.1))
    m = _ns(p).model
    assert (m.cm, m.e_rev_E, m.e_rev_I, m.i_offset) == pytest.approx((200.0, 5.0, -75.0, 100.0))


def test_eif_parameters():
    p = sim.Population(1, sim.EIF_cond_exp_isfa_ista(cm=0.281, tau_m=9.3667, a=4.0, b=0.0805,
                                                     v_spike=-40.0, v_thresh=-50.4))
    m = _ns(p).model
    assert m.cm == pytest.approx(281.0)
    assert m.g_L == pytest.approx(281.0 / 9.3667, rel=1e-6)       # nS = pF/ms
    assert m.b == pytest.approx(80.5) and m.a == pytest.approx(4.0)  # pA, nS
    assert (m.v_peak, m.v_T) == pytest.approx((-40.0, -50.4))
    assert p.get("tau_m") == pytest.approx(9.3667, rel=1e-6)


def test_izhikevich_parameters():
    p = sim.Population(1, sim.Izhikevich(a=0.02, b=0.2, c=-65.0, d=6.0, i_offset=0.014))
    m = _ns(p).model
    assert (m.d, m.i_offset) == pytest.approx((6.0, 14.0))


def test_first_spike_time_matches_the_formula_in_pynn_units():
    """1 nA into 1 nF with tau_m = 20 ms: v_inf = v_rest + 20 mV, threshold at +15 mV."""
    p = sim.Population(1, sim.IF_curr_exp(cm=1.0, tau_m=20.0, i_offset=1.0, v_rest=-65.0,
                                          v_reset=-65.0, v_thresh=-50.0, tau_refrac=2.0))
    p.record("spikes")
    sim.run(40.0)
    st = p.get_data().segments[0].spiketrains[0]
    t_exact = -20.0 * np.log(1.0 - 15.0 / 20.0)               # 27.73 ms
    assert st.units == st.units.__class__(1.0, "ms").units or str(st.units.dimensionality) == "ms"
    assert float(st.magnitude[0]) == pytest.approx(np.ceil(t_exact / 0.1) * 0.1, abs=1e-9)


@pytest.mark.parametrize("celltype,weight,native,var,scale", [
    (sim.IF_curr_exp, 0.5, 500.0, "isyn_exc", 1.0),           # nA -> pA, recorded in nA
    (sim.IF_cond_exp, 0.01, 10.0, "gsyn_exc", 1.0),           # µS -> nS, recorded in µS
    (sim.IF_curr_delta, 2.0, 2.0, "v", None),                 # mV
    (sim.Izhikevich, 3.0, 3.0, "v", None),                    # mV (as pyNN.nest)
])
def test_weights_are_scaled_by_the_post_cell_type(celltype, weight, native, var, scale):
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[5.0]))
    post = sim.Population(1, celltype())
    prj = sim.Projection(src, post, sim.AllToAllConnector(),
                         sim.StaticSynapse(weight=weight, delay=1.0))
    post.record(var)
    sim.run(10.0)
    assert prj._live[0][0].weights[0] == pytest.approx(native)
    assert prj.get("weight", format="list")[0][2] == pytest.approx(weight)
    sig = post.get_data().segments[0].filter(name=var)[0]
    if scale is not None:       # the synaptic variable jumps by the weight, in PyNN units
        jump = float(np.max(sig.magnitude))
        assert jump == pytest.approx(weight, rel=1e-5)
        assert str(sig.units.dimensionality) in ("nA", "uS")


# -- cells --------------------------------------------------------------------------------------

def test_eif_takes_conductance_synapses():
    """EIF_cond_exp_isfa_ista runs on AdExCond: an excitatory spike raises gsyn_exc by the
    weight (µS) and depolarises; recorded gsyn comes back in µS."""
    eif = sim.Population(1, sim.EIF_cond_exp_isfa_ista(tau_syn_E=5.0))
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[10.0]))
    sim.Projection(src, eif, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.01, delay=1.0))
    eif.record(["v", "gsyn_exc"])
    sim.run(40.0)
    seg = eif.get_data().segments[0]
    g = seg.filter(name="gsyn_exc")[0]
    v = seg.filter(name="v")[0].magnitude[:, 0]
    assert str(g.units.dimensionality) == "uS"
    assert g.magnitude.max() == pytest.approx(0.01, rel=1e-4)
    assert v[150] > v[100] + 0.05                    # a PSP after the arrival at 11 ms
    assert type(_ns(eif).model).__name__ == "AdExCond"


def test_eif_adapts():
    p = sim.Population(1, sim.EIF_cond_exp_isfa_ista(i_offset=1.0, b=0.1, tau_refrac=0.1))
    p.record(["spikes", "w"])
    sim.run(300.0)
    seg = p.get_data().segments[0]
    isi = np.diff(seg.spiketrains[0].magnitude)
    assert isi.size >= 3 and isi[-1] > isi[0]                    # spike-frequency adaptation
    assert str(seg.filter(name="w")[0].units.dimensionality) == "nA"


def test_poisson_source_rate_and_window():
    p = sim.Population(200, sim.SpikeSourcePoisson(rate=50.0))
    q = sim.Population(200, sim.SpikeSourcePoisson(rate=50.0, start=100.0, duration=100.0))
    p.record("spikes")
    q.record("spikes")
    sim.run(150.0)
    builds = sim.simulator.state.n_builds
    sim.run(250.0)
    assert sim.simulator.state.n_builds == builds       # the window was drawn whole: no rebuild
    n_p = sum(len(s) for s in p.get_data().segments[0].spiketrains)
    tq = np.concatenate([s.magnitude for s in q.get_data().segments[0].spiketrains])
    assert n_p / 200 / 0.4 == pytest.approx(50.0, rel=0.1)
    assert tq.size / 200 / 0.1 == pytest.approx(50.0, rel=0.15)
    assert tq.min() > 100.0 and tq.max() <= 200.0


def test_spike_source_array_times_and_delay():
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[10.0, 20.0]))
    post = sim.Population(1, sim.IF_curr_delta(tau_refrac=0.1))
    sim.Projection(src, post, sim.OneToOneConnector(), sim.StaticSynapse(weight=20.0, delay=2.0))
    src.record("spikes")
    post.record("spikes")
    sim.run(30.0)
    assert list(src.get_data().segments[0].spiketrains[0].magnitude) == pytest.approx([10., 20.])
    # a spike stamped T with delay d arrives at T + d and, 20 mV > threshold, fires at once
    assert list(post.get_data().segments[0].spiketrains[0].magnitude) == pytest.approx([12., 22.])


# -- connectors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("connector,count", [
    (sim.AllToAllConnector(), 50),
    (sim.OneToOneConnector(), None),
    (sim.FixedNumberPreConnector(3), 15),
    (sim.FixedNumberPostConnector(2), 20),
    (sim.FixedTotalNumberConnector(17), 17),
    (sim.FromListConnector([(0, 1, 0.1, 1.0), (3, 4, 0.2, 2.0)]), 2),
    (sim.ArrayConnector(np.eye(10, 5, dtype=bool)), 5),
])
def test_connectors(connector, count):
    a = sim.Population(10, sim.IF_curr_exp())
    b = sim.Population(5 if count != None else 10, sim.IF_curr_exp())  # noqa: E711
    prj = sim.Projection(a, b, connector, sim.StaticSynapse(weight=0.1, delay=1.0))
    sim.run(1.0)
    n = 10 if count is None else count
    assert len(prj) == n and prj._live[0][0].n_synapses == n
    got = sorted((int(i), int(j)) for i, j, *_ in prj.get([], format="list"))
    ns_pairs = sorted(zip(prj._live[0][0].sources.tolist(), prj._live[0][0].targets.tolist()))
    assert got == ns_pairs


def test_fixed_probability_and_from_list_weights_and_delays():
    a = sim.Population(40, sim.IF_cond_exp())
    b = sim.Population(40, sim.IF_cond_exp())
    prj = sim.Projection(a, b, sim.FixedProbabilityConnector(0.25, rng=sim.NumpyRNG(1)),
                         sim.StaticSynapse(weight=0.002, delay=0.5))
    assert 0.15 < len(prj) / 1600 < 0.35
    fl = sim.Projection(a, b, sim.FromListConnector([(0, 1, 0.004, 1.5), (2, 3, 0.006, 0.3)],
                                                    column_names=["weight", "delay"]))
    sim.run(1.0)
    w, d = fl.get(["weight", "delay"], format="array")
    assert w[0, 1] == pytest.approx(0.004) and d[2, 3] == pytest.approx(0.3)
    ns_prj = fl._live[0][0]
    assert sorted(ns_prj.delays.tolist()) == pytest.approx([0.3, 1.5])
    assert sorted(ns_prj.weights.tolist()) == pytest.approx([4.0, 6.0])


def test_views_and_assemblies():
    a = sim.Population(6, sim.IF_curr_exp(), label="a")
    b = sim.Population(4, sim.IF_curr_exp(), label="b")
    prj = sim.Projection(a[1:3] + b, a[:2], sim.AllToAllConnector(),
                         sim.StaticSynapse(weight=0.1, delay=1.0))
    sim.run(1.0)
    assert len(prj) == 12
    assert {p[0].pre.name for p in prj._live} == {a._ns.name, b._ns.name}


# -- synapses -----------------------------------------------------------------------------------

def test_stdp_pair_changes_weight_as_pynn_defines_it():
    """One pre spike at 10 ms, one post spike 5 ms after its arrival: dw = A_plus w_max e^-5/20."""
    pre = sim.Population(1, sim.SpikeSourceArray(spike_times=[10.0]))
    post = sim.Population(1, sim.IF_curr_delta(tau_refrac=0.1))
    kick = sim.Population(1, sim.SpikeSourceArray(spike_times=[15.0]))
    sim.Projection(kick, post, sim.OneToOneConnector(), sim.StaticSynapse(weight=30.0, delay=1.0))
    stdp = sim.STDPMechanism(
        timing_dependence=sim.SpikePairRule(tau_plus=20.0, tau_minus=20.0, A_plus=0.01,
                                            A_minus=0.012),
        weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=5.0),
        weight=1.0, delay=1.0)
    prj = sim.Projection(pre, post, sim.OneToOneConnector(), stdp)
    post.record("spikes")
    sim.run(40.0)
    assert list(post.get_data().segments[0].spiketrains[0].magnitude) == pytest.approx([16.0])
    dt_pair = 16.0 - 11.0                          # post spike - pre arrival (dendritic delay)
    w = prj.get("weight", format="list")[0][2]
    assert w == pytest.approx(1.0 + 0.01 * 5.0 * np.exp(-dt_pair / 20.0), rel=1e-4)
    sim.reset()                                    # weights back to their initial values
    sim.run(5.0)
    assert prj.get("weight", format="list")[0][2] == pytest.approx(1.0)


def test_unsupported_synapse_dependence_is_refused():
    a = sim.Population(2, sim.IF_curr_exp())
    with pytest.raises(NotImplementedError, match="TsodyksMarkramSynapse"):
        sim.TsodyksMarkramSynapse(U=0.5)
    with pytest.raises(NotImplementedError, match="GutigWeightDependence"):
        sim.GutigWeightDependence()
    sim.Projection(a, a, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.1, delay=0.05))
    with pytest.raises(ValueError, match="delays must be >= the time step 0.1"):
        sim.run(1.0)


# -- currents, rebuild and reset ----------------------------------------------------------------

def test_dc_and_step_sources_on_subsets():
    p = sim.Population(3, sim.IF_curr_exp(tau_refrac=2.0))
    dc = sim.DCSource(amplitude=2.0, start=10.0, stop=30.0)
    dc.inject_into(p[0:1])
    step = sim.StepCurrentSource(times=[5.0, 25.0], amplitudes=[2.0, 0.0])
    p[2].inject(step)
    p.record(["v", "spikes"])
    sim.run(50.0)
    v = p.get_data().segments[0].filter(name="v")[0].magnitude
    assert v[100, 0] == pytest.approx(-65.0) and v[101, 0] > -65.0   # on from 10.0 ms
    assert np.all(v[:, 1] == pytest.approx(-65.0))                   # not injected
    assert v[51, 2] > -65.0 and v[50, 2] == pytest.approx(-65.0)
    assert step.times[0] == pytest.approx(5.0)


@pytest.mark.parametrize("make", [
    lambda: sim.DCSource(amplitude=0.5, start=0.0),
    lambda: sim.StepCurrentSource(times=[0.0, 150.0], amplitudes=[0.25, 0.5]),
])
def test_current_amplitudes_are_nA(make):
    """0.5 nA into 1 nF with tau_m = 20 ms: v settles 0.5 * 20 = 10 mV above rest."""
    p = sim.Population(1, sim.IF_curr_exp(cm=1.0, tau_m=20.0, v_rest=-65.0, v_thresh=-40.0))
    make().inject_into(p)
    p.record("v")
    sim.run(300.0)
    v = p.get_data().segments[0].filter(name="v")[0].magnitude[:, 0]
    assert v[-1] == pytest.approx(-55.0, abs=0.01)


def test_injection_between_runs_rebuilds_and_keeps_state():
    p = sim.Population(1, sim.IF_curr_exp(i_offset=0.5))
    p.record("v")
    sim.run(50.0)
    sim.DCSource(amplitude=-0.5, start=60.0).inject_into(p)
    sim.run(50.0)
    v = p.get_data().segments[0].filter(name="v")[0].magnitude[:, 0]
    assert v.size == 1001
    assert abs(v[501] - v[500]) < 0.1                  # state carried over the rebuild
    assert v[-1] < v[600]                              # the new current acts after 60 ms


def test_reset_repeats_a_deterministic_run():
    src = sim.Population(5, sim.SpikeSourceArray(spike_times=[[2.0, 7.0]] * 5))
    post = sim.Population(3, sim.IF_cond_exp())
    sim.Projection(src, post, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.02, delay=1.0))
    post.record(["spikes", "v"])
    sim.run(20.0)
    sim.reset()
    sim.run(20.0)
    segs = post.get_data().segments
    assert len(segs) == 2
    a, b = (s.filter(name="v")[0].magnitude for s in segs)
    assert np.array_equal(a, b)


def test_neo_block_annotations():
    p = sim.Population(2, sim.IF_curr_exp(i_offset=1.0), label="cells")
    p.record(["spikes", "v"], sampling_interval=1.0)
    sim.run(20.0)
    block = p.get_data()
    seg = block.segments[0]
    assert seg.analogsignals[0].shape == (21, 2)
    assert float(seg.analogsignals[0].sampling_period.rescale("ms")) == 1.0
    assert seg.spiketrains[0].annotations["source_population"] == "cells"


# -- errors -------------------------------------------------------------------------------------

def test_clear_errors():
    with pytest.raises(NotImplementedError, match="IF_curr_alpha is not supported"):
        sim.IF_curr_alpha()
    with pytest.raises(ValueError, match="device must be one of"):
        sim.setup(device="tpu")
    src = sim.Population(1, sim.SpikeSourcePoisson(rate=10.0))
    with pytest.raises(TypeError, match="spike source"):
        sim.DCSource(amplitude=1.0).inject_into(src)


# -- PyNN's own example, unchanged, on both backends --------------------------------------------

@pytest.mark.parametrize("device", ["cpu", "cuda:host"])
def test_pynn_example_runs_unchanged(device, tmp_path):
    import pynn_scenarios as S
    system, how = S.scenario_dir()
    if system is None:
        pytest.skip(f"PyNN's sdist is not available: {how}")
    example = pathlib.Path(system).parents[1] / "examples" / "simpleRandomNetwork.py"
    if not example.exists():
        pytest.skip(f"{example} is not in the cached sdist")
    if device == "cuda:host":
        from neurosim.backends import host_build_status
        ok, why = host_build_status()
        if not ok:
            pytest.skip(f"cuda:host unavailable: {why}")
    env = dict(os.environ, NEUROSIM_PYNN_DEVICE=device,
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-m", "neurosim.pynn", str(example), "neurosim"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Done" in out.stdout
    written = list(tmp_path.rglob("*.pkl"))
    assert written, "the example writes its spikes and v to Results/*.pkl"
