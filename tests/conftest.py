"""Shared fixtures: ``device`` runs one test body on every usable backend.

- ``cpu``: the NumPy reference, always;
- ``cuda:host``: the CUDA backend's code on kernels compiled for the CPU (needs g++ and the CUDA
  engine); small networks only, since it loops over threads in C;
- ``cuda``: real CuPy on a GPU, marked ``gpu`` and skipped cleanly without one.
"""

from __future__ import annotations

import importlib.util

import pytest

from neurosim.backends import cuda_status, host_build_status


def _host_ok() -> tuple[bool, str]:
    if importlib.util.find_spec("neurosim.engine.cuda_engine") is None:
        return False, "the CUDA engine is not part of this build"
    return host_build_status()


DEVICE_PARAMS = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda:host", id="cuda-host"),
    pytest.param("cuda", id="cuda", marks=pytest.mark.gpu),
]


@pytest.fixture(params=DEVICE_PARAMS)
def device(request):
    """Every backend usable here (see module docstring)."""
    if request.param == "cuda:host":
        ok, why = _host_ok()
        if not ok:
            pytest.skip(f"cuda:host unavailable: {why}")
    if request.param == "cuda":
        ok, why = cuda_status()
        if not ok:
            pytest.skip(f"no GPU: {why}")
    return request.param
