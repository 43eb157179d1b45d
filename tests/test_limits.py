"""No hang and no surprise allocation: time steps, run lengths, delays, spike times, truncated
normals (issue 11, section 3). The memory estimates have their own file (test_memory.py)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

import neurosim as ns
from neurosim import truncnorm
from neurosim.network import MAX_RUN_STEPS, MIN_DT


# -- time step and run length ----------------------------------------------------------------------

def test_dt_below_the_floor_is_refused():
    with pytest.raises(ValueError, match=r"dt must be >= 0.001 ms.*got 1e-09 ms.*milliseconds"):
        ns.Network(dt=1e-9)
    assert ns.Network(dt=MIN_DT, device="cpu").dt == MIN_DT


def test_run_refuses_more_steps_than_max_steps_before_starting():
    net = ns.Network(dt=MIN_DT, device="cpu")
    net.add_population(1, ns.LIF())
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"duration = 1e\+06 ms at dt = 0.001 ms is 1e\+09 steps, "
                                         r"more than max_steps = 100,000,000.*max_steps=None"):
        net.run(1e6)
    assert time.perf_counter() - t0 < 1.0 and net.t == 0.0 and net.backend is None
    with pytest.raises(ValueError, match="is 11 steps, more than max_steps = 10"):
        net.run(0.011, max_steps=10)
    net.run(0.011, max_steps=11)
    net.run(0.011, max_steps=None)
    assert net.t == pytest.approx(0.022)
    with pytest.raises(ValueError, match="more than a run can count"):
        net.run(1e30, max_steps=None)
    with pytest.raises(ValueError, match="max_steps must be >= 1"):
        net.run(1.0, max_steps=0)
    assert MAX_RUN_STEPS == 10**8


def test_durations_off_the_grid_are_refused_at_any_length():
    net = ns.Network(dt=0.1, device="cpu")
    net.add_population(1, ns.LIF())
    with pytest.raises(ValueError, match="multiple of dt"):
        net.run(1e6 + 0.05)          # 1e7 + 0.5 steps: the old relative tolerance let it pass


# -- delays: one bound for every form --------------------------------------------------------------

@pytest.mark.parametrize("delay, match", [
    (1e6, r"delay reaches 1e\+06 ms = 1e\+07 steps of dt = 0.1 ms; at most 32767 steps"),
    (np.array([1.0, 5000.0]), r"delay reaches 5000 ms = 50000 steps"),
    (ns.Uniform(1.0, 4000.0), r"reaches 4000 ms \(its upper bound\) = 40000 steps"),
    (ns.Normal(3000.0, 100.0, low=0.1), r"reaches 3857.17 ms \(the largest value it draws"),
    (3276.75, r"32767.5 steps"),
])
def test_every_form_of_delay_has_the_same_bound_at_connect(delay, match):
    net = ns.Network(dt=0.1, device="cpu")
    a = net.add_population(2, ns.LIF())
    with pytest.raises(ValueError, match=match):
        net.connect(a, a, ns.Explicit([0, 1], [1, 0]), weight=1.0, delay=delay)


def test_delays_at_the_bound_build():
    net = ns.Network(dt=0.1, device="cpu", seed=1)
    a = net.add_population(2, ns.LIF())
    p = net.connect(a, a, ns.OneToOne(), weight=1.0, delay=3276.7)
    q = net.connect(a, a, ns.OneToOne(), weight=1.0, delay=ns.Normal(3000.0, 10.0, low=0.1))
    net.build()
    assert net._engine.L.max_delay == 32767
    assert p.delays.max() == pytest.approx(3276.7) and q.delays.max() < 3276.8


# -- spike times -----------------------------------------------------------------------------------

def test_spike_times_beyond_int64_steps_are_refused_with_the_range():
    net = ns.Network(dt=0.1, device="cpu")
    with pytest.raises(ValueError, match=r"times\[0\] has a spike at 1e\+20 ms = 1e\+21 steps of "
                                         r"dt = 0.1 ms; spike times must be at most 2\^53 steps"):
        net.add_population(1, ns.SpikeSource([[1e20]]))
    with pytest.raises(ValueError, match=r"times\[1\].*>= dt"):
        net.add_population(2, ns.SpikeSource([[1.0], [0.01]]))
    net.add_population(1, ns.SpikeSource([[5.0, 1e14]]))      # far, but a reachable step


# -- truncated normals -----------------------------------------------------------------------------

# (low, high) in standard deviations, and the mean/variance from scipy.stats.truncnorm (or, for
# the narrow windows, numerical integration), for a reference independent of neurosim.truncnorm
TRUNCATED = [
    ((5.0, 5.0001), 5.000049995833291, 8.3333332264e-10),
    ((5.0, math.inf), 5.1865039671258515, 0.03269643461706184),
    ((8.0, math.inf), 8.12136811223618, 0.014324883442787484),
    ((8.0, 9.0), 8.121188992979867, 0.014148542782169593),
    ((-math.inf, -10.0), -10.098093233962564, 0.009445377825130441),
    ((-3.0, -2.9), -2.947546040865692, 0.0008294454643942295),
    ((40.0, math.inf), 40.024968847210886, 0.0006226682335286338),
    ((-1e-4, 1e-4), 0.0, 3.33333333e-09),
    ((-1.0, 2.0), 0.22963717909132902, 0.5197625392115339),
]


@pytest.mark.parametrize("bounds, mean, var", TRUNCATED)
def test_truncated_moments_reference(bounds, mean, var):
    m, v = truncnorm.moments(*bounds)
    assert m == pytest.approx(mean, rel=1e-9, abs=1e-15)
    assert v == pytest.approx(var, rel=1e-6)


@pytest.mark.parametrize("bounds, mean, var", TRUNCATED)
def test_truncated_normal_samples_have_the_truncated_moments(bounds, mean, var):
    lo, hi = bounds
    spec = ns.Normal(2.0, 3.0, low=None if math.isinf(lo) else 2.0 + 3.0 * lo,
                     high=None if math.isinf(hi) else 2.0 + 3.0 * hi)
    n = 400_000
    t0 = time.perf_counter()
    x = (spec.sample(np.random.default_rng(7), n) - 2.0) / 3.0
    assert time.perf_counter() - t0 < 5.0
    assert x.min() >= lo - 1e-12 and x.max() <= hi + 1e-12
    se = math.sqrt(var / n)
    assert abs(x.mean() - mean) < 5 * se + 1e-12 * abs(mean)
    # the variance of a sample variance: (kurtosis - 1 + 2/(n-1)) var^2 / n, at most ~9 var^2/n
    # for these (exponential-like tails have kurtosis 9)
    assert abs(x.var() - var) < 5 * math.sqrt(8.0 / n) * var + 1e-12


def test_normal_of_tiny_mass_as_a_weight_builds_at_once():
    net = ns.Network(device="cpu", seed=3)
    a = net.add_population(1000, ns.LIF())
    p = net.connect(a, a, ns.FixedIndegree(100), weight=ns.Normal(0.0, 1.0, low=5.0, high=5.0001))
    t0 = time.perf_counter()
    net.build()
    assert time.perf_counter() - t0 < 5.0
    w = p.weights
    assert w.min() >= np.float32(5.0) and w.max() <= np.float32(5.0001)


def test_redraw_keeps_its_draws_where_the_interval_holds_most_of_the_mass():
    spec = ns.Normal(5.0, 2.0, low=4.0)
    rng = np.random.default_rng(1)
    got = spec.sample(rng, 1000)
    ref = np.random.default_rng(1).normal(5.0, 2.0, 1000)
    ok = ref >= 4.0
    np.testing.assert_array_equal(got[ok], ref[ok])       # kept values are the first draws


def test_bounds_a_million_std_out_are_refused():
    with pytest.raises(ValueError, match=r"more than 1e\+06 std \(std = 1.0\) from the mean 0.0"):
        ns.Normal(0.0, 1.0, low=2e6)
    ns.Normal(0.0, 1.0, low=1e5).sample(np.random.default_rng(0), 10)


@pytest.mark.parametrize("spec", [ns.Normal(0.1, 0.01, low=1.0), ns.Normal(0.0, 1.0, low=5.0),
                                  ns.Normal(2.0, 0.5, low=0.1), ns.Uniform(1.0, 2.0)])
def test_reach_bounds_every_draw(spec):
    """The delay bound of connect() and the ring's size come from ``reach``: no draw exceeds
    it, also for tails drawn by the inverse CDF beyond mean + 8.57 std."""
    from neurosim.distributions import reach
    x = spec.sample(np.random.default_rng(5), 1_000_000)
    assert x.max() <= reach(spec)
    if isinstance(spec, ns.Normal) and spec.mean + 8.58 * spec.std < spec.low:
        assert reach(spec) > spec.low


def test_a_delay_distribution_without_any_bound_is_refused():
    class Exponential(ns.distributions.Distribution):
        def sample(self, rng, n):
            return 1.0 + rng.exponential(1.0, n)

        def bounds(self):
            return (1.0, math.inf)
    net = ns.Network(dt=0.1, device="cpu")
    a = net.add_population(2, ns.LIF())
    with pytest.raises(ValueError, match=r"has no upper bound; at most 32767 steps.*finite upper"):
        net.connect(a, a, ns.OneToOne(), weight=1.0, delay=Exponential())


@pytest.mark.parametrize("rounds", [0, 1, 3])
def test_values_left_after_the_redraws_follow_the_same_truncated_normal(monkeypatch, rounds):
    """Redraw rounds are bounded; what is left is drawn by the inverse CDF, so the values
    follow the truncated normal exactly however many rounds there were."""
    monkeypatch.setattr(ns.distributions, "REDRAW_ROUNDS", rounds)
    spec = ns.Normal(0.0, 1.0, low=-0.5, high=1.5)            # mass 0.62: the redraw path
    n = 400_000
    x = spec.sample(np.random.default_rng(11), n)
    mean, var = truncnorm.moments(-0.5, 1.5)
    assert x.min() >= -0.5 and x.max() <= 1.5
    assert abs(x.mean() - mean) < 5 * math.sqrt(var / n)
    assert abs(x.var() - var) < 5 * math.sqrt(2.0 / n) * var


def test_a_zero_width_interval_gives_its_bound():
    for low in (5.0, -3.0, 0.0):
        x = ns.Normal(0.0, 1.0, low=low, high=low).sample(np.random.default_rng(0), 100)
        np.testing.assert_array_equal(x, low)
