"""The CUDA backend's logic, without a GPU: ``device="cuda:host"`` runs the CUDA engine on the
kernels of ``kernels/`` compiled for the CPU, and must give what the NumPy reference gives.

How results are compared, and why:

- exactly (spike lists equal, state traces bit for bit) where the arithmetic is the same: the
  fused kernels do the NumPy step's float32 operations in its order, and the host build neither
  contracts multiply-adds nor reorders. With threads in CUDA's natural order even float atomics
  add in NumPy's order (spikes in ascending order, rows in order), so whole recurrent networks
  match bit for bit. LIFCond and AdEx call ``expf``, which may differ from NumPy's ``exp`` in the
  last bit: they are compared within tolerances (and statistically when coupled);
- exactly with threads in shuffled order (``HostModule`` shuffle) where the result cannot depend
  on the order: uncoupled neurons, sources, and weights that add exactly in float32 (multiples of
  a power of two);
- statistically (rates) for recurrent networks with float weights in shuffled order: the sums
  then round differently (v differs in its last bits), so spike trains may part, as they do
  between GPU runs.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import neurosim as ns
from neurosim.backends import host_build_status, hostbuild
from neurosim.backends.kernel_source import kernel_names, kernels_dir, load_source
from neurosim.engine import build_layout, cuda_engine, cuda_recorder, cuda_tuning, device_memory
from neurosim.networks import brunel_2000, vogels_abbott_coba

pytestmark = pytest.mark.skipif(not host_build_status()[0], reason="no g++ for the host build")

DT = 0.1


@pytest.fixture(autouse=True)
def natural_order():
    """Threads in CUDA's natural order unless a test asks for ``shuffled`` (whatever
    NEUROSIM_HOSTBUILD_SHUFFLE says)."""
    with hostbuild.shuffle_order(False):
        yield


@pytest.fixture
def shuffled(natural_order):
    """New host modules run their threads in a random order (per launch)."""
    with hostbuild.shuffle_order(True):
        yield


def same_spikes(a, b):
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_array_equal(a.indices, b.indices)


# -- a small network per model -----------------------------------------------------------------

def model_case(kind):
    """(model, excitatory weight, inhibitory weight): weights that add exactly in float32."""
    rng = np.random.default_rng(7)
    if kind == "lif":
        return ns.LIF(tau_m=20.0, v_thresh=-55.0, i_offset=rng.uniform(0, 300, 40),
                      tau_refrac=rng.choice([0.0, 1.0, 2.0], 40)), 64.0, -32.0
    if kind == "lif_delta":
        return ns.LIF(tau_m=20.0, v_rest=0.0, v_reset=10.0, v_thresh=20.0, tau_refrac=2.0,
                      synapse="delta"), 2.0, -1.0
    if kind == "lif_cond":
        return ns.LIFCond(tau_m=20.0, cm=200.0, v_rest=-60.0, v_reset=-60.0, v_thresh=-50.0,
                          tau_refrac=5.0, tau_syn_E=5.0, tau_syn_I=10.0, e_rev_I=-80.0,
                          i_offset=rng.uniform(0.0, 150.0, 40)), 4.0, 8.0
    if kind == "izhikevich":
        return ns.Izhikevich(a=rng.choice([0.02, 0.1], 40), d=rng.choice([2.0, 8.0], 40),
                             i_offset=5.0), 4.0, -2.0
    if kind == "adex":
        return ns.AdEx(v_peak=-40.0, i_offset=rng.uniform(300.0, 700.0, 40),
                       tau_refrac=rng.choice([0.0, 0.5], 40)), 128.0, -64.0
    raise ValueError(kind)


def model_net(kind, device, seed=3, inject=True, precision="single"):
    """Poisson source -> 40 neurons (per-synapse delays), recurrent inhibition (one delay),
    a Poisson drive, a step current, per-neuron parameters and random initial v."""
    model, w_e, w_i = model_case(kind)
    net = ns.Network(dt=DT, device=device, seed=seed, connectivity="host", precision=precision)
    src = net.add_population(30, ns.PoissonSource(rate=np.linspace(10.0, 60.0, 30)))
    init = {}
    if kind not in ("izhikevich", "lif_delta"):
        init = {"v": ns.Uniform(-70.0, -56.0)}
    pop = net.add_population(40, model, initial=init)
    net.connect(src, pop, ns.FixedIndegree(6), weight=w_e, delay=ns.Uniform(0.1, 3.0))
    net.connect(pop, pop, ns.FixedProbability(0.2), weight=w_i, delay=1.0,
                receptor="inhibitory")
    net.add_poisson_input(pop, rate=200.0, weight=w_e, n_sources=5)
    if inject:
        net.inject(pop, ns.StepCurrent([20.0, 60.0], [40.0, 0.0]))
    mons = dict(spikes=net.record_spikes(pop), src=net.record_spikes(src),
                v=net.record_state(pop, "v", every=2))
    return net, mons


MODELS = ["lif", "lif_delta", "lif_cond", "izhikevich", "adex"]
EXACT = {"lif", "lif_delta", "izhikevich"}            # no transcendental function in the kernel


@pytest.mark.parametrize("precision", ["single", "double"])
@pytest.mark.parametrize("kind", MODELS)
def test_every_model_matches_numpy(kind, precision):
    """Also in double precision: the kernels' double variant against NumPy in float64."""
    ref_net, ref = model_net(kind, "cpu", precision=precision)
    net, got = model_net(kind, "cuda:host", precision=precision)
    ref_net.run(100.0)
    net.run(100.0)
    assert net.backend == "cuda:host" and ref["spikes"].num_spikes > 20
    dtype = np.float64 if precision == "double" else np.float32
    assert ref["v"].values.dtype == got["v"].values.dtype == dtype
    same_spikes(ref["src"], got["src"])                 # Philox stream: same draws
    np.testing.assert_array_equal(ref["v"].times, got["v"].times)
    if kind in EXACT:
        same_spikes(ref["spikes"], got["spikes"])
        np.testing.assert_array_equal(ref["v"].values, got["v"].values)
    else:   # expf vs NumPy's exp: the last bit may differ; identical on most machines
        a = set(zip(ref["spikes"].steps, ref["spikes"].indices))
        b = set(zip(got["spikes"].steps, got["spikes"].indices))
        assert len(a ^ b) <= max(2, 0.02 * len(a))
        close = np.isclose(ref["v"].values, got["v"].values, rtol=0, atol=1e-3)
        assert close.mean() > 0.97


