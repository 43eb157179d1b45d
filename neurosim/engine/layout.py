"""The host-side layout of a network, shared by every backend.

Built once from the description (``Network``): populations that share a model class and its
options are merged into one *group* (contiguous global neuron ids, per-neuron parameter arrays
only where populations differ); each group that receives synapses owns ``n_channels * size``
columns of the delay ring buffer; static projections are merged into a few CSR *synapse classes*
(one per constant delay, plus one with per-synapse delays) so that one step's spikes are
delivered with a handful of vectorised operations whatever the number of projections; plastic
projections keep a CSR of their own. Backends copy these host arrays into their own memory.

Seeds: everything random derives from ``Network.seed`` through ``numpy.random.SeedSequence``
with a fixed spawn key per purpose — initial states ``(0, population index)``, connectivity
``(1, projection index)``, the per-step Philox stream ``(2,)`` — so adding a projection does not
change the connectivity of the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import distributions as D
from ..models.sources import PoissonSource, SpikeSource

PHILOX_SPAWN_KEY = (2,)


def rng_for(seed: int, *spawn_key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=spawn_key)))


def philox_key(seed: int) -> np.ndarray:
    """The 2 x uint64 key of the per-step Philox4x64-10 stream (numpy's ``Philox(key=...)``)."""
    return np.random.SeedSequence(seed, spawn_key=PHILOX_SPAWN_KEY).generate_state(2, np.uint64)


@dataclass
class Group:
    """Populations of one model class and options, merged."""

    index: int
    model_cls: type
    options: tuple
    pops: list
    start: int                      # first global neuron id
    size: int
    offsets: dict                   # population index -> offset within the group
    params: dict                    # name -> float or float64 array (size,)
    consts: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)
    n_ref: object = None            # None, int, or int64 array
    channels: tuple = ()
    col_offset: int = -1            # first ring column, -1 if it receives nothing
    active: list = field(default_factory=list)   # per channel: does anything arrive there
    has_current: bool = False
    rng_offset: int = -1            # Poisson sources: offset of its draws within a step

    @property
    def is_source(self) -> bool:
        return self.model_cls.is_source

    @property
    def n_cols(self) -> int:
        return len(self.channels) * self.size


@dataclass
class SynapseClass:
    """Static synapses merged into one CSR over global source ids.

    ``indptr`` (n_total + 1), ``cols`` (int32 ring columns), ``weights`` (float32), and either a
    constant ``delay`` (steps) or per-synapse ``delays`` (uint8/int16 steps). ``members`` lists
    the projections in it with their per-source synapse counts (to read weights back).
    """

    delay: int | None
    indptr: np.ndarray
    cols: np.ndarray
    weights: np.ndarray
    delays: np.ndarray | None
    members: list                   # [(projection, counts per source neuron int32)]

    @property
    def n_synapses(self) -> int:
        return int(self.cols.size)


@dataclass
class PoissonDrive:
    """A Poisson input: count ``k = #{j : cdf[j] <= u}`` per neuron and step, times ``weight``.

    With ``u = (raw >> 40) * 2^-24``, ``cdf[j] <= u`` is ``raw >= thr[j]`` with
    ``thr[j] = ceil(cdf[j] * 2^24) << 40`` (exact integer form used by the NumPy engine), and
    ``tab[raw >> 48]`` gives ``k`` directly except in the few 2^-16-wide bins that contain a
    threshold (marked -1).
    """

    group: Group
    col: int                        # first ring column of the target channel
    lo: int                         # neuron offset within the group
    n: int
    cdf: np.ndarray                 # float32 Poisson CDF table
    weight: np.float32
    rng_offset: int
    lam: float
    thr: np.ndarray = None          # uint64 thresholds on the raw draws
    tab: np.ndarray = None          # int16 [65536]: k for each top-16-bit bin, -1 if ambiguous

    def __post_init__(self):
        self.thr = uniform_thresholds(self.cdf[self.cdf < 1.0])
        lo = np.arange(65536, dtype=np.uint64) << np.uint64(48)
        hi = lo | np.uint64(2**48 - 1)
        k_lo = np.searchsorted(self.thr, lo, "right")
        k_hi = np.searchsorted(self.thr, hi, "right")
        self.tab = np.where(k_lo == k_hi, k_lo, -1).astype(np.int16)


