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
``gpu_tests`` entry) and renders the report again. ``report`` reads the session folder (the
plan, the steps, the warm-up record, the test log, the speed JSON and the suite's results or
checkpoint), writes ``SUMMARY.txt`` and ``session.json`` into it, and packs the folder into
``OUT/gpu-session.tar.gz`` (atomically: a reader sees the previous archive or the new one) with
a copy of ``SUMMARY.txt`` beside it: two files in ``OUT``, whatever ran.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import math
import os
import re
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCHIVE = "gpu-session.tar.gz"
SUMMARY = "SUMMARY.txt"
TOP = "gpu-session"                 # the folder inside the archive
NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")
MAX_LOG_BYTES = 2 << 20             # logs above this are cut to their head and tail in the archive
ARCHIVE_LIMIT = 16 << 20            # what one file brought back from a lent machine may weigh
TESTLOG_ENV = "NEUROSIM_SESSION_TESTLOG"
SPEED_JSON = "repo/reports/gpu-speed.json"   # where the speed steps write, inside the session


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=float) + "\n")
    os.replace(tmp, path)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


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
        t1 = time.perf_counter()
        try:                                     # the engine's own module cache and options
            from neurosim.engine.cuda_engine import _cupy_module
            module = _cupy_module(filename)
        except ImportError:
            from neurosim.backends.nvrtc_check import RAWMODULE_OPTIONS
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


def count_tests(path: Path) -> dict:
    """Counts per outcome from a session test log: a test is failed if its call failed, an
    error if its setup or teardown failed, skipped if skipped, passed if its call passed."""
    out = {"collected": None, "passed": 0, "failed": 0, "skipped": 0, "errors": 0,
           "xfailed": 0, "failures": [], "seconds": 0.0}
    if not path.is_file():
        return out
    per_test: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue                               # a line cut by a kill
        if "collected" in e:
            out["collected"] = e["collected"]
            continue
        out["seconds"] += e.get("duration", 0.0)
        node, when, outcome = e["nodeid"], e["when"], e["outcome"]
        if outcome == "skipped":
            state = "xfailed" if e.get("xfail") else "skipped"
        elif outcome == "failed":
            state = "failed" if when == "call" else "errors"
            out["failures"].append(f"{node} ({when}): {e.get('message', '')}")
        else:
            state = "passed"
        if per_test.get(node) in ("failed", "errors"):
            continue                               # a later teardown does not undo a failure
        per_test[node] = state
    for state in per_test.values():
        out[state] += 1
    out["finished"] = len(per_test)
    return out


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
                     "--checkpoint", str(session / "bench-checkpoint.json")])
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


# ------------------------------------------------------------------------------- summary
def _num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _fmt(x, digits: int = 3) -> str:
    if not _num(x):
        return "-" if x is None else str(x)
    if x == 0:
        return "0"
    if abs(x) >= 1e5 or abs(x) < 1e-3:
        return f"{x:.{digits}g}"
    return f"{x:.{digits}g}" if abs(x) < 100 else f"{x:.0f}"


def _yes(met) -> str:
    return "-" if met is None else ("yes" if met else "no")


def _table(header: list[str], rows: list[list]) -> list[str]:
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]


def _read_tsv(path: Path) -> list[list[str]]:
    if not path.is_file():
        return []
    return [line.split("\t") for line in path.read_text().splitlines() if line.strip()]


def steps_rows(session: Path, final: bool) -> list[dict]:
    """The plan (plan.tsv: name, planned s, command) joined with what ran (steps.tsv: name,
    planned s, limit s, exit, start, end as epoch seconds)."""
    ran = {r[0]: r for r in _read_tsv(session / "steps.tsv")}
    rows = []
    for name, planned, *command in _read_tsv(session / "plan.tsv"):
        row = {"step": name, "planned_s": float(planned), "command": "\t".join(command)}
        if name in ran:
            _, _, limit, rc, start, end = ran[name][:6]
            rc = int(rc)
            row.update(limit_s=float(limit), exit=rc, seconds=float(end) - float(start))
            row["status"] = ("ok" if rc == 0 else "timed out" if rc in (124, 137)
                             else "interrupted (signal)" if rc == 143
                             else "skipped (no time left)" if rc == -1 else f"failed (exit {rc})")
        else:
            row.update(limit_s=None, exit=None, seconds=None,
                       status="not run" if final else "pending")
        rows.append(row)
    return rows


