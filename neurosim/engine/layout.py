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

from .. import _validate as V
from .. import distributions as D
from ..models.base import host_precision
from ..models.sources import PoissonSource, SpikeSource
from ..rng import poisson_cdf_table

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

    ``indptr`` (n_total + 1), ``cols`` (int32 ring columns), ``weights`` (float32, or float64
    with ``Network(precision="double")``), and either a
    constant ``delay`` (steps) or per-synapse ``delays`` (uint8/int16 steps). ``members`` lists
    the projections in it with their per-source synapse counts (to read weights back).

    A ``generated`` class is drawn on the device (:mod:`neurosim.engine.device_connect`): the
    host holds only ``indptr`` and the counts; ``cols``/``weights``/``delays`` are None here and
    live in the engine; ``delay_bound`` is then the largest delay (steps) its draws can reach.
    """

    delay: int | None
    indptr: np.ndarray
    cols: np.ndarray | None
    weights: np.ndarray | None
    delays: np.ndarray | None
    members: list                   # [(projection, synapses per source neuron, uint16/int32)]
    generated: bool = False
    delay_bound: int = 0

    @property
    def n_synapses(self) -> int:
        return int(self.indptr[-1]) if self.indptr.size else 0


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
    plastic: list = field(default_factory=list)   # projections built by their rule's runtime
    dtype: np.dtype = np.dtype(np.float32)        # state, constants, weights, ring (precision)

    @property
    def ring_slots(self) -> int:
        # step n reads (and clears) slot n % D before writing slots n+1 .. n+max_delay
        return self.max_delay if self.ring_width else 0

    @property
    def n_synapses(self) -> int:
        return sum(c.n_synapses for c in self.classes)


def build_layout(net, device_gen=None, before_synapses=None) -> Layout:
    """The layout of ``net``; ``device_gen`` (a :class:`~neurosim.engine.device_connect.
    DeviceConnectivity`) takes the projections it generates on the device.

    ``before_synapses(layout)`` is called once the groups, ring width and inputs are known and
    before any synapse is drawn, with a layout that has no synapse classes yet (the engines'
    memory checks, :mod:`neurosim.engine.memory`); it may raise to stop the build there."""
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
                                   poisson_cdf_table(lam), real_dtype(net).type(inp.weight),
                                   rng_width, lam))
        rng_width += inp.target.size
    for g in groups:
        if g.model_cls is PoissonSource:
            g.rng_offset = rng_width
            rng_width += g.size
    plastic = [p for p in net.projections if p.plasticity is not None]
    if before_synapses is not None:
        before_synapses(Layout(dt, net.seed, groups, n_total, pop_group, width, 1, [], {},
                               drives, rng_width, [], list(net.currents), philox_key(net.seed),
                               plastic, real_dtype(net)))
    classes, proj_class, max_delay = _build_synapses(net, groups, pop_group, n_total, device_gen)
    events = []
    for pop, cur in net.currents:
        g, off = pop_group[pop.index]
        for start, stop, _ in cur.segments(dt):
            events.append((start, g.index, off, off + pop.size, pop.index))
            if stop is not None:
                events.append((stop, g.index, off, off + pop.size, pop.index))
    events.sort(key=lambda e: e[0])
    return Layout(dt, net.seed, groups, n_total, pop_group, width, max_delay, classes,
                  proj_class, drives, rng_width, events, list(net.currents), philox_key(net.seed),
                  plastic, real_dtype(net))


def real_dtype(net) -> np.dtype:
    """The network's floating type (``Network.precision``): float32 or float64."""
    return np.dtype(getattr(net, "dtype", np.float32))


def as_real(values: dict, dtype) -> dict:
    """Floating constants (host float64 values) rounded once to ``dtype``: scalars become
    ``dtype`` scalars, arrays contiguous ``dtype`` arrays; anything else is kept."""
    out = {}
    for name, v in values.items():
        if isinstance(v, np.ndarray) and v.dtype.kind == "f":
            v = np.ascontiguousarray(v, dtype) if v.ndim else dtype.type(v)
        elif isinstance(v, (float, np.floating)):
            v = dtype.type(v)
        out[name] = v
    return out


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
        with np.errstate(over="ignore"), host_precision(real_dtype(net)):  # overflow: below
            g.consts = cls.constants(params, net.dt) if not cls.is_source else {}
            g.consts = as_real(g.consts, real_dtype(net))   # float64 -> the precision, once
        V.finite_constants(cls.__name__, g.consts, net.dt)
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
    dtype = real_dtype(net)
    with host_precision(dtype):
        state = {name: np.array(v, dtype) for name, v in
                 cls.initial_state(g.params, g.size, g.options).items()}
    for p in g.pops:
        off = g.offsets[p.index]
        rng = rng_for(net.seed, 0, p.index)
        for var in sorted(p.initial):
            val = D.resolve("add_population()", f"initial[{var!r}]", p.initial[var], p.size, rng,
                            float32=True)
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

