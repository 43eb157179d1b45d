/*
 * plasticity.cu -- stage 4 of a step: learn (plastic projections).
 *
 * The device twin of neurosim/plasticity/numpy_runtime.py (event by event,
 * same order, same float32 arithmetic as neurosim/plasticity/update.py).
 * A plastic projection is its own CSR sorted by presynaptic neuron: rows
 * indptr (int64, n_pre + 1), population-local targets `post`, weights `w`,
 * one delay `delay` (steps) or per-synapse `delays` (int32, per_syn = 1),
 * all in d_lo .. d_hi; a column index col_ptr/col_syn lists each
 * postsynaptic neuron's synapses. Traces: `n_tr_pre` presynaptic traces as
 * rings xr[k][R][n_pre] (row n % R holds the trace at the end of step n, so
 * a synapse of delay d reads row (n - d) % R), `n_tr_post` postsynaptic
 * traces y[k][n_post]. Bit k of all_pre/all_post: trace k adds 1 per spike
 * (all-to-all pairing), else it is set to 1 (nearest neighbour). With
 * track = 1 the last and previous presynaptic spike steps ride in rings too
 * (pre_last/pre_prev[R][n_pre]), the postsynaptic ones in post_last/prev.
 * The presynaptic spikes of step n are kept, population-local, in row n % R
 * of pre_spk with the count pre_cnt[n % R]: arrivals of step a are the
 * synapses of delay d of the spikes of step a - d.
 *
 * One step n launches, in the order of PlasticRuntime.step:
 *   plastic_advance   traces decay one step (xr row n from row n-1, y);
 *   plastic_pre_spikes  presynaptic jumps, spike steps, pre_spk row n;
 *   stdp_arrive       arrivals of step n are depressed (y without the
 *                     postsynaptic spikes of step n);
 *   stdp_post         postsynaptic spikes walk their columns: potentiation
 *                     with the presynaptic trace (arrivals of step n count);
 *   plastic_post_jump   postsynaptic jumps and spike steps;
 *   plastic_deliver   arrivals of step n + 1 add their current weight into
 *                     ring slot (n + 1) % n_slots (atomicAdd, any order).
 * A synapse receives at most one arrival and belongs to at most one spiking
 * column per step, so weight updates never race; only ring sums do.
 * learn[0] == 0 freezes the weights (traces go on).
 *
 * Other rules replace stdp_arrive/stdp_post: triplet_arrive/triplet_post
 * (Pfister & Gerstner), reward_arrive/reward_post + reward_bring_arrivals
 * before plastic_deliver (reward-modulated STDP, lazily integrated weights;
 * reward_bring_all from the host). Homeostasis (per population, after the
 * projections): homeo_decay/homeo_jump/homeo_apply (adaptive threshold),
 * homeo_count/homeo_intrinsic/homeo_apply (intrinsic plasticity),
 * homeo_count/scale_rate_factor or scale_sum/scale_total_factor, then
 * scale_apply per projection (synaptic scaling).
 *
 * The step's spikes are spk[0 .. ns_spike_count(nspk, clk)) and every kernel
 * run per step returns at once when the step's clock is halted (step.cuh).
 */
#include "step.cuh"

/* Python's modulo for a possibly negative step. */
NS_DEVICE ns_i64 ns_pmod(ns_i64 a, ns_i64 m) {
  ns_i64 r = a % m;
  return r < 0 ? r + m : r;
}

/* update.py: clip, potentiate, depress (the same float32 operations, in
 * order, no contraction). */
NS_DEVICE ns_real ns_clip(ns_real w, ns_real w_min, ns_real w_max) {
  return ns_fmin(ns_fmax(w, w_min), w_max);
}
NS_DEVICE ns_real ns_potentiate(ns_real w, ns_real x, ns_real a, ns_real w_min, ns_real w_max,
                              ns_i32 mult) {
  ns_real dw = ns_mul_rn(a, x);
  if (mult) dw = ns_mul_rn(dw, ns_div_rn(w_max - w, w_max - w_min));
  return ns_clip(ns_add_rn(dw, w), w_min, w_max);
}
NS_DEVICE ns_real ns_depress(ns_real w, ns_real y, ns_real a, ns_real w_min, ns_real w_max,
                           ns_i32 mult) {
  ns_real dw = ns_mul_rn(a, y);
  if (mult) dw = ns_mul_rn(dw, ns_div_rn(w - w_min, w_max - w_min));
  return ns_clip(ns_sub_rn(w, dw), w_min, w_max);
}

