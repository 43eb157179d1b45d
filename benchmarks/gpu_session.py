#!/usr/bin/env python
"""The Python half of ``benchmarks/gpu_session.sh``: kernel warm-up, test log, summary, archive.

    python benchmarks/gpu_session.py machine
    python benchmarks/gpu_session.py warm --device cuda --record DIR/warm.json
    python benchmarks/gpu_session.py bench --session DIR --device cuda -- --quick --device cuda
    python benchmarks/gpu_session.py attach-tests --session DIR --device-label cuda
    python benchmarks/gpu_session.py report --session DIR --out OUT [--final]

``machine`` prints the date, the kernel, ``nvidia-smi`` and ``neurosim info``. ``bench`` runs
``neurosim bench`` with its results, report and checkpoint in the session folder, then
``attach-tests``.

``warm`` compiles every kernel module of ``kernels/`` once, in parallel worker processes, with
the options the engine uses (CuPy's NVRTC on ``cuda``, g++ on ``cuda:host``), so that the
compiler's disk cache is full before any timed or time-limited step; then it runs a tiny network
of each kind on the device (what CuPy compiles on first use: its own element-wise, reduction and
sort kernels). Both are timed apart and written to ``--record`` after every module and run.

Loaded as a pytest plugin (``-p gpu_session`` with ``benchmarks/`` on ``PYTHONPATH``) it appends
every test's outcome to the JSON-lines file named by ``$NEUROSIM_SESSION_TESTLOG`` as the test
ends, so a test step cut off by its time limit still leaves the outcomes so far.

``attach-tests`` writes the test counts into the benchmark suite's results JSON (its
``gpu_tests`` entry) and renders the report again. ``report`` (``gpu_session_summary.py``)
reads the session folder (the plan, the steps, the warm-up record, the test log, the speed JSON
and the suite's results or checkpoint), writes ``SUMMARY.txt`` and ``session.json`` into it, and
packs the folder into ``OUT/gpu-session.tar.gz`` (atomically: a reader sees the previous
archive or the new one) with a copy of ``SUMMARY.txt`` beside it: two files in ``OUT``,
whatever ran.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from gpu_session_summary import (ARCHIVE, SPEED_JSON, SUMMARY, TOP, _now, _read_json,
                                 _write_json, check_out_folder, count_tests, pack)

ROOT = Path(__file__).resolve().parents[1]
TESTLOG_ENV = "NEUROSIM_SESSION_TESTLOG"
__all__ = ["ARCHIVE", "SUMMARY", "TOP", "check_out_folder", "count_tests", "pack", "warm",
           "compile_module", "attach_tests", "main"]


# ------------------------------------------------------------------------------------- warm
def compile_module(device: str, filename: str) -> dict:
    """Compile ``kernels/<filename>`` as the engine does; seconds and kernel count."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from neurosim.backends.kernel_source import kernel_names, load_source
    t0 = time.perf_counter()
    names = [n for n, _ in kernel_names(load_source(filename))]
    if device == "cuda":
        import cupy
        cupy.empty(1, dtype=cupy.float32)        # the CUDA context, outside the compile time
        t1 = time.perf_counter()
        try:                                     # the engine's own module cache and options
            from neurosim.engine.cuda_engine import _cupy_module
            module = _cupy_module(filename)
        except ImportError:
            from neurosim.backends.cupy_options import RAWMODULE_OPTIONS
            module = cupy.RawModule(code=load_source(filename), options=RAWMODULE_OPTIONS)
        compile_ = getattr(module, "compile", None)
        if callable(compile_):
            compile_()
        else:                                    # older CuPy: the first get_function compiles
            module.get_function(names[0])
    else:
        from neurosim.backends.hostbuild import HostModule
        t1 = time.perf_counter()
        HostModule(filename)
    return {"module": filename, "kernels": len(names), "compile_s": time.perf_counter() - t1,
            "setup_s": t1 - t0}


def _cache_state(device: str) -> dict:
    """Where the compiled kernels are cached and how many entries it held."""
    if device == "cuda":
        folder = Path(os.environ.get("CUPY_CACHE_DIR") or Path.home() / ".cupy" / "kernel_cache")
        pattern = "*.cubin"
    else:
        from neurosim.backends.hostbuild import cache_dir
        folder, pattern = cache_dir(), "*.so"
    return {"dir": str(folder), "entries": len(list(folder.glob(pattern)))
            if folder.is_dir() else 0}


