"""Find and load NVRTC the way CuPy 14 does, and call it through ctypes.

CuPy 14 loads NVRTC with ``cuda.pathfinder.load_nvidia_dynamic_lib("nvrtc")``
(``cupy_backends/cuda/libs/_cnvrtc.pxi``). When ``cuda.pathfinder`` is importable
(every CuPy 14 install has it) :func:`find_nvrtc` calls it; otherwise
:func:`candidates` repeats its Linux search (cuda-pathfinder 1.9), in order:

1. ``$NEUROSIM_NVRTC`` (neurosim's own override: a path to ``libnvrtc.so*``);
2. pip wheels: ``nvidia/cu13/lib`` (CUDA 13), then ``nvidia/cuda_nvrtc/lib``
   (CUDA 12), each under every site-packages folder (a virtual environment's
   first, then the user's, then the system's);
3. ``$CONDA_PREFIX/lib64``, ``$CONDA_PREFIX/lib``;
4. the dynamic loader's own search (``LD_LIBRARY_PATH``, ``ldconfig``);
5. ``$CUDA_PATH`` (else ``$CUDA_HOME``) ``/lib64``, ``/lib``;

looking for ``libnvrtc.so.13`` before ``libnvrtc.so.12`` in each folder. (That search is
Linux's; elsewhere only cuda.pathfinder or ``$NEUROSIM_NVRTC`` find NVRTC.)

NVRTC opens ``libnvrtc-builtins.so.X.Y`` itself when it compiles. The CUDA 13.0
wheel's ``libnvrtc.so.13`` has no ``RUNPATH``, so that fails ("failed to open
libnvrtc-builtins.so.13.0") unless ``LD_LIBRARY_PATH`` names the folder. Like
cuda-pathfinder, :func:`load` preloads the sibling builtins library globally
(:func:`builtins_to_preload`).
"""

from __future__ import annotations

import ctypes
import os
import site
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

__all__ = ["SONAMES", "SITE_PACKAGES_DIRS", "Candidate", "Nvrtc", "site_packages_roots",
           "candidates", "builtins_to_preload", "load", "find_nvrtc"]

SONAMES = ("libnvrtc.so.13", "libnvrtc.so.12")
SITE_PACKAGES_DIRS = ("nvidia/cu13/lib", "nvidia/cuda_nvrtc/lib")
_MODE = getattr(os, "RTLD_NOW", 0) | getattr(os, "RTLD_GLOBAL", 0)


@dataclass(frozen=True)
class Candidate:
    """A place to load NVRTC from: a file, or a bare soname for the loader's own search."""

    path: str
    found_via: str      # NEUROSIM_NVRTC, site-packages, conda, system-search, CUDA_PATH


class Nvrtc:
    """A loaded NVRTC: ``path``, ``found_via``, ``version`` and :meth:`compile`."""

    def __init__(self, path: str, found_via: str, lib: ctypes.CDLL | None = None):
        self.path, self.found_via = path, found_via
        self.lib = lib if lib is not None else ctypes.CDLL(path, mode=_MODE)
        self.lib.nvrtcGetErrorString.restype = ctypes.c_char_p
        major, minor = ctypes.c_int(), ctypes.c_int()
        self._check(self.lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)),
                    "nvrtcVersion")
        self.version = (major.value, minor.value)

    def _check(self, status: int, what: str) -> None:
        if status != 0:
            raise RuntimeError(f"{what} failed: {self.lib.nvrtcGetErrorString(status).decode()}")

    def compile(self, source: str, name: str, options: Sequence[str]) -> tuple[bool, str]:
        """(success, log) of compiling ``source`` (shown as file ``name``) with ``options``."""
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


def site_packages_roots() -> list[str]:
    """site-packages folders in cuda-pathfinder's order (a venv's, the user's, the system's)."""
    roots = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        user = site.getusersitepackages()
        if user:
            roots.insert(1 if sys.prefix != sys.base_prefix else 0, user)
    return roots