/* Traces decay one step: xr row n % R = row (n - 1) % R times P_pre[k];
 * spike-step rings copied; y *= P_post[k]; pre_cnt[n % R] = 0. */
NS_GLOBAL void plastic_advance(
    const ns_i64 *__restrict__ clk, ns_i32 n_pre, ns_i32 n_post, ns_i32 R,
    ns_i32 n_tr_pre, ns_i32 n_tr_post, const ns_real *__restrict__ P_pre,
    const ns_real *__restrict__ P_post, ns_real *__restrict__ xr, ns_real *__restrict__ y,
    ns_i32 track, ns_i64 *__restrict__ pre_last, ns_i64 *__restrict__ pre_prev,
    ns_i32 *__restrict__ pre_cnt) {
  if (ns_halted(clk)) return;
  const ns_i64 n = clk[0];
  const ns_i64 r = ns_pmod(n, R), r0 = ns_pmod(n - 1, R);
  const ns_i32 most = n_pre > n_post ? n_pre : n_post;
  NS_GRID_STRIDE_LOOP(i, most) {
    if (i == 0) pre_cnt[r] = 0;
    if (i < n_pre) {
      for (ns_i32 k = 0; k < n_tr_pre; ++k) {
        ns_real *ring = xr + (ns_i64)k * R * n_pre;
        ring[r * n_pre + i] = ns_mul_rn(ring[r0 * n_pre + i], P_pre[k]);
      }
      if (track) {
        pre_last[r * n_pre + i] = pre_last[r0 * n_pre + i];
        pre_prev[r * n_pre + i] = pre_prev[r0 * n_pre + i];
      }
    }
    if (i < n_post)
      for (ns_i32 k = 0; k < n_tr_post; ++k)
        y[(ns_i64)k * n_post + i] = ns_mul_rn(y[(ns_i64)k * n_post + i], P_post[k]);
  }
}

/* Presynaptic spikes of step n (global ids in spk, local pre_lo ..
 * pre_lo + n_pre): trace jumps, spike steps, appended to pre_spk row n. */
NS_GLOBAL void plastic_pre_spikes(
    const ns_i64 *__restrict__ clk, const ns_i32 *__restrict__ spk,
    const ns_u64 *__restrict__ nspk, ns_i32 pre_lo, ns_i32 n_pre, ns_i32 R,
    ns_i32 n_tr_pre, ns_u32 all_pre, ns_real *__restrict__ xr, ns_i32 track,
    ns_i64 *__restrict__ pre_last, ns_i64 *__restrict__ pre_prev,
    ns_i32 *__restrict__ pre_spk, ns_i32 *__restrict__ pre_cnt) {
  if (ns_halted(clk)) return;
  const ns_i64 n = clk[0];
  const ns_i64 r = ns_pmod(n, R);
  NS_GRID_STRIDE_LOOP(s, ns_spike_count(nspk, clk)) {
    const ns_i32 j = spk[s] - pre_lo;
    if (j < 0 || j >= n_pre) continue;
    for (ns_i32 k = 0; k < n_tr_pre; ++k) {
      ns_real *x = xr + (ns_i64)k * R * n_pre + r * n_pre + j;
      *x = (all_pre >> k) & 1u ? ns_add_rn(*x, 1.0f) : 1.0f;
    }
    if (track) {
      pre_prev[r * n_pre + j] = pre_last[r * n_pre + j];
      pre_last[r * n_pre + j] = n;
    }
    pre_spk[r * n_pre + atomicAdd(pre_cnt + r, 1)] = j;
  }
}

/* Visit (synapse k, presynaptic neuron j, delay d) for every synapse whose
 * presynaptic spike arrives in step a: the spikes of step e = a - d, in
 * increasing e, each row in order (the NumPy runtime's delivery order). With
 * per-synapse delays each row is sorted by delay (the runtime stores the
 * synapses so): a binary search finds the synapses of delay d. */
