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
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback

# scenario -> why it cannot pass on neurosim (a missing feature or a semantic difference)
KNOWN_FAILURES: dict[str, str] = {}


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
    if os.path.isdir(os.path.join(path, "scenarios")):
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
        members = [m for m in tar.getmembers() if "/test/system/" in m.name]
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


def run_one(fn):
    """Run one scenario on neurosim.pynn: ("passed" | "failed" | "skipped", message)."""
    import pytest
    import neurosim.pynn as sim
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
    return "passed", ""


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", help="write the Markdown results table here")
    args = ap.parse_args(argv)
    system_dir, how = scenario_dir()
    if system_dir is None:
        raise SystemExit(how)
    import pyNN
    rows = []
    t_all = time.perf_counter()
    for name, fn, err in collect(system_dir):
        t0 = time.perf_counter()
        status, msg = ("failed", f"import: {err}") if fn is None else run_one(fn)
        rows.append((name, status, msg, time.perf_counter() - t0))
        print(f"{status:8s} {rows[-1][3]:6.1f}s {name}  {msg[:150]}", flush=True)
    total = time.perf_counter() - t_all
    counts = {s: sum(r[1] == s for r in rows) for s in ("passed", "failed", "skipped")}
    print(counts, f"{total:.0f} s")
    if args.table:
        write_table(args.table, rows, counts, total, pyNN.__version__)


def write_table(path, rows, counts, total, version):
    lines = [
        "# PyNN's system-test scenarios on neurosim",
        "",
        f"PyNN {version}'s cross-simulator scenarios (`test/system/scenarios/` of its sdist), "
        "each run with `sim = neurosim.pynn` on the NumPy backend. Generated by "
        "`python tests/pynn_scenarios.py --table docs/pynn-scenarios.md` from an actual run; "
        "CI runs the same scenarios through `tests/test_pynn_scenarios.py` (the known failures "
        "below as strict expected failures).",
        "",
        f"**{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped** "
        f"of {len(rows)} ({total:.0f} s on this machine).",
        "",
        "| scenario | result | reason |",
        "|---|---|---|",
    ]
    for name, status, msg, _ in rows:
        reason = KNOWN_FAILURES.get(name, "")
        if status == "failed" and not reason:
            reason = "UNEXPLAINED: " + msg
        elif status == "skipped":
            reason = msg
        elif status == "failed":
            reason = f"{reason} — `{msg[:160]}`".replace("|", "\\|")
        lines.append(f"| `{name}` | {status} | {reason.replace(chr(10), ' ')} |")
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main()
