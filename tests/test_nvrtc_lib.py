"""Finding NVRTC the way CuPy 14 does (neurosim/backends/nvrtc_lib.py) and compiling with
CuPy's options (neurosim/backends/cupy_options.py), on fake folder layouts and a fake NVRTC.

The fake ``libnvrtc.so.13`` is built with g++ like the CUDA 13.0 wheel's: no RUNPATH, and its
compile opens ``libnvrtc-builtins.so.13.0`` by name, so it fails unless that library was
preloaded."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys
import types

import pytest

from neurosim.backends import cupy_options, nvrtc_check, nvrtc_lib
from neurosim.backends.nvrtc_lib import Candidate

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _touch(path: pathlib.Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return str(path)


# -- the search order ---------------------------------------------------------------------------

def test_search_order_follows_cuda_pathfinder(tmp_path):
    venv, user = tmp_path / "venv-site", tmp_path / "user-site"
    cu12 = _touch(venv / "nvidia/cuda_nvrtc/lib/libnvrtc.so.12")
    cu13 = _touch(user / "nvidia/cu13/lib/libnvrtc.so.13")
    _touch(user / "nvidia/cu13/lib/libnvrtc.so.12")             # .13 wins in its folder
    conda = tmp_path / "conda"
    conda64 = _touch(conda / "lib64/libnvrtc.so.13")
    conda_lib = _touch(conda / "lib/libnvrtc.so.12")
    cuda_path, cuda_home = tmp_path / "cuda-path", tmp_path / "cuda-home"
    from_cuda_path = _touch(cuda_path / "lib64/libnvrtc.so.12")
    _touch(cuda_home / "lib64/libnvrtc.so.13")                    # CUDA_PATH takes precedence
    _touch(venv / "nvidia/cuda_nvrtc/lib/libnvrtc.so.11.2")       # not a soname CuPy loads
    env = {"NEUROSIM_NVRTC": "/explicit/libnvrtc.so.12", "CONDA_PREFIX": str(conda),
           "CUDA_PATH": str(cuda_path), "CUDA_HOME": str(cuda_home)}
    found = nvrtc_lib.candidates(env, roots=[str(venv), str(user)])
    assert found == [
        Candidate("/explicit/libnvrtc.so.12", "NEUROSIM_NVRTC"),
        Candidate(cu13, "site-packages"),            # nvidia/cu13/lib under every root first
        Candidate(cu12, "site-packages"),
        Candidate(conda64, "conda"), Candidate(conda_lib, "conda"),
        Candidate("libnvrtc.so.13", "system-search"), Candidate("libnvrtc.so.12", "system-search"),
        Candidate(from_cuda_path, "CUDA_PATH"),
    ]
    assert nvrtc_lib.candidates({"CUDA_HOME": str(cuda_home)}, roots=[])[-1] == Candidate(
        str(cuda_home / "lib64/libnvrtc.so.13"), "CUDA_PATH")
    assert nvrtc_lib.candidates({}, roots=[]) == [
        Candidate("libnvrtc.so.13", "system-search"), Candidate("libnvrtc.so.12", "system-search")]


def test_site_packages_roots_put_a_venv_first():
    roots = nvrtc_lib.site_packages_roots()
    assert roots and all(isinstance(r, str) for r in roots)
    if sys.prefix != sys.base_prefix:
        assert roots[0].startswith(sys.prefix)


# -- which libnvrtc-builtins to preload ---------------------------------------------------------

def test_builtins_of_the_cuda13_wheel_are_preloaded(tmp_path):
    lib = tmp_path / "site/nvidia/cu13/lib"
    nvrtc = _touch(lib / "libnvrtc.so.13")
    builtins = _touch(lib / "libnvrtc-builtins.so.13.0")
    assert nvrtc_lib.builtins_to_preload(nvrtc, "site-packages") == builtins
    # the same wheel named through $NEUROSIM_NVRTC
    assert nvrtc_lib.builtins_to_preload(nvrtc, "NEUROSIM_NVRTC") == builtins
    assert nvrtc_lib.builtins_to_preload(nvrtc, "conda") is None     # conda's RPATH does it
    os.remove(builtins)
    assert nvrtc_lib.builtins_to_preload(nvrtc, "site-packages") is None


def test_builtins_of_cuda12_wheels_are_left_to_runpath(tmp_path):
    lib = tmp_path / "site/nvidia/cuda_nvrtc/lib"
    nvrtc = _touch(lib / "libnvrtc.so.12")
    _touch(lib / "libnvrtc-builtins.so.12.9")
    assert nvrtc_lib.builtins_to_preload(nvrtc, "site-packages") is None


def test_builtins_of_a_toolkit_follow_the_real_file_version(tmp_path):
    lib = tmp_path / "cuda/lib64"
    real = _touch(lib / "libnvrtc.so.12.9.86")
    os.symlink(real, lib / "libnvrtc.so.12")
    builtins = _touch(lib / "libnvrtc-builtins.so.12.9")
    _touch(lib / "libnvrtc-builtins.so.12.8")
    for via in ("CUDA_PATH", "system-search"):
        assert nvrtc_lib.builtins_to_preload(str(lib / "libnvrtc.so.12"), via) == builtins
    assert nvrtc_lib.builtins_to_preload(_touch(lib / "libnvrtc.so"), "CUDA_PATH") is None


# -- loading a fake NVRTC that needs its builtins -----------------------------------------------

FAKE_NVRTC = r"""
#include <dlfcn.h>
#include <string.h>
extern "C" {
typedef struct { char log[256]; } prog_t;
int nvrtcVersion(int *major, int *minor) { *major = 13; *minor = 0; return 0; }
const char *nvrtcGetErrorString(int s) { return s ? "NVRTC_ERROR_BUILTIN_OPERATION_FAILURE" : "NVRTC_SUCCESS"; }
int nvrtcCreateProgram(prog_t **p, const char *, const char *, int, const char **, const char **) {
    *p = new prog_t(); (*p)->log[0] = 0; return 0; }
int nvrtcCompileProgram(prog_t *p, int n, const char **opts) {
    /* the real NVRTC opens its builtins by name: without RUNPATH only a preloaded copy is found */
    void *b = dlopen("libnvrtc-builtins.so.13.0", RTLD_NOW | RTLD_NOLOAD);
    if (!b) b = dlopen("libnvrtc-builtins.so.13.0", RTLD_NOW);
    if (!b) { strcpy(p->log, "nvrtc: error: failed to open libnvrtc-builtins.so.13.0."); return 7; }
    strcpy(p->log, "");
    for (int i = 0; i < n; ++i) { strncat(p->log, opts[i], 200 - strlen(p->log)); strcat(p->log, " "); }
    return 0; }
int nvrtcGetProgramLogSize(prog_t *p, size_t *n) { *n = strlen(p->log) + 1; return 0; }
int nvrtcGetProgramLog(prog_t *p, char *out) { strcpy(out, p->log); return 0; }
int nvrtcDestroyProgram(prog_t **p) { delete *p; *p = 0; return 0; }
}
"""


@pytest.fixture(scope="module")
def fake_wheel(tmp_path_factory):
    """site/nvidia/cu13/lib with a fake libnvrtc.so.13 (no RUNPATH) and its builtins."""
    if shutil.which("g++") is None:
        pytest.skip("g++ not found")
    lib = tmp_path_factory.mktemp("wheel") / "site/nvidia/cu13/lib"
    lib.mkdir(parents=True)
    (lib / "nvrtc.cpp").write_text(FAKE_NVRTC)
    (lib / "builtins.cpp").write_text('extern "C" int nvrtc_builtins_marker() { return 1; }\n')
    for src, name in (("nvrtc.cpp", "libnvrtc.so.13"), ("builtins.cpp", "libnvrtc-builtins.so.13.0")):
        subprocess.run(["g++", "-shared", "-fPIC", f"-Wl,-soname,{name}", "-o", str(lib / name),
                        str(lib / src), "-ldl"], check=True, capture_output=True, timeout=120)
    return lib


def _compile_in_child(lib: pathlib.Path, found_via: str, path: str | None = None,
                      ld_library_path: str | None = None) -> subprocess.CompletedProcess:
    path = str(lib / "libnvrtc.so.13") if path is None else path
    code = ("import sys\nfrom neurosim.backends.nvrtc_lib import Candidate, load\n"
            f"n = load(Candidate({path!r}, {found_via!r}))\n"
            "ok, log = n.compile('x', 'x.cu', ['-ftz=true'])\n"
            "print(n.version, ok, log)\nprint(n.path)\nsys.exit(0 if ok else 3)\n")
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    if ld_library_path is not None:
        env["LD_LIBRARY_PATH"] = ld_library_path
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_cuda13_wheel_compiles_only_with_its_builtins_preloaded(fake_wheel):
    preloaded = _compile_in_child(fake_wheel, "site-packages")
    assert preloaded.returncode == 0, preloaded.stderr + preloaded.stdout
    assert preloaded.stdout.splitlines()[0].strip() == "(13, 0) True -ftz=true"
    # control: the same library without the preload (as conda would load it) fails like the
    # real CUDA 13.0 wheel did before
    bare = _compile_in_child(fake_wheel, "conda")
    assert bare.returncode == 3 and "failed to open libnvrtc-builtins.so.13.0" in bare.stdout


def test_find_nvrtc_takes_cuda_pathfinder_s_answer(fake_wheel, monkeypatch):
    pathfinder = types.ModuleType("cuda.pathfinder")

    class DynamicLibNotFoundError(RuntimeError):
        pass

    answers = [types.SimpleNamespace(abs_path=str(fake_wheel / "libnvrtc.so.13"),
                                     found_via="site-packages")]

    def load_nvidia_dynamic_lib(name):
        assert name == "nvrtc"
        if not answers:
            raise DynamicLibNotFoundError('Failure finding "libnvrtc.so.13 or libnvrtc.so.12"')
        return answers.pop()

    pathfinder.DynamicLibNotFoundError = DynamicLibNotFoundError
    pathfinder.load_nvidia_dynamic_lib = load_nvidia_dynamic_lib
    monkeypatch.setitem(sys.modules, "cuda.pathfinder", pathfinder)
    monkeypatch.delenv("NEUROSIM_NVRTC", raising=False)
    monkeypatch.setattr(nvrtc_lib, "_cache", {})
    nvrtc = nvrtc_lib.find_nvrtc()
    assert (nvrtc.path, nvrtc.found_via, nvrtc.version) == (
        str(fake_wheel / "libnvrtc.so.13"), "site-packages, cuda.pathfinder", (13, 0))
    assert nvrtc_lib.find_nvrtc() is nvrtc                       # cached
    # pathfinder finds nothing: that is CuPy's answer too, so no search of our own
    monkeypatch.setattr(nvrtc_lib, "_cache", {})
    monkeypatch.setattr(nvrtc_lib, "candidates", lambda *a, **k: pytest.fail("searched"))
    assert nvrtc_lib.find_nvrtc() is None


# -- the options: one definition, CuPy's order --------------------------------------------------

def test_nvrtc_options_are_cupy_14_2s(monkeypatch):
    monkeypatch.delenv("CUPY_NVRTC_USE_PCH", raising=False)
    assert cupy_options.nvrtc_options("sm_90", (13, 0), "/cupy/_core/include", "/cuda/include") == (
        "-I/cupy/_core/include/cupy/_cccl/cub", "-I/cupy/_core/include/cupy/_cccl/thrust",
        "-I/cupy/_core/include/cupy/_cccl/libcudacxx", "--std=c++17", "-I/cupy/_core/include",
        "-I/cuda/include", "-ftz=true", "-arch=sm_90", "--device-as-default-execution-space")
    assert cupy_options.nvrtc_options("sm_80", (12, 9), None, None) == (
        "--std=c++17", "-ftz=true", "-arch=sm_80", "--device-as-default-execution-space")
    with pytest.raises(ValueError, match=r"arch must look like 'sm_90' .*got '90'"):
        cupy_options.nvrtc_options("90", (13, 0), None, None)


@pytest.mark.parametrize("value, version, pch", [
    ("1", (12, 8), True), ("1", (13, 0), True), ("1", (12, 6), False), ("0", (13, 0), False),
    ("", (13, 0), False), ("yes", (13, 0), False), (None, (13, 0), False)])
def test_pch_as_cupy_passes_it(value, version, pch):
    env = {} if value is None else {"CUPY_NVRTC_USE_PCH": value}
    options = cupy_options.nvrtc_options("sm_90", version, None, None, environ=env)
    assert ("--pch" in options) is pch
    assert options[-1] == "--pch" if pch else options[-1] == "--device-as-default-execution-space"


def test_one_definition_of_the_options(monkeypatch):
    """The engine's RawModule, the compile check and the probe use cupy_options' tuple: every
    RawModule in neurosim passes it, and no other module spells NVRTC's standard out (the g++
    host build's -std=c++17 is another compiler's)."""
    assert nvrtc_check.RAWMODULE_OPTIONS is cupy_options.RAWMODULE_OPTIONS
    sources = {p.name: p.read_text() for p in (ROOT / "neurosim").rglob("*.py")}
    spelled = sorted(n for n, text in sources.items() if re.search(r"--std=c\+\+\d+", text))
    assert spelled == ["cupy_options.py", "nvrtc_check.py"]    # the latter in its docstring
    calls = [(n, line.strip()) for n, text in sources.items() for line in text.splitlines()
             if "RawModule(code=" in line and "options=" in line]
    assert {n for n, _ in calls} >= {"cuda_device.py", "probe.py"}
    assert all("options=RAWMODULE_OPTIONS)" in line for _, line in calls), calls
    # the double variant (Network(precision="double")): the same tuple plus -DNS_DOUBLE=1
    assert "options=RAWMODULE_OPTIONS + (DOUBLE_OPTION,))" in sources["cuda_device.py"]
    from neurosim.engine import cuda_device
    seen = {}

    class RawModule:
        def __init__(self, code, options):
            seen["options"], seen["code"] = options, code

    fake = types.ModuleType("cupy")
    fake.RawModule = RawModule
    fake.cuda = types.SimpleNamespace(Device=lambda: types.SimpleNamespace(id=0))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(cuda_device, "_RAW_MODULES", {})
    cuda_device._cupy_module("record.cu")
    assert seen["options"] is cupy_options.RAWMODULE_OPTIONS
    cuda_device._cupy_module("record.cu", double=True)
    assert seen["options"] == cupy_options.RAWMODULE_OPTIONS + ("-DNS_DOUBLE=1",)
    monkeypatch.setattr(nvrtc_check, "find_nvrtc", lambda: types.SimpleNamespace(version=(13, 0)))
    opts = nvrtc_check.route_options("nvrtc", "sm_86")
    assert opts[-1] == "--ptxas-options=-v" and "-arch=sm_86" in opts
    assert set(cupy_options.RAWMODULE_OPTIONS) <= set(opts)
    assert "--device-as-default-execution-space" in opts and "-ftz=true" in opts
    assert nvrtc_check.route_options("nvcc", "sm_86")[:3] == ("-arch=sm_86", "--std=c++17",
                                                              "-ftz=true")


def test_matches_cupy_s_own_assembly_when_cupy_is_installed():
    """Where CuPy imports (no GPU needed), its assemble_cupy_compiler_options gives the same
    list as the first options of nvrtc_options."""
    core = pytest.importorskip("cupy._core.core")
    theirs = core.assemble_cupy_compiler_options(cupy_options.RAWMODULE_OPTIONS)
    ours = cupy_options.nvrtc_options("sm_90", (13, 0), cupy_options.cupy_include_dir(),
                                      cupy_options.cuda_include_dir())
    assert tuple(theirs) == ours[:len(theirs)]
    assert ours[len(theirs):len(theirs) + 1] == ("-ftz=true",)


def test_the_loader_s_own_search_reports_the_file_it_found(fake_wheel):
    found = _compile_in_child(fake_wheel, "system-search", path="libnvrtc.so.13",
                              ld_library_path=str(fake_wheel))
    assert found.returncode == 0, found.stderr + found.stdout
    assert found.stdout.splitlines()[-1] == str(fake_wheel / "libnvrtc.so.13")