template <typename Visit>
NS_DEVICE void ns_arrivals(ns_i64 a, ns_i32 R, ns_i32 n_pre,
                           const ns_i32 *__restrict__ pre_spk,
                           const ns_i32 *__restrict__ pre_cnt,
                           const ns_i64 *__restrict__ indptr, ns_i32 delay,
                           const ns_i32 *__restrict__ delays, ns_i32 per_syn, ns_i32 d_lo,
                           ns_i32 d_hi, ns_i32 lanes, Visit visit) {
  for (ns_i32 dd = d_hi; dd >= d_lo; --dd) {
    const ns_i64 e = a - dd;
    if (e < 0) continue;
    const ns_i64 r = ns_pmod(e, R);
    NS_GRID_STRIDE_LOOP(t, (ns_i64)pre_cnt[r] * lanes) {
      const ns_i32 j = pre_spk[r * n_pre + t / lanes];
      ns_i64 k = indptr[j];
      const ns_i64 end = indptr[j + 1];
      if (per_syn) {
        ns_i64 hi = end;
        while (k < hi) {
          const ns_i64 mid = k + (hi - k) / 2;
          if (delays[mid] < dd) k = mid + 1; else hi = mid;
        }
        for (k += t % lanes; k < end && delays[k] == dd; k += lanes) visit(k, j, dd);
      } else {
        for (k += t % lanes; k < end; k += lanes) visit(k, j, delay);
      }
    }
  }
}

/* Depression of the arrivals of step n (update.py: depress). With track
 * (nearest_reduced): only the first arrival after a postsynaptic spike. */
NS_GLOBAL void stdp_arrive(
    const ns_i64 *__restrict__ clk, ns_i32 R, ns_i32 n_pre,
    const ns_i32 *__restrict__ pre_spk, const ns_i32 *__restrict__ pre_cnt,
    const ns_i64 *__restrict__ indptr, const ns_i32 *__restrict__ post, ns_i32 delay,
    const ns_i32 *__restrict__ delays, ns_i32 per_syn, ns_i32 d_lo, ns_i32 d_hi,
    ns_i32 row_lanes, const ns_real *__restrict__ y, ns_i32 track,
    const ns_i64 *__restrict__ pre_prev, const ns_i64 *__restrict__ post_last,
    ns_real *__restrict__ w,
    const ns_i32 *__restrict__ learn, ns_real a_minus, ns_real w_min, ns_real w_max,
    ns_i32 mult) {
  if (ns_halted(clk)) return;
  if (!learn[0] || a_minus == 0.0f) return;
  const ns_i64 n = clk[0];
  ns_arrivals(n, R, n_pre, pre_spk, pre_cnt, indptr, delay, delays, per_syn, d_lo, d_hi,
              row_lanes, [&](ns_i64 k, ns_i32 j, ns_i32 d) {
                const ns_i32 i = post[k];
                ns_real yi = y[i];
                if (track && !(post_last[i] >= pre_prev[ns_pmod(n - d, R) * n_pre + j] + d))
                  yi = 0.0f;
                w[k] = ns_depress(w[k], yi, a_minus, w_min, w_max, mult);
              });
}

/* Potentiation at the postsynaptic spikes of step n: each walks its column
 * (`lanes` threads per spike), trace row (n - d) % R of its presynaptic
 * neuron. With track: only if an arrival came since the last post spike. */
NS_GLOBAL void stdp_post(
    const ns_i64 *__restrict__ clk, const ns_i32 *__restrict__ spk,
    const ns_u64 *__restrict__ nspk, ns_i32 post_lo, ns_i32 n_post, ns_i32 R,
    ns_i32 n_pre, const ns_i64 *__restrict__ col_ptr, const ns_i64 *__restrict__ col_syn,
    const ns_i32 *__restrict__ pre, ns_i32 delay, const ns_i32 *__restrict__ delays,
    ns_i32 per_syn, const ns_real *__restrict__ xr, ns_i32 track,
    const ns_i64 *__restrict__ pre_last, const ns_i64 *__restrict__ post_last,
    ns_real *__restrict__ w, const ns_i32 *__restrict__ learn, ns_real a_plus, ns_real w_min,
    ns_real w_max, ns_i32 mult, ns_i32 lanes) {
  if (ns_halted(clk)) return;
  if (!learn[0] || a_plus == 0.0f) return;
  const ns_i64 n = clk[0];
  const ns_i64 work = (ns_i64)ns_spike_count(nspk, clk) * lanes;
  NS_GRID_STRIDE_LOOP(t, work) {
    const ns_i32 i = spk[t / lanes] - post_lo;
    if (i < 0 || i >= n_post) continue;
    const ns_i64 end = col_ptr[i + 1];
    for (ns_i64 p = col_ptr[i] + t % lanes; p < end; p += lanes) {
      const ns_i64 k = col_syn[p];
      const ns_i32 j = pre[k];
      const ns_i32 d = per_syn ? delays[k] : delay;
      const ns_i64 row = ns_pmod(n - d, R) * n_pre + j;
      ns_real x = xr[row];
      if (track && !(pre_last[row] + d > post_last[i])) x = 0.0f;
      w[k] = ns_potentiate(w[k], x, a_plus, w_min, w_max, mult);
    }
  }
}

