"""Memory estimates made before anything large is allocated.

A network's size follows from its description: the synapse counts of the rules (exact for
``FixedIndegree``, ``FixedOutdegree``, ``FixedTotalNumber``, ``AllToAll``, ``OneToOne``,
``Explicit``; the mean plus six standard deviations for ``FixedProbability``), the delays' reach
(the ring), the populations' state. :func:`host_bytes` estimates, by part, the host memory the
build needs at its peak and keeps afterwards, and :func:`check_host_memory` raises
:class:`~neurosim.errors.HostMemoryError` before the first large allocation when it exceeds the
available memory. The CUDA engine's device estimate (:func:`neurosim.engine.device_memory.
device_bytes`) is first made from the same planned classes (:func:`planned_classes`), before
the host layout is drawn, and again, precisely, from the drawn layout.

Bytes per synapse (host, NumPy engine; ``n`` synapses of a projection):

- stored: int32 target column + float32 weight (float64 with ``precision="double"``: every
  float32 array of these estimates counts 8 bytes then), plus a uint8 (int16 from 256 steps)
  delay in a class with per-synapse delays: 8 or 9 (10) B; per class an int32 (int64 from 2^31
  synapses) row pointer per neuron;
- build peak, on top of what is stored (:data:`DRAW_BYTES`): the transient arrays of drawing one
  projection grouped by source (``Rule.generate_by_source``, measured with tracemalloc: keys
  and int32 targets for ``FixedIndegree``, int64 pairs for the generic rules) plus, per source
  population, the drawn synapses not yet placed; ``FixedProbability`` projections are drawn
  before the class arrays exist and held until placed;
- plastic projections (:data:`PLASTIC_HOST_BYTES`): the NumPy runtime's CSR, column index and
  delays, and the transient of drawing them.

The parts add up, except that the synapse build's transients are gone before the engine
allocates its delay ring (and, on cuda:host, its device arrays): :func:`peak_bytes` counts the
larger of the two. The estimate errs on the high side (np.empty's untouched pages count as
allocated): measured against tracemalloc's peak of ``build()`` it is 1.06 to 1.4 times that
(``benchmarks/memory_estimate.py``); the tests hold it within 1.0 to 1.6.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from .. import distributions as D
from ..connectivity import (AllToAll, Explicit, FixedIndegree, FixedOutdegree, FixedProbability,
                            FixedTotalNumber, OneToOne)
from ..errors import HostMemoryError

# peak bytes per synapse of drawing one projection grouped by source (Rule.generate_by_source,
# its int32 targets included, measured with tracemalloc on NumPy 2): by rule, and for
# multapses=False / allow_self=False (a recurrent projection) where that costs more
DRAW_BYTES = {FixedIndegree: 20, FixedOutdegree: 20, FixedTotalNumber: 4, FixedProbability: 25,
              AllToAll: 20, OneToOne: 24, Explicit: 28}
DRAW_BYTES_NO_MULTAPSES = {FixedIndegree: 35, FixedOutdegree: 35, FixedTotalNumber: 40}
DRAW_BYTES_NO_SELF = {FixedTotalNumber: 9, FixedProbability: 41, AllToAll: 33}
# plastic projections on the host (NumPy runtimes, measured with tracemalloc): kept after the
# build, B per synapse, with a constant / per-synapse delays (the CSR, column index, delays and
# the rule's own arrays; reward STDP keeps the most), and the peak while drawing and sorting
PLASTIC_HOST_BYTES = (32, 60)
PLASTIC_PEAK_BYTES = 80
PLASTIC_CUDA_HOST_BYTES = 16          # CUDA runtimes: + the int64 device-order permutation and
                                      # its inverse, on the host
SAMPLE_BYTES = (16, 36)               # per value of a chunk of sampled weights / delay steps
SAMPLE_CHUNK = 1 << 22                # (float64 draws, steps, masks; layout.SAMPLE_CHUNK)
SCATTER_BYTES = 24                    # per synapse placed by position (layout._place_block),
SCATTER_CHUNK = 1 << 23               # layout.SCATTER_CHUNK synapses at a time


def expected_synapses(proj) -> int:
    """Synapses of ``proj``: exact where the rule fixes it, else (FixedProbability) the mean
    plus six standard deviations."""
    rule, n_pre, n_post = proj.rule, proj.pre.size, proj.post.size
    same = proj.pre is proj.post
    n = rule.size(n_pre, n_post, same)
    if n is not None:
        return int(n)
    if isinstance(rule, FixedProbability):
        pairs = n_pre * n_post - (n_pre if same and not rule.allow_self else 0)
        mean = rule.p * pairs
        return int(min(pairs, math.ceil(mean + 6.0 * math.sqrt(mean * (1.0 - rule.p)) + 1)))
    return n_pre * n_post


def delay_steps_reach(spec, dt: float) -> int:
    """The largest delay (steps) a spec can produce (``connect()`` keeps it in range)."""
    from .layout import MAX_DELAY_STEPS
    top = D.reach(spec)
    if not math.isfinite(top):
        return MAX_DELAY_STEPS
    return int(min(MAX_DELAY_STEPS, max(1, np.rint(top / dt))))


@dataclass
class PlannedClass:
    """A synapse class as the description implies it (the attributes the estimates read)."""

    delay: int | None
    n_synapses: int
    delay_itemsize: int
    generated: bool
    delay_bound: int
    members: list = field(default_factory=list)       # [(projection, n_synapses)]


def planned_classes(net, generated=()) -> tuple[list, int]:
    """(classes, max delay in steps) of ``net``'s static projections, from the description:
    one class per constant delay and one with per-synapse delays, separately for the
    projections drawn on the device (``generated``)."""
    from .layout import _delay_key
    dt = net.dt
    generated = set(generated)
    buckets: dict = {}
    max_delay = 1
    for proj in net.projections:
        reach = delay_steps_reach(proj.delay, dt)
        if proj.plasticity is not None:
            max_delay = max(max_delay, reach)
            continue
        key = (proj in generated, _delay_key(proj.delay, dt))
        buckets.setdefault(key, []).append((proj, expected_synapses(proj)))
        if key[1] != "hetero" or not key[0]:
            max_delay = max(max_delay, reach)
    classes = []
    for (gen, k), members in buckets.items():
        n = sum(m for _, m in members)
        reach = max(delay_steps_reach(p.delay, dt) for p, _ in members)
        itemsize = 0 if k != "hetero" else (1 if reach < 256 else 2)
        classes.append(PlannedClass(None if k == "hetero" else k, n, itemsize, gen,
                                    reach if (gen and k == "hetero") else 0, members))
    return classes, max_delay


def _real(net) -> int:
    """Bytes of one state, weight or input value: 4 (float32), 8 with precision="double"."""
    return np.dtype(getattr(net, "dtype", np.float32)).itemsize


def draw_peak(proj, n: int, itemsize: int, real: int = 4) -> int:
    """Peak bytes of drawing one static projection of ``n`` synapses (layout._draw_static):
    the rule's generation, or the drawn result (int32 targets, float32 weights, delay steps of
    ``itemsize`` bytes) with the float64 chunks of sampled values, whichever is larger."""
    rule = proj.rule
    per = DRAW_BYTES.get(type(rule), 36)
    if not getattr(rule, "multapses", True):
        per = max(per, DRAW_BYTES_NO_MULTAPSES.get(type(rule), per))
    if proj.pre is proj.post and not getattr(rule, "allow_self", True):
        per = max(per, DRAW_BYTES_NO_SELF.get(type(rule), per))
    per_value = max(SAMPLE_BYTES[0] if isinstance(proj.weight, D.Distribution) else 0,
                    SAMPLE_BYTES[1] if itemsize and isinstance(proj.delay, D.Distribution)
                    else 0)
    result = (4 + real + itemsize) * n + per_value * min(n, SAMPLE_CHUNK)
    if not isinstance(proj.weight, (D.Distribution, int, float)):
        result += 16 * n                          # weights as an array: float64, reordered
    if itemsize and not isinstance(proj.delay, D.Distribution):
        result += 8 * n                           # delays as an array: float64 steps
    return max(per * n, result) + 16 * proj.pre.size


def host_bytes(net, classes, max_delay: int, device: str = "numpy") -> dict:
    """Estimated host bytes by part for building and running ``net`` on ``device``
    (``"numpy"``; ``"cuda"`` or ``"cuda:host"``: the host side of the CUDA engine, whose own
    arrays the caller adds for cuda:host, where they are host memory)."""
    from .layout import _delay_key
    n_total = sum(p.size for p in net.populations)
    parts = dict.fromkeys(("synapses", "synapse build (transient)", "delay ring", "neuron state",
                           "inputs", "plasticity", "plasticity build (transient)"), 0)
    host_classes = [c for c in classes if not c.generated]
    R = _real(net)                         # int32 column + a weight of R bytes per synapse
    stored = 0
    for c in host_classes:
        idx = 4 if c.n_synapses < 2**31 - 1 else 8
        stored += c.n_synapses * (4 + R + c.delay_itemsize) + idx * (n_total + 1)
        stored += sum(2 * p.pre.size for p, _ in c.members)
    for c in classes:
        if c.generated:                    # only row pointers and counts touch the host
            stored += 8 * (n_total + 1) + sum(10 * p.pre.size for p, _ in c.members)
    parts["synapses"] = stored
    # build peak (layout._build_synapses): first the FixedProbability projections are drawn and
    # held; then, with every class array allocated (and its row lengths), each (source
    # population, class) group is drawn (held members are already) and placed
    held, phase1 = 0, 0
    groups: dict = {}
    for ci, c in enumerate(host_classes):
        for p, n in c.members:
            drawn = n * (4 + R + c.delay_itemsize) + 8 * p.pre.size
            peak = draw_peak(p, n, c.delay_itemsize, R)
            if p.rule.size(p.pre.size, p.post.size, p.pre is p.post) is None:
                phase1 = max(phase1, held + peak)
                held += drawn
                groups.setdefault((p.pre.index, ci), []).append((0, 0, n))
            else:
                groups.setdefault((p.pre.index, ci), []).append((drawn, peak, n))
    # several members of a group are scattered into their rows through int64 positions
    # (layout._place_block: arange, repeat and sum over up to SCATTER_CHUNK synapses)
    group_extra = max((sum(d for d, _, _ in g)
                       + max(max(t - d for d, t, _ in g),
                             SCATTER_BYTES * min(SCATTER_CHUNK, max(n for _, _, n in g))
                             if len(g) > 1 else 0)
                       for g in groups.values()), default=0)
    rowlen = 8 * n_total * len(host_classes)
    peak = max(phase1, stored + rowlen + held + group_extra)
    parts["synapse build (transient)"] = peak - stored
    if any(c.generated for c in classes):
        parts["synapse build (transient)"] += 16 * n_total
    receiving = {p.post.index for p in net.projections} | {
        i.target.index for i in net.poisson_inputs}
    groups_w: dict = {}
    for pop in net.populations:
        if pop.model.is_source:
            continue
        key = pop.model.group_key()
        channels = pop.model.layout(pop.model.options())[0]
        size, on = groups_w.get(key, (0, False))
        groups_w[key] = (size + len(channels) * pop.size, on or pop.index in receiving)
    width = sum(size for size, on in groups_w.values() if on)
    slots = max_delay if width else 0
    parts["delay ring"] = R * slots * width if device == "numpy" else 0   # else on the device
    for pop in net.populations:
        m = pop.model
        per_neuron = sum(np.ndim(v) > 0 for v in m.parameters().values())
        if m.is_source:
            times = getattr(m, "times", ())
            parts["inputs"] += 32 * sum(np.size(t) for t in times) + 8 * pop.size
            continue
        n_state = len(pop.state_names)
        # state + scratch rows + zeros (R bytes each) + mask (NumPy engine), float64 merged
        # parameters and the initial values drawn per population
        parts["neuron state"] += pop.size * (R * (n_state + m.scratch + 1) + 1
                                             + 8 * per_neuron + 8)
    parts["inputs"] += sum(8 * inp.target.size + (1 << 17) for inp in net.poisson_inputs)
    parts["inputs"] += 8 * sum(p.size for p in net.populations
                               if type(p.model).__name__ == "PoissonSource")
    worst = 0
    extra = 0 if device == "numpy" else PLASTIC_CUDA_HOST_BYTES    # perm and reordered copies
    for proj in net.projections:
        if proj.plasticity is None:
            continue
        n = expected_synapses(proj)
        kept = n * (PLASTIC_HOST_BYTES[_delay_key(proj.delay, net.dt) == "hetero"] + extra)
        parts["plasticity"] += kept + 8 * (proj.pre.size + proj.post.size)
        worst = max(worst, PLASTIC_PEAK_BYTES * n - kept + extra * n)
    # the runtimes are built after the static synapses, whose transients are gone by then
    parts["plasticity build (transient)"] = max(0, worst - parts["synapse build (transient)"])
    return parts


def available_host_memory() -> tuple[int, str]:
    """(bytes, description): psutil's available memory, or less under a cgroup memory limit."""
    try:
        import psutil
        free = int(psutil.virtual_memory().available)
        where = "available (psutil)"
    except Exception:                                      # pragma: no cover - psutil missing
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            free = 1 << 62
        where = "free (sysconf)"
    for limit_path, usage_path in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit_path) as f:
                limit = f.read().strip()
            with open(usage_path) as f:
                usage = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < (1 << 60) and int(limit) - usage < free:
            free, where = max(0, int(limit) - usage), "left under the cgroup memory limit"
        break
    return free, where


