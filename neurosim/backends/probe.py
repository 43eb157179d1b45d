"""What a run on the GPU needs, checked once per process: :func:`probe`.

The steps, in order; the first that fails ends the probe (the rest are "not tried"):

- ``cupy``: CuPy imports;
- ``gpu``: CuPy sees at least one GPU (driver loaded, a device visible);
- ``nvrtc``: NVRTC loads (``cupy.cuda.nvrtc.getVersion()``: CuPy's own loader);
- ``headers``: the CUDA headers that CuPy 14 adds to every compilation are found
  (``cuda.pathfinder.find_nvidia_header_directory("cudart")``, CuPy's own call; without
  them every ``RawModule`` fails with "Failed to find CUDA headers");
- ``compile``: a tiny kernel compiles through ``cupy.RawModule`` with the CUDA backend's
  options (:data:`~neurosim.backends.cupy_options.RAWMODULE_OPTIONS`);
- ``launch``: it runs on the GPU and its result is checked.

CuPy 14 wheels bring NVRTC and the headers only with their ``[ctk]`` extra, which the
``neurosim[cuda12]`` / ``neurosim[cuda13]`` extras ask for; a failed step names what is
missing and the command that installs it (:meth:`ProbeResult.error`).
"""

from __future__ import annotations

import functools
import os
from dataclasses import asdict, dataclass

import numpy as np

from .cupy_options import RAWMODULE_OPTIONS

__all__ = ["STEPS", "NEEDS", "NOT_INSTALLED", "Step", "ProbeResult", "probe", "run_probe",
           "PROBE_KERNEL", "main"]

STEPS = ("cupy", "gpu", "nvrtc", "headers", "compile", "launch")
#: What each step provides, for messages: "device='cuda' needs <this>".
NEEDS = {
    "cupy": "CuPy",
    "gpu": "a visible NVIDIA GPU",
    "nvrtc": "NVRTC (the CUDA runtime compiler CuPy compiles the kernels with)",
    "headers": "the CUDA headers CuPy passes to every kernel compilation",
    "compile": "a kernel compiled by CuPy's NVRTC",
    "launch": "a kernel that runs correctly on the GPU",
}
PROBE_KERNEL = r"""
extern "C" __global__ void neurosim_probe(const float* x, float* y, int n) {
    int i = blockDim.x * blockIdx.x + threadIdx.x;
    if (i < n) y[i] = 2.0f * x[i] + 1.0f;
}
"""
_PROBE_N = 1000
#: The cupy step's detail when CuPy is simply absent (a CPU-only install).
NOT_INSTALLED = "CuPy is not installed"
_BOTH_EXTRAS = ("pip install 'neurosim[cuda12]' (CUDA 12 driver) or "
                "pip install 'neurosim[cuda13]' (CUDA 13 driver)")


