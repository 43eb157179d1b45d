"""Memory estimates before building (issue 11 section 3, issue 10 section 3): the host estimate
against tracemalloc, instant errors for oversized networks, the device check before the host
layout is drawn, plastic runtimes' device bytes against the arrays they allocate, and an
out-of-memory while building plastic runtimes."""

from __future__ import annotations

import gc
import time
import tracemalloc
import weakref

import numpy as np
import pytest

import neurosim as ns
from neurosim.backends import host_build_status
from neurosim.engine import cuda_device, device_memory, layout, memory
from neurosim.engine.device_connect import generated_projections
from neurosim.plasticity import cuda_runtime

needs_host_build = pytest.mark.skipif(not host_build_status()[0],
                                      reason="no g++ for the host build")

# the stated factor: estimate / tracemalloc's peak of build() (the estimate errs high: it counts
# np.empty's untouched pages and the largest temporaries of every step)
FACTOR = (1.0, 1.6)


def _shape(name):
    net = ns.Network(device="cpu", seed=1)
    if name == "indegree, per-synapse delays":
        a = net.add_population(20_000, ns.LIF())
        net.connect(a, a, ns.FixedIndegree(60), weight=1.0, delay=ns.Uniform(0.5, 3.0))
    elif name == "probability, normal weights":
        a = net.add_population(5_000, ns.LIF())
        net.connect(a, a, ns.FixedProbability(0.05), weight=ns.Normal(1.0, 0.2, low=0.0),
                    delay=1.5)
    elif name == "E/I, four projections":
        e = net.add_population(16_000, ns.LIF())
        i = net.add_population(4_000, ns.LIF())
        for pre, rec, w, k in ((e, "excitatory", 1.0, 40), (i, "inhibitory", -5.0, 10)):
            for post in (e, i):
                net.connect(pre, post, ns.FixedIndegree(k), weight=w, delay=1.5, receptor=rec)
        net.add_poisson_input(e, 10.0, 1.0, n_sources=100)
    elif name == "total number, normal delays":
        a = net.add_population(30_000, ns.LIF())
        net.connect(a, a, ns.FixedTotalNumber(1_500_000), weight=1.0,
                    delay=ns.Normal(2.0, 0.5, low=0.1))
    elif name == "plastic":
        a = net.add_population(3_000, ns.LIF())
        net.connect(a, a, ns.FixedIndegree(200), weight=0.5, delay=ns.Uniform(0.5, 3.0),
                    plasticity=ns.STDP(w_max=1.0))
    return net


@pytest.mark.parametrize("name", ["indegree, per-synapse delays", "probability, normal weights",
                                  "E/I, four projections", "total number, normal delays",
                                  "plastic"])
def test_host_estimate_is_within_the_stated_factor_of_the_measured_peak(name):
    net = _shape(name)
    classes, max_delay = memory.planned_classes(net, generated_projections(net, "numpy"))
    estimate = memory.peak_bytes(memory.host_bytes(net, classes, max_delay, "numpy"))
    gc.collect()
    tracemalloc.start()
    try:
        net.build()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    n_syn = sum(p.n_synapses for p in net.projections)
    assert n_syn > 500_000
    assert FACTOR[0] <= estimate / peak <= FACTOR[1], (estimate / n_syn, peak / n_syn)


@needs_host_build
@pytest.mark.parametrize("name", ["indegree, per-synapse delays", "plastic"])
def test_cuda_host_estimate_is_within_the_stated_factor_of_the_measured_peak(name):
    """On cuda:host the engine's arrays are host memory too: the host estimate plus what the
    device estimate adds beyond the build's transients (the host-drawn synapses are shared)."""
    from dataclasses import replace
    net = _shape(name)
    net.device = "cuda:host"
    classes, max_delay = memory.planned_classes(net)
    host = memory.host_bytes(net, classes, max_delay, "cuda:host")

    class Stop(Exception):
        pass
    seen = {}

    def grab(partial):
        seen["device"] = device_memory.device_bytes(replace(partial, classes=classes,
                                                          max_delay=max_delay),
                                                  device_memory.record_budget(net))
        raise Stop
    with pytest.raises(Stop):
        layout.build_layout(net, before_synapses=grab)
    aliased = sum(c.n_synapses * (8 + c.delay_itemsize) for c in classes if not c.generated)
    extra = max(0, sum(seen["device"].values()) - aliased)
    estimate = memory.peak_bytes(host, extra)
    gc.collect()
    tracemalloc.start()
    try:
        net.build()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert net.backend == "cuda:host"
    assert FACTOR[0] <= estimate / peak <= FACTOR[1], (estimate, peak)


