"""The benchmark report: results schema (version 1), history, targets, recommendations, rendering.

A benchmark run writes one results file (``validate_results`` defines and checks its schema);
``render_report`` turns it into ``BENCHMARKS.md`` and a self-contained ``benchmarks.html`` plus
the plots as ``figures/*.svg``. Every figure in the report comes from that results file or from a
named earlier run of the same machine (``load_history``). Metrics (``METRICS``) are computed from
a results dict by small functions; ``targets.json`` names them and the report judges each as met,
not met or not measured. Recommendations are rules in ``RULES``: each fires only on the data and
cites the numbers that made it fire.

Speeds are "x real time": simulated seconds per wall-clock second (> 1 is faster than real time).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import operator
import re
import statistics
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import jinja2
from markupsafe import Markup, escape

from neurosim import sysinfo
from neurosim.report import svg

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
TARGETS_PATH = Path(__file__).with_name("targets.json")
REGRESSION_TOLERANCE = 0.10  # a metric 10 % worse than the previous comparable run is a regression
RATE_TOLERANCE = 0.20  # firing rates of neurosim and a peer differing by more than 20 %

# ------------------------------------------------------------------------------------ schema
# A spec is: a type name ("int", "number", "str", "bool", "datetime"; a trailing "?" allows
# null), a tuple of allowed strings, a one-element list [spec] (a list of spec), a dict of
# key -> spec (a trailing "?" on a key makes it optional; the key "*" types every value of a
# mapping), or _OrNull(spec).


@dataclass(frozen=True)
class _OrNull:
    spec: Any


_THROUGHPUT = {"device": ("numpy", "cuda"), "n_neurons": "int", "n_synapses": "int",
               "steps": "int", "sim_ms": "number", "wall_s": "number", "us_per_step": "number",
               "neuron_updates_per_s": "number", "x_realtime": "number",
               "mean_rate_hz": "number"}
_MEMORY = {"device": "str", "n_neurons": "int", "n_synapses": "int", "host_bytes": "int?",
           "device_bytes": "int?", "bytes_per_neuron": "number", "bytes_per_synapse": "number",
           "method": "str", "delays?": ("constant", "per_synapse")}
_NOT_RUN = {"status": ("not run",), "reason": "str"}
_TASKS = {
    "pattern_learning": {"epochs_to_converge": "int?", "threshold": "number",
                         "accuracy_curve": ["number"], "device": "str", "seed": "int",
                         "wall_s": "number"},
    "sequence_learning": {"recall_before": "number", "recall_after": "number",
                          "epochs_to_90": "int?", "curve": ["number"]},
    "homeostasis": {"adaptation_time_s": ["number"], "target_rate_hz": "number",
                    "rate_trace": {"t_s": ["number"], "rate_hz": ["number"]}},
}
_REFERENCE = {"name": "str", "device": "str", "sim_ms": "number", "build_s": "number",
              "wall_s": "number", "x_realtime": "number", "rates_hz": {"*": "number"},
              "n_neurons": "int", "n_synapses": "int", "mean_rate_hz?": "number"}
_PEER = {"simulator": "str", "target": "str?", "case": "str", "n_neurons": "int",
         "build_s": "number", "sim_s": "number", "x_realtime": "number", "mean_rate_hz": "number"}
_RASTER = {"network": "str", "t_ms": ["number"], "index": ["int"], "window_ms": ["number"]}
_GPU_TESTS = {"device": "str", "passed": "int", "failed": "int", "skipped": "int", "when": "str"}
RESULTS_SCHEMA = {
    "schema": "int", "run_id": "str", "created": "datetime", "quick": "bool",
    "system": {"cpu": {"model": "str"}, "gpus": [{"name": "str"}]},
    "throughput": [_THROUGHPUT], "memory": [_MEMORY], "convergence": {},
    "reference_networks": [_REFERENCE], "peers": [_PEER],
    "raster": _OrNull(_RASTER), "gpu_tests": _OrNull(_GPU_TESTS),
}
_WHAT = {"int": "an integer", "number": "a finite number", "str": "a string",
         "bool": "true or false", "datetime": "an ISO-8601 date-time string"}


def parse_time(text: str) -> dt.datetime:
    """ISO-8601 text -> aware datetime (naive text is taken as UTC; 'Z' is accepted)."""
    stamp = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)


def _describe(spec: Any) -> str:
    if isinstance(spec, _OrNull):
        return _describe(spec.spec) + " or null"
    if isinstance(spec, str):
        return _WHAT[spec.rstrip("?")] + (" or null" if spec.endswith("?") else "")
    if isinstance(spec, tuple):
        return "one of " + ", ".join(repr(s) for s in spec)
    return "a list" if isinstance(spec, list) else "an object"


def _fail(path: str, spec: Any, value: Any) -> ValueError:
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return ValueError(f"{path}: expected {_describe(spec)}, got {type(value).__name__} {shown}")


def _check(value: Any, spec: Any, path: str) -> None:
    if isinstance(spec, _OrNull):
        if value is not None:
            _check(value, spec.spec, path)
    elif isinstance(spec, str):
        if value is None and spec.endswith("?"):
            return
        kind = spec.rstrip("?")
        ok = {"int": isinstance(value, int) and not isinstance(value, bool),
              "number": isinstance(value, (int, float)) and not isinstance(value, bool)
              and math.isfinite(value),
              "str": isinstance(value, str), "bool": isinstance(value, bool),
              "datetime": isinstance(value, str)}[kind]
        if ok and kind == "datetime":
            try:
                parse_time(value)
            except ValueError:
                ok = False
        if not ok:
            raise _fail(path, spec, value)
    elif isinstance(spec, tuple):
        if value not in spec:
            raise _fail(path, spec, value)
    elif isinstance(spec, list):
        if not isinstance(value, list):
            raise _fail(path, spec, value)
        for i, item in enumerate(value):
            _check(item, spec[0], f"{path}[{i}]")
    else:
        if not isinstance(value, dict):
            raise _fail(path, spec, value)
        for key, sub in spec.items():
            if key == "*":
                for k, v in value.items():
                    _check(v, sub, f"{path}.{k}")
                continue
            name = key.rstrip("?")
            if name not in value:
                if key.endswith("?"):
                    continue
                raise ValueError(f"{path}: missing key '{name}' ({_describe(sub)})")
            _check(value[name], sub, f"{path}.{name}")


def validate_results(d: Any) -> dict:
    """Check ``d`` against results schema 1; raise ValueError naming the first bad key.

    Unknown extra keys are allowed (forward compatible); every key the report reads is checked.
    """
    if not isinstance(d, dict):
        raise ValueError(f"results: expected an object, got {type(d).__name__}")
    if "schema" in d and d["schema"] != SCHEMA_VERSION:
        raise ValueError(f"results.schema: this version reads schema {SCHEMA_VERSION}, "
                         f"got {d['schema']!r}")
    _check(d, RESULTS_SCHEMA, "results")
    for task, value in d["convergence"].items():
        path = f"results.convergence.{task}"
        if not isinstance(value, dict):
            raise _fail(path, {}, value)
        if "status" in value:
            _check(value, _NOT_RUN, path)
        elif task in _TASKS:
            _check(value, _TASKS[task], path)
    home = d["convergence"].get("homeostasis") or {}
    trace = home.get("rate_trace")
    if trace and len(trace["t_s"]) != len(trace["rate_hz"]):
        raise ValueError("results.convergence.homeostasis.rate_trace: t_s and rate_hz differ in "
                         f"length ({len(trace['t_s'])} vs {len(trace['rate_hz'])})")
    raster = d["raster"]
    if raster is not None:
        if len(raster["t_ms"]) != len(raster["index"]):
            raise ValueError("results.raster: t_ms and index differ in length "
                             f"({len(raster['t_ms'])} vs {len(raster['index'])})")
        if len(raster["window_ms"]) != 2:
            raise ValueError("results.raster.window_ms: expected [start, stop], got "
                             f"{raster['window_ms']!r}")
    return d


def load_results(path: str | Path) -> dict:
    """Read and validate one results file; errors name the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return validate_results(data)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def results_filename(results: dict) -> str:
    """``<created as YYYYmmddTHHMMSSZ>-<host hash>.json``."""
    created = parse_time(results["created"]).astimezone(dt.timezone.utc)
    host = results["system"].get("host_id") or sysinfo.host_id()
    return f"{created:%Y%m%dT%H%M%SZ}-{re.sub(r'[^0-9A-Za-z]', '', str(host))}.json"