@dataclass(frozen=True)
class Step:
    """One probe step: ``ok`` True/False, or None when not tried; ``fix`` on a failure."""

    name: str
    ok: bool | None
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class ProbeResult:
    steps: tuple[Step, ...]

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)

    @property
    def failed(self) -> Step | None:
        return next((s for s in self.steps if s.ok is False), None)

    def reason(self) -> str:
        """One line: what works, or which step failed and why."""
        bad = self.failed
        if bad is None:
            return "; ".join(s.detail for s in self.steps)
        return f"{bad.name} step failed: {bad.detail} (fix: {bad.fix})"

    def missing(self) -> str:
        """"needs <what>, but <why>" for the failed step (ValueError when none failed)."""
        bad = self.failed
        if bad is None:
            raise ValueError("ProbeResult.missing(): the probe succeeded; nothing is missing")
        return f"needs {NEEDS[bad.name]}, but {bad.detail}"

    def error(self, where: str = "device='cuda'") -> str:
        """The DeviceUnavailableError message: what is missing, why, and how to install it."""
        return f"{where} {self.missing()}: {self.failed.fix}, or use device='cpu'"

    def format(self) -> str:
        """One line per step, for ``neurosim info``."""
        lines = []
        for s in self.steps:
            state = {True: "ok", False: "FAILED", None: "not tried"}[s.ok]
            lines.append(f"{s.name:<8} {state}: {s.detail}")
            if s.fix:
                lines.append(f"{'':<8} fix: {s.fix}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "steps": [asdict(s) for s in self.steps]}


class _Fail(Exception):
    def __init__(self, detail: str, fix: str):
        super().__init__(detail)
        self.detail, self.fix = detail, fix


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _cuda_major(version: int) -> int:
    return int(version) // 1000


def _extra(cupy) -> str:
    """The neurosim extra that matches this CuPy build (cupy-cuda12x -> cuda12)."""
    try:
        return f"cuda{_cuda_major(cupy.cuda.runtime.runtimeGetVersion())}"
    except Exception:   # a CuPy that cannot tell: name both
        return ""


def _install(cupy, what: str) -> str:
    extra = _extra(cupy)
    if not extra:
        return f"{_BOTH_EXTRAS} brings {what}"
    return f"pip install 'neurosim[{extra}]' (cupy-{extra}x[ctk]) brings {what}"


# -- the steps ----------------------------------------------------------------------------------

def _step_cupy():
    try:
        import cupy
    except ModuleNotFoundError as exc:
        if exc.name != "cupy":
            raise _Fail(f"CuPy is installed but fails to import ({_why(exc)})",
                        f"reinstall it: {_BOTH_EXTRAS}") from None
        raise _Fail(NOT_INSTALLED, _BOTH_EXTRAS) from None
    except Exception as exc:   # CuPy's own import diagnostics (wrong CUDA build, ...)
        raise _Fail(f"CuPy is installed but fails to import ({_why(exc)})",
                    f"reinstall it: {_BOTH_EXTRAS}") from None
    return cupy, f"CuPy {getattr(cupy, '__version__', '?')}"


def _gpu_fix(cupy) -> str:
    """What to do when CuPy reaches no GPU: a driver, a driver new enough, or a visible device."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    limit = "" if visible is None else f" (CUDA_VISIBLE_DEVICES={visible!r} limits what CUDA sees)"
    try:
        driver = _cuda_major(cupy.cuda.runtime.driverGetVersion())
        built = _cuda_major(cupy.cuda.runtime.runtimeGetVersion())
    except Exception:
        driver = built = None
    if driver == 0:
        return f"install the NVIDIA driver (none is loaded){limit}"
    if driver is not None and driver < built:
        older = (f"pip uninstall cupy-cuda{built}x, then pip install 'neurosim[cuda{driver}]', or "
                 if driver in (12, 13) else "")
        return f"the driver supports CUDA {driver} but this CuPy needs CUDA {built}: {older}" \
               "update the NVIDIA driver"
    return f"check that `nvidia-smi` lists a GPU{limit}"


def _step_gpu(cupy) -> str:
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as exc:
        raise _Fail(f"CuPy cannot reach a GPU ({_why(exc)})", _gpu_fix(cupy)) from None
    if count < 1:
        raise _Fail("CuPy sees no GPU (0 devices)", _gpu_fix(cupy))
    try:
        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        name = name.decode() if isinstance(name, bytes) else str(name)
    except Exception:
        name = "name unknown"
    return f"{count} GPU(s), device 0: {name}"


def _step_nvrtc(cupy) -> str:
    try:
        major, minor = cupy.cuda.nvrtc.getVersion()
    except Exception as exc:
        raise _Fail(f"NVRTC could not be loaded ({_why(exc)})",
                    _install(cupy, "NVRTC")) from None
    return f"NVRTC {major}.{minor}"


def _step_headers(cupy) -> str:
    try:
        from cuda.pathfinder import find_nvidia_header_directory
    except ImportError:
        return ("not checked: cuda.pathfinder is not installed (CuPy < 14 finds the headers "
                "through CUDA_PATH); the compile step decides")
    try:
        folder = find_nvidia_header_directory("cudart")
    except Exception as exc:
        raise _Fail(f"looking for the CUDA headers failed ({_why(exc)})",
                    _install(cupy, "the CUDA headers")) from None
    if not folder:
        raise _Fail("cuda.pathfinder found no cuda_runtime.h (it looks in the pip wheels' "
                    "nvidia/cu13/include and nvidia/cuda_runtime/include, $CONDA_PREFIX, "
                    "$CUDA_PATH/$CUDA_HOME and the toolkit of a system libcudart)",
                    _install(cupy, "the CUDA headers"))
    return f"CUDA headers in {folder}"


def _driver_fix(cupy) -> tuple[str, str]:
    """(the CUDA versions of the driver and of CuPy, the command for the matching extra)."""
    try:
        driver = _cuda_major(cupy.cuda.runtime.driverGetVersion())
        built = _cuda_major(cupy.cuda.runtime.runtimeGetVersion())
    except Exception:
        return "", f"install the extra that matches the driver: {_BOTH_EXTRAS}"
    versions = f"; the driver supports CUDA {driver}, CuPy is built for CUDA {built}"
    if driver in (12, 13) and driver != built:
        return versions, f"pip uninstall cupy-cuda{built}x, then pip install 'neurosim[cuda{driver}]'"
    return versions, f"update the NVIDIA driver, or reinstall: {_BOTH_EXTRAS}"


def _step_compile(cupy):
    try:
        module = cupy.RawModule(code=PROBE_KERNEL, options=RAWMODULE_OPTIONS)
        kernel = module.get_function("neurosim_probe")     # CuPy compiles here
    except Exception as exc:
        versions, fix = _driver_fix(cupy)
        raise _Fail(f"compiling a 3-line kernel with options {' '.join(RAWMODULE_OPTIONS)} "
                    f"failed ({_why(exc)}){versions}", fix) from None
    return kernel, "a tiny kernel compiled"


def _step_launch(cupy, kernel) -> str:
    n = _PROBE_N
    try:
        x = cupy.arange(n, dtype=cupy.float32)
        y = cupy.zeros(n, dtype=cupy.float32)
        kernel(((n + 255) // 256,), (256,), (x, y, np.int32(n)))
        cupy.cuda.runtime.deviceSynchronize()
        got = np.asarray(cupy.asnumpy(y))
    except Exception as exc:
        versions, fix = _driver_fix(cupy)
        raise _Fail(f"launching the compiled kernel failed ({_why(exc)}){versions}", fix) from None
    expected = 2.0 * np.arange(n, dtype=np.float32) + 1.0
    wrong = np.flatnonzero(got != expected) if got.shape == expected.shape else [0]
    if len(wrong):
        i = int(wrong[0])
        value = got.ravel()[i] if got.size > i else "nothing"
        versions, fix = _driver_fix(cupy)
        raise _Fail(f"the kernel ran but wrote wrong values ({len(wrong)} of {n} wrong; y[{i}] = "
                    f"{value}, expected {expected[i]}){versions}", fix)
    return f"a tiny kernel launched, {n} values checked"


def run_probe() -> ProbeResult:
    """Run every step now (uncached; :func:`probe` is the cached one)."""
    done: list[Step] = []
    try:
        cupy, detail = _step_cupy()
        done.append(Step("cupy", True, detail))
        for name, step in (("gpu", _step_gpu), ("nvrtc", _step_nvrtc),
                           ("headers", _step_headers)):
            done.append(Step(name, True, step(cupy)))
        kernel, detail = _step_compile(cupy)
        done.append(Step("compile", True, detail))
        done.append(Step("launch", True, _step_launch(cupy, kernel)))
    except _Fail as fail:
        done.append(Step(STEPS[len(done)], False, fail.detail, fail.fix))
    done += [Step(name, None, "an earlier step failed") for name in STEPS[len(done):]]
    return ProbeResult(tuple(done))


@functools.lru_cache(maxsize=1)
def probe() -> ProbeResult:
    """:func:`run_probe` once per process; ``probe.cache_clear()`` forgets the result."""
    return run_probe()


def main(argv=None) -> int:
    """``python -m neurosim.backends.probe``: print the steps; exit 0 when the GPU is usable."""
    import argparse
    import json
    parser = argparse.ArgumentParser(prog="python -m neurosim.backends.probe",
                                     description="Check, step by step, what device='cuda' needs.")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = probe()
    print(json.dumps(result.to_dict(), indent=1) if args.json else result.format())
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
