/*
 * random.cu -- random-number kernels: raw Philox streams, uniforms, Poisson
 * counts and Bernoulli draws, bit-identical to the NumPy mirror in
 * neurosim/rng.py (see philox.cuh for the stream definition).
 *
 * Every kernel draws the values at stream positions position0 .. position0+n-1
 * of the stream with key (key0, key1), writes element i from position
 * position0 + i, and gives each thread one Philox block (4 positions) in a
 * grid-stride loop: launch neurosim.rng.philox_blocks_spanned(position0, n)
 * threads for full parallelism; any grid is correct.
 */
#include "philox.cuh"

/* out[i] = raw(position0 + i): the stream itself (tests, debugging). */
NS_GLOBAL void philox_raw_fill(ns_u64 *__restrict__ out, ns_u64 key0, ns_u64 key1,
                               ns_u64 position0, ns_i32 n) {
  ns_philox_for_each(key0, key1, position0, n,
                     [&](ns_i64 i, ns_u64 raw) { out[i] = raw; });
}

/* As philox_raw_fill, for numpy's general base counter (c0, c1, c2, c3):
 * out[i] is element position0 + i of Philox(key, counter).random_raw(). */
NS_GLOBAL void philox_raw_fill_ctr(ns_u64 *__restrict__ out, ns_u64 key0,
                                   ns_u64 key1, ns_u64 c0, ns_u64 c1, ns_u64 c2,
                                   ns_u64 c3, ns_u64 position0, ns_i32 n) {
  ns_philox_for_each_ctr(key0, key1, c0, c1, c2, c3, position0, n,
                         [&](ns_i64 i, ns_u64 raw) { out[i] = raw; });
}

/* out[i] = uniform24(raw(position0 + i)), exact float32 in [0, 1). */
NS_GLOBAL void uniform24_fill(float *__restrict__ out, ns_u64 key0, ns_u64 key1,
                              ns_u64 position0, ns_i32 n) {
  ns_philox_for_each(key0, key1, position0, n, [&](ns_i64 i, ns_u64 raw) {
    out[i] = ns_uniform24(raw);
  });
}

/* counts[i] = number of entries cdf[k] <= uniform24(raw(position0 + i)): a
 * Poisson count by inversion of the table from neurosim.rng.poisson_cdf_table
 * (one Poisson input per element, e.g. one external drive per neuron). */
NS_GLOBAL void poisson_input_counts(ns_i32 *__restrict__ counts,
                                    const float *__restrict__ cdf,
                                    ns_i32 cdf_len, ns_u64 key0, ns_u64 key1,
                                    ns_u64 position0, ns_i32 n) {
  ns_philox_for_each(key0, key1, position0, n, [&](ns_i64 i, ns_u64 raw) {
    counts[i] = ns_count_from_cdf(cdf, cdf_len, ns_uniform24(raw));
  });
}

/* out[i] = uniform24(raw(position0 + i)) < p: a Bernoulli draw with
 * probability p (e.g. a Poisson source neuron spiking with p = rate * dt). */
NS_GLOBAL void bernoulli_fill(bool *__restrict__ out, float p, ns_u64 key0,
                              ns_u64 key1, ns_u64 position0, ns_i32 n) {
  ns_philox_for_each(key0, key1, position0, n, [&](ns_i64 i, ns_u64 raw) {
    out[i] = ns_uniform24(raw) < p;
  });
}
