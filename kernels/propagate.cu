/*
 * propagate.cu -- stage 3 of a step: deliver this step's spikes.
 *
 * A synapse class (neurosim/engine/layout.py: SynapseClass) is a CSR over
 * global source ids: row `src` holds synapses indptr[src] .. indptr[src+1]-1
 * with ring columns `cols` and float32 `weights`, and either one delay for
 * the whole class (propagate_const) or one per synapse (propagate_delays_u8,
 * propagate_delays_i16), in steps, 1 <= delay <= n_slots. A spike of step n
 * through a synapse of delay d adds its weight into ring slot (n + d) %
 * n_slots: it arrives at t_{n+1} + d and is read by step n + d (the NumPy
 * engine's convention, numpy_engine.py).
 *
 * The spikes are the compact list of this step: spk[0 .. nspk[j]), a count
 * that only the device knows. Every kernel is a grid-stride loop over
 * (spike, lane) pairs: `lanes` consecutive threads share a spike and walk
 * its row with stride `lanes` (32 on a GPU: a warp per spike, coalesced row
 * reads; 1 in the host build: a thread per spike, rows in order). Any grid
 * is correct, so the host launches a fixed grid sized for the worst case or
 * capped, and never reads the count. Additions are atomicAdd: their order,
 * and so the rounding of the sums, depends on the schedule; with weights
 * that add exactly the result is exact in any order.
 */
#include "common.cuh"

/* Walk the rows of this step's spikes; deliver(k) adds synapse k. */
template <typename Deliver>
NS_DEVICE void ns_walk_rows(const ns_i32 *__restrict__ spk, ns_i32 count,
                            const ns_i64 *__restrict__ indptr, ns_i32 lanes,
                            Deliver deliver) {
  const ns_i64 work = (ns_i64)count * lanes;
  NS_GRID_STRIDE_LOOP(t, work) {
    const ns_i64 s = t / lanes;
    const ns_i32 src = spk[s];
    const ns_i64 end = indptr[src + 1];
    for (ns_i64 k = indptr[src] + t % lanes; k < end; k += lanes) deliver(k);
  }
}

/* One delay (in steps) for every synapse of the class. */
NS_GLOBAL void propagate_const(
    const ns_i64 *__restrict__ clk, const ns_i32 *__restrict__ spk,
    const ns_i32 *__restrict__ nspk, const ns_i64 *__restrict__ indptr,
    const ns_i32 *__restrict__ cols, const float *__restrict__ weights, ns_i32 delay,
    float *__restrict__ ring, ns_i32 ring_width, ns_i32 n_slots, ns_i32 lanes) {
  float *row = ring + ((clk[0] + delay) % n_slots) * (ns_i64)ring_width;
  ns_walk_rows(spk, nspk[clk[1]], indptr, lanes,
               [&](ns_i64 k) { atomicAdd(row + cols[k], weights[k]); });
}

/* Per-synapse delays d[k] in 1 .. n_slots: slot (n % n_slots + d) mod n_slots
 * without a 64-bit division per synapse. */
template <typename D>
NS_DEVICE void ns_propagate_delays(const ns_i64 *__restrict__ clk,
                                   const ns_i32 *__restrict__ spk,
                                   const ns_i32 *__restrict__ nspk,
                                   const ns_i64 *__restrict__ indptr,
                                   const ns_i32 *__restrict__ cols,
                                   const float *__restrict__ weights,
                                   const D *__restrict__ delays, float *__restrict__ ring,
                                   ns_i32 ring_width, ns_i32 n_slots, ns_i32 lanes) {
  const ns_i32 now = (ns_i32)(clk[0] % n_slots);
  ns_walk_rows(spk, nspk[clk[1]], indptr, lanes, [&](ns_i64 k) {
    ns_i32 slot = now + (ns_i32)delays[k];
    if (slot >= n_slots) slot -= n_slots;
    atomicAdd(ring + (ns_i64)slot * ring_width + cols[k], weights[k]);
  });
}

/* Per-synapse delays stored as uint8 (all below 256 steps). */
NS_GLOBAL void propagate_delays_u8(
    const ns_i64 *__restrict__ clk, const ns_i32 *__restrict__ spk,
    const ns_i32 *__restrict__ nspk, const ns_i64 *__restrict__ indptr,
    const ns_i32 *__restrict__ cols, const float *__restrict__ weights,
    const ns_u8 *__restrict__ delays, float *__restrict__ ring, ns_i32 ring_width,
    ns_i32 n_slots, ns_i32 lanes) {
  ns_propagate_delays(clk, spk, nspk, indptr, cols, weights, delays, ring, ring_width,
                      n_slots, lanes);
}

/* Per-synapse delays stored as int16 (up to 32767 steps). */
NS_GLOBAL void propagate_delays_i16(
    const ns_i64 *__restrict__ clk, const ns_i32 *__restrict__ spk,
    const ns_i32 *__restrict__ nspk, const ns_i64 *__restrict__ indptr,
    const ns_i32 *__restrict__ cols, const float *__restrict__ weights,
    const ns_i16 *__restrict__ delays, float *__restrict__ ring, ns_i32 ring_width,
    ns_i32 n_slots, ns_i32 lanes) {
  ns_propagate_delays(clk, spk, nspk, indptr, cols, weights, delays, ring, ring_width,
                      n_slots, lanes);
}
