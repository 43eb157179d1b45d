"""The benchmark report: schema validation, tables, targets, recommendations, history, SVG.

Driven by tests/data/results-sample.json, a test fixture whose numbers are made up; reports are
written into tmp_path only.
"""

from __future__ import annotations

import copy
import json
import math
import re
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest

from neurosim import sysinfo
from neurosim.report import microcircuit, render, svg

SAMPLE_PATH = Path(__file__).parent / "data" / "results-sample.json"
_SAMPLE = json.loads(SAMPLE_PATH.read_text(encoding="utf-8"))


@pytest.fixture
def sample() -> dict:
    return copy.deepcopy(_SAMPLE)


def _render(results: dict, out: Path, history=None) -> tuple[str, str, dict]:
    written = render.render_report(results, out, history)
    return (written["BENCHMARKS.md"].read_text(encoding="utf-8"),
            written["benchmarks.html"].read_text(encoding="utf-8"), written)


def _without_gpu(results: dict) -> dict:
    results["throughput"] = [t for t in results["throughput"] if t["device"] != "cuda"]
    results["reference_networks"] = [n for n in results["reference_networks"]
                                     if n["device"] != "cuda"]
    results["memory"] = [m for m in results["memory"] if m["device"] != "cuda"]
    results["system"]["gpus"] = []
    results["system"]["cuda"] = None
    results["system"]["gpu_note"] = "no GPU detected (pynvml: NVML Shared Library Not Found)"
    results["gpu_tests"] = None
    return results


def _status(results: dict, key: str) -> render.TargetResult:
    return next(r for r in render.evaluate_targets(results) if r.target.key == key)


def _record(results: dict, device: str, n: int) -> dict:
    return next(t for t in results["throughput"] if t["device"] == device and t["n_neurons"] == n)


# ------------------------------------------------------------------------------------ schema
def test_sample_is_valid_and_marked_as_fixture(sample):
    assert render.validate_results(sample) is sample
    assert "fixture" in sample["run_id"]
    assert "made up" in sample["system"]["note"]


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["throughput"][0].pop("us_per_step"),
     "results.throughput[0]: missing key 'us_per_step'"),
    (lambda d: d.update(quick="yes"), "results.quick: expected true or false"),
    (lambda d: d["throughput"][1].update(n_neurons=True), "results.throughput[1].n_neurons"),
    (lambda d: d["throughput"][1].update(n_neurons=1.5), "results.throughput[1].n_neurons"),
    (lambda d: d["throughput"][0].update(wall_s=math.nan), "results.throughput[0].wall_s"),
    (lambda d: d["throughput"][0].update(device="gpu"), "one of 'numpy', 'cuda'"),
    (lambda d: d.update(schema=2), "results.schema"),
    (lambda d: d.update(created="yesterday"), "results.created: expected an ISO-8601"),
    (lambda d: d.pop("peers"), "results: missing key 'peers'"),
    (lambda d: d["memory"][0].update(host_bytes="1 MB"), "results.memory[0].host_bytes"),
    (lambda d: d["memory"][0].update(delays="sometimes"), "results.memory[0].delays"),
    (lambda d: d["convergence"]["pattern_learning"].pop("seed"),
     "results.convergence.pattern_learning: missing key 'seed'"),
    (lambda d: d["convergence"].update(homeostasis={"status": "not run"}),
     "results.convergence.homeostasis: missing key 'reason'"),
    (lambda d: d["reference_networks"][0]["rates_hz"].update(E="high"),
     "results.reference_networks[0].rates_hz.E"),
    (lambda d: d["raster"]["index"].pop(), "results.raster: t_ms and index differ"),
    (lambda d: d["system"]["cpu"].pop("model"), "results.system.cpu: missing key 'model'"),
    (lambda d: d["gpu_tests"].pop("failed"), "results.gpu_tests: missing key 'failed'"),
])
def test_validate_names_the_bad_key(sample, mutate, message):
    mutate(sample)
    with pytest.raises(ValueError, match=re.escape(message)):
        render.validate_results(sample)


def test_validate_accepts_nulls_and_not_run(sample):
    sample["raster"] = None
    sample["gpu_tests"] = None
    sample["memory"][0]["host_bytes"] = None
    sample["convergence"] = {"pattern_learning": {"status": "not run", "reason": "quick run"}}
    render.validate_results(sample)
    assert render.compute_metrics(sample)["pattern_learning_epochs"] == render.Missing(
        "not run: quick run")


def test_save_and_load_round_trip(sample, tmp_path):
    path = render.save_results(sample, tmp_path)
    assert path.name == "20260102T030405Z-fixture0000.json"
    assert render.load_results(path) == sample
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match="broken.json: not valid JSON"):
        render.load_results(tmp_path / "broken.json")


# ------------------------------------------------------------------------------------ tables
def test_throughput_rows_match_the_json(sample, tmp_path):
    md, html, _ = _render(sample, tmp_path)
    for t in sample["throughput"]:
        cells = [t["device"], render.fmt_int(t["n_neurons"]), render.fmt_int(t["n_synapses"]),
                 render.fmt_int(t["steps"]), render.fmt_num(t["sim_ms"]),
                 render.fmt_num(t["wall_s"]), render.fmt_num(t["us_per_step"]),
                 render.fmt_num(t["neuron_updates_per_s"]), render.fmt_x(t["x_realtime"]),
                 render.fmt_num(t["mean_rate_hz"])]
        assert "| " + " | ".join(cells) + " |" in md
        assert re.search(r"<tr>" + "".join(rf"<td[^>]*>{re.escape(c)}</td>" for c in cells), html)


