"""The CUDA engine per MPI rank (neurosim.distributed.cuda), run as ``device="cuda:host"``: the
CUDA engine's Python and kernels compiled for the CPU, so the GPU path is tested here without a
GPU.

The same worker as tests/test_distributed.py (``tests/mpi/worker.py``, networks built as user
scripts build them) runs on cuda:host under ``mpirun -n 2`` and ``-n 3``; the reference is the
NumPy engine's run of the distributed scheme on one process. Where the float32 arithmetic is the
same (LIF neurons: Brunel, the current- and source-driven networks) spikes, membrane traces and
connectivity must be identical bit for bit; COBA's LIFCond calls ``expf``, which may differ
from NumPy's ``exp`` in the last bit (tests/test_cuda_backend.py), so there the spikes and the
connectivity are identical, the traces within float32 rounding against NumPy, and bit for bit
between 2 and 3 ranks of cuda:host.
"""

from __future__ import annotations

import numpy as np
import pytest

import neurosim as ns
from neurosim.backends import host_build_status
from test_distributed import WORKER, _launch, _why_not, needs_mpi

pytestmark = pytest.mark.skipif(not host_build_status()[0], reason="no g++ for the host build")

CASES = ("brunel", "coba", "sources", "coba_stdp", "exact_stdp", "threshold", "reward", "tiny")
BITWISE = ("brunel", "sources", "exact_stdp", "threshold")   # LIF: NumPy's arithmetic
# RewardSTDP integrates its weights with expf (NumPy: exp): weights and traces within rounding
ROUNDED_WEIGHTS = ("reward",)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """NumPy on one process (the distributed scheme), cuda:host under mpirun -n 2 and -n 3."""
    tmp = tmp_path_factory.mktemp("mpi_cuda")
    out = {}
    rc, log = _launch(0, WORKER, tmp / "one.npz", *CASES, NEUROSIM_DISTRIBUTED="1")
    assert rc == 0, log
    out["one"] = dict(np.load(tmp / "one.npz"))
    if _why_not() is None:
        for n in (2, 3):
            rc, log = _launch(n, WORKER, tmp / f"n{n}.npz", *CASES,
                              NEUROSIM_WORKER_DEVICE="cuda:host")
            assert rc == 0, log
            assert f"on {n} ranks" in log, log
            out[n] = dict(np.load(tmp / f"n{n}.npz"))
    return out


def _keys(d: dict, case: str) -> list:
    return sorted(k for k in d if k.startswith(case + "/") and not k.endswith("/ranks"))


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("case", CASES)
def test_cuda_host_ranks_give_the_numpy_spikes(results, case, n):
    """Spike for spike and the drawn connectivity in every case; traces bit for bit where the
    neurons are LIF, within float32 rounding for COBA (expf)."""
    ref, got = results["one"], results[n]
    assert int(got[f"{case}/ranks"]) == n
    assert _keys(ref, case) == _keys(got, case)
    for k in _keys(ref, case):
        assert ref[k].shape == got[k].shape, k
        if case in ROUNDED_WEIGHTS and k.endswith("/weights"):
            np.testing.assert_allclose(ref[k], got[k], rtol=0, atol=1e-5, err_msg=k)
        elif case in BITWISE or not k.endswith(("/v", "/v_end")):
            np.testing.assert_array_equal(ref[k], got[k], err_msg=k)
        else:
            np.testing.assert_allclose(ref[k], got[k], rtol=0, atol=1e-3, err_msg=k)
    spikes = sum(ref[k].size for k in _keys(ref, case) if k.endswith("/indices"))
    assert spikes > 50, case
    if case.endswith("_stdp") or case == "reward":   # learnt on the device (NumPy's, above)
        proj, initial = {"coba_stdp": ("proj1", 6.0), "exact_stdp": ("proj0", 1.5),
                         "reward": ("proj1", 0.3)}[case]
        assert np.mean(got[f"{case}/{proj}/weights"] != initial) > 0.3, case


@needs_mpi
def test_cuda_host_traces_are_the_same_on_2_and_3_ranks(results):
    """COBA's membrane traces (expf) and RewardSTDP's weights (expf) do not depend on the
    rank count either: bit for bit."""
    for k in _keys(results[2], "coba") + _keys(results[2], "reward"):
        np.testing.assert_array_equal(results[2][k], results[3][k], err_msg=k)


