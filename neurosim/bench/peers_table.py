"""neurosim on the CPU beside ANNarchy, NEST and Brian2: the comparison table of issue 14.

``neurosim bench --peers`` (and ``benchmarks/cpu_peers.py``) call :func:`run_table`, then
:func:`render` for the Markdown report (``reports/cpu-peers.md``). The cases are the standard
ones (``docs/benchmark-cases.md``; dt 0.1 ms, 1 s simulated, every spike recorded):

- uncoupled LIF, 100 and 100,000 neurons (exact integration in every simulator);
- COBA, 4,000 neurons, exponential Euler in every simulator that offers it (neurosim's
  ``LIFCond(integration="exponential_euler")``, ANNarchy's ``exponential``, Brian2's
  ``exponential_euler``; NEST has none);
- COBA with forward Euler (neurosim's ``LIFCond(integration="euler")``, ANNarchy's
  ``explicit``, Brian2's ``euler``; NEST's ``iaf_cond_exp`` has only its adaptive RKF45 solver,
  so its figure in that row is RKF45's);
- Brunel 2000, 12,500 neurons.

Columns: neurosim on NumPy (``device="cpu"``, one thread) and on ``cpu:native`` (OpenMP, each
thread count of ``threads``), ANNarchy and NEST at each thread count, Brian2 in runtime mode
(Cython; it has no threads) and in C++ standalone mode (``set_device("cpp_standalone")``,
OpenMP with ``openmp_threads`` = each thread count). A peer that is not installed is a column
of "not installed", not a failure.

Every run is a fresh process: the peers through :func:`neurosim.peers.run_peer`, neurosim
through ``benchmarks/peers/neurosim_cases.py`` (a source checkout is needed for both). The
simulators run interleaved, round by round (``repeats`` rounds), so that a change of the
machine's load falls on all of them alike; the 1-minute load average before each run is
recorded. Only the simulation loop is timed (``sim_s``, the median over the rounds); the build
(construction, code generation, compilation) is reported apart: every compiled-code cache
(neurosim's native kernels, Brian2's Cython cache, ANNarchy's build folders) starts empty in
a fresh folder, so the first round's build includes the first-run compilation and the later
rounds' builds reuse it. Brian2's standalone columns time the loop with Brian2's own timer
and count in the build what its program does outside the loop (:data:`BRIAN2_STANDALONE_NOTE`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..sysinfo import cpu_model

log = logging.getLogger(__name__)

PEERS = ("annarchy", "nest", "brian2")
PEER_LABELS = {"annarchy": "ANNarchy", "nest": "NEST", "brian2": "Brian2"}
NEUROSIM = ("neurosim-numpy", "neurosim-native")
#: what ``only`` may name besides "neurosim" and the peers: one mode of Brian2's columns
BRIAN2_MODES = {"brian2-cython": "cython", "brian2-standalone": "cpp_standalone"}

#: how the Brian2 C++ standalone columns are measured (a note under the table)
BRIAN2_STANDALONE_NOTE = (
    "Brian2 C++ standalone: `set_device(\"cpp_standalone\")` with "
    "`prefs.devices.cpp_standalone.openmp_threads` = the column's thread count (OpenMP also "
    "for 1 thread), Brian2's default g++ flags (`-O3 -ffast-math -march=native`); the "
    "simulation loop is Brian2's own timer, the `omp_get_wtime()` wall time around the "
    "time-step loop of `Network::run` in the generated code (`results/last_run_info.txt`, read "
    "back as `device._last_run_time`); the build is the Python construction + code generation "
    "+ compilation (`make`) + the program's time outside the loop (start, reading the initial "
    "values, creating the synapses, writing the results), each run in a fresh project folder; "
    "later runs copy the compiled project of the first round (same case, size, scheme and "
    "thread count) into it, so make compiles only what changed. Its threads meet at OpenMP "
    "barriers several times per step: with other work on the machine each waits for a "
    "descheduled thread, so its figures for more than one thread need quiet cores")


@dataclass(frozen=True)
class Row:
    """One case of the table: ``case`` of :data:`neurosim.peers.PEER_CASES` at ``n`` neurons
    (None: the case's standard size), and for COBA the integration scheme."""

    label: str
    case: str
    n: int | None = None
    integration: str | None = None
    key: str = ""       # its short name (``rows_by_key``, ``benchmarks/cpu_peers.py --rows``)


ROWS = (
    Row("uncoupled LIF, 100 neurons", "lif", 100, key="lif-100"),
    Row("uncoupled LIF, 100,000 neurons", "lif", 100_000, key="lif-100k"),
    Row("COBA, 4,000 neurons, exponential Euler", "coba", None, "exponential_euler",
        key="coba-exp-euler"),
    Row("COBA, 4,000 neurons, forward Euler", "coba", None, "euler", key="coba-euler"),
    Row("Brunel 2000, 12,500 neurons", "brunel", key="brunel"),
)


def rows_by_key(keys) -> tuple[Row, ...]:
    """The rows of :data:`ROWS` with these short names, in the table's order; a
    ``ValueError`` naming the known ones for an unknown or empty selection."""
    keys = [keys] if isinstance(keys, str) else list(keys)
    known = [r.key for r in ROWS]
    bad = [k for k in keys if k not in known]
    if bad or not keys:
        raise ValueError(f"rows must name some of {known}, got {keys!r}")
    return tuple(r for r in ROWS if r.key in keys)


#: what a simulator lacks, by (simulator, case, integration): the reason, shown under the table
NOT_OFFERED = {
    ("nest", "coba", "exponential_euler"):
        "NEST's iaf_cond_exp integrates with its adaptive RKF45 solver (GSL) only; its figure "
        "is in the forward-Euler row, marked RKF45",
}
#: cells that run another scheme than their row's, by (simulator, case, integration): the mark
OTHER_SCHEME = {("nest", "coba", "euler"): "RKF45"}


@dataclass(frozen=True)
class Column:
    label: str
    simulator: str      # "neurosim-numpy", "neurosim-native" or a peer
    threads: int
    target: str | None = None   # Brian2's: "cython" (runtime mode) or "cpp_standalone"

    def selected(self, wanted: set[str]) -> bool:
        """Whether ``run_table(only=...)`` (as a set) asks for this column."""
        if self.simulator in NEUROSIM:
            return "neurosim" in wanted
        return self.simulator in wanted or any(
            self.simulator == "brian2" and self.target == target
            for mode, target in BRIAN2_MODES.items() if mode in wanted)

    @property
    def cache_name(self) -> str:
        """Its folder in the run's compiled-code caches."""
        if self.simulator == "brian2" and self.target == "cpp_standalone":
            return "brian2-standalone"
        return self.simulator


def columns(threads: tuple[int, ...] = (1, 2)) -> list[Column]:
    """The table's columns for these thread counts (NumPy and Brian2's Cython: one thread)."""
    def t(k: int) -> str:
        return f"{k} thread" + ("s" if k > 1 else "")
    cols = [Column("neurosim NumPy", "neurosim-numpy", 1)]
    cols += [Column(f"neurosim cpu:native, {t(k)}", "neurosim-native", k) for k in threads]
    cols += [Column(f"ANNarchy, {t(k)}", "annarchy", k) for k in threads]
    cols += [Column(f"NEST, {t(k)}", "nest", k) for k in threads]
    cols.append(Column("Brian2 (Cython)", "brian2", 1, "cython"))
    cols += [Column(f"Brian2 C++ standalone, {t(k)}", "brian2", k, "cpp_standalone")
             for k in threads]
    return cols


def _check(repeats, duration_ms, seed, threads, only) -> tuple[int, ...]:
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"run_table(): repeats must be an int >= 1, got {repeats!r}")
    if isinstance(duration_ms, bool) or not isinstance(duration_ms, (int, float)) \
            or not duration_ms > 0:
        raise ValueError(f"run_table(): duration_ms must be a number > 0 (ms), got "
                         f"{duration_ms!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"run_table(): seed must be an int >= 0, got {seed!r}")
    try:
        threads = tuple(threads)
    except TypeError:
        raise ValueError(f"run_table(): threads must be a sequence of ints >= 1, got "
                         f"{threads!r}") from None
    if not threads or any(isinstance(k, bool) or not isinstance(k, int) or k < 1
                          for k in threads) or len(set(threads)) != len(threads):
        raise ValueError(f"run_table(): threads must be distinct ints >= 1, got {threads!r}")
    known = set(PEERS) | {"neurosim"} | set(BRIAN2_MODES)
    if only is not None:
        bad = sorted(set(only) - known)
        if bad or not only:
            raise ValueError(f"run_table(): only must name some of {sorted(known)}, got "
                             f"{sorted(only)!r}")
    return threads


def peer_request(simulator: str, row: Row, target: str | None = None) -> dict | None:
    """The arguments of :func:`neurosim.peers.run_peer` for ``row`` on a peer (Brian2: in
    ``target`` mode, Cython by default), or None when the peer has no such scheme
    (:data:`NOT_OFFERED`)."""
    if (simulator, row.case, row.integration) in NOT_OFFERED:
        return None
    kwargs: dict = {}
    if row.case == "coba" and simulator != "nest":
        kwargs["integration"] = row.integration
    if simulator == "brian2":
        kwargs["target"] = target or "cython"
    return kwargs


def run_neurosim(target: str, row: Row, threads: int, seed: int, duration_ms: float, *,
                 root: Path | None = None, env: dict | None = None,
                 timeout_s: float = 1800.0) -> dict:
    """One run of ``benchmarks/peers/neurosim_cases.py`` in a fresh process; its result."""
    from ..peers import _parse_result, _tail, scripts_dir
    script = scripts_dir(root) / "neurosim_cases.py"
    cmd = [sys.executable, str(script), "--case", row.case, "--duration", repr(float(duration_ms)),
           "--seed", str(seed), "--target", target, "--threads", str(threads)]
    if row.n:
        cmd += ["--n", str(row.n)]
    if row.integration:
        cmd += ["--integration", row.integration]
    what = f"neurosim ({target}, {threads} thread(s)) on {row.label!r}"
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                              env={**os.environ, **(env or {})}, check=False)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{what} did not finish within {timeout_s} s; stderr tail:\n"
                           f"{_tail(exc.stderr)}") from None
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed with exit status {proc.returncode}; stderr tail:\n"
                           f"{_tail(proc.stderr)}")
    return _parse_result(proc.stdout, proc.stderr, what)


