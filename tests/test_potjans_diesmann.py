"""Potjans & Diesmann (2014) microcircuit: parameters, connectivity, delays, rates (scaled down);
and the FixedTotalNumber rule it is built with."""

import importlib
import math

import numpy as np
import pytest

import neurosim as ns
from neurosim.connectivity import FixedTotalNumber
from neurosim.networks.potjans_diesmann import (N_FULL, NEST_RATES_DC, POPULATIONS,
                                                derive_parameters, potjans_diesmann)

# the module (the package attribute of the same name is the function)
pd_mod = importlib.import_module("neurosim.networks.potjans_diesmann")
DT = 0.1


# -- parameters --------------------------------------------------------------------------------

def test_full_scale_parameters_match_nest():
    P = derive_parameters(1.0, 1.0, "dc")
    assert P.sizes.tolist() == [20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948]
    assert P.sizes.sum() == 77169
    # K = log(1-p) / log(1 - 1/(N_pre N_post)) for L2/3E -> L2/3E, p = 0.1009
    k = math.log(1 - 0.1009) / math.log(1 - 1 / 20683**2)
    assert P.num_synapses[0, 0] == round(k)
    assert 2.98e8 < P.num_synapses.sum() < 3.0e8
    np.testing.assert_allclose(P.indegrees, P.num_synapses / P.sizes[:, None])
    # 0.15 mV PSP -> 87.81 pA for C_m 250 pF, tau_m 10 ms, tau_syn 0.5 ms
    assert P.weight_ext == pytest.approx(87.8085, abs=1e-3)
    w = P.weights
    assert w[0, 2] == pytest.approx(2 * P.weight_ext)               # L4E -> L2/3E doubled
    assert w[1, 2] == pytest.approx(P.weight_ext)
    np.testing.assert_allclose(w[:, 1::2], -4 * P.weight_ext)         # g = -4
    # DC background = 8 Hz * K_ext * w_ext * tau_syn
    np.testing.assert_allclose(P.dc, 8.0 * pd_mod.K_EXT * P.weight_ext * 0.5e-3)
    assert P.dc[0] == pytest.approx(561.97, abs=0.01)
    np.testing.assert_allclose(P.delays[:, 0::2], 1.5)
    np.testing.assert_allclose(P.delays[:, 1::2], 0.75)
    assert np.all(derive_parameters(1.0, 1.0, "poisson").dc == 0)


def test_k_scaling_compensates_the_mean_input():
    """Weights / sqrt(k), and DC makes up the missing mean input at the full-scale rates."""
    full, k = derive_parameters(1.0, 1.0, "poisson"), 0.25
    P = derive_parameters(1.0, k, "poisson")
    np.testing.assert_allclose(P.weights, full.weights / math.sqrt(k))
    assert P.weight_ext == pytest.approx(full.weight_ext / math.sqrt(k))
    np.testing.assert_array_equal(P.k_ext, np.round(pd_mod.K_EXT * k))
    nu = pd_mod.FULL_MEAN_RATES
    tau = 0.5e-3

    def mean_input(Q):   # pA: recurrent + external + DC
        return (tau * (Q.weights * Q.indegrees * nu).sum(axis=1)
                + tau * Q.weight_ext * Q.k_ext * 8.0 + Q.dc)

    np.testing.assert_allclose(mean_input(P), mean_input(full), rtol=2e-3)


# -- built network (scaled down) ---------------------------------------------------------------

@pytest.fixture(scope="module")
def small():
    ref = potjans_diesmann(scale=0.05, k_scale=0.2, background="dc", seed=11, device="cpu",
                           record=False)
    ref.network.build()
    return ref


def _projections(ref):
    pops = ref.populations
    out = {}
    for proj in ref.network.projections:
        i, j = POPULATIONS.index(proj.post.name), POPULATIONS.index(proj.pre.name)
        assert pops[proj.post.name] is proj.post
        out[i, j] = proj
    return out


def test_population_sizes_and_synapse_numbers(small):
    P = small.params["derived"]
    for i, name in enumerate(POPULATIONS):
        assert small.populations[name].size == round(N_FULL[i] * 0.05)
    projs = _projections(small)
    assert set(projs) == {(i, j) for i in range(8) for j in range(8) if P.num_synapses[i, j]}
    for (i, j), proj in projs.items():
        assert proj.n_synapses == P.num_synapses[i, j]      # fixed total number, exactly
        indeg = np.bincount(proj.targets, minlength=proj.post.size)
        assert indeg.mean() == pytest.approx(P.indegrees[i, j])
        outdeg = np.bincount(proj.sources, minlength=proj.pre.size)
        assert outdeg.sum() == P.num_synapses[i, j]
    # binomial in-degrees: variance close to the mean for the big pairs
    indeg = np.bincount(projs[0, 0].targets, minlength=projs[0, 0].post.size)
    assert 0.8 < indeg.var() / indeg.mean() < 1.2


