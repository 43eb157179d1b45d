r"""The truncated normal distribution, sampled directly by its inverse CDF (NumPy only).

``sample(u, v, a, b)`` maps uniforms to the standard normal truncated to ``[a, b]``: it inverts
the CDF of the truncated distribution, ``x = Phi^-1(Phi(a) + u (Phi(b) - Phi(a)))``, so every
value costs the same whatever the mass of ``[a, b]`` (``Normal(0, 1, low=5, high=5.0001)`` or a
bound 40 standard deviations out). Redrawing until a value falls inside would need ``1 / mass``
draws per value: 3.5 million at ``low=5``, 10^15 at ``low=8``.

Numerics (float64):

- ``u`` and ``v = 1 - u`` are passed separately, both exact: ``u = (k + 1/2) 2^-52`` for a
  52-bit integer ``k`` and ``v = (2^52 - 1 - k + 1/2) 2^-52`` (:func:`uniform_pair`), so neither
  reaches 0 or 1 and no tail is cut by the rounding of ``1 - u``;
- tails are sampled in log space: for ``b <= 0``, ``log p = log Phi(b) + log1p(-v (1 -
  Phi(a)/Phi(b)))`` and ``x = Phi^-1`` of it; an interval above the mean is its mirror image;
  an interval around the mean uses ``p = Phi(a) + u m`` or, above 1/2, the upper tail
  ``Q(b) + v m`` (``m`` the mass, from ``erf``: no cancellation for narrow intervals);
- ``log Phi(x)`` from ``erfc`` down to ``x = -37`` and from its asymptotic series below
  (``Phi(-37)`` is about ``1e-300``; the series' first omitted term is below ``1e-16`` there);
- ``Phi^-1`` is Wichura's AS241 (relative error about ``1e-16`` for ``p >= 1e-300``) taking
  ``log p`` for its tail branches, and below ``log p = -690`` three Newton steps on the
  asymptotic ``log Phi`` from the leading-order solution.

``kernels/connect.cu`` (``ns_connect_tnormal``) implements the same formulas for the device.
"""

from __future__ import annotations

import math

import numpy as np

SQRT1_2 = math.sqrt(0.5)
LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
ASYMPTOTIC_BELOW = -37.0          # log Phi(x) from its asymptotic series for x < this
DEEP_LOG_P = -690.0               # Phi^-1 by Newton on the series for log p < this
U52 = 2.0 ** -52
K52_MAX = (1 << 52) - 1
BLOCK = 1 << 18                   # values per block in sample_normal

# Wichura (1988), Algorithm AS241 (PPND16): numerator/denominator coefficients, highest first
_A = (2.5090809287301226727e+3, 3.3430575583588128105e+4, 6.7265770927008700853e+4,
      4.5921953931549871457e+4, 1.3731693765509461125e+4, 1.9715909503065514427e+3,
      1.3314166789178437745e+2, 3.3871328727963666080e+0)
_B = (5.2264952788528545610e+3, 2.8729085735721942674e+4, 3.9307895800092710610e+4,
      2.1213794301586595867e+4, 5.3941960214247511077e+3, 6.8718700749205790830e+2,
      4.2313330701600911252e+1, 1.0)
_C = (7.74545014278341407640e-4, 2.27238449892691845833e-2, 2.41780725177450611770e-1,
      1.27045825245236838258e+0, 3.64784832476320460504e+0, 5.76949722146069140550e+0,
      4.63033784615654529590e+0, 1.42343711074968357734e+0)
_D = (1.05075007164441684324e-9, 5.47593808499534494600e-4, 1.51986665636164571966e-2,
      1.48103976427480074590e-1, 6.89767334985100004550e-1, 1.67638483018380384940e+0,
      2.05319162663775882187e+0, 1.0)
_E = (2.01033439929228813265e-7, 2.71155556874348757815e-5, 1.24266094738807843860e-3,
      2.65321895265761230930e-2, 2.96560571828504891230e-1, 1.78482653991729133580e+0,
      5.46378491116411436990e+0, 6.65790464350110377720e+0)
