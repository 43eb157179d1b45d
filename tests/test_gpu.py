"""The CUDA backend on a real GPU (CuPy): parity with NumPy and a speed smoke test.

Marked ``gpu`` and skipped cleanly without CuPy and a visible GPU (run with ``pytest -m gpu``).
The GPU contracts multiply-adds (``-fmad``), uses its own ``expf`` and adds with atomics in any
order, so most comparisons are within tolerances, as sets, or statistical (see
``tests/test_cuda_backend.py`` for the exact comparisons of the host build); integer work
(random numbers, spike sources, delays, exactly adding weights into a non-leaking neuron) is
compared exactly. Comparisons with NumPy use ``connectivity="host"`` (the same synapses on both
backends); the statistical ones let a GPU generate its own (``"auto"``), see also
``tests/test_device_connect.py``.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import neurosim as ns
from neurosim.backends import cuda_status
from neurosim.engine import cuda_tuning, device_memory
from neurosim.networks import brunel_2000, vogels_abbott_coba

from test_cuda_backend import MODELS, model_net, rows_net, same_spikes

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not cuda_status()[0], reason=f"no GPU: {cuda_status()[1]}")]

DT = 0.1


def spike_set(mon):
    return set(zip(mon.steps.tolist(), mon.indices.tolist()))


@pytest.mark.parametrize("kind", MODELS)
def test_every_model_close_to_numpy(kind):
    ref_net, ref = model_net(kind, "cpu")
    net, got = model_net(kind, "cuda")
    ref_net.run(100.0)
    net.run(100.0)
    assert net.backend == "cuda"
    same_spikes(ref["src"], got["src"])                  # Philox: the same draws
    a, b = spike_set(ref["spikes"]), spike_set(got["spikes"])
    assert len(a ^ b) <= max(3, 0.05 * len(a))
    np.testing.assert_array_equal(ref["v"].times, got["v"].times)
    close = np.isclose(ref["v"].values, got["v"].values, rtol=0, atol=1e-2)
    assert close.mean() > 0.9


@pytest.mark.parametrize("case", ["current", "delta", "no_hold", "cond"])
def test_generated_models_close_to_numpy(case):
    """Kernels generated from NeuronModel descriptions (tests/test_neuron_model.py), compiled
    by NVRTC through CuPy: close to the NumPy step (the GPU contracts multiply-adds)."""
    from test_neuron_model import CASES, COND, net_of
    make = COND if case == "cond" else CASES[case]
    w = {"delta": (2.0, -1.0), "cond": (4.0, 8.0)}.get(case, (64.0, -32.0))
    ref_net, ref = net_of(make(), "cpu", *w)
    net, got = net_of(make(), "cuda", *w)
    ref_net.run(100.0)
    net.run(100.0)
    same_spikes(ref["src"], got["src"])
    a, b = spike_set(ref["spikes"]), spike_set(got["spikes"])
    assert len(a) > 20 and len(a ^ b) <= max(3, 0.05 * len(a))
    assert np.isclose(ref["v"].values, got["v"].values, rtol=0, atol=1e-2).mean() > 0.9


def test_inputs_and_delays_exact():
    """Poisson drive counts, Poisson sources, spike sources and per-synapse delays: integer
    work, compared exactly (a non-leaking delta neuron sums weights of 2^-4 exactly)."""
    def run(device):
        net = ns.Network(dt=DT, device=device, seed=21, connectivity="host")
        sink = ns.LIF(tau_m=1e9, v_rest=0.0, v_reset=0.0, v_thresh=1e9, tau_refrac=0.0,
                      synapse="delta")
        drive = net.add_population(500, sink)
        net.add_poisson_input(drive, rate=3000.0, weight=0.0625, n_sources=4)
        src = net.add_population(200, ns.PoissonSource(rate=np.linspace(1.0, 500.0, 200)))
        times = [[1.0, 2.5], [0.3], [7.7, 7.8, 30.0]]
        sched = net.add_population(3, ns.SpikeSource(times))
        delayed = net.add_population(6, sink)
        net.connect(sched, delayed, ns.AllToAll(), weight=0.25,       # 18 synapses
                    delay=np.tile([0.1, 2.0, 25.7, 0.5, 1.1, 3.3], 3))
        mons = (net.record_spikes(src), net.record_spikes(sched),
                net.record_state(drive, "v", every=7), net.record_state(delayed, "v"))
        net.run(60.0)
        return mons
    ref, got = run("cpu"), run("cuda")
    same_spikes(ref[0], got[0])
    same_spikes(ref[1], got[1])
    np.testing.assert_array_equal(ref[2].values, got[2].values)
    np.testing.assert_array_equal(ref[3].values, got[3].values)


def test_refractory_and_per_neuron_parameters():
    def run(device):
        net = ns.Network(dt=DT, device=device, seed=1, connectivity="host")
        pop = net.add_population(4, ns.LIF(tau_m=10.0, i_offset=[1500.0, 1800.0, 2000.0, 2500.0],
                                           tau_refrac=[0.0, 0.1, 2.0, 3.75]))
        mon, vm = net.record_spikes(pop), net.record_state(pop, "v")
        net.run(30.0)
        return mon, vm
    (ref, ref_v), (got, got_v) = run("cpu"), run("cuda")
    same_spikes(ref, got)
    np.testing.assert_allclose(ref_v.values, got_v.values, rtol=1e-5, atol=1e-4)


def test_brunel_and_coba_statistics():
    def brunel(device):
        r = brunel_2000(n_exc=4000, epsilon=0.05, J=0.2, device=device, seed=4)
        r.network.run(300.0)
        return r.monitors["exc"].mean_rate(100.0, 300.0)
    ref, got = brunel("cpu"), brunel("cuda")
    assert ref > 20.0 and got == pytest.approx(ref, rel=0.1)

    def coba(device, seed):
        r = vogels_abbott_coba(device=device, seed=seed)
        r.network.run(500.0)
        return r.monitors["exc"].mean_rate(200.0, 500.0)
    # COBA is bistable: about a third of the seeds fall silent within 500 ms (host draws:
    # seeds 1, 4, 5 of 1-8; the GPU's own draws: 2 and 5 on the host build), so 8 seeds
    rates = np.array([[coba(dev, seed) for seed in range(1, 9)] for dev in ("cpu", "cuda")])
    active = rates > 5.0
    assert active.sum(axis=1).min() >= 4, rates
    cpu, gpu = (r[a].mean() for r, a in zip(rates, active))
    assert 14.0 < cpu < 25.0 and gpu == pytest.approx(cpu, rel=0.15), rates


def test_cuda_graphs_equal_direct_launches(monkeypatch):
    """Uncoupled neurons (no atomics on state): replayed graphs == one launch at a time."""
    def run():
        net = ns.Network(dt=DT, device="cuda", seed=3)
        pop = net.add_population(1000, ns.LIF(i_offset=np.linspace(300.0, 600.0, 1000)),
                                 initial={"v": ns.Uniform(-70.0, -55.0)})
        mon, vm = net.record_spikes(pop), net.record_state(pop, "v", [0, 999], every=5)
        for piece in (0.1, 33.3, 200.0):
            net.run(piece)
        return mon, vm
    graphs = run()
    monkeypatch.setenv("NEUROSIM_CUDA_GRAPHS", "0")
    direct = run()
    same_spikes(graphs[0], direct[0])
    np.testing.assert_array_equal(graphs[1].values, direct[1].values)


def test_recording_halts_inside_graphs_lose_nothing(monkeypatch):
    """Long and short rows, two classes in one propagation launch, exactly adding weights: a
    spike buffer with room for one step more than the worst case halts the clock inside the
    graphs again and again; the halted steps must do nothing and every spike must arrive, so
    the run equals one with a roomy buffer bit for bit, and NumPy's within the FMA's last bits."""
    ref_net, ref, _ = rows_net("cpu")
    net, roomy, roomy_v = rows_net("cuda")
    assert [k.kernel.name for k in net._engine.plan()] == [
        "lif_update", "spike_source_update", "poisson_source_update", "propagate",
        "record_state"]
    monkeypatch.setattr(cuda_tuning, "REC_START", 1)
    monkeypatch.setattr(cuda_tuning, "RECORD_BUDGET", 64)
    net, tight, tight_v = rows_net("cuda")
    assert net._engine.recorder.room == 1
    same_spikes(roomy, tight)
    np.testing.assert_array_equal(roomy_v.values, tight_v.values)
    a, b = spike_set(ref), spike_set(tight)
    assert len(a ^ b) <= max(3, 0.05 * len(a))


def test_non_finite_state_raises_on_the_gpu():
    net = ns.Network(dt=DT, device="cuda", seed=2)
    src = net.add_population(2, ns.SpikeSource([[5.0], [5.0]]))
    pop = net.add_population(4, ns.LIF(i_offset=3000.0, v_rest=0.0, v_reset=0.0, v_thresh=10.0,
                                       tau_refrac=0.0, synapse="delta"), name="victim")
    net.connect(src, pop, ns.Explicit([0, 1], [1, 1]), weight=-3e38, delay=1.0,
                receptor="inhibitory")
    vm = net.record_state(pop, "v")
    with pytest.raises(ns.SimulationError) as info:
        net.run(20.0)
    assert (info.value.population, info.value.variable) == ("victim", "v")
    assert info.value.t_ms == pytest.approx(6.0) and net.t == pytest.approx(6.0)
    assert vm.times[-1] == pytest.approx(6.0)


def test_device_memory_error_names_the_gpu(monkeypatch):
    free, where = device_memory.free_device_memory(False)
    assert free > 0 and where.startswith("GPU ")
    monkeypatch.setattr(device_memory, "free_device_memory", lambda host: (1 << 20, where))
    net = ns.Network(dt=DT, device="cuda", seed=1)
    a = net.add_population(5000, ns.LIF())
    net.connect(a, a, ns.FixedIndegree(100), weight=1.0)
    with pytest.raises(ns.DeviceMemoryError, match="needs about .* free"):
        net.build()
    assert net._engine is None


def test_speed_smoke():
    """Loose bounds, only to catch a pathological slowdown (benchmarks/gpu_benchmarks.py
    measures)."""
    net = ns.Network(dt=DT, device="cuda", seed=1)
    net.add_population(100_000, ns.LIF(i_offset=312.5, tau_m=20.0, v_thresh=-50.0),
                       initial={"v": ns.Uniform(-70.0, -50.0)})
    net.run(10.0)
    t = time.perf_counter()
    net.run(100.0)
    assert time.perf_counter() - t < 2.0            # 1,000 steps of 10^5 neurons
    small = ns.Network(dt=DT, device="cuda", seed=1)
    small.add_population(100, ns.LIF(i_offset=400.0))
    small.run(10.0)
    t = time.perf_counter()
    small.run(1000.0)
    assert (time.perf_counter() - t) / 10_000 < 200e-6   # per step
