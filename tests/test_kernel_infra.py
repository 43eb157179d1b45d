"""Kernel source loader and host build: finding files, inlining, #line
directives, the CPU launcher, CuPy-compatible calls with strict type checks."""

from __future__ import annotations

import re
import textwrap

import numpy as np
import pytest

from neurosim.backends import hostbuild
from neurosim.backends.hostbuild import HostBuildError, HostModule
from neurosim.backends.kernel_source import (
    KernelSourceError,
    inline_includes,
    kernel_names,
    kernels_dir,
    list_kernel_files,
    load_source,
)

needs_gxx = pytest.mark.skipif(not hostbuild.is_available(), reason="g++ not found")

# --------------------------------------------------------------------------- loader


def test_kernels_dir_and_files():
    folder = kernels_dir()
    assert (folder / "common.cuh").is_file() and (folder / "compat_host.h").is_file()
    names = [p.name for p in list_kernel_files()]
    assert "random.cu" in names and all(n.endswith(".cu") for n in names)
    with pytest.raises(KernelSourceError, match="no_such.cu"):
        load_source("no_such.cu")


def test_load_source_inlines_headers_once_with_line_directives():
    src = load_source("random.cu")
    folder = kernels_dir().resolve()
    assert src.startswith(f'#line 1 "{folder / "random.cu"}"\n')
    assert not re.search(r'^\s*#\s*include\s*"', src, re.M)
    assert src.count("#define NS_COMMON_CUH") == 1 and src.count("#define NS_PHILOX_CUH") == 1
    assert src.count("#define NS_COMPAT_HOST_H") == 1
    for header in ("philox.cuh", "common.cuh", "compat_host.h"):
        assert f'#line 1 "{folder / header}"' in src
    # after philox.cuh, numbering resumes on the line after random.cu's #include
    lines = (folder / "random.cu").read_text().splitlines()
    include_line = next(i for i, l in enumerate(lines, 1) if '#include "philox.cuh"' in l)
    assert f'#line {include_line + 1} "{folder / "random.cu"}"' in src


@pytest.fixture()
def header_tree(tmp_path):
    (tmp_path / "top.cu").write_text('// top\n#include "a.cuh"\n#include "a.cuh"\nint top;\n')
    (tmp_path / "a.cuh").write_text('#pragma once\n#include "sub/b.cuh"\nint a;\n')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.cuh").write_text("int b;\n")
    return tmp_path


def test_load_source_from_any_path_and_nested_headers(header_tree):
    src = load_source(header_tree / "top.cu")
    assert src.index("int b;") < src.index("int a;") < src.index("int top;")
    assert src.count("int a;") == 1 and "already inlined" in src
    assert f'#line 1 "{header_tree / "sub" / "b.cuh"}"' in src
    assert f'#line 3 "{header_tree / "a.cuh"}"' in src
    assert f'#line 3 "{header_tree / "top.cu"}"' in src


def test_inline_includes_for_code_strings():
    code = 'int before;\n#include "philox.cuh"\nint after;\n'
    src = inline_includes(code, "<test>")
    assert src.startswith('#line 1 "<test>"\nint before;\n')
    assert "#define NS_PHILOX_CUH" in src and "#define NS_COMMON_CUH" in src
    assert '#line 3 "<test>"\nint after;' in src
    assert inline_includes(load_source("random.cu")) == load_source("random.cu")


def test_load_source_include_errors(tmp_path):
    (tmp_path / "x.cu").write_text('#include "y.cuh"\n')
    (tmp_path / "y.cuh").write_text('#include "x.cu"\n')
    with pytest.raises(KernelSourceError, match="include cycle"):
        load_source(tmp_path / "x.cu")
    (tmp_path / "m.cu").write_text('\n#include "missing.cuh"\n')
    with pytest.raises(KernelSourceError, match=r'm.cu: #include "missing.cuh" not found'):
        load_source(tmp_path / "m.cu")


def test_kernel_names_parses_signatures():
    source = textwrap.dedent("""
        // NS_GLOBAL void commented_out(int x)
        /* extern "C" __global__ void also_commented(int) */
        NS_GLOBAL void add(const float* __restrict__ a, float *out, ns_i32 n) {}
        extern "C" __global__ void
        __launch_bounds__(256) tuned(unsigned long long, const ns_u64 *keys,
                                     unsigned int n) {}
        extern "C" __global__ void noargs(void) {}
        __device__ void helper(int x) {}
    """)
    assert kernel_names(source) == [
        ("add", [("const float* __restrict__", "a"), ("float *", "out"), ("ns_i32", "n")]),
        ("tuned", [("unsigned long long", "arg0"), ("const ns_u64 *", "keys"),
                   ("unsigned int", "n")]),
        ("noargs", []),
    ]


