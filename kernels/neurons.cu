/*
 * neurons.cu -- stage 2 of a step: one fused update per neuron model, for the
 * models still written by hand (LIF, LIFCond, AdEx). Models written as
 * NeuronModel descriptions (neurosim/models/description.py: Izhikevich, QIF,
 * AdaptiveLIF, users' own) get a kernel of the same form generated from
 * neuron_model.cu.j2; both share neuron.cuh.
 *
 * Each kernel advances one merged group of neurons (neurosim/engine/layout.py)
 * over step n, in the order of the NumPy reference (numpy_engine.py and the
 * model's `integrate`/`threshold`/`reset`), operation for operation, so that
 * the host build reproduces NumPy bit for bit where no transcendental
 * function is involved (the GPU contracts multiply-adds and differs in the
 * last bits):
 *
 *   1. integrate over the step; the inputs arriving at its end are read from
 *      the group's columns of ring slot n % n_slots (channel c of neuron i at
 *      column col0 + c * n_neurons + i), the Poisson drives into that column
 *      are drawn and added (step.cuh: ns_add_drives, in the order in which
 *      the NumPy engine adds them into the slot before the update), and the
 *      columns are cleared for the slot's next use (the NumPy engine clears
 *      the whole row after the neuron updates: the same thing, since every
 *      column belongs to one group and nothing else reads the slot in this
 *      step);
 *   2. refractory clamp: while the counter ref[i] is positive, v is set to
 *      v_reset and the counter counts down (a spike with n_ref steps clamps
 *      the n_ref following updates, NEST's count: 20 updates for 2 ms at
 *      0.1 ms); other state keeps evolving;
 *   3. threshold, reset, ref[i] = n_ref, and the spike (step.cuh: ns_spike):
 *      the global id appended to the step's spike list with its work offset
 *      for propagation, and recorded where a monitor asks for it;
 *   4. a non-finite state value marks the step in `bad` (see ns_flag_bad).
 *
 * Common arguments, the same in every kernel of this file:
 *   clk        {n, j, halted, 0}: this step, its index j within the current
 *              chunk, and the halt flag (step.cuh: a halted step does
 *              nothing);
 *   n_neurons, start: group size and global id of its first neuron;
 *   flags      NS_IN0 | NS_IN1: channel 0/1 receives input (else its
 *              columns are not read); NS_EXT: i_ext holds an injected current
 *              (pA); NS_REF: refractory counters ref/n_ref are used;
 *              NS_REF_PER_NEURON: n_ref has one value per neuron;
 *              NS_DELTA (lif_update): delta synapses, input jumps v;
 *   ring, ring_width, n_slots, col0: the delay ring buffer;
 *   key0, key1, stream_width, n_drives, drive_tab, drive_w, drive_cdf: the
 *              Philox stream and the group's Poisson drives (step.cuh:
 *              ns_drives);
 *   spk ... rate_counts: the step's spike list and the recording buffers
 *              (step.cuh: ns_spike_out); bad: first non-finite step and
 *              neuron.
 *
 * Constants (computed on the host by the model's constants(params, dt), in
 * float64, rounded to float32): every constant is a `const ns_real *` named as
 * the model names it, followed by `per_neuron`, a bit mask: bit k set means
 * the k-th constant parameter of the signature holds one value per neuron
 * (read at [i]), else it holds one value for the whole group (read at [0]).
 * NS_C(name, k) reads constant `name`, the k-th; tests/test_cuda_backend.py
 * checks that every k matches the signature order.
 */
#include "neuron.cuh"

/* LIF (neurosim/models/lif.py): exact integration; exponential current
 * synapses (i_syn_e, i_syn_i in pA) or, with NS_DELTA, jumps of v (mV). */
