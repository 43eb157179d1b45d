"""The benchmark suite (neurosim.bench): record builders, memory measurement, run_suite.

Small networks and short runs only; nothing here asserts a wall-clock speed.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

import neurosim
from neurosim.bench import SuiteConfig, cases, memory, run_suite, suite
from neurosim.report import render

TINY = SuiteConfig(sizes=(100,), sim_ms=((10**12, 20.0),), repeats=((10**12, 2),),
                   warmup_ms=1.0, memory=((200, 10),), reference_ms=50.0,
                   reference_repeats=1, reference_scale=0.05, raster_window_ms=(0.0, 50.0),
                   microcircuit_scale=0.02, microcircuit_k_scale=0.05,
                   microcircuit_ms=(10.0, 30.0), tasks=False, step_costs=False)
# the microcircuit test instance: 1,544 neurons, ~3e5 synapses; "1 s" and "10 s" shortened
MC = dict(scale=0.02, k_scale=0.05, sim_ms=(50.0, 150.0), seed=3)


@pytest.fixture(scope="module")
def mc_records():
    return cases.microcircuit_records(device="cpu", **MC)


def results_with(**parts) -> dict:
    """A minimal schema-1 results dict holding ``parts``; validated."""
    base = {"schema": 1, "run_id": "test", "created": "2026-01-01T00:00:00+00:00",
            "quick": True, "system": {"cpu": {"model": "test"}, "gpus": []},
            "throughput": [], "memory": [], "convergence": {}, "reference_networks": [],
            "peers": [], "raster": None, "gpu_tests": None}
    base.update(parts)
    return render.validate_results(base)


@pytest.mark.parametrize("kind", ["lif_uncoupled", "lif_recurrent"])
def test_throughput_record_is_schema_valid(kind):
    rec = cases.throughput_record(kind, 50, sim_ms=5.0, repeats=3, warmup_ms=1.0)
    results_with(throughput=[rec])
    assert rec["device"] == "numpy" and rec["n_neurons"] == 50 and rec["steps"] == 50
    assert rec["repeats"] == 3 and len(rec["wall_s_runs"]) == 3
    assert rec["wall_s"] == pytest.approx(float(np.median(rec["wall_s_runs"])))
    assert rec["us_per_step"] == pytest.approx(rec["wall_s"] / 50 * 1e6)
    assert rec["neuron_updates_per_s"] == pytest.approx(50 * 50 / rec["wall_s"])
    assert rec["x_realtime"] == pytest.approx(5e-3 / rec["wall_s"])
    if kind == "lif_uncoupled":
        assert rec["n_synapses"] == 0
    else:
        assert rec["n_synapses"] == 50 * cases.recurrent_indegree(50) == 250


def test_uncoupled_lif_fires_at_case_rate():
    # benchmark case 1: R*I = 25 mV fires at about 29 Hz (ISI 2 ms + 20 ms * ln 5)
    rec = cases.throughput_record("lif_uncoupled", 200, sim_ms=300.0, warmup_ms=0.0)
    assert 25.0 < rec["mean_rate_hz"] < 32.0


def test_recurrent_network_structure():
    built = cases.lif_recurrent(1000, seed=3)
    net = built.network
    exc, inh = net.populations
    assert (exc.size, inh.size) == (800, 200)
    assert built.params["indegree"] == 100 and (built.params["k_exc"], built.params["k_inh"]) == (80, 20)
    assert sum(p.n_synapses for p in net.projections) == 100_000
    assert all(np.allclose(p.delays, 1.5) for p in net.projections)
    hetero = cases.lif_recurrent(200, delays="per_synapse").network
    d = np.concatenate([p.delays for p in hetero.projections])
    assert d.min() >= 1.0 and d.max() <= 2.0 and np.unique(d).size > 2
    with pytest.raises(ValueError, match="delays"):
        cases.lif_recurrent(100, delays="sometimes")


def test_reference_record_and_raster():
    rec = cases.reference_record("brunel", sim_ms=30.0, scale=0.05, keep_spikes=True)
    times, idx = rec.pop("_spikes")
    assert rec["n_neurons"] == 500 + 125 and rec["sim_ms"] == 30.0
    assert set(rec["rates_hz"]) == {"exc", "inh"}
    raster = cases.raster_excerpt("brunel", times, idx, n_neurons=10, window_ms=(10.0, 30.0))
    results_with(reference_networks=[rec], raster=raster)
    assert all(10.0 <= t <= 30.0 for t in raster["t_ms"]) and all(i < 10 for i in raster["index"])
    assert raster["t_ms"] == sorted(raster["t_ms"])
    with pytest.raises(ValueError, match="coba"):
        cases.reference_record("potjans", sim_ms=1.0)


def test_silent_coba_seed_is_skipped_and_listed(monkeypatch):
    monkeypatch.setattr(cases, "COBA_SILENT_HZ", 1e9)        # every seed counts as silent
    rec = cases.reference_record("coba", sim_ms=5.0, scale=0.05, seed=7, max_seeds=3)
    assert rec["silent_seeds"] == [7, 8] and rec["seed"] == 9


def test_peer_record_maps_fields():
    raw = {"simulator": "nest", "version": "3.10.0", "target": "nest", "case": "brunel",
           "n_neurons": 12500, "n_synapses": 15625000, "duration_ms": 1000.0, "dt_ms": 0.1,
           "seed": 1, "build_s": 3.7, "sim_s": 22.4, "x_realtime": 0.0447, "n_spikes": 1,
           "mean_rate_hz": 37.2, "rates_hz": {"exc": 37.2, "inh": 37.4}, "threads": 1}
    rec = cases.peer_record(raw)
    assert rec["target"] is None and rec["rates_hz"]["inh"] == 37.4
    assert cases.peer_record(dict(raw, simulator="brian2", target="cython"))["target"] == "cython"
    results_with(peers=[rec])


def test_measure_build_counts_the_arrays():
    net = cases.lif_recurrent(1000, indegree=50, record=False).network
    m = memory.measure_build(net)
    arrays = sum(v for k, v in m.components.items() if k != "max_delay_steps")
    assert m.n_synapses == 50_000 and m.components["synapse_targets"] == 4 * 50_000
    assert m.components["ring_buffer"] == 4 * 1000 * 15            # 1.5 ms = 15 slots, 1 channel
    assert arrays <= m.traced_bytes < arrays + 200_000
    assert m.traced_peak_bytes >= m.traced_bytes


@pytest.mark.parametrize("delays, lo, hi", [("constant", 7.5, 8.5), ("per_synapse", 8.5, 9.5)])
def test_memory_record_is_plausible(delays, lo, hi):
    rec = memory.memory_record(1000, 100, delays=delays)
    results_with(memory=[rec])
    assert rec["delays"] == delays and rec["n_synapses"] == 100_000
    assert lo < rec["bytes_per_synapse"] < hi
    assert 20 < rec["bytes_per_neuron"] < 400
    assert rec["host_bytes"] > 8 * 100_000 and rec["device_bytes"] is None


def test_devices_for(monkeypatch):
    import neurosim.backends as backends
    monkeypatch.setattr(backends, "cuda_status", lambda: (False, "no GPU here"))
    assert suite.devices_for("all") == ["cpu"] and suite.devices_for("auto") == ["auto"]
    with pytest.raises(neurosim.DeviceUnavailableError, match="no GPU here"):
        suite.devices_for("cuda")
    with pytest.raises(ValueError, match="device"):
        suite.devices_for("gpu")
    monkeypatch.setattr(backends, "cuda_status", lambda: (True, "1 GPU"))
    assert suite.devices_for("all") == ["cpu", "cuda"]


def test_convergence_records(monkeypatch):
    fake = types.ModuleType("neurosim.tasks")

    class Result:
        def __init__(self, seed):
            self.seed = seed

        def to_dict(self):
            return {"epochs_to_converge": 3, "threshold": 0.9, "accuracy_curve": [0.5, 0.95],
                    "device": "cpu", "backend": "numpy", "seed": self.seed, "wall_s": 0.1}

    def pattern_learning(seed=0, device="cpu", params=None):
        return Result(seed)

    def sequence_learning(**kwargs):
        raise RuntimeError("diverged")

    def homeostatic_adaptation(seed=0, device="cpu"):
        return {"adaptation_time_s": "soon"}                 # not the report's schema

    fake.pattern_learning, fake.sequence_learning = pattern_learning, sequence_learning
    fake.homeostatic_adaptation = homeostatic_adaptation
    monkeypatch.setitem(sys.modules, "neurosim.tasks", fake)
    monkeypatch.setattr(neurosim, "tasks", fake, raising=False)
    conv = cases.convergence_records(quick=True, device="cpu", seed=5)
    assert conv["pattern_learning"]["seed"] == 5
    assert conv["pattern_learning"]["device"] == "numpy"
    assert conv["pattern_learning"]["requested_device"] == "cpu"
    assert conv["sequence_learning"] == {"status": "not run",
                                         "reason": "failed: RuntimeError: diverged"}
    home = conv["homeostasis"]
    assert home["status"] == "not run" and "schema" in home["reason"]
    assert home["record"]["adaptation_time_s"] == "soon"
    results_with(convergence=conv)
    del fake.homeostatic_adaptation
    conv = cases.convergence_records(quick=True, device="cpu", seed=5)
    assert "homeostatic_adaptation()" in conv["homeostasis"]["reason"]


def test_run_suite_tiny(monkeypatch):
    results = run_suite(quick=True, device="cpu", sizes=[100], peers=False, config=TINY,
                        progress=False)
    render.validate_results(results)
    assert results["quick"] is True and results["peers"] == []
    assert sorted((t["network"], t["n_neurons"]) for t in results["throughput"]) == [
        ("lif_recurrent", 100), ("lif_uncoupled", 100)]
    assert all(t["note"].startswith("quick mode: 20 ms") for t in results["throughput"])
    assert {m["delays"] for m in results["memory"]} == {"constant", "per_synapse"}
    assert [n["name"] for n in results["reference_networks"]] == ["coba", "brunel"] + [
        "potjans_diesmann"] * 4
    mc = [n for n in results["reference_networks"] if n["name"] == "potjans_diesmann"]
    assert [(n["recording"], n["sim_ms"], n["scale"]) for n in mc] == [
        (True, 10.0, 0.02), (True, 30.0, 0.02), (False, 10.0, 0.02), (False, 30.0, 0.02)]
    assert results["microcircuit"] == {"scale": 0.02, "k_scale": 0.05, "background": "poisson",
                                       "sim_ms": [10.0, 30.0], "not_run": []}
    assert results["raster"]["network"] == "brunel"
    assert all(v["status"] == "not run" for v in results["convergence"].values())
    assert any("load average" in note for note in results["system"]["notes"])
    with pytest.raises(ValueError, match="sizes"):
        run_suite(quick=True, device="cpu", sizes=[0], config=TINY, progress=False)


def test_run_suite_checkpoints_around_every_case():
    """``checkpoint`` sees each case start (running) and end (done, with its seconds), and the
    results measured so far, so a run cut off by a time limit keeps them."""
    cfg = SuiteConfig(**{**TINY.__dict__, "memory": (), "microcircuit": False})
    seen = []
    results = run_suite(quick=True, device="cpu", config=cfg, progress=False,
                        reference_scale=0.04, checkpoint=lambda r: seen.append(
                            (dict(r["progress"]), len(r["throughput"]),
                             len(r["reference_networks"]))))
    labels = ["lif_uncoupled 100 (cpu)", "lif_recurrent 100 (cpu)", "coba (cpu)",
              "brunel (cpu)"]
    assert len(seen) == 2 * len(labels)
    starts = [p for p, _, _ in seen if p["running"] is not None]
    ends = [(p, n_t, n_r) for p, n_t, n_r in seen if p["running"] is None]
    assert [p["running"] for p in starts] == labels
    assert [p["done"] for p, _, _ in ends] == [labels[:i + 1] for i in range(4)]
    assert [p["pending"] for p in starts] == [labels[i + 1:] for i in range(4)]
    assert [(n_t, n_r) for _, n_t, n_r in ends] == [(1, 0), (2, 0), (2, 1), (2, 2)]
    assert all(v > 0 for v in ends[-1][0]["case_s"].values())
    assert "progress" not in results
    assert [r["n_neurons"] for r in results["reference_networks"]] == [160, 500]
    with pytest.raises(ValueError, match="reference_scale"):
        run_suite(quick=True, device="cpu", config=cfg, progress=False, reference_scale=2)


def test_run_suite_peers_same_run(monkeypatch):
    import neurosim.peers as peers
    calls = []

    def fake_run_peer(simulator, case, *, n=None, duration_ms=1000.0, seed=1, target=None,
                      timeout_s=900, **kw):
        calls.append((simulator, case, n, duration_ms, target))
        if simulator == "nest" and case == "coba":
            raise RuntimeError("nest crashed\nmore lines")
        return {"simulator": simulator, "target": target or simulator, "case": case,
                "n_neurons": n or 100, "build_s": 1.0, "sim_s": 2.0, "x_realtime": 0.5,
                "mean_rate_hz": 20.0, "version": "x"}

    monkeypatch.setattr(peers, "find_peers", lambda root=None: {"brian2": "py", "nest": "py"})
    monkeypatch.setattr(peers, "run_peer", fake_run_peer)
    cfg = SuiteConfig(**{**TINY.__dict__, "kinds": (), "memory": (), "references": ()})
    results = run_suite(quick=True, device="cpu", peers=True, config=cfg, progress=False)
    assert ("brian2", "lif", 100, 20.0, "cython") in calls and ("nest", "lif", 100, 20.0, None) in calls
    assert [p["simulator"] for p in results["peers"]] == ["brian2", "nest"]
    render.validate_results(results)
    cfg = SuiteConfig(**{**TINY.__dict__, "kinds": (), "memory": ()})
    results = run_suite(quick=True, device="cpu", peers=True, config=cfg, progress=False)
    assert any(n.startswith("peer nest coba") and "\n" not in n for n in results["notes"])
    assert ("brian2", "brunel", 625, 50.0, "cython") in calls


def test_peer_too_big_for_memory_is_skipped(monkeypatch):
    import neurosim.peers as peers
    calls = []
    monkeypatch.setattr(peers, "find_peers", lambda root=None: {"nest": "py"})
    monkeypatch.setattr(peers, "run_peer", lambda *a, **k: calls.append(a))
    cfg = SuiteConfig(**{**TINY.__dict__, "kinds": (), "memory": (), "references": (),
                         "peer_bytes_per_neuron": {"nest": 10**15}})
    results = run_suite(quick=True, device="cpu", peers=True, config=cfg, progress=False)
    assert calls == [] and results["peers"] == []
    assert any(n.startswith("peer nest lif at 100 neurons skipped: needs about")
               for n in results["notes"])


# ---------------------------------------------------------------------- microcircuit (issue 6)
def test_microcircuit_records(mc_records):
    recs = mc_records
    assert [(r["recording"], r["sim_ms"]) for r in recs] == [
        (True, 50.0), (True, 150.0), (False, 50.0), (False, 150.0)]
    for r in recs:
        assert r["name"] == "potjans_diesmann" and r["device"] == "numpy"
        assert (r["scale"], r["k_scale"], r["background"], r["seed"]) == (0.02, 0.05,
                                                                          "poisson", 3)
        assert r["n_neurons"] == 1544 and r["n_synapses"] > 0
        assert r["rtf"] == pytest.approx(r["wall_s"] / (r["sim_ms"] * 1e-3))
        assert r["x_realtime"] == pytest.approx(1.0 / r["rtf"])
        assert r["wall_s"] == pytest.approx(sum(r["wall_s_segments"]))
        assert "scaled: x0.02 neurons, x0.05 in-degrees" in r["description"]
        assert r["connectivity"] == "host"                 # NumPy draws the synapses
    one, ten = recs[0], recs[1]           # the 10 s record continues the 1 s run of one build
    assert ten["build_s"] == one["build_s"] and ten["segments_ms"] == [50.0, 100.0]
    assert ten["wall_s_segments"][0] == one["wall_s"] and ten["wall_s"] > one["wall_s"]
    assert recs[2]["build_s"] != one["build_s"]                 # a fresh build without recording
    assert set(one["rates_hz"]) == {"L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I"}
    assert ten["mean_rate_hz"] > 0 and any(v > 0 for v in ten["rates_hz"].values())
    assert recs[2]["rates_hz"] == {} and "mean_rate_hz" not in recs[2]
    results_with(reference_networks=recs)
    with pytest.raises(ValueError, match="sim_ms"):
        cases.microcircuit_run(scale=0.02, k_scale=0.05, sim_ms=(100.0, 50.0))


def test_microcircuit_full_scale_description():
    assert "full scale (77,169 neurons" in cases.microcircuit_description(1.0, 1.0, "poisson")
    assert "DC input" in cases.microcircuit_description(1.0, 1.0, "dc")


def test_microcircuit_section_renders(mc_records, tmp_path):
    results = results_with(reference_networks=mc_records, microcircuit={
        "scale": 0.02, "k_scale": 0.05, "background": "poisson", "sim_ms": [50.0, 150.0],
        "not_run": [{"device": "cuda", "status": "not run", "reason": "no room"}]})
    written = render.render_report(results, tmp_path)
    md = written["BENCHMARKS.md"].read_text(encoding="utf-8")
    html = written["benchmarks.html"].read_text(encoding="utf-8")
    section = md.split("### Potjans–Diesmann Microcircuit", 1)[1].split("### Peer", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| numpy |")]
    assert len(rows) == 2 and rows[0].startswith("| numpy | yes | scaled: ×0.02 neurons")
    assert rows[1].startswith("| numpy | no |") and rows[1].endswith("| not recorded |")
    for rec in mc_records:
        assert f"| {render.fmt_num(rec['rtf'])} |" in section
    assert "Wall/sim 0.05 s" in section and "Wall/sim 0.15 s" in section
    assert "Not run on cuda: no room." in section and "Scaled instance" in section
    assert "published, not measured here" in section and "NEST GPU" in section
    assert "This run: **unmeasured** (not measured; no potjans_diesmann record on cuda" in section
    assert "Potjans–Diesmann Microcircuit</h3>" in html and "NEST GPU" in html
    generated = [dict(r, device="cuda", connectivity="device") for r in mc_records]
    md2 = render.render_report(results_with(reference_networks=generated),
                               tmp_path / "gen")["BENCHMARKS.md"].read_text(encoding="utf-8")
    assert "| cuda (synapses generated on the device) | yes |" in md2
    # the microcircuit rows are not repeated in the generic reference table
    assert "No reference network was simulated in this run." in md


def test_run_suite_microcircuit_not_run_when_memory_is_short(monkeypatch):
    monkeypatch.setattr(suite, "MICROCIRCUIT_HOST_BYTES_PER_SYNAPSE", 10**15)
    cfg = SuiteConfig(**{**TINY.__dict__, "kinds": (), "memory": (), "references": ()})
    results = run_suite(quick=True, device="cpu", config=cfg, progress=False)
    render.validate_results(results)
    assert results["reference_networks"] == []
    (item,) = results["microcircuit"]["not_run"]
    assert item["device"] == "cpu" and "GiB of host memory" in item["reason"]
    assert any(n.startswith("potjans_diesmann (scale 0.02, k_scale 0.05) not run on cpu")
               for n in results["notes"])
    cfg = SuiteConfig(**{**cfg.__dict__, "microcircuit": False})
    results = run_suite(quick=True, device="cpu", config=cfg, progress=False)
    assert results["microcircuit"]["not_run"][0]["reason"] == "disabled in this configuration"


def test_microcircuit_configs_and_scale_override():
    full, quick = suite.full_config(), suite.quick_config()
    assert (full.microcircuit_scale, full.microcircuit_k_scale) == (1.0, 1.0)
    assert full.microcircuit_ms == (1000.0, 10000.0) and full.microcircuit_background == "poisson"
    assert (quick.microcircuit_scale, quick.microcircuit_k_scale) == (0.1, 0.1)
    assert quick.microcircuit_ms == (1000.0,)
    with pytest.raises(ValueError, match="microcircuit_scale"):
        run_suite(quick=True, device="cpu", config=TINY, microcircuit_scale=1.5, progress=False)
    with pytest.raises(ValueError, match="microcircuit_k_scale"):
        run_suite(quick=True, device="cpu", config=TINY, microcircuit_k_scale=0, progress=False)


def test_microcircuit_fits_checks_gpu_memory_on_cuda(monkeypatch):
    from neurosim.engine import device_memory
    monkeypatch.setattr(device_memory, "free_device_memory",
                        lambda host: (2 * 2**30, "GPU 0 (Test GPU)"))
    ok, why = suite._microcircuit_fits("cuda", 299_880_000)        # ~2.8 GiB at 10 B/synapse
    assert not ok and "GiB of GPU memory" in why and "2.0 GiB free on GPU 0 (Test GPU)" in why
    assert suite._microcircuit_fits("cuda", 100_000_000) == (True, "")
    monkeypatch.setattr(suite, "MICROCIRCUIT_HOST_BYTES_PER_SYNAPSE", 10**15)
    assert not suite._microcircuit_fits("cpu", 1000)[0]


def test_run_suite_step_costs_must_be_a_bool():
    from neurosim.bench import run_suite
    with pytest.raises(TypeError, match="step_costs must be True or False, got 'no'"):
        run_suite(quick=True, device="cpu", step_costs="no")


def test_run_suite_counts_launches_and_bytes_per_step(tmp_path):
    """The suite's step-cost job (small networks here): one record per network, valid results,
    and the report's section shows them."""
    from neurosim.backends import hostcount
    from neurosim.bench import run_suite
    from neurosim.report.render import render_report, validate_results
    if not hostcount.is_available():
        pytest.skip("counting needs g++ with -fsanitize=thread")
    cfg = SuiteConfig(**{**TINY.__dict__, "kinds": (), "memory": (), "references": (),
                         "microcircuit": False, "step_costs": True,
                         "step_costs_reference_scale": 0.05})
    res = run_suite(quick=True, device="cpu", config=cfg, progress=False)
    validate_results(res)
    entry = res["step_costs"]
    assert entry["not_run"] is None and len(entry["kernels_hash"]) == 12
    assert [r["network"] for r in entry["networks"]] == ["coba", "brunel", "potjans_diesmann"]
    for rec in entry["networks"]:
        assert rec["recording"]["launches_per_step"] >= 1
        assert rec["recording"]["bytes_per_step"] > 0
    md = render_report(res, tmp_path)["BENCHMARKS.md"].read_text(encoding="utf-8")
    assert "Launches and Bytes per Step" in md
    assert "Brunel 2000" in md and f"`{entry['kernels_hash']}`" in md
