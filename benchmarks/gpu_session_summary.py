"""The summary and the archive of a ``benchmarks/gpu_session.sh`` run (see ``gpu_session.py``).

:func:`build_summary` reads a session folder (``meta.tsv``, ``plan.tsv``, ``steps.tsv``,
``warm.json``, ``tests.jsonl``, ``repo/reports/gpu-speed.json``, the suite's results or its
``bench-checkpoint.json``) into ``session.json`` and the text of ``SUMMARY.txt``; :func:`pack`
writes both and packs the folder into ``OUT/gpu-session.tar.gz`` with ``SUMMARY.txt`` beside
it; :func:`check_out_folder` says what would break the lent machine's rules for ``OUT``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import os
import re
import tarfile
from pathlib import Path

ARCHIVE = "gpu-session.tar.gz"
SUMMARY = "SUMMARY.txt"
TOP = "gpu-session"                 # the folder inside the archive
NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")
MAX_LOG_BYTES = 2 << 20             # logs above this are cut to their head and tail in the archive
ARCHIVE_LIMIT = 16 << 20            # what one file brought back from a lent machine may weigh
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
