"""Plasticity rules of a user's own (``ns.PlasticityModel``) on both backends.

- a symmetric (Hebbian for both orders) STDP rule, not built in: one isolated pair changes the
  weight by ``A exp(-|Delta t| / tau)`` for either order (computed here in float64); on
  ``cuda:host`` the weights equal NumPy's bit for bit (the generated kernels do NumPy's float32
  operations in its order), with one delay and per-synapse delays, with every pairing, in
  natural and shuffled thread order;
- an anti-Hebbian rule with per-synapse state, an ``if``/``else`` block and a local, and a rule
  whose weight relaxes between events (a ``between`` block with ``exp``): exact resp. within
  float32 rounding of ``exp`` across backends, and the relaxation against its closed form;
- a modulated rule (a modulator, like dopamine): ``deliver`` moves the weights only then;
- the engine interface: runtimes use only what :class:`EngineInterface` declares;
- saving and loading a network with a user's rule (``ns.load(..., models=[rule])``);
- definitions that are wrong: errors naming the rule, the block, the line and the name.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import neurosim as ns
from neurosim.backends import host_build_status, hostbuild
from neurosim.models.language import ModelDefinitionError

DT = 0.1
PARROT = dict(tau_m=20.0, v_rest=0.0, v_reset=0.0, v_thresh=20.0, tau_refrac=0.5,
              synapse="delta")
needs_host = pytest.mark.skipif(not host_build_status()[0], reason="no g++ for the host build")

SYMMETRIC = ns.PlasticityModel(
    "symmetric_stdp",
    parameters={"A": 0.001, "tau": 20.0},
    pre_traces={"x": "tau"}, post_traces={"y": "tau"},
    on_pre="w += A * y",
    on_post="w += A * x",
    non_negative=("A",))

ANTI = ns.PlasticityModel(
    "anti_hebbian",
    parameters={"A": 0.002, "tau_pre": 15.0, "tau_post": 30.0, "w_mid": 0.005},
    pre_traces={"x": "tau_pre"}, post_traces={"y": "tau_post"},
    state={"n_events": 0.0},
    on_pre="""
        gain = A * y
        if w > w_mid:
            w += gain * 0.5
        else:
            w += gain
        n_events += 1
    """,
    on_post="w -= A * x * ((w - w_min) / (w_max - w_min)); n_events += 1",
    pairings=("nearest", "all"))

RELAX = ns.PlasticityModel(
    "relaxing_stdp",
    parameters={"A": 0.001, "tau": 20.0, "tau_w": 50.0, "w_rest": 0.005},
    pre_traces={"x": "tau"}, post_traces={"y": "tau"},
    on_pre="w -= A * y",
    on_post="w += A * x",
    between="w = w_rest + (w - w_rest) * exp(-elapsed / tau_w)")

GATED = ns.PlasticityModel(
    "gated_hebb",
    parameters={"A": 0.01, "tau": 20.0, "tau_e": 100.0, "tau_m": 50.0, "m0": 0.0},
    pre_traces={"x": "tau"}, post_traces={"y": "tau"},
    state={"e": 0.0},
    on_post="e += A * x",
    on_pre="e -= A * y",
    between="w += e * m * elapsed; e *= exp(-elapsed / tau_e)",
    modulator={"name": "m", "tau": "tau_m", "rest": "m0"})


@pytest.fixture(params=[False, True], ids=["natural", "shuffled"])
def order(request):
    with hostbuild.shuffle_order(request.param):
        yield request.param


def trains(rng, n, k, steps):
    return [np.sort(rng.choice(np.arange(2, steps), k, replace=False)) * DT for _ in range(n)]


def network(device, rule, *, delay=1.0, seed=3, duration=60.0, connect="all", w0=0.005):
    """Pre sources -> parrot neurons (plastic, tiny weights); teachers impose the post spikes."""
    rng = np.random.default_rng(seed)
    steps = int(duration / DT) - 40
    net = ns.Network(dt=DT, device=device, seed=1)
    pre = net.add_population(10, ns.SpikeSource(trains(rng, 10, 25, steps)))
    teach = net.add_population(5, ns.SpikeSource([t - DT for t in trains(rng, 5, 20, steps)]))
    post = net.add_population(5, ns.LIF(**PARROT))
    conn = ns.AllToAll() if connect == "all" else ns.FixedProbability(0.6)
    proj = net.connect(pre, post, conn, weight=w0, delay=delay, plasticity=rule)
    net.connect(teach, post, ns.OneToOne(), weight=50.0, delay=DT)
    mon = net.record_spikes(post)
    return net, proj, mon


def run_both(make_rule, **kw):
    out = []
    for device in ("cpu", "cuda:host"):
        net, proj, mon = network(device, make_rule(), **kw)
        net.run(kw.get("duration", 60.0))
        out.append((np.asarray(proj.weights), mon, proj))
    (a, ma, pa), (b, mb, pb) = out
    np.testing.assert_array_equal(ma.indices, mb.indices)
    np.testing.assert_array_equal(pa.sources, pb.sources)
    return a, b


# -- semantics against independent formulas --------------------------------------------------------

@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda:host", marks=needs_host)])
@pytest.mark.parametrize("lag", [-7.0, 0.0, 12.0])
def test_one_pair_changes_the_weight_by_the_symmetric_window(device, lag):
    """One presynaptic arrival and one postsynaptic spike ``lag`` ms later (either order):
    the weight grows by ``A exp(-|lag| / tau)``, whatever the order."""
    net = ns.Network(dt=DT, device=device, seed=1)
    t_arrive = 20.0
    pre = net.add_population(1, ns.SpikeSource([[t_arrive - 1.0]]))
    teach = net.add_population(1, ns.SpikeSource([[t_arrive + lag - DT]]))
    post = net.add_population(1, ns.LIF(**PARROT))
    rule = SYMMETRIC(A=0.001, tau=20.0, w_max=1.0)
    proj = net.connect(pre, post, ns.OneToOne(), weight=0.01, delay=1.0, plasticity=rule)
    net.connect(teach, post, ns.OneToOne(), weight=50.0, delay=DT)
    mon = net.record_spikes(post)
    net.run(60.0)
    assert mon.times.size == 1 and abs(mon.times[0] - (t_arrive + lag)) < 1e-6
    expected = 0.01 + 0.001 * np.exp(-abs(lag) / 20.0)
    assert abs(float(proj.weights[0]) - expected) < 1e-7


def test_weight_relaxes_between_events_in_closed_form():
    """No spikes: the ``between`` block alone moves the weight, exactly when it is read."""
    net = ns.Network(dt=DT, seed=1)
    a = net.add_population(3, ns.SpikeSource([[], [], []]))
    b = net.add_population(3, ns.LIF(**PARROT))
    proj = net.connect(a, b, ns.OneToOne(), weight=0.02, delay=1.0,
                       plasticity=RELAX(w_max=0.05))
    net.run(37.0)
    want = 0.005 + (0.02 - 0.005) * np.exp(-37.0 / 50.0)
    np.testing.assert_allclose(proj.weights, want, rtol=1e-5)


def test_modulator_moves_the_weights_only_when_delivered():
    net, proj, _ = network("cpu", GATED(w_max=0.05))
    rule = proj.plasticity
    net.run(30.0)
    w0 = np.array(proj.weights)
    np.testing.assert_array_equal(w0, np.float32(0.005))  # m = m0 = 0: eligibility only
    assert rule.modulator_level == 0.0
    rule.deliver(0.5)
    assert abs(rule.modulator_level - 0.5) < 1e-6
    net.run(30.0)
    assert np.abs(np.asarray(proj.weights) - w0).max() > 1e-5
    assert 0.0 < rule.modulator_level < 0.5               # relaxing back to m0 (tau_m = 50)


# -- parity: cpu and cuda:host ---------------------------------------------------------------------

@needs_host
@pytest.mark.parametrize("pairing", ["all", "nearest", "nearest_reduced"])
def test_symmetric_rule_bit_exact_on_both_backends(pairing, order):
    a, b = run_both(lambda: SYMMETRIC(A=0.0005, w_max=0.01, pairing=pairing))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - 0.005).max() > 1e-4                 # it learned


@needs_host
def test_symmetric_rule_per_synapse_delays_and_sparse(order):
    a, b = run_both(lambda: SYMMETRIC(A=0.0005, w_max=0.01, pairing="nearest_reduced"),
                    delay=ns.Uniform(0.1, 3.0), connect="prob")
    np.testing.assert_array_equal(a, b)


@needs_host
@pytest.mark.parametrize("pairing", ["all", "nearest"])
def test_anti_hebbian_rule_with_state_and_branches_bit_exact(pairing, order):
    a, b = run_both(lambda: ANTI(w_max=0.01, pairing=pairing), delay=ns.Uniform(0.1, 2.0))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - 0.005).max() > 1e-4


@needs_host
def test_anti_hebbian_state_counts_events_on_both_backends():
    from neurosim.engine.state import plastic_export
    counts = []
    for device in ("cpu", "cuda:host"):
        net, proj, mon = network(device, ANTI(w_max=0.01))
        net.run(60.0)
        state = plastic_export(net._ensure_built().plastic[0])
        got = np.sort(np.asarray(state["n_events"])[:proj.n_synapses])
        counts.append(got)
    np.testing.assert_array_equal(counts[0], counts[1])
    assert counts[0].max() >= 20                          # arrivals and post spikes counted


@needs_host
def test_relaxing_and_modulated_rules_agree_within_exp_rounding():
    a, b = run_both(lambda: RELAX(w_max=0.01))
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-8)
    got = []
    for device in ("cpu", "cuda:host"):
        net, proj, _ = network(device, GATED(w_max=0.05))
        net.run(20.0)
        proj.plasticity.deliver(0.5)
        net.run(40.0)
        got.append(np.array(proj.weights))
    # expf vs NumPy's exp, last bits, amplified by the lazy steps: 1e-5 of the weight range
    np.testing.assert_allclose(got[1], got[0], rtol=0, atol=1e-5 * 0.05)
    assert np.abs(got[0] - 0.005).max() > 1e-3


# -- checkpoints -----------------------------------------------------------------------------------

@pytest.mark.parametrize("dst", ["cpu", pytest.param("cuda:host", marks=needs_host)])
def test_save_and_load_a_network_with_a_users_rule(tmp_path, dst):
    ref, ref_proj, ref_mon = network("cpu", ANTI(w_max=0.01))
    ref.run(60.0)
    net, proj, _ = network("cpu", ANTI(w_max=0.01))
    net.run(25.0)
    net.save(tmp_path / "x.npz")
    with pytest.raises(ns.CheckpointError, match="anti_hebbian"):
        ns.load(tmp_path / "x.npz", device=dst)           # the rule must be given
    loaded = ns.load(tmp_path / "x.npz", device=dst, models=[ANTI])
    loaded.run(35.0)
    np.testing.assert_array_equal(loaded.projections[0].weights, ref_proj.weights)


# -- the engine interface --------------------------------------------------------------------------

def test_engines_offer_the_declared_interface():
    from neurosim.plasticity.base import CudaEngineInterface, NumpyEngineInterface
    net, _, _ = network("cpu", SYMMETRIC())
    assert isinstance(net._ensure_built(), NumpyEngineInterface)
    if host_build_status()[0]:
        net, _, _ = network("cuda:host", SYMMETRIC())
        assert isinstance(net._ensure_built(), CudaEngineInterface)


def test_runtimes_use_no_private_engine_state():
    """Plasticity and homeostasis runtimes reach an engine only through EngineInterface."""
    root = Path(ns.__file__).parent / "plasticity"
    bad = []
    for path in root.glob("*.py"):
        for k, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"engine\._\w|engine\.__dict__|engine\.net\._", line):
                bad.append(f"{path.name}:{k}: {line.strip()}")
    assert not bad, bad


# -- definitions that are wrong --------------------------------------------------------------------

def make(**kw):
    base = dict(parameters={"A": 0.01, "tau": 20.0}, pre_traces={"x": "tau"},
                post_traces={"y": "tau"}, on_pre="w -= A * y", on_post="w += A * x")
    base.update(kw)
    return ns.PlasticityModel("bad_rule", **base)


BAD = {
    "unknown name": (dict(on_pre="w -= B * y"), ["'bad_rule'", "on_pre line 1", "'B'"]),
    "parameter assigned": (dict(on_post="A = 1.0"), ["on_post line 1", "'A'", "parameter"]),
    "trace assigned": (dict(on_post="w += A * x\nx = 0.0"), ["on_post line 2", "'x'",
                                                           "presynaptic trace"]),
    "not a condition": (dict(on_pre="if A:\n    w -= y"), ["on_pre line 1", "condition"]),
    "unsupported function": (dict(on_pre="w -= tanh(y)"), ["on_pre", "'tanh'"]),
    "elapsed in on_pre": (dict(on_pre="w -= elapsed"), ["on_pre", "'elapsed'", "between"]),
    "trace in between": (dict(between="w += x"), ["between line 1", "'x'", "on_pre and on_post"]),
    "modulator without between": (dict(modulator={"name": "d", "tau": "tau", "rest": "A"}),
                                  ["modulator", "between"]),
    "modulator bad keys": (dict(modulator={"name": "d"}), ["modulator", "'tau'"]),
    "trace tau unknown": (dict(pre_traces={"x": "tau_x"}), ["presynaptic trace 'x'",
                                                              "'tau_x'"]),
    "trace tau number": (dict(post_traces={"y": 20.0}), ["postsynaptic trace 'y'", "20.0"]),
    "duplicate name": (dict(state={"x": 0.0}), ["'x'", "declared twice"]),
    "reserved state": (dict(state={"t1": 0.0}), ["'t1'", "reserved"]),
    "reserved parameter": (dict(parameters={"w_min": 0.0, "tau": 1.0}), ["'w_min'", "reserved"]),
    "bad identifier": (dict(parameters={"1A": 0.0, "tau": 1.0}), ["'1A'", "identifier"]),
    "no code": (dict(on_pre="", on_post=""), ["on_pre or on_post"]),
    "syntax": (dict(on_post="w += (A * x"), ["on_post line 1", "syntax"]),
    "pairings": (dict(pairings=("all", "closest")), ["pairings", "closest"]),
    "parameter not a number": (dict(parameters={"A": "big", "tau": 1.0}), ["parameter A",
                                                                         "'big'"]),
    "state to a condition": (dict(state={"c": 0.0}, on_pre="c = y > 0"), ["'c'", "condition"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_definitions_name_the_rule_block_line_and_name(case):
    kw, subs = BAD[case]
    with pytest.raises((ModelDefinitionError, ValueError, TypeError)) as info:
        make(**kw)
    for s in subs:
        assert s in str(info.value), (s, str(info.value))


BAD_CALLS = {
    "unknown parameter": (lambda: SYMMETRIC(B=1.0), ValueError, ["'B'", "symmetric_stdp"]),
    "tau not positive": (lambda: SYMMETRIC(tau=0.0), ValueError, ["tau", "0.0", "> 0"]),
    "A negative": (lambda: SYMMETRIC(A=-1.0), ValueError, ["A", "-1.0", ">= 0"]),
    "A not a number": (lambda: SYMMETRIC(A="x"), TypeError, ["A", "'x'"]),
    "pairing": (lambda: ANTI(pairing="nearest_reduced"), ValueError,
                ["pairing", "nearest_reduced", "['nearest', 'all']"]),
    "bounds": (lambda: SYMMETRIC(w_min=1.0, w_max=0.0), ValueError, ["w_max", "w_min"]),
    "deliver without modulator": (lambda: SYMMETRIC().deliver(1.0), ValueError,
                                  ["symmetric_stdp", "modulator"]),
    "deliver before build": (lambda: GATED().deliver(1.0), RuntimeError, ["not built"]),
    "deliver nan": (lambda: GATED().deliver(float("nan")), ValueError, ["amount", "nan"]),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_rule_calls(case):
    call, exc, subs = BAD_CALLS[case]
    with pytest.raises(exc) as info:
        call()
    for s in subs:
        assert s in str(info.value), (s, str(info.value))


def test_weights_outside_a_users_bounds_are_refused_at_connect():
    net = ns.Network(dt=DT, seed=1)
    a = net.add_population(2, ns.LIF())
    with pytest.raises(ValueError, match=r"within \[w_min, w_max\]"):
        net.connect(a, a, ns.AllToAll(), weight=2.0, plasticity=SYMMETRIC(w_max=1.0))


def test_generated_numpy_clips_the_weight_only():
    """``w = A * x; c = w``: ``c`` keeps the unclipped value (the weight is clipped after the
    block, and no other result shares its array)."""
    rule = ns.PlasticityModel("alias", parameters={"A": 1.0, "tau": 1.0},
                              pre_traces={"x": "tau"}, state={"c": 0.0},
                              on_post="w = A * x; c = w")
    f32 = np.float32
    out = rule.numpy()[0]["on_post"](dict(A=f32(5.0), w=np.zeros(2, f32), c=np.zeros(2, f32),
                                          x=np.array([1.0, 0.1], f32), w_min=f32(0.0),
                                          w_max=f32(1.0)))
    np.testing.assert_array_equal(out["c"], np.array([5.0, 0.5], f32))
    np.testing.assert_array_equal(out["w"], np.array([1.0, 0.5], f32))
