"""The neurosim command line: info, report, bench (with a stand-in benchmark suite)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from neurosim import cli
from neurosim.report import render

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = Path(__file__).parent / "data" / "results-sample.json"


@pytest.fixture
def sample() -> dict:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


@pytest.fixture
def fake_bench(monkeypatch, sample):
    """Install a stand-in neurosim.bench whose run_suite returns the sample (or raises)."""
    module = types.ModuleType("neurosim.bench")
    module.calls = []
    module.behaviour = "ok"

    def run_suite(**kwargs):
        module.calls.append(kwargs)
        if module.behaviour == "raise":
            raise RuntimeError("simulated measurement failure")
        results = copy.deepcopy(sample)
        if module.behaviour == "invalid":
            del results["throughput"]
        return results

    module.run_suite = run_suite
    monkeypatch.setitem(sys.modules, "neurosim.bench", module)
    monkeypatch.setattr(cli, "usable_backends", lambda: {"numpy": "usable",
                                                         "cuda": "CuPy is not installed"})
    return module


def test_info_json(capsys):
    assert cli.main(["info", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["backends"]["numpy"] == "usable"
    assert out["system"]["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert isinstance(out["system"]["gpus"], list)


def test_info_text(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "CPU: " in out and "Backends:" in out and "  numpy: usable" in out


def test_report_from_input(tmp_path, capsys):
    assert cli.main(["report", "--input", str(SAMPLE), "--output", str(tmp_path)]) == 0
    assert (tmp_path / "BENCHMARKS.md").is_file() and (tmp_path / "benchmarks.html").is_file()
    assert (tmp_path / "figures" / "throughput.svg").is_file()
    assert "report of run fixture-sample" in capsys.readouterr().out


def test_report_from_results_dir_picks_newest(tmp_path, sample, capsys):
    results_dir = tmp_path / "results"
    old = copy.deepcopy(sample)
    old.update(run_id="fixture-older", created="2025-06-01T00:00:00+00:00")
    render.save_results(old, results_dir)
    render.save_results(sample, results_dir)
    out = tmp_path / "out"
    assert cli.main(["report", "--results-dir", str(results_dir), "--output", str(out)]) == 0
    assert "report of run fixture-sample (1 earlier run(s)" in capsys.readouterr().out
    md = (out / "BENCHMARKS.md").read_text(encoding="utf-8")
    assert "`fixture-older`" in md
    assert cli.main(["report", "--results-dir", str(results_dir), "--output", str(out),
                     "--no-history"]) == 0
    assert "`fixture-older`" not in (out / "BENCHMARKS.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("argv", [
    ["report", "--input", "does-not-exist.json"],
    ["report", "--results-dir", "does-not-exist"],
    ["report", "--input", "a.json", "--results-dir", "b"],
    ["bogus"],
    [],
    ["info", "--no-such-flag"],
    ["bench", "--sizes", "100,abc"],
    ["bench", "--sizes", "0"],
    ["bench", "--device", "gpu"],
])
def test_bad_usage_exits_2(argv, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    assert capsys.readouterr().err


def test_invalid_results_exit_2_and_name_the_key(tmp_path, sample, capsys):
    del sample["throughput"][0]["us_per_step"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(sample), encoding="utf-8")
    assert cli.main(["report", "--input", str(bad), "--output", str(tmp_path / "o")]) == 2
    assert "missing key 'us_per_step'" in capsys.readouterr().err


def test_empty_results_dir_exit_2(tmp_path, capsys):
    assert cli.main(["report", "--results-dir", str(tmp_path)]) == 2
    assert "no valid results file" in capsys.readouterr().err


@pytest.mark.parametrize("command", [[], ["info"], ["report"], ["bench"]])
def test_help(command, capsys):
    assert cli.main(command + ["--help"]) == 0
    assert "usage: neurosim" in capsys.readouterr().out


def test_bench_without_suite_exits_2(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "neurosim.bench", None)  # as if the module did not exist
    assert cli.main(["bench", "--quick"]) == 2
    assert "neurosim.bench" in capsys.readouterr().err


def test_bench_saves_results_and_report(fake_bench, tmp_path, capsys):
    results_dir, out = tmp_path / "results", tmp_path / "reports"
    argv = ["bench", "--quick", "--device", "cpu", "--sizes", "100,1e3", "--output", str(out),
            "--results-dir", str(results_dir)]
    assert cli.main(argv) == 0
    assert fake_bench.calls == [{"quick": True, "device": "cpu", "sizes": [100, 1000],
                                 "peers": False}]
    saved = list(results_dir.glob("*.json"))
    assert [p.name for p in saved] == ["20260102T030405Z-fixture0000.json"]
    assert (out / "BENCHMARKS.md").is_file()
    assert str(saved[0]) in capsys.readouterr().out


def test_bench_reference_scale_and_checkpoint(fake_bench, tmp_path, capsys):
    common = ["bench", "--no-report", "--results-dir", str(tmp_path / "r")]
    assert cli.main(common) == 0
    assert "reference_scale" not in fake_bench.calls[-1] and \
        "checkpoint" not in fake_bench.calls[-1]
    target = tmp_path / "c" / "checkpoint.json"
    assert cli.main(common + ["--reference-scale", "0.25", "--checkpoint", str(target)]) == 0
    call = fake_bench.calls[-1]
    assert call["reference_scale"] == 0.25
    call["checkpoint"]({"progress": {"done": ["a"]}, "x": 1.5})
    assert json.loads(target.read_text()) == {"progress": {"done": ["a"]}, "x": 1.5}
    assert not list(target.parent.glob("*.tmp"))
    assert cli.main(common + ["--reference-scale", "0"]) == 2
    assert "expected a number in (0, 1], got '0'" in capsys.readouterr().err


def test_bench_microcircuit_scale(fake_bench, tmp_path, capsys):
    common = ["bench", "--no-report", "--results-dir", str(tmp_path)]
    assert cli.main(common + ["--microcircuit-scale", "0.5"]) == 0
    assert cli.main(common + ["--microcircuit-scale", "0.2,1"]) == 0
    assert [(c["microcircuit_scale"], c["microcircuit_k_scale"]) for c in fake_bench.calls] == [
        (0.5, 0.5), (0.2, 1.0)]
    assert cli.main(common + ["--microcircuit-scale", "2"]) == 2
    assert "--microcircuit-scale expects S or S,K" in capsys.readouterr().err


def test_bench_no_report(fake_bench, tmp_path):
    out = tmp_path / "reports"
    assert cli.main(["bench", "--no-report", "--output", str(out),
                     "--results-dir", str(tmp_path / "r")]) == 0
    assert fake_bench.calls[0]["peers"] is False and not out.exists()


def test_bench_failure_exits_1(fake_bench, tmp_path, capsys):
    fake_bench.behaviour = "raise"
    assert cli.main(["bench", "--results-dir", str(tmp_path)]) == 1
    assert "simulated measurement failure" in capsys.readouterr().err
    fake_bench.behaviour = "invalid"
    assert cli.main(["bench", "--results-dir", str(tmp_path)]) == 1
    assert "missing key 'throughput'" in capsys.readouterr().err
    assert list(tmp_path.glob("*.json")) == []


def test_bench_cuda_without_gpu_exits_2(fake_bench, capsys):
    assert cli.main(["bench", "--device", "cuda"]) == 2
    assert "CuPy is not installed" in capsys.readouterr().err
    assert fake_bench.calls == []


def test_generate_report_script(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "generate_report.py"),
                           "--input", str(SAMPLE), "--output", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "BENCHMARKS.md").is_file()


def test_importing_cli_is_light():
    code = ("import sys, neurosim.cli; "
            "print(sorted(m for m in ('jinja2', 'cupy', 'pynvml', 'neurosim.report', "
            "'neurosim.sysinfo', 'neurosim.bench') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_bench_no_step_costs_reaches_the_suite(monkeypatch, tmp_path):
    import neurosim.bench as bench_pkg
    from neurosim import cli
    seen = {}

    def fake_suite(**kw):
        seen.update(kw)
        raise ValueError("stop here")
    monkeypatch.setattr(bench_pkg, "run_suite", fake_suite)
    code = cli.main(["bench", "--quick", "--device", "cpu", "--no-step-costs",
                     "--results-dir", str(tmp_path), "--output", str(tmp_path)])
    assert code == 2 and seen["step_costs"] is False
