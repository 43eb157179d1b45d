r"""The portable state of a plastic projection: one form that every runtime writes and reads.

Each plastic runtime keeps its state in its own form: the event-by-event NumPy runtime
(:class:`~neurosim.plasticity.numpy_runtime.PlasticRuntime`) remembers pending arrivals per
arrival step, the CUDA runtime the presynaptic spike lists of its last steps, and the NumPy
runtime of additive ``"all"``/``"nearest"`` STDP (:class:`~neurosim.plasticity.stdp.
StdpDeferredNumpy`) settles potentiation lazily from float64 accumulators. A checkpoint
therefore also holds, per plastic projection, this *portable* form of its state at the step
boundary ``n`` (``n`` steps done), from which a runtime of another kind starts
(:func:`export`, :func:`check`, :func:`load`). Entries ``plastic<k>/portable/<name>``:

- ``form`` (str): the form of the rule's description (``"stdp"``, ``"triplet"``, ``"reward"``
  for the built-in rules, the name of a user's :class:`~neurosim.PlasticityModel`); ``step``
  (int64): ``n``;
- ``w`` (float32 — every float32 array of this form is float64 in a
  ``Network(precision="double")`` — synapses): the weights in the projection's order
  (``proj.sources``), with every deferred update settled — the weights ``proj.weights`` reads
  (a copy is settled: the running network is not changed); the spikes that arrive in step ``n`` are not yet depressed
  (their depression belongs to step ``n``);
- ``pre.<trace>`` (float32, ``(H, n_pre)``): each presynaptic trace at the end of the steps
  ``n - H .. n - 1`` (row ``i`` is step ``n - H + i``), ``H = max delay + 1`` (rules whose
  ``on_pre`` reads a presynaptic trace, such as triplet STDP: it reads the trace one step
  before an arrival) or ``max delay`` steps. A synapse of
  delay ``d`` sees at step ``m`` the trace of step ``m - d``. Rows a neuron's synapses never
  read again (steps before ``n - D_j``, or ``n - 1 - D_j`` for such rules, ``D_j`` the longest
  delay of neuron ``j``'s synapses; every row of a neuron without synapses) are 0;
  the description's presynaptic traces (``x`` for STDP and reward STDP, ``r1``, ``r2`` for
  triplet STDP);
- ``post.<trace>`` (float32, ``n_post``): each postsynaptic trace at the end of step ``n - 1``
  (the description's: ``y``; triplet: ``o1``, ``o2``);
- ``pre.last``, ``pre.prev`` (int64, ``(H, n_pre)``) and ``post.last``, ``post.prev`` (int64,
  ``n_post``), only for ``pairing="nearest_reduced"``: the steps of the last and previous spike
  of each neuron as of the end of each row's step (``-2**40`` for none, also in the rows no
  synapse reads again);
- ``spikes.step`` (int64) and ``spikes.pre`` (int32): the presynaptic spikes in flight, as
  (emission step, presynaptic neuron) sorted by step then neuron: every spike of the last
  ``D_j`` steps, i.e. with at least one synapse on which it arrives in step ``n`` or later
  (arrival step = emission step + delay). Their contribution to the delay ring is in the
  engine's ``ring`` already where they arrive in step ``n``;
- the description's per-synapse state variables (float32, by name: ``c``, the eligibility of
  reward STDP); for rules with a ``between`` block ``t1`` (int64, per synapse): the step whose
  end the synapse was last brought to (``w`` is the weight as of that step: both runtimes
  integrate these weights lazily in the same way, so they are not settled); for rules with a
  modulator ``dopamine`` (float32) and ``dopamine.step`` (int64): its level right after its
  last change and that step (``-1``: none yet).

Exactness. The event-by-event NumPy runtimes and the CUDA runtimes keep exactly this
information (the trace values are the ones they compute), so either starts from the
other's portable form exactly, and after the same steps their forms are bit for bit equal
(for ``RewardSTDP`` up to the last bits of ``exp``: NumPy's and the C library's may differ).
:class:`~neurosim.plasticity.stdp.StdpDeferredNumpy` writes its settled weights (float64 sums
rounded once, where the event-by-event runtimes round at every pair) and traces recomputed
from its float64 ones (recurrence in the network's precision from the last arrival): equal
within that precision's rounding, not bit for bit. Loading the portable form into any runtime
and writing it again gives back the same arrays exactly.
"""

from __future__ import annotations

import numpy as np

