"""The benchmark suite: every case on every requested device, as one results dict (schema 1).

``run_suite(quick=..., device=..., sizes=..., peers=...)`` is what ``neurosim bench`` and
``benchmarks/quick_benchmark.py`` call. It measures, per device:

- step throughput of ``lif_uncoupled`` (benchmark case 1) and ``lif_recurrent`` (sparse
  recurrent LIF, 100 inputs per neuron) at each size (default 100 ... 1,000,000 neurons);
- memory footprint (measured with tracemalloc, or CuPy's pool on a GPU) of the recurrent
  network with a constant and with per-synapse delays, up to 10,000 neurons x 10^7 synapses;
- real-time factor of COBA and Brunel 2000 at full size, 1 s, build timed apart, and a raster
  excerpt of Brunel 2000;
- the Potjans-Diesmann cortical microcircuit (``cases.microcircuit_records``): build time, then
  wall time and real-time factor for 1 s and 10 s of simulated time, with spike recording and
  again from a fresh build without; full scale (77,169 neurons, about 3e8 synapses) on every
  device, or a "not run" entry with the reason when the machine's memory is too small;
- convergence of the learning tasks of ``neurosim.tasks`` where they exist;
- with ``peers=True``: Brian2 (cython) and NEST on the LIF case at the same sizes, COBA and
  Brunel, in the same run (``neurosim.peers.run_peer``).

Quick mode keeps the whole run under about two minutes on a 2-core CPU without peers: the
1,000,000-neuron networks are simulated for 100 ms instead of 1 s (their records say so in
``note``), three repetitions instead of five, one run of each reference network, and the
microcircuit at NEST's scaled example size (scale = k_scale = 0.1: 7,717 neurons, about
3.0e6 synapses, weights / sqrt(0.1) with NEST's DC compensation) for 1 s only. Everything is
logged through ``logging``; a tqdm bar shows progress.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from dataclasses import dataclass, field, replace
from typing import Callable

from . import cases
from .memory import memory_record

log = logging.getLogger(__name__)

DEFAULT_SIZES = (100, 1_000, 5_000, 10_000, 100_000, 1_000_000)
DEVICE_CHOICES = ("cpu", "cuda", "auto", "all")
BYTES_PER_SYNAPSE_BUILD = 40     # host bytes a build needs per synapse at its peak (measured ~31)
#: Potjans-Diesmann microcircuit: peak host memory of a NumPy build per synapse (about 3 GiB
#: resident for the 2.99e8 synapses of the full model, ~11 B/synapse), and CUDA device memory
#: per synapse (targets, weights, delays: ~9 B). On a GPU the synapses are checked against the
#: device's free memory only (connectivity is drawn on the device there).
MICROCIRCUIT_HOST_BYTES_PER_SYNAPSE = 12
MICROCIRCUIT_DEVICE_BYTES_PER_SYNAPSE = 10


@dataclass(frozen=True)
class SuiteConfig:
    """What the suite runs. ``quick_config()``/``full_config()`` give the two standard ones.

    ``sim_ms``: ((max_neurons, ms), ...) — the simulated time of a throughput run is that of the
    first entry whose ``max_neurons`` is at least the size. ``repeats`` likewise.
    """

    sizes: tuple = DEFAULT_SIZES
    kinds: tuple = ("lif_uncoupled", "lif_recurrent")
    sim_ms: tuple = ((10**12, 1000.0),)
    repeats: tuple = ((10_000, 5), (100_000, 3), (10**12, 1))
    warmup_ms: float = 10.0
    memory: tuple = ((1_000, 100), (10_000, 100), (10_000, 1_000))   # (neurons, in-degree)
    memory_delays: tuple = ("constant", "per_synapse")
    references: tuple = ("coba", "brunel")
    reference_ms: float = 1000.0
    reference_repeats: int = 3
    reference_scale: float = 1.0
    raster_window_ms: tuple = (900.0, 1000.0)
    tasks: bool = True
    peer_targets: dict = field(default_factory=lambda: {"brian2": ("cython",), "nest": (None,)})
    peer_timeout_s: float = 900.0
    #: host bytes per neuron a peer needs on the LIF case with every spike recorded, to skip
    #: sizes that cannot fit: NEST 3.10 was killed by the out-of-memory killer at about 24 GB
    #: resident with 10^6 neurons on a 23.5 GiB machine (three runs).
    peer_bytes_per_neuron: dict = field(default_factory=lambda: {"nest": 25_000})
    #: the Potjans-Diesmann microcircuit: on/off, its scale (neurons) and k_scale (in-degrees),
    #: background ("poisson", as GeNN and NEST GPU publish it, or "dc") and simulated times
    microcircuit: bool = True
    microcircuit_scale: float = 1.0
    microcircuit_k_scale: float = 1.0
    microcircuit_background: str = "poisson"
    microcircuit_ms: tuple = cases.MICROCIRCUIT_MS
    #: launches and bytes per CUDA step counted on the host build (neurosim.bench.stepcost):
    #: COBA and Brunel at full size, the microcircuit at the suite's scale, at most this many
    #: neurons' fraction (the counting build is slow)
    step_costs: bool = True
    step_costs_max_scale: float = 0.25
    step_costs_reference_scale: float = 1.0      # COBA and Brunel (tests use small ones)
    seed: int = 1

    def sim_ms_for(self, n: int) -> float:
        return next(ms for limit, ms in self.sim_ms if n <= limit)

    def repeats_for(self, n: int) -> int:
        return next(r for limit, r in self.repeats if n <= limit)


def quick_config() -> SuiteConfig:
    """Quick mode: big sizes simulated for less than 1 s, fewer repeats, one reference run,
    the microcircuit at NEST's scaled example size (0.1 of the neurons and in-degrees) for 1 s."""
    return SuiteConfig(sim_ms=((100_000, 1000.0), (10**12, 100.0)),
                       repeats=((10_000, 3), (10**12, 1)), reference_repeats=1,
                       microcircuit_scale=0.1, microcircuit_k_scale=0.1,
                       microcircuit_ms=(1000.0,))