SAMPLE_CHUNK = 1 << 22          # values drawn per call when sampling weights/delays
SCATTER_CHUNK = 1 << 23         # synapses placed per fancy-index assignment (int64 positions)
MAX_DELAY_STEPS = 2**15 - 1     # per-synapse delays are stored as uint8, or int16 from 256 steps


@dataclass
class _Drawn:
    """A static projection drawn in source-major order: 9 bytes per synapse at most."""

    counts: np.ndarray              # int64 per source neuron
    cols: np.ndarray                # int32 ring columns
    weights: np.ndarray             # float32
    steps: np.ndarray | None        # uint8/int16 delay steps (heterogeneous class only)


def generate_projection(net, proj, pop_group):
    """(pre local int64, post local int64, weights of the network's precision, delay steps
    int64) of a projection."""
    rng = rng_for(net.seed, 1, proj.index)
    pre, post = proj.rule.generate(proj.pre.size, proj.post.size, proj.pre is proj.post, rng)
    n = pre.size
    w = D.resolve("connect()", "weight", proj.weight, n, rng, float32=True)
    d = D.resolve("connect()", "delay", proj.delay, n, rng)
    w = np.broadcast_to(np.asarray(w, real_dtype(net)), (n,))
    steps = np.maximum(1, np.rint(np.asarray(d, float) / net.dt)).astype(np.int64)
    return pre, post, w, np.broadcast_to(steps, (n,))


def _build_synapses(net, groups, pop_group, n_total, device_gen=None):
    """Static projections merged into CSR synapse classes, one per constant delay + one mixed.

    A projection's class follows from its delay spec (a constant number of steps, else the
    heterogeneous class). Within a row (one source neuron) the synapses of the class's members
    follow each other in member order, each member's in its own order. Built in bounded memory:
    each projection is drawn grouped by source (``Rule.generate_by_source``: no sort for the
    usual rules) as int32 columns, float32 weights and uint8/int16 delay steps; source
    populations are taken in the order of their global ids, so the rows of one source population
    form one block of each class; its projections are drawn, placed into their block of the
    preallocated class arrays, and dropped. The peak is the class arrays plus one source
    population's synapses, without an int64 array or a sort over a whole class. Rules whose
    number of synapses is not known in advance (``FixedProbability``) are drawn first.
    Projections that ``device_gen`` generates form classes of their own (:func:`_device_classes`),
    after the host's.
    """
    dt = net.dt
    max_delay = 1
    static, on_device = [], []
    for proj in net.projections:
        if proj.plasticity is not None:      # built by the rule's runtime; only reserve delays
            hi = min(float(MAX_DELAY_STEPS), np.rint(D.reach(proj.delay) / dt))
            max_delay = max(max_delay, int(hi))
        elif device_gen is not None and device_gen.generates(proj):
            on_device.append(proj)
        else:
            static.append(proj)
    # a projection rebuilt from a checkpoint keeps the class it had (neurosim.checkpoint)
    key = {proj: getattr(proj, "_delay_class", None) or _delay_key(proj.delay, dt)
           for proj in static}
    drawn, size = {}, {}
    for proj in static:
        n = proj.rule.size(proj.pre.size, proj.post.size, proj.pre is proj.post)
        if n is None:
            drawn[proj] = _draw_static(net, proj, pop_group, key[proj])
            n = drawn[proj].cols.size
        size[proj] = n
    buckets: dict = {}
    for proj in static:
        buckets.setdefault(key[proj], []).append(proj)
    arrays = {}
    for k, projs in buckets.items():
        total = sum(size[p] for p in projs)
        arrays[k] = [np.empty(total, np.int32), np.empty(total, real_dtype(net)),
                     np.empty(total, np.uint8) if k == "hetero" else None,
                     np.zeros(n_total, np.int64), 0]          # row lengths, fill pointer
    members = {proj: None for proj in static}
    pres = sorted({proj.pre.index: proj.pre for proj in static}.values(),
                  key=lambda p: pop_group[p.index][0].start + pop_group[p.index][1])
    for pre in pres:
        g_pre, off_pre = pop_group[pre.index]
        row0 = g_pre.start + off_pre
        for k, projs in buckets.items():
            here = [p for p in projs if p.pre is pre]
            if not here:
                continue
            parts = [drawn.pop(p, None) or _draw_static(net, p, pop_group, k) for p in here]
            for p, part in zip(here, parts):
                members[p] = _compact_counts(part.counts)
                if part.steps is not None and part.steps.size:
                    max_delay = max(max_delay, int(part.steps.max()))
                elif k != "hetero" and part.cols.size:
                    max_delay = max(max_delay, k)
            arrays[k][4] = _place_block(arrays[k], parts, row0, pre.size)
            del parts
    classes, proj_class = [], {}
    for k, projs in buckets.items():
        cols, weights, steps, rowlen, filled = arrays.pop(k)
        if filled != cols.size:              # a rule drew another number than it announced
            raise RuntimeError(f"internal error: class {k!r} holds {filled} of {cols.size} "
                               f"synapses")
        idx_t = np.int32 if cols.size < 2**31 - 1 else np.int64
        indptr = np.zeros(n_total + 1, idx_t)
        np.cumsum(rowlen, out=indptr[1:])
        ci = len(classes)
        classes.append(SynapseClass(None if k == "hetero" else k, indptr, cols, weights, steps,
                                    [(p, members[p]) for p in projs]))
        for m, p in enumerate(projs):
            proj_class[p] = (ci, m)
    if on_device:
        max_delay = _device_classes(net, on_device, device_gen, pop_group, n_total, classes,
                                    proj_class, max_delay)
    return classes, proj_class, max_delay