def speed_rows(speed: dict | None) -> list[dict]:
    """One row per figure of the speed JSON: case, figure, value, target, met."""
    if not speed:
        return []
    rows = []
    for name, c in speed.get("cases", {}).items():
        def row(figure, value, target="-", met=None):
            rows.append({"case": name, "figure": figure, "value": value, "target": target,
                         "met": met, "complete": c.get("complete", False)})
        if "error" in c:
            row("error", c["error"])
        elif name == "lif_bandwidth":
            row(f"% of measured bandwidth ({c.get('neurons', 0):,} neurons)",
                c.get("percent_of_measured_bandwidth"), ">= 50", c.get("met"))
            row("us per step", c.get("step_us"))
        elif name == "step_overhead":
            for key in ("graphs_bare", "graphs_recorded", "direct_bare", "direct_recorded"):
                if f"{key}_us_per_step" in c:
                    row(f"us per step, {key.replace('_', ', ')}", c[f"{key}_us_per_step"],
                        "<= 5" if key == "graphs_bare" else "-",
                        c.get("met") if key == "graphs_bare" else None)
        elif name in ("brunel", "coba_1m"):
            row(f"x real time ({c.get('neurons', 0):,} neurons, {c.get('synapses', 0):,} syn.)",
                c.get("x_realtime"), ">= 10" if name == "brunel" else "-",
                c.get("met") if name == "brunel" else None)
            row("build s", c.get("build_s"))
        elif name == "microcircuit":
            for r in c.get("runs", []):
                what = "recorded" if r.get("record") else "no monitors"
                row(f"build s ({what}, {r.get('neurons', 0):,} neurons, "
                    f"{r.get('synapses', 0):,} syn.)", r.get("build_s"))
                for span in ("short", "long"):
                    if f"rtf_{span}" in r:
                        row(f"RTF {r[f'simulated_ms_{span}'] / 1e3:g} s ({what})",
                            r[f"rtf_{span}"], "< 0.1")
            if "best_rtf" in c:
                row("best RTF", c["best_rtf"], "< 0.1", c.get("met"))
    return rows


def bench_rows(results: dict | None) -> list[dict]:
    """One row per case of the suite's results (or its checkpoint)."""
    if not results:
        return []
    rows = []
    for t in results.get("throughput", []):
        rows.append({"case": f"{t.get('network', '?')} {t['n_neurons']:,} ({t['device']})",
                     "figure": "us per step", "value": t["us_per_step"]})
    for m in results.get("memory", []):
        rows.append({"case": f"memory {m['n_neurons']:,} x {m.get('indegree', '?')} "
                             f"{m.get('delays', '')} ({m['device']})",
                     "figure": "bytes per synapse", "value": m["bytes_per_synapse"]})
    for r in results.get("reference_networks", []):
        rec = "" if r.get("recording") is None else (" recorded" if r["recording"]
                                                     else " no monitors")
        if "rtf" in r:
            figure, value = f"RTF ({r['sim_ms'] / 1e3:g} s)", r["rtf"]
        else:
            figure, value = f"x real time ({r['sim_ms'] / 1e3:g} s)", r["x_realtime"]
        rows.append({"case": f"{r['name']}{rec} {r['n_neurons']:,} ({r['device']})",
                     "figure": figure, "value": value})
    for task, c in (results.get("convergence") or {}).items():
        if isinstance(c, dict) and "wall_s" in c:
            rows.append({"case": f"task {task} ({c.get('device', '?')})", "figure": "wall s",
                         "value": c["wall_s"]})
    for item in (results.get("microcircuit") or {}).get("not_run", []):
        rows.append({"case": f"potjans_diesmann ({item['device']})", "figure": "not run",
                     "value": item["reason"]})
    return rows


def _bench_results(session: Path) -> tuple[dict | None, str, dict | None]:
    files = sorted((session / "repo" / "benchmarks" / "results").glob("*.json"))
    checkpoint = _read_json(session / "bench-checkpoint.json")
    progress = (checkpoint or {}).get("progress")
    if files:
        return _read_json(files[-1]), f"repo/benchmarks/results/{files[-1].name}", progress
    if checkpoint:
        return checkpoint, "bench-checkpoint.json (the suite did not finish)", progress
    return None, "none", None