def _first_use_networks(device: str):
    """(name, build-and-run callable) of tiny networks touching every engine path."""
    import neurosim as ns
    from neurosim.networks import brunel_2000, potjans_diesmann, vogels_abbott_coba

    def lif():
        net = ns.Network(dt=0.1, device=device, seed=1)
        pop = net.add_population(1000, ns.LIF(tau_m=20.0, cm=250.0, v_rest=-70.0,
                                              v_reset=-70.0, v_thresh=-50.0, tau_refrac=2.0,
                                              i_offset=312.5),
                                 initial={"v": ns.Uniform(-70.0, -50.0)})
        net.record_spikes(pop)
        net.run(20.0)

    def coba():
        vogels_abbott_coba(n_exc=800, n_inh=200, p=0.05, device=device, seed=1).network.run(20.0)

    def brunel():
        brunel_2000(n_exc=800, device=device, seed=1).network.run(20.0)

    def microcircuit():
        potjans_diesmann(0.01, 0.02, device=device, seed=1,
                         connectivity="device").network.run(20.0)

    return [("lif_recorded", lif), ("coba", coba), ("brunel", brunel),
            ("microcircuit_device_connect", microcircuit)]


def warm(device: str, record_path: Path, jobs: int) -> int:
    """Compile every kernel module (in parallel), then run the first-use networks."""
    import concurrent.futures as cf
    import multiprocessing as mp
    sys.path.insert(0, str(ROOT))
    from neurosim.backends.kernel_source import list_kernel_files
    files = [p.name for p in list_kernel_files()]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(files)))
    record = {"device": device, "started": _now(), "cache_before": _cache_state(device),
              "jobs": jobs, "modules": {}, "first_use": {}, "errors": {}}
    _write_json(record_path, record)
    t0 = time.perf_counter()
    with cf.ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
        futures = {pool.submit(compile_module, device, f): f for f in files}
        for fut in cf.as_completed(futures):
            name = futures[fut]
            try:
                record["modules"][name] = fut.result()
                print(f"compiled {name}: {record['modules'][name]['compile_s']:.2f} s", flush=True)
            except Exception as exc:  # noqa: BLE001 -- report every module
                record["errors"][name] = f"{type(exc).__name__}: {exc}"[:2000]
                print(f"FAILED {name}: {record['errors'][name]}", flush=True)
            _write_json(record_path, record)
    record["compile_wall_s"] = time.perf_counter() - t0
    record["compile_sum_s"] = sum(m["compile_s"] for m in record["modules"].values())
    record["cache_after"] = _cache_state(device)
    _write_json(record_path, record)
    t1 = time.perf_counter()
    for name, run in _first_use_networks(device):
        t = time.perf_counter()
        try:
            run()
            record["first_use"][name] = time.perf_counter() - t
            print(f"first use {name}: {record['first_use'][name]:.2f} s", flush=True)
        except Exception as exc:  # noqa: BLE001
            record["errors"][f"first_use:{name}"] = f"{type(exc).__name__}: {exc}"[:2000]
            print(f"FAILED first use {name}: {exc}", flush=True)
        _write_json(record_path, record)
    record["first_use_s"] = time.perf_counter() - t1
    record["finished"] = _now()
    _write_json(record_path, record)
    return 1 if record["errors"] else 0


