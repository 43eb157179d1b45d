"""LIF (both synapse variants), LIFCond and AdEx written as NeuronModel descriptions give the
results of the hand-written code they replaced, bit for bit.

``tests/data/hand_models_trace.npz`` holds the spikes and state traces of :func:`trace` run by
the hand-written models (neurosim before they became descriptions, commit 3fcf5ce) on ``cpu``
and on ``cuda:host``; written with ``python tests/test_described_builtins.py OUT.npz`` from
that tree. Each network: 12 neurons with every parameter per neuron (+-2 %), 12 with the
defaults and an injected step current, Poisson input on both receptors, refractoriness.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np
import pytest

import neurosim as ns

DATA = Path(__file__).parent / "data" / "hand_models_trace.npz"
DT = 0.1
T_MS = 60.0
EVERY = 3

CASES = {
    "lif": lambda **kw: ns.LIF(i_offset=300.0, **kw),
    "lif_delta": lambda **kw: ns.LIF(i_offset=300.0, synapse="delta", **kw),
    "lif_cond": lambda **kw: ns.LIFCond(i_offset=300.0, **kw),
    "adex": lambda **kw: ns.AdEx(i_offset=700.0, tau_refrac=1.0, **kw),
}
WEIGHTS = {"lif": (60.0, -30.0), "lif_delta": (1.5, -0.8), "lif_cond": (3.0, 4.0),
           "adex": (60.0, -30.0)}


def trace(case: str, device: str) -> dict:
    model = CASES[case]()
    rng = np.random.default_rng(5)
    varied = type(model)(**{k: v * rng.uniform(0.98, 1.02, 12)
                            for k, v in model.parameters().items()},
                         **dict(zip(model.option_fields, model.options())))
    net = ns.Network(dt=DT, device=device, seed=3)
    a = net.add_population(12, varied)
    b = net.add_population(12, model)
    net.inject(b, ns.StepCurrent([5.0, 30.0], [150.0, -100.0]))
    w_e, w_i = WEIGHTS[case]
    out = {}
    for name, pop in (("a", a), ("b", b)):
        net.add_poisson_input(pop, rate=800.0, weight=w_e, n_sources=2)
        net.add_poisson_input(pop, rate=500.0, weight=w_i, receptor="inhibitory")
    mons = {name: (net.record_spikes(pop),
                   {v: net.record_state(pop, v, every=EVERY) for v in pop.state_names})
            for name, pop in (("a", a), ("b", b))}
    net.run(T_MS)
    for name, (spikes, states) in mons.items():
        out[f"{case}/{device}/{name}/spikes"] = np.stack([spikes.steps, spikes.indices])
        for v, mon in states.items():
            out[f"{case}/{device}/{name}/{v}"] = np.asarray(mon.values, np.float32)
    return out


@pytest.mark.parametrize("device", ["cpu", "cuda:host"])
@pytest.mark.parametrize("case", list(CASES))
def test_same_bits_as_the_hand_written_model(case, device):
    saved = np.load(DATA)
    got = trace(case, device)
    assert sorted(got) == sorted(k for k in saved.files if k.startswith(f"{case}/{device}/"))
    for key, value in got.items():
        if key.endswith("spikes"):
            assert saved[key].shape[1] > 10, key
        np.testing.assert_array_equal(value, saved[key], err_msg=key)


if __name__ == "__main__":       # write the reference file from the tree on sys.path
    arrays = {}
    for device in ("cpu", "cuda:host"):
        for case in CASES:
            arrays.update(trace(case, device))
    np.savez_compressed(sys.argv[1], **arrays)
    print(ns.__file__, {k: v.shape for k, v in arrays.items() if k.endswith("spikes")})


# -- the generated NumPy step against the code run neuron by neuron --------------------------------

BLOCKS = [
    "a = v; v += w * 2; w = a - v; x = x * v + a",
    "t = v; v = w; w = t",
    "v = v * v + v - x; x = -v + exp(min(w, 1.5) - 2)",
    "a = v * 0.5; a = a + a; b = a * w; v = b - v; w = a / (1 + abs(w)); x = max(v, w, x)",
    "v = (v - x) * exp(w * -0.1) + x",
    "x = clip(v, -1, 1) * 3; v = x - v; w = w",
    "v = k * w + v * m + I_ext * m; w -= k * x; x += I_ext",
    "v = 2 - v * m; w = x if v > 0 else w; x = -x",
    "if v > 0:\n    w = v * m\nelse:\n    w = -v\nv = w - x",
    "v = (v + 1) ** 3 - w ** 2; w = exp(v * 0.1) if w > 0 else -v; x = (x * m) ** 4",
]


class _Power(ast.NodeTransformer):
    """x ** k as the language means it: repeated multiplication, left to right."""

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Pow):
            out = node.left
            for _ in range(node.right.value - 1):
                out = ast.BinOp(left=out, op=ast.Mult(), right=node.left)
            return out
        return node


def _by_neuron(text: str, state: dict, params: dict, i_ext) -> dict:
    """The block run with Python's own float32 scalars, one neuron at a time."""
    from functools import reduce
    fns = {"exp": np.exp, "abs": np.abs, "min": lambda *a: reduce(np.minimum, a),
           "max": lambda *a: reduce(np.maximum, a),
           "clip": lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi)}
    out = {k: np.empty_like(v) for k, v in state.items()}
    code = compile(ast.fix_missing_locations(_Power().visit(ast.parse(text))), "<block>", "exec")
    for i in range(len(state["v"])):
        env = {k: np.float32(v[i]) for k, v in state.items()}
        env.update({k: np.float32(np.broadcast_to(v, state["v"].shape)[i])
                    for k, v in params.items()})
        env["I_ext"] = np.float32(0.0 if i_ext is None else i_ext[i])
        exec(code, dict(fns), env)                    # noqa: S102 -- the test's own code
        for k in out:
            out[k][i] = env[k]
    return out


