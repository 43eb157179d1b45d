"""The delay queue of the native CPU backend (``kernels/native_delivery.cpp``:
``propagate_queued``, ``queue_flush``, ``queue_build``; ``NativeEngine._queue_choice``).

A class with per-synapse delays is kept a second time, each row sorted by delay (and by the
thread whose columns its target is in), and each step delivers one arrival slot only: the
spikes of the last steps, oldest first, each through its segment of the right delay. The
additions into a ring cell are propagate's, in propagate's order, so on one thread the results
are NumPy's bit for bit even with float weights; on several, every cell is written by one
thread. Between chunks the pending events are flushed into the ring, so the ring holds what it
holds without the queue (checkpoints, injected spikes and the host's reads see the same).
The queue is chosen for rings larger than the caches (``auto``); these networks are small, so
``NEUROSIM_NATIVE_QUEUE=1`` forces it.
"""

from __future__ import annotations

import numpy as np
import pytest

import neurosim as ns
from neurosim.backends import native
from neurosim.engine import cuda_tuning, native_engine

from state_nets import assert_same
from test_cuda_backend import same_spikes
from test_delays import arrival_times

pytestmark = pytest.mark.skipif(not native.status()[0], reason="no g++ with OpenMP")

DT = 0.1


@pytest.fixture(autouse=True)
def every_thread_asked(monkeypatch):
    """These small networks run on the threads they ask for (native.step_threads)."""
    monkeypatch.setattr(native, "WORK_PER_THREAD", 0)


def queue(monkeypatch, on: bool) -> None:
    monkeypatch.setenv(native_engine.QUEUE_ENV, "1" if on else "0")


def exact_net(device: str, threads: int = 1, seed: int = 6, precision: str = "single"):
    """Weights that add exactly (any order gives the same sums): two projections with
    per-synapse delays (one class, delays 0.1-4 ms), one with a constant delay (another
    class, through propagate), a Poisson drive; spikes and state recorded."""
    kw = dict(threads=threads) if device == "cpu:native" else {}
    net = ns.Network(dt=DT, device=device, seed=seed, precision=precision, **kw)
    exc = net.add_population(300, ns.LIF(tau_refrac=2.0, i_offset=350.0), name="exc",
                             initial={"v": ns.Uniform(-70, -52)})
    inh = net.add_population(80, ns.LIFCond(i_offset=300.0), name="inh",
                             initial={"v": ns.Uniform(-70, -52)})
    net.connect(exc, exc, ns.FixedIndegree(30), weight=16.0, delay=ns.Uniform(0.1, 2.5),
                name="ee")
    net.connect(exc, inh, ns.FixedIndegree(30), weight=2.0, delay=ns.Uniform(0.3, 4.0))
    net.connect(inh, exc, ns.FixedIndegree(10), weight=-32.0, delay=0.2, receptor="inhibitory")
    net.add_poisson_input(exc, rate=3000.0, weight=16.0, n_sources=1)
    mons = dict(exc=net.record_spikes(exc), inh=net.record_spikes(inh, indices=[1, 5, 70]),
                v=net.record_state(exc, "v", indices=[0, 3, 200], every=2))
    return net, mons


def run_pieces(net, pieces=(7.3,) * 9):
    for t in pieces:
        net.run(t)


def test_one_thread_gives_numpy_and_the_rings_results_across_chunks(monkeypatch):
    """Run in short pieces (events pending across every chunk end): NumPy's spikes and state,
    and after every piece the very ring of the ring's delivery (pending events flushed)."""
    ref_net, ref = exact_net("cpu")
    run_pieces(ref_net)
    rings = []
    for on in (False, True):
        queue(monkeypatch, on)
        net, got = exact_net("cpu:native")
        run_pieces(net)
        e = net._engine
        names = [launch.kernel.name for launch in e.plan()]
        assert ("propagate_queued" in names) is on
        if on:
            assert len(e._queued) == 1 and len(e._rest) == 1       # the constant delay's class
            assert e._q_lead == 1 and e._q_span == 40
            assert [launch.kernel.name for launch in e._post] == ["queue_flush"]
        assert ref["exc"].num_spikes > 300
        assert_same(got, ref)
        rings.append(np.array(e.ring))
    assert rings[0].any()
    np.testing.assert_array_equal(rings[0], rings[1])