def save_results(results: dict, results_dir: str | Path) -> Path:
    """Validate ``results`` and write it into ``results_dir`` (created if needed)."""
    validate_results(results)
    path = Path(results_dir) / results_filename(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------- history
def machine_key(system: dict) -> tuple[str, tuple[str, ...]]:
    """What makes two runs comparable: the CPU model and the sorted GPU names."""
    cpu = (system.get("cpu") or {}).get("model") or "unknown CPU"
    gpus = tuple(sorted(str(g.get("name", "?")) for g in system.get("gpus") or []))
    return " ".join(str(cpu).split()), gpus


def load_history(results_dir: str | Path, system: dict, *,
                 exclude_run_id: str | None = None) -> list[dict]:
    """Runs in ``results_dir`` (``*.json``) made on the same machine as ``system``, oldest first.

    Files that are not valid results are skipped with a logged warning.
    """
    runs = []
    key = machine_key(system)
    for path in sorted(Path(results_dir).glob("*.json")):
        try:
            run = load_results(path)
        except (OSError, ValueError) as exc:
            logger.warning("history: skipping %s", exc)
            continue
        if machine_key(run["system"]) == key and run["run_id"] != exclude_run_id:
            runs.append(run)
    return sorted(runs, key=lambda r: parse_time(r["created"]))


def earlier_runs(results: dict, history: list[dict]) -> list[dict]:
    """The runs of ``history`` made before ``results`` on the same machine, oldest first."""
    key, now = machine_key(results["system"]), parse_time(results["created"])
    keep = [r for r in history if r["run_id"] != results["run_id"]
            and machine_key(r["system"]) == key and parse_time(r["created"]) < now]
    return sorted(keep, key=lambda r: parse_time(r["created"]))


# ------------------------------------------------------------------------------- formatting
def fmt_num(x: Any, digits: int = 3) -> str:
    """3 significant digits; thousands separators; e-notation from 1e6 and below 1e-3."""
    if x is None:
        return "—"
    x = float(x)
    if not math.isfinite(x):
        return "∞" if x > 0 else "n/a"
    a = abs(x)
    if a == 0:
        return "0"
    if a >= 1e6 or a < 1e-3:
        mantissa, exp = f"{x:.{digits - 1}e}".split("e")
        return f"{mantissa}e{int(exp)}"
    decimals = max(0, digits - 1 - math.floor(math.log10(a)))
    return f"{x:,.{decimals}f}"


def fmt_int(n: Any) -> str:
    return "—" if n is None else f"{int(n):,}"


def fmt_bytes(n: Any) -> str:
    if n is None:
        return "—"
    for scale, unit in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(n) >= scale:
            return f"{fmt_num(n / scale)} {unit}"
    return f"{int(n)} B"


def fmt_x(x: Any) -> str:
    return f"{fmt_num(x)}×"


def fmt_target(x: float) -> str:
    """A target value as written in targets.json: 10 -> '10', 3e8 -> '3e8', 0.9 -> '0.9'."""
    if abs(x) >= 1e6:
        mantissa, exp = f"{x:e}".split("e")
        return f"{float(mantissa):g}e{int(exp)}"
    return f"{x:g}"


def with_unit(value: str, unit: str) -> str:
    """'1.2' + '×' -> '1.2×'; '8.1' + 'B/synapse' -> '8.1 B/synapse'."""
    if not unit:
        return value
    return f"{value}{unit}" if unit.startswith("×") else f"{value} {unit}"


def md_cell(text: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def inline_md(text: Any) -> Markup:
    """HTML for the small Markdown subset used in generated texts: `code` and **bold**."""
    html = str(escape(str(text)))
    html = re.sub(r"`([^`]+)`", r"<code>\1</code>", html)
    return Markup(re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html))


# ----------------------------------------------------------------------------------- metrics
@dataclass(frozen=True)
class Measured:
    """A metric's value (``inf`` for "never got there"), where it came from, and its text."""

    value: float
    source: str
    device: str | None = None
    display: str | None = None


@dataclass(frozen=True)
class Missing:
    reason: str


@dataclass(frozen=True)
class MetricDef:
    key: str
    label: str
    unit: str
    better: str  # "lower" or "higher"
    compute: Callable[[dict], "Measured | Missing"]
    fmt: Callable[[Any], str] = fmt_num


def _best(records: list[dict], field: str, better: str) -> dict:
    return (min if better == "lower" else max)(records, key=lambda r: r[field])


def _throughput_at(n: int, field: str, better: str, device: str | None):
    def compute(r: dict) -> Measured | Missing:
        recs = [t for t in r["throughput"] if t["n_neurons"] == n
                and (device is None or t["device"] == device)]
        if not recs:
            return Missing(f"no {device or 'throughput'} record at {n:,} neurons")
        best = _best(recs, field, better)
        return Measured(best[field], f"{best['device']}, {n:,} neurons", best["device"])
    return compute


def _gpu_step_overhead(r: dict) -> Measured | Missing:
    recs = [t for t in r["throughput"] if t["device"] == "cuda"]
    if not recs:
        return Missing("no cuda throughput record (GPU unmeasured)")
    n = min(t["n_neurons"] for t in recs)
    best = _best([t for t in recs if t["n_neurons"] == n], "us_per_step", "lower")
    return Measured(best["us_per_step"], f"cuda at {n:,} neurons, the smallest measured", "cuda")


def _reference(name: str, device: str | None, rtf: bool = False):
    def compute(r: dict) -> Measured | Missing:
        recs = [n for n in r["reference_networks"]
                if n["name"] == name and (device is None or n["device"] == device)]
        if not recs:
            return Missing(f"no {name} record" + (f" on {device}" if device else "")
                           + (" (GPU unmeasured)" if device == "cuda" else ""))
        best = _best(recs, "x_realtime", "higher")
        value = best["x_realtime"]
        if rtf:  # wall seconds per simulated second
            value = 1.0 / value if value > 0 else math.inf
        return Measured(value, f"{best['device']}, {best['n_neurons']:,} neurons", best["device"])
    return compute


def _memory(kind: str | None, field: str):
    def compute(r: dict) -> Measured | Missing:
        recs = [m for m in r["memory"] if kind is None or m.get("delays", "constant") == kind]
        size = "n_neurons" if kind is None else "n_synapses"
        recs = [m for m in recs if m[size] > 0]
        if not recs:
            return Missing(f"no memory record with {kind or 'any'} delays")
        top = max(m[size] for m in recs)
        worst = _best([m for m in recs if m[size] == top], field, "higher")
        return Measured(worst[field], f"{worst['device']}, {worst['n_neurons']:,} neurons, "
                        f"{worst['n_synapses']:,} synapses", worst["device"])
    return compute


def _task(r: dict, name: str) -> dict | Missing:
    task = r["convergence"].get(name)
    if task is None:
        return Missing("not in this run")
    if "status" in task:
        return Missing(f"{task['status']}: {task['reason']}")
    return task


def _pattern_epochs(r: dict) -> Measured | Missing:
    task = _task(r, "pattern_learning")
    if isinstance(task, Missing):
        return task
    src = f"{task['device']}, seed {task['seed']}"
    if task["epochs_to_converge"] is None:
        return Measured(math.inf, src, task["device"], display=(
            f"not reached in {len(task['accuracy_curve'])} epochs"))
    return Measured(task["epochs_to_converge"], src, task["device"])


def _sequence_recall(r: dict) -> Measured | Missing:
    task = _task(r, "sequence_learning")
    if isinstance(task, Missing):
        return task
    return Measured(task["recall_after"], f"before training {fmt_num(task['recall_before'])}",
                    task.get("device"))


def _peer_speedup(case: str, simulator: str, target: str | None, device: str):
    def compute(r: dict) -> Measured | Missing:
        rows = [c for c in peer_comparisons(r) if c.case == case and c.simulator == simulator
                and c.target == target and c.device == device]
        if not rows:
            return Missing(f"no {case} pair of neurosim ({device}) and {simulator}"
                           + (f" ({target})" if target else "") + " at the same size")
        worst = min(rows, key=lambda c: c.speedup)
        return Measured(worst.speedup, f"{device}, {worst.n_neurons:,} neurons", device)
    return compute


METRICS: dict[str, MetricDef] = {m.key: m for m in (
    MetricDef("numpy_lif_us_per_step_100", "NumPy µs/step @100", "µs/step", "lower",
              _throughput_at(100, "us_per_step", "lower", "numpy")),
    MetricDef("neuron_updates_per_s_100k", "updates/s @100k", "updates/s", "higher",
              _throughput_at(100_000, "neuron_updates_per_s", "higher", None)),
    MetricDef("numpy_updates_per_s_100k", "NumPy updates/s @100k", "updates/s", "higher",
              _throughput_at(100_000, "neuron_updates_per_s", "higher", "numpy")),
    MetricDef("gpu_updates_per_s_100k", "GPU updates/s @100k", "updates/s", "higher",
              _throughput_at(100_000, "neuron_updates_per_s", "higher", "cuda")),
    MetricDef("coba_speedup_vs_brian2_cython", "COBA vs Brian2", "×", "higher",
              _peer_speedup("coba", "brian2", "cython", "numpy")),
    MetricDef("brunel_speedup_vs_brian2_cython", "Brunel vs Brian2", "×", "higher",
              _peer_speedup("brunel", "brian2", "cython", "numpy")),
    MetricDef("bytes_per_synapse_constant_delay", "B/synapse", "B/synapse", "lower",
              _memory("constant", "bytes_per_synapse")),
    MetricDef("bytes_per_synapse_per_synapse_delay", "B/synapse (delays)", "B/synapse",
              "lower", _memory("per_synapse", "bytes_per_synapse")),
    MetricDef("bytes_per_neuron", "B/neuron", "B/neuron", "lower",
              _memory(None, "bytes_per_neuron")),
    MetricDef("pattern_learning_epochs", "pattern epochs", "epochs", "lower", _pattern_epochs,
              fmt_int),
    MetricDef("sequence_recall", "sequence recall", "", "higher", _sequence_recall),
    MetricDef("brunel_x_realtime", "Brunel × real time", "× real time", "higher",
              _reference("brunel", None)),
    MetricDef("numpy_brunel_x_realtime", "NumPy Brunel × real time", "× real time", "higher",
              _reference("brunel", "numpy")),
    MetricDef("gpu_brunel_x_realtime", "GPU Brunel × real time", "× real time", "higher",
              _reference("brunel", "cuda")),
    MetricDef("gpu_step_overhead_us", "GPU µs/step", "µs/step", "lower", _gpu_step_overhead),
    MetricDef("gpu_potjans_diesmann_rtf", "GPU P-D wall/sim", "wall s / sim s", "lower",
              _reference("potjans_diesmann", "cuda", rtf=True)),
)}
HISTORY_METRICS = ("numpy_lif_us_per_step_100", "numpy_updates_per_s_100k",
                   "gpu_updates_per_s_100k", "numpy_brunel_x_realtime", "gpu_brunel_x_realtime",
                   "bytes_per_synapse_constant_delay", "pattern_learning_epochs")


def compute_metrics(results: dict) -> dict[str, Measured | Missing]:
    return {key: m.compute(results) for key, m in METRICS.items()}


def fmt_measured(m: Measured | Missing, key: str) -> str:
    """A metric's value with its unit, as the report shows it."""
    if isinstance(m, Missing):
        return "not measured"
    if m.display is not None:
        return m.display
    return with_unit(METRICS[key].fmt(m.value), METRICS[key].unit)


# ------------------------------------------------------------------------------------- peers
PEER_NAMES = {"brian2": "Brian2", "nest": "NEST", "annarchy": "ANNarchy"}
NETWORK_NAMES = {"coba": "COBA (Vogels–Abbott)", "brunel": "Brunel 2000",
                 "potjans_diesmann": "Potjans–Diesmann microcircuit", "lif": "uncoupled LIF"}


def _mean_rate(ref: dict) -> float:
    if "mean_rate_hz" in ref:
        return ref["mean_rate_hz"]
    rates = list(ref["rates_hz"].values())
    return statistics.fmean(rates) if rates else 0.0


@dataclass(frozen=True)
class PeerComparison:
    """neurosim and a peer on the same case and size, from the same run."""

    case: str
    n_neurons: int
    device: str
    neurosim_x: float
    neurosim_rate_hz: float
    simulator: str
    target: str | None
    peer_x: float
    peer_rate_hz: float

    @property
    def peer_label(self) -> str:
        name = PEER_NAMES.get(self.simulator, self.simulator)
        return f"{name} ({self.target})" if self.target else name

    @property
    def ratio(self) -> float:
        """neurosim wall / peer wall for the same simulated time."""
        return self.peer_x / self.neurosim_x

    @property
    def speedup(self) -> float:
        return self.neurosim_x / self.peer_x

    @property
    def verdict(self) -> str:
        if self.ratio <= 1:
            return f"neurosim is {fmt_num(1 / self.ratio)}× faster"
        return f"neurosim is {fmt_num(self.ratio)}× slower"


def peer_comparisons(results: dict) -> list[PeerComparison]:
    out = []
    for peer in results["peers"]:
        if peer["case"] == "lif":
            ours = [(t["device"], t["x_realtime"], t["mean_rate_hz"]) for t in results["throughput"]
                    if t["n_neurons"] == peer["n_neurons"]]
        else:
            ours = [(n["device"], n["x_realtime"], _mean_rate(n))
                    for n in results["reference_networks"]
                    if n["name"] == peer["case"] and n["n_neurons"] == peer["n_neurons"]]
        best: dict[str, tuple[float, float]] = {}
        for device, x, rate in ours:
            if device not in best or x > best[device][0]:
                best[device] = (x, rate)
        for device, (x, rate) in sorted(best.items()):
            if x > 0 and peer["x_realtime"] > 0:
                out.append(PeerComparison(peer["case"], peer["n_neurons"], device, x, rate,
                                          peer["simulator"], peer["target"], peer["x_realtime"],
                                          peer["mean_rate_hz"]))
    return sorted(out, key=lambda c: (c.case, c.n_neurons, c.device, c.simulator))


# ----------------------------------------------------------------------------------- targets
COMPARATORS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}
COMPARATOR_TEXT = {"<=": "≤", "<": "<", ">=": "≥", ">": ">"}


