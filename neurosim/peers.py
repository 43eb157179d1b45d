"""Run the peer simulators (Brian2, NEST, ANNarchy) on neurosim's standard benchmark cases.

The peers live in their own virtual environments, made by ``benchmarks/peers/install_peers.sh``
under ``<repo>/peers/<simulator>/``, because their dependencies (Brian2 needs ``numpy<2.4``,
NEST ships its own libraries) must not leak into neurosim's. Each case is run by a standalone
script in ``<repo>/benchmarks/peers/`` with the peer's own Python, in a subprocess, and the one
JSON object it prints is returned as a dict.

The cases are those of ``docs/benchmark-cases.md`` (see ``PEER_CASES``). A result carries at least
``simulator``, ``version``, ``target``, ``case``, ``n_neurons``, ``n_synapses``,
``duration_ms``, ``dt_ms``, ``seed``, ``build_s`` (construction, code generation and
compilation), ``sim_s`` (the simulation loop only), ``x_realtime``, ``n_spikes``,
``mean_rate_hz``, ``rates_hz`` (per population) and ``threads``.

The scripts ship with a source checkout, not with the wheel: from an installed package, pass
``root=`` (a checkout of the repository) or expect a ``RuntimeError`` that says so.

Example::

    from neurosim.peers import find_peers, run_peer
    if "nest" in find_peers():
        result = run_peer("nest", "brunel", duration_ms=1000.0)
        print(result["sim_s"], result["mean_rate_hz"])
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

log = logging.getLogger(__name__)

#: Environment variables naming a peer's Python executable; they win over ``<repo>/peers/``.
ENV_VARS: Mapping[str, str] = MappingProxyType({
    "brian2": "NEUROSIM_BRIAN2_PYTHON",
    "nest": "NEUROSIM_NEST_PYTHON",
    "annarchy": "NEUROSIM_ANNARCHY_PYTHON",
})

#: The script (in ``<repo>/benchmarks/peers/``) that runs the cases for each peer.
SCRIPTS: Mapping[str, str] = MappingProxyType({
    "brian2": "brian2_cases.py",
    "nest": "nest_cases.py",
    "annarchy": "annarchy_cases.py",
})

#: Code-generation targets per peer; the first is the default. Brian2's "cpp_standalone" is its
#: C++ standalone mode (a compiled program with OpenMP threads); the others are runtime mode.
PEER_TARGETS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "brian2": ("cython", "numpy", "cpp_standalone"),
    "nest": ("nest",),
    "annarchy": ("exponential", "explicit"),
})

#: Integration schemes of the COBA case a peer offers (``run_peer(integration=...)``): the
#: scheme's name in neurosim (``LIFCond(integration=...)``) -> the peer's. NEST's
#: ``iaf_cond_exp`` has only its own adaptive solver (RKF45): ``integration`` must be None.
PEER_INTEGRATION: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "brian2": MappingProxyType({"exponential_euler": "exponential_euler", "euler": "euler"}),
    "annarchy": MappingProxyType({"exponential_euler": "exponential", "euler": "explicit"}),
    "nest": MappingProxyType({}),
})

#: Keys every peer result must have.
RESULT_KEYS = frozenset({
    "simulator", "version", "target", "case", "n_neurons", "n_synapses", "duration_ms",
    "dt_ms", "seed", "build_s", "sim_s", "x_realtime", "n_spikes", "mean_rate_hz",
    "rates_hz", "threads",
})

STDERR_TAIL_LINES = 20


@dataclass(frozen=True)
class PeerCase:
    """One standard case as the peer scripts build it."""

    name: str
    summary: str
    default_n: int
    populations: tuple[str, ...]
    expected_rate_hz: tuple[float, float]  # plausible mean rate at the default N, 1 s


#: The cases both peer scripts implement, by the name given to ``--case``.
PEER_CASES: Mapping[str, PeerCase] = MappingProxyType({
    "lif": PeerCase("lif", "N uncoupled LIF neurons, exact integration, R*I = 25 mV",
                    1000, ("all",), (28.0, 30.5)),
    "coba": PeerCase("coba", "Vogels-Abbott COBA, 3,200 + 800 neurons, p = 0.02, 6/67 nS",
                     4000, ("exc", "inh"), (15.0, 22.0)),
    "brunel": PeerCase("brunel", "Brunel 2000 AI state, 10,000 + 2,500 neurons, g = 5, eta = 2",
                       12500, ("exc", "inh"), (33.0, 41.0)),
})


def repo_root() -> Path:
    """The directory above the ``neurosim`` package (the repository in a source checkout)."""
    return Path(__file__).resolve().parents[1]


def scripts_dir(root: Path | None = None) -> Path:
    """``<root>/benchmarks/peers``; a ``RuntimeError`` when it is not there (installed wheel)."""
    path = Path(root or repo_root()) / "benchmarks" / "peers"
    if not path.is_dir():
        raise RuntimeError(
            f"peer scripts not found: {path} does not exist; they ship with a source "
            "checkout of neurosim, not with the installed package. Run from a clone of the "
            "repository, or pass root=<path of a checkout>"
        )
    return path


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _python_from_env(simulator: str) -> Path | None:
    value = os.environ.get(ENV_VARS[simulator])
    if not value:
        return None
    path = Path(value).expanduser()
    if _is_executable(path):
        return path
    log.warning("%s=%s is not an executable file; ignored", ENV_VARS[simulator], value)
    return None


def find_peers(root: Path | str | None = None) -> dict[str, Path]:
    """Python executables of the installed peers, by simulator name.

    ``$NEUROSIM_BRIAN2_PYTHON`` / ``$NEUROSIM_NEST_PYTHON`` first, then
    ``<root>/peers/<simulator>/bin/python`` (root: the repository by default). Peers that are
    not installed are absent from the result.
    """
    peers_dir = Path(root or repo_root()) / "peers"
    found: dict[str, Path] = {}
    for simulator in SCRIPTS:
        python = _python_from_env(simulator)
        venv_python = peers_dir / simulator / "bin" / "python"
        if python is None and _is_executable(venv_python):
            python = venv_python
        if python is not None:
            found[simulator] = python
            log.debug("peer %s: %s", simulator, python)
    return found


def _check_request(simulator: str, case: str, target: str | None, n: int | None,
                   duration_ms: float, timeout_s: float, threads: int,
                   integration: str | None = None) -> str:
    """Validate the arguments of ``run_peer``; return the target to use."""
    if simulator not in SCRIPTS:
        raise ValueError(
            f"run_peer(): simulator must be one of {sorted(SCRIPTS)}, got {simulator!r}")
    if case not in PEER_CASES:
        raise ValueError(f"run_peer(): case must be one of {sorted(PEER_CASES)}, got {case!r}")
    targets = PEER_TARGETS[simulator]
    if target is not None and target not in targets:
        raise ValueError(
            f"run_peer(): target for {simulator} must be one of {targets}, got {target!r}")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 5):
        raise ValueError(f"run_peer(): n must be an int >= 5 or None, got {n!r}")
    if not duration_ms > 0:
        raise ValueError(f"run_peer(): duration_ms must be > 0, got {duration_ms!r}")
    if not timeout_s > 0:
        raise ValueError(f"run_peer(): timeout_s must be > 0, got {timeout_s!r}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"run_peer(): threads must be an int >= 1, got {threads!r}")
    if simulator == "brian2" and threads != 1 and target != "cpp_standalone":
        raise ValueError(f"run_peer(): Brian2's runtime mode (target {target or targets[0]!r}) "
                         f"runs on 1 thread, got threads={threads}; threads need "
                         "target='cpp_standalone'")
    if integration is not None:
        schemes = PEER_INTEGRATION[simulator]
        if case != "coba":
            raise ValueError(f"run_peer(): integration applies to the coba case only (the "
                             f"others are integrated exactly), got integration={integration!r} "
                             f"for case {case!r}")
        if integration not in schemes:
            offered = f"one of {sorted(schemes)}" if schemes else "None (its own solver)"
            raise ValueError(f"run_peer(): integration for {simulator} must be {offered}, "
                             f"got {integration!r}")
        if simulator == "annarchy":         # ANNarchy's scheme is its target
            if target is not None and target != schemes[integration]:
                raise ValueError(f"run_peer(): target={target!r} contradicts integration="
                                 f"{integration!r} for annarchy (its target is the scheme: "
                                 f"{schemes[integration]!r})")
            return schemes[integration]
    return target or targets[0]


def _command(python: Path, script: Path, simulator: str, case: str, n: int | None,
             duration_ms: float, seed: int, target: str, threads: int,
             integration: str | None = None, cache_dir: Path | None = None) -> list[str]:
    cmd = [str(python), str(script), "--case", case, "--duration", repr(float(duration_ms)),
           "--seed", str(int(seed)), "--threads", str(int(threads))]
    if n is not None:
        cmd += ["--n", str(n)]
    if simulator in ("brian2", "annarchy"):
        cmd += ["--target", target]
    if simulator == "brian2" and integration is not None:
        cmd += ["--integration", PEER_INTEGRATION["brian2"][integration]]
    if simulator == "brian2" and cache_dir is not None:
        cmd += ["--cache-dir", str(cache_dir)]
    return cmd


def _tail(text: str | bytes | None, lines: int = STDERR_TAIL_LINES) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    kept = (text or "").strip().splitlines()[-lines:]
    return "\n".join(kept) if kept else "(stderr was empty)"


def _parse_result(stdout: str, stderr: str, what: str) -> dict[str, Any]:
    """The JSON object on the last non-empty line of ``stdout``, with the expected keys."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    try:
        result = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError as exc:
        raise RuntimeError(
            f"{what} printed no JSON object ({exc}); stdout ends with {lines[-1][:200]!r}; "
            f"stderr tail:\n{_tail(stderr)}"
        ) from None
    if not isinstance(result, dict):
        raise RuntimeError(
            f"{what} printed no JSON object on stdout, got {stdout[:200]!r}; "
            f"stderr tail:\n{_tail(stderr)}"
        )
    missing = RESULT_KEYS - result.keys()
    if missing:
        raise RuntimeError(f"{what} result lacks keys {sorted(missing)}; got {sorted(result)}")
    return result