@pytest.mark.parametrize("kind", MODELS)
def test_shuffled_threads_give_the_same_result(kind, monkeypatch):
    """Weights that add exactly: the order of threads and atomics cannot matter."""
    a_net, a = model_net(kind, "cuda:host")
    a_net.run(60.0)
    monkeypatch.setattr(hostbuild, "_shuffle_default", True)
    b_net, b = model_net(kind, "cuda:host")
    b_net.run(60.0)
    same_spikes(a["spikes"], b["spikes"])
    same_spikes(a["src"], b["src"])
    np.testing.assert_array_equal(a["v"].values, b["v"].values)


def vary(model, rng, skip=()):
    """The model with every numeric parameter as a per-neuron array (+-2% around its value)."""
    params = {name: (value * rng.uniform(0.98, 1.02, 12) if name not in skip else value)
              for name, value in model.parameters().items()}
    return type(model)(**params, **dict(zip(model.option_fields, model.options())))


@pytest.mark.parametrize("model", [
    ns.LIF(i_offset=400.0), ns.LIF(i_offset=400.0, synapse="delta"),
    ns.LIFCond(i_offset=400.0), ns.Izhikevich(i_offset=10.0), ns.AdEx(i_offset=800.0)],
    ids=["lif", "lif_delta", "lif_cond", "izhikevich", "adex"])
def test_every_constant_per_neuron(model):
    """Every constant as an array: each bit of per_neuron is read at [i]."""
    def run(device):
        net = ns.Network(dt=DT, device=device, seed=1)
        pop = net.add_population(12, vary(model, np.random.default_rng(3)))
        src = net.add_population(3, ns.PoissonSource(rate=300.0))
        net.connect(src, pop, ns.AllToAll(), weight=4.0, delay=0.3)
        w_i = 2.0 if isinstance(model, ns.LIFCond) else -2.0    # conductances are >= 0
        net.connect(src, pop, ns.AllToAll(), weight=w_i, delay=0.5, receptor="inhibitory")
        mon, vm = net.record_spikes(pop), net.record_state(pop, "v")
        net.run(40.0)
        return mon, vm
    (ref, ref_v), (got, got_v) = run("cpu"), run("cuda:host")
    assert ref.num_spikes > 5
    same_spikes(ref, got)
    if model.kernel in ("lif_update", "izhikevich_update"):
        np.testing.assert_array_equal(ref_v.values, got_v.values)
    else:           # expf: last-bit differences, amplified on the AdEx upswing
        np.testing.assert_allclose(ref_v.values, got_v.values, rtol=1e-5, atol=1e-3)


