"""The native CPU backend: the kernels of ``kernels/`` compiled with g++ -O3 and OpenMP.

``Network(device="cpu:native", threads=...)`` runs the CUDA engine's code
(:class:`~neurosim.engine.native_engine.NativeEngine`) on the very kernel sources that CuPy
compiles for a GPU, built here as C++ for this CPU (the host build's
``kernels/compat_host.h``), with:

* ``-O3 -march=native -fopenmp`` (and ``-ffp-contract=off``: no floating-point contraction,
  so the arithmetic is the NumPy engine's, as in the host build; ``-fno-trapping-math``, which
  changes no result and lets g++ vectorise selects between float comparisons, such as those of
  ``ns_exp``, a vectorisable ``expf`` in ``kernels/compat_host.h``) and ``-DNS_HOST_NATIVE=1``: a
  kernel's ``NS_GRID_STRIDE_LOOP`` gives each thread a contiguous share of the items
  (``kernels/common.cuh``), and the engine launches every kernel with one block of one thread
  per CPU thread, so each thread runs one tight loop over consecutive memory;
* OpenMP threads over blocks (contiguous block ranges, natural thread order within a block),
  with real atomics where threads race (``compat_host.h``: compare-and-swap loops when a launch
  has more than one thread, plain read-modify-write with one) but in delivery, which the
  native engine plans without atomics (``propagate_native``: private rings; the delay queue,
  ``propagate_queued``, for classes with per-synapse delays and a ring larger than the
  caches: each thread its own columns); the step loop runs
  on at most one thread per :data:`WORK_PER_THREAD` units of work a step
  (:func:`step_threads`);
* no Python in the step loop: :func:`run_plan` calls ``ns_run_plan`` of
  ``kernels/native_loop.cpp``, which replays the engine's launch plan (per clock parity: an
  array of (body function pointer, packed arguments, grid, flags: :data:`NO_BARRIER`...)) for a
  whole chunk of steps in one OpenMP parallel region and stops after a step that halted the
  clock. The monitors' buffers
  are written by the kernels, as on a GPU.

Each kernel file is built once per (source, flags, defines, compiler, target CPU) and cached in
``~/.cache/neurosim/native/<hash>.so`` (``NEUROSIM_NATIVE_CACHE`` moves it), as CuPy caches its
kernels; :func:`build_seconds` says how long this process spent compiling (the first-run
cost, reported apart from simulation time by the benchmarks).

:func:`status` says whether the backend can run (a ``g++`` that builds OpenMP code); without
one, ``device="cpu:native"`` raises :class:`~neurosim.errors.DeviceUnavailableError` and
``device="cpu"``/``"auto"`` keep running NumPy.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import hostbuild
from .hostbuild import ArgSpec, HostBuildError, HostKernel, HostModule, _build, parse_ctype, real_dtype_of
from .kernel_source import inline_includes, kernels_dir, load_source

__all__ = ["NativeModule", "status", "default_threads", "threads_for", "step_threads", "cache_dir",
           "native_flags", "build_seconds", "PlanRunner", "LAUNCH_DTYPE"]

_CACHE_ENV = "NEUROSIM_NATIVE_CACHE"
_FORMAT = 1       # bump when the generated launchers change meaning
_lock = threading.Lock()
_build_seconds = [0.0]


def cache_dir() -> Path:
    """Where native builds are kept: ``$NEUROSIM_NATIVE_CACHE`` or ``~/.cache/neurosim/native``."""
    env = os.environ.get(_CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "neurosim" / "native"


def build_seconds() -> float:
    """Seconds this process spent compiling native modules (0 when every one was cached)."""
    return _build_seconds[0]


def default_threads() -> int:
    """The threads a network uses by default: every core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


#: Neurons per thread below which a network runs on fewer threads than cores by default: a
#: step of a small network costs less than the threads' barriers (two or three a step).
NEURONS_PER_THREAD = 2000


