"""Checkpoints of a network distributed over MPI ranks, in the single-process file format.

``net.save(path)`` on a distributed network is a collective call (every rank runs the same
script): each rank exports the state of its share (:func:`neurosim.engine.state.export_engine`
with the portable form of its plastic projections), the shares are gathered on every rank
(``allgather``) and put together into the state one process holds for the whole network
(:func:`gather_state`), and rank 0 writes the file. The file is an ordinary checkpoint
(:mod:`neurosim.checkpoint`): ``ns.load(path)`` continues it on one process, with the
single-process engine, and under ``mpirun -n R`` (or with ``comm=``/``distributed=True``) on
any number of ranks, each rank reading the file and keeping its share (:func:`scatter_state`).

How the shares are put together:

- neuron state and refractory counters (``group<g>/...``): each rank's neurons at their
  global ids within their group;
- the delay ring: each rank's ring columns (its neurons' receptor channels) at the columns of
  the single-process ring;
- a plastic projection: only its portable form (``plastic<k>/portable/...``, the form every
  runtime kind loads; the entry ``plastic<k>/kind`` is ``"distributed"``, which no runtime has,
  so a loading runtime always starts from the portable form). Per-synapse arrays are ordered as
  ``proj.sources`` (by source, then target); postsynaptic traces are the ranks' blocks in
  order; presynaptic trace rows (every rank follows every presynaptic neuron's trace from the
  exchanged spikes) come from a rank that holds the neuron's longest-delay synapse, so the
  window of rows the whole projection still reads; spikes in flight are the union of the
  ranks' (each lists the spikes its own synapses still carry); the dopamine level is the
  same on every rank;
- homeostasis (``plastic<k>/theta`` ...): the ranks' blocks in order.

Loading cuts the same arrays the other way: a rank keeps its neurons, ring columns, the
synapses onto its neurons (those of the file's projection arrays whose target it owns, in the
file's order) with their per-synapse state, its block of the postsynaptic and homeostatic
arrays, the presynaptic rows and spikes in flight its synapses still read.

Every rank must see the file to load it (the same path on a shared file system, or a copy per
node); the gathered state is held by every rank during ``save`` (the size of the whole
network's state, as ``proj.weights`` on a distributed network).
"""

from __future__ import annotations

import numpy as np

from ..engine import portable as P
from ..engine.state import _array, export_engine

I32, I64 = np.int32, np.int64
KIND = "distributed"              # plastic<k>/kind of a gathered projection: portable form only


def _global_groups(net):
    """The single-process layout's groups, with their ring columns (as ``build_layout``)."""
    from ..engine.layout import _make_groups, _mark_inputs
    groups, pop_group = _make_groups(net)
    _mark_inputs(net, groups, pop_group)
    width = 0
    for g in groups:
        if any(g.active):
            g.col_offset = width
            width += g.n_cols
    return groups, width


def _ring_columns(engine, full) -> np.ndarray:
    """For each column of this rank's ring, the column of the single-process ring."""
    L = engine.L
    out = np.zeros(L.ring_width, I64)
    for g, gid in zip(L.groups, L.gids):
        if g.col_offset < 0:
            continue
        fg = full[g.index]
        pos = np.asarray(gid, I64) - fg.start
        for ch in range(len(g.channels)):
            out[g.col_offset + ch * g.size + np.arange(g.size)] = (fg.col_offset + ch * fg.size
                                                                 + pos)
    return out


