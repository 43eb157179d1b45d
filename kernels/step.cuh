/*
 * step.cuh -- what the kernels of one simulated step share: the clock, the
 * step's spike list, the recording buffers and the fused Poisson drives.
 *
 * The clock. The engine keeps two copies of {n, j, halted, 0} (step, index
 * of the step within the current chunk, halt flag): step n reads copy n % 2
 * (`clk`) and the last kernel of the step (propagate.cu: propagate) writes
 * the other (`clk_next`). No kernel writes the copy its own step reads, so
 * the same launches with the same arguments run every step (and a run of
 * steps is captured once as a CUDA graph). A halted clock stops the chunk:
 * every kernel of a step whose clock says halted returns at once, and the
 * step end copies the clock unchanged, so the steps that follow in a graph
 * do nothing and the host finds the step at which the chunk stopped in the
 * clock. The step end halts after a step that flagged a non-finite value,
 * and before a step whose recorded spikes might not fit in the recording
 * buffer (see propagate.cu).
 *
 * The spike list of a step: spk[slot] = global id, spk_work[slot] = the
 * number of synapses (of every static synapse class) of the spikes in the
 * slots before it, and one 64-bit counter nspk[j] = (count << NS_WORK_BITS)
 * | total synapses. A spiking neuron reserves its slot and its work offset
 * together with one atomicAdd of (1 << NS_WORK_BITS) | row_len[gid]
 * (ns_reserve_spike), so the offsets grow with the slots and propagation
 * finds the spike of a synapse by binary search. NS_WORK_BITS = 36: up to
 * 2^28 spikes (neurons) and 2^36 synapses a step, more than fit in any
 * GPU's memory (the engine checks both).
 *
 * Recording, fused into the kernels that emit spikes (ns_spike): a neuron
 * with rec_mask[gid] != 0 appends its id to rec_idx (rec_total counts them;
 * the step end writes the running total after step j into rec_end[j]), and
 * a neuron of a rate-monitored population (rate_slot[gid] >= 0) counts into
 * rate_counts[j * n_rate + slot]. Bit NS_REC_SPIKES of rec_flags switches
 * the spike recording on.
 */
#ifndef NS_STEP_CUH
#define NS_STEP_CUH

#include "philox.cuh"

#define NS_WORK_BITS 36
#define NS_WORK_MASK ((1ULL << NS_WORK_BITS) - 1ULL)
#define NS_REC_SPIKES 1u

/* The clock copy says: do nothing this step. */
NS_DEVICE bool ns_halted(const ns_i64 *__restrict__ clk) { return clk[2] != 0; }

/* Number of spikes of this step (clk = this step's clock copy). */
NS_DEVICE ns_i32 ns_spike_count(const ns_u64 *__restrict__ nspk,
                                const ns_i64 *__restrict__ clk) {
  return (ns_i32)(nspk[clk[1]] >> NS_WORK_BITS);
}

/* atomicAdd(counter, v), returning the old value; on the GPU the threads of a
 * warp that call it together share one atomic (each gets the old value plus
 * the values of the active lanes below it: the same as if they had added one
 * after the other in lane order). The host build runs threads one by one. */
NS_DEVICE ns_u64 ns_reserve_spike(ns_u64 *counter, ns_u64 v) {
#if NS_HOST
  return atomicAdd(counter, v);
#else
  const unsigned int active = __activemask();
  unsigned int lane;
  asm("mov.u32 %0, %%laneid;" : "=r"(lane));
  ns_u64 below = 0ULL, total = 0ULL;
  for (unsigned int m = active; m != 0u; m &= m - 1u) {   /* same trip count in every lane */
    const int l = __ffs(m) - 1;
    const ns_u64 x = __shfl_sync(active, v, l);
    if ((unsigned int)l < lane) below += x;
    total += x;
  }
  const int leader = __ffs(active) - 1;
  ns_u64 base = 0ULL;
  if ((int)lane == leader) base = atomicAdd(counter, total);
  base = __shfl_sync(active, base, leader);
  return base + below;
#endif
}

