"""The linear additive trace rules (neurosim.plasticity.linear) and their deferred NumPy runtime.

- the recogniser: pair STDP's additive description and a user's rule written in that form
  (coefficients of parameters and derived constants, factors in either order) are recognised,
  with the coefficients evaluated as the rule's constants are; multiplicative, symmetric,
  state-using, modulated, lazy rules, and coefficients that read ``w``, a trace or ``dt``, are not;
- the NumPy backend runs such a user's rule with the deferred runtime (``"all"``/``"nearest"``,
  non-negative coefficients) and every other rule event by event;
- a user's rule of the form gives the weights of the event-by-event runtime (RuleNumpy) of the
  same description and of ``cuda:host`` (float64 settling against float32 pair by pair: a few
  roundings), and exactly the weights of the built-in ``ns.STDP`` with the same values (the
  same runtime and arithmetic); its portable checkpoint form (own trace names) crosses to
  ``cuda:host``.
"""

from __future__ import annotations

import numpy as np
import pytest

import neurosim as ns
from neurosim.backends import host_build_status
from neurosim.plasticity.description import DescribedRule
from neurosim.plasticity.linear import linear_additive_form
from neurosim.plasticity.numpy_runtime import RuleNumpy
from neurosim.plasticity.stdp import PAIR, StdpDeferredNumpy, StdpNumpy

DT = 0.1
PARROT = dict(tau_m=20.0, v_rest=0.0, v_reset=0.0, v_thresh=20.0, tau_refrac=0.5,
              synapse="delta")
needs_host = pytest.mark.skipif(not host_build_status()[0], reason="no g++ for the host build")


def model(name="lin", on_pre="w -= B * post_tr", on_post="w += C * pre_tr", **kw):
    args = dict(parameters={"A": 0.004, "ratio": 1.25, "B": 0.006, "tau_a": 15.0,
                            "tau_b": 30.0},
                derived={"C": "A * ratio"},
                pre_traces={"pre_tr": "tau_a"}, post_traces={"post_tr": "tau_b"},
                on_pre=on_pre, on_post=on_post, pairings=("all", "nearest", "nearest_reduced"))
    args.update(kw)
    return ns.PlasticityModel(name, **args)


LINEAR = model()


def test_recognises_pair_stdp_and_a_users_rule():
    f = linear_additive_form(PAIR["additive"])
    assert (f.pre_trace, f.post_trace, f.tau_pre, f.tau_post) == ("x", "y", "tau_plus",
                                                                  "tau_minus")
    rule = ns.STDP(A_plus=0.013, A_minus=0.017, tau_plus=12.0, tau_minus=31.0)
    for dtype in (np.float32, np.float64):
        c = f.values(rule, dtype)
        assert c["a_plus"] == dtype(0.013) and c["a_plus"].dtype == dtype
        assert c["a_minus"] == dtype(0.017) and c["a_minus"].dtype == dtype
        assert (c["tau_plus"], c["tau_minus"]) == (12.0, 31.0)

    f = linear_additive_form(LINEAR)
    assert (f.pre_trace, f.post_trace, f.tau_pre, f.tau_post) == ("pre_tr", "post_tr",
                                                                  "tau_a", "tau_b")
    rule = LINEAR(A=0.003, ratio=1.5)
    for dtype in (np.float32, np.float64):
        c, k = f.values(rule, dtype), rule.constants(dtype)
        assert c["a_plus"] == k["C"] and c["a_minus"] == k["B"]
    assert f.values(rule, np.float64)["a_plus"] == 0.003 * 1.5
    # factors in either order; an expression as the coefficient; the trace alone
    g = linear_additive_form(model(on_pre="w -= post_tr * (B + w_min)",
                                   on_post="w += pre_tr"))
    c = g.values(LINEAR(w_min=0.25), np.float64)
    assert c["a_minus"] == 0.006 + 0.25 and c["a_plus"] == 1.0


@pytest.mark.parametrize("d", [
    PAIR["multiplicative"],
    ns.PlasticityModel("sym", parameters={"A": 0.01, "tau": 20.0}, pre_traces={"x": "tau"},
                       post_traces={"y": "tau"}, on_pre="w += A * y", on_post="w += A * x"),
    model(state={"count": 0.0}, on_pre="w -= B * post_tr; count += 1"),
    model(state={"count": 0.0}),
    model(on_pre="w -= B * post_tr * w"),
    model(on_pre="w -= B * dt * post_tr"),
    model(on_post="w += C * pre_tr * pre_tr"),
    model(on_post="w += C * post_tr"),                  # the wrong trace
    model(on_pre="w += B * post_tr"),
    model(on_pre=None),
    model(on_pre="w -= B * post_tr\nw -= B * post_tr"),
    model(pre_traces={"pre_tr": "tau_a", "x2": "tau_b"}),
    model(parameters={"A": 0.004, "ratio": 1.25, "B": 0.006, "tau_a": 15.0, "tau_b": 30.0,
                      "tau_d": 200.0, "rest": 0.0},
          modulator={"name": "dop", "tau": "tau_d", "rest": "rest"},
          between="w += dop * elapsed * 0.0"),
    model(between="w += 0.0 * elapsed"),
], ids=["multiplicative", "symmetric", "state", "state-declared", "reads-w", "reads-dt",
        "trace-squared", "wrong-trace", "sign", "one-block", "two-statements", "two-traces",
        "modulated", "between"])
