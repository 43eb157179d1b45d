"""Results schema (version 1): its definition, ``validate_results``, load/save and file naming.

A benchmark run writes one results file; ``validate_results`` defines and checks its schema and
names the first bad key. ``save_results`` names the file ``<created>-<host hash>.json``.
``parse_time`` reads the ISO-8601 timestamps the schema uses.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurosim import sysinfo

SCHEMA_VERSION = 1


# A spec is: a type name ("int", "number", "str", "bool", "datetime"; a trailing "?" allows
# null), a tuple of allowed strings, a one-element list [spec] (a list of spec), a dict of
# key -> spec (a trailing "?" on a key makes it optional; the key "*" types every value of a
# mapping), or _OrNull(spec).


@dataclass(frozen=True)
class _OrNull:
    spec: Any


_THROUGHPUT = {"device": ("numpy", "cuda"), "n_neurons": "int", "n_synapses": "int",
               "steps": "int", "sim_ms": "number", "wall_s": "number", "us_per_step": "number",
               "neuron_updates_per_s": "number", "x_realtime": "number",
               "mean_rate_hz": "number"}
_MEMORY = {"device": "str", "n_neurons": "int", "n_synapses": "int", "host_bytes": "int?",
           "device_bytes": "int?", "bytes_per_neuron": "number", "bytes_per_synapse": "number",
           "method": "str", "delays?": ("constant", "per_synapse")}
_NOT_RUN = {"status": ("not run",), "reason": "str"}
_TASKS = {
    "pattern_learning": {"epochs_to_converge": "int?", "threshold": "number",
                         "accuracy_curve": ["number"], "device": "str", "seed": "int",
                         "wall_s": "number"},
    "sequence_learning": {"recall_before": "number", "recall_after": "number",
                          "epochs_to_90": "int?", "curve": ["number"]},
    "homeostasis": {"adaptation_time_s": ["number"], "target_rate_hz": "number",
                    "rate_trace": {"t_s": ["number"], "rate_hz": ["number"]}},
}
# Potjans-Diesmann microcircuit records (name "potjans_diesmann") add scale, k_scale,
# background, recording and rtf (wall s per simulated s); without recording, rates_hz is {}.
_REFERENCE = {"name": "str", "device": "str", "sim_ms": "number", "build_s": "number",
              "wall_s": "number", "x_realtime": "number", "rates_hz": {"*": "number"},
              "n_neurons": "int", "n_synapses": "int", "mean_rate_hz?": "number",
              "scale?": "number", "k_scale?": "number", "background?": ("poisson", "dc"),
              "recording?": "bool", "rtf?": "number"}
# What the suite asked of the microcircuit, and the devices it did not run on (and why);
# absent in results written before the suite ran it.
_MICROCIRCUIT = {"scale": "number", "k_scale": "number", "background": ("poisson", "dc"),
                 "sim_ms": ["number"],
                 "not_run": [{"device": "str", "status": ("not run",), "reason": "str"}]}
_PEER = {"simulator": "str", "target": "str?", "case": "str", "n_neurons": "int",
         "build_s": "number", "sim_s": "number", "x_realtime": "number", "mean_rate_hz": "number"}
_RASTER = {"network": "str", "t_ms": ["number"], "index": ["int"], "window_ms": ["number"]}
_STEP_RUN = {"launches_per_step": "number", "bytes_per_step": "number",
             "accessed_bytes_per_step": "number", "minimum_bytes_per_step": "number",
             "ratio_to_minimum": "number?", "minimum_parts": {"*": "number"},
             "kernels": {"*": {"launches": "number", "accessed": "number", "distinct": "number",
                               "arrays_distinct": {"*": "number"}}}}
# Launches and bytes per CUDA step counted on the host build (neurosim.bench.stepcost);
# null or absent when not counted.
_STEP_COSTS = {"kernels_hash": "str", "not_run": "str?",
               "networks": [{"network": "str", "scale": "number", "neurons": "int",
                             "synapses": "int", "steps": "int", "spikes_per_step": "number",
                             "synapses_per_step": "number", "recording": _STEP_RUN,
                             "no_recording": _STEP_RUN}]}
_GPU_TESTS = {"device": "str", "passed": "int", "failed": "int", "skipped": "int", "when": "str"}
RESULTS_SCHEMA = {
    "schema": "int", "run_id": "str", "created": "datetime", "quick": "bool",
    "system": {"cpu": {"model": "str"}, "gpus": [{"name": "str"}]},
    "throughput": [_THROUGHPUT], "memory": [_MEMORY], "convergence": {},
    "reference_networks": [_REFERENCE], "peers": [_PEER],
    "raster": _OrNull(_RASTER), "gpu_tests": _OrNull(_GPU_TESTS),
    "microcircuit?": _MICROCIRCUIT, "step_costs?": _OrNull(_STEP_COSTS),
}
_WHAT = {"int": "an integer", "number": "a finite number", "str": "a string",
         "bool": "true or false", "datetime": "an ISO-8601 date-time string"}


def parse_time(text: str) -> dt.datetime:
    """ISO-8601 text -> aware datetime (naive text is taken as UTC; 'Z' is accepted)."""
    stamp = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)


def _describe(spec: Any) -> str:
    if isinstance(spec, _OrNull):
        return _describe(spec.spec) + " or null"
    if isinstance(spec, str):
        return _WHAT[spec.rstrip("?")] + (" or null" if spec.endswith("?") else "")
    if isinstance(spec, tuple):
        return "one of " + ", ".join(repr(s) for s in spec)
    return "a list" if isinstance(spec, list) else "an object"


def _fail(path: str, spec: Any, value: Any) -> ValueError:
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return ValueError(f"{path}: expected {_describe(spec)}, got {type(value).__name__} {shown}")


def _check(value: Any, spec: Any, path: str) -> None:
    if isinstance(spec, _OrNull):
        if value is not None:
            _check(value, spec.spec, path)
    elif isinstance(spec, str):
        if value is None and spec.endswith("?"):
            return
        kind = spec.rstrip("?")
        ok = {"int": isinstance(value, int) and not isinstance(value, bool),
              "number": isinstance(value, (int, float)) and not isinstance(value, bool)
              and math.isfinite(value),
              "str": isinstance(value, str), "bool": isinstance(value, bool),
              "datetime": isinstance(value, str)}[kind]
        if ok and kind == "datetime":
            try:
                parse_time(value)
            except ValueError:
                ok = False
        if not ok:
            raise _fail(path, spec, value)
    elif isinstance(spec, tuple):
        if value not in spec:
            raise _fail(path, spec, value)
    elif isinstance(spec, list):
        if not isinstance(value, list):
            raise _fail(path, spec, value)
        for i, item in enumerate(value):
            _check(item, spec[0], f"{path}[{i}]")
    else:
        if not isinstance(value, dict):
            raise _fail(path, spec, value)
        for key, sub in spec.items():
            if key == "*":
                for k, v in value.items():
                    _check(v, sub, f"{path}.{k}")
                continue
            name = key.rstrip("?")
            if name not in value:
                if key.endswith("?"):
                    continue
                raise ValueError(f"{path}: missing key '{name}' ({_describe(sub)})")
            _check(value[name], sub, f"{path}.{name}")


def validate_results(d: Any) -> dict:
    """Check ``d`` against results schema 1; raise ValueError naming the first bad key.

    Unknown extra keys are allowed (forward compatible); every key the report reads is checked.
    """
    if not isinstance(d, dict):
        raise ValueError(f"results: expected an object, got {type(d).__name__}")
    if "schema" in d and d["schema"] != SCHEMA_VERSION:
        raise ValueError(f"results.schema: this version reads schema {SCHEMA_VERSION}, "
                         f"got {d['schema']!r}")
    _check(d, RESULTS_SCHEMA, "results")
    for task, value in d["convergence"].items():
        path = f"results.convergence.{task}"
        if not isinstance(value, dict):
            raise _fail(path, {}, value)
        if "status" in value:
            _check(value, _NOT_RUN, path)
        elif task in _TASKS:
            _check(value, _TASKS[task], path)
    home = d["convergence"].get("homeostasis") or {}
    trace = home.get("rate_trace")
    if trace and len(trace["t_s"]) != len(trace["rate_hz"]):
        raise ValueError("results.convergence.homeostasis.rate_trace: t_s and rate_hz differ in "
                         f"length ({len(trace['t_s'])} vs {len(trace['rate_hz'])})")
    raster = d["raster"]
    if raster is not None:
        if len(raster["t_ms"]) != len(raster["index"]):
            raise ValueError("results.raster: t_ms and index differ in length "
                             f"({len(raster['t_ms'])} vs {len(raster['index'])})")
        if len(raster["window_ms"]) != 2:
            raise ValueError("results.raster.window_ms: expected [start, stop], got "
                             f"{raster['window_ms']!r}")
    return d


def load_results(path: str | Path) -> dict:
    """Read and validate one results file; errors name the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return validate_results(data)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def results_filename(results: dict) -> str:
    """``<created as YYYYmmddTHHMMSSZ>-<host hash>.json``."""
    created = parse_time(results["created"]).astimezone(dt.timezone.utc)
    host = results["system"].get("host_id") or sysinfo.host_id()
    return f"{created:%Y%m%dT%H%M%SZ}-{re.sub(r'[^0-9A-Za-z]', '', str(host))}.json"


def save_results(results: dict, results_dir: str | Path) -> Path:
    """Validate ``results`` and write it into ``results_dir`` (created if needed)."""
    validate_results(results)
    path = Path(results_dir) / results_filename(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return path