def test_formatting():
    assert render.fmt_num(14.0) == "14.0"
    assert render.fmt_num(12345.6) == "12,346"
    assert render.fmt_num(3.0e8) == "3.00e8"
    assert render.fmt_num(0.0476) == "0.0476"
    assert render.fmt_num(None) == "—"
    assert render.fmt_int(100000) == "100,000"
    assert render.fmt_bytes(8_500_000) == "8.11 MiB"
    assert render.fmt_bytes(None) == "—"
    assert render.fmt_target(3e8) == "3e8" and render.fmt_target(0.1) == "0.1"


def test_memory_and_reference_rows(sample, tmp_path):
    md, _, _ = _render(sample, tmp_path)
    methods = list(dict.fromkeys(m["method"] for m in sample["memory"]))
    assert len(methods) == 2                 # the fixture's numpy and cuda methods
    for m in sample["memory"]:
        row = (f"| {m['device']} | {render.fmt_int(m['n_neurons'])} | "
               f"{render.fmt_int(m['n_synapses'])} | {m['delays'].replace('_', '-')} | "
               f"{render.fmt_bytes(m['host_bytes'])} | {render.fmt_bytes(m['device_bytes'])} | "
               f"{render.fmt_num(m['bytes_per_neuron'])} | {render.fmt_num(m['bytes_per_synapse'])}")
        assert f"{row} | [{methods.index(m['method']) + 1}] |" in md
    for i, method in enumerate(methods):     # each written once, under the table
        assert md.count(method) == 1 and f"Method [{i + 1}]: {method}." in md
    reference = md.split("### Reference Networks", 1)[1].split("### Potjans", 1)[0]
    microcircuit = md.split("### Potjans–Diesmann Microcircuit", 1)[1].split("### Peer", 1)[0]
    for n in sample["reference_networks"]:
        if n["name"] == "potjans_diesmann":   # its own section, in the fixture's older format
            assert (f"| {n['device']} | yes | full (1 / 1) | — | {render.fmt_int(n['n_neurons'])}"
                    f" | {render.fmt_int(n['n_synapses'])} | {render.fmt_num(n['build_s'])} | "
                    f"{render.fmt_num(n['wall_s'])} | {render.fmt_num(1 / n['x_realtime'])} |"
                    ) in microcircuit
            assert "potjans" not in reference.lower()
            continue
        assert (f"| {n['device']} | {render.fmt_int(n['n_neurons'])} | "
                f"{render.fmt_int(n['n_synapses'])} |") in reference
        assert render.fmt_x(n["x_realtime"]) in reference


def test_peer_ratios_from_the_same_run(sample, tmp_path):
    md, _, _ = _render(sample, tmp_path)
    coba = next(n for n in sample["reference_networks"]
                if n["name"] == "coba" and n["device"] == "numpy")
    peer = next(p for p in sample["peers"] if p["case"] == "coba")
    ratio = peer["x_realtime"] / coba["x_realtime"]  # neurosim wall / peer wall
    assert ratio < 1
    row = next(line for line in md.splitlines()
               if line.startswith("| COBA") and "| numpy |" in line and "Brian2" in line)
    assert f"| {render.fmt_num(ratio)} | neurosim is {render.fmt_num(1 / ratio)}× faster |" in row
    comparisons = render.peer_comparisons(sample)
    # every pair is of the same case and size; the NEST Brunel record has no COBA partner
    assert all(c.n_neurons == next(p["n_neurons"] for p in sample["peers"] if p["case"] == c.case)
               for c in comparisons)
    assert "simulated seconds per wall-clock second" in md


def test_no_gpu_says_unmeasured(sample, tmp_path):
    md, html, _ = _render(_without_gpu(sample), tmp_path)
    for text in (md, html):
        assert "GPU speed is unmeasured: this run has no CUDA record" in text
        assert "NVML Shared Library Not Found" in text
    assert "badge/GPU-unmeasured-lightgrey" in md
    for key in ("gpu_brunel_x_realtime", "gpu_step_overhead_us", "gpu_potjans_diesmann_rtf"):
        assert _status(sample, key).status == "not measured"
    rules = [r.rule for r in render.recommendations(sample)]
    assert "gpu_unmeasured" in rules and "cuda_vs_numpy" not in rules


def test_gpu_present_is_not_called_unmeasured(sample, tmp_path):
    md, _, _ = _render(sample, tmp_path)
    assert "unmeasured" not in md.replace("badge/GPU-unmeasured", "")
    assert "badge/GPU-measured-blue" in md


