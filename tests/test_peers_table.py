"""``neurosim bench --peers`` and neurosim.bench.peers_table with fake peers: no peer and no
neurosim simulation runs here (the peers are shell scripts that print one JSON line; the
neurosim runs are replaced by a function)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from neurosim import cli, peers
from neurosim.bench import peers_table as pt


def fake_peer(path: Path, simulator: str, version: str, sim_s: float, log: Path) -> Path:
    """A 'python' for ``simulator`` that appends its arguments to ``log`` and prints a result
    (n_neurons and case are those of the arguments, so the table can tell the rows apart)."""
    result = dict(simulator=simulator, version=version, target="t", case="CASE", n_neurons=1,
                  n_synapses=0, duration_ms=1000.0, dt_ms=0.1, seed=2, build_s=7.0,
                  sim_s=sim_s, x_realtime=1.0 / sim_s, n_spikes=10, mean_rate_hz=20.0,
                  rates_hz={}, threads=1)
    body = (f'echo "{simulator} $*" >> "{log}"\n'
            'case=$(echo "$*" | sed -e "s/.*--case \\([a-z]*\\).*/\\1/")\n'
            f"echo '{json.dumps(result)}' | sed -e \"s/CASE/$case/\"\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def fakes(tmp_path, monkeypatch):
    """ANNarchy and NEST installed (fakes), Brian2 not; neurosim's runs recorded."""
    log = tmp_path / "argv.log"
    for var in peers.ENV_VARS.values():
        monkeypatch.delenv(var, raising=False)
    find = peers.find_peers        # env vars only: no venv of a real peer is picked up
    monkeypatch.setattr(peers, "find_peers", lambda root=None: find(tmp_path / "no-venvs"))
    monkeypatch.setenv("NEUROSIM_ANNARCHY_PYTHON",
                       str(fake_peer(tmp_path / "a" / "python", "annarchy", "5.0", 0.5, log)))
    monkeypatch.setenv("NEUROSIM_NEST_PYTHON",
                       str(fake_peer(tmp_path / "n" / "python", "nest", "3.10", 2.0, log)))
    calls = []

    def run_neurosim(target, row, threads, seed, duration_ms, *, root=None, env=None,
                     timeout_s=0.0):
        calls.append((target, row.case, row.n, row.integration, threads, env))
        build = 3.0 if len(calls) <= 5 else 0.5      # the first round compiles
        sim = {"numpy": 1.0, "native": 0.2 / threads}[target] * (len(calls) % 3 + 1)
        return dict(simulator="neurosim", version="x", target=target, case=row.case,
                    n_neurons=row.n or 4000, n_synapses=0, duration_ms=duration_ms,
                    dt_ms=0.1, seed=seed, build_s=build, sim_s=sim, x_realtime=1.0 / sim,
                    n_spikes=1, mean_rate_hz=19.0, rates_hz={}, threads=threads)

    monkeypatch.setattr(pt, "run_neurosim", run_neurosim)
    return {"log": log, "calls": calls, "root": Path(peers.__file__).resolve().parents[1]}


def test_table_runs_every_simulator_interleaved(fakes, tmp_path):
    saved = []
    res = pt.run_table(repeats=3, cache_dir=tmp_path / "cache", checkpoint=saved.append,
                       root=fakes["root"])
    # neurosim: NumPy + native at 1 and 2 threads, 5 rows, 3 rounds
    assert len(fakes["calls"]) == 3 * 5 * 3
    assert {c[3] for c in fakes["calls"] if c[1] == "coba"} == {"exponential_euler", "euler"}
    assert all(c[5]["NEUROSIM_NATIVE_CACHE"].startswith(str(tmp_path / "cache"))
               for c in fakes["calls"])
    argv = fakes["log"].read_text().splitlines()
    # ANNarchy: 5 rows x 2 thread counts; NEST: 4 rows (no exponential-Euler COBA) x 2
    assert len(argv) == 3 * (5 * 2 + 4 * 2)
    first_round = argv[:18]
    assert [a.split()[0] for a in first_round[:4]] == ["annarchy", "annarchy", "nest", "nest"]
    coba = [a for a in argv if "--case coba" in a]
    assert any("annarchy" in a and "--target explicit" in a for a in coba)
    assert any("annarchy" in a and "--target exponential" in a for a in coba)
    assert all("--target" not in a for a in coba if a.startswith("nest"))
    assert res["peers"] == {"annarchy": "5.0", "nest": "3.10", "brian2": "not installed"}
    assert saved and len(saved[-1]["runs"]) == len(res["runs"])
    # rounds are interleaved: round 0 of every simulator before round 1 of any
    reps = [r["repeat"] for r in res["runs"]]
    assert reps == sorted(reps)

    text = pt.render(res)
    lines = text.splitlines()
    header = next(x for x in lines if x.startswith("| case |"))
    assert "neurosim NumPy" in header and "ANNarchy, 2 threads" in header and "Brian2" in header
    lif = next(x for x in lines if x.startswith("| uncoupled LIF, 100 neurons"))
    assert "| 0.5 s |" in lif and "| 2 s |" in lif and lif.endswith("| not installed |")
    numpy_cells = [r["result"]["sim_s"] for r in res["runs"]
                   if r["row"] == "uncoupled LIF, 100 neurons" and r["column"] == "neurosim NumPy"]
    assert lif.split("|")[2].strip() == pt._fmt_s(sorted(numpy_cells)[1])     # the median
    coba_ee = next(x for x in lines if x.startswith("| COBA, 4,000 neurons, exponential"))
    assert coba_ee.split("|")[8].strip() == "—"                              # NEST, 1 thread
    coba_fe = next(x for x in lines if x.startswith("| COBA, 4,000 neurons, forward"))
    assert "2 s (RKF45)" in coba_fe
    assert "RKF45 solver (GSL) only" in text and "not installed" in text
    assert "## Build, first run" in text and "## Build, later runs" in text
    first = text.split("## Build, first run")[1].split("## Build, later")[0]
    assert "| 3 s |" in first and "| 7 s |" in first


