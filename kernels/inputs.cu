/*
 * inputs.cu -- the sources of stage 2: neurons whose spikes are given.
 *
 * (The Poisson drives of stage 1 are drawn by the neuron updates themselves:
 * step.cuh, ns_add_drives.) Sources emit their spikes as the neuron updates
 * do (step.cuh: ns_spike), so monitors record them the same way.
 *
 * Random numbers: step n draws the raw Philox values at stream positions
 * n * stream_width + offset + i (philox.cuh; the NumPy engine draws the same
 * values with np.random.Philox(key).random_raw(stream_width) once per step),
 * so both backends see the same numbers for the same seed. Each thread
 * computes one Philox block (4 values) with ns_philox_for_each: launch
 * n / 4 + 2 threads for full parallelism; any grid is correct.
 *
 * The clock clk = {n, j, halted, 0} is on the device (step.cuh).
 */
#include "step.cuh"

#define NS_SPIKE_OUT                                                            \
  const ns_spike_out out =                                                     \
      ns_spike_out_of(clk, spk, spk_work, nspk, row_len, rec_flags, rec_mask,  \
                      rec_idx, rec_total, n_rate, rate_slot, rate_counts)

/* First index of the sorted steps[0 .. len) that is >= value. */
NS_DEVICE ns_i32 ns_lower_bound(const ns_i64 *__restrict__ steps, ns_i32 len,
                                ns_i64 value) {
  ns_i32 lo = 0, hi = len;
  while (lo < hi) {
    const ns_i32 mid = lo + (hi - lo) / 2;
    if (steps[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* PoissonSource: neuron i spikes when uniform24(raw) < p, p = rate * dt
 * (float32; per neuron when per_neuron is 1, else one value for all). p is a
 * table of n_seg rows (neurosim/engine/stimulus.py): row k holds from step
 * seg_step[k] (seg_step[0] = -1, increasing) until the next row's step, so
 * rates over time need no host interaction during a run. */
NS_GLOBAL void poisson_source_update(
    const ns_i64 *__restrict__ clk, ns_u64 key0, ns_u64 key1, ns_i64 stream_width,
    ns_i64 offset, ns_i32 n_neurons, ns_i32 start, const float *__restrict__ p,
    ns_u32 per_neuron, const ns_i64 *__restrict__ seg_step, ns_i32 n_seg, ns_i32 *__restrict__ spk, ns_i64 *__restrict__ spk_work,
    ns_u64 *__restrict__ nspk, const ns_i32 *__restrict__ row_len, ns_u32 rec_flags,
    const ns_u8 *__restrict__ rec_mask, ns_i32 *__restrict__ rec_idx,
    ns_i32 *__restrict__ rec_total, ns_i32 n_rate, const ns_i32 *__restrict__ rate_slot,
    ns_i32 *__restrict__ rate_counts) {
  if (ns_halted(clk)) return;
  const ns_i64 step = clk[0];
  NS_SPIKE_OUT;
  const ns_u64 position0 = (ns_u64)step * (ns_u64)stream_width + (ns_u64)offset;
  const ns_i32 seg = n_seg > 1 ? ns_lower_bound(seg_step, n_seg, step + 1) - 1 : 0;
  const float *__restrict__ prow = p + (ns_i64)seg * (per_neuron ? (ns_i64)n_neurons : 1);
  ns_philox_for_each(key0, key1, position0, n_neurons, [&](ns_i64 i, ns_u64 raw) {
    if (ns_uniform24(raw) < prow[per_neuron ? i : 0])
      ns_spike(out, start + (ns_i32)i);
  });
}

/* SpikeSource: the schedule (sched_step sorted, sched_idx the group-local
 * neuron of each entry) emits the entries of step n. Every thread finds the
 * step's range by binary search, then the threads share it. */
NS_GLOBAL void spike_source_update(
    const ns_i64 *__restrict__ clk, const ns_i64 *__restrict__ sched_step,
    const ns_i32 *__restrict__ sched_idx, ns_i32 n_sched, ns_i32 start,
    ns_i32 *__restrict__ spk, ns_i64 *__restrict__ spk_work,
    ns_u64 *__restrict__ nspk, const ns_i32 *__restrict__ row_len, ns_u32 rec_flags,
    const ns_u8 *__restrict__ rec_mask, ns_i32 *__restrict__ rec_idx,
    ns_i32 *__restrict__ rec_total, ns_i32 n_rate, const ns_i32 *__restrict__ rate_slot,
    ns_i32 *__restrict__ rate_counts) {
  if (ns_halted(clk)) return;
  const ns_i64 step = clk[0];
  NS_SPIKE_OUT;
  const ns_i32 lo = ns_lower_bound(sched_step, n_sched, step);
  const ns_i32 hi = ns_lower_bound(sched_step, n_sched, step + 1);
  NS_GRID_STRIDE_LOOP(k, hi - lo) ns_spike(out, start + sched_idx[lo + k]);
}
