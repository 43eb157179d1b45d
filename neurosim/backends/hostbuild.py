"""Run the CUDA kernels of ``kernels/`` on the CPU: g++ build, ctypes launch.

The same kernel source that CuPy compiles for the GPU builds here as plain
C++ (``kernels/compat_host.h`` maps ``__global__``, ``threadIdx``,
``atomicAdd``... to C++). For every kernel, a generated launcher
``launch_<name>(grid x,y,z, block x,y,z, order_seed, ftz, <kernel args>)`` runs
the kernel once per (block, thread) of the grid, one after the other, in
CUDA's natural order or, with shuffling on, in a random permutation of all the
(block, thread) pairs, to catch kernels whose result depends on thread order.

The Python side copies CuPy's API, so backend code runs unchanged on either::

    module = HostModule("random.cu")            # cupy.RawModule(code=load_source(...))
    kernel = module.get_function("philox_raw_fill")
    kernel((blocks,), (128,), (out, np.uint64(k0), np.uint64(k1), np.uint64(p0), np.int32(n)))

with NumPy arrays in place of CuPy arrays, and stricter: before each call every
argument is checked against the kernel's C signature, where CuPy checks nothing:

* a pointer parameter takes a C-contiguous, aligned ``numpy.ndarray`` whose
  dtype is exactly the pointee's (``float*`` -> float32, ``int*`` -> int32,
  ``ns_u64*`` -> uint64, ``bool*`` -> bool...), writeable unless the pointer is
  ``const``, or ``None`` (a null pointer, as in CuPy);
* a scalar parameter takes a NumPy scalar of exactly its type
  (``np.float32(x)`` for ``float``, ``np.int32(n)`` for ``int``...). A bare
  Python ``int``/``float``/``bool`` is a ``TypeError``: CuPy would silently
  pass it as a 64-bit integer or a double and the kernel would read garbage;
* a wrong number of arguments is a ``TypeError``.

Errors name the kernel, the argument and both types. As in CuPy, ``grid`` and
``block`` are tuples of 1 to 3 ints, and dimensions below 1 are raised to 1
(so a ``(0,)`` grid still runs one block: kernels must guard ``i < n``).
``shared_mem`` must be 0 (dynamic shared memory cannot run on the host);
``stream`` is accepted and ignored (the host launch is synchronous).

Builds are cached in ``~/.cache/neurosim/hostbuild/<hash>.so`` (set
``NEUROSIM_HOSTBUILD_CACHE`` to move it); the hash covers the inlined source,
the flags and the compiler version, and the generated C++ (source plus
launchers) stays beside it as ``<hash>.cpp`` for debugging. The newest
:data:`CACHE_KEEP` builds are kept. Shuffled order: pass
``HostModule(..., shuffle=True)``, call :func:`set_shuffle_default`, or set
``NEUROSIM_HOSTBUILD_SHUFFLE=1``; each call of a shuffled kernel then uses the
next seed of a per-kernel counter (deterministic from run to run).
The launcher also sets the x86 flush-to-zero/denormals-are-zero flags while a
kernel runs, like CuPy's ``-ftz=true`` (``HostModule(..., ftz=False)`` not to).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import itertools
import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .kernel_source import inline_includes, kernel_names, kernels_dir, load_source

__all__ = [
    "HostBuildError",
    "HostModule",
    "HostKernel",
    "ArgSpec",
    "is_available",
    "cache_dir",
    "set_shuffle_default",
    "shuffle_default",
    "shuffle_order",
    "CXXFLAGS",
]

log = logging.getLogger(__name__)

CXXFLAGS = ("-O2", "-shared", "-fPIC", "-std=c++17", "-fvisibility=hidden",
            "-Wall", "-Wno-unused-function", "-Wno-unused-variable",
            "-Wno-unknown-pragmas")
_BUILD_FORMAT = 1  # bump when the generated code changes meaning
#: How many builds the cache keeps (oldest first out).
CACHE_KEEP = 200
_SHUFFLE_ENV = "NEUROSIM_HOSTBUILD_SHUFFLE"
_CACHE_ENV = "NEUROSIM_HOSTBUILD_CACHE"
_shuffle_default = os.environ.get(_SHUFFLE_ENV, "").strip() not in ("", "0", "false", "no")


class HostBuildError(RuntimeError):
    """g++ is missing, a kernel file does not compile for the host, or a
    kernel cannot get a host launcher (unsupported parameter type)."""


def is_available() -> bool:
    """Whether the host build can run here (a ``g++`` on the PATH)."""
    return shutil.which("g++") is not None


def cache_dir() -> Path:
    """Where built modules are kept: ``$NEUROSIM_HOSTBUILD_CACHE`` or
    ``~/.cache/neurosim/hostbuild``."""
    env = os.environ.get(_CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "neurosim" / "hostbuild"


def set_shuffle_default(on: bool) -> None:
    """Make new :class:`HostModule` objects (without an explicit ``shuffle=``)
    run threads in shuffled order."""
    global _shuffle_default
    _shuffle_default = bool(on)


def shuffle_default() -> bool:
    """Whether new :class:`HostModule` objects run threads in shuffled order."""
    return _shuffle_default


@contextlib.contextmanager
def shuffle_order(on: bool):
    """Within the block, new :class:`HostModule` objects use ``shuffle=on`` by default."""
    before = _shuffle_default
    set_shuffle_default(on)
    try:
        yield
    finally:
        set_shuffle_default(before)


# ---------------------------------------------------------------------------
# C types -> numpy dtypes and ctypes

_BASE_TYPES: dict[str, str] = {}
for _dtype, _names in {
    "float32": "float|ns_f32|ns_real",     # ns_real: float64 in a double module
    "float64": "double|ns_f64",
    "bool": "bool",
    "int8": "char|signed char|int8_t|ns_i8",
    "uint8": "unsigned char|uint8_t|ns_u8",
    "int16": "short|short int|signed short|signed short int|int16_t|ns_i16",
    "uint16": "unsigned short|unsigned short int|uint16_t|ns_u16",
    "int32": "int|signed|signed int|int32_t|ns_i32",
    "uint32": "unsigned|unsigned int|uint32_t|ns_u32",
    "int64": "long long|long long int|signed long long|signed long long int|"
             "int64_t|ns_i64|ptrdiff_t",
    "uint64": "unsigned long long|unsigned long long int|uint64_t|ns_u64|size_t",
}.items():
    for _name in _names.split("|"):
        _BASE_TYPES[_name] = _dtype
_long = "int64" if ctypes.sizeof(ctypes.c_long) == 8 else "int32"
_BASE_TYPES.update({"long": _long, "long int": _long, "signed long": _long,
                    "unsigned long": "u" + _long, "unsigned long int": "u" + _long})

_CTYPES = {
    "float32": ctypes.c_float, "float64": ctypes.c_double, "bool": ctypes.c_bool,
    "int8": ctypes.c_int8, "uint8": ctypes.c_uint8, "int16": ctypes.c_int16,
    "uint16": ctypes.c_uint16, "int32": ctypes.c_int32, "uint32": ctypes.c_uint32,
    "int64": ctypes.c_int64, "uint64": ctypes.c_uint64,
}
_QUALIFIERS = {"const", "volatile", "__restrict__", "__restrict", "restrict"}


@dataclass(frozen=True)
class ArgSpec:
    """One kernel parameter: ``ctype`` as written, and what Python must pass."""

    name: str
    ctype: str
    base: str          # the pointee or scalar type, qualifiers removed
    pointer: bool
    const: bool
    dtype: np.dtype

    def describe(self) -> str:
        if self.pointer:
            access = "read-only" if self.const else "writeable"
            return f"a C-contiguous {access} numpy array of dtype {self.dtype.name}"
        return f"a numpy {self.dtype.name} scalar, e.g. np.{self.dtype.type.__name__}(x)"


def real_dtype_of(defines) -> str:
    """The dtype of ``ns_real`` in a module built with these ``-D`` options:
    float64 with ``-DNS_DOUBLE=1`` (kernels/common.cuh), else float32."""
    on = {"-DNS_DOUBLE", "-DNS_DOUBLE=1"}
    return "float64" if any(d.replace(" ", "") in on for d in defines) else "float32"


def parse_ctype(name: str, ctype: str, real: str = "float32") -> ArgSpec:
    """The :class:`ArgSpec` of parameter ``ctype name``; ``ValueError`` for
    types the host launcher does not support (``void*``, ``T**``, structs).
    ``real``: the dtype of ``ns_real`` in the module (:func:`real_dtype_of`)."""
    stars = ctype.count("*")
    words = ctype.replace("*", " ").replace("&", " & ").split()
    const = stars > 0 and "const" in ctype.split("*")[0].split()  # const pointee
    base = " ".join(w for w in words if w not in _QUALIFIERS)
    if "&" in words or stars > 1 or base not in _BASE_TYPES:
        raise ValueError(
            f"parameter {name!r} has type {ctype!r}: the host launcher supports "
            "scalars and single pointers of float, double, bool and the 8/16/32/64-bit "
            "integer types (ns_f32, ns_i32, ns_u64, int, unsigned long long...)"
        )
    dtype = real if base == "ns_real" else _BASE_TYPES[base]
    return ArgSpec(name, ctype, base, stars == 1, const, np.dtype(dtype))


# ---------------------------------------------------------------------------
# building


@lru_cache(maxsize=1)
def _compiler_id() -> str:
    gxx = shutil.which("g++")
    if gxx is None:
        raise HostBuildError(
            "the host build of the CUDA kernels needs g++, which is not on the PATH: "
            "install a C++ compiler (e.g. apt-get install g++) or skip host-build tests"
        )
    version = subprocess.run([gxx, "-dumpfullversion"], capture_output=True, text=True)
    machine = subprocess.run([gxx, "-dumpmachine"], capture_output=True, text=True)
    return f"{gxx} {version.stdout.strip()} {machine.stdout.strip()}"


def _run_gxx(args: list[str], what: str) -> subprocess.CompletedProcess:
    _compiler_id()
    proc = subprocess.run(["g++", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise HostBuildError(f"g++ failed to {what}:\n{proc.stderr.strip()}")
    return proc


def _scan_kernels(source: str, workdir: Path,
                  defines: tuple[str, ...]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Kernel signatures that survive preprocessing for the host (so kernels in
    ``#if !NS_HOST`` blocks get no launcher)."""
    src = workdir / "scan.cpp"
    src.write_text(source, encoding="utf-8")
    proc = _run_gxx(["-E", "-P", "-std=c++17", *defines, "-DNS_HOST_KERNEL_SCAN",
                     f"-I{kernels_dir()}", "-x", "c++", str(src)],
                    "preprocess the kernel source")
    return kernel_names(proc.stdout)