/* Postsynaptic trace jumps and spike steps of step n (after learning). */
NS_GLOBAL void plastic_post_jump(
    const ns_i64 *__restrict__ clk, const ns_i32 *__restrict__ spk,
    const ns_u64 *__restrict__ nspk, ns_i32 post_lo, ns_i32 n_post, ns_i32 n_tr_post,
    ns_u32 all_post, ns_real *__restrict__ y, ns_i32 track, ns_i64 *__restrict__ post_last,
    ns_i64 *__restrict__ post_prev) {
  if (ns_halted(clk)) return;
  NS_GRID_STRIDE_LOOP(s, ns_spike_count(nspk, clk)) {
    const ns_i32 i = spk[s] - post_lo;
    if (i < 0 || i >= n_post) continue;
    for (ns_i32 k = 0; k < n_tr_post; ++k) {
      ns_real *v = y + (ns_i64)k * n_post + i;
      *v = (all_post >> k) & 1u ? ns_add_rn(*v, 1.0f) : 1.0f;
    }
    if (track) {
      post_prev[i] = post_last[i];
      post_last[i] = clk[0];
    }
  }
}

/* The arrivals of step n + 1 add their weights (as they are now) into ring
 * slot (n + 1) % n_slots, columns col_base + post. */
NS_GLOBAL void plastic_deliver(
    const ns_i64 *__restrict__ clk, ns_i32 R, ns_i32 n_pre,
    const ns_i32 *__restrict__ pre_spk, const ns_i32 *__restrict__ pre_cnt,
    const ns_i64 *__restrict__ indptr, const ns_i32 *__restrict__ post, ns_i32 delay,
    const ns_i32 *__restrict__ delays, ns_i32 per_syn, ns_i32 d_lo, ns_i32 d_hi,
    ns_i32 row_lanes, const ns_real *__restrict__ w, ns_real *__restrict__ ring, ns_i32 ring_width,
    ns_i32 n_slots, ns_i32 col_base) {
  if (ns_halted(clk)) return;
  const ns_i64 a = clk[0] + 1;
  ns_real *row = ring + (a % n_slots) * (ns_i64)ring_width + col_base;
  ns_arrivals(a, R, n_pre, pre_spk, pre_cnt, indptr, delay, delays, per_syn, d_lo, d_hi,
              row_lanes, [&](ns_i64 k, ns_i32, ns_i32) { atomicAdd(row + post[k], w[k]); });
}

/* Triplet STDP (update.py: triplet_depress) at the arrivals of step n:
 * o1 = y[0], r2 just before the arrival's own jump = xr[1] row n - 1 - d
 * times P_pre[1]. */
NS_GLOBAL void triplet_arrive(
    const ns_i64 *__restrict__ clk, ns_i32 R, ns_i32 n_pre,
    const ns_i32 *__restrict__ pre_spk, const ns_i32 *__restrict__ pre_cnt,
    const ns_i64 *__restrict__ indptr, const ns_i32 *__restrict__ post, ns_i32 delay,
    const ns_i32 *__restrict__ delays, ns_i32 per_syn, ns_i32 d_lo, ns_i32 d_hi,
    ns_i32 row_lanes, const ns_real *__restrict__ xr, const ns_real *__restrict__ P_pre,
    const ns_real *__restrict__ y, ns_real *__restrict__ w, const ns_i32 *__restrict__ learn,
    ns_real a2_minus, ns_real a3_minus, ns_real w_min, ns_real w_max) {
  if (ns_halted(clk)) return;
  if (!learn[0]) return;
  const ns_i64 n = clk[0];
  const ns_real *r2 = xr + (ns_i64)R * n_pre;
  ns_arrivals(n, R, n_pre, pre_spk, pre_cnt, indptr, delay, delays, per_syn, d_lo, d_hi,
              row_lanes, [&](ns_i64 k, ns_i32 j, ns_i32 d) {
                const ns_real before = ns_mul_rn(r2[ns_pmod(n - 1 - d, R) * n_pre + j], P_pre[1]);
                const ns_real amount = ns_mul_rn(
                    y[post[k]], ns_add_rn(a2_minus, ns_mul_rn(a3_minus, before)));
                w[k] = ns_clip(ns_sub_rn(w[k], amount), w_min, w_max);
              });
}

/* Triplet STDP (update.py: triplet_potentiate) at the postsynaptic spikes of
 * step n: r1 = xr[0] row n - d, o2 = y[1] before this spike's jump. */
