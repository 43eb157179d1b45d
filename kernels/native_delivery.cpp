/*
 * native_delivery.cpp -- kernels of the native CPU backend only (built by
 * neurosim/backends/native.py with -DNS_HOST_NATIVE=1; never by CuPy, nvcc or
 * the cuda:host test build, so not a *.cu file): delivery without atomics on
 * several threads, and the step end on its own (neurosim/engine/native_engine.py:
 * NativeEngine._threaded plans them). propagate.cu provides the step end and
 * the native delivery loop (ns_step_end, ns_native_deliver).
 */
#include "propagate.cu"

#if !(NS_HOST && defined(NS_HOST_NATIVE) && NS_HOST_NATIVE)
#error "native_delivery.cpp is built by the native CPU backend only (-DNS_HOST_NATIVE=1)"
#endif

/*
 * propagate_native is propagate for the native engine's plan on several
 * threads (neurosim/engine/native_engine.py): thread (grid index) 0 adds
 * into the ring, thread g >= 1 into a private ring of its own, priv +
 * (g - 1) * n_slots * ring_width (n_priv of them), with plain additions: no
 * compare-and-swap loop, and no cache line written by two threads. A grid
 * with more threads than private rings falls back to atomics into the ring.
 *
 * ring_merge_native, the first launch of every step, adds the private rings
 * into the ring where the step's neuron kernels read it and zeroes them
 * there: segment k of seg (pairs of first ring column and neuron count, one
 * per channel of each neuron group) is split among the threads exactly as
 * the neuron kernels split their group (ns_share_lo_/hi_ of its neuron count,
 * the same grid), so each thread merges the columns it reads itself next,
 * and the launch needs no barrier after it (the plan runner skips it). With
 * all != 0 it merges every slot and column (a flat share of the whole ring):
 * the plan runner's last launch, so that between chunks the ring holds
 * everything and the private rings are zero (the host reads and writes the
 * ring then: checkpoints, injected spikes, rollbacks).
 *
 * Sums: a target's input adds thread 0's weights (in spike order), then each
 * private ring's sum in turn; with one thread (one block, n_priv = 0) the
 * same additions in the same order as propagate.
 *
 * end_step = 0: the step end is not propagate_native's but step_end_native's,
 * which the plan runs before propagate_native, on the last thread to finish
 * the step's neuron kernels, before the barrier that precedes delivery: then
 * the next step's clock is known to every thread at that barrier, and a plan
 * whose delays are all at least two steps (and whose spike list alternates
 * between two buffers with the clock's parity) needs no barrier after
 * delivery: a thread that starts step n + 1 while another still delivers
 * step n's spikes reads and merges ring slot n + 1, which step n's delivery
 * does not write, and writes the other spike list. */
NS_GLOBAL void propagate_native(
    const ns_i64 *__restrict__ clk, ns_i64 *__restrict__ clk_next,
    const ns_i32 *__restrict__ spk, const ns_i64 *__restrict__ spk_work,
    const ns_u64 *__restrict__ nspk, ns_i32 n_classes, const ns_u64 *__restrict__ class_tab,
    ns_real *__restrict__ ring, ns_i32 ring_width, ns_i32 n_slots,
    const ns_i64 *__restrict__ bad, const ns_i32 *__restrict__ rec_total, ns_i32 rec_room,
    ns_i32 *__restrict__ rec_end, ns_real *__restrict__ priv, ns_i32 n_priv,
    ns_i32 end_step) {
  const ns_i64 g = ns_global_index();
  if (g == 0 && end_step) ns_step_end(clk, clk_next, bad, rec_total, rec_room, rec_end);
  if (ns_halted(clk) || n_classes == 0) return;
  const ns_u64 counter = nspk[clk[1]];
  const ns_i32 now = (ns_i32)(clk[0] % n_slots);
  const bool own = ns_grid_stride() <= (ns_i64)n_priv + 1;
  ns_real *dest = !own ? nullptr
                  : g == 0 ? ring
                           : priv + (g - 1) * ((ns_i64)n_slots * ring_width);
  ns_native_deliver(spk, spk_work, (ns_i64)(counter >> NS_WORK_BITS),
                    (ns_i64)(counter & NS_WORK_MASK), now, n_classes, class_tab, ring,
                    ring_width, n_slots, dest);
}

/* ring[i] += every private ring's [i], which becomes 0, for i in lo .. hi-1 */
NS_DEVICE void ns_native_merge(ns_real *__restrict__ ring, ns_real *__restrict__ priv,
                               ns_i32 n_priv, ns_i64 size, ns_i64 lo, ns_i64 hi) {
  for (ns_i32 p = 0; p < n_priv; ++p) {
    ns_real *__restrict__ q = priv + (ns_i64)p * size;
    for (ns_i64 i = lo; i < hi; ++i) {
      ring[i] += q[i];
      q[i] = (ns_real)0;
    }
  }
}

