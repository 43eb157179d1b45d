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
 * Truncated normals (bounds redrawn): by Box-Muller, redrawn at most
 * NS_CONNECT_REDRAWS times when the interval holds at least a quarter of the
 * mass (kind 2), then -- or at once for a smaller interval (kind 3) -- by the
 * inverse CDF of the truncated distribution (ns_tn_sample, the formulas of
 * neurosim/truncnorm.py) from u = ((raw0 >> 12) + 1/2) * 2**-52: every value in
 * bounded time, however far out or narrow the interval.
 */
#include "philox.cuh"

#define NS_CONNECT_STRUCT 0ULL
#define NS_CONNECT_WEIGHT 1ULL
#define NS_CONNECT_DELAY 2ULL
#define NS_CONNECT_ROWS 3ULL
/* Box-Muller redraws of a bounded normal value (kind 2) before the inverse
 * CDF takes over: with at least a quarter of the mass inside, 0.75^100 of the
 * values get that far. */
#define NS_CONNECT_REDRAWS 100ULL

#define NS_CONNECT_TWO_PI 6.283185307179586
#define NS_CONNECT_2M53 1.1102230246251565e-16 /* 2**-53 */
#define NS_TN_2M52 2.220446049250313e-16       /* 2**-52 */
#define NS_TN_K52_MAX 4503599627370495ULL      /* 2**52 - 1 */
#define NS_TN_SQRT1_2 0.7071067811865476
#define NS_TN_LOG_SQRT_2PI 0.9189385332046728

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

/* ---- the truncated normal by its inverse CDF (neurosim/truncnorm.py) ---- */

NS_DEVICE double ns_tn_horner(double r, double c0, double c1, double c2, double c3, double c4,
                              double c5, double c6, double c7) {
  return ((((((c0 * r + c1) * r + c2) * r + c3) * r + c4) * r + c5) * r + c6) * r + c7;
}

/* log Phi(x) for x <= -37: the asymptotic series of the Mills ratio. */
NS_DEVICE double ns_tn_log_ndtr_series(double x) {
  const double t = 1.0 / (x * x);
  const double s = ns_tn_horner(t, -135135.0, 10395.0, -945.0, 105.0, -15.0, 3.0, -1.0, 1.0);
  return -0.5 * x * x - log(-x) - NS_TN_LOG_SQRT_2PI + log(s);
}

/* log Phi(x), the log of the standard normal CDF. */
NS_DEVICE double ns_tn_log_ndtr(double x) {
  if (x > 0.0) return log1p(-0.5 * erfc(x * NS_TN_SQRT1_2));
  if (x > -37.0) return log(0.5 * erfc(-x * NS_TN_SQRT1_2));
  return ns_tn_log_ndtr_series(x);
}

/* x <= 0 with log Phi(x) = lp <= log(1/2): Wichura's AS241 (tail branches
 * from log p), three Newton steps on the series below lp = -690. */
NS_DEVICE double ns_tn_ndtri_log(double lp) {
  const double p = exp(lp);
  if (p >= 0.075) {
    const double q = p - 0.5, r = 0.180625 - q * q;
    return q *
           ns_tn_horner(r, 2.5090809287301226727e+3, 3.3430575583588128105e+4,
                        6.7265770927008700853e+4, 4.5921953931549871457e+4,
                        1.3731693765509461125e+4, 1.9715909503065514427e+3,
                        1.3314166789178437745e+2, 3.3871328727963666080e+0) /
           ns_tn_horner(r, 5.2264952788528545610e+3, 2.8729085735721942674e+4,
                        3.9307895800092710610e+4, 2.1213794301586595867e+4,
                        5.3941960214247511077e+3, 6.8718700749205790830e+2,
                        4.2313330701600911252e+1, 1.0);
  }
  if (lp >= -690.0) {
    double r = sqrt(-lp);
    if (r <= 5.0) {
      r -= 1.6;
      return -ns_tn_horner(r, 7.74545014278341407640e-4, 2.27238449892691845833e-2,
                           2.41780725177450611770e-1, 1.27045825245236838258e+0,
                           3.64784832476320460504e+0, 5.76949722146069140550e+0,
                           4.63033784615654529590e+0, 1.42343711074968357734e+0) /
             ns_tn_horner(r, 1.05075007164441684324e-9, 5.47593808499534494600e-4,
                          1.51986665636164571966e-2, 1.48103976427480074590e-1,
                          6.89767334985100004550e-1, 1.67638483018380384940e+0,
                          2.05319162663775882187e+0, 1.0);
    }
    r -= 5.0;
    return -ns_tn_horner(r, 2.01033439929228813265e-7, 2.71155556874348757815e-5,
                         1.24266094738807843860e-3, 2.65321895265761230930e-2,
                         2.96560571828504891230e-1, 1.78482653991729133580e+0,
                         5.46378491116411436990e+0, 6.65790464350110377720e+0) /
           ns_tn_horner(r, 2.04426310338993978564e-15, 1.42151175831644588870e-7,
                        1.84631831751005468180e-5, 7.86869131145613259100e-4,
                        1.48753612908506148525e-2, 1.36929880922735805310e-1,
                        5.99832206555887937690e-1, 1.0);
  }
  const double s = -lp;
  double x = -sqrt(2.0 * s - log(2.0 * s) - 2.0 * NS_TN_LOG_SQRT_2PI);
  for (int it = 0; it < 3; ++it) {
    const double l = ns_tn_log_ndtr_series(x);
    x -= (l - lp) / exp(-0.5 * x * x - NS_TN_LOG_SQRT_2PI - l);
  }
  return x;
}

