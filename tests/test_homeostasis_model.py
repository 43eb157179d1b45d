"""Homeostasis rules as descriptions (neurosim.plasticity.homeostasis_model): a rule written
once in the code language runs on every backend, against a closed form computed here; the
description's errors name the rule, the block and the name at fault."""

from __future__ import annotations

import numpy as np
import pytest

import neurosim as ns
from neurosim.models.language import ModelDefinitionError
from neurosim.plasticity import (DESCRIBED_HOMEOSTASIS, DescribedHomeostasis,
                                 HomeostasisModel)

DT = 0.1
PARROT = dict(tau_m=20.0, v_rest=0.0, v_reset=0.0, v_thresh=20.0, tau_refrac=0.5,
              synapse="delta")

#: a per-neuron spike trace (decays with tau, +1 per spike) and, every interval, a snapshot
#: of it and the spikes counted in the interval
TRACE = HomeostasisModel(
    "test_spike_trace",
    parameters={"tau": 20.0, "period": 5.0},
    state={"a": 0.0, "snap": 0.0, "count": 0.0, "last": 0.0},
    derived={"P": "exp(-dt / tau)"},
    every_step="a = a * P",
    on_spike="a += 1\ncount += 1",
    every_interval="snap = a\nlast = count\ncount = 0",
    interval="period")


class SpikeTrace(DescribedHomeostasis):
    description = TRACE

    def __init__(self, tau: float, period: float):
        super().__init__()
        self.tau, self.period = tau, period


def _run(device, spikes, t_end):
    net = ns.Network(dt=DT, device=device, seed=1)
    teach = net.add_population(2, ns.SpikeSource([np.asarray(s) - DT for s in spikes]))
    post = net.add_population(2, ns.LIF(**PARROT))
    net.connect(teach, post, ns.OneToOne(), weight=50.0, delay=DT)
    rule = net.add_homeostasis(post, SpikeTrace(tau=20.0, period=5.0))
    mon = net.record_spikes(post)
    net.run(t_end)
    return rule, mon


def test_a_described_rule_runs_on_every_backend_as_its_closed_form(device):
    spikes = [[3.0, 11.0, 12.0, 27.5], [8.0, 9.0]]
    t_end = 31.0                          # the last interval ended at 30 ms
    rule, mon = _run(device, spikes, t_end)
    for i, s in enumerate(spikes):
        assert list(mon.times[mon.indices == i]) == pytest.approx(s)
    trace = lambda t: [sum(np.exp(-(t - tk) / 20.0) for tk in s if tk <= t)  # noqa: E731
                       for s in spikes]
    np.testing.assert_allclose(rule.value("a"), trace(t_end), rtol=3e-5)           # float32 steps
    np.testing.assert_allclose(rule.value("snap"), trace(30.0), rtol=3e-5)           # float32 steps
    assert list(rule.value("last")) == [1.0, 0.0]          # spikes in (25, 30]
    assert list(rule.value("count")) == [0.0, 0.0]         # none since
    assert rule.value("a").dtype == np.float32
    with pytest.raises(ValueError, match=r"'b' is not a state variable of 'test_spike_trace'"):
        rule.value("b")


def test_a_described_rule_is_bit_identical_on_cpu_and_cuda_host():
    from neurosim.backends import host_build_status
    if not host_build_status()[0]:
        pytest.skip("cuda:host unavailable")
    spikes = [[3.0, 11.0, 12.0, 27.5], [8.0, 9.0]]
    a, _ = _run("cpu", spikes, 31.0)
    b, _ = _run("cuda:host", spikes, 31.0)
    for name in TRACE.state:
        np.testing.assert_array_equal(a.value(name), b.value(name))


def test_builtin_descriptions_generate_numpy_and_cuda_code():
    for d in DESCRIBED_HOMEOSTASIS:
        fns, sources = d.numpy()
        assert set(fns) == set(d.blocks) and all(callable(f) for f in fns.values())
        filename, kernels, source = d.cuda()
        assert filename.startswith(f"generated-homeostasis-{d.name}-")
        for kernel in kernels.values():
            assert f"NS_GLOBAL void {kernel}(" in source


@pytest.mark.parametrize("kwargs, match", [
    (dict(every_step="tau = 1.0"), r"every_step.*tau"),
    (dict(every_step="a = a * Q"), r"every_step.*'Q'"),
    (dict(every_interval="a = 0"), r"every_interval needs interval="),
    (dict(every_step="a = a", threshold="b"), r"threshold must name a state variable"),
    (dict(every_step="a = a", interval="a"), r"interval must name a parameter"),
    (dict(), r"every_step, on_spike or every_interval must hold code"),
])
def test_description_errors_name_the_rule_and_what_is_wrong(kwargs, match):
    with pytest.raises(ModelDefinitionError, match=match) as err:
        HomeostasisModel("bad_rule", parameters={"tau": 1.0}, state={"a": 0.0}, **kwargs)
    assert "bad_rule" in str(err.value)


