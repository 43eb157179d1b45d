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

The model is a :class:`~neurosim.NeuronModel` description (``LIFCond.description``): the
constants of the scheme are derived constants, the update is the three lines above, and the
NumPy step and the CUDA kernel are generated from it.
"""

from __future__ import annotations

from .description import NeuronModel

LIFCOND = NeuronModel(
    "LIFCond",
    parameters={"tau_m": 15.0, "cm": 250.0, "v_rest": -70.0, "v_reset": -60.0,
                "v_thresh": -55.0, "tau_refrac": 2.0, "tau_syn_E": 0.2, "tau_syn_I": 2.0,
                "e_rev_E": 0.0, "e_rev_I": -85.0, "i_offset": 0.0},
    state={"v": "v_rest"},
    derived={"g_l": "cm / tau_m",
             "g_l_e_l_i": "g_l * v_rest + i_offset",
             "minus_h_over_cm": "-dt / cm",
             "F_E": "tau_syn_E / dt * (1 - exp(-dt / tau_syn_E))",     # gbar = g F
             "F_I": "tau_syn_I / dt * (1 - exp(-dt / tau_syn_I))"},
    update="""
        gbar_e = g_e * F_E
        gbar_i = g_i * F_I
        g_tot = gbar_e + gbar_i + g_l
        v_inf = (gbar_e * e_rev_E + gbar_i * e_rev_I + g_l_e_l_i + I_ext) / g_tot
        v = (v - v_inf) * exp(g_tot * minus_h_over_cm) + v_inf
    """,
    threshold="v >= v_thresh",
    reset="v = v_reset",
    synapses={"excitatory": "conductance", "inhibitory": "conductance"},
    refractory="tau_refrac", hold="v = v_reset",
    positive=("tau_m", "cm"),
    constraints={"v_reset < v_thresh": "v_reset must be below v_thresh"},
    integration="exponential Euler with step-averaged conductances",
    doc="""Conductance-based LIF with exponential conductances.

    Parameters: ``tau_m`` (ms), ``cm`` (pF), ``v_rest``, ``v_reset``, ``v_thresh``,
    ``e_rev_E``, ``e_rev_I`` (mV), ``tau_refrac``, ``tau_syn_E``, ``tau_syn_I`` (ms),
    ``i_offset`` (pA). Defaults follow NEST's ``iaf_cond_exp`` (g_L = 16.7 nS). Written as
    the :class:`~neurosim.NeuronModel` description ``LIFCond.description``.
    """)

LIFCond = LIFCOND.model_class
LIFCond.__module__ = __name__
