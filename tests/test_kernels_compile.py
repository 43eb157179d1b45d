"""Every kernels/*.cu (and every built-in model's generated kernel) compiles for
sm_80/86/90 with CuPy's options, through NVRTC (what CuPy uses) and nvcc when
present: no errors, warnings or spills.

Skips only when neither NVRTC (pip install nvidia-cuda-nvrtc-cu12) nor nvcc
exists on this machine."""

from __future__ import annotations

import pytest

from neurosim.backends import nvrtc_check
from neurosim.backends.kernel_source import kernel_names, list_kernel_files, load_source

ROUTES = nvrtc_check.available_routes()
pytestmark = pytest.mark.skipif(
    not ROUTES, reason="no CUDA compiler: neither NVRTC (pip install nvidia-cuda-nvrtc-cu12) "
                       "nor nvcc is available")


@pytest.mark.parametrize("route", sorted(ROUTES) or ["none"])
def test_every_kernel_file_compiles_cleanly(route):
    """Every architecture in single precision; the double variants (-DNS_DOUBLE=1,
    precision="double") for sm_90 here (the CLI gate compiles them for every architecture)."""
    report = nvrtc_check.check(route=route, precisions=("single",))
    double = nvrtc_check.check(route=route, archs=("sm_90",), precisions=("double",))
    assert report.ok, report.format()
    assert double.ok, double.format()
    files = nvrtc_check.default_files()
    assert len(files) > len(list_kernel_files())          # the generated model kernels too
    assert len(report.results) == len(files) * len(nvrtc_check.ARCHS)
    assert len(double.results) == len(files)
    assert {r.precision for r in double.results} == {"double"}
    for result in report.results + double.results:
        expected = {name for name, _ in kernel_names(load_source(result.file))}
        assert {k.name for k in result.kernels} == expected, result.file
        assert all(k.registers > 0 for k in result.kernels)


def test_errors_name_the_real_file_and_line(tmp_path):
    (tmp_path / "bad.cuh").write_text("// header\n\nNS_DEVICE int f() { return nope; }\n")
    (tmp_path / "bad.cu").write_text('#include "common.cuh"\n#include "bad.cuh"\n'
                                     "NS_GLOBAL void k(int *x) { x[0] = f(); }\n")
    report = nvrtc_check.check([tmp_path / "bad.cu"], archs=("sm_80",), precisions=("single",))
    assert not report.ok
    (result,) = report.results
    assert any(f"{tmp_path / 'bad.cuh'}(3)" in e and "nope" in e for e in result.errors), \
        result.log


def test_warnings_fail_the_check(tmp_path):
    (tmp_path / "warn.cu").write_text('#include "common.cuh"\n'
                                      "NS_GLOBAL void k(int *x) { int unused; x[0] = 1; }\n")
    report = nvrtc_check.check([tmp_path / "warn.cu"], archs=("sm_90",),
                               precisions=("single",))
    assert not report.ok and report.results[0].warnings
    assert "unused" in report.format()


NVRTC_LOG_WITH_SPILLS = """\
ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'big' for 'sm_80'
ptxas info    : Function properties for big
ptxas         .     96 bytes stack frame, 48 bytes spill stores, 40 bytes spill loads
ptxas info    : Used 255 registers, used 0 barriers, 96 bytes cumulative stack size, 1024 bytes smem
ptxas info    : Compiling entry function 'small' for 'sm_80'
ptxas info    : Function properties for small
ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 12 registers, used 0 barriers, 360 bytes cmem[0]
"""


def test_parse_log_reports_spills():
    errors, warnings, kernels = nvrtc_check.parse_log(NVRTC_LOG_WITH_SPILLS, "sm_80")
    assert not errors and not warnings
    big, small = kernels
    assert (big.name, big.registers, big.stack_bytes, big.spill_stores, big.spill_loads,
            big.shared_bytes) == ("big", 255, 96, 48, 40, 1024)
    assert (small.registers, small.spill_stores) == (12, 0)
    result = nvrtc_check.CompileResult("x.cu", "sm_80", "nvrtc", True, kernels=kernels)
    assert result.problems() == ["x.cu [sm_80, nvrtc]: big spills 48 B stores / 40 B loads"]


def test_cli(capsys):
    # the double variants for sm_80 (sm_90's and the float ones are compiled above)
    assert nvrtc_check.main(["--arch", "sm_80", "--precision", "double"]) == 0
    out = capsys.readouterr().out
    assert "random.cu" in out and "OK:" in out and " double " in out and " single " not in out