# ----------------------------------------------------------------------------------- targets
def test_targets_file_holds_the_issue_targets():
    targets = {t.key: t for t in render.load_targets()}
    expected = {"numpy_lif_us_per_step_100": ("<=", 10), "neuron_updates_per_s_100k": (">=", 3e8),
                "coba_speedup_vs_brian2_cython": (">", 1),
                "brunel_speedup_vs_brian2_cython": (">", 1),
                "bytes_per_synapse_constant_delay": ("<=", 8),
                "bytes_per_synapse_per_synapse_delay": ("<=", 10),
                "bytes_per_neuron": ("<=", 100), "pattern_learning_epochs": ("<=", 10),
                "sequence_recall": (">=", 0.9), "gpu_brunel_x_realtime": (">=", 10),
                "gpu_step_overhead_us": ("<=", 5), "gpu_potjans_diesmann_rtf": ("<", 0.1)}
    assert {k: (t.comparator, t.target) for k, t in targets.items()} == expected
    assert targets["gpu_potjans_diesmann_rtf"].requires_gpu == "H100"


def test_unknown_target_key_is_rejected(tmp_path):
    bad = tmp_path / "targets.json"
    bad.write_text(json.dumps({"targets": [{"key": "speed", "description": "x",
                                            "comparator": "<=", "target": 1, "unit": ""}]}))
    with pytest.raises(ValueError, match="unknown metric 'speed'"):
        render.load_targets(bad)


@pytest.mark.parametrize("us, status", [(9.99, "met"), (10.0, "met"), (10.01, "not met")])
def test_step_time_target_boundary(sample, tmp_path, us, status):
    _record(sample, "numpy", 100)["us_per_step"] = us
    assert _status(sample, "numpy_lif_us_per_step_100").status == status
    md, _, _ = _render(sample, tmp_path)
    row = next(line for line in md.splitlines() if line.startswith("| NumPy backend, 100"))
    assert f"| {status} |" in row and render.fmt_num(us) in row


@pytest.mark.parametrize("rate, status", [(2.999e8, "not met"), (3e8, "met"), (3.001e8, "met")])
def test_throughput_target_boundary(sample, rate, status):
    for t in sample["throughput"]:
        if t["n_neurons"] == 100_000:
            t["neuron_updates_per_s"] = rate
    assert _status(sample, "neuron_updates_per_s_100k").status == status


@pytest.mark.parametrize("x, status", [(9.99, "not met"), (10.0, "not met"), (10.01, "met")])
def test_strict_target_boundary_on_an_h100(sample, x, status):
    sample["system"]["gpus"][0]["name"] = "NVIDIA H100 80GB HBM3"
    pd = next(n for n in sample["reference_networks"] if n["name"] == "potjans_diesmann")
    pd["x_realtime"] = x  # wall / sim = 1 / x, target < 0.1
    assert _status(sample, "gpu_potjans_diesmann_rtf").status == status


def _mc(device="cuda", sim_ms=10_000.0, rtf=0.5, recording=True, scale=1.0, k_scale=1.0):
    """A microcircuit record as cases.microcircuit_records writes it (numbers made up)."""
    wall = rtf * sim_ms * 1e-3
    return {"name": "potjans_diesmann", "device": device, "scale": scale, "k_scale": k_scale,
            "background": "poisson", "recording": recording, "sim_ms": sim_ms, "build_s": 9.0,
            "wall_s": wall, "x_realtime": 1 / rtf, "rtf": rtf,
            "rates_hz": {"L23E": 0.9} if recording else {}, "n_neurons": 77169 if scale == 1 else
            7717, "n_synapses": 299_880_000 if scale == 1 else 2_988_807, "seed": 1}


def test_microcircuit_target_uses_full_scale_10s_recorded_run(sample):
    sample["system"]["gpus"][0]["name"] = "NVIDIA H100 80GB HBM3"
    others = [n for n in sample["reference_networks"] if n["name"] != "potjans_diesmann"]
    # scaled runs never count, however fast
    sample["reference_networks"] = others + [_mc(rtf=0.01, scale=0.1, k_scale=0.1)]
    result = _status(sample, "gpu_potjans_diesmann_rtf")
    assert result.status == "not measured" and "only scaled potjans_diesmann runs" in result.note
    # the 10 s run, with spike recording, of the full model: 0.12 (not met)
    sample["reference_networks"] = others + [
        _mc(rtf=0.01, scale=0.1, k_scale=0.1), _mc(sim_ms=1000.0, rtf=0.05),
        _mc(rtf=0.12), _mc(rtf=0.08, recording=False), _mc(device="numpy", rtf=0.01)]
    result = _status(sample, "gpu_potjans_diesmann_rtf")
    assert (result.status, result.value) == ("not met", 0.12)
    assert "10 s simulated, spikes recorded, poisson background" in result.note
    # only a run without recording: that one
    sample["reference_networks"] = others + [_mc(rtf=0.08, recording=False)]
    assert _status(sample, "gpu_potjans_diesmann_rtf").status == "met"