def test_mixed_groups_and_sources_in_any_order(shuffled):
    """Five groups (neurons and sources interleaved in id order), projections between them with
    exactly adding weights: shuffled host build == NumPy, spike for spike."""
    def run(device):
        net = ns.Network(dt=DT, device=device, seed=9)
        lif = net.add_population(20, ns.LIF(i_offset=400.0, tau_syn_I=5.0))
        poisson = net.add_population(15, ns.PoissonSource(rate=50.0))
        izh = net.add_population(10, ns.Izhikevich.preset("FS", i_offset=4.0))
        spikes = net.add_population(3, ns.SpikeSource([[1.0, 5.5], [2.2, 2.3], [9.9]]))
        lif2 = net.add_population(8, ns.LIF(v_thresh=-60.0, i_offset=240.0))  # lif's group
        net.connect(poisson, lif, ns.FixedIndegree(5), weight=32.0, delay=ns.Uniform(0.1, 2.0))
        net.connect(lif, izh, ns.FixedProbability(0.5), weight=2.0, delay=0.7)
        net.connect(izh, lif, ns.FixedProbability(0.5), weight=-16.0, delay=1.3,
                    receptor="inhibitory")
        net.connect(spikes, lif2, ns.AllToAll(), weight=256.0, delay=0.2)
        net.connect(izh, lif2, ns.AllToAll(), weight=8.0, delay=ns.Uniform(0.5, 1.5))
        net.add_poisson_input(izh, rate=1000.0, weight=1.0, n_sources=3)
        mons = [net.record_spikes(p) for p in (lif, poisson, izh, spikes, lif2)]
        net.run(80.0)
        return net, mons
    ref_net, ref = run("cpu")
    net, got = run("cuda:host")
    assert len(net._engine.L.groups) == 4 and all(m.num_spikes > 2 for m in ref)
    for r, g in zip(ref, got):
        same_spikes(r, g)


@pytest.mark.parametrize("threads", [3, 64])
def test_propagation_with_several_threads(threads, shuffled, monkeypatch):
    """The GPU spreads a step's synapses over a fixed grid; the same kernel with that many
    threads, in shuffled order, on exactly adding weights."""
    monkeypatch.setattr(cuda_tuning, "HOST_PROPAGATE_THREADS", threads)
    ref_net, ref = model_net("lif_delta", "cpu")
    net, got = model_net("lif_delta", "cuda:host")
    ref_net.run(60.0)
    net.run(60.0)
    launch = next(k for k in net._engine.plan() if k.kernel.name == "propagate")
    assert launch.block == (threads,)
    same_spikes(ref["spikes"], got["spikes"])
    np.testing.assert_array_equal(ref["v"].values, got["v"].values)


def test_progress_callback_and_backend_name():
    calls = []
    net = ns.Network(dt=DT, device="cuda:host", seed=1)
    net.add_population(2, ns.LIF())
    net.run(50.0, progress=lambda t, t_end: calls.append((t, t_end)))
    assert net.backend == "cuda:host" and net.t == pytest.approx(50.0)
    assert calls and calls[-1][0] == pytest.approx(50.0) and calls[-1][1] == pytest.approx(50.0)


# -- step semantics ------------------------------------------------------------------------------

def test_refractory_counting_matches_numpy():
    """n_ref = round(tau_refrac / dt) clamped updates after the spike step (NEST's count), per
    neuron, 0 included; inputs to v during the clamp are lost."""
    def run(device):
        net = ns.Network(dt=DT, device=device, seed=1)
        pop = net.add_population(4, ns.LIF(tau_m=10.0, i_offset=2000.0,
                                           tau_refrac=[0.0, 0.1, 2.0, 3.75]))
        mon, vm = net.record_spikes(pop), net.record_state(pop, "v")
        net.run(30.0)
        return mon, vm
    (ref, ref_v), (got, got_v) = run("cpu"), run("cuda:host")
    same_spikes(ref, got)
    np.testing.assert_array_equal(ref_v.values, got_v.values)
    for i, n_ref in enumerate([0, 1, 20, 38]):
        steps = got.steps[got.indices == i]
        first = int(steps[0])
        clamped = got_v.values[first:first + n_ref + 1, i]   # the spike's sample, then n_ref
        assert np.all(clamped == np.float32(-70.0))
        assert got_v.values[first + n_ref + 1, i] > -70.0
        assert np.all(np.diff(steps) > n_ref)


