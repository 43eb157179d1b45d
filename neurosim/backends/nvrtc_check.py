"""Compile every ``kernels/*.cu`` for the GPU without a GPU: the CI gate.

Each kernel file, after :func:`~neurosim.backends.kernel_source.load_source`,
is compiled for ``sm_80``, ``sm_86`` and ``sm_90`` with the options CuPy uses,
and ptxas reports every kernel's registers, stack and spills. Two routes:

* ``nvrtc`` -- NVRTC, the compiler ``cupy.RawModule`` uses, called through
  ctypes: from the pip package ``nvidia-cuda-nvrtc-cu12`` (or the CUDA 13
  ``nvidia-cuda-nvrtc``), ``$NEUROSIM_NVRTC``, or a CUDA toolkit. It compiles
  to a cubin (``-arch=sm_XX``) with ``--ptxas-options=-v``;
* ``nvcc`` -- ``nvcc -cubin -arch=sm_XX -Xptxas -v`` (the nvcc front end
  takes the ``__CUDACC__`` branch of ``common.cuh``, NVRTC the
  ``__CUDACC_RTC__`` one, so checking both covers both).

Options (:data:`CUPY_OPTIONS`): ``--std=c++17`` (what the CUDA backend passes
to ``RawModule``, :data:`RAWMODULE_OPTIONS`; CuPy's own default is c++14) and
``-ftz=true`` (which CuPy appends to every compilation). NVRTC's defaults
already contract FMAs (``-fmad=true``); CuPy adds no ``-DNDEBUG``.

A compilation fails on an error, a warning (any compiler or ptxas warning
except the few in :data:`IGNORED_WARNINGS`), or a kernel that spills
registers to local memory. Stack frames (local arrays) are reported, not
failed. Usage::

    python -m neurosim.backends.nvrtc_check [--route auto|nvrtc|nvcc|all]
                                            [--arch sm_80 ...] [--json] [FILE.cu ...]

prints the report and exits 0 when everything is clean, 1 on a problem and
2 when neither NVRTC nor nvcc is available. :func:`check` returns the
:class:`Report` for tests.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .kernel_source import list_kernel_files, load_source

__all__ = [
    "ARCHS",
    "RAWMODULE_OPTIONS",
    "CUPY_OPTIONS",
    "IGNORED_WARNINGS",
    "KernelResources",
    "CompileResult",
    "Report",
    "find_nvrtc",
    "find_nvcc",
    "available_routes",
    "check",
    "main",
]

ARCHS = ("sm_80", "sm_86", "sm_90")
#: What the CUDA backend passes as ``cupy.RawModule(code=..., options=...)``.
RAWMODULE_OPTIONS = ("--std=c++17",)
#: What NVRTC receives from CuPy for those: CuPy appends ``-ftz=true``.
CUPY_OPTIONS = RAWMODULE_OPTIONS + ("-ftz=true",)
#: Regular expressions of warnings that do not fail the check.
IGNORED_WARNINGS = (
    r"Support for offline compilation for architectures prior to",
    r"The 'compute_\d+', 'sm_\d+', and 'sm_\d+' architectures are deprecated",
)

_DIAG_RE = re.compile(r"^(?P<where>.+?\(\d+\)): (?P<kind>error|warning)(?: #[\w-]+)?: "
                      r"(?P<msg>.*)$")
_ENTRY_RE = re.compile(r"Compiling entry function '(?P<name>[^']+)' for '(?P<arch>sm_\w+)'")
_PROPS_RE = re.compile(r"Function properties for (?P<name>\S+)")
_STACK_RE = re.compile(r"(?P<stack>\d+) bytes stack frame, (?P<st>\d+) bytes spill stores, "
                       r"(?P<ld>\d+) bytes spill loads")
_USED_RE = re.compile(r"Used (?P<regs>\d+) registers")
_SMEM_RE = re.compile(r"(?P<smem>\d+) bytes smem")


@dataclass
class KernelResources:
    """ptxas's account of one kernel for one architecture."""

    name: str
    registers: int = 0
    stack_bytes: int = 0
    spill_stores: int = 0
    spill_loads: int = 0
    shared_bytes: int = 0