def uniform_thresholds(p) -> np.ndarray:
    """uint64 ``t`` with ``(raw >> 40) * 2^-24 >= p  <=>  raw >= t`` for float32 ``p`` in [0, 1)."""
    m = np.ceil(np.asarray(p, np.float32).astype(np.float64) * 2.0 ** 24).astype(np.uint64)
    return m << np.uint64(40)


@dataclass
class Layout:
    dt: float
    seed: int
    groups: list
    n_total: int
    pop_group: dict                 # population index -> (group, offset)
    ring_width: int
    max_delay: int
    classes: list
    proj_class: dict                # projection -> (class index, member index)
    drives: list
    rng_width: int
    current_events: list            # (step, group index, lo, hi, population index)
    currents: list                  # (population, Current)
    philox_key: np.ndarray

    @property
    def ring_slots(self) -> int:
        # step n reads (and clears) slot n % D before writing slots n+1 .. n+max_delay
        return self.max_delay if self.ring_width else 0

    @property
    def n_synapses(self) -> int:
        return sum(c.n_synapses for c in self.classes)


def build_layout(net) -> Layout:
    dt = net.dt
    groups, pop_group = _make_groups(net)
    n_total = sum(g.size for g in groups)
    _mark_inputs(net, groups, pop_group)
    width = 0
    for g in groups:
        if any(g.active):
            g.col_offset = width
            width += g.n_cols
    rng_width = 0
    drives = []
    for inp in net.poisson_inputs:
        g, off = pop_group[inp.target.index]
        _, receptors, _ = g.model_cls.layout(g.options)
        ch = receptors[inp.receptor]
        lam = inp.n_sources * inp.rate * dt * 1e-3
        drives.append(PoissonDrive(g, g.col_offset + ch * g.size + off, off, inp.target.size,
                                   poisson_cdf_table(lam), np.float32(inp.weight), rng_width, lam))
        rng_width += inp.target.size
    for g in groups:
        if g.model_cls is PoissonSource:
            g.rng_offset = rng_width
            rng_width += g.size
    classes, proj_class, max_delay = _build_synapses(net, groups, pop_group, n_total)
    events = []
    for pop, cur in net.currents:
        g, off = pop_group[pop.index]
        for start, stop, _ in cur.segments(dt):
            events.append((start, g.index, off, off + pop.size, pop.index))
            if stop is not None:
                events.append((stop, g.index, off, off + pop.size, pop.index))
    events.sort(key=lambda e: e[0])
    return Layout(dt, net.seed, groups, n_total, pop_group, width, max_delay, classes,
                  proj_class, drives, rng_width, events, list(net.currents), philox_key(net.seed))


def current_amplitude(layout: Layout, pop, step: int):
    """Total injected current (pA) into ``pop`` during ``step`` (scalar or array)."""
    total = 0.0
    for p, cur in layout.currents:
        if p is not pop:
            continue
        for start, stop, amp in cur.segments(layout.dt):
            if start <= step and (stop is None or step < stop):
                total = total + amp
    return total


