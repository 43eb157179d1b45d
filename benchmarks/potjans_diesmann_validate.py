#!/usr/bin/env python
"""Validate and time the Potjans & Diesmann (2014) microcircuit (and NEST or Brian2 beside it).

    python benchmarks/potjans_diesmann_validate.py --scale 1 --k-scale 1 --duration 1500 \\
        --seeds 1 2 3 --background dc --no-record-too --peer nest \\
        --out reports/pd.json --md reports/pd.md

Every run is a fresh worker process (so its build time and peak memory are its own): for each
seed, neurosim builds the model (``neurosim.networks.potjans_diesmann``, timed) and simulates
``--duration`` ms with spike recording (timed); with ``--no-record-too`` the same seed is built
and run again without monitors, to time the simulation alone. With ``--peer nest`` the same is
done by NEST (``peers/nest``, made by ``benchmarks/peers/install_peers.sh``) with the same
derived parameters (sizes, synapse numbers, weights, DC currents, initial potentials) and
NEST's own rules (``fixed_total_number``, ``redraw(normal)`` weights and delays with the delay
minimum at resolution/2, as NEST's ``Potjans_2014`` example), ``iaf_psc_exp``, ``--nest-threads``
threads; NEST's build is Create + Connect + ``nest.Prepare()``, its simulation ``nest.Run``.
With ``--peer brian2`` Brian2 (``peers/brian2``, cython runtime) runs the same derived model
with the same rules drawn by NumPy (see ``brian2_worker``); its build includes code
generation and compilation (``run(0 ms)``). ``--connectivity device`` with ``--device cuda``
(or ``cuda:host``) lets neurosim generate the synapses on the device.

Analysis (the first ``--transient`` ms, default 500, discarded), per population: the mean
rate (spikes/s over all neurons, silent ones included, as NEST's ``helpers.firing_rates``), the
mean coefficient of variation of the interspike intervals (neurons with at least 3 spikes in
the window), and the synchrony: variance / mean of the spike-count histogram of the first
``--sync-neurons`` (default 1000) neurons in 3 ms bins. Rates are compared with NEST's
published full-scale DC rates and with the range of NEST's published full-scale rates (the DC
set and the two sets in NEST's example ``network_params.py``). Writes one JSON file and a
Markdown table, and prints the table.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NEST_PYTHON = ROOT / "peers" / "nest" / "bin" / "python"
BRIAN2_PYTHON = ROOT / "peers" / "brian2" / "bin" / "python"
PEER_PYTHON = {"nest": NEST_PYTHON, "brian2": BRIAN2_PYTHON}
POPULATIONS = ("L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I")
LABEL = {"L23E": "L2/3E", "L23I": "L2/3I"}
# NEST's published full-scale rates (spikes/s): with DC background (the reference, as in
# neurosim.networks.potjans_diesmann.NEST_RATES_DC), and the two sets in NEST's example
# network_params.py used there for the k_scale compensation: NEST 3 version (Poisson
# background) and the 2016 version
NEST_DC = dict(zip(POPULATIONS, (0.903, 2.965, 4.414, 5.876, 7.569, 8.633, 1.105, 7.829)))
NEST_EXAMPLE_RATES = {
    "nest3_poisson": dict(zip(POPULATIONS, (0.943, 3.026, 4.368, 5.882, 7.733, 8.664, 1.096,
                                            7.851))),
    "nest2016": dict(zip(POPULATIONS, (0.971, 2.868, 4.746, 5.396, 8.142, 9.078, 0.991,
                                       7.523))),
}


def _model():
    """The model module (imported lazily: the NEST worker runs without neurosim)."""
    try:
        import neurosim  # noqa: F401
    except ImportError:  # a source checkout that is not installed
        sys.path.insert(0, str(ROOT))
    return importlib.import_module("neurosim.networks.potjans_diesmann")


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# -- analysis ----------------------------------------------------------------------------------

def spike_stats(times, idx, size: int, t0: float, t1: float, sync_neurons: int,
                bin_ms: float = 3.0) -> dict:
    """Rate (Hz), mean CV of ISIs, synchrony (var/mean of 3 ms counts) in (t0, t1]."""
    times, idx = np.asarray(times, float), np.asarray(idx, np.int64)
    keep = (times > t0) & (times <= t1)
    times, idx = times[keep], idx[keep]
    rate = times.size / size / ((t1 - t0) * 1e-3)
    order = np.lexsort((times, idx))
    times, idx = times[order], idx[order]
    same = idx[1:] == idx[:-1]
    isi, owner = np.diff(times)[same], idx[1:][same]
    n_isi = np.bincount(owner, minlength=size)
    ok = n_isi >= 2
    cv = float("nan")
    if ok.any():
        s1 = np.bincount(owner, isi, minlength=size)
        s2 = np.bincount(owner, isi * isi, minlength=size)
        mean = s1[ok] / n_isi[ok]
        var = np.maximum(s2[ok] / n_isi[ok] - mean ** 2, 0.0)
        cv = float(np.mean(np.sqrt(var) / mean))
    counts = np.histogram(times[idx < sync_neurons], np.arange(t0, t1 + 1e-9, bin_ms))[0]
    sync = float(counts.var() / counts.mean()) if counts.mean() > 0 else float("nan")
    return {"rate_hz": float(rate), "cv_isi": cv, "n_cv_neurons": int(ok.sum()),
            "synchrony": sync, "sync_neurons": int(min(size, sync_neurons))}


# -- workers (one process per run) ----------------------------------------------------------------

def neurosim_worker(cfg: dict, spikes_path: str) -> dict:
    pd = _model()
    t = time.perf_counter()
    ref = pd.potjans_diesmann(cfg["scale"], cfg["k_scale"], background=cfg["background"],
                              connection=cfg["connection"], dt=cfg["dt"], device=cfg["device"],
                              seed=cfg["seed"], record=cfg["record"],
                              connectivity=cfg.get("connectivity", "auto"))
    net = ref.network
    net.build()
    if net.backend == "cuda":
        import cupy
        cupy.cuda.Device().synchronize()
    build_s = time.perf_counter() - t
    L = net._engine.L
    # the synapse arrays where they live: the engine's (device) copies when it has them
    arrays = getattr(net._engine, "classes", None) or L.classes
    syn_bytes = sum(c.cols.nbytes + c.weights.nbytes + c.indptr.nbytes
                    + (0 if c.delays is None else c.delays.nbytes) for c in arrays)
    out = {"simulator": "neurosim", "backend": net.backend, "build_s": build_s,
           "connectivity": ("device" if any(c.generated for c in L.classes) else "host"),
           "n_neurons": net.n_neurons, "n_synapses": int(L.n_synapses),
           "synapse_bytes": int(syn_bytes), "peak_rss_after_build_bytes": peak_rss_bytes()}
    t = time.perf_counter()
    net.run(cfg["duration"])
    out["sim_s"] = time.perf_counter() - t
    out["peak_rss_bytes"] = peak_rss_bytes()
    if cfg["record"]:
        np.savez(spikes_path, **{f"{n}_t": ref.monitors[n].times for n in POPULATIONS},
                 **{f"{n}_i": ref.monitors[n].indices for n in POPULATIONS},
                 sizes=np.array([ref.populations[n].size for n in POPULATIONS]))
    return out


def nest_worker(cfg: dict, spikes_path: str) -> dict:
    """NEST's Potjans_2014 connection code with neurosim's derived parameters."""
    import nest
    nest.set_verbosity("M_WARNING")
    nest.ResetKernel()
    dt = cfg["dt"]
    nest.SetKernelStatus({"resolution": dt, "local_num_threads": cfg["threads"],
                          "rng_seed": cfg["seed"], "print_time": False})
    neuron = cfg["neuron"]
    t = time.perf_counter()
    pops = []
    for i in range(8):
        pop = nest.Create("iaf_psc_exp", cfg["sizes"][i], params={
            "C_m": neuron["cm"], "tau_m": neuron["tau_m"], "tau_syn_ex": neuron["tau_syn_E"],
            "tau_syn_in": neuron["tau_syn_I"], "E_L": neuron["v_rest"],
            "V_reset": neuron["v_reset"], "V_th": neuron["v_thresh"],
            "t_ref": neuron["tau_refrac"], "I_e": cfg["dc"][i]})
        pop.V_m = nest.random.normal(mean=cfg["v0_mean"][i], std=cfg["v0_std"][i])
        pops.append(pop)
    # NEST 3.10 holds at most 2^27 - 2 connections per virtual process and synapse model: one
    # copy of static_synapse per source population keeps the full model on one thread
    for j in range(8):
        nest.CopyModel("static_synapse", f"static_synapse_{POPULATIONS[j]}")
    for i in range(8):
        for j in range(8):
            n = cfg["num_synapses"][i][j]
            if n == 0:
                continue
            w = cfg["weights"][i][j]
            lo, hi = (0.0, np.inf) if w >= 0 else (-np.inf, 0.0)
            d = cfg["delays"][i][j]
            syn = {"synapse_model": f"static_synapse_{POPULATIONS[j]}",
                   "weight": nest.math.redraw(nest.random.normal(mean=w, std=abs(w) * 0.1),
                                              min=lo, max=hi),
                   "delay": nest.math.redraw(nest.random.normal(mean=d, std=d * 0.5),
                                             min=dt - 0.5 * dt, max=np.inf)}
            nest.Connect(pops[j], pops[i], {"rule": "fixed_total_number", "N": n}, syn)
    if cfg["background"] == "poisson":
        for i, pop in enumerate(pops):
            pg = nest.Create("poisson_generator", params={"rate": 8.0 * cfg["k_ext"][i]})
            nest.Connect(pg, pop, "all_to_all", {"weight": cfg["weight_ext"], "delay": 1.5})
    recorders = []
    if cfg["record"]:
        for pop in pops:
            rec = nest.Create("spike_recorder")
            nest.Connect(pop, rec)
            recorders.append(rec)
    nest.Prepare()
    build_s = time.perf_counter() - t
    out = {"simulator": "nest", "version": nest.__version__, "threads": cfg["threads"],
           "backend": f"nest {nest.__version__}, {cfg['threads']} thread(s)",
           "build_s": build_s, "n_neurons": int(sum(cfg["sizes"])),
           "n_synapses": int(sum(map(sum, cfg["num_synapses"]))),
           "num_connections_with_devices": int(nest.GetKernelStatus("num_connections")),
           "peak_rss_after_build_bytes": peak_rss_bytes()}
    t = time.perf_counter()
    nest.Run(cfg["duration"])
    out["sim_s"] = time.perf_counter() - t
    out["peak_rss_bytes"] = peak_rss_bytes()
    nest.Cleanup()
    if cfg["record"]:
        arrays = {}
        for n, pop, rec in zip(POPULATIONS, pops, recorders):
            ev = rec.get("events")
            arrays[f"{n}_t"] = np.asarray(ev["times"], float)
            arrays[f"{n}_i"] = np.asarray(ev["senders"], np.int64) - pop[0].global_id
        np.savez(spikes_path, sizes=np.array(cfg["sizes"]), **arrays)
    return out


def brian2_worker(cfg: dict, spikes_path: str) -> dict:
    """The same model in Brian2 (cython runtime): one NeuronGroup of iaf_psc_exp neurons
    (``method="exact"``; tau_syn_E = tau_syn_I, so one synaptic current), one Synapses object
    (``on_pre="I_syn += w"``) connected with explicit pairs drawn as NEST's rules draw them
    (``fixed_total_number`` per pair, normal weights redrawn to keep their sign, normal delays
    redrawn below dt/2 and rounded to the grid), PoissonInput or DC background. Build = model,
    connections and ``run(0 ms)`` (code generation, compilation, spike-queue preparation)."""
    import brian2 as b2
    b2.prefs.codegen.target = "cython"
    b2.prefs.logging.console_log_level = "WARNING"
    dt = cfg["dt"]
    b2.defaultclock.dt = dt * b2.ms
    b2.seed(cfg["seed"])
    rng = np.random.default_rng(cfg["seed"])
    neuron = cfg["neuron"]
    if neuron["tau_syn_E"] != neuron["tau_syn_I"]:
        raise ValueError("brian2_worker needs tau_syn_E == tau_syn_I (one current)")
    sizes = np.asarray(cfg["sizes"], np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    t = time.perf_counter()
    ns_ = {"tau_m": neuron["tau_m"] * b2.ms, "tau_syn": neuron["tau_syn_E"] * b2.ms,
           "C_m": neuron["cm"] * b2.pF, "E_L": neuron["v_rest"] * b2.mV,
           "V_th": neuron["v_thresh"] * b2.mV, "V_reset": neuron["v_reset"] * b2.mV}
    eqs = """dv/dt = (E_L - v) / tau_m + (I_syn + I_dc) / C_m : volt (unless refractory)
             dI_syn/dt = -I_syn / tau_syn : amp
             I_dc : amp (constant)"""
    G = b2.NeuronGroup(int(offsets[-1]), eqs, threshold="v > V_th", reset="v = V_reset",
                       refractory=neuron["tau_refrac"] * b2.ms, method="exact", namespace=ns_)
    G.I_dc = np.repeat(np.asarray(cfg["dc"]), sizes) * b2.pA
    G.v = np.concatenate([rng.normal(cfg["v0_mean"][i], cfg["v0_std"][i], sizes[i])
                          for i in range(8)]) * b2.mV
    counts = np.asarray(cfg["num_synapses"], np.int64)
    total = int(counts.sum())
    pre = np.empty(total, np.int32)
    post = np.empty(total, np.int32)
    w = np.empty(total)
    d = np.empty(total)
    k = 0
    for i in range(8):
        for j in range(8):
            n = int(counts[i, j])
            if n == 0:
                continue
            pre[k:k + n] = offsets[j] + rng.integers(0, sizes[j], n)
            post[k:k + n] = offsets[i] + rng.integers(0, sizes[i], n)
            mean = cfg["weights"][i][j]
            w[k:k + n] = _redrawn_normal(rng, n, mean, 0.1 * abs(mean),
                                         *((0.0, np.inf) if mean >= 0 else (-np.inf, 0.0)))
            dm = cfg["delays"][i][j]
            x = _redrawn_normal(rng, n, dm, 0.5 * dm, 0.5 * dt, np.inf)
            d[k:k + n] = np.maximum(1.0, np.rint(x / dt)) * dt
            k += n
    S = b2.Synapses(G, G, "w : amp (constant)", on_pre="I_syn += w")
    S.connect(i=pre, j=post)
    del pre, post
    S.w = w * b2.pA
    S.delay = d * b2.ms
    del w, d
    objects = [G, S]
    if cfg["background"] == "poisson":
        for i in range(8):
            objects.append(b2.PoissonInput(G[int(offsets[i]):int(offsets[i + 1])], "I_syn",
                                           N=int(cfg["k_ext"][i]), rate=8.0 * b2.Hz,
                                           weight=cfg["weight_ext"] * b2.pA))
    mon = b2.SpikeMonitor(G) if cfg["record"] else None
    if mon is not None:
        objects.append(mon)
    net = b2.Network(*objects)
    net.run(0 * b2.ms)
    build_s = time.perf_counter() - t
    out = {"simulator": "brian2", "version": b2.__version__,
           "backend": f"brian2 {b2.__version__} cython", "build_s": build_s,
           "n_neurons": int(offsets[-1]), "n_synapses": total,
           "peak_rss_after_build_bytes": peak_rss_bytes()}
    t = time.perf_counter()
    net.run(cfg["duration"] * b2.ms)
    out["sim_s"] = time.perf_counter() - t
    out["peak_rss_bytes"] = peak_rss_bytes()
    if mon is not None:
        times, idx = np.asarray(mon.t / b2.ms), np.asarray(mon.i, np.int64)
        arrays = {}
        for k, name in enumerate(POPULATIONS):
            sel = (idx >= offsets[k]) & (idx < offsets[k + 1])
            arrays[f"{name}_t"], arrays[f"{name}_i"] = times[sel], idx[sel] - offsets[k]
        np.savez(spikes_path, sizes=sizes, **arrays)
    return out


def _redrawn_normal(rng, n, mean, std, lo, hi):
    """NEST's redraw(normal(mean, std), min=lo, max=hi)."""
    x = rng.normal(mean, std, n)
    bad = np.flatnonzero((x < lo) | (x > hi))
    while bad.size:
        x[bad] = rng.normal(mean, std, bad.size)
        bad = bad[(x[bad] < lo) | (x[bad] > hi)]
    return x