def test_failed_and_timed_out_runs_are_reported(fakes, tmp_path, monkeypatch):
    def failing(target, row, threads, *a, **k):
        if target == "native":
            raise RuntimeError("neurosim (native) did not finish within 5.0 s; stderr tail:\nx")
        raise RuntimeError("neurosim (numpy) failed with exit status 1; stderr tail:\nboom")
    monkeypatch.setattr(pt, "run_neurosim", failing)
    res = pt.run_table(repeats=1, only=["neurosim"], rows=pt.ROWS[:1], timeout_s=5.0,
                       cache_dir=tmp_path, root=fakes["root"])
    assert [r["error"] is not None for r in res["runs"]] == [True] * 3
    text = pt.render(res)
    row = next(x for x in text.splitlines() if x.startswith("| uncoupled LIF, 100 neurons"))
    assert row.split("|")[2].strip() == "failed"
    assert row.split("|")[3].strip() == "timed out (> 5 s)"
    assert "boom" in text


@pytest.mark.parametrize("kwargs, message", [
    (dict(repeats=0), "repeats must be an int >= 1, got 0"),
    (dict(duration_ms=-1.0), "duration_ms must be a number > 0 (ms), got -1.0"),
    (dict(threads=(1, 1)), "threads must be distinct ints >= 1, got (1, 1)"),
    (dict(threads=(0,)), "threads must be distinct ints >= 1, got (0,)"),
    (dict(only=["nest", "genn"]), "only must name some of"),
    (dict(seed=-3), "seed must be an int >= 0, got -3"),
])
def test_run_table_bad_arguments(kwargs, message, fakes):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        pt.run_table(**kwargs)
    assert fakes["calls"] == []


def test_run_peer_integration_arguments(tmp_path, monkeypatch):
    log = tmp_path / "argv.log"
    for var in peers.ENV_VARS.values():
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NEUROSIM_BRIAN2_PYTHON",
                       str(fake_peer(tmp_path / "b" / "python", "brian2", "2.9", 1.0, log)))
    root = Path(peers.__file__).resolve().parents[1]
    peers.run_peer("brian2", "coba", integration="euler", cache_dir=tmp_path / "c", root=root)
    assert "--integration euler" in log.read_text() and f"--cache-dir {tmp_path / 'c'}" in \
        log.read_text() and (tmp_path / "c").is_dir()
    with pytest.raises(ValueError, match=r"integration for nest must be None \(its own "
                                         r"solver\), got 'euler'"):
        peers.run_peer("nest", "coba", integration="euler")
    with pytest.raises(ValueError, match="integration applies to the coba case only"):
        peers.run_peer("brian2", "lif", integration="euler")
    with pytest.raises(ValueError, match="target='exponential' contradicts integration='euler'"):
        peers.run_peer("annarchy", "coba", integration="euler", target="exponential")


def test_cli_bench_peers_writes_table_and_json(fakes, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pt, "ROWS", pt.ROWS[:2])
    out, results = tmp_path / "reports", tmp_path / "results"
    assert cli.main(["bench", "--peers", "--repeats", "1", "--threads", "2", "--output",
                     str(out), "--results-dir", str(results)]) == 0
    table = (out / "cpu-peers.md").read_text()
    assert "neurosim cpu:native, 2 threads" in table and "1 thread" not in table
    saved = list(results.glob("cpu-peers-*.json"))
    assert len(saved) == 1 and str(saved[0]) in capsys.readouterr().out
    data = json.loads(saved[0].read_text())
    assert data["repeats"] == 1 and data["threads"] == [2] and len(data["runs"]) == 2 * 4


