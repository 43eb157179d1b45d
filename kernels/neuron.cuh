/*
 * neuron.cuh -- what every neuron kernel shares: the kernels are generated
 * from NeuronModel descriptions (neurosim/models/generate.py renders
 * neuron_model.cu.j2; every built-in model is one), and take the flags, the
 * per-neuron constant access NS_C, the NaN flag, the spike output and
 * drives, and the input read from the ring from here.
 *
 * Each kernel advances one merged group of neurons (neurosim/engine/layout.py)
 * over step n, in the order of the NumPy reference (numpy_engine.py and the
 * model's generated `integrate`/`threshold`/`reset`), operation for
 * operation, so that the host build reproduces NumPy bit for bit where no
 * transcendental function is involved (the GPU contracts multiply-adds and
 * differs in the last bits). The inputs arriving at the end of the step are
 * read from the group's columns of ring slot n % n_slots (channel c of neuron
 * i at column col0 + c * n_neurons + i), the Poisson drives into that column
 * are drawn and added (step.cuh: ns_add_drives, in the order in which the
 * NumPy engine adds them into the slot before the update), and the columns
 * are cleared for the slot's next use (ns_take).
 *
 * Common arguments, the same in every neuron kernel:
 *   clk        {n, j, halted, 0}: this step, its index j within the current
 *              chunk, and the halt flag (step.cuh: a halted step does
 *              nothing);
 *   n_neurons, start: group size and global id of its first neuron;
 *   flags      NS_IN0 | NS_IN1: channel 0/1 receives input (else its
 *              columns are not read); NS_EXT: i_ext holds an injected current
 *              (pA); NS_REF: refractory counters ref/n_ref are used;
 *              NS_REF_PER_NEURON: n_ref has one value per neuron;
 *              NS_DELTA: delta synapses, input jumps v (informative);
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
