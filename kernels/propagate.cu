/*
 * propagate.cu -- stage 3 of a step: deliver this step's spikes, and end the
 * step.
 *
 * A synapse class (neurosim/engine/layout.py: SynapseClass) is a CSR over
 * global source ids: row `src` holds synapses indptr[src] .. indptr[src+1]-1
 * with ring columns `cols` and float32 `weights`, and either one delay for
 * the whole class or one per synapse (uint8 or int16), in steps, 1 <= delay
 * <= n_slots. A spike of step n through a synapse of delay d adds its weight
 * into ring slot (n + d) % n_slots: it arrives at t_{n+1} + d and is read by
 * step n + d (the NumPy engine's convention, numpy_engine.py).
 *
 * One launch delivers every class. The work of a step is the list of its
 * synapses: spike after spike (in slot order), and for each spike its row in
 * class 0, then in class 1, ... The kernels that emitted the spikes reserved
 * each spike's slot together with its offset in that list (step.cuh:
 * ns_spike), so nspk[j] holds the total and spk_work the offsets, increasing
 * with the slot. The threads grid-stride over the work: item w belongs to
 * the last spike whose offset is <= w (a binary search over spk_work, from
 * the spike of the thread's previous item, since a thread's items increase;
 * none while the item stays within that spike's rows),
 * and is synapse w - offset of that spike's rows. So consecutive threads
 * read consecutive synapses of a row (coalesced), a few spikes with long rows
 * (the microcircuit: ~27 spikes x ~3,900 synapses a step) spread over the
 * whole grid as well as many spikes with short rows do, and the grid is a
 * fixed size (a few blocks per SM on a GPU; graph-friendly: the host never
 * reads the count). The alternative, a block or a warp per spike with lanes
 * over the row, leaves most SMs idle when a step has fewer spikes than SMs,
 * and needs a grid sized from the spike count. The search costs about
 * log2(spikes) cached loads per thread and item, against the two global
 * loads and the atomicAdd of the delivery itself.
 *
 * Additions are atomicAdd: their order, and so the rounding of the sums,
 * depends on the schedule; with weights that add exactly the result is exact
 * in any order. (The host build runs one thread in CUDA's natural order,
 * which adds in the NumPy engine's order when there is one class.)
 *
 * The classes are given as a table, NS_CLASS_FIELDS 64-bit words each:
 * device addresses of indptr (int64), cols (int32), weights (float32) and
 * delays (uint8 or int16; 0 for a class with one delay), the class's delay
 * (steps) and the kind of its delays (NS_DELAY_CONST, NS_DELAY_U8,
 * NS_DELAY_I16). The engine builds it once and keeps the arrays alive.
 */
#include "step.cuh"

#define NS_CLASS_FIELDS 6
#define NS_DELAY_CONST 0
#define NS_DELAY_U8 1
#define NS_DELAY_I16 2

/* The end of step n, by one thread: rec_end[j] = the recorded spikes of the
 * chunk so far, and the clock of the next step into the other copy. It
 * halts when this step flagged a non-finite value (bad[0] <= n), or when the
 * spikes that the next step may record (every recorded neuron spiking) might
 * not fit: rec_total > rec_room (the buffer's capacity minus the number of
 * recorded neurons). A halted clock is copied as it is. */
NS_DEVICE void ns_step_end(const ns_i64 *__restrict__ clk, ns_i64 *__restrict__ clk_next,
                           const ns_i64 *__restrict__ bad,
                           const ns_i32 *__restrict__ rec_total, ns_i32 rec_room,
                           ns_i32 *__restrict__ rec_end) {
  const ns_i64 n = clk[0], j = clk[1];
  if (ns_halted(clk)) {
    clk_next[0] = n;
    clk_next[1] = j;
    clk_next[2] = clk[2];
    clk_next[3] = 0;
    return;
  }
  const ns_i32 total = *rec_total;
  rec_end[j] = total;
  clk_next[0] = n + 1;
  clk_next[1] = j + 1;
  clk_next[2] = (bad[0] <= n || total > rec_room) ? 1 : 0;
  clk_next[3] = 0;
}

#if NS_HOST && defined(NS_HOST_NATIVE) && NS_HOST_NATIVE
/* The native CPU backend's delivery: this thread's contiguous share of the
 * step's items, in the same order as the grid-stride loop below (so one
 * thread adds in NumPy's order), walked spike by spike and row by row, so the
 * inner loop is a plain scatter. `dest` is the ring this share adds into:
 * a ring of its own (propagate_native: no other thread writes it, so plain
 * additions), or nullptr to add into `ring` with atomics (compare-and-swap
 * loops when the launch runs on several threads, plain additions on one). */
