/*
 * connect.cu -- connectivity generated on the device (neurosim/engine/device_connect.py).
 *
 * A static projection is written straight into its synapse class (a CSR over
 * global source ids, layout.py: SynapseClass): the host knows every row's
 * length beforehand (from its own cheap draws: the multinomial synapse counts
 * of FixedTotalNumber, or fixed degrees; or from the counting kernels below),
 * builds the row pointers, and gives each kernel
 *   moff[i]  first synapse of source i in the projection's own source-major
 *            numbering j = 0 .. n_syn-1 (moff[n_pre] = n_syn),
 *   dst[i]   position in the class arrays of that synapse,
 * so synapse j of source i (the largest i with moff[i] <= j) lands at
 * dst[i] + j - moff[i]. No atomics: every write position is fixed, and the
 * result does not depend on the launch shape or the thread order.
 *
 * Random numbers: the Philox4x64-10 stream of the projection's own key (see
 * philox.cuh), numpy base counter (0, purpose, attempt, 0); synapse j uses
 * output block j of it (4 raw values). Purposes: NS_CONNECT_STRUCT (targets,
 * or sources of FixedIndegree), NS_CONNECT_WEIGHT, NS_CONNECT_DELAY;
 * `attempt` counts redraws (a self-connection excluded by allow_self=False,
 * a bounded normal value outside its bounds). FixedProbability walks a row
 * with one stream per source: counter (0, NS_CONNECT_ROWS, i, 0). The host
 * mirrors these definitions with numpy.random.Philox (tests/test_device_connect.py).
 *
 * Integers in [0, n) are ((raw >> 32) * n) >> 32 (n < 2**32; bias below
 * n / 2**32). Uniform doubles: (raw >> 11) * 2**-53 in [0, 1); normals:
 * Box-Muller in double precision from u1 = ((raw0 >> 11) + 1) * 2**-53 in
 * (0, 1] and u2 from raw1, so |z| <= 8.58 (the tail beyond is not drawn).
 */
#include "philox.cuh"

#define NS_CONNECT_STRUCT 0ULL
#define NS_CONNECT_WEIGHT 1ULL
#define NS_CONNECT_DELAY 2ULL
#define NS_CONNECT_ROWS 3ULL
/* Redraws of one value before giving up (flagged in bad[0]): bounds at most
 * 6 standard deviations from the mean (distributions.Normal) need far fewer. */
#define NS_CONNECT_MAX_ATTEMPTS 1000000ULL

#define NS_CONNECT_TWO_PI 6.283185307179586
#define NS_CONNECT_2M53 1.1102230246251565e-16 /* 2**-53 */

/* Block j of the stream (purpose, attempt). */
NS_DEVICE ns_u64x4 ns_connect_block(ns_u64 k0, ns_u64 k1, ns_u64 purpose, ns_u64 attempt,
                                    ns_u64 j) {
  return ns_philox_block_ctr(k0, k1, 0ULL, purpose, attempt, 0ULL, j);
}

/* An integer in [0, n) from the top 32 bits of raw. */
NS_DEVICE ns_i64 ns_connect_below(ns_u64 raw, ns_i64 n) {
  return (ns_i64)(((raw >> 32) * (ns_u64)n) >> 32);
}

/* The source i of synapse j: the largest i with moff[i] <= j (moff has
 * n_pre + 1 entries, non-decreasing, moff[0] = 0 <= j < moff[n_pre]). */
NS_DEVICE ns_i32 ns_connect_row(const ns_i64 *__restrict__ moff, ns_i32 n_pre, ns_i64 j) {
  ns_i32 lo = 0, hi = n_pre; /* moff[lo] <= j < moff[hi] */
  while (hi - lo > 1) {
    const ns_i32 mid = lo + (hi - lo) / 2;
    if (moff[mid] <= j) lo = mid; else hi = mid;
  }
  return lo;
}

/* A value of a weight/delay spec for synapse j. kind 0: the constant a;
 * 1: uniform on [a, b); 2: normal (mean a, std b) within [lo, hi], redrawn
 * (clip = 0) or clipped (clip = 1). *ok becomes 0 if redrawing never ended. */