@pytest.mark.parametrize("threads", [1, 2])
def test_double_precision_queue(threads, monkeypatch):
    """In double precision a queued synapse is a 16-byte (column, weight) pair: NumPy's
    double-precision results."""
    ref_net, ref = exact_net("cpu", precision="double")
    run_pieces(ref_net, (9.1,) * 4)
    queue(monkeypatch, True)
    net, got = exact_net("cpu:native", threads, precision="double")
    run_pieces(net, (9.1,) * 4)
    e = net._engine
    assert e._queued and e._q[0]["syn"].size == 2 * e._queued[0].c.n_synapses
    assert ref["exc"].num_spikes > 200
    assert_same(got, ref)


@pytest.mark.parametrize("threads", [2, 3])
def test_threads_deliver_their_own_columns_and_equal_one_thread(threads, monkeypatch):
    """Thread p delivers the columns of part p into the ring itself: no private ring for the
    queued class (the constant-delay class keeps its own), and one thread's results."""
    queue(monkeypatch, True)
    net1, ref = exact_net("cpu:native", 1)
    run_pieces(net1)
    net, got = exact_net("cpu:native", threads)
    run_pieces(net)
    e = net._engine
    assert e.threads == threads
    bounds = np.asarray(e._q_bounds)
    assert bounds.size == threads + 1 and bounds[0] == 0 and bounds[-1] == e.L.ring_width
    assert np.all(np.diff(bounds) > 0)
    names = [launch.kernel.name for launch in e.plan()]
    assert names.index("propagate_queued") == names.index("propagate_native") + 1
    assert_same(got, ref)
    np.testing.assert_array_equal(np.array(net1._engine.ring), np.array(e.ring))


@pytest.mark.parametrize("threads", [1, 2])
def test_float_weights_are_numpys_bit_for_bit_on_one_thread(threads, monkeypatch):
    """Float weights (0.1 and -0.55 mV do not add exactly; several arrive in a neuron's step)
    with delays of 0.1-3 ms: one thread adds them in NumPy's order (propagate's), so every
    step's membrane potentials are NumPy's bit for bit (a different order changes some of
    their last bits); two threads give the same number of spikes within a few per cent."""
    queue(monkeypatch, True)

    def run(device):
        kw = dict(threads=threads) if device == "cpu:native" else {}
        net = ns.Network(dt=DT, device=device, seed=4, **kw)
        model = ns.LIF(tau_m=20.0, v_rest=0.0, v_reset=10.0, v_thresh=20.0, tau_refrac=2.0,
                       synapse="delta")
        exc = net.add_population(800, model, initial={"v": ns.Uniform(0.0, 20.0)})
        inh = net.add_population(200, model, initial={"v": ns.Uniform(0.0, 20.0)})
        for pre, w, receptor in ((exc, 0.1, "excitatory"), (inh, -0.55, "inhibitory")):
            for post in (exc, inh):
                net.connect(pre, post, ns.FixedIndegree(400 if pre is exc else 100), weight=w,
                            delay=ns.Uniform(0.1, 3.0), receptor=receptor)
        for post in (exc, inh):
            net.add_poisson_input(post, rate=20.0, weight=0.1, n_sources=1000)
        mon = net.record_spikes(exc)
        v = net.record_state(exc, "v", indices=np.arange(0, 800, 3))
        net.run(120.0)
        return net, mon, v
    _, ref, ref_v = run("cpu")
    net, got, v = run("cpu:native")
    assert net._engine._queued and ref.num_spikes > 1000
    if threads == 1:
        same_spikes(ref, got)
        np.testing.assert_array_equal(ref_v.values, v.values)
    else:
        assert abs(got.num_spikes - ref.num_spikes) <= 0.05 * ref.num_spikes


