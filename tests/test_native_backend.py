"""The native CPU backend (``device="cpu:native"``): the kernels of ``kernels/`` compiled with
-O3 and OpenMP, the step loop in C (:mod:`neurosim.backends.native`).

Compared with the NumPy reference as ``cuda:host`` is (tests/test_cuda_backend.py): with one
thread every kernel runs its items in order, so wherever the arithmetic is NumPy's the results
are bit for bit NumPy's, float sums included. With two threads the spike slots follow the
threads' timing and each thread delivers into a ring of its own (merged once a step): weights
that add exactly give the same results as one thread (the recorded spikes are sorted per step),
float weights the same statistics.
The generic device tests (the ``device`` fixture of conftest.py) run on ``cpu:native`` too.
"""

from __future__ import annotations

import numpy as np
import pytest

import neurosim as ns
from neurosim.backends import native
from neurosim.engine import cuda_recorder, cuda_tuning
from neurosim.networks import brunel_2000

from test_cuda_backend import (EXACT, MODELS, assert_same_monitors, model_net, recorded_net,
                               same_spikes)

pytestmark = pytest.mark.skipif(not native.status()[0], reason="no g++ with OpenMP")

DT = 0.1


@pytest.fixture(autouse=True)
def every_thread_asked(monkeypatch):
    """The small networks of these tests run on the threads they ask for (the step loop
    otherwise runs a network this small on one thread: native.step_threads)."""
    monkeypatch.setattr(native, "WORK_PER_THREAD", 0)


@pytest.fixture
def threads(request, monkeypatch):
    """Networks built in the test run on ``request.param`` threads."""
    monkeypatch.setattr(native, "threads_for", lambda n: request.param)
    return request.param


@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("threads", [1], indirect=True)
def test_every_model_matches_numpy_on_one_thread(kind, threads):
    ref_net, ref = model_net(kind, "cpu")
    net, got = model_net(kind, "cpu:native")
    ref_net.run(100.0)
    net.run(100.0)
    assert net.backend == "cpu:native" and net._engine.threads == 1
    assert ref["spikes"].num_spikes > 20
    same_spikes(ref["src"], got["src"])
    if kind in EXACT:
        same_spikes(ref["spikes"], got["spikes"])
        np.testing.assert_array_equal(ref["v"].values, got["v"].values)
    else:   # expf vs NumPy's exp (see test_cuda_backend)
        a = set(zip(ref["spikes"].steps, ref["spikes"].indices))
        b = set(zip(got["spikes"].steps, got["spikes"].indices))
        assert len(a ^ b) <= max(2, 0.02 * len(a))
        assert np.isclose(ref["v"].values, got["v"].values, rtol=0, atol=1e-3).mean() > 0.97


@pytest.mark.parametrize("kind", MODELS)
def test_two_threads_equal_one_thread(kind, monkeypatch):
    """Weights that add exactly: the threads' order cannot matter."""
    runs = []
    for n in (1, 2):
        monkeypatch.setattr(native, "threads_for", lambda _, n=n: n)
        net, mons = model_net(kind, "cpu:native")
        net.run(60.0)
        assert net._engine.threads == n
        runs.append(mons)
    (a, b) = runs
    assert a["spikes"].num_spikes > 10
    same_spikes(a["spikes"], b["spikes"])
    same_spikes(a["src"], b["src"])
    np.testing.assert_array_equal(a["v"].values, b["v"].values)


@pytest.mark.parametrize("threads", [1], indirect=True)
def test_brunel_scaled_down_is_identical_on_one_thread(threads):
    """Float weights (J = 0.2 mV) in a chaotic network: one thread adds them in NumPy's order."""
    def run(device):
        r = brunel_2000(n_exc=1000, epsilon=0.1, J=0.2, device=device, seed=4)
        r.network.run(150.0)
        return r.monitors
    ref, got = run("cpu"), run("cpu:native")
    assert ref["exc"].num_spikes > 1000
    same_spikes(ref["exc"], got["exc"])
    same_spikes(ref["inh"], got["inh"])


