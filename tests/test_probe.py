"""The CUDA probe (neurosim/backends/probe.py): every step's failure, on fake CuPy modules.

No CuPy here: each test injects a fake ``cupy`` (and ``cuda.pathfinder``) into ``sys.modules``
that behaves like CuPy 14.2 in one situation: no GPU, no NVRTC, no headers, a compile error, a
launch error, a wrong result, or all well."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import json
import logging
import sys
import types

import numpy as np
import pytest

import neurosim as ns
from neurosim import backends, cli
from neurosim.backends import probe as probe_mod
from neurosim.backends.cupy_options import RAWMODULE_OPTIONS
from neurosim.errors import DeviceUnavailableError

NVRTC_NOT_FOUND = 'Failure finding "libnvrtc.so.13 or libnvrtc.so.12": No such file'


class FakeCuPy:
    """What the probe touches of CuPy 14.2, with knobs for each failure."""

    def __init__(self, devices=1, nvrtc=(13, 0), compile_error=None, launch_error=None,
                 wrong=False, runtime=13000, driver=13000):
        self.calls = {"getDeviceCount": 0, "RawModule": 0, "launch": 0}
        self.options = None
        fake = self

        def get_device_count():
            fake.calls["getDeviceCount"] += 1
            if isinstance(devices, Exception):
                raise devices
            return devices

        def get_version():
            if isinstance(nvrtc, Exception):
                raise nvrtc
            return nvrtc

        def kernel(grid, block, args):
            fake.calls["launch"] += 1
            x, y, n = args
            assert isinstance(n, np.int32), "scalars must be typed"
            if launch_error is not None:
                raise launch_error
            covered = min(int(n), grid[0] * block[0])
            y[:covered] = x[:covered] if wrong else 2.0 * x[:covered] + 1.0

        class RawModule:
            def __init__(self, code, options):
                fake.calls["RawModule"] += 1
                fake.code, fake.options = code, options

            def get_function(self, name):
                if compile_error is not None:
                    raise compile_error
                assert name == "neurosim_probe"
                return kernel

        runtime_ns = types.SimpleNamespace(
            getDeviceCount=get_device_count,
            getDeviceProperties=lambda i: {"name": b"Fake H100", "major": 9, "minor": 0},
            runtimeGetVersion=lambda: runtime, driverGetVersion=lambda: driver,
            deviceSynchronize=lambda: None)
        module = types.ModuleType("cupy")
        module.__spec__ = importlib.machinery.ModuleSpec("cupy", None)
        module.__version__ = "14.2.0"
        module.cuda = types.SimpleNamespace(runtime=runtime_ns,
                                            nvrtc=types.SimpleNamespace(getVersion=get_version))
        module.RawModule = RawModule
        module.float32 = np.float32
        module.arange, module.zeros, module.asnumpy = np.arange, np.zeros, np.asarray
        self.module = module


@pytest.fixture
def fresh_probe():
    probe_mod.probe.cache_clear()
    yield
    probe_mod.probe.cache_clear()


@pytest.fixture
def install(monkeypatch, fresh_probe):
    """install(cupy=FakeCuPy(...), headers="/x/include" | None | "absent")."""

    def _install(cupy: FakeCuPy | None, headers="/fake/cuda/include"):
        monkeypatch.setitem(sys.modules, "cupy", cupy.module if cupy is not None else None)
        if headers == "absent":
            monkeypatch.setitem(sys.modules, "cuda.pathfinder", None)
        else:
            pathfinder = types.ModuleType("cuda.pathfinder")
            pathfinder.find_nvidia_header_directory = (
                lambda lib: headers if lib == "cudart" else None)
            cuda_pkg = types.ModuleType("cuda")
            cuda_pkg.__path__ = []
            cuda_pkg.pathfinder = pathfinder
            monkeypatch.setitem(sys.modules, "cuda", cuda_pkg)
            monkeypatch.setitem(sys.modules, "cuda.pathfinder", pathfinder)
        return cupy

    return _install


def _states(result):
    return {s.name: s.ok for s in result.steps}


def _only_failure(result, name):
    states = _states(result)
    index = probe_mod.STEPS.index(name)
    assert [states[s] for s in probe_mod.STEPS[:index]] == [True] * index
    assert states[name] is False
    assert [states[s] for s in probe_mod.STEPS[index + 1:]] == [None] * (5 - index)
    assert result.failed.name == name and not result.ok
    return result.failed


# -- each step's failure -----------------------------------------------------------------------

def test_no_cupy(install):
    install(None)
    bad = _only_failure(probe_mod.probe(), "cupy")
    assert bad.detail == probe_mod.NOT_INSTALLED
    assert "pip install 'neurosim[cuda12]'" in bad.fix and "pip install 'neurosim[cuda13]'" in bad.fix


class _BrokenCuPyFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name == "cupy" else None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        raise ImportError("libcudart.so.12: cannot open shared object file")


def test_cupy_that_fails_to_import(install, monkeypatch):
    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_BrokenCuPyFinder(), *sys.meta_path])
    bad = _only_failure(probe_mod.run_probe(), "cupy")
    assert "fails to import" in bad.detail and "libcudart.so.12" in bad.detail
    assert "reinstall" in bad.fix


@pytest.mark.parametrize("devices, expected", [
    (0, "CuPy sees no GPU (0 devices)"),
    (RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected"),
     "CuPy cannot reach a GPU (RuntimeError: cudaErrorNoDevice"),
])
def test_no_gpu(install, monkeypatch, devices, expected):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    install(FakeCuPy(devices=devices))
    bad = _only_failure(probe_mod.probe(), "gpu")
    assert bad.detail.startswith(expected)
    assert "nvidia-smi" in bad.fix and "CUDA_VISIBLE_DEVICES=''" in bad.fix


@pytest.mark.parametrize("driver, fix", [
    (0, "install the NVIDIA driver (none is loaded)"),
    (12080, "the driver supports CUDA 12 but this CuPy needs CUDA 13: pip uninstall cupy-cuda13x, "
            "then pip install 'neurosim[cuda12]', or update the NVIDIA driver"),
    (11080, "the driver supports CUDA 11 but this CuPy needs CUDA 13: update the NVIDIA driver"),
])
def test_no_usable_driver(install, monkeypatch, driver, fix):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    error = RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")
    install(FakeCuPy(devices=error, driver=driver, runtime=13000))
    bad = _only_failure(probe_mod.probe(), "gpu")
    assert "cudaErrorInsufficientDriver" in bad.detail and bad.fix == fix


@pytest.mark.parametrize("runtime, extra", [(13000, "cuda13"), (12080, "cuda12")])
def test_nvrtc_missing_names_the_extra_of_this_cupy(install, runtime, extra):
    install(FakeCuPy(nvrtc=RuntimeError(NVRTC_NOT_FOUND), runtime=runtime))
    result = probe_mod.probe()
    bad = _only_failure(result, "nvrtc")
    assert "libnvrtc.so.13" in bad.detail
    assert f"pip install 'neurosim[{extra}]' (cupy-{extra}x[ctk]) brings NVRTC" == bad.fix
    assert result.error().startswith("device='cuda' needs NVRTC")


def test_headers_missing(install):
    install(FakeCuPy(), headers=None)
    bad = _only_failure(probe_mod.probe(), "headers")
    assert bad.detail.startswith("cuda.pathfinder found no cuda_runtime.h")
    assert "pip install 'neurosim[cuda13]' (cupy-cuda13x[ctk]) brings the CUDA headers" == bad.fix


def test_headers_not_checked_without_pathfinder(install):
    install(FakeCuPy(), headers="absent")
    result = probe_mod.probe()
    assert result.ok
    assert "not checked: cuda.pathfinder is not installed" in result.steps[3].detail


def test_compile_error_names_versions_and_the_matching_extra(install):
    error = RuntimeError("nvrtc: error: invalid value for --gpu-architecture (-arch)")
    install(FakeCuPy(compile_error=error, driver=12080, runtime=13000))
    bad = _only_failure(probe_mod.probe(), "compile")
    assert "--std=c++17" in bad.detail and "invalid value for --gpu-architecture" in bad.detail
    assert "driver supports CUDA 12, CuPy is built for CUDA 13" in bad.detail
    assert bad.fix == "pip uninstall cupy-cuda13x, then pip install 'neurosim[cuda12]'"


def test_launch_error(install):
    install(FakeCuPy(launch_error=RuntimeError("CUDA_ERROR_NO_BINARY_FOR_GPU: no kernel image")))
    bad = _only_failure(probe_mod.probe(), "launch")
    assert "launching the compiled kernel failed" in bad.detail
    assert "CUDA_ERROR_NO_BINARY_FOR_GPU" in bad.detail
    assert "update the NVIDIA driver" in bad.fix


def test_wrong_result(install):
    install(FakeCuPy(wrong=True))
    bad = _only_failure(probe_mod.probe(), "launch")
    assert "wrote wrong values (1000 of 1000 wrong; y[0] = 0.0, expected 1.0)" in bad.detail


def test_success_compiles_the_backend_options_and_checks_the_result(install):
    fake = install(FakeCuPy())
    result = probe_mod.probe()
    assert result.ok and result.failed is None
    assert fake.options == RAWMODULE_OPTIONS and fake.code == probe_mod.PROBE_KERNEL
    assert fake.calls["launch"] == 1
    assert "1 GPU(s), device 0: Fake H100" in result.reason() and "NVRTC 13.0" in result.reason()
    with pytest.raises(ValueError, match="the probe succeeded; nothing is missing"):
        result.error()
    assert backends.cuda_status() == (True, result.reason())


def test_probe_runs_once_per_process(install):
    fake = install(FakeCuPy())
    first = probe_mod.probe()
    backends.cuda_status(), backends.available(), backends.select_backend("cuda", 10)
    assert probe_mod.probe() is first
    assert fake.calls == {"getDeviceCount": 1, "RawModule": 1, "launch": 1}
    probe_mod.probe.cache_clear()
    probe_mod.probe()
    assert fake.calls["RawModule"] == 2


# -- what device="auto" / "cuda" / "cuda:host" do with it ----------------------------------------

def test_auto_falls_back_to_numpy_with_the_reason_logged(install, caplog):
    install(FakeCuPy(nvrtc=RuntimeError(NVRTC_NOT_FOUND)))
    with caplog.at_level(logging.INFO, logger="neurosim.backends"):
        assert backends.select_backend("auto", 20_000) == "numpy"
    (record,) = [r for r in caplog.records if r.name == "neurosim.backends"]
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert "device='auto' runs numpy for 20000 neurons" in message
    assert "needs NVRTC" in message and "libnvrtc.so.13" in message
    assert "pip install 'neurosim[cuda13]'" in message


def test_auto_without_cupy_logs_at_info(install, caplog):
    install(None)
    with caplog.at_level(logging.DEBUG, logger="neurosim.backends"):
        assert backends.select_backend("auto", 20_000) == "numpy"
    (record,) = [r for r in caplog.records if r.name == "neurosim.backends"]
    assert record.levelno == logging.INFO and probe_mod.NOT_INSTALLED in record.getMessage()


def test_auto_uses_the_gpu_when_the_probe_succeeds_and_small_networks_skip_it(install):
    fake = install(FakeCuPy())
    assert backends.select_backend("auto", 500) == "numpy"
    assert fake.calls["getDeviceCount"] == 0          # small networks never probe
    assert backends.select_backend("auto", 10_000) == "cuda"


def test_cuda_raises_with_what_is_missing_and_the_install_command(install):
    install(FakeCuPy(), headers=None)
    net = ns.Network(device="cuda")
    net.add_population(10, ns.LIF())
    with pytest.raises(DeviceUnavailableError,
                       match=r"^device='cuda' needs the CUDA headers .* found no cuda_runtime\.h"
                             r".*: pip install 'neurosim\[cuda13\]' \(cupy-cuda13x\[ctk\]\) "
                             r"brings the CUDA headers, or use device='cpu'$"):
        net.build()


def test_cuda_host_never_probes(monkeypatch):
    def boom():
        raise AssertionError("cuda:host must not probe the GPU")
    monkeypatch.setattr(probe_mod, "probe", boom)
    monkeypatch.setattr(backends, "host_build_status", lambda: (True, "g++ found"))
    assert backends.select_backend("cuda:host", 20_000) == "cuda:host"
    assert backends.select_backend("cpu", 20_000) == "numpy"


# -- neurosim info and python -m neurosim.backends.probe ----------------------------------------

def test_info_reports_every_step(install, capsys):
    install(FakeCuPy(nvrtc=RuntimeError(NVRTC_NOT_FOUND)))
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "CUDA probe" in out
    assert "  cupy     ok: CuPy 14.2.0" in out and "  gpu      ok: 1 GPU(s)" in out
    assert "  nvrtc    FAILED: NVRTC could not be loaded" in out
    assert "fix: pip install 'neurosim[cuda13]'" in out
    assert "  launch   not tried" in out
    assert cli.main(["info", "--json"]) == 0
    steps = json.loads(capsys.readouterr().out)["cuda_probe"]["steps"]
    assert [(s["name"], s["ok"]) for s in steps] == [
        ("cupy", True), ("gpu", True), ("nvrtc", False), ("headers", None), ("compile", None),
        ("launch", None)]


def test_module_main_exit_status(install, capsys):
    install(FakeCuPy(wrong=True))
    assert probe_mod.main([]) == 1
    assert "launch   FAILED" in capsys.readouterr().out
    probe_mod.probe.cache_clear()
    install(FakeCuPy())
    assert probe_mod.main(["--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
