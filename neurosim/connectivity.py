"""Connection rules: which (pre, post) pairs a projection contains.

Every rule is an immutable record validated when created; ``check(n_pre, n_post, same)`` validates
it against the populations when ``Network.connect`` is called (before any work), and
``generate(n_pre, n_post, same, rng)`` draws the pairs (vectorised) when the network is built.
``same`` is True when source and target are the same population; ``allow_self=False`` then
excludes the pairs (i, i). ``multapses`` (several synapses between one pair) are allowed only by
the fixed-degree and fixed-total-number rules with ``multapses=True`` (the default, as NEST),
where sources (targets) are drawn with replacement. ``allow_self`` and ``multapses`` must be
``True`` or ``False``; one projection holds at most ``2**31 - 1`` synapses (int32 indices),
checked by ``Network.connect`` before anything is drawn.

``generate`` returns the pairs as int64 arrays in the rule's own order (the order that weights
given as arrays follow). The engine asks for them grouped by source instead
(``generate_by_source``: per-source counts and int32 targets in source-major order), which rules
that draw pairs in that order anyway produce without a sort; ``size`` gives the number of synapses
when it is known before drawing, so the engine can allocate its arrays once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import _validate as V


class Rule:
    """Base class of connection rules."""

    ordered = False  # True if the order of pairs is defined (weights may then be given as arrays)

    def check(self, n_pre: int, n_post: int, same: bool) -> None:
        """Raise ValueError before any work if the rule cannot be applied to these sizes."""

    def generate(self, n_pre, n_post, same, rng) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError  # pragma: no cover

    def size(self, n_pre: int, n_post: int, same: bool) -> int | None:
        """Number of synapses if it is fixed before drawing (else None)."""
        return None

    def generate_by_source(self, n_pre, n_post, same, rng):
        """``(counts, post, order)``: synapses grouped by source.

        ``counts`` (int64, ``n_pre``) per source, ``post`` (int32) the targets in source-major
        order, ``order`` the permutation from :meth:`generate`'s order to this one for rules with
        a defined order (None if it is the identity or the rule has none). Same random draws as
        :meth:`generate`.
        """
        pre, post = self.generate(n_pre, n_post, same, rng)
        return group_by_source(pre, post, n_pre, n_post, keep_order=self.ordered)


@dataclass(frozen=True)
class AllToAll(Rule):
    """Every source to every target (pre-major order); ``allow_self`` for recurrent ones."""

    allow_self: bool = True
    ordered = True

    def __post_init__(self):
        _check_flags(self)

    def generate(self, n_pre, n_post, same, rng):
        pre = np.repeat(np.arange(n_pre, dtype=np.int64), n_post)
        post = np.tile(np.arange(n_post, dtype=np.int64), n_pre)
        if same and not self.allow_self:
            keep = pre != post
            pre, post = pre[keep], post[keep]
        return pre, post

    def size(self, n_pre, n_post, same):
        return n_pre * n_post - (n_pre if same and not self.allow_self else 0)


@dataclass(frozen=True)
class OneToOne(Rule):
    """Source i to target i; both populations must have the same size."""

    ordered = True

    def check(self, n_pre, n_post, same):
        if n_pre != n_post:
            raise ValueError(f"connect(): OneToOne needs populations of equal size, got "
                             f"{n_pre} sources and {n_post} targets")

    def generate(self, n_pre, n_post, same, rng):
        i = np.arange(n_pre, dtype=np.int64)
        return i, i.copy()

    def size(self, n_pre, n_post, same):
        return n_pre


@dataclass(frozen=True)
class FixedProbability(Rule):
    """Each ordered pair independently with probability ``p`` (Bernoulli)."""

    p: float
    allow_self: bool = True

    def __post_init__(self):
        V.probability("FixedProbability", "p", self.p)
        _check_flags(self)

    def generate(self, n_pre, n_post, same, rng):
        flat = _bernoulli_positions(n_pre * n_post, float(self.p), rng)
        pre, post = np.divmod(flat, n_post)
        if same and not self.allow_self:
            keep = pre != post
            pre, post = pre[keep], post[keep]
        return pre, post


@dataclass(frozen=True)
class FixedIndegree(Rule):
    """Each target receives exactly ``k`` synapses from sources drawn at random."""

    k: int
    allow_self: bool = True
    multapses: bool = True

    def __post_init__(self):
        V.integer("FixedIndegree", "k", self.k, minimum=0, maximum=V.MAX_INDEX)
        _check_flags(self)

    def check(self, n_pre, n_post, same):
        _check_degree("FixedIndegree", "k", self.k, n_pre, same, self.allow_self, self.multapses)

    def generate(self, n_pre, n_post, same, rng):
        src = _draw_degree(n_post, n_pre, self.k, same, self.allow_self, self.multapses, rng)
        post = np.repeat(np.arange(n_post, dtype=np.int64), self.k)
        return src.ravel(), post

    def size(self, n_pre, n_post, same):
        return n_post * self.k

    def generate_by_source(self, n_pre, n_post, same, rng):
        """As the generic path (the same draws, the same pairs sorted by source then target),
        in about 12 bytes per synapse at the peak instead of about 35: the drawn sources become
        ``source * n_post + target`` keys in place (targets added in chunks), one in-place sort,
        and the int32 targets are read off in chunks."""
        key = _draw_degree(n_post, n_pre, self.k, same, self.allow_self, self.multapses,
                           rng).reshape(-1)
        counts = np.bincount(key, minlength=n_pre).astype(np.int64)
        key *= n_post
        n = key.size
        for a in range(0, n, _CHUNK):
            b = min(n, a + _CHUNK)
            key[a:b] += np.arange(a, b, dtype=np.int64) // self.k
        key.sort()
        post = np.empty(n, np.int32)
        for a in range(0, n, _CHUNK):
            b = min(n, a + _CHUNK)
            post[a:b] = key[a:b] % n_post
        return counts, post, None


@dataclass(frozen=True)
class FixedOutdegree(Rule):
    """Each source projects exactly ``k`` synapses to targets drawn at random."""

    k: int
    allow_self: bool = True
    multapses: bool = True

    def __post_init__(self):
        V.integer("FixedOutdegree", "k", self.k, minimum=0, maximum=V.MAX_INDEX)
        _check_flags(self)

    def check(self, n_pre, n_post, same):
        _check_degree("FixedOutdegree", "k", self.k, n_post, same, self.allow_self, self.multapses)

    def generate(self, n_pre, n_post, same, rng):
        tgt = _draw_degree(n_pre, n_post, self.k, same, self.allow_self, self.multapses, rng)
        pre = np.repeat(np.arange(n_pre, dtype=np.int64), self.k)
        return pre, tgt.ravel()

    def size(self, n_pre, n_post, same):
        return n_pre * self.k


@dataclass(frozen=True)
class FixedTotalNumber(Rule):
    """Exactly ``n`` synapses, each from a source and to a target drawn uniformly at random.

    NEST's ``fixed_total_number`` rule (used by the Potjans & Diesmann microcircuit): with
    ``multapses=True`` (default) the ``n`` (source, target) pairs are drawn independently with
    replacement, so in- and out-degrees are binomial around ``n / n_post`` and ``n / n_pre``;
    with ``multapses=False`` they are ``n`` distinct pairs. ``allow_self=False`` excludes the
    pairs (i, i) of a recurrent projection (a drawn self-pair is redrawn).

    The pairs are drawn source by source: the numbers of synapses per source are one
    multinomial draw, then each synapse's target is drawn uniformly, which is the same
    distribution as drawing ``n`` independent pairs and needs no sort.
    """

    n: int
    allow_self: bool = True
    multapses: bool = True

    def __post_init__(self):
        V.integer("FixedTotalNumber", "n", self.n, minimum=0, maximum=V.MAX_INDEX)
        _check_flags(self)

    def check(self, n_pre, n_post, same):
        eligible = _eligible_pairs(n_pre, n_post, same, self.allow_self)
        if self.n > 0 and eligible == 0:
            raise ValueError(f"connect(): FixedTotalNumber n={self.n} but there are no eligible "
                             f"pairs")
        if not self.multapses and self.n > eligible:
            raise ValueError(f"connect(): FixedTotalNumber n={self.n} is larger than the "
                             f"{eligible} eligible pairs and multapses=False; allow multapses or "
                             f"lower n")

    def size(self, n_pre, n_post, same):
        return self.n

    def generate(self, n_pre, n_post, same, rng):
        counts, post, _ = self.generate_by_source(n_pre, n_post, same, rng)
        pre = np.repeat(np.arange(n_pre, dtype=np.int64), counts)
        return pre, post.astype(np.int64)

    def generate_by_source(self, n_pre, n_post, same, rng):
        exclude_self = same and not self.allow_self
        if self.n == 0:
            return np.zeros(n_pre, np.int64), np.zeros(0, np.int32), None
        if not self.multapses:
            flat = np.sort(rng.choice(_eligible_pairs(n_pre, n_post, same, self.allow_self),
                                      size=self.n, replace=False, shuffle=False))
            width = n_post - 1 if exclude_self else n_post
            pre, post = np.divmod(flat, width)
            if exclude_self:
                post += post >= pre             # skip the diagonal
            return np.bincount(pre, minlength=n_pre), post.astype(np.int32), None
        counts = rng.multinomial(self.n, np.full(n_pre, 1.0 / n_pre))
        post = rng.integers(0, n_post, size=self.n, dtype=np.int32)
        if exclude_self:
            pre = np.repeat(np.arange(n_pre, dtype=np.int32), counts)
            bad = np.flatnonzero(post == pre)
            while bad.size:
                post[bad] = rng.integers(0, n_post, size=bad.size, dtype=np.int32)
                bad = bad[post[bad] == pre[bad]]
        return counts.astype(np.int64), post, None


class Explicit(Rule):
    """Explicit pairs: ``Explicit(pre, post)`` with integer arrays of equal length.

    Weights and delays given to ``connect`` as arrays follow the order of these pairs.
    """

    ordered = True

    def __init__(self, pre, post):
        self.pre = _index_array("Explicit", "pre", pre)
        self.post = _index_array("Explicit", "post", post)
        if self.pre.shape != self.post.shape:
            raise ValueError(f"Explicit: pre and post must have equal length, got "
                             f"{self.pre.size} and {self.post.size}")

    def __repr__(self):
        return f"Explicit(n={self.pre.size})"

    def check(self, n_pre, n_post, same):
        for name, arr, n in (("pre", self.pre, n_pre), ("post", self.post, n_post)):
            if arr.size and (arr.min() < 0 or arr.max() >= n):
                bad = arr[(arr < 0) | (arr >= n)][0]
                raise ValueError(f"connect(): Explicit {name} index {bad} is outside [0, {n})")

    def generate(self, n_pre, n_post, same, rng):
        return self.pre.copy(), self.post.copy()

    def size(self, n_pre, n_post, same):
        return int(self.pre.size)


def n_pairs_hint(rule: Rule, n_pre: int, n_post: int) -> int | None:
    """Number of synapses when it is known before generating (else None)."""
    if isinstance(rule, AllToAll):
        return n_pre * n_post if rule.allow_self else None
    if isinstance(rule, OneToOne):
        return n_pre
    if isinstance(rule, Explicit):
        return rule.pre.size
    return None


def group_by_source(pre, post, n_pre, n_post, keep_order=False):
    """``(counts int64, post int32 in source-major order, order or None)`` from pairs.

    Pairs already sorted by source are only counted. Otherwise they are sorted: stably, with the
    permutation returned, when ``keep_order`` (rules whose pair order weights may follow);
    else by (source, target) with one sort of an int64 key, which is fastest.
    """
    pre = np.asarray(pre)
    counts = np.bincount(pre, minlength=n_pre).astype(np.int64)
    if pre.size < 2 or bool(np.all(pre[1:] >= pre[:-1])):
        return counts, np.asarray(post).astype(np.int32), None
    if keep_order:
        order = np.argsort(pre, kind="stable")
        return counts, np.asarray(post)[order].astype(np.int32), order
    key = pre.astype(np.int64) * n_post
    key += post
    key.sort()
    return counts, (key % n_post).astype(np.int32), None


# -- helpers ---------------------------------------------------------------------------------

_CHUNK = 1 << 22             # elements per temporary in the bounded-memory builds

def _check_flags(rule) -> None:
    """``allow_self`` and ``multapses`` are booleans (``"no"`` or ``0`` would be taken as set)."""
    where = type(rule).__name__
    for name in ("allow_self", "multapses"):
        if hasattr(rule, name):
            object.__setattr__(rule, name, V.boolean(where, name, getattr(rule, name)))


def expected_size(rule: Rule, n_pre: int, n_post: int, same: bool) -> int:
    """The number of synapses a rule makes, or its expectation for ``FixedProbability``."""
    n = rule.size(n_pre, n_post, same)
    if n is None and isinstance(rule, FixedProbability):
        n = int(math.ceil(rule.p * _eligible_pairs(n_pre, n_post, same, rule.allow_self)))
    return 0 if n is None else int(n)


def _eligible_pairs(n_pre, n_post, same, allow_self) -> int:
    return n_pre * n_post - (n_pre if same and not allow_self else 0)


def _index_array(where, name, value) -> np.ndarray:
    if value is None or isinstance(value, (str, bytes, dict, set)):
        raise TypeError(f"{where}: {name} must be a 1-D integer array, got {V.show(value)}")
    arr = np.asarray(value)
    if arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{where}: {name} must be a 1-D integer array, got dtype {arr.dtype}, "
                        f"shape {arr.shape} ({V.show(value)})")
    return arr.astype(np.int64)


def _check_degree(where, name, k, n_from, same, allow_self, multapses):
    available = n_from - (1 if same and not allow_self else 0)
    if k > 0 and available <= 0:
        raise ValueError(f"connect(): {where} {name}={k} but there are no eligible partners")
    if not multapses and k > available:
        raise ValueError(f"connect(): {where} {name}={k} is larger than the {available} eligible "
                         f"partners and multapses=False; allow multapses or lower {name}")


def _bernoulli_positions(n_total: int, p: float, rng) -> np.ndarray:
    """Sorted positions in [0, n_total) each included independently with probability p.

    Geometric gaps between successes: O(number of synapses) time and memory, never O(n_total).
    """
    if p <= 0.0 or n_total == 0:
        return np.zeros(0, np.int64)
    if p >= 1.0:
        return np.arange(n_total, dtype=np.int64)
    chunks, last = [], -1
    expect = int(n_total * p)
    batch = max(1024, int(expect + 6 * np.sqrt(expect + 1)) + 16)
    while True:
        gaps = rng.geometric(p, size=batch)
        pos = last + np.cumsum(gaps)
        cut = np.searchsorted(pos, n_total)
        chunks.append(pos[:cut])
        if cut < pos.size:
            break
        last = int(pos[-1])
        batch = max(1024, batch // 4)
    return np.concatenate(chunks)


def _draw_degree(n_rows, n_from, k, same, allow_self, multapses, rng) -> np.ndarray:
    """(n_rows, k) partners drawn from [0, n_from) for each row."""
    if k == 0 or n_rows == 0:
        return np.zeros((n_rows, k), np.int64)
    rows = np.arange(n_rows, dtype=np.int64)[:, None]
    exclude_self = same and not allow_self
    if not multapses and k > n_from // 2:
        # dense case: a random permutation per row (in row chunks to bound memory)
        out = np.empty((n_rows, k), np.int64)
        step = max(1, 2_000_000 // max(n_from, 1))
        for r0 in range(0, n_rows, step):
            r1 = min(n_rows, r0 + step)
            keys = rng.random((r1 - r0, n_from))
            if exclude_self:
                keys[np.arange(r1 - r0), np.arange(r0, r1)] = 2.0  # sorts last
            out[r0:r1] = np.argsort(keys, axis=1)[:, :k]
        return out
    src = rng.integers(0, n_from, size=(n_rows, k), dtype=np.int64)
    while True:
        bad = np.zeros(src.shape, bool)
        if exclude_self:
            bad |= src == rows
        if not multapses:
            order = np.argsort(src, axis=1, kind="stable")
            srt = np.take_along_axis(src, order, axis=1)
            dup = np.zeros(src.shape, bool)
            dup[:, 1:] = srt[:, 1:] == srt[:, :-1]
            np.put_along_axis(bad, order, dup | np.take_along_axis(bad, order, axis=1), axis=1)
        nbad = int(bad.sum())
        if nbad == 0:
            return src
        src[bad] = rng.integers(0, n_from, size=nbad, dtype=np.int64)
