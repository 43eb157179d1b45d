"""The classic reference networks reproduce their published behaviour (scaled/short versions)."""

import numpy as np
import pytest

import neurosim as ns


def test_coba_fires_near_19_hz_and_is_bistable():
    """Brette et al. 2007 benchmark 1: ~19 Hz in both populations; some seeds fall silent in
    every simulator, so several seeds are run and each must be either active in 15-25 Hz or
    silent — nothing in between — with most of them active."""
    active = 0
    for seed in range(1, 7):
        r = ns.networks.vogels_abbott_coba(seed=seed, device="cpu")
        r.network.run(500.0)
        exc = r.monitors["exc"].mean_rate(200.0, 500.0)
        inh = r.monitors["inh"].mean_rate(200.0, 500.0)
        if exc < 1.0:
            assert inh < 1.0
            continue
        assert 15.0 <= exc <= 25.0 and 15.0 <= inh <= 25.0, (seed, exc, inh)
        active += 1
    assert active >= 3


def test_coba_structure():
    r = ns.networks.vogels_abbott_coba(seed=2, device="cpu")
    net = r.network
    net.build()
    projs = net.projections
    assert [p.pre.name + p.post.name for p in projs] == ["excexc", "excinh", "inhexc", "inhinh"]
    total = sum(p.n_synapses for p in projs)
    assert abs(total - 0.02 * 4000 ** 2) < 5 * np.sqrt(0.02 * 4000 ** 2)
    assert np.all(projs[0].weights == 6.0) and np.all(projs[2].weights == 67.0)
    g_e = net.get_state(r.populations["exc"], "g_e")
    assert g_e.min() >= 0 and abs(g_e.mean() - 40.5) < 2.0   # max(0, N(40, 15))


def _brunel_stats(g, seed=1):
    r = ns.networks.brunel_2000(g=g, eta=2.0, n_exc=2000, J=0.5, seed=seed, device="cpu")
    r.network.run(400.0)
    mon, t0, t1 = r.monitors["exc"], 100.0, 400.0
    cvs = [np.std(d) / np.mean(d) for d in
           (np.diff(tr[tr > t0]) for tr in mon.spike_trains()) if d.size > 3]
    t, idx = mon.times, mon.indices
    sel = t > t0
    bins = np.arange(t0, t1 + 1e-9, 1.0)
    pop = np.histogram(t[sel], bins)[0]
    # synchrony: variance of the population count over the summed variances of single
    # neurons' counts (1 for independent neurons, N for perfect synchrony), divided by N
    single = np.zeros((2000, bins.size - 1))
    np.add.at(single, (idx[sel], np.clip(np.digitize(t[sel], bins) - 1, 0, bins.size - 2)), 1)
    chi2 = pop.var() / single.var(axis=1).sum() / 2000
    return mon.mean_rate(t0, t1), float(np.mean(cvs)), chi2, r.params


def test_brunel_asynchronous_irregular_at_g5_eta2():
    rate, cv, chi2, params = _brunel_stats(5.0)
    assert params["c_e"] == 200 and params["c_i"] == 50
    assert 20.0 < rate < 70.0
    assert 0.8 < cv < 1.3            # irregular
    assert chi2 < 0.05               # asynchronous


def test_brunel_synchronous_regular_at_g3_eta2():
    rate, cv, chi2, _ = _brunel_stats(3.0)
    assert rate > 150.0
    assert cv < 0.3                  # regular
    assert chi2 > 0.15               # synchronous


def test_brunel_full_size_structure():
    r = ns.networks.brunel_2000(seed=1, device="cpu")
    assert r.params["c_e"] == 1000 and r.params["c_i"] == 250
    assert r.params["nu_ext_hz"] == pytest.approx(20.0)
    assert r.network.n_neurons == 12_500