I32, I64 = np.int32, np.int64
NEVER = -(2 ** 40)
PREFIX = "portable/"


# -- what a runtime is -----------------------------------------------------------------------------

def is_projection(rt) -> bool:
    from ..plasticity.numpy_runtime import PlasticRuntime
    return isinstance(rt, PlasticRuntime)


def _kind(rt) -> str:
    from ..plasticity.cuda_runtime import CudaPlasticRuntime
    from ..plasticity.stdp import StdpDeferredNumpy
    if isinstance(rt, CudaPlasticRuntime):
        return "cuda"
    return "deferred" if isinstance(rt, StdpDeferredNumpy) else "numpy"


class _Shape:
    """What the portable form of runtime ``rt`` at step ``n`` looks like."""

    def __init__(self, rt, n: int):
        rule = rt.rule
        d = rule.description
        self.n, self.rt = n, rt
        self.form = d.form
        self.pre_names, self.post_names = tuple(d.pre_traces), tuple(d.post_traces)
        self.pre_taus = tuple(rule.parameters[tau] for tau in d.pre_traces.values())
        self.state_names = tuple(d.state)
        self.lazy, self.modulated = d.lazy, d.modulator is not None
        self.all_to_all = rule.pairing == "all"
        self.track = rule.pairing == "nearest_reduced"
        self.lag = 1 if d.pre_read_on_pre() else 0
        self.n_syn, self.n_pre, self.n_post, self.R = rt.pre.size, rt.n_pre, rt.n_post, rt.R
        self.H = rt.R - 2 + self.lag
        self.steps = (np.full(self.n_syn, rt.delay, I64) if rt.d is None
                      else np.asarray(rt.d, I64))
        dmax = np.full(self.n_pre, -1, I64)
        if self.n_syn:
            np.maximum.at(dmax, rt.pre, self.steps)
        self.dmax = dmax                                   # -1: no synapses
        self.has = dmax >= 0
        # first step whose row a neuron's synapses still read (n: none)
        self.first = np.where(self.has, n - self.lag - dmax, n)
        self.row_steps = n - self.H + np.arange(self.H, dtype=I64)

    def ring_rows(self) -> np.ndarray:
        """Positions in a ring of ``R`` rows of the window's rows."""
        return self.row_steps % self.R

    def mask(self, rows: np.ndarray, fill) -> np.ndarray:
        keep = self.row_steps[:, None] >= self.first[None, :]
        return np.where(keep, rows, rows.dtype.type(fill))

    def in_flight(self, e: np.ndarray, j: np.ndarray):
        """Normal form of a set of (emission step, neuron): those still in flight, sorted,
        without repeats."""
        e, j = np.asarray(e, I64), np.asarray(j, I64)
        if e.size:
            keep = self.has[j] & (e >= self.n - self.dmax[j]) & (e < self.n) & (e >= 0)
            e, j = e[keep], j[keep]
        order = np.lexsort((j, e))
        e, j = e[order], j[order]
        if e.size > 1:
            new = np.ones(e.size, bool)
            new[1:] = (np.diff(e) != 0) | (np.diff(j) != 0)
            e, j = e[new], j[new]
        return e, j.astype(I32)

    def from_pending(self, pending: dict, arrived) -> tuple:
        """(emission step, neuron) of a NumPy runtime's pending arrivals (rows per arrival step
        with one delay, synapse ids with per-synapse delays) and of the synapses ``arrived``
        that arrive in step ``n``."""
        rt = self.rt
        es, js = [], []
        for a, parts in pending.items():
            vals = np.concatenate(parts).astype(I64) if parts else np.zeros(0, I64)
            if rt.d is None:
                es.append(np.full(vals.size, int(a) - rt.delay, I64))
                js.append(vals)
            else:
                es.append(int(a) - self.steps[vals])
                js.append(rt.pre[vals].astype(I64))
        if arrived is not None and np.size(arrived):
            syn = np.asarray(arrived, I64)
            es.append(self.n - self.steps[syn])
            js.append(rt.pre[syn].astype(I64))
        if not es:
            return self.in_flight(np.zeros(0, I64), np.zeros(0, I64))
        return self.in_flight(np.concatenate(es), np.concatenate(js))

    def schedule(self, e: np.ndarray, j: np.ndarray):
        """The in-flight spikes as a NumPy runtime remembers them: (pending, synapses arriving
        in step ``n``), in the order in which the runtime would have stored them."""
        rt, n = self.rt, self.n
        pending, arrived = {}, []
        cuts = np.flatnonzero(np.diff(e)) + 1
        for part_e, part_j in zip(np.split(e, cuts), np.split(j, cuts)):
            if not part_e.size:
                continue
            step, E = int(part_e[0]), part_j.astype(I64)
            if rt.d is None:
                a = step + rt.delay
                if a > n:
                    pending.setdefault(a, []).append(E)
                else:
                    arrived.append(rt.row_synapses(E))
                continue
            syn = rt.row_synapses(E)                      # as PlasticRuntime._schedule
            d = rt.d[syn]
            order = np.argsort(d, kind="stable")
            splits = np.flatnonzero(np.diff(d[order])) + 1
            for part in np.split(order, splits):
                if not part.size:
                    continue
                a = step + int(d[part[0]])
                if a > n:
                    pending.setdefault(a, []).append(syn[part])
                elif a == n:
                    arrived.append(syn[part])
        arrived = [a for a in arrived if a.size]
        return pending, (np.concatenate(arrived).astype(I64) if arrived else None)


