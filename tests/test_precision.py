"""Network(precision="double"): float64 state, constants, weights and input on every backend,
checked against references written here in float64 (not against the simulator itself).

The CUDA double variant is also compared with NumPy bit for bit in tests/test_cuda_backend.py
(test_every_model_matches_numpy and test_poisson_drives_fused_bit_identical, per precision).
"""

from __future__ import annotations

import numpy as np
import pytest

import neurosim as ns

DT = 0.1


def izhikevich_fs_reference(i_offset: float, steps: int) -> np.ndarray:
    """Spike steps of Izhikevich's FS cell (a=0.1, b=0.2, c=-65, d=2, v_peak=30) under a
    constant input, by forward Euler in float64: both variables advanced from the old values,
    then the threshold and the reset (the model's documented scheme, written out plainly)."""
    a, b, c, d, peak = 0.1, 0.2, -65.0, 2.0, 30.0
    v, u = -65.0, b * -65.0
    spikes = []
    for n in range(steps):
        dv = 0.04 * v * v + 5.0 * v + 140.0 - u + i_offset
        du = a * (b * v - u)
        v, u = v + DT * dv, u + DT * du
        if v >= peak:
            spikes.append(n)
            v, u = c, u + d
    return np.array(spikes)


def izhikevich_fs_run(precision: str, device: str, i_offset: float, steps: int) -> np.ndarray:
    net = ns.Network(dt=DT, device=device, seed=1, precision=precision)
    pop = net.add_population(1, ns.Izhikevich.preset("FS", i_offset=i_offset))
    mon = net.record_spikes(pop)
    net.run(steps * DT)
    return mon.steps


def test_izhikevich_fs_double_follows_float64_euler_float32_drifts():
    """Double: the first 40 spikes within one step of the float64 reference. Float32's
    rounding moves the spikes by whole steps after about a dozen spikes; the test asserts that
    it does by spike 20, so it would notice double precision quietly becoming float32."""
    i_offset, steps = 10.0, 6000
    ref = izhikevich_fs_reference(i_offset, steps)
    assert ref.size >= 40
    double = izhikevich_fs_run("double", "cpu", i_offset, steps)
    assert double.size >= 40
    np.testing.assert_array_less(np.abs(double[:40] - ref[:40]), 2)   # within one step
    single = izhikevich_fs_run("single", "cpu", i_offset, steps)
    k = min(20, single.size)
    assert np.any(np.abs(single[:k] - ref[:k]) >= 1), (single[:k] - ref[:k])


@pytest.mark.parametrize("device", ["cuda:host", "cpu:native"])
def test_izhikevich_fs_double_kernels_same_spikes(device):
    """The double kernel variant, compiled for the CPU (the host build, and the native
    backend), gives NumPy's float64 spikes."""
    steps = 1500
    np.testing.assert_array_equal(izhikevich_fs_run("double", device, 10.0, steps),
                                  izhikevich_fs_run("double", "cpu", 10.0, steps))


LIF_KW = dict(tau_m=20.0, cm=250.0, v_rest=-70.0, v_reset=-70.0, v_thresh=1e6, tau_refrac=0.0,
              tau_syn_E=2.0, tau_syn_I=5.0)


def lif_trace(device: str, precision: str, i_offset: float = 0.0, spike_at=None,
              weight: float = 0.0, delay: float = 1.0, steps: int = 1000):
    """(times, v) of one LIF neuron: a constant current and/or one input spike."""
    net = ns.Network(dt=DT, device=device, seed=2, precision=precision)
    pop = net.add_population(1, ns.LIF(**LIF_KW, i_offset=i_offset))
    if spike_at is not None:
        src = net.add_population(1, ns.SpikeSource(times=[[spike_at]]))
        net.connect(src, pop, ns.AllToAll(), weight=weight, delay=delay)
    mon = net.record_state(pop, "v")
    net.run(steps * DT)
    return mon.times, mon.values[:, 0]


@pytest.mark.parametrize("device", ["cpu", "cuda:host", "cpu:native"])
def test_lif_double_matches_the_closed_form_under_constant_current(device):
    """v(t) = v_rest + R I (1 - exp(-t / tau_m)), R = tau_m / cm, to 1e-9 mV over 100 ms
    (float32 misses it by orders of magnitude)."""
    i = 300.0
    t, v = lif_trace(device, "double", i_offset=i)
    assert v.dtype == np.float64
    exact = -70.0 + 20.0 / 250.0 * i * (1.0 - np.exp(-t / 20.0))
    assert np.max(np.abs(v - exact)) < 1e-9
    _, v32 = lif_trace(device, "single", i_offset=i)
    assert v32.dtype == np.float32 and np.max(np.abs(v32 - exact)) > 1e-6


