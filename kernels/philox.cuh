/*
 * philox.cuh -- counter-based random numbers, bit-identical to numpy.
 *
 * Philox4x64-10 (Salmon et al. 2011) exactly as numpy's bit generator
 * np.random.Philox computes it (numpy/random/src/philox/philox.h), so the
 * NumPy mirror in neurosim/rng.py draws the same numbers with numpy's own C
 * code. The stream of one key is a sequence of raw uint64 values indexed by a
 * position p = 0, 1, 2, ...:
 *
 *     raw(p) = philox4x64_10(counter = p / 4 + 1, key)[p % 4]
 *
 * The "+ 1" is numpy's: Philox(key=k, counter=c).random_raw() increments the
 * 256-bit counter *before* each block, so raw values 4i..4i+3 come from
 * counter c + i + 1. neurosim streams use c = 0 (ns_philox_raw); the _ctr
 * variants take numpy's full 4x64-bit base counter (with carries).
 *
 * A uniform float is ns_uniform24(raw) = (raw >> 40) * 2**-24: the top 24 bits,
 * an exact float32 in [0, 1) (at most 1 - 2**-24; never a denormal, so
 * -ftz=true cannot change it). Positions are assigned by the engine:
 * position = step * stream_width + offset + i, so every thread knows its own
 * numbers whatever the launch order (see neurosim/rng.py).
 *
 * Cost: one block (4 values) is 20 64-bit multiplies. A thread that needs one
 * value pays for four; kernels that fill arrays give each thread one block
 * (see random.cu).
 */
#ifndef NS_PHILOX_CUH
#define NS_PHILOX_CUH

#include "common.cuh"

#define NS_PHILOX_M0 0xD2E7470EE14C6C93ULL
#define NS_PHILOX_M1 0xCA5A826395121157ULL
#define NS_PHILOX_W0 0x9E3779B97F4A7C15ULL
#define NS_PHILOX_W1 0xBB67AE8584CAA73BULL

/* Four 64-bit words: a counter or one output block. */
struct ns_u64x4 {
  ns_u64 v0, v1, v2, v3;
};

/* The bijection itself: 10 rounds of Philox4x64 on `ctr` with key (k0, k1). */
NS_DEVICE ns_u64x4 ns_philox4x64_10(ns_u64x4 c, ns_u64 k0, ns_u64 k1) {
#pragma unroll
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += NS_PHILOX_W0;
      k1 += NS_PHILOX_W1;
    }
    const ns_u64 hi0 = __umul64hi(NS_PHILOX_M0, c.v0);
    const ns_u64 lo0 = NS_PHILOX_M0 * c.v0;
    const ns_u64 hi1 = __umul64hi(NS_PHILOX_M1, c.v2);
    const ns_u64 lo1 = NS_PHILOX_M1 * c.v2;
    ns_u64x4 out;
    out.v0 = hi1 ^ c.v1 ^ k0;
    out.v1 = lo1;
    out.v2 = hi0 ^ c.v3 ^ k1;
    out.v3 = lo0;
    c = out;
  }
  return c;
}

/* Output block `block` (raw values 4*block .. 4*block+3) of the stream with
 * numpy base counter (c0, c1, c2, c3): counter = base + block + 1, carried
 * through all four words as numpy does. */
NS_DEVICE ns_u64x4 ns_philox_block_ctr(ns_u64 k0, ns_u64 k1, ns_u64 c0,
                                       ns_u64 c1, ns_u64 c2, ns_u64 c3,
                                       ns_u64 block) {
  /* block < 2**62 for any 64-bit position, so block + 1 cannot overflow. */
  ns_u64x4 ctr;
  ctr.v0 = c0 + (block + 1ULL);
  ns_u64 carry = ctr.v0 < c0 ? 1ULL : 0ULL;
  ctr.v1 = c1 + carry;
  carry = (carry && ctr.v1 == 0ULL) ? 1ULL : 0ULL;
  ctr.v2 = c2 + carry;
  carry = (carry && ctr.v2 == 0ULL) ? 1ULL : 0ULL;
  ctr.v3 = c3 + carry;
  return ns_philox4x64_10(ctr, k0, k1);
}

/* Output block `block` of a neurosim stream (base counter 0; the compiler
 * folds the zero words away). */
NS_DEVICE ns_u64x4 ns_philox_block(ns_u64 k0, ns_u64 k1, ns_u64 block) {
  return ns_philox_block_ctr(k0, k1, 0ULL, 0ULL, 0ULL, 0ULL, block);
}

