"""Backends and device selection.

``numpy`` is the reference and the CPU path. ``cuda`` runs CuPy arrays and the raw kernels of
``kernels/``; only that backend and its kernel loader import ``cupy``. ``cuda:host`` runs the
same CUDA backend code on kernels compiled for the CPU (g++), for testing without a GPU.
``cpu:native`` runs that code on the same kernels compiled for speed (g++ -O3, OpenMP threads,
the step loop in C; :mod:`neurosim.backends.native`); ``device="auto"`` does not pick it (NumPy
stays the CPU default: the native build costs a first compile, and with several threads its
sums are not bit-identical to NumPy's).

Whether ``cuda`` works here is decided by :func:`neurosim.backends.probe.probe`, once per
process: CuPy, a visible GPU, NVRTC, the CUDA headers, and a tiny kernel compiled and launched.
``device="auto"`` picks CUDA when the network has at least :data:`AUTO_GPU_MIN_NEURONS` neurons
and the probe succeeds, NumPy otherwise, logging why. An explicit ``device="cuda"`` that the
probe rejects raises :class:`~neurosim.errors.DeviceUnavailableError` naming what is missing
and the command that installs it, never a silent fallback.
"""

from __future__ import annotations

import logging

from ..errors import DeviceUnavailableError

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cpu:native", "cuda", "cuda:host")
AUTO_GPU_MIN_NEURONS = 10_000


def cuda_status() -> tuple[bool, str]:
    """(usable, reason): the probe's verdict on the ``cuda`` backend (cached per process)."""
    from . import probe as _probe   # imported here: `python -m neurosim.backends.probe` runs it
    result = _probe.probe()
    return result.ok, result.reason()


def host_build_status() -> tuple[bool, str]:
    """(usable, reason) for the CPU build of the kernels (needs g++)."""
    import shutil
    if shutil.which("g++") is None:
        return False, "g++ not found (the host build of the kernels needs a C++ compiler)"
    return True, "g++ found"


def available() -> dict[str, str]:
    """Backend name -> "usable" or the reason it is not usable here."""
    ok, why = cuda_status()
    hok, hwhy = host_build_status()
    return {"numpy": "usable",
            "cuda": "usable" if ok else why,
            "cuda:host": "usable (testing only: CUDA kernels compiled for the CPU)" if hok else hwhy}


def select_backend(device: str, n_neurons: int) -> str:
    """The backend a network of ``n_neurons`` uses for ``device`` (see module docstring)."""
    if device == "cpu":
        return "numpy"
    if device == "cpu:native":
        from .native import status as native_status
        ok, why = native_status()
        if not ok:
            raise DeviceUnavailableError(f"device='cpu:native' needs {why}")
        return "cpu:native"
    if device == "cuda:host":
        ok, why = host_build_status()
        if not ok:
            raise DeviceUnavailableError(f"device='cuda:host' needs {why}")
        return "cuda:host"
    if device == "auto" and n_neurons < AUTO_GPU_MIN_NEURONS:
        log.debug("device='auto' chose numpy: %d neurons, fewer than the %d that go to the GPU",
                  n_neurons, AUTO_GPU_MIN_NEURONS)
        return "numpy"
    from . import probe as _probe
    result = _probe.probe()
    if result.ok:
        return "cuda"
    if device == "cuda":
        raise DeviceUnavailableError(result.error("device='cuda'"))
    # "auto": a CPU-only install (no CuPy) is the ordinary case; anything later is a broken GPU
    # setup the user should hear about
    level = logging.INFO if result.failed.detail == _probe.NOT_INSTALLED else logging.WARNING
    log.log(level, "device='auto' runs numpy for %d neurons: the cuda backend %s (to use the "
            "GPU: %s)", n_neurons, result.missing(), result.failed.fix)
    return "numpy"
