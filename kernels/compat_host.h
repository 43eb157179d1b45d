/*
 * compat_host.h -- build the CUDA kernel sources as plain C++ for the CPU.
 *
 * Included by common.cuh only when neither nvcc (__CUDACC__) nor NVRTC
 * (__CUDACC_RTC__) is compiling. Never include it directly from a kernel file.
 *
 * The host build (neurosim/backends/hostbuild.py) compiles a kernel file with
 * g++ and generates one launcher per kernel that loops over every block and
 * every thread of the grid, one after the other, on the calling CPU thread,
 * setting threadIdx/blockIdx/blockDim/gridDim before each call. So:
 *
 *   - __global__, __device__, __host__, __forceinline__, __restrict__,
 *     __launch_bounds__, __constant__ become their plain C++ equivalents;
 *   - threadIdx, blockIdx, blockDim, gridDim are thread_local variables that
 *     the launcher sets (ns_host_launch below); warpSize is 32;
 *   - atomicAdd/Sub/Exch/Max/Min/CAS/And/Or/Xor/Inc/Dec have CUDA's semantics
 *     (they return the old value). The test launcher is single-threaded, so
 *     plain read-modify-write is exact; built with OpenMP (the native CPU
 *     backend, whose launchers run blocks on several threads) they are real
 *     atomics (compare-and-swap loops) when a launch has more than one thread;
 *   - the fast-math intrinsics (__expf, __logf, __fdividef, __saturatef...)
 *     map to their exact libm counterparts: the GPU results differ in the last
 *     bits, so tests compare floating-point results within tolerances;
 *   - the launcher sets the SSE flush-to-zero and denormals-are-zero flags
 *     while kernels run (x86-64), to mimic CuPy's -ftz=true. (On the GPU,
 *     -ftz only affects float; on the host the flags affect double too.)
 *
 * What cannot run on the host is a compile error with a message, not a silent
 * difference: __syncthreads(), __shared__ memory, warp intrinsics
 * (__shfl*_sync, __ballot_sync, __any_sync, __all_sync, __activemask,
 * __syncwarp). A sequential launcher cannot make all the threads of a block
 * meet at a barrier. Keep kernels that need them few, wrap them in
 * `#if !NS_HOST ... #endif` (NS_HOST comes from common.cuh), and give each one
 * a simple twin without them that the host build can run and test.
 *
 * CUDA's min()/max() overloads exist for same-typed int, unsigned, long long,
 * unsigned long long, float and double arguments; mixed types are ambiguous
 * here (cast explicitly), as they may be on the GPU.
 */
#ifndef NS_COMPAT_HOST_H
#define NS_COMPAT_HOST_H

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#error "compat_host.h is for the host (g++) build only; include common.cuh instead"
#endif

#include <math.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#if defined(__x86_64__) || defined(__SSE2__)
#include <xmmintrin.h>
#include <pmmintrin.h>
#define NS_HOST_HAVE_MXCSR 1
#else
#define NS_HOST_HAVE_MXCSR 0
#endif

/* ---- qualifiers ------------------------------------------------------- */
#ifdef NS_HOST_KERNEL_SCAN
/* Used by hostbuild.py only: preprocess the file and find every kernel that
 * survives the #if's by this marker; the output is never compiled. */
#define __global__ __ns_kernel_marker__
#else
#define __global__ __attribute__((visibility("hidden")))
#endif
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __restrict__ __restrict
#define __constant__
#define __managed__
#define __launch_bounds__(...)

/* ---- unsupported features: compile errors with an explanation --------- */
#define NS_HOST_UNSUPPORTED_(what)                                             \
  ([]() {                                                                      \
    static_assert(sizeof(char) == 0,                                           \
                  what " cannot run in the host build: wrap this kernel in "   \
                       "#if !NS_HOST and give it a twin without it "           \
                       "(see kernels/compat_host.h)");                         \
    return 0;                                                                  \
  }())
#define __syncthreads() NS_HOST_UNSUPPORTED_("__syncthreads()")
#define __syncwarp(...) NS_HOST_UNSUPPORTED_("__syncwarp()")
#define __activemask() NS_HOST_UNSUPPORTED_("__activemask()")
#define __shfl_sync(...) NS_HOST_UNSUPPORTED_("__shfl_sync()")
#define __shfl_up_sync(...) NS_HOST_UNSUPPORTED_("__shfl_up_sync()")
#define __shfl_down_sync(...) NS_HOST_UNSUPPORTED_("__shfl_down_sync()")
#define __shfl_xor_sync(...) NS_HOST_UNSUPPORTED_("__shfl_xor_sync()")
#define __ballot_sync(...) NS_HOST_UNSUPPORTED_("__ballot_sync()")
#define __any_sync(...) NS_HOST_UNSUPPORTED_("__any_sync()")
#define __all_sync(...) NS_HOST_UNSUPPORTED_("__all_sync()")
#define __shared__                                                             \
  static_assert(sizeof(char) == 0,                                             \
                "__shared__ memory cannot be used in the host build: wrap "    \
                "this kernel in #if !NS_HOST and give it a twin without it "   \
                "(see kernels/compat_host.h)");

