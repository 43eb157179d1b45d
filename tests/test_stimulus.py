"""Stimulus protocols without rebuilding (neurosim.engine.stimulus): Poisson rates set between
runs and as tables over time, Poisson drive rates, spike-source schedules, added currents,
``run(every=, callback=)``, and checkpoints that carry them. Each body runs on NumPy and on the
CUDA engine (host build); parity tests compare the two bit for bit (the same Philox draws)."""

import numpy as np
import pytest

import neurosim as ns


def _spikes(mon):
    return mon.steps.copy(), mon.indices.copy()


def _sources(device, rate, n=40, seed=4):
    net = ns.Network(dt=0.1, device=device, seed=seed)
    src = net.add_population(n, ns.PoissonSource(rate=rate), name="src")
    return net, src, net.record_spikes(src)


def test_rate_set_before_a_run_gives_the_spikes_of_a_network_built_with_it(device):
    """Setting rates does not move the random stream: the draws stay those of the seed."""
    rates = np.linspace(0.0, 300.0, 40)
    net, src, mon = _sources(device, rates)
    net.run(50.0)
    net2, src2, mon2 = _sources(device, 10.0)
    net2.build()
    net2.set_state(src2, "rate", rates)
    net2.run(50.0)
    a, b = _spikes(mon), _spikes(mon2)
    assert a[0].size > 100
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(net2.get_state(src2, "rate"), rates.astype(np.float32))


def test_rate_table_is_the_same_as_setting_rates_between_runs(device):
    """rates[k] in force for t in [t_k, t_{k+1}): a table, and the same changes made by hand
    between runs, give the same spikes; a 0 Hz segment has none; counts follow the rates."""
    times, rates = [20.0, 50.0, 80.0], [0.0, 400.0, 40.0]
    net, src, mon = _sources(device, 40.0)
    net.set_rates(src, rates, times=times)
    net.run(120.0)
    net2, src2, mon2 = _sources(device, 40.0)
    for t0, t1, r in zip([0.0] + times, times + [120.0], [40.0] + rates):
        net2.set_rates(src2, r)
        net2.run(t1 - t0)
    np.testing.assert_array_equal(mon.steps, mon2.steps)
    np.testing.assert_array_equal(mon.indices, mon2.indices)
    t = mon.times
    assert not np.any((t > 20.0 + 1e-9) & (t <= 50.0 + 1e-9))     # steps 200..499: 0 Hz
    n_fast = np.count_nonzero((t > 50.0 + 1e-9) & (t <= 80.0 + 1e-9))
    mean = 40 * 300 * 400.0 * 1e-4                                # 300 steps of p = 0.04
    assert abs(n_fast - mean) < 5 * np.sqrt(mean)


def test_rate_table_per_neuron_and_host_build_parity():
    """A per-neuron table over many segments: NumPy and the CUDA kernels draw the same spikes,
    and the kernels read the table on the device (no chunk cut per segment)."""
    pytest.importorskip("neurosim.engine.cuda_engine")
    from conftest import _host_ok
    if not _host_ok()[0]:
        pytest.skip("cuda:host unavailable")
    rng = np.random.default_rng(0)
    times = np.arange(0.0, 100.0, 2.0)                     # 50 segments of 2 ms
    table = rng.uniform(0.0, 500.0, (times.size, 30))
    out = []
    for device in ("cpu", "cuda:host"):
        net, src, mon = _sources(device, 5.0, n=30, seed=9)
        net.set_rates(src, table, times=times)
        engine = net.build()
        chunks = []
        if device == "cuda:host":
            original = engine._chunk_steps
            engine._chunk_steps = lambda n0, n1: (chunks.append((n0, n1)), original(n0, n1))[1]
        net.run(100.0)
        out.append(_spikes(mon))
        if device == "cuda:host":
            assert len(chunks) < 10                        # not one per segment
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])
    # the expected count of each segment
    seg = out[0][0] // 20
    counts = np.bincount(seg, minlength=50)
    expected = table.sum(axis=1) * 20 * 1e-4
    assert abs(counts.sum() - expected.sum()) < 5 * np.sqrt(expected.sum())


def _driven(device, rate):
    net = ns.Network(dt=0.1, device=device, seed=6)
    pop = net.add_population(200, ns.LIF(tau_m=1e9, v_rest=0.0, v_reset=0.0, v_thresh=1e9,
                                         synapse="delta"), name="counter")
    drive = net.add_poisson_input(pop, rate=rate, weight=1.0, n_sources=10)
    return net, pop, drive