NS_GLOBAL void ring_merge_native(const ns_i64 *__restrict__ clk, ns_real *__restrict__ ring,
                                 ns_i32 ring_width, ns_i32 n_slots,
                                 ns_real *__restrict__ priv, ns_i32 n_priv,
                                 const ns_i64 *__restrict__ seg, ns_i32 n_seg, ns_i32 all) {
  const ns_i64 size = (ns_i64)n_slots * ring_width;
  if (all) {
    ns_native_merge(ring, priv, n_priv, size, ns_share_lo_(size), ns_share_hi_(size));
    return;
  }
  const ns_i64 row = (clk[0] % n_slots) * (ns_i64)ring_width;
  for (ns_i32 k = 0; k < n_seg; ++k) {
    const ns_i64 col = seg[2 * k], n = seg[2 * k + 1];
    ns_native_merge(ring, priv, n_priv, size, row + col + ns_share_lo_(n),
                    row + col + ns_share_hi_(n));
  }
}

/* The end of the step (ns_step_end), alone: see propagate_native. */
NS_GLOBAL void step_end_native(const ns_i64 *__restrict__ clk, ns_i64 *__restrict__ clk_next,
                               const ns_i64 *__restrict__ bad,
                               const ns_i32 *__restrict__ rec_total, ns_i32 rec_room,
                               ns_i32 *__restrict__ rec_end) {
  if (ns_global_index() == 0) ns_step_end(clk, clk_next, bad, rec_total, rec_room, rec_end);
}

/*
 * The delay queue: delivery of a class with per-synapse delays, one arrival
 * step at a time (neurosim/engine/native_engine.py: NativeEngine._queue).
 *
 * Delivering a spike's whole row at once (propagate) adds each synapse into
 * the ring slot of its own delay: random writes over every slot of the ring,
 * which for the microcircuit (58 slots x 154,000 columns, 36 MB) is larger
 * than the caches, so each synapse costs a memory round trip. The queue keeps
 * each row of a queued class a second time, stable-sorted by delay (and, on
 * several threads, by the thread whose share of the ring's columns its target
 * is in): segment (row, j, p) holds the synapses of delay dmin + j whose
 * column is in part p (queue_build). At step n, delivery writes only the ring
 * slot of step t = n + lead (lead: the least delay of the queued classes):
 * for each source step m = t - d from the oldest (d the largest delay) to n,
 * each spike of step m in list order, each queued class in order, the
 * segment of delay d. Every write goes to one ring row, which stays in cache,
 * and the segments are read in order of their rows' spikes.
 *
 * The additions into a ring cell are those of propagate in the same order:
 * by source step, then the step's spike list, then the classes, then row
 * order (the sort is stable, so synapses of one row with the same delay and
 * target keep their order): on one thread, the sums of propagate. On several
 * threads, thread p delivers part p only, into the ring itself (no private
 * ring, no merge, no atomics): every cell is written by one thread, in that
 * same order (the spike lists' order is the threads' timing, as for
 * propagate_native).
 *
 * The spike lists of the last steps are kept in hist (hist_len lists of
 * hist_stride ids, the count of list h in hist_n[h]); a step's delivery
 * copies its own list there. Within a chunk the queue delivers the spikes of
 * the chunk's steps (clk[1] steps since its first); queue_flush, after the
 * chunk's last step, delivers what is still pending (arrivals after the last
 * step's t) into its ring slots, so between chunks the ring holds every
 * pending synaptic event, as with propagate (checkpoints, injected spikes,
 * rollbacks and the host's reads see the same ring).
 *
 * The queue table holds NS_QUEUE_FIELDS words per queued class: the address
 * of its segment pointers (ns_i64, n_rows * n_seg * n_part + 1), of its
 * sorted synapses (ns_qsyn), 0, dmin and n_seg.
 */
#define NS_QUEUE_FIELDS 5

/* A synapse of a queued class's sorted copy: column and weight side by side
 * (one stream of reads per segment, not two): 8 bytes in float, 16 in double,
 * a whole number of the ns_u64 words the engine allocates. */
struct ns_qsyn {
  ns_i32 col;
  ns_real w;
};
static_assert(sizeof(ns_qsyn) % sizeof(ns_u64) == 0, "ns_qsyn is whole 64-bit words");

