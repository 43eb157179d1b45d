"""PyNN's own cross-simulator system tests ("scenarios") run against ``neurosim.pynn``.

PyNN's sdist ships them in ``test/system/scenarios/``; each is a function ``test_x(sim)``
that PyNN runs with ``sim`` bound to ``pyNN.nest``, ``pyNN.neuron``, ``pyNN.brian2``. Here
``sim`` is ``neurosim.pynn``. :func:`scenario_dir` finds the sdist (``$NEUROSIM_PYNN_SDIST``,
or a cached download under the temp dir, fetched with ``pip download`` for the installed PyNN
version). ``KNOWN_FAILURES`` lists the scenarios that cannot pass, each with its reason;
the test module marks them strict xfails, so a fix is noticed as well as a regression.

``python tests/pynn_scenarios.py [--table docs/pynn-scenarios.md]`` runs them all and writes
the results table.
"""

from __future__ import annotations

import glob
import importlib
import inspect
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback

# scenario -> why it cannot pass on neurosim (a missing feature or a semantic difference)
KNOWN_FAILURES: dict[str, str] = {
    "test_cell_types::test_EIF_cond_alpha_isfa_ista":
        "missing feature: EIF_cond_alpha_isfa_ista (no alpha-shaped conductances)",
    "test_cell_types::test_HH_cond_exp": "missing feature: HH_cond_exp (no Hodgkin-Huxley model)",
    "test_cell_types::test_SpikeSourceGamma": "missing feature: SpikeSourceGamma",
    "test_cell_types::test_SpikeSourcePoissonRefractory":
        "missing feature: SpikeSourcePoissonRefractory (Poisson source with dead time)",
    "test_cell_types::test_composed_neuron_model_homogeneous_receptors":
        "missing feature: composed neuron models (PointNeuron, AdExp, PSR components)",
    "test_connectors::test_all_to_all_tsodyksmarkram":
        "missing feature: TsodyksMarkramSynapse (no short-term plasticity)",
    "test_connectors::test_fixed_number_post_with_replacement_heterogeneous_parameters":
        "missing feature: TsodyksMarkramSynapse (no short-term plasticity)",
    "test_connectors::test_fixed_number_pre_with_replacement_heterogeneous_parameters":
        "missing feature: TsodyksMarkramSynapse (no short-term plasticity)",
    "test_electrodes::test_issue321": "missing feature: IF_curr_alpha (no alpha-shaped currents)",
    "test_electrodes::test_issue437":
        "missing feature: IF_curr_alpha and NoisyCurrentSource; recording a source's current",
    "test_electrodes::test_issue442":
        "missing feature: IF_curr_alpha and ACSource; recording a source's current",
    "test_electrodes::test_issue445": "missing feature: ACSource (sine current)",
    "test_electrodes::test_issue497": "missing feature: ACSource (sine current)",
    "test_electrodes::test_issue631": "missing feature: ACSource (sine current)",
    "test_electrodes::test_issue_465_474_630":
        "missing feature: ACSource, NoisyCurrentSource; recording a source's current",
    "test_electrodes::test_ticket226": "missing feature: IF_curr_alpha (no alpha-shaped currents)",
    "test_parameter_handling::test_issue505":
        "missing feature: TsodyksMarkramSynapse (no short-term plasticity)",
    "test_parameter_handling::test_set_synaptic_parameters_fully_connected":
        "missing feature: TsodyksMarkramSynapse (no short-term plasticity)",
    "test_parameter_handling::test_set_synaptic_parameters_multiply_connected":
        "missing feature: TsodyksMarkramSynapse (no short-term plasticity)",
    "test_parameter_handling::test_set_synaptic_parameters_partially_connected":
        "missing feature: TsodyksMarkramSynapse (no short-term plasticity)",
    "test_recording::test_issue259":
        "semantic difference: spike_precision='off_grid' (precise spike times) is not "
        "available; neurosim stamps a SpikeSourceArray spike at 0.075 ms on the grid (0.1 ms at "
        "dt = 0.05 ms)",
    "test_scenario1::test_scenario1a": "missing feature: IF_cond_alpha (no alpha-shaped conductances)",
    "test_scenario4::test_scenario4":
        "missing feature: TsodyksMarkramSynapse (no short-term plasticity)",
    "test_synapse_types::test_simple_stochastic_synapse":
        "missing feature: SimpleStochasticSynapse (synapses are deterministic)",
}


