/*
 * common.cuh -- the small header every neurosim kernel file includes first.
 *
 * One source, three compilers:
 *   - NVRTC (CuPy's RawModule, __CUDACC_RTC__): no system headers exist, so
 *     this header includes none and defines the fixed-width types itself;
 *   - nvcc (__CUDACC__, used by the compile check): <stdint.h>;
 *   - g++ (neither; the host build in neurosim/backends/hostbuild.py):
 *     compat_host.h turns __global__, threadIdx, atomicAdd... into plain C++.
 * Kernel files include local headers with quotes only (#include "philox.cuh");
 * the loader (neurosim/backends/kernel_source.py) inlines them, so never write
 * #include <...> in a kernel file.
 *
 * Conventions for kernels (see docs/architecture.md):
 *   - declare kernels as  NS_GLOBAL void name(type arg, ...)  with the types
 *     below (ns_f32, ns_i32, ns_u64...) or plain float/int/unsigned
 *     long long; the host launcher parses these signatures and checks the
 *     numpy argument types strictly (pointer -> C-contiguous array of the same
 *     dtype, scalar -> numpy scalar of the same type);
 *   - prefer ns_u64 (unsigned long long, the type CUDA's 64-bit atomics take)
 *     to uint64_t, which is `unsigned long` on Linux;
 *   - loop with NS_GRID_STRIDE_LOOP(i, n) so any launch size is correct;
 *   - ns_real state, weights and delivered input (float, or double in a module
 *     compiled with -DNS_DOUBLE=1), int32 indices; precompute transcendental
 *     constants on the host (CuPy compiles with -ftz=true and contracts FMAs).
 *
 * NS_HOST is 1 in the host build and 0 on the GPU: wrap kernels that need
 * __shared__/__syncthreads()/warp intrinsics in #if !NS_HOST.
 */
#ifndef NS_COMMON_CUH
#define NS_COMMON_CUH

#if defined(__CUDACC_RTC__)
/* NVRTC: no headers at all; LP64 on Linux, like the host compilers. */
#define NS_HOST 0
typedef signed char int8_t;
typedef unsigned char uint8_t;
typedef short int16_t;
typedef unsigned short uint16_t;
typedef int int32_t;
typedef unsigned int uint32_t;
#if defined(__LP64__)
typedef long int64_t;
typedef unsigned long uint64_t;
#else
typedef long long int64_t;
typedef unsigned long long uint64_t;
#endif
#elif defined(__CUDACC__)
#define NS_HOST 0
#include <stdint.h>
#else
#define NS_HOST 1
#include "compat_host.h"
#endif

/* Fixed-width names used by neurosim kernels, identical on every compiler. */
typedef float ns_f32;
typedef double ns_f64;
typedef signed char ns_i8;
typedef unsigned char ns_u8;
typedef short ns_i16;
typedef unsigned short ns_u16;
typedef int ns_i32;
typedef unsigned int ns_u32;
typedef long long ns_i64;
typedef unsigned long long ns_u64;

/* The floating type of state, weights and delivered input: float by default,
 * double in a module compiled with -DNS_DOUBLE=1 (Network(precision="double")).
 * New kernel code writes ns_real wherever a value follows the network's
 * precision, and float/ns_f32 only where it is float32 whatever the precision. */
#if defined(NS_DOUBLE) && NS_DOUBLE
typedef double ns_real;
#else
typedef float ns_real;
#endif

/* Math and rounding on ns_real: the float functions (expf, __fmul_rn...) in a
 * float module, exactly the code of a kernel written with them, and the double
 * ones in a double module. NS_LIT(1.1f, 1.1): a literal that is not exact in
 * float, written in both precisions (exact literals such as 0.5f need none). */
