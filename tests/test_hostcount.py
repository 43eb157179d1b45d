"""Counting launches and bytes on the host build (neurosim.backends.hostcount), and the step
costs built on it (neurosim.bench.stepcost): exact counts for kernels whose traffic is known by
hand, and a network whose delivered synapses are known."""

import numpy as np
import pytest

import neurosim as ns
from neurosim.backends import hostbuild, hostcount

pytestmark = pytest.mark.skipif(not hostcount.is_available(),
                                reason="counting needs g++ with -fsanitize=thread")

SOURCE = r'''
#include "common.cuh"
extern "C" __global__ void twice(const float *a, const float *scale, float *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a[i] * scale[0] + a[i];
}
extern "C" __global__ void gather_add(const int *idx, const float *w, float *acc, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) atomicAdd(&acc[idx[i]], w[i]);
}
extern "C" __global__ void bytes_u8(const unsigned char *d, int *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n && d[i] > 1) atomicAdd(out, 1);
}
'''


def _module():
    return hostbuild.HostModule(code=SOURCE, count=True)


def test_elementwise_kernel_counts_every_byte_once():
    with hostcount.counting() as tally:
        k = _module().get_function("twice")
        a = np.arange(100, dtype=np.float32)
        scale = np.array([2.0], np.float32)
        out = np.zeros(100, np.float32)
        k((4,), (32,), (a, scale, out, np.int32(100)))
    got = tally.kernels()["twice"]
    np.testing.assert_array_equal(out, 3 * a)
    assert got["launches"] == 1
    assert got["read_distinct"] == {"a": 400, "scale": 4}
    assert got["write_distinct"] == {"out": 400}
    assert got["write"] == {"out": 400}
    assert got["read"]["scale"] == 400           # every thread reads the shared scalar
    assert 400 <= got["read"]["a"] <= 800         # a[i] kept in a register or read twice


def test_atomics_to_one_address_are_distinct_once_and_accessed_each_time():
    with hostcount.counting() as tally:
        k = _module().get_function("gather_add")
        idx = np.zeros(64, np.int32)
        idx[32:] = 3
        w = np.ones(64, np.float32)
        acc = np.zeros(8, np.float32)
        for _ in range(3):
            k((2,), (32,), (idx, w, acc, np.int32(64)))
    got = tally.kernels()["gather_add"]
    assert acc[0] == 96 and acc[3] == 96
    assert got["launches"] == 3
    assert got["read"] == {"idx": 3 * 256, "w": 3 * 256, "acc": 3 * 256}
    assert got["write"] == {"acc": 3 * 256}
    assert got["read_distinct"]["acc"] == 3 * 8       # two floats per launch
    assert got["write_distinct"]["acc"] == 3 * 8


def test_single_bytes_and_out_of_range_accesses():
    with hostcount.counting() as tally:
        k = _module().get_function("bytes_u8")
        d = np.array([0, 2, 5, 1, 9], np.uint8)
        out = np.zeros(1, np.int32)
        k((1,), (8,), (d, out, np.int32(5)))
    got = tally.kernels()["bytes_u8"]
    assert out[0] == 3
    assert got["read"]["d"] == 5 and got["read_distinct"]["d"] == 5
    assert got["write"] == {"out": 12}


def test_modules_built_outside_counting_do_not_count_and_reset_clears():
    plain = hostbuild.HostModule(code=SOURCE)
    assert not plain.count
    with hostcount.counting() as tally:
        a = np.ones(4, np.float32)
        out = np.zeros(4, np.float32)
        plain.get_function("twice")((1,), (4,), (a, np.ones(1, np.float32), out, np.int32(4)))
        assert tally.kernels() == {}
        counted = hostbuild.HostModule(code=SOURCE)     # inside the block: counts
        assert counted.count and counted.path != plain.path
        counted.get_function("twice")((1,), (4,), (a, np.ones(1, np.float32), out,
                                                   np.int32(4)))
        assert tally.launches == 1
        tally.reset()
        assert tally.launches == 0 and tally.total("read") == 0


def _spike_chain():
    """3 source spikes into a known fan-out: 4 + 7 + 4 synapses delivered."""
    net = ns.Network(dt=0.1, device="cuda:host", seed=3, connectivity="host")
    src = net.add_population(3, ns.SpikeSource([[1.0], [2.0], [3.0, 4.0]]), name="src")
    post = net.add_population(10, ns.LIF(synapse="delta", tau_m=20.0), name="post")
    net.connect(src, post, ns.Explicit([0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 2, 2],
                                       [0, 1, 2, 3, 0, 2, 4, 5, 6, 7, 8, 9, 8]),
                weight=0.5, delay=1.0)
    return net


def test_propagation_reads_each_delivered_weight_once():
    from neurosim.bench.stepcost import _per_step, minimum_bytes
    with hostcount.counting() as tally:
        net = _spike_chain()
        mon = net.record_spikes(src := net.populations[0])
        net.run(10.0)
        kernels = tally.kernels()
    delivered = 4 + 7 + 2 + 2            # source 2 spikes twice
    weight_reads = sum(v["read_distinct"].get("weights", 0) for v in kernels.values())
    assert weight_reads == 4 * delivered
    assert mon.num_spikes == 4
    steps = net._steps_done
    per = _per_step(kernels, steps)
    assert sum(k["launches"] for k in per.values()) * steps == sum(
        v["launches"] for v in kernels.values())
    minimum = minimum_bytes(net, {"src": np.asarray(mon.indices)}, steps, record=True)
    assert minimum["synapses_per_step"] * steps == pytest.approx(delivered)
    assert minimum["spikes_per_step"] * steps == pytest.approx(4)
    del src


def test_step_cost_record_of_a_small_brunel():
    from neurosim.bench.stepcost import step_cost_record
    rec = step_cost_record("brunel", scale=0.05, warmup_ms=20.0, window_ms=5.0)
    assert rec["neurons"] == 625 and rec["steps"] == 50
    for key in ("recording", "no_recording"):
        r = rec[key]
        assert r["launches_per_step"] >= 2
        assert r["bytes_per_step"] <= r["accessed_bytes_per_step"]
        assert r["minimum_bytes_per_step"] > 0
        assert r["ratio_to_minimum"] == pytest.approx(r["bytes_per_step"]
                                                      / r["minimum_bytes_per_step"])
    # recording adds the recorded spikes' bytes, never launches of its own per spike
    assert rec["recording"]["bytes_per_step"] >= rec["no_recording"]["bytes_per_step"]


def test_step_costs_reject_an_unknown_network():
    from neurosim.bench.stepcost import step_cost_record
    with pytest.raises(ValueError, match="name must be one of"):
        step_cost_record("hodgkin", scale=1.0)