def test_microcircuit_section_without_gpu_says_unmeasured(sample, tmp_path):
    sample = _without_gpu(sample)
    sample["reference_networks"] += [_mc("numpy", 1000.0, 20.0), _mc("numpy", 10_000.0, 19.0),
                                     _mc("numpy", 1000.0, 18.0, recording=False),
                                     _mc("numpy", 10_000.0, 17.0, recording=False)]
    sample["microcircuit"] = {"scale": 1.0, "k_scale": 1.0, "background": "poisson",
                              "sim_ms": [1000.0, 10000.0], "not_run": []}
    md, html, _ = _render(sample, tmp_path)
    section = md.split("### Potjans–Diesmann Microcircuit", 1)[1].split("### Peer", 1)[0]
    assert ("| numpy | yes | full (1 / 1) | poisson | 77,169 | 299,880,000 | 9.00 | 20.0 | 20.0 "
            "| 190 | 19.0 | L23E 0.900 (over 10 s) |") in section
    assert "| numpy | no | full (1 / 1) | poisson | 77,169 | 299,880,000 | 9.00 | 18.0 | 18.0 " \
           "| 170 | 17.0 | not recorded |" in section
    assert "| GeNN 4.8.0 | NVIDIA GeForce RTX 4090 | Poisson (generated per neuron on the GPU) " \
           "| 0.27 | [1] |" in section
    assert "| NEST GPU (connections built on the GPU) | NVIDIA GeForce RTX 4090 | DC input " \
           "| 0.39 | [1] |" in section
    assert "This run: **unmeasured**" in section and "(GPU unmeasured)" in section
    assert "Scaled instance" not in section
    assert "GeNN" in html and "unmeasured" in html


def test_published_figures_cite_the_publication(sample, tmp_path):
    published = json.loads(microcircuit.PUBLISHED_PATH.read_text(encoding="utf-8"))
    md, html, _ = _render(sample, tmp_path)
    md_section = md.split("### Potjans–Diesmann Microcircuit", 1)[1].split("### Peer", 1)[0]
    html_section = html.split("Potjans–Diesmann Microcircuit</h3>", 1)[1].split("<h3>", 1)[0]
    for text in (md_section, html_section):
        assert "issue 6" not in text and "quoted" not in text
        for row in published["figures"]:       # every published row, with its source's number
            assert f"{row['rtf']}" in text and row["background"] in text
        source = published["sources"]["golosio2023"]
        for part in ("Golosio B, Villamar J, Tiddia G", "(2023)", "Applied Sciences 13(17): 9598",
                     "doi:10.3390/app13179598", "real-time factor", "RTX 4090",
                     "10 s of model time", "not confirmed against the printed figure"):
            assert part in text, part
        assert source["timed"] in text
    assert "[doi:10.3390/app13179598](https://doi.org/10.3390/app13179598)" in md_section
    assert '<a href="https://doi.org/10.3390/app13179598">' in html_section
    assert md_section.count("| [1] |") == len(published["figures"])


def test_published_figures_are_defined_once(tmp_path):
    loaded = microcircuit.load_published()
    assert [r["rtf"] for r in loaded["rows"]] == [0.27, 0.39, 0.47]
    assert [s["ref"] for s in loaded["sources"]] == [1]
    data = json.loads(microcircuit.PUBLISHED_PATH.read_text(encoding="utf-8"))
    data["figures"].append(dict(data["figures"][0], source="nowhere"))
    bad = tmp_path / "published.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="nowhere"):
        microcircuit.load_published(bad)
    here = Path(__file__).parents[1]
    for path in [*(here / "neurosim").rglob("*.py"),
                 *(here / "neurosim/report/templates").glob("*")]:
        assert "4090" not in path.read_text(encoding="utf-8"), f"{path}: a second definition"


def test_old_results_without_microcircuit_render(sample, tmp_path):
    sample["reference_networks"] = [n for n in sample["reference_networks"]
                                    if n["name"] != "potjans_diesmann"]
    assert "microcircuit" not in sample
    md, html, _ = _render(sample, tmp_path)
    section = md.split("### Potjans–Diesmann Microcircuit", 1)[1].split("### Peer", 1)[0]
    assert "These results predate the microcircuit benchmark" in section
    assert "No microcircuit was simulated in this run." in section
    assert "No microcircuit was simulated in this run." in html


def test_h100_target_on_another_gpu_is_not_measured(sample):
    result = _status(sample, "gpu_potjans_diesmann_rtf")
    assert result.status == "not measured"
    assert "applies to an H100" in result.note and "Fixture GPU" in result.note


@pytest.mark.parametrize("peer_x, status", [(0.3999, "met"), (0.4, "not met"), (0.41, "not met")])
def test_peer_speedup_target_boundary(sample, peer_x, status):
    next(p for p in sample["peers"] if p["case"] == "coba")["x_realtime"] = peer_x
    assert _status(sample, "coba_speedup_vs_brian2_cython").status == status


def test_pattern_learning_without_convergence_is_not_met(sample):
    sample["convergence"]["pattern_learning"]["epochs_to_converge"] = None
    result = _status(sample, "pattern_learning_epochs")
    assert result.status == "not met" and "not reached in 10 epochs" in result.current


def test_pattern_row_shows_the_seeds(sample):
    """A pattern-learning record with several seeds: the row gives their mean ± sd and each
    seed's final accuracy; a record without seeds (older results) renders as before."""
    p = sample["convergence"]["pattern_learning"]
    before = render._pattern_extras(p)
    assert "seeds" not in before
    p.update(final_accuracy_mean=0.62, final_accuracy_sd=0.015,
             per_seed=[{"final_accuracy": a} for a in (0.61, 0.64, 0.61)])
    extra = render._pattern_extras(p)
    assert extra.startswith(before)
    assert "over 3 seeds 0.620 ± 0.0150" in extra and "0.610, 0.640, 0.610" in extra


