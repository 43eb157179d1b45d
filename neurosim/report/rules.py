"""Recommendation rules (``RULES``) and ``recommendations``.

Each rule looks at the facts of one run (metrics, judged targets, peer comparisons, earlier runs
of the same machine), fires only on the data, and cites the numbers that made it fire.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from neurosim.report.formatting import fmt_num, fmt_target, fmt_x, with_unit
from neurosim.report.history import earlier_runs
from neurosim.report.metrics import (HISTORY_METRICS, METRICS, NETWORK_NAMES, Measured,
                                     compute_metrics, fmt_measured, peer_comparisons)
from neurosim.report.targets import COMPARATOR_TEXT, Target, TargetResult, evaluate_targets

REGRESSION_TOLERANCE = 0.10  # a metric 10 % worse than the previous comparable run is a regression
RATE_TOLERANCE = 0.20  # firing rates of neurosim and a peer differing by more than 20 %


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
