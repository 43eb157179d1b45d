#!/usr/bin/env python
"""Issue 2's speed and memory figures on this machine, with Brian2 and NEST side by side.

    python benchmarks/core_speed.py                  # everything (about 15-20 minutes with peers)
    python benchmarks/core_speed.py --no-peers       # neurosim only (about 2 minutes)
    python benchmarks/core_speed.py --wait-load 1.5  # first wait (up to 10 min) for a quiet machine

Measures, all at dt = 0.1 ms with every spike recorded, simulation timed apart from building:

1. a single population of uncoupled LIF neurons (benchmark case 1) at 100 ... 1,000,000
   neurons, 1 s simulated: µs per step (target at 100 neurons: <= 10) and neuron updates per
   second (target from 100,000 neurons on: >= 3e8); neurosim's figure is the median of several
   1 s runs for the small sizes;
2. COBA (1 s) and Brunel 2000 (12,500 neurons, 15.6 million synapses, 1 s): simulation time
   and build time; target: faster than Brian2's cython target;
3. memory of a 10,000-neuron, 10-million-synapse network (the recurrent LIF network of
   ``neurosim.bench.cases``), measured in a fresh process with tracemalloc: bytes per synapse
   with a constant delay (target <= 8) and with per-synapse delays (target <= 10), bytes per
   neuron (target <= 100).

The peers (Brian2 with its cython and numpy targets, NEST), installed by
``benchmarks/peers/install_peers.sh``, run the same cases in the same script through
``neurosim.peers.run_peer``, single-threaded like neurosim's NumPy backend. Writes
``reports/core-speed.json`` and ``reports/core-speed.md`` (a Markdown table with the machine,
the date, the load and the ratios).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "neurosim" / "__init__.py").is_file():   # run this checkout's neurosim, installed or not
    sys.path.insert(0, str(ROOT))

from neurosim import sysinfo  # noqa: E402
from neurosim.bench import SuiteConfig, cases  # noqa: E402
from neurosim.bench.suite import _peer_fits  # noqa: E402

SIZES = (100, 1_000, 10_000, 100_000, 1_000_000)
PEERS = (("brian2", "cython"), ("brian2", "numpy"), ("nest", None))
TARGETS = {"us_per_step_100": 10.0, "updates_per_s": 3e8, "bytes_per_synapse_constant": 8.0,
           "bytes_per_synapse_per_synapse": 10.0, "bytes_per_neuron": 100.0}
MEMORY_N, MEMORY_K = 10_000, 1_000


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def wait_for_load(limit: float, max_wait_s: float) -> list[float]:
    t0 = time.time()
    while load()[0] > limit and time.time() - t0 < max_wait_s:
        log(f"load {load()} above {limit}; waiting")
        time.sleep(15)
    return load()


# -- neurosim --------------------------------------------------------------------------------------

def lif_repeats(n: int, small: int) -> int:
    return small if n <= 10_000 else 3 if n <= 100_000 else 1


def measure_lif(sizes, small_repeats: int) -> list[dict]:
    out = []
    for n in sizes:
        before = load()[0]
        rec = cases.throughput_record("lif_uncoupled", n, sim_ms=1000.0,
                                      repeats=lif_repeats(n, small_repeats), warmup_ms=10.0)
        rec["load_before"] = before
        out.append(rec)
        log(f"neurosim lif {n:>9,}: {rec['us_per_step']:9.2f} us/step "
            f"{rec['neuron_updates_per_s']:.3g} updates/s {rec['mean_rate_hz']:.1f} Hz "
            f"(median of {rec['repeats']})")
    return out


def measure_reference(name: str, repeats: int) -> dict:
    before = load()[0]
    rec = cases.reference_record(name, sim_ms=1000.0, repeats=repeats)
    rec["load_before"] = before
    log(f"neurosim {name}: build {rec['build_s']:.2f} s, sim {rec['wall_s']:.2f} s, "
        f"rates {rec['rates_hz']} (median of {repeats}; seed {rec['seed']}, silent seeds "
        f"{rec['silent_seeds']})")
    return rec


MEMORY_CODE = """
import json, sys
from neurosim.bench.memory import memory_record
print(json.dumps(memory_record(int(sys.argv[1]), int(sys.argv[2]), delays=sys.argv[3])))
"""


def measure_memory(delays: str) -> dict:
    """``memory_record`` of the 10^4-neuron, 10^7-synapse network in a fresh process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-c", MEMORY_CODE, str(MEMORY_N), str(MEMORY_K),
                           delays], capture_output=True, text=True, env=env, check=True)
    rec = json.loads(proc.stdout.strip().splitlines()[-1])
    log(f"memory {delays}: {rec['n_synapses']:,} synapses, {rec['bytes_per_synapse']} B/synapse, "
        f"{rec['bytes_per_neuron']} B/neuron, total {rec['host_bytes']:,} B")
    return rec