# -- export ---------------------------------------------------------------------------------------

def export(rt) -> dict:
    """The portable form of plastic projection runtime ``rt`` (copies; ``rt`` unchanged)."""
    shape = _Shape(rt, rt.engine.net._steps_done)
    out = {"form": np.array(shape.form), "step": np.array(shape.n, I64)}
    out.update({"cuda": _export_cuda, "numpy": _export_numpy,
                "deferred": _export_deferred}[_kind(rt)](rt, shape))
    return {PREFIX + k: v for k, v in out.items()}


def _export_numpy(rt, s: _Shape) -> dict:
    out = {"w": rt.w.copy()}
    rows = s.ring_rows()
    for name in s.pre_names:
        out[f"pre.{name}"] = s.mask(rt.xr[name][rows], 0.0)
    for name in s.post_names:
        out[f"post.{name}"] = rt.y[name].copy()
    if s.track:
        out["pre.last"] = s.mask(rt.pre_last[rows], NEVER)
        out["pre.prev"] = s.mask(rt.pre_prev[rows], NEVER)
        out["post.last"], out["post.prev"] = rt.post_last.copy(), rt.post_prev.copy()
    e, j = s.from_pending(rt.pending, rt.arrived)
    out["spikes.step"], out["spikes.pre"] = e, j
    out.update({name: rt.syn_state[name].copy() for name in s.state_names})
    if s.lazy:
        out["t1"] = rt.t1.copy()
    if s.modulated:
        out["dopamine"] = np.array(rt.d_r, rt.real)
        out["dopamine.step"] = np.array(rt.r_step, I64)
    return out


def _export_deferred(rt, s: _Shape) -> dict:
    n = s.n
    w = rt.w.copy()
    if rt.pre.size and rt.rule.enabled and rt.a_plus:        # settle() on a copy
        ti = rt.pre if rt.d is None else np.arange(rt.pre.size)
        w = rt.add_owed(w, rt._owed(ti, slice(None), rt.post))
    arrived = None
    if rt.undo is not None:                    # arrivals of step n: not yet depressed
        arrived, before = rt.undo[0], rt.undo[1]
        w[arrived] = before
    e, j = s.from_pending(rt.pending, arrived)
    # the presynaptic trace: from each neuron's unit (the neuron, or its first synapse of the
    # longest delay) at the first row read, then the float32 recurrence of the event-by-event
    # runtimes with the spikes in flight
    if rt.d is None:
        unit = np.arange(s.n_pre)
    else:
        unit = np.zeros(s.n_pre, I64)
        is_max = s.steps == s.dmax[rt.pre]
        cand = np.flatnonzero(is_max)[::-1]               # first synapse of a row wins
        unit[rt.pre[cand]] = cand
    base = np.zeros(s.n_pre, rt.real)
    if s.n_syn:
        u = unit[s.has]
        base[s.has] = (rt.X[u] * np.exp(-(n - rt.t0[u]) * rt.lam)).astype(rt.real)
    P = rt.real(np.exp(-rt.dt / s.pre_taus[0]))
    rows = np.zeros((s.H, s.n_pre), rt.real)
    cur = np.zeros(s.n_pre, rt.real)
    for i, m in enumerate(s.row_steps):
        np.multiply(cur, P, out=cur)
        start = s.first == m
        cur[start] = base[start]
        jump = j[(e == m)]
        jump = jump[s.first[jump] < m]
        if jump.size:
            cur[jump] = cur[jump] + rt.real(1.0) if s.all_to_all else rt.real(1.0)
        rows[i] = cur
    out = {"w": w, f"pre.{rt.linear.pre_trace}": s.mask(rows, 0.0),
           f"post.{rt.linear.post_trace}": rt.yv.copy(),
           "spikes.step": e, "spikes.pre": j}
    return out