def _launcher(name: str, specs: list[ArgSpec]) -> str:
    params = ["unsigned gx", "unsigned gy", "unsigned gz", "unsigned bx", "unsigned by",
              "unsigned bz", "unsigned order_seed", "int ftz"]
    call = []
    for i, spec in enumerate(specs):
        if spec.pointer:
            params.append(f"void *a{i}")
            call.append(f"({spec.base} *)a{i}")
        else:
            params.append(f"{spec.base} a{i}")
            call.append(f"a{i}")
    return (
        f'extern "C" __attribute__((visibility("default"))) int launch_{name}('
        + ", ".join(params)
        + ") {\n  return ns_host::launch(gx, gy, gz, bx, by, bz, order_seed, ftz, "
        + f"[&]() {{ {name}({', '.join(call)}); }});\n}}\n"
    )


def _build(source: str, origin: str, defines: tuple[str, ...] = (),
           count: bool = False, flags: tuple[str, ...] | None = None,
           launcher=None, folder: Path | None = None) -> tuple[Path, dict]:
    """Compile ``source`` (or find it in the cache): the .so path and the
    kernel table ``{"kernels": {name: [[argname, ctype], ...]},
    "unsupported": {name: reason}}``. ``defines``: ``-D``/``-U`` options.
    ``count``: instrument loads and stores for :mod:`neurosim.backends.hostcount`
    (compiled with its flags, linked without ThreadSanitizer's runtime).
    ``flags``, ``launcher`` (``launcher(name, specs) -> C++``) and ``folder``: another build
    of the same kernels (the native CPU backend, :mod:`neurosim.backends.native`); the cache
    key covers the flags."""
    from .hostcount import COUNT_FLAGS
    extra = COUNT_FLAGS if count else ()
    cxxflags = CXXFLAGS if flags is None else tuple(flags)
    launcher = _launcher if launcher is None else launcher
    flags_id = " ".join(cxxflags + defines + extra)
    key = hashlib.sha256(
        f"{_BUILD_FORMAT}\0{_compiler_id()}\0{flags_id}\0{source}".encode()
    ).hexdigest()[:32]
    folder = cache_dir() if folder is None else folder
    so_path, meta_path = folder / f"{key}.so", folder / f"{key}.json"
    if so_path.is_file() and meta_path.is_file():
        return so_path, json.loads(meta_path.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        workdir = Path(tmp)
        kernels, unsupported, launchers = {}, {}, []
        as_written = dict(kernel_names(source))  # ctype text before macro expansion
        for name, args in _scan_kernels(source, workdir, defines):
            if len(as_written.get(name, ())) == len(args):
                args = as_written[name]
            try:
                specs = [parse_ctype(argname, ctype, real_dtype_of(defines))
                         for ctype, argname in args]
            except ValueError as exc:
                unsupported[name] = str(exc)
                continue
            kernels[name] = [[argname, ctype] for ctype, argname in args]
            launchers.append(launcher(name, specs))
        full = (source + "\n#line 1 \"<neurosim host launchers>\"\n"
                + "\n".join(launchers))
        cpp = workdir / "module.cpp"
        cpp.write_text(full, encoding="utf-8")
        out = workdir / "module.so"
        if count:   # compile instrumented, link without -fsanitize (no libtsan)
            obj = workdir / "module.o"
            compile_flags = [f for f in CXXFLAGS if f != "-shared"]
            proc = _run_gxx([*compile_flags, *extra, *defines, f"-I{kernels_dir()}", "-c",
                             "-o", str(obj), str(cpp)], f"build {origin} for the host")
            _run_gxx(["-shared", "-fPIC", "-o", str(out), str(obj)],
                     f"link {origin} for the host")
        else:
            proc = _run_gxx([*cxxflags, *defines, f"-I{kernels_dir()}", "-o", str(out),
                             str(cpp)], f"build {origin} for the host")
        if proc.stderr.strip():
            log.warning("g++ warnings building %s for the host:\n%s", origin,
                        proc.stderr.strip())
        meta = {"origin": origin, "kernels": kernels, "unsupported": unsupported}
        shutil.copyfile(cpp, workdir / "keep.cpp")
        os.replace(workdir / "keep.cpp", folder / f"{key}.cpp")
        os.replace(out, so_path)
        meta_tmp = workdir / "meta.json"
        meta_tmp.write_text(json.dumps(meta, indent=1))
        os.replace(meta_tmp, meta_path)
    log.debug("host build of %s -> %s", origin, so_path)
    _prune(folder)
    return so_path, meta


def _prune(folder: Path) -> None:
    # other processes (MPI ranks, parallel test runs) prune the same folder: a build listed
    # here may be gone before its stat
    def mtime(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:
            return float("-inf")
    builds = sorted(folder.glob("*.so"), key=mtime, reverse=True)
    for old in builds[CACHE_KEEP:]:
        for suffix in (".so", ".json", ".cpp"):
            try:
                old.with_suffix(suffix).unlink()
            except OSError:
                pass


# ---------------------------------------------------------------------------
# modules and kernels


class HostModule:
    """A kernel file built for the CPU; the host twin of ``cupy.RawModule``.

    ``HostModule("random.cu")`` builds a file of ``kernels/`` (or any path;
    local ``#include "..."`` are inlined by :func:`load_source`);
    ``HostModule(code=source)`` builds a source string, as
    ``cupy.RawModule(code=...)`` does (its ``#include "common.cuh"``-style
    includes are inlined from ``kernels/`` too, so the cache sees them). ``shuffle``: run threads in a random
    order (``None``: the module default, see :func:`set_shuffle_default`).
    ``ftz``: flush denormals while kernels run, like CuPy's ``-ftz=true``.
    ``options``: the ``RawModule`` options; the ``-D``/``-U`` macro options
    reach g++, the others (``--std=...``, ``-ftz=...``) are GPU-only and ignored;
    with ``-DNS_DOUBLE=1`` (the double variant) ``ns_real`` parameters take
    float64 arrays and scalars, else float32.
    ``count``: count launches and the bytes each launch reads and writes
    (:mod:`neurosim.backends.hostcount`; ``None``: on inside a ``hostcount.counting()`` block).
    Raises :class:`HostBuildError` if g++ is missing or the build fails.
    """

    def __init__(self, filename: str | os.PathLike | None = None, *,
                 code: str | None = None, options: tuple[str, ...] = (),
                 shuffle: bool | None = None, ftz: bool = True, count: bool | None = None):
        if (filename is None) == (code is None):
            raise TypeError("HostModule() takes exactly one of a file name or code=...")
        self.origin = str(filename) if code is None else "<code>"
        self.source = load_source(filename) if code is None else inline_includes(code)
        self.shuffle = _shuffle_default if shuffle is None else bool(shuffle)
        self.ftz = bool(ftz)
        self.defines = tuple(o for o in options if o.startswith(("-D", "-U")))
        from . import hostcount
        self.count = hostcount.active_tally() is not None if count is None else bool(count)
        if self.count:
            hostcount.runtime()     # loaded first: the module's counters resolve to it
        self.path, meta = _build(self.source, self.origin, self.defines, self.count)
        self._lib = ctypes.CDLL(str(self.path))
        self.kernels: dict[str, list[ArgSpec]] = {
            name: [parse_ctype(argname, ctype, real_dtype_of(self.defines))
                   for argname, ctype in args]
            for name, args in meta["kernels"].items()
        }
        self.unsupported: dict[str, str] = dict(meta["unsupported"])
        self._functions: dict[str, HostKernel] = {}

    def get_function(self, name: str) -> "HostKernel":
        """The kernel ``name`` (``LookupError`` if the module has none, or
        :class:`HostBuildError` if its parameters have no host launcher)."""
        if name in self._functions:
            return self._functions[name]
        if name in self.unsupported:
            raise HostBuildError(
                f"kernel {name}() of {self.origin} cannot run on the host: "
                f"{self.unsupported[name]}"
            )
        if name not in self.kernels:
            raise LookupError(
                f"no kernel {name!r} in {self.origin} for the host build; it has "
                f"{sorted(self.kernels)} (kernels inside #if !NS_HOST are left out)"
            )
        kernel = HostKernel(self, name, self.kernels[name])
        self._functions[name] = kernel
        return kernel

    def __repr__(self) -> str:
        return f"HostModule({self.origin!r}, kernels={sorted(self.kernels)})"


def _dims(value, what: str, kernel: str) -> tuple[int, int, int]:
    if not isinstance(value, tuple):
        raise TypeError(f"{kernel}(): {what} must be a tuple of 1 to 3 ints, like CuPy's, "
                        f"got {type(value).__name__} {value!r}")
    if not 1 <= len(value) <= 3:
        raise ValueError(f"{kernel}(): {what} must have 1 to 3 dimensions, got {value!r}")
    dims = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{kernel}(): {what} dimensions must be ints, got {value!r}")
        dims.append(max(1, int(v)))  # CuPy raises dimensions below 1 to 1
    dims += [1] * (3 - len(dims))
    return dims[0], dims[1], dims[2]


class HostKernel:
    """One kernel of a :class:`HostModule`; call it like ``cupy.RawKernel``:
    ``kernel(grid, block, args, shared_mem=0)``."""

    def __init__(self, module: HostModule, name: str, specs: list[ArgSpec]):
        self.module = module
        self.name = name
        self.__name__ = name
        self.args = specs
        self.shuffle = module.shuffle
        self._seeds = itertools.count(1)
        self._lock = threading.Lock()
        fn = getattr(module._lib, f"launch_{name}")
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.c_uint] * 7 + [ctypes.c_int] + [
            ctypes.c_void_p if s.pointer else _CTYPES[s.dtype.name] for s in specs
        ]
        self._fn = fn

    def signature(self) -> str:
        return f"{self.name}({', '.join(f'{s.ctype} {s.name}' for s in self.args)})"

    def _convert(self, index: int, spec: ArgSpec, value):
        where = f"{self.name}(): argument {index} '{spec.name}' ({spec.ctype})"
        if spec.pointer:
            if value is None:
                return None
            if not isinstance(value, np.ndarray):
                kind = f"{type(value).__module__}.{type(value).__name__}"
                raise TypeError(f"{where} must be {spec.describe()}, got {kind}")
            if value.dtype != spec.dtype:
                raise TypeError(f"{where} must be {spec.describe()}, "
                                f"got an array of dtype {value.dtype}")
            if not value.flags.c_contiguous or not value.flags.aligned:
                raise ValueError(f"{where} must be a C-contiguous aligned array, got one "
                                 f"with strides {value.strides} (use np.ascontiguousarray)")
            if not spec.const and not value.flags.writeable:
                raise ValueError(f"{where} is not const, so the kernel may write it, "
                                 "but the array is read-only")
            return value.ctypes.data
        if isinstance(value, np.generic) and value.dtype == spec.dtype:
            return value.item()
        if type(value) in (bool, int, float):  # not np.float64, a float subclass
            cupy_as = {bool: "int64", int: "int64", float: "float64 (double)"}[type(value)]
            raise TypeError(f"{where} must be {spec.describe()}, got a Python "
                            f"{type(value).__name__} ({value!r}): CuPy would pass it as "
                            f"{cupy_as} and the kernel would read garbage")
        got = (f"numpy {value.dtype} scalar" if isinstance(value, np.generic)
               else f"{type(value).__module__}.{type(value).__name__}")
        raise TypeError(f"{where} must be {spec.describe()}, got {got}")

    def __call__(self, grid, block, args, *, shared_mem: int = 0, stream=None) -> None:
        gx, gy, gz = _dims(grid, "grid", self.name)
        bx, by, bz = _dims(block, "block", self.name)
        if bx * by * bz > 1024 or bx > 1024 or by > 1024 or bz > 64:
            raise ValueError(f"{self.name}(): block {block!r} exceeds CUDA's limits "
                             "(1024 threads, z <= 64)")
        if gx > 2**31 - 1 or gy > 65535 or gz > 65535:
            raise ValueError(f"{self.name}(): grid {grid!r} exceeds CUDA's limits "
                             "(x < 2**31, y and z <= 65535)")
        if shared_mem:
            raise ValueError(f"{self.name}(): shared_mem={shared_mem}: dynamic shared "
                             "memory cannot run in the host build")
        if not isinstance(args, (tuple, list)):
            raise TypeError(f"{self.name}(): args must be a tuple, got {type(args).__name__}")
        if len(args) != len(self.args):
            raise TypeError(f"{self.signature()} takes {len(self.args)} arguments, "
                            f"got {len(args)}")
        values = [self._convert(i, spec, v) for i, (spec, v) in enumerate(zip(self.args, args))]
        with self._lock:
            seed = next(self._seeds) & 0xFFFFFFFF if self.shuffle else 0
        status = [0]

        def launch():
            status[0] = self._fn(gx, gy, gz, bx, by, bz, seed, int(self.module.ftz), *values)
        if self.module.count:
            from .hostcount import launch_counted
            launch_counted(self, values, args, launch)
        else:
            launch()
        if status[0] != 0:
            raise ValueError(f"{self.name}(): a shuffled launch needs fewer than 2**32 "
                             f"threads, got grid {grid!r} x block {block!r}")

    def __repr__(self) -> str:
        return f"<HostKernel {self.signature()} from {self.module.origin}>"
