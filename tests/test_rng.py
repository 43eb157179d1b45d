"""The Philox streams: NumPy mirror vs numpy's own Philox, kernels vs mirror.

References come from numpy (``np.random.Philox``), never from neurosim.rng
itself; the kernels of ``kernels/random.cu`` run through the host build and
must match the mirror bit for bit.
"""

from __future__ import annotations

import math
import timeit

import numpy as np
import pytest

from neurosim.backends import hostbuild
from neurosim.rng import (
    PoissonTable,
    StreamRNG,
    bernoulli,
    philox_blocks_spanned,
    philox_key,
    philox_raw,
    poisson_cdf_table,
    poisson_counts,
    uniform24,
)

KEYS = [(0, 0), (123, 456), (2**64 - 1, 2**63 + 17), tuple(int(w) for w in philox_key(2024))]
U64 = np.uint64


def numpy_raw(key, position, n, counter=0):
    """Reference: numpy's stream from its start, sliced. (Explicit uint64
    arrays: numpy rounds a list of large Python ints through float64.)"""
    if not isinstance(counter, int):
        counter = np.array(counter, dtype=np.uint64)
    key = np.array(key, dtype=np.uint64)
    return np.random.Philox(key=key, counter=counter).random_raw(position + n)[position:]


# --------------------------------------------------------------------------- numpy semantics


def test_numpy_philox_semantics_the_mirror_relies_on():
    key = [11, 22]
    # block i of Philox(counter=c) is block 0 of Philox(counter=c + i)
    eight = np.random.Philox(key=key, counter=5).random_raw(8)
    assert np.array_equal(eight[4:], np.random.Philox(key=key, counter=6).random_raw(4))
    # advance(d) adds d to the counter: it skips d blocks of 4 raw values
    advanced = np.random.Philox(key=key)
    advanced.advance(3)
    assert np.array_equal(advanced.random_raw(4), np.random.Philox(key=key).random_raw(16)[12:])
    # ... and drops what was left in the buffer
    partial = np.random.Philox(key=key)
    partial.random_raw(1)
    partial.advance(1)
    assert np.array_equal(partial.random_raw(4), np.random.Philox(key=key).random_raw(12)[8:])
    # Philox(seed) takes its key from SeedSequence(seed)
    assert np.array_equal(np.random.Philox(7).state["state"]["key"], philox_key(7))


# --------------------------------------------------------------------------- mirror vs numpy


def test_stream_from_seed_is_numpys_philox():
    assert np.array_equal(StreamRNG(42).raw(0, 1000), np.random.Philox(42).random_raw(1000))


@pytest.mark.parametrize("key", KEYS)
def test_raw_positions_and_block_boundaries(key):
    rng = StreamRNG(key=key)
    ref = numpy_raw(key, 0, 64)
    for position in range(0, 24):
        for n in (0, 1, 2, 3, 4, 5, 9, 17):
            assert np.array_equal(rng.raw(position, n), ref[position:position + n]), (position, n)