@dataclass(frozen=True)
class Target:
    key: str
    description: str
    comparator: str
    target: float
    unit: str
    requires_gpu: str | None = None


@dataclass(frozen=True)
class TargetResult:
    target: Target
    status: str  # "met", "not met" or "not measured"
    current: str
    note: str
    value: float | None


def load_targets(path: str | Path | None = None) -> list[Target]:
    """Read targets.json; every key must name a metric and every comparator be known."""
    data = json.loads(Path(path or TARGETS_PATH).read_text(encoding="utf-8"))
    targets = []
    for i, item in enumerate(data["targets"]):
        t = Target(**item)
        if t.key not in METRICS:
            raise ValueError(f"targets[{i}].key: unknown metric {t.key!r}; known: "
                             f"{', '.join(sorted(METRICS))}")
        if t.comparator not in COMPARATORS:
            raise ValueError(f"targets[{i}].comparator: expected one of "
                             f"{', '.join(COMPARATORS)}, got {t.comparator!r}")
        targets.append(t)
    return targets


def evaluate_targets(results: dict, targets: list[Target] | None = None,
                     metrics: dict | None = None) -> list[TargetResult]:
    metrics = metrics if metrics is not None else compute_metrics(results)
    gpu_names = [g.get("name", "") for g in results["system"].get("gpus") or []]
    out = []
    for t in targets if targets is not None else load_targets():
        m = metrics[t.key]
        if isinstance(m, Missing):
            out.append(TargetResult(t, "not measured", "—", m.reason, None))
            continue
        current = fmt_measured(m, t.key)
        if t.requires_gpu and not any(t.requires_gpu.lower() in n.lower() for n in gpu_names):
            out.append(TargetResult(t, "not measured", current,
                                    f"target applies to an {t.requires_gpu}; measured on "
                                    f"{', '.join(gpu_names) or 'no GPU'} ({m.source})", m.value))
            continue
        met = COMPARATORS[t.comparator](m.value, t.target)
        out.append(TargetResult(t, "met" if met else "not met", current, m.source, m.value))
    return out