NS_GLOBAL void lif_update(
    const ns_i64 *__restrict__ clk, ns_i32 n_neurons, ns_i32 start, ns_u32 flags,
    ns_real *__restrict__ ring, ns_i32 ring_width, ns_i32 n_slots, ns_i32 col0,
    ns_u64 key0, ns_u64 key1, ns_i64 stream_width, ns_i32 n_drives,
    const ns_i64 *__restrict__ drive_tab, const ns_real *__restrict__ drive_w,
    const float *__restrict__ drive_cdf,
    const ns_real *__restrict__ i_ext, ns_i32 *__restrict__ ref,
    const ns_i32 *__restrict__ n_ref,
    ns_real *__restrict__ v, ns_real *__restrict__ i_syn_e, ns_real *__restrict__ i_syn_i,
    const ns_real *__restrict__ P22, const ns_real *__restrict__ P20,
    const ns_real *__restrict__ v_const, const ns_real *__restrict__ v_thresh,
    const ns_real *__restrict__ v_reset, const ns_real *__restrict__ P11_E,
    const ns_real *__restrict__ P11_I, const ns_real *__restrict__ P21_E,
    const ns_real *__restrict__ P21_I, ns_u32 per_neuron,
    ns_i32 *__restrict__ spk, ns_i64 *__restrict__ spk_work,
    ns_u64 *__restrict__ nspk, const ns_i32 *__restrict__ row_len, ns_u32 rec_flags,
    const ns_u8 *__restrict__ rec_mask, ns_i32 *__restrict__ rec_idx,
    ns_i32 *__restrict__ rec_total, ns_i32 n_rate, const ns_i32 *__restrict__ rate_slot,
    ns_i32 *__restrict__ rate_counts, ns_i64 *__restrict__ bad) {
  if (ns_halted(clk)) return;
  const ns_i64 n = clk[0];
  NS_SPIKE_OUT_AND_DRIVES;
  ns_real *in = ns_ring_row(ring, n, ring_width, n_slots, col0);
  NS_GRID_STRIDE_LOOP(i, n_neurons) {
    ns_real vm = v[i] * NS_C(P22, 0);
    vm = vm + NS_C(v_const, 2);
    if (flags & NS_EXT) vm = vm + i_ext[i] * NS_C(P20, 1);
    ns_real ie = 0.0f, ii = 0.0f;
    if (flags & NS_DELTA) {
      if (flags & NS_IN0) vm = vm + ns_take(in, 0, n_neurons, i, drives);
    } else {
      if (flags & NS_IN0) {               /* a channel that receives nothing is not read */
        ie = i_syn_e[i];
        vm = vm + ie * NS_C(P21_E, 7);
        ie = ie * NS_C(P11_E, 5);
        ie = ie + ns_take(in, 0, n_neurons, i, drives);
        i_syn_e[i] = ie;
      }
      if (flags & NS_IN1) {
        ii = i_syn_i[i];
        vm = vm + ii * NS_C(P21_I, 8);
        ii = ii * NS_C(P11_I, 6);
        ii = ii + ns_take(in, 1, n_neurons, i, drives);
        i_syn_i[i] = ii;
      }
    }
    if (ns_refractory_threshold(vm, i, flags, ref, n_ref, NS_C(v_reset, 4),
                                NS_C(v_thresh, 3)))
      ns_spike(out, start + (ns_i32)i);
    v[i] = vm;
    ns_flag_bad(bad, n, start + i, 0, vm);
    ns_flag_bad(bad, n, start + i, 1, ie);
    ns_flag_bad(bad, n, start + i, 2, ii);
  }
}

/* LIFCond (neurosim/models/lif_cond.py): exponential Euler with
 * step-averaged conductances g_e, g_i (nS). */
