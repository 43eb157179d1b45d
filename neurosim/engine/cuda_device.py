"""The CUDA engine's device: CuPy on a GPU, or the host build of the same kernels on the CPU.

:class:`Device` gives an engine its array module, kernels, stream and device addresses;
:func:`kernel_signature` parses a kernel's parameter list (arguments are bound by name);
:class:`Launch` is one kernel launch of a step; :func:`_host_prebound` calls a host-build kernel
through its C launcher without Python-side checks once a checked call has accepted its arguments.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from . import cuda_tuning as T


class Launch(NamedTuple):
    """One kernel launch of a step: ``args[p]`` for the steps of clock parity ``p``."""

    kernel: object
    grid: tuple
    block: tuple
    args: tuple



@lru_cache(maxsize=None)
def kernel_signature(filename: str, name: str) -> tuple:
    """``((ctype, argname), ...)`` of kernel ``name`` in ``kernels/<filename>``."""
    from ..backends.kernel_source import kernel_names, load_source
    table = dict(kernel_names(load_source(filename)))
    if name not in table:
        raise LookupError(f"kernels/{filename} has no kernel {name}()")
    return tuple(table[name])


_RAW_MODULES: dict = {}


#: the -D option of a module's double variant (``ns_real`` is double: kernels/common.cuh)
DOUBLE_OPTION = "-DNS_DOUBLE=1"


def _cupy_module(filename: str, double: bool = False):
    import cupy
    from ..backends.kernel_source import load_source
    from ..backends.cupy_options import RAWMODULE_OPTIONS
    key = (filename, cupy.cuda.Device().id, double)
    if key not in _RAW_MODULES:   # CuPy adds the rest (cupy_options) and caches the cubin on disk
        if double:                # the double variant: cupy_options' tuple + DOUBLE_OPTION
            _RAW_MODULES[key] = cupy.RawModule(code=load_source(filename),
                                               options=RAWMODULE_OPTIONS + (DOUBLE_OPTION,))
        else:
            source = load_source(filename)
            _RAW_MODULES[key] = cupy.RawModule(code=source, options=RAWMODULE_OPTIONS)
    return _RAW_MODULES[key]



class Device:
    """Array module, kernels and stream of one engine; ``double``: the kernels' double
    variant (``Network(precision="double")``: ``ns_real`` is double, compiled with
    ``-DNS_DOUBLE=1`` and cached apart from the float one, by CuPy and by the host build)."""

    def __init__(self, host: bool, double: bool = False):
        self.host = host
        self.double = bool(double)
        self.real = np.dtype(np.float64 if double else np.float32)
        self._modules: dict = {}
        if host:
            self.xp = np
            self.stream = None
            self.sm_count = 1
        else:
            import cupy
            self.xp = cupy
            # a blocking stream: it also waits for work that CuPy puts on the default stream
            self.stream = cupy.cuda.Stream()
            self.sm_count = cupy.cuda.Device().attributes["MultiProcessorCount"]

    def kernel(self, filename: str, name: str):
        if filename not in self._modules:
            if self.host:
                from ..backends.hostbuild import HostModule
                # double: no flush-to-zero, which on the GPU (-ftz=true) touches floats only
                self._modules[filename] = (
                    HostModule(filename, options=(DOUBLE_OPTION,), ftz=False) if self.double
                    else HostModule(filename))
            else:
                self._modules[filename] = _cupy_module(filename, self.double)
        return self._modules[filename].get_function(name)

    def context(self):
        return contextlib.nullcontext() if self.host else self.stream

    def put(self, a, copy: bool = True):
        """A device array holding the host array ``a`` (the host build shares it if not copy)."""
        a = np.ascontiguousarray(a)
        if self.host:
            return a.copy() if copy else a
        return self.xp.asarray(a)

    def get(self, a) -> np.ndarray:
        return a if self.host else a.get()

    def zeros(self, n: int, dtype):
        return self.xp.zeros(n, dtype)

    def address(self, a, name: str = "table entry") -> int:
        """The device address of array ``a`` (for tables of arrays that kernels read); in a
        counting host build (:mod:`~neurosim.backends.hostcount`) the array's accesses are then
        counted under ``name``, as an argument's are."""
        if self.host:
            from ..backends import hostcount
            if hostcount.active_tally() is not None:
                hostcount.note_indirect(name, a)
            return int(a.ctypes.data)
        return int(a.data.ptr)

    def per_spike_grid(self, n_max: int, lanes: int = 1) -> tuple:
        """(grid, block) of a kernel looping over at most ``n_max`` spikes (grid-stride)."""
        if self.host:   # one block: every empty thread costs a call on the CPU
            return (1,), (T.HOST_SPIKE_BLOCK,)
        blocks = min(-(-max(1, n_max) * lanes // T.BLOCK), 4 * self.sm_count)
        return (max(1, blocks),), (T.BLOCK,)



def grid_for(threads: int) -> tuple:
    """(grid, block) with at least ``threads`` threads."""
    return (max(1, -(-int(threads) // T.BLOCK)),), (T.BLOCK,)


def lanes_for(mean_row: float) -> int:
    """Threads per spike on a GPU: a warp for long rows, a power of two >= the mean row."""
    lanes = 1
    while lanes < 32 and lanes < mean_row:
        lanes *= 2
    return lanes


_HOST_SEEDS = itertools.count(1 << 20)


@lru_cache(maxsize=None)
def _host_launcher(path: str, name: str, specs: tuple):
    """The ctypes function ``launch_<name>`` of a host build, its argument types set."""
    import ctypes
    fn = getattr(ctypes.CDLL(path), f"launch_{name}")
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_uint] * 7 + [ctypes.c_int] + [
        ctypes.c_void_p if pointer else np.ctypeslib.as_ctypes_type(np.dtype(dtype))
        for pointer, dtype in specs]
    return fn


def _host_prebound(kernel, grid, block, args):
    """A callable that launches a host-build kernel with these arguments, already checked by
    a call of ``kernel`` itself: its ``launch_<name>`` C launcher (hostbuild's documented
    entry point) with converted arguments, a fresh thread order per call when shuffling."""
    if getattr(kernel.module, "count", False):    # counting: every launch through the checks
        return functools.partial(kernel, grid, block, args)
    fn = _host_launcher(str(kernel.module.path), kernel.name,
                        tuple((s.pointer, s.dtype.str) for s in kernel.args))
    dims = [int(x) for x in (*grid, 1, 1)[:3]] + [int(x) for x in (*block, 1, 1)[:3]]
    values = [a.ctypes.data if isinstance(a, np.ndarray) else a.item() for a in args]
    ftz = int(kernel.module.ftz)
    if kernel.shuffle:
        return lambda: fn(*dims, next(_HOST_SEEDS) & 0xFFFFFFFF or 1, ftz, *values)
    return functools.partial(fn, *dims, 0, ftz, *values)


_Device = Device      # the name older code and tests use