# ---------------------------------------------------------------------------------- badges
BADGE_COLOURS = {"met": "brightgreen", "not met": "orange", "not measured": "lightgrey",
                 None: "blue"}


def badge_url(label: str, message: str, colour: str) -> str:
    def part(s: str) -> str:
        s = s.replace("-", "--").replace("_", "__").replace(" ", "_")
        return urllib.parse.quote(s, safe="")
    return f"https://img.shields.io/badge/{part(label)}-{part(message)}-{colour}"


def _badges(results: dict, metrics: dict, judged: dict[str, TargetResult]) -> list[dict]:
    specs = [("Throughput", "neuron_updates_per_s_100k", "@100k neurons"),
             ("Step time", "numpy_lif_us_per_step_100", "@100 neurons, numpy"),
             ("Memory", "bytes_per_synapse_constant_delay", ""),
             ("Convergence", "pattern_learning_epochs", ""),
             ("Real time", "gpu_brunel_x_realtime"
              if isinstance(metrics["gpu_brunel_x_realtime"], Measured) else "brunel_x_realtime",
              "Brunel")]
    badges = []
    for label, key, where in specs:
        m = metrics[key]
        judged_status = judged[key].status if key in judged else None
        if isinstance(m, Missing):
            message, colour = "not measured", BADGE_COLOURS["not measured"]
        else:
            message = fmt_measured(m, key) + (f" ({where}, {m.device})" if where and m.device
                                               and m.device not in where else
                                               f" ({where})" if where else "")
            colour = BADGE_COLOURS[judged_status]
        badges.append({"label": label, "message": message, "colour": colour,
                       "url": badge_url(label, message, colour)})
    has_cuda = any(t["device"] == "cuda" for t in results["throughput"])
    gpu_message = "measured" if has_cuda else "unmeasured"
    badges.append({"label": "GPU", "message": gpu_message,
                   "colour": "blue" if has_cuda else "lightgrey",
                   "url": badge_url("GPU", gpu_message, "blue" if has_cuda else "lightgrey")})
    return badges


