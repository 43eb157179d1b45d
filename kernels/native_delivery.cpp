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