def test_missing_record_is_not_measured(sample):
    sample["throughput"] = [t for t in sample["throughput"] if t["n_neurons"] != 100]
    result = _status(sample, "numpy_lif_us_per_step_100")
    assert (result.status, result.note) == ("not measured", "no numpy record at 100 neurons")


# --------------------------------------------------------------------------- recommendations
def test_step_overhead_rule_cites_its_numbers(sample):
    recs = {r.rule: r for r in render.recommendations(sample)}
    text = recs["step_overhead"].text
    assert "14.0 µs per step at 100 neurons" in text and "target ≤ 10 µs/step" in text
    _record(sample, "numpy", 100)["us_per_step"] = 9.0
    assert "step_overhead" not in [r.rule for r in render.recommendations(sample)]


def test_rules_fire_only_on_their_data(sample):
    rules = [r.rule for r in render.recommendations(sample)]
    assert "rates_differ" not in rules and "silent_network" not in rules
    assert "gpu_tests_failed" not in rules and "regression" not in rules
    next(p for p in sample["peers"] if p["case"] == "coba")["mean_rate_hz"] = 2.0
    next(n for n in sample["reference_networks"] if n["name"] == "brunel")["rates_hz"] = {
        "E": 0.0, "I": 0.0}
    sample["gpu_tests"]["failed"] = 3
    recs = {r.rule: r.text for r in render.recommendations(sample)}
    assert "vs Brian2 (cython) 2.00 Hz" in recs["rates_differ"]
    assert "brunel on" in recs["silent_network"]
    assert recs["gpu_tests_failed"].startswith("3 GPU test(s) failed")


def test_cuda_vs_numpy_rule(sample):
    text = next(r.text for r in render.recommendations(sample) if r.rule == "cuda_vs_numpy")
    n, c = _record(sample, "numpy", 100)["us_per_step"], _record(sample, "cuda", 100)["us_per_step"]
    assert f"{render.fmt_num(n / c)}× at 100" in text


# ----------------------------------------------------------------------------------- history
def _earlier(sample: dict, run_id: str, created: str, us: float) -> dict:
    run = copy.deepcopy(sample)
    run.update(run_id=run_id, created=created)
    _record(run, "numpy", 100)["us_per_step"] = us
    return run


def test_history_same_machine_only(sample, tmp_path):
    results_dir = tmp_path / "results"
    for run in (_earlier(sample, "fixture-old-1", "2025-12-01T00:00:00+00:00", 13.0),
                _earlier(sample, "fixture-old-2", "2025-12-15T00:00:00Z", 11.0)):
        render.save_results(run, results_dir)
    other = _earlier(sample, "fixture-other-machine", "2025-12-20T00:00:00+00:00", 1.0)
    other["system"]["cpu"]["model"] = "Another CPU"
    (results_dir / "other.json").write_text(json.dumps(other))
    (results_dir / "junk.json").write_text("not json")
    render.save_results(sample, results_dir)
    history = render.load_history(results_dir, sample["system"], exclude_run_id=sample["run_id"])
    assert [r["run_id"] for r in history] == ["fixture-old-1", "fixture-old-2"]

    md, html, written = _render(sample, tmp_path / "out", history)
    section = md.split("## History", 1)[1].split("## Running Benchmarks", 1)[0]
    assert "`fixture-old-1`" in section and "`fixture-old-2`" in section
    assert "`fixture-sample` (this run)" in section and "other-machine" not in md
    assert "11.0 µs/step" in section and "13.0 µs/step" in section
    assert "figures/history_numpy_lif_us_per_step_100.svg" in written
    regression = next(r.text for r in render.recommendations(sample, history)
                      if r.rule == "regression")
    assert "11.0 µs/step in run `fixture-old-2` → 14.0 µs/step now (+27%)" in regression


def test_history_ignores_later_runs(sample):
    later = _earlier(sample, "fixture-later", "2026-06-01T00:00:00+00:00", 1.0)
    assert render.earlier_runs(sample, [later]) == []


def test_machine_key():
    a = {"cpu": {"model": " Xeon  X "}, "gpus": [{"name": "B"}, {"name": "A"}]}
    assert render.machine_key(a) == ("Xeon X", ("A", "B"))


# ------------------------------------------------------------------------- templates, HTML
def test_strict_undefined_catches_a_missing_key(sample):
    env = render.make_environment()
    context = render.build_context(sample)
    for name in ("BENCHMARKS.md.j2", "report.html.j2"):
        env.get_template(name).render(context)
        broken = dict(context)
        del broken["system_text"]
        with pytest.raises(jinja2.UndefinedError, match="system_text"):
            env.get_template(name).render(broken)
        broken = dict(context, throughput=[{k: v for k, v in context["throughput"][0].items()
                                            if k != "us_per_step"}])
        with pytest.raises(jinja2.UndefinedError, match="us_per_step"):
            env.get_template(name).render(broken)


class _TagChecker(HTMLParser):
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
            "track", "wbr"}

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]} at {self.getpos()}")
        else:
            self.stack.pop()


def test_html_is_well_formed_and_self_contained(sample, tmp_path):
    _, html, _ = _render(sample, tmp_path)
    checker = _TagChecker()
    checker.feed(html)
    checker.close()
    assert checker.errors == [] and checker.stack == []
    names = [t for t, _ in checker.tags]
    assert names.count("svg") >= 5 and "style" in names and "script" not in names
    assert "link" not in names and "img" not in names