/* Word `lane` (0..3) of a block; a select, not an indexed array, so the
 * block stays in registers. */
NS_DEVICE ns_u64 ns_u64x4_lane(ns_u64x4 b, unsigned int lane) {
  return lane == 0u ? b.v0 : (lane == 1u ? b.v1 : (lane == 2u ? b.v2 : b.v3));
}

/* The raw uint64 at stream position `position` (base counter 0). */
NS_DEVICE ns_u64 ns_philox_raw(ns_u64 k0, ns_u64 k1, ns_u64 position) {
  return ns_u64x4_lane(ns_philox_block(k0, k1, position >> 2),
                       (unsigned int)(position & 3ULL));
}

/* The raw uint64 at `position` for numpy base counter (c0, c1, c2, c3). */
NS_DEVICE ns_u64 ns_philox_raw_ctr(ns_u64 k0, ns_u64 k1, ns_u64 c0, ns_u64 c1,
                                   ns_u64 c2, ns_u64 c3, ns_u64 position) {
  return ns_u64x4_lane(ns_philox_block_ctr(k0, k1, c0, c1, c2, c3, position >> 2),
                       (unsigned int)(position & 3ULL));
}

/* Call f(i, raw(position0 + i)) for every i in [0, n), one Philox block per
 * loop iteration: the calling kernel's threads split the blocks that the
 * range [position0, position0 + n) touches with a grid-stride loop, so any
 * launch size is correct and ns_philox_blocks_spanned(position0, n) threads
 * (neurosim.rng.philox_blocks_spanned on the host) give one block each.
 * f is a lambda defined in the kernel: [&](ns_i64 i, ns_u64 raw) {...}. */
NS_DEVICE ns_i64 ns_philox_blocks_spanned(ns_u64 position0, ns_i64 n) {
  if (n <= 0) return 0;
  return (ns_i64)(((position0 + (ns_u64)n - 1ULL) >> 2) - (position0 >> 2) + 1ULL);
}

template <typename F>
NS_DEVICE void ns_philox_for_each_ctr(ns_u64 k0, ns_u64 k1, ns_u64 c0, ns_u64 c1,
                                      ns_u64 c2, ns_u64 c3, ns_u64 position0,
                                      ns_i64 n, F f) {
  const ns_u64 first = position0 >> 2;
  const ns_i64 nblocks = ns_philox_blocks_spanned(position0, n);
  NS_GRID_STRIDE_LOOP(b, nblocks) {
    const ns_u64 block = first + (ns_u64)b;
    const ns_u64x4 r = ns_philox_block_ctr(k0, k1, c0, c1, c2, c3, block);
    /* index of lane 0 in the output; -3..0 for the first block */
    const ns_i64 i0 = (ns_i64)(block * 4ULL - position0);
    if (i0 >= 0 && i0 < n) f(i0, r.v0);
    if (i0 + 1 >= 0 && i0 + 1 < n) f(i0 + 1, r.v1);
    if (i0 + 2 >= 0 && i0 + 2 < n) f(i0 + 2, r.v2);
    if (i0 + 3 >= 0 && i0 + 3 < n) f(i0 + 3, r.v3);
  }
}

template <typename F>
NS_DEVICE void ns_philox_for_each(ns_u64 k0, ns_u64 k1, ns_u64 position0,
                                  ns_i64 n, F f) {
  ns_philox_for_each_ctr(k0, k1, 0ULL, 0ULL, 0ULL, 0ULL, position0, n, f);
}

/* Uniform float32 in [0, 1) from the top 24 bits: exact, ftz-proof. */
NS_DEVICE float ns_uniform24(ns_u64 raw) {
  return (float)(ns_u32)(raw >> 40) * 5.9604644775390625e-08f; /* 2**-24 */
}

/* Poisson (or any discrete) count by inversion: the number of table entries
 * cdf[k] <= u, scanning from k = 0. `cdf` comes from
 * neurosim.rng.poisson_cdf_table (float32, non-decreasing, last entry 1.0,
 * no denormals), so the scan always stops before `len`. */
NS_DEVICE int ns_count_from_cdf(const float *__restrict__ cdf, int len, float u) {
  int k = 0;
  while (k < len && cdf[k] <= u) ++k;
  return k;
}

#endif /* NS_PHILOX_CUH */
