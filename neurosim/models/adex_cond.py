r"""Adaptive exponential integrate-and-fire neuron with conductance synapses (``AdExCond``),
written as a :class:`~neurosim.NeuronModel`.

Brette & Gerstner (2005) with exponentially decaying synaptic conductances, as NEST's
``aeif_cond_exp`` and PyNN's ``EIF_cond_exp_isfa_ista`` (units: mV, ms, nS, pA, pF)::

    cm dv/dt = -g_L (v - e_L) + g_L delta_T exp((min(v, v_peak) - v_T) / delta_T)
               + g_e (e_rev_E - v) + g_i (e_rev_I - v) - w + i_offset + I_ext
    tau_w dw/dt = a (v - e_L) - w
    dg_e/dt = -g_e / tau_syn_E,   dg_i/dt = -g_i / tau_syn_I       (nS; weights >= 0, nS)
    if v >= v_peak:  v <- v_reset,  w <- w + b

Integration: forward Euler at ``dt`` for ``v`` and ``w``, both from the state at the start of
the step, with the conductances of that time; exact decay of the conductances, and the weights
of the spikes arriving at the end of the step added after the update (NEST's order). Inside the
exponential ``v`` is capped at ``v_peak`` (as NEST does), so the term cannot overflow; a neuron
that reaches ``v_peak`` spikes in that step. ``v_peak`` is the spike detection level (NEST's
default 0 mV; Brette & Gerstner's analysis uses ``v_T + 5 delta_T``). For
``round(tau_refrac / dt)`` updates after a spike ``v`` is held at ``v_reset``; ``w`` and the
conductances keep evolving. Defaults are Brette & Gerstner's (2005) tonic-spiking parameters
with NEST's synaptic defaults.
"""

from .description import NeuronModel

AdExCond = NeuronModel(
    "AdExCond",
    parameters={"cm": 281.0, "g_L": 30.0, "e_L": -70.6, "v_T": -50.4, "delta_T": 2.0,
                "v_reset": -70.6, "v_peak": 0.0, "a": 4.0, "b": 80.5, "tau_w": 144.0,
                "tau_refrac": 0.0, "tau_syn_E": 0.2, "tau_syn_I": 2.0, "e_rev_E": 0.0,
                "e_rev_I": -85.0, "i_offset": 0.0},
    state={"v": "e_L", "w": 0.0},
    update="""
        spike_current = g_L * delta_T * exp((min(v, v_peak) - v_T) / delta_T)
        i_total = g_L * (e_L - v) + spike_current + g_e * (e_rev_E - v) + g_i * (e_rev_I - v)
        dv = dt * (i_total - w + i_offset + I_ext) / cm
        w += dt * (a * (v - e_L) - w) / tau_w
        v += dv
    """,
    threshold="v >= v_peak",
    reset="v = v_reset; w += b",
    synapses={"excitatory": "conductance", "inhibitory": "conductance"},
    refractory="tau_refrac", hold="v = v_reset",
    positive=("cm", "g_L", "delta_T", "tau_w"),
    integration="forward Euler (exact decay of the synaptic conductances)",
    doc="AdEx with conductance synapses: cm (pF), g_L (nS), e_L, v_T, delta_T, v_reset, "
        "v_peak (mV), a (nS), b (pA), tau_w, tau_refrac, tau_syn_E, tau_syn_I (ms), e_rev_E, "
        "e_rev_I (mV), i_offset (pA); forward Euler. See neurosim.models.adex_cond.",
)
