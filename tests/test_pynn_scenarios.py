"""PyNN's own system-test scenarios, run with ``sim = neurosim.pynn`` (see pynn_scenarios.py),
on the NumPy backend and on the CUDA backend's code compiled for the CPU (``cuda:host``).

Skipped, with the reason, when PyNN is not installed or its sdist (which carries the
scenarios) cannot be found or downloaded. Scenarios listed in ``KNOWN_FAILURES`` are strict
expected failures: each must still fail (else the table in docs/pynn-scenarios.md is stale),
every other scenario must pass.
"""

from __future__ import annotations

import pytest

import pynn_scenarios as S

pytest.importorskip("pyNN", reason="PyNN is not installed (pip install 'neurosim[pynn]')")

_DIR, _HOW = S.scenario_dir()
_SCENARIOS = S.collect(_DIR) if _DIR else []


def _params():
    if not _SCENARIOS:
        return [pytest.param(None, None, None, "cpu", id="no-scenarios")]
    out = []
    for device in ("cpu", "cuda:host"):
        for name, fn, err in _SCENARIOS:
            marks = []
            if name in S.KNOWN_FAILURES:
                marks.append(pytest.mark.xfail(reason=S.KNOWN_FAILURES[name], strict=True))
            out.append(pytest.param(name, fn, err, device, id=f"{device}-{name}", marks=marks))
    return out


@pytest.mark.parametrize("name,fn,err,device", _params())
def test_pynn_scenario(name, fn, err, device):
    if name is None:
        pytest.skip(f"PyNN's system-test scenarios are not available: {_HOW}")
    if device == "cuda:host":
        from neurosim.backends import host_build_status
        ok, why = host_build_status()
        if not ok:
            pytest.skip(f"cuda:host unavailable: {why}")
    if fn is None and err.startswith("ModuleNotFoundError"):
        pytest.skip(f"scenario module {name} needs a package that is not installed: {err} "
                    f"(CI installs it)")
    assert fn is not None, f"scenario module {name} could not be imported: {err}"
    status, msg = S.run_one(fn, device)
    if status == "skipped":
        pytest.skip(msg)
    assert status == "passed", msg


def test_every_known_failure_exists():
    """A known failure whose scenario disappeared (a PyNN upgrade) is reported."""
    if not _SCENARIOS:
        pytest.skip(f"PyNN's system-test scenarios are not available: {_HOW}")
    names = {n for n, _, _ in _SCENARIOS}
    assert set(S.KNOWN_FAILURES) <= names, set(S.KNOWN_FAILURES) - names
