"""neurosim's benchmark suite: ``run_suite`` measures, ``neurosim.report`` writes it up.

- :mod:`neurosim.bench.cases`: the benchmark networks and the functions that time them and
  return records of the results schema (``neurosim.report.render.validate_results``);
- :mod:`neurosim.bench.memory`: measured memory footprint (tracemalloc / CuPy pool);
- :mod:`neurosim.bench.suite`: ``run_suite`` runs every case on every requested device;
- :mod:`neurosim.bench.peers_table`: neurosim (NumPy, ``cpu:native``) beside ANNarchy, NEST
  and Brian2 on the standard cases (``neurosim bench --peers``, ``reports/cpu-peers.md``).

Example::

    from neurosim.bench import run_suite
    from neurosim.report import render
    results = run_suite(quick=True, device="cpu", sizes=[100, 1000], peers=False)
    render.render_report(results, "reports/")
"""

from .suite import SuiteConfig, full_config, quick_config, run_suite

__all__ = ["run_suite", "SuiteConfig", "quick_config", "full_config"]
