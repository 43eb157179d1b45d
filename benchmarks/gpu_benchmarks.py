#!/usr/bin/env python
"""Issue 3's GPU speed figures, measured on the GPU this runs on (never estimated).

    python benchmarks/gpu_benchmarks.py                      # every case (a few minutes)
    python benchmarks/gpu_benchmarks.py --quick              # shorter runs
    python benchmarks/gpu_benchmarks.py --cases lif_bandwidth,step_overhead
    python benchmarks/gpu_benchmarks.py --cases microcircuit --merge   # add to the same file
    python benchmarks/gpu_benchmarks.py --output reports/gpu-speed.json
    python benchmarks/gpu_benchmarks.py --device cuda:host --quick --lif-neurons 20000 \\
        --coba-neurons 2000 --brunel-scale 0.05 --microcircuit-scale 0.02,0.05   # rehearsal

Without CuPy and a visible GPU (``--device cuda``, the default) it prints why and exits 0
(nothing to measure). ``--device cuda:host`` runs the same cases on the host build of the
kernels (the CUDA backend's code on the CPU): a rehearsal of the run, whose figures are not
GPU figures. Cases, all at dt = 0.1 ms, simulation timed apart from building, the device
synchronised before and after (sizes are the defaults; each has its option):

1. ``lif_bandwidth`` -- 10,000,000 uncoupled LIF neurons (benchmark case 1: tau_m 20 ms,
   R I = 25 mV, threshold -50, reset -70, refractory 2 ms, about 29 Hz), no monitor. The
   effective bandwidth of a step, counted as the bytes a fused update must move, as a
   percentage of the card's measured memory bandwidth (target: >= 50 %). Bytes per neuron and
   step: read v (4) and write it (4), read the refractory counter (4), write it while it counts
   down or at a spike (4 x the refractory fraction, 2 ms / 34.2 ms = 5.8 %); plus 4 bytes per
   spike for the spike list: about 12.2 bytes. Measured bandwidth: the faster of a
   device-to-device copy and an in-place read-modify-write kernel over 1 GiB (bytes read plus
   bytes written per second); on ``cuda:host`` the same two with NumPy in host memory.
2. ``step_overhead`` -- 100 uncoupled LIF neurons: microseconds per step (target <= 5), with
   CUDA graphs (the default) and with one launch at a time (``NEUROSIM_CUDA_GRAPHS=0``),
   without and with a spike monitor.
3. ``brunel`` -- Brunel 2000 at full size (12,500 neurons, 15.6 M synapses, every spike
   recorded), 1 s simulated: x real time (target >= 10) and build time.
4. ``coba_1m`` -- the Vogels-Abbott COBA network scaled to 1,000,000 neurons (800,000
   excitatory, 200,000 inhibitory) keeping its in-degree of 80 (p = 80 / N; 80 M synapses),
   every spike recorded: build time, simulation of 1 s (100 ms with --quick), x real time, rate.
5. ``microcircuit`` -- issue 6: the full Potjans & Diesmann (2014) model (77,169 neurons, about
   3 x 10^8 synapses, Poisson background), connectivity generated on the GPU
   (``connectivity="device"``): build time (and its split: model description, connectivity and
   engine), then 1 s and 10 s simulated (one build, 1 s + 9 s) with every spike recorded and, from
   a fresh build, without monitors: wall time and real-time factor (wall s per simulated s;
   the aim is < 0.1 on an H100; published figures: neurosim/report/published.json), rates.
   ``--quick`` simulates 1 s only. Keys: ``*_short`` for the first second
   (``--microcircuit-ms``), ``*_long`` for the ten (1 s + 9 s, ten times it).

Writes a JSON file (default ``reports/gpu-speed.json``, schema ``neurosim-gpu-speed/1``) with
the machine (``neurosim.sysinfo.collect()``), the GPU and every figure with its target. The
file is rewritten before and after every case (and after each run of the microcircuit), so a
run cut off by a time limit leaves every figure measured so far: ``"running"`` then names the
case that was cut off, ``"pending"`` the cases not started, and a case still marked
``"complete": false`` holds the part of it that finished. ``--merge`` keeps the cases of an
existing file of the same device (one session can measure the microcircuit in a later step).
Exit status 1 if a case raised (its entry holds the error), else 0.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
try:
    import neurosim as ns
except ImportError:          # a source checkout that is not installed
    sys.path.insert(0, str(ROOT))
    import neurosim as ns

import numpy as np

from neurosim.backends import cuda_status, host_build_status

SCHEMA = "neurosim-gpu-speed/1"
CASES = ("lif_bandwidth", "step_overhead", "brunel", "coba_1m", "microcircuit")
DEVICES = ("cuda", "cuda:host")
DT = 0.1


def _sync(device: str) -> None:
    if device == "cuda":
        import cupy
        cupy.cuda.Device().synchronize()


def _free_pool(device: str) -> None:
    if device == "cuda":
        import cupy
        cupy.get_default_memory_pool().free_all_blocks()


def gpu_info(device: str = "cuda") -> dict:
    """The GPU this measures on (``cuda``), or the host CPU that stands in for it."""
    if device != "cuda":
        from neurosim import sysinfo
        cpu = sysinfo.collect().get("cpu") or {}
        return {"name": f"host CPU {cpu.get('model', 'unknown')} (device='cuda:host': the CUDA "
                        f"kernels compiled for the CPU; not a GPU)", "host_build": True}
    import cupy
    dev = cupy.cuda.Device()
    props = cupy.cuda.runtime.getDeviceProperties(dev.id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    return {"name": name, "id": dev.id, "compute_capability": dev.compute_capability,
            "memory_bytes": int(props["totalGlobalMem"]),
            "multiprocessors": int(props["multiProcessorCount"]),
            "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
            "cuda_driver": cupy.cuda.runtime.driverGetVersion(),
            "cupy": cupy.__version__}


def _best_seconds(fn, repeats: int, timer) -> float:
    for _ in range(3):
        fn()
    return min(timer(fn) for _ in range(repeats))


def measured_bandwidth(device: str = "cuda", nbytes: int = 1 << 30, repeats: int = 20) -> dict:
    """Bytes moved per second (read + write) by a copy and by an in-place read-modify-write:
    CUDA events around a device copy and a CuPy kernel on ``cuda``, the host clock around
    NumPy's copy and in-place multiply in host memory on ``cuda:host``."""
    if device == "cuda":
        import cupy
        a = cupy.ones(nbytes // 4, np.float32)
        b = cupy.empty_like(a)
        scale = cupy.ElementwiseKernel("float32 s", "float32 x", "x = x * s + 1.0f", "ns_rmw")
        start, end = cupy.cuda.Event(), cupy.cuda.Event()

        def timer(fn):
            start.record()
            fn()
            end.record()
            end.synchronize()
            return cupy.cuda.get_elapsed_time(start, end) * 1e-3

        copy_s = _best_seconds(lambda: b.data.copy_from_device_async(a.data, nbytes), repeats,
                               timer)
        rmw_s = _best_seconds(lambda: scale(np.float32(0.5), a), repeats, timer)
        where = "device memory: device-to-device copy and an in-place CuPy kernel"
    else:
        a = np.ones(nbytes // 4, np.float32)
        b = np.empty_like(a)

        def timer(fn):
            t = time.perf_counter()
            fn()
            return time.perf_counter() - t

        copy_s = _best_seconds(lambda: np.copyto(b, a), repeats, timer)
        rmw_s = _best_seconds(lambda: np.multiply(a, np.float32(0.5), out=a), repeats, timer)
        where = "host memory: NumPy copy and in-place multiply (device='cuda:host')"
    out = {"bytes": nbytes, "copy_bytes_per_s": 2 * nbytes / copy_s,
           "read_modify_write_bytes_per_s": 2 * nbytes / rmw_s, "measured_in": where}
    out["bytes_per_s"] = max(out["copy_bytes_per_s"], out["read_modify_write_bytes_per_s"])
    return out


def lif_case(n: int, device: str = "cuda", record: bool = False, seed: int = 1):
    net = ns.Network(dt=DT, device=device, seed=seed)
    pop = net.add_population(n, ns.LIF(tau_m=20.0, cm=250.0, v_rest=-70.0, v_reset=-70.0,
                                       v_thresh=-50.0, tau_refrac=2.0, i_offset=312.5),
                             initial={"v": ns.Uniform(-70.0, -50.0)})
    mon = net.record_spikes(pop) if record else None
    return net, mon


def timed_run(net, ms: float, device: str = "cuda") -> float:
    _sync(device)
    t = time.perf_counter()
    net.run(ms)
    _sync(device)
    return time.perf_counter() - t


def _sim_ms(args, default: float) -> float:
    return float(args.sim_ms) if args.sim_ms is not None else default


def case_lif_bandwidth(args, bandwidth: dict, emit) -> dict:
    n, device = args.lif_neurons, args.device
    t = time.perf_counter()
    net, _ = lif_case(n, device)
    net.build()
    build_s = time.perf_counter() - t
    net.run(10.0)                                   # compile, capture, warm up
    ms = _sim_ms(args, 100.0 if args.quick else 1000.0)
    wall = timed_run(net, ms, device)
    steps = round(ms / DT)
    step_s = wall / steps
    t_ref, isi = 2.0, 2.0 + 20.0 * math.log(25.0 / 5.0)      # ms, closed form
    rate_hz = 1e3 / isi
    bytes_per_neuron = 12.0 + 4.0 * t_ref / isi
    bytes_per_step = n * bytes_per_neuron + 4.0 * n * rate_hz * DT * 1e-3
    eff = bytes_per_step / step_s
    pct = 100.0 * eff / bandwidth["bytes_per_s"]
    return {"neurons": n, "simulated_ms": ms, "build_s": build_s, "wall_s": wall,
            "step_us": step_s * 1e6, "neuron_updates_per_s": n / step_s,
            "bytes_per_neuron_update": bytes_per_neuron, "bytes_per_step": bytes_per_step,
            "effective_bytes_per_s": eff, "percent_of_measured_bandwidth": pct,
            "target_percent": 50.0, "met": pct >= 50.0,
            "byte_count": "read v 4 + write v 4 + read refractory counter 4 + write it "
                          "4 x refractory fraction (2/34.2 ms) per neuron; 4 per spike "
                          "(29.2 Hz) for the spike list"}


def case_step_overhead(args, emit) -> dict:
    ms = _sim_ms(args, 300.0 if args.quick else 1000.0)
    out = {"neurons": args.overhead_neurons, "simulated_ms": ms, "target_us": 5.0}
    for graphs in ("1", "0"):
        os.environ["NEUROSIM_CUDA_GRAPHS"] = graphs
        try:
            for record in (False, True):
                net, _ = lif_case(args.overhead_neurons, args.device, record=record)
                net.run(20.0)
                walls = [timed_run(net, ms, args.device) for _ in range(3)]
                mode = "graphs" if graphs == "1" else "direct"
                key = f"{mode}_{'recorded' if record else 'bare'}"
                out[f"{key}_us_per_step"] = min(walls) / round(ms / DT) * 1e6
                emit(out)
        finally:
            os.environ.pop("NEUROSIM_CUDA_GRAPHS", None)
    out["met"] = out["graphs_bare_us_per_step"] <= 5.0
    return out


def case_brunel(args, emit) -> dict:
    from neurosim.networks import brunel_2000
    n_exc = int(round(10_000 * args.brunel_scale))
    t = time.perf_counter()
    ref = brunel_2000(n_exc=n_exc, device=args.device, seed=1)
    ref.network.build()
    build_s = time.perf_counter() - t
    ref.network.run(10.0)
    ms = _sim_ms(args, 1000.0)
    wall = timed_run(ref.network, ms, args.device)
    rate = ref.monitors["exc"].mean_rate(10.0, 10.0 + ms)
    return {"neurons": ref.network.n_neurons, "scale": args.brunel_scale,
            "synapses": int(sum(p.n_synapses for p in ref.network.projections)),
            "simulated_ms": ms, "build_s": build_s, "wall_s": wall,
            "x_realtime": ms * 1e-3 / wall, "rate_exc_hz": rate, "target_x_realtime": 10.0,
            "met": ms * 1e-3 / wall >= 10.0}


def case_coba_1m(args, emit) -> dict:
    from neurosim.networks import vogels_abbott_coba
    n = args.coba_neurons
    n_exc = int(round(0.8 * n))
    n_inh = n - n_exc
    p = 80.0 / n
    t = time.perf_counter()
    ref = vogels_abbott_coba(n_exc=n_exc, n_inh=n_inh, p=p, device=args.device, seed=1)
    ref.network.build()
    _sync(args.device)
    build_s = time.perf_counter() - t
    ms = _sim_ms(args, 100.0 if args.quick else 1000.0)
    wall = timed_run(ref.network, ms, args.device)
    return {"neurons": n_exc + n_inh, "p": p, "in_degree": 80,
            "synapses": int(sum(pr.n_synapses for pr in ref.network.projections)),
            "simulated_ms": ms, "build_s": build_s, "wall_s": wall,
            "x_realtime": ms * 1e-3 / wall,
            "rate_exc_hz": ref.monitors["exc"].mean_rate(0.0, ms),
            "device_memory_estimate_bytes": int(sum(ref.network._engine.memory.values())),
            "met": True}


def case_microcircuit(args, emit) -> dict:
    from neurosim.networks import potjans_diesmann
    scale, k_scale = args.microcircuit_scale
    first = args.microcircuit_ms if args.microcircuit_ms is not None else _sim_ms(args, 1000.0)
    out = {"model": f"potjans_diesmann(scale={scale:g}, k_scale={k_scale:g}, "
                    f"background='poisson')",
           "scale": scale, "k_scale": k_scale, "connectivity": "device", "target_rtf": 0.1,
           "runs": []}
    for record in (True, False):
        _free_pool(args.device)
        _sync(args.device)
        t0 = time.perf_counter()
        ref = potjans_diesmann(scale, k_scale, device=args.device, seed=1, record=record,
                               connectivity="device")
        net = ref.network
        t1 = time.perf_counter()
        net.build()
        _sync(args.device)
        t2 = time.perf_counter()
        run = {"record": record, "build_s": t2 - t0, "describe_s": t1 - t0,
               "connect_and_engine_s": t2 - t1,
               "synapses": int(sum(p.n_synapses for p in net.projections)),
               "neurons": net.n_neurons,
               "device_memory_estimate_bytes": int(sum(net._engine.memory.values()))}
        out["runs"].append(run)
        wall1 = timed_run(net, first, args.device)
        run.update(simulated_ms_short=first, wall_short_s=wall1,
                   rtf_short=wall1 / (first * 1e-3))
        emit(out)
        if not args.quick:
            wall10 = wall1 + timed_run(net, 9 * first, args.device)
            run.update(simulated_ms_long=10 * first, wall_long_s=wall10,
                       rtf_long=wall10 / (10 * first * 1e-3))
        if record:
            run["rates_hz"] = {k: m.mean_rate(min(500.0, net.t / 2), net.t)
                               for k, m in ref.monitors.items()}
        emit(out)
        del ref, net
    best = min(r.get("rtf_long", r["rtf_short"]) for r in out["runs"])
    out["best_rtf"] = best
    out["met"] = best < 0.1
    return out


class ResultsFile:
    """The results JSON, rewritten (atomically) whenever anything changes."""

    def __init__(self, path: Path, doc: dict):
        self.path, self.doc = path, doc

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.doc, indent=1, default=float) + "\n")
        os.replace(tmp, self.path)

    def start(self, name: str) -> None:
        self.doc["pending"] = [c for c in self.doc["pending"] if c != name]
        self.doc["running"] = {"case": name, "since": _now()}
        self.save()

    def partial(self, name: str, record: dict) -> None:
        self.doc["cases"][name] = {**json.loads(json.dumps(record, default=float)),
                                   "complete": False}
        self.save()

    def finish(self, name: str, record: dict, seconds: float) -> None:
        self.doc["cases"][name] = {**record, "complete": "error" not in record,
                                   "case_s": seconds}
        self.doc["running"] = None
        self.save()