def _local_share(engine) -> dict:
    """What this rank contributes to the gathered state."""
    L = engine.L
    n = engine.net._steps_done
    local = export_engine(engine, portable=True)
    full, _ = _global_groups(engine.net)
    share = {"groups": {}, "ring": local["ring"], "ring_cols": _ring_columns(engine, full),
             "plastic": []}
    for g, gid in zip(L.groups, L.gids):
        if g.is_source:
            continue
        prefix = f"group{g.index}/"
        share["groups"][g.index] = (np.asarray(gid, I64),
                                    {k[len(prefix):]: a for k, a in local.items()
                                     if k.startswith(prefix)})
    for k, rt in enumerate(engine.plastic):
        prefix = f"plastic{k}/"
        own = {name[len(prefix):]: a for name, a in local.items() if name.startswith(prefix)}
        if rt.proj is None:
            share["plastic"].append(own)
            continue
        s = P._Shape(rt, n)
        portable = {name[len(P.PREFIX):]: a for name, a in own.items()
                    if name.startswith(P.PREFIX)}
        share["plastic"].append({"portable": portable, "pre": rt.pre.astype(I64),
                                 "post": rt.post.astype(I64) + rt.post_block,
                                 "dmax": s.dmax, "H": s.H})
    return share


def gather_state(engine) -> dict:
    """Collective: the state of the whole network as one process's engine exports it for a
    checkpoint (``export_engine(..., portable=True)``), on every rank."""
    comm = engine.comm
    if getattr(engine, "cuda", None) is not None:       # DistributedCudaEngine
        raise NotImplementedError(f"net.save() of a network distributed over MPI ranks on "
                                  f"device={engine.name!r} is not supported yet; save it from "
                                  f"a run on device='cpu' (the same network and spikes)")
    mine = _local_share(engine)
    shares = comm.allgather(mine) if comm.Get_size() > 1 else [mine]
    net = engine.net
    full, width = _global_groups(net)
    out = {}
    for g in full:
        if g.is_source:
            continue
        names = shares[0]["groups"][g.index][1]
        for var, a0 in names.items():
            whole = np.zeros(g.size, a0.dtype)
            for sh in shares:
                gid, arrays = sh["groups"][g.index]
                whole[gid - g.start] = arrays[var]
            out[f"group{g.index}/{var}"] = whole
    rows = max(sh["ring"].shape[0] for sh in shares)
    ring = np.zeros((rows, width), engine.L.dtype)
    for sh in shares:
        r = sh["ring"]
        if r.size:
            ring[:r.shape[0], sh["ring_cols"]] = r
    out["ring"] = ring
    for k, rt in enumerate(engine.plastic):
        parts = [sh["plastic"][k] for sh in shares]
        if rt.proj is None:
            out[f"plastic{k}/kind"] = parts[0]["kind"]
            for name in parts[0]:
                if name != "kind":
                    out[f"plastic{k}/{name}"] = np.concatenate([p[name] for p in parts])
            continue
        for name, a in _gather_projection(rt, parts).items():
            out[f"plastic{k}/{P.PREFIX}{name}"] = a
        out[f"plastic{k}/kind"] = np.array(KIND)
        out[f"plastic{k}/w"] = out[f"plastic{k}/{P.PREFIX}w"]
    return out


def _gather_projection(rt, parts: list) -> dict:
    """One plastic projection's portable form for the whole projection, from the ranks'."""
    first = parts[0]["portable"]
    pre = np.concatenate([p["pre"] for p in parts])
    post = np.concatenate([p["post"] for p in parts])
    order = np.lexsort((post, pre))            # as proj.sources (projection_array)
    n_pre = parts[0]["dmax"].size
    H = max(p["H"] for p in parts)
    dmax = np.max([p["dmax"] for p in parts], axis=0)
    out = {"form": first["form"], "step": first["step"]}
    for name, a0 in first.items():
        if name in ("form", "step", "spikes.step", "spikes.pre", "dopamine", "dopamine.step"):
            continue
        if name.startswith("pre."):
            fill = P.NEVER if name in ("pre.last", "pre.prev") else 0
            whole = np.full((H, n_pre), fill, a0.dtype)
            for p in parts:
                cols = np.flatnonzero((p["dmax"] == dmax) & (dmax >= 0))
                rows = p["portable"][name]
                whole[H - rows.shape[0]:, cols] = rows[:, cols]
            out[name] = whole
        elif name.startswith("post."):
            out[name] = np.concatenate([p["portable"][name] for p in parts])
        else:                                    # per synapse: w, state, t1
            out[name] = np.concatenate([p["portable"][name] for p in parts])[order]
    e = np.concatenate([p["portable"]["spikes.step"] for p in parts]).astype(I64)
    j = np.concatenate([p["portable"]["spikes.pre"] for p in parts]).astype(I64)
    srt = np.lexsort((j, e))
    e, j = e[srt], j[srt]
    if e.size > 1:
        new = np.ones(e.size, bool)
        new[1:] = (np.diff(e) != 0) | (np.diff(j) != 0)
        e, j = e[new], j[new]
    out["spikes.step"], out["spikes.pre"] = e, j.astype(I32)
    for name in ("dopamine", "dopamine.step"):
        if name in first:
            out[name] = first[name]
    return out