# --------------------------------------------------------------------------- pytest plugin
def _testlog(entry: dict) -> None:
    path = os.environ.get(TESTLOG_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")
            fh.flush()


def pytest_collection_finish(session):
    _testlog({"collected": len(session.items), "when": "collection", "time": _now()})


def pytest_runtest_logreport(report):
    failed = report.outcome == "failed"
    if report.when != "call" and report.outcome == "passed":
        return                                    # setup/teardown that went well: no news
    message = ""
    if failed or report.outcome == "skipped":
        text = str(report.longrepr) if report.longrepr is not None else ""
        message = (text.strip().splitlines() or [""])[-1][:300]
    _testlog({"nodeid": report.nodeid, "when": report.when, "outcome": report.outcome,
              "duration": round(report.duration, 4), "message": message,
              "xfail": bool(getattr(report, "wasxfail", False))})


# ---------------------------------------------------------------------------- machine, bench
def machine() -> int:
    """The date, the kernel, ``nvidia-smi`` (where there is one) and ``neurosim info``."""
    import platform
    import shutil
    import subprocess
    print(_now(), platform.platform(), flush=True)
    smi = shutil.which("nvidia-smi")
    if smi:
        subprocess.run([smi], check=False)
    else:
        print("nvidia-smi: not found", flush=True)
    return subprocess.run([sys.executable, "-m", "neurosim.cli", "info"], check=False).returncode


def bench(session: Path, device: str, args: list[str]) -> int:
    """``neurosim bench ARGS`` into the session's repo/ folder, checkpointed after every case,
    then the test counts attached (``attach-tests``)."""
    sys.path.insert(0, str(ROOT))
    from neurosim import cli
    code = cli.main(["bench", *args, "--results-dir", str(session / "repo" / "benchmarks" /
                                                         "results"),
                     "--output", str(session / "repo" / "reports"),
                     "--checkpoint", str(session / "bench-checkpoint.json"),
                     "--no-step-costs"])      # counted on the host build: no GPU time for it
    if code != 0:
        return code
    return attach_tests(session, device)


# ------------------------------------------------------------------------------ attach-tests
def attach_tests(session: Path, device_label: str) -> int:
    """Write the test counts into the suite's results JSON and render its report again; the
    device is named after the speed JSON's GPU when the speed step wrote one."""
    sys.path.insert(0, str(ROOT))
    from neurosim.report import render
    results_dir = session / "repo" / "benchmarks" / "results"
    files = sorted(results_dir.glob("*.json"))
    if not files:
        print(f"attach-tests: no results JSON in {results_dir}")
        return 1
    counts = count_tests(session / "tests.jsonl")
    if counts["collected"] is None:
        print("attach-tests: no test log (tests.jsonl): nothing to attach")
        return 1
    path = files[-1]
    results = render.load_results(path)
    gpu = (_read_json(session / SPEED_JSON) or {}).get("gpu", {}).get("name")
    if gpu:
        device_label = f"{gpu} (device={device_label})"
    results["gpu_tests"] = {"device": device_label, "passed": counts["passed"],
                            "failed": counts["failed"] + counts["errors"],
                            "skipped": counts["skipped"], "when": _now()}
    render.validate_results(results)
    path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    for written in render.render_report(results, session / "repo" / "reports", []).values():
        print(f"  {written}")
    return 0


# ----------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    w = sub.add_parser("warm", help="compile every kernel module, then run tiny networks")
    w.add_argument("--device", choices=("cuda", "cuda:host"), default="cuda")
    w.add_argument("--record", type=Path, required=True, help="the JSON record to write")
    w.add_argument("--jobs", type=int, default=0, help="worker processes (default: CPUs, "
                                                       "at most one per module)")
    sub.add_parser("machine", help="date, kernel, nvidia-smi and `neurosim info`")
    b = sub.add_parser("bench", help="`neurosim bench ARGS` into the session, then attach-tests")
    b.add_argument("--session", type=Path, required=True)
    b.add_argument("--device", required=True, help="the device the tests ran on")
    b.add_argument("args", nargs=argparse.REMAINDER, help="-- then `neurosim bench` arguments")
    a = sub.add_parser("attach-tests", help="test counts into the suite's results, re-render")
    a.add_argument("--session", type=Path, required=True)
    a.add_argument("--device-label", required=True)
    r = sub.add_parser("report", help="write SUMMARY.txt and session.json, pack the archive")
    r.add_argument("--session", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--final", action="store_true", help="steps not run are 'not run', not "
                                                        "'pending'")
    args = ap.parse_args(argv)
    if args.command == "warm":
        return warm(args.device, args.record, args.jobs)
    if args.command == "machine":
        return machine()
    if args.command == "bench":
        rest = args.args[1:] if args.args[:1] == ["--"] else args.args
        return bench(args.session, args.device, rest)
    if args.command == "attach-tests":
        return attach_tests(args.session, args.device_label)
    path = pack(args.session, args.out, args.final)
    problems = check_out_folder(args.out)
    for p in problems:
        print(f"gpu_session: {args.out}: {p}", file=sys.stderr)
    print(f"packed {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