NS_GLOBAL void triplet_post(
    const ns_i64 *__restrict__ clk, const ns_i32 *__restrict__ spk,
    const ns_u64 *__restrict__ nspk, ns_i32 post_lo, ns_i32 n_post, ns_i32 R,
    ns_i32 n_pre, const ns_i64 *__restrict__ col_ptr, const ns_i64 *__restrict__ col_syn,
    const ns_i32 *__restrict__ pre, ns_i32 delay, const ns_i32 *__restrict__ delays,
    ns_i32 per_syn, const ns_real *__restrict__ xr, const ns_real *__restrict__ y,
    ns_real *__restrict__ w, const ns_i32 *__restrict__ learn, ns_real a2_plus, ns_real a3_plus,
    ns_real w_min, ns_real w_max, ns_i32 lanes) {
  if (ns_halted(clk)) return;
  if (!learn[0]) return;
  const ns_i64 n = clk[0];
  const ns_i64 work = (ns_i64)ns_spike_count(nspk, clk) * lanes;
  NS_GRID_STRIDE_LOOP(t, work) {
    const ns_i32 i = spk[t / lanes] - post_lo;
    if (i < 0 || i >= n_post) continue;
    const ns_real gain = ns_add_rn(a2_plus, ns_mul_rn(a3_plus, y[(ns_i64)n_post + i]));
    const ns_i64 end = col_ptr[i + 1];
    for (ns_i64 p = col_ptr[i] + t % lanes; p < end; p += lanes) {
      const ns_i64 k = col_syn[p];
      const ns_i32 d = per_syn ? delays[k] : delay;
      const ns_real r1 = xr[ns_pmod(n - d, R) * n_pre + pre[k]];
      w[k] = ns_clip(ns_add_rn(w[k], ns_mul_rn(r1, gain)), w_min, w_max);
    }
  }
}

/* Reward-modulated STDP (Izhikevich 2007; neurosim/plasticity/reward.py):
 * per-synapse eligibility c and the step t1 it was brought to; dopamine
 * d(t) = base + (d_r - base) exp(-(t - r_step) dt / tau_d) since the last
 * reward (dop[0] = d_r, r_step[0]). A synapse is brought to the end of step
 * n (RewardNumpy._bring) when touched: w += the closed form of
 * update.py: reward_weight_change (if learning), c decays, t1 = n. */
struct NsReward {
  ns_real *w, *c;
  ns_i64 *t1;
  const ns_real *dop;
  const ns_i64 *r_step;
  ns_real dt, tau_c, tau_d, tau_e, base, w_min, w_max;
  ns_i32 learn;

  NS_DEVICE void bring(ns_i64 k, ns_i64 n) const {
    const ns_i64 t = t1[k];
    const ns_real el = ns_mul_rn((ns_real)(n - t), dt);
    const ns_real ck = c[k];
    if (learn) {
      const ns_real el1 = ns_mul_rn((ns_real)(t - r_step[0]), dt);
      const ns_real d1 = ns_add_rn(base, ns_mul_rn(dop[0] - base, ns_exp(-el1 / tau_d)));
      const ns_real g_c = -ns_expm1(-el / tau_c), g_e = -ns_expm1(-el / tau_e);
      const ns_real dw = ns_mul_rn(ck, ns_add_rn(ns_mul_rn(ns_mul_rn(base, tau_c), g_c),
                                               ns_mul_rn(ns_mul_rn(d1 - base, tau_e), g_e)));
      w[k] = ns_clip(ns_add_rn(w[k], dw), w_min, w_max);
    }
    c[k] = ns_mul_rn(ck, ns_exp(-el / tau_c));
    t1[k] = n;
  }
};

#define NS_REWARD_STATE                                                        \
  const NsReward rs{w, c, t1, dop, r_step, dt, tau_c, tau_d, tau_e, base, w_min, w_max, learn[0]}

/* Kernels take the NsReward fields as their last parameters (spelled out:
 * the host build and the engine read parameter lists from the source). */

/* Arrivals of step n: brought to n, then c -= a_minus y (STDP's depression
 * pairing rules, update.py: stdp_amount). */