def threads_for(n_neurons: int) -> int:
    """Default threads of a network of ``n_neurons``: every core, but at most one per
    :data:`NEURONS_PER_THREAD` neurons (at least one)."""
    return max(1, min(default_threads(), int(n_neurons) // NEURONS_PER_THREAD))


#: Units of work a step per thread (one per neuron, one per :data:`SYNAPSES_PER_WORK`
#: synapses) below which the step loop runs on fewer threads than asked for. A unit costs about
#: a nanosecond on one core (the cases of ``benchmarks/native_threads.py``: uncoupled LIF 100k
#: ~40 µs a step, COBA 4,000 ~5 µs, Brunel 12,500 ~135 µs), and every step of a threaded loop
#: waits at one or two barriers: under a µs on quiet cores, tens where other processes share
#: them. Measured on two cores: COBA (7,200 units) forced onto two threads was 15% faster when
#: quiet, its forward-Euler variant slower, and both several times slower under load; LIF 100
#: four times slower. So two threads from 20,000 units a step (10 µs per thread) up.
WORK_PER_THREAD = 10_000
#: Synapses that count as one unit of work: a synapse carries ``rate * dt`` spikes a step, one
#: per 100 steps at 100 Hz... one per 1,000 at 10 Hz (dt = 0.1 ms); delivering a spike costs
#: a few units (a scattered read-modify-write), so about one unit per 100 synapses.
SYNAPSES_PER_WORK = 100


def step_threads(threads: int, n_neurons: int, n_synapses: int = 0) -> int:
    """Threads that the step loop of a network runs on when ``threads`` are asked for: at most
    one per :data:`WORK_PER_THREAD` units of work a step (``n_neurons + n_synapses //
    SYNAPSES_PER_WORK``), at least one (an OpenMP ``if`` on the whole step loop: a network too
    small for two threads runs the serial loop, without a parallel region or a barrier)."""
    if WORK_PER_THREAD <= 0:
        return max(1, int(threads))
    work = int(n_neurons) + int(n_synapses) // max(1, SYNAPSES_PER_WORK)
    return max(1, min(int(threads), work // WORK_PER_THREAD))


@lru_cache(maxsize=1)
def _march() -> str:
    """The CPU ``-march=native`` resolves to here (part of the cache key)."""
    proc = subprocess.run(["g++", "-march=native", "-Q", "--help=target"],
                          capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "-march=":
            return words[1]
    return "unknown"


@lru_cache(maxsize=1)
def native_flags() -> tuple[str, ...]:
    """The g++ flags of a native build; the last one names the target CPU and the launcher
    code (so the cache key changes with either)."""
    helpers = "".join((kernels_dir() / f).read_text(encoding="utf-8")
                      for f in ("native_host.h", "native_loop.cpp"))
    key = hashlib.sha256(f"{_FORMAT}\0{_march()}\0{helpers}".encode()).hexdigest()[:16]
    flags = [f for f in hostbuild.CXXFLAGS if f != "-O2"]
    return ("-O3", "-march=native", "-ffp-contract=off", "-fno-trapping-math", "-fopenmp", *flags,
            "-DNS_HOST_NATIVE=1",
            f"-DNS_NATIVE_KEY=0x{key}ULL")


@lru_cache(maxsize=1)
def status() -> tuple[bool, str]:
    """(usable, reason): whether g++ builds and runs an OpenMP program here."""
    if shutil.which("g++") is None:
        return False, "g++ not found (the native CPU backend compiles the kernels with g++)"
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "probe.cpp"
        src.write_text('#include <omp.h>\nextern "C" int probe() { int n = 0;\n'
                       '#pragma omp parallel reduction(+:n)\n n += 1;\n return n; }\n')
        out = Path(tmp) / "probe.so"
        proc = subprocess.run(["g++", "-O2", "-fopenmp", "-march=native", "-shared", "-fPIC",
                               "-o", str(out), str(src)], capture_output=True, text=True)
        if proc.returncode != 0:
            return False, f"g++ cannot build OpenMP code: {proc.stderr.strip()[-300:]}"
        try:
            _omp_environment()
            if ctypes.CDLL(str(out)).probe() < 1:
                return False, "an OpenMP test program ran no thread"
        except OSError as exc:
            return False, f"an OpenMP test library does not load: {exc}"
    return True, "g++ with OpenMP found"


def _native_launcher(name: str, specs: list[ArgSpec]) -> str:
    """The native body, its address and the host-build-compatible launcher of kernel ``name``
    (see ``kernels/native_host.h``)."""
    unpack = ", ".join(f"ns_native::arg<{s.base} *>(a[{i}])" if s.pointer
                       else f"ns_native::arg<{s.base}>(a[{i}])" for i, s in enumerate(specs))
    params = ["unsigned gx", "unsigned gy", "unsigned gz", "unsigned bx", "unsigned by",
              "unsigned bz", "unsigned order_seed", "int ftz"]
    packs = []
    for i, s in enumerate(specs):
        if s.pointer:
            params.append(f"void *a{i}")
            packs.append(f"ns_native::pack_ptr(a{i})")
        else:
            params.append(f"{s.base} a{i}")
            packs.append(f"ns_native::pack<{s.base}>(a{i})")
    n = max(1, len(specs))
    return (
        '#include "native_host.h"\n'
        f"static void nsb_{name}(const unsigned *d, const ns_u64 *a) {{\n"
        f"  (void)a;\n  ns_native::blocks(d, [&]() {{ {name}({unpack}); }});\n}}\n"
        f'extern "C" __attribute__((visibility("default"))) void *nsbody_{name}(void) '
        f"{{ return (void *)&nsb_{name}; }}\n"
        f'extern "C" __attribute__((visibility("default"))) int launch_{name}('
        + ", ".join(params) + ") {\n  (void)order_seed;\n"
        f"  const ns_u64 a[{n}] = {{{', '.join(packs) or '0'}}};\n"
        "  const unsigned d[7] = {gx, gy, gz, bx, by, bz, 0u};\n"
        f"  return ns_native::launch(d, ftz, &nsb_{name}, a);\n}}\n"
    )


#: How long an idle OpenMP thread spins at a barrier before it sleeps (libgomp's
#: ``GOMP_SPINCOUNT``), unless ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` is set: libgomp's
#: default (300,000 spins) makes a thread that waits for a descheduled one burn its time slice,
#: which on a loaded machine made two threads 10-30 times slower than one; a short spin keeps
#: the barriers of a quiet machine fast.
SPINCOUNT = "1000"


def _omp_environment() -> None:
    """Set libgomp's spin count before libgomp is loaded (read once, at its load)."""
    if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
        os.environ["GOMP_SPINCOUNT"] = SPINCOUNT


def _timed_build(source: str, origin: str, defines: tuple[str, ...]):
    folder = cache_dir()
    before = time.perf_counter()
    # the kernel scan sees the native-only kernels (#if NS_HOST_NATIVE) too
    defines = ("-DNS_HOST_NATIVE=1", *(d for d in defines if d != "-DNS_HOST_NATIVE=1"))
    with _lock:
        path, meta = _build(source, origin, defines, flags=native_flags(),
                            launcher=_native_launcher, folder=folder)
    spent = time.perf_counter() - before
    if spent > 0.05:             # a cached build takes milliseconds
        _build_seconds[0] += spent
    return path, meta


class NativeModule(HostModule):
    """A kernel file built for the native CPU backend; called like ``cupy.RawModule`` (and
    :class:`~neurosim.backends.hostbuild.HostModule`, whose argument checks its kernels keep).
    ``threads``: OpenMP threads of each launch from Python (:meth:`set_threads`).
    Threads always run in natural order (no shuffling)."""

    def __init__(self, filename: str | os.PathLike | None = None, *,
                 code: str | None = None, options: tuple[str, ...] = (),
                 ftz: bool = True, threads: int = 1):
        if (filename is None) == (code is None):
            raise TypeError("NativeModule() takes exactly one of a file name or code=...")
        ok, why = status()
        if not ok:
            raise HostBuildError(f"the native CPU backend cannot build kernels here: {why}")
        self.origin = str(filename) if code is None else "<code>"
        self.source = load_source(filename) if code is None else inline_includes(code)
        self.shuffle = False
        self.ftz = bool(ftz)
        self.defines = tuple(o for o in options if o.startswith(("-D", "-U")))
        self.count = False
        self.path, meta = _timed_build(self.source, self.origin, self.defines)
        _omp_environment()
        self._lib = ctypes.CDLL(str(self.path))
        self.kernels: dict[str, list[ArgSpec]] = {
            name: [parse_ctype(argname, ctype, real_dtype_of(self.defines))
                   for argname, ctype in args]
            for name, args in meta["kernels"].items()
        }
        self.unsupported: dict[str, str] = dict(meta["unsupported"])
        self._functions: dict[str, HostKernel] = {}
        self.set_threads(threads)

    def set_threads(self, threads: int) -> None:
        """OpenMP threads of this module's launches from Python."""
        self.threads = int(threads)
        self._lib.ns_native_set_threads(ctypes.c_int(self.threads))

    def body_address(self, name: str) -> int:
        """The address of kernel ``name``'s native body (what the plan runner calls)."""
        self.get_function(name)             # LookupError / HostBuildError as usual
        fn = getattr(self._lib, f"nsbody_{name}")
        fn.restype = ctypes.c_void_p
        return int(fn())

    def __repr__(self) -> str:
        return f"NativeModule({self.origin!r}, kernels={sorted(self.kernels)})"


#: One launch of a plan as ``ns_run_plan`` reads it (``struct ns_launch``, 64 bytes).
LAUNCH_DTYPE = np.dtype([("fn", np.uint64), ("args", np.uint64), ("dims", np.uint32, 6),
                         ("flags", np.uint32), ("pad", np.uint32, 5)])

#: Launch flags of a plan (``ns_launch.flags``, ``kernels/native_loop.cpp``): no barrier after
#: this launch (on several threads), because the next launch reads nothing that another thread
#: wrote in it; run on the last thread of the team to reach it, alone (with SERIAL: the body
#: runs every block); the body runs every block on the calling thread.
NO_BARRIER, LAST_ARRIVER, SERIAL = 1, 2, 4
assert LAUNCH_DTYPE.itemsize == 64


@lru_cache(maxsize=1)
def _runner_lib() -> ctypes.CDLL:
    """``kernels/native_loop.cpp``, built once and cached."""
    source = (kernels_dir() / "native_loop.cpp").read_text(encoding="utf-8")
    flags = native_flags()
    key = hashlib.sha256(f"{hostbuild._compiler_id()}\0{' '.join(flags)}\0{source}".encode()
                         ).hexdigest()[:32]
    folder = cache_dir()
    so = folder / f"loop-{key}.so"
    if not so.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        before = time.perf_counter()
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            out = Path(tmp) / "loop.so"
            hostbuild._run_gxx([*flags, "-o", str(out), str(kernels_dir() / "native_loop.cpp")],
                               "build the native plan runner")
            os.replace(out, so)
        _build_seconds[0] += time.perf_counter() - before
    _omp_environment()
    lib = ctypes.CDLL(str(so))
    fn = lib.ns_run_plan
    fn.restype = ctypes.c_longlong
    fn.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                   ctypes.c_void_p, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_void_p, ctypes.c_int,
                   ctypes.c_int, ctypes.c_int]
    return lib


class PlanRunner:
    """A launch plan (per clock parity, lists of ``(kernel, grid, block, args)`` or
    ``(kernel, grid, block, args, flags)``, flags :data:`NO_BARRIER` or 0) packed once for
    ``ns_run_plan``; :meth:`run` replays it for a range of steps, then ``post`` (launches of
    the same form, run once after the last step of each call).

    Arguments are checked as a host-build call checks them (types, contiguity, writeability)
    when the plan is packed; the arrays must stay alive (the engine keeps them) while the
    runner is used. The last launch of each parity keeps its barrier (the runner reads the
    step's halt flag after it)."""

    def __init__(self, plans, clock: np.ndarray, threads: int, ftz: bool = True, post=()):
        if clock.dtype != np.int64 or clock.shape != (2, 4) or not clock.flags.c_contiguous:
            raise ValueError("PlanRunner: clock must be a C-contiguous int64 array of shape (2, 4)")
        self._fn = _runner_lib().ns_run_plan
        self.clock = clock
        self.threads = int(threads)
        self.ftz = bool(ftz)
        self._keep = []
        self.tables = [self._pack(plan) for plan in plans]
        for table in self.tables:      # a step ends at a barrier, or one-barrier steps
            if len(table) and not (table["flags"] & LAST_ARRIVER).any():
                table["flags"][-1] = 0
        self.post = self._pack(post)
        # the call's fixed arguments, converted once (a run of a few steps is mostly this call)
        self._fixed = (self.tables[0].ctypes.data, len(self.tables[0]),
                       self.tables[1].ctypes.data, len(self.tables[1]),
                       self.post.ctypes.data, len(self.post))
        self._clock_ptr = clock.ctypes.data

    def _pack(self, plan) -> np.ndarray:
        table = np.zeros(len(plan), LAUNCH_DTYPE)
        for i, (kernel, grid, block, args, *flags) in enumerate(plan):
            if len(args) != len(kernel.args):
                raise TypeError(f"{kernel.signature()} takes {len(kernel.args)} arguments, "
                                f"got {len(args)}")
            words = np.zeros(max(1, len(args)), np.uint64)
            for k, (spec, value) in enumerate(zip(kernel.args, args)):
                converted = kernel._convert(k, spec, value)      # the host build's checks
                if spec.pointer:
                    words[k] = 0 if converted is None else int(converted)
                else:
                    scalar = np.array(converted, spec.dtype)
                    raw = np.zeros(8, np.uint8)
                    raw[:scalar.itemsize] = np.frombuffer(scalar.tobytes(), np.uint8)
                    words[k] = raw.view(np.uint64)[0]
            self._keep.append((words, args))
            table["fn"][i] = kernel.module.body_address(kernel.name)
            table["args"][i] = words.ctypes.data
            dims = [max(1, int(x)) for x in (*grid, 1, 1)[:3]] + \
                   [max(1, int(x)) for x in (*block, 1, 1)[:3]]
            table["dims"][i] = dims
            table["flags"][i] = int(flags[0]) if flags else 0
        return table

    def run(self, n0: int, n1: int, stop_at_halt: bool = True) -> int:
        """Steps ``n0 .. n1 - 1``; the step after the last one run (fewer than ``n1`` where a
        step halted the clock and ``stop_at_halt``)."""
        return int(self._fn(*self._fixed, int(n0), int(n1), self._clock_ptr, self.threads,
                            int(bool(stop_at_halt)), int(self.ftz)))