def _device_array(rt, name: str, size: int) -> np.ndarray:
    with rt.dev.context():
        return np.array(rt.dev.get(rt.v[name]), copy=True)[:size]


def _numpy_order(rt, a: np.ndarray) -> np.ndarray:
    if rt.perm is None:
        return a
    out = np.empty_like(a)
    out[rt.perm] = a
    return out


def _export_cuda(rt, s: _Shape) -> dict:
    from .state import _cuda_weights
    R, n_pre, n_post, n = s.R, s.n_pre, s.n_post, s.n
    out = {"w": _cuda_weights(rt)}
    rows = s.ring_rows()
    xr = _device_array(rt, "xr", len(s.pre_names) * R * n_pre).reshape(-1, R, n_pre)
    for k, name in enumerate(s.pre_names):
        out[f"pre.{name}"] = s.mask(np.asarray(xr[k][rows], rt.real), 0.0)
    y = _device_array(rt, "y", len(s.post_names) * n_post).reshape(-1, n_post)
    for k, name in enumerate(s.post_names):
        out[f"post.{name}"] = np.array(y[k], rt.real)
    if s.track:
        for name in ("pre_last", "pre_prev"):
            ring = _device_array(rt, name, R * n_pre).reshape(R, n_pre)
            out[name.replace("_", ".")] = s.mask(ring[rows], NEVER)
        for name in ("post_last", "post_prev"):
            out[name.replace("_", ".")] = _device_array(rt, name, n_post)
    spk = _device_array(rt, "pre_spk", R * n_pre).reshape(R, n_pre)
    cnt = _device_array(rt, "pre_cnt", R)
    es, js = [], []
    for m in range(max(0, n - R + 2), n):
        c = int(cnt[m % R])
        es.append(np.full(c, m, I64))
        js.append(spk[m % R, :c].astype(I64))
    e, j = s.in_flight(np.concatenate(es) if es else np.zeros(0, I64),
                       np.concatenate(js) if js else np.zeros(0, I64))
    out["spikes.step"], out["spikes.pre"] = e, j
    for name in s.state_names:
        out[name] = _numpy_order(rt, _device_array(rt, "st_" + name, s.n_syn).astype(rt.real))
    if s.lazy:
        out["t1"] = _numpy_order(rt, _device_array(rt, "t1", s.n_syn).astype(I64))
    if s.modulated:
        out["dopamine"] = np.array(rt.d_r, rt.real)
        out["dopamine.step"] = np.array(rt.r_step, I64)
    return out


# -- checks ---------------------------------------------------------------------------------------

def present(state: dict) -> bool:
    return any(k.startswith(PREFIX) for k in state)