# -- peers -----------------------------------------------------------------------------------------

def run_peer_case(sim: str, target: str | None, case: str, n: int | None, repeats: int,
                  timeout_s: float) -> dict | None:
    from neurosim.peers import run_peer
    runs, loads = [], []
    for _ in range(repeats):
        loads.append(load()[0])
        try:
            runs.append(run_peer(sim, case, n=n, duration_ms=1000.0, seed=1, target=target,
                                 timeout_s=timeout_s, threads=1))
        except RuntimeError as exc:
            log(f"{sim} ({target}) {case} n={n}: FAILED {str(exc).splitlines()[0]}")
            return {"simulator": sim, "target": target, "case": case, "n_neurons": n,
                    "error": str(exc).splitlines()[0], "loadavg_1m_before": loads}
    sim_s = statistics.median(r["sim_s"] for r in runs)
    agg = {"simulator": sim, "target": target, "case": case, "n_neurons": runs[0]["n_neurons"],
           "n_synapses": runs[0]["n_synapses"], "version": runs[0]["version"],
           "repeats": repeats, "sim_s": sim_s, "build_s": statistics.median(r["build_s"] for r in runs),
           "sim_s_runs": [r["sim_s"] for r in runs], "x_realtime": 1.0 / sim_s,
           "mean_rate_hz": runs[-1]["mean_rate_hz"], "rates_hz": runs[-1]["rates_hz"],
           "threads": runs[0]["threads"], "compile_cache": runs[0].get("compile_cache"),
           "loadavg_1m_before": loads}
    log(f"{sim} ({target or '-'}) {case} {agg['n_neurons']:,}: sim {sim_s:.3f} s, build "
        f"{agg['build_s']:.2f} s, {agg['mean_rate_hz']:.1f} Hz (median of {repeats})")
    return agg


def run_peers(args, sizes) -> list[dict]:
    from neurosim.peers import find_peers
    found = find_peers()
    out = []
    for sim, target in PEERS:
        if sim not in found:
            log(f"{sim} not installed (bash benchmarks/peers/install_peers.sh); skipped")
            continue
        for n in sizes:
            if sim == "nest" and n > args.nest_max_n:
                continue
            fits, why = _peer_fits(SuiteConfig(), sim, n)
            if not fits:
                log(f"{sim} lif {n:,}: skipped, {why}")
                out.append({"simulator": sim, "target": target, "case": "lif", "n_neurons": n,
                            "error": f"skipped: {why}", "loadavg_1m_before": [load()[0]]})
                continue
            reps = args.peer_repeats if n <= 1_000 else 1
            rec = run_peer_case(sim, target, "lif", n, reps, args.peer_timeout)
            out.append(rec)
        for case in ("coba", "brunel"):
            out.append(run_peer_case(sim, target, case, None, 1, args.peer_timeout))
    return [r for r in out if r is not None]


# -- report ----------------------------------------------------------------------------------------

def peer_label(p: dict) -> str:
    name = {"brian2": "Brian2", "nest": "NEST"}[p["simulator"]]
    return f"{name} ({p['target']})" if p.get("target") else name


