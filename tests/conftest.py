"""Shared fixtures: ``device`` runs one test body on every usable backend.

- ``cpu``: the NumPy reference, always;
- ``cuda:host``: the CUDA backend's code on kernels compiled for the CPU (needs g++ and the CUDA
  engine); small networks only, since it loops over threads in C;
- ``cpu:native``: the same kernels compiled with -O3 and OpenMP, the step loop in C (needs g++
  with OpenMP); every core's thread (two here), so float sums may round in another order;
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


def _native_ok() -> tuple[bool, str]:
    if importlib.util.find_spec("neurosim.backends.native") is None:
        return False, "the native CPU backend is not part of this build"
    from neurosim.backends.native import status
    return status()


DEVICE_PARAMS = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda:host", id="cuda-host"),
    pytest.param("cpu:native", id="cpu-native"),
    pytest.param("cuda", id="cuda", marks=pytest.mark.gpu),
]


@pytest.fixture(params=DEVICE_PARAMS)
def device(request):
    """Every backend usable here (see module docstring)."""
    if request.param == "cuda:host":
        ok, why = _host_ok()
        if not ok:
            pytest.skip(f"cuda:host unavailable: {why}")
    if request.param == "cpu:native":
        ok, why = _native_ok()
        if not ok:
            pytest.skip(f"cpu:native unavailable: {why}")
    if request.param == "cuda":
        ok, why = cuda_status()
        if not ok:
            pytest.skip(f"no GPU: {why}")
    return request.param