_RESOURCE_ATTRS = {"src", "href", "xlink:href", "srcset", "data", "poster", "background"}


def _external_resources(html: str) -> list[str]:
    """Every reference the page would fetch from the network: http(s) or protocol-relative
    URLs in resource attributes (any tag but a hyperlink, which is only followed when clicked)
    and in CSS url(...) or @import."""
    checker = _TagChecker()
    checker.feed(html)
    found = [f"<{tag} {name}={value}>" for tag, attrs in checker.tags if tag != "a"
             for name, value in attrs.items()
             if name in _RESOURCE_ATTRS and value and re.match(r"\s*(https?:)?//", value, re.I)]
    return found + re.findall(r"(?:url\(\s*['\"]?|@import\s+['\"])\s*(?:https?:)?//[^)'\"\s]*",
                              html, re.I)


def test_html_references_no_external_resource(sample, tmp_path):
    md, html, _ = _render(sample, tmp_path)
    assert _external_resources(html) == []
    assert "img.shields.io" not in html
    # the check itself finds what it must find
    for bad in ('<img src="https://img.shields.io/badge/a-b-blue">', '<script src="//cdn.x/y.js">',
                '<link rel="stylesheet" href="http://x/y.css">',
                '<use xlink:href="https://x/s.svg#a"/>',
                '<style>body { background: url("https://x/bg.png") }</style>'):
        assert len(_external_resources(html.replace("<body>", "<body>" + bad, 1))) == 1, bad
    assert _external_resources('<p><a href="https://doi.org/10.1/x">doi</a></p>') == []
    # the Markdown report keeps the badge service
    assert md.count("](https://img.shields.io/badge/") == 6


def test_kept_html_report_is_self_contained():
    kept = Path(__file__).parents[1] / "reports" / "benchmarks.html"
    if not kept.is_file():
        pytest.skip("no rendered report kept in this checkout")
    html = kept.read_text(encoding="utf-8")
    assert _external_resources(html) == [] and "<img" not in html


def _html_badges(html: str) -> dict[str, str]:
    """{label: message} read from the inline SVG badges of the HTML report."""
    section = html.split("<h2>Performance Badges</h2>", 1)[1].split("<h2>", 1)[0]
    badges = {}
    for text in re.findall(r"<svg\b.*?</svg>", section, re.S):
        root = ET.fromstring(text)
        ns = "{http://www.w3.org/2000/svg}"
        label, message = (t.text for t in root.iter(f"{ns}text"))
        assert root.find(f"{ns}title").text == f"{label}: {message}"
        assert root.get("aria-label") == f"{label}: {message}" and root.get("role") == "img"
        badges[label] = message
    return badges


def test_html_badges_are_inline_svg_with_the_measured_values(sample, tmp_path):
    md, html, _ = _render(sample, tmp_path)
    badges = _html_badges(html)
    assert list(badges) == ["Throughput", "Step time", "Memory", "Convergence", "Real time", "GPU"]
    step = render.fmt_num(_record(sample, "numpy", 100)["us_per_step"])
    assert badges["Step time"] == f"{step} µs/step (@100 neurons, numpy)"
    updates = max(t["neuron_updates_per_s"] for t in sample["throughput"]
                  if t["n_neurons"] == 100_000)
    assert badges["Throughput"].startswith(render.fmt_num(updates))
    epochs = sample["convergence"]["pattern_learning"]["epochs_to_converge"]
    assert badges["Convergence"].startswith(f"{epochs} epoch")
    assert badges["GPU"] == "measured"
    context = render.build_context(sample)
    for b in context["badges"]:      # the same label, value and colour as the Markdown badge
        assert badges[b["label"]] == b["message"] and f"]({b['url']})" in md
        assert f'fill="{render.BADGE_HEX[b["colour"]]}"' in str(b["svg"])
    # the colour rule: orange for a target not met, grey for a metric not measured
    assert render.BADGE_HEX["orange"] in str(context["badges"][1]["svg"])
    sample["convergence"]["pattern_learning"]["epochs_to_converge"] = 1
    assert _html_badges(_render(sample, tmp_path / "one")[1])["Convergence"] == "1 epoch"
    del sample["convergence"]["pattern_learning"]
    badges = _html_badges(_render(sample, tmp_path / "no-pattern")[1])
    assert badges["Convergence"] == "not measured"


def test_badge_svg_escapes_and_fits_its_text():
    text = render.badge_svg("a<b", "1 & 2", "blue")
    root = ET.fromstring(text)
    texts = list(root.iter("{http://www.w3.org/2000/svg}text"))
    assert [t.text for t in texts] == ["a<b", "1 & 2"]
    rects = root.iter("{http://www.w3.org/2000/svg}rect")
    label_box, value_box = (int(r.get("width")) for r in rects)
    assert int(root.get("width")) == label_box + value_box
    assert float(texts[0].get("textLength")) == label_box - 12
    longer = ET.fromstring(render.badge_svg("a<b", "1 & 2 and a much longer value", "blue"))
    assert int(longer.get("width")) > int(root.get("width"))


def test_html_escapes_data(sample, tmp_path):
    sample["peers"][0]["target"] = "<b>cython</b>"
    _, html, _ = _render(sample, tmp_path)
    assert "<b>cython</b>" not in html and "&lt;b&gt;cython&lt;/b&gt;" in html


