"""The engine's own equations (neurosim/models/snippets.py), written once and rendered for
every backend: the propagator against math.exp, the NumPy forms against plain arithmetic, the
C forms as the kernels use them (the backends' bit-for-bit parity is tested with the models
and rules that run them: test_described_builtins, test_plasticity_cuda, test_precision*)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neurosim.models import snippets as S
from neurosim.plasticity.generate import RoundedCEmitter, machinery_source


@pytest.mark.parametrize("dt,tau", [(0.1, 20.0), (0.1, 5.0), (1.0, 0.3), (0.05, 1e4)])
def test_propagator_is_exp_rounded_once(dt, tau):
    exact = math.exp(-dt / tau)
    assert S.propagator(dt, tau) == np.float32(exact)
    assert S.propagator(dt, tau, np.float64) == exact
    assert type(S.propagator(dt, tau)) is np.float32


def test_propagator_per_neuron():
    taus = np.array([2.0, 5.0, 20.0])
    p = S.propagator(0.1, taus)
    assert p.dtype == np.float32
    np.testing.assert_array_equal(p, np.array([math.exp(-0.1 / t) for t in taus], np.float32))


@pytest.mark.parametrize("real", [np.float32, np.float64])
def test_numpy_decay_and_jumps(real):
    double = real is np.float64
    x = np.array([0.0, 0.5, 3.25, -1.0], real)
    P = real(0.9)
    decay = S.numpy_function(S.DECAY, ("x", "P"), double, with_out=True)
    np.testing.assert_array_equal(decay(x, P), x * P)
    y = x.copy()
    assert decay(y, P, y) is y                          # in place, as the runtimes call it
    np.testing.assert_array_equal(y, x * P)
    add = S.numpy_function(S.TRACE_JUMP["all"], ("x",), double)
    one = S.numpy_function(S.TRACE_JUMP["nearest"], ("x",), double)
    out = add(x)
    assert out.dtype == real
    np.testing.assert_array_equal(out, x + real(1))
    assert one(x) == 1 and np.asarray(one(x)).dtype == real
    steps = np.array([0, 1, 7, 12345], np.int64).astype(real)
    el = S.numpy_function(S.ELAPSED, ("steps", "dt"), double)(steps, real(0.1))
    assert el.dtype == real
    np.testing.assert_array_equal(el, steps * real(0.1))


def test_c_forms():
    em = RoundedCEmitter("t")
    assert S.c_expr(S.DECAY, dict(x="a", P="b"), em) == "ns_mul(a, b)"
    assert S.c_expr(S.TRACE_JUMP["all"], dict(x="a"), em) == \
        "ns_add(a, (ns_real)NS_LIT(1.0f, 1.0))"
    assert S.c_expr(S.ARRIVAL, dict(x="s_v", arrivals="q")) == "(s_v + q)"
    assert S.c_expr(S.ELAPSED, dict(steps="k", dt="dt"), em) == "ns_mul(k, dt)"


def test_shared_plasticity_kernels_render_the_snippets():
    from neurosim.backends.kernel_source import kernel_names, load_source
    source = load_source(machinery_source())
    assert "{{" not in source
    assert "ring[r * n_pre + i] = ns_mul(ring[r0 * n_pre + i], P_pre[k]);" in source
    assert "? ns_add(*x, (ns_real)NS_LIT(1.0f, 1.0)) : (ns_real)NS_LIT(1.0f, 1.0);" in source
    assert {n for n, _ in kernel_names(source)} == {
        "plastic_advance", "plastic_pre_spikes", "plastic_post_jump", "plastic_deliver"}
