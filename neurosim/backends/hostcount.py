"""Count what a CUDA step costs without a GPU: launches, and bytes each kernel reads and writes.

The host build (:mod:`neurosim.backends.hostbuild`) runs the kernel sources of ``kernels/`` on
the CPU. With counting on, it compiles them with g++'s ThreadSanitizer instrumentation
(``-fsanitize=thread``) but links none of ThreadSanitizer's runtime: every load and store the
compiled kernel code makes then calls ``__tsan_read<N>`` / ``__tsan_write<N>``, and the small
runtime of this module (``libnscount``, built once and loaded before any counting module, so
the modules' calls resolve to it) implements those as counters.

Before each launch, :class:`~neurosim.backends.hostbuild.HostKernel` registers the address
range of every array argument; a load inside one adds its size to that argument's bytes read,
a store to its bytes written, and the launch adds one to the kernel's launch count. Arrays that
kernels reach through a table of addresses instead of as arguments (the synapse classes of
``kernels/propagate.cu``) are registered too, under the name the engine gives them
(:func:`note_indirect`, called by the CUDA engine when it writes such a table). Accesses to
anything else (the launcher's own variables, ``threadIdx``) are not counted, and an array
registered twice is counted under its first name. Two figures per array and launch:

* **accessed** bytes: every load and store, as the compiled code (``-O2``) makes them — a value
  kept in a register is read once, an atomic read-modify-write (``compat_host.h``) is a read and a
  write, a constant that every thread reads counts once per thread;
* **distinct** bytes: the bytes of the array that the launch read (wrote) at least once, kept
  in a bitmap per array — the traffic a GPU has when each byte comes from memory once per
  launch and repeated reads hit the cache (a GPU moves whole 32-byte sectors, so scattered
  accesses cost it more).

Both are properties of the kernels' code and the network, not of this machine.

Use::

    with hostcount.counting() as tally:       # modules built from here on count
        net = make_network(device="cuda:host")
        net.run(100.0)                       # warm up (counted, then dropped)
        tally.reset()
        net.run(10.0)
        tally.kernels()   # {kernel: {"launches": n, "read": {arg: bytes}, "write": ...,
                          #           "read_distinct": ..., "write_distinct": ...}}

Counting needs g++ with ``-fsanitize=thread`` (GCC >= 4.8 on x86-64/aarch64);
:func:`is_available` says whether it works here.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import subprocess
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["counting", "is_available", "Tally", "active_tally", "runtime"]

#: The counting runtime: ThreadSanitizer's entry points as counters over registered ranges.
RUNTIME_SOURCE = r"""
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#define NSC_EXPORT extern "C" __attribute__((visibility("default")))
static int g_n = 0;
static const uint64_t *g_lo = 0, *g_hi = 0;
static uint64_t *g_rd = 0, *g_wr = 0, *g_rdu = 0, *g_wru = 0;
#define NSC_MAX 256
static uint8_t *g_rbm[NSC_MAX], *g_wbm[NSC_MAX];

static uint64_t g_min = 0, g_max = 0;      /* the ranges' hull: a quick miss (stack, locals) */
static int g_last = 0;                      /* the range of the previous hit, tried first */

static inline void nsc_count(int i, uint64_t a, uint64_t n, int write);

static inline void nsc_access(const void *p, uint64_t n, int write) {
  uint64_t a = (uint64_t)(uintptr_t)p;
  if (a < g_min || a >= g_max) return;
  if (g_last < g_n && a >= g_lo[g_last] && a < g_hi[g_last]) {
    nsc_count(g_last, a, n, write);
    return;
  }
  for (int i = 0; i < g_n; ++i) {
    if (a >= g_lo[i] && a < g_hi[i]) {
      g_last = i;
      nsc_count(i, a, n, write);
      return;
    }
  }
}

static inline void nsc_count(int i, uint64_t a, uint64_t n, int write) {
  uint64_t off = a - g_lo[i], end = off + n, size = g_hi[i] - g_lo[i];
  if (end > size) end = size;
  uint8_t *bm = write ? g_wbm[i] : g_rbm[i];
  uint64_t fresh = 0;
  for (uint64_t b = off; b < end; ++b) {
    uint8_t bit = (uint8_t)(1u << (b & 7));
    if (!(bm[b >> 3] & bit)) { bm[b >> 3] |= bit; ++fresh; }
  }
  (write ? g_wr : g_rd)[i] += n;
  (write ? g_wru : g_rdu)[i] += fresh;
}

/* Count accesses inside [lo[i], hi[i]) into rd/wr[i] (all bytes) and rdu/wru[i] (bytes not
 * touched before in this launch, tracked in bitmaps of one bit per byte; calloc maps large
 * ones lazily, so only the pages a launch touches cost anything). Returns 0, or -1 if too
 * many ranges or out of memory (then nothing is counted). */
