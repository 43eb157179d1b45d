"""Compile every ``kernels/*.cu`` for the GPU without a GPU: the CI gate.

Each kernel file, after :func:`~neurosim.backends.kernel_source.load_source`,
is compiled for ``sm_80``, ``sm_86`` and ``sm_90`` and ptxas reports every
kernel's registers, stack and spills. Two routes:

* ``nvrtc`` -- NVRTC, the compiler ``cupy.RawModule`` uses, loaded the way
  CuPy 14 loads it (:mod:`neurosim.backends.nvrtc_lib`: ``cuda.pathfinder``
  where installed, else the same search: the CUDA 13 ``nvidia-cuda-nvrtc`` or
  CUDA 12 ``nvidia-cuda-nvrtc-cu12`` wheel, ``$CONDA_PREFIX``, the loader's
  path, ``$CUDA_PATH``; ``$NEUROSIM_NVRTC`` overrides), with its builtins
  library preloaded as CuPy's loader does. It compiles with the options CuPy
  passes (:func:`neurosim.backends.cupy_options.nvrtc_options`: CuPy's and the
  CUDA headers' ``-I`` where installed, ``--std=c++17``, ``-ftz=true``,
  ``-arch=sm_XX``, ``--device-as-default-execution-space``, ``--pch`` when
  ``CUPY_NVRTC_USE_PCH=1``) plus ``--ptxas-options=-v``;
* ``nvcc`` -- ``nvcc -cubin -arch=sm_XX --std=c++17 -ftz=true -Xptxas -v``
  (nvcc has no ``-default-device``; its front end takes the ``__CUDACC__``
  branch of ``common.cuh``, NVRTC the ``__CUDACC_RTC__`` one, so checking both
  covers both).

NVRTC's defaults already contract FMAs (``-fmad=true``); CuPy adds no
``-DNDEBUG``.

Every file is compiled twice: as CuPy loads it for ``Network(precision="single")`` and in its
double variant (``-DNS_DOUBLE=1``: ``ns_real`` is double) for ``precision="double"``.

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
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .cupy_options import RAWMODULE_OPTIONS, cuda_include_dir, cupy_include_dir, nvrtc_options
from .kernel_source import list_kernel_files, load_source
from .nvrtc_lib import find_nvrtc  # re-exported: callers ask this module

__all__ = [
    "ARCHS",
    "RAWMODULE_OPTIONS",
    "NVCC_OPTIONS",
    "route_options",
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
#: nvcc's spelling of what CuPy passes NVRTC (``-arch`` is added per architecture).
NVCC_OPTIONS = RAWMODULE_OPTIONS + ("-ftz=true",)
#: Regular expressions of warnings that do not fail the check.
IGNORED_WARNINGS = (
    r"Support for offline compilation for architectures prior to",
    r"The 'compute_\d+', 'sm_\d+', and 'sm_\d+' architectures are deprecated",
    # With CUPY_NVRTC_USE_PCH=1 CuPy passes --pch; the loader's #line directives stop NVRTC
    # from creating a precompiled header. Nothing is lost: the kernels include no system
    # header for a PCH to hold, and the code generated is the same.
    r"PCH creation disabled because #line directive encountered",
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
    precision: str = "single"       # "double": compiled with DOUBLE_OPTION
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    kernels: list[KernelResources] = field(default_factory=list)
    seconds: float = 0.0
    log: str = ""

    @property
    def spills(self) -> list[KernelResources]:
        return [k for k in self.kernels if k.spill_stores or k.spill_loads]

    def problems(self) -> list[str]:
        variant = ", double" if self.precision == "double" else ""
        where = f"{self.file} [{self.arch}, {self.route}{variant}]"
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
    options: dict[str, tuple[str, ...]]  # route -> its options (``-arch=<arch>`` per arch)
    results: list[CompileResult]

    @property
    def ok(self) -> bool:
        return bool(self.results) and not self.problems()

    def problems(self) -> list[str]:
        return [p for r in self.results for p in r.problems()]

    def to_dict(self) -> dict:
        return {"ok": self.ok, "routes": self.routes,
                "options": {r: list(o) for r, o in self.options.items()},
                "results": [asdict(r) for r in self.results], "problems": self.problems()}

    def format(self) -> str:
        lines = ["neurosim kernel compile check"]
        for route, desc in self.routes.items():
            lines.append(f"  {route}: {desc}")
            lines.append(f"    options: {' '.join(self.options.get(route, ()))}")
        for r in self.results:
            status = "ok" if r.ok and not r.problems() else "FAIL"
            regs = max((k.registers for k in r.kernels), default=0)
            lines.append(f"{r.file:<24} {r.arch:<6} {r.route:<6} {r.precision:<6} {status:<4} "
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
# compilers


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
        routes["nvrtc"] = (f"NVRTC {nvrtc.version[0]}.{nvrtc.version[1]} ({nvrtc.path}, found via "
                           f"{nvrtc.found_via})")
    nvcc = find_nvcc()
    if nvcc is not None:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
        release = re.search(r"release ([\d.]+)", out)
        routes["nvcc"] = f"nvcc {release.group(1) if release else '?'} ({nvcc})"
    return routes


# ---------------------------------------------------------------------------
# compiling


def route_options(route: str, arch: str) -> tuple[str, ...]:
    """The options ``route`` compiles with for ``arch``: for NVRTC, what CuPy passes
    (:func:`~neurosim.backends.cupy_options.nvrtc_options`) plus ptxas's report."""
    if route == "nvrtc":
        nvrtc = find_nvrtc()
        version = nvrtc.version if nvrtc is not None else (0, 0)
        return nvrtc_options(arch, version, cupy_include_dir(), cuda_include_dir()) + (
            "--ptxas-options=-v",)
    if route == "nvcc":
        return (f"-arch={arch}",) + NVCC_OPTIONS + ("-Xptxas", "-v")
    raise ValueError(f"route_options(): route must be 'nvrtc' or 'nvcc', got {route!r}")


