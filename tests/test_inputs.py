"""Inputs: Poisson sources and drives (statistics, reproducibility), spike sources, currents."""

import numpy as np
import pytest

import neurosim as ns


def _poisson_pvalue_chi2(counts, lam):
    """Chi-square statistic of counts against Poisson(lam), bins with expectation >= 5."""
    from math import exp, lgamma, log
    kmax = counts.max() + 1
    k = np.arange(kmax + 1)
    pmf = np.exp(k * log(lam) - lam - np.array([lgamma(x + 1) for x in k]))
    obs = np.bincount(counts, minlength=kmax + 1).astype(float)
    exp_ = pmf * counts.size
    exp_[-1] += counts.size * (1 - pmf.sum())
    keep = exp_ >= 5
    o = np.append(obs[keep], obs[~keep].sum())
    e = np.append(exp_[keep], exp_[~keep].sum())
    chi2 = ((o - e) ** 2 / e).sum()
    return chi2, o.size - 1


def test_poisson_source_rate_and_counts(device):
    rate, T, n = 20.0, 5000.0, 400
    net = ns.Network(dt=0.1, device=device, seed=11)
    src = net.add_population(n, ns.PoissonSource(rate=rate))
    mon = net.record_spikes(src)
    net.run(T)
    counts = mon.count
    mean = rate * T * 1e-3
    assert abs(counts.mean() - mean) < 4 * np.sqrt(mean / n)
    assert 0.8 < counts.var() / mean < 1.2                      # Fano factor ~ 1
    chi2, dof = _poisson_pvalue_chi2(counts, mean)
    assert chi2 < dof + 5 * np.sqrt(2 * dof)
    # intervals are exponential: CV of ISIs close to 1
    isi = np.concatenate([np.diff(t) for t in mon.spike_trains()])
    assert 0.9 < isi.std() / isi.mean() < 1.1


def test_poisson_source_per_neuron_rates(device):
    rates = np.array([0.0, 5.0, 50.0, 200.0])
    net = ns.Network(dt=0.1, device=device, seed=2)
    src = net.add_population(4, ns.PoissonSource(rate=rates))
    mon = net.record_spikes(src)
    net.run(4000.0)
    r = mon.rates()
    assert r[0] == 0
    np.testing.assert_allclose(r[1:], rates[1:], rtol=0.25)


def test_poisson_input_counts_are_poisson(device):
    """A non-leaky integrator counts its input: v(T) = w * Poisson(n * rate * T)."""
    n_src, rate, T = 100, 50.0, 200.0
    net = ns.Network(dt=0.1, device=device, seed=5)
    pop = net.add_population(500, ns.LIF(tau_m=1e9, v_rest=0.0, v_reset=0.0, v_thresh=1e9,
                                         synapse="delta"))
    net.add_poisson_input(pop, rate=rate, weight=1.0, n_sources=n_src)
    net.run(T)
    v = net.get_state(pop, "v")
    lam = n_src * rate * T * 1e-3
    counts = np.rint(v).astype(int)
    assert np.allclose(v, counts, atol=1e-3)
    assert abs(counts.mean() - lam) < 4 * np.sqrt(lam / counts.size)
    assert 0.8 < counts.var() / lam < 1.2


def test_random_input_reproducible_from_seed():
    def run(seed):
        net = ns.Network(dt=0.1, device="cpu", seed=seed)
        src = net.add_population(50, ns.PoissonSource(rate=30.0))
        mon = net.record_spikes(src)
        net.run(200.0)
        return mon.times, mon.indices

    a, b, c = run(3), run(3), run(4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[0].size != c[0].size or not np.array_equal(a[1], c[1])


def test_spike_source_emits_given_times(device):
    times = [[0.1, 5.0, 5.04, 12.3], [], [7.0]]
    net = ns.Network(dt=0.1, device=device, seed=1)
    src = net.add_population(3, ns.SpikeSource(times))
    mon = net.record_spikes(src)
    net.run(20.0)
    np.testing.assert_allclose(mon.times, [0.1, 5.0, 7.0, 12.3], atol=1e-9)
    np.testing.assert_array_equal(mon.indices, [0, 0, 2, 0])


def test_spike_source_rejects_times_before_dt():
    net = ns.Network(dt=0.1, device="cpu")
    with pytest.raises(ValueError, match=r"add_population\(\).*times\[0\].*>= dt"):
        net.add_population(1, ns.SpikeSource([[0.0, 1.0]]))


def test_step_current_gives_exact_piecewise_trace(device):
    net = ns.Network(dt=0.1, device=device, seed=1)
    pop = net.add_population(1, ns.LIF(tau_m=20.0, cm=250.0, v_rest=-70.0, v_thresh=0.0))
    net.inject(pop, ns.StepCurrent(times=[10.0, 30.0, 50.0], amplitudes=[200.0, -100.0, 0.0]))
    net.inject(pop, ns.DCCurrent(50.0, start=20.0, stop=40.0))
    vm = net.record_state(pop, "v")
    net.run(80.0)
    # exact solution of the piecewise-constant input, evaluated on the grid in float64
    t = np.round(vm.times, 6)
    v, out, tprev = -70.0, [], 0.0
    for tk in t:
        start = tk - 0.1
        i = (200.0 if 10 <= start < 30 else -100.0 if 30 <= start < 50 else 0.0)
        i += 50.0 if 20 <= start < 40 else 0.0
        vinf = -70.0 + i * 20.0 / 250.0
        v = vinf + (v - vinf) * np.exp(-0.1 / 20.0)
        out.append(v)
    # float32 rounding of v (ulp 4e-6 mV) accumulates over ~1/(1 - P22) = 200 steps
    np.testing.assert_allclose(vm.values[:, 0], out, atol=1e-5 * 70)


def test_step_current_mixes_per_neuron_and_scalar_amplitudes(device):
    """amplitudes may mix per-neuron arrays and scalars; each neuron settles at its own v_inf."""
    net = ns.Network(dt=0.1, device=device, seed=1)
    pop = net.add_population(3, ns.LIF(tau_m=20.0, cm=250.0, v_rest=-70.0, v_thresh=0.0))
    net.inject(pop, ns.StepCurrent([0.0, 200.0], [np.array([0.0, 100.0, 250.0]), 50.0]))
    vm = net.record_state(pop, "v")
    net.run(400.0)
    t = np.round(vm.times, 6)
    # 10 membrane time constants after each step: v = v_rest + I R, R = tau_m / cm = 0.08 GOhm
    np.testing.assert_allclose(vm.values[t == 199.9][0], [-70.0, -62.0, -50.0], atol=1e-3)
    np.testing.assert_allclose(vm.values[t == 399.9][0], [-66.0] * 3, atol=1e-3)