def test_weight_statistics_signs_and_doubled_weight(small):
    P = small.params["derived"]
    for (i, j), proj in _projections(small).items():
        w = proj.weights
        mean = P.weights[i, j]
        assert (proj.receptor == "excitatory") == (mean > 0)
        assert np.all(w >= 0) if mean > 0 else np.all(w <= 0)
        if w.size > 2000:
            se = 0.1 * abs(mean) / math.sqrt(w.size)
            assert abs(w.mean() - mean) < 5 * se + 1e-4 * abs(mean)
            assert w.std() == pytest.approx(0.1 * abs(mean), rel=5 / math.sqrt(2 * w.size))
    projs = _projections(small)
    assert projs[0, 2].weights.mean() == pytest.approx(2 * projs[1, 2].weights.mean(), rel=0.01)


def _expected_steps(mean, std, dt):
    """Mean and std of max(1, rint(d/dt)) for d ~ N(mean, std) redrawn below dt/2."""
    x = np.linspace(0.5 * dt, mean + 10 * std, 400_001)
    pdf = np.exp(-0.5 * ((x - mean) / std) ** 2)
    pdf /= pdf.sum()
    s = np.maximum(1, np.rint(x / dt))
    m = (s * pdf).sum()
    return m, math.sqrt(((s - m) ** 2 * pdf).sum())


def test_delay_statistics(small):
    for exc, mean in ((True, 1.5), (False, 0.75)):
        d = np.concatenate([p.delays for (i, j), p in _projections(small).items()
                            if (j % 2 == 0) == exc])
        steps = np.rint(d / DT)
        np.testing.assert_allclose(d, steps * DT, atol=1e-9)            # on the grid
        assert steps.min() >= 1                                          # >= dt
        m, s = _expected_steps(mean, 0.5 * mean, DT)
        assert abs(steps.mean() - m) < 5 * s / math.sqrt(steps.size)
        assert steps.std() == pytest.approx(s, rel=0.01)
        # NEST rounds the values in [dt/2, 1.5 dt) to one step
        p1 = np.mean(steps == 1)
        z = [(b - mean) / (0.5 * mean) for b in (0.05, 0.15)]
        cdf = [0.5 * (1 + math.erf(v / math.sqrt(2))) for v in z]
        expect = (cdf[1] - cdf[0]) / (1 - cdf[0])
        assert abs(p1 - expect) < 5 * math.sqrt(expect / steps.size) + 1e-4


def test_dc_background_and_initial_potentials(small):
    P = small.params["derived"]
    net = small.network
    for i, name in enumerate(POPULATIONS):
        pop = small.populations[name]
        assert pop.model.i_offset == pytest.approx(P.dc[i])
        v = net.get_state(pop, "v")
        assert abs(v.mean() - pd_mod.V0_OPTIMIZED_MEAN[i]) < 5 * pd_mod.V0_OPTIMIZED_STD[i] / math.sqrt(v.size)
    assert not net.poisson_inputs


def test_fixed_indegree_option_and_thalamus():
    ref = potjans_diesmann(scale=0.02, k_scale=0.1, connection="fixed_indegree", thalamic=True,
                           seed=5, device="cpu", record=False)
    net = ref.network
    P = ref.params["derived"]
    th = ref.populations["TH"]
    assert th.size == 902
    for proj in net.projections:
        i = POPULATIONS.index(proj.post.name)
        if proj.pre is th:
            assert proj.rule == FixedTotalNumber(int(P.num_th_synapses[i]))
            assert proj.n_synapses == P.num_th_synapses[i]
            assert POPULATIONS[i] in ("L4E", "L4I", "L6E", "L6I")
            assert np.all(proj.weights > 0)
        else:
            j = POPULATIONS.index(proj.pre.name)
            k = round(P.num_synapses[i, j] / proj.post.size)
            assert np.all(np.bincount(proj.targets, minlength=proj.post.size) == k)
    times = np.concatenate(th.model.times)
    assert times.size > 0 and times.min() >= 700.0 and times.max() < 710.0
    assert len(net.poisson_inputs) == 8


def test_bad_arguments():
    with pytest.raises(ValueError, match="background"):
        potjans_diesmann(0.1, background="noise")
    with pytest.raises(ValueError, match="k_scale"):
        potjans_diesmann(0.1, k_scale=1.5)
    with pytest.raises(ValueError, match="scale"):
        potjans_diesmann(0.0)
    with pytest.raises(ValueError, match="without neurons"):
        potjans_diesmann(1e-4)


def test_short_run_rates_are_plausible():
    """scale 0.1, k_scale 0.1 (weights x sqrt(10), DC compensation), Poisson background."""
    ref = potjans_diesmann(scale=0.1, k_scale=0.1, background="poisson", seed=3, device="cpu")
    ref.network.run(700.0)
    for name in POPULATIONS:
        mon = ref.monitors[name]
        rate = np.count_nonzero(mon.times > 200.0) / mon.population.size / 0.5
        ref_rate = NEST_RATES_DC[name]
        assert ref_rate / 3.5 < rate < ref_rate * 2.5, (name, rate, ref_rate)
    # excitatory L2/3 and L6 are the quietest, L5 the most active, as in the full model
    r = {n: ref.monitors[n].count.mean() for n in POPULATIONS}
    assert max(r["L23E"], r["L6E"]) < min(r["L4E"], r["L5E"], r["L5I"])