@pytest.mark.parametrize("per_neuron", [False, True], ids=["uniform", "per-neuron"])
@pytest.mark.parametrize("threads", [1], indirect=True)
def test_neuron_loops_across_chunks_match_numpy(threads, per_neuron):
    """The native neuron loops work in chunks of NS_NATIVE_CHUNK (2048) neurons and emit a
    chunk's spikes after the next chunk's update: 4,999 neurons (two full chunks and a tail
    that is no multiple of 8), a Poisson drive and recurrent input, against NumPy bit for bit
    (spike order within a step included), with uniform and with per-neuron constants."""
    n = 4999
    rng = np.random.default_rng(5)
    tau_refrac = rng.choice([1.0, 2.0], n) if per_neuron else 2.0

    def run(device):
        net = ns.Network(dt=DT, device=device, seed=8)
        pop = net.add_population(n, ns.LIF(tau_m=20.0, v_rest=0.0, v_reset=10.0,
                                           v_thresh=20.0, tau_refrac=tau_refrac,
                                           synapse="delta"),
                                 initial={"v": ns.Uniform(0.0, 20.0)})
        net.connect(pop, pop, ns.FixedIndegree(20), weight=0.25, delay=1.0)
        net.add_poisson_input(pop, rate=9000.0, weight=0.5, n_sources=1)
        spikes = net.record_spikes(pop)
        v = net.record_state(pop, "v", every=7)
        net.run(40.0)
        return spikes, v
    (ref, ref_v), (got, got_v) = run("cpu"), run("cpu:native")
    assert ref.num_spikes > 2000 and np.unique(ref.indices).size > 1000
    assert ref.indices.max() > 4096                 # spikes in the tail chunk
    same_spikes(ref, got)
    np.testing.assert_array_equal(ref_v.values, got_v.values)


@pytest.mark.parametrize("threads", [1], indirect=True)
def test_merged_populations_get_constants_all_per_neuron(threads):
    """Two LIF populations with different parameters merge into one group whose constants
    differ per neuron for some parameters only; the native engine makes them all per neuron
    (the vectorised loop), with NumPy's spikes and membrane potentials."""
    def run(device):
        net = ns.Network(dt=DT, device=device, seed=3)
        a = net.add_population(300, ns.LIF(tau_m=20.0, i_offset=400.0, tau_refrac=2.0),
                               initial={"v": ns.Uniform(-70.0, -55.0)})
        b = net.add_population(200, ns.LIF(tau_m=20.0, i_offset=500.0, tau_refrac=1.0),
                               initial={"v": ns.Uniform(-70.0, -55.0)})
        net.connect(a, b, ns.FixedIndegree(10), weight=16.0, delay=0.5)
        mons = [net.record_spikes(a), net.record_spikes(b), net.record_state(b, "v", every=5)]
        net.run(60.0)
        return net, mons
    ref_net, ref = run("cpu")
    net, got = run("cpu:native")
    (group,) = [rt for rt in net._engine.groups if not rt.is_source]
    values = group.values
    assert int(values["per_neuron"]) == (1 << len(
        [k for k in values if k in group.g.consts])) - 1
    assert int(values["flags"]) & cuda_tuning.NS_REF_PER_NEURON
    assert values["v_const"].size == values["n_ref"].size == 500
    assert ref[0].num_spikes > 100 and ref[1].num_spikes > 100
    same_spikes(ref[0], got[0])
    same_spikes(ref[1], got[1])
    np.testing.assert_array_equal(ref[2].values, got[2].values)