def _device_classes(net, projs, device_gen, pop_group, n_total, classes, proj_class, max_delay):
    """Classes of device-generated projections (one per delay key): row pointers from the row
    lengths ``device_gen.counts`` gives; the synapses are written later, on the device. The
    per-synapse-delay class's ``max_delay`` is known only then (the engine raises it)."""
    buckets: dict = {}
    for proj in projs:
        buckets.setdefault(_delay_key(proj.delay, net.dt), []).append(proj)
    from .device_connect import delay_bound_steps
    for k, members in buckets.items():
        rowlen = np.zeros(n_total, np.int64)
        counted = []
        for p in members:
            counts = device_gen.counts(p)
            g_pre, off_pre = pop_group[p.pre.index]
            row0 = g_pre.start + off_pre
            rowlen[row0:row0 + p.pre.size] += counts
            counted.append((p, _compact_counts(counts)))
        total = int(rowlen.sum())
        indptr = np.zeros(n_total + 1, np.int32 if total < 2**31 - 1 else np.int64)
        np.cumsum(rowlen, out=indptr[1:])
        bound = 0
        if k == "hetero":
            bound = max((delay_bound_steps(p.delay, net.dt) for p in members), default=1)
        elif total:
            max_delay = max(max_delay, k)
        ci = len(classes)
        classes.append(SynapseClass(None if k == "hetero" else k, indptr, None, None, None,
                                    counted, generated=True, delay_bound=bound))
        for m, p in enumerate(members):
            proj_class[p] = (ci, m)
    return max_delay


def _place_block(arrs, parts, row0, n_rows) -> int:
    """Copy the members drawn for one source population into their rows; new fill pointer.

    Rows ``row0 .. row0 + n_rows`` of the class start at the fill pointer; within a row, the
    members follow each other in order. One member is a plain copy; several are scattered in
    chunks of rows (int64 positions of at most about SCATTER_CHUNK synapses).
    """
    cols, weights, steps, rowlen, base = arrs
    if steps is not None and any(p.steps.dtype != steps.dtype for p in parts) \
            and steps.dtype == np.uint8:
        arrs[2] = steps = steps.astype(np.int16)
    lens = parts[0].counts.copy()
    for p in parts[1:]:
        lens += p.counts
    rowlen[row0:row0 + n_rows] = lens
    n_block = int(lens.sum())
    if len(parts) == 1:
        p = parts[0]
        cols[base:base + n_block] = p.cols
        weights[base:base + n_block] = p.weights
        if steps is not None:
            steps[base:base + n_block] = p.steps
        return base + n_block
    starts = base + np.cumsum(lens) - lens          # first position of each row
    for p in parts:
        csum = np.cumsum(p.counts)
        r0, s0 = 0, 0
        while r0 < n_rows:
            r1 = max(r0 + 1, int(np.searchsorted(csum, s0 + SCATTER_CHUNK, "right")))
            r1 = min(r1, n_rows)
            s1 = int(csum[r1 - 1])
            if s1 > s0:
                pos = _ranges(starts[r0:r1], p.counts[r0:r1])
                cols[pos] = p.cols[s0:s1]
                weights[pos] = p.weights[s0:s1]
                if steps is not None:
                    steps[pos] = p.steps[s0:s1]
            r0, s0 = r1, s1
        starts += p.counts
    return base + n_block


def _delay_key(spec, dt):
    """A projection's class from its delay spec: a constant number of steps, or "hetero"."""
    if isinstance(spec, D.Normal) and spec.std == 0:
        spec = spec.mean
    lo, hi = spec.bounds() if isinstance(spec, D.Distribution) else D.value_range(spec)
    if np.isfinite(lo) and np.isfinite(hi):
        s_lo, s_hi = (max(1, int(np.rint(x / dt))) for x in (lo, hi))
        if s_lo == s_hi:
            return s_lo
    return "hetero"


