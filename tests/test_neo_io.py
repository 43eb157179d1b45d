"""Neo output (monitor.to_neo(), network.to_neo()): units, annotations, Elephant's statistics
agree with neurosim's own numbers, and a round trip through Neo's NIX format."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import neurosim as ns

neo = pytest.importorskip("neo", reason="Neo is not installed (pip install 'neurosim[neo]')")
pq = pytest.importorskip("quantities")


@pytest.fixture(scope="module")
def net():
    net = ns.Network(dt=0.1, device="cpu", seed=7)
    src = net.add_population(50, ns.PoissonSource(rate=40.0), name="drive")
    cells = net.add_population(20, ns.LIF(tau_m=20.0, cm=250.0, v_thresh=-55.0),
                               name="cells", initial={"v": ns.Uniform(-70.0, -56.0)})
    net.connect(src, cells, ns.FixedIndegree(10), weight=400.0, delay=1.0)
    net.spikes_src = net.record_spikes(src)
    net.spikes = net.record_spikes(cells)
    net.vm = net.record_state(cells, "v", indices=[0, 3, 5], every=10)
    net.gsyn = net.record_state(cells, "i_syn_e", every=5)
    net.rate = net.record_rate(cells, bin_size=10.0)
    net.run(2000.0)
    return net


def test_spike_trains_have_units_and_annotations(net):
    trains = net.spikes.to_neo()
    assert len(trains) == 20
    st = trains[4]
    assert st.units == pq.ms and float(st.t_stop) == 2000.0 and float(st.t_start) == 0.0
    np.testing.assert_allclose(st.magnitude, net.spikes.spike_trains()[4])
    assert st.annotations["population"] == "cells" and st.annotations["neuron_id"] == 4
    assert st.annotations["seed"] == 7 and st.annotations["device"] == "cpu"
    assert st.annotations["backend"] == "numpy"


def test_state_signal(net):
    sig = net.vm.to_neo()
    assert sig.units == pq.mV and sig.shape == net.vm.values.shape
    np.testing.assert_allclose(sig.times.rescale("ms").magnitude, net.vm.times)
    assert list(sig.array_annotations["neuron_id"]) == [0, 3, 5]
    assert str(net.gsyn.to_neo().units.dimensionality) == "pA"
    rate = net.rate.to_neo()
    assert rate.units == pq.Hz and rate.shape == (200, 1)
    np.testing.assert_allclose(rate.magnitude[:, 0], net.rate.rates)


def test_elephant_agrees_with_neurosim(net):
    stats = pytest.importorskip("elephant.statistics")
    for mon in (net.spikes, net.spikes_src):
        trains = mon.to_neo()
        ours_rate = mon.rates()
        for i, st in enumerate(trains):
            assert float(stats.mean_firing_rate(st).rescale("Hz")) == pytest.approx(ours_rate[i])
            if len(st) > 2:
                isi = np.diff(mon.spike_trains()[i])
                assert stats.cv(stats.isi(st)) == pytest.approx(isi.std() / isi.mean(), rel=1e-9)
        counts = mon.count.astype(float)
        assert stats.fanofactor(trains) == pytest.approx(counts.var() / counts.mean(), rel=1e-9)
    # Poisson sources: the CV of the intervals and the Fano factor of counts are near 1
    cvs = [stats.cv(stats.isi(st)) for st in net.spikes_src.to_neo()]
    assert np.mean(cvs) == pytest.approx(1.0, abs=0.1)


def test_nix_round_trip(net, tmp_path):
    pytest.importorskip("nixio", reason="NIX needs nixio (pip install 'neurosim[neo]')")
    from neo.io import NixIO
    block = net.to_neo(name="roundtrip")
    path = str(tmp_path / "run.nix")
    with NixIO(path, mode="ow") as io:
        io.write_block(block)
    with NixIO(path, mode="ro") as io:
        back = io.read_block()
    seg0, seg1 = block.segments[0], back.segments[0]
    assert len(seg1.spiketrains) == len(seg0.spiketrains) == 70
    for a, b in zip(seg0.spiketrains, seg1.spiketrains):
        np.testing.assert_array_equal(a.magnitude, b.magnitude)
        assert b.annotations["population"] == a.annotations["population"]
        assert b.annotations["neuron_id"] == a.annotations["neuron_id"]
        assert b.annotations["seed"] == 7
    sigs = {s.name: s for s in seg1.analogsignals}
    np.testing.assert_allclose(sigs["v"].magnitude, net.vm.values)
    assert sigs["v"].units == pq.mV
    assert list(sigs["v"].array_annotations["neuron_id"]) == [0, 3, 5]
    assert back.annotations["seed"] == 7


def test_missing_neo_names_the_extra(monkeypatch, net):
    monkeypatch.setitem(sys.modules, "neo", None)
    with pytest.raises(ImportError, match=r"neurosim\[neo\]"):
        net.spikes.to_neo()
