/*
 * record.cu -- stage 5 of a step: state monitors' samples on the device.
 *
 * Spikes and rates are recorded by the kernels that emit the spikes
 * (step.cuh: ns_spike) and the step ends in propagate.cu (ns_step_end);
 * what is left here is sampling state variables, every state monitor in one
 * launch. It runs after the learn stage, where the NumPy engine samples.
 * Buffers cover one chunk of steps and reach the host at its end; the engine
 * sizes the chunk so that they hold it.
 */
#include "step.cuh"

#define NS_STATE_FIELDS 6

/* State monitors: monitor m samples var[idx[start .. start + n_idx)] after
 * the update of every step n with (n - first + 1) % every == 0 (first: the
 * step at which the monitor started), into row r of out (n_idx floats a
 * row), r counting the sampled steps of the chunk from 0 (the chunk started
 * at step n - j >= first). mon_tab holds NS_STATE_FIELDS values per monitor:
 * the device addresses of var (float32) and out (float32), first, every,
 * start, n_idx; the monitors' index lists are concatenated in idx (n_idx_all
 * entries), so entry k belongs to the last monitor whose start is <= k. */
NS_GLOBAL void record_state(
    const ns_i64 *__restrict__ clk, ns_i32 n_mon, const ns_i64 *__restrict__ mon_tab,
    const ns_i32 *__restrict__ idx, ns_i64 n_idx_all) {
  if (ns_halted(clk)) return;
  const ns_i64 n = clk[0], j = clk[1];
  NS_GRID_STRIDE_LOOP(k, n_idx_all) {
    ns_i32 lo = 1, hi = n_mon;
    while (lo < hi) {
      const ns_i32 mid = lo + (hi - lo) / 2;
      if (mon_tab[(ns_i64)NS_STATE_FIELDS * mid + 4] <= k) lo = mid + 1;
      else hi = mid;
    }
    const ns_i64 *t = mon_tab + (ns_i64)NS_STATE_FIELDS * (lo - 1);
    const ns_i64 first = t[2], every = t[3], n_idx = t[5];
    const ns_i64 r = n - first + 1;
    if (r % every != 0) continue;
    const ns_i64 row = r / every - (n - j - first) / every - 1;
    ns_real *out = (ns_real *)t[1];
    out[row * n_idx + (k - t[4])] = ((const ns_real *)t[0])[idx[k]];
  }
}
