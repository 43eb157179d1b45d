"""Small networks whose whole state matters, shared by test_interrupts and test_checkpoint:
every kind of state (neuron state, refractory counters, delayed spikes in flight, Poisson and
current input, plastic weights and traces, homeostasis) and every kind of monitor."""

from __future__ import annotations

import numpy as np

import neurosim as ns


def coba(device: str, seed: int = 3, n: int = 400):
    """A small Vogels-Abbott network kept active by Poisson input; monitors of every kind."""
    ref = ns.networks.vogels_abbott_coba(n_exc=n * 4 // 5, n_inh=n // 5, p=0.05, device=device,
                                         seed=seed)
    net = ref.network
    exc, inh = ref.populations["exc"], ref.populations["inh"]
    net.add_poisson_input(exc, rate=10.0, weight=3.0, n_sources=20)
    net.inject(inh, ns.StepCurrent(times=(0.0, 50.0, 120.0), amplitudes=(0.0, 30.0, 10.0)))
    mons = dict(exc=ref.monitors["exc"], inh=ref.monitors["inh"],
                v=net.record_state(exc, "v", indices=[0, 5, 17], every=3),
                rate=net.record_rate(inh, bin_size=0.5))
    return net, mons


def plastic(device: str, seed: int = 5):
    """Poisson sources -> LIF through STDP with per-synapse delays, recurrent inhibition with
    one delay, an adaptive threshold on one population, rate-driven synaptic scaling of a static
    projection on the other; delta synapses, whose sums are exact on both backends."""
    net = ns.Network(dt=0.1, device=device, seed=seed)
    src = net.add_population(60, ns.PoissonSource(rate=30.0), name="src")
    pop = net.add_population(30, ns.LIF(tau_m=20.0, v_rest=0.0, v_reset=0.0, v_thresh=15.0,
                                        tau_refrac=2.0, synapse="delta"), name="pop",
                             initial={"v": ns.Uniform(0.0, 10.0)})
    out = net.add_population(10, ns.LIF(tau_m=10.0, v_rest=0.0, v_reset=0.0, v_thresh=10.0,
                                        tau_refrac=1.0, synapse="delta"), name="out")
    stdp = net.connect(src, pop, ns.FixedProbability(0.5), weight=ns.Uniform(0.5, 2.0),
                       delay=ns.Uniform(0.1, 3.0), name="stdp",
                       plasticity=ns.STDP(A_plus=0.05, A_minus=0.055, w_max=3.0))
    net.connect(pop, pop, ns.FixedProbability(0.2), weight=-1.0, delay=1.0,
                receptor="inhibitory")
    net.connect(pop, out, ns.FixedProbability(0.5), weight=2.0, delay=0.5, name="static")
    net.add_homeostasis(pop, ns.AdaptiveThreshold(theta_plus=0.5, tau_theta=50.0))
    net.add_homeostasis(out, ns.SynapticScaling(target_rate=20.0, interval=5.0, eta=5.0))
    net.inject(out, ns.DCCurrent(5.0, start=20.0, stop=60.0))
    mons = dict(pop=net.record_spikes(pop), out=net.record_spikes(out, indices=[1, 3, 4]),
                v=net.record_state(pop, "v", indices=[2, 7]),
                rate=net.record_rate(pop, bin_size=1.0))
    return net, mons


def lif_delta(device: str, seed: int = 7):
    """LIF with delta synapses and Poisson drive (bit-identical on both backends)."""
    net = ns.Network(dt=0.1, device=device, seed=seed)
    pop = net.add_population(200, ns.LIF(tau_m=20.0, v_rest=0.0, v_reset=10.0, v_thresh=20.0,
                                         tau_refrac=2.0, synapse="delta"),
                             initial={"v": ns.Uniform(0.0, 20.0)})
    net.connect(pop, pop, ns.FixedIndegree(20), weight=0.25, delay=1.5)
    net.connect(pop, pop, ns.FixedIndegree(5), weight=-1.0, delay=ns.Uniform(0.5, 2.0),
                receptor="inhibitory")
    net.add_poisson_input(pop, rate=20.0, weight=0.5, n_sources=100)
    mons = dict(spikes=net.record_spikes(pop), v=net.record_state(pop, "v", indices=[0, 1]))
    return net, mons


def spikes(mon):
    return np.asarray(mon.steps), np.asarray(mon.indices)


def assert_same(got: dict, want: dict) -> None:
    """Monitors of two runs hold exactly the same recordings."""
    for name, m in want.items():
        g = got[name]
        if isinstance(m, ns.SpikeMonitor):
            for a, b in zip(spikes(g), spikes(m)):
                np.testing.assert_array_equal(a, b, err_msg=name)
        elif isinstance(m, ns.StateMonitor):
            np.testing.assert_array_equal(g.times, m.times, err_msg=name)
            np.testing.assert_array_equal(g.values, m.values, err_msg=name)
        else:
            np.testing.assert_array_equal(g.counts, m.counts, err_msg=name)


def assert_monitors_at(net, mons) -> None:
    """Every monitor holds exactly the steps before ``net.t``."""
    n = net._steps_done
    for name, m in mons.items():
        if isinstance(m, ns.SpikeMonitor):
            assert m.num_spikes == 0 or m.steps.max() < n, name
        elif isinstance(m, ns.StateMonitor):
            first = m.start_step
            want = (np.arange(first, n) - first + 1) % m.every == 0
            assert m.values.shape[0] == int(want.sum()), name
            if m.values.shape[0]:
                assert m.times[-1] <= net.t + 1e-9, name
        else:
            assert m.counts.size == n - m.start_step, name
