"""User-defined neuron models (``ns.NeuronModel``): the code language's checks, the generated
NumPy step and CUDA kernel, and their parity (``cpu`` vs ``cuda:host``, as in
test_cuda_backend.py: bit for bit where the arithmetic has no transcendental function, in
natural and shuffled thread order for weights that add exactly; within tolerances otherwise)."""

from __future__ import annotations

import numpy as np
import pytest

import neurosim as ns
from neurosim.backends import host_build_status, hostbuild

DT = 0.1
needs_host = pytest.mark.skipif(not host_build_status()[0], reason="no g++ for the host build")

ADLIF = dict(
    parameters={"tau_m": 20.0, "tau_w": 100.0, "a": 0.5, "b": 20.0, "v_rest": -70.0,
                "v_reset": -65.0, "v_thresh": -50.0, "cm": 250.0, "tau_refrac": 2.0,
                "tau_syn_E": 5.0, "tau_syn_I": 5.0},
    state={"v": "v_rest", "w": 0.0},
    update="""
        v += dt * ((v_rest - v) / tau_m + (I_syn + I_ext - w) / cm)
        w += dt * (a * (v - v_rest) - w) / tau_w
    """,
    threshold="v >= v_thresh",
    reset="v = v_reset; w += b",
    synapses={"excitatory": "current", "inhibitory": "current"},
    refractory="tau_refrac", hold="v = v_reset")


def model(name="m", **changes):
    return ns.NeuronModel(name, **{**ADLIF, **changes})


# -- the language: errors at definition time ------------------------------------------------------

@pytest.mark.parametrize("changes, match", [
    (dict(update="v += dt * vv"), r"'m', update line 1 .*unknown name 'vv'"),
    (dict(update="x = 1\nv += y"), r"update line 2 \('v \+= y'\): unknown name 'y'"),
    (dict(update="tau_m = 3"), r"update line 1.*'tau_m' is a parameter and cannot be assigned"),
    (dict(update="v = 1", derived={"k": "dt / tau_m"}, reset="k = 2"),
     r"reset line 1.*'k' is a derived constant and cannot be assigned"),
    (dict(update="i_syn_e = 0"), r"'i_syn_e' is a synaptic input .* cannot be assigned"),
    (dict(threshold="v - v_thresh"), r"threshold .*must be a condition such as 'v >= v_thresh'"),
    (dict(update="v = tanh(v)"), r"update line 1.*unsupported function 'tanh'"),
    (dict(update="v = np.exp(v)"), r"unsupported function 'np.exp'"),
    (dict(update="v = __import__('os').getcwd()"), r"unsupported function"),
    (dict(update="v = v.real"), r"Attribute expressions are not supported"),
    (dict(update="while v > 0:\n    v -= 1"), r"While statements are not supported"),
    (dict(update="v = v ** 2.5"), r"integer literal k from 2 to 4"),
    (dict(update="v = v ** w"), r"integer literal"),
    (dict(update="v = v // 2"), r"operator FloorDiv is not supported"),
    (dict(update="v = (v > 0) * 2"), r"arithmetic on a condition"),
    (dict(update="if v:\n    v = 0"), r"an if needs a condition"),
    (dict(update="if v > 0:\n    x = 1\nv = x"), r"update line 3.*local 'x' may be unassigned"),
    (dict(update="x += 1"), r"unknown name 'x' \(a local must be assigned"),
    (dict(update="v = exp(v, 2)"), r"exp\(\) takes 1 argument"),
    (dict(update="v = 'a'"), r"unsupported constant 'a'"),
    (dict(update="v = 1 +"), r"update line 1 .*syntax error"),
    (dict(update="v"), r"this expression does nothing"),
    (dict(reset="v = I_syn"), r"reset line 1.*'I_syn' cannot be used here: it is available in "
                              r"update only"),
    (dict(update="v += g_e"), r"'g_e' cannot be used here: the model declares no such synapse"),
    (dict(synapses={"excitatory": "conductance", "inhibitory": "conductance"}),
     r"'I_syn' cannot be used here: the model has conductance synapses"),
    (dict(state={"w": 0.0}), r"state must include 'v'"),
    (dict(state={"v": 0.0, "tau_m": 1.0}), r"'tau_m' is declared twice"),
    (dict(state={"v": 0.0, "w": 0.0, "n": 1.0}), r"state variable name 'n' is reserved"),
    (dict(state={"v": 0.0, "w": "v_rest + q"}), r"state\['w'\] line 1.*unknown name 'q'"),
    (dict(derived={"k": "v / 2"}), r"derived\['k'\].*unknown name 'v'"),
    (dict(synapses={"excitatory": "current", "inhibitory": "delta"}), r"all be of one kind"),
    (dict(synapses={"excitatory": "exp"}), r"must be one of 'current', 'conductance', 'delta'"),
    (dict(synapses={"fast": "current"}), r"unknown receptor 'fast'"),
    (dict(parameters={"tau_m": 1.0, "v_thresh": 1.0, "v_rest": 0.0, "cm": 1.0},
          update="v = v", reset="", hold="", refractory=None),
     r"current synapses on the excitatory receptor decay with the parameter 'tau_syn_E'"),
    (dict(refractory="t_ref"), r"refractory must name a parameter"),
    (dict(refractory=None), r"hold code runs during the refractory period"),
    (dict(parameters={"tau_m": float("nan")}), r"parameter tau_m"),
])
def test_definition_errors_name_model_block_line_and_name(changes, match):
    with pytest.raises(ns.ModelDefinitionError, match=match):
        model(**changes)