NSC_EXPORT int nscount_begin(int n, const uint64_t *lo, const uint64_t *hi, uint64_t *rd,
                             uint64_t *wr, uint64_t *rdu, uint64_t *wru) {
  if (n > NSC_MAX) return -1;
  for (int i = 0; i < n; ++i) {
    g_rbm[i] = (uint8_t *)calloc((hi[i] - lo[i] + 7) / 8, 1);
    g_wbm[i] = (uint8_t *)calloc((hi[i] - lo[i] + 7) / 8, 1);
    if (!g_rbm[i] || !g_wbm[i]) {
      for (int j = 0; j <= i; ++j) { free(g_rbm[j]); free(g_wbm[j]); }
      return -1;
    }
  }
  g_lo = lo; g_hi = hi; g_rd = rd; g_wr = wr; g_rdu = rdu; g_wru = wru; g_n = n;
  g_min = UINT64_MAX; g_max = 0; g_last = 0;
  for (int i = 0; i < n; ++i) {
    if (lo[i] < g_min) g_min = lo[i];
    if (hi[i] > g_max) g_max = hi[i];
  }
  return 0;
}
NSC_EXPORT void nscount_end(void) {
  for (int i = 0; i < g_n; ++i) { free(g_rbm[i]); free(g_wbm[i]); }
  g_n = 0; g_min = g_max = 0;
}

NSC_EXPORT void __tsan_init(void) {}
NSC_EXPORT void __tsan_func_entry(void *) {}
NSC_EXPORT void __tsan_func_exit(void) {}
NSC_EXPORT void __tsan_ignore_thread_begin(void) {}
NSC_EXPORT void __tsan_ignore_thread_end(void) {}
NSC_EXPORT void __tsan_vptr_update(void **, void *) {}
NSC_EXPORT void __tsan_vptr_read(void **) {}
#define NSC_RW(N)                                                                         \
  NSC_EXPORT void __tsan_read##N(void *p) { nsc_access(p, N, 0); }                        \
  NSC_EXPORT void __tsan_write##N(void *p) { nsc_access(p, N, 1); }                       \
  NSC_EXPORT void __tsan_unaligned_read##N(void *p) { nsc_access(p, N, 0); }              \
  NSC_EXPORT void __tsan_unaligned_write##N(void *p) { nsc_access(p, N, 1); }             \
  NSC_EXPORT void __tsan_volatile_read##N(void *p) { nsc_access(p, N, 0); }               \
  NSC_EXPORT void __tsan_volatile_write##N(void *p) { nsc_access(p, N, 1); }              \
  NSC_EXPORT void __tsan_unaligned_volatile_read##N(void *p) { nsc_access(p, N, 0); }     \
  NSC_EXPORT void __tsan_unaligned_volatile_write##N(void *p) { nsc_access(p, N, 1); }