NS_GLOBAL void reward_arrive(
    const ns_i64 *__restrict__ clk, ns_i32 R, ns_i32 n_pre,
    const ns_i32 *__restrict__ pre_spk, const ns_i32 *__restrict__ pre_cnt,
    const ns_i64 *__restrict__ indptr, const ns_i32 *__restrict__ post, ns_i32 delay,
    const ns_i32 *__restrict__ delays, ns_i32 per_syn, ns_i32 d_lo, ns_i32 d_hi,
    ns_i32 row_lanes, const ns_real *__restrict__ y, ns_i32 track,
    const ns_i64 *__restrict__ pre_prev, const ns_i64 *__restrict__ post_last,
    ns_real a_minus,
    ns_real *__restrict__ w, ns_real *__restrict__ c, ns_i64 *__restrict__ t1,
    const ns_real *__restrict__ dop, const ns_i64 *__restrict__ r_step, ns_real dt, ns_real tau_c,
    ns_real tau_d, ns_real tau_e, ns_real base, ns_real w_min, ns_real w_max,
    const ns_i32 *__restrict__ learn) {
  if (ns_halted(clk)) return;
  NS_REWARD_STATE;
  const ns_i64 n = clk[0];
  ns_arrivals(n, R, n_pre, pre_spk, pre_cnt, indptr, delay, delays, per_syn, d_lo, d_hi,
              row_lanes, [&](ns_i64 k, ns_i32 j, ns_i32 d) {
                rs.bring(k, n);
                if (!rs.learn || a_minus == 0.0f) return;
                const ns_i32 i = post[k];
                ns_real yi = y[i];
                if (track && !(post_last[i] >= pre_prev[ns_pmod(n - d, R) * n_pre + j] + d))
                  yi = 0.0f;
                c[k] = ns_sub_rn(c[k], ns_mul_rn(a_minus, yi));
              });
}

/* Postsynaptic spikes of step n: their columns brought to n, then
 * c += a_plus x. */
NS_GLOBAL void reward_post(
    const ns_i64 *__restrict__ clk, const ns_i32 *__restrict__ spk,
    const ns_u64 *__restrict__ nspk, ns_i32 post_lo, ns_i32 n_post, ns_i32 R,
    ns_i32 n_pre, const ns_i64 *__restrict__ col_ptr, const ns_i64 *__restrict__ col_syn,
    const ns_i32 *__restrict__ pre, ns_i32 delay, const ns_i32 *__restrict__ delays,
    ns_i32 per_syn, const ns_real *__restrict__ xr, ns_i32 track,
    const ns_i64 *__restrict__ pre_last, const ns_i64 *__restrict__ post_last,
    ns_real a_plus, ns_i32 lanes,
    ns_real *__restrict__ w, ns_real *__restrict__ c, ns_i64 *__restrict__ t1,
    const ns_real *__restrict__ dop, const ns_i64 *__restrict__ r_step, ns_real dt, ns_real tau_c,
    ns_real tau_d, ns_real tau_e, ns_real base, ns_real w_min, ns_real w_max,
    const ns_i32 *__restrict__ learn) {
  if (ns_halted(clk)) return;
  NS_REWARD_STATE;
  const ns_i64 n = clk[0];
  const ns_i64 work = (ns_i64)ns_spike_count(nspk, clk) * lanes;
  NS_GRID_STRIDE_LOOP(t, work) {
    const ns_i32 i = spk[t / lanes] - post_lo;
    if (i < 0 || i >= n_post) continue;
    const ns_i64 end = col_ptr[i + 1];
    for (ns_i64 p = col_ptr[i] + t % lanes; p < end; p += lanes) {
      const ns_i64 k = col_syn[p];
      rs.bring(k, n);
      if (!rs.learn || a_plus == 0.0f) continue;
      const ns_i32 j = pre[k];
      const ns_i32 d = per_syn ? delays[k] : delay;
      const ns_i64 row = ns_pmod(n - d, R) * n_pre + j;
      ns_real x = xr[row];
      if (track && !(pre_last[row] + d > post_last[i])) x = 0.0f;
      c[k] = ns_add_rn(c[k], ns_mul_rn(a_plus, x));
    }
  }
}

/* The arrivals of step n + 1 are brought to n before they are sent
 * (RewardNumpy.before_delivery). */
NS_GLOBAL void reward_bring_arrivals(
    const ns_i64 *__restrict__ clk, ns_i32 R, ns_i32 n_pre,
    const ns_i32 *__restrict__ pre_spk, const ns_i32 *__restrict__ pre_cnt,
    const ns_i64 *__restrict__ indptr, ns_i32 delay, const ns_i32 *__restrict__ delays,
    ns_i32 per_syn, ns_i32 d_lo, ns_i32 d_hi,
    ns_i32 row_lanes, ns_real *__restrict__ w, ns_real *__restrict__ c, ns_i64 *__restrict__ t1,
    const ns_real *__restrict__ dop, const ns_i64 *__restrict__ r_step, ns_real dt, ns_real tau_c,
    ns_real tau_d, ns_real tau_e, ns_real base, ns_real w_min, ns_real w_max,
    const ns_i32 *__restrict__ learn) {
  if (ns_halted(clk)) return;
  NS_REWARD_STATE;
  const ns_i64 n = clk[0];
  ns_arrivals(n + 1, R, n_pre, pre_spk, pre_cnt, indptr, delay, delays, per_syn, d_lo, d_hi,
              row_lanes, [&](ns_i64 k, ns_i32, ns_i32) { rs.bring(k, n); });
}