def test_long_int16_delays_and_chunks_of_any_length(monkeypatch):
    """Per-synapse delays above 255 steps (int16), exact arrival times; chunks limited to a few
    steps (graphs of 2 steps, a tiny recording budget) give the same spikes as long chunks."""
    delays = np.array([0.1, 1.0, 25.5, 25.6, 40.0, 3.3])

    def run(device, budget=None):
        if budget:
            monkeypatch.setattr(cuda_tuning, "RECORD_BUDGET", budget)
            monkeypatch.setattr(cuda_tuning, "GRAPH_STEPS", 2)
        net = ns.Network(dt=DT, device=device, seed=1)
        src = net.add_population(1, ns.SpikeSource([[2.0, 2.1, 9.0]]))
        tgt = net.add_population(delays.size, ns.LIF(tau_m=1e6, v_rest=0.0, v_reset=0.0,
                                                      v_thresh=1.5, tau_refrac=0.0,
                                                      synapse="delta"))
        net.connect(src, tgt, ns.Explicit(np.zeros(delays.size, int), np.arange(delays.size)),
                    weight=1.0, delay=delays)
        mon = net.record_spikes(tgt)
        for piece in (0.3, 7.0, 45.0):
            net.run(piece)
        return net, mon
    ref_net, ref = run("cpu")
    net, got = run("cuda:host")
    assert net._engine.L.classes[0].delays.dtype == np.int16
    same_spikes(ref, got)
    np.testing.assert_allclose(got.times, np.sort(2.1 + delays), atol=1e-9)  # second input
    small_net, small = run("cuda:host", budget=64)       # K = 4 steps a chunk
    assert small_net._engine.K == 4
    same_spikes(ref, small)


def test_monitors_subsets_rates_and_late_monitors():
    def run(device):
        net = ns.Network(dt=DT, device=device, seed=5)
        a = net.add_population(30, ns.LIF(i_offset=np.linspace(250.0, 500.0, 30)))
        b = net.add_population(20, ns.LIF(i_offset=400.0, tau_m=15.0))   # same group as a
        net.connect(a, b, ns.FixedProbability(0.3), weight=50.0, delay=0.5)
        mons = [net.record_spikes(a, indices=[1, 5, 29]), net.record_spikes(b),
                net.record_spikes(b, indices=[3]), net.record_rate(b, bin_size=1.0),
                net.record_rate(a, bin_size=0.5), net.record_state(b, "i_syn_e", [0, 7], every=3)]
        net.run(17.3)
        mons += [net.record_spikes(a), net.record_state(a, "v", [2], every=4)]
        net.run(22.0)
        return net, mons
    ref_net, ref = run("cpu")
    net, got = run("cuda:host")
    assert len(net._engine.L.groups) == 1
    for r, g in zip(ref, got):
        if isinstance(r, ns.SpikeMonitor):
            same_spikes(r, g)
        elif isinstance(r, ns.RateMonitor):
            np.testing.assert_array_equal(r.counts, g.counts)
        else:
            np.testing.assert_array_equal(r.times, g.times)
            np.testing.assert_array_equal(r.values, g.values)
    np.testing.assert_array_equal(ref_net.get_state(ref_net.populations[1], "v"),
                                  net.get_state(net.populations[1], "v"))


def test_projection_access_and_set_weights():
    def build(device):
        net = ns.Network(dt=DT, device=device, seed=11)
        a = net.add_population(25, ns.PoissonSource(rate=80.0))
        b = net.add_population(15, ns.LIF(tau_m=10.0, i_offset=350.0))
        p1 = net.connect(a, b, ns.FixedProbability(0.3), weight=ns.Uniform(50.0, 150.0),
                         delay=ns.Uniform(0.5, 2.0))
        p2 = net.connect(a, b, ns.FixedIndegree(3), weight=-30.0, delay=1.0,
                         receptor="inhibitory")
        return net, b, (p1, p2)
    ref_net, rb, rp = build("cpu")
    net, b, p = build("cuda:host")
    for r, g in zip(rp, p):
        assert g.n_synapses == r.n_synapses
        for kind in ("sources", "targets", "weights", "delays"):
            np.testing.assert_array_equal(getattr(r, kind), getattr(g, kind))
    for r, g in zip(rp, p):
        r.weights = r.weights * 2.0
        g.weights = g.weights * 2.0
    np.testing.assert_array_equal(rp[0].weights, p[0].weights)
    mr, mg = ref_net.record_spikes(rb), net.record_spikes(b)
    ref_net.run(50.0)
    net.run(50.0)
    assert mr.num_spikes > 10
    same_spikes(mr, mg)


# -- whole networks --------------------------------------------------------------------------

def test_brunel_scaled_down_is_identical_in_cuda_order():
    """Float weights (J = 0.2 mV): in CUDA's natural thread order the host build adds them in
    NumPy's order, so the chaotic network matches spike for spike."""
    def run(device):
        r = brunel_2000(n_exc=1000, epsilon=0.1, J=0.2, device=device, seed=4)
        r.network.run(150.0)
        return r.monitors
    ref, got = run("cpu"), run("cuda:host")
    assert ref["exc"].num_spikes > 1000
    same_spikes(ref["exc"], got["exc"])
    same_spikes(ref["inh"], got["inh"])


