"""The dynamic state of a built engine as plain NumPy arrays, and back.

Used twice: by :meth:`Network.run` to roll a failed chunk of steps back to its first step (see
:mod:`neurosim.engine.interrupts`), and by checkpoints (:mod:`neurosim.checkpoint`). The state
at a step boundary ``n`` (``n`` steps done) is a flat dict ``name -> array``:

- ``group<g>/<var>``: every state variable of neuron group ``g`` (float32, group size; every
  float32 array here, plasticity's and homeostasis' included, is float64 in a
  ``Network(precision="double")``);
- ``group<g>/ref_left``: per neuron, how many of the coming updates are still refractory
  (int32; 0 for none) — the CUDA kernels' counter, and the NumPy engine's batches rebuilt;
- ``ring``: the delay ring as (slots, columns) float32, row ``k`` what arrives in step
  ``n + k`` (independent of the ring's size and phase, so either engine can take it);
- ``plastic<k>/<name>``: the state of the k-th plastic runtime (projections, then homeostasis)
  as its backend keeps it (:func:`plastic_export`), with ``plastic<k>/kind`` naming that
  runtime class; homeostasis variables (``theta``, ``r``, ``counts``) have the same names on
  both backends;
- ``plastic<k>/portable/<name>`` (checkpoints only, ``export_engine(..., portable=True)``):
  a plastic projection's state in the form every runtime reads (:mod:`.portable`); a runtime
  of another kind than ``plastic<k>/kind`` starts from it, one of the same kind checks it and
  loads its own form;
- ``class<c>/weights``: static synapse weights (only with ``static_weights=True``: a rollback
  when synaptic scaling may have changed them; checkpoints keep weights with the projections).

What follows from ``n`` is not stored: the position in the Philox stream (``n`` times the draws
of a step) and the injected currents (replayed up to ``n``). Every import checks names, shapes,
dtypes and index ranges of a part before it writes that part, and raises ``ValueError`` naming
``where`` (a checkpoint that fails half-way is discarded with the network being loaded).
"""

from __future__ import annotations

import re
from collections import deque

import numpy as np

I32, I64, F32 = np.int32, np.int64, np.float32


