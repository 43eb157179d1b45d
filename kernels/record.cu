/*
 * record.cu -- stage 5 of a step: monitors' buffers on the device, and the
 * step's end.
 *
 * The engine keeps the clock on the device as two copies, clk[0..1] and
 * clk[2..3] = {n, j} (step, index of the step within the chunk): step n
 * reads copy n % 2 and record_step, the last launch of the step, writes
 * {n + 1, j + 1} into the other copy. No kernel writes the copy that its own
 * threads read, so the same launches with the same arguments run every step
 * (and can be captured once in a CUDA graph).
 *
 * Buffers cover one chunk of steps and reach the host at its end:
 *   rec_idx[0 .. *rec_total)  global ids of the recorded spikes, the spikes of
 *                             step j after those of step j - 1 (in any order
 *                             within a step), rec_n[j] of them in step j;
 *   rate_counts[j * n_rate + r]  spikes of rate-monitored population r;
 *   state rows                 see record_state.
 * The engine sizes the chunk so that the buffers cannot overflow.
 */
#include "common.cuh"

/* The end of a step: record its spikes and advance the clock.
 * rec_mask[gid] != 0: the neuron is recorded by a spike monitor (only read
 * when record_spikes is 1); rate_slot[gid] >= 0: its rate-monitored
 * population (only read when n_rate > 0). */
NS_GLOBAL void record_step(
    const ns_i64 *__restrict__ clk, ns_i64 *__restrict__ clk_next,
    const ns_i32 *__restrict__ spk, const ns_i32 *__restrict__ nspk,
    ns_i32 record_spikes, const ns_u8 *__restrict__ rec_mask,
    ns_i32 *__restrict__ rec_idx, ns_i32 *__restrict__ rec_n,
    ns_i32 *__restrict__ rec_total, ns_i32 n_rate,
    const ns_i32 *__restrict__ rate_slot, ns_i32 *__restrict__ rate_counts) {
  const ns_i64 n = clk[0], j = clk[1];
  if (ns_global_index() == 0) {
    clk_next[0] = n + 1;
    clk_next[1] = j + 1;
  }
  if (!record_spikes && n_rate == 0) return;
  NS_GRID_STRIDE_LOOP(s, nspk[j]) {
    const ns_i32 gid = spk[s];
    if (record_spikes && rec_mask[gid]) {
      rec_idx[ns_reserve(rec_total)] = gid;
      ns_reserve(rec_n + j);
    }
    if (n_rate > 0) {
      const ns_i32 r = rate_slot[gid];
      if (r >= 0) atomicAdd(rate_counts + j * n_rate + r, 1);
    }
  }
}

/* A state monitor: sample var[idx[0 .. n_idx)] after the update of every
 * step n with (n - first + 1) % every == 0 (first: the step at which the
 * monitor started), into row r of out (n_idx floats a row), r counting the
 * sampled steps of the chunk from 0. The chunk started at step n - j >= first. */
NS_GLOBAL void record_state(
    const ns_i64 *__restrict__ clk, const float *__restrict__ var,
    const ns_i32 *__restrict__ idx, ns_i32 n_idx, ns_i64 first, ns_i32 every,
    float *__restrict__ out) {
  const ns_i64 n = clk[0], j = clk[1];
  const ns_i64 r = n - first + 1;
  if (r % every != 0) return;
  const ns_i64 row = r / every - (n - j - first) / every - 1;
  float *dst = out + row * n_idx;
  NS_GRID_STRIDE_LOOP(k, n_idx) dst[k] = var[idx[k]];
}