def scenario_dir() -> tuple[str | None, str]:
    """(path of PyNN's ``test/system`` folder, or None; how it was found or why not)."""
    env = os.environ.get("NEUROSIM_PYNN_SDIST")
    if env:
        path = os.path.join(env, "test", "system")
        if os.path.isdir(os.path.join(path, "scenarios")):
            return path, f"$NEUROSIM_PYNN_SDIST={env}"
        return None, f"$NEUROSIM_PYNN_SDIST={env} has no test/system/scenarios"
    try:
        import pyNN
    except ImportError:
        return None, "PyNN is not installed (pip install 'neurosim[pynn]')"
    version = pyNN.__version__
    cache = os.path.join(tempfile.gettempdir(), f"neurosim-pynn-sdist-{version}")
    path = os.path.join(cache, f"pynn-{version}", "test", "system")
    if os.path.isdir(os.path.join(path, "scenarios")) and \
            os.path.isdir(os.path.join(cache, f"pynn-{version}", "examples")):
        return path, f"cached sdist in {cache}"
    os.makedirs(cache, exist_ok=True)
    try:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--no-binary", ":all:", f"pyNN=={version}", "-d", cache],
                       check=True, capture_output=True, timeout=300)
    except (subprocess.SubprocessError, OSError) as exc:
        err = getattr(exc, "stderr", b"") or b""
        return None, (f"could not download PyNN {version}'s sdist: {exc} "
                      f"{err.decode(errors='replace')[-300:]}")
    archives = glob.glob(os.path.join(cache, "*.tar.gz"))
    if not archives:
        return None, f"pip download left no sdist in {cache}"
    with tarfile.open(archives[0]) as tar:
        members = [m for m in tar.getmembers()
                   if "/test/system/" in m.name or "/examples/" in m.name]
        tar.extractall(cache, members=members, filter="data")
    extracted = glob.glob(os.path.join(cache, "*", "test", "system"))
    if not extracted:
        return None, f"PyNN's sdist in {cache} has no test/system folder"
    if extracted[0] != path:
        os.replace(os.path.dirname(os.path.dirname(extracted[0])), os.path.dirname(
            os.path.dirname(path)))
    return path, f"downloaded PyNN {version}'s sdist into {cache}"


def collect(system_dir: str):
    """[(name, function or None, import error or None)] of every scenario, in file order."""
    if system_dir not in sys.path:
        sys.path.insert(0, system_dir)
    out = []
    for file in sorted(glob.glob(os.path.join(system_dir, "scenarios", "test_*.py"))):
        mod_name = "scenarios." + os.path.basename(file)[:-3]
        try:
            mod = importlib.import_module(mod_name)
        except Exception as exc:  # noqa: BLE001 - reported as the scenario's result
            out.append((mod_name.split(".")[1], None, f"{type(exc).__name__}: {exc}"))
            continue
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if name.startswith("test_") and fn.__module__ == mod.__name__ and \
                    "sim" in inspect.signature(fn).parameters:
                out.append((f"{mod_name.split('.')[1]}::{name}", fn, None))
    return out


