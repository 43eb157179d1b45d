"""Connectivity generated on the device (``kernels/connect.cu``, ``engine/device_connect.py``).

Three kinds of checks:

- against a NumPy mirror of the kernels' definitions (numpy's own Philox4x64 with the same keys
  and counters, written here from the definitions in ``kernels/connect.cu``): the integer part
  (sources, targets, row lengths) exactly, weights within float32 rounding, delay steps exactly
  but for values that round at a half step;
- against the specification of each rule and distribution (degree distributions, moments,
  bounds, the probability mass of NEST's rounded delays), as the host draws are tested;
- the engine around it: reading and setting weights, reproducibility, mixing with host-drawn
  projections, errors before any work.

They run on ``cuda:host`` (the kernels compiled for the CPU) and on a GPU where there is one
(``gpu`` marker).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import neurosim as ns
from neurosim.backends import cuda_status, host_build_status
from neurosim.engine import device_connect as dc
from neurosim import truncnorm
from neurosim.engine.layout import rng_for
from neurosim.networks.potjans_diesmann import NestDelay

pytestmark = pytest.mark.skipif(not host_build_status()[0], reason="no g++ for the host build")

DT = 0.1
GEN_DEVICES = [pytest.param("cuda:host", id="cuda-host"),
               pytest.param("cuda", id="cuda", marks=pytest.mark.gpu)]


@pytest.fixture(params=GEN_DEVICES)
def gdev(request):
    if request.param == "cuda" and not cuda_status()[0]:
        pytest.skip(f"no GPU: {cuda_status()[1]}")
    return request.param


# -- the NumPy mirror of kernels/connect.cu ------------------------------------------------------

def blocks(seed, index, purpose, attempt, n):
    """Blocks 0..n-1 of the stream (purpose, attempt) of projection ``index``: (n, 4) uint64."""
    key = dc.connect_key(seed, index)
    bg = np.random.Philox(key=key, counter=np.array([0, purpose, attempt, 0], np.uint64))
    return bg.random_raw(4 * n).reshape(n, 4)


def below(raw, n):
    return (((raw >> np.uint64(32)) * np.uint64(n)) >> np.uint64(32)).astype(np.int64)


def mirror_uniform_targets(seed, index, n_syn, n_post, sources=None):
    t = below(blocks(seed, index, 0, 0, n_syn)[:, 0], n_post)
    attempt = 0
    while sources is not None:
        bad = np.flatnonzero(t == sources)
        if not bad.size:
            break
        attempt += 1
        t[bad] = below(blocks(seed, index, 0, attempt, n_syn)[bad, 0], n_post)
    return t


def mirror_tnormal(seed, index, purpose, attempt, sel, n, mean, std, lo, hi):
    """ns_connect_tnormal: the inverse CDF of neurosim.truncnorm from block (purpose, attempt)."""
    k = blocks(seed, index, purpose, attempt, n)[sel, 0] >> np.uint64(12)
    u, v = truncnorm.uniform_pair(k)
    x = mean + std * truncnorm.sample(u, v, (lo - mean) / std, (hi - mean) / std)
    return np.clip(x, lo, hi)


def mirror_normal(seed, index, purpose, n, mean, std, lo=-np.inf, hi=np.inf, clip=False):
    direct = (not clip and std > 0
              and truncnorm.mass((lo - mean) / std, (hi - mean) / std) < 0.25)
    if direct:
        return mirror_tnormal(seed, index, purpose, 0, slice(None), n, mean, std, lo, hi)
    out = np.empty(n)
    todo = np.arange(n)
    for attempt in range(dc_redraws()):
        if not todo.size:
            break
        b = blocks(seed, index, purpose, attempt, n)[todo]
        u1 = ((b[:, 0] >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0 ** -53
        u2 = (b[:, 1] >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
        v = mean + std * (np.sqrt(-2.0 * np.log(u1)) * np.cos(2 * np.pi * u2))
        if clip:
            out[todo] = np.clip(v, lo, hi)
            return out
        ok = (v >= lo) & (v <= hi)
        out[todo[ok]] = v[ok]
        todo = todo[~ok]
    if todo.size:
        out[todo] = mirror_tnormal(seed, index, purpose, dc_redraws(), todo, n, mean, std, lo, hi)
    return out


def dc_redraws():
    """NS_CONNECT_REDRAWS of kernels/connect.cu."""
    from neurosim.backends.kernel_source import load_source
    import re
    return int(re.search(r"#define NS_CONNECT_REDRAWS (\d+)ULL", load_source("connect.cu"))[1])


def ftn_counts(seed, index, n, n_pre):
    return rng_for(seed, dc.COUNTS_SPAWN, index).multinomial(n, np.full(n_pre, 1.0 / n_pre))


def device_net(gdev, seed=5):
    return ns.Network(dt=DT, device=gdev, seed=seed, connectivity="device")


# -- exact agreement with the mirror ---------------------------------------------------------------

@pytest.mark.parametrize("allow_self", [True, False])
def test_fixed_total_number_matches_the_mirror(gdev, allow_self):
    net = device_net(gdev, seed=7)
    a = net.add_population(150, ns.LIF())
    p = net.connect(a, a, ns.FixedTotalNumber(4000, allow_self=allow_self),
                    weight=ns.Normal(10.0, 2.0, low=8.0), delay=ns.Normal(1.5, 0.75, low=0.1))
    net.build()
    counts = ftn_counts(7, p.index, 4000, 150)
    src = np.repeat(np.arange(150), counts)
    np.testing.assert_array_equal(p.sources, src)
    want_t = mirror_uniform_targets(7, p.index, 4000, 150, None if allow_self else src)
    np.testing.assert_array_equal(p.targets, want_t)
    if not allow_self:
        assert not np.any(p.targets == p.sources)
    w = mirror_normal(7, p.index, 1, 4000, 10.0, 2.0, lo=8.0)
    np.testing.assert_allclose(p.weights, w.astype(np.float32), rtol=1e-6)
    assert p.weights.min() >= 8.0
    d = mirror_normal(7, p.index, 2, 4000, 1.5, 0.75, lo=0.1)
    steps = np.maximum(1, np.rint(d / DT))
    got = np.rint(p.delays / DT)
    assert np.mean(got == steps) > 0.999          # a value at exactly half a step may round apart
    assert np.all(np.abs(got - steps) <= 1)


def test_fixed_indegree_outdegree_all_to_all_one_to_one_match_the_mirror(gdev):
    net = device_net(gdev, seed=11)
    a = net.add_population(120, ns.LIF())
    b = net.add_population(90, ns.LIF())
    fi = net.connect(a, b, ns.FixedIndegree(15), weight=ns.Uniform(1.0, 3.0), delay=2.0)
    fo = net.connect(b, a, ns.FixedOutdegree(7), weight=-1.0, receptor="inhibitory",
                     delay=ns.Uniform(0.5, 4.0))
    aa = net.connect(b, b, ns.AllToAll(allow_self=False), weight=0.5, delay=1.0)
    oo = net.connect(b, b, ns.OneToOne(), weight=0.25, delay=3.0)
    fis = net.connect(a, a, ns.FixedIndegree(9, allow_self=False), weight=1.0, delay=1.0)
    net.build()
    # FixedIndegree: sorted (source, target) keys
    src = below(blocks(11, fi.index, 0, 0, 90 * 15)[:, 0], 120)
    keys = np.sort(src * 90 + np.repeat(np.arange(90), 15))
    np.testing.assert_array_equal(fi.sources, keys // 90)
    np.testing.assert_array_equal(fi.targets, keys % 90)
    assert np.all(np.bincount(fi.targets, minlength=90) == 15)
    u = (blocks(11, fi.index, 1, 0, keys.size)[:, 0] >> np.uint64(11)) * 2.0 ** -53
    np.testing.assert_allclose(fi.weights, (1.0 + 2.0 * u).astype(np.float32), rtol=1e-6)
    assert np.all(fi.delays == 2.0)
    # the same with the diagonal excluded: redraws
    t = np.repeat(np.arange(120), 9)
    s = below(blocks(11, fis.index, 0, 0, t.size)[:, 0], 120)
    attempt = 0
    while np.any(s == t):
        attempt += 1
        bad = np.flatnonzero(s == t)
        s[bad] = below(blocks(11, fis.index, 0, attempt, t.size)[bad, 0], 120)
    keys = np.sort(s * 120 + t)
    np.testing.assert_array_equal(fis.sources, keys // 120)
    np.testing.assert_array_equal(fis.targets, keys % 120)
    # FixedOutdegree: uniform targets, k per source
    np.testing.assert_array_equal(fo.sources, np.repeat(np.arange(90), 7))
    np.testing.assert_array_equal(fo.targets, mirror_uniform_targets(11, fo.index, 630, 120))
    u = (blocks(11, fo.index, 2, 0, 630)[:, 0] >> np.uint64(11)) * 2.0 ** -53
    np.testing.assert_array_equal(np.rint(fo.delays / DT),
                                  np.maximum(1, np.rint((0.5 + 3.5 * u) / DT)))
    # AllToAll without the diagonal, OneToOne
    pairs = [(i, j) for i in range(90) for j in range(90) if i != j]
    np.testing.assert_array_equal(np.c_[aa.sources, aa.targets], np.array(pairs))
    np.testing.assert_array_equal(oo.sources, np.arange(90))
    np.testing.assert_array_equal(oo.targets, np.arange(90))


def test_fixed_probability_matches_the_mirror(gdev):
    net = device_net(gdev, seed=3)
    a = net.add_population(60, ns.LIF())
    b = net.add_population(200, ns.LIF())
    p = net.connect(a, b, ns.FixedProbability(0.07), weight=1.0, delay=1.0)
    q = net.connect(b, b, ns.FixedProbability(0.3, allow_self=False), weight=1.0, delay=1.0)
    full = net.connect(a, a, ns.FixedProbability(1.0), weight=1.0, delay=1.0)
    none = net.connect(a, b, ns.FixedProbability(0.0), weight=1.0, delay=1.0)
    net.build()
    for proj, n_pre, n_post, p_conn, excl in ((p, 60, 200, 0.07, False),
                                              (q, 200, 200, 0.3, True)):
        key = dc.connect_key(3, proj.index)
        log1mp = math.log1p(-p_conn)
        width = n_post - excl
        want = []
        for i in range(n_pre):      # the row's own stream, geometric gaps
            raw = np.random.Philox(key=key, counter=np.array([0, 3, i, 0], np.uint64))
            pos = -1
            while True:
                r = int(raw.random_raw())
                u = ((r >> 11) + 1.0) * 2.0 ** -53
                pos += min(math.floor(math.log(u) / log1mp), width) + 1
                if pos >= width:
                    break
                want.append((i, pos + (excl and pos >= i)))
        np.testing.assert_array_equal(np.c_[proj.sources, proj.targets], np.array(want))
    assert full.n_synapses == 60 * 60 and none.n_synapses == 0


# -- against the specification ---------------------------------------------------------------------

def chi2_stat(observed, expected):
    return float(np.sum((observed - expected) ** 2 / expected))


def test_degree_distributions_follow_the_rules():
    net = device_net("cuda:host", seed=21)
    a = net.add_population(400, ns.LIF())
    b = net.add_population(500, ns.LIF())
    ftn = net.connect(a, b, ns.FixedTotalNumber(60_000), weight=1.0, delay=1.0)
    fp = net.connect(b, b, ns.FixedProbability(0.05, allow_self=False), weight=1.0, delay=1.0)
    fo = net.connect(a, b, ns.FixedOutdegree(50), weight=1.0, delay=1.0)
    net.build()
    # FixedTotalNumber: exactly n; in- and out-degrees binomial(n, 1/N)
    assert ftn.n_synapses == 60_000
    for deg, n_cells in ((np.bincount(ftn.sources, minlength=400), 400),
                         (np.bincount(ftn.targets, minlength=500), 500)):
        mean, var = 60_000 / n_cells, 60_000 / n_cells * (1 - 1 / n_cells)
        assert abs(deg.mean() - mean) < 1e-9
        assert 0.8 * var < deg.var() < 1.2 * var
    # uniform targets: chi-square with 499 degrees of freedom within 4 sigma
    assert abs(chi2_stat(np.bincount(ftn.targets, minlength=500), 120.0) - 499) < 4 * math.sqrt(2 * 499)
    # FixedProbability: out-degree binomial(499, p), no self-connections, uniform targets
    out = np.bincount(fp.sources, minlength=500)
    assert abs(out.mean() - 499 * 0.05) < 4 * math.sqrt(499 * 0.05 * 0.95 / 500)
    assert 0.8 < out.var() / (499 * 0.05 * 0.95) < 1.2
    assert not np.any(fp.sources == fp.targets)
    # no multapses: every (source, target) pair at most once
    assert np.unique(fp.sources.astype(np.int64) * 500 + fp.targets).size == fp.n_synapses
    # FixedOutdegree: exactly k per source, uniform targets
    assert np.all(np.bincount(fo.sources, minlength=400) == 50)
    assert abs(chi2_stat(np.bincount(fo.targets, minlength=500), 40.0) - 499) < 4 * math.sqrt(2 * 499)


def test_weight_and_delay_distributions_follow_the_spec():
    net = device_net("cuda:host", seed=2)
    a = net.add_population(300, ns.LIF())
    n = 200_000
    redraw = net.connect(a, a, ns.FixedTotalNumber(n), weight=ns.Normal(5.0, 2.0, low=4.0),
                         delay=NestDelay(1.5, 0.75, DT))
    clip = net.connect(a, a, ns.FixedTotalNumber(n), weight=ns.Normal(5.0, 2.0, low=4.0,
                                                                         bound="clip"),
                       delay=ns.Uniform(1.0, 2.0))
    net.build()
    phi = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))       # noqa: E731
    w = redraw.weights.astype(np.float64)
    assert w.min() >= 4.0
    # truncated normal N(5, 2) on [4, inf): mean 5 + 2 pdf(-0.5) / (1 - Phi(-0.5))
    pdf = math.exp(-0.125) / math.sqrt(2 * math.pi)
    assert abs(w.mean() - (5 + 2 * pdf / (1 - phi(-0.5)))) < 4 * 2 / math.sqrt(n)
    wc = clip.weights
    assert abs(np.mean(wc == np.float32(4.0)) - phi(-0.5)) < 4 * math.sqrt(0.31 * 0.69 / n)
    # NEST's delays: normal redrawn below dt/2, rounded to the grid: the mass of each step
    steps = np.rint(redraw.delays / DT).astype(int)
    top = 30
    edges = (np.arange(1, top + 1) - 0.5) * DT
    edges[0] = 0.5 * DT
    cdf = np.array([phi((x - 1.5) / 0.75) for x in np.r_[edges, (top + 0.5) * DT]])
    mass = np.diff(cdf) / (1 - phi((0.5 * DT - 1.5) / 0.75))
    obs = np.bincount(steps, minlength=top + 1)[1:top + 1]
    keep = mass * n > 20
    assert abs(chi2_stat(obs[keep], n * mass[keep]) - keep.sum()) < 5 * math.sqrt(2 * keep.sum())
    # uniform delays on [1, 2): steps 10..20, the end steps with half the mass
    ds = np.rint(clip.delays / DT).astype(int)
    assert ds.min() == 10 and ds.max() == 20
    share = np.bincount(ds, minlength=21)[10:21] / n
    np.testing.assert_allclose(share[1:-1], 0.1, atol=0.006)
    np.testing.assert_allclose(share[[0, -1]], 0.05, atol=0.004)


# -- the engine around it ----------------------------------------------------------------------------

def test_reproducible_and_independent_of_later_projections():
    def build(seed, extra):
        net = device_net("cuda:host", seed=seed)
        a = net.add_population(100, ns.LIF())
        p = net.connect(a, a, ns.FixedProbability(0.2), weight=ns.Normal(1.0, 0.2, low=0.0),
                        delay=ns.Uniform(1.0, 3.0))
        if extra:
            net.connect(a, a, ns.FixedTotalNumber(500), weight=1.0)
        net.build()
        return p.targets, p.weights, p.delays
    first, again, more, other = build(4, False), build(4, False), build(4, True), build(5, False)
    for x, y, z in zip(first, again, more):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)
    assert first[0].size != other[0].size or not np.array_equal(first[0], other[0])


def test_weights_can_be_read_and_set_and_the_network_runs():
    net = device_net("cuda:host", seed=9)
    a = net.add_population(200, ns.LIF(), initial={"v": ns.Uniform(-70.0, -50.0)})
    p = net.connect(a, a, ns.FixedTotalNumber(4000), weight=ns.Normal(30.0, 3.0, low=0.0),
                    delay=ns.Normal(1.5, 0.5, low=0.1))
    net.add_poisson_input(a, rate=8.0, weight=87.8, n_sources=1500)
    mon = net.record_spikes(a)
    net.run(50.0)
    assert mon.num_spikes > 0
    w = np.full(p.n_synapses, 12.5, np.float32)
    p.weights = w
    np.testing.assert_array_equal(p.weights, w)
    net.run(10.0)


def test_device_and_host_connectivity_give_the_same_rates():
    """A scaled-down microcircuit with the device's draws fires like the host's."""
    rates = {}
    for mode in ("host", "device"):
        r = ns.networks.potjans_diesmann(scale=0.04, k_scale=0.04, background="dc",
                                         device="cuda:host", seed=3, connectivity=mode)
        r.network.run(400.0)
        rates[mode] = np.array([m.num_spikes for m in r.monitors.values()], float)
        assert r.network.backend == "cuda:host"
    h, d = rates["host"], rates["device"]
    assert abs(h.sum() - d.sum()) < 0.2 * h.sum()


def test_mixed_host_and_device_projections(monkeypatch):
    """With connectivity="auto" on a GPU the unsupported projections stay on the host: both kinds
    of classes in one engine (here forced on cuda:host)."""
    net = ns.Network(dt=DT, device="cuda:host", seed=1)
    a = net.add_population(50, ns.LIF())
    host_p = net.connect(a, a, ns.Explicit([0, 1, 2], [3, 4, 5]), weight=[1.0, 2.0, 3.0],
                         delay=ns.Uniform(1.0, 2.0))
    dev_p = net.connect(a, a, ns.FixedIndegree(4), weight=2.0, delay=ns.Uniform(1.0, 2.0))
    real = dc.generated_projections
    monkeypatch.setattr(dc, "generated_projections",
                        lambda n, backend: real(n, "cuda" if backend == "cuda:host" else backend))
    assert real(net, "cuda") == [dev_p]
    net.build()
    classes = net._engine.L.classes
    assert sorted(c.generated for c in classes) == [False, True]
    np.testing.assert_array_equal(host_p.weights, [1.0, 2.0, 3.0])
    assert np.all(np.bincount(dev_p.targets, minlength=50) == 4)
    net.run(5.0)


def test_auto_keeps_host_draws_except_on_a_gpu():
    net = ns.Network(dt=DT, device="cuda:host", seed=1)
    a = net.add_population(10, ns.LIF())
    p = net.connect(a, a, ns.FixedTotalNumber(30), weight=1.0)
    assert dc.generated_projections(net, "cuda:host") == []
    assert dc.generated_projections(net, "numpy") == []
    assert dc.generated_projections(net, "cuda") == [p]
    net.connectivity = "host"
    assert dc.generated_projections(net, "cuda") == []


def test_memory_estimate_counts_generated_synapses():
    from neurosim.engine import cuda_engine
    net = device_net("cuda:host")
    a = net.add_population(100, ns.LIF())
    net.connect(a, a, ns.FixedTotalNumber(10_000), weight=1.0, delay=ns.Normal(2.0, 0.5, low=0.1))
    net.build()
    est = cuda_engine.device_bytes(net._engine.L)
    assert est["synapses"] >= 10_000 * 11


# -- errors --------------------------------------------------------------------------------------

def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="connectivity"):
        ns.Network(connectivity="gpu")
    with pytest.raises(ValueError, match="device='cpu' runs NumPy"):
        ns.Network(device="cpu", connectivity="device")
    net = device_net("cuda:host")
    a = net.add_population(10, ns.LIF())
    with pytest.raises(ValueError, match=r"'x'.*Explicit is drawn on the host"):
        net.connect(a, a, ns.Explicit([0], [1]), weight=1.0, name="x")
    with pytest.raises(ValueError, match="multapses=False"):
        net.connect(a, a, ns.FixedIndegree(3, multapses=False), weight=1.0)
    with pytest.raises(ValueError, match="weight is an array"):
        net.connect(a, a, ns.AllToAll(), weight=np.ones(100))
    auto = ns.Network(device="auto", seed=1, connectivity="device")   # NumPy below 10,000
    b = auto.add_population(10, ns.LIF())
    auto.connect(b, b, ns.FixedTotalNumber(5), weight=1.0)
    with pytest.raises(ValueError, match="runs on the 'numpy' backend"):
        auto.build()


@pytest.mark.parametrize("low, high", [(5.0, 5.0001), (8.0, None), (5.99, None),
                                       (-3.0, -2.9), (40.0, 41.0)])
def test_truncated_normals_of_tiny_mass_are_drawn_directly(gdev, low, high):
    """Intervals with little mass are sampled by the inverse CDF (kind 3): bounded time, the
    mirror's values, and the moments of the truncated normal."""
    net = device_net(gdev, seed=3)
    a = net.add_population(200, ns.LIF())
    spec = ns.Normal(0.0, 1.0, low=low, high=high)
    assert dc.value_spec(spec)[0] == 3
    p = net.connect(a, a, ns.FixedTotalNumber(50_000), weight=spec,
                    receptor="excitatory" if low >= 0 else "inhibitory")
    net.build()
    w = p.weights.astype(np.float64)
    hi = np.inf if high is None else high
    want = mirror_normal(3, p.index, 1, 50_000, 0.0, 1.0, low, hi)
    np.testing.assert_allclose(w, want.astype(np.float32), rtol=1e-6)
    assert w.min() >= np.float32(low) and w.max() <= np.float32(hi)
    mean, var = truncnorm.moments(low, hi)
    assert abs(w.mean() - mean) < 5 * math.sqrt(var / w.size) + 1e-6 * abs(mean)
    # float32 weights: their rounding (about 1e-7 relative) adds to the variance of narrow ones
    assert abs(w.var() - var) < 5 * math.sqrt(8.0 / w.size) * var + (1e-7 * abs(mean)) ** 2


