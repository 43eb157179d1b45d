/*
 * neuron.cuh -- what every neuron kernel shares (the hand-written ones of
 * neurons.cu and the ones generated from model descriptions by
 * neurosim/models/codegen.py from neuron_model.cu.j2): the flags, the
 * per-neuron constant access NS_C, the NaN flag, the refractory clamp and
 * threshold of v, the spike output and drives, and the input read from the
 * ring (see neurons.cu for the arguments these take).
 */
#ifndef NS_NEURON_CUH
#define NS_NEURON_CUH

#include "step.cuh"

#define NS_IN0 1u
#define NS_IN1 2u
#define NS_EXT 4u
#define NS_REF 8u
#define NS_REF_PER_NEURON 16u
#define NS_DELTA 32u

/* constant `name`, the `bit`-th constant parameter, for neuron i */
#define NS_C(name, bit) ((name)[((per_neuron >> (bit)) & 1u) ? i : 0])

/* Mark a non-finite state value: bad[0] = first step (atomicMin over the
 * run), bad[1] = smallest 8 * global id + variable index among the neurons
 * flagged in that step; the variable index is the position of the state
 * array among the kernel's state array parameters (v first). Steps are
 * launched in order, so a thread of step n that finds bad[0] >= n is in the
 * first bad step. */
NS_DEVICE void ns_flag_bad(ns_i64 *bad, ns_i64 n, ns_i64 gid, int var, ns_real x) {
  if (!isfinite(x)) {
    const ns_i64 old = atomicMin(&bad[0], n);
    if (old >= n) atomicMin(&bad[1], gid * 8 + var);
  }
}

/* Steps 2-3 for v; true when the neuron spikes (the caller resets the rest). */
NS_DEVICE bool ns_refractory_threshold(ns_real &v, ns_i64 i, ns_u32 flags,
                                       ns_i32 *__restrict__ ref,
                                       const ns_i32 *__restrict__ n_ref,
                                       ns_real v_reset, ns_real v_thresh) {
  if (flags & NS_REF) {
    const ns_i32 r = ref[i];
    if (r > 0) {
      v = v_reset;
      ref[i] = r - 1;
    }
  }
  if (v >= v_thresh) {
    v = v_reset;
    if (flags & NS_REF) ref[i] = n_ref[(flags & NS_REF_PER_NEURON) ? i : 0];
    return true;
  }
  return false;
}

/* The spike output and the drives of a neuron kernel, from its parameters. */
#define NS_SPIKE_OUT_AND_DRIVES                                                 \
  const ns_spike_out out =                                                     \
      ns_spike_out_of(clk, spk, spk_work, nspk, row_len, rec_flags, rec_mask,  \
                      rec_idx, rec_total, n_rate, rate_slot, rate_counts);     \
  const ns_drives drives = ns_drives_of(clk, key0, key1, stream_width,         \
                                        n_drives, drive_tab, drive_w, drive_cdf)

/* Input channel c of neuron i in this step's ring slot plus the Poisson
 * drives into it (in the NumPy engine's order: the drives add into the slot,
 * then the neurons read it), read and cleared. */
NS_DEVICE ns_real ns_take(ns_real *__restrict__ in, ns_i64 c, ns_i32 n_neurons, ns_i64 i,
                        const ns_drives &drives) {
  const ns_i64 col = c * n_neurons + i;
  ns_real *p = in + col;
  ns_real x = *p;
  *p = 0.0f;
  if (drives.n) x = ns_add_drives(drives, col, x);
  return x;
}

/* This step's row of the ring, at the group's first column. */
NS_DEVICE ns_real *ns_ring_row(ns_real *ring, ns_i64 n, ns_i32 ring_width, ns_i32 n_slots,
                             ns_i32 col0) {
  return ring + (n % n_slots) * (ns_i64)ring_width + col0;
}

#endif /* NS_NEURON_CUH */
