"""The cuda12 / cuda13 extras install what compiling a kernel needs on a machine that has only
the NVIDIA driver: CuPy 14 with its ``[ctk]`` extra, which brings NVRTC and the CUDA headers.

CuPy 14 stopped bringing them by itself: without them the first ``RawModule`` fails with
"Failed to find CUDA headers" (no headers) or cannot load NVRTC."""

from __future__ import annotations

import importlib.metadata
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
requirements = pytest.importorskip("packaging.requirements")

#: The ``ctk`` extra's Requires-Dist, read from the METADATA of cupy-cuda12x 14.2.0 and
#: cupy-cuda13x 14.2.0 (``pip download --no-deps``); CuPy 13.x wheels have no ``ctk`` extra.
CUPY_14_2_CTK = {
    12: 'cuda-toolkit[cublas,cudart,cufft,curand,cusolver,cusparse,nvrtc]==12.*; extra == "ctk"',
    13: 'cuda-toolkit[cublas,cudart,cufft,curand,cusolver,cusparse,nvrtc]==13.*; extra == "ctk"',
}
#: cuda-toolkit extras that compiling needs: NVRTC itself, and cudart's headers (cuda_runtime.h,
#: the file cuda.pathfinder looks for when CuPy asks for the CUDA include folder; the wheels
#: nvidia-cuda-runtime 13.0.96 and nvidia-cuda-runtime-cu12 12.9.79 put it in
#: nvidia/cu13/include and nvidia/cuda_runtime/include, where cuda-pathfinder 1.9 looks).
COMPILE_NEEDS = {"nvrtc", "cudart"}


def _extras() -> dict[str, list[str]]:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return project["project"]["optional-dependencies"]


def _cupy_requirement(extra: str):
    reqs = [requirements.Requirement(r) for r in _extras()[extra]]
    cupy = [r for r in reqs if r.name.startswith("cupy")]
    assert len(cupy) == 1, f"extra {extra!r} must ask for one CuPy, got {[str(r) for r in reqs]}"
    return cupy[0]


@pytest.mark.parametrize("major", [12, 13])
def test_extra_asks_for_cupy_14_with_its_toolkit(major):
    cupy = _cupy_requirement(f"cuda{major}")
    assert cupy.name == f"cupy-cuda{major}x"
    assert "ctk" in cupy.extras, f"{cupy} brings neither NVRTC nor the CUDA headers"
    assert not cupy.specifier.contains("13.6.0"), f"{cupy}: CuPy 13 has no ctk extra"
    assert cupy.specifier.contains("14.2.0")
    assert cupy.marker is None


@pytest.mark.parametrize("major", [12, 13])
def test_cupy_ctk_extra_brings_nvrtc_and_headers(major):
    req = requirements.Requirement(CUPY_14_2_CTK[major])
    assert req.name == "cuda-toolkit" and COMPILE_NEEDS <= req.extras
    assert req.specifier.contains(f"{major}.9") and not req.specifier.contains(f"{major + 1}.0")
    assert req.marker.evaluate({"extra": "ctk"}) and not req.marker.evaluate({"extra": ""})


def test_installed_cupy_metadata_agrees():
    """Where a CuPy wheel is installed, its own METADATA says the same as the record above."""
    checked = 0
    for major in (12, 13):
        try:
            dist = importlib.metadata.distribution(f"cupy-cuda{major}x")
        except importlib.metadata.PackageNotFoundError:
            continue
        if not dist.version.startswith("14."):
            continue
        checked += 1
        assert "ctk" in (dist.metadata.get_all("Provides-Extra") or [])
        ctk = [requirements.Requirement(r) for r in dist.requires or []
               if 'extra == "ctk"' in r]
        assert any(r.name == "cuda-toolkit" and COMPILE_NEEDS <= r.extras for r in ctk), ctk
    if not checked:
        pytest.skip("no CuPy 14 wheel installed here")


def test_install_commands_name_extras_that_exist():
    """The README's install lines and the probe's fixes name extras pyproject defines, and the
    README says what the extra brings as pyproject asks for it."""
    import re
    extras = _extras()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    probe = (ROOT / "neurosim" / "backends" / "probe.py").read_text(encoding="utf-8")
    named = set(re.findall(r"\.\[([\w-]+)\]", readme)) | set(
        re.findall(r"neurosim\[([\w-]+)\]", readme + probe))
    assert {"cuda12", "cuda13"} <= named
    assert named <= set(extras), named - set(extras)
    assert str(_cupy_requirement("cuda12")).startswith("cupy-cuda12x[ctk]")
    assert "`cupy-cuda12x[ctk]`" in readme
