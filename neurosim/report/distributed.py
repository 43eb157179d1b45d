"""The report's "Distributed scaling" section: the measured strong scaling of the
MPI-distributed engine and the scaling model for 8–64 GPUs, with its assumptions.

- **Measured** (:func:`load_scaling`): ``reports/distributed-scaling.json``, written by
  ``python benchmarks/distributed_scaling.py --ranks 1 2 --alltoallv --out
  reports/distributed-scaling.json``: per network and rank count the wall time of the run,
  split into compute and communication for each rank (``Network.timings``), the exchanges, an
  empty exchange's time, and the machine (CPUs, load average) it ran on.
- **Modelled** (:func:`model_rows`): what an exchange would cost on a cluster, from the sizes
  of the exchange (spikes per interval × bytes per spike) at the microcircuit's and the
  multi-area model's rates, against InfiniBand latency and bandwidth. The model and its
  assumptions (:data:`ASSUMPTIONS`) are defined here only: the report renders them and
  ``benchmarks/distributed_scaling.py --model`` prints the same table.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

FILE_NAME = "distributed-scaling.json"     # in the report's folder (reports/)

#: (neurons, mean rate in Hz assumed, minimum delay in ms) of the modelled networks
MODELS = {
    "microcircuit (77,169 neurons, ~3.2 Hz)": (77_169, 3.2, 0.1),
    "multi-area, ground state (4.13 M, ~3 Hz)": (4_130_000, 3.0, 0.1),
    "multi-area, metastable (4.13 M, ~10 Hz)": (4_130_000, 10.0, 0.1),
}
GPUS = (8, 16, 32, 64)
ALPHA_S = 1.5e-6            # InfiniBand HDR: latency of one small-message step (s)
BETA_S_PER_B = 1 / 25e9     # 200 Gb/s = 25 GB/s per link
BYTES_PER_SPIKE = 4         # int32 global id (+ 4 bytes per rank and step of the interval)
MULTI_AREA_SYNAPSES = 24e9  # Schmidt et al. 2018
EVENTS_PER_GPU_S = 1e9      # synaptic events one GPU delivers per second: assumed, not measured

ASSUMPTIONS = [
    "one GPU per rank, ranks on different nodes connected by InfiniBand HDR (200 Gb/s = "
    "25 GB/s per link, about 1.5 µs for one small-message step of a collective)",
    "an exchange is two collectives (sizes, then spikes), each by recursive doubling: "
    "`log2 P` latency steps, and every rank receives all bytes once over its link",
    "4 bytes per spike (int32 global id) plus 4 bytes per rank and step of the interval",
    "interval `d_min = 0.1 ms` (the microcircuit's delays are drawn down to `dt`, and so are "
    "the multi-area model's intra-area ones): 10,000 exchanges per second of biological time",
    "rates: the microcircuit's population rates in Potjans & Diesmann (2014) average about "
    "3.2 Hz over its 77,169 neurons; the multi-area model (Schmidt et al. 2018: 4.13 million "
    "neurons, 24 billion synapses) is taken at 3 Hz (ground state) and 10 Hz (metastable "
    "state) on average — assumed round figures, not measured here",
    "for the compute side: a GPU delivers on the order of 10^9 synaptic events per second "
    "(an assumption, not measured here)",
]


def model_rows(gpus=GPUS) -> list[dict]:
    """Communication per second of biological time for an ``Allgatherv`` exchange every
    ``d_min``: two collectives (sizes, then the spikes), each ``log2(P)`` latency steps of
    :data:`ALPHA_S` (recursive doubling) plus the bytes every rank receives over one link."""
    rows = []
    for name, (n, rate, dmin_ms) in MODELS.items():
        per_s = 1e3 / dmin_ms                       # exchanges per biological second
        spikes = n * rate / per_s
        for p in gpus:
            nbytes = spikes * BYTES_PER_SPIKE + 4 * p
            lat = 2 * math.log2(p) * ALPHA_S
            xfer = nbytes * BETA_S_PER_B
            rows.append({"model": name, "gpus": p, "spikes": spikes, "bytes": nbytes,
                         "latency_us": lat * 1e6, "transfer_us": xfer * 1e6,
                         "comm_s_per_s": (lat + xfer) * per_s})
    return rows


def model_table(gpus=GPUS) -> list[str]:
    """The model as Markdown table lines (``distributed_scaling.py --model``)."""
    lines = ["| model | GPUs | spikes per interval | bytes received per rank and interval | "
             "latency per interval (us) | transfer per interval (us) | communication (s per "
             "biological s) |", "|---|---|---|---|---|---|---|"]
    for r in model_rows(gpus):
        lines.append(f"| {r['model']} | {r['gpus']} | {r['spikes']:,.0f} | {r['bytes']:,.0f} | "
                     f"{r['latency_us']:.1f} | {r['transfer_us']:.2f} | "
                     f"{r['comm_s_per_s']:.2f} |")
    return lines


def multi_area_compute(rate_hz: float = 10.0, gpus: int = 64) -> dict:
    """The multi-area model's synaptic events per biological second, in all and per GPU, and
    the compute seconds per biological second per GPU at :data:`EVENTS_PER_GPU_S`."""
    n = MODELS["multi-area, metastable (4.13 M, ~10 Hz)"][0]
    events = n * rate_hz * MULTI_AREA_SYNAPSES / n
    return {"rate_hz": rate_hz, "gpus": gpus, "fan_out": MULTI_AREA_SYNAPSES / n,
            "events": events, "events_per_gpu": events / gpus,
            "compute_s_per_s": events / gpus / EVENTS_PER_GPU_S}


_ROW_KEYS = {"case": str, "scale": (int, float), "ranks": int, "duration_ms": (int, float),
             "neurons": int, "synapses": int, "rate_hz": (int, float), "exchange": str,
             "exchanges": int, "run_s": (int, float), "build_s": (int, float),
             "empty_exchange_us": (int, float), "ranks_per_source": (int, float),
             "per_rank": list}
_RANK_KEYS = {"compute_s": (int, float), "comm_s": (int, float)}


def load_scaling(path) -> dict:
    """``distributed-scaling.json`` read and checked (``ValueError`` naming the file and the
    entry that is wrong)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise ValueError(f"{path}: expected an object with a 'rows' list "
                         f"(benchmarks/distributed_scaling.py --out writes it)")
    for i, row in enumerate(data["rows"]):
        for key, types in _ROW_KEYS.items():
            if not isinstance(row, dict) or not isinstance(row.get(key), types) or \
                    isinstance(row.get(key), bool):
                raise ValueError(f"{path}: rows[{i}].{key} is missing or not "
                                 f"{_names(types)}")
        for j, rank in enumerate(row["per_rank"]):
            for key, types in _RANK_KEYS.items():
                if not isinstance(rank, dict) or not isinstance(rank.get(key), types):
                    raise ValueError(f"{path}: rows[{i}].per_rank[{j}].{key} is missing or "
                                     f"not {_names(types)}")
    return data