#: the option of the double variant (``Network(precision="double")``), as the engine passes it
DOUBLE_OPTION = "-DNS_DOUBLE=1"
PRECISIONS = ("single", "double")


def _compile_nvrtc(source: str, name: str, arch: str, extra=()) -> tuple[bool, str]:
    return find_nvrtc().compile(source, name, route_options("nvrtc", arch) + tuple(extra))


def _compile_nvcc(source: str, name: str, arch: str, extra=()) -> tuple[bool, str]:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / name
        src.write_text(source, encoding="utf-8")
        cmd = [find_nvcc(), "-cubin", *route_options("nvcc", arch), *extra,
               "-o", str(Path(tmp) / "out.cubin"), str(src)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
        return proc.returncode == 0, proc.stdout + proc.stderr


def default_files() -> list:
    """Every ``kernels/*.cu``, then the kernels generated from the built-in models written as
    descriptions (``neurosim.models.DESCRIBED``, rendered from ``kernels/neuron_model.cu.j2``;
    registered sources, named ``generated-<model>-<hash>.cu``) and from the built-in plasticity
    rules (``neurosim.plasticity.DESCRIBED``, from ``kernels/plasticity_rule.cu.j2``), the
    kernels all plastic projections share (``kernels/plasticity.cu.j2``) and homeostasis
    rules (``DESCRIBED_HOMEOSTASIS``, from ``kernels/homeostasis_rule.cu.j2``)."""
    from ..models import DESCRIBED
    from ..plasticity import DESCRIBED as RULES, DESCRIBED_HOMEOSTASIS
    from ..plasticity.generate import machinery_source
    return (list_kernel_files() + [Path(machinery_source())]
            + [Path(d.kernel_file) for d in DESCRIBED]
            + [Path(r.cuda()[0]) for r in (*RULES, *DESCRIBED_HOMEOSTASIS)])


def check(files=None, archs=ARCHS, route: str = "auto", precisions=PRECISIONS) -> Report:
    """Compile ``files`` (default: :func:`default_files`) for ``archs``, in each of
    ``precisions`` (``"single"``; ``"double"``: with :data:`DOUBLE_OPTION`).

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
            "'cuda-toolkit[nvrtc]==13.*' or nvidia-cuda-nvrtc-cu12, or set NEUROSIM_NVRTC to "
            "a libnvrtc.so) and nvcc not on the PATH")
    paths = [Path(f) for f in files] if files else default_files()
    compilers = {"nvrtc": _compile_nvrtc, "nvcc": _compile_nvcc}

    def compile_one(job) -> CompileResult:
        path, source, precision, name, arch = job
        extra = (DOUBLE_OPTION,) if precision == "double" else ()
        start = time.perf_counter()
        ok, log = compilers[name](source, path.name, arch, extra)
        errors, warnings, kernels = parse_log(log, arch)
        return CompileResult(file=path.name, arch=arch, route=name, ok=ok and not errors,
                             errors=errors, warnings=warnings, kernels=kernels,
                             seconds=time.perf_counter() - start, log=log, precision=precision)

    jobs = [(path, source, precision, name, arch)
            for path, source in ((p, load_source(p)) for p in paths)
            for precision in precisions for name in chosen for arch in archs]
    # the compilations are independent (nvcc subprocesses, NVRTC calls through ctypes, which
    # release the GIL): one per core at a time, results in the order of the jobs
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        results = list(pool.map(compile_one, jobs))
    arch = archs[0] if archs else ARCHS[0]
    options = {r: tuple("-arch=<arch>" if o == f"-arch={arch}" else o
                        for o in route_options(r, arch)) for r in chosen}
    return Report(routes={r: found[r] for r in chosen}, options=options, results=results)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m neurosim.backends.nvrtc_check",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", help="kernel files (default: kernels/*.cu and "
                        "the built-in models' generated kernels)")
    parser.add_argument("--route", default="auto", choices=("auto", "nvrtc", "nvcc", "all"))
    parser.add_argument("--arch", action="append", help="sm_XX (repeatable; default "
                        + " ".join(ARCHS) + ")")
    parser.add_argument("--precision", action="append", choices=PRECISIONS,
                        help="single or double (repeatable; default both)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        report = check(args.files or None, tuple(args.arch or ARCHS), args.route,
                       tuple(args.precision or PRECISIONS))
    except RuntimeError as exc:
        print(f"nvrtc_check: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_dict(), indent=1) if args.json else report.format())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