NS_DEVICE void ns_queue_segments(const ns_i32 *__restrict__ list, ns_i64 count, ns_i64 d,
                                 ns_i32 n_queued, const ns_u64 *__restrict__ queue_tab,
                                 ns_i32 n_part, ns_i32 part, ns_real *__restrict__ row) {
  for (ns_i32 q = 0; q < n_queued; ++q) {
    const ns_u64 *t = queue_tab + (ns_i64)NS_QUEUE_FIELDS * q;
    const ns_i64 j = d - (ns_i64)t[3], n_seg = (ns_i64)t[4];
    if (j < 0 || j >= n_seg) continue;
    const ns_i64 *__restrict__ dptr = (const ns_i64 *)t[0];
    const ns_qsyn *__restrict__ syn = (const ns_qsyn *)t[1];
    const ns_i64 off = j * n_part + part, per_row = n_seg * n_part;
    for (ns_i64 s = 0; s < count; ++s) {
      const ns_i64 e = (ns_i64)list[s] * per_row + off;
      if (s + 2 < count) {               /* the segment two spikes on: start its reads */
        const ns_qsyn *next = syn + dptr[(ns_i64)list[s + 2] * per_row + off];
        __builtin_prefetch(next);
        __builtin_prefetch(next + 8);
        __builtin_prefetch(next + 16);
      }
      for (ns_i64 k = dptr[e], k_end = dptr[e + 1]; k < k_end; ++k) row[syn[k].col] += syn[k].w;
    }
  }
}

/* This thread's part: thread p of a grid of n_part threads; a grid of
 * another size runs every part on thread 0 (one part: the ring's every column). */
NS_DEVICE ns_i32 ns_queue_part(ns_i32 n_part, ns_i32 *first, ns_i32 *last) {
  const ns_i64 g = ns_global_index();
  if (ns_grid_stride() == (ns_i64)n_part) {
    *first = (ns_i32)g;
    *last = (ns_i32)g + 1;
  } else {
    *first = 0;
    *last = g == 0 ? n_part : 0;
  }
  return *last - *first;
}

NS_GLOBAL void propagate_queued(
    const ns_i64 *__restrict__ clk, const ns_i32 *__restrict__ spk,
    const ns_u64 *__restrict__ nspk, ns_i32 n_queued, const ns_u64 *__restrict__ queue_tab,
    ns_i32 n_part, ns_i32 lead, ns_i32 span, ns_i32 *__restrict__ hist,
    ns_i64 *__restrict__ hist_n, ns_i32 hist_len, ns_i64 hist_stride,
    ns_i64 *__restrict__ q_spikes, ns_real *__restrict__ ring, ns_i32 ring_width,
    ns_i32 n_slots) {
  if (ns_halted(clk)) return;
  const ns_i64 n = clk[0], n0 = n - clk[1];
  const ns_i64 count = (ns_i64)(nspk[clk[1]] >> NS_WORK_BITS);
  ns_i32 *__restrict__ keep = hist + (n % hist_len) * hist_stride;
  for (ns_i64 i = ns_share_lo_(count), hi = ns_share_hi_(count); i < hi; ++i) {
    const ns_i32 id = spk[i];
    keep[i] = id;
    ++q_spikes[id];                /* spikes per neuron, for NativeEngine._queue_balance */
  }
  if (ns_global_index() == 0) hist_n[n % hist_len] = count;
  ns_i32 first, last;
  if (!ns_queue_part(n_part, &first, &last)) return;
  const ns_i64 t = n + lead;
  ns_real *__restrict__ row = ring + (t % n_slots) * (ns_i64)ring_width;
  /* source steps t - d, d = lead + span - 1 .. lead: the oldest first */
  for (ns_i64 m = t - (lead + span - 1); m <= n; ++m) {
    if (m < n0) continue;
    const ns_i32 *list = m == n ? spk : hist + (m % hist_len) * hist_stride;
    const ns_i64 c = m == n ? count : hist_n[m % hist_len];
    for (ns_i32 p = first; p < last; ++p)
      ns_queue_segments(list, c, t - m, n_queued, queue_tab, n_part, p, row);
  }
}

/* After a chunk's last step: the queued events still pending (arrivals after
 * the last step n_end - 1 delivered, t = n_end - 1 + lead) into their ring
 * slots. The clock copy of the later step holds n_end and the chunk's steps. */
NS_GLOBAL void queue_flush(const ns_i64 *__restrict__ clock, ns_i32 n_queued,
                           const ns_u64 *__restrict__ queue_tab, ns_i32 n_part, ns_i32 lead,
                           ns_i32 span, const ns_i32 *__restrict__ hist,
                           const ns_i64 *__restrict__ hist_n, ns_i32 hist_len,
                           ns_i64 hist_stride, ns_real *__restrict__ ring, ns_i32 ring_width,
                           ns_i32 n_slots) {
  const ns_i64 *c = clock[0] >= clock[4] ? clock : clock + 4;
  const ns_i64 n_end = c[0], n0 = n_end - c[1];
  ns_i32 first, last;
  if (!ns_queue_part(n_part, &first, &last)) return;
  const ns_i64 d_max = lead + span - 1;
  for (ns_i64 m = n_end + lead - d_max; m < n_end; ++m) {   /* m + d >= n_end + lead */
    if (m < n0) continue;
    const ns_i32 *list = hist + (m % hist_len) * hist_stride;
    const ns_i64 count = hist_n[m % hist_len];
    for (ns_i64 d = n_end + lead - m; d <= d_max; ++d) {
      ns_real *__restrict__ row = ring + ((m + d) % n_slots) * (ns_i64)ring_width;
      for (ns_i32 p = first; p < last; ++p)
        ns_queue_segments(list, count, d, n_queued, queue_tab, n_part, p, row);
    }
  }
}