def test_reserved_state_names_are_refused():
    with pytest.raises(ModelDefinitionError, match=r"'thr' is reserved"):
        HomeostasisModel("bad_rule", parameters={}, state={"thr": 0.0}, every_step="thr = 1")


# -- a user's rule: ns.HomeostasisModel(...)(**parameters) ------------------------------------

#: L2 normalisation of every neuron's incoming weights: every interval, the sum of their squares
#: (an incoming sum, float64: the gain computed in float64, rounded once when stored in the
#: local) and a factor bringing it to ``norm`` (at most ``max_gain``); the weights times the
#: factor, never below ``floor``; the sums seen so far (``seen``); the spikes per interval
L2_NORM = ns.HomeostasisModel(
    "test_l2_norm",
    parameters={"norm": 1.0, "max_gain": 4.0, "floor": 0.0, "interval": 5.0},
    state={"scale": 1.0, "spikes": 0.0, "last": 0.0, "seen": 0.0},
    incoming={"sq": "w * w"},
    on_spike="spikes += 1",
    every_interval="""
        gain = sqrt(norm / max(sq, 1e-12))
        scale = min(gain, max_gain)
        seen += sq
        last = spikes
        spikes = 0
    """,
    weights="w = max(w * scale, floor)",
    interval="interval",
    positive=("norm", "max_gain"))


def _l2_net(device, rule, t_end=20.0):
    net = ns.Network(dt=DT, device=device, seed=3)
    src = net.add_population(20, ns.PoissonSource(rate=200.0))
    post = net.add_population(3, ns.LIF(tau_m=10.0, v_thresh=-60.0, synapse="delta"))
    plastic = net.connect(src, post, ns.AllToAll(), weight=ns.Uniform(0.2, 1.0),
                          plasticity=ns.STDP(A_plus=0.01, A_minus=0.012, w_max=20.0,
                                             update="multiplicative"))   # event by event
    static = net.connect(src, post, ns.FixedIndegree(8), weight=ns.Uniform(0.2, 1.0))
    mon = net.record_spikes(post)
    net.add_homeostasis(post, rule)
    net.run(t_end)                                   # ends with a normalisation (t = 20 ms)
    return plastic, static, mon


def test_a_user_rule_normalises_the_incoming_weights(device):
    """After each interval, every neuron's incoming weights (plastic and static) have the sum
    of squares ``norm`` (sqrt and the division of the float64 sum, then float32 weights)."""
    rule = L2_NORM(norm=9.0)
    assert rule.parameters == {"norm": 9.0, "max_gain": 4.0, "floor": 0.0, "interval": 5.0}
    assert rule.norm == 9.0
    plastic, static, mon = _l2_net(device, rule)
    sq = (np.bincount(plastic.targets, plastic.weights.astype(float) ** 2, 3)
          + np.bincount(static.targets, static.weights.astype(float) ** 2, 3))
    np.testing.assert_allclose(sq, 9.0, rtol=1e-5)
    assert mon.steps.size > 0
    last = np.bincount(mon.indices[mon.times > 15.0 + 1e-9], minlength=3)   # spikes in (15, 20]
    np.testing.assert_array_equal(rule.value("last"), last)
    assert list(rule.value("spikes")) == [0.0, 0.0, 0.0]


def test_a_user_rule_is_bit_identical_on_cpu_cuda_host_and_native():
    from neurosim.backends import host_build_status
    if not host_build_status()[0]:
        pytest.skip("cuda:host unavailable")
    runs = {}
    for device in ("cpu", "cuda:host", "cpu:native"):
        rule = L2_NORM(norm=9.0, max_gain=1.01, floor=0.35)   # the cap and the floor act
        plastic, static, mon = _l2_net(device, rule)
        runs[device] = (plastic.weights, static.weights, mon.steps,
                        {s: rule.value(s) for s in L2_NORM.state})
    pa, sa, ma, va = runs["cpu"]
    assert sa.min() == np.float32(0.35)                     # the floor acted
    for device in ("cuda:host", "cpu:native"):
        pb, sb, mb, vb = runs[device]
        np.testing.assert_array_equal(ma, mb)
        np.testing.assert_array_equal(pa, pb)
        np.testing.assert_array_equal(sa, sb)
        for s in L2_NORM.state:
            np.testing.assert_array_equal(va[s], vb[s])


