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

/* NS_NATIVE: the native CPU backend's build (neurosim/backends/native.py),
 * whose neuron kernels run the two-pass loops of neuron_model.cu.j2. */
#if NS_HOST && defined(NS_HOST_NATIVE) && NS_HOST_NATIVE
#define NS_NATIVE 1
#else
#define NS_NATIVE 0
#endif

/* constant `name`, the `bit`-th constant parameter, for neuron i; in the
 * native loops, a loop whose constants are all uniform (constexpr
 * ns_uniform_) reads ns_u_<name>, its value read once before the loop (a
 * load left in the loop may be sunk into a branch, where it stops g++'s
 * vectoriser), and a loop whose constants are all per neuron (ns_all_)
 * reads [i] */
#if NS_NATIVE
#define NS_C(name, bit)                                                        \
  (ns_uniform_ ? ns_u_##name                                                   \
   : ns_all_   ? (name)[i]                                                     \
               : (name)[((per_neuron >> (bit)) & 1u) ? i : 0])
#else
#define NS_C(name, bit) ((name)[((per_neuron >> (bit)) & 1u) ? i : 0])
#endif

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

#if NS_NATIVE
/* Neurons per chunk of the native loops (a multiple of 64). */
#define NS_NATIVE_CHUNK 2048

/* Columns a .. b-1 of one drive: x += count(u) * w where count(u) > 0, u
 * from the Philox value at stream position pos, pos + 1... (one block per
 * four columns), count(u) the entries <= u of the drive's table (len
 * entries at cdf), in batches of NS_NATIVE_DRIVE_BATCH columns: the uniforms
 * first, then the counts table entry by table entry over the whole batch and
 * the additions (loops g++ vectorises). */
#define NS_NATIVE_DRIVE_BATCH 64
NS_DEVICE void ns_native_drive_columns(ns_real *__restrict__ in, ns_i64 a, ns_i64 b,
                                       ns_u64 pos, const ns_drives &d, ns_real w,
                                       const float *__restrict__ cdf, ns_i64 len) {
  alignas(64) float u[NS_NATIVE_DRIVE_BATCH];
  alignas(64) ns_i32 k[NS_NATIVE_DRIVE_BATCH];
  for (ns_i64 c0 = a; c0 < b; c0 += NS_NATIVE_DRIVE_BATCH) {
    const int nb = b - c0 < NS_NATIVE_DRIVE_BATCH ? (int)(b - c0) : NS_NATIVE_DRIVE_BATCH;
    for (int l = 0; l < nb;) {
      const ns_u64x4 r = ns_philox_block(d.key0, d.key1, pos >> 2);
      for (unsigned int lane = (unsigned int)(pos & 3ULL); lane < 4u && l < nb;
           ++lane, ++l, ++pos)
        u[l] = ns_uniform24(ns_u64x4_lane(r, lane));
    }
    for (int l = 0; l < nb; ++l) k[l] = 0;
    for (ns_i64 j = 0; j < len; ++j) {
      const float c = cdf[j];
      for (int l = 0; l < nb; ++l) k[l] += c <= u[l] ? 1 : 0;
    }
    ns_real *__restrict__ x = in + c0;
    for (int l = 0; l < nb; ++l) x[l] = k[l] ? x[l] + (ns_real)k[l] * w : x[l];
  }
}

/* The native loops add a chunk's drives into the ring before its update:
 * every column c * n_neurons + i (i in [lo, hi)) of an active channel c
 * becomes slot + drives, in drive order, the sum ns_take (below) forms: the
 * same Philox values, counts and additions, drive by drive, each drive's
 * table segment found once and each Philox block drawn once. */
NS_DEVICE void ns_native_drives(ns_real *__restrict__ in, ns_u32 flags, ns_i32 n_neurons,
                                ns_i64 lo, ns_i64 hi, const ns_drives &d) {
  for (ns_i32 m = 0; m < d.n; ++m) {
    const ns_i64 *t = d.tab + 5 * m;
    const ns_i64 first = t[0], c = first / n_neurons;
    if (!(flags & (NS_IN0 << c))) continue;
    const ns_i64 a = first > c * n_neurons + lo ? first : c * n_neurons + lo;
    const ns_i64 b = first + t[1] < c * n_neurons + hi ? first + t[1] : c * n_neurons + hi;
    if (a >= b) continue;
    ns_i64 start, len;
    ns_drive_cdf(d, t, start, len);
    const ns_u64 pos = d.position0 + (ns_u64)t[2] + (ns_u64)(a - first);
    ns_native_drive_columns(in, a, b, pos, d, d.w[m], d.cdf + start, len);
  }
}

/* Zero the 64-byte block of ev that holds byte len - 1, before the bytes
 * below len are written: ns_native_scan then reads whole blocks with zeros
 * from len on (one vector store, not a byte loop over the tail per launch). */
NS_DEVICE void ns_native_scan_tail(ns_u8 *__restrict__ ev, ns_i64 len) {
  if (len & 63) memset(ev + (len & ~(ns_i64)63), 0, 64);
}