def test_drive_rate_changes(device):
    """A non-leaky integrator counts its drive: a rate set before the run equals a network
    built with it; a table equals the changes made by hand; the count matches the rates."""
    net, pop, drive = _driven(device, 50.0)
    net.set_rates(drive, 120.0)
    net.run(20.0)
    ref, pop_ref, _ = _driven(device, 120.0)
    ref.run(20.0)
    np.testing.assert_array_equal(net.get_state(pop, "v"), ref.get_state(pop_ref, "v"))
    net.set_rates(drive, [0.0, 300.0], times=[30.0, 35.0])
    net.run(30.0)
    by_hand, pop2, drive2 = _driven(device, 50.0)
    for rate, span in ((120.0, 30.0), (0.0, 5.0), (300.0, 15.0)):
        by_hand.set_rates(drive2, rate)
        by_hand.run(span)
    v = net.get_state(pop, "v")
    np.testing.assert_array_equal(v, by_hand.get_state(pop2, "v"))
    mean = 10 * (120.0 * 30.0 + 300.0 * 15.0) * 1e-3            # spikes per neuron
    assert abs(v.mean() - mean) < 5 * np.sqrt(mean / v.size)
    assert net.get_rates(drive)[0] == 300.0


def test_spike_times_replaced_and_appended(device):
    net = ns.Network(dt=0.1, device=device, seed=1)
    ss = net.add_population(3, ns.SpikeSource([[2.0, 30.0], [4.0], []]), name="ss")
    mon = net.record_spikes(ss)
    net.run(10.0)
    net.set_spike_times(ss, [[12.0, 15.0], [], [11.0]])             # drops 30.0
    net.run(10.0)
    net.set_spike_times(ss, [[25.0], [22.0], [25.0]], append=True)
    net.set_spike_times(ss, [[], [40.0], []], append=True)
    net.run(30.0)
    got = sorted(zip(np.round(mon.times, 6).tolist(), mon.indices.tolist()))
    assert got == [(2.0, 0), (4.0, 1), (11.0, 2), (12.0, 0), (15.0, 0), (22.0, 1), (25.0, 0),
                   (25.0, 2), (40.0, 1)]


def test_set_current_acts_like_a_current_injected_from_then_on(device):
    """set_current(a, I) at t0 equals inject(DCCurrent(I, start=t0)), also on a population
    that had no current when it was built and on top of an injected one."""
    def make(inject):
        net = ns.Network(dt=0.1, device=device, seed=1)
        a = net.add_population(3, ns.LIF(), name="a")
        b = net.add_population(2, ns.LIF(), name="b")
        net.inject(b, ns.DCCurrent(100.0))
        if inject:
            net.inject(a, ns.DCCurrent(np.array([200.0, 400.0, 600.0]), start=10.0))
            net.inject(b, ns.DCCurrent(-50.0, start=10.0))
        return net, a, b, net.record_state(a, "v"), net.record_state(b, "v")
    net, a, b, va, vb = make(False)
    net.run(10.0)
    net.set_current(a, [200.0, 400.0, 600.0])
    net.set_current(b, -50.0)
    net.run(40.0)
    ref, _, _, ra, rb = make(True)
    ref.run(50.0)
    np.testing.assert_array_equal(va.values, ra.values)
    np.testing.assert_array_equal(vb.values, rb.values)
    net.set_current(a, 0.0)                               # removed: back to rest
    net.run(200.0)
    np.testing.assert_allclose(net.get_state(a, "v"), ns.LIF().v_rest, atol=0.05)


def test_callback_every_and_closed_loop(device):
    """The callback runs at every multiple of `every`, sees complete monitors, and its changes
    act from the next step: present brighter while the network stays silent."""
    net = ns.Network(dt=0.1, device=device, seed=2)
    inp = net.add_population(20, ns.PoissonSource(rate=0.0), name="inp")
    out = net.add_population(1, ns.LIF(synapse="delta"), name="out")
    net.connect(inp, out, ns.AllToAll(), weight=2.0)
    spikes_in, spikes_out = net.record_spikes(inp), net.record_spikes(out)
    seen = []

    def brighter(t):
        seen.append((t, spikes_in.num_spikes, spikes_out.num_spikes))
        if spikes_out.num_spikes == 0:
            net.set_rates(inp, net.get_rates(inp) + 50.0)

    net.run(100.0, every=10.0, callback=brighter)
    assert [s[0] for s in seen] == pytest.approx(np.arange(10.0, 101.0, 10.0))
    assert all(np.all(spikes_in.times[:s[1]] <= s[0] + 1e-9) for s in seen)
    assert spikes_in.times[spikes_in.times <= 10.0 + 1e-9].size == 0     # 0 Hz until 10 ms
    assert spikes_out.num_spikes > 0
    assert 0.0 < net.get_rates(inp)[0] < 500.0


def test_callback_error_stops_the_run_at_a_step_boundary(device):
    """An exception from the callback ends run() at the callback's time with monitors complete;
    run() again continues as the uninterrupted run."""
    def make():
        net, src, mon = _sources(device, 100.0, n=10, seed=3)
        return net, mon

    net, mon = make()

    def fail(t):
        if t >= 30.0 - 1e-9:
            raise RuntimeError("stop here")
    with pytest.raises(RuntimeError, match="stop here"):
        net.run(100.0, every=10.0, callback=fail)
    assert net.t == pytest.approx(30.0)
    assert mon.times.max() <= 30.0 + 1e-9
    net.run(70.0)
    ref, ref_mon = make()
    ref.run(100.0)
    np.testing.assert_array_equal(mon.steps, ref_mon.steps)
    np.testing.assert_array_equal(mon.indices, ref_mon.indices)