def test_too_many_state_variables_and_bad_names():
    with pytest.raises(ns.ModelDefinitionError, match=r"at most 8 state variables"):
        model(state={"v": 0.0, **{f"x{k}": 0.0 for k in range(6)}})
    with pytest.raises(ns.ModelDefinitionError, match=r"name must be an identifier"):
        model(name="my model")
    with pytest.raises(ns.ModelDefinitionError, match=r"'float' is reserved"):
        model(parameters={**ADLIF["parameters"], "float": 1.0})


def test_instances_overrides_and_per_neuron_parameters():
    m = model()
    a = m(tau_w=150.0)
    assert a.tau_w == 150.0 and a.b == 20.0 and type(a).__name__ == "m"
    assert a.state_names(()) == ("v", "w", "i_syn_e", "i_syn_i")
    with pytest.raises(TypeError, match=r"unknown parameter\(s\) \['tau_x'\]"):
        m(tau_x=1.0)
    with pytest.raises(ValueError, match=r"tau_m .*> 0|tau_syn_E"):
        m(tau_syn_E=-1.0)
    net = ns.Network(dt=DT, device="cpu")
    p1 = net.add_population(5, m(b=np.arange(5.0)), initial={"v": -60.0})
    net.add_population(3, m())
    net.build()
    groups = net._engine.L.groups
    assert len(groups) == 1 and groups[0].size == 8        # one description: one group
    np.testing.assert_array_equal(net.get_state(p1, "v"), -60.0)
    np.testing.assert_array_equal(groups[0].consts["b"], np.r_[np.arange(5.0), [20.0] * 3])
    assert groups[0].n_ref == 20


