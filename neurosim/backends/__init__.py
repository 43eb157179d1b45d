"""Backends and device selection.

``numpy`` is the reference and the CPU path. ``cuda`` runs CuPy arrays and the raw kernels of
``kernels/``; only that backend and its kernel loader import ``cupy``. ``cuda:host`` runs the
same CUDA backend code on kernels compiled for the CPU (g++), for testing without a GPU.

``device="auto"`` picks CUDA when CuPy sees a GPU and the network has at least
:data:`AUTO_GPU_MIN_NEURONS` neurons, NumPy otherwise. An explicit ``device="cuda"`` without a
usable GPU is an error, never a silent fallback.
"""

from __future__ import annotations

import importlib.util
import logging
from functools import lru_cache

from ..errors import DeviceUnavailableError

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda", "cuda:host")
AUTO_GPU_MIN_NEURONS = 10_000

_CUDA_HINT = ("pip install 'neurosim[cuda12]' (or 'neurosim[cuda13]') on a machine with an "
              "NVIDIA GPU, or use device='cpu'")


@lru_cache(maxsize=1)
def cuda_status() -> tuple[bool, str]:
    """(usable, reason): whether CuPy imports and sees at least one GPU."""
    if importlib.util.find_spec("cupy") is None:
        return False, "CuPy is not installed"
    try:
        import cupy
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CuPy raises its own CUDARuntimeError types
        return False, f"CuPy is installed but cannot reach a GPU ({type(exc).__name__}: {exc})"
    if n < 1:
        return False, "CuPy is installed but sees no GPU"
    return True, f"{n} GPU(s) visible to CuPy"


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
    if device == "cuda:host":
        ok, why = host_build_status()
        if not ok:
            raise DeviceUnavailableError(f"device='cuda:host' needs {why}")
        return "cuda:host"
    ok, why = cuda_status()
    if device == "cuda":
        if not ok:
            raise DeviceUnavailableError(f"device='cuda' needs CuPy and a visible GPU ({why}): "
                                         f"{_CUDA_HINT}")
        return "cuda"
    if ok and n_neurons >= AUTO_GPU_MIN_NEURONS:
        return "cuda"
    log.debug("device='auto' chose numpy (%d neurons; CUDA: %s)", n_neurons, why)
    return "numpy"
