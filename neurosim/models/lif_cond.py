r"""Leaky integrate-and-fire neuron with exponential conductances (``LIFCond``).

Equations (units: mV, ms, nS, pA, pF; ``g_L = cm / tau_m``)::

    cm dv/dt = g_L (v_rest - v) + g_E (e_rev_E - v) + g_I (e_rev_I - v) + i_offset + I_ext
    dg_E/dt = -g_E / tau_syn_E,   dg_I/dt = -g_I / tau_syn_I

A spike on the excitatory (inhibitory) receptor makes ``g_E`` (``g_I``) jump by its weight in nS
(weights must be >= 0).

Integration (option ``integration``) of ``v`` over a step of length ``h``; the conductances
decay exactly in both schemes (``g(t+h) = g(t) exp(-h/tau_syn)``):

- ``integration="exponential_euler"`` (the default): exponential Euler with step-averaged
  conductances. ``v`` is advanced with the exact solution for the constant conductances equal
  to their mean over the step, ``gbar = g (tau/h) (1 - exp(-h/tau))``::

      G      = g_L + gbar_E + gbar_I
      v_inf  = (g_L v_rest + gbar_E e_rev_E + gbar_I e_rev_I + i_offset + I_ext) / G
      v(t+h) = v_inf + (v - v_inf) exp(-h G / cm)

  This is exact when no input arrives and the conductances are constant, first-order accurate
  in ``h`` for the variation of the conductances within a step, and unconditionally stable.
- ``integration="euler"``: forward Euler, from the state and conductances at ``t``::

      v(t+h) = v + h / cm (g_L (v_rest - v) + g_E (e_rev_E - v) + g_I (e_rev_I - v)
                           + i_offset + I_ext)

  No exponential and no division per neuron and step: cheaper, first-order accurate, and
  stable only while ``h (g_L + g_E + g_I) / cm < 2`` (at ``h = 0.1`` ms and ``cm = 200`` pF,
  a total conductance below 4,000 nS). This is the scheme Brian2 (``method="euler"``) and
  ANNarchy (``explicit``, its default) use for these equations unless told otherwise, which
  integrate the conductances by forward Euler too (``g (1 - h/tau)`` instead of
  ``g exp(-h/tau)``: a relative difference of ``(h/tau)^2 / 2`` per step, 2e-4 at
  ``h/tau = 0.02``).

Spikes, resets, refractoriness and the step order are as in :mod:`neurosim.models.lif`:
inputs arriving at ``t+h`` make the conductances jump after the update and act from the next
step on (conductances keep decaying while ``v`` is clamped).

The model is written as two :class:`~neurosim.NeuronModel` descriptions, one per scheme, made
one class by :func:`~neurosim.models.description.model_family`
(``LIFCond.descriptions["exponential_euler"]`` and ``["euler"]``; ``LIFCond.description`` is
the default's): the constants of each scheme are derived constants, the update is the lines
above, and the NumPy step and the kernel of every backend are generated from it. Populations
with different schemes are different groups. A model's ``integration`` attribute is the
option's value; its class's ``integration`` attribute (``type(model).integration``) names the
scheme in words, as for every model.
"""

from __future__ import annotations

from .description import NeuronModel, model_family

PARAMETERS = {"tau_m": 15.0, "cm": 250.0, "v_rest": -70.0, "v_reset": -60.0,
              "v_thresh": -55.0, "tau_refrac": 2.0, "tau_syn_E": 0.2, "tau_syn_I": 2.0,
              "e_rev_E": 0.0, "e_rev_I": -85.0, "i_offset": 0.0}

#: option value -> (derived constants, update, the scheme in words)
SCHEMES = {
    "exponential_euler": (
        {"g_l": "cm / tau_m",
         "g_l_e_l_i": "g_l * v_rest + i_offset",
         "minus_h_over_cm": "-dt / cm",
         "F_E": "tau_syn_E / dt * (1 - exp(-dt / tau_syn_E))",     # gbar = g F
         "F_I": "tau_syn_I / dt * (1 - exp(-dt / tau_syn_I))"},
        """
        gbar_e = g_e * F_E
        gbar_i = g_i * F_I
        g_tot = gbar_e + gbar_i + g_l
        v_inf = (gbar_e * e_rev_E + gbar_i * e_rev_I + g_l_e_l_i + I_ext) / g_tot
        v = (v - v_inf) * exp(g_tot * minus_h_over_cm) + v_inf
        """,
        "exponential Euler with step-averaged conductances"),
    "euler": (
        {"g_l": "cm / tau_m",
         "g_l_e_l_i": "g_l * v_rest + i_offset",
         "h_over_cm": "dt / cm"},
        """
        v += (g_l_e_l_i - g_l * v + g_e * (e_rev_E - v) + g_i * (e_rev_I - v) + I_ext) * h_over_cm
        """,
        "forward Euler (exact decay of the synaptic conductances)"),
}


def _lif_cond(scheme: str) -> NeuronModel:
    derived, update, words = SCHEMES[scheme]
    return NeuronModel(
        "LIFCond", variant=scheme,
        parameters=PARAMETERS,
        state={"v": "v_rest"},
        derived=derived,
        update=update,
        threshold="v >= v_thresh",
        reset="v = v_reset",
        synapses={"excitatory": "conductance", "inhibitory": "conductance"},
        refractory="tau_refrac", hold="v = v_reset",
        positive=("tau_m", "cm"),
        constraints={"v_reset < v_thresh": "v_reset must be below v_thresh"},
        integration=words,
        doc=f"Conductance-based LIF with exponential conductances; {words}. "
            "See neurosim.models.lif_cond.")


LIFCond = model_family(
    "LIFCond", "integration", {scheme: _lif_cond(scheme) for scheme in SCHEMES},
    module=__name__, doc="""Conductance-based LIF with exponential conductances.

    Parameters: ``tau_m`` (ms), ``cm`` (pF), ``v_rest``, ``v_reset``, ``v_thresh``,
    ``e_rev_E``, ``e_rev_I`` (mV), ``tau_refrac``, ``tau_syn_E``, ``tau_syn_I`` (ms),
    ``i_offset`` (pA). Defaults follow NEST's ``iaf_cond_exp`` (g_L = 16.7 nS). Option
    ``integration``: ``"exponential_euler"`` (the default; exponential Euler with step-averaged
    conductances) or ``"euler"`` (forward Euler: cheaper, conditionally stable). Each numeric
    parameter may be an array with one value per neuron. Written as two
    :class:`~neurosim.NeuronModel` descriptions, ``LIFCond.descriptions[integration]``.
    """)
#: the default scheme's description (``LIFCond.descriptions["exponential_euler"]``)
LIFCond.description = LIFCond.descriptions["exponential_euler"]
