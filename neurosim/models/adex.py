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

The model is a :class:`~neurosim.NeuronModel` description (``AdEx.description``); the NumPy
step and the CUDA kernel are generated from its update.
"""

from __future__ import annotations

from .description import NeuronModel

ADEX = NeuronModel(
    "AdEx",
    parameters={"cm": 281.0, "g_L": 30.0, "e_L": -70.6, "v_T": -50.4, "delta_T": 2.0,
                "v_reset": -70.6, "v_peak": 0.0, "a": 4.0, "b": 80.5, "tau_w": 144.0,
                "tau_refrac": 0.0, "tau_syn_E": 5.0, "tau_syn_I": 5.0, "i_offset": 0.0},
    state={"v": "e_L", "w": 0.0},
    derived={"h_over_cm": "dt / cm", "inv_delta_T": "1 / delta_T",
             "g_L_delta_T": "g_L * delta_T", "h_over_tau_w": "dt / tau_w"},
    update="""
        spike_current = g_L_delta_T * exp((min(v, v_peak) - v_T) * inv_delta_T)
        i_total = (e_L - v) * g_L + spike_current - w + i_syn_e + i_syn_i + i_offset + I_ext
        dv = i_total * h_over_cm
        w += ((v - e_L) * a - w) * h_over_tau_w
        v += dv
    """,
    threshold="v >= v_peak",
    reset="v = v_reset; w += b",
    synapses={"excitatory": "current", "inhibitory": "current"},
    refractory="tau_refrac", hold="v = v_reset",
    positive=("cm", "g_L", "delta_T", "tau_w"),
    constraints={"v_reset < v_peak": "v_reset must be below v_peak"},
    integration="forward Euler (exact decay of the synaptic currents)",
    doc="""AdEx neuron: ``cm`` (pF), ``g_L`` (nS), ``e_L``, ``v_T``, ``delta_T``, ``v_reset``,
    ``v_peak`` (mV), ``a`` (nS), ``b`` (pA), ``tau_w``, ``tau_refrac``, ``tau_syn_E``,
    ``tau_syn_I`` (ms), ``i_offset`` (pA). Written as the :class:`~neurosim.NeuronModel`
    description ``AdEx.description``.""")

AdEx = ADEX.model_class
AdEx.__module__ = __name__