def run_worker(args, simulator: str, seed: int, record: bool) -> dict:
    """Run one build + simulation in a fresh process; analyse its spikes here."""
    cfg = {"scale": args.scale, "k_scale": args.k_scale, "background": args.background,
           "connection": args.connection, "dt": args.dt, "device": args.device, "seed": seed,
           "connectivity": args.connectivity,
           "record": record, "duration": args.duration, "threads": args.nest_threads}
    if simulator in PEER_PYTHON:
        pd = _model()
        P = pd.derive_parameters(args.scale, args.k_scale, args.background)
        cfg.update(sizes=P.sizes.tolist(), num_synapses=P.num_synapses.tolist(),
                   weights=P.weights.tolist(), weight_ext=P.weight_ext, k_ext=P.k_ext.tolist(),
                   dc=P.dc.tolist(), delays=P.delays.tolist(), neuron=pd.NEURON,
                   v0_mean=pd.V0_OPTIMIZED_MEAN.tolist(), v0_std=pd.V0_OPTIMIZED_STD.tolist())
        python = str(PEER_PYTHON[simulator])
    else:
        python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        cfg_path, spikes = Path(tmp) / "cfg.json", Path(tmp) / "spikes.npz"
        cfg_path.write_text(json.dumps(cfg))
        proc = subprocess.run([python, __file__, "--worker", simulator, str(cfg_path),
                               str(spikes)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{simulator} worker failed (exit {proc.returncode}):\n"
                               f"{proc.stderr[-3000:]}")
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        out.update(seed=seed, record=record, sim_ms=args.duration,
                   rtf=out["sim_s"] / (args.duration * 1e-3))
        if record:
            data = np.load(spikes)
            sizes = data["sizes"]
            out["populations"] = {
                n: spike_stats(data[f"{n}_t"], data[f"{n}_i"], int(sizes[k]), args.transient,
                               args.duration, args.sync_neurons)
                for k, n in enumerate(POPULATIONS)}
    return out


# -- summary and report ----------------------------------------------------------------------

def _stat(vals):
    vals = np.asarray(vals, float)
    return {"mean": float(np.mean(vals)),
            "std": float(np.std(vals, ddof=1)) if vals.size > 1 else 0.0, "values": vals.tolist()}


def summarize(runs: list, simulator: str) -> dict:
    rec = [r for r in runs if r["record"] and r["simulator"] == simulator]
    if not rec:
        return {}
    summary = {}
    for name in POPULATIONS:
        row = {key: _stat([r["populations"][name][key] for r in rec])
               for key in ("rate_hz", "cv_isi", "synchrony")}
        ref = NEST_DC[name]
        published = [ref] + [v[name] for v in NEST_EXAMPLE_RATES.values()]
        lo, hi = min(published), max(published)
        m = row["rate_hz"]["mean"]
        row.update(nest_dc=ref, nest_published_range=[lo, hi], rel_diff=(m - ref) / ref,
                   within_published_range=bool(lo <= m <= hi))
        summary[name] = row
    return summary


def markdown(result: dict) -> str:
    a, s = result["args"], result["summary"]
    n = sum(1 for r in result["runs"] if r["record"] and r["simulator"] == "neurosim")
    peers = [(label, result.get(f"summary_{key}") or {})
             for key, label in (("nest", "NEST"), ("brian2", "Brian2"))]
    peers = [(label, summ) for label, summ in peers if summ]
    lines = [f"Potjans & Diesmann microcircuit: scale {a['scale']}, k_scale {a['k_scale']}, "
             f"{a['background']} background, {a['duration']:g} ms simulated, first "
             f"{a['transient']:g} ms discarded, {n} seed(s) {a['seeds']}; "
             f"{result['machine']['cpu']}, {result['machine']['cores']} cores, "
             f"{result['date']}.", ""]
    head = ("| population | neurosim rate (Hz), mean ± sd | NEST DC (published) | difference | "
            "published NEST range |")
    rule = "|---|---|---|---|---|"
    for label, _ in peers:
        head += f" {label} here, same seeds (Hz) |"
        rule += "---|"
    head += " CV ISI | synchrony |"
    rule += "---|---|"
    for label, _ in peers:
        head += f" {label} CV ISI | {label} synchrony |"
        rule += "---|---|"
    lines += [head, rule]
    for name in POPULATIONS:
        row = s[name]
        r, cv, sy = row["rate_hz"], row["cv_isi"], row["synchrony"]
        lo, hi = row["nest_published_range"]
        line = (f"| {LABEL.get(name, name)} | {r['mean']:.3f} ± {r['std']:.3f} | "
                f"{row['nest_dc']:.3f} | {100 * row['rel_diff']:+.1f} % | "
                f"{lo:.3f}–{hi:.3f}{' (inside)' if row['within_published_range'] else ''} |")
        for _, summ in peers:
            pr = summ[name]["rate_hz"]
            line += f" {pr['mean']:.3f} ± {pr['std']:.3f} |"
        line += f" {cv['mean']:.3f} ± {cv['std']:.3f} | {sy['mean']:.2f} ± {sy['std']:.2f} |"
        for _, summ in peers:
            pcv, psy = summ[name]["cv_isi"], summ[name]["synchrony"]
            line += f" {pcv['mean']:.3f} ± {pcv['std']:.3f} | {psy['mean']:.2f} ± {psy['std']:.2f} |"
        lines.append(line)
    lines += ["", "| simulator | seed | spike recording | build (s) | simulated (s) | "
              "simulation wall (s) | real-time factor | synapses | peak RSS (GiB) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in result["runs"]:
        lines.append(f"| {r['backend'] if r['simulator'] != 'neurosim' else 'neurosim ' + r['backend']}"
                     f" | {r['seed']} | {'yes' if r['record'] else 'no'} | {r['build_s']:.1f} | "
                     f"{r['sim_ms'] / 1e3:g} | {r['sim_s']:.1f} | {r['rtf']:.1f} | "
                     f"{r['n_synapses']:,} | {r['peak_rss_bytes'] / 2**30:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--worker"]:
        simulator, cfg_path, spikes = argv[1:4]
        cfg = json.loads(Path(cfg_path).read_text())
        workers = {"nest": nest_worker, "brian2": brian2_worker}
        out = workers.get(simulator, neurosim_worker)(cfg, spikes)
        print(json.dumps(out))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--k-scale", type=float, default=1.0)
    p.add_argument("--duration", type=float, default=1500.0, help="simulated ms (default 1500)")
    p.add_argument("--transient", type=float, default=500.0, help="ms discarded (default 500)")
    p.add_argument("--seeds", type=int, nargs="+", default=[1])
    p.add_argument("--background", choices=("dc", "poisson"), default="dc")
    p.add_argument("--connection", choices=("fixed_total_number", "fixed_indegree"),
                   default="fixed_total_number")
    p.add_argument("--dt", type=float, default=0.1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--connectivity", choices=("auto", "host", "device"), default="auto",
                   help="where synapses are drawn (Network's argument; 'device' on a GPU or "
                        "cuda:host)")
    p.add_argument("--sync-neurons", type=int, default=1000)
    p.add_argument("--no-record-too", action="store_true",
                   help="also build and run each seed without spike recording (timing only)")
    p.add_argument("--no-record-seeds", type=int, default=None,
                   help="with --no-record-too: only for the first N seeds")
    p.add_argument("--peer", choices=("nest", "brian2"), action="append", default=[],
                   help="also run NEST (peers/nest) or Brian2 (peers/brian2) on the same seeds")
    p.add_argument("--nest-threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=None, help="JSON output")
    p.add_argument("--md", type=Path, default=None, help="Markdown output")
    args = p.parse_args(argv)
    if args.duration <= args.transient:
        p.error("--duration must be longer than --transient")
    for peer in args.peer:
        if not PEER_PYTHON[peer].exists():
            p.error(f"--peer {peer} needs {PEER_PYTHON[peer]} "
                    f"(benchmarks/peers/install_peers.sh)")
    _model()
    from neurosim import sysinfo
    info = sysinfo.collect()
    runs = []
    for simulator in ["neurosim"] + args.peer:
        for i, seed in enumerate(args.seeds):
            modes = [True]
            if args.no_record_too and (args.no_record_seeds is None or i < args.no_record_seeds):
                modes.append(False)
            for record in modes:
                runs.append(run_worker(args, simulator, seed, record))
                r = runs[-1]
                print(f"{simulator} seed {seed} record={record}: build {r['build_s']:.1f} s, "
                      f"sim {r['sim_s']:.1f} s, peak {r['peak_rss_bytes'] / 2**30:.2f} GiB",
                      file=sys.stderr, flush=True)
    result = {
        "benchmark": "potjans_diesmann_validate", "version": 1,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": info["cpu"]["model"], "cores": info["cpu"]["usable_cores"],
                    "memory_bytes": info["memory"]["total_bytes"],
                    "numpy": info["packages"].get("numpy"), "python": info["python"]["version"],
                    "gpus": info["gpus"]},
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "reference": {"nest_dc": NEST_DC, **NEST_EXAMPLE_RATES},
        "runs": runs, "summary": summarize(runs, "neurosim"),
        "summary_nest": summarize(runs, "nest"), "summary_brian2": summarize(runs, "brian2"),
    }
    text = markdown(result)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
    if args.md:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