def test_control_flow_and_functions_numpy_against_python():
    """if/elif/else, conditional expressions, min/max/clip, powers and bool locals: the
    vectorised step equals a plain Python loop over neurons (float32 scalars)."""
    m = ns.NeuronModel(
        "flow", parameters={"a": 0.5, "top": 3.0}, state={"v": 0.0, "u": "a * 2"},
        derived={"k": "a * 2 if a > 0 else 0"},
        update="""
            x = clip(v, -2, top)
            if x > 1 and not (u < 0.5):
                v = v - a * x ** 2
                big = True
            elif x < -1:
                v = min(v, u, x) + 4
                big = False
            else:
                big = x == 0 or x != 0.25
            u = abs(u - k) + 0.1 if big else max(u, 0.2) ** 3
            v += dt
        """, threshold="v > 1e9", reset="v = 0")
    v0 = np.linspace(-3, 4, 29).astype(np.float32)
    u0 = np.linspace(-1, 2, 29).astype(np.float32)
    s = {"v": v0.copy(), "u": u0.copy()}
    c = type(m()).constants(m().parameters(), DT)
    m.functions["integrate"](s, None, (), c, None, None)
    f = np.float32
    for j in range(29):
        v, u, a, top, k = v0[j], u0[j], c["a"], c["top"], c["k"]
        x = min(max(v, f(-2)), top)
        if x > 1 and not u < 0.5:
            v, big = v - a * (x * x), True
        elif x < -1:
            v, big = min(v, u, x) + f(4), False
        else:
            big = x == 0 or x != f(0.25)
        u = abs(u - k) + f(0.1) if big else (lambda y: y * y * y)(max(u, f(0.2)))
        v = v + c["dt"]
        assert (s["v"][j], s["u"][j]) == (v, u), j


# -- the generated step in a network ---------------------------------------------------------------

def net_of(m, device, w_e=64.0, w_i=-32.0, seed=3, init=None):
    """Poisson source -> 40 neurons (per-synapse delays), recurrent inhibition (one delay), a
    Poisson drive, a step current, per-neuron parameters, monitors."""
    net = ns.Network(dt=DT, device=device, seed=seed, connectivity="host")
    src = net.add_population(30, ns.PoissonSource(rate=np.linspace(10.0, 60.0, 30)))
    pop = net.add_population(40, m, initial=init or {"v": ns.Uniform(-70.0, -52.0)})
    net.connect(src, pop, ns.FixedIndegree(6), weight=w_e, delay=ns.Uniform(0.1, 3.0))
    net.connect(pop, pop, ns.FixedProbability(0.2), weight=w_i, delay=1.0,
                receptor="inhibitory")
    net.add_poisson_input(pop, rate=200.0, weight=w_e, n_sources=5)
    net.inject(pop, ns.StepCurrent([20.0, 60.0], [300.0, 0.0]))
    mons = dict(spikes=net.record_spikes(pop), src=net.record_spikes(src),
                v=net.record_state(pop, "v", every=2))
    return net, mons


def run_both(make, t=100.0):
    out = []
    for device in ("cpu", "cuda:host"):
        net, mons = make(device)
        net.run(t)
        out.append(mons)
    return out


def same_spikes(a, b):
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_array_equal(a.indices, b.indices)


CASES = {
    "current": lambda: model("cur")(tau_w=np.linspace(80.0, 200.0, 40),
                                    tau_refrac=np.random.default_rng(1).choice([0.0, 1.0, 2.0],
                                                                               40)),
    "delta": lambda: ns.NeuronModel(
        "dlt", parameters={"tau_m": 20.0, "v_rest": -70.0, "v_thresh": -55.0, "t_ref": 2.0},
        state={"v": "v_rest"}, update="v += dt * ((v_rest - v) / tau_m + I_ext / 250)",
        threshold="v >= v_thresh", reset="v = v_rest",
        synapses={"excitatory": "delta", "inhibitory": "delta"},
        refractory="t_ref", hold="v = v_rest")(),
    "no_hold": lambda: model("nohold", hold="")(tau_refrac=3.0),
}


@needs_host
@pytest.mark.parametrize("case", sorted(CASES))
def test_generated_model_cpu_and_cuda_host_bit_identical(case):
    w = (2.0, -1.0) if case == "delta" else (64.0, -32.0)
    ref, got = run_both(lambda d: net_of(CASES[case](), d, *w))
    assert ref["spikes"].num_spikes > 20
    same_spikes(ref["src"], got["src"])
    same_spikes(ref["spikes"], got["spikes"])
    np.testing.assert_array_equal(ref["v"].values, got["v"].values)


@needs_host
@pytest.mark.parametrize("case", sorted(CASES))
def test_generated_model_shuffled_threads(case):
    w = (2.0, -1.0) if case == "delta" else (64.0, -32.0)
    a_net, a = net_of(CASES[case](), "cuda:host", *w)
    a_net.run(60.0)
    with hostbuild.shuffle_order(True):
        b_net, b = net_of(CASES[case](), "cuda:host", *w)
        b_net.run(60.0)
    same_spikes(a["spikes"], b["spikes"])
    np.testing.assert_array_equal(a["v"].values, b["v"].values)