def test_recorded_spikes_are_put_in_id_order_within_steps():
    """Spikes a step's threads emitted interleaved are sorted by id within the step; spikes
    already in order are kept as they are (one thread)."""
    steps = np.array([4, 4, 4, 5, 5, 7, 7, 7], np.int64)
    idx = np.array([9, 2, 5, 3, 1, 8, 0, 8], np.int64)
    s, i = cuda_recorder._ascending_within_steps(steps, idx, 4)
    np.testing.assert_array_equal(s, steps)
    np.testing.assert_array_equal(i, [2, 5, 9, 1, 3, 0, 8, 8])
    ordered = np.array([2, 5, 9, 1, 3, 0, 8, 8], np.int64)
    s2, i2 = cuda_recorder._ascending_within_steps(steps, ordered, 4)
    assert s2 is steps and i2 is ordered
    # two threads' runs of ascending ids interleaved within each of many steps, as a chunk
    # of a 2-thread run records them: a lexsort's order
    rng = np.random.default_rng(5)
    per = rng.integers(0, 40, 300)
    steps = np.repeat(np.arange(100, 400, dtype=np.int64), per)
    idx = np.concatenate([rng.permutation(np.r_[np.sort(rng.choice(5000, k // 2, False)),
                                                5000 + np.sort(rng.choice(5000, k - k // 2,
                                                                          False))])
                          for k in per]).astype(np.int64)
    s3, i3 = cuda_recorder._ascending_within_steps(steps, idx, 100)
    order = np.lexsort((idx, steps))
    np.testing.assert_array_equal(s3, steps[order])
    np.testing.assert_array_equal(i3, idx[order])


@pytest.mark.parametrize("threads", [2], indirect=True)
def test_brunel_on_two_threads_has_numpy_rates(threads):
    def rate(device):
        r = brunel_2000(n_exc=1000, epsilon=0.1, J=0.2, device=device, seed=4)
        r.network.run(200.0)
        return r.monitors["exc"].mean_rate(50.0, 200.0)
    ref, got = rate("cpu"), rate("cpu:native")
    assert ref > 20.0 and got == pytest.approx(ref, rel=0.1)


@pytest.mark.parametrize("threads", [2], indirect=True)
@pytest.mark.parametrize("stop_at_halt", [True, False], ids=["runner-stops", "graph-like"])
def test_recording_buffer_overflow_halts_the_runner_and_loses_nothing(threads, stop_at_halt,
                                                                      monkeypatch):
    """A spike buffer with room for one step's worst case and one spike more: the step end
    halts the clock before every step that might not fit, the C runner stops there (or, like a
    graph, runs the rest of the chunk's steps, which must do nothing), the host takes the
    spikes and goes on. Integer weights: two threads give NumPy's results."""
    ref_net, ref = recorded_net("cpu")
    monkeypatch.setattr(cuda_tuning, "REC_START", 1)
    monkeypatch.setattr(cuda_tuning, "RECORD_BUDGET", 64)
    monkeypatch.setattr(cuda_tuning, "HOST_STOP_AT_HALT", stop_at_halt)
    halts = []
    fit = cuda_recorder.Recorder.fit
    monkeypatch.setattr(cuda_recorder.Recorder, "fit",
                        lambda self, steps, halted, nxt: halts.append(halted)
                        or fit(self, steps, halted, nxt))
    net, got = recorded_net("cpu:native")
    assert net._engine.threads == 2 and net._engine.recorder.room == 1
    assert sum(halts) > 50 and ref[0].num_spikes > 100
    assert_same_monitors(ref, got)
    assert net.t == pytest.approx(ref_net.t)
    np.testing.assert_array_equal(ref_net.get_state(ref_net.populations[1], "v"),
                                  net.get_state(net.populations[1], "v"))


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_plan_runner_stops_after_a_halted_step(threads):
    """The C runner replays the plan for a range of steps and returns after the step that
    halted the clock; steps of a halted clock change nothing."""
    net = ns.Network(dt=DT, device="cpu:native", seed=1)
    pop = net.add_population(50, ns.LIF(i_offset=400.0))
    net.connect(pop, pop, ns.FixedProbability(0.1), weight=1.0)
    net.run(1.0)
    e = net._engine
    e.plan()
    e._begin_chunk(10)
    assert e._launch(10, 30) == 30 and list(e.clock[30 % 2][:3]) == [30, 20, 0]
    v = net.get_state(pop, "v")
    e.clock[30 % 2] = [30, 0, 1, 0]                        # halted
    assert e._launch(30, 90) == 31
    assert list(e.clock[31 % 2][:3]) == [30, 0, 1]          # copied on, unchanged
    np.testing.assert_array_equal(net.get_state(pop, "v"), v)
    assert e._runner.run(30, 90, stop_at_halt=False) == 90         # as a graph: every step halted
    np.testing.assert_array_equal(net.get_state(pop, "v"), v)


@pytest.mark.parametrize("threads", [2], indirect=True)
def test_non_finite_state_stops_at_the_step_on_threads(threads):
    net = ns.Network(dt=DT, device="cpu:native", seed=2)
    src = net.add_population(2, ns.SpikeSource([[5.0], [5.0]]))
    pop = net.add_population(4, ns.LIF(i_offset=3000.0, v_rest=0.0, v_reset=0.0, v_thresh=10.0,
                                       tau_refrac=0.0, synapse="delta"), name="victim")
    net.connect(src, pop, ns.Explicit([0, 1], [1, 1]), weight=-3e38, delay=1.0,
                receptor="inhibitory")
    mon = net.record_spikes(pop)
    with pytest.raises(ns.SimulationError) as info:
        net.run(20.0)
    assert net._engine.threads == 2
    assert (info.value.population, info.value.variable) == ("victim", "v")
    assert info.value.t_ms == pytest.approx(6.0) and net.t == pytest.approx(6.0)
    assert mon.num_spikes > 10 and mon.steps.max() < 60


# -- the build and the launchers -------------------------------------------------------------

COUNTING = r'''
#include "common.cuh"
NS_GLOBAL void count_all(ns_i32 *count, float *fsum, ns_u64 *wide, ns_i32 *slots,
                         ns_i32 *owner, ns_i64 n) {
  NS_GRID_STRIDE_LOOP(i, n) {
    atomicAdd(count, 1);
    atomicAdd(fsum, 1.0f);
    atomicAdd(wide, 3ULL);
    owner[ns_reserve(slots)] = (ns_i32)i;
  }
}
'''


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_atomics_are_atomic_on_threads(threads):
    """Threads racing on one counter lose nothing (float, 32- and 64-bit atomics, and the
    host path of ns_reserve: every item gets its own slot)."""
    mod = native.NativeModule(code=COUNTING, threads=threads)
    kernel = mod.get_function("count_all")
    n = 200_000
    count, fsum, wide = np.zeros(1, np.int32), np.zeros(1, np.float32), np.zeros(1, np.uint64)
    slots, owner = np.zeros(1, np.int32), np.full(n, -1, np.int32)
    kernel((threads * 8,), (4,), (count, fsum, wide, slots, owner, np.int64(n)))
    assert count[0] == n and fsum[0] == n and wide[0] == 3 * n and slots[0] == n
    np.testing.assert_array_equal(np.sort(owner), np.arange(n))


def test_builds_are_cached_and_keyed_by_flags_and_defines():
    a = native.NativeModule("record.cu")
    spent = native.build_seconds()
    b = native.NativeModule("record.cu")
    assert a.path == b.path and native.build_seconds() == spent      # from the cache
    c = native.NativeModule("record.cu", options=("-DNS_NATIVE_TEST_DEFINE=1",))
    assert c.path != a.path and c.path.parent == native.cache_dir()
    flags = native.native_flags()
    assert "-O3" in flags and "-fopenmp" in flags and "-ffp-contract=off" in flags
    assert any(f.startswith("-DNS_NATIVE_KEY=") for f in flags)


def test_generated_model_sources_build_natively():
    """A NeuronModel description renders its own kernel source; the native backend builds it
    (and gives NumPy's spikes: exact arithmetic, one thread)."""
    from test_neuron_model import LIF_DESCRIPTION

    def run(device):
        net = ns.Network(dt=DT, device=device, seed=1, threads=1 if device != "cpu" else None)
        pop = net.add_population(20, LIF_DESCRIPTION(i_offset=600.0),
            initial={"v": ns.Uniform(-70.0, -55.0)})
        mon = net.record_spikes(pop)
        net.run(50.0)
        return mon
    ref, got = run("cpu"), run("cpu:native")
    assert ref.num_spikes > 20
    same_spikes(ref, got)


def test_threads_argument_is_validated():
    with pytest.raises(ValueError, match="threads must be >= 1, got 0"):
        ns.Network(device="cpu:native", threads=0)
    with pytest.raises(TypeError, match="threads must be an integer"):
        ns.Network(device="cpu:native", threads=1.5)
    with pytest.raises(ValueError, match="threads=2 applies to device='cpu:native'"):
        ns.Network(device="cpu", threads=2)
    net = ns.Network(device="cpu:native", threads=3, seed=1)
    net.add_population(10, ns.LIF())
    net.run(1.0)
    assert net._engine.threads == 3 and net.backend == "cpu:native"


def test_default_threads_follow_the_size():
    native.NativeModule("record.cu")
    import os
    assert "OMP_WAIT_POLICY" in os.environ or os.environ.get("GOMP_SPINCOUNT") == native.SPINCOUNT
    cores = native.default_threads()
    assert native.threads_for(10) == 1
    assert native.threads_for(10**7) == cores


# -- threads: the work threshold, delivery into private rings ---------------------------------

def test_small_networks_run_their_steps_on_one_thread(monkeypatch):
    """threads= is an upper bound: a step with less than WORK_PER_THREAD units of work per
    thread (neurons, plus one per SYNAPSES_PER_WORK synapses) runs on fewer threads, so a
    2-thread request on 100 neurons runs the serial loop (no parallel region, no barrier)."""
    monkeypatch.setattr(native, "WORK_PER_THREAD", 10_000)
    monkeypatch.setattr(native, "SYNAPSES_PER_WORK", 100)
    assert native.step_threads(2, 100) == 1
    assert native.step_threads(2, 19_999) == 1 and native.step_threads(2, 20_000) == 2
    assert native.step_threads(2, 12_500, 12_500_000) == 2        # Brunel: 137,500 units
    assert native.step_threads(2, 4000, 320_000) == 1             # COBA: 7,200 units
    assert native.step_threads(8, 35_000) == 3 and native.step_threads(1, 10**6) == 1
    net = ns.Network(device="cpu:native", threads=2, seed=1)
    pop = net.add_population(100, ns.LIF(i_offset=400.0))
    net.connect(pop, pop, ns.FixedProbability(0.1), weight=1.0)
    net.run(1.0)
    e = net._engine
    assert (e.threads_asked, e.threads) == (2, 1)
    assert [launch.kernel.name for launch in e.plan()] == ["lif_update", "propagate"]
    monkeypatch.setattr(native, "WORK_PER_THREAD", 0)           # every thread asked for
    net2 = ns.Network(device="cpu:native", threads=2, seed=1)
    net2.add_population(100, ns.LIF())
    net2.run(1.0)
    assert net2._engine.threads == 2


def test_two_threads_deliver_into_private_rings_merged_between_chunks():
    """On two threads thread 1 delivers into a ring of its own, merged into the ring where
    each step's neurons read it and completely after every chunk: with weights that add
    exactly, a run in many short pieces (per-synapse delays of 0.1-3 ms pending across the
    chunk ends) gives one thread's spikes, state and ring, and the private rings are zero
    between runs."""
    runs = []
    for n in (1, 2):
        net, mons = model_net("lif", "cpu:native")
        net.threads = n
        for _ in range(9):
            net.run(7.3)
            if n == 2:
                assert not net._engine._priv.any()
        e = net._engine
        assert e.threads == n
        names = [launch.kernel.name for launch in e.plan()]
        if n == 2:
            assert names[0] == "ring_merge_native" and "propagate_native" in names
            assert e._flags[0] == native.NO_BARRIER and e._flags[-1] == 0
        runs.append((mons, np.array(e.ring)))
    (a, ring_a), (b, ring_b) = runs
    assert a["spikes"].num_spikes > 10 and ring_a.any()
    same_spikes(a["spikes"], b["spikes"])
    np.testing.assert_array_equal(a["v"].values, b["v"].values)
    np.testing.assert_array_equal(ring_a, ring_b)


@pytest.mark.parametrize("small_buffer", [False, True], ids=["", "halting"])
def test_one_barrier_steps_equal_one_thread(small_buffer, monkeypatch):
    """Delays of two steps or more, and nothing but neuron kernels and delivery in a step: on
    several threads the step end runs on the last thread to finish the neuron kernels, the
    step has one barrier, delivery overlaps the next step's neuron updates, and the spike
    list alternates between two buffers. Weights that add exactly: one thread's spikes, rates
    and state, across chunk ends (and across the halts of a recording buffer too small for
    more than a step or two)."""
    if small_buffer:
        monkeypatch.setattr(cuda_tuning, "REC_START", 1)
        monkeypatch.setattr(cuda_tuning, "RECORD_BUDGET", 64)

    def run(n):
        net = ns.Network(dt=DT, device="cpu:native", seed=6, threads=n)
        exc = net.add_population(300, ns.LIF(tau_refrac=2.0, i_offset=350.0),
                                 initial={"v": ns.Uniform(-70, -52)})
        inh = net.add_population(80, ns.LIFCond(i_offset=300.0),
                                 initial={"v": ns.Uniform(-70, -52)})
        net.connect(exc, exc, ns.FixedIndegree(30), weight=16.0, delay=ns.Uniform(0.2, 2.5))
        net.connect(exc, inh, ns.FixedIndegree(30), weight=2.0, delay=1.5)
        net.connect(inh, exc, ns.FixedIndegree(10), weight=-32.0, delay=0.2,
                    receptor="inhibitory")
        net.add_poisson_input(exc, rate=3000.0, weight=16.0, n_sources=1)
        net.add_poisson_input(inh, rate=3000.0, weight=2.0, n_sources=1)
        mons = [net.record_spikes(exc), net.record_spikes(inh, indices=[1, 5, 70]),
                net.record_rate(exc)]
        for _ in range(4):
            net.run(12.7)
        e = net._engine
        assert e.threads == n
        return e, mons, net.get_state(exc, "v"), net.get_state(inh, "g_e")
    e1, ref, v1, g1 = run(1)
    for n in (2, 3):
        e, got, v, g = run(n)
        names = [launch.kernel.name for launch in e.plan()]
        assert "step_end_native" in names and names[-1] == "propagate_native"
        assert sum(not f & native.NO_BARRIER for f in e._flags) == 1   # barriers a step
        assert not e._priv.any()
        assert ref[0].num_spikes > 300 and ref[1].num_spikes > 5
        assert_same_monitors(ref, got)
        np.testing.assert_array_equal(v1, v)
        np.testing.assert_array_equal(g1, g)


def _lif_100(device):
    """Issue 14's first row, shortened: 100 uncoupled LIF neurons driven by a constant current,
    every spike recorded, and a rate monitor."""
    from neurosim.bench import cases
    built = cases.lif_uncoupled(100, device=device, seed=3)
    net = built.network
    rate = net.record_rate(net.populations[0])
    return net, built.monitors[0], rate


@pytest.mark.parametrize("threads", [1], indirect=True)
def test_a_small_network_runs_whole_runs_in_one_call_with_numpy_records(threads, monkeypatch):
    """A run of a small network is one chunk (one call of the C runner for all its steps,
    sized from the bound of ``first_chunk``), and records exactly what NumPy records."""
    from neurosim.engine import native_engine
    ref_net, ref, ref_rate = _lif_100("cpu")
    net, got, got_rate = _lif_100("cpu:native")
    calls = []
    launch = native_engine.NativeEngine._launch
    monkeypatch.setattr(native_engine.NativeEngine, "_launch",
                        lambda self, n0, n1: calls.append((n0, n1)) or launch(self, n0, n1))
    ref_net.run(400.0)
    net.run(400.0)
    assert calls == [(0, 4000)]
    assert ref.num_spikes > 500
    same_spikes(ref, got)
    np.testing.assert_array_equal(ref_rate.counts, got_rate.counts)
    np.testing.assert_array_equal(ref_net.get_state(ref_net.populations[0], "v"),
                                  net.get_state(net.populations[0], "v"))


@pytest.mark.parametrize("threads", [1], indirect=True)
def test_chunks_of_any_length_clear_their_own_counters(threads, monkeypatch):
    """Each chunk clears the per-step counters of its own steps only (not the whole buffers):
    short chunks after long ones and long after short (runs of 1 to 3,000 steps, with the
    buffers sized for 128 steps) record NumPy's spikes and rates."""
    monkeypatch.setattr(cuda_tuning, "MAX_CHUNK", 128)
    ref_net, ref, ref_rate = _lif_100("cpu")
    net, got, got_rate = _lif_100("cpu:native")
    ref_net.run(500.0)
    for ms in (0.1, 300.0, 0.3, 12.8, 12.9, 0.1, 173.8):
        net.run(ms)
    assert net._engine.K == 128
    assert net.t == pytest.approx(ref_net.t)
    same_spikes(ref, got)
    np.testing.assert_array_equal(ref_rate.counts, got_rate.counts)


def test_first_chunk_is_bounded_by_a_steps_worst_cost():
    from neurosim.engine.native_engine import CHUNK_SECONDS, STEP_ITEM_SECONDS, first_chunk
    assert first_chunk(100, 0) == int(CHUNK_SECONDS / (STEP_ITEM_SECONDS * 100)) >= 10_000
    assert first_chunk(1, 0) == cuda_tuning.MAX_CHUNK
    assert first_chunk(12_500, 15_625_000) == cuda_tuning.GRAPH_STEPS
    sizes = [first_chunk(n, 10 * n) for n in (10, 100, 1_000, 10_000, 100_000)]
    assert sizes == sorted(sizes, reverse=True)