def test_lif_double_matches_the_closed_form_of_one_psc():
    """One spike of weight w (pA) arriving at t_a: the exponential PSC filtered by the
    membrane, v = v_rest + w tau_s tau_m / (cm (tau_m - tau_s)) (e^{-s/tau_m} - e^{-s/tau_s}),
    s = t - t_a, to 1e-9 mV. The spike is stamped 1.0 ms, its delay 1.5 ms: it arrives at
    2.5 ms (a spike stamped T with delay d arrives at T + d)."""
    w, tau_s, tau_m, cm = 500.0, 2.0, 20.0, 250.0
    t, v = lif_trace("cpu", "double", spike_at=1.0, weight=w, delay=1.5)
    s = t - 2.5
    exact = -70.0 + np.where(s >= 0, w * tau_s * tau_m / (cm * (tau_m - tau_s))
                             * (np.exp(-s / tau_m) - np.exp(-s / tau_s)), 0.0)
    assert np.max(np.abs(v + 70.0)) > 1.0                  # a real response
    assert np.max(np.abs(v - exact)) < 1e-9


def test_double_everywhere_the_user_sees_it(tmp_path):
    """Weights, get_state/set_state, monitors and checkpoints carry the precision; a
    checkpoint loads in the precision it was written in."""
    net = ns.Network(dt=DT, device="cpu", seed=4, precision="double")
    assert net.precision == "double" and net.dtype == np.float64
    pop = net.add_population(20, ns.LIF(i_offset=350.0))
    proj = net.connect(pop, pop, ns.FixedProbability(0.3), weight=ns.Normal(20.0, 3.0, low=0.0),
                       delay=ns.Uniform(0.5, 2.0))
    mon = net.record_state(pop, "v", every=5)
    net.run(30.0)
    assert proj.weights.dtype == np.float64 and net.get_state(pop, "v").dtype == np.float64
    net.set_state(pop, "v", -65.123456789012)
    assert net.get_state(pop, "v")[0] == -65.123456789012        # not rounded to float32
    net.run(10.0)
    path = tmp_path / "double.npz"
    net.save(path)
    back = ns.load(path, device="cpu")
    host = ns.load(path, device="cuda:host")           # the double kernels continue it too
    assert back.precision == host.precision == "double"
    assert back.projections[0].weights.dtype == np.float64
    net.run(20.0)
    for other in (back, host):
        other.run(20.0)
        np.testing.assert_array_equal(net.get_state(pop, "v"),
                                      other.get_state(other.populations[0], "v"))
    assert mon.values.dtype == np.float64
    single = ns.Network(dt=DT, device="cpu", seed=4)
    assert single.precision == "single" and single.dtype == np.float32


@pytest.mark.parametrize("value", ["quad", "float64", 64, None, "Double"])
def test_bad_precision_names_the_argument_the_value_and_the_choices(value):
    with pytest.raises(ValueError) as err:
        ns.Network(precision=value)
    text = str(err.value)
    assert text.startswith("Network: precision must be one of ['double', 'single'], got "
                           f"{value!r}"), text


def test_memory_estimates_count_8_bytes_per_value_in_double():
    """Host and device estimates: weights, ring and state take 8 bytes a value in double."""
    from neurosim.engine.device_memory import device_bytes
    from neurosim.engine.layout import build_layout
    from neurosim.engine.memory import host_bytes, planned_classes

    def estimates(precision):
        net = ns.Network(dt=DT, device="cpu", seed=3, precision=precision)
        pop = net.add_population(500, ns.LIF())
        net.connect(pop, pop, ns.FixedIndegree(40), weight=5.0, delay=2.0)
        classes, max_delay = planned_classes(net)
        return device_bytes(build_layout(net)), host_bytes(net, classes, max_delay)

    (dev1, host1), (dev2, host2) = estimates("single"), estimates("double")
    n_syn = 500 * 40
    assert dev2["synapses"] - dev1["synapses"] == 4 * n_syn           # float64 weights
    assert host2["synapses"] - host1["synapses"] == 4 * n_syn
    assert dev2["delay ring"] == 2 * dev1["delay ring"] > 0
    assert host2["delay ring"] == 2 * host1["delay ring"] > 0
    assert dev2["neuron state"] - dev1["neuron state"] == 4 * 500 * 3    # v, i_syn_e, i_syn_i
    assert host2["neuron state"] > host1["neuron state"]


@pytest.mark.parametrize("device", ["cpu", "cuda:host"])
def test_double_state_that_overflows_float64_is_reported(device):
    """v squares each step: beyond float32's range at once, float64's only at the 4th step; the
    non-finite check names it in the step where float64 overflows."""
    blowup = ns.NeuronModel("precision_blowup", parameters={"k": 10.0}, state={"v": 1e30},
                            update="v += dt * k * v * v", threshold="v < -1e30", reset="v = 0")
    net = ns.Network(dt=DT, device=device, seed=1, precision="double")
    pop = net.add_population(3, blowup())
    with pytest.raises(ns.SimulationError, match="'v' became non-finite") as err:
        net.run(1.0)
    assert err.value.t_ms == pytest.approx(0.4)
