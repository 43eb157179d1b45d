"""Connectivity generated on the device by the kernels of ``kernels/connect.cu``.

``Network(connectivity=...)`` chooses where static projections are drawn:

- ``"host"``: by NumPy on the host (:mod:`neurosim.engine.layout`), then copied to the device;
  a seed gives the same network on every backend (the CUDA backend's results can be compared
  with NumPy's synapse for synapse);
- ``"device"``: by the CUDA kernels on the backend's device (``device="cuda"`` or
  ``"cuda:host"``): only the per-source synapse counts touch the host (a few bytes per neuron),
  the synapse arrays (targets, weights, delays: 9 bytes per synapse) are written in place on the
  GPU, so building costs no host memory and no transfer. Every projection must be supported
  (see :func:`unsupported`), else ``connect()`` says why;
- ``"auto"`` (default): ``"device"`` for the supported projections when the network runs on a
  real GPU (``backend == "cuda"``), ``"host"`` otherwise (NumPy and the ``cuda:host`` test
  backend keep the host draws, so they stay comparable with NumPy).

A device-generated network is a draw from the same distributions as the host's, not the same
draw: the host uses NumPy's PCG64 generators, the device the counter-based Philox4x64-10
streams of ``kernels/connect.cu``, keyed per projection by ``SeedSequence(seed,
spawn_key=(3, projection index))``. It is reproducible (the same seed gives the same synapses
whatever the GPU, launch shape or thread order; weights and delays computed in double precision
may differ in the last bit between a GPU and the host build's libm).

Supported (``unsupported(proj)`` is None): static projections with ``AllToAll``, ``OneToOne``,
``FixedProbability``, and ``FixedTotalNumber`` / ``FixedIndegree`` / ``FixedOutdegree`` with
multapses (the default; ``allow_self=False`` is supported everywhere), weights and delays given
as a number, ``Uniform`` or ``Normal`` (redrawn or clipped bounds), or a distribution with a
``device_form()`` method returning one of these. Plastic projections, ``Explicit`` pairs, weights
or delays given as arrays, and rules without multapses are drawn on the host.

How: row lengths first — ``FixedTotalNumber``'s multinomial counts per source are drawn on the
host from ``rng_for(seed, 4, index)`` (n_pre values), fixed degrees are known, and
``FixedProbability`` / ``FixedIndegree`` count on the device (``connect_bernoulli`` in count
mode; ``connect_indegree_keys`` + a bincount) — then the layout builds the class's row pointers
on the host, and the kernels write every synapse at its final position (targets; then weights;
then delay steps for per-synapse-delay classes). ``FixedIndegree`` draws ``source * n_post +
target`` keys per target and sorts them on the device (CuPy's radix sort), so its transient
peak is 8 bytes per synapse of the projection being generated; the keys are drawn twice, once
to count the rows and again to fill them (the same counter-based numbers), so that no
projection's keys are held while the others are counted. The other rules need no temporary
per-synapse array.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import distributions as D
from .. import truncnorm
from ..connectivity import (AllToAll, FixedIndegree, FixedOutdegree, FixedProbability,
                            FixedTotalNumber, OneToOne)

MODES = ("auto", "host", "device")
KEY_SPAWN = 3               # SeedSequence spawn key (3, index): the projection's Philox key
COUNTS_SPAWN = 4            # (4, index): host draws of the row lengths (FixedTotalNumber)
MAX_DELAY_STEPS = 2**15 - 1
KERNELS = "connect.cu"
TARGET_MODES = {FixedTotalNumber: 0, FixedOutdegree: 0, AllToAll: 1, OneToOne: 2}
# |z| of the Box-Muller normal is at most sqrt(-2 ln 2^-53): the largest value a normal spec
# can produce on the device (used to bound the delay ring before the delays exist)
MAX_NORMAL_Z = D.MAX_NORMAL_Z

I32, I64, U64, F64 = np.int32, np.int64, np.uint64, np.float64


def connect_key(seed: int, index: int) -> np.ndarray:
    """The 2 x uint64 Philox key of projection ``index``."""
    return np.random.SeedSequence(seed, spawn_key=(KEY_SPAWN, index)).generate_state(2, np.uint64)


def value_spec(spec) -> tuple | None:
    """``(kind, a, b, lo, hi, clip)`` of a weight/delay spec for the kernels, None if unsupported.

    kind 0: the number ``a``; 1: uniform on ``[a, b)``; 2: normal (mean ``a``, std ``b``) in
    ``[lo, hi]``, redrawn (clip 0; at most 100 times, then by the inverse CDF) or clipped
    (clip 1); 3: normal truncated to ``[lo, hi]`` by the inverse CDF, for redrawn bounds that
    hold less than :data:`~neurosim.distributions.REDRAW_MIN_MASS` of the distribution (the
    host's choice for the same spec, see :class:`~neurosim.distributions.Normal`).
    """
    if isinstance(spec, numbers.Real) and not isinstance(spec, bool):
        return (0, float(spec), 0.0, -np.inf, np.inf, 0)
    form = getattr(spec, "device_form", None)
    if form is not None and not isinstance(spec, (D.Uniform, D.Normal)):
        spec = form()
    if isinstance(spec, D.Uniform):
        return (1, float(spec.low), float(spec.high), -np.inf, np.inf, 0)
    if isinstance(spec, D.Normal):
        lo, hi = spec.bounds()
        clip = int(spec.bound == "clip")
        direct = not clip and spec.std > 0 and spec.truncated_mass() < D.REDRAW_MIN_MASS
        return (3 if direct else 2, float(spec.mean), float(spec.std), lo, hi, clip)
    return None


def unsupported(proj) -> str | None:
    """Why ``proj`` cannot be generated on the device, or None if it can."""
    rule = proj.rule
    if proj.plasticity is not None:
        return "plastic projections are built by their rule's runtime from host draws"
    if type(rule) not in TARGET_MODES and type(rule) not in (FixedProbability, FixedIndegree):
        return f"the rule {type(rule).__name__} is drawn on the host"
    if not getattr(rule, "multapses", True):
        return f"{type(rule).__name__} with multapses=False is drawn on the host"
    for name, spec in (("weight", proj.weight), ("delay", proj.delay)):
        if value_spec(spec) is None:
            what = ("an array" if not isinstance(spec, D.Distribution)
                    else f"a {type(spec).__name__} distribution")
            return (f"its {name} is {what}; the device draws numbers, Uniform and Normal "
                    f"(or distributions with a device_form() method)")
    return None


def value_bound(spec) -> float:
    """The largest value the device can draw for a supported spec (:func:`value_spec`)."""
    kind, a, b, lo, hi, clip = value_spec(spec)
    if kind == 0:
        return a
    if kind == 1:
        return b
    top = a + MAX_NORMAL_Z * b                       # Box-Muller's largest value
    bounded = bool(np.isfinite(lo) or np.isfinite(hi))
    if kind == 3 or (kind == 2 and not clip and bounded and b > 0):
        # the inverse CDF's largest value (kind 2: for the values left after the redraws)
        x = truncnorm.largest((lo - a) / b, (hi - a) / b)
        top = max(a + b * x, top if kind == 2 else -np.inf)
    return float(min(hi, top))


def delay_bound_steps(spec, dt: float) -> int:
    """The largest delay (steps) the device can draw for ``spec``."""
    return int(min(MAX_DELAY_STEPS, max(1, np.rint(value_bound(spec) / dt))))


def generated_projections(net, backend: str) -> list:
    """The static projections of ``net`` to generate on ``backend``'s device (see the module
    docstring); raises ValueError for ``connectivity="device"`` where that is impossible."""
    mode = net.connectivity
    static = [p for p in net.projections if p.plasticity is None]
    if mode == "host":
        return []
    if mode == "device":
        if backend not in ("cuda", "cuda:host"):
            raise ValueError(f"Network(connectivity='device') draws connections with the CUDA "
                             f"kernels, but this network runs on the {backend!r} backend "
                             f"(device={net.device!r}); use device='cuda' (or 'cuda:host'), or "
                             f"connectivity='host'")
        for p in static:
            why = unsupported(p)
            if why is not None:
                raise ValueError(f"Network(connectivity='device'): projection {p.name!r} "
                                 f"cannot be generated on the device: {why}")
        return static
    if backend != "cuda":
        return []
    return [p for p in static if unsupported(p) is None]


def _log1mp(p: float) -> np.float64:
    """log(1 - p) for the geometric gaps of FixedProbability (-inf for p = 1)."""
    with np.errstate(divide="ignore"):
        return F64(np.log1p(-float(p)))


class DeviceConnectivity:
    """Row lengths and synapse arrays of the projections generated on one engine's device."""

    def __init__(self, dev, net, projections):
        self.dev, self.net = dev, net
        self.projections = list(projections)
        self._set = set(self.projections)

    def generates(self, proj) -> bool:
        return proj in self._set

    # -- launching ---------------------------------------------------------------------------
    def _launch(self, name: str, n: int, *args) -> None:
        kernel = self.dev.kernel(KERNELS, name)
        if self.dev.host:                      # one host thread loops over everything
            grid, block = (1,), (1,)
        else:
            from .cuda_tuning import BLOCK
            grid, block = (max(1, min(-(-int(n) // BLOCK), 1 << 20)),), (BLOCK,)
        with self.dev.context():
            kernel(grid, block, args)

    def _key(self, proj):
        k = connect_key(self.net.seed, proj.index)
        return U64(k[0]), U64(k[1])

    @staticmethod
    def _exclude(proj) -> int:
        return int(proj.pre is proj.post and not getattr(proj.rule, "allow_self", True))

    # -- row lengths -------------------------------------------------------------------------
    def counts(self, proj) -> np.ndarray:
        """Synapses per source neuron (int64, ``proj.pre.size``), drawn without the synapses."""
        rule, n_pre, n_post = proj.rule, proj.pre.size, proj.post.size
        excl = self._exclude(proj)
        if isinstance(rule, FixedTotalNumber):
            if rule.n == 0:
                return np.zeros(n_pre, np.int64)
            from .layout import rng_for
            rng = rng_for(self.net.seed, COUNTS_SPAWN, proj.index)
            return rng.multinomial(rule.n, np.full(n_pre, 1.0 / n_pre)).astype(np.int64)
        if isinstance(rule, FixedOutdegree):
            return np.full(n_pre, rule.k, np.int64)
        if isinstance(rule, AllToAll):
            return np.full(n_pre, n_post - excl, np.int64)
        if isinstance(rule, OneToOne):
            return np.ones(n_pre, np.int64)
        xp = self.dev.xp
        if isinstance(rule, FixedProbability):
            if rule.p <= 0.0:
                return np.zeros(n_pre, np.int64)
            counts = self.dev.zeros(n_pre, np.int64)
            self._launch("connect_bernoulli", n_pre, I32(1), *self._key(proj),
                         _log1mp(rule.p), I32(n_pre), I32(n_post), I32(excl), counts,
                         self.dev.zeros(1, np.int64), I32(0), self.dev.zeros(1, np.int32))
            return np.asarray(self.dev.get(counts), np.int64)
        if isinstance(rule, FixedIndegree):
            keys = self._indegree_keys(proj)
            with self.dev.context():
                counts = xp.bincount(keys // n_post, minlength=n_pre)
            return np.asarray(self.dev.get(counts), np.int64)
        raise TypeError(f"internal error: {rule!r} is not generated on the device")

    def _indegree_keys(self, proj):
        rule, n_post = proj.rule, proj.post.size
        n = n_post * rule.k
        keys = self.dev.zeros(max(1, n), np.int64)[:n]
        if n:
            self._launch("connect_indegree_keys", n, *self._key(proj), I32(n_post), I32(rule.k),
                         I32(proj.pre.size), I32(self._exclude(proj)), keys)
        return keys

    # -- synapses ----------------------------------------------------------------------------
    def fill(self, proj, counts: np.ndarray, dst: np.ndarray, col_base: int, cols, weights,
             steps, bad) -> None:
        """Write ``proj``'s synapses into class arrays: synapse ``r`` of source ``i`` at
        ``dst[i] + r``; ``steps`` (int16) is None for a constant-delay class; ``bad`` an int32
        device array of 2 flags (a redraw that never ended, a delay beyond the int16 range)."""
        dev, rule = self.dev, proj.rule
        n_pre, n_post = proj.pre.size, proj.post.size
        moff_h = np.zeros(n_pre + 1, np.int64)
        np.cumsum(counts, out=moff_h[1:])
        n_syn = int(moff_h[-1])
        if n_syn == 0:
            return
        moff, dstd = dev.put(moff_h), dev.put(np.asarray(dst, np.int64))
        key = self._key(proj)
        excl = I32(self._exclude(proj))
        if type(rule) in TARGET_MODES:
            self._launch("connect_targets", n_syn, I32(TARGET_MODES[type(rule)]), *key,
                         I64(n_syn), I32(n_pre), I32(n_post), excl, moff, dstd, I32(col_base),
                         cols)
        elif isinstance(rule, FixedProbability):
            self._launch("connect_bernoulli", n_pre, I32(0), *key, _log1mp(rule.p),
                         I32(n_pre), I32(n_post), excl, dev.zeros(1, np.int64), dstd,
                         I32(col_base), cols)
        else:                                   # FixedIndegree: sorted (source, target) keys
            keys = self._indegree_keys(proj)
            with dev.context():
                keys.sort()
            self._launch("connect_cols_from_keys", n_syn, I64(n_syn), I32(n_post), keys, moff,
                         dstd, I32(col_base), cols)
            del keys
        kind, a, b, lo, hi, clip = value_spec(proj.weight)
        self._launch("connect_weights", n_syn, I32(kind), F64(a), F64(b), F64(lo), F64(hi),
                     I32(clip), *key, I64(n_syn), I32(n_pre), moff, dstd, weights, bad)
        if steps is not None:
            kind, a, b, lo, hi, clip = value_spec(proj.delay)
            self._launch("connect_delay_steps", n_syn, I32(kind), F64(a), F64(b), F64(lo),
                         F64(hi), I32(clip), F64(self.net.dt), *key, I64(n_syn), I32(n_pre),
                         moff, dstd, steps, bad)
