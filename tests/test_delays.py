"""Synaptic delays: a spike stamped T arrives at exactly T + delay, per synapse."""

import numpy as np
import pytest

import neurosim as ns

DT = 0.1


def arrival_times(device, delays, t_spike=3.0, seed=1):
    n = len(delays)
    net = ns.Network(dt=DT, device=device, seed=seed)
    src = net.add_population(1, ns.SpikeSource([[t_spike]]))
    tgt = net.add_population(n, ns.LIF(tau_m=1e6, v_rest=0.0, v_reset=0.0, v_thresh=100.0,
                                       synapse="delta"))
    net.connect(src, tgt, ns.Explicit(np.zeros(n, int), np.arange(n)), weight=1.0,
                delay=np.asarray(delays, float))
    vm = net.record_state(tgt, "v")
    net.run(round((t_spike + max(delays) + 2.0) / DT) * DT)
    # the jump is added at the end of the step that ends at the arrival time, so the first
    # sample showing it is stamped with the arrival time
    first = np.argmax(vm.values > 0.5, axis=0)
    return vm.times[first]


def test_heterogeneous_delays_are_exact(device):
    delays = [0.1, 0.2, 0.5, 1.0, 1.5, 2.3, 7.7, 12.0]
    np.testing.assert_allclose(arrival_times(device, delays), 3.0 + np.array(delays), atol=1e-9)


def test_constant_delay_class_is_exact(device):
    for d in (0.1, 1.5, 4.0):
        np.testing.assert_allclose(arrival_times(device, [d, d]), 3.0 + d, atol=1e-9)


def test_delays_round_to_the_grid():
    np.testing.assert_allclose(arrival_times("cpu", [0.14, 0.26, 1.04]),
                               3.0 + np.array([0.1, 0.3, 1.0]), atol=1e-9)


def test_delay_below_dt_is_an_error():
    net = ns.Network(dt=DT, device="cpu")
    a = net.add_population(2, ns.LIF())
    with pytest.raises(ValueError, match=r"delay must be >= dt = 0.1 ms, got 0.05"):
        net.connect(a, a, ns.AllToAll(), weight=1.0, delay=0.05)
    with pytest.raises(ValueError, match="delay"):
        net.connect(a, a, ns.FixedIndegree(1), weight=1.0, delay=ns.Uniform(0.0, 1.0))


def test_spike_chain_through_recurrent_network_with_delays(device):
    """A chain a -> b -> c with delays 1.0 and 2.5 ms: spikes at exactly predictable times."""
    net = ns.Network(dt=DT, device=device, seed=1)
    src = net.add_population(1, ns.SpikeSource([[1.0]]))
    chain = net.add_population(2, ns.LIF(tau_m=20.0, v_rest=0.0, v_reset=0.0, v_thresh=1.0,
                                         synapse="delta"))
    net.connect(src, chain, ns.Explicit([0], [0]), weight=5.0, delay=1.0)
    net.connect(chain, chain, ns.Explicit([0], [1]), weight=5.0, delay=2.5)
    mon = net.record_spikes(chain)
    net.run(20.0)
    # arrival at 2.0 -> spike stamped 2.0 (step n emits, step n + d receives);
    # arrival at 2.0 + 2.5 -> spike stamped 4.5
    np.testing.assert_allclose(mon.times, [2.0, 4.5], atol=1e-9)
    np.testing.assert_array_equal(mon.indices, [0, 1])