#if defined(NS_DOUBLE) && NS_DOUBLE
#define ns_exp(x) exp(x)
#define ns_expm1(x) expm1(x)
#define ns_log(x) log(x)
#define ns_sqrt(x) sqrt(x)
#define ns_fabs(x) fabs(x)
#define ns_fmin(a, b) fmin(a, b)
#define ns_fmax(a, b) fmax(a, b)
#define ns_add_rn(a, b) __dadd_rn(a, b)
#define ns_sub_rn(a, b) __dsub_rn(a, b)
#define ns_mul_rn(a, b) __dmul_rn(a, b)
#define ns_div_rn(a, b) __ddiv_rn(a, b)
#define NS_LIT(f, d) (d)
#else
#if NS_HOST && defined(NS_HOST_NATIVE) && NS_HOST_NATIVE
/* the native CPU backend: an expf g++ vectorises (compat_host.h) */
#define ns_exp(x) ns_native_expf(x)
#else
#define ns_exp(x) expf(x)
#endif
#define ns_expm1(x) expm1f(x)
#define ns_log(x) logf(x)
#define ns_sqrt(x) sqrtf(x)
#define ns_fabs(x) fabsf(x)
#define ns_fmin(a, b) fminf(a, b)
#define ns_fmax(a, b) fmaxf(a, b)
#define ns_add_rn(a, b) __fadd_rn(a, b)
#define ns_sub_rn(a, b) __fsub_rn(a, b)
#define ns_mul_rn(a, b) __fmul_rn(a, b)
#define ns_div_rn(a, b) __fdiv_rn(a, b)
#define NS_LIT(f, d) (f)
#endif

static_assert(sizeof(ns_i16) == 2 && sizeof(ns_i32) == 4, "int sizes");
static_assert(sizeof(ns_i64) == 8 && sizeof(ns_u64) == 8, "64-bit sizes");
static_assert(sizeof(int64_t) == 8 && sizeof(uint64_t) == 8, "stdint sizes");

/* A kernel: C linkage, so CuPy's get_function finds it by its plain name. */
#define NS_GLOBAL extern "C" __global__
/* A small device helper, always inlined. */
#define NS_DEVICE __device__ __forceinline__

/* Index of this thread in the whole (1-D) grid, and the grid's thread count.
 * 64-bit, so grids of more than 2**31 threads index correctly. */
NS_DEVICE ns_i64 ns_global_index() {
  return (ns_i64)blockIdx.x * (ns_i64)blockDim.x + (ns_i64)threadIdx.x;
}
NS_DEVICE ns_i64 ns_grid_stride() {
  return (ns_i64)gridDim.x * (ns_i64)blockDim.x;
}

/* for (i = global index; i < n; i += grid stride): correct for any launch
 * size, fastest with about n threads. `i` is an ns_i64. */
#if NS_HOST && defined(NS_HOST_NATIVE) && NS_HOST_NATIVE
/* The native CPU backend (neurosim/backends/native.py) runs a few threads,
 * each over a contiguous block range: thread g takes the g-th contiguous
 * share of 0 .. n-1 instead of every grid-stride-th item, so each CPU thread
 * walks consecutive memory (one tight, vectorisable loop when the grid has
 * one thread per CPU thread). The same items, each exactly once. */
NS_DEVICE ns_i64 ns_share_lo_(ns_i64 n) {
  const ns_i64 g = ns_grid_stride(), per = (n + g - 1) / g, lo = ns_global_index() * per;
  return lo < n ? lo : n;
}
NS_DEVICE ns_i64 ns_share_hi_(ns_i64 n) {
  const ns_i64 g = ns_grid_stride(), per = (n + g - 1) / g, hi = (ns_global_index() + 1) * per;
  return hi < n ? hi : n;
}
#define NS_GRID_STRIDE_LOOP(i, n)                                              \
  for (ns_i64 i = ns_share_lo_((ns_i64)(n)), i##_end_ = ns_share_hi_((ns_i64)(n)); \
       i < i##_end_; ++i)
#else
#define NS_GRID_STRIDE_LOOP(i, n)                                              \
  for (ns_i64 i = ns_global_index(); i < (ns_i64)(n); i += ns_grid_stride())
#endif

/* Reserve one slot of a list whose length is *count: returns its index. On the
 * GPU the threads of a warp that call it together share one atomicAdd
 * (warp-aggregated: thousands of spikes a step on one counter would otherwise
 * serialise); the host build, which runs threads one by one, adds 1.
 */
NS_DEVICE ns_i32 ns_reserve(ns_i32 *count) {
#if NS_HOST
  return atomicAdd(count, 1);
#else
  const unsigned int active = __activemask();
  unsigned int lane_below;
  asm("mov.u32 %0, %%lanemask_lt;" : "=r"(lane_below));
  const int leader = __ffs(active) - 1;
  ns_i32 base = 0;
  if ((active & lane_below) == 0u) base = atomicAdd(count, __popc(active));
  base = __shfl_sync(active, base, leader);
  return base + __popc(active & lane_below);
#endif
}

#endif /* NS_COMMON_CUH */