def test_expected_synapses_follow_the_rules():
    net = ns.Network(device="cpu")
    a = net.add_population(1000, ns.LIF())
    b = net.add_population(500, ns.LIF())
    cases = [(ns.FixedIndegree(7), 3500), (ns.FixedOutdegree(7), 7000),
             (ns.FixedTotalNumber(123), 123), (ns.AllToAll(), 500_000), (ns.OneToOne(), None)]
    for rule, n in cases:
        if n is None:
            continue
        assert memory.expected_synapses(net.connect(a, b, rule, weight=1.0)) == n
    fp = net.connect(a, b, ns.FixedProbability(0.1), weight=1.0)
    n = memory.expected_synapses(fp)
    assert 50_000 < n < 50_000 + 7 * np.sqrt(50_000 * 0.9) + 2       # mean + 6 sd, rounded up
    net.build()
    assert fp.n_synapses <= n


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda:host", marks=needs_host_build)])
def test_an_oversized_network_is_refused_at_once_without_allocating(device):
    net = ns.Network(device=device, seed=1)
    a = net.add_population(1_000_000, ns.LIF())
    net.connect(a, a, ns.FixedIndegree(2000), weight=1.0, delay=ns.Uniform(0.5, 3.0))
    gc.collect()
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(ns.HostMemoryError) as info:
            net.build()
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0 and peak < 8 << 20
    err = info.value
    assert isinstance(err, MemoryError) and net._engine is None
    assert err.needed > 40 * 2**30 > err.available or err.needed > err.available
    msg = str(err)
    for part in ("1,000,000 neurons", "2,000,000,000 static synapses", "GiB of host memory",
                 "synapse build (transient)", "synapses", "available", "fewer synapses"):
        assert part in msg


def test_the_error_names_the_estimate_and_what_is_available(monkeypatch):
    monkeypatch.setattr(memory, "available_host_memory", lambda: (10 << 20, "available (test)"))
    net = ns.Network(device="cpu", seed=1)
    a = net.add_population(10_000, ns.LIF())
    net.connect(a, a, ns.FixedIndegree(100), weight=1.0)
    with pytest.raises(ns.HostMemoryError, match=r"needs about \d+(\.\d+)? MiB of host memory "
                                                 r"at its peak \(.*synapses.*\) but only 10 MiB "
                                                 r"is available \(test\)"):
        net.build()


@needs_host_build
def test_cuda_checks_the_device_before_drawing_the_host_layout(monkeypatch):
    drawn = []
    real = layout._build_synapses
    monkeypatch.setattr(layout, "_build_synapses", lambda *a, **k: drawn.append(1) or real(*a, **k))
    # cuda:host: its device arrays are host memory, counted with the host's
    net = ns.Network(device="cuda:host", seed=1)
    a = net.add_population(20_000, ns.LIF())
    # a 300 ms delay range: a 458 MiB delay ring, on the device (host memory here)
    net.connect(a, a, ns.FixedIndegree(100), weight=1.0, delay=ns.Uniform(0.5, 300.0))
    host = memory.host_bytes(net, *memory.planned_classes(net), "cuda:host")
    assert host["delay ring"] == 0
    budget = int(sum(host.values()) * 1.05) + (64 << 20) + (1 << 20)
    monkeypatch.setattr(memory, "available_host_memory", lambda: (budget, "available (test)"))
    with pytest.raises(ns.HostMemoryError, match=r"device arrays \(cuda:host\) 0.448 GiB"):
        net.build()
    assert not drawn
    # a GPU: the device estimate from the planned classes, checked before any synapse is drawn
    from neurosim.engine import _memory_check
    monkeypatch.setattr(device_memory, "free_device_memory", lambda host: (1 << 20, "GPU 0 (test)"))
    check = _memory_check(net, "cuda", [])
    with pytest.raises(ns.DeviceMemoryError, match=r"synapses .*GPU 0 \(test\) has 1 MiB free"):
        layout.build_layout(net, before_synapses=check)
    assert not drawn


