"""Monitors: subsets, sampling intervals, rates, continuation, progress."""

import numpy as np
import pytest

import neurosim as ns


def small_net(device="cpu", seed=4):
    net = ns.Network(dt=0.1, device=device, seed=seed)
    pop = net.add_population(50, ns.LIF(tau_m=20.0, cm=250.0, v_rest=-70.0, v_reset=-70.0,
                                        v_thresh=-50.0, i_offset=350.0),
                             initial={"v": ns.Uniform(-70.0, -50.0)})
    return net, pop


def test_spike_monitor_subset_matches_full(device):
    net, pop = small_net(device)
    full = net.record_spikes(pop)
    sub = net.record_spikes(pop, indices=[3, 7, 40])
    net.run(100.0)
    keep = np.isin(full.indices, [3, 7, 40])
    np.testing.assert_array_equal(sub.indices, full.indices[keep])
    np.testing.assert_array_equal(sub.times, full.times[keep])
    assert full.num_spikes == full.count.sum() > 0
    assert full.indices.dtype == np.int32 and full.times.dtype == np.float64


def test_state_monitor_every_k_steps(device):
    net, pop = small_net(device)
    every1 = net.record_state(pop, "v", indices=[0, 5])
    every5 = net.record_state(pop, "v", indices=[5], every=5)
    net.run(20.0)
    assert every1.values.shape == (200, 2)
    assert every5.values.shape == (40, 1)
    np.testing.assert_array_equal(every5.values[:, 0], every1.values[4::5, 1])
    np.testing.assert_allclose(every5.times, np.arange(1, 41) * 0.5)


def test_rate_monitor_agrees_with_spikes(device):
    net, pop = small_net(device)
    spikes = net.record_spikes(pop)
    rate = net.record_rate(pop, bin_size=10.0)
    net.run(200.0)
    assert rate.rates.shape == (20,)
    assert rate.rates.mean() == pytest.approx(spikes.mean_rate(), rel=1e-9)


def test_monitor_added_between_runs_starts_then():
    net, pop = small_net()
    net.run(50.0)
    mon = net.record_spikes(pop)
    net.run(50.0)
    assert mon.times.min() > 50.0
    assert mon.rates().shape == (50,)


def test_runs_continue_where_they_stopped(device):
    def spikes(chunks):
        net, pop = small_net(device, seed=9)
        m = net.record_spikes(pop)
        for c in chunks:
            net.run(c)
        return m.times, m.indices, net.t

    a, b = spikes([100.0]), spikes([25.0, 25.0, 50.0])
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2] == pytest.approx(100.0) and b[2] == pytest.approx(100.0)


def test_progress_callback_and_bar(capsys):
    net, pop = small_net()
    seen = []
    net.run(100.0, progress=lambda t, end: seen.append((t, end)))
    assert seen and seen[-1] == (pytest.approx(100.0), pytest.approx(100.0))
    assert all(a <= b for (a, _), (b, _) in zip(seen, seen[1:]))
    net.run(50.0, progress=True)
    err = capsys.readouterr().err
    assert "simulating" in err and "ms" in err


def test_results_are_numpy_arrays(device):
    net, pop = small_net(device)
    s = net.record_spikes(pop)
    v = net.record_state(pop, "v")
    net.run(10.0)
    for arr in (s.times, s.indices, s.count, v.values, v.times, net.get_state(pop, "v")):
        assert type(arr) is np.ndarray
