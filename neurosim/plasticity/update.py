r"""Per-synapse and per-neuron update formulas of the plasticity rules, as small pure functions.

These are the arithmetic a kernel mirrors one to one (``kernels/plasticity.cu``): every function
takes and returns float32 values (scalars or arrays), with the operations written in the order a
kernel performs them, so that both backends round identically. No function here knows about
spikes, CSR arrays or time steps; :mod:`neurosim.plasticity.numpy_runtime` decides *which*
synapses an event touches and calls these for the arithmetic.

Weights
-------
``u = (w - w_min) / (w_max - w_min)`` is the normalised weight. With amplitude ``A`` (weight units)
and trace value ``x`` (dimensionless)::

    additive        potentiation  w + A x                depression  w - A x
    multiplicative  potentiation  w + A x (1 - u)        depression  w - A x u
    (soft bounds, Guetig et al. 2003 with mu = 1; NEST's stdp_synapse with mu_plus = mu_minus = 1
     and lambda = A / w_max when w_min = 0)

and the result is clipped to the hard bounds ``[w_min, w_max]``.

Traces
------
Every trace obeys ``dx/dt = -x / tau`` between spikes and jumps at a spike: ``x <- x + 1``
(all-to-all pairing) or ``x <- 1`` (nearest-neighbour pairings, the trace remembers only the last
spike). Decay over one step is the multiplication by ``P = exp(-dt / tau)`` (computed in float64
on the host, rounded to float32), i.e. the exact solution sampled on the grid.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32
ONE = F32(1.0)


def decay_factor(dt: float, tau: float) -> np.float32:
    """``exp(-dt / tau)`` computed in float64, as float32 (host-side constant)."""
    return F32(np.exp(-float(dt) / float(tau)))


def clip(w, w_min, w_max, out=None):
    """``min(max(w, w_min), w_max)`` (two ufunc calls; ``np.clip`` has a larger overhead)."""
    out = np.maximum(w, w_min, out=out)
    return np.minimum(out, w_max, out=out)


def trace_jump(x, all_to_all: bool):
    """Trace value right after a spike: ``x + 1`` (all-to-all) or ``1`` (nearest neighbour)."""
    return x + ONE if all_to_all else np.ones_like(x)


def potentiate(w, x, a_plus, w_min, w_max, multiplicative: bool):
    """Weight after potentiation by trace value ``x`` (see module docstring)."""
    dw = a_plus * x
    if multiplicative:
        dw *= (w_max - w) / (w_max - w_min)
    dw += w
    return clip(dw, w_min, w_max, out=dw)


def depress(w, y, a_minus, w_min, w_max, multiplicative: bool):
    """Weight after depression by trace value ``y`` (see module docstring)."""
    dw = a_minus * y
    if multiplicative:
        dw *= (w - w_min) / (w_max - w_min)
    np.subtract(w, dw, out=dw)
    return clip(dw, w_min, w_max, out=dw)


def triplet_potentiate(w, r1, o2_before, a2_plus, a3_plus, w_min, w_max):
    """Pfister & Gerstner (2006) at a postsynaptic spike: ``w + r1 (A2+ + A3+ o2(t-eps))``."""
    return clip(w + r1 * (a2_plus + a3_plus * o2_before), w_min, w_max)


def triplet_depress(w, o1, r2_before, a2_minus, a3_minus, w_min, w_max):
    """Pfister & Gerstner (2006) at a presynaptic spike: ``w - o1 (A2- + A3- r2(t-eps))``."""
    return clip(w - o1 * (a2_minus + a3_minus * r2_before), w_min, w_max)


def stdp_amount(x, a):
    """Signed STDP amount ``a * x`` added to an eligibility trace (reward-modulated STDP)."""
    return a * x


def reward_weight_change(c1, d1, baseline, elapsed_ms, tau_c, tau_e):
    r"""Weight change of ``dw/dt = c d`` over ``elapsed_ms`` without spikes or rewards.

    ``c`` decays with ``tau_c`` from ``c1``; ``d`` relaxes with ``tau_d`` from ``d1`` to the
    tonic ``baseline``; ``tau_e = tau_c tau_d / (tau_c + tau_d)``. Closed form::

        dw = c1 [ baseline tau_c (1 - exp(-T/tau_c)) + (d1 - baseline) tau_e (1 - exp(-T/tau_e)) ]

    (float32; ``-expm1`` is used for ``1 - exp``, as ``expm1f`` in the kernel).
    """
    t = F32(elapsed_ms) if np.ndim(elapsed_ms) == 0 else elapsed_ms.astype(F32)
    g_c = -np.expm1(-t / tau_c).astype(F32)
    g_e = -np.expm1(-t / tau_e).astype(F32)
    return c1 * (baseline * tau_c * g_c + (d1 - baseline) * tau_e * g_e)
