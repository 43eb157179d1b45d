"""Connection rules: degree distributions, self-connections, multapses, weights and delays."""

import numpy as np
import pytest

import neurosim as ns


def build(rule, n_pre=300, n_post=200, same=False, seed=7, **kw):
    net = ns.Network(dt=0.1, device="cpu", seed=seed)
    pre = net.add_population(n_pre, ns.LIF())
    post = pre if same else net.add_population(n_post, ns.LIF())
    proj = net.connect(pre, post, rule, weight=kw.pop("weight", 1.0), **kw)
    net.build()
    return proj


def test_fixed_probability_degrees_are_binomial():
    p, n_pre, n_post = 0.05, 1000, 800
    proj = build(ns.FixedProbability(p), n_pre, n_post)
    out_deg = np.bincount(proj.sources, minlength=n_pre)
    in_deg = np.bincount(proj.targets, minlength=n_post)
    for deg, n in ((out_deg, n_post), (in_deg, n_pre)):
        mean, var = n * p, n * p * (1 - p)
        assert abs(deg.mean() - mean) < 4 * np.sqrt(var / deg.size)
        assert 0.8 < deg.var() / var < 1.2
    # no pair twice
    pairs = proj.sources.astype(np.int64) * n_post + proj.targets
    assert np.unique(pairs).size == pairs.size


def test_fixed_probability_without_self_connections():
    proj = build(ns.FixedProbability(0.5, allow_self=False), 200, same=True)
    assert not np.any(proj.sources == proj.targets)
    n_pairs = 200 * 199
    assert abs(proj.n_synapses - 0.5 * n_pairs) < 5 * np.sqrt(0.25 * n_pairs)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_fixed_probability_edges(p):
    proj = build(ns.FixedProbability(p), 30, 20)
    assert proj.n_synapses == int(p * 600)


def test_fixed_indegree_exact_and_uniform_sources():
    k, n_pre, n_post = 50, 400, 300
    proj = build(ns.FixedIndegree(k), n_pre, n_post)
    assert np.all(np.bincount(proj.targets, minlength=n_post) == k)
    counts = np.bincount(proj.sources, minlength=n_pre)
    expected = k * n_post / n_pre
    chi2 = ((counts - expected) ** 2 / expected).sum()
    dof = n_pre - 1
    assert chi2 < dof + 5 * np.sqrt(2 * dof)


def test_fixed_indegree_without_multapses_or_self():
    proj = build(ns.FixedIndegree(150, multapses=False, allow_self=False), 200, same=True)
    pairs = proj.sources.astype(np.int64) * 200 + proj.targets
    assert np.unique(pairs).size == pairs.size
    assert not np.any(proj.sources == proj.targets)
    assert np.all(np.bincount(proj.targets, minlength=200) == 150)


def test_fixed_outdegree_exact():
    proj = build(ns.FixedOutdegree(25, multapses=False), 100, 60)
    assert np.all(np.bincount(proj.sources, minlength=100) == 25)
    pairs = proj.sources.astype(np.int64) * 60 + proj.targets
    assert np.unique(pairs).size == pairs.size


def test_all_to_all_one_to_one_and_weight_arrays():
    w = np.arange(12, dtype=float).reshape(3, 4).ravel()
    proj = build(ns.AllToAll(), 3, 4, weight=w)
    np.testing.assert_array_equal(proj.sources, np.repeat(np.arange(3), 4))
    np.testing.assert_array_equal(proj.targets, np.tile(np.arange(4), 3))
    np.testing.assert_array_equal(proj.weights, w.astype(np.float32))
    proj = build(ns.OneToOne(), 5, 5, weight=2.0, delay=1.2)
    np.testing.assert_array_equal(proj.sources, proj.targets)
    np.testing.assert_allclose(proj.delays, 1.2)


def test_explicit_pairs_keep_weights_and_delays_per_synapse():
    pre, post = np.array([2, 0, 2, 1]), np.array([1, 1, 0, 3])
    w, d = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.1, 0.5, 1.0, 2.5])
    proj = build(ns.Explicit(pre, post), 3, 4, weight=w, delay=d)
    got = sorted(zip(proj.sources, proj.targets, proj.weights, np.round(proj.delays, 6)))
    want = sorted(zip(pre, post, w.astype(np.float32), d))
    assert got == want


