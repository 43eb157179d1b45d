"""The benchmark cases: the networks, and functions that time them and return schema-1 records.

Every function here builds, runs and measures one case and returns a dict in the shape that
:func:`neurosim.report.render.validate_results` checks (extra keys describe the measurement).
All at dt = 0.1 ms, every spike recorded, build time measured apart from the simulation loop.

Networks
--------
``lif_uncoupled`` (benchmark case 1): ``n`` LIF neurons without synapses,
tau_m = 20 ms, C = 250 pF, v_rest = v_reset = -70 mV, threshold -50 mV, refractory 2 ms, a
constant current of 312.5 pA (R·I = 25 mV; ``LIF(i_offset=312.5)``), exact integration,
initial v uniform in [-70, -50) mV. Fires at about 29 Hz.

``lif_recurrent``: the same neurons, 80 % excitatory and 20 % inhibitory, coupled by sparse
recurrent delta synapses: every neuron receives exactly ``K = min(100, n // 10)`` inputs (0.8 K
from the excitatory, 0.2 K from the inhibitory population; ``FixedIndegree``, sources drawn with
replacement), +0.1 mV (excitatory) and -0.5 mV (inhibitory, g = 5) jumps of v, a constant delay
of 1.5 ms (or per-synapse delays uniform in [1, 2] ms for the memory case); the DC drive above
keeps it firing at about 27 Hz. ``K * n`` synapses in all (100 per neuron from 1,000 neurons).

``coba``/``brunel``: :func:`neurosim.networks.vogels_abbott_coba` and
:func:`neurosim.networks.brunel_2000` (g = 5, eta = 2) at full size (cases 2 and 3).
"""

from __future__ import annotations

import gc
import logging
import statistics
import time
from dataclasses import dataclass

import numpy as np

from .. import connectivity as C
from .. import distributions as D
from ..models import LIF
from ..network import Network

log = logging.getLogger(__name__)

DT_MS = 0.1
LIF_PARAMS = dict(tau_m=20.0, cm=250.0, v_rest=-70.0, v_reset=-70.0, v_thresh=-50.0,
                  tau_refrac=2.0, i_offset=312.5, synapse="delta")
RECURRENT_INDEGREE = 100
J_EXC, G_INH, DELAY_MS = 0.1, 5.0, 1.5
PER_SYNAPSE_DELAY = (1.0, 2.0)           # ms, uniform
COBA_SILENT_HZ = 1.0                     # below this mean rate a COBA run counts as silent

NETWORKS = {
    "lif_uncoupled": (
        "benchmark case 1: N uncoupled LIF neurons (tau_m 20 ms, C 250 pF, v_rest = "
        "v_reset = -70 mV, threshold -50 mV, refractory 2 ms), constant input 312.5 pA "
        "(R*I = 25 mV), exact integration, initial v ~ U[-70, -50) mV; about 29 Hz; all spikes "
        "recorded"),
    "lif_recurrent": (
        "the same LIF neurons, 80 % excitatory / 20 % inhibitory, recurrent delta synapses: "
        "each neuron receives exactly K = min(100, N/10) inputs (0.8 K excitatory, 0.2 K "
        "inhibitory; FixedIndegree, sources drawn with replacement), +0.1 mV / -0.5 mV jumps, "
        "delay 1.5 ms; the 312.5 pA DC drive keeps it near 27 Hz; all spikes recorded"),
    "coba": ("Vogels-Abbott COBA (benchmark case 2): 3,200 + 800 conductance-based LIF, "
             "p = 0.02, 6 nS / 67 nS, delay 0.1 ms"),
    "brunel": ("Brunel 2000 (benchmark case 3): 10,000 + 2,500 delta-synapse LIF, "
               "C_E = 1,000, C_I = 250, J = 0.1 mV, g = 5, eta = 2, delay 1.5 ms"),
}


@dataclass
class Built:
    """A network ready to run, with its spike monitors and what it is."""

    network: Network
    monitors: list
    kind: str
    params: dict


# -- networks ------------------------------------------------------------------------------------