NS_GLOBAL void lif_cond_update(
    const ns_i64 *__restrict__ clk, ns_i32 n_neurons, ns_i32 start, ns_u32 flags,
    ns_real *__restrict__ ring, ns_i32 ring_width, ns_i32 n_slots, ns_i32 col0,
    ns_u64 key0, ns_u64 key1, ns_i64 stream_width, ns_i32 n_drives,
    const ns_i64 *__restrict__ drive_tab, const ns_real *__restrict__ drive_w,
    const float *__restrict__ drive_cdf,
    const ns_real *__restrict__ i_ext, ns_i32 *__restrict__ ref,
    const ns_i32 *__restrict__ n_ref,
    ns_real *__restrict__ v, ns_real *__restrict__ g_e, ns_real *__restrict__ g_i,
    const ns_real *__restrict__ g_l, const ns_real *__restrict__ g_l_e_l_i,
    const ns_real *__restrict__ minus_h_over_cm, const ns_real *__restrict__ e_rev_E,
    const ns_real *__restrict__ e_rev_I, const ns_real *__restrict__ F_E,
    const ns_real *__restrict__ F_I, const ns_real *__restrict__ P_E,
    const ns_real *__restrict__ P_I, const ns_real *__restrict__ v_thresh,
    const ns_real *__restrict__ v_reset, ns_u32 per_neuron,
    ns_i32 *__restrict__ spk, ns_i64 *__restrict__ spk_work,
    ns_u64 *__restrict__ nspk, const ns_i32 *__restrict__ row_len, ns_u32 rec_flags,
    const ns_u8 *__restrict__ rec_mask, ns_i32 *__restrict__ rec_idx,
    ns_i32 *__restrict__ rec_total, ns_i32 n_rate, const ns_i32 *__restrict__ rate_slot,
    ns_i32 *__restrict__ rate_counts, ns_i64 *__restrict__ bad) {
  if (ns_halted(clk)) return;
  const ns_i64 n = clk[0];
  NS_SPIKE_OUT_AND_DRIVES;
  ns_real *in = ns_ring_row(ring, n, ring_width, n_slots, col0);
  NS_GRID_STRIDE_LOOP(i, n_neurons) {
    ns_real vm = v[i], ge = g_e[i], gi = g_i[i];
    const ns_real gbe = ge * NS_C(F_E, 5);
    const ns_real gbi = gi * NS_C(F_I, 6);
    ns_real gt = gbe + gbi;
    gt = gt + NS_C(g_l, 0);
    ns_real num = gbe * NS_C(e_rev_E, 3);
    num = num + gbi * NS_C(e_rev_I, 4);
    num = num + NS_C(g_l_e_l_i, 1);
    if (flags & NS_EXT) num = num + i_ext[i];
    const ns_real v_inf = num / gt;
    vm = vm - v_inf;
    gt = gt * NS_C(minus_h_over_cm, 2);
    vm = vm * ns_exp(gt);
    vm = vm + v_inf;
    ge = ge * NS_C(P_E, 7);
    gi = gi * NS_C(P_I, 8);
    if (flags & NS_IN0) ge = ge + ns_take(in, 0, n_neurons, i, drives);
    if (flags & NS_IN1) gi = gi + ns_take(in, 1, n_neurons, i, drives);
    if (ns_refractory_threshold(vm, i, flags, ref, n_ref, NS_C(v_reset, 10),
                                NS_C(v_thresh, 9)))
      ns_spike(out, start + (ns_i32)i);
    v[i] = vm;
    g_e[i] = ge;
    g_i[i] = gi;
    ns_flag_bad(bad, n, start + i, 0, vm);
    ns_flag_bad(bad, n, start + i, 1, ge);
    ns_flag_bad(bad, n, start + i, 2, gi);
  }
}

/* AdEx (neurosim/models/adex.py): forward Euler for v and w, exact decay of
 * the current synapses (pA); v is capped at v_peak inside the exponential
 * (a NaN v stays NaN, as np.minimum keeps it); spike at v >= v_peak,
 * v <- v_reset, w <- w + b. */