@needs_mpi
def test_cuda_ranks_refuse_different_rewards_on_every_rank():
    """RewardSTDP.deliver_reward() is collective on CUDA ranks too: different amounts are
    refused on every rank with the same error (tests/mpi/failures.py)."""
    from test_distributed import FAILURES
    rc, log = _launch(2, FAILURES, "reward", NEUROSIM_WORKER_DEVICE="cuda:host")
    assert rc != 0, log
    caught = [line for line in log.splitlines() if " caught " in line]
    assert sorted(line.split()[1] for line in caught) == ["0", "1"], log
    for line in caught:
        assert ("ValueError: RewardSTDP.deliver_reward(): the MPI ranks delivered different "
                "rewards: rank 1 amount=2.0 at step 20, rank 0 amount=1.0 at step 20") in line


# -- in-process: the scheme on one rank (Network(distributed=True)), no MPI needed -------------

def _small(device):
    net = ns.Network(dt=0.1, seed=4, device=device, distributed=True)
    model = ns.LIF(tau_m=10.0, v_thresh=-50.0, v_reset=-65.0, v_rest=-65.0, tau_refrac=1.0,
                   synapse="delta")
    exc = net.add_population(30, model, name="exc", initial={"v": ns.Uniform(-65.0, -50.0)})
    inh = net.add_population(9, model, name="inh", initial={"v": ns.Uniform(-65.0, -50.0)})
    src = net.add_population(6, ns.PoissonSource(rate=np.linspace(50.0, 150.0, 6)), name="src")
    net.connect(src, exc, ns.FixedIndegree(2), weight=4.0, delay=ns.Uniform(0.3, 1.2))
    net.connect(exc, inh, ns.FixedProbability(0.2), weight=2.0, delay=0.5)
    net.connect(inh, exc, ns.FixedIndegree(3), weight=-2.0, delay=0.3, receptor="inhibitory")
    net.add_poisson_input(exc, rate=900.0, weight=1.0, n_sources=4)
    net.inject(inh, ns.StepCurrent([2.0, 12.0], [np.linspace(0.0, 400.0, 9), np.full(9, 100.0)]))
    spikes = net.record_spikes(exc)
    rates = net.record_rate(inh, bin_size=1.0)
    net.run(10.0)
    vmon = net.record_state(inh, "v", indices=[1, 4, 8], every=3)     # added after a run
    net.set_state(exc, "v", np.full(30, -52.0))
    net.run(15.0)
    return net, spikes, rates, vmon, net.get_state(exc, "v")


def test_one_rank_cuda_host_equals_numpy_with_late_monitors_and_set_state():
    """Monitors added between runs, state set between runs, rates, currents, sources and
    per-synapse delays: cuda:host gives NumPy's distributed results bit for bit."""
    ref, got = _small("cpu"), _small("cuda:host")
    assert got[0].backend == "cuda:host" and ref[0].backend == "numpy"
    np.testing.assert_array_equal(ref[1].steps, got[1].steps)
    np.testing.assert_array_equal(ref[1].indices, got[1].indices)
    np.testing.assert_array_equal(ref[2].counts, got[2].counts)
    np.testing.assert_array_equal(ref[3].times, got[3].times)
    np.testing.assert_array_equal(ref[3].values, got[3].values)
    np.testing.assert_array_equal(ref[4], got[4])
    assert ref[1].num_spikes > 20 and ref[2].counts.sum() > 5 and ref[3].values.shape == (50, 3)
    t = got[0].timings
    # d_min = 3 steps: 100 steps in 34 intervals (the last one short), then 150 in 50
    assert t["interval_steps"] == 3 and t["exchanges"] == 34 + 50 and t["compute"] > 0


def test_non_finite_state_is_named_as_on_numpy_ranks():
    """The neuron is named by its index in its population; the network refuses to go on."""
    messages = []
    for device in ("cpu", "cuda:host"):
        net = ns.Network(dt=0.1, seed=7, device=device, distributed=True)
        ok = net.add_population(5, ns.LIF(i_offset=400.0), name="fine")
        bad = net.add_population(4, ns.AdEx(tau_w=0.01, i_offset=np.array([0, 0, 0, 500.0])),
                                 name="exploding")
        net.connect(ok, bad, ns.AllToAll(), weight=1.0, delay=0.5)
        with pytest.raises(ns.SimulationError) as info:
            net.run(20.0)
        messages.append(str(info.value))
        with pytest.raises(RuntimeError, match="stopped at an error"):
            net.run(1.0)
    assert messages[0] == messages[1]
    assert "population 'exploding'" in messages[1] and "for neuron 3," in messages[1]