NS_DEVICE double ns_connect_sample(ns_i32 kind, double a, double b, double lo, double hi,
                                   ns_i32 clip, ns_u64 k0, ns_u64 k1, ns_u64 purpose,
                                   ns_u64 j, int *ok) {
  if (kind == 0) return a;
  if (kind == 1) {
    const ns_u64x4 r = ns_connect_block(k0, k1, purpose, 0ULL, j);
    return a + (b - a) * ((double)(r.v0 >> 11) * NS_CONNECT_2M53);
  }
  for (ns_u64 attempt = 0; attempt < NS_CONNECT_MAX_ATTEMPTS; ++attempt) {
    const ns_u64x4 r = ns_connect_block(k0, k1, purpose, attempt, j);
    const double u1 = ((double)(r.v0 >> 11) + 1.0) * NS_CONNECT_2M53;
    const double u2 = (double)(r.v1 >> 11) * NS_CONNECT_2M53;
    const double v = a + b * (sqrt(-2.0 * log(u1)) * cos(NS_CONNECT_TWO_PI * u2));
    if (clip) return v < lo ? lo : (v > hi ? hi : v);
    if (v >= lo && v <= hi) return v;
  }
  *ok = 0;
  return a;
}

/* Targets of the synapses of one projection. mode 0: uniform random targets
 * (FixedTotalNumber, FixedOutdegree with multapses), redrawn while equal to
 * the source if exclude_self; mode 1: all targets in order (AllToAll, the
 * diagonal skipped if exclude_self); mode 2: target = source (OneToOne).
 * cols[...] = col_base + target (a ring column). */
NS_GLOBAL void connect_targets(ns_i32 mode, ns_u64 key0, ns_u64 key1, ns_i64 n_syn,
                               ns_i32 n_pre, ns_i32 n_post, ns_i32 exclude_self,
                               const ns_i64 *__restrict__ moff,
                               const ns_i64 *__restrict__ dst, ns_i32 col_base,
                               ns_i32 *__restrict__ cols) {
  NS_GRID_STRIDE_LOOP(j, n_syn) {
    const ns_i32 i = ns_connect_row(moff, n_pre, j);
    const ns_i64 r = j - moff[i];
    ns_i64 t;
    if (mode == 0) {
      ns_u64 attempt = 0;
      t = ns_connect_below(ns_connect_block(key0, key1, NS_CONNECT_STRUCT, 0ULL, j).v0, n_post);
      while (exclude_self && t == i) {
        ++attempt;
        t = ns_connect_below(
            ns_connect_block(key0, key1, NS_CONNECT_STRUCT, attempt, j).v0, n_post);
      }
    } else if (mode == 1) {
      t = r + ((exclude_self && r >= i) ? 1 : 0);
    } else {
      t = i;
    }
    cols[dst[i] + r] = col_base + (ns_i32)t;
  }
}

/* FixedProbability: one thread per source row walks the n_post (or n_post-1
 * without the diagonal) candidate targets with geometric gaps
 * floor(log(u) / log(1 - p)) + 1, u in (0, 1], from the row's own stream.
 * count_only = 1: counts[i] = number of synapses; else write the targets (the
 * same walk, so the same targets), as connect_targets. log1mp = log(1 - p) < 0
 * (-inf for p = 1), computed on the host; p = 0 is never launched. */
NS_GLOBAL void connect_bernoulli(ns_i32 count_only, ns_u64 key0, ns_u64 key1, double log1mp,
                                 ns_i32 n_pre, ns_i32 n_post, ns_i32 exclude_self,
                                 ns_i64 *__restrict__ counts,
                                 const ns_i64 *__restrict__ dst, ns_i32 col_base,
                                 ns_i32 *__restrict__ cols) {
  const ns_i64 width = (ns_i64)n_post - (exclude_self ? 1 : 0);
  NS_GRID_STRIDE_LOOP(i, n_pre) {
    ns_i64 pos = -1, c = 0;
    ns_u64x4 block = {0ULL, 0ULL, 0ULL, 0ULL};
    for (ns_u64 d = 0;; ++d) {
      if ((d & 3ULL) == 0ULL)
        block = ns_connect_block(key0, key1, NS_CONNECT_ROWS, (ns_u64)i, d >> 2);
      const ns_u64 raw = ns_u64x4_lane(block, (unsigned int)(d & 3ULL));
      const double u = ((double)(raw >> 11) + 1.0) * NS_CONNECT_2M53;
      double gap = floor(log(u) / log1mp);
      if (!(gap < (double)width)) gap = (double)width; /* also NaN-proof */
      pos += (ns_i64)gap + 1;
      if (pos >= width) break;
      if (!count_only) {
        const ns_i64 t = pos + ((exclude_self && pos >= i) ? 1 : 0);
        cols[dst[i] + c] = col_base + (ns_i32)t;
      }
      ++c;
    }
    if (count_only) counts[i] = c;
  }
}

/* FixedIndegree (multapses): synapse j = t * k + s of target t draws its
 * source uniformly (redrawn while equal to t if exclude_self); keys[j] =
 * source * n_post + t. The host sorts the keys (source-major, targets
 * ascending within a source) and counts the sources. */