def scatter_state(engine, state: dict, where: str) -> None:
    """Load the whole network's ``state`` (a checkpoint's, written by one process or
    gathered from any number of ranks) into this rank's share: every rank checks what it
    keeps before writing it and raises ``ValueError`` naming ``where`` and the entry."""
    if getattr(engine, "cuda", None) is not None:       # DistributedCudaEngine
        raise NotImplementedError(f"{where}: continuing a checkpoint on MPI ranks on "
                                  f"device={engine.name!r} is not supported yet; load it with "
                                  f"device='cpu'")
    L = engine.L
    net = engine.net
    n = net._steps_done
    full, width = _global_groups(net)
    local = {}
    known = {"ring"}
    for g, gid in zip(L.groups, L.gids):
        if g.is_source:
            continue
        fg = full[g.index]
        pos = np.asarray(gid, I64) - fg.start
        prefix = f"group{g.index}/"
        for name in [k for k in state if k.startswith(prefix)]:
            a = np.asarray(state[name])
            if a.ndim != 1 or a.size != fg.size:
                raise ValueError(f"{where}: {name!r} has shape {a.shape}; expected "
                                 f"({fg.size},)")
            local[name] = a[pos]
            known.add(name)
    ring = state.get("ring")
    if ring is not None:
        ring = np.asarray(ring)
        if ring.ndim != 2 or (ring.size and ring.shape[1] != width):
            raise ValueError(f"{where}: 'ring' has shape {ring.shape}; this network's delay "
                             f"ring has {width} columns")
        cols = _ring_columns(engine, full)
        local["ring"] = (ring[:, cols] if ring.size
                         else np.zeros((0, L.ring_width), ring.dtype))
    for k, rt in enumerate(engine.plastic):
        prefix = f"plastic{k}/"
        sub = {name[len(prefix):]: state[name] for name in state if name.startswith(prefix)}
        known.update(prefix + name for name in sub)
        w = f"{where}, plastic runtime {k}"
        if rt.proj is None:
            a, b = rt.block
            for name, arr in sub.items():
                arr = np.asarray(arr)
                if name != "kind":
                    if arr.ndim != 1 or arr.size != rt.pop.size:
                        raise ValueError(f"{w}: {name!r} has shape {arr.shape}; expected "
                                         f"({rt.pop.size},)")
                    arr = arr[a:b]
                local[prefix + name] = arr
            continue
        if not P.present(sub):
            raise ValueError(f"{w}: holds no portable state of its projection (a file written "
                             f"before the portable form existed), which a network distributed "
                             f"over MPI ranks needs; load it on one process")
        local.update({prefix + name: a for name, a in
                      _scatter_projection(rt, sub, n, w).items()})
        local[prefix + "kind"] = np.array(KIND)
    unknown = sorted(set(state) - known)
    if unknown:
        raise ValueError(f"{where}: unknown state entries {unknown[:5]}: this network has "
                         f"{len(engine.plastic)} plastic runtimes and the neuron groups' "
                         f"variables")
    # the one-process import of the rank's share: neuron state, ring, homeostasis, and the
    # plastic projections from their portable form (kind "distributed": no runtime's own)
    from ..engine.state import import_engine
    import_engine(engine, local, where)