def full_config() -> SuiteConfig:
    return SuiteConfig()


def devices_for(device: str) -> list[str]:
    """Network ``device`` strings for the suite's ``device`` choice (errors if not usable)."""
    from ..backends import cuda_status
    from ..errors import DeviceUnavailableError
    if device not in DEVICE_CHOICES:
        raise ValueError(f"run_suite(): device must be one of {DEVICE_CHOICES}, got {device!r}")
    ok, why = cuda_status()
    if device == "cuda" and not ok:
        raise DeviceUnavailableError(f"run_suite(device='cuda'): the CUDA backend is not usable "
                                     f"here ({why}); use device='cpu'")
    return {"cpu": ["cpu"], "cuda": ["cuda"], "auto": ["auto"],
            "all": ["cpu", "cuda"] if ok else ["cpu"]}[device]


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _enough_memory(n_synapses: int) -> bool:
    try:
        import psutil
        return psutil.virtual_memory().available > BYTES_PER_SYNAPSE_BUILD * n_synapses
    except Exception:  # no psutil: try
        return True


def _microcircuit_fits(dev: str, n_synapses: int) -> tuple[bool, str]:
    """Whether the microcircuit's build fits memory, and why not: the GPU's free memory on CUDA
    (``dev`` "cuda", or "auto" with a usable GPU), the host's available memory otherwise."""
    on_gpu = dev == "cuda"
    if dev == "auto":
        from ..backends import cuda_status
        on_gpu = cuda_status()[0]
    per_synapse = (MICROCIRCUIT_DEVICE_BYTES_PER_SYNAPSE if on_gpu
                   else MICROCIRCUIT_HOST_BYTES_PER_SYNAPSE)
    try:
        if on_gpu:
            from ..engine.device_memory import free_device_memory
            free, where = free_device_memory(host=False)
            kind = "GPU"
        else:
            import psutil
            free, where, kind = psutil.virtual_memory().available, "the host", "host"
    except Exception:  # cannot ask: try
        return True, ""
    need = per_synapse * n_synapses
    if need > free:
        return False, (f"needs about {need / 2**30:.1f} GiB of {kind} memory for "
                       f"{n_synapses:,} synapses ({per_synapse} B/synapse at the build's peak), "
                       f"{free / 2**30:.1f} GiB free on {where}")
    return True, ""