def _load1() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _versions(found: dict) -> dict:
    return {sim: ("installed" if sim in found else "not installed") for sim in PEERS}


def run_table(*, repeats: int = 3, duration_ms: float = 1000.0, seed: int = 2,
              threads=(1, 2), only=None, rows=None, root: Path | str | None = None,
              cache_dir: Path | str | None = None, timeout_s: float = 1800.0,
              checkpoint: Callable[[dict], None] | None = None) -> dict:
    """Run the comparison table; return its results (``render`` makes the Markdown).

    ``repeats``: rounds (every simulator runs every row once per round, interleaved; the table
    shows medians). ``seed``: of every run (2 by default: with seed 1 COBA falls silent in
    every simulator). ``threads``: the thread counts of the columns of simulators with threads.
    ``only``: simulators to run ("neurosim", "annarchy", "nest", "brian2"; default all), or
    one of Brian2's modes ("brian2-cython", "brian2-standalone").
    ``root``: a checkout of the repository (the case scripts live in its
    ``benchmarks/peers/``). ``cache_dir``: where the compiled-code caches of this run go
    (default: a fresh temporary folder, removed afterwards), so that the first round compiles.
    ``rows``: the cases (default :data:`ROWS`). ``checkpoint``: called with the results so
    far after every run.
    Bad arguments raise ``ValueError`` before anything runs.
    """
    from ..peers import find_peers, run_peer, scripts_dir
    threads = _check(repeats, duration_ms, seed, threads, only)
    rows = ROWS if rows is None else tuple(rows)
    scripts_dir(Path(root) if root else None)        # a RuntimeError from an installed package
    found = find_peers(root)
    wanted = set(only) if only is not None else set(PEERS) | {"neurosim"}
    cols = [c for c in columns(threads) if c.selected(wanted)]
    tmp = None
    if cache_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="neurosim-peers-cache-")
        cache_dir = tmp.name
    cache_dir = Path(cache_dir)
    results = {
        "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "cpu_count": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version(),
        "repeats": repeats, "duration_ms": float(duration_ms), "seed": seed,
        "threads": list(threads), "timeout_s": float(timeout_s), "peers": _versions(found),
        "rows": [r.__dict__ for r in rows], "columns": [c.__dict__ for c in cols], "runs": [],
    }
    try:
        for rep in range(repeats):
            for row in rows:
                for col in cols:
                    rec = _one(rep, row, col, found, seed, duration_ms, root, cache_dir,
                               timeout_s, run_peer)
                    if rec is None:
                        continue
                    results["runs"].append(rec)
                    if checkpoint is not None:
                        checkpoint(results)
    finally:
        if tmp is not None:
            tmp.cleanup()
    for rec in results["runs"]:
        res = rec["result"]
        if res and res.get("simulator") in PEERS:
            results["peers"][res["simulator"]] = res.get("version", "installed")
    return results