/* Every synapse brought to the end of step `now` (reads, rewards, switch). */
NS_GLOBAL void reward_bring_all(ns_i64 now, ns_i64 n_syn,
    ns_real *__restrict__ w, ns_real *__restrict__ c, ns_i64 *__restrict__ t1,
    const ns_real *__restrict__ dop, const ns_i64 *__restrict__ r_step, ns_real dt, ns_real tau_c,
    ns_real tau_d, ns_real tau_e, ns_real base, ns_real w_min, ns_real w_max,
    const ns_i32 *__restrict__ learn) {
  NS_REWARD_STATE;
  NS_GRID_STRIDE_LOOP(k, n_syn) rs.bring(k, now);
}

/* ---- homeostasis (neurosim/plasticity/homeostasis.py) -------------------
 * A threshold rule owns theta[size] for the neurons lo .. lo + size - 1
 * (global ids) at offset `off` of their group; the group's v_thresh is then
 * one value per neuron (thr), rewritten as base + theta after each change.
 * learn[0] == 0: the rule is frozen (theta kept, still acting). */

/* AdaptiveThreshold, first half: theta *= P (every neuron). */
NS_GLOBAL void homeo_decay(const ns_i64 *__restrict__ clk, ns_i32 size, ns_real P,
                           ns_real *__restrict__ theta, const ns_i32 *__restrict__ learn) {
  if (ns_halted(clk)) return;
  if (!learn[0]) return;
  NS_GRID_STRIDE_LOOP(i, size) theta[i] = ns_mul_rn(theta[i], P);
}

/* AdaptiveThreshold, second half: theta += jump at the spikes of step n. */
NS_GLOBAL void homeo_jump(const ns_i64 *__restrict__ clk, const ns_i32 *__restrict__ spk,
                          const ns_u64 *__restrict__ nspk, ns_i32 lo, ns_i32 size, ns_real jump,
                          ns_real *__restrict__ theta, const ns_i32 *__restrict__ learn) {
  if (ns_halted(clk)) return;
  if (!learn[0]) return;
  NS_GRID_STRIDE_LOOP(s, ns_spike_count(nspk, clk)) {
    const ns_i32 i = spk[s] - lo;
    if (i >= 0 && i < size) theta[i] = ns_add_rn(theta[i], jump);
  }
}

/* IntrinsicPlasticity / rate estimate: count the spikes of step n. */
NS_GLOBAL void homeo_count(const ns_i64 *__restrict__ clk, const ns_i32 *__restrict__ spk,
                           const ns_u64 *__restrict__ nspk, ns_i32 lo, ns_i32 size,
                           ns_real *__restrict__ counts, const ns_i32 *__restrict__ learn) {
  if (ns_halted(clk)) return;
  if (!learn[0]) return;
  NS_GRID_STRIDE_LOOP(s, ns_spike_count(nspk, clk)) {
    const ns_i32 i = spk[s] - lo;
    if (i >= 0 && i < size) counts[i] = ns_add_rn(counts[i], 1.0f);
  }
}

/* IntrinsicPlasticity at the end of an interval ((n + 1) % k == 0): the
 * rate estimate r = r P + counts gain, counts = 0, then
 * theta = clip(theta + eta_T (r - target), theta_min, theta_max). */
NS_GLOBAL void homeo_intrinsic(const ns_i64 *__restrict__ clk, ns_i32 size, ns_i32 k,
                               ns_real P, ns_real gain, ns_real eta_T, ns_real target,
                               ns_real theta_min, ns_real theta_max, ns_real *__restrict__ r,
                               ns_real *__restrict__ counts, ns_real *__restrict__ theta,
                               const ns_i32 *__restrict__ learn) {
  if (ns_halted(clk)) return;
  if (!learn[0] || (clk[0] + 1) % k) return;
  NS_GRID_STRIDE_LOOP(i, size) {
    const ns_real ri = ns_add_rn(ns_mul_rn(r[i], P), ns_mul_rn(counts[i], gain));
    r[i] = ri;
    counts[i] = 0.0f;
    theta[i] = ns_clip(ns_add_rn(theta[i], ns_mul_rn(eta_T, ri - target)), theta_min,
                       theta_max);
  }
}