def test_float_weights_with_shuffled_threads(shuffled):
    """Shuffled atomics round float sums differently: v differs in its last bits (proof that
    the order changed). LIF dynamics shrink such differences between spikes, so spike trains
    part only at near-threshold crossings; whatever they do, the rates agree."""
    def brunel(device):
        r = brunel_2000(n_exc=1000, epsilon=0.1, J=0.2, device=device, seed=4)
        vm = r.network.record_state(r.populations["exc"], "v", np.arange(0, 1000, 10))
        r.network.run(300.0)
        return r.monitors["exc"].mean_rate(100.0, 300.0), vm.values
    (ref, ref_v), (got, got_v) = brunel("cpu"), brunel("cuda:host")
    assert not np.array_equal(ref_v, got_v)
    assert ref > 20.0 and got == pytest.approx(ref, rel=0.1)

    def coba(device, seed):     # in-degree 80 as published; 2,000 neurons
        r = vogels_abbott_coba(n_exc=1600, n_inh=400, p=0.04, device=device, seed=seed)
        r.network.run(300.0)
        return r.monitors["exc"].mean_rate(100.0, 300.0)
    rates = np.array([[coba(dev, seed) for seed in (1, 2, 3)] for dev in ("cpu", "cuda:host")])
    active = rates > 5.0        # bistable: about one run in ten falls silent in any simulator
    assert active.sum(axis=1).min() >= 2, rates
    cpu, host = (r[a].mean() for r, a in zip(rates, active))
    assert 10.0 < cpu < 25.0 and host == pytest.approx(cpu, rel=0.2), rates


# -- errors ----------------------------------------------------------------------------------

def test_non_finite_state_raises_and_keeps_recordings():
    """Two inputs of -3e38 mV arrive together at 6.0 ms: v = -inf (float32 overflow)."""
    def run(device):
        net = ns.Network(dt=DT, device=device, seed=2)
        src = net.add_population(2, ns.SpikeSource([[5.0], [5.0]]))
        pop = net.add_population(4, ns.LIF(i_offset=3000.0, v_rest=0.0, v_reset=0.0,
                                           v_thresh=10.0, tau_refrac=0.0, synapse="delta"),
                                 name="victim")
        net.connect(src, pop, ns.Explicit([0, 1], [1, 1]), weight=-3e38, delay=1.0,
                    receptor="inhibitory")
        mon, vm = net.record_spikes(pop), net.record_state(pop, "v")
        with pytest.raises(ns.SimulationError) as info:
            net.run(20.0)
        return net, info.value, mon, vm
    ref_net, ref_err, ref_mon, ref_vm = run("cpu")
    net, err, mon, vm = run("cuda:host")
    assert (err.population, err.variable) == (ref_err.population, ref_err.variable)
    assert (err.population, err.variable) == ("victim", "v")
    assert err.t_ms == pytest.approx(6.0)        # the step in which v became -inf
    assert ref_err.t_ms - 1.0 < err.t_ms <= ref_err.t_ms   # NumPy checks every 10 steps
    assert net.t == pytest.approx(err.t_ms)
    assert "non-finite" in str(err) and "neuron 1" in str(err)
    assert vm.times[-1] == pytest.approx(err.t_ms) and vm.values[-1, 1] == -np.inf
    keep = ref_mon.steps < round(err.t_ms / DT)
    assert mon.num_spikes > 10
    np.testing.assert_array_equal(mon.steps, ref_mon.steps[keep])
    np.testing.assert_array_equal(mon.indices, ref_mon.indices[keep])
    with pytest.raises(ns.SimulationError) as again:    # still -inf: flagged at once
        net.run(1.0)
    assert again.value.t_ms == pytest.approx(err.t_ms + DT)


def test_non_finite_error_names_the_variable_that_broke_first():
    """The kernels flag every state variable; NumPy finds v at its next check, the CUDA engine
    the synaptic current that overflowed one step before."""
    net = ns.Network(dt=DT, device="cuda:host", seed=2)
    src = net.add_population(2, ns.SpikeSource([[1.0], [1.0]]))
    pop = net.add_population(3, ns.AdEx(), name="adex")
    net.connect(src, pop, ns.Explicit([0, 1], [2, 2]), weight=-3e38, delay=0.5,
                receptor="inhibitory")
    with pytest.raises(ns.SimulationError) as info:
        net.run(5.0)
    assert (info.value.population, info.value.variable) == ("adex", "i_syn_i")
    assert info.value.t_ms == pytest.approx(1.5) and "neuron 2" in str(info.value)


