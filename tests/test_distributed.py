"""MPI-distributed simulation (neurosim.distributed).

The same scripts (``tests/mpi/worker.py``, ``tests/mpi/failures.py``) run on one process and
under ``mpirun -n 2`` and ``-n 3`` (oversubscribed on CI's two cores; as root with Open MPI's
two ``OMPI_ALLOW_RUN_AS_ROOT*`` variables): the spikes, state traces and connectivity must be
identical, and a failure on one rank must stop every rank, never hang (each launch has a
timeout). The mpirun tests skip, saying why, when mpirun or mpi4py is missing; ``.ci/run``
installs both (``pip install -e ".[mpi]"``). The in-process tests below need neither.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import re

import numpy as np
import pytest

import neurosim as ns
from neurosim.distributed import SerialComm, resolve
from neurosim.distributed.partition import TARGET_CHUNK, block

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "mpi" / "worker.py"
FAILURES = ROOT / "tests" / "mpi" / "failures.py"
CHECKPOINT = ROOT / "tests" / "mpi" / "checkpoint.py"
CASES = ("brunel", "coba", "coba_stdp", "microcircuit", "exact", "exact_stdp", "homeostasis",
         "reward", "tiny")
ALLTOALLV = ("exact", "exact_stdp", "microcircuit", "homeostasis")
TIMEOUT = 300           # seconds per launch: a hang fails the test instead of the suite


def _mpirun():
    for where in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        exe = os.path.join(where, "mpirun")
        if os.path.exists(exe):
            return exe
    return shutil.which("mpirun")


def _why_not() -> str | None:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py is not installed (pip install -e '.[mpi]' installs it and Open MPI)"
    if _mpirun() is None:
        return "no mpirun found (pip install -e '.[mpi]' installs Open MPI's wheel)"
    return None


needs_mpi = pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))


def _env(**extra):
    env = dict(os.environ)
    env.pop("NEUROSIM_DISTRIBUTED", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    env.update(extra)
    return env


def _launch(n, script, *args, **env):
    """``mpirun -n n`` (n > 0) or a plain process (n = 0); (returncode, output)."""
    cmd = [sys.executable, str(script), *map(str, args)]
    if n:
        # oversubscribed on small machines; ranks yield the CPU while they wait
        cmd = [_mpirun(), "--oversubscribe", "--mca", "mpi_yield_when_idle", "1",
               "-n", str(n)] + cmd
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT,
                          env=_env(**env), cwd=ROOT)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """The worker's results: one process with the distributed scheme, the single-process
    engine (the 'exact' case only), and mpirun -n 2 and -n 3."""
    tmp = tmp_path_factory.mktemp("mpi")
    out = {}
    rc, log = _launch(0, WORKER, tmp / "one.npz", NEUROSIM_DISTRIBUTED="1")
    assert rc == 0, log
    out["one"] = dict(np.load(tmp / "one.npz"))
    rc, log = _launch(0, WORKER, tmp / "classic.npz", "exact", "exact_stdp",
                      NEUROSIM_DISTRIBUTED="0")
    assert rc == 0, log
    out["classic"] = dict(np.load(tmp / "classic.npz"))
    if _why_not() is None:
        for n in (2, 3):
            rc, log = _launch(n, WORKER, tmp / f"n{n}.npz")
            assert rc == 0, log
            out[n] = dict(np.load(tmp / f"n{n}.npz"))
        rc, log = _launch(3, WORKER, tmp / "a3.npz", *ALLTOALLV, NEUROSIM_EXCHANGE="alltoallv")
        assert rc == 0, log
        out["alltoallv"] = dict(np.load(tmp / "a3.npz"))
    return out


def _same(a: dict, b: dict, case: str):
    keys = sorted(k for k in a if k.startswith(case + "/") and not k.endswith("/ranks"))
    assert keys == sorted(k for k in b if k.startswith(case + "/") and not k.endswith("/ranks"))
    for k in keys:
        assert a[k].shape == b[k].shape, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("case", CASES)
def test_same_network_and_spikes_on_1_2_3_ranks(results, case, n):
    """Spike for spike, the state traces bit for bit, the drawn connectivity and (with STDP,
    RewardSTDP and synaptic scaling) the learnt weights; the homeostatic thresholds."""
    assert int(results[n][f"{case}/ranks"]) == n
    assert int(results["one"][f"{case}/ranks"]) == 1
    _same(results["one"], results[n], case)


@needs_mpi
@pytest.mark.parametrize("case", ALLTOALLV)
def test_alltoallv_exchange_gives_the_same_spikes(results, case):
    """NEUROSIM_EXCHANGE=alltoallv: each rank receives only the spikes it needs (in 'exact',
    the OneToOne spike sources reach one rank each), with the same results."""
    assert results["alltoallv"][f"{case}/ranks"] == 3
    _same(results["one"], results["alltoallv"], case)


def test_distributed_runs_are_active(results):
    """The compared runs are not trivially equal: every network spikes (and the
    microcircuit's thalamic burst, connectivity from every rule the builders use, exists)."""
    for case in CASES:
        n_spikes = sum(v.size for k, v in results["one"].items()
                       if k.startswith(case + "/") and k.endswith("/indices"))
        assert n_spikes > 50, case
        assert results["one"][f"{case}/proj0/sources"].size > 0
    # the plastic weights did change
    w = results["one"]["coba_stdp/proj0/weights"]
    assert w.max() > 8.0 and abs(w.mean() - 5.0) > 0.01        # drawn in [2, 8), mean 5
    assert np.mean(results["one"]["exact_stdp/proj0/weights"] != 1.5) > 0.5
    # homeostasis acted: thresholds moved, the rate scaling moved the static weights out of
    # their drawn range, and the total scaling (every 3 ms; the run ends at a scaling) left
    # each inhibitory neuron's incoming weights summing to target_total = 4
    one = results["one"]
    assert np.all(one["homeostasis/theta_exc"] > 0) and np.ptp(one["homeostasis/theta_inh"]) > 0
    w = one["homeostasis/proj0/weights"]
    assert w.min() < 0.1 or w.max() > 0.5
    totals = np.bincount(one["homeostasis/proj2/targets"],
                         weights=one["homeostasis/proj2/weights"], minlength=23)
    np.testing.assert_allclose(totals, 4.0, rtol=1e-5)
    # the rewards moved the RewardSTDP weights
    assert np.mean(one["reward/proj0/weights"] != one["reward/proj0/weights"][0]) > 0.5
    assert np.mean((one["reward/proj1/weights"] != 0.3)) > 0.5


@pytest.mark.parametrize("case", ["exact", "exact_stdp"])
def test_distributed_scheme_equals_the_single_process_engine(results, case):
    """Where both draw the same network (no random connectivity: AllToAll and OneToOne with
    constant weights and delays), the distributed engine (deferred delivery every d_min
    steps, per-rank Poisson streams, currents, sources; plasticity cut into its
    postsynaptic, sending and presynaptic parts) gives the single-process engine's spikes,
    membrane traces and learnt weights exactly."""
    _same(results["classic"], results["one"], case)


@needs_mpi
@pytest.mark.parametrize("mode, expected", [
    ("nan", r"SimulationError: population 'exploding': state '\w+' became non-finite "
            r"\(\w+\) for neuron 3, between t = [\d.]+ ms"),
    ("mismatch", r"ValueError: Network: the MPI ranks describe different networks: the seed "
                 r"of rank 1 differs from rank 0's \(8 against 7\)"),
    ("reward", r"ValueError: RewardSTDP.deliver_reward\(\): the MPI ranks delivered different "
               r"rewards: rank 1 amount=2.0 at step 20, rank 0 amount=1.0 at step 20; every "
               r"rank must deliver the same amount"),
])
def test_a_failing_rank_stops_every_rank_with_its_error(mode, expected):
    """Neuron 3 lives on the last rank only; the mismatch is found at the build; the rewards
    differ between the ranks. Every rank (rank 0 included) raises the same error; none hangs
    (the launch has a timeout)."""
    import re
    rc, log = _launch(3, FAILURES, mode)
    assert rc != 0, log
    caught = [line for line in log.splitlines() if " caught " in line]
    assert sorted(line.split()[1] for line in caught) == ["0", "1", "2"], log
    for line in caught:
        assert re.search(expected, line), line
    assert len({line.split(" caught ", 1)[1] for line in caught}) == 1
    if mode == "nan":                   # log records from rank 0 only
        built = [line for line in log.splitlines() if "over 3 MPI ranks" in line]
        assert len(built) == 1 and built[0].startswith("LOG neurosim"), log


@needs_mpi
def test_an_uncaught_exception_on_one_rank_aborts_the_job():
    """The last rank raises in the user's own code while the others wait in run(): the
    excepthook prints the traceback and aborts every rank instead of leaving them hanging."""
    rc, log = _launch(2, FAILURES, "uncaught")
    assert rc != 0
    assert "a bug in the user's script on the last rank only" in log
    assert "finished" not in log


# -- in-process: the scheme on one rank, options, errors ------------------------------------

def test_partition_blocks_cover_each_population_once():
    for n in (0, 1, 5, 1000, 1001):
        for size in (1, 2, 3, 7):
            parts = [block(n, r, size) for r in range(size)]
            assert parts[0][0] == 0 and parts[-1][1] == n
            assert all(parts[r][1] == parts[r + 1][0] for r in range(size - 1))
            assert max(b - a for a, b in parts) - min(b - a for a, b in parts) <= 1


def test_resolve_picks_the_communicator(monkeypatch):
    monkeypatch.delenv("NEUROSIM_DISTRIBUTED", raising=False)
    for var in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"):
        monkeypatch.delenv(var, raising=False)
    assert resolve(None, None) is None
    assert resolve(None, False) is None
    assert isinstance(resolve(None, True), SerialComm)
    comm = SerialComm()
    assert resolve(comm, None) is comm
    monkeypatch.setenv("NEUROSIM_DISTRIBUTED", "1")
    assert isinstance(resolve(None, None), SerialComm)
    monkeypatch.setenv("NEUROSIM_DISTRIBUTED", "yes")
    with pytest.raises(ValueError, match="NEUROSIM_DISTRIBUTED must be '0' or '1', got 'yes'"):
        resolve(None, None)


def test_bad_distributed_arguments_are_refused_before_any_work():
    with pytest.raises(TypeError, match="distributed must be True, False or None, got 'yes'"):
        ns.Network(distributed="yes")
    with pytest.raises(TypeError, match="comm must be an mpi4py communicator .* got int 4"):
        ns.Network(comm=4)
    with pytest.raises(ValueError, match="comm=SerialComm\\(\\) was given with distributed=False"):
        ns.Network(comm=SerialComm(), distributed=False)
    with pytest.raises(ValueError, match="device='cpu:native' with a distributed network"):
        ns.Network(device="cpu:native", distributed=True)
    with pytest.raises(ValueError, match="connectivity='device' with a distributed network"):
        ns.Network(connectivity="device", distributed=True)
    with pytest.raises(ValueError, match="precision='double' is not supported yet on a network "
                                         "distributed"):
        ns.Network(precision="double", distributed=True)


def test_unsupported_features_say_so():
    net = ns.Network(seed=1, distributed=True)
    a = net.add_population(10, ns.LIF())
    proj = net.connect(a, a, ns.FixedIndegree(3), weight=1.0)
    net.run(1.0)
    with pytest.raises(NotImplementedError, match="setting the weights of a network "
                                                  "distributed over MPI ranks"):
        proj.weights = np.ones(30)


def test_stimulus_protocols_and_plastic_state_are_refused_when_distributed():
    """Not distributed yet: refused on every rank before any work, naming the call."""
    net = ns.Network(seed=1, distributed=True)
    src = net.add_population(5, ns.PoissonSource(rate=10.0))
    times = net.add_population(2, ns.SpikeSource([[1.0], [2.0]]))
    a = net.add_population(10, ns.LIF())
    drive = net.add_poisson_input(a, rate=100.0, weight=10.0)
    plastic = net.connect(src, a, ns.FixedIndegree(2), weight=1.0, plasticity=ns.STDP())
    net.connect(times, a, ns.FixedIndegree(1), weight=1.0)
    calls = {
        "set_rates()": lambda: net.set_rates(src, 20.0),
        "get_rates()": lambda: net.get_rates(drive),
        "set_spike_times()": lambda: net.set_spike_times(times, [[5.0], [6.0]]),
        "set_current()": lambda: net.set_current(a, 10.0),
        "reset_traces()": lambda: net.reset_traces(),
        "run(every=..., callback=...)": lambda: net.run(2.0, every=1.0, callback=print),
        "get_state()": lambda: net.get_state(plastic, "pre.x"),
        "set_state()": lambda: net.set_state(a, "theta", 1.0),
    }
    net.add_homeostasis(a, ns.AdaptiveThreshold())
    for where, call in calls.items():
        with pytest.raises(NotImplementedError, match=re.escape(where) + ".*distributed over MPI"):
            call()
    assert net.t == 0.0


def test_timings_split_compute_and_communication():
    net = ns.Network(seed=1, distributed=True)
    a = net.add_population(20, ns.LIF(i_offset=500.0))
    net.connect(a, a, ns.FixedProbability(0.2), weight=0.5, delay=0.5)
    net.run(10.0)
    t = net.timings
    assert t["ranks"] == 1 and t["interval_steps"] == 5 and t["exchanges"] == 20
    assert t["compute"] > 0 and t["communication"] == 0.0
    assert ns.Network(seed=1).timings is None


@pytest.mark.parametrize("rule, check", [
    (ns.FixedIndegree(7), lambda s, t, n: np.all(np.bincount(t, minlength=n) == 7)),
    (ns.FixedIndegree(7, allow_self=False), lambda s, t, n: not np.any(s == t)),
    (ns.FixedTotalNumber(5000), lambda s, t, n: s.size == 5000),
    (ns.AllToAll(allow_self=False), lambda s, t, n: s.size == n * (n - 1)),
    (ns.OneToOne(), lambda s, t, n: np.array_equal(s, t)),
    (ns.FixedOutdegree(4), lambda s, t, n: np.all(np.bincount(s, minlength=n) == 4)),
])
def test_per_target_draws_follow_the_rule(rule, check):
    """The distributed scheme's draws (per target chunk, or whole for FixedOutdegree) give each
    rule's defining counts; sources and targets cover their populations."""
    n = TARGET_CHUNK + 144                  # two target chunks, the second partial
    net = ns.Network(seed=3, distributed=True)
    a = net.add_population(n, ns.LIF())
    proj = net.connect(a, a, rule, weight=ns.Uniform(0.5, 1.0), delay=ns.Uniform(0.1, 2.0))
    s, t = proj.sources.astype(np.int64), proj.targets.astype(np.int64)
    assert check(s, t, n)
    w, d = proj.weights, proj.delays
    assert w.min() >= 0.5 and w.max() < 1.0 and d.min() >= 0.1 and d.max() <= 2.0


def test_fixed_probability_per_target_has_the_expected_number_of_synapses():
    n, p = 600, 0.05
    net = ns.Network(seed=4, distributed=True)
    a = net.add_population(n, ns.LIF())
    proj = net.connect(a, a, ns.FixedProbability(p), weight=1.0)
    mean, sd = n * n * p, np.sqrt(n * n * p * (1 - p))
    assert abs(proj.n_synapses - mean) < 5 * sd
    counts = np.bincount(proj.targets, minlength=n)
    assert abs(counts.mean() - n * p) < 5 * np.sqrt(n * p / n)
    # every chunk's stream is its own: targets of different chunks get different sources
    first = proj.sources[proj.targets == 0]
    other = proj.sources[proj.targets == TARGET_CHUNK]
    assert not np.array_equal(np.sort(first), np.sort(other))


def test_triplet_stdp_distributed_equals_the_single_process_engine():
    """TripletSTDP across ranks (here the distributed scheme on one process, exchange every
    d_min = 3 steps): with connectivity both schemes draw alike (AllToAll, constant weights and
    delays), the spikes and learnt weights are the single-process engine's."""
    def run(distributed):
        net = ns.Network(dt=0.1, seed=5, device="cpu", distributed=distributed)
        src = net.add_population(15, ns.PoissonSource(rate=np.linspace(20.0, 60.0, 15)))
        post = net.add_population(10, ns.LIF(v_thresh=-50.0, v_reset=-60.0, v_rest=-60.0,
                                             synapse="delta"),
                                  initial={"v": ns.Uniform(-60.0, -50.0)})
        proj = net.connect(src, post, ns.AllToAll(), weight=2.0, delay=0.3,
                           plasticity=ns.TripletSTDP(w_min=0.0, w_max=4.0, A2_plus=0.05,
                                                     A3_plus=0.05, A2_minus=0.05))
        net.add_poisson_input(post, rate=300.0, weight=1.0, n_sources=10)
        mon = net.record_spikes(post)
        net.run(150.0)
        return mon.steps, mon.indices, proj.weights
    ref, dist = run(False), run(True)
    assert ref[0].size > 20
    assert np.any(ref[2] != 2.0)
    for a, b in zip(ref, dist):
        np.testing.assert_array_equal(a, b)


def test_reward_stdp_and_homeostasis_distributed_equal_the_single_process_engine():
    """RewardSTDP (rewards between runs), multiplicative STDP, an adaptive threshold,
    intrinsic plasticity and synaptic scaling (of a static and a plastic projection, every
    2.3 ms: the exchange intervals of d_min = 5 steps are cut at each scaling) across ranks —
    here the distributed scheme on one process — give the single-process engine's spikes,
    weights and thresholds exactly, where both draw the same network."""
    def run(distributed):
        net = ns.Network(dt=0.1, seed=5, device="cpu", distributed=distributed)
        src = net.add_population(15, ns.PoissonSource(rate=np.linspace(20.0, 60.0, 15)))
        model = ns.LIF(v_thresh=-50.0, v_reset=-60.0, v_rest=-60.0, synapse="delta")
        post = net.add_population(10, model, initial={"v": ns.Uniform(-60.0, -50.0)})
        inh = net.add_population(6, model, initial={"v": ns.Uniform(-60.0, -50.0)})
        reward = ns.RewardSTDP(A_plus=0.5, A_minus=0.6, tau_c=50.0, tau_d=20.0, w_max=4.0)
        learnt = net.connect(src, post, ns.AllToAll(), weight=2.0, delay=0.5, plasticity=reward)
        static = net.connect(post, post, ns.AllToAll(allow_self=False), weight=0.3, delay=0.7)
        stdp = net.connect(post, inh, ns.AllToAll(), weight=0.5, delay=0.5,
                           plasticity=ns.STDP(A_plus=0.05, A_minus=0.05, w_min=0.0, w_max=2.0,
                                              update="multiplicative"))
        net.add_poisson_input(post, rate=300.0, weight=1.0, n_sources=10)
        net.add_poisson_input(inh, rate=300.0, weight=1.5, n_sources=10)
        net.add_homeostasis(post, ns.AdaptiveThreshold(theta_plus=0.5, tau_theta=50.0,
                                                       theta_init=np.linspace(0, 1, 10)))
        net.add_homeostasis(post, ns.SynapticScaling(target_rate=20.0, eta=5.0, interval=2.3))
        net.add_homeostasis(inh, ns.IntrinsicPlasticity(target_rate=10.0, eta=2.0,
                                                        interval=1.7))
        net.add_homeostasis(inh, ns.SynapticScaling(target_total=3.0, interval=1.1))
        mon, mi = net.record_spikes(post), net.record_spikes(inh)
        for _ in range(3):
            net.run(25.3)
            reward.deliver_reward(0.01 * mon.num_spikes)
        return (mon.steps, mon.indices, mi.steps, mi.indices, learnt.weights, static.weights,
                stdp.weights, net.get_state(post, "theta"), net.get_state(inh, "theta"),
                np.float32(reward.dopamine))
    ref, dist = run(False), run(True)
    assert ref[0].size > 50 and ref[2].size > 20
    assert np.mean(ref[4] != 2.0) > 0.5 and np.ptp(ref[5]) > 0 and np.ptp(ref[8]) > 0
    for a, b in zip(ref, dist):
        np.testing.assert_array_equal(a, b)


# -- checkpoints (tests/mpi/checkpoint.py) ---------------------------------------------------

def _ckpt(n, mode, path, distributed="1"):
    rc, log = _launch(n, CHECKPOINT, mode, path, NEUROSIM_DISTRIBUTED=distributed)
    assert rc == 0, log
    return dict(np.load(f"{path}.out.npz")) if mode != "save" else None


def _same_results(a: dict, b: dict):
    assert sorted(a) == sorted(b)
    for k in a:
        if k != "ranks":
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@needs_mpi
def test_distributed_checkpoint_restores_on_another_rank_count(tmp_path):
    """A network with random connectivity, STDP, RewardSTDP (a reward before the checkpoint)
    and every homeostatic rule: saved half-way on 2 ranks, continued on 3 ranks and on one
    process with the single-process engine; saved on 3 ranks, continued on 1 (the distributed
    scheme): every continuation gives the spikes, weights, thresholds and potentials of the
    uninterrupted run, and the monitors' first half comes back from the file."""
    full = _ckpt(0, "full", tmp_path / "full")
    assert full["mon0/steps"].size > 100 and full["mon2/steps"].size > 20
    assert np.any(full["proj4/weights"] != full["proj4/weights"][0])
    _ckpt(2, "save", tmp_path / "two.npz")
    _same_results(full, _ckpt(3, "load", tmp_path / "two.npz"))
    _same_results(full, _ckpt(0, "load", tmp_path / "two.npz", distributed="0"))
    _ckpt(3, "save", tmp_path / "three.npz")
    _same_results(full, _ckpt(0, "load", tmp_path / "three.npz"))


@needs_mpi
def test_single_process_checkpoint_continues_on_2_ranks(tmp_path):
    """A checkpoint of the single-process engine (its own network draw) continues on 2 ranks
    as it does on one process."""
    full = _ckpt(0, "full", tmp_path / "full", distributed="0")
    _ckpt(0, "save", tmp_path / "one.npz", distributed="0")
    _same_results(full, _ckpt(2, "load", tmp_path / "one.npz"))


def test_distributed_checkpoint_errors_are_clear(tmp_path):
    """Refused with a clear error: bad comm/distributed arguments to load (before the file is
    read), a directory that does not exist (save), a file that is not there (load), stimulus
    changes that a distributed network cannot take (load)."""
    with pytest.raises(TypeError, match="load\\(\\): distributed must be True, False or None, "
                                        "got 'yes'"):
        ns.load(tmp_path / "nothing.npz", distributed="yes")
    with pytest.raises(TypeError, match="load\\(\\): comm must be an mpi4py communicator"):
        ns.load(tmp_path / "nothing.npz", comm=3)
    net = ns.Network(seed=1, distributed=True)
    a = net.add_population(10, ns.LIF(i_offset=400.0))
    net.connect(a, a, ns.FixedIndegree(3), weight=1.0)
    net.run(1.0)
    with pytest.raises(FileNotFoundError):
        net.save(tmp_path / "missing" / "x.npz")
    with pytest.raises(FileNotFoundError):
        ns.load(tmp_path / "nothing.npz", distributed=True)
    net.save(tmp_path / "ok.npz")
    back = ns.load(tmp_path / "ok.npz", distributed=True)
    assert back.n_ranks == 1 and back.t == 1.0
    classic = ns.Network(seed=1)
    src = classic.add_population(4, ns.PoissonSource(rate=10.0))
    b = classic.add_population(4, ns.LIF())
    classic.connect(src, b, ns.OneToOne(), weight=1.0)
    classic.run(1.0)
    classic.set_rates(src, 30.0)
    classic.save(tmp_path / "changed.npz")
    with pytest.raises(ns.CheckpointError, match=r"holds stimulus changes .*'rates0/rates'.* "
                                                 r"distributed over MPI ranks"):
        ns.load(tmp_path / "changed.npz", distributed=True)
    again = ns.load(tmp_path / "changed.npz")
    assert again.get_rates(again.populations[0])[0] == 30.0