/* thr[off + i] = base[i] + theta[i] (the _Shift of a threshold rule). With
 * every_k > 0 only at the end of an interval. */
NS_GLOBAL void homeo_apply(const ns_i64 *__restrict__ clk, ns_i32 size, ns_i32 off,
                           ns_i32 every_k, const ns_real *__restrict__ base,
                           const ns_real *__restrict__ theta, ns_real *__restrict__ thr,
                           const ns_i32 *__restrict__ learn) {
  if (ns_halted(clk)) return;
  if (!learn[0] || (every_k > 0 && (clk[0] + 1) % every_k)) return;
  NS_GRID_STRIDE_LOOP(i, size) thr[off + i] = ns_add_rn(base[i], theta[i]);
}

/* SynapticScaling, rate form, at the end of an interval: the rate estimate
 * (as homeo_intrinsic), counts = 0 and the factor per neuron
 * clip(1 + gain (target - r), 0.5, 2). */
NS_GLOBAL void scale_rate_factor(const ns_i64 *__restrict__ clk, ns_i32 size, ns_i32 k,
                                 ns_real P, ns_real gain_r, ns_real gain, ns_real target,
                                 ns_real *__restrict__ r, ns_real *__restrict__ counts,
                                 ns_real *__restrict__ factor, const ns_i32 *__restrict__ learn) {
  if (ns_halted(clk)) return;
  if (!learn[0] || (clk[0] + 1) % k) return;
  NS_GRID_STRIDE_LOOP(i, size) {
    const ns_real ri = ns_add_rn(ns_mul_rn(r[i], P), ns_mul_rn(counts[i], gain_r));
    r[i] = ri;
    counts[i] = 0.0f;
    factor[i] = ns_clip(ns_add_rn(1.0f, ns_mul_rn(gain, target - ri)), 0.5f, 2.0f);
  }
}

/* SynapticScaling, total form: sum of the incoming weights per neuron (in
 * float64; atomicAdd, so the last bits of a sum depend on the order). The
 * synapses are w[pos[s]] (has_pos) or w[s], s < n_syn, onto neuron post[s]. */
NS_GLOBAL void scale_sum(const ns_i64 *__restrict__ clk, ns_i32 k, ns_i64 n_syn,
                         const ns_i32 *__restrict__ post, const ns_real *__restrict__ w,
                         const ns_i64 *__restrict__ pos, ns_i32 has_pos,
                         double *__restrict__ total, const ns_i32 *__restrict__ learn) {
  if (ns_halted(clk)) return;
  if (!learn[0] || (clk[0] + 1) % k) return;
  NS_GRID_STRIDE_LOOP(s, n_syn) atomicAdd(total + post[s], (double)w[has_pos ? pos[s] : s]);
}

/* SynapticScaling, total form: factor = target_total / total (1 without
 * input), in float64 then float32; total = 0 for the next interval. */
NS_GLOBAL void scale_total_factor(const ns_i64 *__restrict__ clk, ns_i32 size, ns_i32 k,
                                  double target_total, double *__restrict__ total,
                                  ns_real *__restrict__ factor,
                                  const ns_i32 *__restrict__ learn) {
  if (ns_halted(clk)) return;
  if (!learn[0] || (clk[0] + 1) % k) return;
  NS_GRID_STRIDE_LOOP(i, size) {
    const double t = total[i];
    factor[i] = t > 0.0 ? (ns_real)(target_total / t) : 1.0f;
    total[i] = 0.0;
  }
}

/* SynapticScaling: w = w factor[post] (clipped to [w_min, w_max] when
 * bounded: plastic weights), at the end of an interval. */
NS_GLOBAL void scale_apply(const ns_i64 *__restrict__ clk, ns_i32 k, ns_i64 n_syn,
                           const ns_i32 *__restrict__ post, ns_real *__restrict__ w,
                           const ns_i64 *__restrict__ pos, ns_i32 has_pos,
                           const ns_real *__restrict__ factor, ns_i32 bounded, ns_real w_min,
                           ns_real w_max, const ns_i32 *__restrict__ learn) {
  if (ns_halted(clk)) return;
  if (!learn[0] || (clk[0] + 1) % k) return;
  NS_GRID_STRIDE_LOOP(s, n_syn) {
    const ns_i64 q = has_pos ? pos[s] : s;
    const ns_real v = ns_mul_rn(w[q], factor[post[s]]);
    w[q] = bounded ? ns_clip(v, w_min, w_max) : v;
  }
}