def test_device_memory_error_before_allocating(monkeypatch):
    monkeypatch.setattr(device_memory, "free_device_memory",
                        lambda host: (1 << 20, "test GPU (1 MiB free)"))
    net = ns.Network(dt=DT, device="cuda:host", seed=1)
    a = net.add_population(2000, ns.LIF())
    net.connect(a, a, ns.FixedIndegree(100), weight=1.0, delay=ns.Uniform(0.1, 5.0))
    with pytest.raises(ns.DeviceMemoryError) as info:
        net.build()
    msg = str(info.value)
    assert "needs about" in msg and "synapses" in msg and "1 MiB free" in msg
    assert "device='cpu'" in msg
    assert net._engine is None
    parts = cuda_engine.device_bytes(build_layout(net))
    assert parts["synapses"] >= 200_000 * 9 and parts["delay ring"] == 4 * 50 * 2000 * 2


def test_kernel_arguments_are_strictly_typed():
    net = ns.Network(dt=DT, device="cuda:host", seed=1)
    net.add_population(3, ns.LIF())
    net.run(0.2)
    eng = net._engine
    launch = next(k for k in eng.plan() if k.kernel.name == "lif_update")
    args = list(launch.args[0])
    good = tuple(args)
    args[1] = 3                                     # n_neurons as a Python int
    with pytest.raises(TypeError, match=r"n_neurons.*np\.int32"):
        launch.kernel(launch.grid, launch.block, tuple(args))
    args = list(good)
    names = [name for _, name in cuda_engine.kernel_signature(ns.LIF().kernel_file, "lif_update")]
    args[names.index("v")] = np.zeros(3, np.float64)    # v as float64
    with pytest.raises(TypeError, match=r"'v'.*float32"):
        launch.kernel(launch.grid, launch.block, tuple(args))
    launch.kernel(launch.grid, launch.block, good)  # the engine's own arguments pass


def test_neuron_kernels_match_the_models_constants():
    """Each kernel takes exactly its model's constants, and NS_C(name, k) reads the k-th
    constant parameter (the bit of ``per_neuron`` the engine sets for it); kernels
    generated from NeuronModel descriptions, every built-in model's among them."""
    models = [ns.LIF(), ns.LIF(synapse="delta"), ns.LIFCond(), ns.Izhikevich(), ns.AdEx()]
    for m in models:
        source = load_source(m.kernel_file)
        sigs = dict(kernel_names(source))
        bodies = re.split(r"NS_GLOBAL void (\w+)\(", source)
        uses = {bodies[i]: bodies[i + 1] for i in range(1, len(bodies), 2)}
        consts = list(type(m).constants(m.parameters(), DT))
        params = [name for _, name in sigs[m.kernel] if name in consts]
        assert sorted(params) == sorted(consts), m.kernel
        for name, bit in re.findall(r"NS_C\((\w+), (\d+)\)", uses[m.kernel]):
            assert params.index(name) == int(bit), (m.kernel, name, bit)
    assert not list(kernels_dir().glob("neurons.cu"))     # no hand-written neuron kernel left


# -- the step: launches, fused drives, recording, propagation ------------------------------------

def step_kernels(net) -> list:
    """The kernels of one step of ``net``'s CUDA engine, as its plan launches them."""
    net.build()
    return [k.kernel.name for k in net._engine.plan()]


@pytest.mark.parametrize("name", ["coba", "brunel", "microcircuit"])
def test_at_most_three_launches_per_step(name):
    """Drives, spike recording, rates and the clock live in the neuron update and the
    propagation: two launches per step for the reference networks, every spike recorded."""
    if name == "coba":
        r = vogels_abbott_coba(n_exc=800, n_inh=200, device="cuda:host", seed=1)
    elif name == "brunel":
        r = brunel_2000(n_exc=800, device="cuda:host", seed=1)
    else:
        r = ns.networks.potjans_diesmann(scale=0.01, device="cuda:host", seed=1)
    for pop in r.populations.values():
        r.network.record_rate(pop)
    names = step_kernels(r.network)
    assert len(names) == 2 and names[-1] == "propagate", names
    eng = r.network._engine
    assert eng.K % cuda_tuning.GRAPH_STEPS == 0 and eng.K >= cuda_tuning.GRAPH_STEPS
    pops = list(r.populations.values())
    r.network.record_state(pops[0], "v", [0, 3], every=2)       # every state monitor: one
    r.network.record_state(pops[-1], "v", every=5)              # launch more
    names = step_kernels(r.network)
    assert len(names) == 3 and names[1:] == ["propagate", "record_state"], names