NS_GLOBAL void adex_update(
    const ns_i64 *__restrict__ clk, ns_i32 n_neurons, ns_i32 start, ns_u32 flags,
    ns_real *__restrict__ ring, ns_i32 ring_width, ns_i32 n_slots, ns_i32 col0,
    ns_u64 key0, ns_u64 key1, ns_i64 stream_width, ns_i32 n_drives,
    const ns_i64 *__restrict__ drive_tab, const ns_real *__restrict__ drive_w,
    const float *__restrict__ drive_cdf,
    const ns_real *__restrict__ i_ext, ns_i32 *__restrict__ ref,
    const ns_i32 *__restrict__ n_ref,
    ns_real *__restrict__ v, ns_real *__restrict__ w, ns_real *__restrict__ i_syn_e,
    ns_real *__restrict__ i_syn_i,
    const ns_real *__restrict__ h_over_cm, const ns_real *__restrict__ g_L,
    const ns_real *__restrict__ e_L, const ns_real *__restrict__ v_T,
    const ns_real *__restrict__ inv_delta_T, const ns_real *__restrict__ g_L_delta_T,
    const ns_real *__restrict__ a, const ns_real *__restrict__ b,
    const ns_real *__restrict__ h_over_tau_w, const ns_real *__restrict__ v_peak,
    const ns_real *__restrict__ v_reset, const ns_real *__restrict__ i_offset,
    const ns_real *__restrict__ P_E, const ns_real *__restrict__ P_I, ns_u32 per_neuron,
    ns_i32 *__restrict__ spk, ns_i64 *__restrict__ spk_work,
    ns_u64 *__restrict__ nspk, const ns_i32 *__restrict__ row_len, ns_u32 rec_flags,
    const ns_u8 *__restrict__ rec_mask, ns_i32 *__restrict__ rec_idx,
    ns_i32 *__restrict__ rec_total, ns_i32 n_rate, const ns_i32 *__restrict__ rate_slot,
    ns_i32 *__restrict__ rate_counts, ns_i64 *__restrict__ bad) {
  if (ns_halted(clk)) return;
  const ns_i64 n = clk[0];
  NS_SPIKE_OUT_AND_DRIVES;
  ns_real *in = ns_ring_row(ring, n, ring_width, n_slots, col0);
  NS_GRID_STRIDE_LOOP(i, n_neurons) {
    ns_real vm = v[i], ww = w[i], ie = i_syn_e[i], ii = i_syn_i[i];
    const ns_real peak = NS_C(v_peak, 9);
    ns_real x = vm > peak ? peak : vm;
    x = x - NS_C(v_T, 3);
    x = x * NS_C(inv_delta_T, 4);
    x = ns_exp(x);
    x = x * NS_C(g_L_delta_T, 5);
    const ns_real e_l = NS_C(e_L, 2);
    ns_real dv = e_l - vm;
    dv = dv * NS_C(g_L, 1);
    dv = dv + x;
    dv = dv - ww;
    dv = dv + ie;
    dv = dv + ii;
    dv = dv + NS_C(i_offset, 11);
    if (flags & NS_EXT) dv = dv + i_ext[i];
    dv = dv * NS_C(h_over_cm, 0);
    ns_real dw = vm - e_l;
    dw = dw * NS_C(a, 6);
    dw = dw - ww;
    dw = dw * NS_C(h_over_tau_w, 8);
    vm = vm + dv;
    ww = ww + dw;
    ie = ie * NS_C(P_E, 12);
    ii = ii * NS_C(P_I, 13);
    if (flags & NS_IN0) ie = ie + ns_take(in, 0, n_neurons, i, drives);
    if (flags & NS_IN1) ii = ii + ns_take(in, 1, n_neurons, i, drives);
    if (ns_refractory_threshold(vm, i, flags, ref, n_ref, NS_C(v_reset, 10), peak)) {
      ww = ww + NS_C(b, 7);
      ns_spike(out, start + (ns_i32)i);
    }
    v[i] = vm;
    w[i] = ww;
    i_syn_e[i] = ie;
    i_syn_i[i] = ii;
    ns_flag_bad(bad, n, start + i, 0, vm);
    ns_flag_bad(bad, n, start + i, 1, ww);
    ns_flag_bad(bad, n, start + i, 2, ie);
    ns_flag_bad(bad, n, start + i, 3, ii);
  }
}