def test_raw_at_large_positions_matches_numpy_advance():
    rng = StreamRNG(99)
    for position in (2**20 + 1, 10**12 + 3, 2**61 + 2, 2**64 - 9):
        ref = np.random.Philox(key=rng.key)
        ref.advance(position // 4)
        expected = ref.random_raw(8)[position % 4:][: 2**64 - position]
        assert np.array_equal(rng.raw(position, len(expected)), expected), position
    with pytest.raises(ValueError, match="2\\*\\*64"):
        rng.raw(2**64 - 2, 3)


@pytest.mark.parametrize("counter", [2**64 - 2, 2**128 - 3, 2**192 - 1, 2**256 - 2,
                                     [2**64 - 1, 2**64 - 1, 5, 0]])
def test_counter_carries(counter):
    key = (31337, 4242)
    expected = numpy_raw(key, 0, 24, counter=counter)
    for position in (0, 1, 4, 6, 11):
        got = philox_raw(key, counter, position, 24 - position)
        assert np.array_equal(got, expected[position:]), position


def test_uniform24_range_and_exactness():
    edge = np.array([0, 1, 2**40 - 1, 2**40, 2**63, 2**64 - 1], dtype=np.uint64)
    u = uniform24(edge)
    assert u.dtype == np.float32
    assert list(u[:4]) == [0.0, 0.0, 0.0, 2.0**-24]
    assert u[-1] == np.float32(1.0 - 2.0**-24) and u.max() < 1.0
    raw = StreamRNG(5).raw(0, 100_000)
    u = uniform24(raw)
    assert np.all((u >= 0) & (u < 1))
    assert np.array_equal((u.astype(np.float64) * 2**24).astype(np.uint64), raw >> U64(40))


def test_philox_blocks_spanned():
    assert philox_blocks_spanned(0, 0) == 0
    assert philox_blocks_spanned(0, 4) == 1
    assert philox_blocks_spanned(3, 2) == 2
    assert philox_blocks_spanned(5, 12) == 4


# --------------------------------------------------------------------------- StreamRNG layout


def test_stream_layout_and_positions():
    rng = StreamRNG(1234)
    a = rng.reserve(10, "drive")
    b = rng.reserve(5, "sources")
    assert (a, b, rng.stream_width) == (0, 12, 20)
    assert rng.reservations == {"drive": (0, 10), "sources": (12, 5)}
    assert np.array_equal(rng.block(3, b, 5), rng.raw(3 * 20 + 12, 5))
    assert not np.array_equal(rng.block(3, b, 5), rng.block(4, b, 5))
    key0, key1, pos = rng.kernel_args(3, b)
    assert all(type(x) is np.uint64 for x in (key0, key1, pos)) and int(pos) == 72
    with pytest.raises(RuntimeError, match="frozen"):
        rng.reserve(4)
    assert np.array_equal(StreamRNG(1234, stream_width=20).block(3, 12, 5), rng.block(3, b, 5))
    with pytest.raises(ValueError, match="do not fit"):
        StreamRNG(1, stream_width=8).reserve(9)
    fresh = StreamRNG()
    again = StreamRNG(fresh.seed_sequence.entropy)
    assert np.array_equal(fresh.raw(0, 8), again.raw(0, 8))


# --------------------------------------------------------------------------- Poisson tables


@pytest.mark.parametrize("lam", [1e-4, 0.02, 2.0, 37.5, 800.0])
def test_poisson_cdf_table_properties(lam):
    cdf = poisson_cdf_table(lam)
    assert cdf.dtype == np.float32 and cdf[-1] == 1.0
    assert np.all(np.diff(cdf) >= 0)
    assert not np.any((cdf > 0) & (cdf < np.finfo(np.float32).tiny))
    assert np.all(cdf[:-1] < 1.0)
    k = np.arange(len(cdf))
    exact = np.cumsum(np.exp(k * math.log(lam) - lam - np.array([math.lgamma(x + 1) for x in k])))
    assert np.allclose(cdf[:-1], exact[:-1], rtol=1e-6, atol=1e-7)
    assert 1.0 - exact[-1] <= 2.0**-25 + 1e-15  # the tail cut off: P(X >= len) < 3e-8


def test_poisson_cdf_table_edges():
    assert np.array_equal(poisson_cdf_table(0.0), np.ones(1, np.float32))
    for bad in (-1.0, float("nan"), float("inf"), 1e6):
        with pytest.raises(ValueError, match="lam"):
            poisson_cdf_table(bad)


@pytest.mark.parametrize("lam", [0.0, 0.3, 2.0, 37.5])
def test_fast_poisson_counts_equal_searchsorted(lam):
    table = PoissonTable(lam)
    raw = StreamRNG(8).raw(0, 50_000)
    # add draws exactly at, just below and just above every threshold
    t = np.ceil(table.cdf.astype(np.float64) * 2**24).astype(np.int64)
    j = np.clip(np.concatenate([t - 1, t, t + 1]), 0, 2**24 - 1).astype(np.uint64)
    raw = np.concatenate([raw, (j << U64(40)) | U64(12345)])
    expected = np.searchsorted(table.cdf, uniform24(raw), side="right")
    assert np.array_equal(table.counts_from_raw(raw), expected)
    assert np.array_equal(poisson_counts(uniform24(raw), table.cdf), expected)
    assert table.counts_from_raw(raw).dtype == np.int32


def test_poisson_counts_statistics():
    lam, n = 2.0, 400_000
    counts = PoissonTable(lam).counts_from_raw(StreamRNG(2007).raw(0, n))
    assert abs(counts.mean() - lam) < 5 * math.sqrt(lam / n)
    assert abs(counts.var() / lam - 1.0) < 0.02
    kmax = 9
    observed = np.bincount(np.minimum(counts, kmax), minlength=kmax + 1)
    pmf = np.array([math.exp(-lam) * lam**k / math.factorial(k) for k in range(kmax)])
    expected = n * np.append(pmf, 1.0 - pmf.sum())
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    dof = kmax
    assert chi2 < dof + 6 * math.sqrt(2 * dof), chi2  # about p > 1e-4


def test_uniform_and_bernoulli_statistics():
    u = StreamRNG(3).raw(0, 200_000)
    u = uniform24(u)
    assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / u.size)
    hist = np.bincount((u * 20).astype(np.int64), minlength=20)
    chi2 = float(((hist - u.size / 20) ** 2 / (u.size / 20)).sum())
    assert chi2 < 19 + 6 * math.sqrt(38)
    p = 0.1
    hits = bernoulli(u, p)
    assert hits.dtype == bool
    assert abs(hits.mean() - p) < 5 * math.sqrt(p * (1 - p) / u.size)


