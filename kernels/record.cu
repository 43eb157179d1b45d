/*
 * record.cu -- stage 5 of a step: state monitors' samples on the device.
 *
 * Spikes and rates are recorded by the kernels that emit the spikes
 * (step.cuh: ns_spike) and the step ends in propagate.cu (ns_step_end);
 * what is left here is sampling state variables. Buffers cover one chunk of
 * steps and reach the host at its end; the engine sizes the chunk so that
 * they hold it.
 */
#include "step.cuh"

/* A state monitor: sample var[idx[0 .. n_idx)] after the update of every
 * step n with (n - first + 1) % every == 0 (first: the step at which the
 * monitor started), into row r of out (n_idx floats a row), r counting the
 * sampled steps of the chunk from 0. The chunk started at step n - j >= first. */
NS_GLOBAL void record_state(
    const ns_i64 *__restrict__ clk, const float *__restrict__ var,
    const ns_i32 *__restrict__ idx, ns_i32 n_idx, ns_i64 first, ns_i32 every,
    float *__restrict__ out) {
  if (ns_halted(clk)) return;
  const ns_i64 n = clk[0], j = clk[1];
  const ns_i64 r = n - first + 1;
  if (r % every != 0) return;
  const ns_i64 row = r / every - (n - j - first) / every - 1;
  float *dst = out + row * n_idx;
  NS_GRID_STRIDE_LOOP(k, n_idx) dst[k] = var[idx[k]];
}
