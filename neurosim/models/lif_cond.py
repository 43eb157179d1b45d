r"""Leaky integrate-and-fire neuron with exponential conductances (``LIFCond``).

Equations (units: mV, ms, nS, pA, pF; ``g_L = cm / tau_m``)::

    cm dv/dt = g_L (v_rest - v) + g_E (e_rev_E - v) + g_I (e_rev_I - v) + i_offset + I_ext
    dg_E/dt = -g_E / tau_syn_E,   dg_I/dt = -g_I / tau_syn_I

A spike on the excitatory (inhibitory) receptor makes ``g_E`` (``g_I``) jump by its weight in nS
(weights must be >= 0).

Integration: exponential Euler with step-averaged conductances. Over a step of length ``h``
the conductances decay exactly, and ``v`` is advanced with the exact solution for the constant
conductances equal to their mean over the step, ``gbar = g (tau/h) (1 - exp(-h/tau))``::

    G      = g_L + gbar_E + gbar_I
    v_inf  = (g_L v_rest + gbar_E e_rev_E + gbar_I e_rev_I + i_offset + I_ext) / G
    v(t+h) = v_inf + (v - v_inf) exp(-h G / cm)

This is exact when no input arrives and the conductances are constant, first-order accurate in
``h`` for the variation of the conductances within a step, and unconditionally stable. Spikes,
resets, refractoriness and the step order are as in :mod:`neurosim.models.lif`: inputs arriving
at ``t+h`` make the conductances jump after the update and act from the next step on
(conductances keep decaying while ``v`` is clamped).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import Model, f32


@dataclass(frozen=True, eq=False)
class LIFCond(Model):
    """Conductance-based LIF with exponential conductances.

    Parameters: ``tau_m`` (ms), ``cm`` (pF), ``v_rest``, ``v_reset``, ``v_thresh``,
    ``e_rev_E``, ``e_rev_I`` (mV), ``tau_refrac``, ``tau_syn_E``, ``tau_syn_I`` (ms),
    ``i_offset`` (pA). Defaults follow NEST's ``iaf_cond_exp`` (g_L = 16.7 nS).
    """

    tau_m: float = 15.0
    cm: float = 250.0
    v_rest: float = -70.0
    v_reset: float = -60.0
    v_thresh: float = -55.0
    tau_refrac: float = 2.0
    tau_syn_E: float = 0.2
    tau_syn_I: float = 2.0
    e_rev_E: float = 0.0
    e_rev_I: float = -85.0
    i_offset: float = 0.0

    kind: ClassVar[str] = "lif_cond"
    kernel: ClassVar[str] = "lif_cond_update"
    state_vars: ClassVar[tuple[str, ...]] = ("v", "g_e", "g_i")
    channels: ClassVar[tuple[str, ...]] = ("g_e", "g_i")
    receptors: ClassVar[dict[str, int]] = {"excitatory": 0, "inhibitory": 1}
    weight_sign: ClassVar[dict[str, int]] = {"excitatory": 1, "inhibitory": 1}
    weight_unit: ClassVar[str] = "nS"
    positive_params: ClassVar[tuple[str, ...]] = ("tau_m", "cm", "tau_syn_E", "tau_syn_I")
    non_negative_params: ClassVar[tuple[str, ...]] = ("tau_refrac",)

    def _check(self):
        if np.any(np.asarray(self.v_reset) >= np.asarray(self.v_thresh)):
            raise ValueError(f"LIFCond: v_reset must be below v_thresh, got v_reset="
                             f"{self.v_reset}, v_thresh={self.v_thresh}")

    @classmethod
    def constants(cls, p, dt):
        h = float(dt)
        cm = np.asarray(p["cm"], float)
        g_l = cm / np.asarray(p["tau_m"], float)
        tau_e, tau_i = np.asarray(p["tau_syn_E"], float), np.asarray(p["tau_syn_I"], float)
        return {
            "g_l": f32(g_l),
            "g_l_e_l_i": f32(g_l * np.asarray(p["v_rest"], float) + np.asarray(p["i_offset"], float)),
            "minus_h_over_cm": f32(-h / cm),
            "e_rev_E": f32(p["e_rev_E"]),
            "e_rev_I": f32(p["e_rev_I"]),
            "F_E": f32(tau_e / h * (1.0 - np.exp(-h / tau_e))),
            "F_I": f32(tau_i / h * (1.0 - np.exp(-h / tau_i))),
            "P_E": f32(np.exp(-h / tau_e)),
            "P_I": f32(np.exp(-h / tau_i)),
            "v_thresh": f32(p["v_thresh"]),
            "v_reset": f32(p["v_reset"]),
        }

    @classmethod
    def initial_state(cls, p, n, options):
        return {"v": np.broadcast_to(f32(p["v_rest"]), (n,)).copy(),
                "g_e": np.zeros(n, np.float32), "g_i": np.zeros(n, np.float32)}

    scratch: ClassVar[int] = 3

    @classmethod
    def integrate(cls, s, inp, active, c, i_ext, tmp):
        v, g_e, g_i = s["v"], s["g_e"], s["g_i"]
        ge, gi, g_tot = tmp[0], tmp[1], tmp[2]
        np.multiply(g_e, c["F_E"], out=ge)              # step-averaged conductances
        np.multiply(g_i, c["F_I"], out=gi)
        np.add(ge, gi, out=g_tot)
        g_tot += c["g_l"]
        if np.ndim(c["e_rev_E"]) == 0 and c["e_rev_E"] == 0.0:   # numerator of v_inf
            np.multiply(gi, c["e_rev_I"], out=ge)
        else:
            ge *= c["e_rev_E"]
            gi *= c["e_rev_I"]
            ge += gi
        ge += c["g_l_e_l_i"]
        if i_ext is not None:
            ge += i_ext
        v_inf = np.divide(ge, g_tot, out=ge)
        v -= v_inf
        g_tot *= c["minus_h_over_cm"]
        v *= np.exp(g_tot, out=g_tot)
        v += v_inf
        g_e *= c["P_E"]
        g_i *= c["P_I"]
        if inp is not None:
            if active[0]:
                g_e += inp[0]
            if active[1]:
                g_i += inp[1]
