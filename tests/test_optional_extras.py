"""Without the optional packages, neurosim still imports, and each entry point names the
extra that brings what it needs (checked in a subprocess that hides the package)."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run_hidden(package, code):
    script = (f"import sys; sys.modules[{package!r}] = None\n"
              f"sys.path.insert(0, {str(ROOT)!r})\n" + code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("package,code,extra", [
    ("pyNN", "import neurosim.pynn", "neurosim[pynn]"),
    ("nir", "import neurosim as ns\nns.nir.load('x.nir')", "neurosim[nir]"),
    ("neo", "import neurosim as ns\nnet = ns.Network(device='cpu', seed=0)\n"
            "p = net.add_population(2, ns.PoissonSource(rate=1.0))\n"
            "net.record_spikes(p).to_neo()", "neurosim[neo]"),
])
def test_missing_package_names_the_extra(package, code, extra):
    out = _run_hidden(package, code)
    assert out.returncode != 0
    assert "ImportError" in out.stderr and extra in out.stderr, out.stderr[-800:]


def test_neurosim_imports_without_them():
    out = _run_hidden("nir", "import sys; sys.modules['neo'] = None; sys.modules['pyNN'] = None\n"
                             "import neurosim as ns; print(ns.nir.SUPPORTED[0])")
    assert out.returncode == 0 and out.stdout.strip() == "Input", out.stderr[-800:]