def poisson_cdf_table(lam: float) -> np.ndarray:
    """float32 CDF of Poisson(lam) up to where it rounds to 1 (computed in float64).

    A count is ``k = #{j : cdf[j] <= u}`` for a uniform ``u`` in [0, 1); the table's last entry
    is 1.0, so counts are bounded by its length (the tail beyond is below 2^-24).
    """
    if lam <= 0:
        return np.ones(1, np.float32)
    kmax = int(lam + 12 * np.sqrt(lam) + 20)
    k = np.arange(kmax + 1)
    from math import lgamma
    logpmf = k * np.log(lam) - lam - np.array([lgamma(x + 1.0) for x in k])
    cdf = np.cumsum(np.exp(logpmf))
    cdf32 = np.minimum(cdf, 1.0).astype(np.float32)
    ones = np.flatnonzero(cdf32 >= 1.0)
    end = ones[0] + 1 if ones.size else cdf32.size
    out = cdf32[:end].copy()
    out[-1] = 1.0
    return out


# -- groups -------------------------------------------------------------------------------------

def _make_groups(net):
    keyed: dict = {}
    for pop in net.populations:
        keyed.setdefault(pop.model.group_key(), []).append(pop)
    groups, pop_group, start = [], {}, 0
    for gi, ((cls, options), pops) in enumerate(keyed.items()):
        size = sum(p.size for p in pops)
        offsets, off = {}, 0
        for p in pops:
            offsets[p.index] = off
            off += p.size
        params = _merge_params(pops, size)
        g = Group(gi, cls, options, pops, start, size, offsets, params)
        g.consts = cls.constants(params, net.dt) if not cls.is_source else {}
        g.n_ref = cls.refractory_steps(params, net.dt)
        g.channels = cls.layout(options)[0] if not cls.is_source else ()
        g.active = [False] * len(g.channels)
        g.state = _initial_state(net, g)
        if cls is PoissonSource:
            p = np.asarray(params["rate"], float) * net.dt * 1e-3
            if np.any(p > 1.0):
                raise ValueError(f"PoissonSource: rate * dt must be <= 1 (one spike per step at "
                                 f"most), got rate up to {np.max(params['rate'])} Hz at dt="
                                 f"{net.dt} ms")
            g.consts = {"p": p.astype(np.float32) if p.ndim else np.float32(p)}
        if cls is SpikeSource:
            g.consts = {"schedule": _merge_schedules(pops, offsets, net.dt)}
        for p in pops:
            pop_group[p.index] = (g, offsets[p.index])
        groups.append(g)
        start += size
    return groups, pop_group


def _merge_params(pops, size):
    names = list(pops[0].model.parameters())
    out = {}
    for name in names:
        values = [p.model.parameters()[name] for p in pops]
        if all(np.ndim(v) == 0 for v in values) and all(v == values[0] for v in values):
            out[name] = float(values[0])
        else:
            out[name] = np.concatenate([np.broadcast_to(np.asarray(v, float), (p.size,))
                                        for v, p in zip(values, pops)])
    return out


def _initial_state(net, g):
    cls = g.model_cls
    state = cls.initial_state(g.params, g.size, g.options)
    for p in g.pops:
        off = g.offsets[p.index]
        rng = rng_for(net.seed, 0, p.index)
        for var in sorted(p.initial):
            val = D.resolve("add_population()", f"initial[{var!r}]", p.initial[var], p.size, rng)
            state[var][off:off + p.size] = val
    return state


def _merge_schedules(pops, offsets, dt):
    steps, idx = [], []
    for p in pops:
        s, j = p.model.schedule(dt)
        steps.append(s)
        idx.append(j + offsets[p.index])
    s, j = np.concatenate(steps), np.concatenate(idx)
    order = np.argsort(s, kind="stable")
    return s[order], j[order]


def _mark_inputs(net, groups, pop_group):
    for proj in net.projections:
        g, _ = pop_group[proj.post.index]
        g.active[g.model_cls.layout(g.options)[1][proj.receptor]] = True
    for inp in net.poisson_inputs:
        g, _ = pop_group[inp.target.index]
        g.active[g.model_cls.layout(g.options)[1][inp.receptor]] = True
    for pop, _ in net.currents:
        pop_group[pop.index][0].has_current = True


# -- synapses -----------------------------------------------------------------------------------