NS_GLOBAL void connect_indegree_keys(ns_u64 key0, ns_u64 key1, ns_i32 n_post, ns_i32 k,
                                     ns_i32 n_pre, ns_i32 exclude_self,
                                     ns_i64 *__restrict__ keys) {
  const ns_i64 n = (ns_i64)n_post * k;
  NS_GRID_STRIDE_LOOP(j, n) {
    const ns_i64 t = j / k;
    ns_u64 attempt = 0;
    ns_i64 s = ns_connect_below(ns_connect_block(key0, key1, NS_CONNECT_STRUCT, 0ULL, j).v0,
                                n_pre);
    while (exclude_self && s == t) {
      ++attempt;
      s = ns_connect_below(ns_connect_block(key0, key1, NS_CONNECT_STRUCT, attempt, j).v0,
                           n_pre);
    }
    keys[j] = s * (ns_i64)n_post + t;
  }
}

/* Targets from sorted keys (connect_indegree_keys): synapse j of the sorted
 * order has source keys[j] / n_post and target keys[j] % n_post. */
NS_GLOBAL void connect_cols_from_keys(ns_i64 n_syn, ns_i32 n_post,
                                      const ns_i64 *__restrict__ keys,
                                      const ns_i64 *__restrict__ moff,
                                      const ns_i64 *__restrict__ dst, ns_i32 col_base,
                                      ns_i32 *__restrict__ cols) {
  NS_GRID_STRIDE_LOOP(j, n_syn) {
    const ns_i64 key = keys[j];
    const ns_i64 i = key / n_post;
    cols[dst[i] + j - moff[i]] = col_base + (ns_i32)(key - i * n_post);
  }
}

/* Every synapse's value of a weight/delay spec (ns_connect_sample) from the
 * stream `purpose`, handed to store(position in the class arrays, value);
 * bad[0] = 1 if a redraw never ended. */
template <typename Store>
NS_DEVICE void ns_connect_values(ns_i32 kind, double a, double b, double lo, double hi,
                                 ns_i32 clip, ns_u64 key0, ns_u64 key1, ns_u64 purpose,
                                 ns_i64 n_syn, ns_i32 n_pre, const ns_i64 *__restrict__ moff,
                                 const ns_i64 *__restrict__ dst, ns_i32 *__restrict__ bad,
                                 Store store) {
  NS_GRID_STRIDE_LOOP(j, n_syn) {
    const ns_i32 i = ns_connect_row(moff, n_pre, j);
    int ok = 1;
    const double v = ns_connect_sample(kind, a, b, lo, hi, clip, key0, key1, purpose,
                                       (ns_u64)j, &ok);
    if (!ok) bad[0] = 1;
    store(dst[i] + j - moff[i], v);
  }
}

/* Weights: out[...] = (float)sample. */
NS_GLOBAL void connect_weights(ns_i32 kind, double a, double b, double lo, double hi,
                               ns_i32 clip, ns_u64 key0, ns_u64 key1, ns_i64 n_syn,
                               ns_i32 n_pre, const ns_i64 *__restrict__ moff,
                               const ns_i64 *__restrict__ dst, float *__restrict__ out,
                               ns_i32 *__restrict__ bad) {
  ns_connect_values(kind, a, b, lo, hi, clip, key0, key1, NS_CONNECT_WEIGHT, n_syn, n_pre,
                    moff, dst, bad, [&](ns_i64 k, double v) { out[k] = (float)v; });
}

/* Delays in steps: max(1, rint(sample / dt)) as int16; bad[1] = 1 if a value
 * exceeds 32767 steps (stored as 32767). */
NS_GLOBAL void connect_delay_steps(ns_i32 kind, double a, double b, double lo, double hi,
                                   ns_i32 clip, double dt, ns_u64 key0, ns_u64 key1,
                                   ns_i64 n_syn, ns_i32 n_pre,
                                   const ns_i64 *__restrict__ moff,
                                   const ns_i64 *__restrict__ dst, ns_i16 *__restrict__ out,
                                   ns_i32 *__restrict__ bad) {
  ns_connect_values(kind, a, b, lo, hi, clip, key0, key1, NS_CONNECT_DELAY, n_syn, n_pre,
                    moff, dst, bad, [&](ns_i64 k, double v) {
                      double s = rint(v / dt);
                      if (!(s >= 1.0)) s = 1.0;
                      if (s > 32767.0) {
                        bad[1] = 1;
                        s = 32767.0;
                      }
                      out[k] = (ns_i16)s;
                    });
}
