"""Every bad input raises before any work, naming the argument, the value and what was expected."""

import numpy as np
import pytest

import neurosim as ns
from neurosim.errors import DeviceUnavailableError, SimulationError


@pytest.fixture
def net():
    return ns.Network(dt=0.1, device="cpu", seed=1)


@pytest.mark.parametrize("kwargs, exc, pattern", [
    (dict(dt=0.0), ValueError, r"dt must be > 0, got 0.0"),
    (dict(dt=-0.1), ValueError, r"dt must be > 0, got -0.1"),
    (dict(dt=float("nan")), ValueError, r"dt must be finite, got nan"),
    (dict(device="gpu"), ValueError, r"device must be one of .* got 'gpu'"),
    (dict(seed=-1), ValueError, r"seed must be >= 0, got -1"),
    (dict(seed=1.5), TypeError, r"seed must be an integer, got 1.5"),
])
def test_network_arguments(kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        ns.Network(**kwargs)


@pytest.mark.parametrize("factory, exc, pattern", [
    (lambda: ns.LIF(tau_m=0.0), ValueError, r"LIF: tau_m must be > 0, got 0.0"),
    (lambda: ns.LIF(cm=float("inf")), ValueError, r"LIF: cm must be finite, got inf"),
    (lambda: ns.LIF(v_thresh=np.array([1.0, np.nan])), ValueError, r"v_thresh must be finite"),
    (lambda: ns.LIF(v_reset=-40.0, v_thresh=-50.0), ValueError, r"v_reset must be below v_thresh"),
    (lambda: ns.LIF(synapse="alpha"), ValueError, r"synapse must be 'exponential' or 'delta', got 'alpha'"),
    (lambda: ns.LIF(tau_refrac=-1.0), ValueError, r"tau_refrac must be >= 0, got -1.0"),
    (lambda: ns.LIFCond(tau_syn_E=-2.0), ValueError, r"tau_syn_E must be > 0"),
    (lambda: ns.Izhikevich(c=40.0), ValueError, r"c must be below v_peak"),
    (lambda: ns.Izhikevich.preset("XX"), ValueError, r"name must be one of .* got 'XX'"),
    (lambda: ns.AdEx(delta_T=0.0), ValueError, r"delta_T must be > 0, got 0.0"),
    (lambda: ns.PoissonSource(rate=-1.0), ValueError, r"rate must be >= 0, got -1.0"),
    (lambda: ns.LIF(tau_m="fast"), TypeError, r"tau_m must be an array of numbers"),
    (lambda: ns.FixedProbability(1.5), ValueError, r"p must be in \[0, 1\], got 1.5"),
    (lambda: ns.FixedIndegree(-3), ValueError, r"k must be >= 0, got -3"),
    (lambda: ns.Uniform(2.0, 1.0), ValueError, r"high must be >= low"),
    (lambda: ns.Normal(0.0, -1.0), ValueError, r"std must be >= 0, got -1.0"),
    (lambda: ns.DCCurrent(float("nan")), ValueError, r"amplitude must be finite"),
    (lambda: ns.StepCurrent([5.0, 1.0], [1.0, 2.0]), ValueError, r"strictly increasing"),
    (lambda: ns.SpikeSource([[1.0, float("inf")]]), ValueError, r"times\[0\] must be finite"),
])
def test_model_and_rule_arguments(factory, exc, pattern):
    with pytest.raises(exc, match=pattern):
        factory()


def test_population_arguments(net):
    with pytest.raises(ValueError, match=r"n must be >= 1, got 0"):
        net.add_population(0, ns.LIF())
    with pytest.raises(TypeError, match=r"n must be an integer, got 2.5"):
        net.add_population(2.5, ns.LIF())
    with pytest.raises(TypeError, match=r"model must be a neuron model"):
        net.add_population(3, "LIF")
    with pytest.raises(ValueError, match=r"parameter i_offset of LIF has 2 values but the population has 3"):
        net.add_population(3, ns.LIF(i_offset=np.array([1.0, 2.0])))
    with pytest.raises(ValueError, match=r"initial state 'w' is not a state of LIF"):
        net.add_population(3, ns.LIF(), initial={"w": 0.0})
    with pytest.raises(ValueError, match=r"initial\['v'\] must have length 3, got 2"):
        net.add_population(3, ns.LIF(), initial={"v": [1.0, 2.0]})
    net.add_population(3, ns.LIF(), name="a")
    with pytest.raises(ValueError, match=r"a population named 'a' exists already"):
        net.add_population(3, ns.LIF(), name="a")


def test_connect_arguments(net):
    a = net.add_population(10, ns.LIF())
    c = net.add_population(10, ns.LIFCond())
    src = net.add_population(5, ns.PoissonSource(rate=5.0))
    other = ns.Network(device="cpu").add_population(10, ns.LIF(), name="x")
    cases = [
        (lambda: net.connect(a, other, ns.AllToAll(), weight=1.0), ValueError, r"post population 'x' belongs to another network"),
        (lambda: net.connect("a", a, ns.AllToAll(), weight=1.0), TypeError, r"pre must be a Population, got str"),
        (lambda: net.connect(a, src, ns.AllToAll(), weight=1.0), ValueError, r"cannot receive synapses"),
        (lambda: net.connect(a, a, "all", weight=1.0), TypeError, r"rule must be a connection rule"),
        (lambda: net.connect(a, a, ns.AllToAll(), weight=1.0, receptor="gaba"), ValueError, r"receptor must be one of .* got 'gaba'"),
        (lambda: net.connect(a, a, ns.AllToAll(), weight=-1.0), ValueError, r"weights on the excitatory receptor of LIF must be >= 0, got values down to -1.0"),
        (lambda: net.connect(a, a, ns.AllToAll(), weight=1.0, receptor="inhibitory"), ValueError, r"must be <= 0"),
        (lambda: net.connect(a, c, ns.AllToAll(), weight=-2.0, receptor="inhibitory"), ValueError, r"inhibitory receptor of LIFCond must be >= 0"),
        (lambda: net.connect(a, a, ns.AllToAll(), weight=ns.Normal(1.0, 1.0)), ValueError, r"unbounded"),
        (lambda: net.connect(a, a, ns.AllToAll(), weight=float("nan")), ValueError, r"weight must be finite, got nan"),
        (lambda: net.connect(a, a, ns.FixedIndegree(11, multapses=False), weight=1.0), ValueError, r"k=11 is larger than the 10 eligible partners"),
        (lambda: net.connect(a, a, ns.FixedIndegree(10, multapses=False, allow_self=False), weight=1.0), ValueError, r"k=10 is larger than the 9 eligible"),
        (lambda: net.connect(a, src, ns.OneToOne(), weight=1.0), ValueError, r"cannot receive"),
        (lambda: net.connect(a, c, ns.OneToOne(), weight=[1.0] * 3), ValueError, r"weight must have length 10, got 3"),
        (lambda: net.connect(a, a, ns.FixedProbability(0.1), weight=np.ones(5)), ValueError, r"needs a rule with a defined synapse order"),
        (lambda: net.connect(a, a, ns.Explicit([0, 12], [1, 2]), weight=1.0), ValueError, r"Explicit pre index 12 is outside \[0, 10\)"),
        (lambda: net.connect(a, a, ns.AllToAll(), weight=1.0, delay=0.0), ValueError, r"delay must be >= dt"),
        (lambda: net.add_poisson_input(a, rate=-5.0, weight=1.0), ValueError, r"rate must be >= 0, got -5.0"),
        (lambda: net.add_poisson_input(a, rate=5.0, weight=1.0, n_sources=0), ValueError, r"n_sources must be >= 1, got 0"),
        (lambda: net.add_poisson_input(src, rate=5.0, weight=1.0), ValueError, r"is a spike source"),
        (lambda: net.inject(a, 5.0), TypeError, r"current must be ns.DCCurrent or ns.StepCurrent"),
        (lambda: net.inject(a, ns.DCCurrent(np.ones(4))), ValueError, r"amplitude has 4 values but the population has 10"),
        (lambda: net.record_state(a, "g_e"), ValueError, r"variable must be one of .* got 'g_e'"),
        (lambda: net.record_state(a, "v", every=0), ValueError, r"every must be >= 1, got 0"),
        (lambda: net.record_spikes(a, indices=[0, 10]), ValueError, r"index 10 is outside population"),
        (lambda: net.record_rate(a, bin_size=0.25), ValueError, r"bin_size must be a multiple of dt"),
        (lambda: net.run(-1.0), ValueError, r"duration must be >= 0, got -1.0"),
        (lambda: net.run(0.05), ValueError, r"duration must be a multiple of dt"),
        (lambda: net.run(1.0, progress="yes"), TypeError, r"progress must be a bool or a callable"),
    ]
    for call, exc, pattern in cases:
        with pytest.raises(exc, match=pattern):
            call()
    assert net.backend is None   # nothing was built


def test_structure_is_fixed_after_build(net):
    a = net.add_population(5, ns.LIF())
    net.run(1.0)
    with pytest.raises(RuntimeError, match=r"add_population\(\): the network's structure is fixed"):
        net.add_population(5, ns.LIF())
    with pytest.raises(RuntimeError, match=r"connect\(\)"):
        net.connect(a, a, ns.AllToAll(), weight=1.0)


def test_poisson_source_rate_too_high():
    net = ns.Network(dt=0.1, device="cpu")
    net.add_population(3, ns.PoissonSource(rate=20000.0))
    with pytest.raises(ValueError, match=r"rate \* dt must be <= 1"):
        net.run(1.0)


def test_cuda_without_gpu_is_a_clear_error(monkeypatch):
    from neurosim.backends import probe
    no_cupy = probe.ProbeResult((probe.Step("cupy", False, probe.NOT_INSTALLED,
                                            "pip install 'neurosim[cuda12]'"),)
                                + tuple(probe.Step(s, None, "") for s in probe.STEPS[1:]))
    monkeypatch.setattr(probe, "probe", lambda: no_cupy)
    net = ns.Network(device="cuda")
    net.add_population(10, ns.LIF())
    with pytest.raises(DeviceUnavailableError, match=r"device='cuda' needs CuPy, but CuPy is not installed: pip install 'neurosim\[cuda12\]'.*device='cpu'"):
        net.run(1.0)
    auto = ns.Network(device="auto")
    auto.add_population(20_000, ns.LIF())
    auto.build()
    assert auto.backend == "numpy"


def test_non_finite_state_stops_with_population_and_time_and_keeps_records():
    """Forward Euler on w with dt > 2 tau_w diverges: a genuine numerical blow-up."""
    net = ns.Network(dt=0.1, device="cpu", seed=1)
    ok = net.add_population(5, ns.LIF(i_offset=400.0), name="fine", initial={"v": -55.1})
    bad = net.add_population(3, ns.AdEx(tau_w=0.01, i_offset=np.array([0.0, 500.0, 0.0])),
                             name="exploding")
    mon = net.record_spikes(ok)
    vm = net.record_state(ok, "v")
    net.run(1.0)
    with pytest.raises(SimulationError, match=r"population 'exploding': state '\w+' became "
                                              r"non-finite .* neuron \d, between t = [\d.]+ ms "
                                              r"and t = [\d.]+ ms") as info:
        net.run(100.0)
    err = info.value
    assert err.population == "exploding" and err.variable in ("v", "w")
    assert 1.0 < err.t_ms < 100.0
    assert net.t == pytest.approx(err.t_ms)
    assert vm.values.shape[0] == round(err.t_ms / 0.1)       # recorded up to the failing step
    assert mon.times.max() <= err.t_ms and mon.num_spikes > 0


def test_non_finite_in_any_variable_stops_at_the_exact_step(device):
    """Two 3e38 pA weights arriving together overflow ``i_syn_e`` (``v`` jumps to inf, spikes
    and is reset, so checking ``v`` alone would miss it): every engine stops in that very step,
    names the variable and keeps the recordings up to it."""
    net = ns.Network(dt=0.1, device=device, seed=1)
    src = net.add_population(2, ns.SpikeSource([[1.0], [1.0]]))
    post = net.add_population(3, ns.LIF(), name="post")
    net.connect(src, post, ns.AllToAll(), weight=3e38)
    vm = net.record_state(post, "v")
    with pytest.raises(SimulationError, match=r"population 'post': state 'i_syn_e' became "
                                              r"non-finite \(inf\) for neuron 0, between "
                                              r"t = 1.0 ms and t = 1.1 ms") as info:
        net.run(5.0)
    assert info.value.variable == "i_syn_e" and info.value.t_ms == pytest.approx(1.1)
    assert net.t == pytest.approx(1.1)
    assert vm.values.shape[0] == 11


def test_non_finite_numpy_check_sees_nan_and_inf_anywhere():
    """The per-step check (a BLAS dot with zeros) flags inf, -inf and NaN in any position."""
    from neurosim.engine.numpy_engine import _NeuronGroup
    net = ns.Network(dt=0.1, device="cpu", seed=1)
    pop = net.add_population(1000, ns.AdEx())
    net.build()
    rt = net._engine.rt[0]
    assert isinstance(rt, _NeuronGroup) and rt.finite()
    with np.errstate(invalid="ignore"):           # as inside run()
        for var in pop.state_names:
            for bad in (np.inf, -np.inf, np.nan):
                for i in (0, 517, 999):
                    arr = rt.s[var]
                    old = arr[i]
                    arr[i] = bad
                    assert not rt.finite(), (var, bad, i)
                    arr[i] = old
        assert rt.finite()