# --------------------------------------------------------------------------- host build

TEST_KERNELS = r"""
#include "common.cuh"

/* out[i] = a[i] + b[i]; *total += a[i] (atomically) */
NS_GLOBAL void vector_add(const float *__restrict__ a, const float *__restrict__ b,
                          float *__restrict__ out, float *__restrict__ total, ns_i32 n) {
  NS_GRID_STRIDE_LOOP(i, n) {
    out[i] = a[i] + b[i];
    atomicAdd(total, a[i]);
  }
}

/* olds[i] = atomicAdd(counter, 1): the arrival order of the threads */
NS_GLOBAL void arrival_order(int *counter, int *olds, int n) {
  const ns_i64 i = ns_global_index();
  if (i < n) olds[i] = atomicAdd(counter, 1);
}

/* every thread writes its coordinates into its own slot */
NS_GLOBAL void thread_ids(ns_u32 *ids) {
  const unsigned bx = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned tx = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const unsigned slot = bx * (blockDim.x * blockDim.y * blockDim.z) + tx;
  ids[4 * slot + 0] = bx;
  ids[4 * slot + 1] = tx;
  ids[4 * slot + 2] = gridDim.x * gridDim.y * gridDim.z;
  ids[4 * slot + 3] = blockDim.x * blockDim.y * blockDim.z;
}

/* CUDA semantics of the compat layer, one result per slot */
NS_GLOBAL void compat_semantics(ns_u64 *u64s, int *ints, float *floats, float x,
                                ns_u64 a, ns_u64 b) {
  if (ns_global_index() != 0) return;
  u64s[0] = __umul64hi(a, b);
  u64s[1] = atomicAdd((unsigned long long *)&u64s[2], 5ULL);  /* old value */
  ints[0] = atomicMax(&ints[1], 7);                            /* ints[1]: 3 -> 7 */
  ints[2] = atomicMin(&ints[3], -2);                           /* ints[3]: 4 -> -2 */
  ints[4] = atomicExch(&ints[5], 11);                          /* ints[5]: 9 -> 11 */
  ints[6] = atomicCAS(&ints[7], 1, 8);                         /* ints[7]: 1 -> 8 */
  ints[8] = min(3, -4) + max(3, -4);
  floats[0] = atomicAdd(&floats[1], 0.5f);                     /* floats[1]: 2 -> 2.5 */
  floats[2] = x * 0.5f;                                        /* denormal unless ftz */
  floats[3] = __expf(x) + __fdividef(1.0f, 4.0f) + __saturatef(-3.0f) + rsqrtf(4.0f);
}

#if !NS_HOST
NS_GLOBAL void gpu_only(float *x) { __shared__ float s[32]; s[threadIdx.x] = 0; __syncthreads(); }
#endif

NS_GLOBAL void takes_void_pointer(void *p) {}
"""


@pytest.fixture(scope="module")
def module():
    if not hostbuild.is_available():
        pytest.skip("g++ not found")
    return HostModule(code=TEST_KERNELS)  # built once, then from the on-disk cache


@pytest.fixture(scope="module")
def shuffled():
    if not hostbuild.is_available():
        pytest.skip("g++ not found")
    return HostModule(code=TEST_KERNELS, shuffle=True)