/*
 * One queued class's sorted copy (on the engine's threads, a share of the
 * rows each): for each row, its synapses stable-sorted by (delay - dmin,
 * part), part p the synapses whose column is in [bounds[p], bounds[p + 1]);
 * dptr[(row * n_seg + j) * n_part + p] the first of segment (j, p), and
 * dptr[n_rows * n_seg * n_part] the class's synapse count. kind: the delays'
 * type (NS_DELAY_U8: delays8, NS_DELAY_I16: delays16). count holds
 * n_seg * n_part words per thread of the grid (its scratch).
 */
NS_GLOBAL void queue_build(const ns_i64 *__restrict__ indptr, const ns_i32 *__restrict__ cols,
                           const ns_real *__restrict__ weights,
                           const ns_u8 *__restrict__ delays8,
                           const ns_i16 *__restrict__ delays16, ns_i32 kind, ns_i64 n_rows,
                           ns_i32 dmin, ns_i32 n_seg, ns_i32 n_part,
                           const ns_i32 *__restrict__ bounds, ns_i64 *__restrict__ dptr,
                           ns_u64 *__restrict__ dsyn, ns_i64 *__restrict__ count) {
  ns_qsyn *__restrict__ out = (ns_qsyn *)dsyn;
  const ns_i64 per = (ns_i64)n_seg * n_part;
  ns_i64 *__restrict__ cnt = count + ns_global_index() * per;
  const ns_i64 lo = ns_share_lo_(n_rows), hi = ns_share_hi_(n_rows);
  for (ns_i64 r = lo; r < hi; ++r) {
    const ns_i64 a = indptr[r], b = indptr[r + 1];
    for (ns_i64 i = 0; i < per; ++i) cnt[i] = 0;
    for (ns_i64 k = a; k < b; ++k) {
      const ns_i32 d = kind == NS_DELAY_U8 ? (ns_i32)delays8[k] : (ns_i32)delays16[k];
      ns_i32 p = 0;
      while (p + 1 < n_part && cols[k] >= bounds[p + 1]) ++p;
      ++cnt[(ns_i64)(d - dmin) * n_part + p];
    }
    ns_i64 pos = a;
    for (ns_i64 i = 0; i < per; ++i) {
      dptr[r * per + i] = pos;
      const ns_i64 c = cnt[i];
      cnt[i] = pos;
      pos += c;
    }
    for (ns_i64 k = a; k < b; ++k) {
      const ns_i32 d = kind == NS_DELAY_U8 ? (ns_i32)delays8[k] : (ns_i32)delays16[k];
      ns_i32 p = 0;
      while (p + 1 < n_part && cols[k] >= bounds[p + 1]) ++p;
      const ns_i64 to = cnt[(ns_i64)(d - dmin) * n_part + p]++;
      out[to].col = cols[k];
      out[to].w = weights[k];
    }
  }
  if (ns_global_index() == 0) dptr[n_rows * per] = indptr[n_rows];
}

/* The events a queued class has delivered per column (load, one row of
 * ring_width counts per thread of the grid, added to): each synapse of row r
 * counts the spikes of neuron r (q_spikes) once; NativeEngine._queue_balance
 * splits the columns into shares of equal load from their sum. */
NS_GLOBAL void queue_load(const ns_i64 *__restrict__ dptr, const ns_u64 *__restrict__ dsyn,
                          const ns_i64 *__restrict__ q_spikes, ns_i64 n_rows, ns_i32 n_seg,
                          ns_i32 n_part, ns_i32 ring_width, ns_i64 *__restrict__ load) {
  const ns_qsyn *__restrict__ syn = (const ns_qsyn *)dsyn;
  ns_i64 *__restrict__ mine = load + ns_global_index() * (ns_i64)ring_width;
  const ns_i64 per = (ns_i64)n_seg * n_part;
  for (ns_i64 r = ns_share_lo_(n_rows), hi = ns_share_hi_(n_rows); r < hi; ++r) {
    const ns_i64 q = q_spikes[r];
    if (!q) continue;
    for (ns_i64 k = dptr[r * per], k_end = dptr[(r + 1) * per]; k < k_end; ++k)
      mine[syn[k].col] += q;
  }
}