def _one(rep, row, col, found, seed, duration_ms, root, cache_dir, timeout_s, run_peer):
    """One run (a record for ``results["runs"]``), or None when the cell is not run."""
    sim = col.simulator
    if sim in PEERS:
        if sim not in found:
            return None
        kwargs = peer_request(sim, row, col.target)
        if kwargs is None:
            return None
    load = _load1()
    t0 = time.perf_counter()
    try:
        if sim in NEUROSIM:
            env = {"NEUROSIM_NATIVE_CACHE": str(cache_dir / "neurosim-native")}
            res = run_neurosim(sim.split("-")[1], row, col.threads, seed, duration_ms,
                               root=Path(root) if root else None, env=env, timeout_s=timeout_s)
        else:
            res = run_peer(sim, row.case, n=row.n, duration_ms=duration_ms, seed=seed,
                           threads=col.threads, timeout_s=timeout_s, root=root,
                           cache_dir=cache_dir / col.cache_name, **kwargs)
        err = None
    except (RuntimeError, ValueError, OSError) as exc:
        lines = [x for x in str(exc).splitlines() if x.strip()]
        res, err = None, (lines[0][:300] + (" / " + lines[-1][:300] if len(lines) > 1 else "")
                          if lines else repr(exc))
    rec = dict(row=row.label, column=col.label, simulator=sim, threads=col.threads, repeat=rep,
               load1_before=load, wall_s=round(time.perf_counter() - t0, 3), result=res,
               error=err)
    log.info("[%d] %s | %s: %s", rep, row.label, col.label,
             f"sim {res['sim_s']:.4g} s, build {res['build_s']:.3g} s, "
             f"{res['mean_rate_hz']:.1f} Hz (load {load})" if res else f"FAILED: {err}")
    return rec


