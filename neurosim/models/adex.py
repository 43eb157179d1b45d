r"""Adaptive exponential integrate-and-fire neuron (Brette & Gerstner 2005) (``AdEx``).

Equations (mV, ms, nS, pA, pF)::

    cm dv/dt = -g_L (v - e_L) + g_L delta_T exp((v - v_T) / delta_T) - w + I_E + I_I + I
    tau_w dw/dt = a (v - e_L) - w
    dI_E/dt = -I_E / tau_syn_E,   dI_I/dt = -I_I / tau_syn_I     (current synapses, pA)
    if v >= v_peak:  v <- v_reset,  w <- w + b

``I = i_offset + I_ext``. Integration: forward Euler at ``dt`` for ``v`` and ``w`` (both from the
values at the start of the step), exact decay for the synaptic currents; inputs arriving at the
end of the step make the currents jump after the update (as in :mod:`neurosim.models.lif`). Inside the exponential, ``v`` is capped at ``v_peak`` so the term cannot overflow;
a neuron that reaches ``v_peak`` spikes in that step anyway.

``v_peak`` is the spike detection level: a documented parameter, since it shifts spike times by
milliseconds over a second (NEST's ``aeif_psc_exp`` uses 0 mV; Brette & Gerstner's analysis uses
``v_T + 5 delta_T``). During ``tau_refrac`` (default 0) ``v`` is clamped at ``v_reset``; ``w``
keeps evolving. Defaults are the tonic-spiking parameters of Brette & Gerstner (2005).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import Model, f32


@dataclass(frozen=True, eq=False)
class AdEx(Model):
    """AdEx neuron: ``cm`` (pF), ``g_L`` (nS), ``e_L``, ``v_T``, ``delta_T``, ``v_reset``,
    ``v_peak`` (mV), ``a`` (nS), ``b`` (pA), ``tau_w``, ``tau_refrac``, ``tau_syn_E``,
    ``tau_syn_I`` (ms), ``i_offset`` (pA)."""

    cm: float = 281.0
    g_L: float = 30.0
    e_L: float = -70.6
    v_T: float = -50.4
    delta_T: float = 2.0
    v_reset: float = -70.6
    v_peak: float = 0.0
    a: float = 4.0
    b: float = 80.5
    tau_w: float = 144.0
    tau_refrac: float = 0.0
    tau_syn_E: float = 5.0
    tau_syn_I: float = 5.0
    i_offset: float = 0.0

    kind: ClassVar[str] = "adex"
    kernel: ClassVar[str] = "adex_update"
    state_vars: ClassVar[tuple[str, ...]] = ("v", "w", "i_syn_e", "i_syn_i")
    channels: ClassVar[tuple[str, ...]] = ("i_syn_e", "i_syn_i")
    receptors: ClassVar[dict[str, int]] = {"excitatory": 0, "inhibitory": 1}
    weight_sign: ClassVar[dict[str, int]] = {"excitatory": 1, "inhibitory": -1}
    positive_params: ClassVar[tuple[str, ...]] = ("cm", "g_L", "delta_T", "tau_w",
                                                  "tau_syn_E", "tau_syn_I")
    non_negative_params: ClassVar[tuple[str, ...]] = ("tau_refrac",)
    threshold_const: ClassVar[str] = "v_peak"

    def _check(self):
        if np.any(np.asarray(self.v_reset) >= np.asarray(self.v_peak)):
            raise ValueError(f"AdEx: v_reset must be below v_peak, got v_reset={self.v_reset}, "
                             f"v_peak={self.v_peak}")

    @classmethod
    def constants(cls, p, dt):
        h = float(dt)
        cm = np.asarray(p["cm"], float)
        return {
            "h_over_cm": f32(h / cm), "g_L": f32(p["g_L"]), "e_L": f32(p["e_L"]),
            "v_T": f32(p["v_T"]), "inv_delta_T": f32(1.0 / np.asarray(p["delta_T"], float)),
            "g_L_delta_T": f32(np.asarray(p["g_L"], float) * np.asarray(p["delta_T"], float)),
            "a": f32(p["a"]), "b": f32(p["b"]),
            "h_over_tau_w": f32(h / np.asarray(p["tau_w"], float)),
            "v_peak": f32(p["v_peak"]), "v_reset": f32(p["v_reset"]),
            "i_offset": f32(p["i_offset"]),
            "P_E": f32(np.exp(-h / np.asarray(p["tau_syn_E"], float))),
            "P_I": f32(np.exp(-h / np.asarray(p["tau_syn_I"], float))),
        }

    @classmethod
    def initial_state(cls, p, n, options):
        return {"v": np.broadcast_to(f32(p["e_L"]), (n,)).copy(),
                "w": np.zeros(n, np.float32),
                "i_syn_e": np.zeros(n, np.float32), "i_syn_i": np.zeros(n, np.float32)}

    scratch: ClassVar[int] = 3

    @classmethod
    def integrate(cls, s, inp, active, c, i_ext, tmp):
        v, w, ie, ii = s["v"], s["w"], s["i_syn_e"], s["i_syn_i"]
        x, dv, dw = tmp[0], tmp[1], tmp[2]
        np.minimum(v, c["v_peak"], out=x)               # exponential term, v capped at v_peak
        x -= c["v_T"]
        x *= c["inv_delta_T"]
        np.exp(x, out=x)
        x *= c["g_L_delta_T"]
        np.subtract(c["e_L"], v, out=dv)
        dv *= c["g_L"]
        dv += x
        dv -= w
        dv += ie
        dv += ii
        dv += c["i_offset"]
        if i_ext is not None:
            dv += i_ext
        dv *= c["h_over_cm"]
        np.subtract(v, c["e_L"], out=dw)
        dw *= c["a"]
        dw -= w
        dw *= c["h_over_tau_w"]
        v += dv
        w += dw
        ie *= c["P_E"]
        ii *= c["P_I"]
        if inp is not None:
            if active[0]:
                ie += inp[0]
            if active[1]:
                ii += inp[1]

    @classmethod
    def reset(cls, s, c, idx):
        s["v"][idx] = c["v_reset"] if np.ndim(c["v_reset"]) == 0 else c["v_reset"][idx]
        s["w"][idx] += c["b"] if np.ndim(c["b"]) == 0 else c["b"][idx]