def _names(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join(t.__name__ for t in types)


def _measured_row(r: dict) -> dict:
    per = r["per_rank"]
    return {"case": r["case"], "scale": r["scale"], "neurons": r["neurons"],
            "synapses": r["synapses"], "ranks": r["ranks"], "exchange": r["exchange"],
            "duration_ms": r["duration_ms"], "rate_hz": r["rate_hz"], "build_s": r["build_s"],
            "run_s": r["run_s"], "compute_s": max(x["compute_s"] for x in per),
            "comm_s": max(x["comm_s"] for x in per), "exchanges": r["exchanges"],
            "empty_exchange_us": r["empty_exchange_us"],
            "ranks_per_source": r["ranks_per_source"]}


def _scaling(rows: list[dict]) -> list[dict]:
    """Per network: 1 rank against the most ranks measured with Allgatherv, the speed-ups of
    compute and of the whole run, and the communication's share of the run."""
    out = []
    for case, scale in dict.fromkeys((r["case"], r["scale"]) for r in rows):
        mine = [r for r in rows if (r["case"], r["scale"]) == (case, scale)
                and r["exchange"] == "allgatherv"]
        one = [r for r in mine if r["ranks"] == 1]
        many = max((r for r in mine if r["ranks"] > 1), key=lambda r: r["ranks"], default=None)
        if not one or many is None:
            continue
        one = one[0]
        interval_ms = many["duration_ms"] / many["exchanges"] if many["exchanges"] else None
        out.append({
            "case": case, "scale": scale, "ranks": many["ranks"],
            "compute_1": one["compute_s"], "compute_n": many["compute_s"],
            "run_1": one["run_s"], "run_n": many["run_s"],
            "compute_speedup": one["compute_s"] / many["compute_s"] if many["compute_s"] else None,
            "run_speedup": one["run_s"] / many["run_s"] if many["run_s"] else None,
            "comm_share": many["comm_s"] / many["run_s"] if many["run_s"] else None,
            "comm_per_exchange_ms": (many["comm_s"] / many["exchanges"] * 1e3
                                     if many["exchanges"] else None),
            "empty_exchange_us": many["empty_exchange_us"],
            "interval_ms": interval_ms, "exchanges": many["exchanges"]})
    return out


def distributed_context(data: dict | None, source: str | None = None) -> dict:
    """What the section shows: the measured rows (if ``data``), the scaling per network, the
    machine, and the model with its assumptions (always)."""
    rows = [_measured_row(r) for r in (data or {}).get("rows", [])]
    machine = (data or {}).get("machine") or {}
    load = machine.get("load_average")
    model = model_rows()
    by_model = {}
    for r in model:
        by_model.setdefault(r["model"], []).append(r)
    return {
        "rows": rows, "source": source, "scaling": _scaling(rows),
        "cpus": machine.get("cpus"),
        "load": ", ".join(f"{x:.1f}" for x in load) if load else None,
        "model": model, "assumptions": ASSUMPTIONS, "gpus": f"{GPUS[0]}–{GPUS[-1]}",
        "max_transfer_us": max(r["transfer_us"] for r in model),
        "min_latency_us": min(r["latency_us"] for r in model),
        "max_latency_us": max(r["latency_us"] for r in model),
        "comm_range": (min(r["comm_s_per_s"] for r in model),
                       max(r["comm_s_per_s"] for r in model)),
        "max_bytes": max(r["bytes"] for r in model),
        "microcircuit_spikes": by_model["microcircuit (77,169 neurons, ~3.2 Hz)"][0]["spikes"],
        "multi_area": multi_area_compute(),
    }
