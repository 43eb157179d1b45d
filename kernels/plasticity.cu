/*
 * plasticity.cu -- stage 4 of a step: learn (plastic projections), the
 * machinery every rule shares; the rules' own kernels are generated from
 * their descriptions (neurosim/plasticity/description.py, template
 * plasticity_rule.cu.j2).
 *
 * The device twin of neurosim/plasticity/numpy_runtime.py (event by event,
 * same order, same float32 arithmetic as the NumPy code generated from the
 * same description).
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
 * synapses of delay d of the spikes of step a - d (ns_arrivals, plastic.cuh).
 *
 * One step n launches, in the order of PlasticRuntime.step:
 *   plastic_advance   traces decay one step (xr row n from row n-1, y);
 *   plastic_pre_spikes  presynaptic jumps, spike steps, pre_spk row n;
 *   <rule>_arrive     on_pre at the arrivals of step n (y without the
 *                     postsynaptic spikes of step n);
 *   <rule>_post       on_post: postsynaptic spikes walk their columns (the
 *                     presynaptic traces with the arrivals of step n);
 *   <rule>_bring_arrivals  (rules with a between block) the arrivals of
 *                     step n + 1 brought up to date before they are sent;
 *   plastic_post_jump   postsynaptic jumps and spike steps;
 *   plastic_deliver   arrivals of step n + 1 add their current weight into
 *                     ring slot (n + 1) % n_slots (atomicAdd, any order).
 * A synapse receives at most one arrival and belongs to at most one spiking
 * column per step, so weight updates never race; only ring sums do.
 * learn[0] == 0 freezes the weights (traces go on).
 *
 * Homeostasis (per population, after the projections): every rule is a
 * description (AdaptiveThreshold, IntrinsicPlasticity, both forms of
 * SynapticScaling, a user's; neurosim/plasticity/homeostasis_model.py) and
 * runs its generated kernels (homeostasis_rule.cu.j2: per neuron, per synapse
 * of the projections it scales, and the threshold of a threshold rule).
 *
 * The step's spikes are spk[0 .. ns_spike_count(nspk, clk)) and every kernel
 * run per step returns at once when the step's clock is halted (step.cuh).
 */
#include "plastic.cuh"

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