@dataclass
class CompileResult:
    """One kernel file compiled for one architecture by one route."""

    file: str
    arch: str
    route: str
    ok: bool
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    kernels: list[KernelResources] = field(default_factory=list)
    seconds: float = 0.0
    log: str = ""

    @property
    def spills(self) -> list[KernelResources]:
        return [k for k in self.kernels if k.spill_stores or k.spill_loads]

    def problems(self) -> list[str]:
        where = f"{self.file} [{self.arch}, {self.route}]"
        out = [f"{where}: error: {e}" for e in self.errors]
        out += [f"{where}: warning: {w}" for w in self.warnings]
        out += [f"{where}: {k.name} spills {k.spill_stores} B stores / {k.spill_loads} B loads"
                for k in self.spills]
        if not self.ok and not self.errors:
            out.append(f"{where}: compilation failed:\n{self.log.strip()}")
        return out


@dataclass
class Report:
    """All compilations of one check; ``ok`` when none has a problem."""

    routes: dict[str, str]          # route -> description (library/binary, version)
    options: tuple[str, ...]
    results: list[CompileResult]

    @property
    def ok(self) -> bool:
        return bool(self.results) and not self.problems()

    def problems(self) -> list[str]:
        return [p for r in self.results for p in r.problems()]

    def to_dict(self) -> dict:
        return {"ok": self.ok, "routes": self.routes, "options": list(self.options),
                "results": [asdict(r) for r in self.results], "problems": self.problems()}

    def format(self) -> str:
        lines = [f"neurosim kernel compile check, options {' '.join(self.options)}"]
        lines += [f"  {route}: {desc}" for route, desc in self.routes.items()]
        for r in self.results:
            status = "ok" if r.ok and not r.problems() else "FAIL"
            regs = max((k.registers for k in r.kernels), default=0)
            lines.append(f"{r.file:<24} {r.arch:<6} {r.route:<6} {status:<4} "
                         f"{len(r.kernels)} kernels, max {regs} registers, {r.seconds:.2f} s")
            for k in r.kernels:
                lines.append(f"    {k.name:<28} {k.registers:>3} regs  stack {k.stack_bytes} B  "
                             f"spills {k.spill_stores}/{k.spill_loads} B  smem {k.shared_bytes} B")
        problems = self.problems()
        if problems:
            lines.append(f"FAILED: {len(problems)} problem(s)")
            lines += [f"  {p}" for p in problems]
        elif not self.results:
            lines.append("FAILED: nothing was compiled")
        else:
            lines.append(f"OK: {len(self.results)} compilations, no errors, no warnings, "
                         "no spills")
        return "\n".join(lines)


# ---------------------------------------------------------------------------
# log parsing


def parse_log(log: str, arch: str) -> tuple[list[str], list[str], list[KernelResources]]:
    """(errors, warnings, kernels) from an NVRTC or nvcc log with ptxas -v."""
    errors, warnings, kernels = [], [], {}
    current, props_for = None, None
    for raw_line in log.splitlines():
        line = raw_line.strip()
        diag = _DIAG_RE.match(line)
        if diag:
            text = f"{diag['where']}: {diag['msg']}"
            (errors if diag["kind"] == "error" else warnings).append(text)
            continue
        if re.match(r"^(ptxas|nvlink)\s+(error|fatal)|^nvcc (error|fatal)", line):
            errors.append(line)
            continue
        if re.match(r"^(ptxas|nvcc)\s+warning", line):
            if not any(re.search(p, line) for p in IGNORED_WARNINGS):
                warnings.append(line)
            continue
        if m := _ENTRY_RE.search(line):
            if m["arch"] == arch:
                current = kernels.setdefault(m["name"], KernelResources(m["name"]))
            continue
        if m := _PROPS_RE.search(line):
            props_for = kernels.get(m["name"])
            continue
        if m := _STACK_RE.search(line):
            if props_for is not None:
                props_for.stack_bytes = int(m["stack"])
                props_for.spill_stores = int(m["st"])
                props_for.spill_loads = int(m["ld"])
            continue
        if (m := _USED_RE.search(line)) and current is not None:
            current.registers = int(m["regs"])
            if s := _SMEM_RE.search(line):
                current.shared_bytes = int(s["smem"])
    warnings = [w for w in warnings if not any(re.search(p, w) for p in IGNORED_WARNINGS)]
    return errors, warnings, list(kernels.values())