@pytest.mark.parametrize("small_buffer", [False, True], ids=["", "halting"])
@pytest.mark.parametrize("threads", [1, 2])
def test_one_barrier_steps_and_halted_chunks(threads, small_buffer, monkeypatch):
    """Delays of two steps or more: the queue writes slot n + 2 at step n, so on several
    threads a step keeps its one barrier (delivery overlaps the next step's neurons); with
    a recording buffer too small for more than a step or two every chunk halts early and the
    flush delivers from the step where it stopped. NumPy's spikes and state, always."""
    if small_buffer:
        monkeypatch.setattr(cuda_tuning, "REC_START", 1)
        monkeypatch.setattr(cuda_tuning, "RECORD_BUDGET", 64)

    def run(device):
        kw = dict(threads=threads) if device == "cpu:native" else {}
        net = ns.Network(dt=DT, device=device, seed=9, **kw)
        pop = net.add_population(300, ns.LIF(tau_refrac=2.0, i_offset=350.0),
                                 initial={"v": ns.Uniform(-70, -52)})
        net.connect(pop, pop, ns.FixedIndegree(30), weight=16.0, delay=ns.Uniform(0.2, 2.5))
        net.connect(pop, pop, ns.FixedIndegree(10), weight=-32.0, delay=ns.Uniform(0.2, 0.6),
                    receptor="inhibitory")
        net.add_poisson_input(pop, rate=3000.0, weight=16.0, n_sources=1)
        mons = dict(spikes=net.record_spikes(pop), rate=net.record_rate(pop))
        run_pieces(net, (12.7,) * 4)
        return net, mons
    _, ref = run("cpu")
    queue(monkeypatch, True)
    net, got = run("cpu:native")
    e = net._engine
    assert e._q_lead == 2 and not e._rest
    names = [launch.kernel.name for launch in e.plan()]
    assert names[-1] == "propagate_queued"
    if threads > 1:
        assert "step_end_native" in names and "propagate_native" not in names
        assert sum(not f & native.NO_BARRIER for f in e._flags) == 1   # barriers a step
    assert ref["spikes"].num_spikes > 300
    assert_same(got, ref)


@pytest.mark.parametrize("threads", [1, 2])
def test_delays_arrive_exactly(threads, monkeypatch):
    """Each synapse's spike arrives at exactly T + its delay (test_delays), one to 120 steps."""
    queue(monkeypatch, True)
    monkeypatch.setattr(native, "threads_for", lambda n: threads)
    delays = [0.1, 0.2, 0.5, 1.0, 1.5, 2.3, 7.7, 12.0]
    np.testing.assert_allclose(arrival_times("cpu:native", delays), 3.0 + np.array(delays),
                               atol=1e-9)


def test_new_weights_rebuild_the_sorted_copy(monkeypatch):
    """Weights set between runs (Projection.weights) reach the queue's copy: the queue's
    results stay the ring's."""
    runs = []
    for on in (False, True):
        queue(monkeypatch, on)
        net, mons = exact_net("cpu:native")
        net.run(30.0)
        ee = next(p for p in net.projections if p.name == "ee")
        w = ee.weights
        w[::3] = 48.0
        ee.weights = w
        if on:
            assert net._engine._q_stale
        net.run(30.0)
        if on:
            assert not net._engine._q_stale
        runs.append(mons)
    assert runs[0]["exc"].num_spikes > 100
    assert_same(runs[1], runs[0])


def test_checkpoint_round_trip_with_the_queue(tmp_path, monkeypatch):
    """A checkpoint taken between runs holds every pending event (the flushed ring): loaded
    into a queued network, the run goes on as the uninterrupted one does."""
    queue(monkeypatch, True)
    ref, ref_mons = exact_net("cpu:native")
    ref.run(45.0)
    net, _ = exact_net("cpu:native")
    net.run(20.0)
    net.save(tmp_path / "q.npz")
    loaded = ns.load(tmp_path / "q.npz", device="cpu:native")
    assert loaded._engine._queued
    spikes = loaded.monitors[0]
    loaded.run(25.0)
    keep = ref_mons["exc"].steps >= round(20.0 / DT)
    assert keep.sum() > 50
    np.testing.assert_array_equal(spikes.steps, ref_mons["exc"].steps[keep])
    np.testing.assert_array_equal(spikes.indices, ref_mons["exc"].indices[keep])


