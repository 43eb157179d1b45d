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
* ``threads`` OpenMP threads (``Network(threads=...)``, default every core);
* a neuron group with any per-neuron constant has all of them per neuron (the native neuron
  loops vectorise with constants all uniform or all per neuron).

With one thread, every launch runs the kernels' items in order, as the ``cuda:host`` build in
natural order does: the same arithmetic, so the same results. With more, spikes take their
slots in the step's list in the order the threads reach them, and synaptic input is summed with
atomics in that order: sums of weights that add exactly are the same, others may differ in the
last bit (as on a GPU); spike lists are the same set per step wherever the sums are.
"""

from __future__ import annotations

import numpy as np

from . import cuda_tuning as T

I32 = np.int32
from .cuda_device import Device, kernel_signature
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
        from ..backends.native import step_threads
        self.threads_asked = int(threads)
        self.threads = step_threads(threads, layout.n_total, layout.n_synapses)
        self._runner = None
        self._flags = None
        self._post = []
        super().__init__(net, layout, host=True,
                         dev=NativeDevice(self.threads, double=net.precision == "double"),
                         gen=gen)
        self.name = "cpu:native"
        self._constants_all_per_neuron()

    def _constants_all_per_neuron(self) -> None:
        """Every constant of a neuron group one value per neuron where any is (and the
        refractory steps with them): the native neuron loops vectorise where a group's
        constants are all uniform or all per neuron (``kernels/neuron_model.cu.j2``), and a
        group that merges populations with different parameters has some of each."""
        for rt in self.groups:
            if rt.is_source:
                continue
            v, g = rt.values, rt.g
            flags = int(v["flags"])
            ref_pn = bool(flags & T.NS_REF_PER_NEURON)
            if not int(v["per_neuron"]) and not ref_pn:
                continue
            sig = [name for _, name in kernel_signature(g.model_cls.kernel_file,
                                                         g.model_cls.kernel)]
            consts = [name for name in sig if name in g.consts]
            for k, name in enumerate(consts):
                if not (int(v["per_neuron"]) >> k) & 1:
                    v[name] = self.dev.put(np.full(g.size, self.dev.get(v[name])[0],
                                                   v[name].dtype))
            v["per_neuron"] = np.uint32((1 << len(consts)) - 1)
            if flags & T.NS_REF and not ref_pn:
                v["n_ref"] = self.dev.put(np.full(g.size, self.dev.get(v["n_ref"])[0], np.int32))
                v["flags"] = np.uint32(flags | T.NS_REF_PER_NEURON)

    def plan(self) -> list:
        fresh = self._plans is None
        plans = super().plan()
        if fresh:
            grid, block = (self.threads,), (1,)
            plans = [launch._replace(grid=grid, block=block) for launch in plans]
            self._flags = [0] * len(plans)
            self._post = []
            if self.threads > 1:
                plans = self._private_delivery(plans, grid, block)
                self._flags = self._barriers(plans)
            self._plans = plans
            self._runner = None
        return self._plans

    def _private_delivery(self, plans: list, grid, block) -> list:
        """On several threads: ``propagate_native`` in place of ``propagate`` (each thread but
        the first delivers into a private ring, with plain additions), ``ring_merge_native``
        first in every step (no barrier after it: each thread merges the columns its neuron
        kernels read) and after the last step of every chunk (every slot); see
        ``kernels/propagate.cu``."""
        if not self.classes or not any(l.kernel.name == "propagate" for l in plans):
            return plans
        n_priv = self.threads - 1
        size = self.n_slots * self.L.ring_width
        if getattr(self, "_priv", None) is None or self._priv.size != n_priv * size:
            self._priv = self.dev.zeros(n_priv * size, self.real)
        seg = [(rt.g.col_offset + ch * rt.g.size, rt.g.size) for rt in self.groups
               if not rt.is_source and rt.g.col_offset >= 0 for ch in range(len(rt.g.channels))]
        self._seg = self.dev.put(np.array(seg or [(0, 0)], np.int64).ravel())
        merge = dict(priv=self._priv, n_priv=I32(n_priv), seg=self._seg, n_seg=I32(len(seg)))
        out = []
        for launch in plans:
            if launch.kernel.name == "propagate":
                launch = self.bind("propagate.cu", "propagate_native",
                                   dict(n_classes=I32(len(self.classes)),
                                        class_tab=self.class_tab, priv=self._priv,
                                        n_priv=I32(n_priv)), grid, block)
            out.append(launch)
        first = self.bind("propagate.cu", "ring_merge_native", dict(merge, all=I32(0)),
                          grid, block)
        self._post = [self.bind("propagate.cu", "ring_merge_native", dict(merge, all=I32(1)),
                                grid, block)]
        return [first, *out]

    def _barriers(self, plans: list) -> list:
        """Launch flags: no barrier after the step's merge (each thread merges what it reads
        next) nor between the neuron kernels of different groups (each reads and writes its own
        group's state and ring columns; spikes take their slots with atomics)."""
        from ..backends.native import NO_BARRIER
        merged = bool(plans) and plans[0].kernel.name == "ring_merge_native"
        first = 1 if merged else 0               # CudaEngine.plan(): the groups' kernels first
        flags = [0] * len(plans)
        if merged:
            flags[0] = NO_BARRIER
        for k in range(first, first + len(self.groups) - 1):
            flags[k] = NO_BARRIER
        return flags

    def _launch(self, n0: int, n1: int) -> int:
        """Steps n0 .. n1 - 1 in one call of the C plan runner; the step after the last one
        run (it stops after a step that halted the clock)."""
        if self._runner is None:
            from ..backends.native import PlanRunner
            plans = [[(k.kernel, k.grid, k.block, k.args[p], f)
                      for k, f in zip(self._plans, self._flags)] for p in (0, 1)]
            post = [(k.kernel, k.grid, k.block, k.args[0]) for k in self._post]
            self._runner = PlanRunner(plans, self.clock, self.threads,
                                      ftz=plans[0][0][0].module.ftz if plans[0] else True,
                                      post=post)
        return self._runner.run(n0, n1, T.HOST_STOP_AT_HALT)