# ---------------------------------------------------------------------------
# NVRTC through ctypes


def _nvrtc_candidates() -> list[Path]:
    found: list[Path] = []
    env = os.environ.get("NEUROSIM_NVRTC")
    if env:
        found.append(Path(env))
    patterns = ("libnvrtc.so*", "nvrtc64_*.dll", "libnvrtc.*.dylib")
    folders = []
    spec = importlib.util.find_spec("nvidia")  # pip wheels: nvidia/<pkg>/lib
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            folders += sorted(Path(root).glob("*/lib")) + sorted(Path(root).glob("*/bin"))
    for var in ("CUDA_PATH", "CUDA_HOME"):
        if os.environ.get(var):
            folders += [Path(os.environ[var]) / sub for sub in ("lib64", "lib", "bin")]
    folders += [Path("/usr/local/cuda/lib64")]
    for folder in folders:
        for pattern in patterns:
            libs = [p for p in folder.glob(pattern)
                    if "builtins" not in p.name and ".alt." not in p.name]
            found += sorted(libs, key=lambda p: p.name, reverse=True)
    system = ctypes.util.find_library("nvrtc")
    if system:
        found.append(Path(system))
    return found


class _Nvrtc:
    def __init__(self, path: Path):
        self.path = path
        lib = ctypes.CDLL(str(path))
        self.lib = lib
        lib.nvrtcGetErrorString.restype = ctypes.c_char_p
        major, minor = ctypes.c_int(), ctypes.c_int()
        self._check(lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)), "nvrtcVersion")
        self.version = (major.value, minor.value)

    def _check(self, status: int, what: str) -> None:
        if status != 0:
            msg = self.lib.nvrtcGetErrorString(status).decode()
            raise RuntimeError(f"{what} failed: {msg}")

    def compile(self, source: str, name: str, options: list[str]) -> tuple[bool, str]:
        lib, prog = self.lib, ctypes.c_void_p()
        self._check(lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), name.encode(),
                                           0, None, None), "nvrtcCreateProgram")
        try:
            opts = (ctypes.c_char_p * len(options))(*[o.encode() for o in options])
            status = lib.nvrtcCompileProgram(prog, len(options), opts)
            size = ctypes.c_size_t()
            lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
            buf = ctypes.create_string_buffer(size.value)
            lib.nvrtcGetProgramLog(prog, buf)
            return status == 0, buf.value.decode(errors="replace")
        finally:
            lib.nvrtcDestroyProgram(ctypes.byref(prog))


_nvrtc_cache: dict[str, _Nvrtc | None] = {}


def find_nvrtc() -> "_Nvrtc | None":
    """A loaded NVRTC (``.path``, ``.version``), or None when none loads."""
    if "nvrtc" not in _nvrtc_cache:
        _nvrtc_cache["nvrtc"] = None
        for path in _nvrtc_candidates():
            try:
                _nvrtc_cache["nvrtc"] = _Nvrtc(path)
                break
            except (OSError, RuntimeError, AttributeError):
                continue
    return _nvrtc_cache["nvrtc"]


