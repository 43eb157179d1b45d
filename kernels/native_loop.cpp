/*
 * native_loop.cpp -- the plan runner of the native CPU backend: the CPU
 * counterpart of a CUDA graph (neurosim/backends/native.py, built once and
 * cached like the kernel modules; plain C++, not a kernel file).
 *
 * The CUDA engine's step is a fixed list of launches per clock parity
 * (CudaEngine.plan()). ns_run_plan replays them for steps n0 .. n1-1, with
 * no Python in between: on one thread, in a plain loop (each body runs its
 * blocks without OpenMP); on more, in one OpenMP parallel region, where
 * every thread calls each launch's body (which runs its share of the blocks,
 * see native_host.h), step after step, with a barrier after each launch
 * except those whose flags have NS_LAUNCH_NO_BARRIER (the plan marks a
 * launch so when the next one reads only what the same thread wrote, or
 * nothing of it). A launch with NS_LAUNCH_LAST_ARRIVER (and
 * NS_LAUNCH_SERIAL, which its body reads) runs on one thread only, the last
 * of the team to reach it (an atomic count of arrivals: it sees everything
 * the others wrote before), before the barrier after it: the native engine's
 * step end, so that the clock of the next step is written before the
 * step's last barrier and the step needs one barrier only. After each step
 * the runner reads the halt flag of the clock copy the step wrote
 * (clock[(m+1) % 2][2]) and, when stop_at_halt, returns there: every thread
 * reads it after the barrier that follows the launch that wrote it, before
 * any thread can reach the next write of that copy (two steps later), so
 * all threads leave together. After the last step, a barrier, then `post`
 * (n_post launches, each followed by a barrier) runs once: the native
 * engine merges its private delivery rings there.
 *
 * Returns the step after the last one run: n1, or m + 1 for a step m that
 * halted the clock.
 */
#include <stdint.h>
#include <omp.h>
#if defined(__x86_64__) || defined(__SSE2__)
#include <xmmintrin.h>
#define NS_LOOP_MXCSR 1
#else
#define NS_LOOP_MXCSR 0
#endif

typedef void (*ns_body_fn)(const unsigned *, const unsigned long long *);

#define NS_LAUNCH_NO_BARRIER 1u
#define NS_LAUNCH_LAST_ARRIVER 2u   /* run by the last thread to reach it, alone */
#define NS_LAUNCH_SERIAL 4u         /* its body runs every block (native_host.h) */

struct ns_launch {                  /* 64 bytes: see neurosim/backends/native.py */
  ns_body_fn fn;
  const unsigned long long *args;
  unsigned dims[6];
  unsigned flags;
  unsigned pad[5];
};
static_assert(sizeof(ns_launch) == 64, "ns_launch layout");

extern "C" __attribute__((visibility("default"))) long long ns_run_plan(
    const ns_launch *plan0, int n_plan0, const ns_launch *plan1, int n_plan1,
    const ns_launch *post, int n_post,
    long long n0, long long n1, const long long *clock, int threads, int stop_at_halt,
    int ftz) {
  long long reached = n1;
  unsigned long long arrived = 0;
  if (threads <= 1) {   /* no parallel region: its barriers would cost a futex call each */
#if NS_LOOP_MXCSR
    const unsigned int saved = _mm_getcsr();
    if (ftz) _mm_setcsr(saved | 0x8040u);
#endif
    for (long long m = n0; m < n1; ++m) {
      const ns_launch *plan = (m & 1) ? plan1 : plan0;
      const int count = (m & 1) ? n_plan1 : n_plan0;
      for (int k = 0; k < count; ++k) plan[k].fn(plan[k].dims, plan[k].args);
      if (stop_at_halt && clock[((m + 1) & 1) * 4 + 2]) {
        reached = m + 1;
        break;
      }
    }
    for (int k = 0; k < n_post; ++k) post[k].fn(post[k].dims, post[k].args);
#if NS_LOOP_MXCSR
    _mm_setcsr(saved);
#endif
    return reached;
  }
#pragma omp parallel num_threads(threads)
  {
#if NS_LOOP_MXCSR
    const unsigned int saved = _mm_getcsr();
    if (ftz) _mm_setcsr(saved | 0x8040u); /* FTZ | DAZ, as CuPy's -ftz=true */
#endif
    for (long long m = n0; m < n1; ++m) {
      const ns_launch *plan = (m & 1) ? plan1 : plan0;
      const int count = (m & 1) ? n_plan1 : n_plan0;
      for (int k = 0; k < count; ++k) {
        if (!(plan[k].flags & NS_LAUNCH_LAST_ARRIVER)) {
          plan[k].fn(plan[k].dims, plan[k].args);
        } else if (__atomic_add_fetch(&arrived, 1ULL, __ATOMIC_ACQ_REL) %
                       (unsigned long long)threads == 0ULL) {
          plan[k].fn(plan[k].dims, plan[k].args);
        }
        if (!(plan[k].flags & NS_LAUNCH_NO_BARRIER)) {
#pragma omp barrier
        }
      }
      if (stop_at_halt && __atomic_load_n(&clock[((m + 1) & 1) * 4 + 2], __ATOMIC_RELAXED)) {
#pragma omp single nowait
        reached = m + 1;
        break;
      }
    }
#pragma omp barrier
    for (int k = 0; k < n_post; ++k) {
      post[k].fn(post[k].dims, post[k].args);
#pragma omp barrier
    }
#if NS_LOOP_MXCSR
    _mm_setcsr(saved);
#endif
  }
  return reached;
}