def _check_scale(what: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ValueError(f"run_suite(): {what} must be a number in (0, 1], got {value!r}")
    return float(value)


def run_suite(*, quick: bool, device: str = "auto", sizes: list[int] | None = None,
              peers: bool = False, config: SuiteConfig | None = None,
              progress: bool | None = None, microcircuit_scale: float | None = None,
              microcircuit_k_scale: float | None = None, reference_scale: float | None = None,
              checkpoint: Callable[[dict], None] | None = None,
              step_costs: bool | None = None) -> dict:
    """Run the benchmark suite and return one results dict of schema 1.

    ``device``: "cpu", "cuda", "auto" (``Network(device="auto")`` picks per network) or "all"
    (every usable device). ``sizes``: throughput sizes (default 100 ... 1,000,000).
    ``peers``: also run the installed peer simulators. ``config`` overrides the quick/full
    configuration (tests use small ones). ``progress``: a tqdm bar (None: only on a terminal).
    ``microcircuit_scale``/``microcircuit_k_scale``: the Potjans-Diesmann microcircuit's
    fraction of neurons and of in-degrees, in (0, 1] (default: the configuration's, 1 and 1 in
    the full suite, 0.1 and 0.1 in quick mode). ``reference_scale``: COBA and Brunel 2000 at
    this fraction of their neurons, in (0, 1] (default 1: full size; a small machine's
    rehearsal).
    ``checkpoint``: called before and after every case with the results so far plus a
    ``"progress"`` entry (``done``, ``running``, ``pending``: case labels), so that a caller can
    keep what a run cut off by a time limit had measured (``neurosim bench --checkpoint``).
    ``step_costs``: count launches and bytes per CUDA step on the host build (default: the
    configuration's, on; ``neurosim bench --no-step-costs`` turns it off).
    """
    from .. import sysinfo
    from ..report.render import SCHEMA_VERSION

    cfg = config or (quick_config() if quick else full_config())
    if sizes is not None:
        if not sizes or any(not isinstance(s, int) or s < 5 for s in sizes):
            raise ValueError(f"run_suite(): sizes must be integers >= 5, got {sizes!r}")
        cfg = replace(cfg, sizes=tuple(sizes))
    if microcircuit_scale is not None:
        cfg = replace(cfg, microcircuit_scale=_check_scale("microcircuit_scale",
                                                           microcircuit_scale))
    if reference_scale is not None:
        cfg = replace(cfg, reference_scale=_check_scale("reference_scale", reference_scale))
    if step_costs is not None:
        if not isinstance(step_costs, bool):
            raise TypeError(f"run_suite(): step_costs must be True or False, got {step_costs!r}")
        cfg = replace(cfg, step_costs=bool(step_costs))
    if microcircuit_k_scale is not None:
        cfg = replace(cfg, microcircuit_k_scale=_check_scale("microcircuit_k_scale",
                                                             microcircuit_k_scale))
    devices = devices_for(device)
    created = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    load0 = _load()
    wall0 = time.perf_counter()
    system = sysinfo.collect()
    results = {
        "schema": SCHEMA_VERSION, "run_id": "", "created": created.isoformat(), "quick": quick,
        "system": system, "throughput": [], "memory": [], "convergence": {},
        "reference_networks": [], "peers": [], "raster": None, "gpu_tests": None,
        "microcircuit": _microcircuit_setup(cfg), "notes": [], "step_costs": None,
        "suite": {"devices": devices, "networks": dict(cases.NETWORKS),
                  "sizes": list(cfg.sizes), "seed": cfg.seed},
    }
    if cfg.microcircuit:
        results["suite"]["networks"][cases.MICROCIRCUIT] = cases.microcircuit_description(
            cfg.microcircuit_scale, cfg.microcircuit_k_scale, cfg.microcircuit_background)
    results["run_id"] = f"{created:%Y%m%dT%H%M%SZ}-{system.get('host_id', 'host')}" + (
        "-quick" if quick else "")
    jobs = _plan(cfg, devices, quick, results)
    peer_jobs = _plan_peers(cfg, results) if peers else []
    from tqdm.auto import tqdm
    bar = tqdm(jobs + peer_jobs, desc="benchmarks", unit="case",
               disable=(None if progress is None else not progress))
    labels = [label for label, _ in jobs + peer_jobs]
    case_s: dict[str, float] = {}

    def save(running: str | None) -> None:
        if checkpoint is not None:
            done = list(case_s)
            checkpoint({**results, "progress": {
                "done": done, "running": running, "case_s": dict(case_s),
                "pending": labels[len(done) + (running is not None):]}})

    for label, job in bar:
        bar.set_postfix_str(label, refresh=True)
        save(label)
        t0 = time.perf_counter()
        job()
        case_s[label] = time.perf_counter() - t0
        log.info("%s: %.1f s", label, case_s[label])
        save(None)
    bar.close()
    load1 = _load()
    wall = time.perf_counter() - wall0
    results["suite"].update(wall_s=wall, load_before=load0, load_after=load1)
    cores = (system.get("cpu") or {}).get("usable_cores")
    system.setdefault("notes", []).append(
        f"load average (1, 5, 15 min) {load0} before and {load1} after this run, on {cores} "
        f"usable cores; the suite took {wall:.0f} s")
    system["notes"].extend(f"benchmark: {note}" for note in results["notes"])
    return results


def _plan(cfg: SuiteConfig, devices: list[str], quick: bool, results: dict) -> list:
    """(label, callable) for every measurement; each appends to ``results``."""
    jobs = []
    for dev in devices:
        for kind in cfg.kinds:
            for n in cfg.sizes:
                jobs.append((f"{kind} {n:,} ({dev})", _throughput_job(cfg, kind, n, dev, quick,
                                                                       results)))
        for delays in cfg.memory_delays:
            for n, k in cfg.memory:
                jobs.append((f"memory {n:,}x{k} {delays} ({dev})",
                             _memory_job(cfg, n, k, delays, dev, results)))
        for name in cfg.references:
            jobs.append((f"{name} ({dev})", _reference_job(cfg, name, dev, results)))
        if cfg.microcircuit:
            jobs.append((f"potjans_diesmann x{cfg.microcircuit_scale:g}/"
                         f"{cfg.microcircuit_k_scale:g} ({dev})",
                         _microcircuit_job(cfg, dev, results)))
    if cfg.step_costs:
        jobs.append(("launches and bytes per step (cuda:host, counted)",
                     _step_costs_job(cfg, quick, results)))
    if cfg.tasks:
        task_dev = "cuda" if "cuda" in devices else devices[0]
        jobs.append((f"learning tasks ({task_dev})", _tasks_job(quick, task_dev, results)))
    else:
        results["convergence"] = {t: {"status": "not run", "reason": "disabled in this "
                                      "configuration"} for t in cases.TASKS}
    return jobs


def _throughput_job(cfg, kind, n, dev, quick, results):
    def job():
        sim_ms = cfg.sim_ms_for(n)
        k = cases.recurrent_indegree(n) if kind == "lif_recurrent" else 0
        if dev != "cuda" and not _enough_memory(n * k):
            results["notes"].append(f"{kind} at {n:,} neurons skipped on {dev}: not enough "
                                    f"free host memory for {n * k:,} synapses")
            log.warning(results["notes"][-1])
            return
        note = None
        if sim_ms < 1000.0:
            note = (f"{'quick mode: ' if quick else ''}{sim_ms:g} ms simulated (after "
                    f"{cfg.warmup_ms:g} ms warm-up) instead of 1 s, to keep the run short")
        try:
            rec = cases.throughput_record(kind, n, sim_ms=sim_ms, device=dev,
                                          repeats=cfg.repeats_for(n), seed=cfg.seed,
                                          warmup_ms=cfg.warmup_ms, note=note)
        except MemoryError as exc:
            results["notes"].append(f"{kind} at {n:,} neurons on {dev}: out of memory ({exc})")
            log.warning(results["notes"][-1])
            return
        rec["description"] = cases.NETWORKS[kind]
        results["throughput"].append(rec)
        log.info("%s %d on %s: %.3g us/step, %.3g updates/s, %.2f Hz", kind, n, rec["device"],
                 rec["us_per_step"], rec["neuron_updates_per_s"], rec["mean_rate_hz"])
    return job


def _memory_job(cfg, n, k, delays, dev, results):
    def job():
        if dev != "cuda" and not _enough_memory(n * k):
            results["notes"].append(f"memory case {n:,} x {k} skipped: not enough free memory")
            return
        results["memory"].append(memory_record(n, k, delays=delays, device=dev, seed=cfg.seed))
    return job


def _reference_job(cfg, name, dev, results):
    def job():
        want_raster = name == "brunel" and results["raster"] is None
        rec = cases.reference_record(name, device=dev, seed=cfg.seed, sim_ms=cfg.reference_ms,
                                     repeats=cfg.reference_repeats, scale=cfg.reference_scale,
                                     keep_spikes=want_raster)
        spikes = rec.pop("_spikes", None)
        if spikes is not None:
            lo, hi = cfg.raster_window_ms
            hi = min(hi, cfg.reference_ms)
            lo = max(0.0, min(lo, hi - 100.0))
            results["raster"] = cases.raster_excerpt(name, *spikes, window_ms=(lo, hi))
        if rec["silent_seeds"]:
            results["notes"].append(f"{name} on {rec['device']}: seed(s) {rec['silent_seeds']} "
                                    f"fell silent (bistable network); timed with seed "
                                    f"{rec['seed']}")
        results["reference_networks"].append(rec)
    return job


def _microcircuit_setup(cfg: SuiteConfig) -> dict:
    """The ``microcircuit`` entry of the results: what was asked for; ``not_run`` fills in."""
    setup = {"scale": float(cfg.microcircuit_scale), "k_scale": float(cfg.microcircuit_k_scale),
             "background": cfg.microcircuit_background,
             "sim_ms": [float(t) for t in cfg.microcircuit_ms], "not_run": []}
    if not cfg.microcircuit:
        setup["not_run"].append({"device": "any", "status": "not run",
                                 "reason": "disabled in this configuration"})
    return setup


def _microcircuit_job(cfg, dev, results):
    def job():
        from ..networks.potjans_diesmann import derive_parameters
        scale, k_scale = cfg.microcircuit_scale, cfg.microcircuit_k_scale
        n_syn = int(derive_parameters(scale, k_scale, cfg.microcircuit_background)
                    .num_synapses.sum())
        fits, why = _microcircuit_fits(dev, n_syn)
        if fits:
            try:
                recs = cases.microcircuit_records(
                    device=dev, scale=scale, k_scale=k_scale,
                    background=cfg.microcircuit_background, seed=cfg.seed,
                    sim_ms=cfg.microcircuit_ms)
            except MemoryError as exc:
                fits, why = False, f"out of memory ({exc})".splitlines()[0]
        if not fits:
            results["microcircuit"]["not_run"].append({"device": dev, "status": "not run",
                                                       "reason": why})
            results["notes"].append(f"potjans_diesmann (scale {scale:g}, k_scale {k_scale:g}) "
                                    f"not run on {dev}: {why}")
            log.warning(results["notes"][-1])
            return
        results["reference_networks"].extend(recs)
    return job


def _step_costs_job(cfg, quick, results):
    def job():
        from .stepcost import step_costs
        results["step_costs"] = step_costs(
            quick=quick, microcircuit_scale=min(cfg.microcircuit_scale, cfg.step_costs_max_scale),
            microcircuit_k_scale=cfg.microcircuit_k_scale, seed=cfg.seed,
            reference_scale=cfg.step_costs_reference_scale)
        if results["step_costs"]["not_run"]:
            results["notes"].append(f"launches and bytes per step not counted: "
                                    f"{results['step_costs']['not_run']}")
    return job


def _tasks_job(quick, dev, results):
    def job():
        results["convergence"] = cases.convergence_records(quick=quick, device=dev)
    return job


def _plan_peers(cfg: SuiteConfig, results: dict) -> list:
    from ..peers import find_peers
    found = find_peers()
    if not found:
        results["notes"].append("peers requested but none installed "
                                "(bash benchmarks/peers/install_peers.sh)")
        return []
    jobs = []
    for sim, targets in cfg.peer_targets.items():
        if sim not in found:
            results["notes"].append(f"peer {sim} is not installed; not run")
            continue
        for target in targets:
            name = f"{sim}" + (f" ({target})" if target else "")
            for n in cfg.sizes:
                jobs.append((f"{name} lif {n:,}", _peer_job(cfg, sim, target, "lif", n,
                                                            cfg.sim_ms_for(n), results)))
            for case in cfg.references:
                n = None if cfg.reference_scale == 1.0 else _scaled_n(case, cfg.reference_scale)
                jobs.append((f"{name} {case}", _peer_job(cfg, sim, target, case, n,
                                                         cfg.reference_ms, results)))
    return jobs


def _scaled_n(case: str, scale: float) -> int:
    return int(round({"coba": 4000, "brunel": 12500}[case] * scale))


def _peer_fits(cfg, sim: str, n: int) -> tuple[bool, str]:
    need = cfg.peer_bytes_per_neuron.get(sim, 0) * n
    try:
        import psutil
        avail = psutil.virtual_memory().available
    except Exception:  # no psutil: try
        return True, ""
    if need > avail:
        return False, (f"needs about {need / 2**30:.0f} GiB at {n:,} neurons with every spike "
                       f"recorded, {avail / 2**30:.1f} GiB available")
    return True, ""


def _peer_job(cfg, sim, target, case, n, duration_ms, results):
    def job():
        from ..peers import run_peer
        if case == "lif" and n is not None:
            fits, why = _peer_fits(cfg, sim, n)
            if not fits:
                results["notes"].append(f"peer {sim} lif at {n:,} neurons skipped: {why}")
                log.warning(results["notes"][-1])
                return
        before = _load()
        try:
            res = run_peer(sim, case, n=n, duration_ms=duration_ms, seed=cfg.seed,
                           target=target, timeout_s=cfg.peer_timeout_s)
        except (RuntimeError, ValueError) as exc:
            results["notes"].append(f"peer {sim} {case} (n={n}) failed: {exc}".splitlines()[0])
            log.warning(results["notes"][-1])
            return
        rec = cases.peer_record(res)
        rec["loadavg_before"] = before
        results["peers"].append(rec)
    return job