def find_nvcc() -> str | None:
    """Path of ``nvcc`` ($CUDA_PATH/bin, $CUDA_HOME/bin, the PATH), or None."""
    for var in ("CUDA_PATH", "CUDA_HOME"):
        if os.environ.get(var):
            candidate = Path(os.environ[var]) / "bin" / "nvcc"
            if candidate.is_file():
                return str(candidate)
    return shutil.which("nvcc")


def available_routes() -> dict[str, str]:
    """Route name -> description, for the routes usable here."""
    routes = {}
    nvrtc = find_nvrtc()
    if nvrtc is not None:
        routes["nvrtc"] = f"NVRTC {nvrtc.version[0]}.{nvrtc.version[1]} ({nvrtc.path})"
    nvcc = find_nvcc()
    if nvcc is not None:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
        release = re.search(r"release ([\d.]+)", out)
        routes["nvcc"] = f"nvcc {release.group(1) if release else '?'} ({nvcc})"
    return routes


# ---------------------------------------------------------------------------
# compiling


def _compile_nvrtc(source: str, name: str, arch: str, options: tuple[str, ...]) -> tuple[bool, str]:
    nvrtc = find_nvrtc()
    return nvrtc.compile(source, name, [*options, f"-arch={arch}", "--ptxas-options=-v"])


def _compile_nvcc(source: str, name: str, arch: str, options: tuple[str, ...]) -> tuple[bool, str]:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / name
        src.write_text(source, encoding="utf-8")
        cmd = [find_nvcc(), "-cubin", f"-arch={arch}", *options, "-Xptxas", "-v",
               "-o", str(Path(tmp) / "out.cubin"), str(src)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
        return proc.returncode == 0, proc.stdout + proc.stderr


def check(files=None, archs=ARCHS, route: str = "auto",
          options: tuple[str, ...] = CUPY_OPTIONS) -> Report:
    """Compile ``files`` (default: every ``kernels/*.cu``) for ``archs``.

    ``route``: ``"nvrtc"``, ``"nvcc"``, ``"all"`` (every available one) or
    ``"auto"`` (NVRTC when found, else nvcc). Raises ``RuntimeError`` when the
    requested route is not available.
    """
    found = available_routes()
    if route == "auto":
        chosen = ["nvrtc"] if "nvrtc" in found else ["nvcc"] if "nvcc" in found else []
    elif route == "all":
        chosen = list(found)
    else:
        chosen = [route] if route in found else []
    if not chosen:
        raise RuntimeError(
            f"no CUDA compiler for route {route!r}: NVRTC not found (pip install "
            "nvidia-cuda-nvrtc-cu12, or set NEUROSIM_NVRTC to libnvrtc) and nvcc not on the PATH"
        )
    paths = [Path(f) for f in files] if files else list_kernel_files()
    compilers = {"nvrtc": _compile_nvrtc, "nvcc": _compile_nvcc}
    results = []
    for path in paths:
        source = load_source(path)
        for name in chosen:
            for arch in archs:
                start = time.perf_counter()
                ok, log = compilers[name](source, path.name, arch, tuple(options))
                errors, warnings, kernels = parse_log(log, arch)
                results.append(CompileResult(
                    file=path.name, arch=arch, route=name, ok=ok and not errors,
                    errors=errors, warnings=warnings, kernels=kernels,
                    seconds=time.perf_counter() - start, log=log))
    return Report(routes={r: found[r] for r in chosen}, options=tuple(options),
                  results=results)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m neurosim.backends.nvrtc_check",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", help="kernel files (default: kernels/*.cu)")
    parser.add_argument("--route", default="auto", choices=("auto", "nvrtc", "nvcc", "all"))
    parser.add_argument("--arch", action="append", help="sm_XX (repeatable; default "
                        + " ".join(ARCHS) + ")")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        report = check(args.files or None, tuple(args.arch or ARCHS), args.route)
    except RuntimeError as exc:
        print(f"nvrtc_check: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_dict(), indent=1) if args.json else report.format())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