def _microcircuit_scale(text: str) -> tuple[float, float]:
    """``S`` or ``S,K`` (fractions of the neurons and in-degrees), as ``neurosim bench``."""
    from neurosim.cli import _microcircuit_scale as parse
    return parse(text)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _positive_int(text: str) -> int:
    value = float(text.replace("_", ""))
    if value != int(value) or value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=DEVICES, default="cuda",
                    help="cuda: the GPU (default); cuda:host: the host build (a rehearsal)")
    ap.add_argument("--quick", action="store_true", help="shorter simulated times")
    ap.add_argument("--cases", default=",".join(CASES),
                    help=f"comma-separated subset of {', '.join(CASES)}")
    ap.add_argument("--output", type=Path, default=ROOT / "reports" / "gpu-speed.json")
    ap.add_argument("--merge", action="store_true",
                    help="keep the cases already in --output (same device) and add these")
    ap.add_argument("--sim-ms", type=float, metavar="MS",
                    help="simulated time of every timed run instead of each case's own (the "
                         "microcircuit's long run is 10x it without --quick)")
    ap.add_argument("--microcircuit-ms", type=float, metavar="MS",
                    help="the microcircuit's first simulated span (default 1000, or --sim-ms); "
                         "the long run is 10x it")
    ap.add_argument("--lif-neurons", type=_positive_int, default=10_000_000, metavar="N")
    ap.add_argument("--overhead-neurons", type=_positive_int, default=100, metavar="N")
    ap.add_argument("--brunel-scale", type=float, default=1.0, metavar="S",
                    help="fraction of Brunel 2000's 12,500 neurons (in-degrees scale with it)")
    ap.add_argument("--coba-neurons", type=_positive_int, default=1_000_000, metavar="N",
                    help="COBA neurons (80 %% excitatory), in-degree 80 kept")
    ap.add_argument("--microcircuit-scale", type=_microcircuit_scale, default=(1.0, 1.0),
                    metavar="S[,K]", help="fraction of the neurons and of the in-degrees")
    ap.add_argument("--bandwidth-bytes", type=_positive_int, default=1 << 30, metavar="B",
                    help="buffer size of the bandwidth measurement (default 1 GiB)")
    return ap