@pytest.mark.parametrize("k", [0.0, 0.7, "per neuron"])
@pytest.mark.parametrize("with_current", [False, True])
@pytest.mark.parametrize("text", BLOCKS)
def test_generated_step_equals_the_code_run_neuron_by_neuron(text, with_current, k):
    """Ufuncs into reused buffers and into the state arrays, folded zeros (k = 0, no current):
    the same float32 numbers as the statements executed one neuron at a time."""
    model = ns.NeuronModel("blk", parameters={"k": 0.0, "m": 1.5},
                           state={"v": 0.0, "w": 0.0, "x": 0.0}, update=text,
                           threshold="v > 1e30")
    rng = np.random.default_rng(len(text))
    n = 9
    state = {name: rng.uniform(-2, 2, n).astype(np.float32) for name in ("v", "w", "x")}
    params = {"k": rng.uniform(-1, 1, n) if k == "per neuron" else k, "m": 1.5}
    i_ext = rng.uniform(-3, 3, n).astype(np.float32) if with_current else None
    cls = model.model_class
    c = cls.constants(params, 0.1)
    expected = _by_neuron(text, state, {n_: c[n_] for n_ in params}, i_ext)
    s = {name: value.copy() for name, value in state.items()}
    with np.errstate(all="ignore"):
        cls.integrate(s, None, (), c, i_ext, np.empty((cls.scratch, n), np.float32))
    for name in s:
        np.testing.assert_array_equal(s[name], expected[name], err_msg=f"{name}: {text}")