# --------------------------------------------------------------------------- recommendations
@dataclass(frozen=True)
class Recommendation:
    rule: str
    title: str
    text: str


@dataclass(frozen=True)
class _Facts:
    """What the rules look at."""

    results: dict
    metrics: dict
    judged: dict  # target key -> TargetResult
    comparisons: list
    history: list  # earlier runs of this machine, oldest first


def _not_met(f: _Facts, key: str) -> TargetResult | None:
    r = f.judged.get(key)
    return r if r is not None and r.status == "not met" else None


def _target_text(r: TargetResult) -> str:
    t = r.target
    return "target " + with_unit(f"{COMPARATOR_TEXT[t.comparator]} {fmt_target(t.target)}", t.unit)


def _rule_step_overhead(f: _Facts):
    r = _not_met(f, "numpy_lif_us_per_step_100")
    if r is None:
        return None
    text = (f"The NumPy backend takes {fmt_num(r.value)} µs per step at 100 neurons "
            f"({_target_text(r)}), i.e. {fmt_num(r.value * 1e3 / 100)} ns per neuron")
    larger = [t for t in f.results["throughput"] if t["device"] == "numpy" and t["n_neurons"] > 100]
    if larger:
        big = max(larger, key=lambda t: t["n_neurons"])
        text += (f", against {fmt_num(big['us_per_step'] * 1e3 / big['n_neurons'])} ns per neuron "
                 f"at {big['n_neurons']:,} neurons")
    text += (". Fixed per-step cost dominates (Python calls, small-array dispatch, temporaries), "
             "not the neuron update: fuse the step into fewer array operations, write into "
             "preallocated buffers (`out=`), and keep Python loops out of the step.")
    return Recommendation("step_overhead", "Per-step overhead dominates", text)


def _rule_gpu_unmeasured(f: _Facts):
    if any(t["device"] == "cuda" for t in f.results["throughput"] + f.results["reference_networks"]):
        return None
    gpus = [g.get("name", "?") for g in f.results["system"].get("gpus") or []]
    if gpus:
        text = (f"A GPU was detected ({', '.join(gpus)}) but this run has no CUDA measurement: "
                "install CuPy (`pip install 'neurosim[cuda12]'`), check `neurosim info`, then run "
                "`neurosim bench --device cuda`.")
    else:
        note = f.results["system"].get("gpu_note") or "no GPU detected"
        text = (f"GPU speed is unmeasured in this run ({note}). On a machine with an NVIDIA GPU "
                "and driver: `pip install 'neurosim[cuda12]'` (or `[cuda13]`), check that "
                "`neurosim info` lists the cuda backend as usable, then run "
                "`neurosim bench --device all`.")
    return Recommendation("gpu_unmeasured", "GPU acceleration not measured", text)


def _rule_cuda_vs_numpy(f: _Facts):
    best: dict[tuple[str, int], float] = {}
    for t in f.results["throughput"]:
        k = (t["device"], t["n_neurons"])
        best[k] = min(best.get(k, math.inf), t["us_per_step"])
    sizes = sorted(n for d, n in best if d == "cuda" and ("numpy", n) in best)
    if not sizes:
        return None
    ratios = [(n, best[("numpy", n)] / best[("cuda", n)]) for n in sizes]
    parts = ", ".join(f"{fmt_num(s)}× at {n:,}" for n, s in ratios)
    faster = [n for i, (n, _) in enumerate(ratios) if all(s > 1 for _, s in ratios[i:])]
    if faster:
        verdict = f"CUDA is faster from {faster[0]:,} neurons up"
    else:
        verdict = "CUDA is not faster than NumPy at the largest size measured"
    text = (f"CUDA speed-up over NumPy per step (NumPy µs / CUDA µs): {parts}. {verdict}; "
            "compare this crossover with the size at which `device='auto'` switches to CUDA.")
    return Recommendation("cuda_vs_numpy", "CUDA against NumPy", text)


def _rule_gpu_overhead(f: _Facts):
    r = _not_met(f, "gpu_step_overhead_us")
    if r is None:
        return None
    return Recommendation("gpu_overhead", "GPU launch overhead", (
        f"The CUDA backend takes {fmt_num(r.value)} µs per step ({r.note}; {_target_text(r)}): "
        "small networks are launch-bound. Fuse the step's kernels, avoid a host synchronisation "
        "(such as reading the spike count) every step, and consider CUDA graphs."))


def _rule_throughput(f: _Facts):
    r = _not_met(f, "neuron_updates_per_s_100k")
    if r is None:
        return None
    text = (f"At 100,000 neurons the best throughput is {fmt_num(r.value)} neuron updates/s "
            f"({r.note}; {_target_text(r)}).")
    if not any(t["device"] == "cuda" for t in f.results["throughput"]):
        text += " No CUDA record exists: large networks are where the GPU backend should help."
    return Recommendation("throughput", "Throughput at scale", text)


