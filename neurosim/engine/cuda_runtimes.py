"""The CUDA engine's runtimes of groups and synapse classes: their device arrays and launches.

:class:`GroupRuntime` holds a group's state, constants and Poisson drives and binds its kernel
(the model's neuron kernel, or a source's); :class:`ClassRuntime` holds a synapse class's rows,
columns, weights and delays (drawn on the device for generated classes) and its row of the table
that ``kernels/propagate.cu`` reads.
"""

from __future__ import annotations

import numpy as np

from ..models.sources import PoissonSource, SpikeSource
from . import cuda_tuning as T
from .cuda_device import Launch, grid_for, kernel_signature
from .device_connect import MAX_DELAY_STEPS
from .layout import member_starts

I32, U32, I64 = np.int32, np.uint32, np.int64


class GroupRuntime:
    """Device arrays and the launch of one group (neurons, Poisson or spike source)."""

    def __init__(self, engine, g):
        self.e, self.g = engine, g
        self.is_source = g.is_source
        dev = engine.dev
        real = engine.real               # ns_real: float32, or float64 (precision="double")
        self.state = {name: dev.put(arr.astype(real)) for name, arr in g.state.items()}
        self.i_ext = dev.zeros(g.size, real) if g.has_current else None
        if g.model_cls is PoissonSource:
            p = g.consts["p"]
            self.values = dict(offset=I64(g.rng_offset), n_neurons=I32(g.size),
                               start=I32(g.start), p=dev.put(np.atleast_1d(p)),
                               per_neuron=U32(np.ndim(p) > 0),
                               seg_step=dev.put(np.array([-1], np.int64)), n_seg=I32(1))
            self.grid = grid_for(g.size // 4 + 2)
        elif g.model_cls is SpikeSource:
            steps, idx = g.consts["schedule"]
            most = int(np.unique(steps, return_counts=True)[1].max()) if steps.size else 1
            # one padding entry past n_sched: never searched, avoids zero-size arrays
            self.values = dict(sched_step=dev.put(np.append(steps, 0).astype(np.int64)),
                               sched_idx=dev.put(np.append(idx, 0).astype(np.int32)),
                               n_sched=I32(steps.size), start=I32(g.start))
            self.grid = engine.dev.per_spike_grid(most)
        else:
            self.values = self._neuron_values()
            self.grid = grid_for(g.size)

    def _neuron_values(self) -> dict:
        g, dev, dummy = self.g, self.e.dev, self.e.dummy
        kernel = g.model_cls.kernel
        flags = sum(1 << ch for ch, on in enumerate(g.active) if on)
        if g.channels and g.channels[0] == "v":
            flags |= T.NS_DELTA              # input is a jump of v
        if g.has_current:
            flags |= T.NS_EXT
        values = dict(n_neurons=I32(g.size), start=I32(g.start), col0=I32(max(0, g.col_offset)),
                      i_ext=self.i_ext if g.has_current else dummy[self.e.real],
                      ref=dummy[np.dtype(np.int32)], n_ref=dummy[np.dtype(np.int32)])
        if g.n_ref is not None:
            flags |= T.NS_REF | (T.NS_REF_PER_NEURON if np.ndim(g.n_ref) else 0)
            values["ref"] = dev.zeros(g.size, np.int32)
            values["n_ref"] = dev.put(np.atleast_1d(np.asarray(g.n_ref, np.int32)))
        values["flags"] = U32(flags)
        values.update(self._drive_values())
        full = kernel_signature(g.model_cls.kernel_file, kernel)
        sig = [arg for _, arg in full]
        consts = [name for name in sig if name in g.consts]
        missing = sorted(set(g.consts) - set(consts))
        if missing:
            raise RuntimeError(f"{g.model_cls.kernel_file}: {kernel}() has no parameter for the "
                               f"constants {missing} of {g.model_cls.__name__}")
        values["per_neuron"] = U32(sum(1 << k for k, name in enumerate(consts)
                                       if np.ndim(g.consts[name])))
        for name in consts:
            values[name] = dev.put(np.atleast_1d(np.asarray(g.consts[name], self.e.real)))
        values.update(self.state)
        shared = self.e.shared_values()
        # the state arrays in kernel order: ns_flag_bad's variable index is a position here
        self.state_order = [name for ctype, name in full
                            if ctype.startswith(("float *", "ns_real *")) and name not in shared]
        for name in self.state_order:      # state this group lacks (LIF delta: i_syn_*)
            values.setdefault(name, dummy[self.e.real])
        return values

    def _drive_values(self, stim=None) -> dict:
        """The group's Poisson drives as the neuron kernels take them (kernels/step.cuh:
        ns_drives): sorted by column, stably, so drives into the same neurons keep their
        order; with ``stim`` (:class:`~neurosim.engine.stimulus.Stimulus`), each drive's
        rates over time, a CDF table per segment."""
        g, dev, dummy = self.g, self.e.dev, self.e.dummy
        L = self.e.L
        order = sorted((k for k, d in enumerate(L.drives) if d.group is g),
                       key=lambda k: L.drives[k].col)
        drives = [L.drives[k] for k in order]
        if not drives:
            return dict(n_drives=I32(0), drive_tab=dummy[np.dtype(np.int64)],
                        drive_w=dummy[self.e.real],
                        drive_cdf=dummy[np.dtype(np.float32)])
        for a, b in zip(drives, drives[1:]):
            if a.col + a.n > b.col and (a.col, a.n) != (b.col, b.n):
                raise RuntimeError(f"Poisson drives into columns {a.col}+{a.n} and "
                                   f"{b.col}+{b.n} overlap partly; the kernels expect drives "
                                   f"into the same neurons or disjoint ones")
        tab, segs, cdfs, start = [], [], [], 0
        for k, d in zip(order, drives):
            steps, tables = ([-1], [d.cdf]) if stim is None else stim.drive_tables(k)
            head = [d.col - g.col_offset, d.n, d.rng_offset]
            if len(tables) == 1:
                tab += head + [start, tables[0].size]
            else:
                tab += head + [5 * len(drives) + len(segs), -len(tables)]
            for step, cdf in zip(steps, tables):
                if len(tables) > 1:
                    segs += [int(step), start, cdf.size]
                cdfs.append(cdf)
                start += cdf.size
        return dict(n_drives=I32(len(drives)), drive_tab=dev.put(np.array(tab + segs, np.int64)),
                    drive_w=dev.put(np.array([d.weight for d in drives], self.e.real)),
                    drive_cdf=dev.put(np.concatenate(cdfs).astype(np.float32)))

    # -- stimulus (neurosim/engine/stimulus.py) -------------------------------------------------
    def set_rate_table(self, steps, p) -> bool:
        """A PoissonSource group's rate table; in place where the shapes allow (the launches
        and graphs stay valid), else new arrays: returns whether the launches must be rebuilt."""
        dev, v = self.e.dev, self.values
        p = np.ascontiguousarray(p, np.float32).reshape(-1)
        steps = np.ascontiguousarray(steps, np.int64)
        with dev.context():
            if v["p"].size == p.size and v["seg_step"].size == steps.size and v["per_neuron"]:
                v["p"][...] = dev.put(p)
                v["seg_step"][...] = dev.put(steps)
                return False
            v.update(p=dev.put(p), seg_step=dev.put(steps), n_seg=I32(steps.size),
                     per_neuron=U32(1))
        return True

    def set_schedule(self, steps, idx) -> None:
        """A SpikeSource group's schedule (new arrays and grid: the launches are rebuilt)."""
        dev = self.e.dev
        most = int(np.unique(steps, return_counts=True)[1].max()) if steps.size else 1
        with dev.context():
            self.values.update(sched_step=dev.put(np.append(steps, 0).astype(np.int64)),
                               sched_idx=dev.put(np.append(idx, 0).astype(np.int32)),
                               n_sched=I32(steps.size))
        self.grid = dev.per_spike_grid(most)

    def set_drives(self, stim) -> bool:
        """The group's Poisson drives after a rate change (tables over time included, read on
        the device): in place where they fit the arrays (the launches and graphs stay valid);
        returns whether the launches must be rebuilt."""
        dev, v = self.e.dev, self.values
        with dev.context():
            new = self._drive_values(stim)
            if (v["drive_cdf"].size >= new["drive_cdf"].size
                    and v["drive_tab"].size >= new["drive_tab"].size):
                v["drive_tab"][:new["drive_tab"].size] = new["drive_tab"]
                v["drive_cdf"][:new["drive_cdf"].size] = new["drive_cdf"]
                return False
        v.update(new)
        return True

    def set_current_array(self) -> bool:
        """Give the group an injected-current array (NS_EXT) if it has none; returns whether
        the launches must be rebuilt."""
        if self.i_ext is not None:
            return False
        with self.e.dev.context():
            self.i_ext = self.e.dev.zeros(self.g.size, self.e.real)
        self.g.has_current = True
        self.values["i_ext"] = self.i_ext
        self.values["flags"] = U32(int(self.values["flags"]) | T.NS_EXT)
        return True

    def launch(self) -> Launch:
        g = self.g
        if g.model_cls is PoissonSource:
            return self.e.bind("inputs.cu", "poisson_source_update", self.values, *self.grid)
        if g.model_cls is SpikeSource:
            return self.e.bind("inputs.cu", "spike_source_update", self.values, *self.grid)
        return self.e.bind(g.model_cls.kernel_file, g.model_cls.kernel, self.values, *self.grid)


class ClassRuntime:
    """A synapse class on the device: int64 row pointers, columns, weights, delays."""

    def __init__(self, engine, c):
        self.e, self.c = engine, c
        dev = engine.dev
        self.indptr = dev.put(c.indptr.astype(np.int64), copy=False)
        if c.generated:
            self._generate()
        else:
            self.cols = dev.put(c.cols, copy=False)
            self.weights = dev.put(c.weights, copy=False)
            self.delays = None if c.delays is None else dev.put(c.delays, copy=False)

    def table(self) -> list:
        """The class's row of the table that kernels/propagate.cu reads (NS_CLASS_FIELDS)."""
        dev, c = self.e.dev, self.c
        if c.delay is not None:
            delays, delay, kind = 0, int(c.delay), 0
        else:
            delays, delay, kind = dev.address(self.delays, "delays"), 0, (
                1 if self.delays.dtype == np.uint8 else 2)
        return [dev.address(self.indptr, "indptr"), dev.address(self.cols, "cols"),
                dev.address(self.weights, "weights"), delays, delay, kind]

    def _generate(self) -> None:
        """Draw the class's synapses on the device (device_connect), member by member; the
        per-synapse delays are drawn as int16 and kept as uint8 when all are below 256 steps,
        and they raise the engine's maximum delay."""
        e, c, dev, L = self.e, self.c, self.e.dev, self.e.L
        n = c.n_synapses
        self.cols = dev.zeros(max(1, n), np.int32)
        self.weights = dev.zeros(max(1, n), e.real)
        steps = None if c.delay is not None else dev.zeros(max(1, n), np.int16)
        bad = dev.zeros(2, np.int32)
        for proj, counts in c.members:
            g, off = L.pop_group[proj.post.index]
            ch = g.model_cls.layout(g.options)[1][proj.receptor]
            e.gen.fill(proj, counts.astype(np.int64), member_starts(L, proj),
                       g.col_offset + ch * g.size + off, self.cols, self.weights, steps, bad)
            flags = dev.get(bad)
            if flags[1]:
                raise ValueError(f"connect(): delays of {proj.name!r} reach more than "
                                 f"{MAX_DELAY_STEPS} steps of dt = {L.dt} ms, the most "
                                 f"supported")
        self.delays = None
        if steps is not None:
            with dev.context():
                top = int(steps.max()) if n else 1
                self.delays = steps.astype(np.uint8) if top < 256 else steps
            del steps
            L.max_delay = max(L.max_delay, top)