@needs_host_build
def test_planned_device_estimate_matches_the_drawn_one(monkeypatch):
    import neurosim.engine as eng
    from dataclasses import replace
    net = ns.Network(device="cuda:host", seed=2, connectivity="device")
    a = net.add_population(2_000, ns.LIF())
    net.connect(a, a, ns.FixedIndegree(50), weight=1.0, delay=ns.Uniform(0.5, 2.0))
    net.connect(a, a, ns.FixedTotalNumber(30_000), weight=1.0, delay=1.0)
    seen = {}
    real = eng.build_layout

    def spy(net_, device_gen=None, before_synapses=None):
        def both(partial):
            classes, max_delay = memory.planned_classes(net, net.projections)
            seen["planned"] = device_memory.device_bytes(replace(partial, classes=classes,
                                                               max_delay=max_delay))
            before_synapses(partial)
        return real(net_, device_gen=device_gen, before_synapses=both)
    monkeypatch.setattr(eng, "build_layout", spy)
    net.build()
    drawn = device_memory.device_bytes(net._engine.L)
    for part in ("synapses", "build workspace", "delay ring", "neuron state"):
        assert seen["planned"][part] == pytest.approx(drawn[part], rel=0.02), part
    assert drawn["build workspace"] == 16 * 2_000 * 50           # keys + sort, one projection


# -- plastic projections on the device -------------------------------------------------------------

PLASTIC = [
    ("stdp, constant delay", lambda: ns.STDP(w_max=1.0), 1.5, 20),
    ("stdp, per-synapse delays", lambda: ns.STDP(w_max=1.0), ns.Uniform(0.5, 3.0), 24),
    ("stdp nearest_reduced", lambda: ns.STDP(w_max=1.0, pairing="nearest_reduced"), 1.5, 20),
    ("triplet", lambda: ns.TripletSTDP(w_max=1.0), ns.Uniform(0.5, 3.0), 24),
    ("reward stdp", lambda: ns.RewardSTDP(w_max=1.0), ns.Uniform(0.5, 3.0), 36),
]


@needs_host_build
@pytest.mark.parametrize("name, rule, delay, per_syn", PLASTIC)
def test_plastic_estimate_matches_the_arrays_the_runtime_allocates(name, rule, delay, per_syn):
    net = ns.Network(device="cuda:host", seed=3)
    a = net.add_population(400, ns.LIF())
    b = net.add_population(300, ns.LIF())
    p = net.connect(a, b, ns.FixedIndegree(100), weight=0.5, delay=delay, plasticity=rule())
    net.build()
    engine = net._engine
    (rt,) = engine.plastic
    actual = cuda_runtime.runtime_device_bytes(rt)
    estimate = device_memory._plastic_bytes(engine.L, p)
    assert estimate == pytest.approx(actual, rel=0.03)
    # bytes per synapse, without the per-neuron arrays
    bare = cuda_runtime.plastic_device_bytes(p.plasticity, 0, 400, 300,
                                             memory.delay_steps_reach(delay, 0.1),
                                             not isinstance(delay, float))
    assert (estimate - bare) / 30_000 == pytest.approx(per_syn, abs=0.01)
    assert device_memory.device_bytes(engine.L)["plasticity"] == estimate


@needs_host_build
def test_out_of_memory_while_building_plastic_runtimes_releases_everything(monkeypatch):
    """A MemoryError in the middle of the second plastic runtime's allocations is the
    DeviceMemoryError of a failed allocation, and no array the engine allocated survives."""
    arrays, state = [], {"runtime": 0, "allocs": 0}
    real_put, real_zeros = cuda_device.Device.put, cuda_device.Device.zeros

    def tracked(real):
        def alloc(self, *args, **kwargs):
            if state["runtime"] == 2:
                state["allocs"] += 1
                if state["allocs"] == 6:
                    raise MemoryError("out of memory allocating 123,456 bytes (test)")
            out = real(self, *args, **kwargs)
            arrays.append(weakref.ref(out))
            return out
        return alloc
    monkeypatch.setattr(cuda_device.Device, "put", tracked(real_put))
    monkeypatch.setattr(cuda_device.Device, "zeros", tracked(real_zeros))
    real_init = cuda_runtime.CudaPlasticRuntime.__init__

    def counting_init(self, *args, **kwargs):
        state["runtime"] += 1
        real_init(self, *args, **kwargs)
    monkeypatch.setattr(cuda_runtime.CudaPlasticRuntime, "__init__", counting_init)

    net = ns.Network(device="cuda:host", seed=4)
    a = net.add_population(300, ns.LIF())
    rules = [ns.STDP(w_max=1.0), ns.RewardSTDP(w_max=1.0)]
    for rule in rules:
        net.connect(a, a, ns.FixedIndegree(20), weight=0.5, delay=ns.Uniform(0.5, 2.0),
                    plasticity=rule)
    message = None
    try:
        net.build()
    except ns.DeviceMemoryError as exc:
        message = str(exc)
    assert message is not None and "allocating the network on cuda:host failed" in message
    assert "123,456 bytes" in message
    assert state["runtime"] == 2 and state["allocs"] == 6
    assert net._engine is None
    assert all(not rule._runtimes for rule in rules)
    gc.collect()
    alive = [r() for r in arrays if r() is not None]
    assert len(arrays) > 20 and not alive, [getattr(x, "shape", x) for x in alive]
    # and the network builds once memory is there again
    monkeypatch.setattr(cuda_runtime.CudaPlasticRuntime, "__init__", real_init)
    state["runtime"] = 0
    net.build()
    assert len(net._engine.plastic) == 2