@pytest.mark.parametrize("argv, message", [
    (["--peers", "--device", "cuda"], "compares CPU simulators"),
    (["--peers", "--sizes", "100"], "--sizes applies to the suite"),
    (["--peers", "--threads", "1,1"], "--threads expects distinct integers"),
    (["--peers", "--repeats", "0"], "expected an integer >= 1, got '0'"),
    (["--peers", "--timeout", "-2"], "expected a number of seconds > 0, got '-2'"),
    (["--repeats", "2"], "--repeats applies to `neurosim bench --peers` only"),
])
def test_cli_bench_peers_bad_usage(argv, message, fakes, tmp_path, capsys):
    assert cli.main(["bench", *argv, "--results-dir", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert fakes["calls"] == []


# -- Brian2 in C++ standalone mode (OpenMP threads) beside its Cython column --------------------

def test_brian2_columns_cython_and_standalone_per_thread_count():
    cols = [c for c in pt.columns((1, 2, 4)) if c.simulator == "brian2"]
    assert [(c.label, c.threads, c.target) for c in cols] == [
        ("Brian2 (Cython)", 1, "cython"),
        ("Brian2 C++ standalone, 1 thread", 1, "cpp_standalone"),
        ("Brian2 C++ standalone, 2 threads", 2, "cpp_standalone"),
        ("Brian2 C++ standalone, 4 threads", 4, "cpp_standalone")]
    assert [c.cache_name for c in cols] == ["brian2"] + ["brian2-standalone"] * 3
    assert pt.peer_request("brian2", pt.ROWS[2], "cpp_standalone") == {
        "integration": "exponential_euler", "target": "cpp_standalone"}
    assert pt.peer_request("brian2", pt.ROWS[0]) == {"target": "cython"}


def test_table_runs_brian2_standalone_at_each_thread_count(fakes, tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROSIM_BRIAN2_PYTHON", str(
        fake_peer(tmp_path / "b" / "python", "brian2", "2.9.0", 0.3, fakes["log"])))
    rows = pt.rows_by_key(["brunel", "lif-100"])
    assert [r.label for r in rows] == [pt.ROWS[0].label, pt.ROWS[4].label]   # table order
    res = pt.run_table(repeats=2, only=["brian2"], rows=rows, cache_dir=tmp_path / "cache",
                       root=fakes["root"])
    argv = fakes["log"].read_text().splitlines()
    assert fakes["calls"] == [] and len(argv) == 2 * 2 * 3      # rounds x rows x columns
    cython = [a for a in argv if "--target cython" in a]
    alone = [a for a in argv if "--target cpp_standalone" in a]
    assert len(cython) == 4 and len(alone) == 8
    assert all("--threads 1" in a and f"--cache-dir {tmp_path / 'cache' / 'brian2'}" in a
               for a in cython)
    assert sorted(a.split("--threads ")[1][0] for a in alone) == ["1"] * 4 + ["2"] * 4
    assert all(f"--cache-dir {tmp_path / 'cache' / 'brian2-standalone'}" in a for a in alone)
    text = pt.render(res)
    header = next(x for x in text.splitlines() if x.startswith("| case |"))
    assert header.split(" | ")[1:] == ["Brian2 (Cython)", "Brian2 C++ standalone, 1 thread",
                                       "Brian2 C++ standalone, 2 threads |"]
    assert "omp_get_wtime()" in text and "last_run_info.txt" in text and "Brian2 2.9.0" in text

    fakes["log"].write_text("")
    res = pt.run_table(repeats=1, only=["brian2-standalone"], threads=(2,), rows=rows[:1],
                       cache_dir=tmp_path / "c2", root=fakes["root"])
    assert [c["label"] for c in res["columns"]] == ["Brian2 C++ standalone, 2 threads"]
    assert "--threads 2" in fakes["log"].read_text()
    res = pt.run_table(repeats=1, only=["brian2-cython"], rows=rows[:1], cache_dir=tmp_path,
                       root=fakes["root"])
    assert [c["label"] for c in res["columns"]] == ["Brian2 (Cython)"]
    assert "omp_get_wtime()" not in pt.render(res)


def test_rows_by_key_and_only_bad_names(fakes):
    with pytest.raises(ValueError, match=r"rows must name some of \['lif-100', 'lif-100k', "
                                         r"'coba-exp-euler', 'coba-euler', 'brunel'\], got "
                                         r"\['coba'\]"):
        pt.rows_by_key(["coba"])
    with pytest.raises(ValueError, match="rows must name some of"):
        pt.rows_by_key([])
    with pytest.raises(ValueError, match="only must name some of .*'brian2-standalone'"):
        pt.run_table(only=["brian2-cpp"])
    assert fakes["calls"] == []


def test_cpu_peers_script_rows_option(fakes, tmp_path, monkeypatch, capsys):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "cpu_peers", fakes["root"] / "benchmarks" / "cpu_peers.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with pytest.raises(SystemExit) as exc:
        script.main(["--rows", "lif-100,lif-1M", "--out", str(tmp_path / "r.json")])
    assert exc.value.code == 2 and "--rows: rows must name some of" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        script.main(["--only", "brian3", "--out", str(tmp_path / "r.json")])
    assert "only must name some of" in capsys.readouterr().err
    assert script.main(["--rows", "coba-euler", "--only", "neurosim", "--repeats", "1",
                        "--threads", "2", "--out", str(tmp_path / "r.json"),
                        "--table", str(tmp_path / "t.md")]) == 0
    assert [c[1:5] for c in fakes["calls"]] == [("coba", None, "euler", 1),
                                                ("coba", None, "euler", 2)]
    data = json.loads((tmp_path / "r.json").read_text())
    assert [r["key"] for r in data["rows"]] == ["coba-euler"]