NS_DEVICE void ns_native_deliver(const ns_i32 *__restrict__ spk,
                                 const ns_i64 *__restrict__ spk_work, ns_i64 count,
                                 ns_i64 work, ns_i32 now, ns_i32 n_classes,
                                 const ns_u64 *__restrict__ class_tab, ns_real *ring,
                                 ns_i32 ring_width, ns_i32 n_slots, ns_real *dest) {
  const ns_i64 lo = ns_share_lo_(work), hi = ns_share_hi_(work);
  if (lo >= hi) return;
  ns_i64 first_spike = 0, above = count;      /* last slot with offset <= lo */
  while (first_spike < above) {
    const ns_i64 mid = first_spike + (above - first_spike) / 2;
    if (spk_work[mid] <= lo) first_spike = mid + 1;
    else above = mid;
  }
  const bool plain = dest != nullptr || ns_host_serial;
  ns_real *const base_ring = dest != nullptr ? dest : ring;
  for (ns_i64 s = first_spike - 1; s < count && spk_work[s] < hi; ++s) {
    const ns_i64 src = spk[s];
    ns_i64 base = spk_work[s];                /* work index of this class's row */
    for (ns_i32 c = 0; c < n_classes && base < hi; ++c) {
      const ns_u64 *t = class_tab + (ns_i64)NS_CLASS_FIELDS * c;
      const ns_i64 *indptr = (const ns_i64 *)t[0];
      const ns_i64 first = indptr[src], len = indptr[src + 1] - first;
      const ns_i64 r0 = lo > base ? lo - base : 0, r1 = hi - base < len ? hi - base : len;
      base += len;
      if (r0 >= r1) continue;
      const ns_i32 *__restrict__ cols = (const ns_i32 *)t[1];
      const ns_real *__restrict__ weights = (const ns_real *)t[2];
      const ns_i32 kind = (ns_i32)t[5];
      if (kind == NS_DELAY_CONST) {
        ns_i32 slot = now + (ns_i32)t[4];
        if (slot >= n_slots) slot -= n_slots;
        ns_real *__restrict__ row = base_ring + (ns_i64)slot * ring_width;
        if (plain) {
          for (ns_i64 k = first + r0; k < first + r1; ++k) row[cols[k]] += weights[k];
        } else {
          for (ns_i64 k = first + r0; k < first + r1; ++k) atomicAdd(row + cols[k], weights[k]);
        }
      } else {
        for (ns_i64 k = first + r0; k < first + r1; ++k) {
          const ns_i32 d = kind == NS_DELAY_U8 ? (ns_i32)((const ns_u8 *)t[3])[k]
                                               : (ns_i32)((const ns_i16 *)t[3])[k];
          ns_i32 slot = now + d;
          if (slot >= n_slots) slot -= n_slots;
          ns_real *const x = base_ring + (ns_i64)slot * ring_width + cols[k];
          if (plain) *x += weights[k];
          else atomicAdd(x, weights[k]);
        }
      }
    }
  }
}
#endif

/* Deliver the step's spikes through every class; thread 0 ends the step. */
NS_GLOBAL void propagate(
    const ns_i64 *__restrict__ clk, ns_i64 *__restrict__ clk_next,
    const ns_i32 *__restrict__ spk, const ns_i64 *__restrict__ spk_work,
    const ns_u64 *__restrict__ nspk, ns_i32 n_classes, const ns_u64 *__restrict__ class_tab,
    ns_real *__restrict__ ring, ns_i32 ring_width, ns_i32 n_slots,
    const ns_i64 *__restrict__ bad, const ns_i32 *__restrict__ rec_total, ns_i32 rec_room,
    ns_i32 *__restrict__ rec_end) {
  if (ns_global_index() == 0) ns_step_end(clk, clk_next, bad, rec_total, rec_room, rec_end);
  if (ns_halted(clk) || n_classes == 0) return;
  const ns_u64 counter = nspk[clk[1]];
  const ns_i64 count = (ns_i64)(counter >> NS_WORK_BITS);
  const ns_i64 work = (ns_i64)(counter & NS_WORK_MASK);
  const ns_i32 now = (ns_i32)(clk[0] % n_slots);
#if NS_HOST && defined(NS_HOST_NATIVE) && NS_HOST_NATIVE
  ns_native_deliver(spk, spk_work, count, work, now, n_classes, class_tab, ring, ring_width,
                    n_slots, nullptr);
#else
  ns_i64 s = 0;                      /* spk_work[0] == 0 <= every item */
  NS_GRID_STRIDE_LOOP(w, work) {
    if (s + 1 < count && spk_work[s + 1] <= w) {  /* past spike s: the last slot with */
      ns_i64 lo = s + 2, hi = count;               /* offset <= w                      */
      while (lo < hi) {
        const ns_i64 mid = lo + (hi - lo) / 2;
        if (spk_work[mid] <= w) lo = mid + 1;
        else hi = mid;
      }
      s = lo - 1;
    }
    const ns_i64 src = spk[s];
    ns_i64 r = w - spk_work[s];
    for (ns_i32 c = 0; c < n_classes; ++c) {
      const ns_u64 *t = class_tab + (ns_i64)NS_CLASS_FIELDS * c;
      const ns_i64 *indptr = (const ns_i64 *)t[0];
      const ns_i64 first = indptr[src], len = indptr[src + 1] - first;
      if (r >= len) {
        r -= len;
        continue;
      }
      const ns_i64 k = first + r;
      const ns_i32 kind = (ns_i32)t[5];
      const ns_i32 d = kind == NS_DELAY_CONST ? (ns_i32)t[4]
                       : kind == NS_DELAY_U8  ? (ns_i32)((const ns_u8 *)t[3])[k]
                                              : (ns_i32)((const ns_i16 *)t[3])[k];
      ns_i32 slot = now + d;
      if (slot >= n_slots) slot -= n_slots;
      atomicAdd(ring + (ns_i64)slot * ring_width + ((const ns_i32 *)t[1])[k],
                ((const ns_real *)t[2])[k]);
      break;
    }
  }
#endif
}