def _protocol_net(device):
    net = ns.Network(dt=0.1, device=device, seed=3)
    a = net.add_population(20, ns.LIF(synapse="delta", tau_refrac=2.0), name="a")
    drive = net.add_poisson_input(a, rate=100.0, weight=2.0, n_sources=10)
    ss = net.add_population(3, ns.SpikeSource([[5.0], [6.0], [7.0]]), name="ss")
    src = net.add_population(5, ns.PoissonSource(rate=10.0), name="src")
    net.connect(ss, a, ns.AllToAll(), weight=30.0)
    net.connect(src, a, ns.AllToAll(), weight=3.0)
    return net, a, drive, ss, src, net.record_spikes(a)


def _change(net, a, drive, ss, src):
    net.set_rates(drive, [0.0, 400.0], times=[60.0, 80.0])
    net.set_rates(src, np.array([[100.0, 200, 300, 400, 500], [5, 5, 5, 5, 5]]),
                  times=[55.0, 90.0])
    net.set_spike_times(ss, [[60.0, 70.0], [], [65.0]])
    net.set_current(a, np.linspace(0.0, 200.0, 20))


@pytest.mark.parametrize("other", ["cpu", "cuda:host"])
def test_checkpoint_carries_the_stimulus(device, other, tmp_path):
    if "cuda:host" in (device, other):
        from conftest import _host_ok
        if not _host_ok()[0]:
            pytest.skip("cuda:host unavailable")
    net, a, drive, ss, src, mon = _protocol_net(device)
    net.run(50.0)
    _change(net, a, drive, ss, src)
    net.run(100.0)
    ref = mon.steps[mon.steps >= 500], mon.indices[mon.steps >= 500]
    net, a, drive, ss, src, mon = _protocol_net(device)
    net.run(50.0)
    _change(net, a, drive, ss, src)
    net.save(tmp_path / "stim.npz")
    loaded = ns.load(tmp_path / "stim.npz", device=other)
    assert loaded.get_rates(loaded.poisson_inputs[0])[0] == 100.0
    loaded.run(100.0)
    got = loaded.monitors[0]
    assert ref[0].size > 50
    np.testing.assert_array_equal(got.steps, ref[0])
    np.testing.assert_array_equal(got.indices, ref[1])


def test_drive_rate_table_host_build_parity_without_chunk_cuts():
    """A drive's rate table over 40 segments: NumPy and the CUDA kernels (which pick each
    step's CDF table on the device) give the same input, in a few chunks of steps."""
    from conftest import _host_ok
    if not _host_ok()[0]:
        pytest.skip("cuda:host unavailable")
    times = np.arange(0.0, 40.0, 1.0)
    rates = np.random.default_rng(1).uniform(0.0, 2000.0, times.size)
    out = []
    for device in ("cpu", "cuda:host"):
        net, pop, drive = _driven(device, 50.0)
        net.set_rates(drive, rates, times=times)
        engine = net.build()
        chunks = []
        if device == "cuda:host":
            inner = engine._chunk_steps
            engine._chunk_steps = lambda n0, n1: (chunks.append(n0), inner(n0, n1))[1]
        net.run(50.0)
        out.append(net.get_state(pop, "v"))
        if device == "cuda:host":
            assert len(chunks) < 5
    np.testing.assert_array_equal(out[0], out[1])
    mean = 10 * rates.sum() * 1.0 * 1e-3 + 10 * rates[-1] * 10.0 * 1e-3
    assert abs(out[0].mean() - mean) < 5 * np.sqrt(mean / out[0].size)


@pytest.mark.parametrize("entry, value, message", [
    ("stimulus/rates2/rates", lambda a: -a, "'rates2/rates' must be finite and >= 0"),
    ("stimulus/rates2/steps", lambda a: a + 5, "'rates2/steps' must start at -1"),
    ("stimulus/spikes1/indices", lambda a: a + 7, "'spikes1/indices' must lie in [0, 3)"),
    ("stimulus/current0/amplitude", lambda a: a.astype(np.float64), "must be a float32"),
])
def test_checkpoint_with_a_bad_stimulus_entry_is_refused(tmp_path, entry, value, message):
    import json
    from neurosim.checkpoint import MANIFEST
    net, a, drive, ss, src, mon = _protocol_net("cpu")
    net.run(50.0)
    _change(net, a, drive, ss, src)
    net.save(tmp_path / "ok.npz")
    with np.load(tmp_path / "ok.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    manifest = json.loads(arrays.pop(MANIFEST).tobytes().decode())
    arrays[entry] = value(arrays[entry])
    np.savez(tmp_path / "bad.npz", **arrays,
             **{MANIFEST: np.frombuffer(json.dumps(manifest).encode(), np.uint8)})
    with pytest.raises(ns.CheckpointError) as err:
        ns.load(tmp_path / "bad.npz", device="cpu")
    assert message in str(err.value) and "bad.npz" in str(err.value)
