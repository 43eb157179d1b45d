"""What the peer case scripts share: machine description and the one-JSON-line protocol.

The scripts run in the peers' own venvs (no neurosim there); they are started as
``python benchmarks/peers/<name>.py``, so this folder is on ``sys.path``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import sys

DT_MS = 0.1                                               # every standard case
DEFAULT_N = {"lif": 1000, "coba": 4000, "brunel": 12500}  # the standard sizes


def cpu_model() -> str:
    """The CPU model string of this machine (``/proc/cpuinfo``, else ``platform``)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@contextlib.contextmanager
def stdout_to_stderr():
    """Send fd 1 (also what C/C++ code and compilers write) to stderr; yield the real stdout."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield os.fdopen(os.dup(saved), "w")
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def run_case(name: str, parse_args, simulate, argv=None) -> int:
    """Parse arguments, simulate with everything else on stderr, print ONE JSON line."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=f"[{name}] %(message)s")
    log = logging.getLogger(name)
    args = parse_args(argv)
    with stdout_to_stderr() as real_stdout:
        result = simulate(args)
        log.info("%s: %.1f Hz, build %.2f s, sim %.2f s",
                 args.case, result["mean_rate_hz"], result["build_s"], result["sim_s"])
        real_stdout.write(json.dumps(result) + "\n")
        real_stdout.close()
    return 0