def drives_net(device, weights, seed=5, precision="single"):
    """Three populations in one group and one in another, seven Poisson drives: two into the
    same neurons, both receptors, a drive into a group without recurrent input."""
    net = ns.Network(dt=DT, device=device, seed=seed, precision=precision)
    kw = dict(tau_m=20.0, v_rest=-65.0, v_reset=-65.0, v_thresh=-55.0, tau_refrac=2.0)
    a = net.add_population(30, ns.LIF(**kw))
    b = net.add_population(17, ns.LIF(**kw, i_offset=50.0))
    c = net.add_population(23, ns.LIF(**kw, tau_syn_E=2.0))
    izh = net.add_population(11, ns.Izhikevich.preset("RS"))
    w_e, w_i, w_small = weights
    net.add_poisson_input(a, rate=900.0, weight=w_e, n_sources=10)
    net.add_poisson_input(a, rate=400.0, weight=w_small, n_sources=3)     # same neurons
    net.add_poisson_input(a, rate=300.0, weight=w_i, n_sources=5, receptor="inhibitory")
    net.add_poisson_input(c, rate=1200.0, weight=w_e, n_sources=8)
    net.add_poisson_input(b, rate=700.0, weight=w_e, n_sources=10)
    net.add_poisson_input(c, rate=100.0, weight=w_i, n_sources=20, receptor="inhibitory")
    net.add_poisson_input(izh, rate=2000.0, weight=w_small, n_sources=10)
    net.connect(a, b, ns.FixedProbability(0.3), weight=w_e, delay=0.5)
    net.connect(b, c, ns.FixedProbability(0.3), weight=w_i, delay=ns.Uniform(0.2, 2.0),
                receptor="inhibitory")
    mons = [net.record_spikes(p) for p in (a, b, c, izh)]
    vm = net.record_state(a, "v", every=3)
    net.run(80.0)
    return net, mons, vm


@pytest.mark.parametrize("precision", ["single", "double"])
def test_poisson_drives_fused_bit_identical(precision):
    """The neuron update draws the drives itself, from the NumPy engine's Philox positions and
    in its order: float weights, natural thread order, bit for bit (in either precision)."""
    weights = (97.3, -41.7, 23.1)
    ref_net, ref, ref_v = drives_net("cpu", weights, precision=precision)
    net, got, got_v = drives_net("cuda:host", weights, precision=precision)
    assert "lif_update" in step_kernels(net) and len(net._engine.L.drives) == 7
    assert all(m.num_spikes > 20 for m in ref)
    for r, g in zip(ref, got):
        same_spikes(r, g)
    np.testing.assert_array_equal(ref_v.values, got_v.values)


def test_poisson_drives_fused_shuffled(shuffled):
    weights = (64.0, -32.0, 16.0)       # exact sums in any order
    ref_net, ref, ref_v = drives_net("cpu", weights)
    net, got, got_v = drives_net("cuda:host", weights)
    for r, g in zip(ref, got):
        same_spikes(r, g)
    np.testing.assert_array_equal(ref_v.values, got_v.values)


def recorded_net(device):
    net = ns.Network(dt=DT, device=device, seed=8)
    src = net.add_population(40, ns.PoissonSource(rate=150.0))
    pop = net.add_population(60, ns.LIF(i_offset=np.linspace(300.0, 450.0, 60),
                                        tau_refrac=1.0))
    net.connect(src, pop, ns.FixedIndegree(5), weight=16.0, delay=ns.Uniform(0.1, 1.5))
    net.connect(pop, pop, ns.FixedProbability(0.2), weight=-8.0, delay=0.8,
                receptor="inhibitory")
    mons = [net.record_spikes(pop), net.record_spikes(src, indices=[0, 3, 39]),
            net.record_rate(pop), net.record_state(pop, "v", [0, 59], every=7)]
    net.run(40.0)
    mons.append(net.record_spikes(pop, indices=[5]))          # a late monitor: new buffers
    net.run(37.3)
    return net, mons


def assert_same_monitors(ref, got):
    for r, g in zip(ref, got):
        if isinstance(r, ns.SpikeMonitor):
            same_spikes(r, g)
        elif isinstance(r, ns.RateMonitor):
            np.testing.assert_array_equal(r.counts, g.counts)
        else:
            np.testing.assert_array_equal(r.times, g.times)
            np.testing.assert_array_equal(r.values, g.values)