/* atomicAdd(counter + slot, 1); on the GPU the lanes of a warp that call it
 * together with the same slot share one atomic (a population's spikes all
 * count into one counter). */
NS_DEVICE void ns_count_into(ns_i32 *counter, ns_i32 slot) {
#if NS_HOST
  atomicAdd(counter + slot, 1);
#else
  const unsigned int active = __activemask();
  const unsigned int peers = __match_any_sync(active, slot);
  unsigned int lane;
  asm("mov.u32 %0, %%laneid;" : "=r"(lane));
  if ((int)lane == __ffs(peers) - 1) atomicAdd(counter + slot, __popc(peers));
#endif
}

/* Where a step's spikes go: the spike list and the recording buffers. */
struct ns_spike_out {
  ns_i32 *spk;
  ns_i64 *spk_work;
  ns_u64 *count;                 /* nspk + j */
  const ns_i32 *row_len;
  ns_u32 rec_flags;
  const ns_u8 *rec_mask;
  ns_i32 *rec_idx;
  ns_i32 *rec_total;
  ns_i32 n_rate;
  const ns_i32 *rate_slot;
  ns_i32 *rate_row;              /* rate_counts + j * n_rate */
};

NS_DEVICE ns_spike_out ns_spike_out_of(
    const ns_i64 *__restrict__ clk, ns_i32 *spk, ns_i64 *spk_work, ns_u64 *nspk,
    const ns_i32 *row_len, ns_u32 rec_flags, const ns_u8 *rec_mask, ns_i32 *rec_idx,
    ns_i32 *rec_total, ns_i32 n_rate, const ns_i32 *rate_slot, ns_i32 *rate_counts) {
  const ns_i64 j = clk[1];
  ns_spike_out o;
  o.spk = spk;
  o.spk_work = spk_work;
  o.count = nspk + j;
  o.row_len = row_len;
  o.rec_flags = rec_flags;
  o.rec_mask = rec_mask;
  o.rec_idx = rec_idx;
  o.rec_total = rec_total;
  o.n_rate = n_rate;
  o.rate_slot = rate_slot;
  o.rate_row = rate_counts + j * n_rate;
  return o;
}

/* Neuron `gid` spikes in this step: its slot and work offset, then what the
 * monitors record of it. */
NS_DEVICE void ns_spike(const ns_spike_out &o, ns_i32 gid) {
  const ns_u64 old =
      ns_reserve_spike(o.count, (1ULL << NS_WORK_BITS) | (ns_u64)(ns_u32)o.row_len[gid]);
  const ns_i64 slot = (ns_i64)(old >> NS_WORK_BITS);
  o.spk[slot] = gid;
  o.spk_work[slot] = (ns_i64)(old & NS_WORK_MASK);
  if ((o.rec_flags & NS_REC_SPIKES) && o.rec_mask[gid]) o.rec_idx[ns_reserve(o.rec_total)] = gid;
  if (o.n_rate > 0) {
    const ns_i32 r = o.rate_slot[gid];
    if (r >= 0) ns_count_into(o.rate_row, r);
  }
}

/* The Poisson drives into one group (layout.PoissonDrive), drawn by the
 * neuron update itself. tab holds 5 values per drive: its first column
 * relative to the group's first (channel * n_neurons + offset), its number
 * of neurons, its offset in the step's Philox stream, the start and length
 * of its table in cdf; weights in w. Drives are sorted by column (stably:
 * drives into the same neurons keep their order) and two drives cover the
 * same columns or disjoint ones. A drive whose rate changes over time
 * (neurosim/engine/stimulus.py) has a negative length -K: its start is then
 * the position in tab of K triples (first step, start, length), one table per
 * segment, steps increasing from -1; the step picks its segment on the
 * device. */