def _scatter_projection(rt, sub: dict, n: int, where: str) -> dict:
    """The portable form of this rank's synapses of ``rt``'s projection, from the whole
    projection's (``sub``: names without ``plastic<k>/``)."""
    from ..connectivity import Explicit
    proj = rt.proj
    rule = proj.rule
    if not isinstance(rule, Explicit):
        raise ValueError(f"{where}: the state of a whole projection loads into a projection "
                         f"drawn from a checkpoint's arrays (ns.load), not {rule!r}")
    a, b = rt.post_block, rt.post_block + rt.n_post
    idx = np.flatnonzero((rule.post >= a) & (rule.post < b))
    if not (np.array_equal(rule.pre[idx], rt.pre) and
            np.array_equal(rule.post[idx] - a, rt.post)):
        raise ValueError(f"{where}: the synapses of projection {proj.name!r} held by this rank "
                         f"are not those of the file's arrays in their order")
    s = P._Shape(rt, n)
    g = {name[len(P.PREFIX):]: v for name, v in sub.items() if name.startswith(P.PREFIX)}
    out = {}
    n_syn = rule.pre.size
    for name, v in g.items():
        v = np.asarray(v)
        if name in ("form", "step", "dopamine", "dopamine.step", "spikes.step", "spikes.pre"):
            out[name] = v
        elif name.startswith("pre."):
            if v.ndim != 2 or v.shape[1] != rt.n_pre or v.shape[0] < s.H:
                raise ValueError(f"{where}, portable state: {name!r} has shape {v.shape}; "
                                 f"expected (at least {s.H}, {rt.n_pre})")
            fill = P.NEVER if name in ("pre.last", "pre.prev") else 0
            out[name] = s.mask(np.array(v[v.shape[0] - s.H:]), fill)
        elif name.startswith("post."):
            if v.shape != (proj.post.size,):
                raise ValueError(f"{where}, portable state: {name!r} has shape {v.shape}; "
                                 f"expected ({proj.post.size},)")
            out[name] = v[a:b]
        else:
            if v.shape != (n_syn,):
                raise ValueError(f"{where}, portable state: {name!r} has shape {v.shape}; "
                                 f"expected ({n_syn},)")
            out[name] = v[idx]
    if "spikes.step" in out and "spikes.pre" in out:
        e = _array(where, "spikes.step", out["spikes.step"], I64, ndim=1)
        j = _array(where, "spikes.pre", out["spikes.pre"], I32, shape=e.shape)
        if j.size and (j.min() < 0 or j.max() >= rt.n_pre):
            raise ValueError(f"{where}, portable state: 'spikes.pre' holds neurons outside "
                             f"[0, {rt.n_pre})")
        out["spikes.step"], out["spikes.pre"] = s.in_flight(e, j)
    return {P.PREFIX + name: v for name, v in out.items()}


def built_stimulus(engine):
    """The inputs as built (a distributed network refuses stimulus changes), as a
    :class:`~neurosim.engine.stimulus.Stimulus` whose ``export()`` a checkpoint stores."""
    from types import SimpleNamespace

    from ..engine.stimulus import Stimulus
    return Stimulus(SimpleNamespace(net=engine.net, L=engine.L))


def changed_stimulus(engine, stimulus: dict) -> list:
    """The names of a checkpoint's stimulus entries that differ from the inputs as built
    (which a distributed network cannot take)."""
    built = built_stimulus(engine).export()
    names = sorted(set(built) | set(stimulus))
    return [k for k in names if k not in built or k not in stimulus
            or np.shape(built[k]) != np.shape(stimulus[k])
            or not np.array_equal(built[k], stimulus[k])]
