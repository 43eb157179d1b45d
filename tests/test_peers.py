"""Tests of neurosim.peers with fake peer executables: no Brian2 or NEST needed."""
from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from neurosim import peers

RESULT = {
    "simulator": "nest", "version": "0.0-fake", "target": "nest", "case": "brunel",
    "n_neurons": 12500, "n_synapses": 15625000, "duration_ms": 1000.0, "dt_ms": 0.1,
    "seed": 1, "build_s": 1.0, "sim_s": 2.0, "x_realtime": 0.5, "n_spikes": 465000,
    "mean_rate_hz": 37.2, "rates_hz": {"exc": 37.1, "inh": 37.4}, "threads": 1,
}


def write_executable(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def fake_python(path: Path, result: dict | None = None, *, argv_file: Path | None = None) -> Path:
    """A 'python' that ignores its arguments (but may save them) and prints one JSON line."""
    save = f'echo "$@" > "{argv_file}"\n' if argv_file else ""
    payload = json.dumps(result or RESULT)
    return write_executable(path, f"{save}echo 'peer chatter' >&2\necho '{payload}'\n")


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    """A fake checkout: benchmarks/peers/ with (empty) scripts, no peers/ and no env vars."""
    for name in peers.SCRIPTS.values():
        script = tmp_path / "benchmarks" / "peers" / name
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text("")
    for var in peers.ENV_VARS.values():
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def test_find_peers_nothing_installed(root):
    assert peers.find_peers(root) == {}


def test_find_peers_from_env_vars(root, monkeypatch):
    nest_py = fake_python(root / "elsewhere" / "nest-python")
    monkeypatch.setenv("NEUROSIM_NEST_PYTHON", str(nest_py))
    assert peers.find_peers(root) == {"nest": nest_py}


def test_find_peers_from_venvs_and_env_wins(root, monkeypatch):
    venv_py = fake_python(root / "peers" / "brian2" / "bin" / "python")
    assert peers.find_peers(root) == {"brian2": venv_py}
    env_py = fake_python(root / "other" / "python")
    monkeypatch.setenv("NEUROSIM_BRIAN2_PYTHON", str(env_py))
    assert peers.find_peers(root) == {"brian2": env_py}


def test_find_peers_ignores_env_var_to_missing_file(root, monkeypatch, caplog):
    monkeypatch.setenv("NEUROSIM_NEST_PYTHON", str(root / "no-such-python"))
    assert peers.find_peers(root) == {}
    assert "NEUROSIM_NEST_PYTHON" in caplog.text


def test_run_peer_parses_json_and_passes_arguments(root, monkeypatch):
    argv_file = root / "argv.txt"
    monkeypatch.setenv("NEUROSIM_NEST_PYTHON", str(fake_python(root / "py", argv_file=argv_file)))
    result = peers.run_peer("nest", "brunel", n=500, duration_ms=200.0, seed=7, root=root)
    assert result == RESULT
    argv = argv_file.read_text().split()
    assert argv[0].endswith("nest_cases.py")
    assert argv[1:] == ["--case", "brunel", "--duration", "200.0", "--seed", "7",
                        "--threads", "1", "--n", "500"]


def test_run_peer_brian2_gets_default_target(root, monkeypatch):
    argv_file = root / "argv.txt"
    python = fake_python(root / "py", {**RESULT, "simulator": "brian2"}, argv_file=argv_file)
    monkeypatch.setenv("NEUROSIM_BRIAN2_PYTHON", str(python))
    peers.run_peer("brian2", "lif", root=root)
    assert argv_file.read_text().split()[-2:] == ["--target", "cython"]


def test_run_peer_brian2_standalone_with_threads(root, monkeypatch):
    argv_file = root / "argv.txt"
    python = fake_python(root / "py", {**RESULT, "simulator": "brian2"}, argv_file=argv_file)
    monkeypatch.setenv("NEUROSIM_BRIAN2_PYTHON", str(python))
    peers.run_peer("brian2", "coba", target="cpp_standalone", threads=2,
                   integration="euler", cache_dir=root / "cache", root=root)
    argv = argv_file.read_text().split()
    assert argv[argv.index("--threads") + 1] == "2"
    assert argv[argv.index("--target") + 1] == "cpp_standalone"
    assert argv[-4:] == ["--integration", "euler", "--cache-dir", str(root / "cache")]


def test_run_peer_failure_quotes_stderr_tail(root, monkeypatch):
    python = write_executable(root / "py", "echo 'Traceback: NEST exploded here' >&2\nexit 3\n")
    monkeypatch.setenv("NEUROSIM_NEST_PYTHON", str(python))
    with pytest.raises(RuntimeError, match=r"exit status 3(.|\n)*NEST exploded here"):
        peers.run_peer("nest", "coba", root=root)


def test_run_peer_rejects_output_without_json(root, monkeypatch):
    python = write_executable(root / "py", "echo 'not json'\necho 'some hint' >&2\n")
    monkeypatch.setenv("NEUROSIM_NEST_PYTHON", str(python))
    with pytest.raises(RuntimeError, match=r"no JSON object(.|\n)*some hint"):
        peers.run_peer("nest", "lif", root=root)


def test_run_peer_rejects_incomplete_result(root, monkeypatch):
    python = fake_python(root / "py", {"simulator": "nest", "sim_s": 1.0})
    monkeypatch.setenv("NEUROSIM_NEST_PYTHON", str(python))
    with pytest.raises(RuntimeError, match="lacks keys"):
        peers.run_peer("nest", "lif", root=root)


def test_run_peer_timeout(root, monkeypatch):
    python = write_executable(root / "py", "echo 'started' >&2\nexec sleep 5\n")
    monkeypatch.setenv("NEUROSIM_NEST_PYTHON", str(python))
    with pytest.raises(RuntimeError, match="timeout_s=0.3"):
        peers.run_peer("nest", "lif", root=root, timeout_s=0.3)


def test_run_peer_not_installed(root):
    with pytest.raises(RuntimeError, match="install_peers.sh"):
        peers.run_peer("brian2", "coba", root=root)


def test_run_peer_without_scripts_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROSIM_NEST_PYTHON", str(fake_python(tmp_path / "py")))
    with pytest.raises(RuntimeError, match="source checkout"):
        peers.run_peer("nest", "lif", root=tmp_path)


@pytest.mark.parametrize("kwargs, message", [
    ({"simulator": "genn", "case": "lif"}, "simulator must be one of"),
    ({"simulator": "nest", "case": "cuba"}, "case must be one of"),
    ({"simulator": "nest", "case": "lif", "target": "cython"}, "target for nest"),
    ({"simulator": "brian2", "case": "lif", "target": "cpp"}, "target for brian2"),
    ({"simulator": "nest", "case": "lif", "n": 0}, "n must be an int"),
    ({"simulator": "nest", "case": "lif", "duration_ms": -1.0}, "duration_ms must be > 0"),
    ({"simulator": "nest", "case": "lif", "threads": 0}, "threads must be an int"),
    ({"simulator": "brian2", "case": "lif", "threads": 2},
     r"runtime mode \(target 'cython'\) runs on 1 thread, got threads=2; threads need "
     r"target='cpp_standalone'"),
    ({"simulator": "brian2", "case": "lif", "target": "numpy", "threads": 2},
     r"\(target 'numpy'\) runs on 1 thread"),
])
def test_run_peer_bad_arguments(root, kwargs, message):
    with pytest.raises(ValueError, match=message):
        peers.run_peer(**kwargs, root=root)


def test_peer_cases_describe_the_scripts():
    assert set(peers.PEER_CASES) == {"lif", "coba", "brunel"}
    assert set(peers.PEER_TARGETS) == set(peers.SCRIPTS) == set(peers.ENV_VARS)
    for name, case in peers.PEER_CASES.items():
        assert case.name == name and case.default_n > 0


def test_scripts_of_this_checkout_exist():
    folder = peers.scripts_dir()
    for name in peers.SCRIPTS.values():
        assert (folder / name).is_file()


# -- benchmarks/peers/brian2_cases.py: its options and the standalone build cache (no Brian2) ---

@pytest.fixture
def brian2_cases(monkeypatch):
    folder = peers.scripts_dir()
    monkeypatch.syspath_prepend(str(folder))
    import importlib.util
    spec = importlib.util.spec_from_file_location("brian2_cases", folder / "brian2_cases.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "brian2_cases", module)   # its dataclass looks it up
    spec.loader.exec_module(module)
    return module


def test_brian2_cases_threads_need_standalone(brian2_cases, capsys):
    args = brian2_cases.parse_args(["--case", "coba", "--target", "cpp_standalone",
                                    "--threads", "2", "--integration", "euler"])
    assert (args.target, args.threads) == ("cpp_standalone", 2)
    assert brian2_cases.cache_key(args, 4000) == "standalone-coba-4000-euler-2t"
    args = brian2_cases.parse_args(["--case", "lif", "--target", "cpp_standalone"])
    assert brian2_cases.cache_key(args, 100) == "standalone-lif-100-exact-1t"
    for argv, message in [(["--threads", "2"], "runtime mode (cython) is single-threaded, "
                                               "got 2; threads need --target cpp_standalone"),
                          (["--target", "cpp_standalone", "--threads", "0"],
                           "--threads must be at least 1, got 0")]:
        with pytest.raises(SystemExit):
            brian2_cases.parse_args(["--case", "lif", *argv])
        assert message in capsys.readouterr().err


def test_brian2_standalone_build_cache(brian2_cases, tmp_path):
    project = tmp_path / "project"
    for name, text in [("main.cpp", "int main;"), ("main.o", "obj"), ("code_objects/a.o", "a"),
                       ("results/spikes", "old"), ("static_arrays/v", "init"),
                       ("code_objects/results", "a file of that name, kept")]:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    os_times = (1_000_000_000, 1_000_000_000)
    os.utime(project / "main.o", os_times)
    cache = tmp_path / "cache"
    assert brian2_cases.restore_build(str(cache), "k", str(tmp_path / "p0")) == "fresh"
    assert brian2_cases.restore_build(None, "k", str(tmp_path / "p0")) == "fresh"
    brian2_cases.store_build(None, "k", str(project))
    assert not cache.exists()
    brian2_cases.store_build(str(cache), "k", str(project))
    stored = sorted(str(p.relative_to(cache / "k")) for p in (cache / "k").rglob("*"))
    assert stored == ["code_objects", "code_objects/a.o", "code_objects/results", "main.cpp",
                      "main.o"]
    assert os.stat(cache / "k" / "main.o").st_mtime == os_times[1]       # make needs the times
    (project / "main.cpp").write_text("changed")
    brian2_cases.store_build(str(cache), "k", str(project))              # the first one is kept
    assert (cache / "k" / "main.cpp").read_text() == "int main;"
    fresh = tmp_path / "p1"
    fresh.mkdir()
    assert brian2_cases.restore_build(str(cache), "k", str(fresh)) == f"reused:{cache / 'k'}"
    assert (fresh / "main.o").read_text() == "obj" and not (fresh / "results").exists()
    assert [p.name for p in cache.iterdir()] == ["k"]                    # no temporary left
