r"""Leaky integrate-and-fire neuron, current-based (``LIF``).

Equations (units: mV, ms, pA, pF)::

    cm dv/dt = -(cm / tau_m) (v - v_rest) + I_E + I_I + i_offset + I_ext
    dI_E/dt = -I_E / tau_syn_E            (synapse="exponential")
    dI_I/dt = -I_I / tau_syn_I

A spike arriving on the excitatory (inhibitory) receptor makes ``I_E`` (``I_I``) jump by its
weight in pA; excitatory weights must be >= 0 and inhibitory ones <= 0. With
``synapse="delta"`` there are no synaptic currents: a spike makes ``v`` jump by its weight in mV
(as NEST's ``iaf_psc_delta``), on either receptor.

Integration is exact for these linear dynamics (Rotter & Diesmann 1999, as NEST's
``iaf_psc_exp``): with ``h = dt``, ``P22 = exp(-h/tau_m)``, ``P11 = exp(-h/tau_syn)``,
``P21 = tau_syn tau_m / (cm (tau_m - tau_syn)) (P22 - P11)`` and ``P20 = tau_m/cm (1 - P22)``::

    v(t+h)   = v_rest + (v - v_rest) P22 + I_E P21_E + I_I P21_I + (i_offset + I_ext) P20
    I_E(t+h) = I_E P11_E

Step order (NEST's convention): the state is advanced from ``t`` to ``t+h`` with the update
above; then the inputs that arrive at ``t+h`` are added (jumps of ``I_E``/``I_I``, or of ``v``
for delta synapses), so the update is the exact solution with the jump at its arrival time;
then a neuron with ``v >= v_thresh`` spikes, its spike stamped ``t+h``; ``v`` is set to
``v_reset`` and held there for the next ``round(tau_refrac/dt)`` updates (NEST's count: 20
updates for 2 ms at 0.1 ms), during which synaptic currents keep decaying and inputs to ``v``
(delta synapses) are ignored. A spike stamped ``T`` with delay ``d`` arrives at ``T + d``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import Model, f32


def psc_propagator(tau_syn, tau_m, cm, h):
    """P21 for the exact LIF update, stable when tau_syn is close to tau_m (float64)."""
    tau_syn = np.asarray(tau_syn, dtype=np.float64)
    tau_m = np.asarray(tau_m, dtype=np.float64)
    same = np.isclose(tau_syn, tau_m, rtol=1e-9, atol=0.0)
    diff = np.where(same, 1.0, tau_m - tau_syn)
    general = tau_syn * tau_m / (cm * diff) * (np.exp(-h / tau_m) - np.exp(-h / tau_syn))
    limit = h / cm * np.exp(-h / tau_m)
    return np.where(same, limit, general)


@dataclass(frozen=True, eq=False)
class LIF(Model):
    """Current-based LIF with exponential (or delta) synapses; exact integration.

    Parameters: ``tau_m`` (ms), ``cm`` (pF), ``v_rest``, ``v_reset``, ``v_thresh`` (mV),
    ``tau_refrac`` (ms), ``tau_syn_E``, ``tau_syn_I`` (ms), ``i_offset`` (pA, constant input);
    option ``synapse``: ``"exponential"`` (weights in pA) or ``"delta"`` (weights in mV).
    Each numeric parameter may be an array with one value per neuron.
    """

    tau_m: float = 10.0
    cm: float = 250.0
    v_rest: float = -70.0
    v_reset: float = -70.0
    v_thresh: float = -55.0
    tau_refrac: float = 2.0
    tau_syn_E: float = 2.0
    tau_syn_I: float = 2.0
    i_offset: float = 0.0
    synapse: str = "exponential"

    kind: ClassVar[str] = "lif"
    kernel: ClassVar[str] = "lif_update"
    option_fields: ClassVar[tuple[str, ...]] = ("synapse",)
    positive_params: ClassVar[tuple[str, ...]] = ("tau_m", "cm", "tau_syn_E", "tau_syn_I")
    non_negative_params: ClassVar[tuple[str, ...]] = ("tau_refrac",)
    weight_sign: ClassVar[dict[str, int]] = {"excitatory": 1, "inhibitory": -1}

    def _check(self):
        if self.synapse not in ("exponential", "delta"):
            raise ValueError(
                f"LIF: synapse must be 'exponential' or 'delta', got {self.synapse!r}")
        if np.any(np.asarray(self.v_reset) >= np.asarray(self.v_thresh)):
            raise ValueError(
                f"LIF: v_reset must be below v_thresh, got v_reset={self.v_reset}, "
                f"v_thresh={self.v_thresh}")

    @classmethod
    def layout(cls, options):
        if options[0] == "delta":
            return ("v",), {"excitatory": 0, "inhibitory": 0}, "mV"
        return ("i_syn_e", "i_syn_i"), {"excitatory": 0, "inhibitory": 1}, "pA"

    @classmethod
    def state_names(cls, options) -> tuple[str, ...]:
        return ("v",) if options[0] == "delta" else ("v", "i_syn_e", "i_syn_i")

    @classmethod
    def constants(cls, p, dt):
        h = float(dt)
        tau_m, cm = np.asarray(p["tau_m"], float), np.asarray(p["cm"], float)
        P22 = np.exp(-h / tau_m)
        P20 = tau_m / cm * (1.0 - P22)
        c = {
            "P22": f32(P22),
            "P20": f32(P20),
            "v_const": f32(np.asarray(p["v_rest"], float) * (1.0 - P22)
                           + np.asarray(p["i_offset"], float) * P20),
            "v_thresh": f32(p["v_thresh"]),
            "v_reset": f32(p["v_reset"]),
            "P11_E": f32(np.exp(-h / np.asarray(p["tau_syn_E"], float))),
            "P11_I": f32(np.exp(-h / np.asarray(p["tau_syn_I"], float))),
            "P21_E": f32(psc_propagator(p["tau_syn_E"], tau_m, cm, h)),
            "P21_I": f32(psc_propagator(p["tau_syn_I"], tau_m, cm, h)),
        }
        return c

    @classmethod
    def initial_state(cls, p, n, options):
        s = {"v": np.broadcast_to(f32(p["v_rest"]), (n,)).copy()}
        if options[0] != "delta":
            s["i_syn_e"] = np.zeros(n, np.float32)
            s["i_syn_i"] = np.zeros(n, np.float32)
        return s

    @classmethod
    def integrate(cls, s, inp, active, c, i_ext, tmp):
        v, tmp = s["v"], tmp[0]
        v *= c["P22"]
        v += c["v_const"]
        if i_ext is not None:
            np.multiply(i_ext, c["P20"], out=tmp)
            v += tmp
        if "i_syn_e" not in s:                      # delta synapses: jump of v at t + h
            if inp is not None and active[0]:
                v += inp[0]
            return
        for ch, (name, p21, p11) in enumerate((("i_syn_e", "P21_E", "P11_E"),
                                               ("i_syn_i", "P21_I", "P11_I"))):
            if not active[ch]:
                continue
            cur = s[name]
            np.multiply(cur, c[p21], out=tmp)
            v += tmp
            cur *= c[p11]
            cur += inp[ch]