def lif_uncoupled(n: int, *, device: str = "cpu", seed: int = 1) -> Built:
    """benchmark case 1: ``n`` uncoupled LIF neurons driven by a constant current."""
    net = Network(dt=DT_MS, device=device, seed=seed)
    pop = net.add_population(n, LIF(**LIF_PARAMS), name="lif",
                             initial={"v": D.Uniform(-70.0, -50.0)})
    return Built(net, [net.record_spikes(pop)], "lif_uncoupled", {"n": n, "seed": seed})


def recurrent_indegree(n: int, indegree: int = RECURRENT_INDEGREE) -> int:
    """Inputs per neuron of the recurrent network: ``min(indegree, n // 10)``, at least 2."""
    return max(2, min(indegree, n // 10))


def lif_recurrent(n: int, *, indegree: int | None = None, delays: str = "constant",
                  device: str = "cpu", seed: int = 1, record: bool = True) -> Built:
    """The sparse recurrent LIF network (see the module docstring).

    ``indegree``: inputs per neuron (default ``recurrent_indegree(n)``); ``delays``:
    ``"constant"`` (1.5 ms) or ``"per_synapse"`` (uniform in [1, 2] ms, one per synapse).
    """
    if delays not in ("constant", "per_synapse"):
        raise ValueError(f"lif_recurrent(): delays must be 'constant' or 'per_synapse', "
                         f"got {delays!r}")
    if n < 5:
        raise ValueError(f"lif_recurrent(): n must be >= 5, got {n}")
    k = recurrent_indegree(n) if indegree is None else int(indegree)
    k_e = max(1, int(round(0.8 * k)))
    k_i = max(1, k - k_e)
    n_e = int(round(0.8 * n))
    delay = DELAY_MS if delays == "constant" else D.Uniform(*PER_SYNAPSE_DELAY)
    net = Network(dt=DT_MS, device=device, seed=seed)
    model = LIF(**LIF_PARAMS)
    init = {"v": D.Uniform(-70.0, -50.0)}
    exc = net.add_population(n_e, model, name="exc", initial=init)
    inh = net.add_population(n - n_e, model, name="inh", initial=init)
    for post in (exc, inh):
        net.connect(exc, post, C.FixedIndegree(k_e), weight=J_EXC, delay=delay)
        net.connect(inh, post, C.FixedIndegree(k_i), weight=-G_INH * J_EXC, delay=delay,
                    receptor="inhibitory")
    mons = [net.record_spikes(exc), net.record_spikes(inh)] if record else []
    return Built(net, mons, "lif_recurrent",
                 {"n": n, "indegree": k_e + k_i, "k_exc": k_e, "k_inh": k_i, "delays": delays,
                  "seed": seed})


# -- timing --------------------------------------------------------------------------------------

def sync(net: Network) -> None:
    """Wait for the device to finish (CUDA); nothing on NumPy."""
    if net.backend == "cuda":
        import cupy  # only reached when the CUDA backend ran
        cupy.cuda.Device().synchronize()


def n_synapses(net: Network) -> int:
    return int(sum(p.n_synapses for p in net.projections))


def spike_count(monitors) -> int:
    return int(sum(m.num_spikes for m in monitors))


@dataclass
class Timing:
    build_s: float
    walls: list
    steps: int
    spikes: int


def time_runs(built: Built, sim_ms: float, repeats: int = 1, warmup_ms: float = 10.0) -> Timing:
    """Build (timed), run ``warmup_ms`` untimed, then time ``repeats`` runs of ``sim_ms``.

    The runs continue one simulation; the spikes are those of the timed runs.
    """
    net = built.network
    gc.collect()
    t0 = time.perf_counter()
    net.build()
    sync(net)
    build_s = time.perf_counter() - t0
    if warmup_ms > 0:
        net.run(warmup_ms)
        sync(net)
    before = spike_count(built.monitors)
    walls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        net.run(sim_ms)
        sync(net)
        walls.append(time.perf_counter() - t0)
    steps = int(round(sim_ms / net.dt))
    return Timing(build_s, walls, steps, spike_count(built.monitors) - before)


def throughput_record(kind: str, n: int, *, sim_ms: float, device: str = "cpu",
                      repeats: int = 1, seed: int = 1, warmup_ms: float = 10.0,
                      note: str | None = None) -> dict:
    """Step throughput of ``lif_uncoupled`` or ``lif_recurrent`` at ``n`` neurons.

    Wall time is the median over ``repeats`` consecutive runs of ``sim_ms`` each (after an
    untimed warm-up of ``warmup_ms``); the rate is over all timed runs.
    """
    if kind == "lif_uncoupled":
        built = lif_uncoupled(n, device=device, seed=seed)
    elif kind == "lif_recurrent":
        built = lif_recurrent(n, device=device, seed=seed)
    else:
        raise ValueError(f"throughput_record(): kind must be 'lif_uncoupled' or "
                         f"'lif_recurrent', got {kind!r}")
    t = time_runs(built, sim_ms, repeats, warmup_ms)
    wall = statistics.median(t.walls)
    net = built.network
    rec = {
        "device": net.backend, "n_neurons": n, "n_synapses": n_synapses(net),
        "steps": t.steps, "sim_ms": float(sim_ms), "wall_s": wall,
        "us_per_step": wall / t.steps * 1e6,
        "neuron_updates_per_s": n * t.steps / wall,
        "x_realtime": sim_ms * 1e-3 / wall,
        "mean_rate_hz": t.spikes / (n * repeats * sim_ms * 1e-3),
        "network": kind, "repeats": repeats, "wall_s_runs": t.walls, "statistic": "median",
        "build_s": t.build_s, "warmup_ms": warmup_ms, "seed": seed,
    }
    if kind == "lif_recurrent":
        rec["indegree"] = built.params["indegree"]
        rec["delay_ms"] = DELAY_MS
    if note:
        rec["note"] = note
    del built, net
    gc.collect()
    return rec


# -- reference networks --------------------------------------------------------------------------

def build_reference(name: str, *, device: str = "cpu", seed: int = 1, scale: float = 1.0,
                    integration: str = "exponential_euler"):
    """``coba`` or ``brunel`` (g = 5, eta = 2) as a ReferenceNetwork; ``scale`` < 1 for tests;
    ``integration``: the scheme of COBA's neurons (``LIFCond(integration=...)``)."""
    from ..networks import classic
    if name == "coba":
        return classic.vogels_abbott_coba(n_exc=int(round(3200 * scale)),
                                          n_inh=int(round(800 * scale)), device=device, seed=seed,
                                          integration=integration)
    if name == "brunel":
        return classic.brunel_2000(5.0, 2.0, n_exc=int(round(10_000 * scale)), device=device,
                                   seed=seed)
    raise ValueError(f"build_reference(): name must be 'coba' or 'brunel', got {name!r}")


def reference_record(name: str, *, device: str = "cpu", seed: int = 1, sim_ms: float = 1000.0,
                     repeats: int = 1, scale: float = 1.0, max_seeds: int = 4,
                     keep_spikes: bool = False) -> dict:
    """Real-time factor of a reference network: build timed apart, ``sim_ms`` from t = 0.

    Each repeat builds the network anew (same seed) and simulates ``sim_ms``; build and wall
    times are medians. COBA is bistable: when a seed falls silent (mean rate below
    ``COBA_SILENT_HZ``) the next seed is tried, up to ``max_seeds``; the silent seeds are listed
    in the record. With ``keep_spikes`` the last run's excitatory spikes are returned under
    the key ``"_spikes"`` (times ms, indices), for a raster.
    """
    silent, s = [], seed
    while True:
        builds, walls, last = [], [], None
        for _ in range(repeats):
            ref = build_reference(name, device=device, seed=s, scale=scale)
            net = ref.network
            gc.collect()
            t0 = time.perf_counter()
            net.build()
            sync(net)
            builds.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            net.run(sim_ms)
            sync(net)
            walls.append(time.perf_counter() - t0)
            last = ref
        mons = last.monitors
        rates = {k: float(m.mean_rate()) for k, m in mons.items()}
        total = sum(m.num_spikes for m in mons.values())
        n = last.network.n_neurons
        mean_rate = total / (n * sim_ms * 1e-3)
        if name == "coba" and mean_rate < COBA_SILENT_HZ and len(silent) + 1 < max_seeds:
            log.warning("coba seed %d fell silent (%.2f Hz); trying seed %d", s, mean_rate, s + 1)
            silent.append(s)
            s += 1
            continue
        break
    wall = statistics.median(walls)
    rec = {
        "name": name, "device": last.network.backend, "sim_ms": float(sim_ms),
        "build_s": statistics.median(builds), "wall_s": wall, "x_realtime": sim_ms * 1e-3 / wall,
        "rates_hz": rates, "n_neurons": n, "n_synapses": n_synapses(last.network),
        "mean_rate_hz": mean_rate, "seed": s, "silent_seeds": silent, "repeats": repeats,
        "wall_s_runs": walls, "build_s_runs": builds, "statistic": "median",
        "description": NETWORKS[name] if scale == 1.0 else f"{NETWORKS[name]}; scaled x{scale}",
    }
    if keep_spikes:
        m = mons["exc"]
        rec["_spikes"] = (np.asarray(m.times), np.asarray(m.indices))
    return rec


def raster_excerpt(name: str, times_ms, indices, *, n_neurons: int = 60,
                   window_ms: tuple[float, float] = (900.0, 1000.0)) -> dict:
    """Schema raster: spikes of the first ``n_neurons`` neurons within ``window_ms``."""
    t = np.asarray(times_ms, float)
    i = np.asarray(indices)
    keep = (i < n_neurons) & (t >= window_ms[0]) & (t <= window_ms[1])
    order = np.argsort(t[keep], kind="stable")
    return {"network": name, "t_ms": [round(float(x), 4) for x in t[keep][order]],
            "index": [int(x) for x in i[keep][order]],
            "window_ms": [float(window_ms[0]), float(window_ms[1])],
            "neurons": f"excitatory neurons 0-{n_neurons - 1}"}


# -- Potjans-Diesmann microcircuit ---------------------------------------------------------------

MICROCIRCUIT = "potjans_diesmann"
MICROCIRCUIT_MS = (1000.0, 10000.0)      # simulated times reported: 1 s, then continued to 10 s


def microcircuit_description(scale: float, k_scale: float, background: str) -> str:
    """What a microcircuit record measured, saying the scale."""
    bg = ("independent Poisson inputs at 8 Hz (K_ext per neuron)" if background == "poisson"
          else "DC input equal to the mean Poisson drive")
    text = ("Potjans & Diesmann (2014) cortical microcircuit with the parameters of NEST's "
            "Potjans_2014 example: 8 populations of current-based LIF neurons (iaf_psc_exp), "
            f"fixed-total-number connectivity, {bg}")
    if scale == 1.0 and k_scale == 1.0:
        return text + "; full scale (77,169 neurons, about 3.0e8 synapses)"
    return (text + f"; scaled: x{scale:g} neurons, x{k_scale:g} in-degrees (weights / "
            "sqrt(k_scale) and NEST's DC compensation), not comparable with full-scale figures")


def _release(net: Network) -> None:
    """Drop what a finished run holds (and CuPy's cached blocks on the CUDA backend)."""
    backend = net.backend
    gc.collect()
    if backend == "cuda":
        import cupy  # only reached when the CUDA backend ran
        cupy.get_default_memory_pool().free_all_blocks()


def microcircuit_run(*, device: str = "cpu", scale: float = 1.0, k_scale: float = 1.0,
                     background: str = "poisson", seed: int = 1, record: bool = True,
                     sim_ms: tuple = MICROCIRCUIT_MS) -> list[dict]:
    """One build of the microcircuit, simulated to each time of ``sim_ms`` in turn.

    The build is timed from ``potjans_diesmann(...)`` to the end of ``network.build()`` and a
    device sync. The simulation then runs to ``sim_ms[0]`` (timed), continues to ``sim_ms[1]``
    (timed), ...; the record for ``sim_ms[i]`` has the wall time of everything simulated up to
    it (the sum of the segments, ``wall_s_segments``). With ``record`` every spike is recorded
    and the records carry per-population rates over their simulated time; without, ``rates_hz``
    is empty. One record per simulated time, in the order of ``sim_ms``.
    """
    from ..networks import potjans_diesmann
    times = [float(t) for t in sim_ms]
    if not times or any(t <= 0 for t in times) or times != sorted(set(times)):
        raise ValueError(f"microcircuit_run(): sim_ms must be increasing positive times, "
                         f"got {sim_ms!r}")
    gc.collect()
    t0 = time.perf_counter()
    ref = potjans_diesmann(scale, k_scale, background=background, device=device, seed=seed,
                           record=record)
    net = ref.network
    net.build()
    sync(net)
    build_s = time.perf_counter() - t0
    n, n_syn = int(ref.params["n_neurons"]), n_synapses(net)
    # where the synapses were drawn: generated on the device ("auto" on a GPU) or by NumPy
    drawn = "device" if any(c.generated for c in net._engine.L.classes) else "host"
    log.info("potjans_diesmann x%g/%g on %s: %d neurons, %d synapses, built in %.1f s",
             scale, k_scale, net.backend, n, n_syn, build_s)
    seg_ms = [b - a for a, b in zip([0.0] + times, times)]
    segments, done, records = [], 0.0, []
    for target in times:
        t0 = time.perf_counter()
        net.run(target - done)
        sync(net)
        segments.append(time.perf_counter() - t0)
        done = target
        wall = sum(segments)
        rec = {
            "name": MICROCIRCUIT, "device": net.backend, "scale": float(scale),
            "k_scale": float(k_scale), "background": background, "recording": bool(record),
            "sim_ms": target, "build_s": build_s, "wall_s": wall,
            "x_realtime": target * 1e-3 / wall, "rtf": wall / (target * 1e-3),
            "rates_hz": {}, "n_neurons": n, "n_synapses": n_syn, "seed": seed,
            "wall_s_segments": list(segments), "segments_ms": seg_ms[:len(segments)],
            "connectivity": drawn,
            "description": microcircuit_description(scale, k_scale, background),
        }
        if record:
            rec["rates_hz"] = {k: float(m.mean_rate(0.0, target)) for k, m in ref.monitors.items()}
            spikes = sum(m.num_spikes for m in ref.monitors.values())
            rec["mean_rate_hz"] = spikes / (n * target * 1e-3)
        records.append(rec)
        log.info("potjans_diesmann on %s, %g ms, recording %s: %.2f s wall, %.3g wall s per "
                 "simulated s", net.backend, target, record, wall, rec["rtf"])
    del ref
    _release(net)
    return records


def microcircuit_records(*, device: str = "cpu", scale: float = 1.0, k_scale: float = 1.0,
                         background: str = "poisson", seed: int = 1,
                         sim_ms: tuple = MICROCIRCUIT_MS,
                         recording: tuple = (True, False)) -> list[dict]:
    """The microcircuit benchmark on one device: :func:`microcircuit_run` with spike recording
    and again from a fresh build without (``recording``), each for 1 s and 10 s (``sim_ms``).

    Returns the records of every run (``reference_networks`` records of the results schema with
    ``scale``, ``k_scale``, ``background``, ``recording`` and ``rtf``, wall s per simulated s).
    """
    out = []
    for record in recording:
        out.extend(microcircuit_run(device=device, scale=scale, k_scale=k_scale,
                                    background=background, seed=seed, record=record,
                                    sim_ms=sim_ms))
    return out


# -- peers ---------------------------------------------------------------------------------------

def peer_record(result: dict) -> dict:
    """A schema peer record from a :func:`neurosim.peers.run_peer` result (extras kept)."""
    target = result.get("target")
    rec = {
        "simulator": result["simulator"],
        "target": None if target in (None, result["simulator"]) else target,
        "case": result["case"], "n_neurons": int(result["n_neurons"]),
        "build_s": float(result["build_s"]), "sim_s": float(result["sim_s"]),
        "x_realtime": float(result["x_realtime"]), "mean_rate_hz": float(result["mean_rate_hz"]),
    }
    for key in ("version", "n_synapses", "duration_ms", "seed", "rates_hz", "threads",
                "compile_cache", "loadavg_1m_before"):
        if key in result:
            rec[key] = result[key]
    return rec


# -- learning tasks ------------------------------------------------------------------------------

TASKS = ("pattern_learning", "sequence_learning", "homeostasis")
#: The function(s) of ``neurosim.tasks`` that run each task, first found wins.
TASK_FUNCTIONS = {"pattern_learning": ("pattern_learning",),
                  "sequence_learning": ("sequence_learning",),
                  "homeostasis": ("homeostatic_adaptation", "homeostasis")}


def convergence_records(*, quick: bool, device: str = "cpu", seed: int = 11) -> dict:
    """The three learning tasks of ``neurosim.tasks`` where they exist, else "not run" records.

    A task function (``TASK_FUNCTIONS``) is called with ``seed``, ``device`` and ``quick``
    where its signature takes them, and returns a dict or a record with ``to_dict()``. The
    record's ``device`` becomes the backend that ran it (its ``backend`` field, when given). A
    task that fails, or whose record does not fit the report's schema, is recorded as
    ``{"status": "not run", "reason": ...}`` (with the record under ``"record"``), so that one
    task cannot invalidate the whole run.
    """
    try:
        from .. import tasks
    except ImportError as exc:
        reason = f"neurosim.tasks is not available in this installation ({exc})"
        return {t: {"status": "not run", "reason": reason} for t in TASKS}
    out = {}
    for name in TASKS:
        fn = next((getattr(tasks, f) for f in TASK_FUNCTIONS[name]
                   if callable(getattr(tasks, f, None))), None)
        if fn is None:
            out[name] = {"status": "not run", "reason": "neurosim.tasks has no "
                         + " or ".join(f"{f}()" for f in TASK_FUNCTIONS[name]) + " yet"}
            continue
        t0 = time.perf_counter()
        try:
            res = _call_task(fn, quick=quick, device=device, seed=seed)
            rec = _as_dict(res)
        except Exception as exc:  # a failing task is reported, not fatal to the suite
            log.warning("task %s failed: %s: %s", name, type(exc).__name__, exc)
            out[name] = {"status": "not run", "reason": f"failed: {type(exc).__name__}: {exc}"}
            continue
        rec.setdefault("wall_s", time.perf_counter() - t0)
        rec.setdefault("seed", seed)
        if "backend" in rec:
            rec["requested_device"] = rec.get("device", device)
            rec["device"] = rec["backend"]
        rec.setdefault("device", device)
        problem = _schema_problem(name, rec)
        if problem:
            log.warning("task %s: %s", name, problem)
            out[name] = {"status": "not run", "reason": problem, "record": rec}
        else:
            out[name] = rec
    return out


def _schema_problem(name: str, rec: dict) -> str | None:
    from ..report.render import validate_results
    probe = {"schema": 1, "run_id": "probe", "created": "2000-01-01T00:00:00+00:00",
             "quick": True, "system": {"cpu": {"model": "probe"}, "gpus": []}, "throughput": [],
             "memory": [], "convergence": {name: rec}, "reference_networks": [], "peers": [],
             "raster": None, "gpu_tests": None}
    try:
        validate_results(probe)
    except ValueError as exc:
        return f"its record does not fit the report schema ({exc})"
    return None


def _call_task(fn, **kwargs):
    import inspect
    params = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return fn(**kwargs)
    return fn(**{k: v for k, v in kwargs.items() if k in params})


def _as_dict(res) -> dict:
    for attr in ("to_dict", "to_record", "as_dict"):
        if callable(getattr(res, attr, None)):
            return dict(getattr(res, attr)())
    if isinstance(res, dict):
        return dict(res)
    import dataclasses
    if dataclasses.is_dataclass(res):
        return dataclasses.asdict(res)
    raise TypeError(f"task returned {type(res).__name__}, expected a dict or a record")