/* Positions of the non-zero bytes of ev[0 .. len-1] into list, in order;
 * their count. Skips 64 zero bytes at a time (ev holds a multiple of 64
 * bytes, zero from len on: ns_native_scan_tail before they were written). */
NS_DEVICE ns_i32 ns_native_scan(const ns_u8 *__restrict__ ev, ns_i64 len,
                                ns_i32 *__restrict__ list) {
  ns_i32 count = 0;
  for (ns_i64 k = 0; k < len; k += 64) {
    ns_u64 w[8];
    memcpy(w, ev + k, 64);
    if (!((w[0] | w[1]) | (w[2] | w[3]) | (w[4] | w[5]) | (w[6] | w[7]))) continue;
    for (int j = 0; j < 8; ++j) {
      ns_u64 word = w[j];
      while (word) {
        const int bit = __builtin_ctzll(word) & ~7;
        list[count++] = (ns_i32)(k + 8 * j + (bit >> 3));
        word &= ~(0xffULL << bit);
      }
    }
  }
  return count;
}

/* Prefetch what ns_spike reads of each spiking neuron (its row length, and
 * its recording mask and rate slot when they are read): scattered loads that
 * would otherwise miss the cache one after the other. */
NS_DEVICE void ns_native_prefetch(const ns_spike_out &o, ns_i32 gid0, const ns_u8 *ev,
                                  const ns_i32 *list, ns_i32 count) {
  for (ns_i32 k = 0; k < count; ++k) {
    if (!(ev[list[k]] & 1u)) continue;
    const ns_i32 gid = gid0 + list[k];
    __builtin_prefetch(o.row_len + gid);
    if (o.rec_flags & NS_REC_SPIKES) __builtin_prefetch(o.rec_mask + gid);
    if (o.n_rate > 0) __builtin_prefetch(o.rate_slot + gid);
  }
}

/* Pass 2's spikes of a chunk (the neurons gid0 + list[k] whose event byte
 * has bit 0), in neuron order: what ns_spike does for each of them, with one
 * reservation of the whole chunk's slots and work (and one of its recorded
 * ids, and one count per run of spikes into the same rate slot) instead of
 * one atomic per spike. On one thread the same slots, offsets and records as
 * one ns_spike after the other; on several, a chunk's spikes take
 * consecutive slots, and the threads touch the shared counters once a chunk
 * (a cache line that no longer moves between cores at every spike).
 * Returns whether any event of the chunk is a non-finite flag (bit 1). */
NS_DEVICE bool ns_native_spikes(const ns_spike_out &o, ns_i32 gid0, const ns_u8 *ev,
                                const ns_i32 *list, ns_i32 count) {
  const bool recs = (o.rec_flags & NS_REC_SPIKES) != 0u;
  ns_u64 spikes = 0, work = 0;
  ns_i32 recorded = 0;
  ns_u8 any = 0;
  for (ns_i32 k = 0; k < count; ++k) {
    const ns_u8 e = ev[list[k]];
    any |= e;
    if (!(e & 1u)) continue;
    const ns_i32 gid = gid0 + list[k];
    ++spikes;
    work += (ns_u64)(ns_u32)o.row_len[gid];
    if (recs && o.rec_mask[gid]) ++recorded;
  }
  if (spikes) {
    const ns_u64 old = ns_reserve_spike(o.count, (spikes << NS_WORK_BITS) | work);
    ns_i64 slot = (ns_i64)(old >> NS_WORK_BITS), offset = (ns_i64)(old & NS_WORK_MASK);
    ns_i32 r = recorded ? atomicAdd(o.rec_total, recorded) : 0;
    ns_i32 rate = -1, rate_n = 0;
    for (ns_i32 k = 0; k < count; ++k) {
      if (!(ev[list[k]] & 1u)) continue;
      const ns_i32 gid = gid0 + list[k];
      o.spk[slot] = gid;
      o.spk_work[slot] = offset;
      ++slot;
      offset += (ns_i64)(ns_u32)o.row_len[gid];
      if (recs && o.rec_mask[gid]) o.rec_idx[r++] = gid;
      if (o.n_rate > 0) {
        const ns_i32 s = o.rate_slot[gid];
        if (s != rate) {
          if (rate >= 0 && rate_n) atomicAdd(o.rate_row + rate, rate_n);
          rate = s;
          rate_n = 0;
        }
        rate_n += s >= 0;
      }
    }
    if (rate >= 0 && rate_n) atomicAdd(o.rate_row + rate, rate_n);
  }
  return (any & 2u) != 0u;
}

/* The native loops' arrivals: the column read from p[k] (this chunk's
 * columns of the ring, the drives in) and cleared; the generated step adds
 * them (models/snippets.py ARRIVAL) where the channel is on and keeps x
 * where it is off (p then points to zeros). No branch: g++ vectorises it. */
NS_DEVICE ns_real ns_native_read(ns_real *__restrict__ p, ns_i64 k) {
  const ns_real in = p[k];
  p[k] = 0.0f;
  return in;
}

#endif /* NS_NATIVE */

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