def check(rt, state: dict, where: str) -> dict:
    """The portable entries of ``state`` (names without the prefix) checked against ``rt``:
    known keys, dtypes, shapes, ranges; ``ValueError`` naming ``where`` and the entry."""
    from .state import _array, _check_index
    s = _Shape(rt, rt.engine.net._steps_done)
    n = s.n
    sub = {k[len(PREFIX):]: state.get(k) for k in list(state) if k.startswith(PREFIX)}
    where = f"{where}, portable state"

    def get(name, dtype, shape=None, ndim=None, finite=False):
        return _array(where, name, sub.get(name), dtype, shape=shape, ndim=ndim, finite=finite)

    form = sub.get("form")
    if not (isinstance(form, np.ndarray) and form.dtype.kind == "U" and form.shape == ()):
        raise ValueError(f"{where}: 'form' must be a string, got {form!r}")
    if str(form[()]) != s.form:
        raise ValueError(f"{where}: 'form' is {str(form[()])!r}, but the projection's rule "
                         f"{type(rt.rule).__name__} has the form {s.form!r}")
    step = int(get("step", I64, shape=()))
    if step != n:
        raise ValueError(f"{where}: 'step' is {step}, but the network is at step {n}")
    out = {"w": get("w", rt.real, shape=(s.n_syn,), finite=True)}
    w = out["w"]
    if w.size and not (w.min() >= rt.rule.w_min and w.max() <= rt.rule.w_max):
        raise ValueError(f"{where}: 'w' must lie in [w_min, w_max] = [{rt.rule.w_min}, "
                         f"{rt.rule.w_max}], got [{w.min()}, {w.max()}]")
    for side, names, shape in (("pre", s.pre_names, (s.H, s.n_pre)),
                               ("post", s.post_names, (s.n_post,))):
        for name in names:
            key = f"{side}.{name}"
            a = get(key, rt.real, shape=shape, finite=True)
            if a.size and a.min() < 0:
                raise ValueError(f"{where}: trace {key!r} must be >= 0, got {a.min()}")
            out[key] = a
    if s.track:
        for key, shape in (("pre.last", (s.H, s.n_pre)), ("pre.prev", (s.H, s.n_pre)),
                           ("post.last", (s.n_post,)), ("post.prev", (s.n_post,))):
            a = get(key, I64, shape=shape)
            top = s.row_steps[:, None] + 1 if key.startswith("pre") else n
            bad = (a != NEVER) & ((a < 0) | (a >= top))
            if np.any(bad):
                what = "its row's step" if key.startswith("pre") else f"{n}"
                raise ValueError(f"{where}: {key!r} must hold spike steps in [0, {n}), at "
                                 f"most {what}, or {NEVER} (none), got {a[bad][0]}")
            out[key] = a
    e = get("spikes.step", I64, ndim=1)
    j = get("spikes.pre", I32, shape=e.shape)
    _check_index(where, "spikes.pre", j, s.n_pre)
    ne, nj = s.in_flight(e, j)
    if ne.size != e.size or not (np.array_equal(ne, e) and np.array_equal(nj, j)):
        raise ValueError(f"{where}: 'spikes.step'/'spikes.pre' must list spikes in flight "
                         f"(emitted in the last D_j steps before step {n} by a neuron with "
                         f"synapses, D_j its longest delay), sorted by step and neuron, once each")
    out["spikes.step"], out["spikes.pre"] = e, j
    for name in s.state_names:
        out[name] = get(name, rt.real, shape=(s.n_syn,), finite=True)
    if s.lazy:
        t1 = get("t1", I64, shape=(s.n_syn,))
        if t1.size and (t1.min() < -1 or t1.max() >= n):
            raise ValueError(f"{where}: 't1' must hold steps in [-1, {n}), got values in "
                             f"[{t1.min()}, {t1.max()}]")
        out["t1"] = t1
    if s.modulated:
        out["dopamine"] = rt.real(get("dopamine", rt.real, shape=(), finite=True))
        r_step = int(get("dopamine.step", I64, shape=()))
        if not -1 <= r_step < n:
            raise ValueError(f"{where}: 'dopamine.step' must be in [-1, {n}), got {r_step}")
        out["dopamine.step"] = r_step
    unknown = sorted(set(sub) - set(out) - {"form", "step"})
    if unknown:
        raise ValueError(f"{where}: unknown entries {unknown} for the {s.form!r} form")
    out["_shape"] = s
    return out


# -- import ---------------------------------------------------------------------------------------

def load(rt, state: dict, where: str) -> None:
    """Check the portable entries of ``state`` and start ``rt`` from them."""
    p = check(rt, state, where)
    {"cuda": _load_cuda, "numpy": _load_numpy, "deferred": _load_deferred}[_kind(rt)](rt, p)


def _load_numpy(rt, p: dict) -> None:
    s = p["_shape"]
    rows = s.ring_rows()
    rt.w[...] = p["w"]
    for name in s.pre_names:
        rt.xr[name][...] = 0.0
        rt.xr[name][rows] = p[f"pre.{name}"]
    for name in s.post_names:
        rt.y[name][...] = p[f"post.{name}"]
    if s.track:
        for name in ("pre_last", "pre_prev"):
            ring = getattr(rt, name)
            ring[...] = NEVER
            ring[rows] = p[name.replace("_", ".")]
        rt.post_last[...] = p["post.last"]
        rt.post_prev[...] = p["post.prev"]
    rt.pending, rt.arrived = s.schedule(p["spikes.step"], p["spikes.pre"])
    for name in s.state_names:
        rt.syn_state[name][...] = p[name]
    if s.lazy:
        rt.t1[...] = p["t1"]
    if s.modulated:
        rt.d_r, rt.r_step = rt.real(p["dopamine"]), p["dopamine.step"]