/* ---- built-in variables ----------------------------------------------- */
struct uint3 {
  unsigned int x, y, z;
};
struct dim3 {
  unsigned int x = 1, y = 1, z = 1;
};
static thread_local uint3 threadIdx;
static thread_local uint3 blockIdx;
static thread_local dim3 blockDim;
static thread_local dim3 gridDim;
static const int warpSize = 32;

/* ---- atomics (CUDA semantics: return the old value) ------------------- */
/* Plain read-modify-write in the sequential host build. Built with OpenMP
 * (the native CPU backend, neurosim/backends/native.py), they are real
 * atomics (relaxed, as CUDA's) whenever the launch runs on more than one
 * thread: ns_host_serial is set by the launcher of each launch. */
#ifdef _OPENMP
static thread_local bool ns_host_serial = true;
#endif
template <typename T, typename F>
static inline T ns_host_rmw_(T *address, F f) {
#ifdef _OPENMP
  if (!ns_host_serial) {
    T old, next;
    __atomic_load(address, &old, __ATOMIC_RELAXED);
    do {
      next = f(old);
    } while (!__atomic_compare_exchange(address, &old, &next, true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED));
    return old;
  }
#endif
  const T old = *address;
  *address = f(old);
  return old;
}
#define NS_HOST_ATOMIC_RMW_(name, T, expr)                                     \
  static inline T name(T *address, T val) {                                    \
    return ns_host_rmw_(address, [val](T old) -> T { return (expr); });        \
  }
#define NS_HOST_ATOMIC_ALL_INT_(name, expr)                                    \
  NS_HOST_ATOMIC_RMW_(name, int, expr)                                         \
  NS_HOST_ATOMIC_RMW_(name, unsigned int, expr)                                \
  NS_HOST_ATOMIC_RMW_(name, unsigned long long, expr)

NS_HOST_ATOMIC_ALL_INT_(atomicAdd, old + val)
NS_HOST_ATOMIC_RMW_(atomicAdd, float, old + val)
NS_HOST_ATOMIC_RMW_(atomicAdd, double, old + val)
NS_HOST_ATOMIC_RMW_(atomicSub, int, old - val)
NS_HOST_ATOMIC_RMW_(atomicSub, unsigned int, old - val)
NS_HOST_ATOMIC_ALL_INT_(atomicExch, val)
NS_HOST_ATOMIC_RMW_(atomicExch, float, val)
NS_HOST_ATOMIC_ALL_INT_(atomicMax, old > val ? old : val)
NS_HOST_ATOMIC_RMW_(atomicMax, long long, old > val ? old : val)
NS_HOST_ATOMIC_ALL_INT_(atomicMin, old < val ? old : val)
NS_HOST_ATOMIC_RMW_(atomicMin, long long, old < val ? old : val)
NS_HOST_ATOMIC_ALL_INT_(atomicAnd, old & val)
NS_HOST_ATOMIC_ALL_INT_(atomicOr, old | val)
NS_HOST_ATOMIC_ALL_INT_(atomicXor, old ^ val)
NS_HOST_ATOMIC_RMW_(atomicInc, unsigned int, old >= val ? 0u : old + 1u)
NS_HOST_ATOMIC_RMW_(atomicDec, unsigned int,
                    (old == 0u || old > val) ? val : old - 1u)
#undef NS_HOST_ATOMIC_ALL_INT_
#undef NS_HOST_ATOMIC_RMW_

#define NS_HOST_ATOMIC_CAS_(T)                                                 \
  static inline T atomicCAS(T *address, T compare, T val) {                    \
    return ns_host_rmw_(address,                                               \
                        [compare, val](T old) -> T { return old == compare ? val : old; }); \
  }
NS_HOST_ATOMIC_CAS_(int)
NS_HOST_ATOMIC_CAS_(unsigned int)
NS_HOST_ATOMIC_CAS_(unsigned long long)
#undef NS_HOST_ATOMIC_CAS_