def philox_at(key, position: int):
    """A ``np.random.Philox`` of ``key`` that has drawn ``position`` raw values."""
    bg = np.random.Philox(key=np.asarray(key, np.uint64),
                          counter=np.array([position // 4, 0, 0, 0], np.uint64))
    if position % 4:
        bg.random_raw(position % 4)
    return bg


def ring_export(ring2d, n: int, dtype=F32) -> np.ndarray:
    """(slots, width) rows in arrival order from step ``n`` (``ring2d`` row ``a % slots``)."""
    if ring2d is None or ring2d.shape[0] == 0:
        return np.zeros((0, 0 if ring2d is None else ring2d.shape[1]), dtype)
    D = ring2d.shape[0]
    return np.ascontiguousarray(ring2d[(n + np.arange(D)) % D], dtype)


def ring_import(rows: np.ndarray, slots: int, width: int, n: int, where: str,
                dtype=F32) -> np.ndarray:
    """The (slots, width) ring holding ``rows`` (arrival order from step ``n``)."""
    rows = _array(where, "ring", rows, dtype, ndim=2)
    out = np.zeros((slots, width), dtype)
    if rows.size == 0:
        return out
    if rows.shape[1] != width:
        raise ValueError(f"{where}: 'ring' has {rows.shape[1]} columns, this network's delay "
                         f"ring has {width}")
    used = np.flatnonzero(np.any(rows != 0, axis=1))
    if used.size and used[-1] >= slots:
        raise ValueError(f"{where}: 'ring' holds spikes arriving {int(used[-1])} steps ahead, "
                         f"more than this network's longest delay ({slots} steps)")
    if not np.all(np.isfinite(rows)):
        raise ValueError(f"{where}: 'ring' holds non-finite values")
    k = min(slots, rows.shape[0])
    out[(n + np.arange(k)) % slots] = rows[:k]
    return out


def ref_batches(ref_left: np.ndarray, n: int):
    """NumPy engine refractory batches ``[(last clamped step, sorted indices)]`` from counts."""
    idx = np.flatnonzero(ref_left > 0)
    ends = n - 1 + ref_left[idx].astype(I64)
    batches = []
    for e in np.unique(ends):
        batches.append((int(e), idx[ends == e].astype(I64)))
    return batches


def check_ref_left(where: str, name: str, ref_left, size: int, n_ref) -> np.ndarray:
    ref_left = _array(where, name, ref_left, I32, shape=(size,))
    top = 0 if n_ref is None else int(np.max(n_ref))
    if ref_left.size and (ref_left.min() < 0 or ref_left.max() > top):
        raise ValueError(f"{where}: {name!r} must lie in [0, {top}] (the refractory steps), got "
                         f"values in [{ref_left.min()}, {ref_left.max()}]")
    return ref_left


def check_state_var(where: str, name: str, values, size: int, dtype=F32) -> np.ndarray:
    return _array(where, name, values, dtype, shape=(size,))


# -- engines --------------------------------------------------------------------------------------

def export_engine(engine, static_weights: bool = False, portable: bool = False,
                  rollback: dict | None = None) -> dict:
    """The state of ``engine`` after ``engine.net._steps_done`` steps (host copies); with
    ``portable``, also each plastic projection's portable form (:mod:`.portable`).

    ``rollback`` (a dict: the previous rollback copy, or empty) makes a rollback copy for
    :mod:`.interrupts`, to be read back only by ``import_engine(..., "rollback")``: the
    per-synapse arrays of NumPy plastic runtimes are copied into the previous copy's buffers
    (no fresh pages to fault in every chunk), and ``Z`` of the deferred STDP runtime is not
    copied where it can be rebuilt (:meth:`~neurosim.plasticity.stdp.StdpDeferredNumpy.rollback_mark`)."""
    n = engine.net._steps_done
    cuda = hasattr(engine, "dev")
    out = {}
    for rt in (engine.groups if cuda else engine.neurons):
        g = rt.g
        if g.is_source:
            continue
        states = rt.state if cuda else rt.s
        for var, arr in states.items():
            out[f"group{g.index}/{var}"] = _host(engine.dev, arr) if cuda else arr.copy()
        if g.n_ref is None:
            ref = np.zeros(g.size, I32)
        elif cuda:
            ref = _host(engine.dev, rt.values["ref"]).astype(I32)
        else:
            ref = np.zeros(g.size, I32)
            if rt.batches:              # one scatter for all batches (a snapshot per chunk)
                idx = np.concatenate([b[1] for b in rt.batches])
                left = np.repeat([max(0, end - n + 1) for end, _ in rt.batches],
                                 [b[1].size for b in rt.batches]).astype(I32)
                np.maximum.at(ref, idx, left)
        out[f"group{g.index}/ref_left"] = ref
    L = engine.L
    if cuda:
        ring = _host(engine.dev, engine.ring)[:L.ring_slots * L.ring_width]
        ring = ring.reshape(L.ring_slots, L.ring_width) if L.ring_slots else None
    else:
        ring = engine.ring
    out["ring"] = ring_export(ring, n, L.dtype)
    for k, rt in enumerate(engine.plastic):
        pre = f"plastic{k}/"
        reuse = None if rollback is None else {
            name[len(pre):]: a for name, a in rollback.items() if name.startswith(pre)}
        out.update({pre + name: a for name, a in plastic_export(rt, reuse).items()})
    if portable:
        from . import portable as P
        for k, rt in enumerate(engine.plastic):
            if P.is_projection(rt):
                out.update({f"plastic{k}/{name}": a for name, a in P.export(rt).items()})
    if static_weights:
        for ci in range(len(L.classes)):
            out[f"class{ci}/weights"] = np.array(engine._class_arrays(ci)[1], L.dtype, copy=True)
    return out


def import_engine(engine, state: dict, where: str) -> None:
    """Load ``state`` (from :func:`export_engine`, maybe of the other engine) into ``engine``,
    at step ``engine.net._steps_done``. Neuron state, refractory counters, the ring and static
    weights are all checked before any is written; each plastic runtime checks its part
    before writing it."""
    n = engine.net._steps_done
    cuda = hasattr(engine, "dev")
    L = engine.L
    writes, known = [], {"ring"}
    for rt in (engine.groups if cuda else engine.neurons):
        g = rt.g
        if g.is_source:
            continue
        states = rt.state if cuda else rt.s
        for var in states:
            key = f"group{g.index}/{var}"
            writes.append((rt, var, check_state_var(where, key, state.get(key), g.size,
                                                    L.dtype)))
            known.add(key)
        key = f"group{g.index}/ref_left"
        writes.append((rt, None, check_ref_left(where, key, state.get(key), g.size, g.n_ref)))
        known.add(key)
    ring = ring_import(state.get("ring"), L.ring_slots, L.ring_width, n, where, L.dtype)
    subs = [_Tracked() for _ in engine.plastic]
    weights = []
    for name, a in state.items():
        m = re.fullmatch(r"plastic(\d+)/(.+)", name)
        c = re.fullmatch(r"class(\d+)/weights", name)
        if m and int(m.group(1)) < len(subs):
            subs[int(m.group(1))][m.group(2)] = a
        elif c and int(c.group(1)) < len(L.classes):
            ci = int(c.group(1))
            weights.append((ci, _array(where, name, a, L.dtype,
                                       shape=(L.classes[ci].n_synapses,))))
        elif name not in known:
            raise ValueError(f"{where}: unknown state entry {name!r}: this network has "
                             f"{len(subs)} plastic runtimes, {len(L.classes)} synapse classes "
                             f"and the neuron groups' variables")
    plastic = [(rt, sub, f"{where}, plastic runtime {k}")
               for k, (rt, sub) in enumerate(zip(engine.plastic, subs))]
    # writes; a plastic runtime checks its part before it writes it
    for rt, sub, w in plastic:
        plastic_import(rt, sub, w)
        unused = sorted(set(sub) - sub.seen)
        if unused:
            raise ValueError(f"{w}: unknown entries {unused} for a {_kind(rt)} runtime")
    for rt, var, a in writes:
        if cuda:
            with engine.dev.context():
                dst = rt.state[var] if var is not None else rt.values.get("ref")
                if var is not None or rt.g.n_ref is not None:
                    dst[...] = engine.dev.put(a)
        elif var is not None:
            rt.s[var][...] = a
        else:
            rt.batches = deque(ref_batches(a, n))
            rt._rebuild()
    if cuda:
        if L.ring_slots:
            with engine.dev.context():
                engine.ring[:ring.size] = engine.dev.put(ring.reshape(-1))
    elif engine.ring is not None:
        engine.ring[...] = ring
    for ci, w in weights:
        if cuda:
            with engine.dev.context():
                engine.classes[ci].weights[:w.size] = engine.dev.put(w)
        else:
            L.classes[ci].weights[...] = w
    engine.seek(n)


# -- plastic runtimes -----------------------------------------------------------------------------

def _kind(rt) -> str:
    return type(rt).__name__


def plastic_export(rt, rollback: dict | None = None) -> dict:
    """The state of one plastic or homeostatic runtime (copies), without settling lazy rules;
    ``rollback``: see :func:`export_engine`."""
    from ..plasticity import cuda_runtime as C
    from ..plasticity import homeostasis as H
    from ..plasticity.numpy_runtime import PlasticRuntime
    out = {"kind": np.array(_kind(rt))}
    if isinstance(rt, C.CudaPlasticRuntime):
        out.update(_cuda_plastic_export(rt))
    elif isinstance(rt, PlasticRuntime):
        out.update(_numpy_plastic_export(rt, rollback))
    elif isinstance(rt, C.HomeostasisCuda):         # a described rule's state, by name
        out.update({k: _host(rt.dev, rt.v[k]) for k in rt.state_names})
    elif isinstance(rt, C.SynapticScalingCuda):
        out.update({k: _host(rt.dev, rt.v[k]) for k in ("r", "counts") if k in rt.v})
    elif isinstance(rt, H.HomeostasisNumpy):
        out.update({k: a.copy() for k, a in rt.state.items()})
    elif isinstance(rt, H.SynapticScalingNumpy):
        out.update({k: a.copy() for k, a in rt.state.items()})
    else:
        raise TypeError(f"no state export for plastic runtime {_kind(rt)}")
    return out


def plastic_import(rt, state: dict, where: str) -> None:
    """Check ``state`` (as :func:`plastic_export` made it) against ``rt`` and load it."""
    from ..plasticity import cuda_runtime as C
    from ..plasticity import homeostasis as H
    from ..plasticity.numpy_runtime import PlasticRuntime
    from . import portable as P
    kind = str(state.get("kind", np.array("?"))[()])
    portable = {"AdaptiveThresholdNumpy": "AdaptiveThresholdCuda",
                "IntrinsicPlasticityNumpy": "IntrinsicPlasticityCuda",
                "SynapticScalingNumpy": "SynapticScalingCuda",
                "HomeostasisNumpy": "HomeostasisCuda"}            # a user's described rule
    same = kind == _kind(rt) or portable.get(kind) == _kind(rt) or portable.get(_kind(rt)) == kind
    if not same:
        if not (isinstance(rt, PlasticRuntime) and P.present(state)):
            raise ValueError(f"{where}: holds the state of a {kind} runtime but this network "
                             f"runs {_kind(rt)}, and no portable state of it (written by an "
                             f"earlier neurosim): load it on the device it was saved from")
        for name in list(state):        # the other runtime's own form: not used here
            if not name.startswith(P.PREFIX):
                state.get(name)
        return P.load(rt, state, where)
    if isinstance(rt, PlasticRuntime) and P.present(state):
        P.check(rt, state, where)      # checked like the rest, though the own form is used
    if isinstance(rt, C.CudaPlasticRuntime):
        return _cuda_plastic_import(rt, state, where)
    if isinstance(rt, PlasticRuntime):
        return _numpy_plastic_import(rt, state, where)
    if isinstance(rt, (C.HomeostasisCuda, C.SynapticScalingCuda)):
        names = (rt.state_names if isinstance(rt, C.HomeostasisCuda)
                 else [k for k in ("r", "counts") if k in rt.v])
        vals = {k: _array(where, k, state.get(k), rt.real, shape=(int(rt.v["size"]),),
                          finite=True) for k in names}
        with rt.dev.context():
            for k, a in vals.items():
                rt.v[k][...] = rt.dev.put(a)
            shift = getattr(getattr(rt, "description", None), "threshold", None)
            if shift is not None:       # the group's threshold: base + shift, as at build
                off, size = int(rt.v["off"]), int(rt.v["size"])
                base = np.array(rt.dev.get(rt.v["base"]), rt.real)
                rt.v["thr"][off:off + size] = rt.dev.put(base + vals[shift])
        return None
    arrays = []
    if isinstance(rt, H.HomeostasisNumpy):
        arrays += [(a, k) for k, a in rt.state.items()]
    if isinstance(rt, H.SynapticScalingNumpy):
        arrays += [(a, k) for k, a in rt.state.items()]
    vals = [(dst, _array(where, k, state.get(k), dst.dtype, shape=dst.shape, finite=True))
            for dst, k in arrays]
    for dst, a in vals:
        dst[...] = a
    if isinstance(rt, H.HomeostasisNumpy) and rt.shift is not None:
        rt.shift.apply()
    return None


def _numpy_fixed(rt) -> list:
    """(name, array) of the fixed-size state arrays of a NumPy plastic runtime."""
    out = [("w", rt.w)]
    out += [(f"xr.{k}", a) for k, a in rt.xr.items()] + [(f"y.{k}", a) for k, a in rt.y.items()]
    if rt.track_times:
        out += [(k, getattr(rt, k)) for k in ("pre_last", "pre_prev", "post_last", "post_prev")]
    for k in ("X", "t0", "yv", "ydep", "v", "Z", "t1"):
        a = rt.__dict__.get(k)
        if isinstance(a, np.ndarray):
            out.append((k, a))
    out += list(getattr(rt, "syn_state", {}).items())      # a described rule's state, by name
    return out


def _numpy_plastic_export(rt, rollback: dict | None = None) -> dict:
    mark = rt.rollback_mark() if rollback is not None and "T" in rt.__dict__ else None
    out = {}
    for k, a in _numpy_fixed(rt):
        if k == "Z" and mark is not None:       # rebuilt on rollback, not copied
            out[k], out["Z.replay"] = a, np.array(_Replay(mark), dtype=object)
            continue
        b = None if rollback is None else rollback.get(k)
        if (isinstance(b, np.ndarray) and b is not a and b.shape == a.shape
                and b.dtype == a.dtype):
            np.copyto(b, a)
            out[k] = b
        else:
            out[k] = a.copy()
    steps = sorted(rt.pending)
    parts = [np.concatenate(rt.pending[s]).astype(I64) for s in steps]
    out["pending.steps"] = np.array(steps, I64)
    out["pending.sizes"] = np.array([p.size for p in parts], I64)
    out["pending.values"] = np.concatenate(parts) if parts else np.zeros(0, I64)
    out["arrived.set"] = np.array(rt.arrived is not None)
    out["arrived"] = (np.zeros(0, I64) if rt.arrived is None else rt.arrived.astype(I64))
    if "T" in rt.__dict__:                           # StdpDeferredNumpy
        out["T"] = np.array(rt.T, I64)
        undo = rt.undo
        out["undo.set"] = np.array(undo is not None)
        syn, before, dep, applied = undo if undo is not None else (
            np.zeros(0, I64), np.zeros(0, rt.real), np.zeros(0, rt.real), False)
        out.update({"undo.syn": syn.astype(I64), "undo.before": before.copy(),
                    "undo.dep": dep.copy(), "undo.applied": np.array(bool(applied))})
    if "d_r" in rt.__dict__:                         # RewardNumpy
        out["d_r"] = np.array(rt.d_r, rt.real)
        out["r_step"] = np.array(rt.r_step, I64)
    return out


def _numpy_plastic_import(rt, state, where) -> None:
    n_syn, n_pre = rt.pre.size, rt.n_pre
    fixed = [(k, dst, _array(where, k, state.get(k), dst.dtype, shape=dst.shape))
             for k, dst in _numpy_fixed(rt)]
    w = fixed[0][2]
    if w.size and not (w.min() >= rt.rule.w_min and w.max() <= rt.rule.w_max):
        raise ValueError(f"{where}: plastic weights 'w' must lie in [w_min, w_max] = "
                         f"[{rt.rule.w_min}, {rt.rule.w_max}], got [{w.min()}, {w.max()}]")
    steps = _array(where, "pending.steps", state.get("pending.steps"), I64, ndim=1)
    sizes = _array(where, "pending.sizes", state.get("pending.sizes"), I64, shape=steps.shape)
    values = _array(where, "pending.values", state.get("pending.values"), I64, ndim=1)
    if sizes.size and (sizes.min() < 1 or int(sizes.sum()) != values.size):
        raise ValueError(f"{where}: 'pending.sizes' must be positive and add up to the "
                         f"{values.size} entries of 'pending.values'")
    bound = n_pre if rt.d is None else n_syn
    _check_index(where, "pending.values", values, bound)
    arrived_set = bool(_array(where, "arrived.set", state.get("arrived.set"), bool, shape=()))
    arrived = _array(where, "arrived", state.get("arrived"), I64, ndim=1)
    _check_index(where, "arrived", arrived, n_syn)
    extra = {}
    if "T" in rt.__dict__:
        extra["T"] = int(_array(where, "T", state.get("T"), I64, shape=()))
        uset = bool(_array(where, "undo.set", state.get("undo.set"), bool, shape=()))
        usyn = _array(where, "undo.syn", state.get("undo.syn"), I64, ndim=1)
        _check_index(where, "undo.syn", usyn, n_syn)
        ub = _array(where, "undo.before", state.get("undo.before"), rt.real, shape=usyn.shape)
        ud = _array(where, "undo.dep", state.get("undo.dep"), rt.real, shape=usyn.shape)
        ua = bool(_array(where, "undo.applied", state.get("undo.applied"), bool, shape=()))
        extra["undo"] = (usyn, ub.copy(), ud.copy(), ua) if uset else None
        replay = state.get("Z.replay")
        if replay is not None and not (isinstance(replay, np.ndarray) and replay.shape == ()
                                       and isinstance(replay[()], _Replay)):
            raise ValueError(f"{where}: 'Z.replay' is part of a rollback copy only")
    if "d_r" in rt.__dict__:
        extra["d_r"] = rt.real(_array(where, "d_r", state.get("d_r"), rt.real, shape=(),
                                      finite=True))
        extra["r_step"] = int(_array(where, "r_step", state.get("r_step"), I64, shape=()))
    for _, dst, a in fixed:
        dst[...] = a
    cuts = np.cumsum(sizes)[:-1] if sizes.size else []
    rt.pending = {int(s): [p] for s, p in zip(steps, np.split(values, cuts))}
    rt.arrived = arrived if arrived_set else None
    for k, v in extra.items():
        setattr(rt, k, v)
    if "T" in rt.__dict__:                           # StdpDeferredNumpy: Z rebuilt or foreign
        if replay is not None:
            rt.rollback_restore(replay[()].mark)
        else:
            rt.history_restart(known=False)


_CUDA_KEYS = ("xr", "y", "pre_spk", "pre_cnt", "pre_last", "pre_prev", "post_last",
              "post_prev", "t1", "dop", "r_step")


def _cuda_keys(rt) -> list:
    """(entry name, key of rt.v) of a CUDA runtime's state: the machinery's arrays and the
    described rule's per-synapse state (``st_<name>`` on the device, ``<name>`` saved)."""
    out = [(k, k) for k in _CUDA_KEYS if k in rt.v]
    return out + [(name, "st_" + name) for name in getattr(rt, "syn_names", ())]


def _cuda_plastic_export(rt) -> dict:
    out = {"w": _cuda_weights(rt)}
    for name, k in _cuda_keys(rt):
        out[name] = _host(rt.dev, rt.v[k])
    if "d_r" in rt.__dict__:
        out["d_r_host"] = np.array(rt.d_r, rt.real)
        out["r_step_host"] = np.array(rt.r_step, I64)
    return out


def _cuda_weights(rt) -> np.ndarray:
    """Plastic weights in NumPy-runtime order, read without settling lazy rules."""
    with rt.dev.context():
        w = np.array(rt.dev.get(rt.v["w"]), rt.real)
    if rt.perm is None:
        return w
    out = np.empty_like(w)
    out[rt.perm] = w
    return out


def _cuda_plastic_import(rt, state, where) -> None:
    dev = rt.dev
    w = _array(where, "w", state.get("w"), rt.real, shape=(rt.pre.size,))
    if w.size and not (w.min() >= rt.rule.w_min and w.max() <= rt.rule.w_max):
        raise ValueError(f"{where}: plastic weights 'w' must lie in [w_min, w_max] = "
                         f"[{rt.rule.w_min}, {rt.rule.w_max}], got [{w.min()}, {w.max()}]")
    vals = {}
    for name, k in _cuda_keys(rt):
        cur = rt.v[k]
        vals[k] = _array(where, name, state.get(name), np.dtype(cur.dtype),
                         shape=tuple(cur.shape))
    if "pre_cnt" in vals:
        _check_index(where, "pre_cnt", vals["pre_cnt"], rt.n_pre + 1)
        _check_index(where, "pre_spk", vals["pre_spk"], max(1, rt.n_pre))
    host = {}
    if "d_r" in rt.__dict__:
        host["d_r"] = rt.real(_array(where, "d_r_host", state.get("d_r_host"), rt.real,
                                     shape=(), finite=True))
        host["r_step"] = int(_array(where, "r_step_host", state.get("r_step_host"), I64,
                                    shape=()))
    with dev.context():
        rt.v["w"][...] = dev.put(w if rt.perm is None else w[rt.perm])
        for k, a in vals.items():
            rt.v[k][...] = dev.put(a)
    for k, v in host.items():
        setattr(rt, k, v)


class _Replay:
    """What rebuilds ``Z`` of a deferred STDP runtime in a rollback copy (an object, so that
    no saved or user-made state can hold one)."""

    __slots__ = ("mark",)

    def __init__(self, mark):
        self.mark = mark


class _Tracked(dict):
    """A dict that remembers which keys were asked for (to refuse unknown entries)."""

    def __init__(self):
        super().__init__()
        self.seen = set()

    def get(self, key, default=None):
        self.seen.add(key)
        return super().get(key, default)


# -- checks ---------------------------------------------------------------------------------------

def _host(dev, a) -> np.ndarray:
    with dev.context():
        return np.array(dev.get(a), copy=True)


def _check_index(where, name, a, bound) -> None:
    if a.size and (a.min() < 0 or a.max() >= bound):
        raise ValueError(f"{where}: {name!r} must hold indices in [0, {bound}), got values in "
                         f"[{a.min()}, {a.max()}]")


def _array(where, name, a, dtype, shape=None, ndim=None, finite=False) -> np.ndarray:
    """``a`` as an array of exactly ``dtype`` and ``shape`` (or ``ndim``), else ValueError."""
    if a is None:
        raise ValueError(f"{where}: {name!r} is missing")
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{where}: {name!r} must be an array, got {type(a).__name__}")
    if a.dtype != np.dtype(dtype):
        raise ValueError(f"{where}: {name!r} must have dtype {np.dtype(dtype)}, got {a.dtype}")
    if shape is not None and a.shape != tuple(shape):
        raise ValueError(f"{where}: {name!r} must have shape {tuple(shape)}, got {a.shape}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{where}: {name!r} must be {ndim}-dimensional, got shape {a.shape}")
    if finite and a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise ValueError(f"{where}: {name!r} holds non-finite values")
    return a


# -- fast rollback copies on the device -------------------------------------------------------------

_MUTABLE = ("w", "xr", "y", "pre_spk", "pre_cnt", "pre_last", "pre_prev", "post_last",
            "post_prev", "c", "t1", "dop", "r_step", "theta", "thr", "r", "counts", "total",
            "factor")


class DeviceSnapshot:
    """Rollback copies of a CUDA engine's mutable arrays, kept in device memory (one set of
    buffers, reused every chunk: a device-to-device copy instead of a transfer to the host).
    Built with :meth:`create`, which returns None where the buffers do not fit; the caller then
    uses :func:`export_engine`."""

    def __init__(self, engine, arrays, buffers):
        self.engine, self.arrays, self.buffers = engine, arrays, buffers
        self.host: dict = {}
        self.n = 0

    @staticmethod
    def arrays_of(engine, static_weights: bool) -> list:
        out, seen = [], set()

        def add(a):
            if a is not None and id(a) not in seen and getattr(a, "size", 0):
                seen.add(id(a))
                out.append(a)
        for rt in engine.groups:
            if rt.is_source:
                continue
            for a in rt.state.values():
                add(a)
            if rt.g.n_ref is not None:
                add(rt.values["ref"])
        add(engine.ring)
        for rt in engine.plastic:
            v = getattr(rt, "v", {})
            for k in (*_MUTABLE, *getattr(rt, "state_names", ())):
                add(v.get(k))
        if static_weights:
            for c in engine.classes:
                add(c.weights)
        return out

    @classmethod
    def create(cls, engine, static_weights: bool):
        arrays = cls.arrays_of(engine, static_weights)
        try:
            with engine.dev.context():
                buffers = [engine.xp.empty_like(a) for a in arrays]
        except MemoryError:
            return None
        return cls(engine, arrays, buffers)

    def take(self) -> "DeviceSnapshot":
        with self.engine.dev.context():
            for a, b in zip(self.arrays, self.buffers):
                b[...] = a
        self.n = self.engine.net._steps_done
        self.host = {id(rt): (rt.d_r, rt.r_step) for rt in self.engine.plastic
                     if "d_r" in rt.__dict__}
        return self

    def restore(self) -> None:
        with self.engine.dev.context():
            for a, b in zip(self.arrays, self.buffers):
                a[...] = b
        for rt in self.engine.plastic:
            if id(rt) in self.host:
                rt.d_r, rt.r_step = self.host[id(rt)]
        self.engine.seek(self.n)


# -- plasticity and homeostasis state by name (Network.get_state / set_state) --------------------

HOMEOSTASIS_NAMES = {"theta": "theta", "rate_estimate": "r"}


def plastic_names(rt) -> tuple:
    """The variables of a plastic runtime that ``get_state``/``set_state`` take.

    A plastic projection: ``pre.<trace>`` (one value per presynaptic neuron: the trace as of
    the last step, ``x`` for STDP and reward STDP, ``r1``/``r2`` for triplet STDP),
    ``post.<trace>`` (per postsynaptic neuron: ``y``; triplet ``o1``/``o2``), and for reward
    STDP ``c`` (eligibility, per synapse in the projection's order) and ``dopamine`` (one
    value). A homeostatic rule: ``theta`` (mV, per neuron; threshold rules) and
    ``rate_estimate`` (Hz, per neuron; rules that estimate rates).
    """
    from . import portable as P
    if P.is_projection(rt):
        s = P._Shape(rt, rt.engine.net._steps_done)
        names = [f"pre.{k}" for k in s.pre_names] + [f"post.{k}" for k in s.post_names]
        return tuple(names + (["c", "dopamine"] if s.form == "reward" else []))
    have = plastic_export(rt)
    return tuple(k for k, v in HOMEOSTASIS_NAMES.items() if v in have)


def plastic_get(rt, name: str) -> np.ndarray:
    """A copy of variable ``name`` (see :func:`plastic_names`) of plastic runtime ``rt``."""
    from . import portable as P
    if P.is_projection(rt):
        a = P.export(rt)[P.PREFIX + name]
        return np.array(a[-1] if name.startswith("pre.") else a, copy=True)
    return np.array(plastic_export(rt)[HOMEOSTASIS_NAMES[name]], copy=True)


def plastic_set(rt, name: str, values, where: str) -> None:
    """Set variable ``name`` of ``rt`` (``values`` in the network's real type, checked by the
    caller for size and finiteness); a presynaptic trace is set in every step its synapses still read, so each
    synapse sees ``values`` whatever its delay. Goes through the portable form of the
    projection (:mod:`.portable`) or the homeostatic runtime's export, so every runtime kind
    takes it the same way."""
    from . import portable as P
    if P.is_projection(rt):
        state = P.export(rt)
        s = P._Shape(rt, rt.engine.net._steps_done)
        key = P.PREFIX + name
        if name.startswith("pre."):
            rows = np.broadcast_to(np.asarray(values, rt.real), (s.H, s.n_pre))
            state[key] = s.mask(np.array(rows), 0.0)
        else:
            state[key] = np.asarray(values, rt.real).reshape(state[key].shape)
        return P.load(rt, state, where)
    state = plastic_export(rt)
    state[HOMEOSTASIS_NAMES[name]] = np.asarray(values, rt.real)
    plastic_import(rt, state, where)


def reset_traces(rt, where: str) -> None:
    """Every trace of plastic projection ``rt`` to 0 (and, for ``"nearest_reduced"`` pairing,
    no last spikes): the rule forgets the spikes before now; weights, spikes in flight and
    eligibility are kept."""
    from . import portable as P
    state = P.export(rt)
    for key in list(state):
        name = key[len(P.PREFIX):]
        if name.startswith(("pre.", "post.")):
            if name.endswith((".last", ".prev")):
                state[key] = np.full_like(state[key], P.NEVER)
            else:
                state[key] = np.zeros_like(state[key])
    P.load(rt, state, where)
