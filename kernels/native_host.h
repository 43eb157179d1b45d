/*
 * native_host.h -- launchers of the native CPU backend (neurosim/backends/native.py).
 *
 * Appended (with the generated launchers) to a kernel file compiled with g++
 * -O3 -fopenmp -DNS_HOST_NATIVE=1; never included by a kernel file. Per
 * kernel `k` the build generates:
 *
 *   static void nsb_k(const unsigned *dims, const ns_u64 *args)
 *       runs this OpenMP thread's share of the grid's blocks (contiguous
 *       block ranges, as OpenMP's static schedule splits them; natural
 *       thread order within a block; no barrier at the end: the caller
 *       places them). Called by every thread of a parallel region: the plan
 *       runner (native_loop.cpp) calls it for each launch of each step inside
 *       one region per chunk, with a barrier after each launch but those its
 *       plan marks as needing none;
 *   extern "C" void *nsbody_k(void)          the address of nsb_k;
 *   extern "C" int launch_k(grid, block, order_seed, ftz, args...)
 *       the host build's launcher signature (hostbuild.HostKernel calls it):
 *       packs the arguments and runs nsb_k in a parallel region of
 *       ns_native::threads threads (ns_native_set_threads), or on the
 *       calling thread when that is one.
 *
 * dims = {gx, gy, gz, bx, by, bz, flags} (flags: NS_NATIVE_SERIAL or 0); args = one 64-bit word per kernel
 * argument: a pointer's address, or a scalar's bytes at the start of the word.
 */
#ifndef NS_NATIVE_HOST_H
#define NS_NATIVE_HOST_H

#include <omp.h>

namespace ns_native {

static int threads = 1;

template <typename T> static inline T arg(ns_u64 word) {
  T value;
  memcpy(&value, &word, sizeof(T));
  return value;
}
template <typename T> static inline ns_u64 pack(T value) {
  ns_u64 word = 0;
  memcpy(&word, &value, sizeof(T));
  return word;
}
static inline ns_u64 pack_ptr(const void *p) { return (ns_u64)(uintptr_t)p; }

/* This thread's blocks of the grid, one after the other, every thread of a
 * block in natural order; no barrier at the end (a thread gets the same
 * blocks in every launch of the same grid, so a launch that only reads what
 * this thread's blocks of the previous launch wrote needs none). Outside a
 * parallel region, in a team of one thread, or with NS_NATIVE_SERIAL, every
 * block on this thread. */
/* Launch flag (dims[6], the plan's ns_launch.flags, native_loop.cpp): run
 * every block on the calling thread, as outside a parallel region (the plan
 * runner calls such a launch on one thread of the team). */
#define NS_NATIVE_SERIAL 4u

template <typename Body> static inline void blocks(const unsigned *d, Body body) {
  gridDim.x = d[0]; gridDim.y = d[1]; gridDim.z = d[2];
  blockDim.x = d[3]; blockDim.y = d[4]; blockDim.z = d[5];
  const int team = (d[6] & NS_NATIVE_SERIAL) ? 1 : omp_get_num_threads();
  const bool serial = team == 1;
  ns_host_serial = serial;
  const long long nblocks = (long long)d[0] * d[1] * d[2];
  const long long nthreads = (long long)d[3] * d[4] * d[5];
  const bool flat = d[1] == 1 && d[2] == 1 && d[4] == 1 && d[5] == 1;
  blockIdx.y = blockIdx.z = threadIdx.y = threadIdx.z = 0;
  auto run = [&](long long b) {
    for (long long t = 0; t < nthreads; ++t) {
      if (flat) {
        blockIdx.x = (unsigned)b;
        threadIdx.x = (unsigned)t;
      } else {
        ns_host::set_ids((unsigned long long)b, (unsigned long long)t);
      }
      body();
    }
  };
  /* this thread's contiguous range of blocks, as OpenMP's static schedule
   * gives it (the same in every launch of the same grid), computed here: no
   * worksharing construct, so no thread waits for another */
  const long long me = serial ? 0 : omp_get_thread_num();
  const long long per = nblocks / team, extra = nblocks % team;
  const long long b0 = me * per + (me < extra ? me : extra);
  const long long b1 = b0 + per + (me < extra ? 1 : 0);
  for (long long b = b0; b < b1; ++b) run(b);
}

typedef void (*body_fn)(const unsigned *, const ns_u64 *);

/* One launch from Python: a parallel region of `threads` threads (whose end
 * is the launch's barrier). */
static inline int launch(const unsigned *d, int ftz, body_fn fn, const ns_u64 *a) {
  if (threads <= 1) {
    ns_host::FlushDenormals flush(ftz != 0);
    fn(d, a);
    return 0;
  }
#pragma omp parallel num_threads(threads)
  {
    ns_host::FlushDenormals flush(ftz != 0);
    fn(d, a);
  }
  return 0;
}

} /* namespace ns_native */

extern "C" __attribute__((visibility("default"))) void ns_native_set_threads(int n) {
  ns_native::threads = n < 1 ? 1 : n;
}

#endif /* NS_NATIVE_HOST_H */