def candidates(environ: Mapping[str, str] | None = None,
               roots: Sequence[str] | None = None) -> list[Candidate]:
    """Where to look for NVRTC, in the order of the module docstring (files that exist only,
    plus the loader's own search by soname)."""
    env = os.environ if environ is None else environ
    roots = site_packages_roots() if roots is None else roots
    found: list[Candidate] = []
    if env.get("NEUROSIM_NVRTC"):
        found.append(Candidate(env["NEUROSIM_NVRTC"], "NEUROSIM_NVRTC"))

    def in_folder(folder: Path, via: str) -> None:
        for soname in SONAMES:
            if (folder / soname).is_file():
                found.append(Candidate(str(folder / soname), via))
                return

    for rel in SITE_PACKAGES_DIRS:
        for root in roots:
            in_folder(Path(root, rel), "site-packages")
    if env.get("CONDA_PREFIX"):
        for sub in ("lib64", "lib"):
            in_folder(Path(env["CONDA_PREFIX"], sub), "conda")
    found += [Candidate(soname, "system-search") for soname in SONAMES]
    cuda_root = env.get("CUDA_PATH") or env.get("CUDA_HOME")
    if cuda_root:
        for sub in ("lib64", "lib"):
            in_folder(Path(cuda_root, sub), "CUDA_PATH")
    return found


def builtins_to_preload(path: str, found_via: str) -> str | None:
    """The ``libnvrtc-builtins`` file to load before compiling with the NVRTC at ``path``
    (cuda-pathfinder's ``_preload_nvrtc_builtins``), or None when there is none to load."""
    if found_via == "conda":                        # conda's RPATH finds the sibling
        return None
    real = Path(os.path.realpath(path))
    version = real.name.removeprefix("libnvrtc.so.").split(".")
    wheel = found_via == "site-packages" or any(
        real.parent.as_posix().endswith(rel) for rel in SITE_PACKAGES_DIRS)
    if wheel:
        if version[0] != "13":                      # only the CUDA 13.0 wheel lacks RUNPATH
            return None
        major, minor = "13", "0"
    elif len(version) >= 2 and version[0].isdigit() and version[1].isdigit():
        major, minor = version[0], version[1]
    else:
        return None
    sibling = real.parent / f"libnvrtc-builtins.so.{major}.{minor}"
    return str(sibling) if sibling.is_file() else None


def _loaded_path(lib: ctypes.CDLL, soname: str) -> str:
    """The file the loader picked for ``soname`` (dlinfo's RTLD_DI_ORIGIN), or the soname."""
    try:
        libdl = ctypes.CDLL("libdl.so.2")
        buf = ctypes.create_string_buffer(4096)
        if libdl.dlinfo(ctypes.c_void_p(lib._handle), 6, buf) == 0 and buf.value:
            return os.path.join(os.fsdecode(buf.value), soname)
    except (OSError, AttributeError):
        pass
    return soname


def load(candidate: Candidate) -> Nvrtc:
    """Load NVRTC from ``candidate`` and preload its builtins; OSError when it does not load."""
    lib = ctypes.CDLL(candidate.path, mode=_MODE)
    path = candidate.path
    if candidate.found_via == "system-search":
        path = _loaded_path(lib, candidate.path)
    sibling = builtins_to_preload(path, candidate.found_via)
    if sibling is not None:
        ctypes.CDLL(sibling, mode=_MODE)
    return Nvrtc(path, candidate.found_via, lib)


def _load_with_pathfinder() -> tuple[bool, Nvrtc | None]:
    """(whether cuda.pathfinder is installed, the NVRTC it loads or None)."""
    try:
        from cuda.pathfinder import DynamicLibNotFoundError, load_nvidia_dynamic_lib
    except ImportError:
        return False, None
    try:
        loaded = load_nvidia_dynamic_lib("nvrtc")
    except (DynamicLibNotFoundError, RuntimeError):
        return True, None
    return True, Nvrtc(loaded.abs_path, f"{loaded.found_via}, cuda.pathfinder")


_cache: dict[str, Nvrtc | None] = {}


def find_nvrtc() -> Nvrtc | None:
    """NVRTC loaded as CuPy 14 loads it (see the module docstring), or None; cached.

    Where cuda.pathfinder is installed its answer is final (it is CuPy's); ``$NEUROSIM_NVRTC``
    overrides both."""
    if "nvrtc" not in _cache:
        nvrtc, searched = None, False
        if not os.environ.get("NEUROSIM_NVRTC"):
            searched, nvrtc = _load_with_pathfinder()
        for candidate in ([] if searched else candidates()):
            try:
                nvrtc = load(candidate)
                break
            except (OSError, RuntimeError, AttributeError):
                continue
        _cache["nvrtc"] = nvrtc
    return _cache["nvrtc"]
