"""The native CPU engine: the CUDA engine's plan, on the kernels compiled for this CPU.

:class:`NativeEngine` is :class:`~neurosim.engine.cuda_engine.CudaEngine` on a
:class:`NativeDevice` (kernels built by :mod:`neurosim.backends.native`: ``-O3``, OpenMP,
NumPy arrays as device memory). What differs from ``cuda:host``:

* every launch of the plan runs one block of one thread per CPU thread (``grid = (threads,)``,
  ``block = (1,)``): with ``NS_HOST_NATIVE`` each kernel's grid-stride loop is a contiguous
  share per thread (``kernels/common.cuh``), so each CPU thread runs one tight loop; every
  kernel is correct for any launch size (the kernels' convention), so the results are the
  same items computed in the same way;
* a chunk of steps is one call of the C plan runner (:class:`~neurosim.backends.native.PlanRunner`,
  ``kernels/native_loop.cpp``): no Python between steps, the clock, halts and recordings
  exactly as in a CUDA graph (the runner stops after a step that halted the clock, as the
  host build does);
* ``threads`` OpenMP threads (``Network(threads=...)``, default every core).

With one thread, every launch runs the kernels' items in order, as the ``cuda:host`` build in
natural order does: the same arithmetic, so the same results. With more, spikes take their
slots in the step's list in the order the threads reach them, and synaptic input is summed with
atomics in that order: sums of weights that add exactly are the same, others may differ in the
last bit (as on a GPU); spike lists are the same set per step wherever the sums are.
"""

from __future__ import annotations

from . import cuda_tuning as T
from .cuda_device import Device
from .cuda_engine import CudaEngine


class NativeDevice(Device):
    """A host device whose kernels are native builds running ``threads`` OpenMP threads."""

    def __init__(self, threads: int, double: bool = False):
        super().__init__(host=True, double=double)
        self.threads = int(threads)
        self.sm_count = self.threads

    def kernel(self, filename: str, name: str):
        if filename not in self._modules:
            from ..backends.native import NativeModule
            from .cuda_device import DOUBLE_OPTION
            # double: no flush-to-zero, as in the host build's double variant
            self._modules[filename] = (
                NativeModule(filename, threads=self.threads, options=(DOUBLE_OPTION,),
                             ftz=False) if self.double
                else NativeModule(filename, threads=self.threads))
        return self._modules[filename].get_function(name)

    def per_spike_grid(self, n_max: int, lanes: int = 1) -> tuple:
        return (self.threads,), (1,)


class NativeEngine(CudaEngine):
    """Runs a layout on the native CPU backend (see module docstring)."""

    def __init__(self, net, layout, threads: int, gen=None):
        self.threads = int(threads)
        self._runner = None
        super().__init__(net, layout, host=True,
                         dev=NativeDevice(self.threads, double=net.precision == "double"),
                         gen=gen)
        self.name = "cpu:native"

    def plan(self) -> list:
        fresh = self._plans is None
        plans = super().plan()
        if fresh:
            grid, block = (self.threads,), (1,)
            self._plans = [launch._replace(grid=grid, block=block) for launch in plans]
            self._runner = None
        return self._plans

    def _launch(self, n0: int, n1: int) -> int:
        """Steps n0 .. n1 - 1 in one call of the C plan runner; the step after the last one
        run (it stops after a step that halted the clock)."""
        if self._runner is None:
            from ..backends.native import PlanRunner
            plans = [[(k.kernel, k.grid, k.block, k.args[p]) for k in self._plans]
                     for p in (0, 1)]
            self._runner = PlanRunner(plans, self.clock, self.threads,
                                      ftz=plans[0][0][0].module.ftz if plans[0] else True)
        return self._runner.run(n0, n1, T.HOST_STOP_AT_HALT)