def test_rejects_every_other_form(d):
    assert linear_additive_form(d) is None


def _trains(rng, n, k, steps):
    return [np.sort(rng.choice(np.arange(2, steps), k, replace=False)) * DT for _ in range(n)]


def _net(rule, device="cpu", delay=1.5, duration=400.0):
    """Imposed spike trains -> parrot neurons through the rule (weights too small to make a
    neuron fire: the same spikes on every backend and runtime), teachers fire the parrots."""
    rng = np.random.default_rng(5)
    steps = int(duration / DT) - 60
    net = ns.Network(dt=DT, device=device, seed=1)
    pre = net.add_population(16, ns.SpikeSource(_trains(rng, 16, 60, steps)))
    teach = net.add_population(8, ns.SpikeSource([t - DT for t in _trains(rng, 8, 50, steps)]))
    post = net.add_population(8, ns.LIF(**PARROT))
    proj = net.connect(pre, post, ns.FixedProbability(0.6), weight=ns.Uniform(0.002, 0.008),
                       delay=delay, plasticity=rule)
    net.connect(teach, post, ns.OneToOne(), weight=50.0, delay=DT)
    return net, proj


def _runtime(rule):
    net, _ = _net(rule)
    return net._ensure_built().plastic[0]


def test_selection_of_the_numpy_runtime():
    for pairing in ("all", "nearest"):
        assert type(_runtime(LINEAR(pairing=pairing))) is StdpDeferredNumpy
        assert type(_runtime(ns.STDP(pairing=pairing))) is StdpDeferredNumpy
        assert type(_runtime(ns.STDP(pairing=pairing, update="multiplicative"))) is StdpNumpy
    assert type(_runtime(LINEAR(pairing="nearest_reduced"))) is RuleNumpy
    assert type(_runtime(ns.STDP(pairing="nearest_reduced"))) is StdpNumpy
    assert type(_runtime(LINEAR(B=-0.001))) is RuleNumpy          # potentiation at arrivals
    assert type(_runtime(LINEAR(A=-0.001))) is RuleNumpy
    assert type(_runtime(model(on_pre="w += B * post_tr")())) is RuleNumpy


class _Eager(DescribedRule):
    def build_numpy(self, engine, proj):
        return RuleNumpy(engine, proj, self)


def _weights(rule, device="cpu", delay=1.5):
    net, proj = _net(rule, device, delay)
    out = []
    for k in range(3):
        net.run(130.0)
        out.append(np.array(proj.weights))
        if k == 0:
            proj.weights = np.clip(proj.weights * 0.9, 0.0, 0.01)
    return out


@pytest.mark.parametrize("pairing", ["all", "nearest"])
@pytest.mark.parametrize("delay", [1.5, "mixed"])
def test_users_linear_rule_matches_event_by_event_and_stdp(pairing, delay):
    d = 1.5 if delay == 1.5 else ns.Uniform(0.1, 4.0)
    values = dict(A=0.001, ratio=2.0, B=0.0021)
    deferred = _weights(LINEAR(w_max=0.01, pairing=pairing, **values), delay=d)
    eager = _weights(_Eager(LINEAR, values, 0.0, 0.01, pairing), delay=d)
    stdp = _weights(ns.STDP(A_plus=0.002, A_minus=0.0021, tau_plus=15.0, tau_minus=30.0,
                            w_min=0.0, w_max=0.01, pairing=pairing), delay=d)
    assert np.abs(deferred[-1] - deferred[1]).max() > 1e-4            # the weights did move
    for a, b, c in zip(deferred, eager, stdp):
        # float64 settling and exp against float32 traces decayed step by step: apart by about
        # one float32 rounding per step since a trace's last spike, well below 1e-4 of one
        # pair's change (0.002)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-7)
        np.testing.assert_array_equal(a, c)      # C = 2 * 0.001 = 0.002 exactly in float32


@needs_host
@pytest.mark.parametrize("pairing", ["all", "nearest"])
def test_users_linear_rule_matches_cuda_host(pairing):
    rule = lambda: LINEAR(A=0.001, ratio=2.0, B=0.0021, w_max=0.01, pairing=pairing)  # noqa
    for a, b in zip(_weights(rule()), _weights(rule(), "cuda:host")):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-7)        # as against RuleNumpy


@needs_host
def test_users_linear_rule_checkpoint_crosses_to_cuda_host(tmp_path):
    from neurosim.engine import portable as P
    net, proj = _net(LINEAR(A=0.001, ratio=2.0, B=0.0021, w_max=0.01))
    net.run(57.3)
    saved = {k[len(P.PREFIX):]: a for k, a in P.export(net._ensure_built().plastic[0]).items()}
    assert {"pre.pre_tr", "post.post_tr"} <= set(saved)
    net.save(tmp_path / "lin.npz")
    host = ns.load(tmp_path / "lin.npz", device="cuda:host", models=[LINEAR])
    host.run(30.0)
    net.run(30.0)
    w_cpu = np.array(net.projections[0].weights)
    w_host = np.array(host.projections[0].weights)
    assert np.abs(w_cpu - saved["w"]).max() > 1e-5                   # it learned on
    np.testing.assert_allclose(w_cpu, w_host, rtol=0, atol=1e-7)