def build_summary(session: Path, final: bool) -> tuple[dict, str]:
    meta = {row[0]: "\t".join(row[1:]) for row in _read_tsv(session / "meta.tsv")}
    steps = steps_rows(session, final)
    warm_rec = _read_json(session / "warm.json")
    tests = count_tests(session / "tests.jsonl")
    speed = _read_json(session / SPEED_JSON)
    bench, bench_source, progress = _bench_results(session)
    s_rows, b_rows = speed_rows(speed), bench_rows(bench)
    cut = [r["step"] for r in steps if r["status"] == "timed out"]
    gpus = ((bench or {}).get("system") or {}).get("gpus") or [{}]
    doc = {"schema": "neurosim-gpu-session/1", "written": _now(), "final": final, **meta,
           "device_name": (speed or {}).get("gpu", {}).get("name") or gpus[0].get("name"),
           "steps": steps, "warm": warm_rec, "tests": tests,
           "speed": {"rows": s_rows, "running": (speed or {}).get("running"),
                     "pending": (speed or {}).get("pending", [])},
           "bench": {"source": bench_source, "rows": b_rows, "progress": progress},
           "timed_out": cut}
    total = sum(r["seconds"] or 0 for r in steps)
    planned = sum(r["planned_s"] for r in steps)
    L = [f"neurosim GPU session ({'final' if final else 'in progress'}), written {doc['written']}",
         f"device: {meta.get('device', '?')}: {doc['device_name'] or 'unknown'}",
         f"source: {meta.get('source', 'unknown')}" + (f"; label: {meta['label']}"
                                                       if meta.get("label") else ""),
         f"time: {total:.0f} s in steps of a {planned:.0f} s plan, deadline "
         f"{meta.get('deadline_s', '?')} s (one command may run 600 s)",
         "", "Steps: plan and actual time"]
    L += _table(["step", "planned s", "limit s", "actual s", "exit", "status"],
                [[r["step"], _fmt(r["planned_s"]), _fmt(r["limit_s"]), _fmt(r["seconds"]),
                  "-" if r["exit"] is None else r["exit"], r["status"]] for r in steps])
    L += ["", "Kernel compile (warm step, before anything timed)"]
    if warm_rec and warm_rec.get("modules"):
        mods = warm_rec["modules"]
        L.append(f"  cache {warm_rec['cache_before']['dir']}: {warm_rec['cache_before']['entries']}"
                 f" entries before; {len(mods)} modules on {warm_rec['jobs']} workers: "
                 f"{_fmt(warm_rec.get('compile_wall_s'))} s wall, "
                 f"{_fmt(warm_rec.get('compile_sum_s'))} s summed")
        L += _table(["module", "compile s", "kernels"],
                    [[m, _fmt(v["compile_s"]), v["kernels"]] for m, v in sorted(mods.items())])
        if warm_rec.get("first_use"):
            L.append("  first use (tiny networks; CuPy's own kernels on a GPU): " + ", ".join(
                f"{k} {_fmt(v)} s" for k, v in warm_rec["first_use"].items()))
        for k, v in warm_rec.get("errors", {}).items():
            L.append(f"  ERROR {k}: {v.splitlines()[0] if v else ''}")
    else:
        L.append("  (no record)")
    L += ["", "Tests"]
    if tests["collected"] is not None:
        left = tests["collected"] - tests["finished"]
        L.append(f"  {tests['passed']} passed, {tests['failed']} failed, {tests['errors']} "
                 f"errors, {tests['skipped']} skipped, {tests['xfailed']} xfailed of "
                 f"{tests['collected']} collected" + (f"; {left} not run (cut off)" if left
                                                      else "") + f"; {tests['seconds']:.0f} s")
        L += [f"  FAILED {f}" for f in tests["failures"][:20]]
    else:
        L.append("  (no test log)")
    L += ["", f"Speed figures (gpu-speed.json{', GPU' if meta.get('device') == 'cuda' else ''})"]
    if s_rows:
        L += _table(["case", "figure", "value", "target", "met"],
                    [[r["case"] + ("" if r["complete"] else " (cut off)"), r["figure"],
                      _fmt(r["value"]), r["target"], _yes(r["met"])] for r in s_rows])
    else:
        L.append("  (none)")
    if speed and speed.get("running"):
        L.append(f"  cut off while running: {speed['running']['case']}")
    if speed and speed.get("pending"):
        L.append(f"  not started: {', '.join(speed['pending'])}")
    L += ["", f"Benchmark suite (neurosim bench): {bench_source}"]
    if b_rows:
        L += _table(["case", "figure", "value"], [[r["case"], r["figure"], _fmt(r["value"])]
                                                  for r in b_rows])
    else:
        L.append("  (none)")
    if progress and (progress.get("running") or progress.get("pending")):
        L.append(f"  cut off while running: {progress.get('running')}; not started: "
                 f"{', '.join(progress.get('pending', [])) or 'none'}")
    L += ["", "Timed out: " + (", ".join(cut) if cut else "none")]
    L += ["", f"Archive {ARCHIVE}: {TOP}/ holds this summary, session.json, meta.tsv, "
          "plan.tsv, steps.tsv,", "  session.log, one log per step (machine.log: nvidia-smi and "
          "`neurosim info`), warm.json,", "  tests.jsonl (+ tests.xml if pytest finished), "
          "bench-checkpoint.json, and repo/ laid out as", "  the repository: "
          "repo/reports/gpu-speed.json, repo/benchmarks/results/*.json,",
          "  repo/reports/{BENCHMARKS.md,benchmarks.html,figures/}.",
          "To commit: tar -xzf gpu-session.tar.gz; copy gpu-session/repo/reports/gpu-speed.json "
          "to reports/ and", "  gpu-session/repo/benchmarks/results/*.json to benchmarks/results/,"
          " run `neurosim report`, name the GPU."]
    return doc, "\n".join(L) + "\n"