def gib(b: float) -> str:
    return f"{b / 2**30:.3g} GiB" if b >= 2**28 else f"{b / 2**20:.3g} MiB"


def parts_text(parts: dict) -> str:
    """An estimate's non-zero parts, largest first: ``"synapses 1.2 GiB, delay ring 40 MiB"``."""
    return ", ".join(f"{k} {gib(v)}" for k, v in sorted(parts.items(), key=lambda kv: -kv[1])
                     if v)


def peak_bytes(parts: dict, extra: int = 0) -> int:
    """The peak of the estimate ``parts`` (host_bytes): the synapse build's transients are freed
    before the engine allocates its delay ring (and, on cuda:host, its ``extra`` device
    arrays), so the peak counts the larger of the two, plus everything else."""
    transient = parts.get("synapse build (transient)", 0)
    later = parts.get("delay ring", 0) + extra
    return int(sum(parts.values()) - transient - parts.get("delay ring", 0)
               + max(transient, later))


def check_host_memory(parts: dict, what: str, extra: int = 0) -> None:
    """Raise HostMemoryError if the estimate ``parts`` does not fit in the available host
    memory at its peak (:func:`peak_bytes`); ``extra``: the CUDA engine's arrays in the host
    build (cuda:host), named as their own part."""
    total = int(peak_bytes(parts, extra) * 1.05) + (64 << 20)   # allocator slack, objects
    parts = dict(parts)
    if extra:
        parts["device arrays (cuda:host)"] = extra
    free, where = available_host_memory()
    if total <= free:
        return
    detail = parts_text(parts)
    raise HostMemoryError(
        f"{what} needs about {gib(total)} of host memory at its peak ({detail}) but only "
        f"{gib(free)} is {where}: reduce the largest part (fewer synapses or neurons, a "
        f"shorter maximum delay), close what else holds memory, or run it on a machine with "
        f"more memory", needed=total, available=free, parts=parts)