def test_a_device_failure_is_reported_through_the_exchange(monkeypatch):
    """An exception from the rank's device (here a simulated out-of-memory in the third
    interval) travels in the exchange's error flag, as a NaN does: raised on every rank, the
    failing chunk's recordings dropped (the network's time stays at its start), and the
    network refuses to go on."""
    from neurosim.engine.cuda_engine import CudaEngine
    net = ns.Network(dt=0.1, seed=2, device="cuda:host", distributed=True)
    a = net.add_population(8, ns.LIF(i_offset=600.0), name="a")
    net.connect(a, a, ns.FixedIndegree(2), weight=10.0, delay=0.5)
    mon = net.record_spikes(a)
    calls = []
    advance = CudaEngine.advance

    def failing(self, n0, n1):
        calls.append(n0)
        if len(calls) == 3:
            raise MemoryError("out of device memory (simulated)")
        return advance(self, n0, n1)

    monkeypatch.setattr(CudaEngine, "advance", failing)
    with pytest.raises(MemoryError, match="simulated"):
        net.run(5.0)
    assert calls[:3] == [0, 5, 10] and net.t == 0.0 and mon.num_spikes == 0
    with pytest.raises(RuntimeError, match=r"stopped at an error \(MemoryError"):
        net.run(1.0)


def _plastic(device, seed=5):
    """STDP (all pairs, per-synapse delays; nearest-neighbour, multiplicative, recurrent) and
    TripletSTDP on the scheme's one rank; learning switched off and on between runs, weights
    read between runs."""
    net = ns.Network(dt=0.1, seed=seed, device=device, distributed=True)
    model = ns.LIF(tau_m=20.0, v_thresh=-50.0, v_reset=-60.0, v_rest=-60.0, tau_refrac=2.0,
                   synapse="delta")
    exc = net.add_population(20, model, name="exc", initial={"v": ns.Uniform(-60.0, -50.0)})
    noise = net.add_population(15, ns.PoissonSource(rate=60.0), name="noise")
    stdp = ns.STDP(A_plus=0.2, A_minus=0.22, w_min=0.0, w_max=4.0)
    p0 = net.connect(noise, exc, ns.FixedIndegree(5), weight=1.5, delay=ns.Uniform(0.2, 0.6),
                     plasticity=stdp)
    p1 = net.connect(exc, exc, ns.FixedProbability(0.3), weight=0.3, delay=0.3,
                     plasticity=ns.STDP(A_plus=0.05, A_minus=0.05, w_min=0.0, w_max=1.0,
                                        pairing="nearest_reduced", update="multiplicative"))
    p2 = net.connect(noise, exc, ns.FixedIndegree(3), weight=1.0, delay=0.4,
                     plasticity=ns.TripletSTDP(A2_plus=0.05, A3_plus=0.05, A2_minus=0.06,
                                               w_max=3.0))
    net.add_poisson_input(exc, rate=500.0, weight=0.8, n_sources=10)
    net.add_homeostasis(exc, ns.AdaptiveThreshold(theta_plus=0.5, tau_theta=50.0))
    spikes = net.record_spikes(exc)
    net.run(8.0)
    w_mid = p0.weights
    stdp.enabled = False
    net.run(4.0)
    w_frozen = p0.weights
    stdp.enabled = True
    net.run(8.0)
    return spikes, w_mid, w_frozen, [p.weights for p in (p0, p1, p2)], net.get_state(exc,
                                                                                      "theta")


def test_one_rank_cuda_host_learns_the_numpy_ranks_weights():
    """STDP and TripletSTDP on the device of a rank (the postsynaptic side in the step, the
    presynaptic side from the exchanged spikes), with an adaptive threshold: NumPy's spikes,
    learnt weights and thresholds bit for bit, weights frozen while learning is off."""
    ref, got = _plastic("cpu"), _plastic("cuda:host")
    np.testing.assert_array_equal(ref[0].steps, got[0].steps)
    np.testing.assert_array_equal(ref[0].indices, got[0].indices)
    for r, g in zip([ref[1], ref[2], *ref[3], ref[4]], [got[1], got[2], *got[3], got[4]]):
        np.testing.assert_array_equal(r, g)
    np.testing.assert_array_equal(got[1], got[2])          # learning off: frozen
    assert ref[0].num_spikes > 40 and np.all(got[4] > 0)
    assert all(np.mean(w != w0) > 0.3 for w, w0 in zip(got[3], (1.5, 0.3, 1.0)))


def test_synaptic_scaling_and_undescribed_rules_on_cuda_ranks_are_refused_before_any_work():
    from neurosim.plasticity.base import PlasticityRule

    class Opaque(PlasticityRule):           # a rule without a description (no CUDA runtime)
        def __init__(self):
            super().__init__(0.0, 1.0)

    for what in ("opaque", "scaling"):
        net = ns.Network(seed=1, device="cuda:host", distributed=True)
        a = net.add_population(10, ns.LIF())
        if what == "opaque":
            net.connect(a, a, ns.FixedIndegree(3), weight=0.5, plasticity=Opaque())
            match = ("device='cuda:host': projection .* is plastic \\(Opaque\\), whose "
                     "runtime does not run on the CUDA engine of an MPI rank yet")
        else:
            net.add_homeostasis(a, ns.SynapticScaling(target_rate=10.0))
            match = ("device='cuda:host': population .* has homeostasis SynapticScaling, which "
                     "does not run on the CUDA engine of an MPI rank yet")
        with pytest.raises(ValueError, match=match):
            net.build()
        assert net.t == 0.0