def test_svg_figures_are_valid_xml(sample, tmp_path):
    md, html, written = _render(sample, tmp_path)
    figures = {k: p for k, p in written.items() if k.startswith("figures/")}
    assert set(figures) >= {"figures/throughput.svg", "figures/memory.svg",
                            "figures/learning.svg", "figures/raster.svg"}
    for name, path in figures.items():
        root = ET.fromstring(path.read_text(encoding="utf-8"))
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert f"]({name})" in md
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in html


def _memory_points(svg_text: str) -> dict[str, list[tuple[float, float]]]:
    """{fill colour: [(cx, cy), ...]} of the markers of a line plot."""
    root = ET.fromstring(svg_text)
    points: dict[str, list[tuple[float, float]]] = {}
    for c in root.iter("{http://www.w3.org/2000/svg}circle"):
        points.setdefault(c.get("fill"), []).append((float(c.get("cx")), float(c.get("cy"))))
    return points


def test_memory_plot_puts_bytes_against_synapses(sample, tmp_path):
    base = dict(sample["memory"][0], n_neurons=10_000, delays="constant", device_bytes=None)
    sample["memory"] = [dict(base, n_synapses=10**6, host_bytes=8_800_000),
                        dict(base, n_synapses=10**7, host_bytes=80_800_000),
                        dict(base, n_neurons=1000, n_synapses=10**5, host_bytes=880_000)]
    _, html, written = _render(sample, tmp_path)
    text = written["figures/memory.svg"].read_text(encoding="utf-8")
    (points,) = _memory_points(text).values()
    assert len(points) == 3
    xs = sorted(x for x, _ in points)
    assert len(set(xs)) == 3                  # 10,000 neurons twice, at two different x
    by_x = dict(points)
    assert [by_x[x] for x in xs] == sorted((by_x[x] for x in xs), reverse=True)  # more = higher
    # log-log: ten times the synapses is the same distance along x for each decade
    assert xs[2] - xs[1] == pytest.approx(xs[1] - xs[0], abs=0.2)
    assert "synapses (count)" in text and "memory held, host + device (bytes)" in text
    assert "10,000 neurons × 1,000 synapses per neuron" in html
    # bytes per synapse is the slope: per-synapse delays draw a second, higher line
    sample["memory"].append(dict(base, n_synapses=10**7, delays="per_synapse",
                                 host_bytes=91_000_000))
    _, _, written = _render(sample, tmp_path / "delays")
    lines = _memory_points(written["figures/memory.svg"].read_text(encoding="utf-8"))
    assert len(lines) == 2


def test_stale_figures_are_removed(sample, tmp_path):
    _render(sample, tmp_path)
    sample["raster"] = None
    _, _, written = _render(sample, tmp_path)
    assert "figures/raster.svg" not in written and not (tmp_path / "figures/raster.svg").exists()


def test_badges_are_built_from_measured_values(sample, tmp_path):
    md, _, _ = _render(sample, tmp_path)
    step = render.fmt_num(_record(sample, "numpy", 100)["us_per_step"])
    assert f"badge/Step_time-{step}_%C2%B5s%2Fstep" in md and "-orange)" in md
    assert render.badge_url("a-b", "c_d e", "blue") == \
        "https://img.shields.io/badge/a--b-c__d_e-blue"


# ---------------------------------------------------------------------------------------- svg
def test_svg_axes_and_ticks():
    assert svg.tick_label(1000) == "1k" and svg.tick_label(2.5e6) == "2.5M"
    assert svg.tick_label(0.001) == "1e-3" and svg.tick_label(0.25) == "0.25"
    axis = svg.make_axis([100, 1e6], log=True)
    assert axis.ticks == (1e2, 1e3, 1e4, 1e5, 1e6)
    axis = svg.make_axis([0.3, 0.95], log=False)
    assert axis.lo <= 0.3 and axis.hi >= 0.95 and len(axis.ticks) >= 3


def test_line_plot_skips_undrawable_points():
    text = svg.line_plot([svg.Series("s<1>", [1, 10, 100], [0, 5, math.nan])],
                         title="t & u", xlabel="x", ylabel="y", xlog=True, ylog=True)
    ET.fromstring(text)
    assert text.count("<circle") == 1 and "s&lt;1&gt;" in text and "t &amp; u" in text


def test_raster_downsamples_by_neuron():
    t = [float(i % 100) for i in range(5000)]
    idx = [i % 50 for i in range(5000)]
    text, caption = svg.raster_plot(t, idx, title="r", window_ms=[0, 100], max_points=1000)
    ET.fromstring(text)
    assert "every 5th neuron shown" in caption and "5,000 spikes" in caption