_F = (2.04426310338993978564e-15, 1.42151175831644588870e-7, 1.84631831751005468180e-5,
      7.86869131145613259100e-4, 1.48753612908506148525e-2, 1.36929880922735805310e-1,
      5.99832206555887937690e-1, 1.0)
# asymptotic series of the Mills ratio: Phi(x) ~ phi(x)/|x| * sum_k (-1)^k (2k-1)!! / x^2k
_SERIES = (1.0, -1.0, 3.0, -15.0, 105.0, -945.0, 10395.0, -135135.0)


def _poly(coef, r):
    out = coef[0] + 0.0 * r
    for c in coef[1:]:
        out = out * r + c
    return out


def _log_ndtr_series(x):
    """log Phi(x) for x <= -37 (scalar or array): the asymptotic series."""
    t = 1.0 / (x * x)
    s = _SERIES[-1] + 0.0 * t
    for c in _SERIES[-2::-1]:
        s = s * t + c
    return -0.5 * x * x - np.log(-x) - LOG_SQRT_2PI + np.log(s)


def log_ndtr(x: float) -> float:
    """log Phi(x), the log of the standard normal CDF, for any float x (-inf gives -inf)."""
    x = float(x)
    if x == -math.inf:
        return -math.inf
    if x > 0.0:
        return math.log1p(-0.5 * math.erfc(x * SQRT1_2))
    if x > ASYMPTOTIC_BELOW:
        return math.log(0.5 * math.erfc(-x * SQRT1_2))
    return float(_log_ndtr_series(x))


def ndtri_log(lp):
    """x <= 0 with log Phi(x) = lp, for lp <= log(1/2) (array; AS241, Newton in the far tail)."""
    lp = np.asarray(lp, np.float64)
    x = np.empty_like(lp)
    p = np.exp(lp)
    central = p >= 0.075
    if central.any():
        q = p[central] - 0.5
        r = 0.180625 - q * q
        x[central] = q * _poly(_A, r) / _poly(_B, r)
    tail = ~central & (lp >= DEEP_LOG_P)
    if tail.any():
        r = np.sqrt(-lp[tail])
        near = r <= 5.0
        xt = np.empty_like(r)
        xt[near] = -_poly(_C, r[near] - 1.6) / _poly(_D, r[near] - 1.6)
        xt[~near] = -_poly(_E, r[~near] - 5.0) / _poly(_F, r[~near] - 5.0)
        x[tail] = xt
    deep = lp < DEEP_LOG_P
    if deep.any():
        s = -lp[deep]
        xd = -np.sqrt(2.0 * s - np.log(2.0 * s) - 2.0 * LOG_SQRT_2PI)
        for _ in range(3):
            f = _log_ndtr_series(xd) - lp[deep]
            # d/dx log Phi = phi/Phi = exp(log phi - log Phi)
            xd = xd - f / np.exp(-0.5 * xd * xd - LOG_SQRT_2PI - _log_ndtr_series(xd))
        x[deep] = xd
    return x


def mass(a: float, b: float) -> float:
    """Phi(b) - Phi(a) for a <= b, accurate for tails and narrow intervals (may underflow to 0
    beyond about 37 standard deviations; :func:`sample` never needs it there)."""
    a, b = float(a), float(b)
    if a >= 0.0 and b > 0.0:
        a, b = -b, -a
    if b <= 0.0:
        la, lb = log_ndtr(a), log_ndtr(b)
        return math.exp(lb) * -math.expm1(la - lb) if lb > -math.inf else 0.0
    return 0.5 * (math.erf(b * SQRT1_2) - math.erf(a * SQRT1_2))