def generate_projection(net, proj, pop_group):
    """(pre local int64, post local int64, weights float32, delay steps int64) of a projection."""
    rng = rng_for(net.seed, 1, proj.index)
    pre, post = proj.rule.generate(proj.pre.size, proj.post.size, proj.pre is proj.post, rng)
    n = pre.size
    w = D.resolve("connect()", "weight", proj.weight, n, rng)
    d = D.resolve("connect()", "delay", proj.delay, n, rng)
    w = np.broadcast_to(np.asarray(w, np.float32), (n,))
    steps = np.maximum(1, np.rint(np.asarray(d, float) / net.dt)).astype(np.int64)
    return pre, post, w, np.broadcast_to(steps, (n,))


def _build_synapses(net, groups, pop_group, n_total):
    buckets: dict = {}
    max_delay = 1
    for proj in net.projections:
        if proj.plasticity is not None:      # built by the rule's runtime; only reserve delays
            hi = D.value_range(proj.delay)[1]
            max_delay = max(max_delay, int(np.rint(hi / net.dt)))
            continue
        pre, post, w, d = generate_projection(net, proj, pop_group)
        g_pre, off_pre = pop_group[proj.pre.index]
        g, off = pop_group[proj.post.index]
        ch = g.model_cls.layout(g.options)[1][proj.receptor]
        gpre = (g_pre.start + off_pre + pre).astype(np.int64)
        cols = (g.col_offset + ch * g.size + off + post).astype(np.int32)
        counts = np.bincount(pre, minlength=proj.pre.size).astype(np.int32)
        const = d.size == 0 or bool(d.min() == d.max())
        key = int(d[0]) if (const and d.size) else (1 if const else "hetero")
        if d.size:
            max_delay = max(max_delay, int(d.max()))
        buckets.setdefault(key, []).append((proj, gpre, cols, np.asarray(w, np.float32), d, counts))
    classes, proj_class = [], {}
    for key, items in buckets.items():
        gpre = np.concatenate([it[1] for it in items])
        member = np.concatenate([np.full(it[1].size, m, np.int64) for m, it in enumerate(items)])
        order = np.lexsort((member, gpre)) if len(items) > 1 else np.argsort(gpre, kind="stable")
        del member
        cols = np.concatenate([it[2] for it in items])[order]
        weights = np.concatenate([it[3] for it in items])[order]
        delays = None
        if key == "hetero":
            dd = np.concatenate([it[4] for it in items])[order]
            delays = dd.astype(np.uint8 if dd.max() < 256 else np.int16)
        idx_t = np.int32 if gpre.size < 2**31 - 1 else np.int64
        indptr = np.zeros(n_total + 1, idx_t)
        np.cumsum(np.bincount(gpre, minlength=n_total), out=indptr[1:])
        del gpre, order
        ci = len(classes)
        classes.append(SynapseClass(None if key == "hetero" else key, indptr, cols, weights,
                                    delays, [(it[0], it[5]) for it in items]))
        for m, it in enumerate(items):
            proj_class[it[0]] = (ci, m)
    return classes, proj_class, max_delay


def member_positions(layout: Layout, proj) -> np.ndarray:
    """Positions (in its class arrays) of a static projection's synapses, in source order."""
    ci, m = layout.proj_class[proj]
    cls = layout.classes[ci]
    g_pre, off_pre = layout.pop_group[proj.pre.index]
    rows = g_pre.start + off_pre + np.arange(proj.pre.size)
    before = np.zeros(proj.pre.size, np.int64)
    for p2, counts in cls.members[:m]:
        if p2.pre is proj.pre:
            before += counts
    counts = cls.members[m][1].astype(np.int64)
    starts = cls.indptr[rows].astype(np.int64) + before
    return _ranges(starts, counts)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + l) for each pair (vectorised)."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    offs = np.cumsum(lengths) - lengths
    return np.arange(total, dtype=np.int64) + np.repeat(starts - offs, lengths)
