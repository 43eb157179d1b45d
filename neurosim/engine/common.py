"""Engine pieces that do not depend on the array module: progress, NaN reports, projections."""

from __future__ import annotations

import logging
import time

import numpy as np

from ..errors import SimulationError
from .layout import member_positions

log = logging.getLogger(__name__)


class Progress:
    """A tqdm bar (``progress=True``) or a callback ``progress(t_ms, t_end_ms)``."""

    def __init__(self, progress, t0_ms: float, t_end_ms: float):
        self.callback = progress if callable(progress) and progress is not True else None
        self.bar = None
        self.t0, self.t_end = t0_ms, t_end_ms
        self.wall0 = time.perf_counter()
        if progress is True:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=round(t_end_ms - t0_ms, 6), unit="ms", desc="simulating",
                            bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} ms [{elapsed}<{remaining}{postfix}]")

    def update(self, t_ms: float) -> None:
        if self.callback is not None:
            self.callback(t_ms, self.t_end)
        if self.bar is not None:
            wall = time.perf_counter() - self.wall0
            self.bar.n = round(t_ms - self.t0, 6)
            if wall > 0:
                self.bar.set_postfix_str(f"{(t_ms - self.t0) * 1e-3 / wall:.3g}x real time",
                                         refresh=False)
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def chunk_steps(prev_chunk: int, prev_wall: float, target_wall: float = 0.25) -> int:
    """Adapt the number of steps between host interactions to about ``target_wall`` seconds."""
    if prev_wall <= 0:
        return min(prev_chunk * 4, 100_000)
    return int(np.clip(prev_chunk * target_wall / prev_wall, 10, 100_000))


def non_finite_error(layout, group, values: np.ndarray, var: str, step: int,
                     last_ok_step: int) -> SimulationError:
    """A SimulationError naming the population, the variable and the time."""
    bad = int(np.flatnonzero(~np.isfinite(values))[0])
    pop = next(p for p in group.pops
               if group.offsets[p.index] <= bad < group.offsets[p.index] + p.size)
    local = bad - group.offsets[pop.index]
    t = round((step + 1) * layout.dt, 9)
    t_ok = round((last_ok_step + 1) * layout.dt, 9)
    msg = (f"population {pop.name!r}: state {var!r} became non-finite ({values[bad]}) for neuron "
           f"{local}, between t = {t_ok} ms and t = {t} ms; the simulation stopped at "
           f"t = {t} ms and the monitors keep everything recorded up to then")
    return SimulationError(msg, population=pop.name, variable=var, t_ms=t)


def projection_array(layout, arrays, proj, kind: str) -> np.ndarray:
    """Sources/targets/weights/delays of a static projection from host copies of its class.

    ``arrays(ci)`` returns (cols, weights, delays) of class ``ci`` as NumPy arrays.
    """
    ci, m = layout.proj_class[proj]
    cls = layout.classes[ci]
    counts = cls.members[m][1]
    if kind == "sources":
        return np.repeat(np.arange(proj.pre.size, dtype=np.int32), counts)
    pos = member_positions(layout, proj)
    cols, weights, delays = arrays(ci)
    if kind == "weights":
        return np.asarray(weights[pos], layout.dtype)
    if kind == "targets":
        g, off = layout.pop_group[proj.post.index]
        ch = g.model_cls.layout(g.options)[1][proj.receptor]
        return (np.asarray(cols[pos], np.int64) - (g.col_offset + ch * g.size + off)).astype(np.int32)
    if kind == "delays":
        if cls.delay is not None:
            return np.full(pos.size, cls.delay * layout.dt)
        return np.asarray(delays[pos], np.float64) * layout.dt
    raise ValueError(f"unknown projection array {kind!r}")


class ProjectionAccess:
    """Reading a projection's arrays back, shared by the engines.

    An engine provides ``L`` (the layout), ``plastic`` (runtimes with ``proj``, ``n_synapses``,
    ``array(kind)``) and ``_class_arrays(ci)`` (host copies of a synapse class's arrays).
    """

    def projection_size(self, proj) -> int:
        if proj in self.L.proj_class:
            ci, m = self.L.proj_class[proj]
            return int(self.L.classes[ci].members[m][1].sum())
        return self._plastic_for(proj).n_synapses

    def projection_array(self, proj, kind):
        if proj in self.L.proj_class:
            return projection_array(self.L, self._class_arrays, proj, kind)
        return self._plastic_for(proj).array(kind)

    # -- what runtimes use (neurosim.plasticity.base.EngineInterface) ---------------------------
    @property
    def steps_done(self) -> int:
        """Steps the network has completed (the next step's index)."""
        return self.net._steps_done

    @property
    def step_now(self) -> int:
        """The step whose updates are running (inside a chunk: a homeostasis rule that reads a
        lazily integrated rule's weights at step ``n`` needs them at ``n``, not at the chunk's
        start), else the last step completed (``steps_done - 1``)."""
        n = getattr(self, "_step_now", None)
        return self.net._steps_done - 1 if n is None else n

    def plastic_runtime(self, proj):
        """The runtime of plastic projection ``proj`` (``KeyError`` if it has none here)."""
        for p in self.plastic:
            if getattr(p, "proj", None) is proj:
                return p
        raise KeyError(f"projection {proj.name!r} is not part of this engine")

    _plastic_for = plastic_runtime