def test_lif_is_one_class_over_two_descriptions():
    import dataclasses
    exp, delta = ns.LIF(tau_m=12.0), ns.LIF(tau_m=12.0, synapse="delta")
    assert isinstance(exp, ns.LIF) and isinstance(delta, ns.LIF)
    assert type(exp).__name__ == type(delta).__name__ == "LIF"          # checkpoints' name
    assert type(delta).description is ns.LIF.descriptions["delta"]
    assert type(exp).state_vars == ("v", "i_syn_e", "i_syn_i")
    assert type(delta).state_vars == ("v",) and delta.options() == ("delta",)
    assert type(dataclasses.replace(exp, synapse="delta")) is type(delta)
    assert dataclasses.replace(exp, synapse="delta").tau_m == 12.0
    assert type(ns.LIF(10.0, 250.0, -70.0, -70.0, -55.0, 2.0, 2.0, 2.0, 0.0, "delta")) \
        is type(delta)                                                   # positional too
    assert "exact" in type(exp).integration
    assert ns.LIFCond.description.integration.startswith("exponential Euler")
    with pytest.raises(ValueError, match=r"LIF: synapse must be 'exponential' or 'delta', "
                                         r"got \['delta'\]"):
        ns.LIF(synapse=["delta"])


def test_model_family_and_description_options_are_checked():
    d = ns.LIF.descriptions["delta"]
    from neurosim.models.description import model_family
    with pytest.raises(ns.ModelDefinitionError, match="variant 'b' must be named 'X'"):
        model_family("X", "kind", {"a": ns.NeuronModel("X", parameters={}, state={"v": 0.0},
                                                       update="v = v", threshold="v > 1"),
                                   "b": d})
    with pytest.raises(ns.ModelDefinitionError, match="integration must be a string"):
        ns.NeuronModel("m", parameters={}, state={"v": 0.0}, update="v = v",
                       threshold="v > 1", integration=3)
    with pytest.raises(ns.ModelDefinitionError, match="variant must be None or an identifier"):
        ns.NeuronModel("m", parameters={}, state={"v": 0.0}, update="v = v",
                       threshold="v > 1", variant="a b")


def test_p21_takes_its_limit_when_tau_syn_equals_tau_m():
    """The derived propagator: h/cm exp(-h/tau_m) at tau_syn = tau_m (general form 0/0),
    and continuous through it (float64, before rounding to float32)."""
    cls = type(ns.LIF())
    h, cm, tau = 0.1, 250.0, 10.0
    at = cls.constants(dict(ns.LIF(tau_m=tau, tau_syn_E=tau).parameters()), h)["P21_E"]
    assert at == np.float32(h / cm * np.exp(-h / tau))
    near = cls.constants(dict(ns.LIF(tau_m=tau, tau_syn_E=tau * (1 + 1e-6)).parameters()),
                         h)["P21_E"]
    assert abs(near - at) / at < 1e-5


def test_refractory_neurons_are_masked_unless_the_hold_provably_keeps_them_below():
    """LIF's hold (v = v_reset) with its constraint v_reset < v_thresh cannot reach the
    threshold, so its NumPy threshold does not mask; a hold without that guarantee must."""
    assert "mask[r]" not in type(ns.LIF()).description.numpy_sources["threshold"]
    loose = ns.NeuronModel("loose", parameters={"v_reset": -60.0, "v_thresh": -50.0,
                                                "tau_refrac": 2.0},
                           state={"v": -70.0}, update="v += 2.0", threshold="v >= v_thresh",
                           reset="v = v_reset", refractory="tau_refrac", hold="v = v_reset")
    assert "mask[r] = False" in loose.numpy_sources["threshold"]
    net = ns.Network(dt=0.1, device="cpu", seed=1)
    pop = net.add_population(1, loose(v_reset=-40.0))      # held above the threshold
    mon = net.record_spikes(pop)
    net.run(10.0)
    # spikes in step 9 (its 10th update: v = -70 + 2 * 10 = -50), then every 21 steps: reset
    # above the threshold, held 20 updates without spiking, the next one spikes
    np.testing.assert_array_equal(mon.steps, [9, 30, 51, 72, 93])
