#!/usr/bin/env python
"""Issue 3's GPU speed figures, measured on the GPU this runs on (never estimated).

    python benchmarks/gpu_benchmarks.py                      # every case (a few minutes)
    python benchmarks/gpu_benchmarks.py --quick              # shorter runs
    python benchmarks/gpu_benchmarks.py --cases lif_bandwidth,step_overhead
    python benchmarks/gpu_benchmarks.py --output reports/gpu-speed.json

Without CuPy and a visible GPU it prints why and exits 0 (nothing to measure). Cases, all at
dt = 0.1 ms, simulation timed apart from building, the device synchronised before and after:

1. ``lif_bandwidth`` -- 10,000,000 uncoupled LIF neurons (benchmark case 1: tau_m 20 ms,
   R I = 25 mV, threshold -50, reset -70, refractory 2 ms, about 29 Hz), no monitor. The
   effective bandwidth of a step, counted as the bytes a fused update must move, as a
   percentage of the card's measured memory bandwidth (target: >= 50 %). Bytes per neuron and
   step: read v (4) and write it (4), read the refractory counter (4), write it while it counts
   down or at a spike (4 x the refractory fraction, 2 ms / 34.2 ms = 5.8 %); plus 4 bytes per
   spike for the spike list: about 12.2 bytes. Measured bandwidth: the faster of a
   device-to-device copy and an in-place read-modify-write kernel over 1 GiB (bytes read plus
   bytes written per second).
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
   ``--quick`` simulates 1 s only.

Writes a JSON file (default ``reports/gpu-speed.json``, schema ``neurosim-gpu-speed/1``) with
the machine (``neurosim.sysinfo.collect()``), the GPU and every figure with its target.
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

from neurosim.backends import cuda_status

CASES = ("lif_bandwidth", "step_overhead", "brunel", "coba_1m", "microcircuit")
DT = 0.1


def _sync():
    import cupy
    cupy.cuda.Device().synchronize()


def gpu_info() -> dict:
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


def measured_bandwidth(nbytes: int = 1 << 30, repeats: int = 20) -> dict:
    """Bytes moved per second (read + write) by a device copy and by an in-place kernel."""
    import cupy
    a = cupy.ones(nbytes // 4, np.float32)
    b = cupy.empty_like(a)
    scale = cupy.ElementwiseKernel("float32 s", "float32 x", "x = x * s + 1.0f", "ns_rmw")
    start, end = cupy.cuda.Event(), cupy.cuda.Event()

    def best(fn):
        for _ in range(3):
            fn()
        times = []
        for _ in range(repeats):
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(cupy.cuda.get_elapsed_time(start, end) * 1e-3)
        return min(times)

    copy_s = best(lambda: b.data.copy_from_device_async(a.data, nbytes))
    rmw_s = best(lambda: scale(np.float32(0.5), a))
    out = {"bytes": nbytes, "copy_bytes_per_s": 2 * nbytes / copy_s,
           "read_modify_write_bytes_per_s": 2 * nbytes / rmw_s}
    out["bytes_per_s"] = max(out["copy_bytes_per_s"], out["read_modify_write_bytes_per_s"])
    return out


def lif_case(n: int, device: str = "cuda", record: bool = False, seed: int = 1):
    net = ns.Network(dt=DT, device=device, seed=seed)
    pop = net.add_population(n, ns.LIF(tau_m=20.0, cm=250.0, v_rest=-70.0, v_reset=-70.0,
                                       v_thresh=-50.0, tau_refrac=2.0, i_offset=312.5),
                             initial={"v": ns.Uniform(-70.0, -50.0)})
    mon = net.record_spikes(pop) if record else None
    return net, mon


def timed_run(net, ms: float) -> float:
    _sync()
    t = time.perf_counter()
    net.run(ms)
    _sync()
    return time.perf_counter() - t


def case_lif_bandwidth(quick: bool, bandwidth: dict) -> dict:
    n = 10_000_000
    t = time.perf_counter()
    net, _ = lif_case(n)
    net.build()
    build_s = time.perf_counter() - t
    net.run(10.0)                                   # compile, capture, warm up
    ms = 100.0 if quick else 1000.0
    wall = timed_run(net, ms)
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


def case_step_overhead(quick: bool) -> dict:
    ms = 300.0 if quick else 1000.0
    out = {"neurons": 100, "simulated_ms": ms, "target_us": 5.0}
    for graphs in ("1", "0"):
        os.environ["NEUROSIM_CUDA_GRAPHS"] = graphs
        try:
            for record in (False, True):
                net, _ = lif_case(100, record=record)
                net.run(20.0)
                walls = [timed_run(net, ms) for _ in range(3)]
                mode = "graphs" if graphs == "1" else "direct"
                key = f"{mode}_{'recorded' if record else 'bare'}"
                out[f"{key}_us_per_step"] = min(walls) / round(ms / DT) * 1e6
        finally:
            os.environ.pop("NEUROSIM_CUDA_GRAPHS", None)
    out["met"] = out["graphs_bare_us_per_step"] <= 5.0
    return out


def case_brunel(quick: bool) -> dict:
    from neurosim.networks import brunel_2000
    t = time.perf_counter()
    ref = brunel_2000(device="cuda", seed=1)
    ref.network.build()
    build_s = time.perf_counter() - t
    ref.network.run(10.0)
    ms = 1000.0
    wall = timed_run(ref.network, ms)
    rate = ref.monitors["exc"].mean_rate(10.0, 10.0 + ms)
    return {"neurons": 12_500, "synapses": int(sum(p.n_synapses for p in ref.network.projections)),
            "simulated_ms": ms, "build_s": build_s, "wall_s": wall,
            "x_realtime": ms * 1e-3 / wall, "rate_exc_hz": rate, "target_x_realtime": 10.0,
            "met": ms * 1e-3 / wall >= 10.0}


def case_coba_1m(quick: bool) -> dict:
    from neurosim.networks import vogels_abbott_coba
    n_exc, n_inh = 800_000, 200_000
    p = 80.0 / (n_exc + n_inh)
    t = time.perf_counter()
    ref = vogels_abbott_coba(n_exc=n_exc, n_inh=n_inh, p=p, device="cuda", seed=1)
    ref.network.build()
    _sync()
    build_s = time.perf_counter() - t
    ms = 100.0 if quick else 1000.0
    wall = timed_run(ref.network, ms)
    return {"neurons": n_exc + n_inh, "p": p, "in_degree": 80,
            "synapses": int(sum(pr.n_synapses for pr in ref.network.projections)),
            "simulated_ms": ms, "build_s": build_s, "wall_s": wall,
            "x_realtime": ms * 1e-3 / wall,
            "rate_exc_hz": ref.monitors["exc"].mean_rate(0.0, ms),
            "device_memory_estimate_bytes": int(sum(ref.network._engine.memory.values())),
            "met": True}


def case_microcircuit(quick: bool) -> dict:
    from neurosim.networks import potjans_diesmann
    out = {"model": "potjans_diesmann(scale=1, k_scale=1, background='poisson')",
           "connectivity": "device", "target_rtf": 0.1, "runs": []}
    for record in (True, False):
        import cupy
        cupy.get_default_memory_pool().free_all_blocks()
        _sync()
        t0 = time.perf_counter()
        ref = potjans_diesmann(device="cuda", seed=1, record=record, connectivity="device")
        net = ref.network
        t1 = time.perf_counter()
        net.build()
        _sync()
        t2 = time.perf_counter()
        run = {"record": record, "build_s": t2 - t0, "describe_s": t1 - t0,
               "connect_and_engine_s": t2 - t1,
               "synapses": int(sum(p.n_synapses for p in net.projections)),
               "neurons": net.n_neurons,
               "device_memory_estimate_bytes": int(sum(net._engine.memory.values()))}
        wall1 = timed_run(net, 1000.0)
        run.update(wall_1s=wall1, rtf_1s=wall1)
        if not quick:
            wall10 = wall1 + timed_run(net, 9000.0)
            run.update(wall_10s=wall10, rtf_10s=wall10 / 10.0)
        if record:
            t_end = net.t
            run["rates_hz"] = {k: m.mean_rate(500.0, t_end) for k, m in ref.monitors.items()}
        out["runs"].append(run)
        del ref, net
    best = min(r.get("rtf_10s", r["rtf_1s"]) for r in out["runs"])
    out["best_rtf"] = best
    out["met"] = best < 0.1
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter simulated times")
    ap.add_argument("--cases", default=",".join(CASES),
                    help=f"comma-separated subset of {', '.join(CASES)}")
    ap.add_argument("--output", type=Path, default=ROOT / "reports" / "gpu-speed.json")
    args = ap.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        ap.error(f"unknown cases {unknown}; choose from {list(CASES)}")
    ok, why = cuda_status()
    if not ok:
        print(f"gpu_benchmarks: no GPU to measure ({why}); nothing written. GPU speed stays "
              f"unmeasured until this runs on a machine where CuPy sees a GPU.")
        return 0
    from neurosim import sysinfo
    results = {"schema": "neurosim-gpu-speed/1",
               "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
               "quick": args.quick, "machine": sysinfo.collect(), "gpu": gpu_info(),
               "cases": {}}
    bandwidth = measured_bandwidth()
    import cupy
    cupy.get_default_memory_pool().free_all_blocks()      # the 2 GiB of the measurement
    results["measured_bandwidth"] = bandwidth
    print(f"GPU: {results['gpu']['name']}; measured bandwidth "
          f"{bandwidth['bytes_per_s'] / 1e9:.0f} GB/s")
    runners = {"lif_bandwidth": lambda: case_lif_bandwidth(args.quick, bandwidth),
               "step_overhead": lambda: case_step_overhead(args.quick),
               "brunel": lambda: case_brunel(args.quick),
               "coba_1m": lambda: case_coba_1m(args.quick),
               "microcircuit": lambda: case_microcircuit(args.quick)}
    for name in cases:
        t = time.perf_counter()
        try:
            results["cases"][name] = runners[name]()
        except Exception as exc:  # noqa: BLE001 -- one failed case must not lose the others
            results["cases"][name] = {"error": f"{type(exc).__name__}: {exc}"}
        print(f"{name} ({time.perf_counter() - t:.0f} s): "
              f"{json.dumps(results['cases'][name], default=float)}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1, default=float) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