def test_delays_of_a_far_tail_stay_within_the_ring(gdev):
    net = device_net(gdev, seed=9)
    a = net.add_population(300, ns.LIF())
    spec = ns.Normal(0.1, 0.01, low=1.0)                  # 90 std out: the inverse CDF
    p = net.connect(a, a, ns.FixedTotalNumber(20_000), weight=1.0, delay=spec)
    net.build()
    steps = np.rint(p.delays / DT).astype(int)
    assert steps.min() == 10 and steps.max() <= dc.delay_bound_steps(spec, DT)
    assert net._engine.n_slots >= steps.max()
    net.run(2.0)


def test_overlong_delays_are_errors():
    net = device_net("cuda:host")
    a = net.add_population(2, ns.LIF())
    with pytest.raises(ValueError, match="3857.17 ms.*no high bound.*at most 32767 steps"):
        net.connect(a, a, ns.OneToOne(), weight=1.0,
                    delay=ns.Normal(3000.0, 100.0, low=0.1), name="long")
    # what connect() lets through is within the int16 steps of the device's delays
    p = net.connect(a, a, ns.OneToOne(), weight=1.0, delay=ns.Normal(2000.0, 100.0, low=0.1),
                    name="ok")
    assert dc.delay_bound_steps(p.delay, DT) <= dc.MAX_DELAY_STEPS