def test_numpy_step_of_12500_draws_is_fast():
    rng = StreamRNG(1)
    offset = rng.reserve(12_500)
    table = PoissonTable(2.0)
    step = lambda: table.counts_from_raw(rng.block(17, offset, 12_500))  # noqa: E731
    step()
    cost = min(timeit.repeat(step, number=20, repeat=5)) / 20
    # about 80 us on a 2-core CI machine; the bound only catches a slow path
    assert cost < 1e-3, f"a 12,500-draw Poisson step costs {cost * 1e6:.0f} us"


# --------------------------------------------------------------------------- kernels (host build)

needs_gxx = pytest.mark.skipif(not hostbuild.is_available(), reason="g++ not found")


@pytest.fixture(scope="module")
def random_module():
    return hostbuild.HostModule("random.cu")


@pytest.fixture(scope="module")
def random_module_shuffled():
    return hostbuild.HostModule("random.cu", shuffle=True)


def launch(module, name, n, position0, *args, threads=None, block=64):
    threads = philox_blocks_spanned(position0, n) if threads is None else threads
    grid = (max(1, -(-threads // block)),)
    module.get_function(name)(grid, (block,), args)


ONE_PER_THREAD = r"""
#include "philox.cuh"
/* the device helpers a neuron kernel calls, one value per thread */
NS_GLOBAL void raw_per_thread(ns_u64 *out, ns_u64 k0, ns_u64 k1, ns_u64 p0, ns_i32 n) {
  NS_GRID_STRIDE_LOOP(i, n) out[i] = ns_philox_raw(k0, k1, p0 + (ns_u64)i);
}
NS_GLOBAL void raw_ctr_per_thread(ns_u64 *out, ns_u64 k0, ns_u64 k1, ns_u64 c0, ns_u64 c1,
                                  ns_u64 c2, ns_u64 c3, ns_u64 p0, ns_i32 n) {
  NS_GRID_STRIDE_LOOP(i, n) out[i] = ns_philox_raw_ctr(k0, k1, c0, c1, c2, c3, p0 + (ns_u64)i);
}
NS_GLOBAL void counts_per_thread(ns_i32 *out, const float *cdf, ns_i32 len, ns_u64 k0,
                                 ns_u64 k1, ns_u64 p0, ns_i32 n) {
  NS_GRID_STRIDE_LOOP(i, n)
    out[i] = ns_count_from_cdf(cdf, len, ns_uniform24(ns_philox_raw(k0, k1, p0 + (ns_u64)i)));
}
"""


@pytest.fixture(scope="module")
def per_thread_module():
    if not hostbuild.is_available():
        pytest.skip("g++ not found")
    return hostbuild.HostModule(code=ONE_PER_THREAD, shuffle=True)


@pytest.mark.parametrize("key", KEYS)
def test_device_helpers_one_value_per_thread(per_thread_module, key):
    k0, k1, n = U64(key[0]), U64(key[1]), 203
    for position in (0, 3, 2**50 + 1):
        out = np.zeros(n, np.uint64)
        per_thread_module.get_function("raw_per_thread")(
            (4,), (64,), (out, k0, k1, U64(position), np.int32(n)))
        assert np.array_equal(out, philox_raw(key, 0, position, n))
    counter = 2**128 - 5
    words = [U64((counter >> (64 * i)) & (2**64 - 1)) for i in range(4)]
    out = np.zeros(n, np.uint64)
    per_thread_module.get_function("raw_ctr_per_thread")(
        (4,), (64,), (out, k0, k1, *words, U64(1), np.int32(n)))
    assert np.array_equal(out, numpy_raw(key, 1, n, counter=counter))
    table = PoissonTable(3.5)
    counts = np.zeros(n, np.int32)
    per_thread_module.get_function("counts_per_thread")(
        (4,), (64,), (counts, table.cdf, table.cdf_len, k0, k1, U64(9), np.int32(n)))
    assert np.array_equal(counts, table.counts_from_raw(philox_raw(key, 0, 9, n)))


CASES = [(key, position, n) for key in KEYS
         for position, n in [(0, 1), (1, 7), (3, 1000), (5, 4), (2**40 + 3, 257), (2**62 + 1, 33)]]


@needs_gxx
@pytest.mark.parametrize("key,position,n", CASES)
def test_kernel_philox_raw_fill_matches_mirror(random_module, key, position, n):
    out = np.zeros(n, np.uint64)
    launch(random_module, "philox_raw_fill", n, position,
           out, U64(key[0]), U64(key[1]), U64(position), np.int32(n))
    assert np.array_equal(out, philox_raw(key, 0, position, n))


@needs_gxx
@pytest.mark.parametrize("threads", [1, 3, 10_000])
def test_kernel_any_launch_size_and_order(random_module_shuffled, threads):
    key, position, n = KEYS[3], 6, 501
    out = np.zeros(n, np.uint64)
    launch(random_module_shuffled, "philox_raw_fill", n, position,
           out, U64(key[0]), U64(key[1]), U64(position), np.int32(n), threads=threads)
    assert np.array_equal(out, numpy_raw(key, position, n))


@needs_gxx
@pytest.mark.parametrize("counter", [2**64 - 3, 2**128 - 2, 2**192 - 1, 2**256 - 3])
def test_kernel_counter_carries(random_module, counter):
    key, n = (77, 88), 20
    words = [U64((counter >> (64 * i)) & (2**64 - 1)) for i in range(4)]
    for position in (0, 2, 5):
        out = np.zeros(n, np.uint64)
        launch(random_module, "philox_raw_fill_ctr", n, position,
               out, U64(key[0]), U64(key[1]), *words, U64(position), np.int32(n))
        assert np.array_equal(out, numpy_raw(key, position, n, counter=counter))


@needs_gxx
def test_kernel_uniforms_and_bernoulli_match_mirror(random_module):
    rng = StreamRNG(31)
    offset = rng.reserve(3001)
    key0, key1, pos = rng.kernel_args(9, offset)
    n = 3001
    u = np.zeros(n, np.float32)
    launch(random_module, "uniform24_fill", n, int(pos), u, key0, key1, pos, np.int32(n))
    assert np.array_equal(u, rng.uniform(9, offset, n))
    hits = np.zeros(n, bool)
    p = np.float32(0.37)
    launch(random_module, "bernoulli_fill", n, int(pos), hits, p, key0, key1, pos, np.int32(n))
    assert np.array_equal(hits, bernoulli(rng.uniform(9, offset, n), p))


@needs_gxx
@pytest.mark.parametrize("lam", [0.0, 0.02, 2.0, 37.5])
def test_kernel_poisson_counts_match_mirror(random_module, lam):
    rng = StreamRNG(2000 + int(lam))
    n = 12_500
    offset = rng.reserve(n)
    table = PoissonTable(lam)
    for step in (0, 1, 1000):
        key0, key1, pos = rng.kernel_args(step, offset)
        counts = np.full(n, -1, np.int32)
        launch(random_module, "poisson_input_counts", n, int(pos),
               counts, table.cdf, table.cdf_len, key0, key1, pos, np.int32(n))
        raw = rng.block(step, offset, n)
        assert np.array_equal(counts, table.counts_from_raw(raw))
        assert np.array_equal(counts, poisson_counts(uniform24(raw), table.cdf))
