"""The table of bad calls: every public constructor and method, tried as a new user would.

Each row is (call, expected exception type, substrings the message must contain): the argument's
name, the value given and what was expected. Rows marked ``engine`` reach a built network (state,
weights, drawn values, derived constants, a run) and run on every engine here (``cpu`` and
``cuda:host``); the others run once. A row whose expected type is a warning runs with warnings
turned into errors. Grow the table with every class of mistake fixed.

``outcome(row, device)`` says what happened (``"ok"``, ``"no error"``, ``"wrong type ..."``,
``"message lacks ..."``), so the table can also be run against another version of neurosim.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pytest

import neurosim as ns

INT32_MAX = "2147483647"
F32 = "float32"


@dataclass
class Row:
    name: str
    call: object                     # call(device) -> anything; must raise
    exc: type
    subs: tuple
    engine: bool = False
    marks: list = field(default_factory=list)


ROWS: list[Row] = []


def row(name, call, exc, *subs, engine=False):
    ROWS.append(Row(name, call, exc, subs, engine))


# -- helpers: small networks ------------------------------------------------------------------

def net(dev="cpu", **kw):
    return ns.Network(dt=kw.pop("dt", 0.1), device=dev, seed=1, **kw)


def lif(dev="cpu", n=10, model=None):
    nt = net(dev)
    return nt, nt.add_population(n, model or ns.LIF(), name="a")


def connect(dev="cpu", rule=None, n=10, **kw):
    nt, a = lif(dev, n)
    kw.setdefault("weight", 1.0)
    return nt.connect(a, a, rule or ns.AllToAll(), **kw)


def add_pop(*args, **kw):
    return net().add_population(*args, **kw)


def built_state(dev, model, var, value):
    nt, a = lif(dev, 4, model)
    nt.build()
    nt.set_state(a, var, value)


def built_weights(dev, value):
    proj = connect(dev)
    proj.network.build()
    proj.weights = value


def run_net(dev, build):
    nt = net(dev)
    build(nt)
    nt.run(10.0)


def setattr_(obj, name, value):
    setattr(obj, name, value)


def two_populations_over_int32():
    nt = net()
    nt.add_population(2**31 - 10, ns.LIF())
    nt.add_population(100, ns.LIF())


def big_connect(rule):
    nt = net()
    a = nt.add_population(50_000, ns.LIF())
    nt.connect(a, a, rule, weight=1.0)


def two_currents(amp):
    nt, a = lif()
    nt.inject(a, ns.DCCurrent(amp))
    nt.inject(a, ns.DCCurrent(amp))


def homeostasis(rule, model=None):
    nt, a = lif(model=model)
    nt.add_homeostasis(a, rule)
    return nt, a


def twice_attached():
    rule = ns.AdaptiveThreshold()
    nt, a = homeostasis(rule)
    b = nt.add_population(3, ns.LIF())
    nt.add_homeostasis(b, rule)


def plastic(rule, weight=0.5, receptor="excitatory"):
    nt, a = lif()
    nt.connect(a, a, ns.AllToAll(), weight=weight, receptor=receptor, plasticity=rule)


# -- Network(...) -----------------------------------------------------------------------------

row("Network dt str", lambda d: ns.Network(dt="0.1"), TypeError, "dt", "'0.1'", "real number")
row("Network dt None", lambda d: ns.Network(dt=None), TypeError, "dt", "None", "real number")
row("Network dt bool", lambda d: ns.Network(dt=True), TypeError, "dt", "True", "real number")
row("Network dt complex", lambda d: ns.Network(dt=1j), TypeError, "dt", "1j", "real number")
row("Network dt 0", lambda d: ns.Network(dt=0.0), ValueError, "dt", "0.0", "> 0")
row("Network dt inf", lambda d: ns.Network(dt=float("inf")), ValueError, "dt", "inf", "finite")
row("Network device int", lambda d: ns.Network(device=1), ValueError, "device", "1", "one of")
row("Network device gpu", lambda d: ns.Network(device="gpu"), ValueError, "device", "'gpu'",
    "one of")
row("Network device list", lambda d: ns.Network(device=["cpu"]), ValueError, "device",
    "['cpu']", "one of")
row("Network seed str", lambda d: ns.Network(seed="1"), TypeError, "seed", "'1'", "integer")
row("Network seed float", lambda d: ns.Network(seed=1.0), TypeError, "seed", "1.0", "integer")
row("Network seed bool", lambda d: ns.Network(seed=True), TypeError, "seed", "True", "integer")
row("Network seed negative", lambda d: ns.Network(seed=-1), ValueError, "seed", "-1", ">= 0")
row("Network connectivity", lambda d: ns.Network(connectivity="gpu"), ValueError,
    "connectivity", "'gpu'", "one of")
row("Network device connectivity on cpu",
    lambda d: ns.Network(device="cpu", connectivity="device"), ValueError,
    "connectivity='device'", "device='cpu'")

# -- neuron models ----------------------------------------------------------------------------

MODEL_PARAMS = [(ns.LIF, "tau_m"), (ns.LIF, "v_thresh"), (ns.LIF, "i_offset"),
                (ns.LIFCond, "e_rev_E"), (ns.LIFCond, "tau_syn_I"), (ns.AdEx, "a"),
                (ns.AdEx, "i_offset"), (ns.Izhikevich, "d"), (ns.Izhikevich, "i_offset"),
                (ns.PoissonSource, "rate")]
for cls, p in MODEL_PARAMS:
    tag = f"{cls.__name__}.{p}"
    row(f"{tag} str", lambda d, c=cls, p=p: c(**{p: "10"}), TypeError, p, "'10'", "number")
    row(f"{tag} None", lambda d, c=cls, p=p: c(**{p: None}), TypeError, p, "None", "number")
    row(f"{tag} bool", lambda d, c=cls, p=p: c(**{p: True}), TypeError, p, "True", "number")
    row(f"{tag} 1e39", lambda d, c=cls, p=p: c(**{p: 1e39}), ValueError, p, "1e+39", F32)
for cls, p in ((ns.LIF, "tau_m"), (ns.AdEx, "b"), (ns.Izhikevich, "c")):
    tag = f"{cls.__name__}.{p}"
    row(f"{tag} complex array", lambda d, c=cls, p=p: c(**{p: np.array([1 + 2j])}), TypeError,
        p, "complex")
    row(f"{tag} mixed list", lambda d, c=cls, p=p: c(**{p: [1.0, "a"]}), TypeError, p,
        "array of numbers")
    row(f"{tag} 2-D", lambda d, c=cls, p=p: c(**{p: np.ones((2, 2))}), ValueError, p,
        "one-dimensional", "(2, 2)")
    row(f"{tag} array 1e39", lambda d, c=cls, p=p: c(**{p: np.array([1.0, -1e39])}),
        ValueError, p, "-1e+39", F32)
row("LIF tau_m 0", lambda d: ns.LIF(tau_m=0.0), ValueError, "tau_m", "0.0", "> 0")
row("LIF cm negative array", lambda d: ns.LIF(cm=np.array([1.0, -1.0])), ValueError, "cm",
    "> 0")
row("LIF tau_refrac negative", lambda d: ns.LIF(tau_refrac=-1.0), ValueError, "tau_refrac",
    "-1.0", ">= 0")
row("LIF v_reset above v_thresh", lambda d: ns.LIF(v_reset=-40.0, v_thresh=-50.0), ValueError,
    "v_reset", "-40.0", "v_thresh")
row("LIF synapse alpha", lambda d: ns.LIF(synapse="alpha"), ValueError, "synapse", "'alpha'",
    "'exponential' or 'delta'")
row("LIF synapse int", lambda d: ns.LIF(synapse=1), ValueError, "synapse", "1")
row("LIF nan", lambda d: ns.LIF(v_rest=float("nan")), ValueError, "v_rest", "nan", "finite")
row("LIFCond cm 0", lambda d: ns.LIFCond(cm=0.0), ValueError, "cm", "0.0", "> 0")
row("LIFCond integration", lambda d: ns.LIFCond(integration="rk4"), ValueError, "integration",
    "'rk4'", "'exponential_euler' or 'euler'")
row("AdEx delta_T 0", lambda d: ns.AdEx(delta_T=0.0), ValueError, "delta_T", "0.0", "> 0")
row("AdEx tau_w negative", lambda d: ns.AdEx(tau_w=-5.0), ValueError, "tau_w", "-5.0", "> 0")
row("AdEx v_reset above v_peak", lambda d: ns.AdEx(v_reset=5.0), ValueError, "v_reset", "5.0",
    "v_peak")
row("Izhikevich a negative", lambda d: ns.Izhikevich(a=-1), ValueError, "a", "-1", "> 0")
row("Izhikevich a 0", lambda d: ns.Izhikevich(a=0.0), ValueError, "a", "0.0", "> 0")
row("Izhikevich c above v_peak", lambda d: ns.Izhikevich(c=40.0), ValueError, "c", "40.0",
    "v_peak")
row("Izhikevich preset name", lambda d: ns.Izhikevich.preset("XX"), ValueError, "name", "'XX'",
    "one of")
row("Izhikevich preset list", lambda d: ns.Izhikevich.preset(["RS"]), ValueError, "name",
    "['RS']", "one of")
row("rates t_start str", lambda d: (lambda nt, a: nt.record_spikes(a).rates("0"))(*lif()),
    TypeError, "t_start", "'0'", "real number")
row("Izhikevich preset override", lambda d: ns.Izhikevich.preset("RS", a="x"), TypeError, "a",
    "'x'", "number")
row("PoissonSource rate negative", lambda d: ns.PoissonSource(rate=-1.0), ValueError, "rate",
    "-1.0", ">= 0")
row("SpikeSource times int", lambda d: ns.SpikeSource(5), TypeError, "times", "got 5",
    "sequence")
row("SpikeSource times str", lambda d: ns.SpikeSource("abc"), TypeError, "times", "str")
row("SpikeSource unsorted", lambda d: ns.SpikeSource([[3.0, 1.0]]), ValueError, "times[0]",
    "sorted", "3", "1")
row("SpikeSource unsorted second", lambda d: ns.SpikeSource([[1.0], [2.0, 5.0, 4.0]]),
    ValueError, "times[1]", "sorted", "5", "4")
row("SpikeSource str time", lambda d: ns.SpikeSource([["a"]]), TypeError, "times[0]", "'a'",
    "numbers")
row("SpikeSource None time", lambda d: ns.SpikeSource([None]), TypeError, "times[0]", "None")
row("SpikeSource complex", lambda d: ns.SpikeSource([[1 + 1j]]), TypeError, "times[0]",
    "complex")
row("SpikeSource inf", lambda d: ns.SpikeSource([[1.0, float("inf")]]), ValueError, "times[0]",
    "finite", "inf")

# -- connection rules -------------------------------------------------------------------------

for cls, args in ((ns.FixedIndegree, (10,)), (ns.FixedOutdegree, (10,)),
                  (ns.FixedTotalNumber, (10,))):
    for flag in ("allow_self", "multapses"):
        row(f"{cls.__name__} {flag}='no'", lambda d, c=cls, a=args, f=flag: c(*a, **{f: "no"}),
            TypeError, flag, "'no'", "True or False")
    row(f"{cls.__name__} multapses=0", lambda d, c=cls, a=args: c(*a, multapses=0), TypeError,
        "multapses", "0", "True or False")
    row(f"{cls.__name__} float", lambda d, c=cls: c(2.5), TypeError, "2.5", "integer")
    row(f"{cls.__name__} str", lambda d, c=cls: c("10"), TypeError, "'10'", "integer")
    row(f"{cls.__name__} negative", lambda d, c=cls: c(-3), ValueError, "-3", ">= 0")
    row(f"{cls.__name__} 10**10", lambda d, c=cls: c(10**10), ValueError, "10000000000",
        INT32_MAX)
row("FixedProbability allow_self='no'", lambda d: ns.FixedProbability(0.5, allow_self="no"),
    TypeError, "allow_self", "'no'", "True or False")
row("AllToAll allow_self='no'", lambda d: ns.AllToAll(allow_self="no"), TypeError,
    "allow_self", "'no'", "True or False")
row("AllToAll allow_self=None", lambda d: ns.AllToAll(allow_self=None), TypeError,
    "allow_self", "None", "True or False")
row("FixedProbability 1.5", lambda d: ns.FixedProbability(1.5), ValueError, "p", "1.5",
    "[0, 1]")
row("FixedProbability str", lambda d: ns.FixedProbability("0.1"), TypeError, "p", "'0.1'",
    "real number")
row("FixedProbability None", lambda d: ns.FixedProbability(None), TypeError, "p", "None")
row("FixedProbability nan", lambda d: ns.FixedProbability(float("nan")), ValueError, "p", "nan")
row("Explicit str", lambda d: ns.Explicit("ab", [1]), TypeError, "pre", "'ab'", "integer array")
row("Explicit floats", lambda d: ns.Explicit([0.5], [1]), TypeError, "pre", "float",
    "integer array")
row("Explicit lengths", lambda d: ns.Explicit([0, 1], [1]), ValueError, "pre and post", "2",
    "1")
row("Explicit None", lambda d: ns.Explicit([0], None), TypeError, "post", "None")

# -- distributions ----------------------------------------------------------------------------

row("Uniform str", lambda d: ns.Uniform("0", 1.0), TypeError, "low", "'0'", "real number")
row("Uniform None", lambda d: ns.Uniform(0.0, None), TypeError, "high", "None")
row("Uniform reversed", lambda d: ns.Uniform(2.0, 1.0), ValueError, "high", "low", "2.0")
row("Uniform inf", lambda d: ns.Uniform(0.0, float("inf")), ValueError, "high", "inf", "finite")
row("Normal std negative", lambda d: ns.Normal(0.0, -1.0), ValueError, "std", "-1.0", ">= 0")
row("Normal mean str", lambda d: ns.Normal("0", 1.0), TypeError, "mean", "'0'")
row("Normal low str", lambda d: ns.Normal(0.0, 1.0, low="a"), TypeError, "low", "'a'")
row("Normal bound", lambda d: ns.Normal(0.0, 1.0, bound="cut"), ValueError, "bound", "'cut'")
row("Normal reversed bounds", lambda d: ns.Normal(0.0, 1.0, low=2.0, high=1.0), ValueError,
    "high", "low")

# -- currents ---------------------------------------------------------------------------------

row("DCCurrent 1e39", lambda d: ns.DCCurrent(1e39), ValueError, "amplitude", "1e+39", F32)
row("DCCurrent array 1e39", lambda d: ns.DCCurrent(np.array([0.0, 5e38])), ValueError,
    "amplitude", "5e+38", F32)
row("DCCurrent str", lambda d: ns.DCCurrent("5"), TypeError, "amplitude", "'5'", "number")
row("DCCurrent None", lambda d: ns.DCCurrent(None), TypeError, "amplitude", "None")
row("DCCurrent nan", lambda d: ns.DCCurrent(float("nan")), ValueError, "amplitude", "finite")
row("DCCurrent start negative", lambda d: ns.DCCurrent(1.0, start=-1.0), ValueError, "start",
    "-1.0", ">= 0")
row("DCCurrent stop before start", lambda d: ns.DCCurrent(1.0, start=5.0, stop=1.0),
    ValueError, "stop", "start", "5.0", "1.0")
row("DCCurrent stop str", lambda d: ns.DCCurrent(1.0, stop="x"), TypeError, "stop", "'x'")
row("StepCurrent decreasing", lambda d: ns.StepCurrent([5.0, 1.0], [1.0, 2.0]), ValueError,
    "times", "strictly increasing")
row("StepCurrent empty", lambda d: ns.StepCurrent([], []), ValueError, "times", "empty")
row("StepCurrent lengths", lambda d: ns.StepCurrent([1.0, 2.0], [1.0]), ValueError,
    "amplitudes", "2", "1")
row("StepCurrent 1e39", lambda d: ns.StepCurrent([1.0], [1e39]), ValueError, "amplitudes[0]",
    "1e+39", F32)
row("StepCurrent str amplitude", lambda d: ns.StepCurrent([1.0, 2.0], [1.0, "a"]), TypeError,
    "amplitudes[1]", "'a'")
row("StepCurrent times str", lambda d: ns.StepCurrent("ab", [1.0]), TypeError, "times", "'ab'")

# -- add_population ---------------------------------------------------------------------------

row("add_population 10**11", lambda d: add_pop(10**11, ns.LIF()), ValueError, "n",
    "100000000000", INT32_MAX)
row("add_population total over int32", lambda d: two_populations_over_int32(), ValueError,
    "neurons", INT32_MAX)
row("add_population str", lambda d: add_pop("10", ns.LIF()), TypeError, "n", "'10'", "integer")
row("add_population float", lambda d: add_pop(10.0, ns.LIF()), TypeError, "n", "10.0",
    "integer")
row("add_population bool", lambda d: add_pop(True, ns.LIF()), TypeError, "n", "True",
    "integer")
row("add_population 0", lambda d: add_pop(0, ns.LIF()), ValueError, "n", "0", ">= 1")
row("add_population model str", lambda d: add_pop(10, "LIF"), TypeError, "model", "'LIF'",
    "neuron model")
row("add_population model class", lambda d: add_pop(10, ns.LIF), TypeError, "model", "LIF",
    "neuron model")
row("add_population name int", lambda d: add_pop(10, ns.LIF(), name=5), TypeError, "name", "5",
    "string")
row("add_population name empty", lambda d: add_pop(10, ns.LIF(), name=""), TypeError, "name",
    "''", "string")
row("add_population initial float", lambda d: add_pop(10, ns.LIF(), initial=-65.0), TypeError,
    "initial", "-65.0", "dict")
row("add_population initial list", lambda d: add_pop(10, ns.LIF(), initial=[("v", 1.0)]),
    TypeError, "initial", "dict")
row("add_population initial key", lambda d: add_pop(10, ns.LIF(), initial={1: 0.0}), TypeError,
    "initial", "1", "strings")
row("add_population initial unknown", lambda d: add_pop(10, ns.LIF(), initial={"w": 0.0}),
    ValueError, "'w'", "LIF", "'v'")
row("add_population initial str", lambda d: add_pop(10, ns.LIF(), initial={"v": "1"}),
    TypeError, "initial['v']", "'1'", "number")
row("add_population initial None", lambda d: add_pop(10, ns.LIF(), initial={"v": None}),
    TypeError, "initial['v']", "None")
row("add_population initial bool", lambda d: add_pop(10, ns.LIF(), initial={"v": True}),
    TypeError, "initial['v']", "True")
row("add_population initial 1e39", lambda d: add_pop(10, ns.LIF(), initial={"v": 1e39}),
    ValueError, "initial['v']", "1e+39", F32)
row("add_population initial length", lambda d: add_pop(10, ns.LIF(), initial={"v": [1.0, 2.0]}),
    ValueError, "initial['v']", "length 10", "2")
row("add_population initial complex",
    lambda d: add_pop(10, ns.LIF(), initial={"v": np.ones(10, complex)}), TypeError,
    "initial['v']", "complex")
row("add_population initial Uniform 1e300",
    lambda d: add_pop(10, ns.LIF(), initial={"v": ns.Uniform(0.0, 1e300)}), ValueError,
    "initial['v']", "Uniform.high", "1e+300", F32)
row("add_population size mismatch", lambda d: add_pop(3, ns.LIF(i_offset=np.ones(2))),
    ValueError, "i_offset", "2 values", "3 neurons")
row("add_population SpikeSource size", lambda d: add_pop(3, ns.SpikeSource([[1.0]])),
    ValueError, "SpikeSource", "1 neurons", "3")
row("dt too coarse for tau_refrac", lambda d: net(dt=50.0).add_population(
    1, ns.LIF(tau_refrac=2.0)), UserWarning, "tau_refrac = 2 ms", "dt = 50 ms",
    "0 refractory steps")
row("dt coarse for LIFCond tau_refrac", lambda d: net(dt=1.5).add_population(
    1, ns.LIFCond(tau_refrac=2.0)), UserWarning, "tau_refrac = 2 ms", "dt = 1.5 ms",
    "1 refractory steps")

# -- connect ----------------------------------------------------------------------------------

row("connect weight str", lambda d: connect(weight="1.0"), TypeError, "weight", "'1.0'",
    "number", "distribution")
row("connect weight None", lambda d: connect(weight=None), TypeError, "weight", "None",
    "number")
row("connect weight bool", lambda d: connect(weight=True), TypeError, "weight", "True")
row("connect weight dict", lambda d: connect(weight={"w": 1}), TypeError, "weight", "dict")
row("connect weight 1e300", lambda d: connect(weight=1e300), ValueError, "weight", "1e+300", F32)
row("connect weight -1e39 inhibitory",
    lambda d: connect(weight=-1e39, receptor="inhibitory"), ValueError, "weight", "-1e+39", F32)
row("connect weight array 1e39", lambda d: connect(weight=np.full(100, 1e39)), ValueError,
    "weight", "1e+39", F32)
row("connect weight complex array", lambda d: connect(weight=np.ones(100, complex)), TypeError,
    "weight", "complex")
row("connect weight str array", lambda d: connect(weight=["1"] * 100), TypeError, "weight",
    "string")
row("connect weight Normal 1e39", lambda d: connect(weight=ns.Normal(1e39, 1.0, low=0.0)),
    ValueError, "weight", "Normal.mean", "1e+39", F32)
row("connect weight Uniform 1e300", lambda d: connect(weight=ns.Uniform(0.0, 1e300)),
    ValueError, "weight", "Uniform.high", "1e+300", F32)
row("connect weight nan", lambda d: connect(weight=float("nan")), ValueError, "weight", "nan",
    "finite")
row("connect weight negative excitatory", lambda d: connect(weight=-1.0), ValueError,
    "excitatory", ">= 0", "-1.0")
row("connect weight positive inhibitory", lambda d: connect(weight=1.0, receptor="inhibitory"),
    ValueError, "inhibitory", "<= 0", "1.0")
row("connect weight array unordered",
    lambda d: connect(weight=np.ones(5), rule=ns.FixedProbability(0.1)), ValueError, "weight",
    "defined synapse order")
row("connect weight array length", lambda d: connect(weight=[1.0] * 3), ValueError, "weight",
    "length 100", "3")
row("connect delay str", lambda d: connect(delay="1"), TypeError, "delay", "'1'", "number")
row("connect delay bool", lambda d: connect(delay=True), TypeError, "delay", "True")
row("connect delay 0", lambda d: connect(delay=0.0), ValueError, "delay", ">= dt", "0.0")
row("connect receptor int", lambda d: connect(receptor=1), ValueError, "receptor", "1",
    "one of")
row("connect receptor gaba", lambda d: connect(receptor="gaba"), ValueError, "receptor",
    "'gaba'", "one of")
row("connect rule str", lambda d: connect(rule="all"), TypeError, "rule", "'all'",
    "connection rule")
row("connect rule class", lambda d: connect(rule=ns.AllToAll), TypeError, "rule", "AllToAll",
    "connection rule")
row("connect name int", lambda d: connect(name=5), TypeError, "name", "5", "string")
row("connect plasticity str", lambda d: connect(plasticity="stdp"), TypeError, "plasticity",
    "'stdp'", "plasticity rule")
row("connect pre str", lambda d: net().connect("a", lif()[1], ns.AllToAll(), weight=1.0),
    TypeError, "pre", "'a'", "Population")
row("connect FixedIndegree over int32", lambda d: connect(rule=ns.FixedIndegree(10**9)),
    ValueError, "FixedIndegree", "10000000000", "synapses", INT32_MAX)
row("connect FixedProbability over int32", lambda d: big_connect(ns.FixedProbability(1.0)),
    ValueError, "FixedProbability", "50000", "synapses", INT32_MAX)
row("connect AllToAll over int32", lambda d: big_connect(ns.AllToAll()), ValueError,
    "AllToAll", "2500000000", INT32_MAX)
row("connect FixedIndegree without multapses", lambda d: connect(
    rule=ns.FixedIndegree(11, multapses=False)), ValueError, "k=11", "10 eligible")
row("connect population of another network", lambda d: net().connect(
    lif()[1], lif()[1], ns.OneToOne(), weight=1.0), ValueError, "pre", "'a'", "another network")
row("connect OneToOne sizes", lambda d: (lambda nt, a: nt.connect(
    a, nt.add_population(3, ns.LIF()), ns.OneToOne(), weight=1.0))(*lif()), ValueError,
    "OneToOne", "10", "3")

# -- add_poisson_input, inject, homeostasis, learning switch ----------------------------------

row("poisson rate str", lambda d: (lambda nt, a: nt.add_poisson_input(a, rate="5",
                                                                          weight=1.0))(*lif()),
    TypeError, "rate", "'5'", "real number")
row("poisson rate negative", lambda d: (lambda nt, a: nt.add_poisson_input(a, rate=-5.0,
                                                                           weight=1.0))(*lif()),
    ValueError, "rate", "-5.0", ">= 0")
row("poisson weight 1e39", lambda d: (lambda nt, a: nt.add_poisson_input(a, rate=5.0,
                                                                         weight=1e39))(*lif()),
    ValueError, "weight", "1e+39", F32)
row("poisson weight str", lambda d: (lambda nt, a: nt.add_poisson_input(a, rate=5.0,
                                                                        weight="1"))(*lif()),
    TypeError, "weight", "'1'")
row("poisson n_sources float", lambda d: (lambda nt, a: nt.add_poisson_input(
    a, rate=5.0, weight=1.0, n_sources=1.5))(*lif()), TypeError, "n_sources", "1.5", "integer")
row("poisson n_sources 0", lambda d: (lambda nt, a: nt.add_poisson_input(
    a, rate=5.0, weight=1.0, n_sources=0))(*lif()), ValueError, "n_sources", "0", ">= 1")
row("poisson receptor", lambda d: (lambda nt, a: nt.add_poisson_input(
    a, rate=5.0, weight=1.0, receptor="x"))(*lif()), ValueError, "receptor", "'x'")
row("poisson too many spikes", lambda d: (lambda nt, a: nt.add_poisson_input(
    a, rate=1e6, weight=1.0, n_sources=10**6))(*lif()), ValueError, "n_sources * rate * dt",
    "too large")
row("inject float", lambda d: (lambda nt, a: nt.inject(a, 5.0))(*lif()), TypeError, "current",
    "5.0", "DCCurrent")
row("inject size", lambda d: (lambda nt, a: nt.inject(a, ns.DCCurrent(np.ones(4))))(*lif()),
    ValueError, "amplitude", "4 values", "10 neurons")
row("inject sum over float32", lambda d: two_currents(3e38), ValueError, "sum of the currents",
    "6e+38", F32)
row("homeostasis rule str", lambda d: homeostasis("x"), TypeError, "rule", "'x'",
    "homeostatic rule")
row("homeostasis on Izhikevich", lambda d: homeostasis(ns.AdaptiveThreshold(),
                                                       model=ns.Izhikevich()),
    ValueError, "Izhikevich", "v_thresh")
row("homeostasis attached twice", lambda d: twice_attached(), ValueError, "already attached")
row("set_learning str", lambda d: lif()[0].set_learning("no"), TypeError, "enabled", "'no'",
    "True or False")
row("set_learning int", lambda d: lif()[0].set_learning(1), TypeError, "enabled", "1",
    "True or False")

# -- monitors and run -------------------------------------------------------------------------

row("record_spikes index", lambda d: (lambda nt, a: nt.record_spikes(a, indices=[0, 10]))(*lif()),
    ValueError, "index 10", "size 10")
row("record_spikes float indices", lambda d: (lambda nt, a: nt.record_spikes(
    a, indices=[0.5]))(*lif()), TypeError, "indices", "float64", "integer")
row("record_spikes repeated", lambda d: (lambda nt, a: nt.record_spikes(
    a, indices=[1, 1]))(*lif()), ValueError, "indices", "repeat")
row("record_state variable", lambda d: (lambda nt, a: nt.record_state(a, "g_e"))(*lif()),
    ValueError, "variable", "'g_e'", "one of")
row("record_state variable int", lambda d: (lambda nt, a: nt.record_state(a, 0))(*lif()),
    ValueError, "variable", "0", "one of")
row("record_state every 0", lambda d: (lambda nt, a: nt.record_state(a, "v", every=0))(*lif()),
    ValueError, "every", "0", ">= 1")
row("record_state every float", lambda d: (lambda nt, a: nt.record_state(
    a, "v", every=1.5))(*lif()), TypeError, "every", "1.5", "integer")
row("record_rate bin", lambda d: (lambda nt, a: nt.record_rate(a, bin_size=0.25))(*lif()),
    ValueError, "bin_size", "multiple of dt", "0.25")
row("record_rate bin str", lambda d: (lambda nt, a: nt.record_rate(a, bin_size="1"))(*lif()),
    TypeError, "bin_size", "'1'")
row("run negative", lambda d: lif()[0].run(-1.0), ValueError, "duration", "-1.0", ">= 0")
row("run str", lambda d: lif()[0].run("10"), TypeError, "duration", "'10'", "real number")
row("run None", lambda d: lif()[0].run(None), TypeError, "duration", "None")
row("run not multiple", lambda d: lif()[0].run(0.05), ValueError, "duration", "multiple of dt",
    "0.05")
row("run progress str", lambda d: lif()[0].run(1.0, progress="yes"), TypeError, "progress",
    "bool or a callable")
row("run empty", lambda d: net().run(1.0), ValueError, "no populations")
row("rates window", lambda d: (lambda nt, a: nt.record_spikes(a).rates(5.0, 1.0))(*lif()),
    ValueError, "t_stop", "t_start", "5.0", "1.0")

# -- plasticity and homeostasis rules ---------------------------------------------------------

row("STDP A_plus str", lambda d: ns.STDP(A_plus="0.1"), TypeError, "A_plus", "'0.1'",
    "real number")
row("STDP A_plus negative", lambda d: ns.STDP(A_plus=-1.0), ValueError, "A_plus", "-1.0",
    ">= 0")
row("STDP tau_plus 0", lambda d: ns.STDP(tau_plus=0.0), ValueError, "tau_plus", "0.0", "> 0")
row("STDP tau_minus None", lambda d: ns.STDP(tau_minus=None), TypeError, "tau_minus", "None")
row("STDP bounds", lambda d: ns.STDP(w_min=1.0, w_max=0.0), ValueError, "w_max", "w_min", "1.0")
row("STDP w_max 1e39", lambda d: ns.STDP(w_max=1e39), ValueError, "w_max", "1e+39", F32)
row("STDP pairing", lambda d: ns.STDP(pairing="x"), ValueError, "pairing", "'x'", "one of")
row("STDP pairing int", lambda d: ns.STDP(pairing=1), ValueError, "pairing", "1", "one of")
row("STDP update", lambda d: ns.STDP(update="x"), ValueError, "update", "'x'", "one of")
row("STDP enabled str", lambda d: setattr_(ns.STDP(), "enabled", "no"), TypeError, "enabled",
    "'no'", "True or False")
row("STDP enabled int", lambda d: setattr_(ns.STDP(), "enabled", 1), TypeError, "enabled", "1",
    "True or False")
row("STDP weights outside bounds", lambda d: plastic(ns.STDP(), weight=2.0), ValueError,
    "within [w_min, w_max]", "2.0")
row("STDP w_min negative on excitatory", lambda d: plastic(ns.STDP(w_min=-1.0)), ValueError,
    "w_min", ">= 0", "-1.0")
_RULE = dict(parameters={"A": 0.01, "tau": 20.0}, pre_traces={"x": "tau"},
             post_traces={"y": "tau"}, on_pre="w -= A * y", on_post="w += A * x")
row("PlasticityModel unknown name in on_pre",
    lambda d: ns.PlasticityModel("r", **dict(_RULE, on_pre="w -= A * z")), ValueError,
    "'r'", "on_pre line 1", "'z'")
row("PlasticityModel parameter assigned",
    lambda d: ns.PlasticityModel("r", **dict(_RULE, on_post="tau = 1.0")), ValueError,
    "'r'", "on_post line 1", "'tau'", "parameter")
row("PlasticityModel trace tau not a parameter",
    lambda d: ns.PlasticityModel("r", **dict(_RULE, pre_traces={"x": "tau_x"})), ValueError,
    "'r'", "'x'", "'tau_x'")
row("PlasticityModel rule tau 0",
    lambda d: ns.PlasticityModel("r", **_RULE)(tau=0.0), ValueError, "tau", "0.0", "> 0")
row("PlasticityModel rule unknown parameter",
    lambda d: ns.PlasticityModel("r", **_RULE)(B=1.0), ValueError, "'B'", "parameters")
row("TripletSTDP A3_plus negative", lambda d: ns.TripletSTDP(A3_plus=-1.0), ValueError,
    "A3_plus", "-1.0", ">= 0")
row("TripletSTDP tau_x str", lambda d: ns.TripletSTDP(tau_x="a"), TypeError, "tau_x", "'a'")
row("TripletSTDP pairing", lambda d: ns.TripletSTDP(pairing="nearest_reduced"), ValueError,
    "pairing", "'nearest_reduced'", "one of")
row("RewardSTDP tau_c 0", lambda d: ns.RewardSTDP(tau_c=0.0), ValueError, "tau_c", "0.0", "> 0")
row("RewardSTDP baseline negative", lambda d: ns.RewardSTDP(baseline=-1.0), ValueError,
    "baseline", "-1.0", ">= 0")
row("RewardSTDP reward str", lambda d: ns.RewardSTDP().deliver_reward("1"), TypeError, "amount",
    "'1'", "real number")
row("RewardSTDP reward unbuilt", lambda d: ns.RewardSTDP().deliver_reward(1.0), RuntimeError,
    "deliver_reward", "not built")
row("AdaptiveThreshold enabled str", lambda d: setattr_(ns.AdaptiveThreshold(), "enabled", "no"),
    TypeError, "enabled", "'no'", "True or False")
row("AdaptiveThreshold enabled None", lambda d: setattr_(ns.AdaptiveThreshold(), "enabled",
                                                         None),
    TypeError, "enabled", "None", "True or False")
row("AdaptiveThreshold theta_plus negative", lambda d: ns.AdaptiveThreshold(theta_plus=-1.0),
    ValueError, "theta_plus", "-1.0", ">= 0")
row("AdaptiveThreshold tau_theta str", lambda d: ns.AdaptiveThreshold(tau_theta="x"), TypeError,
    "tau_theta", "'x'")
row("AdaptiveThreshold theta_init 1e39", lambda d: ns.AdaptiveThreshold(theta_init=1e39),
    ValueError, "theta_init", "1e+39", F32)
row("AdaptiveThreshold theta unbuilt", lambda d: ns.AdaptiveThreshold().theta, RuntimeError,
    "theta", "not built")
row("IntrinsicPlasticity theta_min str", lambda d: ns.IntrinsicPlasticity(5.0, theta_min="abc"),
    TypeError, "theta_min", "'abc'", "real number")
row("IntrinsicPlasticity theta_max nan",
    lambda d: ns.IntrinsicPlasticity(5.0, theta_max=float("nan")), ValueError, "theta_max",
    "nan")
row("IntrinsicPlasticity theta_min 1e39", lambda d: ns.IntrinsicPlasticity(5.0, theta_min=1e39),
    ValueError, "theta_min", "1e+39", F32)
row("IntrinsicPlasticity theta order",
    lambda d: ns.IntrinsicPlasticity(5.0, theta_min=2.0, theta_max=1.0), ValueError,
    "theta_min", "theta_max", "2.0")
row("IntrinsicPlasticity target 0", lambda d: ns.IntrinsicPlasticity(0.0), ValueError,
    "target_rate", "0.0", "> 0")
row("IntrinsicPlasticity target str", lambda d: ns.IntrinsicPlasticity("5"), TypeError,
    "target_rate", "'5'")
row("SynapticScaling projections ['x']",
    lambda d: ns.SynapticScaling(target_rate=5.0, projections=["x"]), TypeError,
    "projections[0]", "'x'", "Projection")
row("SynapticScaling projections str",
    lambda d: ns.SynapticScaling(target_rate=5.0, projections="x"), TypeError, "projections",
    "'x'", "list")
row("SynapticScaling neither target", lambda d: ns.SynapticScaling(), ValueError, "exactly one",
    "target_rate", "target_total")
row("SynapticScaling both targets",
    lambda d: ns.SynapticScaling(target_rate=5.0, target_total=1.0), ValueError, "exactly one")
row("SynapticScaling eta negative", lambda d: ns.SynapticScaling(target_rate=5.0, eta=-1.0),
    ValueError, "eta", "-1.0", ">= 0")
row("SynapticScaling interval str", lambda d: ns.SynapticScaling(target_rate=5.0, interval="x"),
    TypeError, "interval", "'x'")

# -- reference networks and tasks -------------------------------------------------------------

BRUNEL = dict(n_exc=100, device="cpu", seed=1)
row("brunel J=0", lambda d: ns.networks.brunel_2000(J=0, **BRUNEL), ValueError, "J", "0", "> 0")
row("brunel epsilon=0", lambda d: ns.networks.brunel_2000(epsilon=0, **BRUNEL), ValueError,
    "epsilon", "0", "> 0")
row("brunel epsilon=1.5", lambda d: ns.networks.brunel_2000(epsilon=1.5, **BRUNEL), ValueError,
    "epsilon", "1.5", "(0, 1]")
row("brunel g=-1", lambda d: ns.networks.brunel_2000(g=-1, **BRUNEL), ValueError, "g", "-1",
    ">= 0")
row("brunel eta=-1", lambda d: ns.networks.brunel_2000(eta=-1, **BRUNEL), ValueError, "eta",
    "-1", ">= 0")
row("brunel gamma=0", lambda d: ns.networks.brunel_2000(gamma=0, **BRUNEL), ValueError, "gamma",
    "0", "> 0")
row("brunel tiny", lambda d: ns.networks.brunel_2000(n_exc=4, device="cpu"), ValueError,
    "epsilon * n_exc", "0", "at least 1")
row("brunel n_exc float", lambda d: ns.networks.brunel_2000(n_exc=100.5, device="cpu"),
    TypeError, "n_exc", "100.5", "integer")
row("brunel J str", lambda d: ns.networks.brunel_2000(J="0.1", **BRUNEL), TypeError, "J",
    "'0.1'", "real number")
row("brunel delay 0", lambda d: ns.networks.brunel_2000(delay=0.0, **BRUNEL), ValueError,
    "delay", "0.0", "> 0")
row("brunel tau_m 0", lambda d: ns.networks.brunel_2000(tau_m=0.0, **BRUNEL), ValueError,
    "tau_m", "0.0", "> 0")
row("brunel record str", lambda d: ns.networks.brunel_2000(record="yes", **BRUNEL), TypeError,
    "record", "'yes'", "True or False")
row("coba p", lambda d: ns.networks.vogels_abbott_coba(p=2.0, device="cpu"), ValueError, "p",
    "2.0", "[0, 1]")
row("coba n_exc 0", lambda d: ns.networks.vogels_abbott_coba(n_exc=0, device="cpu"), ValueError,
    "n_exc", "0", ">= 1")
row("coba w_exc negative", lambda d: ns.networks.vogels_abbott_coba(w_exc=-1.0, device="cpu"),
    ValueError, "w_exc", "-1.0", ">= 0")
row("coba record int", lambda d: ns.networks.vogels_abbott_coba(record=1, device="cpu"),
    TypeError, "record", "1", "True or False")
row("potjans scale", lambda d: ns.networks.potjans_diesmann(scale=2.0, device="cpu"),
    ValueError, "scale", "2.0", "(0, 1]")
row("potjans scale str", lambda d: ns.networks.potjans_diesmann(scale="1", device="cpu"),
    TypeError, "scale", "'1'")
row("potjans thalamic str", lambda d: ns.networks.potjans_diesmann(
    scale=0.01, thalamic="yes", device="cpu"), TypeError, "thalamic", "'yes'", "True or False")
row("potjans background", lambda d: ns.networks.potjans_diesmann(background="x", device="cpu"),
    ValueError, "background", "'x'")
row("potjans thalamic_rate", lambda d: ns.networks.potjans_diesmann(
    scale=0.01, thalamic_rate=-1.0, device="cpu"), ValueError, "thalamic_rate", "-1.0", ">= 0")
row("task seed", lambda d: ns.tasks.pattern_learning(seed=-1), ValueError, "seed", "-1", ">= 0")
row("task device", lambda d: ns.tasks.pattern_learning(device="gpu"), ValueError, "device",
    "'gpu'", "one of")
row("task params", lambda d: ns.tasks.sequence_learning(params={}), TypeError, "params", "dict",
    "SequenceParams")
row("task quick", lambda d: ns.tasks.homeostatic_adaptation(quick="yes"), TypeError, "quick",
    "'yes'", "True or False")
row("task progress", lambda d: ns.tasks.homeostatic_adaptation(progress="x"), TypeError,
    "progress", "'x'")
T = ns.tasks
row("pattern n_neurons", lambda d: T.PatternParams(n_neurons=0), ValueError, "n_neurons", "0",
    ">= 1")
row("pattern n_train float", lambda d: T.PatternParams(n_train=10.0), TypeError, "n_train",
    "10.0", "integer")
row("pattern split too big", lambda d: T.PatternParams(n_train=1500, n_test=400), ValueError,
    "n_train + n_test", "1500 + 400", "1797")
row("pattern n_label", lambda d: T.PatternParams(n_train=100, n_label=200), ValueError,
    "n_label", "200", "n_train = 100")
row("pattern rate_max", lambda d: T.PatternParams(rate_max=-1.0), ValueError, "rate_max",
    "-1.0", "> 0")
row("pattern input_total", lambda d: T.PatternParams(input_total=-5.0), ValueError,
    "input_total", "-5.0", ">= 0")
row("pattern w_inh", lambda d: T.PatternParams(w_inh=-3.0), ValueError, "w_inh", "-3.0", ">= 0")
row("pattern threshold", lambda d: T.PatternParams(threshold=1.5), ValueError, "threshold",
    "1.5", "[0, 1]")
row("pattern reversal order", lambda d: T.PatternParams(e_rev_I=-60.0), ValueError, "e_rev_I",
    "-60.0")
row("pattern control", lambda d: T.PatternParams(control="yes"), TypeError, "control", "'yes'",
    "True or False")
row("pattern min_spikes", lambda d: T.PatternParams(min_spikes=-1), ValueError, "min_spikes",
    "-1", ">= 0")
row("pattern boost", lambda d: T.PatternParams(boost=-0.5), ValueError, "boost", "-0.5", ">= 0")
row("pattern seeds", lambda d: T.PatternParams(seeds=0), ValueError, "seeds", "0", ">= 1")
row("pattern label_rule", lambda d: T.PatternParams(label_rule="knn"), ValueError, "label_rule",
    "'knn'", "vote")
row("pattern t_eval", lambda d: T.PatternParams(t_eval=0.0), ValueError, "t_eval", "0.0", "> 0")
row("pattern theta_init_max", lambda d: T.PatternParams(theta_init_max=-1.0), ValueError,
    "theta_init_max", "-1.0", ">= 0")
row("digits split", lambda d: T.digits.split(1000, 1000, 0), ValueError, "n_train + n_test",
    "1797")
row("sequence intervals empty", lambda d: T.SequenceParams(intervals=()), ValueError,
    "intervals", "()", "non-empty")
row("sequence interval negative", lambda d: T.SequenceParams(intervals=(10.0, -5.0)),
    ValueError, "intervals", "-5.0", "> 0")
row("sequence delays", lambda d: T.SequenceParams(delay_min=50.0, delay_max=20.0), ValueError,
    "delay_min", "50.0", "delay_max = 20.0")
row("sequence delay_min < dt", lambda d: T.SequenceParams(delay_min=0.1), ValueError,
    "delay_min", "0.1", "dt = 0.5")
row("sequence w_global", lambda d: T.SequenceParams(w_global=1.0), ValueError, "w_global",
    "1.0", "<= 0")
row("sequence w_init", lambda d: T.SequenceParams(w_init=10.0), ValueError, "w_init", "10.0",
    "w_max")
row("sequence n_assemblies", lambda d: T.SequenceParams(n_assemblies=1), ValueError,
    "n_assemblies", "1", ">= 2")
row("sequence n_shuffles", lambda d: T.SequenceParams(n_shuffles=0), ValueError, "n_shuffles",
    "0", ">= 1")
row("sequence tolerance", lambda d: T.SequenceParams(tolerance=-0.1), ValueError, "tolerance",
    "-0.1", ">= 0")
row("sequence train_bias", lambda d: T.SequenceParams(train_bias=5.0), ValueError, "train_bias",
    "5.0", "<= 0")
row("sequence k_rec", lambda d: T.SequenceParams(k_rec=0), ValueError, "k_rec", "0", ">= 1")
row("sequence c_pre", lambda d: T.SequenceParams(c_pre=-1.0), ValueError, "c_pre", "-1.0",
    ">= 0")
row("sequence w_total", lambda d: T.SequenceParams(w_total=-1.0), ValueError, "w_total",
    "-1.0", ">= 0")
row("sequence scale_every", lambda d: T.SequenceParams(scale_every=0.0), ValueError,
    "scale_every", "0.0", "> 0")
row("homeostasis rates", lambda d: T.HomeostasisParams(rates=(1.0,)), ValueError,
    "rates and durations", "1 and 3")
row("homeostasis rate negative", lambda d: T.HomeostasisParams(rates=(1.0, -2.0, 1.0)),
    ValueError, "rates", "-2.0", ">= 0")
row("homeostasis rec_indegree", lambda d: T.HomeostasisParams(rec_indegree=900), ValueError,
    "rec_indegree", "900", "n_neurons = 800")
row("homeostasis n_inh", lambda d: T.HomeostasisParams(n_inh=5), ValueError, "n_inh", "5",
    "rec_indegree // 4")
row("homeostasis w_inh", lambda d: T.HomeostasisParams(w_inh=1.0), ValueError, "w_inh", "1.0",
    "<= 0")
row("homeostasis delay", lambda d: T.HomeostasisParams(delay=0.01), ValueError, "delay",
    "0.01", "dt = 0.1")
row("homeostasis control", lambda d: T.HomeostasisParams(control=1), TypeError, "control", "1",
    "True or False")

# -- rows that reach an engine (cpu and cuda:host) --------------------------------------------

STATE_VARS = [(ns.LIF, "v"), (ns.LIF, "i_syn_e"), (ns.LIF, "i_syn_i"), (ns.LIFCond, "g_e"),
              (ns.AdEx, "v"), (ns.AdEx, "w"), (ns.Izhikevich, "v"), (ns.Izhikevich, "u")]
for cls, var in STATE_VARS:
    row(f"set_state {cls.__name__}.{var} 1e300",
        lambda d, c=cls, v=var: built_state(d, c(), v, 1e300), ValueError, "value", "1e+300",
        F32, engine=True)
row("set_state complex", lambda d: built_state(d, ns.LIF(), "v", np.ones(4, complex)),
    TypeError, "value", "complex", engine=True)
row("set_state str", lambda d: built_state(d, ns.LIF(), "v", "1"), TypeError, "value", "'1'",
    engine=True)
row("set_state None", lambda d: built_state(d, ns.LIF(), "v", None), TypeError, "value", "None",
    engine=True)
row("set_state bool", lambda d: built_state(d, ns.LIF(), "v", True), TypeError, "value", "True",
    engine=True)
row("set_state nan", lambda d: built_state(d, ns.LIF(), "v", float("nan")), ValueError, "value",
    "nan", "finite", engine=True)
row("set_state length", lambda d: built_state(d, ns.LIF(), "v", [1.0] * 3), ValueError, "value",
    "length 4", "3", engine=True)
row("set_state array 1e39", lambda d: built_state(d, ns.LIF(), "v", np.full(4, -1e39)),
    ValueError, "value", "-1e+39", F32, engine=True)
row("set_state unknown variable", lambda d: built_state(d, ns.LIF(), "w", 0.0), ValueError,
    "variable", "'w'", "one of", engine=True)
row("proj.weights 1e300", lambda d: built_weights(d, 1e300), ValueError, "weights", "1e+300",
    F32, engine=True)
row("proj.weights array 1e39", lambda d: built_weights(d, np.full(100, 1e39)), ValueError,
    "weights", "1e+39", F32, engine=True)
row("proj.weights str", lambda d: built_weights(d, "1"), TypeError, "weights", "'1'",
    engine=True)
row("proj.weights complex", lambda d: built_weights(d, np.ones(100, complex)), TypeError,
    "weights", "complex", engine=True)
row("proj.weights length", lambda d: built_weights(d, [1.0]), ValueError, "weights",
    "length 100", engine=True)
row("proj.weights sign", lambda d: built_weights(d, -1.0), ValueError, "excitatory", ">= 0",
    engine=True)
row("derived constant overflows", lambda d: lif(d, model=ns.LIF(cm=1e-300))[0].build(),
    ValueError, "LIF", "P20", "dt = 0.1", F32, engine=True)
row("AdEx derived constant overflows", lambda d: lif(d, model=ns.AdEx(cm=1e-300))[0].build(),
    ValueError, "AdEx", "h_over_cm", F32, engine=True)
row("drawn weight beyond float32",
    lambda d: connect(d, weight=ns.Normal(0.0, 3e38, low=0.0)).network.build(), ValueError,
    "weight", "drawn from", F32, engine=True)
row("drawn initial state beyond float32",
    lambda d: net(d).add_population(100, ns.LIF(), initial={"v": ns.Normal(0.0, 3e38)})
    .network.build(), ValueError, "initial['v']", "drawn from", F32, engine=True)
row("PoissonSource rate * dt > 1", lambda d: run_net(
    d, lambda nt: nt.add_population(3, ns.PoissonSource(rate=20000.0))), ValueError,
    "rate * dt", "<= 1", "20000", engine=True)
row("SpikeSource before dt", lambda d: run_net(
    d, lambda nt: nt.add_population(1, ns.SpikeSource([[0.0, 1.0]]))), ValueError, "times[0]",
    ">= dt", engine=True)


def _overflowing_synapses(nt):
    src = nt.add_population(2, ns.SpikeSource([[1.0], [1.0]]))
    post = nt.add_population(3, ns.LIF(), name="post")
    nt.connect(src, post, ns.AllToAll(), weight=3e38)


def _exploding_adex(nt):
    nt.add_population(5, ns.LIF(i_offset=400.0), name="fine", initial={"v": -55.1})
    nt.add_population(3, ns.AdEx(tau_w=0.01, i_offset=np.array([0.0, 500.0, 0.0])),
                      name="exploding")


row("i_syn_e overflows in a run", lambda d: run_net(d, _overflowing_synapses),
    ns.SimulationError, "'post'", "'i_syn_e'", "neuron 0", "t = 1.0 ms and t = 1.1 ms",
    engine=True)
row("AdEx w blows up in a run", lambda d: run_net(d, _exploding_adex), ns.SimulationError,
    "'exploding'", "'w'", "neuron 1", "t = 4.1 ms and t = 4.2 ms", engine=True)


# -- stimulus protocols and plasticity state (neurosim.engine.stimulus, engine.state) ------------

def stim_net(dev="cpu"):
    nt = net(dev)
    src = nt.add_population(4, ns.PoissonSource(rate=10.0), name="src")
    ss = nt.add_population(2, ns.SpikeSource([[1.0], [2.0]]), name="ss")
    a = nt.add_population(3, ns.LIF(), name="a")
    drive = nt.add_poisson_input(a, rate=100.0, weight=1.0, n_sources=2)
    nt.connect(src, a, ns.AllToAll(), weight=1.0)
    return nt, src, ss, a, drive


def stim_call(dev, fn):
    nt, src, ss, a, drive = stim_net(dev)
    nt.run(5.0)
    fn(nt, src, ss, a, drive)


def plastic_net(dev="cpu"):
    nt = net(dev)
    src = nt.add_population(4, ns.PoissonSource(rate=10.0), name="src")
    a = nt.add_population(3, ns.LIF(), name="a")
    proj = nt.connect(src, a, ns.AllToAll(), weight=0.5, plasticity=ns.STDP(w_max=1.0))
    static = nt.connect(a, a, ns.AllToAll(), weight=1.0)
    rule = nt.add_homeostasis(a, ns.AdaptiveThreshold())
    nt.build()
    return nt, proj, static, rule, a


def plastic_call(dev, fn):
    fn(*plastic_net(dev))


row("set_rates negative", lambda d: stim_call(d, lambda n, s, ss, a, dr: n.set_rates(s, -1.0)),
    ValueError, "set_rates()", "rates must be >= 0", "-1", engine=True)
row("set_rates rate * dt > 1", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.set_rates(s, [10.0, 10.0, 2e4, 1.0])), ValueError,
    "set_rates()", "rate * dt must be <= 1", "20000", engine=True)
row("set_rates wrong length", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.set_rates(s, [1.0, 2.0])), ValueError, "set_rates()", "rates",
    "length 4", "got 2", engine=True)
row("set_rates on a LIF population", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.set_rates(a, 5.0)), ValueError, "set_rates()", "'a'", "LIF",
    "PoissonSource", engine=True)
row("set_rates target not a population", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.set_rates("src", 5.0)), TypeError, "set_rates()", "target",
    "'src'", "PoissonSource population")
row("set_rates drive per neuron", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.set_rates(dr, [1.0, 2.0, 3.0])), TypeError, "set_rates()",
    "one rate", "[1.0, 2.0, 3.0]", engine=True)
row("set_rates drive too many spikes per step", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.set_rates(dr, 1e7)), ValueError, "set_rates()",
    "n_sources * rate * dt", "2000", engine=True)
row("set_rates times not increasing", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.set_rates(s, [1.0, 2.0], times=[20.0, 10.0])), ValueError,
    "set_rates()", "times must be strictly increasing", "20 then 10", engine=True)
row("set_rates times collide on the grid", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.set_rates(s, [1.0, 2.0], times=[10.0, 10.01])), ValueError,
    "set_rates()", "strictly increasing after rounding", "10.01", engine=True)
row("set_rates table shape", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.set_rates(s, np.ones((2, 3)), times=[10.0, 20.0])),
    ValueError, "set_rates()", "rates must have shape (2,)", "(2, 4)", "(2, 3)", engine=True)
row("set_rates times negative", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.set_rates(s, [1.0], times=[-5.0])), ValueError,
    "set_rates()", "times must be >= 0", "-5", engine=True)
row("set_rates times empty", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.set_rates(s, [], times=[])), ValueError, "set_rates()",
    "times must not be empty")
row("set_state rate string", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.set_state(s, "rate", "fast")), TypeError, "set_rates()",
    "rates", "'fast'")
row("get_state unknown variable of a source", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.get_state(s, "v")), ValueError, "get_state()", "variable",
    "['rate']", "'v'")
row("set_spike_times on a PoissonSource", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.set_spike_times(s, [[9.0]] * 4)), ValueError,
    "set_spike_times()", "'src'", "not a SpikeSource")
row("set_spike_times wrong count", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.set_spike_times(ss, [[9.0]])), ValueError,
    "set_spike_times()", "1 neurons", "'ss' has 2", engine=True)
row("set_spike_times unsorted", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.set_spike_times(ss, [[9.0, 8.0], []])), ValueError,
    "set_spike_times()", "times[0] must be sorted", "9 before 8", engine=True)
row("set_spike_times in the past", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.set_spike_times(ss, [[3.0], []])), ValueError,
    "set_spike_times()", "times[0]", "3 ms", "t = 5 ms", ">= t + dt = 5.1 ms", engine=True)
row("set_spike_times not a sequence", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.set_spike_times(ss, 7.0)), TypeError, "set_spike_times()",
    "times must be a sequence", "7.0")
row("set_spike_times append not a bool", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.set_spike_times(ss, [[9.0], []], append="yes")), TypeError,
    "set_spike_times()", "append", "'yes'")
row("set_current on a source", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.set_current(s, 10.0)), ValueError, "set_current()", "'src'",
    "spike source")
row("set_current wrong length", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.set_current(a, [1.0, 2.0])), ValueError, "set_current()",
    "amplitude", "length 3", engine=True)
row("set_current non-finite", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.set_current(a, float("nan"))), ValueError, "set_current()",
    "amplitude", "nan", engine=True)
row("set_current beyond float32", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.set_current(a, 1e39)), ValueError, "set_current()",
    "amplitude", F32, engine=True)
row("run every without callback", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.run(10.0, every=1.0)), ValueError, "run()",
    "every and callback go together", "callback=None")
row("run callback not callable", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.run(10.0, every=1.0, callback=3)), TypeError, "run()",
    "callback must be callable", "3")
row("run every not a multiple of dt", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.run(10.0, every=0.25, callback=print)), ValueError, "run()",
    "every must be a multiple of dt", "0.25")
row("run every zero", lambda d: stim_call(
    d, lambda n, s, ss, a, dr: n.run(10.0, every=0.0, callback=print)), ValueError, "run()",
    "every must be > 0", "0.0")
row("get_state static projection", lambda d: plastic_call(
    d, lambda n, p, st, r, a: n.get_state(st, "pre.x")), ValueError, "get_state()",
    "is static", "proj.weights")
row("get_state unknown trace", lambda d: plastic_call(
    d, lambda n, p, st, r, a: n.get_state(p, "x")), ValueError, "get_state()", "variable",
    "'pre.x'", "'x'", engine=True)
row("set_state negative trace", lambda d: plastic_call(
    d, lambda n, p, st, r, a: n.set_state(p, "post.y", -1.0)), ValueError, "set_state()",
    "post.y must be >= 0", "-1", engine=True)
row("set_state trace wrong length", lambda d: plastic_call(
    d, lambda n, p, st, r, a: n.set_state(p, "pre.x", [0.0, 1.0])), ValueError, "set_state()",
    "value", "length 4", "got 2", engine=True)
row("set_state theta non-finite", lambda d: plastic_call(
    d, lambda n, p, st, r, a: n.set_state(a, "theta", [0.0, float("inf"), 0.0])), ValueError,
    "set_state()", "value", "inf", engine=True)
row("set_state unknown homeostasis variable", lambda d: plastic_call(
    d, lambda n, p, st, r, a: n.set_state(r, "rate_estimate", 1.0)), ValueError,
    "set_state()", "variable", "['theta']", "'rate_estimate'", engine=True)
row("get_state wrong target", lambda d: plastic_call(
    d, lambda n, p, st, r, a: n.get_state("a", "v")), TypeError, "get_state()",
    "a Population, a plastic Projection or a homeostatic rule", "'a'")
row("reset_traces static projection", lambda d: plastic_call(
    d, lambda n, p, st, r, a: n.reset_traces([st])), ValueError, "reset_traces()",
    "projections[0]", "not a plastic projection")
row("reset_traces not a list", lambda d: plastic_call(
    d, lambda n, p, st, r, a: n.reset_traces(p)), TypeError, "reset_traces()", "projections",
    "must be a list")
row("AdaptiveThreshold theta_init wrong size",
    lambda d: homeostasis(ns.AdaptiveThreshold(theta_init=[1.0, 2.0])), ValueError,
    "AdaptiveThreshold", "theta_init has 2 values", "10 neurons")
row("AdaptiveThreshold theta_init non-finite",
    lambda d: ns.AdaptiveThreshold(theta_init=[1.0, float("nan")]), ValueError,
    "AdaptiveThreshold", "theta_init", "nan")


# -- running the table ------------------------------------------------------------------------

def outcome(r: Row, device: str) -> str:
    """``"ok"`` when ``r.call(device)`` raises ``r.exc`` with every substring in its message."""
    with warnings.catch_warnings():
        expects_warning = isinstance(r.exc, type) and issubclass(r.exc, Warning)
        if expects_warning:
            warnings.simplefilter("error", r.exc)
        try:
            r.call(device)
        except Exception as exc:  # noqa: BLE001 -- the table checks the type below
            if not isinstance(exc, r.exc):
                return f"wrong type {type(exc).__name__}: {exc}"
            msg = str(exc)
            missing = [s for s in r.subs if s not in msg]
            return "ok" if not missing else f"message lacks {missing}: {msg}"
    return "no error"


def _params():
    out = []
    for i, r in enumerate(ROWS):
        out.append(pytest.param(r, "cpu", id=f"{i:03d}-{r.name}-cpu"))
        if r.engine:
            out.append(pytest.param(r, "cuda:host", id=f"{i:03d}-{r.name}-cuda-host"))
    return out


@pytest.mark.parametrize("r, dev", _params())
def test_bad_input(r, dev):
    if dev == "cuda:host":
        from conftest import _host_ok
        ok, why = _host_ok()
        if not ok:
            pytest.skip(f"cuda:host unavailable: {why}")
    assert outcome(r, dev) == "ok"


def test_table_is_large_and_names_unique():
    names = [r.name for r in ROWS]
    assert len(names) == len(set(names))
    assert len(ROWS) >= 150


# -- what must still be accepted ----------------------------------------------------------------

def test_numpy_scalars_and_bools_are_accepted():
    rule = ns.FixedIndegree(np.int64(3), multapses=np.False_, allow_self=np.bool_(True))
    assert rule.multapses is False and rule.allow_self is True
    model = ns.LIF(tau_m=np.float32(12.0), cm=np.array(200.0))
    assert model.tau_m == 12.0 and model.cm == 200.0
    nt, a = lif()
    nt.connect(a, a, rule, weight=np.float32(1.5), delay=np.float64(0.2))
    stdp = ns.STDP()
    stdp.enabled = np.False_
    assert stdp.enabled is False


def test_float32_limit_itself_is_accepted():
    big = float(np.finfo(np.float32).max)
    nt, a = lif()
    nt.connect(a, a, ns.OneToOne(), weight=big)
    nt.inject(a, ns.DCCurrent(-big))
    ns.DCCurrent(1e38)


def test_sorted_and_repeated_spike_times_are_accepted():
    src = ns.SpikeSource([[1.0, 1.0, 2.0], [], 3.0])
    assert [t.tolist() for t in src.times] == [[1.0, 1.0, 2.0], [], [3.0]]


def test_fine_dt_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net(dt=0.1).add_population(1, ns.LIF(tau_refrac=2.0))
        net(dt=0.3).add_population(1, ns.LIF(tau_refrac=2.0))     # 7 steps = 2.1 ms
        net(dt=50.0).add_population(1, ns.LIF(tau_refrac=0.0))    # no refractory period
        net(dt=1.0).add_population(1, ns.Izhikevich())            # no refractory period


def test_coarse_dt_warning_is_a_user_warning_naming_both():
    with pytest.warns(UserWarning, match=r"tau_refrac = 2 ms at dt = 50 ms gives 0 refractory"):
        net(dt=50.0).add_population(1, ns.LIF(tau_refrac=2.0))
