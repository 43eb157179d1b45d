"""Counter-based random numbers, identical on the NumPy and CUDA backends.

Both backends draw from numpy's Philox4x64-10 bit generator: NumPy through
``np.random.Philox`` itself (its C code), CUDA through ``kernels/philox.cuh``,
which computes the same function. A *stream* is the sequence of raw uint64
values of one key, indexed by a position ``p = 0, 1, 2...``::

    raw(p) == np.random.Philox(key=key).random_raw(p + 1)[p]

Numpy increments the 256-bit counter before each block of 4 values, so
``raw(p)`` is word ``p % 4`` of Philox(counter = p // 4 + 1, key).
``Philox.advance(d)`` adds ``d`` to the counter: it skips ``d`` *blocks*
(4*d raw values) and drops any values left in the buffer.

Seeding: ``StreamRNG(seed)`` takes the key from ``np.random.SeedSequence(seed)
.generate_state(2, np.uint64)``, as ``np.random.Philox(seed)`` does, so
``StreamRNG(seed).raw(0, n)`` equals ``np.random.Philox(seed).random_raw(n)``.
Give numpy keys and counters as uint64 arrays, never as lists of Python ints:
``np.random.Philox(key=[a, b])`` converts a list that mixes values above and
below 2**63 through float64 and silently rounds the key (numpy 2.4).

Positions instead of a moving state: the engine gives every random "stream"
of a network (one Poisson input, one Poisson source population...) a fixed
range of positions per time step, reserved once when the engine is built::

    rng = StreamRNG(seed=1234)
    drive = rng.reserve(12_500)          # offset of a 12,500-draw range
    ...
    raw = rng.block(step, drive, 12_500) # positions step*rng.stream_width + drive + i

so each thread of a kernel knows which numbers are its own whatever the
launch order, and both backends draw the same numbers for the same seed. A
kernel gets ``rng.kernel_args(step, drive)`` = ``(key0, key1, position0)`` as
typed ``np.uint64`` scalars and uses ``ns_philox_raw(key0, key1, position0 + i)``.

Derived draws, written once here and once in the kernels:

* ``uniform24(raw) = (raw >> 40) * 2**-24``: an exact float32 in [0, 1);
* Poisson counts by inversion of a float32 CDF table (:func:`poisson_cdf_table`):
  ``count = #{k : cdf[k] <= u}``, :func:`poisson_counts`, and the fast
  :meth:`PoissonTable.counts_from_raw` for the NumPy backend;
* Bernoulli draws ``u < p`` with ``p`` rounded to float32 (:func:`bernoulli`).

Cost on the NumPy backend, 12,500 draws (one per neuron of Brunel's network):
about 50 us for the raw values (numpy's C Philox), 10 us for uniforms, 30 us
for Poisson counts from raw values (see tests/test_rng.py for the budget).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "StreamRNG",
    "PoissonTable",
    "philox_key",
    "philox_raw",
    "philox_blocks_spanned",
    "uniform24",
    "poisson_cdf_table",
    "poisson_counts",
    "bernoulli",
    "MAX_POISSON_LAMBDA",
]

_U64 = np.uint64
_MASK64 = (1 << 64) - 1
_TWO_M24 = np.float32(2.0**-24)
#: Largest mean :func:`poisson_cdf_table` accepts: the kernels scan the table
#: linearly, about ``lam + 6 sqrt(lam)`` comparisons per draw.
MAX_POISSON_LAMBDA = 1000.0


def philox_key(seed) -> np.ndarray:
    """numpy's Philox key for ``seed`` (an int, a sequence of ints or a
    ``SeedSequence``): ``SeedSequence(seed).generate_state(2, np.uint64)``."""
    seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return seq.generate_state(2, np.uint64)


def _counter_words(counter: int) -> np.ndarray:
    counter %= 1 << 256
    return np.array([(counter >> (64 * i)) & _MASK64 for i in range(4)], dtype=np.uint64)


def philox_raw(key, counter, position: int, n: int) -> np.ndarray:
    """Raw values ``position .. position+n-1`` of
    ``np.random.Philox(key=key, counter=counter).random_raw()``.

    ``key``: 2 uint64 words (or an int < 2**128); ``counter``: 4 words (or an
    int < 2**256), numpy's base counter. Builds a fresh ``Philox`` per call:
    the general reference; :class:`StreamRNG` is the fast path.
    """
    if position < 0 or n < 0:
        raise ValueError(f"philox_raw(): position and n must be >= 0, got {position}, {n}")
    if not isinstance(counter, int):
        words = np.array(counter, dtype=np.uint64).reshape(4)
        counter = sum(int(w) << (64 * i) for i, w in enumerate(words))
    # explicit uint64: numpy converts a list like [2**62, 2**63 + 1] through
    # float64 and silently rounds the key
    key = key if isinstance(key, int) else np.array(key, dtype=np.uint64).reshape(2)
    block, lane = divmod(int(position), 4)
    bitgen = np.random.Philox(key=key, counter=_counter_words(counter + block))
    return bitgen.random_raw(n + lane)[lane:]


def philox_blocks_spanned(position0: int, n: int) -> int:
    """How many Philox blocks (of 4 values) positions ``position0 ..
    position0+n-1`` touch: the thread count that gives every thread of a
    ``kernels/random.cu`` kernel one block (``ns_philox_blocks_spanned``)."""
    if n <= 0:
        return 0
    return (position0 + n - 1) // 4 - position0 // 4 + 1


def uniform24(raw: np.ndarray) -> np.ndarray:
    """float32 uniforms in [0, 1) from raw uint64 values: ``(raw >> 40) * 2**-24``,
    exactly as ``ns_uniform24`` in ``kernels/philox.cuh``."""
    top = (np.asarray(raw, dtype=np.uint64) >> _U64(40)).astype(np.int32)
    out = top.astype(np.float32)
    out *= _TWO_M24
    return out


def poisson_cdf_table(lam: float) -> np.ndarray:
    """float32 table of the Poisson(``lam``) CDF for sampling by inversion.

    ``cdf[k] = P(X <= k)``, computed in float64 from ``exp(k log lam - lam -
    lgamma(k + 1))`` and rounded to float32, up to the first entry that rounds
    to 1.0, which is stored as exactly 1.0 (so a count never exceeds
    ``len(cdf) - 1``; the probability cut off is below 2**-25). Entries below
    float32's smallest normal number are stored as 0, so flushing denormals
    (CuPy's ``-ftz=true``) cannot change a comparison. ``lam = 0`` gives
    ``[1.0]``. ``lam`` must be finite, in [0, :data:`MAX_POISSON_LAMBDA`].
    """
    lam = float(lam)
    if not (math.isfinite(lam) and 0.0 <= lam <= MAX_POISSON_LAMBDA):
        raise ValueError(f"poisson_cdf_table(): lam must be in [0, {MAX_POISSON_LAMBDA:g}], "
                         f"got {lam!r}")
    if lam == 0.0:
        return np.ones(1, dtype=np.float32)
    kmax = int(lam + 20.0 * math.sqrt(lam) + 40.0)
    k = np.arange(kmax + 1, dtype=np.float64)
    lgamma = np.array([math.lgamma(x + 1.0) for x in range(kmax + 1)])
    pmf = np.exp(k * math.log(lam) - lam - lgamma)
    cdf64 = np.cumsum(pmf)
    # float32 rounds x >= 1 - 2**-25 to 1.0: stop at the first such entry
    last = int(np.searchsorted(cdf64, 1.0 - 2.0**-25, side="left"))
    last = min(last, kmax)
    cdf = cdf64[: last + 1].astype(np.float32)
    cdf[cdf < np.finfo(np.float32).tiny] = 0.0
    cdf[-1] = 1.0
    return cdf


def poisson_counts(uniforms: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    """Counts by inversion: ``count = #{k : cdf[k] <= u}`` for each uniform,
    i.e. ``np.searchsorted(cdf, u, side='right')`` as int32; the kernels'
    linear scan ``while (k < len && cdf[k] <= u) ++k;`` gives the same."""
    cdf = np.asarray(cdf, dtype=np.float32)
    u = np.asarray(uniforms, dtype=np.float32)
    return np.searchsorted(cdf, u, side="right").astype(np.int32)


def bernoulli(uniforms: np.ndarray, p) -> np.ndarray:
    """``u < p`` with ``p`` rounded to float32 first, as the kernels compare."""
    return np.asarray(uniforms, dtype=np.float32) < np.float32(p)


class PoissonTable:
    """A Poisson(``lam``) table: ``cdf`` for the kernels, fast counts for NumPy.

    ``cdf`` (float32) and ``cdf_len`` (``np.int32``) are the kernel arguments.
    :meth:`counts_from_raw` equals ``poisson_counts(uniform24(raw), cdf)`` bit
    for bit but avoids a binary search per draw: ``cdf[k] <= u`` with ``u = j *
    2**-24`` is ``ceil(cdf[k] * 2**24) <= j`` for the integer ``j = raw >> 40``,
    so the count is a lookup on the top bits of ``j``, with a search only for
    the rare draws whose bucket contains a threshold.
    """

    _BUCKET_BITS = 14  # 2**14 buckets of 2**10 values of j

    def __init__(self, lam: float):
        self.lam = float(lam)
        self.cdf = poisson_cdf_table(lam)
        self.cdf_len = np.int32(len(self.cdf))
        self._thresholds = np.ceil(self.cdf.astype(np.float64) * 2.0**24).astype(np.int64)
        width = 24 - self._BUCKET_BITS
        starts = np.arange(1 << self._BUCKET_BITS, dtype=np.int64) << width
        base = np.searchsorted(self._thresholds, starts, side="right")
        at_end = np.searchsorted(self._thresholds, starts + (1 << width) - 1, side="right")
        self._lut = np.where(at_end > base, -1, base).astype(np.int32)
        self._shift = _U64(40 + width)

    def counts_from_raw(self, raw: np.ndarray) -> np.ndarray:
        """int32 Poisson counts from raw Philox values (one per element)."""
        raw = np.asarray(raw, dtype=np.uint64)
        counts = self._lut.take((raw >> self._shift).astype(np.intp))
        fix = np.flatnonzero(counts < 0)
        if fix.size:
            j = (raw[fix] >> _U64(40)).astype(np.int64)
            counts[fix] = np.searchsorted(self._thresholds, j, side="right")
        return counts

    def counts(self, uniforms: np.ndarray) -> np.ndarray:
        """int32 Poisson counts from float32 uniforms (:func:`poisson_counts`)."""
        return poisson_counts(uniforms, self.cdf)

    def __repr__(self) -> str:
        return f"PoissonTable(lam={self.lam!r}, len={int(self.cdf_len)})"


class StreamRNG:
    """The random streams of one simulation: one Philox key, positions by step.

    ``seed``: an int, a sequence of ints, a ``SeedSequence`` or ``None`` (fresh
    entropy; ``seed_sequence.entropy`` then tells how to reproduce the run).
    The key is ``SeedSequence(seed).generate_state(2, np.uint64)``. Or pass
    numpy's ``key=`` (2 uint64 words) directly instead of a seed.

    ``stream_width``: positions per time step. Leave it out and let
    :meth:`reserve` lay the streams out; the width is frozen at the first draw.
    Every range is laid out on multiples of 4 (whole Philox blocks), so a
    kernel thread can use all four words of its block.

    Not thread-safe for concurrent draws from several Python threads (it
    reuses one ``np.random.Philox``); one per engine.
    """

    def __init__(self, seed=None, *, key=None, stream_width: int | None = None):
        if key is not None:
            if seed is not None:
                raise TypeError("StreamRNG(): pass a seed or a key, not both")
            self.seed_sequence = None
            self.key = np.array(key, dtype=np.uint64).reshape(2)
        else:
            self.seed_sequence = (seed if isinstance(seed, np.random.SeedSequence)
                                  else np.random.SeedSequence(seed))
            self.key = philox_key(self.seed_sequence)
        self.key0, self.key1 = _U64(self.key[0]), _U64(self.key[1])
        self._fixed_width = stream_width is not None
        if stream_width is not None and int(stream_width) < 1:
            raise ValueError(f"StreamRNG(): stream_width must be >= 1, got {stream_width!r}")
        self._width = int(stream_width) if stream_width is not None else 0
        self._used = 0
        self._frozen = False
        self.reservations: dict[str, tuple[int, int]] = {}
        self._bitgen = np.random.Philox(key=self.key)
        self._counter = np.zeros(4, dtype=np.uint64)
        self._state = {
            "bit_generator": "Philox",
            "state": {"counter": self._counter, "key": self.key.copy()},
            "buffer": np.zeros(4, dtype=np.uint64),
            "buffer_pos": 4,
            "has_uint32": 0,
            "uinteger": 0,
        }

    # -- layout ------------------------------------------------------------
    @property
    def stream_width(self) -> int:
        """Positions per time step (all reserved ranges, rounded up to 4)."""
        return self._width

    def reserve(self, n: int, name: str | None = None) -> int:
        """Reserve ``n`` positions per step; returns their offset in the step.

        Offsets are multiples of 4. With a fixed ``stream_width`` the ranges
        must fit in it; without one, the width grows, until the first draw.
        """
        n = int(n)
        if n < 0:
            raise ValueError(f"StreamRNG.reserve(): n must be >= 0, got {n}")
        if self._frozen and not self._fixed_width:
            raise RuntimeError("StreamRNG.reserve(): the layout is frozen once numbers "
                               "have been drawn (reserve every stream before the first step)")
        key = name if name is not None else f"stream{len(self.reservations)}"
        if key in self.reservations:
            raise ValueError(f"StreamRNG.reserve(): a stream named {key!r} exists already")
        offset = self._used
        end = offset + -(-n // 4) * 4
        if self._fixed_width and offset + n > self._width:
            raise ValueError(f"StreamRNG.reserve(): {n} positions at offset {offset} do not "
                             f"fit in stream_width={self._width}")
        self._used = end
        if not self._fixed_width:
            self._width = end
        self.reservations[key] = (offset, n)
        return offset

    def position(self, step: int, offset: int) -> int:
        """First position of the range at ``offset`` in time step ``step``."""
        if self._width < 1:
            raise RuntimeError("StreamRNG: no stream_width (pass it, or reserve() first)")
        self._frozen = True
        return int(step) * self._width + int(offset)

    # -- draws -------------------------------------------------------------
    def raw(self, position: int, n: int) -> np.ndarray:
        """Raw uint64 values at positions ``position .. position+n-1``."""
        position, n = int(position), int(n)
        if position < 0 or n < 0 or position + n > 1 << 64:
            raise ValueError(f"StreamRNG.raw(): positions {position}..{position + n} are "
                             "outside [0, 2**64]")
        block, lane = position >> 2, position & 3
        with self._bitgen.lock:
            self._counter[0] = block  # numpy adds 1 before the first block
            self._bitgen.state = self._state
            values = self._bitgen.random_raw(n + lane)
        return values[lane:] if lane else values

    def block(self, step: int, offset: int, n: int) -> np.ndarray:
        """Raw values of the range at ``offset`` for time step ``step``."""
        return self.raw(self.position(step, offset), n)

    def uniform(self, step: int, offset: int, n: int) -> np.ndarray:
        """float32 uniforms in [0, 1) of the range at ``offset`` in ``step``."""
        return uniform24(self.block(step, offset, n))

    def kernel_args(self, step: int, offset: int) -> tuple[np.uint64, np.uint64, np.uint64]:
        """``(key0, key1, position0)`` as ``np.uint64`` kernel arguments."""
        return self.key0, self.key1, _U64(self.position(step, offset))

    def __repr__(self) -> str:
        origin = (f"key=[{self.key[0]}, {self.key[1]}]" if self.seed_sequence is None
                  else f"entropy={self.seed_sequence.entropy!r}")
        return f"StreamRNG({origin}, stream_width={self._width})"