#ifdef _OPENMP
static inline void __threadfence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void __threadfence_block(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
#else
static inline void __threadfence(void) {}
static inline void __threadfence_block(void) {}
#endif
template <typename T> static inline T __ldg(const T *p) { return *p; }

/* ---- math intrinsics -> exact libm ------------------------------------ */
/* glibc declares __expf, __logf... itself (as exact libm functions), so
 * these are macros, defined after <math.h>. */
#define __expf expf
#define __exp10f(x) powf(10.0f, (x))
#define __logf logf
#define __log2f log2f
#define __log10f log10f
#define __powf powf
#define __sinf sinf
#define __cosf cosf
#define __tanf tanf
#define __sincosf sincosf
static inline float __fdividef(float x, float y) { return x / y; }

#ifdef NS_HOST_NATIVE
/* exp(x) in float for the native CPU backend's ns_exp: plain arithmetic and
 * selects, so that g++ vectorises the loops that call it (glibc's expf is a
 * call) and every lane, vector or scalar, computes the same value. Cephes'
 * expf: x = n ln 2 + r, |r| <= ln 2 / 2, a degree-6 polynomial, 2^n in two
 * exact factors; within 1 ulp of exp over the normal range (glibc's expf is
 * within 0.5: the results differ in the last bit at times, as the GPU's
 * do); exp(NaN) = NaN, large x give inf, very negative x 0. Needs
 * -fno-trapping-math (native.native_flags) to vectorise. */
static inline float ns_native_expf(float x) {
  const float xc = x < -104.0f ? -104.0f : (x > 89.0f ? 89.0f : x);
  const float n = __builtin_floorf(xc * 1.44269504088896341f + 0.5f);
  const float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = (p * (r * r) + r) + 1.0f;
  const int ni = (int)n, h = ni >> 1;
  const float s1 = __builtin_bit_cast(float, (h + 127) << 23);
  const float s2 = __builtin_bit_cast(float, (ni - h + 127) << 23);
  const float y = (p * s1) * s2;
  return x != x ? x : y;
}
#endif
static inline float fdividef(float x, float y) { return x / y; }
static inline float __frcp_rn(float x) { return 1.0f / x; }
static inline float __fsqrt_rn(float x) { return sqrtf(x); }
static inline float __fadd_rn(float x, float y) { return x + y; }
static inline float __fsub_rn(float x, float y) { return x - y; }
static inline float __fmul_rn(float x, float y) { return x * y; }
static inline float __fdiv_rn(float x, float y) { return x / y; }
static inline float __fmaf_rn(float x, float y, float z) { return fmaf(x, y, z); }
static inline double __dadd_rn(double x, double y) { return x + y; }
static inline double __dmul_rn(double x, double y) { return x * y; }
static inline double __dsub_rn(double x, double y) { return x - y; }
static inline double __ddiv_rn(double x, double y) { return x / y; }
static inline double __fma_rn(double x, double y, double z) { return fma(x, y, z); }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
static inline float __saturatef(float x) {
  return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : (x == x ? x : 0.0f));
}

static inline int __float2int_rn(float x) { return (int)rintf(x); }
static inline int __float2int_rz(float x) { return (int)x; }
static inline int __float2int_rd(float x) { return (int)floorf(x); }
static inline int __float2int_ru(float x) { return (int)ceilf(x); }
static inline unsigned int __float2uint_rn(float x) { return (unsigned int)rintf(x); }
static inline unsigned int __float2uint_rz(float x) { return (unsigned int)x; }
static inline float __int2float_rn(int x) { return (float)x; }
static inline float __uint2float_rn(unsigned int x) { return (float)x; }
static inline int __float_as_int(float x) { int i; memcpy(&i, &x, 4); return i; }
static inline unsigned int __float_as_uint(float x) {
  unsigned int i; memcpy(&i, &x, 4); return i;
}
static inline float __int_as_float(int i) { float x; memcpy(&x, &i, 4); return x; }
static inline float __uint_as_float(unsigned int i) {
  float x; memcpy(&x, &i, 4); return x;
}
static inline long long __double_as_longlong(double x) {
  long long i; memcpy(&i, &x, 8); return i;
}
static inline double __longlong_as_double(long long i) {
  double x; memcpy(&x, &i, 8); return x;
}

/* ---- integer intrinsics ----------------------------------------------- */
static inline unsigned long long __umul64hi(unsigned long long a,
                                            unsigned long long b) {
  return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}