def sample(u, v, a: float, b: float) -> np.ndarray:
    """Standard normal values truncated to ``[a, b]`` (a < b, either may be infinite) from the
    uniform pairs ``(u, v = 1 - u)`` of :func:`uniform_pair`: the inverse CDF, in float64."""
    a, b = float(a), float(b)
    u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
    if a >= 0.0 and b > 0.0:                  # above the mean: the mirror image of [-b, -a]
        return -sample(u, v, -b, -a)
    if b <= 0.0:                              # below the mean: log space
        la, lb = log_ndtr(a), log_ndtr(b)
        lp = lb + np.log1p(v * np.expm1(la - lb))
        x = ndtri_log(lp)
    else:                                     # around the mean
        m = 0.5 * (math.erf(b * SQRT1_2) - math.erf(a * SQRT1_2))
        pa = 0.5 * math.erfc(-a * SQRT1_2)
        qb = 0.5 * math.erfc(b * SQRT1_2)
        lo = pa + u * m
        x = np.empty_like(u)
        low = lo <= 0.5
        x[low] = ndtri_log(np.log(lo[low]))
        x[~low] = -ndtri_log(np.log(qb + v[~low] * m))
    return np.clip(x, a, b)


def uniform_pair(k):
    """``(u, v)`` with ``u = (k + 1/2) 2^-52`` and ``v = 1 - u``, both exact, from integers
    ``0 <= k < 2^52``."""
    k = np.asarray(k, np.uint64)
    u = (k.astype(np.float64) + 0.5) * U52
    v = ((np.uint64(K52_MAX) - k).astype(np.float64) + 0.5) * U52
    return u, v


def largest(a: float, b: float) -> float:
    """The largest value :func:`sample` can return for ``[a, b]`` (at one end of the uniform
    grid: the smallest ``u`` for an interval above the mean, which is sampled mirrored)."""
    u, v = uniform_pair(np.array([0, K52_MAX], np.uint64))
    return float(sample(u, v, a, b).max())


def sample_normal(rng: np.random.Generator, n: int, mean: float, std: float, lo: float,
                  hi: float) -> np.ndarray:
    """``n`` draws of N(mean, std) truncated to ``[lo, hi]`` by the inverse CDF (std > 0), in
    blocks of :data:`BLOCK` values (about 80 bytes of temporaries per value of a block)."""
    a, b = (lo - mean) / std, (hi - mean) / std
    out = np.empty(n, np.float64)
    for s in range(0, n, BLOCK):
        m = min(n, s + BLOCK) - s
        u, v = uniform_pair(rng.integers(0, 1 << 52, size=m, dtype=np.uint64))
        out[s:s + m] = sample(u, v, a, b)
    out *= std
    out += mean
    return np.clip(out, lo, hi, out=out)


def moments(a: float, b: float) -> tuple[float, float]:
    """Mean and variance of the standard normal truncated to ``[a, b]`` (for tests and
    estimates): in closed form, in log space so that far tails keep their precision, and by
    64-point Gauss-Legendre quadrature for finite intervals narrower than one standard
    deviation, where the closed form's variance loses its digits to cancellation."""
    a, b = float(a), float(b)
    if a >= 0.0 and b > 0.0:
        m, var = moments(-b, -a)
        return -m, var
    if b - a < 1.0:
        mid, half = 0.5 * (a + b), 0.5 * (b - a)
        t, w = np.polynomial.legendre.leggauss(64)
        x = mid + half * t
        c = min(abs(a), abs(b)) if a * b > 0 else 0.0
        dens = w * np.exp(-0.5 * (x * x - c * c))
        z = dens.sum()
        d = (dens * (x - mid)).sum() / z
        return mid + d, float((dens * (x - mid - d) ** 2).sum() / z)
    # E = (phi(a) - phi(b)) / Z, E[x^2] = 1 + (a phi(a) - b phi(b)) / Z, Z = Phi(b) - Phi(a)
    if b <= 0.0:
        lz = log_ndtr(b) + math.log(-math.expm1(log_ndtr(a) - log_ndtr(b)))
    else:
        lz = math.log(mass(a, b))

    def r(x):                                  # phi(x) / Z and x phi(x) / Z
        if math.isinf(x):
            return 0.0, 0.0
        w = math.exp(-0.5 * x * x - LOG_SQRT_2PI - lz)
        return w, x * w
    pa, xa = r(a)
    pb, xb = r(b)
    mean = pa - pb
    return mean, 1.0 + xa - xb - mean * mean