def run_one(fn, device: str = "cpu"):
    """Run one scenario on neurosim.pynn with ``device`` (through ``NEUROSIM_PYNN_DEVICE``,
    the default of ``setup(device=...)``, since the scenarios call ``setup()`` themselves):
    ("passed" | "failed" | "skipped", message).

    Scenarios switch PyNN's debug logging on (``init_logging``); the root logger's level and
    handlers are put back afterwards.
    """
    import logging
    import pytest
    import neurosim.pynn as sim
    root = logging.getLogger()
    saved = root.level, list(root.handlers)
    saved_device = os.environ.get("NEUROSIM_PYNN_DEVICE")
    os.environ["NEUROSIM_PYNN_DEVICE"] = device
    cwd = os.getcwd()
    workdir = tempfile.mkdtemp(prefix="neurosim-pynn-scenario-")
    os.chdir(workdir)                       # some scenarios write files (Results/...)
    try:
        fn(sim)
    except pytest.skip.Exception as exc:
        return "skipped", str(exc)
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        return "failed", f"{type(exc).__name__}: {str(exc)[:300]} ({os.path.basename(tb.filename)}:{tb.lineno})"
    finally:
        try:
            sim.end()
        except Exception:  # noqa: BLE001
            pass
        os.chdir(cwd)
        shutil.rmtree(workdir, ignore_errors=True)
        if saved_device is None:
            os.environ.pop("NEUROSIM_PYNN_DEVICE", None)
        else:
            os.environ["NEUROSIM_PYNN_DEVICE"] = saved_device
        root.setLevel(saved[0])
        for h in list(root.handlers):
            if h not in saved[1]:
                root.removeHandler(h)
    return "passed", ""


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", help="write the Markdown results table here")
    ap.add_argument("--devices", default="cpu,cuda:host",
                    help="comma-separated neurosim devices to run every scenario on "
                         "(default: cpu,cuda:host)")
    args = ap.parse_args(argv)
    devices = args.devices.split(",")
    system_dir, how = scenario_dir()
    if system_dir is None:
        raise SystemExit(how)
    import pyNN
    t_all = time.perf_counter()
    scenarios = collect(system_dir)
    results = {}
    for device in devices:
        t0_dev = time.perf_counter()
        for name, fn, err in scenarios:
            t0 = time.perf_counter()
            status, msg = ("failed", f"import: {err}") if fn is None else run_one(fn, device)
            results[name, device] = (status, msg, time.perf_counter() - t0)
            print(f"{device:9s} {status:8s} {time.perf_counter() - t0:6.1f}s {name}  "
                  f"{msg[:150]}", flush=True)
        results[None, device] = time.perf_counter() - t0_dev
    total = time.perf_counter() - t_all
    for device in devices:
        counts = {s: sum(results[n, device][0] == s for n, _, _ in scenarios)
                  for s in ("passed", "failed", "skipped")}
        print(device, counts, f"{results[None, device]:.0f} s")
    if args.table:
        write_table(args.table, scenarios, results, devices, total, pyNN.__version__)


def write_table(path, scenarios, results, devices, total, version):
    names = [n for n, _, _ in scenarios]
    lines = [
        "# PyNN's system-test scenarios on neurosim",
        "",
        f"PyNN {version}'s cross-simulator scenarios (`test/system/scenarios/` of its sdist), "
        "each run unchanged with `sim = neurosim.pynn` on "
        + " and ".join(f"`device=\"{d}\"`" for d in devices) + ". Generated by "
        "`python tests/pynn_scenarios.py --table docs/pynn-scenarios.md` from an actual run; "
        "CI runs the same scenarios through `tests/test_pynn_scenarios.py` (the known failures "
        "below as strict expected failures). `cuda:host` is the CUDA backend's code compiled "
        "for the CPU; a real GPU runs the same code.",
        "",
    ]
    for d in devices:
        counts = {s: sum(results[n, d][0] == s for n in names)
                  for s in ("passed", "failed", "skipped")}
        lines.append(f"- **{d}: {counts['passed']} passed, {counts['failed']} failed, "
                     f"{counts['skipped']} skipped** of {len(names)} "
                     f"({results[None, d]:.0f} s on this machine)")
    causes: dict[str, int] = {}
    for n in names:
        if any(results[n, d][0] == "failed" for d in devices):
            cause = KNOWN_FAILURES.get(n, "UNEXPLAINED").split(" (")[0]
            causes[cause] = causes.get(cause, 0) + 1
    lines += ["", "Failures by cause: " + "; ".join(
        f"{c} ({k})" for c, k in sorted(causes.items(), key=lambda kv: -kv[1])) + ".", ""]
    lines += ["| scenario | " + " | ".join(devices) + " | reason |",
              "|---|" + "---|" * len(devices) + "---|"]
    for n in names:
        statuses = [results[n, d][0] for d in devices]
        reason = ""
        if "failed" in statuses:
            msg = next(results[n, d][1] for d in devices if results[n, d][0] == "failed")
            known = KNOWN_FAILURES.get(n)
            reason = (f"{known} — `{msg[:160]}`" if known else "UNEXPLAINED: " + msg)
        elif "skipped" in statuses:
            reason = next(results[n, d][1] for d in devices if results[n, d][0] == "skipped")
        reason = reason.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{n}` | " + " | ".join(statuses) + f" | {reason} |")
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main()