def add_args(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.integers(-100, 100, n).astype(np.float32) / 4  # sums are exact in float32
    b = rng.random(n, dtype=np.float32)
    return a, b, np.zeros(n, np.float32), np.zeros(1, np.float32), np.int32(n)


def test_vector_add_with_atomics(module, shuffled):
    a, b, out, total, n = add_args()
    module.get_function("vector_add")((4,), (128,), (a, b, out, total, n))
    assert np.array_equal(out, a + b) and total[0] == a.sum()
    out2, total2 = np.zeros_like(out), np.zeros_like(total)
    shuffled.get_function("vector_add")((3,), (64,), (a, b, out2, total2, n))
    assert np.array_equal(out2, out) and total2[0] == total[0]


def test_shuffled_order_is_a_permutation(module, shuffled):
    n = 600
    for mod, natural in ((module, True), (shuffled, False)):
        counter, olds = np.zeros(1, np.int32), np.full(n, -1, np.int32)
        mod.get_function("arrival_order")((5,), (128,), (counter, olds, np.int32(n)))
        assert counter[0] == n and np.array_equal(np.sort(olds), np.arange(n))
        assert np.array_equal(olds, np.arange(n)) == natural
    # each call of a shuffled kernel draws a new order
    kernel = shuffled.get_function("arrival_order")
    orders = []
    for _ in range(2):
        counter, olds = np.zeros(1, np.int32), np.full(n, -1, np.int32)
        kernel((5,), (128,), (counter, olds, np.int32(n)))
        orders.append(olds)
    assert not np.array_equal(*orders)


@pytest.mark.parametrize("grid,block", [((2, 3), (4, 2)), ((3, 1, 2), (2, 2, 2)), ((5,), (7,))])
def test_multidimensional_grids(module, shuffled, grid, block):
    nb, nt = int(np.prod(grid)), int(np.prod(block))
    for mod in (module, shuffled):
        ids = np.zeros((nb * nt, 4), np.uint32)
        mod.get_function("thread_ids")(grid, block, (ids,))
        expected = np.stack([np.repeat(np.arange(nb), nt), np.tile(np.arange(nt), nb),
                             np.full(nb * nt, nb), np.full(nb * nt, nt)], axis=1)
        assert np.array_equal(ids, expected)


def test_zero_dimensions_run_one_block_like_cupy(module):
    ids = np.zeros((1, 4), np.uint32)
    module.get_function("thread_ids")((0,), (0, 0), (ids,))
    assert list(ids[0]) == [0, 0, 1, 1]


def compat_args(x):
    u64s = np.array([0, 0, 40, 0], np.uint64)
    ints = np.array([0, 3, 0, 4, 0, 9, 0, 1, 0], np.int32)
    floats = np.array([0, 2, 0, 0], np.float32)
    return (u64s, ints, floats, np.float32(x), np.uint64(2**63 + 5), np.uint64(2**40 + 3))


def test_compat_layer_semantics(module):
    tiny = np.finfo(np.float32).tiny
    u64s, ints, floats, *rest = args = compat_args(tiny)
    module.get_function("compat_semantics")((1,), (32,), args)
    assert int(u64s[0]) == ((2**63 + 5) * (2**40 + 3)) >> 64
    assert list(u64s[1:3]) == [40, 45]
    assert list(ints) == [3, 7, 4, -2, 9, 11, 1, 8, -1]
    assert list(floats[:2]) == [2.0, 2.5]
    assert floats[2] == 0.0  # flushed to zero, as CuPy's -ftz=true does on the GPU
    assert floats[3] == pytest.approx(np.exp(np.float32(tiny)) + 0.25 + 0.0 + 0.5)


def test_ftz_can_be_turned_off(module):
    tiny = np.finfo(np.float32).tiny
    args = compat_args(tiny)
    HostModule(code=TEST_KERNELS, ftz=False).get_function("compat_semantics")((1,), (1,), args)
    assert args[2][2] == np.float32(tiny) * np.float32(0.5) != 0.0


def test_kernels_behind_not_ns_host_and_unsupported_types(module):
    assert "gpu_only" not in module.kernels
    with pytest.raises(LookupError, match="gpu_only"):
        module.get_function("gpu_only")
    with pytest.raises(HostBuildError, match="takes_void_pointer.*'p'.*void"):
        module.get_function("takes_void_pointer")


# --------------------------------------------------------------------------- strict argument checks


@pytest.mark.parametrize("index,value,error,pattern", [
    (4, 1000, TypeError, r"argument 4 'n' \(ns_i32\).*numpy int32 scalar.*Python int.*int64"),
    (4, np.int64(1000), TypeError, r"argument 4 'n'.*int32 scalar.*numpy int64 scalar"),
    (4, np.array(1000, np.int32), TypeError, r"argument 4 'n'.*numpy.ndarray"),
    (0, np.zeros(1000, np.float64), TypeError,
     r"argument 0 'a' \(const float \*__restrict__\).*float32.*dtype float64"),
    (0, np.zeros(2000, np.float32)[::2], ValueError, r"argument 0 'a'.*C-contiguous"),
    (0, [0.0] * 1000, TypeError, r"argument 0 'a'.*numpy array.*builtins.list"),
    (2, np.zeros((10, 100), np.float32, order="F"), ValueError,
     r"argument 2 'out'.*C-contiguous"),
    (3, np.frombuffer(bytes(4), np.float32), ValueError, r"argument 3 'total'.*read-only"),
])
def test_strict_argument_checks(module, index, value, error, pattern):
    args = list(add_args())
    args[index] = value
    with pytest.raises(error, match=pattern) as info:
        module.get_function("vector_add")((1,), (32,), tuple(args))
    assert "vector_add()" in str(info.value)


def test_scalar_float_and_bool_checks(module):
    args = list(compat_args(1.0))
    kernel = module.get_function("compat_semantics")
    for bad, pattern in ((1.0, r"'x' \(float\).*float32.*Python float.*float64"),
                         (np.float64(1.0), r"'x'.*numpy float64 scalar"),
                         (True, r"'x'.*Python bool")):
        args[3] = bad
        with pytest.raises(TypeError, match=pattern):
            kernel((1,), (1,), tuple(args))


def test_read_only_array_is_fine_for_const_pointers(module):
    a, b, out, total, n = add_args()
    a.flags.writeable = False
    module.get_function("vector_add")((1,), (64,), (a, b, out, total, n))
    assert np.array_equal(out, a + b)


def test_call_signature_checks(module):
    kernel = module.get_function("vector_add")
    args = add_args()
    with pytest.raises(TypeError, match=r"vector_add\(.*\) takes 5 arguments, got 4"):
        kernel((1,), (32,), args[:4])
    with pytest.raises(TypeError, match="grid must be a tuple"):
        kernel([1], (32,), args)
    with pytest.raises(TypeError, match="grid must be a tuple"):
        kernel(1, (32,), args)
    with pytest.raises(ValueError, match="block .* exceeds"):
        kernel((1,), (2048,), args)
    with pytest.raises(ValueError, match="shared_mem"):
        kernel((1,), (32,), args, shared_mem=128)
    with pytest.raises(TypeError):
        kernel((1,), (32,), args, 0)  # shared_mem is keyword-only, as in CuPy
    with pytest.raises(LookupError, match="no kernel 'nope'"):
        module.get_function("nope")


# --------------------------------------------------------------------------- build errors, cache


@needs_gxx
def test_unsupported_features_are_compile_errors(tmp_path):
    bad = tmp_path / "sync.cu"
    bad.write_text('#include "common.cuh"\nNS_GLOBAL void k(float *x) {\n'
                   "  x[0] = 1;\n  __syncthreads();\n}\n")
    with pytest.raises(HostBuildError, match=r"__syncthreads\(\) cannot run in the host build"):
        HostModule(bad)


@needs_gxx
def test_compile_errors_point_at_the_real_file_and_line(tmp_path):
    (tmp_path / "broken.cuh").write_text("// a header\n\nNS_DEVICE int f() { return undefined_name; }\n")
    (tmp_path / "uses.cu").write_text('#include "common.cuh"\n#include "broken.cuh"\n'
                                      "NS_GLOBAL void k(int *x) { x[0] = f(); }\n")
    with pytest.raises(HostBuildError) as info:
        HostModule(tmp_path / "uses.cu")
    assert f"{tmp_path / 'broken.cuh'}:3" in str(info.value)
    assert "undefined_name" in str(info.value)


@needs_gxx
def test_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROSIM_HOSTBUILD_CACHE", str(tmp_path / "cache"))
    assert hostbuild.cache_dir() == tmp_path / "cache"
    src = '#include "common.cuh"\nNS_GLOBAL void one(int *x) { x[0] = 1; }\n'
    mod = HostModule(code=src)
    assert mod.path.parent == tmp_path / "cache" and mod.path.suffix == ".so"
    assert HostModule(code=src).path == mod.path  # second build is a cache hit
    x = np.zeros(1, np.int32)
    mod.get_function("one")((1,), (1,), (x,))
    assert x[0] == 1


@needs_gxx
def test_macro_options_reach_the_host_build():
    src = ('#include "common.cuh"\n'
           "NS_GLOBAL void value(int *x) { x[0] = NS_TEST_VALUE; }\n")
    x = np.zeros(1, np.int32)
    mod = HostModule(code=src, options=("--std=c++17", "-DNS_TEST_VALUE=42"))
    mod.get_function("value")((1,), (1,), (x,))
    assert x[0] == 42


def test_missing_gxx_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(hostbuild.shutil, "which", lambda name: None)
    hostbuild._compiler_id.cache_clear()
    try:
        assert not hostbuild.is_available()
        with pytest.raises(HostBuildError, match="needs g\\+\\+"):
            HostModule(code='#include "common.cuh"\n')
    finally:
        monkeypatch.undo()
        hostbuild._compiler_id.cache_clear()
