"""Run a PyNN script on neurosim: ``python -m neurosim.pynn script.py [args...]``.

PyNN's example scripts pick their backend with ``pyNN.utility.get_simulator``, which imports
``pyNN.<name>`` for the name given on the command line; this makes ``pyNN.neurosim`` an alias
of ``neurosim.pynn`` and runs the script, so ``python -m neurosim.pynn small_network.py
neurosim`` runs PyNN's example unchanged. ``NEUROSIM_PYNN_DEVICE=cuda`` picks the device.
"""

from __future__ import annotations

import runpy
import sys

from neurosim.pynn import register


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        raise SystemExit(0 if argv else 2)
    register()
    sys.argv = argv
    runpy.run_path(argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
