"""Inputs that change while a network lives: stimulus protocols without rebuilding.

Held by each engine as ``engine.stim`` (one :class:`Stimulus`, the same on both backends) and
reached through :class:`~neurosim.Network`'s methods (``set_rates``, ``set_spike_times``,
``set_current``, ``get_rates``, and ``get_state``/``set_state(source, "rate", ...)``):

- **PoissonSource rates**: per population a table ``(steps, rates)`` — ``steps`` (K,) int64
  increasing with ``steps[0] = -1``, ``rates`` (K, size) Hz — where row ``k`` holds from step
  ``steps[k]`` until the next row's step: ``rates[k]`` for ``t`` in ``[t_k, t_{k+1})``, as
  Brian2's ``TimedArray`` or NEST's ``inhomogeneous_poisson_generator``. A neuron spikes in
  step ``n`` when the uniform draw is below ``float32(rate * dt * 1e-3)`` of the row in force at
  ``n``, the very comparison of a fixed rate, so a seed and a rate table give the same spikes on
  every backend. The CUDA kernel (``kernels/inputs.cu: poisson_source_update``) holds the whole
  table on the device and finds the row of each step by binary search over ``steps``: a table
  costs no host interaction at all during a run.
- **Poisson drive rates** (``net.add_poisson_input``): one rate per drive (its CDF table is
  shared by its neurons), as a number or a table over time ``(steps, rates)``. The NumPy engine
  switches the drive's table at the step a segment starts; the CUDA kernels hold one CDF table
  per segment and pick it by step on the device (``kernels/step.cuh: ns_add_drives``), written
  in place into the drive arrays where they fit, so captured graphs stay valid and a table
  costs no host interaction during a run.
- **SpikeSource schedules**: replaced or extended for the steps not yet run.
- **Added currents**: a constant current (pA, scalar or per neuron) per population, added to
  whatever ``net.inject`` gives, from the current step on.

Every change applies from the next step to run (``net._steps_done``) and is refused while a run
is in progress only where it cannot be (nothing here is called inside a chunk: callbacks of
``run(every=...)`` run between chunks, see :meth:`Network.run`). Checkpoints carry the whole
stimulus state (:func:`export`, :func:`load`).
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from ..models.sources import MAX_SPIKE_STEP, PoissonSource, SpikeSource, _sorted_times

I64 = np.int64
NEVER = 2**62                   # a step no run reaches


def rate_p(rates, dt: float) -> np.ndarray:
    """``float32(rate * dt * 1e-3)``: the spike probability per step, computed as the layout
    computes it at build (so a rate set later gives the same bits)."""
    return (np.asarray(rates, float) * dt * 1e-3).astype(np.float32)


class Stimulus:
    """The changeable inputs of one built engine (see module docstring)."""

    def __init__(self, engine):
        self.engine = engine
        self.net, self.L = engine.net, engine.L
        self.rates: dict = {}           # PoissonSource population index -> (steps, rates)
        self.schedules: dict = {}       # SpikeSource population index -> (steps, local idx)
        self.drive_rates: list = []     # per drive: (steps, rates (K,))
        self.offsets: dict = {}         # population index -> added current (pA, array of the network's dtype)
        for g in self.L.groups:
            for p in g.pops:
                if g.model_cls is PoissonSource:
                    r = np.broadcast_to(np.asarray(p.model.rate, float), (p.size,))
                    self.rates[p.index] = (np.array([-1], I64), r[None, :].copy())
                elif g.model_cls is SpikeSource:
                    self.schedules[p.index] = p.model.schedule(self.L.dt)
        for inp in self.net.poisson_inputs:
            self.drive_rates.append((np.array([-1], I64), np.array([float(inp.rate)])))
        self._lam_cache: dict = {}
        self._cdf_cache: dict = {}

    # -- Poisson sources ------------------------------------------------------------------------
    def set_rates(self, pop, rates, times=None) -> None:
        """Rates (Hz) of a PoissonSource population from now on (see Network.set_rates)."""
        where, n, dt = "set_rates()", self.net._steps_done, self.L.dt
        if times is None:
            r = V.per_neuron(where, "rates", rates, pop.size)[None, :]
            steps = np.array([-1], I64)
        else:
            steps = self._times(where, times)
            r = _rate_table(where, rates, steps.size, pop.size)
        _check_rates(where, r, dt)
        steps, r = self._merge_now(self.rates[pop.index], steps, r, n)
        self.rates[pop.index] = (steps, r)
        self._push_rates(pop)

    def rates_now(self, pop) -> np.ndarray:
        steps, r = self.rates[pop.index]
        return r[np.searchsorted(steps, self.net._steps_done, "right") - 1].copy()

    def group_table(self, g) -> tuple[np.ndarray, np.ndarray]:
        """(steps, p) of a PoissonSource group: the union of its populations' change steps and
        the float32 spike probabilities (K, group size) in force from each."""
        steps = np.unique(np.concatenate([self.rates[p.index][0] for p in g.pops]))
        p = np.empty((steps.size, g.size), np.float32)
        for pop in g.pops:
            s, r = self.rates[pop.index]
            rows = np.searchsorted(s, steps, "right") - 1
            off = g.offsets[pop.index]
            p[:, off:off + pop.size] = rate_p(r[rows], self.L.dt)
        return steps, p

    def _push_rates(self, pop) -> None:
        g, _ = self.L.pop_group[pop.index]
        steps, p = self.group_table(g)
        self.engine.stim_rates(g, steps, p)

    # -- Poisson drives -------------------------------------------------------------------------
    def set_drive_rate(self, k: int, rates, times=None) -> None:
        where, n = "set_rates()", self.net._steps_done
        inp = self.net.poisson_inputs[k]
        if times is None:
            if not V.is_number(rates):
                raise TypeError(f"{where}: a Poisson input (net.add_poisson_input) has one rate "
                                f"for all its neurons: rates must be a number (Hz), got "
                                f"{V.show(rates)}; use a PoissonSource population for rates "
                                f"per neuron")
            r = np.array([V.non_negative(where, "rates", rates)])
            steps = np.array([-1], I64)
        else:
            steps = self._times(where, times)
            r = V.real_array(where, "rates", rates, length=steps.size)
            if np.any(r < 0):
                raise ValueError(f"{where}: rates must be >= 0 Hz, got {r.min():g}")
        from ..rng import MAX_POISSON_LAMBDA
        lam = inp.n_sources * r.max() * self.L.dt * 1e-3
        if lam > MAX_POISSON_LAMBDA:
            raise ValueError(f"{where}: n_sources * rate * dt = {lam:g} spikes per step is too "
                             f"large for this Poisson input (at most {MAX_POISSON_LAMBDA:g}); "
                             f"got rates up to {r.max():g} Hz")
        old_steps, old_r = self.drive_rates[k]
        steps, r = self._merge_now((old_steps, old_r[:, None]), steps, r[:, None], n)
        self.drive_rates[k] = (steps, r[:, 0])
        self.engine.stim_drives_changed()

    def drive_rate_now(self, k: int, n: int | None = None) -> float:
        steps, r = self.drive_rates[k]
        n = self.net._steps_done if n is None else n
        return float(r[np.searchsorted(steps, n, "right") - 1])

    def apply_drives(self, n: int) -> tuple[list, int]:
        """Bring every drive to its rate in force at step ``n`` (``layout.PoissonDrive`` tables
        rebuilt where it changed); (indices of the drives changed, next change step)."""
        changed, nxt = [], NEVER
        for k, d in enumerate(self.L.drives):
            steps, r = self.drive_rates[k]
            i = int(np.searchsorted(steps, n, "right")) - 1
            if i + 1 < steps.size:
                nxt = min(nxt, int(steps[i + 1]))
            inp = self.net.poisson_inputs[k]
            lam = inp.n_sources * float(r[i]) * self.L.dt * 1e-3
            if lam != d.lam:
                self._set_lam(d, lam)
                changed.append(k)
        return changed, nxt

    def drive_tables(self, k: int) -> tuple[np.ndarray, list]:
        """(steps, CDF tables) of drive ``k``: its rate table as the CUDA kernels read it."""
        steps, r = self.drive_rates[k]
        n_src = self.net.poisson_inputs[k].n_sources
        return steps, [self._cdf(n_src * float(x) * self.L.dt * 1e-3) for x in r]

    def _cdf(self, lam: float) -> np.ndarray:
        from ..rng import poisson_cdf_table
        hit = self._cdf_cache.get(lam)
        if hit is None:
            hit = poisson_cdf_table(lam)
            if len(self._cdf_cache) < 4096:
                self._cdf_cache[lam] = hit
        return hit

    def _set_lam(self, d, lam: float) -> None:
        hit = self._lam_cache.get(lam)
        if hit is None:
            d.cdf = self._cdf(lam)
            d.__post_init__()
            if len(self._lam_cache) < 256:
                self._lam_cache[lam] = (d.cdf, d.thr, d.tab)
        else:
            d.cdf, d.thr, d.tab = hit
        d.lam = lam

    # -- spike sources --------------------------------------------------------------------------
    def set_spike_times(self, pop, times, append: bool = False) -> None:
        where, n, dt = "set_spike_times()", self.net._steps_done, self.L.dt
        if isinstance(times, (str, bytes)) or not hasattr(times, "__len__"):
            raise TypeError(f"{where}: times must be a sequence of per-neuron sequences of spike "
                            f"times (ms), got {V.show(times)}")
        if len(times) != pop.size:
            raise ValueError(f"{where}: times has spike times for {len(times)} neurons but "
                             f"population {pop.name!r} has {pop.size}")
        try:
            per = [_sorted_times(i, t) for i, t in enumerate(times)]
        except (TypeError, ValueError) as exc:
            raise type(exc)(str(exc).replace("SpikeSource:", f"{where}:", 1)) from None
        steps, idx = [], []
        for i, t in enumerate(per):
            if not t.size:
                continue
            if t.max() / dt > MAX_SPIKE_STEP:
                raise ValueError(f"{where}: times[{i}] has a spike at {t.max():g} ms, more than "
                                 f"2^53 steps of dt = {dt} ms")
            k = np.unique(np.rint(t / dt).astype(I64)) - 1
            if k[0] < n:
                raise ValueError(f"{where}: times[{i}] has a spike at {t[0]:g} ms, but the "
                                 f"network is at t = {self.net.t:g} ms: new spike times must "
                                 f"be >= t + dt = {(n + 1) * dt:g} ms after rounding to the grid")
            steps.append(k)
            idx.append(np.full(k.size, i, I64))
        s = np.concatenate(steps) if steps else np.zeros(0, I64)
        j = np.concatenate(idx) if idx else np.zeros(0, I64)
        old_s, old_j = self.schedules[pop.index]
        keep = old_s >= n if append else np.zeros(old_s.size, bool)
        s, j = np.concatenate((old_s[keep], s)), np.concatenate((old_j[keep], j))
        order = np.lexsort((j, s))                  # by step, then neuron; duplicates dropped
        s, j = s[order], j[order]
        dup = np.zeros(s.size, bool)
        dup[1:] = (s[1:] == s[:-1]) & (j[1:] == j[:-1])
        self.schedules[pop.index] = (s[~dup], j[~dup])
        self._push_schedule(pop)

    def group_schedule(self, g) -> tuple[np.ndarray, np.ndarray]:
        steps, idx = [], []
        for p in g.pops:
            s, j = self.schedules[p.index]
            steps.append(s)
            idx.append(j + g.offsets[p.index])
        s, j = np.concatenate(steps), np.concatenate(idx)
        order = np.argsort(s, kind="stable")
        return s[order], j[order]

    def _push_schedule(self, pop) -> None:
        g, _ = self.L.pop_group[pop.index]
        steps, idx = self.group_schedule(g)
        self.engine.stim_schedule(g, steps, idx)

    # -- currents -------------------------------------------------------------------------------
    def set_current(self, pop, amplitude) -> None:
        where = "set_current()"
        amp = V.per_neuron(where, "amplitude", amplitude, pop.size)
        from ..network import _peak_amplitude
        peak = sum(_peak_amplitude(c) for p, c in self.net.currents if p is pop)
        V.fits_float32(where, f"amplitude plus the currents injected into {pop.name!r} (pA)",
                       peak + float(np.max(np.abs(amp))))
        if np.any(amp != 0) or pop.index in self.offsets:
            self.offsets[pop.index] = amp.astype(self.net.dtype)
        self.engine.stim_current(pop)

    def offset(self, pop_index: int):
        """The added current (pA) of a population: an array of the network's dtype, or 0.0."""
        return self.offsets.get(pop_index, 0.0)

    # -- helpers --------------------------------------------------------------------------------
    def _times(self, where: str, times) -> np.ndarray:
        t = V.real_array(where, "times", times)
        if t.size == 0:
            raise ValueError(f"{where}: times must not be empty")
        if np.any(t < 0):
            raise ValueError(f"{where}: times must be >= 0 ms, got {t.min():g}")
        steps = np.rint(t / self.L.dt).astype(I64)
        if np.any(np.diff(steps) <= 0):
            k = int(np.flatnonzero(np.diff(steps) <= 0)[0])
            raise ValueError(f"{where}: times must be strictly increasing after rounding to "
                             f"dt = {self.L.dt} ms, got {t[k]:g} then {t[k + 1]:g} ms")
        return steps

    @staticmethod
    def _merge_now(old, steps, rates, n: int):
        """A new table from step ``n`` on: row -1 holds what is in force at ``n`` (the old
        table's row, or the new table's last row that starts at or before ``n``)."""
        old_steps, old_r = old
        now = old_r[np.searchsorted(old_steps, n, "right") - 1]
        past = steps <= n
        if steps[0] == -1:
            past[:] = False
            past[0] = True
        if np.any(past):
            now = rates[np.flatnonzero(past)[-1]]
        keep = ~past
        out_steps = np.concatenate((np.array([-1], I64), steps[keep]))
        out_r = np.concatenate((now[None, :], rates[keep]))
        return out_steps, out_r

    # -- checkpoints ----------------------------------------------------------------------------
    def export(self) -> dict:
        """The stimulus state as arrays (``rates<pop>/steps`` ...), for checkpoints."""
        out = {}
        n = self.net._steps_done
        for pi, (s, r) in self.rates.items():
            out[f"rates{pi}/steps"], out[f"rates{pi}/rates"] = s.copy(), r.astype(float)
        for k, (s, r) in enumerate(self.drive_rates):
            out[f"drive{k}/steps"], out[f"drive{k}/rates"] = s.copy(), r.astype(float)
        for pi, (s, j) in self.schedules.items():
            keep = s >= n
            out[f"spikes{pi}/steps"], out[f"spikes{pi}/indices"] = s[keep], j[keep]
        for pi, a in self.offsets.items():
            out[f"current{pi}/amplitude"] = np.asarray(a, self.net.dtype)
        return out

    def load(self, state: dict, where: str) -> None:
        """Check and apply :meth:`export`'s arrays (ValueError naming ``where`` and the entry)."""
        pops = self.net.populations
        dt, n = self.L.dt, self.net._steps_done
        known = set()

        def get(name, dtype, shape=None):
            known.add(name)
            a = state.get(name)
            if not isinstance(a, np.ndarray) or a.dtype != np.dtype(dtype):
                raise ValueError(f"{where}: {name!r} must be a {np.dtype(dtype)} array")
            if shape is not None and a.shape != shape:
                raise ValueError(f"{where}: {name!r} must have shape {shape}, got {a.shape}")
            return a

        def table(prefix, width):
            s = get(f"{prefix}/steps", I64)
            if s.ndim != 1 or s.size == 0 or s[0] != -1 or np.any(np.diff(s) <= 0):
                raise ValueError(f"{where}: {prefix + '/steps'!r} must start at -1 and increase")
            r = get(f"{prefix}/rates", np.float64, (s.size,) + width)
            if not np.all(np.isfinite(r)) or np.any(r < 0):
                raise ValueError(f"{where}: {prefix + '/rates'!r} must be finite and >= 0")
            return s, r
        rates = {pi: table(f"rates{pi}", (pops[pi].size,)) for pi in self.rates}
        for pi, (s, r) in rates.items():
            _check_rates(f"{where}, rates{pi}", r, dt)
        drives = [table(f"drive{k}", ()) for k in range(len(self.drive_rates))]
        scheds = {}
        for pi in self.schedules:
            s = get(f"spikes{pi}/steps", I64)
            j = get(f"spikes{pi}/indices", I64, s.shape)
            if s.ndim != 1 or (s.size and (s.min() < n or np.any(np.diff(s) < 0))):
                raise ValueError(f"{where}: 'spikes{pi}/steps' must be sorted steps >= {n}")
            if j.size and (j.min() < 0 or j.max() >= pops[pi].size):
                raise ValueError(f"{where}: 'spikes{pi}/indices' must lie in [0, "
                                 f"{pops[pi].size})")
            scheds[pi] = (s, j)
        offsets = {}
        for name in state:
            if name.startswith("current") and name.endswith("/amplitude"):
                pi = name[len("current"):-len("/amplitude")]
                if not pi.isdigit() or int(pi) >= len(pops) or pops[int(pi)].model.is_source:
                    raise ValueError(f"{where}: {name!r} names no population that takes "
                                     f"currents")
                a = get(name, self.net.dtype, (pops[int(pi)].size,))
                if not np.all(np.isfinite(a)):
                    raise ValueError(f"{where}: {name!r} must be finite")
                offsets[int(pi)] = a
        unknown = sorted(set(state) - known)
        if unknown:
            raise ValueError(f"{where}: unknown entries {unknown}")
        self.rates.update(rates)
        for pi in rates:
            self._push_rates(pops[pi])
        self.drive_rates = drives
        self.engine.stim_drives_changed()
        self.schedules.update(scheds)
        for pi in scheds:
            self._push_schedule(pops[pi])
        for pi, a in offsets.items():
            self.offsets[pi] = a
            self.engine.stim_current(pops[pi])


def _rate_table(where: str, rates, k: int, size: int) -> np.ndarray:
    """``rates`` given with ``times``: (K,) one rate per time, or (K, size) per neuron."""
    arr = V._numeric_array(where, "rates", rates, "an array of rates (Hz)")
    if arr.ndim == 1 and arr.shape[0] == k:
        arr = np.repeat(arr[:, None], size, axis=1)
    if arr.shape != (k, size):
        raise ValueError(f"{where}: rates must have shape ({k},) (one rate per time) or "
                         f"({k}, {size}) (per time and neuron), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{where}: rates must be finite everywhere, found "
                         f"{arr[~np.isfinite(arr)][0]}")
    return arr


def _check_rates(where: str, r: np.ndarray, dt: float) -> None:
    if r.size and r.min() < 0:
        raise ValueError(f"{where}: rates must be >= 0 Hz, got {r.min():g}")
    if r.size and r.max() * dt * 1e-3 > 1.0:
        raise ValueError(f"{where}: rate * dt must be <= 1 (one spike per step at most), got "
                         f"rates up to {r.max():g} Hz at dt = {dt} ms")