# -- the FixedTotalNumber rule -----------------------------------------------------------------

def _build(rule, n_pre=300, n_post=200, same=False, seed=7):
    net = ns.Network(dt=0.1, device="cpu", seed=seed)
    pre = net.add_population(n_pre, ns.LIF())
    post = pre if same else net.add_population(n_post, ns.LIF())
    proj = net.connect(pre, post, rule, weight=1.0)
    net.build()
    return proj


def test_fixed_total_number_counts_and_uniformity():
    n, n_pre, n_post = 60_000, 300, 200
    proj = _build(FixedTotalNumber(n), n_pre, n_post)
    assert proj.n_synapses == n
    for deg, size in ((np.bincount(proj.sources, minlength=n_pre), n_pre),
                      (np.bincount(proj.targets, minlength=n_post), n_post)):
        expected = n / size
        chi2 = ((deg - expected) ** 2 / expected).sum()
        assert chi2 < (size - 1) + 5 * math.sqrt(2 * (size - 1))
    # sources and targets independent: pair counts follow the product of the margins
    pairs = np.bincount(proj.sources.astype(np.int64) * n_post + proj.targets,
                        minlength=n_pre * n_post)
    assert pairs.mean() == pytest.approx(1.0)
    assert 0.95 < pairs.var() < 1.05                 # Poisson-like multiplicities (multapses)


def test_fixed_total_number_without_self_or_multapses():
    proj = _build(FixedTotalNumber(5000, allow_self=False), 100, same=True)
    assert proj.n_synapses == 5000 and not np.any(proj.sources == proj.targets)
    proj = _build(FixedTotalNumber(9000, allow_self=False, multapses=False), 100, same=True)
    pairs = proj.sources.astype(np.int64) * 100 + proj.targets
    assert proj.n_synapses == 9000 and np.unique(pairs).size == 9000
    assert not np.any(proj.sources == proj.targets)
    proj = _build(FixedTotalNumber(0), 10, 10)
    assert proj.n_synapses == 0


def test_fixed_total_number_generate_matches_generate_by_source():
    rule = FixedTotalNumber(1000, allow_self=False)
    pre, post = rule.generate(50, 50, True, np.random.default_rng(1))
    counts, post2, order = rule.generate_by_source(50, 50, True, np.random.default_rng(1))
    assert order is None and rule.size(50, 50, True) == 1000
    np.testing.assert_array_equal(pre, np.repeat(np.arange(50), counts))
    np.testing.assert_array_equal(post, post2)


def test_fixed_total_number_bad_input():
    with pytest.raises(ValueError, match="n must be >= 0"):
        FixedTotalNumber(-1)
    with pytest.raises(TypeError):
        FixedTotalNumber(2.5)
    net = ns.Network(dt=0.1, device="cpu", seed=1)
    a = net.add_population(10, ns.LIF())
    with pytest.raises(ValueError, match="eligible pairs"):
        net.connect(a, a, FixedTotalNumber(91, allow_self=False, multapses=False), weight=1.0)
    b = net.add_population(1, ns.LIF())
    with pytest.raises(ValueError, match="no eligible pairs"):
        net.connect(b, b, FixedTotalNumber(1, allow_self=False), weight=1.0)


def test_class_layout_members_interleave_per_row():
    """Several projections from one source population share rows; weights read back per member."""
    net = ns.Network(dt=0.1, device="cpu", seed=2)
    a = net.add_population(40, ns.LIF())
    b = net.add_population(30, ns.LIF())
    d = ns.Normal(1.0, 0.5, low=0.1)
    p1 = net.connect(a, b, FixedTotalNumber(500), weight=1.0, delay=d)
    p2 = net.connect(b, a, ns.FixedProbability(0.3), weight=2.0, delay=d)
    p3 = net.connect(a, a, ns.FixedIndegree(7), weight=3.0, delay=d)
    p4 = net.connect(a, b, ns.FixedIndegree(5), weight=4.0, delay=0.5)
    net.build()
    L = net._engine.L
    assert len(L.classes) == 2
    for p, w in ((p1, 1.0), (p2, 2.0), (p3, 3.0), (p4, 4.0)):
        assert np.all(p.weights == w)
    hetero = next(c for c in L.classes if c.delay is None)
    # row of source neuron 0 of a: p1's synapses, then p3's, with their own columns
    row = slice(hetero.indptr[0], hetero.indptr[1])
    n1 = int(np.sum(p1.sources == 0))
    assert np.all(hetero.weights[row][:n1] == 1.0) and np.all(hetero.weights[row][n1:] == 3.0)
    assert hetero.n_synapses == p1.n_synapses + p2.n_synapses + p3.n_synapses
    assert hetero.delays.dtype == np.uint8 and hetero.delays.min() >= 1
