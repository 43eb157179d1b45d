"""One rank's share of a network: its neurons, its synapses, its random draws.

**Partition.** Every population of ``n`` neurons is cut into ``R`` contiguous blocks; rank
``r`` owns ``[n*r//R, n*(r+1)//R)``. NEST deals neurons round-robin to balance the load;
cutting *every population* into equal blocks balances it just as well (each rank gets
``1/R`` of each population, so of each kind of work), and contiguous blocks keep each rank's
Poisson draws one contiguous stretch of the network's Philox stream per input, its ring
columns and state slices plain slices, and its spike ids sorted.

**Global ids.** A neuron's global id is its id in the single-process layout (groups of
populations of one model, in order); spikes travel as global ids.

**Synapses.** A rank holds the synapses whose target it owns, in CSR rows over *all* global
source ids (any neuron's spike may reach it), in synapse classes per constant delay as the
single-process layout (:mod:`neurosim.engine.layout`).

**Draws that do not depend on the rank count** (so a seed gives the same network and spikes
on any number of ranks):

- initial values: each rank draws the whole population's values from the population's stream
  ``(seed, 0, population)``, as on one process, and keeps its block (cheap: O(neurons));
- Poisson inputs and Poisson sources: the network's per-step Philox stream at the global
  position ``step * W + offset + neuron`` (W: draws per step of the whole network), read by
  each rank for its block only;
- static connectivity, per *target chunk*: the targets of a projection are cut into chunks of
  :data:`TARGET_CHUNK` neurons and chunk ``c`` draws its incoming synapses (sources, then
  weights, then delays) from ``rng_for(seed, 5, projection, c)``. A rank draws the chunks that
  overlap its block and keeps its targets: ``FixedIndegree`` (k sources per target),
  ``FixedProbability`` (Bernoulli over each target's column), ``FixedTotalNumber`` (the
  multinomial counts per target from ``(seed, 6, projection)``, drawn whole on every rank:
  O(n_post); then each target's sources in its chunk), ``AllToAll`` and ``OneToOne``; with
  weights and delays given as numbers or distributions. The other projections
  (``FixedOutdegree``, ``Explicit``, rules without multapses, array weights or delays) are
  drawn whole from the projection's single-process stream on every rank, which keeps only its
  targets: the same network on any rank count, at the cost of every rank drawing them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import distributions as D
from ..connectivity import (AllToAll, FixedIndegree, FixedProbability, FixedTotalNumber,
                            OneToOne, _bernoulli_positions)
from ..engine import layout as LO
from ..engine.layout import (Group, Layout, PoissonDrive, SynapseClass, _compact_counts,
                             _delay_key, _delay_steps, _make_groups, _mark_inputs, _sample_into,
                             philox_key, rng_for)
from ..models.sources import PoissonSource, SpikeSource
from ..rng import poisson_cdf_table

TARGET_CHUNK = 256              # targets per connectivity draw (part of the scheme: fixed)
CONNECT_SPAWN = 5               # rng_for(seed, 5, projection, chunk)
TOTAL_SPAWN = 6                 # rng_for(seed, 6, projection): FixedTotalNumber's counts


def block(n: int, rank: int, size: int) -> tuple[int, int]:
    """The neurons ``[a, b)`` of a population of ``n`` that ``rank`` of ``size`` owns."""
    return n * rank // size, n * (rank + 1) // size


@dataclass
class LocalLayout(Layout):
    """A :class:`~neurosim.engine.layout.Layout` of one rank's share, plus what maps it to the
    whole network."""

    rank: int = 0
    size: int = 1
    blocks: dict = None             # population index -> (a, b) owned
    gids: list = None               # per local group: int64 global ids of its neurons
    n_global: int = 0               # neurons of the whole network
    rng_segments: list = None       # (local offset, global offset, length) per step
    rng_width_global: int = 0
    d_min: int = 1                  # the network's minimum delay (steps)
    global_starts: dict = None      # population index -> its first global id

    @property
    def ring_slots(self) -> int:
        # a rank holding no neuron of a population that receives input has ring columns of
        # width 0: its ring has the slots (of no column) that the step reads all the same
        if self.ring_width or any(g.col_offset >= 0 for g in self.groups):
            return self.max_delay
        return 0


def min_delay_steps(net) -> int:
    """The smallest delay (steps) any synapse of the network can have: the exchange interval."""
    best = None
    for proj in net.projections:
        spec = proj.delay
        if isinstance(spec, D.Normal) and spec.std == 0:
            spec = spec.mean
        lo = spec.bounds()[0] if isinstance(spec, D.Distribution) else D.value_range(spec)[0]
        steps = max(1, int(np.rint(lo / net.dt)))
        best = steps if best is None else min(best, steps)
    return best if best is not None else 10


def build_local_layout(net, rank: int, size: int) -> LocalLayout:
    """Rank ``rank``'s layout: its neurons (groups as on one process, cut to its blocks), the
    synapses onto them, its Poisson draws and current events."""
    dt = net.dt
    full_groups, full_pg = _make_groups(net)
    n_global = sum(g.size for g in full_groups)
    blocks = {p.index: block(p.size, rank, size) for p in net.populations}
    global_starts = {p.index: full_pg[p.index][0].start + full_pg[p.index][1]
                     for p in net.populations}
    groups, pop_group, gids, start = [], {}, [], 0
    for fg in full_groups:
        g, gid = _local_group(net, fg, blocks, start)
        groups.append(g)
        gids.append(gid)
        for p in fg.pops:
            pop_group[p.index] = (g, g.offsets[p.index])
        start += g.size
    _mark_inputs(net, groups, pop_group)
    width = 0
    for g in groups:
        if any(g.active):
            g.col_offset = width
            width += g.n_cols
    # Poisson draws: the whole network's positions, this rank's stretches of them
    drives, segments, w_local, w_global = [], [], 0, 0
    for inp in net.poisson_inputs:
        g, off = pop_group[inp.target.index]
        a, b = blocks[inp.target.index]
        ch = g.model_cls.layout(g.options)[1][inp.receptor]
        lam = inp.n_sources * inp.rate * dt * 1e-3
        drives.append(PoissonDrive(g, g.col_offset + ch * g.size + off, off, b - a,
                                   poisson_cdf_table(lam), np.float32(inp.weight), w_local, lam))
        segments.append((w_local, w_global + a, b - a))
        w_local += b - a
        w_global += inp.target.size
    for fg, g in zip(full_groups, groups):
        if fg.model_cls is PoissonSource:
            g.rng_offset = w_local
            for p in fg.pops:
                a, b = blocks[p.index]
                segments.append((w_local, w_global + fg.offsets[p.index] + a, b - a))
                w_local += b - a
            w_global += fg.size
    segments = [s for s in segments if s[2] > 0]
    classes, proj_class, max_delay = _local_synapses(net, pop_group, blocks, global_starts,
                                                     n_global)
    events = []
    for pop, cur in net.currents:
        g, off = pop_group[pop.index]
        a, b = blocks[pop.index]
        for s0, s1, _ in cur.segments(dt):
            events.append((s0, g.index, off, off + b - a, pop.index))
            if s1 is not None:
                events.append((s1, g.index, off, off + b - a, pop.index))
    events.sort(key=lambda e: e[0])
    return LocalLayout(dt, net.seed, groups, start, pop_group, width, max_delay, classes,
                       proj_class, drives, w_local, events, list(net.currents),
                       philox_key(net.seed), [], rank=rank, size=size, blocks=blocks,
                       gids=gids, n_global=n_global, rng_segments=segments,
                       rng_width_global=w_global, d_min=min_delay_steps(net),
                       global_starts=global_starts)


def _local_group(net, fg, blocks, start):
    """The part of full group ``fg`` this rank owns, as a Group starting at local id
    ``start``, and the global ids of its neurons."""
    idx, offsets, off = [], {}, 0
    for p in fg.pops:
        a, b = blocks[p.index]
        offsets[p.index] = off
        idx.append(fg.offsets[p.index] + np.arange(a, b, dtype=np.int64))
        off += b - a
    idx = np.concatenate(idx) if idx else np.zeros(0, np.int64)
    cls = fg.model_cls
    params = {k: (v if np.ndim(v) == 0 else np.asarray(v)[idx]) for k, v in fg.params.items()}
    g = Group(fg.index, cls, fg.options, fg.pops, start, idx.size, offsets, params)
    with np.errstate(over="ignore"):
        g.consts = cls.constants(params, net.dt) if not cls.is_source else {}
    g.n_ref = cls.refractory_steps(params, net.dt)
    g.channels = fg.channels
    g.active = [False] * len(g.channels)
    g.state = {k: np.array(v[idx], np.float32) for k, v in fg.state.items()}
    if cls is PoissonSource:
        p = fg.consts["p"]
        g.consts = {"p": p if np.ndim(p) == 0 else np.asarray(p)[idx]}
    if cls is SpikeSource:
        steps, j = fg.consts["schedule"]
        where = np.full(fg.size, -1, np.int64)
        where[idx] = np.arange(idx.size)
        keep = where[j] >= 0
        g.consts = {"schedule": (steps[keep], where[j[keep]])}
    return g, fg.start + idx


# -- synapses -----------------------------------------------------------------------------------

def per_target(proj) -> bool:
    """Whether ``proj`` is drawn per target chunk (else whole on every rank)."""
    rule = proj.rule
    if not isinstance(rule, (FixedIndegree, FixedProbability, FixedTotalNumber, AllToAll,
                             OneToOne)):
        return False
    if not getattr(rule, "multapses", True):
        return False
    return all(isinstance(s, D.Distribution) or np.ndim(s) == 0
               for s in (proj.weight, proj.delay))


def draw_block(net, proj, a: int, b: int, with_steps: bool):
    """(pre, post, weights float32, delay steps or None) of the synapses of ``proj`` onto
    post-population neurons ``[a, b)``, in an order that does not depend on the partition."""
    if not per_target(proj):
        pre, post, w, steps = LO.generate_projection(net, proj, None)
        keep = (post >= a) & (post < b)
        steps = (np.asarray(steps)[keep] if with_steps else None)
        return pre[keep], post[keep], np.asarray(w, np.float32)[keep], steps
    n_pre, n_post = proj.pre.size, proj.post.size
    same = proj.pre is proj.post
    excl = same and not getattr(proj.rule, "allow_self", True)
    counts = None
    if isinstance(proj.rule, FixedTotalNumber):
        rng = rng_for(net.seed, TOTAL_SPAWN, proj.index)
        n_eligible = n_post if n_post else 1
        counts = rng.multinomial(proj.rule.n, np.full(n_post, 1.0 / n_eligible))
    parts = []
    for c in range(a // TARGET_CHUNK, -(-b // TARGET_CHUNK)):
        t0, t1 = c * TARGET_CHUNK, min(n_post, (c + 1) * TARGET_CHUNK)
        rng = rng_for(net.seed, CONNECT_SPAWN, proj.index, c)
        pre, post = _chunk_pairs(proj.rule, n_pre, t0, t1, excl, counts, rng)
        n = pre.size
        w = np.empty(n, np.float32)
        _sample_into(w, "weight", proj.weight, rng, None)
        steps = _steps(proj, n, rng, net.dt) if with_steps else None
        keep = slice(None)
        if t0 < a or t1 > b:
            keep = (post >= a) & (post < b)
        parts.append((pre[keep], post[keep], w[keep],
                      None if steps is None else steps[keep]))
    if not parts:
        e = np.zeros(0, np.int64)
        return e, e, np.zeros(0, np.float32), np.zeros(0, np.uint8) if with_steps else None
    cat = [np.concatenate([p[k] for p in parts]) for k in range(3)]
    steps = np.concatenate([p[3] for p in parts]) if with_steps else None
    return cat[0], cat[1], cat[2], steps


def _steps(proj, n, rng, dt):
    """Delay steps of ``n`` synapses: drawn (a distribution), else the one constant."""
    if isinstance(proj.delay, D.Distribution):
        return _delay_steps(proj, n, rng, None, dt)
    k = max(1, int(np.rint(float(proj.delay) / dt)))
    return np.full(n, k, np.uint8 if k < 256 else np.int16)


def _chunk_pairs(rule, n_pre, t0, t1, excl, counts, rng):
    """Sources and targets of targets ``[t0, t1)``, target-major."""
    b = t1 - t0
    targets = np.arange(t0, t1, dtype=np.int64)
    if isinstance(rule, OneToOne):
        return targets.copy(), targets
    if isinstance(rule, AllToAll):
        src = np.tile(np.arange(n_pre, dtype=np.int64), b)
        post = np.repeat(targets, n_pre)
        if excl:
            keep = src != post
            src, post = src[keep], post[keep]
        return src, post
    if isinstance(rule, FixedProbability):
        pos = _bernoulli_positions(b * n_pre, float(rule.p), rng)
        t, src = np.divmod(pos, n_pre)
        post = t0 + t
        if excl:
            keep = src != post
            src, post = src[keep], post[keep]
        return src, post
    k = (np.full(b, rule.k, np.int64) if isinstance(rule, FixedIndegree)
         else np.asarray(counts[t0:t1], np.int64))
    post = np.repeat(targets, k)
    src = rng.integers(0, n_pre, size=post.size, dtype=np.int64)
    if excl:
        while True:
            bad = np.flatnonzero(src == post)
            if not bad.size:
                break
            src[bad] = rng.integers(0, n_pre, size=bad.size, dtype=np.int64)
    return src, post


def _stable_order(row: np.ndarray) -> np.ndarray:
    """``np.argsort(row, kind="stable")``, about twice as fast: one sort of the values
    ``row << 32 | position`` (unique, so any sort is stable), positions read back."""
    n = row.size
    if n >= 2**32:
        return np.argsort(row, kind="stable")
    key = row.astype(np.int64)
    key <<= 32
    key |= np.arange(n, dtype=np.int64)
    key.sort()
    key &= 0xFFFFFFFF
    return key


def _local_synapses(net, pop_group, blocks, global_starts, n_global):
    """CSR synapse classes over global source rows, holding the synapses onto this rank's
    neurons (one class per constant delay, plus one with per-synapse delays)."""
    dt = net.dt
    buckets: dict = {}
    max_delay = 1
    for proj in net.projections:
        if proj.plasticity is not None:      # built by the rule's runtime; reserve its delays
            hi = min(float(LO.MAX_DELAY_STEPS), np.rint(D.reach(proj.delay) / dt))
            max_delay = max(max_delay, int(hi))
            continue
        buckets.setdefault(_delay_key(proj.delay, dt), []).append(proj)
    classes, proj_class = [], {}
    for k, projs in buckets.items():
        rows, cols, ws, steps, members = [], [], [], [], []
        for p in projs:
            a, b = blocks[p.post.index]
            pre, post, w, st = draw_block(net, p, a, b, k == "hetero")
            g, off = pop_group[p.post.index]
            ch = g.model_cls.layout(g.options)[1][p.receptor]
            rows.append((pre + global_starts[p.pre.index]).astype(
                np.int32 if n_global < 2**31 else np.int64))
            cols.append((post - a + g.col_offset + ch * g.size + off).astype(np.int32))
            ws.append(w)
            if st is not None:
                steps.append(st)
                if st.size:
                    max_delay = max(max_delay, int(st.max()))
            elif post.size:
                max_delay = max(max_delay, k)
            members.append((p, _compact_counts(np.bincount(pre, minlength=p.pre.size))))
        row = np.concatenate(rows)
        order = _stable_order(row)          # by row; within a row members, then draw order
        idx_t = np.int32 if row.size < 2**31 - 1 else np.int64
        indptr = np.zeros(n_global + 1, idx_t)
        np.cumsum(np.bincount(row, minlength=n_global), out=indptr[1:])
        delays = None
        if k == "hetero":
            delays = np.concatenate(steps)[order]
            if delays.dtype != np.uint8 and delays.dtype != np.int16:
                delays = delays.astype(np.int16)
        ci = len(classes)
        classes.append(SynapseClass(None if k == "hetero" else k, indptr,
                                    np.concatenate(cols)[order],
                                    np.concatenate(ws)[order], delays, members))
        for m, p in enumerate(projs):
            proj_class[p] = (ci, m)
    return classes, proj_class, max_delay