def test_a_user_threshold_rule_takes_per_neuron_initial_values():
    shift = ns.HomeostasisModel(
        "test_shift", parameters={"s0": 0.0, "rate": 0.1}, state={"s": "s0"},
        every_step="s = s + rate * dt", threshold="s")
    net = ns.Network(dt=DT, device="cpu", seed=1)
    pop = net.add_population(3, ns.LIF())
    rule = net.add_homeostasis(pop, shift(s0=[0.0, 1.0, 2.0]))
    net.run(1.0)
    np.testing.assert_allclose(rule.value("s"), [0.1, 1.1, 2.1], rtol=1e-5)


def test_weight_rules_scale_the_chosen_projections_only():
    net = ns.Network(dt=DT, device="cpu", seed=3)
    src = net.add_population(10, ns.PoissonSource(rate=20.0))
    post = net.add_population(2, ns.LIF())
    a = net.connect(src, post, ns.AllToAll(), weight=0.5)
    b = net.connect(src, post, ns.AllToAll(), weight=0.5)
    net.add_homeostasis(post, L2_NORM(norm=1.0, projections=[a]))
    net.run(5.0)
    np.testing.assert_allclose(np.bincount(a.targets, a.weights.astype(float) ** 2, 2), 1.0,
                               rtol=1e-6)
    assert np.all(b.weights == np.float32(0.5))


# -- mistakes: at definition, and when a rule is made ------------------------------------------

_SCALE = dict(parameters={"m0": 1.0, "interval": 5.0}, state={"f": 1.0}, interval="interval")


@pytest.mark.parametrize("kwargs, match", [
    (dict(incoming={"s": "w"}, every_step="f = s"), r"every_step line 1.*'s' cannot be used "
                                                    r"here: an incoming sum"),
    (dict(incoming={"s": "w"}, every_interval="f = 1"), r"incoming sum 's' is not read"),
    (dict(incoming={"s": "w + q"}, every_interval="f = s"), r"incoming\['s'\].*unknown name 'q'"),
    (dict(incoming={"w": "1"}, every_interval="f = w"), r"'w' is reserved"),
    (dict(incoming={"s": "w > 1"}, every_interval="f = s"), r"must be a number"),
    (dict(every_step="f = w"), r"every_step.*unknown name 'w'"),
    (dict(every_step="f = 1", weights="f = w"), r"weights line 1.*'f' is a state variable and "
                                                r"cannot be assigned"),
    (dict(every_step="f = 1", weights="x = w * f"), r"weights must assign w"),
    (dict(every_step="f = 1", weights="w = w * g"), r"weights line 1.*unknown name 'g'"),
    (dict(every_step="f = 1", weights="w = w", interval=None), r"weights needs interval="),
    (dict(weights="w = w * f"), r"every_step, on_spike or every_interval must hold code"),
    (dict(every_step="f = 1", positive=("m",)), r"positive names 'm', which is not a "
                                                r"parameter"),
    (dict(every_step="f = 1", incoming=["w"]), r"incoming must be a dict"),
])
def test_weight_rule_definition_errors(kwargs, match):
    with pytest.raises(ModelDefinitionError, match=match) as err:
        ns.HomeostasisModel("bad_scale", **dict(_SCALE, **kwargs))
    assert "bad_scale" in str(err.value)


def test_definition_errors_for_parameters_and_names():
    with pytest.raises(ModelDefinitionError, match=r"'bad_rule'.*parameter a must be a real number"):
        ns.HomeostasisModel("bad_rule", parameters={"a": "x"}, state={"s": 0.0},
                            every_step="s = a")
    with pytest.raises(ModelDefinitionError, match=r"name must be an identifier"):
        ns.HomeostasisModel("no good", parameters={}, state={"s": 0.0}, every_step="s = 1")
    with pytest.raises(ModelDefinitionError, match=r"'s' is declared twice"):
        ns.HomeostasisModel("bad_rule", parameters={"s": 1.0}, state={"s": 0.0}, every_step="s = 1")
    with pytest.raises(ModelDefinitionError, match=r"unsupported function 'tanh'"):
        ns.HomeostasisModel("bad_rule", parameters={}, state={"s": 0.0}, every_step="s = tanh(s)")
    with pytest.raises(ModelDefinitionError, match=r"initial value of 's' names 'q'"):
        ns.HomeostasisModel("bad_rule", parameters={}, state={"s": "q"}, every_step="s = 1")