# -- the Markdown report -------------------------------------------------------------------------

def _fmt_s(x: float) -> str:
    return f"{x:.3g} s" if x >= 0.001 else f"{x * 1e3:.3g} ms"


def render(results: dict, *, title: str | None = None, preamble: str = "") -> str:
    """The Markdown report of :func:`run_table`'s results: simulation time (median), mean
    rate, first build and later builds, per case and column, with only measured numbers."""
    runs = results["runs"]
    cols = [c["label"] for c in results["columns"]]
    col_sim = {c["label"]: c["simulator"] for c in results["columns"]}
    rows = [r for r in results["rows"]]
    cells: dict = {}
    errors: dict = {}
    for r in runs:
        key = (r["row"], r["column"])
        if r["result"]:
            cells.setdefault(key, []).append(r)
        else:
            errors.setdefault(key, []).append(r["error"])
    repeats = results["repeats"]
    rounds = 1 + max((r["repeat"] for r in runs), default=-1)     # rounds (at least) started
    footnotes: list[str] = []

    def mark(sim, row):
        return OTHER_SCHEME.get((sim, row["case"], row["integration"]))

    def cell(row, col, what):
        sim = col_sim[col]
        if sim in PEERS and results["peers"].get(sim) == "not installed":
            return "not installed"
        if sim in PEERS and (sim, row["case"], row["integration"]) in NOT_OFFERED:
            note = NOT_OFFERED[(sim, row["case"], row["integration"])]
            if note not in footnotes:
                footnotes.append(note)
            return "—"
        got = sorted(cells.get((row["label"], col), []), key=lambda r: r["repeat"])
        errs = errors.get((row["label"], col), [])
        if not got:
            if errs and all("did not finish within" in e for e in errs):
                return f"timed out (> {results.get('timeout_s', 0):g} s)"
            return "failed" if errs else "not run"
        if what == "sim":
            text = _fmt_s(statistics.median(r["result"]["sim_s"] for r in got))
        elif what == "rate":
            text = f"{statistics.median(r['result']['mean_rate_hz'] for r in got):.1f}"
        elif what == "first":
            first = got[0]
            text = _fmt_s(first["result"]["build_s"]) if first["repeat"] == 0 else "failed"
        else:
            later = [r["result"]["build_s"] for r in got if r["repeat"] > 0]
            text = _fmt_s(statistics.median(later)) if later else "—"
        if what in ("sim", "rate") and len(got) < rounds:
            text += f" (n={len(got)})"
        m = mark(sim, row)
        return f"{text} ({m})" if m and what == "sim" else text

    def table(what):
        out = ["| case | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
        for row in rows:
            out.append(f"| {row['label']} | "
                       + " | ".join(cell(row, c, what) for c in cols) + " |")
        return out

    loads = [r["load1_before"] for r in runs if r["load1_before"] is not None]
    lines = [f"# {title}" if title else "# neurosim on the CPU beside ANNarchy, NEST and Brian2",
             ""]
    if preamble:
        lines += [preamble.strip(), ""]
    versions = dict(results["peers"])
    for r in runs:                      # a checkpoint written mid-run has no versions yet
        if r["result"] and versions.get(r["simulator"]) == "installed":
            versions[r["simulator"]] = r["result"].get("version", "installed")
    peers = ", ".join(f"{PEER_LABELS[s]} {v}" for s, v in versions.items())
    lines += [
        f"Generated by `neurosim bench --peers` (`neurosim.bench.peers_table`, also "
        f"`benchmarks/cpu_peers.py`), run started {results['created']} ({results['cpu']}, "
        f"{results['cpu_count']} cores; Python {results['python']}). Peers: {peers}. "
        f"dt 0.1 ms, {results['duration_ms'] / 1000:g} s simulated, every spike recorded, "
        f"seed {results['seed']}; {rounds} round(s)"
        + (f" of the {repeats} planned (the run was stopped)" if rounds < repeats else "")
        + ", every run a fresh process, the simulators interleaved round by round; (n=k): "
        "k successful runs in the median."
        + (f" 1-minute load average before the runs: min {min(loads):.1f}, median "
           f"{statistics.median(loads):.1f}, max {max(loads):.1f}." if loads else ""),
        "", "## Simulation loop (median wall time)", ""]
    lines += table("sim")
    lines += ["", "## Mean rate (Hz, median)", ""]
    lines += table("rate")
    lines += ["", "## Build, first run (empty compiled-code caches: the first compilation "
                  "included)", ""]
    lines += table("first")
    lines += ["", "## Build, later runs (median; compiled code reused where the simulator "
                  "caches it)", ""]
    lines += table("later")
    notes = []
    if footnotes:
        notes += [f"- {n}." for n in footnotes]
    if any(c.get("target") == "cpp_standalone" for c in results["columns"]) \
            and results["peers"].get("brian2") != "not installed":
        notes.append(f"- {BRIAN2_STANDALONE_NOTE}.")
    for (row, col), errs in sorted(errors.items()):
        notes.append(f"- {row}, {col}: {len(errs)} run(s) failed: {errs[-1]}")
    if any(v == "not installed" for v in results["peers"].values()):
        notes.append("- A peer that is not installed has \"not installed\" in its columns: "
                     "benchmarks/peers/install_peers.sh makes the venvs, or "
                     "NEUROSIM_{BRIAN2,NEST,ANNARCHY}_PYTHON name their Pythons.")
    if notes:
        lines += ["", "Notes:", ""] + notes
    return "\n".join(lines) + "\n"


def save(results: dict, path: Path | str) -> Path:
    """Write the results as JSON (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=1, default=float) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
