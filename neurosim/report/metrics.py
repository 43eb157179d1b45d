"""Report metrics (``METRICS``) computed from a results dict, and neurosim-vs-peer comparisons.

Each metric is a small function of a results dict that returns ``Measured`` (value, source,
device) or ``Missing`` (why not). ``targets.json`` and the recommendation rules name metrics by
key. ``peer_comparisons`` pairs neurosim and a peer simulator on the same case and size from the
same run. Speeds are "x real time": simulated seconds per wall-clock second.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Callable

from neurosim.report.formatting import fmt_int, fmt_num, with_unit


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


MICROCIRCUIT = "potjans_diesmann"


def is_full_scale(rec: dict) -> bool:
    """A microcircuit record of the full model (records without ``scale`` predate scaled runs)."""
    return rec.get("scale", 1.0) == 1.0 and rec.get("k_scale", 1.0) == 1.0


def recorded(rec: dict) -> bool:
    """Whether a reference record's run recorded spikes (older records: it has rates)."""
    return rec.get("recording", bool(rec["rates_hz"]))


def rtf_of(rec: dict) -> float:
    """Wall seconds per simulated second of a reference record."""
    if "rtf" in rec:
        return rec["rtf"]
    return 1.0 / rec["x_realtime"] if rec["x_realtime"] > 0 else math.inf


def _microcircuit_rtf(device: str):
    """Real-time factor of the full-scale microcircuit on ``device``: the longest simulated
    time measured, the run with spike recording where there is one (as the model is published),
    the fastest of those. Scaled runs never count."""
    def compute(r: dict) -> Measured | Missing:
        recs = [n for n in r["reference_networks"]
                if n["name"] == MICROCIRCUIT and n["device"] == device]
        unmeasured = " (GPU unmeasured)" if device == "cuda" else ""
        if not recs:
            return Missing(f"no {MICROCIRCUIT} record on {device}{unmeasured}")
        full = [n for n in recs if is_full_scale(n)]
        if not full:
            scales = sorted({(n.get("scale"), n.get("k_scale")) for n in recs})
            return Missing(f"only scaled {MICROCIRCUIT} runs on {device} (scale, k_scale: "
                           + ", ".join(f"{a:g}, {b:g}" for a, b in scales)
                           + "); the target is for the full-scale model")
        longest = max(n["sim_ms"] for n in full)
        full = [n for n in full if n["sim_ms"] == longest]
        best = min([n for n in full if recorded(n)] or full, key=rtf_of)
        mode = "spikes recorded" if recorded(best) else "no spike recording"
        background = f", {best['background']} background" if "background" in best else ""
        return Measured(rtf_of(best), f"{device}, full scale ({best['n_neurons']:,} neurons, "
                        f"{best['n_synapses']:,} synapses), {longest / 1000:g} s "
                        f"simulated, {mode}{background}", device)
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
    epochs = task["epochs_to_converge"]
    return Measured(epochs, src, task["device"], display="1 epoch" if epochs == 1 else None)


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
              _microcircuit_rtf("cuda")),
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
                    if t["n_neurons"] == peer["n_neurons"] and t.get("n_synapses", 0) == 0]
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