@pytest.mark.parametrize("make, error, match", [
    (lambda: L2_NORM(nrm=2.0), ValueError, r"test_l2_norm\(\): unknown parameter\(s\) \['nrm'\]"),
    (lambda: L2_NORM(norm="x"), TypeError, r"test_l2_norm\(\): norm must be a real number, "
                                           r"got 'x'"),
    (lambda: L2_NORM(norm=-1.0), ValueError, r"test_l2_norm\(\): norm must be > 0"),
    (lambda: L2_NORM(interval=0.0), ValueError, r"test_l2_norm\(\): interval must be > 0"),
    (lambda: L2_NORM(norm=[1.0, 2.0]), TypeError, r"norm must be a real number"),
    (lambda: L2_NORM(projections="x"), TypeError, r"projections"),
    (lambda: TRACE(projections=[]), ValueError, r"projections= is for rules that read or "
                                                r"scale weights"),
])
def test_bad_parameters_of_a_user_rule(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_a_per_neuron_value_must_fit_the_population():
    shift = ns.HomeostasisModel("test_shift2", parameters={"s0": 0.0},
                                state={"s": "s0"}, every_step="s = s * 1")
    net = ns.Network(dt=DT, device="cpu", seed=1)
    pop = net.add_population(3, ns.LIF(), name="cells")
    with pytest.raises(ValueError, match=r"s0 has 2 values but population 'cells' has 3"):
        net.add_homeostasis(pop, shift(s0=[1.0, 2.0]))


def test_the_readme_example_runs():
    """README "Your own homeostasis rule", as written."""
    import pathlib
    import re
    text = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text[text.index("### Your own homeostasis rule"):]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)
    syn = namespace["syn"]                          # the run ended with a normalisation
    sq = np.bincount(syn.targets, syn.weights.astype(float) ** 2, minlength=10)
    np.testing.assert_allclose(sq, 4.0, rtol=1e-5)


def test_a_user_rules_kernels_compile_cleanly_for_the_gpu():
    """The float64 arithmetic of incoming sums (casts, ns_wmin/ns_wmax, sqrt in double) and
    the per-synapse kernels, through the CI gate's compiler (sm_90, both precisions)."""
    import pathlib

    from neurosim.backends import nvrtc_check
    routes = nvrtc_check.available_routes()
    if not routes:
        pytest.skip("no CUDA compiler (NVRTC or nvcc)")
    filename, kernels, _ = L2_NORM.cuda()
    report = nvrtc_check.check([pathlib.Path(filename)], archs=("sm_90",),
                               route=sorted(routes)[0], precisions=("single", "double"))
    assert report.ok, report.format()
    for result in report.results:
        assert {k.name for k in result.kernels} == set(kernels.values())


def test_a_user_rule_is_saved_and_continues_on_every_backend(tmp_path):
    """net.save / ns.load(models=[description]): the rule, its parameters and projections,
    and its state come back; the continued run is the uninterrupted one."""
    from neurosim.backends import host_build_status

    def build(device):
        net = ns.Network(dt=DT, device=device, seed=3)
        src = net.add_population(20, ns.PoissonSource(rate=200.0))
        post = net.add_population(3, ns.LIF(tau_m=10.0, v_thresh=-60.0, synapse="delta"))
        a = net.connect(src, post, ns.FixedIndegree(8), weight=ns.Uniform(0.2, 1.0))
        net.connect(src, post, ns.FixedIndegree(8), weight=ns.Uniform(0.2, 1.0))
        net.add_homeostasis(post, L2_NORM(norm=4.0, projections=[a]))
        return net, a

    net, a = build("cpu")
    net.run(12.0)
    net.save(tmp_path / "run.npz")
    net.run(10.0)
    rule = net.homeostasis[0][1]
    devices = ["cpu"] + (["cuda:host"] if host_build_status()[0] else [])
    for device in devices:
        back = ns.load(tmp_path / "run.npz", device=device, models=[L2_NORM])
        (pop, again), = back.homeostasis
        assert again.parameters == rule.parameters
        assert again.projections == [back.projections[0]]
        back.run(10.0)
        np.testing.assert_array_equal(back.projections[0].weights, a.weights)
        np.testing.assert_array_equal(back.projections[1].weights, net.projections[1].weights)
        for s in L2_NORM.state:
            np.testing.assert_array_equal(again.value(s), rule.value(s))
    with pytest.raises(ns.CheckpointError, match="unknown rule 'test_l2_norm'"):
        ns.load(tmp_path / "run.npz", device="cpu")