def test_the_queue_is_chosen_for_rings_larger_than_the_caches(monkeypatch):
    """auto: a ring below QUEUE_RING_BYTES keeps the ring's delivery; above, every class with
    per-synapse delays is queued; a plastic network never is; '0' turns it off; any other
    value is an error that names the variable."""
    monkeypatch.delenv(native_engine.QUEUE_ENV, raising=False)
    net, _ = exact_net("cpu:native")
    net.build()
    assert net._engine._queued == []
    monkeypatch.setattr(native_engine, "QUEUE_RING_BYTES", 0)
    net, _ = exact_net("cpu:native")
    net.build()
    assert len(net._engine._queued) == 1
    monkeypatch.setattr(native_engine, "QUEUE_MEMORY_SHARE", 0.0)
    net, _ = exact_net("cpu:native")
    net.build()
    assert net._engine._queued == []
    queue(monkeypatch, False)
    monkeypatch.setattr(native_engine, "QUEUE_MEMORY_SHARE", 0.5)
    net, _ = exact_net("cpu:native")
    net.build()
    assert net._engine._queued == []

    queue(monkeypatch, True)
    from state_nets import plastic
    pnet, _ = plastic("cpu:native")
    pnet.build()
    assert pnet._engine._queued == []

    monkeypatch.setenv(native_engine.QUEUE_ENV, "yes")
    net, _ = exact_net("cpu:native")
    with pytest.raises(ValueError, match=r"NEUROSIM_NATIVE_QUEUE='yes': expected 'auto', "
                                         r"'0' or '1'"):
        net.build()


def skewed_net(threads: int):
    """Two target populations with the same synapse counts, one fed by 2 Hz sources, one by
    150 Hz sources: the column shares of equal synapses give one thread most of the events."""
    net = ns.Network(dt=DT, device="cpu:native", seed=3, threads=threads)
    slow = net.add_population(200, ns.PoissonSource(rate=2.0))
    fast = net.add_population(200, ns.PoissonSource(rate=150.0))
    model = ns.LIF(tau_m=20.0, v_rest=0.0, v_reset=0.0, v_thresh=15.0, tau_refrac=2.0,
                   synapse="delta")
    quiet = net.add_population(200, model, initial={"v": ns.Uniform(0.0, 10.0)})
    busy = net.add_population(200, model, initial={"v": ns.Uniform(0.0, 10.0)})
    net.connect(slow, quiet, ns.FixedIndegree(40), weight=0.5, delay=ns.Uniform(0.1, 3.0))
    net.connect(fast, busy, ns.FixedIndegree(40), weight=0.5, delay=ns.Uniform(0.1, 3.0))
    net.connect(busy, busy, ns.FixedIndegree(20), weight=-0.25, delay=ns.Uniform(0.5, 2.0),
                receptor="inhibitory")
    mons = dict(quiet=net.record_spikes(quiet), busy=net.record_spikes(busy),
                v=net.record_state(busy, "v", indices=[0, 99, 199], every=5))
    return net, mons


def test_column_shares_follow_the_delivered_events(monkeypatch):
    """On two threads the queue counts spikes; once enough are counted the column shares are
    set from the events delivered per column and the sorted copy rebuilt: the busy
    population's columns are split, and the results stay one thread's (every cell is still
    written by one thread, in the same order)."""
    queue(monkeypatch, True)
    monkeypatch.setattr(native_engine, "QUEUE_BALANCE_SPIKES_PER_NEURON", 2.0)
    monkeypatch.setattr(native_engine, "QUEUE_BALANCE_MIN_SPIKES", 100)
    ref_net, ref = skewed_net(1)
    run_pieces(ref_net, (10.0,) * 8)
    assert ref_net._engine._q_balance is None            # one thread: no shares to balance
    net, got = skewed_net(2)
    run_pieces(net, (10.0,) * 8)
    e = net._engine
    first = e.L.pop_group[net.populations[2].index]
    bal = e._q_balance
    assert bal is not None and bal["rebuilt"], bal
    assert bal["spikes"] >= 2.0 * e.L.n_total
    assert bal["before"] > 1.5 and bal["after"] < 1.1
    lo, hi = first[0].col_offset + first[1] + 200, first[0].col_offset + first[1] + 400
    assert lo < bal["bounds"][1] < hi                    # inside the busy population
    np.testing.assert_array_equal(np.asarray(e._q_bounds), bal["bounds"])
    assert ref["busy"].num_spikes > 500
    assert_same(got, ref)

    monkeypatch.setattr(native_engine, "QUEUE_REBALANCE", float("inf"))
    net2, kept = skewed_net(2)
    run_pieces(net2, (10.0,) * 8)
    assert not net2._engine._q_balance["rebuilt"]
    assert_same(kept, ref)