def run_peer(simulator: str, case: str, *, n: int | None = None, duration_ms: float = 1000.0,
             seed: int = 1, target: str | None = None, timeout_s: float = 900,
             threads: int = 1, root: Path | str | None = None, integration: str | None = None,
             cache_dir: Path | str | None = None) -> dict[str, Any]:
    """Run one standard ``case`` on a peer ``simulator`` and return its result dict.

    ``target`` picks Brian2's code generation ("cython", the default, or "numpy": runtime
    mode; "cpp_standalone": a compiled C++ program) and ANNarchy's COBA scheme ("exponential"
    or "explicit"); NEST has only "nest". ``threads`` is NEST's ``local_num_threads``,
    ANNarchy's ``num_threads`` and Brian2 standalone's ``openmp_threads`` (Brian2's runtime
    mode accepts only 1).
    ``integration``: the COBA case's scheme by neurosim's name, "exponential_euler" or "euler"
    (:data:`PEER_INTEGRATION`; None: the peer's default, Brian2's exponential Euler,
    ANNarchy's target). ``cache_dir``: where the peer keeps its compiled code between runs
    (Brian2's Cython cache or its compiled standalone projects, ANNarchy's build folders;
    None: Brian2 compiles afresh, ANNarchy uses ``~/.cache/neurosim/annarchy``). ``root`` is
    a checkout of the repository (default: the one this module lives in). Raises
    ``ValueError`` for bad arguments and ``RuntimeError`` (quoting the peer's stderr tail)
    when the peer is missing, fails, times out or prints no valid result.
    """
    target = _check_request(simulator, case, target, n, duration_ms, timeout_s, threads,
                            integration)
    python = find_peers(root).get(simulator)
    if python is None:
        raise RuntimeError(
            f"run_peer(): {simulator} is not installed: run benchmarks/peers/install_peers.sh "
            f"or set {ENV_VARS[simulator]} to the Python executable of an environment with it"
        )
    script = scripts_dir(root) / SCRIPTS[simulator]
    if not script.is_file():
        raise RuntimeError(f"run_peer(): peer script {script} does not exist")
    cache = Path(cache_dir) if cache_dir is not None else None
    cmd = _command(python, script, simulator, case, n, duration_ms, seed, target, threads,
                   integration, cache)
    what = f"{simulator} ({target}{', ' + integration if integration else ''}) on case {case!r}"
    log.info("running %s: %s", what, " ".join(cmd))
    env = {**os.environ, "PYNEST_QUIET": "1"}
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        if simulator == "annarchy":
            env["NEUROSIM_ANNARCHY_CACHE"] = str(cache)
    if simulator == "annarchy":     # its CMake step needs the venv's tools first on PATH
        env["PATH"] = os.pathsep.join([str(Path(python).parent), env.get("PATH", "")])
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                              env=env, check=False)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(
            f"{what} did not finish within timeout_s={timeout_s}; stderr tail:\n{_tail(exc.stderr)}"
        ) from None
    except OSError as exc:
        raise RuntimeError(f"{what} could not start {python}: {exc}") from None
    if proc.returncode != 0:
        raise RuntimeError(
            f"{what} failed with exit status {proc.returncode}; stderr tail:\n{_tail(proc.stderr)}"
        )
    log.debug("%s stderr:\n%s", what, proc.stderr)
    return _parse_result(proc.stdout, proc.stderr, what)