@pytest.mark.parametrize("stop_at_halt", [True, False], ids=["host", "graph-like"])
def test_recording_buffer_overflow_stops_the_chunk_and_loses_nothing(stop_at_halt,
                                                                     monkeypatch):
    """A spike buffer with room for one step's worst case and one spike more (forced by a tiny
    budget): the step end halts the clock before every step that might not fit, the chunk
    stops, the host takes the spikes and goes on. Run as a graph would (``stop_at_halt``
    False: the halted steps are launched and must do nothing), and as the host build does."""
    ref_net, ref = recorded_net("cpu")
    monkeypatch.setattr(cuda_tuning, "REC_START", 1)
    monkeypatch.setattr(cuda_tuning, "RECORD_BUDGET", 64)
    monkeypatch.setattr(cuda_tuning, "HOST_STOP_AT_HALT", stop_at_halt)
    halts = []
    fit = cuda_recorder.Recorder.fit
    monkeypatch.setattr(cuda_recorder.Recorder, "fit",
                        lambda self, steps, halted, nxt: halts.append(halted)
                        or fit(self, steps, halted, nxt))
    net, got = recorded_net("cuda:host")
    rec = net._engine.recorder
    assert rec.room == 1 and rec.values["rec_idx"].size == rec.n_rec + 1   # never grew
    assert sum(halts) > 50 and ref[0].num_spikes > 100
    assert_same_monitors(ref, got)
    assert net.t == pytest.approx(ref_net.t)
    np.testing.assert_array_equal(ref_net.get_state(ref_net.populations[1], "v"),
                                  net.get_state(net.populations[1], "v"))


def test_recording_buffer_grows_from_the_counts(monkeypatch):
    """A small first buffer grows between chunks to what the recorded counts ask for."""
    ref_net, ref = recorded_net("cpu")
    monkeypatch.setattr(cuda_tuning, "REC_START", 4)
    net, got = recorded_net("cuda:host")
    assert net._engine.recorder.room > 4
    assert_same_monitors(ref, got)


def rows_net(device):
    """Two sources with rows of 2,000 synapses and 300 with rows of 0-3, through a class with
    one delay and one with per-synapse delays, onto delta LIF neurons (integer weights)."""
    net = ns.Network(dt=DT, device=device, seed=12)
    hubs = net.add_population(2, ns.SpikeSource([list(np.arange(1.0, 30.0, 0.7)),
                                                 list(np.arange(1.3, 30.0, 1.1))]))
    many = net.add_population(300, ns.PoissonSource(rate=400.0))
    tgt = net.add_population(2000, ns.LIF(tau_m=10.0, v_rest=0.0, v_reset=0.0, v_thresh=9.0,
                                          tau_refrac=0.5, synapse="delta"))
    net.connect(hubs, tgt, ns.AllToAll(), weight=1.0, delay=0.4)
    net.connect(hubs, tgt, ns.FixedProbability(0.5), weight=2.0, delay=ns.Uniform(0.1, 2.0))
    net.connect(many, tgt, ns.FixedTotalNumber(450), weight=4.0, delay=ns.Uniform(0.1, 1.0))
    mon, vm = net.record_spikes(tgt), net.record_state(tgt, "v", np.arange(0, 2000, 97))
    net.run(30.0)
    return net, mon, vm


@pytest.mark.parametrize("threads", [1, 7, 64])
def test_propagation_few_long_rows_and_many_short_rows(threads, shuffled, monkeypatch):
    """Every class in one launch, a step's synapses spread over the threads by the spikes'
    work offsets (long rows, empty rows, short rows), in shuffled order: exact."""
    monkeypatch.setattr(cuda_tuning, "HOST_PROPAGATE_THREADS", threads)
    ref_net, ref, ref_v = rows_net("cpu")
    net, got, got_v = rows_net("cuda:host")
    assert len(net._engine.L.classes) == 2
    assert step_kernels(net).count("propagate") == 1
    assert ref.num_spikes > 500
    same_spikes(ref, got)
    np.testing.assert_array_equal(ref_v.values, got_v.values)


def test_chunks_are_whole_graphs_but_the_tail(monkeypatch):
    """Every chunk is a whole number of graphs (after one step to reach an even step), whatever
    is recorded; only the last chunk of a run is cut short. Graphs of 8 steps here."""
    monkeypatch.setattr(cuda_tuning, "GRAPH_STEPS", 8)
    chunks = []
    launch = cuda_engine.CudaEngine._launch
    monkeypatch.setattr(cuda_engine.CudaEngine, "_launch",
                        lambda self, n0, n1: chunks.append((n0, n1)) or launch(self, n0, n1))
    net, _ = recorded_net("cuda:host")
    ends = {400, 773}                                    # the two runs of recorded_net
    assert len(chunks) > 2
    for n0, n1 in chunks:
        assert n1 in ends or ((n1 - n0) - (n0 & 1)) % 8 == 0, (n0, n1)
        assert n1 in ends or n1 % 2 == 0