def recording_bytes(net, steps: int) -> dict:
    """Host bytes the monitors will add over a run of ``steps`` steps, by monitor (state
    samples: float32 (float64 in double precision) per recorded neuron plus an int64 step per
    sample; rates: an int64 count per step). Spike monitors grow with the spikes, unknown beforehand: not counted."""
    from ..monitors import RateMonitor, StateMonitor
    out = {}
    for mon in net.monitors:
        if isinstance(mon, StateMonitor):
            samples = steps // mon.every + 1
            out[f"StateMonitor {mon.variable!r} of {mon.population.name!r} "
                f"({mon.n_recorded:,} neurons every {mon.every} steps)"] = \
                samples * (_real(net) * mon.n_recorded + 8)
        elif isinstance(mon, RateMonitor):
            out[f"RateMonitor of {mon.population.name!r}"] = 8 * steps
    return out


def check_recording(net, steps: int) -> None:
    """Raise HostMemoryError before a run whose state recordings would not fit: what they add,
    twice (the chunks and their concatenation when read), against the available memory."""
    parts = recording_bytes(net, steps)
    total = 2 * sum(parts.values())
    if total < (64 << 20):
        return
    free, where = available_host_memory()
    if total <= free:
        return
    largest = max(parts, key=parts.get)
    raise HostMemoryError(
        f"run(): recording {steps:,} steps needs about {gib(total)} of host memory (the "
        f"monitors' samples and their concatenation when read; largest: {largest}, "
        f"{gib(parts[largest])}) but only {gib(free)} is {where}: record fewer neurons "
        f"(indices=...), sample less often (every=...), or run in shorter pieces and keep "
        f"what each recorded", needed=total, available=free, parts=parts)