static inline long long __mul64hi(long long a, long long b) {
  return (long long)(((__int128)a * b) >> 64);
}
static inline unsigned int __umulhi(unsigned int a, unsigned int b) {
  return (unsigned int)(((unsigned long long)a * b) >> 32);
}
static inline int __mulhi(int a, int b) {
  return (int)(((long long)a * b) >> 32);
}
static inline int __mul24(int a, int b) {
  const int sa = (int)((unsigned int)a << 8) >> 8;
  const int sb = (int)((unsigned int)b << 8) >> 8;
  return (int)(unsigned int)((long long)sa * sb);
}
static inline unsigned int __umul24(unsigned int a, unsigned int b) {
  return (a & 0xFFFFFFu) * (b & 0xFFFFFFu);
}
static inline int __popc(unsigned int x) { return __builtin_popcount(x); }
static inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
static inline int __clzll(long long x) {
  return x == 0 ? 64 : __builtin_clzll((unsigned long long)x);
}
static inline int __ffs(int x) { return __builtin_ffs(x); }
static inline int __ffsll(long long x) { return __builtin_ffsll(x); }
static inline unsigned int __brev(unsigned int x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0F0F0F0Fu) | ((x & 0x0F0F0F0Fu) << 4);
  x = ((x >> 8) & 0x00FF00FFu) | ((x & 0x00FF00FFu) << 8);
  return (x >> 16) | (x << 16);
}

/* ---- CUDA's min/max overloads ----------------------------------------- */
#define NS_HOST_MINMAX_(T)                                                     \
  static inline T min(T a, T b) { return a < b ? a : b; }                      \
  static inline T max(T a, T b) { return a > b ? a : b; }
NS_HOST_MINMAX_(int)
NS_HOST_MINMAX_(unsigned int)
NS_HOST_MINMAX_(long long)
NS_HOST_MINMAX_(unsigned long long)
#undef NS_HOST_MINMAX_
static inline float min(float a, float b) { return fminf(a, b); }
static inline float max(float a, float b) { return fmaxf(a, b); }
static inline double min(double a, double b) { return fmin(a, b); }
static inline double max(double a, double b) { return fmax(a, b); }

/* ---- the launcher ----------------------------------------------------- */
/* Runs body() once per (block, thread) of the grid, setting the built-in
 * variables first. order_seed == 0: CUDA's natural order (blocks in x,y,z
 * order, threads in x,y,z order within each block). order_seed != 0: every
 * (block, thread) pair of the whole grid in a random permutation drawn from
 * that seed, to catch kernels that depend on thread order.
 * Returns 0, or 1 when a shuffled grid has 2**32 threads or more. */
namespace ns_host {

static inline unsigned long long splitmix64(unsigned long long *s) {
  unsigned long long z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

struct FlushDenormals {
#if NS_HOST_HAVE_MXCSR
  unsigned int saved;
  explicit FlushDenormals(bool on) : saved(_mm_getcsr()) {
    if (on) _mm_setcsr(saved | 0x8040u); /* FTZ | DAZ */
  }
  ~FlushDenormals() { _mm_setcsr(saved); }
#else
  explicit FlushDenormals(bool) {}
#endif
};

static inline void set_ids(unsigned long long linear_block,
                           unsigned long long linear_thread) {
  blockIdx.x = (unsigned)(linear_block % gridDim.x);
  blockIdx.y = (unsigned)((linear_block / gridDim.x) % gridDim.y);
  blockIdx.z = (unsigned)(linear_block / ((unsigned long long)gridDim.x * gridDim.y));
  threadIdx.x = (unsigned)(linear_thread % blockDim.x);
  threadIdx.y = (unsigned)((linear_thread / blockDim.x) % blockDim.y);
  threadIdx.z = (unsigned)(linear_thread / ((unsigned long long)blockDim.x * blockDim.y));
}

template <typename Body>
static int launch(unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                  unsigned by, unsigned bz, unsigned order_seed, int ftz,
                  Body body) {
  gridDim.x = gx; gridDim.y = gy; gridDim.z = gz;
  blockDim.x = bx; blockDim.y = by; blockDim.z = bz;
  const unsigned long long nblocks = (unsigned long long)gx * gy * gz;
  const unsigned long long nthreads = (unsigned long long)bx * by * bz;
  FlushDenormals flush(ftz != 0);
  if (order_seed == 0) {
    for (unsigned long long b = 0; b < nblocks; ++b)
      for (unsigned long long t = 0; t < nthreads; ++t) {
        set_ids(b, t);
        body();
      }
    return 0;
  }
  const unsigned long long total = nblocks * nthreads;
  if (total >= (1ULL << 32)) return 1;
  unsigned int *order = new unsigned int[total];
  for (unsigned long long i = 0; i < total; ++i) order[i] = (unsigned int)i;
  unsigned long long state = order_seed;
  for (unsigned long long i = total; i > 1; --i) { /* Fisher-Yates */
    unsigned long long j = splitmix64(&state) % i;
    unsigned int tmp = order[i - 1];
    order[i - 1] = order[j];
    order[j] = tmp;
  }
  for (unsigned long long i = 0; i < total; ++i) {
    set_ids(order[i] / nthreads, order[i] % nthreads);
    body();
  }
  delete[] order;
  return 0;
}

} /* namespace ns_host */

#endif /* NS_COMPAT_HOST_H */