def _add_file(tar: tarfile.TarFile, path: Path, arcname: str) -> None:
    data = path.read_bytes()
    if len(data) > MAX_LOG_BYTES and path.suffix in (".log", ".txt", ".jsonl", ".xml"):
        head, tail = data[:MAX_LOG_BYTES // 4], data[-(MAX_LOG_BYTES * 3 // 4):]
        data = head + (f"\n[... {len(data) - len(head) - len(tail)} bytes cut for the "
                       f"archive ...]\n").encode() + tail
    info = tarfile.TarInfo(arcname)
    info.size, info.mtime, info.mode = len(data), int(path.stat().st_mtime), 0o644
    tar.addfile(info, io.BytesIO(data))


def pack(session: Path, out: Path, final: bool) -> Path:
    """Write SUMMARY.txt and session.json, then OUT/gpu-session.tar.gz and OUT/SUMMARY.txt."""
    doc, text = build_summary(session, final)
    _write_json(session / "session.json", doc)
    (session / SUMMARY).write_text(text)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{ARCHIVE}.partial"
    with tarfile.open(tmp, "w:gz") as tar:
        for path in sorted(session.rglob("*")):
            if path.is_file() and not path.name.endswith((".tmp", ".partial")):
                _add_file(tar, path, f"{TOP}/{path.relative_to(session).as_posix()}")
    size = tmp.stat().st_size
    os.replace(tmp, out / ARCHIVE)
    if size > ARCHIVE_LIMIT:
        text += (f"\nWARNING: {ARCHIVE} is {size / 2**20:.1f} MiB, over the "
                 f"{ARCHIVE_LIMIT >> 20} MiB a lent machine brings back\n")
    summary_tmp = out / f".{SUMMARY}.partial"
    summary_tmp.write_text(text)
    os.replace(summary_tmp, out / SUMMARY)
    return out / ARCHIVE


def check_out_folder(out: Path) -> list[str]:
    """What breaks the lent machine's rules for ``out``: more than 8 files, a bad name, a
    file more than two folders down, a file over 16 MiB (empty list: all fine)."""
    problems, files = [], []
    for path in out.rglob("*"):
        rel = path.relative_to(out)
        if not NAME_RE.match(path.name):
            problems.append(f"bad name: {rel}")
        if path.is_file():
            files.append(rel)
            if len(rel.parts) > 3:
                problems.append(f"more than two folders down: {rel}")
            if path.stat().st_size > ARCHIVE_LIMIT:
                problems.append(f"over 16 MiB: {rel}")
    if len(files) > 8:
        problems.append(f"{len(files)} files (at most 8 come back)")
    return problems


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