NSC_RW(1) NSC_RW(2) NSC_RW(4) NSC_RW(8) NSC_RW(16)
NSC_EXPORT void __tsan_read_range(void *p, size_t n) { nsc_access(p, n, 0); }
NSC_EXPORT void __tsan_write_range(void *p, size_t n) { nsc_access(p, n, 1); }
NSC_EXPORT void *__tsan_memcpy(void *d, const void *s, size_t n) {
  nsc_access(s, n, 0); nsc_access(d, n, 1);
  return __builtin_memcpy(d, s, n);
}
NSC_EXPORT void *__tsan_memmove(void *d, const void *s, size_t n) {
  nsc_access(s, n, 0); nsc_access(d, n, 1);
  return __builtin_memmove(d, s, n);
}
NSC_EXPORT void *__tsan_memset(void *d, int c, size_t n) {
  nsc_access(d, n, 1);
  return __builtin_memset(d, c, n);
}
"""

#: Flags a counting module is compiled with (on top of the host build's own).
COUNT_FLAGS = ("-fsanitize=thread",)

_local = threading.local()
_indirect: dict = {}        # id(array) -> (name, weakref to the array)


class Tally:
    """Launches and bytes per kernel and argument, summed over the launches since
    :meth:`reset`."""

    def __init__(self):
        self._data: dict = {}

    def reset(self) -> None:
        self._data = {}

    def add(self, kernel: str, names: list, read, write, read_distinct, write_distinct) -> None:
        """Add one launch of ``kernel``: per array argument ``names[i]``, the bytes it read and
        wrote, and of those the bytes not touched before in the launch (distinct)."""
        entry = self._data.setdefault(kernel, {"launches": 0, "read": {}, "write": {},
                                               "read_distinct": {}, "write_distinct": {}})
        entry["launches"] += 1
        for key, values in (("read", read), ("write", write), ("read_distinct", read_distinct),
                            ("write_distinct", write_distinct)):
            for name, v in zip(names, np.asarray(values).tolist()):
                if v:
                    entry[key][name] = entry[key].get(name, 0) + int(v)

    def kernels(self) -> dict:
        """``{kernel: {"launches": n, "read": {arg: bytes}, "write": {arg: bytes},
        "read_distinct": {arg: bytes}, "write_distinct": {arg: bytes}}}``."""
        return {k: {key: (dict(val) if isinstance(val, dict) else val)
                    for key, val in v.items()} for k, v in self._data.items()}

    @property
    def launches(self) -> int:
        return sum(v["launches"] for v in self._data.values())

    def total(self, key: str) -> int:
        """Bytes summed over kernels and arrays: ``key`` is ``read``, ``write``,
        ``read_distinct`` or ``write_distinct``."""
        return sum(sum(v[key].values()) for v in self._data.values())


def active_tally() -> Tally | None:
    """The tally of the innermost :func:`counting` block of this thread, or None."""
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else None


@contextlib.contextmanager
def counting():
    """Within the block, new host modules are built to count, and their launches are added to
    the :class:`Tally` it yields. Modules built outside the block never count."""
    runtime()
    tally = Tally()
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    stack.append(tally)
    try:
        yield tally
    finally:
        stack.pop()


@lru_cache(maxsize=1)
def runtime() -> ctypes.CDLL:
    """The counting runtime, built once (cached beside the host builds) and loaded with
    ``RTLD_GLOBAL`` so that counting modules resolve ThreadSanitizer's entry points to it."""
    from .hostbuild import HostBuildError, _compiler_id, cache_dir
    key = hashlib.sha256(f"{_compiler_id()}\0{RUNTIME_SOURCE}".encode()).hexdigest()[:24]
    folder = cache_dir()
    path = folder / f"nscount-{key}.so"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            src = Path(tmp) / "nscount.cpp"
            src.write_text(RUNTIME_SOURCE, encoding="utf-8")
            out = Path(tmp) / "nscount.so"
            proc = subprocess.run(["g++", "-O2", "-shared", "-fPIC", "-o", str(out), str(src)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise HostBuildError(f"g++ failed to build the counting runtime:\n"
                                     f"{proc.stderr.strip()}")
            os.replace(out, path)
    lib = ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
    p64 = ctypes.c_void_p
    lib.nscount_begin.argtypes = [ctypes.c_int] + [p64] * 6
    lib.nscount_begin.restype = ctypes.c_int
    lib.nscount_end.argtypes = []
    lib.nscount_end.restype = None
    return lib


@lru_cache(maxsize=1)
def is_available() -> bool:
    """Whether counting works here: g++ builds an instrumented kernel and it counts right."""
    from .hostbuild import HostModule, is_available as host_ok
    if not host_ok():
        return False
    src = ('#include "common.cuh"\nextern "C" __global__ void nscount_probe('
           'const float *a, float *b, int n) {\n  int i = blockIdx.x * blockDim.x + threadIdx.x;'
           '\n  if (i < n) b[i] = 2.0f * a[i];\n}\n')
    try:
        with counting() as tally:
            k = HostModule(code=src, count=True).get_function("nscount_probe")
            a = np.ones(8, np.float32)
            b = np.zeros(8, np.float32)
            k((1,), (8,), (a, b, np.int32(8)))
    except Exception:  # noqa: BLE001 -- any failure means: not available here
        return False
    got = tally.kernels().get("nscount_probe", {})
    return (got.get("read") == {"a": 32} and got.get("write") == {"b": 32}
            and got.get("read_distinct") == {"a": 32})


def note_indirect(name: str, array: np.ndarray) -> None:
    """Count the accesses to ``array`` under ``name`` in every counted launch while it lives:
    for arrays that kernels reach through a table of addresses rather than as arguments."""
    import weakref
    for key in [k for k, (_, ref) in _indirect.items() if ref() is None]:
        del _indirect[key]
    _indirect[id(array)] = (name, weakref.ref(array))


def launch_counted(kernel, values: list, args: tuple, launch) -> None:
    """Run ``launch()`` (one call of ``kernel``'s C launcher) with the array arguments (and the
    arrays noted by :func:`note_indirect`) registered, and add what it read and wrote to the
    active tally."""
    lo, hi, names = [], [], []
    arrays = [(spec.name, value) for spec, value in zip(kernel.args, args) if spec.pointer]
    arrays += [(name, ref()) for name, ref in list(_indirect.values())]
    for name, value in arrays:
        if isinstance(value, np.ndarray) and value.nbytes:
            lo.append(value.ctypes.data)
            hi.append(value.ctypes.data + value.nbytes)
            names.append(name)
    lo_a = np.array(lo, np.uint64)
    hi_a = np.array(hi, np.uint64)
    counts = np.zeros((4, len(lo)), np.uint64)      # read, write, distinct read, distinct write
    lib = runtime()
    if lib.nscount_begin(len(lo), lo_a.ctypes.data, hi_a.ctypes.data,
                         *(counts[i].ctypes.data for i in range(4))) != 0:
        raise MemoryError(f"{kernel.name}(): counting {len(lo)} arrays of "
                          f"{int((hi_a - lo_a).sum())} bytes needs more memory than is free")
    try:
        launch()
    finally:
        lib.nscount_end()
    tally = active_tally()
    if tally is not None:
        tally.add(kernel.name, names, *counts)