def _draw_static(net, proj, pop_group, key) -> _Drawn:
    """Pairs (grouped by source), weights and heterogeneous delay steps of a static projection.

    Draws in the order of :func:`generate_projection` (rule, weights, delays) from the
    projection's own stream ``rng_for(seed, 1, index)``; the int32 targets become ring columns
    in place.
    """
    rng = rng_for(net.seed, 1, proj.index)
    counts, cols, order = proj.rule.generate_by_source(proj.pre.size, proj.post.size,
                                                        proj.pre is proj.post, rng)
    g, off = pop_group[proj.post.index]
    ch = g.model_cls.layout(g.options)[1][proj.receptor]
    cols += np.int32(g.col_offset + ch * g.size + off)
    n = cols.size
    weights = np.empty(n, real_dtype(net))
    _sample_into(weights, "weight", proj.weight, rng, order)
    steps = None
    if key == "hetero":
        steps = _delay_steps(proj, n, rng, order, net.dt)
    return _Drawn(counts, cols, weights, steps)


def _sample_into(out, name, spec, rng, order, transform=None):
    """Fill ``out`` with values of a weight/delay spec; distributions are sampled in chunks."""
    n = out.size
    if isinstance(spec, D.Distribution):
        for a in range(0, n, SAMPLE_CHUNK):
            v = spec.sample(rng, min(n, a + SAMPLE_CHUNK) - a)
            if name == "weight":                    # weights: no silent inf
                V.fits_float32("connect()", f"{name} (drawn from {spec!r})", v)
            out[a:a + v.size] = v if transform is None else transform(v)
        return
    v = np.asarray(D.resolve("connect()", name, spec, n, rng,
                             float32=name == "weight"), np.float64)
    if v.ndim and order is not None:
        v = v[order]
    out[:] = v if transform is None else transform(v)


def _delay_steps(proj, n, rng, order, dt) -> np.ndarray:
    """``max(1, rint(delay / dt))`` per synapse as uint8, or int16 once a value reaches 256."""

    def to_steps(d):
        s = np.rint(np.divide(d, dt))
        np.maximum(s, 1.0, out=s)
        hi = s.max() if s.size else 0
        if hi > MAX_DELAY_STEPS:
            raise ValueError(f"connect(): delays of {proj.name!r} reach {hi * dt:g} ms = "
                             f"{hi:.0f} steps of dt = {dt} ms; at most {MAX_DELAY_STEPS} steps "
                             f"are supported")
        return s

    spec = proj.delay
    if not isinstance(spec, D.Distribution):
        s = np.empty(n, np.float64)
        _sample_into(s, "delay", spec, rng, order, to_steps)
        return s.astype(np.uint8 if n == 0 or s.max() < 256 else np.int16)
    out = np.empty(n, np.uint8)
    for a in range(0, n, SAMPLE_CHUNK):
        s = to_steps(spec.sample(rng, min(n, a + SAMPLE_CHUNK) - a))
        if s.size and s.max() >= 256 and out.dtype == np.uint8:
            out = out.astype(np.int16)
        out[a:a + s.size] = s
    return out


def _compact_counts(counts: np.ndarray) -> np.ndarray:
    """Synapses per source neuron in the smallest type that holds them (uint16 or int32):
    kept per projection only to read weights back, so 2 bytes per source neuron suffice."""
    if counts.size == 0 or int(counts.max()) < 2**16:
        return counts.astype(np.uint16)
    return counts.astype(np.int32)


def member_starts(layout: Layout, proj) -> np.ndarray:
    """Position (in its class arrays) of the first synapse of each source neuron of a static
    projection (int64, ``proj.pre.size``): its row's start plus the earlier members' synapses."""
    ci, m = layout.proj_class[proj]
    cls = layout.classes[ci]
    g_pre, off_pre = layout.pop_group[proj.pre.index]
    row0 = g_pre.start + off_pre
    starts = cls.indptr[row0:row0 + proj.pre.size].astype(np.int64)
    for p2, counts in cls.members[:m]:
        if p2.pre is proj.pre:
            starts += counts
    return starts


def member_positions(layout: Layout, proj) -> np.ndarray:
    """Positions (in its class arrays) of a static projection's synapses, in source order."""
    ci, m = layout.proj_class[proj]
    counts = layout.classes[ci].members[m][1].astype(np.int64)
    return _ranges(member_starts(layout, proj), counts)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + l) for each pair (vectorised)."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    offs = np.cumsum(lengths) - lengths
    return np.arange(total, dtype=np.int64) + np.repeat(starts - offs, lengths)