def _rule_memory(f: _Facts):
    lines = []
    for key, what in (("bytes_per_synapse_constant_delay", "per synapse with a constant delay"),
                      ("bytes_per_synapse_per_synapse_delay", "per synapse with per-synapse delays"),
                      ("bytes_per_neuron", "per neuron")):
        r = _not_met(f, key)
        if r is not None:
            lines.append(f"{fmt_num(r.value)} B {what} ({r.note}; {_target_text(r)})")
    if not lines:
        return None
    return Recommendation("memory", "Memory footprint", (
        "Memory above target: " + "; ".join(lines) + ". A CSR synapse needs a float32 weight and "
        "an int32 target (8 B); look for float64 or int64 arrays, per-synapse copies of "
        "per-projection constants, and delays stored wider than needed."))


def _rule_learning(f: _Facts):
    lines = []
    r = _not_met(f, "pattern_learning_epochs")
    if r is not None:
        lines.append(f"pattern learning: {r.current} ({_target_text(r)})")
    r = _not_met(f, "sequence_recall")
    if r is not None:
        lines.append(f"sequence recall after training {fmt_num(r.value)} ({_target_text(r)})")
    if not lines:
        return None
    return Recommendation("learning", "Learning convergence", (
        "; ".join(lines) + ". Check learning rates, trace time constants and the homeostatic "
        "terms with the curves below before tuning for speed."))


def _rule_peers(f: _Facts):
    slow = [c for c in f.comparisons if c.ratio > 1]
    if not slow:
        return None
    parts = [f"{NETWORK_NAMES.get(c.case, c.case)} at {c.n_neurons:,} neurons on {c.device}: "
             f"{fmt_num(c.ratio)}× slower than {c.peer_label} ({fmt_x(c.neurosim_x)} vs "
             f"{fmt_x(c.peer_x)} real time)" for c in slow]
    return Recommendation("peers_slower", "Slower than a peer", (
        "; ".join(parts) + ". Profile spike delivery and the external Poisson drive first: "
        "they are the stages that grow with activity."))


def _rule_rates(f: _Facts):
    off = [c for c in f.comparisons if c.peer_rate_hz > 0
           and abs(c.neurosim_rate_hz - c.peer_rate_hz) / c.peer_rate_hz > RATE_TOLERANCE]
    if not off:
        return None
    parts = [f"{c.case} at {c.n_neurons:,} neurons: neurosim ({c.device}) "
             f"{fmt_num(c.neurosim_rate_hz)} Hz vs {c.peer_label} {fmt_num(c.peer_rate_hz)} Hz"
             for c in off]
    return Recommendation("rates_differ", "Firing rates differ from the peer", (
        "; ".join(parts) + f" (more than {RATE_TOLERANCE:.0%} apart). A speed comparison is only "
        "like for like when both simulators produce the same activity: check the model first."))


def _rule_silent(f: _Facts):
    silent = [n for n in f.results["reference_networks"]
              if n["rates_hz"] and all(v == 0 for v in n["rates_hz"].values())]
    if not silent:
        return None
    names = ", ".join(f"{n['name']} on {n['device']}" for n in silent)
    return Recommendation("silent_network", "Silent reference network", (
        f"{names}: every population fired at 0 Hz, so its timing measures no spike delivery. "
        "Check the weights and the seed (COBA is bistable and falls silent for some seeds)."))


def _rule_gpu_tests(f: _Facts):
    g = f.results["gpu_tests"]
    if not g or g["failed"] == 0:
        return None
    return Recommendation("gpu_tests_failed", "GPU tests failing", (
        f"{g['failed']} GPU test(s) failed on {g['device']} ({g['when']}; {g['passed']} passed): "
        "the CUDA figures in this report are not trustworthy until they pass."))


def _rule_regressions(f: _Facts):
    lines = []
    same = [r for r in f.history if r["quick"] == f.results["quick"]]
    for key in HISTORY_METRICS:
        now = f.metrics[key]
        if not isinstance(now, Measured) or not math.isfinite(now.value):
            continue
        for run in reversed(same):
            then = METRICS[key].compute(run)
            if isinstance(then, Measured) and math.isfinite(then.value) and then.value > 0:
                change = now.value / then.value - 1
                worse = change > REGRESSION_TOLERANCE if METRICS[key].better == "lower" \
                    else change < -REGRESSION_TOLERANCE
                if worse:
                    lines.append(f"{METRICS[key].label}: {fmt_measured(then, key)} in run "
                                 f"`{run['run_id']}` → {fmt_measured(now, key)} now "
                                 f"({change:+.0%})")
                break
    if not lines:
        return None
    return Recommendation("regression", "Regressions against the previous run", (
        "; ".join(lines) + f" (more than {REGRESSION_TOLERANCE:.0%} worse than the latest "
        "earlier run of this machine with the same --quick setting)."))


RULES: tuple[Callable[[_Facts], Recommendation | None], ...] = (
    _rule_step_overhead, _rule_gpu_unmeasured, _rule_cuda_vs_numpy, _rule_gpu_overhead,
    _rule_throughput, _rule_memory, _rule_learning, _rule_peers, _rule_rates, _rule_silent,
    _rule_gpu_tests, _rule_regressions)


def recommendations(results: dict, history: list[dict] | None = None,
                    targets: list[Target] | None = None) -> list[Recommendation]:
    """The recommendations whose rule fires on ``results`` (and earlier runs in ``history``)."""
    metrics = compute_metrics(results)
    judged = {r.target.key: r for r in evaluate_targets(results, targets, metrics)}
    facts = _Facts(results, metrics, judged, peer_comparisons(results),
                   earlier_runs(results, history or []))
    return [rec for rule in RULES if (rec := rule(facts)) is not None]