def _load_deferred(rt, p: dict) -> None:
    """Settled: reference step ``T = n``, accumulators 0, each trace unit at ``t0 = n`` with
    the trace its synapses see now; the arrivals of step ``n`` depressed one step early, as the
    runtime does (see :class:`~neurosim.plasticity.stdp.StdpDeferredNumpy`)."""
    s = p["_shape"]
    n = s.n
    x = p[f"pre.{rt.linear.pre_trace}"]
    if rt.d is None:                     # row of step n - delay, per neuron
        rt.X[...] = x[s.H - rt.delay].astype(np.float64) if s.H else 0.0
    elif s.n_syn:                        # row of step n - d, per synapse
        rt.X[...] = x[s.H - s.steps, rt.pre].astype(np.float64)
    rt.t0[...] = n
    rt.v[...] = 0.0
    rt.Z[...] = 0.0
    rt.T = n
    rt.history_restart()                 # v = Z = 0, t0 = T: nothing to rebuild Z from
    rt.yv[...] = p[f"post.{rt.linear.post_trace}"]
    rt.w[...] = p["w"]
    rt.pending, arrived = s.schedule(p["spikes.step"], p["spikes.pre"])
    rt.arrived = None
    rt.undo = None
    if arrived is not None:
        np.multiply(rt.yv, rt.a_minus * rt.Pm, out=rt.ydep)
        dep = rt.ydep[rt.post[arrived].astype(np.intp)]
        before = rt.w[arrived].copy()
        applied = bool(rt.rule.enabled) and bool(rt.a_minus)
        rt.undo = (arrived, before, dep, applied)
        if applied:
            rt.w[arrived] = np.maximum(before - dep, rt.w_min)


def _load_cuda(rt, p: dict) -> None:
    s = p["_shape"]
    dev, R, n_pre, n_post = rt.dev, s.R, s.n_pre, s.n_post
    rows = s.ring_rows()

    def flat(a, size, dtype):
        out = np.zeros(max(1, size), dtype)
        out[:a.size] = a.reshape(-1)
        return out

    xr = np.zeros((len(s.pre_names), R, n_pre), rt.real)
    for k, name in enumerate(s.pre_names):
        xr[k][rows] = p[f"pre.{name}"]
    vals = {"xr": flat(xr, xr.size, rt.real)}
    y = (np.stack([p[f"post.{name}"] for name in s.post_names]) if s.post_names
         else np.zeros((0, n_post), rt.real))
    vals["y"] = flat(y, y.size, rt.real)
    if s.track:
        for name in ("pre_last", "pre_prev"):
            ring = np.full((R, n_pre), NEVER, I64)
            ring[rows] = p[name.replace("_", ".")]
            vals[name] = ring.reshape(-1)
        vals["post_last"], vals["post_prev"] = p["post.last"], p["post.prev"]
    spk = np.zeros((R, n_pre), I32)
    cnt = np.zeros(R, I32)
    e, j = p["spikes.step"], p["spikes.pre"]
    cuts = np.flatnonzero(np.diff(e)) + 1
    for part_e, part_j in zip(np.split(e, cuts), np.split(j, cuts)):
        if part_e.size:
            r = int(part_e[0]) % R
            spk[r, :part_j.size] = part_j
            cnt[r] = part_j.size
    vals["pre_spk"], vals["pre_cnt"] = flat(spk, spk.size, I32), cnt
    w = p["w"] if rt.perm is None else p["w"][rt.perm]
    vals["w"] = np.ascontiguousarray(w, rt.real)
    order = (lambda a: a) if rt.perm is None else (lambda a: a[rt.perm])    # noqa: E731
    for name in s.state_names:
        vals["st_" + name] = flat(order(p[name]), s.n_syn, rt.real)
    if s.lazy:
        t1 = order(p["t1"])
        vals["t1"] = flat(t1, t1.size, I64)
        if not t1.size:
            vals["t1"][...] = -1
    if s.modulated:
        vals["dop"] = np.array([p["dopamine"]], rt.real)
        vals["r_step"] = np.array([p["dopamine.step"]], I64)
    for k, a in vals.items():                 # the runtime's own layout (a bug if not)
        dst = rt.v[k]
        assert tuple(dst.shape) == a.shape and np.dtype(dst.dtype) == a.dtype, k
    with dev.context():
        for k, a in vals.items():
            rt.v[k][...] = dev.put(a)
    if s.modulated:
        rt.d_r, rt.r_step = rt.real(p["dopamine"]), p["dopamine.step"]