# ----------------------------------------------------------------------------------- sysinfo
def test_sysinfo_collect_is_read_at_run_time():
    info = sysinfo.collect()
    json.dumps(info)
    assert info["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert info["cpu"]["logical_cores"] >= 1 and info["cpu"]["model"]
    assert isinstance(info["gpus"], list)
    if not info["gpus"]:
        assert info["gpu_note"].startswith("no GPU detected (pynvml: ")
    assert "CPU: " + info["cpu"]["model"] in sysinfo.format_text(info)


def test_sysinfo_without_gpu_libraries(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    monkeypatch.setattr(sysinfo.importlib.util, "find_spec",
                        lambda name, *a: None if name == "cupy" else __import__("importlib.util")
                        .util.find_spec(name, *a))
    info = sysinfo.collect()
    assert info["gpus"] == [] and info["cuda"] is None
    assert info["gpu_note"].startswith("no GPU detected (pynvml: not installed")
    assert "cupy: not installed" in info["gpu_note"]
    assert "GPU: no GPU detected" in sysinfo.format_text(info)


def test_format_text_tolerates_sparse_dicts(sample):
    assert "CPU: unknown" in sysinfo.format_text({})
    text = sysinfo.format_text(sample["system"])
    assert "GPU 0: Fixture GPU (test data)" in text and "CUDA runtime (CuPy): 12.4" in text


def test_minimal_results_render(sample, tmp_path):
    minimal = {"schema": 1, "run_id": "fixture-minimal", "created": "2026-01-03T00:00:00",
               "quick": True, "system": {"cpu": {"model": "Fixture CPU"}, "gpus": []},
               "throughput": [], "memory": [], "convergence": {}, "reference_networks": [],
               "peers": [], "raster": None, "gpu_tests": None}
    md, html, written = _render(minimal, tmp_path)
    assert set(written) == {"BENCHMARKS.md", "benchmarks.html"}
    assert "**quick run**" in md and "No throughput was measured in this run." in md
    assert "GPU speed is unmeasured" in md and "No data to plot in this run." in md
    targets = md.split("## Performance Targets", 1)[1].split("## History", 1)[0]
    assert targets.count("| not measured |") == len(render.load_targets())
    checker = _TagChecker()
    checker.feed(html)
    assert checker.errors == [] and checker.stack == []


# -- the Distributed Scaling section (neurosim/report/distributed.py) ---------------------------

def _scaling_row(case, ranks, exchange, compute, comm, run):
    per = [{"rank": r, "compute_s": compute, "comm_s": comm} for r in range(ranks)]
    return {"case": case, "scale": 0.5, "ranks": ranks, "duration_ms": 100.0,
            "neurons": 1000, "synapses": 50_000, "rate_hz": 3.5, "exchange": exchange,
            "exchanges": 1000, "run_s": run, "build_s": 9.0, "empty_exchange_us": 300.0,
            "ranks_per_source": float(ranks), "per_rank": per}


def test_distributed_scaling_section_renders_the_json_and_the_model(sample, tmp_path):
    """The measured rows come from distributed-scaling.json in the output folder (made-up
    numbers here), the speed-ups are computed from them, and the model's table and
    assumptions are the module's (the same as `distributed_scaling.py --model` prints)."""
    from neurosim.report import distributed as D
    data = {"machine": {"cpus": 2, "load_average": [9.5, 8.0, 7.25]},
            "rows": [_scaling_row("microcircuit", 1, "allgatherv", 4.0, 0.0, 4.0),
                     _scaling_row("microcircuit", 2, "allgatherv", 2.5, 1.5, 4.0)]}
    (tmp_path / D.FILE_NAME).write_text(json.dumps(data), encoding="utf-8")
    md, html, _ = _render(sample, tmp_path)
    section = md.split("### Distributed Scaling (MPI)", 1)[1].split("\n### ", 1)[0]
    assert "2 CPUs" in section and "load average 9.5, 8.0, 7.2" in section
    assert "| microcircuit | 0.500 | 1,000 | 50,000 | 2 | allgatherv | 100 | 3.50 | 9.00 | " \
           "4.00 | 2.50 | 1.50 | 1,000 | 300 | 2.00 |" in section
    assert "compute 4.00 s → 2.50 s (1.60× faster)" in section
    assert "communication is 38 % of the run, 1.50 ms per exchange" in section
    for line in D.model_table()[2:]:
        model, gpus, spikes, nbytes, lat, xfer, comm = [c.strip() for c in line.split("|")[1:-1]]
        assert f"| {model} | {gpus} | {spikes} | {nbytes} | {lat} | {xfer} | {comm} |" in section
    for text in D.ASSUMPTIONS:
        assert text in section
    assert "<h3>Distributed Scaling (MPI)</h3>" in html and "log2 P</code> latency" in html


def test_distributed_scaling_section_without_measurement_says_so(sample, tmp_path):
    md, html, _ = _render(sample, tmp_path)
    section = md.split("### Distributed Scaling (MPI)", 1)[1].split("\n### ", 1)[0]
    assert "Not measured: no `reports/distributed-scaling.json`" in section
    assert "#### Scaling model for 8–64 GPUs" in section       # the model needs no data


def test_distributed_scaling_json_is_checked(sample, tmp_path):
    from neurosim.report import distributed as D
    bad = {"rows": [_scaling_row("brunel", 1, "allgatherv", 1.0, 0.0, 1.0)]}
    del bad["rows"][0]["per_rank"][0]["comm_s"]
    path = tmp_path / "x.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(ValueError, match=r"rows\[0\]\.per_rank\[0\]\.comm_s is missing"):
        render.render_report(sample, tmp_path, distributed=path)
    assert D.load_scaling(Path(__file__).parents[1] / "reports" / D.FILE_NAME)["rows"]