# ------------------------------------------------------------------------------- convergence
def _convergence_rows(results: dict, judged: dict[str, TargetResult]) -> list[dict]:
    conv = results["convergence"]
    rows = []

    def status(key: str) -> str:
        return judged[key].status if key in judged else "—"

    def not_run(task: str, metric: str, name: str) -> dict:
        value = conv.get(name)
        reason = value["reason"] if value else "no record in this run"
        return {"task": task, "metric": metric, "value": "not run", "detail": reason,
                "status": "not measured"}

    p = conv.get("pattern_learning")
    if p is None or "status" in p:
        rows.append(not_run("Pattern learning", "epochs to threshold", "pattern_learning"))
    else:
        curve = p["accuracy_curve"]
        rows.append({
            "task": "Pattern learning", "metric": f"epochs to accuracy ≥ {fmt_num(p['threshold'])}",
            "value": (fmt_int(p["epochs_to_converge"]) if p["epochs_to_converge"] is not None
                      else f"not reached in {len(curve)} epochs"),
            "detail": (f"final accuracy {fmt_num(curve[-1]) if curve else '—'}; {p['device']}, "
                       f"seed {p['seed']}, {fmt_num(p['wall_s'])} s wall"),
            "status": status("pattern_learning_epochs")})
    s = conv.get("sequence_learning")
    if s is None or "status" in s:
        rows.append(not_run("Sequence learning", "recall", "sequence_learning"))
    else:
        epochs = s["epochs_to_90"]
        rows.append({
            "task": "Sequence learning", "metric": "recall before → after training",
            "value": f"{fmt_num(s['recall_before'])} → {fmt_num(s['recall_after'])}",
            "detail": (f"recall ≥ 0.9 after {epochs} epochs" if epochs is not None
                       else f"recall 0.9 not reached in {len(s['curve'])} epochs"),
            "status": status("sequence_recall")})
    h = conv.get("homeostasis")
    if h is None or "status" in h:
        rows.append(not_run("Homeostatic adaptation", "adaptation time", "homeostasis"))
    else:
        times = h["adaptation_time_s"]
        rates = h["rate_trace"]["rate_hz"]
        rows.append({
            "task": "Homeostatic adaptation", "metric": "time to reach the target rate (median)",
            "value": f"{fmt_num(statistics.median(times))} s" if times else "—",
            "detail": (f"{len(times)} trial(s), {fmt_num(min(times)) if times else '—'}–"
                       f"{fmt_num(max(times)) if times else '—'} s; target "
                       f"{fmt_num(h['target_rate_hz'])} Hz, final rate "
                       f"{fmt_num(rates[-1]) if rates else '—'} Hz"),
            "status": "—"})
    return rows