def test_distributions_for_weights_and_delays():
    proj = build(ns.FixedIndegree(100), 500, 500,
                 weight=ns.Normal(2.0, 0.5, low=0.0), delay=ns.Uniform(0.5, 3.0))
    w, d = proj.weights, proj.delays
    assert abs(w.mean() - 2.0) < 0.02 and abs(w.std() - 0.5) < 0.02
    assert w.min() >= 0
    assert d.min() >= 0.5 - 1e-9 and d.max() <= 3.0 + 1e-9
    np.testing.assert_allclose(d / 0.1, np.round(d / 0.1), atol=1e-9)  # on the grid


def test_weights_read_and_write_back_with_merged_projections():
    net = ns.Network(dt=0.1, device="cpu", seed=3)
    a = net.add_population(50, ns.LIF())
    b = net.add_population(40, ns.LIF())
    p1 = net.connect(a, a, ns.FixedProbability(0.2), weight=1.0)
    p2 = net.connect(a, b, ns.FixedProbability(0.2), weight=2.0)
    p3 = net.connect(a, b, ns.FixedIndegree(3), weight=3.0)
    net.build()
    assert np.all(p1.weights == 1) and np.all(p2.weights == 2) and np.all(p3.weights == 3)
    new = np.linspace(0.0, 5.0, p2.n_synapses)
    p2.weights = new
    np.testing.assert_allclose(p2.weights, new.astype(np.float32))
    assert np.all(p1.weights == 1) and np.all(p3.weights == 3)


def test_same_seed_same_connectivity_and_independent_projections():
    def conn(seed, extra):
        net = ns.Network(dt=0.1, device="cpu", seed=seed)
        a = net.add_population(100, ns.LIF())
        p = net.connect(a, a, ns.FixedProbability(0.1), weight=1.0)
        if extra:
            net.connect(a, a, ns.FixedIndegree(5), weight=1.0)
        net.build()
        return p.sources, p.targets

    s1, t1 = conn(1, False)
    s2, t2 = conn(1, True)
    s3, _ = conn(2, False)
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_array_equal(t1, t2)
    assert not np.array_equal(s1, s3)


@pytest.mark.parametrize("rule,n_pre,n_post,same", [
    (ns.FixedIndegree(50), 3000, 2000, False),
    (ns.FixedIndegree(40, allow_self=False), 1500, 1500, True),
    (ns.FixedIndegree(30, multapses=False), 100, 800, False),
    (ns.FixedIndegree(7), 10, 1000, False),
    (ns.FixedIndegree(0), 10, 10, False)])
def test_fixed_indegree_by_source_is_the_generic_grouping(rule, n_pre, n_post, same):
    """FixedIndegree's own generate_by_source: the same pairs, in the same order, as grouping
    generate()'s pairs by source (the generic path it replaces)."""
    from neurosim.connectivity import group_by_source
    counts, post, order = rule.generate_by_source(n_pre, n_post, same, np.random.default_rng(5))
    pre_g, post_g = rule.generate(n_pre, n_post, same, np.random.default_rng(5))
    want = group_by_source(pre_g, post_g, n_pre, n_post)
    np.testing.assert_array_equal(counts, want[0])
    np.testing.assert_array_equal(post, want[1])
    assert post.dtype == np.int32 and order is None


def test_fixed_indegree_builds_in_bounded_memory(monkeypatch):
    """About 12 bytes per synapse at the peak: the int64 keys and the int32 targets, plus
    temporaries of one chunk (made small here so that a small network shows the bound)."""
    import tracemalloc
    from neurosim import connectivity
    monkeypatch.setattr(connectivity, "_CHUNK", 1 << 16)
    rule = ns.FixedIndegree(100)
    tracemalloc.start()
    try:
        rule.generate_by_source(20_000, 20_000, False, np.random.default_rng(1))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak / 2_000_000 < 14.0          # bytes per synapse (the generic path: about 36)