COND = ns.NeuronModel(
    "cond_exp", parameters={"g_l": 10.0, "e_l": -60.0, "e_rev_E": 0.0, "e_rev_I": -80.0,
                            "cm": 200.0, "v_thresh": -50.0, "v_reset": -60.0,
                            "tau_refrac": 5.0, "tau_syn_E": 5.0, "tau_syn_I": 10.0},
    state={"v": "e_l"}, derived={"h_over_cm": "dt / cm"},
    update="""
        g = g_l + g_e + g_i
        v_inf = (g_l * e_l + g_e * e_rev_E + g_i * e_rev_I + I_ext) / g
        v = v_inf + (v - v_inf) * exp(-g * h_over_cm)
    """, threshold="v >= v_thresh", reset="v = v_reset",
    synapses={"excitatory": "conductance", "inhibitory": "conductance"},
    refractory="tau_refrac", hold="v = v_reset")


@needs_host
def test_conductance_model_with_exp_within_tolerance():
    ref, got = run_both(lambda d: net_of(COND(), d, 4.0, 8.0))
    assert ref["spikes"].num_spikes > 20
    a = set(zip(ref["spikes"].steps, ref["spikes"].indices))
    b = set(zip(got["spikes"].steps, got["spikes"].indices))
    assert len(a ^ b) <= max(2, 0.02 * len(a))
    assert np.isclose(ref["v"].values, got["v"].values, rtol=0, atol=1e-3).mean() > 0.97


LIF_DESCRIPTION = ns.NeuronModel(
    "lif_described",
    parameters={"tau_m": 10.0, "cm": 250.0, "v_rest": -70.0, "v_reset": -70.0,
                "v_thresh": -55.0, "tau_refrac": 2.0, "tau_syn_E": 2.0, "tau_syn_I": 2.0,
                "i_offset": 0.0},
    state={"v": "v_rest"},
    derived={"P22": "exp(-dt / tau_m)", "P20": "tau_m / cm * (1 - P22)",
             "v_const": "v_rest * (1 - P22) + i_offset * P20",
             "P21_E": "tau_syn_E * tau_m / (cm * (tau_m - tau_syn_E)) * "
                      "(P22 - exp(-dt / tau_syn_E))",
             "P21_I": "tau_syn_I * tau_m / (cm * (tau_m - tau_syn_I)) * "
                      "(P22 - exp(-dt / tau_syn_I))"},
    update="v = v * P22 + v_const + I_ext * P20 + i_syn_e * P21_E + i_syn_i * P21_I",
    threshold="v >= v_thresh", reset="v = v_reset",
    synapses={"excitatory": "current", "inhibitory": "current"},
    refractory="tau_refrac", hold="v = v_reset")


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda:host", marks=needs_host)])
def test_lif_description_reproduces_the_builtin_lif_bit_for_bit(device):
    """The exact LIF written as a description (derived propagators in float64): the same
    spikes and membrane traces as the hand-written ns.LIF, step for step."""
    kw = dict(tau_m=20.0, v_thresh=-55.0, tau_syn_E=5.0, tau_syn_I=3.0,
              i_offset=np.random.default_rng(7).uniform(0, 300, 40))
    def make(m):
        net, mons = net_of(m, device)
        net.run(100.0)
        return mons
    ref, got = make(ns.LIF(**kw)), make(LIF_DESCRIPTION(**kw))
    assert ref["spikes"].num_spikes > 20
    same_spikes(ref["spikes"], got["spikes"])
    np.testing.assert_array_equal(ref["v"].values, got["v"].values)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda:host", marks=needs_host)])