def fmt(x, digits=3) -> str:
    from neurosim.report.render import fmt_num
    return fmt_num(x, digits)


def status(ok: bool | None) -> str:
    return "not measured" if ok is None else ("**met**" if ok else "**not met**")


def summarize(data: dict) -> list[tuple]:
    """(figure, target, measured, status) rows."""
    lif = {r["n_neurons"]: r for r in data["lif"]}
    refs = {r["name"]: r for r in data["reference_networks"]}
    mem = {r["delays"]: r for r in data["memory"]}
    peers = [p for p in data["peers"] if "error" not in p]
    rows = []
    if 100 in lif:
        v = lif[100]["us_per_step"]
        rows.append(("LIF, 100 neurons: µs per step", "≤ 10", f"{fmt(v)} µs", status(v <= 10)))
    for n in (100_000, 1_000_000):
        if n in lif:
            v = lif[n]["neuron_updates_per_s"]
            rows.append((f"LIF, {n:,} neurons: neuron updates/s", "≥ 3e8", fmt(v),
                         status(v >= 3e8)))
    for name, label in (("coba", "COBA 1 s"), ("brunel", "Brunel 2000 1 s")):
        b2 = [p for p in peers if p["case"] == name and p["simulator"] == "brian2"
              and p["target"] == "cython"]
        if name in refs and b2:
            speedup = b2[0]["sim_s"] / refs[name]["wall_s"]
            rows.append((f"{label}: simulation vs Brian2 (cython)", "faster (> 1×)",
                         f"{fmt(speedup)}× ({fmt(refs[name]['wall_s'])} s vs "
                         f"{fmt(b2[0]['sim_s'])} s)", status(speedup > 1)))
        else:
            rows.append((f"{label}: simulation vs Brian2 (cython)", "faster (> 1×)", "—",
                         status(None)))
    for delays, key, label in (("constant", "bytes_per_synapse_constant", "constant delay"),
                               ("per_synapse", "bytes_per_synapse_per_synapse",
                                "per-synapse delays")):
        if delays in mem:
            v = mem[delays]["bytes_per_synapse"]
            rows.append((f"Memory per synapse, {label}", f"≤ {TARGETS[key]:g} B", f"{v:.3f} B",
                         status(v <= TARGETS[key])))
    for delays in ("constant", "per_synapse"):
        if delays in mem:
            v = mem[delays]["bytes_per_neuron"]
            rows.append((f"Memory per neuron ({delays.replace('_', '-')} delays)", "≤ 100 B",
                         f"{v:.1f} B", status(v <= 100)))
    return rows


def _load1(x) -> str:
    """The 1-min load average recorded before a measurement (a list: the first/highest)."""
    if isinstance(x, list):
        vals = [v for v in x if v is not None]
        if not vals:
            return "?"
        x = max(vals) if all(isinstance(v, (int, float)) for v in vals) else vals[0]
    return "?" if x is None else f"{x:.1f}"