def test_checkpoints_of_cuda_ranks_are_refused_with_a_clear_error(tmp_path):
    """Saving from, or continuing on, CUDA ranks is not supported yet: a clear error (not an
    AttributeError from inside the export)."""
    def small(device):
        net = ns.Network(seed=1, device=device, distributed=True)
        a = net.add_population(10, ns.LIF(i_offset=500.0))
        net.connect(a, a, ns.FixedIndegree(3), weight=1.0, plasticity=ns.STDP())
        net.run(1.0)
        return net
    with pytest.raises(NotImplementedError, match="net.save\\(\\) of a network distributed "
                                                  "over MPI ranks on device='cuda:host'"):
        small("cuda:host").save(tmp_path / "cuda.npz")
    small("cpu").save(tmp_path / "cpu.npz")
    with pytest.raises(NotImplementedError, match="continuing a checkpoint on MPI ranks on "
                                                  "device='cuda:host' is not supported yet"):
        ns.load(tmp_path / "cpu.npz", device="cuda:host", distributed=True)


def test_cuda_ranks_without_a_gpu_say_what_is_missing():
    from neurosim.backends import cuda_status
    if cuda_status()[0]:
        pytest.skip("a GPU is visible")
    net = ns.Network(seed=1, device="cuda", distributed=True)
    net.add_population(10, ns.LIF())
    with pytest.raises(ns.DeviceUnavailableError, match="device='cuda' needs"):
        net.build()


def test_each_rank_takes_gpu_local_rank_modulo_the_gpus(monkeypatch):
    """Rank r of a node uses GPU local_rank % n_gpus (the launcher's local rank variable)."""
    import sys
    from types import SimpleNamespace

    from neurosim.distributed import SerialComm
    from neurosim.distributed.cuda import LOCAL_RANK_VARS, local_rank, select_gpu
    used = []

    class FakeDevice:
        def __init__(self, gpu):
            self.gpu = gpu

        def use(self):
            used.append(self.gpu)

    fake = SimpleNamespace(cuda=SimpleNamespace(Device=FakeDevice, runtime=SimpleNamespace(
        getDeviceCount=lambda: 4)))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    for var in LOCAL_RANK_VARS:
        monkeypatch.delenv(var, raising=False)
    assert local_rank(SerialComm()) == 0
    for rank, gpu in ((0, 0), (3, 3), (5, 1), (10, 2)):
        monkeypatch.setenv("OMPI_COMM_WORLD_LOCAL_RANK", str(rank))
        assert local_rank(SerialComm()) == rank
        assert select_gpu(local_rank(SerialComm())) == gpu and used[-1] == gpu
    fake.cuda.runtime.getDeviceCount = lambda: 0
    with pytest.raises(RuntimeError, match="local rank 10: no GPU is visible"):
        select_gpu(10)


# -- on a real GPU (pytest -m gpu): skipped without CuPy and a visible GPU ---------------------

def _gpu_why_not():
    from neurosim.backends import cuda_status
    ok, why = cuda_status()
    return None if ok else f"no GPU: {why}"


@pytest.mark.gpu
@pytest.mark.skipif(_gpu_why_not() is not None or _why_not() is not None,
                    reason=str(_gpu_why_not() or _why_not()))
def test_cuda_ranks_on_a_gpu_give_the_one_process_spikes(tmp_path):
    """device='cuda' under mpirun -n 2 (both ranks on GPU local_rank % n_gpus) against the
    distributed scheme on one process on the GPU: the 'sources' network adds weights that are
    exact in float32 (so the GPU's atomics add them in any order to the same sums) and runs the
    same compiled neuron kernels on both, so spikes and traces are identical bit for bit."""
    rc, log = _launch(0, WORKER, tmp_path / "one.npz", "sources", NEUROSIM_DISTRIBUTED="1",
                      NEUROSIM_WORKER_DEVICE="cuda")
    assert rc == 0, log
    rc, log = _launch(2, WORKER, tmp_path / "n2.npz", "sources", NEUROSIM_WORKER_DEVICE="cuda")
    assert rc == 0, log
    one, two = dict(np.load(tmp_path / "one.npz")), dict(np.load(tmp_path / "n2.npz"))
    assert int(two["sources/ranks"]) == 2
    assert _keys(one, "sources") == _keys(two, "sources")
    for k in _keys(one, "sources"):
        np.testing.assert_array_equal(one[k], two[k], err_msg=k)