/* The standard normal truncated to [a, b] (a < b) from u in (0, 1) and
 * v = 1 - u (both exact): the inverse of the truncated CDF. */
NS_DEVICE double ns_tn_sample(double u, double v, double a, double b) {
  double sign = 1.0;
  if (a >= 0.0 && b > 0.0) { /* above the mean: the mirror image of [-b, -a] */
    const double t = a;
    a = -b;
    b = -t;
    sign = -1.0;
  }
  double x;
  if (b <= 0.0) { /* below the mean: log space */
    const double la = ns_tn_log_ndtr(a), lb = ns_tn_log_ndtr(b);
    x = ns_tn_ndtri_log(lb + log1p(v * expm1(la - lb)));
  } else { /* around the mean */
    const double m = 0.5 * (erf(b * NS_TN_SQRT1_2) - erf(a * NS_TN_SQRT1_2));
    const double lo = 0.5 * erfc(-a * NS_TN_SQRT1_2) + u * m;
    if (lo <= 0.5) x = ns_tn_ndtri_log(log(lo));
    else x = -ns_tn_ndtri_log(log(0.5 * erfc(b * NS_TN_SQRT1_2) + v * m));
  }
  x = x < a ? a : (x > b ? b : x);
  return sign * x;
}

/* N(mean, std) truncated to [lo, hi] from block (purpose, attempt, j). */
NS_DEVICE double ns_connect_tnormal(double mean, double std, double lo, double hi, ns_u64 k0,
                                    ns_u64 k1, ns_u64 purpose, ns_u64 attempt, ns_u64 j) {
  const ns_u64 k = ns_connect_block(k0, k1, purpose, attempt, j).v0 >> 12;
  const double u = ((double)k + 0.5) * NS_TN_2M52;
  const double v = ((double)(NS_TN_K52_MAX - k) + 0.5) * NS_TN_2M52;
  const double x = mean + std * ns_tn_sample(u, v, (lo - mean) / std, (hi - mean) / std);
  return x < lo ? lo : (x > hi ? hi : x);
}

/* A value of a weight/delay spec for synapse j. kind 0: the constant a;
 * 1: uniform on [a, b); 2: normal (mean a, std b) within [lo, hi], redrawn
 * (clip = 0; at most NS_CONNECT_REDRAWS times, then the inverse CDF) or
 * clipped (clip = 1); 3: normal (mean a, std b > 0) truncated to [lo, hi] by
 * the inverse CDF (an interval with less than a quarter of the mass). */
NS_DEVICE double ns_connect_sample(ns_i32 kind, double a, double b, double lo, double hi,
                                   ns_i32 clip, ns_u64 k0, ns_u64 k1, ns_u64 purpose,
                                   ns_u64 j) {
  if (kind == 0) return a;
  if (kind == 1) {
    const ns_u64x4 r = ns_connect_block(k0, k1, purpose, 0ULL, j);
    return a + (b - a) * ((double)(r.v0 >> 11) * NS_CONNECT_2M53);
  }
  if (kind == 3) return ns_connect_tnormal(a, b, lo, hi, k0, k1, purpose, 0ULL, j);
  for (ns_u64 attempt = 0; attempt < NS_CONNECT_REDRAWS; ++attempt) {
    const ns_u64x4 r = ns_connect_block(k0, k1, purpose, attempt, j);
    const double u1 = ((double)(r.v0 >> 11) + 1.0) * NS_CONNECT_2M53;
    const double u2 = (double)(r.v1 >> 11) * NS_CONNECT_2M53;
    const double v = a + b * (sqrt(-2.0 * log(u1)) * cos(NS_CONNECT_TWO_PI * u2));
    if (clip) return v < lo ? lo : (v > hi ? hi : v);
    if (v >= lo && v <= hi) return v;
  }
  return ns_connect_tnormal(a, b, lo, hi, k0, k1, purpose, NS_CONNECT_REDRAWS, j);
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
 * stream `purpose`, handed to store(position in the class arrays, value).
 * bad: flags of the caller (bad[1]: a delay beyond the int16 range); bad[0]
 * is no longer set (every draw ends). */
template <typename Store>
NS_DEVICE void ns_connect_values(ns_i32 kind, double a, double b, double lo, double hi,
                                 ns_i32 clip, ns_u64 key0, ns_u64 key1, ns_u64 purpose,
                                 ns_i64 n_syn, ns_i32 n_pre, const ns_i64 *__restrict__ moff,
                                 const ns_i64 *__restrict__ dst, ns_i32 *__restrict__ bad,
                                 Store store) {
  NS_GRID_STRIDE_LOOP(j, n_syn) {
    const ns_i32 i = ns_connect_row(moff, n_pre, j);
    const double v = ns_connect_sample(kind, a, b, lo, hi, clip, key0, key1, purpose,
                                       (ns_u64)j);
    store(dst[i] + j - moff[i], v);
  }
}

/* Weights: out[...] = (ns_real)sample. */
NS_GLOBAL void connect_weights(ns_i32 kind, double a, double b, double lo, double hi,
                               ns_i32 clip, ns_u64 key0, ns_u64 key1, ns_i64 n_syn,
                               ns_i32 n_pre, const ns_i64 *__restrict__ moff,
                               const ns_i64 *__restrict__ dst, ns_real *__restrict__ out,
                               ns_i32 *__restrict__ bad) {
  ns_connect_values(kind, a, b, lo, hi, clip, key0, key1, NS_CONNECT_WEIGHT, n_syn, n_pre,
                    moff, dst, bad, [&](ns_i64 k, double v) { out[k] = (ns_real)v; });
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