def lif_table(data: dict) -> list[str]:
    peers = {(p["simulator"], p["target"], p["n_neurons"]): p for p in data["peers"]
             if p["case"] == "lif"}
    cols = [(s, t) for s, t in PEERS if any(k[:2] == (s, t) for k in peers)]
    head = ("| N | neurosim µs/step | neurosim updates/s | neurosim sim s | rate Hz | load |"
            + "".join(f" {peer_label({'simulator': s, 'target': t})} sim s | load | speed-up |"
                      for s, t in cols))
    lines = [head, "|" + "---:|" * (6 + 3 * len(cols))]
    for r in data["lif"]:
        n = r["n_neurons"]
        cells = [f"{n:,}", fmt(r["us_per_step"]), fmt(r["neuron_updates_per_s"]),
                 f"{fmt(r['wall_s'])} (median of {r['repeats']})", fmt(r["mean_rate_hz"]),
                 _load1(r.get("load_before"))]
        for s, t in cols:
            p = peers.get((s, t, n))
            if p is None:
                cells += ["not run", "", "—"]
            elif "error" in p:
                why = p["error"].split(";")[0]
                why = why[why.find("exit status"):] if "exit status" in why else why[-90:]
                if why.endswith("-9"):
                    why += " (SIGKILL, e.g. the kernel's out-of-memory killer)"
                cells += [f"failed: {why}", _load1(p.get("loadavg_1m_before")), "—"]
            else:
                cells += [f"{fmt(p['sim_s'])}" + (f" (median of {p['repeats']})"
                                                  if p["repeats"] > 1 else ""),
                          _load1(p.get("loadavg_1m_before")),
                          f"{fmt(p['sim_s'] / r['wall_s'])}×"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def reference_table(data: dict) -> list[str]:
    lines = ["| Network | Simulator | Neurons | Synapses | Build s | Simulation s | × real time "
             "| Rates (Hz) | load | neurosim speed-up (simulation) |",
             "|---|---|---:|---:|---:|---:|---:|---|---:|---:|"]
    for r in data["reference_networks"]:
        rates = ", ".join(f"{k} {fmt(v)}" for k, v in r["rates_hz"].items())
        lines.append(f"| {r['name']} | neurosim (NumPy) | {r['n_neurons']:,} | "
                     f"{r['n_synapses']:,} | {fmt(r['build_s'])} | {fmt(r['wall_s'])} "
                     f"(median of {r['repeats']}) | {fmt(r['x_realtime'])} | {rates} | "
                     f"{_load1(r.get('load_before'))} | — |")
        for p in data["peers"]:
            if p["case"] != r["name"]:
                continue
            if "error" in p:
                lines.append(f"| {r['name']} | {peer_label(p)} | | | | failed: "
                             f"{p['error'][:80]} | | | | |")
                continue
            rates = ", ".join(f"{k} {fmt(v)}" for k, v in p["rates_hz"].items())
            lines.append(f"| {r['name']} | {peer_label(p)} | {p['n_neurons']:,} | "
                         f"{p['n_synapses']:,} | {fmt(p['build_s'])} | {fmt(p['sim_s'])} | "
                         f"{fmt(p['x_realtime'])} | {rates} | "
                         f"{_load1(p.get('loadavg_1m_before'))} | "
                         f"{fmt(p['sim_s'] / r['wall_s'])}× |")
    return lines


COMPONENT_TEXT = {      # key: (what it is, what it scales with)
    "synapse_targets": ("CSR column: int32 target (ring-buffer column)", "synapse"),
    "synapse_weights": ("CSR weight: float32", "synapse"),
    "synapse_delays": ("per-synapse delay in steps: uint8", "synapse"),
    "row_pointers": ("CSR row pointers: int32, one per neuron (+1)", "neuron"),
    "source_counts": ("synapses per source neuron per projection: int32 (to read weights "
                      "back; 2 projections leave each source population)", "neuron"),
    "ring_buffer": ("delay ring buffer: float32, max delay (steps) × channels (1) × neurons",
                    "neuron"),
    "neuron_state": ("neuron state: v, float32", "neuron"),
    "neuron_scratch": ("per-step scratch arrays: float32 temporary + bool mask", "neuron"),
    "neuron_parameters": ("per-neuron parameter arrays (none here: all scalars)", "neuron"),
}


def memory_section(data: dict) -> list[str]:
    lines = []
    for r in data["memory"]:
        comp = r["components"]
        n, s = r["n_neurons"], r["n_synapses"]
        arrays = sum(v for k, v in comp.items() if k != "max_delay_steps")
        lines += [f"**{r['delays'].replace('_', '-')} delays** "
                  f"({'1.5 ms' if r['delays'] == 'constant' else 'uniform in [1, 2] ms'}; "
                  f"max delay {comp['max_delay_steps']} steps): {n:,} neurons, {s:,} synapses; "
                  f"measured total **{r['host_bytes']:,} B** → **{r['bytes_per_synapse']:.3f} "
                  f"B/synapse**, **{r['bytes_per_neuron']:.1f} B/neuron**. Same network at half "
                  f"the in-degree: {r['half']['host_bytes']:,} B for {r['half']['n_synapses']:,} "
                  f"synapses. Peak during the build {r['host_peak_bytes']:,} B "
                  f"({r['host_peak_bytes'] / s:.1f} B/synapse; transient, while the "
                  f"connections are drawn and grouped); RSS growth over the build (psutil, coarse) {r['rss_delta_bytes']:,} B.",
                  "", "| Array (`nbytes`) | Bytes | Scales with | Bytes per unit |",
                  "|---|---:|---|---:|"]
        per = {"synapse": 0, "neuron": 0}
        for key, (text, unit) in COMPONENT_TEXT.items():
            v = comp.get(key, 0)
            per[unit] += v
            lines.append(f"| {text} | {v:,} | {unit} | {v / (s if unit == 'synapse' else n):.3f} |")
        other = r["host_bytes"] - arrays
        lines += [f"| Python objects (measured total − the arrays) | {other:,} | neuron | "
                  f"{other / n:.3f} |",
                  f"| **sum** | {r['host_bytes']:,} | | {per['synapse'] / s:.3f} B/synapse + "
                  f"{(per['neuron'] + other) / n:.1f} B/neuron |", ""]
    return lines


def write_markdown(data: dict, path: Path) -> None:
    system = data["system"]
    lines = [
        "# Core speed and memory (issue 2)", "",
        f"Measured {data['created']} by `python benchmarks/core_speed.py` "
        f"(commit `{data['commit']}`), in {data['wall_s'] / 60:.1f} minutes. Every figure below "
        "was measured in that run on the machine below; nothing is copied from elsewhere. "
        "**GPU speed is unmeasured here**: this machine has no GPU "
        f"({system.get('gpu_note') or 'no GPU detected'}).", "",
        "## Machine", "", "```", sysinfo.format_text(system), "```", "",
        f"Load average (1, 5, 15 min) at the start: {data['load']['start']}; before the "
        f"neurosim LIF runs: {data['load']['lif']}; before the peers: {data['load']['peers']}; "
        f"at the end: {data['load']['end']} — on {system['cpu'].get('usable_cores')} cores "
        "shared with other work, so single runs can be off by tens of percent.", "",
        "## Targets", "", "| Figure | Target | Measured | Status |", "|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in summarize(data)]
    lines += [
        "", "## Single LIF population (benchmark case 1), 1 s simulated", "",
        cases.NETWORKS["lif_uncoupled"] + ". neurosim: NumPy backend, one process, the median "
        "wall time of consecutive 1 s runs after a 10 ms warm-up; µs/step = wall / 10,000 "
        "steps; neuron updates/s = N × 10,000 / wall. Peers: the simulation loop only "
        "(`sim_s`), single-threaded. Speed-up = peer simulation time / neurosim's (> 1: "
        "neurosim faster). *load*: the 1-minute load average just before the measurement "
        "(the highest over a peer's repeated runs)."
        + (f" NEST was run up to {data['options']['nest_max_n']:,} neurons in this run "
           "(`--nest-max-n`)." if data.get("options", {}).get("nest_max_n", 10**9) < max(
               r["n_neurons"] for r in data["lif"]) else ""), "",
    ]
    lines += lif_table(data)
    lines += [
        "", "## COBA and Brunel 2000, 1 s simulated", "",
        "Build (construction, connection, code generation/compilation — Brian2's cython target "
        "compiles into a fresh cache every time) is timed apart from the simulation. neurosim: "
        "median of fresh builds and runs with one seed (COBA falls silent for some seeds; "
        "silent seeds are skipped and listed in the JSON).", "",
    ]
    lines += reference_table(data)
    lines += [
        "", "## Memory: 10,000 neurons, 10 million synapses", "",
        "The network: " + cases.NETWORKS["lif_recurrent"].replace(
            "K = min(100, N/10)", "K = 1,000").replace("; all spikes recorded", "").replace(
            ", delay 1.5 ms", "")
        + "; constant 1.5 ms delays, or per-synapse delays uniform in [1, 2] ms. Measured in a fresh Python process: "
        "`tracemalloc` traces every allocation, and NumPy reports its array buffers to it, so "
        "the bytes allocated by `Network.build()` and still held when it returns are the "
        "host memory the built network keeps (nothing estimated). Per synapse: the same "
        "network built with half the in-degree (same neurons, same ring buffer) holds "
        "(total − half) fewer bytes for (S − S/2) fewer synapses. Per neuron: (total − "
        "per-synapse × S) / N. The tables account for the measured total array by array "
        "(`nbytes`). Spike recordings are not included (nothing is recorded at build time).",
        "",
    ]
    lines += memory_section(data)
    lines += [
        "The ring buffer dominates the per-neuron cost: 4 B × (maximum delay in steps) × "
        "(receptor channels; 1 for delta synapses) per neuron, i.e. 60 B at 1.5 ms and 80 B at "
        "2 ms with dt = 0.1 ms.", "",
        "Raw data: `reports/core-speed.json`.", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


# -- main ------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default=",".join(str(s) for s in SIZES),
                   help="LIF sizes (default %(default)s)")
    p.add_argument("--repeats", type=int, default=5, help="neurosim runs per size up to 10,000 "
                   "neurons and per reference network (median; default %(default)s)")
    p.add_argument("--no-peers", action="store_true", help="neurosim only")
    p.add_argument("--peer-repeats", type=int, default=3,
                   help="peer runs per LIF size up to 1,000 neurons (default %(default)s)")
    p.add_argument("--nest-max-n", type=int, default=1_000_000,
                   help="largest LIF size run on NEST (default %(default)s)")
    p.add_argument("--peer-timeout", type=float, default=1200.0)
    p.add_argument("--wait-load", type=float, default=None, metavar="LOAD",
                   help="first wait (up to --max-wait s) until the 1-min load is below LOAD")
    p.add_argument("--max-wait", type=float, default=600.0)
    p.add_argument("--output", type=Path, default=ROOT / "reports")
    p.add_argument("--render-only", action="store_true",
                   help="rewrite core-speed.md from the core-speed.json in --output; measure nothing")
    args = p.parse_args(argv)
    if args.render_only:
        data = json.loads((args.output / "core-speed.json").read_text())
        write_markdown(data, args.output / "core-speed.md")
        log(f"rewrote {args.output / 'core-speed.md'} from core-speed.json")
        return 0
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    t0 = time.perf_counter()
    loads = {"start": load()}
    if args.wait_load is not None:
        loads["start"] = wait_for_load(args.wait_load, args.max_wait)
    log(f"load {loads['start']}")
    system = sysinfo.collect()
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    data = {"created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
            "commit": commit, "system": system, "load": loads,
            "options": {"repeats": args.repeats, "peer_repeats": args.peer_repeats,
                        "nest_max_n": args.nest_max_n, "peers": not args.no_peers}}
    data["memory"] = [measure_memory(d) for d in ("constant", "per_synapse")]
    loads["lif"] = load()
    data["lif"] = measure_lif(sizes, args.repeats)
    data["reference_networks"] = [measure_reference(n, args.repeats) for n in ("coba", "brunel")]
    loads["peers"] = load()
    data["peers"] = [] if args.no_peers else run_peers(args, sizes)
    loads["end"] = load()
    data["wall_s"] = time.perf_counter() - t0
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "core-speed.json").write_text(json.dumps(data, indent=1) + "\n")
    write_markdown(data, args.output / "core-speed.md")
    log(f"wrote {args.output / 'core-speed.md'} and core-speed.json "
        f"({data['wall_s'] / 60:.1f} min)")
    for row in summarize(data):
        print(" | ".join(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
