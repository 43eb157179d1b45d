"""What machine a benchmark ran on, read at run time.

``collect()`` returns a JSON-ready dict: OS, CPU model and core counts, memory, Python and the
versions of the packages that matter, and the GPUs seen through NVML (``pynvml``) and CuPy.
Every probe is wrapped: a missing library or a machine without a GPU gives
``{"gpus": [], "gpu_note": "no GPU detected (pynvml: <reason>; cupy: <reason>)"}`` and never an
exception. Nothing here is hard-coded and nothing heavy is imported at module import: CuPy and
NVML are imported inside ``collect()`` only.

``format_text(info)`` turns such a dict (also one read back from an old results file, where
keys may be missing) into the plain-text block of the benchmark report.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import platform
import re
import subprocess
import warnings
from typing import Any

logger = logging.getLogger(__name__)

SYSINFO_VERSION = 1

# Distribution names under which each package may be installed (first found wins).
_DISTRIBUTIONS = {
    "numpy": ("numpy",),
    "jinja2": ("Jinja2", "jinja2"),
    "psutil": ("psutil",),
    "pynvml": ("nvidia-ml-py", "pynvml"),
    "cupy": ("cupy-cuda12x", "cupy-cuda13x", "cupy-cuda11x", "cupy"),
}


def collect() -> dict[str, Any]:
    """Describe this machine and Python environment; see the module docstring for the layout."""
    notes: list[str] = []
    info: dict[str, Any] = {
        "sysinfo_version": SYSINFO_VERSION,
        "collected": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "host_id": host_id(),
        "os": {
            "system": platform.system(),
            "release": platform.release(),
            "platform": platform.platform(),
            "machine": platform.machine(),
        },
        "cpu": _cpu_info(notes),
        "memory": _memory_info(notes),
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
        },
        "packages": {name: _package_version(name) for name in _DISTRIBUTIONS},
    }
    gpus, nvml_reason = _nvml_gpus()
    cuda, cupy_gpus, cupy_reason = _cupy_info()
    if not gpus and cupy_gpus:
        gpus = cupy_gpus
        notes.append(f"pynvml: {nvml_reason}; GPU details from CuPy")
    info["gpus"] = gpus
    info["cuda"] = cuda
    info["gpu_note"] = None if gpus else (
        f"no GPU detected (pynvml: {nvml_reason}; cupy: {cupy_reason})")
    info["notes"] = notes
    return info


def host_id() -> str:
    """A short stable hash of the host name (the name itself never leaves the machine)."""
    return hashlib.sha256(platform.node().encode("utf-8", "replace")).hexdigest()[:12]


# ---------------------------------------------------------------------------------------- CPU
def _cpu_info(notes: list[str]) -> dict[str, Any]:
    cpuinfo = _read_text("/proc/cpuinfo")
    model = _cpu_model(cpuinfo)
    logical = os.cpu_count()
    physical = None
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
        logical = psutil.cpu_count(logical=True) or logical
    except ImportError:
        notes.append("psutil: not installed; physical cores counted from /proc/cpuinfo")
    except Exception as exc:  # psutil may fail inside odd containers
        notes.append(f"psutil.cpu_count failed: {exc}")
    if physical is None and cpuinfo:
        physical = _physical_cores_from_cpuinfo(cpuinfo)
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = logical
    return {"model": model, "physical_cores": physical, "logical_cores": logical,
            "usable_cores": usable}


def cpu_model() -> str:
    """This machine's CPU model string (``/proc/cpuinfo``, ``sysctl`` on macOS, else
    ``platform``)."""
    return _cpu_model(_read_text("/proc/cpuinfo"))


def _cpu_model(cpuinfo: str) -> str:
    for key in ("model name", "Model", "Hardware", "cpu model", "cpu"):
        match = re.search(rf"^{re.escape(key)}\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
        if match and match.group(1).strip():
            return match.group(1).strip()
    if platform.system() == "Darwin":
        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"],
                                 capture_output=True, text=True, timeout=5, check=True)
            if out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _physical_cores_from_cpuinfo(cpuinfo: str) -> int | None:
    cores = set()
    for block in cpuinfo.split("\n\n"):
        phys = re.search(r"^physical id\s*:\s*(\d+)", block, re.MULTILINE)
        core = re.search(r"^core id\s*:\s*(\d+)", block, re.MULTILINE)
        if phys and core:
            cores.add((phys.group(1), core.group(1)))
    return len(cores) or None


# ------------------------------------------------------------------------------------- memory
def _memory_info(notes: list[str]) -> dict[str, Any]:
    try:
        import psutil

        vm = psutil.virtual_memory()
        return {"total_bytes": int(vm.total), "available_bytes": int(vm.available)}
    except ImportError:
        notes.append("psutil: not installed; memory read from /proc/meminfo or sysconf")
    except Exception as exc:
        notes.append(f"psutil.virtual_memory failed: {exc}")
    meminfo = _read_text("/proc/meminfo")
    total = re.search(r"^MemTotal:\s*(\d+)\s*kB", meminfo, re.MULTILINE)
    avail = re.search(r"^MemAvailable:\s*(\d+)\s*kB", meminfo, re.MULTILINE)
    if total:
        return {"total_bytes": int(total.group(1)) * 1024,
                "available_bytes": int(avail.group(1)) * 1024 if avail else None}
    try:
        return {"total_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
                "available_bytes": None}
    except (AttributeError, ValueError, OSError):
        return {"total_bytes": None, "available_bytes": None}


# --------------------------------------------------------------------------------------- GPUs
def _nvml_gpus() -> tuple[list[dict[str, Any]], str]:
    """GPUs seen by NVML, and a reason when there are none."""
    try:
        import pynvml
    except ImportError as exc:
        return [], f"not installed ({exc})"
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        return [], _reason(exc)
    try:
        driver = _try(lambda: _str(pynvml.nvmlSystemGetDriverVersion()))
        cuda_driver = _try(lambda: _cuda_version(pynvml.nvmlSystemGetCudaDriverVersion()))
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            mem = _try(lambda: pynvml.nvmlDeviceGetMemoryInfo(handle))
            cc = _try(lambda: pynvml.nvmlDeviceGetCudaComputeCapability(handle))
            gpus.append({
                "index": index,
                "name": _try(lambda: _str(pynvml.nvmlDeviceGetName(handle))) or "unknown GPU",
                "driver_version": driver,
                "cuda_driver_version": cuda_driver,
                "memory_total_bytes": int(mem.total) if mem is not None else None,
                "memory_free_bytes": int(mem.free) if mem is not None else None,
                "compute_capability": f"{cc[0]}.{cc[1]}" if cc else None,
                "source": "pynvml",
            })
        return gpus, "" if gpus else "driver loaded, 0 devices"
    except Exception as exc:
        return [], _reason(exc)
    finally:
        _try(pynvml.nvmlShutdown)


def _cupy_info() -> tuple[dict[str, Any] | None, list[dict[str, Any]], str]:
    """(CUDA runtime info, GPUs as CuPy sees them, reason when none)."""
    if importlib.util.find_spec("cupy") is None:
        return None, [], "not installed"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import cupy
        runtime = cupy.cuda.runtime
        cuda: dict[str, Any] = {
            "runtime_version": _try(lambda: _cuda_version(runtime.runtimeGetVersion())),
            "device_count": 0,
        }
        count = runtime.getDeviceCount()
        cuda["device_count"] = int(count)
    except Exception as exc:  # no driver, no device, broken install
        return None, [], _reason(exc)
    gpus = []
    for index in range(count):
        props = _try(lambda: runtime.getDeviceProperties(index)) or {}
        gpus.append({
            "index": index,
            "name": _str(props.get("name", b"unknown GPU")),
            "driver_version": None,
            "cuda_driver_version": _try(lambda: _cuda_version(runtime.driverGetVersion())),
            "memory_total_bytes": props.get("totalGlobalMem"),
            "memory_free_bytes": None,
            "compute_capability": (f"{props['major']}.{props['minor']}"
                                   if "major" in props else None),
            "source": "cupy",
        })
    return cuda, gpus, "" if gpus else "0 devices"


# ------------------------------------------------------------------------------------ helpers
def _package_version(name: str) -> str | None:
    for dist in _DISTRIBUTIONS[name]:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


def _try(fn):
    try:
        return fn()
    except Exception:
        return None


def _str(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _cuda_version(code: int) -> str:
    """12040 -> '12.4' (the encoding of cudaDriverGetVersion / cudaRuntimeGetVersion)."""
    code = int(code)
    return f"{code // 1000}.{(code % 1000) // 10}"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


# ------------------------------------------------------------------------------------- format
def _gib(n: Any) -> str:
    return f"{n / 2**30:.1f} GiB" if isinstance(n, (int, float)) else "unknown"


def format_text(info: dict[str, Any]) -> str:
    """The report's system block: one fact per line, tolerant of missing keys."""
    os_ = info.get("os") or {}
    cpu = info.get("cpu") or {}
    mem = info.get("memory") or {}
    py = info.get("python") or {}
    pkgs = info.get("packages") or {}
    lines = [
        f"Platform: {os_.get('platform') or os_.get('system') or 'unknown'}",
        f"CPU: {cpu.get('model') or 'unknown'}",
        "CPU cores: {} physical, {} logical, {} usable by this process".format(
            *(cpu.get(k) if cpu.get(k) is not None else "?"
              for k in ("physical_cores", "logical_cores", "usable_cores"))),
        f"Memory: {_gib(mem.get('total_bytes'))} total",
        f"Python: {py.get('version', '?')} ({py.get('implementation', '?')})",
        "Packages: " + ", ".join(
            f"{name} {pkgs[name] or 'not installed'}" for name in sorted(pkgs)),
    ]
    gpus = info.get("gpus") or []
    for gpu in gpus:
        parts = [f"GPU {gpu.get('index', '?')}: {gpu.get('name', 'unknown GPU')}"]
        if gpu.get("memory_total_bytes") is not None:
            free = gpu.get("memory_free_bytes")
            parts.append(_gib(gpu["memory_total_bytes"])
                         + (f" ({_gib(free)} free)" if free is not None else ""))
        if gpu.get("compute_capability"):
            parts.append(f"compute capability {gpu['compute_capability']}")
        if gpu.get("driver_version"):
            parts.append(f"driver {gpu['driver_version']}")
        if gpu.get("cuda_driver_version"):
            parts.append(f"CUDA driver API {gpu['cuda_driver_version']}")
        lines.append(", ".join(parts))
    if not gpus:
        lines.append(f"GPU: {info.get('gpu_note') or 'no GPU detected'}")
    cuda = info.get("cuda")
    if cuda:
        lines.append(f"CUDA runtime (CuPy): {cuda.get('runtime_version') or '?'}, "
                     f"{cuda.get('device_count', 0)} device(s)")
    for note in info.get("notes") or []:
        lines.append(f"Note: {note}")
    return "\n".join(lines)