struct ns_drives {
  ns_i32 n;
  const ns_i64 *tab;
  const ns_real *w;
  const float *cdf;
  ns_u64 key0, key1, position0;  /* position0 = n * stream_width */
  ns_i64 step;
};

NS_DEVICE ns_drives ns_drives_of(const ns_i64 *__restrict__ clk, ns_u64 key0, ns_u64 key1,
                                 ns_i64 stream_width, ns_i32 n_drives, const ns_i64 *tab,
                                 const ns_real *w, const float *cdf) {
  ns_drives d;
  d.n = n_drives;
  d.tab = tab;
  d.w = w;
  d.cdf = cdf;
  d.key0 = key0;
  d.key1 = key1;
  d.position0 = (ns_u64)clk[0] * (ns_u64)stream_width;
  d.step = clk[0];
  return d;
}

/* x plus the drives into column `col` of the group, in drive order: neuron
 * r of a drive receives k ~ Poisson spikes of weight w, k counted from the
 * float32 CDF table by inversion from the raw Philox value at stream position
 * n * stream_width + offset + r, as the NumPy engine draws it. One Philox
 * block (4 values) per neuron and drive: a separate kernel could share a
 * block among 4 neurons, but would cost a launch and a round trip of the
 * drive's columns through the ring. */
NS_DEVICE ns_u64 ns_drive_raw(const ns_drives &d, ns_u64 position) {
#if NS_HOST
  /* The host build runs the threads one after the other: neighbouring neurons
   * share a Philox block, so keep the last one (keyed by key and block). */
  static thread_local ns_u64 key0 = 0ULL, key1 = 0ULL, block = ~0ULL;
  static thread_local ns_u64x4 values;
  if ((position >> 2) != block || d.key0 != key0 || d.key1 != key1) {
    block = position >> 2;
    key0 = d.key0;
    key1 = d.key1;
    values = ns_philox_block(key0, key1, block);
  }
  return ns_u64x4_lane(values, (unsigned int)(position & 3ULL));
#else
  return ns_philox_raw(d.key0, d.key1, position);
#endif
}

/* The CDF table of drive row t at this step: (start, len) into d.cdf. A
 * negative len names a rate table of -len segments (step, start, len): the
 * last segment that starts at or before the step is taken. */
NS_DEVICE void ns_drive_cdf(const ns_drives &d, const ns_i64 *t, ns_i64 &start, ns_i64 &len) {
  start = t[3];
  len = t[4];
  if (len < 0) {
    const ns_i64 *seg = d.tab + start;
    ns_i64 a = 0, b = -len;
    while (b - a > 1) {
      const ns_i64 mid = a + (b - a) / 2;
      if (seg[3 * mid] <= d.step) a = mid;
      else b = mid;
    }
    start = seg[3 * a + 1];
    len = seg[3 * a + 2];
  }
}

NS_DEVICE ns_real ns_add_drives(const ns_drives &d, ns_i64 col, ns_real x) {
  ns_i32 lo = 0, hi = d.n;            /* first drive that ends after col */
  while (lo < hi) {
    const ns_i32 mid = lo + (hi - lo) / 2;
    if (d.tab[5 * mid] + d.tab[5 * mid + 1] <= col) lo = mid + 1;
    else hi = mid;
  }
  for (ns_i32 m = lo; m < d.n && d.tab[5 * m] <= col; ++m) {
    const ns_i64 *t = d.tab + 5 * m;
    const ns_u64 raw = ns_drive_raw(d, d.position0 + (ns_u64)t[2] + (ns_u64)(col - t[0]));
    ns_i64 start, len;
    ns_drive_cdf(d, t, start, len);
    const int k = ns_count_from_cdf(d.cdf + start, (int)len, ns_uniform24(raw));
    if (k) x = x + (ns_real)k * d.w[m];
  }
  return x;
}

#endif /* NS_STEP_CUH */
