"""benchmarks/gpu_session.sh, the one command a lent GPU machine runs, rehearsed on cuda:host.

A reduced rehearsal (the same script with small sizes and an 85 s deadline, so that it cannot
pass while taking longer) must bring back what the lending rules let through (at most 8 files
in ``$OUT``, names of letters, digits and ``._-``, at most two folders down) with every table
filled: each kernel module's compile time, the test counts, every speed case and every suite
case with numbers. A step killed by its time limit, and the script stopped by a signal, must
still leave the archive with the cases measured before.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_session.sh"
sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_benchmarks  # noqa: E402
import gpu_session_summary as summary  # noqa: E402

NAME = re.compile(r"^[A-Za-z0-9._-]+$")
SPEED_SMALL = ("--quick --lif-neurons 20000 --coba-neurons 2000 --brunel-scale 0.05 "
               "--bandwidth-bytes 16e6")
REHEARSAL = ["--device", "cuda:host", "--fresh-cache", "--deadline", "85", "--label", "ci",
             "--tests", "-k cuda-host tests/test_lif.py tests/test_delays.py",
             "--speed", f"{SPEED_SMALL} --cases lif_bandwidth,step_overhead,brunel,coba_1m",
             "--bench", "--quick --sizes 100 --reference-scale 0.1 --microcircuit-scale 0.02,0.05",
             "--microcircuit", "--cases microcircuit --quick --microcircuit-scale 0.02,0.05 "
                               "--sim-ms 200"]

_tools = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("bash", "timeout", "g++")),
    reason="the rehearsal needs bash, coreutils' timeout and g++ (the host build)")


def needs_tools(test):
    """Runs the script (seconds to a minute): needs its tools, marked slow."""
    return pytest.mark.slow(_tools(test))


def run_script(args, out: Path, work: Path, timeout: float = 200.0):
    env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable}
    t = time.perf_counter()
    proc = subprocess.run(["bash", str(SCRIPT), "--work", str(work), *args], env=env,
                          capture_output=True, text=True, timeout=timeout)
    return proc, time.perf_counter() - t


def unpack(out: Path, dest: Path) -> Path:
    with tarfile.open(out / summary.ARCHIVE) as tar:
        names = tar.getnames()
        assert all(n.split("/")[0] == summary.TOP for n in names), names
        assert all(NAME.match(part) for n in names for part in n.split("/")), names
        tar.extractall(dest, filter="data") if hasattr(tarfile, "data_filter") else \
            tar.extractall(dest)
    return dest / summary.TOP


def finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    base = tmp_path_factory.mktemp("rehearsal")
    proc, wall = run_script(REHEARSAL, base / "out", base / "work")
    print(f"reduced rehearsal: {wall:.1f} s\n{proc.stdout[-3000:]}")
    session = unpack(base / "out", base / "unpacked")
    return proc, wall, base / "out", session


# --------------------------------------------------------------------- the reduced rehearsal
@needs_tools
def test_rehearsal_succeeds_within_its_deadline(rehearsal):
    proc, wall, out, session = rehearsal
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    doc = json.loads((session / "session.json").read_text())
    assert doc["final"] and doc["device"] == "cuda:host" and doc["label"] == "ci"
    assert [s["step"] for s in doc["steps"]] == ["machine", "warm", "tests", "speed", "bench",
                                                 "microcircuit"]
    for step in doc["steps"]:
        assert step["status"] == "ok" and finite(step["seconds"]), step
        assert step["seconds"] <= step["limit_s"] + 1, step
    assert sum(s["seconds"] for s in doc["steps"]) < 85
    assert doc["timed_out"] == []


@needs_tools
def test_out_folder_follows_the_lending_rules(rehearsal):
    _, _, out, _ = rehearsal
    files = [p for p in out.rglob("*") if p.is_file()]
    assert sorted(p.name for p in files) == ["SUMMARY.txt", "gpu-session.tar.gz"]
    assert len(files) <= 8
    for p in out.rglob("*"):
        rel = p.relative_to(out)
        assert NAME.match(p.name), rel
        assert len(rel.parts) <= 3, rel             # $OUT/a/b/file at most
        assert p.stat().st_size <= 16 << 20, rel
    assert summary.check_out_folder(out) == []


@needs_tools
def test_summary_is_present_and_every_table_filled(rehearsal):
    _, _, out, session = rehearsal
    text = (out / "SUMMARY.txt").read_text()
    assert text == (session / "SUMMARY.txt").read_text()
    assert "(none)" not in text and "(no record)" not in text and "(no test log)" not in text
    for heading in ("Steps: plan and actual time", "Kernel compile", "Tests", "Speed figures",
                    "Benchmark suite", "Timed out: none"):
        assert heading in text
    for step in ("machine", "warm", "tests", "speed", "bench", "microcircuit"):
        assert re.search(rf"^{step} +\d+ +\d+ +[\d.]+ +0 +ok$", text, re.M), step


@needs_tools
def test_kernel_cache_warmed_and_compile_time_reported(rehearsal):
    _, _, _, session = rehearsal
    warm = json.loads((session / "warm.json").read_text())
    modules = {p.name for p in (ROOT / "kernels").glob("*.cu")}
    assert set(warm["modules"]) == modules and not warm["errors"]
    assert warm["cache_before"]["entries"] == 0               # --fresh-cache: an empty cache
    assert warm["cache_after"]["entries"] >= len(modules)
    for rec in warm["modules"].values():
        assert finite(rec["compile_s"]) and rec["compile_s"] > 0 and rec["kernels"] > 0
    assert finite(warm["compile_wall_s"]) and finite(warm["first_use_s"])
    assert len(warm["first_use"]) == 4 and all(finite(v) for v in warm["first_use"].values())


@needs_tools
def test_tests_logged_per_test(rehearsal):
    _, _, _, session = rehearsal
    counts = summary.count_tests(session / "tests.jsonl")
    assert counts["collected"] > 0
    assert counts["passed"] == counts["collected"] == counts["finished"]
    assert counts["failed"] == counts["errors"] == 0
    assert (session / "tests.xml").is_file()


@needs_tools
def test_every_speed_case_present_and_numeric(rehearsal):
    _, _, _, session = rehearsal
    speed = json.loads((session / "repo" / "reports" / "gpu-speed.json").read_text())
    assert speed["schema"] == gpu_benchmarks.SCHEMA and speed["device"] == "cuda:host"
    assert set(speed["cases"]) == set(gpu_benchmarks.CASES)         # the merge kept all five
    assert speed["running"] is None and speed["pending"] == []
    for name, case in speed["cases"].items():
        assert case["complete"] is True and "error" not in case, (name, case)
        assert finite(case["case_s"])
    c = speed["cases"]
    assert finite(c["lif_bandwidth"]["percent_of_measured_bandwidth"])
    assert all(finite(c["step_overhead"][f"{m}_{r}_us_per_step"])
               for m in ("graphs", "direct") for r in ("bare", "recorded"))
    for name in ("brunel", "coba_1m"):
        assert finite(c[name]["x_realtime"]) and finite(c[name]["build_s"])
    runs = c["microcircuit"]["runs"]
    assert [r["record"] for r in runs] == [True, False]
    assert all(finite(r["rtf_short"]) and finite(r["build_s"]) for r in runs)
    rows = summary.speed_rows(speed)
    assert {r["case"] for r in rows} == set(gpu_benchmarks.CASES)


@needs_tools
def test_suite_results_and_report_for_the_commit(rehearsal):
    from neurosim.report import render
    _, _, _, session = rehearsal
    (path,) = (session / "repo" / "benchmarks" / "results").glob("*.json")
    results = render.validate_results(json.loads(path.read_text()))
    for key in ("throughput", "memory", "reference_networks"):
        assert results[key], key
    assert all(finite(t["us_per_step"]) for t in results["throughput"])
    assert all(finite(r["x_realtime"]) for r in results["reference_networks"])
    assert {r["name"] for r in results["reference_networks"]} >= {"coba", "brunel",
                                                                  "potjans_diesmann"}
    assert all(finite(c["wall_s"]) for c in results["convergence"].values())
    counts = summary.count_tests(session / "tests.jsonl")
    assert results["gpu_tests"]["passed"] == counts["passed"] > 0
    assert "cuda:host" in results["gpu_tests"]["device"]
    reports = session / "repo" / "reports"
    for name in ("BENCHMARKS.md", "benchmarks.html"):
        assert (reports / name).stat().st_size > 1000
    assert list((reports / "figures").glob("*.svg"))
    checkpoint = json.loads((session / "bench-checkpoint.json").read_text())
    progress = checkpoint["progress"]
    assert progress["pending"] == [] and progress["running"] is None and progress["done"]
    assert set(progress["case_s"]) == set(progress["done"])
    assert all(finite(v) for v in progress["case_s"].values())


# ------------------------------------------------------------------- cut off: timeout, signal
def _slow_speed_args(deadline: int) -> list[str]:
    """lif_bandwidth (seconds), then a microcircuit simulating far longer than the limit."""
    return ["--device", "cuda:host", "--steps", "speed", "--deadline", str(deadline),
            "--speed", f"{SPEED_SMALL} --cases lif_bandwidth,microcircuit "
                       "--microcircuit-scale 0.02,0.05 --microcircuit-ms 1000000"]


@needs_tools
def test_step_killed_by_its_timeout_leaves_the_earlier_cases(tmp_path):
    proc, wall = run_script(_slow_speed_args(20), tmp_path / "out", tmp_path / "work")
    assert proc.returncode == 1
    assert wall < 60
    assert summary.check_out_folder(tmp_path / "out") == []
    session = unpack(tmp_path / "out", tmp_path / "unpacked")
    doc = json.loads((session / "session.json").read_text())
    (step,) = doc["steps"]
    assert step["status"] == "timed out" and step["exit"] == 124, step
    assert doc["timed_out"] == ["speed"]
    speed = json.loads((session / "repo" / "reports" / "gpu-speed.json").read_text())
    lif = speed["cases"]["lif_bandwidth"]
    assert lif["complete"] and finite(lif["percent_of_measured_bandwidth"])
    assert speed["running"]["case"] == "microcircuit" and "microcircuit" not in speed["cases"]
    text = (tmp_path / "out" / "SUMMARY.txt").read_text()
    assert "Timed out: speed" in text and "cut off while running: microcircuit" in text
    assert re.search(r"^lif_bandwidth +% of measured bandwidth", text, re.M)


@needs_tools
def test_signal_to_the_script_still_packs_what_was_measured(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    speed_json = work / "gpu-session" / "repo" / "reports" / "gpu-speed.json"
    proc = subprocess.Popen(["bash", str(SCRIPT), "--work", str(work), *_slow_speed_args(120)],
                            env={**os.environ, "OUT": str(out), "PYTHON": sys.executable},
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            doc = json.loads(speed_json.read_text()) if speed_json.is_file() else {}
            if (doc.get("running") or {}).get("case") == "microcircuit":
                break
            time.sleep(0.5)
        else:
            pytest.fail("lif_bandwidth did not finish within 60 s")
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 1, stdout[-2000:]
    session = unpack(out, tmp_path / "unpacked")
    doc = json.loads((session / "session.json").read_text())
    assert doc["final"] and doc["steps"][0]["status"] == "interrupted (signal)"
    speed = json.loads((session / "repo" / "reports" / "gpu-speed.json").read_text())
    assert speed["cases"]["lif_bandwidth"]["complete"]
    time.sleep(1.0)                               # the killed case writes nothing more
    assert json.loads(speed_json.read_text())["running"]["case"] == "microcircuit"


# --------------------------------------------------------------------------- the pieces
def test_dry_run_plans_the_gpu_defaults_within_eight_minutes():
    proc = subprocess.run(["bash", str(SCRIPT), "--dry-run"], capture_output=True, text=True,
                          check=True, env={**os.environ, "OUT": "/nonexistent"})
    lines = proc.stdout.splitlines()
    plan = re.match(r"plan \(device cuda, deadline (\d+) s, (\d+) s planned\)", lines[0])
    assert plan and int(plan[1]) <= 480 and int(plan[2]) <= int(plan[1])
    steps = {ln.split()[0]: ln for ln in lines[1:]}
    assert list(steps) == ["machine", "warm", "tests", "speed", "bench", "microcircuit"]
    assert " -m gpu tests " in steps["tests"]
    from neurosim.cli import build_parser
    bench = shlex.split(steps["bench"].split(" s ", 1)[1])
    ns_args = build_parser().parse_args(["bench", *bench[bench.index("--") + 1:]])
    assert ns_args.quick and ns_args.device == "cuda"
    speed = gpu_benchmarks.build_parser().parse_args(
        shlex.split(steps["speed"].split(" s ", 1)[1])[2:])
    assert speed.device == "cuda" and speed.lif_neurons == 10_000_000
    assert "microcircuit" not in speed.cases
    micro = gpu_benchmarks.build_parser().parse_args(
        shlex.split(steps["microcircuit"].split(" s ", 1)[1])[2:])
    assert micro.cases == "microcircuit" and micro.merge and micro.microcircuit_scale == (1, 1)
    assert not (Path("/nonexistent")).exists()


def test_bad_arguments_are_refused_before_anything_runs(tmp_path):
    for args, message in ((["--device", "gpu"], "--device must be cuda or cuda:host"),
                          (["--steps", "tests,nope"], "unknown step 'nope'"),
                          (["--budget", "tests=fast"], "needs whole seconds"),
                          (["--device"], "--device needs a value")):
        proc = subprocess.run(["bash", str(SCRIPT), "--work", str(tmp_path / "w"), *args],
                              capture_output=True, text=True, env={**os.environ,
                                                                   "OUT": str(tmp_path / "o")})
        assert proc.returncode == 2 and message in proc.stderr
    assert not (tmp_path / "o").exists()


def test_count_tests_reads_a_log_cut_by_a_kill(tmp_path):
    log = tmp_path / "tests.jsonl"
    entries = [{"collected": 5, "when": "collection"},
               {"nodeid": "a", "when": "call", "outcome": "passed", "duration": 1.0},
               {"nodeid": "b", "when": "call", "outcome": "failed", "duration": 2.0,
                "message": "AssertionError: 1 != 2"},
               {"nodeid": "b", "when": "teardown", "outcome": "failed", "duration": 0.0},
               {"nodeid": "c", "when": "setup", "outcome": "skipped", "duration": 0.0},
               {"nodeid": "d", "when": "setup", "outcome": "failed", "duration": 0.5}]
    log.write_text("".join(json.dumps(e) + "\n" for e in entries) + '{"nodeid": "e", "wh')
    counts = summary.count_tests(log)
    assert (counts["collected"], counts["passed"], counts["failed"], counts["errors"],
            counts["skipped"], counts["finished"]) == (5, 1, 1, 1, 1, 4)
    assert counts["failures"][0] == "b (call): AssertionError: 1 != 2"
    assert counts["seconds"] == pytest.approx(3.5)


def test_check_out_folder_names_every_broken_rule(tmp_path):
    for i in range(9):
        (tmp_path / f"f{i}.txt").write_text("x")
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    (tmp_path / "a" / "b" / "c" / "deep.txt").write_text("x")
    (tmp_path / "bad name.txt").write_text("x")
    problems = summary.check_out_folder(tmp_path)
    assert "11 files (at most 8 come back)" in problems
    assert "bad name: bad name.txt" in problems
    assert "more than two folders down: a/b/c/deep.txt" in problems
    (tmp_path / "ok").mkdir()
    assert summary.check_out_folder(tmp_path / "ok") == []


def test_speed_json_is_rewritten_around_every_case(tmp_path, monkeypatch):
    """Each case's record is on disk as soon as it ends, and the running one is named."""
    seen = []
    real_finish = gpu_benchmarks.ResultsFile.finish

    def spy(self, name, record, seconds):
        real_finish(self, name, record, seconds)
        seen.append(json.loads(self.path.read_text()))
    monkeypatch.setattr(gpu_benchmarks.ResultsFile, "finish", spy)
    out = tmp_path / "s.json"
    code = gpu_benchmarks.main(["--device", "cuda:host", "--cases", "lif_bandwidth,coba_1m",
                                *shlex.split(SPEED_SMALL), "--sim-ms", "20",
                                "--output", str(out)])
    assert code == 0
    assert [list(d["cases"]) for d in seen] == [["lif_bandwidth"],
                                                 ["lif_bandwidth", "coba_1m"]]
    assert seen[0]["pending"] == ["coba_1m"] and seen[1]["pending"] == []
    # --merge keeps them; a case that raises is recorded with its error and exit status 1
    code = gpu_benchmarks.main(["--device", "cuda:host", "--cases", "brunel", "--merge",
                                "--brunel-scale", "0.00001", "--output", str(out)])
    doc = json.loads(out.read_text())
    assert code == 1 and set(doc["cases"]) == {"lif_bandwidth", "coba_1m", "brunel"}
    assert "error" in doc["cases"]["brunel"] and doc["cases"]["brunel"]["complete"] is False