def test_refractory_neurons_cannot_spike_and_count_like_nest(device):
    """Without a hold, v keeps integrating during the refractory period but the neuron cannot
    spike: with a strong drive it spikes every round(tau_refrac/dt) + 1 steps."""
    m = ns.NeuronModel("refr", parameters={"drive": 50.0, "t_ref": 2.0}, state={"v": 0.0},
                       update="v += dt * drive", threshold="v >= 1", reset="v = 0",
                       refractory="t_ref")
    net = ns.Network(dt=DT, device=device)
    pop = net.add_population(3, m(t_ref=np.array([0.0, 1.0, 2.0])))
    mon = net.record_spikes(pop)
    net.run(20.0)
    for j, n_ref in enumerate((0, 10, 20)):
        steps = mon.steps[mon.indices == j]
        assert steps.size > 5 and np.all(np.diff(steps) == n_ref + 1), (j, np.diff(steps)[:5])


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda:host", marks=needs_host)])
def test_non_finite_state_names_the_variable_and_step(device):
    m = ns.NeuronModel("blow", parameters={"r": 3.0}, state={"v": 0.0, "u": 1.0},
                       update="u = u * u * r", threshold="v > 1", reset="v = 0")
    net = ns.Network(dt=DT, device=device)
    pop = net.add_population(4, m(r=np.array([1.0, 1.0, 3.0, 5.0])))
    with pytest.raises(ns.SimulationError, match=r"'u'.*neuron 3|neuron 3.*'u'"):
        net.run(10.0)
    assert net.t == pytest.approx(0.6)     # u = 5, 125, 78125, 3e10, 5e21, then inf (step 6)
    assert pop.size == 4


def test_generated_sources_are_inspectable():
    m = model("insp")
    assert "def integrate(s, inp, active, c, i_ext, tmp):" in m.numpy_sources["integrate"]
    assert "insp_update(" in m.cuda_source and '#include "neuron.cuh"' in m.cuda_source
    assert m.kernel_file.startswith("generated-insp-") and m.kernel == "insp_update"
    assert "ns_take(in, 1, n_neurons, i, drives)" in m.cuda_source


def test_constraints_and_presets():
    m = model("cons", constraints={"v_reset < v_thresh": "v_reset must be below v_thresh"},
              presets={"slow": {"tau_w": 400.0, "b": 5.0}})
    assert m.preset("slow", b=1.0).tau_w == 400.0 and m.preset("slow", b=1.0).b == 1.0
    with pytest.raises(ValueError, match=r"cons: v_reset must be below v_thresh, got "
                                         r"v_reset=-40.0, v_thresh=-50.0"):
        m(v_reset=-40.0)
    with pytest.raises(ValueError, match=r"v_reset must be below"):      # any neuron
        m(v_reset=np.array([-60.0, -45.0]), v_thresh=np.array([-50.0, -50.0]))
    with pytest.raises(ValueError, match=r"cons.preset: name must be one of \['slow'\]"):
        m.preset("fast")
    with pytest.raises(ns.ModelDefinitionError, match=r"constraints\[0\].*must be a condition"):
        model(constraints={"v_reset - v_thresh": "x"})
    with pytest.raises(ns.ModelDefinitionError, match=r"presets\['x'\] must map parameters"):
        model(presets={"x": {"tau_q": 1.0}})
    assert m.__name__ == "cons" and type(m()).__name__ == "cons"


@needs_host
def test_adaptive_threshold_homeostasis_on_a_description():
    """A description with a ``v_thresh`` parameter takes threshold rules like ns.LIF: the rule
    raises the constant the generated code reads, on both backends alike."""
    def run(device, rule):
        net = ns.Network(dt=DT, device=device, seed=2)
        pop = net.add_population(20, ns.AdaptiveLIF(i_offset=np.linspace(400.0, 600.0, 20)))
        if rule:
            net.add_homeostasis(pop, ns.AdaptiveThreshold(theta_plus=2.0, tau_theta=500.0))
        mon = net.record_spikes(pop)
        net.run(200.0)
        return mon
    plain, ref, got = run("cpu", False), run("cpu", True), run("cuda:host", True)
    assert ref.num_spikes < 0.8 * plain.num_spikes
    same_spikes(ref, got)