def test_device_memory_exhausted_while_counting_is_a_device_memory_error(monkeypatch):
    def no_room(self, proj):
        raise MemoryError("out of memory allocating 8,000,000 bytes")
    monkeypatch.setattr(dc.DeviceConnectivity, "counts", no_room)
    net = device_net("cuda:host")
    a = net.add_population(10, ns.LIF())
    net.connect(a, a, ns.FixedIndegree(3), weight=1.0)
    with pytest.raises(ns.DeviceMemoryError, match="connectivity='host'"):
        net.build()


def test_any_launch_shape_and_thread_order_give_the_same_synapses(monkeypatch):
    """Every synapse has a fixed position and its own random numbers: a multi-block grid with
    threads in shuffled order writes exactly what one thread writes."""
    from neurosim.backends import hostbuild

    def build():
        net = device_net("cuda:host", seed=13)
        a = net.add_population(70, ns.LIF())
        b = net.add_population(40, ns.LIF())
        projs = [net.connect(a, b, ns.FixedTotalNumber(900, allow_self=False), weight=2.0,
                             delay=ns.Normal(1.0, 0.5, low=0.1)),
                 net.connect(b, a, ns.FixedProbability(0.2), weight=ns.Uniform(1.0, 2.0),
                             delay=ns.Uniform(0.2, 1.0)),
                 net.connect(a, a, ns.FixedIndegree(5), weight=1.0, delay=1.0)]
        net.build()
        return [(p.sources, p.targets, p.weights, p.delays) for p in projs]

    reference = build()
    real = dc.DeviceConnectivity._launch

    def many_threads(self, name, n, *args):
        kernel = self.dev.kernel(dc.KERNELS, name)
        kernel((3,), (7,), args)                      # 21 threads, grid-stride loops
    monkeypatch.setattr(dc.DeviceConnectivity, "_launch", many_threads)
    with hostbuild.shuffle_order(True):
        shuffled = build()
    monkeypatch.setattr(dc.DeviceConnectivity, "_launch", real)
    for ref, got in zip(reference, shuffled):
        for x, y in zip(ref, got):
            np.testing.assert_array_equal(x, y)