def _open_results(args, cases: list[str]) -> ResultsFile:
    from neurosim import sysinfo
    doc = None
    if args.merge and args.output.is_file():
        try:
            old = json.loads(args.output.read_text())
        except ValueError:
            old = None
        if isinstance(old, dict) and old.get("schema") == SCHEMA and \
                old.get("device", "cuda") == args.device:
            doc = old
            doc["updated"] = _now()
    if doc is None:
        doc = {"schema": SCHEMA, "date": _now(), "device": args.device, "quick": args.quick,
               "machine": sysinfo.collect(), "gpu": gpu_info(args.device), "cases": {}}
    doc.setdefault("options", {})
    doc["options"].update({name: {k: v for k, v in vars(args).items()
                                  if k not in ("output", "merge", "cases")}
                           for name in cases})
    doc["options"] = json.loads(json.dumps(doc["options"], default=str))
    doc["pending"] = list(cases)
    doc["running"] = None
    return ResultsFile(args.output, doc)


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        ap.error(f"unknown cases {unknown}; choose from {list(CASES)}")
    if not 0 < args.brunel_scale <= 1:
        ap.error(f"--brunel-scale must be in (0, 1], got {args.brunel_scale}")
    ok, why = cuda_status() if args.device == "cuda" else host_build_status()
    if not ok:
        print(f"gpu_benchmarks: no {args.device} to measure ({why}); nothing written. GPU speed "
              f"stays unmeasured until this runs on a machine where CuPy sees a GPU.")
        return 0
    out = _open_results(args, cases)
    out.save()
    print(f"device: {out.doc['gpu']['name']}; cases: {', '.join(cases)}; writing {args.output}")
    runners = {"lif_bandwidth": case_lif_bandwidth, "step_overhead": case_step_overhead,
               "brunel": case_brunel, "coba_1m": case_coba_1m,
               "microcircuit": case_microcircuit}
    failed = False
    for name in cases:
        out.start(name)
        t = time.perf_counter()
        try:
            emit = lambda record, name=name: out.partial(name, record)  # noqa: E731
            if name == "lif_bandwidth":
                if "measured_bandwidth" not in out.doc:
                    out.doc["measured_bandwidth"] = measured_bandwidth(args.device,
                                                                       args.bandwidth_bytes)
                    _free_pool(args.device)      # the 2 buffers of the measurement
                    out.save()
                    print(f"measured bandwidth: "
                          f"{out.doc['measured_bandwidth']['bytes_per_s'] / 1e9:.1f} GB/s")
                record = case_lif_bandwidth(args, out.doc["measured_bandwidth"], emit)
            else:
                record = runners[name](args, emit)
        except Exception as exc:  # noqa: BLE001 -- one failed case must not lose the others
            record = {"error": f"{type(exc).__name__}: {exc}"}
            failed = True
        out.finish(name, record, time.perf_counter() - t)
        print(f"{name} ({time.perf_counter() - t:.1f} s): {json.dumps(record, default=float)}",
              flush=True)
    print(f"wrote {args.output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