# ----------------------------------------------------------------------------------- figures
def _group(records: list[dict], key: Callable[[dict], str]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in records:
        out.setdefault(key(r), []).append(r)
    return out


def _series_by(records, label, x, y) -> list[svg.Series]:
    groups = _group(records, label)
    return [svg.Series(name, [x(r) for r in sorted(rs, key=x)], [y(r) for r in sorted(rs, key=x)])
            for name, rs in sorted(groups.items())]


def _figure(name: str, title: str, svg_text: str, caption: str) -> dict:
    return {"name": name, "title": title, "svg_text": svg_text, "svg": Markup(svg_text),
            "file": f"figures/{name}.svg", "caption": caption}


def build_figures(results: dict, earlier: list[dict]) -> list[dict]:
    figs = []
    tp = results["throughput"]
    if tp:
        figs.append(_figure("throughput", "Step throughput", svg.line_plot(
            _series_by(tp, lambda r: r["device"], lambda r: r["n_neurons"],
                       lambda r: r["neuron_updates_per_s"]),
            title="Neuron updates per second", xlabel="neurons", ylabel="neuron updates / s",
            xlog=True, ylog=True), "Neuron updates per wall-clock second against network size."))
        figs.append(_figure("step_time", "Time per step", svg.line_plot(
            _series_by(tp, lambda r: r["device"], lambda r: r["n_neurons"],
                       lambda r: r["us_per_step"]),
            title="Wall time per step", xlabel="neurons", ylabel="µs / step",
            xlog=True, ylog=True), "Wall-clock µs per simulation step against network size."))
    mem = [m for m in results["memory"] if (m["host_bytes"] or 0) + (m["device_bytes"] or 0) > 0]
    if mem:
        figs.append(_figure("memory", "Memory footprint", svg.line_plot(
            _series_by(mem, lambda r: f"{r['device']}, "
                       f"{r.get('delays', 'constant').replace('_', '-')} delay",
                       lambda r: r["n_neurons"],
                       lambda r: (r["host_bytes"] or 0) + (r["device_bytes"] or 0)),
            title="Memory against network size", xlabel="neurons", ylabel="bytes (host + device)",
            xlog=True, ylog=True), "Bytes held by the network (host + device) against size."))
    conv = results["convergence"]
    series, hlines = [], []
    p, s = conv.get("pattern_learning"), conv.get("sequence_learning")
    if p and "status" not in p and p["accuracy_curve"]:
        c = p["accuracy_curve"]
        series.append(svg.Series("pattern accuracy", list(range(1, len(c) + 1)), c))
        hlines.append((p["threshold"], f"pattern threshold {fmt_num(p['threshold'])}"))
    if s and "status" not in s and s["curve"]:
        series.append(svg.Series("sequence recall", list(range(1, len(s["curve"]) + 1)), s["curve"]))
    if series:
        figs.append(_figure("learning", "Learning curves", svg.line_plot(
            series, title="Learning curves", xlabel="epoch", ylabel="accuracy / recall",
            hlines=hlines, xinteger=True, yzero=True),
            "Accuracy (pattern learning) and recall (sequence learning) per epoch."))
    h = conv.get("homeostasis")
    if h and "status" not in h and h["rate_trace"]["t_s"]:
        figs.append(_figure("homeostasis", "Homeostatic adaptation", svg.line_plot(
            [svg.Series("population rate", h["rate_trace"]["t_s"], h["rate_trace"]["rate_hz"],
                        mode="lines")],
            title="Firing rate under homeostasis", xlabel="time (s)", ylabel="rate (Hz)",
            hlines=[(h["target_rate_hz"], f"target {fmt_num(h['target_rate_hz'])} Hz")]),
            "Population firing rate while homeostasis adapts, with the target rate."))
    raster = results["raster"]
    if raster is not None:
        text, caption = svg.raster_plot(raster["t_ms"], raster["index"],
                                        title=f"Spike raster: {raster['network']}",
                                        window_ms=raster["window_ms"])
        figs.append(_figure("raster", f"Spike raster ({raster['network']})", text, caption))
    runs = earlier + [results]
    for key in HISTORY_METRICS:
        points = [(i + 1, m.value) for i, run in enumerate(runs)
                  if isinstance(m := METRICS[key].compute(run), Measured) and math.isfinite(m.value)]
        if len(points) >= 2 and len(earlier) >= 1:
            values = [v for _, v in points]
            ylog = min(values) > 0 and max(values) / min(values) > 20
            figs.append(_figure(f"history_{key}", f"History: {METRICS[key].label}", svg.line_plot(
                [svg.Series(METRICS[key].label, [x for x, _ in points], values)],
                title=f"{METRICS[key].label} across runs", xlabel="run (see the History table)",
                ylabel=METRICS[key].unit or "value", ylog=ylog, xinteger=True, yzero=True),
                f"{METRICS[key].label} per run of this machine; run numbers as in the History table."))
    return figs


FIGURE_NAMES = {"throughput", "step_time", "memory", "learning", "homeostasis", "raster",
                *(f"history_{k}" for k in HISTORY_METRICS)}


# ----------------------------------------------------------------------------------- context
def _history_table(results: dict, earlier: list[dict]) -> dict:
    rows = []
    for i, run in enumerate(earlier + [results]):
        rows.append({"number": i + 1, "run_id": run["run_id"], "created": run["created"],
                     "quick": run["quick"], "current": run is results,
                     "cells": [fmt_measured(METRICS[k].compute(run), k)
                                for k in HISTORY_METRICS]})
    return {"columns": [METRICS[k].label for k in HISTORY_METRICS], "rows": rows}


def build_context(results: dict, history: list[dict] | None = None,
                  targets: list[Target] | None = None,
                  generated: dt.datetime | None = None) -> dict[str, Any]:
    """Everything the templates show, computed from ``results`` and earlier runs."""
    validate_results(results)
    metrics = compute_metrics(results)
    judged_list = evaluate_targets(results, targets, metrics)
    judged = {r.target.key: r for r in judged_list}
    earlier = earlier_runs(results, history or [])
    has_cuda = any(r["device"] == "cuda"
                   for r in results["throughput"] + results["reference_networks"])
    system = results["system"]
    gpus = [g.get("name", "?") for g in system.get("gpus") or []]
    unmeasured = None
    if not has_cuda:
        why = (f"a GPU was detected ({', '.join(gpus)}) but not benchmarked" if gpus
               else system.get("gpu_note") or "no GPU detected")
        unmeasured = f"GPU speed is unmeasured: this run has no CUDA record ({why})."
    generated = generated or dt.datetime.now().astimezone()
    return {
        "generated": generated.strftime("%Y-%m-%d %H:%M:%S %Z").strip(),
        "run_id": results["run_id"], "created": results["created"], "quick": results["quick"],
        "badges": _badges(results, metrics, judged),
        "throughput": sorted(results["throughput"],
                             key=lambda r: (r["device"], r["n_neurons"], r["n_synapses"])),
        "has_cuda": has_cuda, "gpu_unmeasured": unmeasured,
        "memory": [dict(m, delays=m.get("delays", "constant")) for m in sorted(
            results["memory"], key=lambda r: (r["device"], r["n_neurons"], r["n_synapses"]))],
        "convergence": _convergence_rows(results, judged),
        "reference_networks": [
            dict(n, label=NETWORK_NAMES.get(n["name"], n["name"]),
                 rates=", ".join(f"{k} {fmt_num(v)}" for k, v in n["rates_hz"].items()) or "—")
            for n in sorted(results["reference_networks"], key=lambda r: (r["name"], r["device"]))],
        "peers": [dict(p, label=PEER_NAMES.get(p["simulator"], p["simulator"]),
                       case_label=NETWORK_NAMES.get(p["case"], p["case"]))
                  for p in sorted(results["peers"],
                                  key=lambda p: (p["case"], p["n_neurons"], p["simulator"]))],
        "comparisons": [{"case": NETWORK_NAMES.get(c.case, c.case), "n_neurons": c.n_neurons,
                         "device": c.device, "neurosim_x": c.neurosim_x,
                         "neurosim_rate": c.neurosim_rate_hz, "peer": c.peer_label,
                         "peer_x": c.peer_x, "peer_rate": c.peer_rate_hz, "ratio": c.ratio,
                         "verdict": c.verdict} for c in peer_comparisons(results)],
        "raster": results["raster"], "gpu_tests": results["gpu_tests"],
        "system_text": sysinfo.format_text(system),
        "recommendations": recommendations(results, history, targets),
        "targets": [{"description": r.target.description,
                     "target": with_unit(f"{COMPARATOR_TEXT[r.target.comparator]} "
                                         f"{fmt_target(r.target.target)}", r.target.unit),
                     "current": r.current, "status": r.status, "note": r.note}
                    for r in judged_list],
        "history": _history_table(results, earlier), "earlier_runs": len(earlier),
        "figures": build_figures(results, earlier),
    }


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("neurosim", "report/templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"),
                                            default_for_string=False, default=False),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(num=fmt_num, grouped=fmt_int, bytes=fmt_bytes, times=fmt_x, md=md_cell,
                       html_md=inline_md)
    return env


def render_report(results: dict, out_dir: str | Path, history: list[dict] | None = None, *,
                  targets: list[Target] | None = None,
                  generated: dt.datetime | None = None) -> dict[str, Path]:
    """Write BENCHMARKS.md, benchmarks.html and figures/*.svg into ``out_dir``.

    ``history`` is a list of results dicts (``load_history``); only earlier runs of the same
    machine are used. Returns {relative name: path} of every file written.
    """
    context = build_context(results, history, targets, generated)
    env = make_environment()
    out = Path(out_dir)
    figdir = out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, template in (("BENCHMARKS.md", "BENCHMARKS.md.j2"),
                           ("benchmarks.html", "report.html.j2")):
        text = env.get_template(template).render(context)
        (out / name).write_text(text, encoding="utf-8")
        written[name] = out / name
    for fig in context["figures"]:
        path = figdir / f"{fig['name']}.svg"
        path.write_text(fig["svg_text"] + "\n", encoding="utf-8")
        written[fig["file"]] = path
    for stale in figdir.glob("*.svg"):  # figures of an earlier report that this one lacks
        if stale.stem in FIGURE_NAMES and f"figures/{stale.name}" not in written:
            stale.unlink()
    return written