def test_a_run_whose_recordings_cannot_fit_is_refused_before_it_starts(monkeypatch):
    monkeypatch.setattr(memory, "available_host_memory", lambda: (16 << 30, "available (test)"))
    net = ns.Network(device="cpu", seed=1)
    a = net.add_population(100_000, ns.LIF(), name="exc")
    net.record_state(a, "v")
    match = (r"run\(\): recording 100,000 steps needs about 74.5 GiB.*StateMonitor 'v' of "
             r"'exc' \(100,000 neurons every 1 steps\), 37.3 GiB\) but only 16 GiB is "
             r"available \(test\)")
    with pytest.raises(ns.HostMemoryError, match=match):
        net.run(10_000.0)
    assert net.t == 0.0
    assert memory.recording_bytes(net, 10)[next(iter(memory.recording_bytes(net, 10)))] == \
        11 * (4 * 100_000 + 8)
    net.run(1.0)                                      # a short run records as usual
    assert net.record_state(a, "v", indices=[0, 1], every=10) is not None


def test_the_ring_of_a_long_constant_delay_is_in_the_estimate(monkeypatch):
    net = ns.Network(device="cpu", seed=1)
    a = net.add_population(200_000, ns.LIF())
    net.connect(a, a, ns.OneToOne(), weight=1.0, delay=3000.0)     # 30,000 steps, allowed
    parts = memory.host_bytes(net, *memory.planned_classes(net), "numpy")
    assert parts["delay ring"] == 4 * 30_000 * 2 * 200_000                 # 44.7 GiB
    monkeypatch.setattr(memory, "available_host_memory", lambda: (16 << 30, "available (test)"))
    with pytest.raises(ns.HostMemoryError, match=r"delay ring 44.7 GiB"):
        net.build()


@needs_host_build
@pytest.mark.parametrize("make_rule", [lambda: ns.AdaptiveThreshold(),
                                       lambda: ns.IntrinsicPlasticity(target_rate=5.0),
                                       lambda: ns.SynapticScaling(target_rate=5.0),
                                       lambda: ns.SynapticScaling(target_total=10.0)])
def test_homeostasis_estimate_matches_the_arrays_the_runtime_allocates(make_rule):
    net = ns.Network(device="cuda:host", seed=5)
    a = net.add_population(200, ns.LIF())
    b = net.add_population(150, ns.LIF())
    net.connect(a, b, ns.FixedIndegree(40), weight=0.5)
    rule = net.add_homeostasis(b, make_rule())
    net.run(0.2)                                 # scaling builds its handles at the first plan
    (rt,) = net._engine.plastic
    actual = sum(x.nbytes for x in rt.v.values() if getattr(x, "ndim", 0) > 0)
    if isinstance(rule, ns.SynapticScaling):     # per scaled synapse: target and position
        actual += sum(h[k].nbytes for h in rt.handles for k in ("post", "pos"))
    else:                                        # "thr": the group's v_thresh, one per neuron
        assert rt.v["thr"].size == 350
    estimate = cuda_runtime.homeostasis_device_bytes(net, b, rule)
    assert estimate == pytest.approx(actual, rel=0.03)
    assert device_memory.device_bytes(net._engine.L, net=net)["plasticity"] == estimate
