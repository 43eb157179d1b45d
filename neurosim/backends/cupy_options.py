"""The compiler options of the CUDA backend: one definition, and what CuPy makes of them.

The CUDA backend compiles each kernel file with ``cupy.RawModule(code=...,
options=RAWMODULE_OPTIONS)``. CuPy 14.2 turns that into this NVRTC command line
(``cupy/_core/core.pyx: assemble_cupy_compiler_options``, then
``cupy/cuda/compiler.py: _compile_with_cache_cuda`` and
``_compile_using_nvrtc_no_warning``), in this order:

1. ``-I<cupy>/_core/include/cupy/_cccl/cub``, ``.../thrust``, ``.../libcudacxx``
   (CuPy's bundled CCCL, searched first);
2. the RawModule options: ``--std=c++17`` (CuPy adds ``--std=c++17`` itself only
   when no ``-std``/``--std`` is given);
3. ``-I<cupy>/_core/include``;
4. ``-I<CUDA headers>``: ``cuda.pathfinder.find_nvidia_header_directory("cudart")``;
   when that finds nothing CuPy raises "Failed to find CUDA headers" before NVRTC
   runs (pip wheels: ``cupy-cuda1Xx[ctk]`` brings them);
5. ``-ftz=true``;
6. ``-arch=sm_XX``: a cubin for the current GPU (``-arch=compute_XX`` and PTX only
   when the GPU is newer than NVRTC supports, or with ``CUPY_COMPILE_WITH_PTX=1``);
7. ``--device-as-default-execution-space`` (``-default-device``; every RawModule
   compiled without jitify);
8. ``--pch`` (precompiled headers) when NVRTC is 12.8 or newer and the environment
   sets ``CUPY_NVRTC_USE_PCH=1``; off by default.

:func:`nvrtc_options` builds that list, so ``python -m neurosim.backends.nvrtc_check``
compiles exactly what CuPy will compile.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Mapping

__all__ = ["RAWMODULE_OPTIONS", "DEFAULT_DEVICE_OPTION", "pch_requested", "cupy_include_dir",
           "cuda_include_dir", "nvrtc_options"]

#: What the CUDA backend passes as ``options`` to every ``cupy.RawModule``.
RAWMODULE_OPTIONS = ("--std=c++17",)
#: The long spelling CuPy passes of NVRTC's ``-default-device``.
DEFAULT_DEVICE_OPTION = "--device-as-default-execution-space"
_CCCL_PARTS = ("cub", "thrust", "libcudacxx")


def pch_requested(environ: Mapping[str, str] | None = None) -> bool:
    """``CUPY_NVRTC_USE_PCH`` read as CuPy reads it (``_get_bool_env_variable``, default off)."""
    value = (os.environ if environ is None else environ).get("CUPY_NVRTC_USE_PCH")
    if not value:
        return False
    try:
        return int(value) == 1
    except ValueError:
        return False


def cupy_include_dir() -> str | None:
    """CuPy's own header folder (``<cupy>/_core/include``) without importing CuPy, or None."""
    try:
        spec = importlib.util.find_spec("cupy")
    except ValueError:          # a cupy module without a spec (replaced in sys.modules)
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        folder = Path(root) / "_core" / "include"
        if folder.is_dir():
            return str(folder)
    return None


def cuda_include_dir() -> str | None:
    """The CUDA header folder CuPy 14 uses (``cuda.pathfinder``'s ``cudart`` headers), or None."""
    try:
        from cuda.pathfinder import find_nvidia_header_directory
    except ImportError:
        return None
    return find_nvidia_header_directory("cudart")


def nvrtc_options(arch: str, nvrtc_version: tuple[int, int], cupy_include: str | None,
                  cuda_include: str | None,
                  environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The NVRTC options CuPy 14.2 passes for a RawModule compiled for ``arch`` (``"sm_90"``).

    ``cupy_include`` / ``cuda_include``: the folders of :func:`cupy_include_dir` and
    :func:`cuda_include_dir`; None leaves their ``-I`` options out (a check run where CuPy
    or the headers are not installed: the kernels include no system header).
    """
    if not (arch.startswith(("sm_", "compute_")) and arch.split("_", 1)[1].isdigit()):
        raise ValueError(f"nvrtc_options(): arch must look like 'sm_90' or 'compute_90', "
                         f"got {arch!r}")
    options: list[str] = []
    if cupy_include is not None:
        options += [f"-I{cupy_include}/cupy/_cccl/{part}" for part in _CCCL_PARTS]
    options += RAWMODULE_OPTIONS
    if not any("-std=" in o for o in RAWMODULE_OPTIONS):
        options.append("--std=c++17")
    if cupy_include is not None:
        options.append(f"-I{cupy_include}")
    if cuda_include is not None:
        options.append(f"-I{cuda_include}")
    options += ["-ftz=true", f"-arch={arch}", DEFAULT_DEVICE_OPTION]
    if tuple(nvrtc_version) >= (12, 8) and pch_requested(environ):
        options.append("--pch")
    return tuple(options)
