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

The model is written once, as two :class:`~neurosim.NeuronModel` descriptions (one per
``synapse`` option, made one class by :func:`~neurosim.models.description.model_family`): the
propagators are derived constants (computed in float64 per population, then rounded to
float32), the update is the line above, and the NumPy step and the CUDA kernel are generated
from it. When ``tau_syn`` is within a relative 1e-9 of ``tau_m``, ``P21`` takes its limit
``h/cm P22`` (the general form divides by ``tau_m - tau_syn``).
"""

from __future__ import annotations

from .description import NeuronModel, model_family

PARAMETERS = {"tau_m": 10.0, "cm": 250.0, "v_rest": -70.0, "v_reset": -70.0, "v_thresh": -55.0,
              "tau_refrac": 2.0, "tau_syn_E": 2.0, "tau_syn_I": 2.0, "i_offset": 0.0}


def p21_expression(tau_syn: str, tau_m: str = "tau_m", cm: str = "cm", h: str = "dt") -> str:
    """P21 for the exact LIF update as an expression of the description language over the
    names given, stable when tau_syn is close to tau_m (evaluated in float64)."""
    return (f"{h} / {cm} * exp(-{h} / {tau_m}) "
            f"if abs({tau_syn} - {tau_m}) <= 1e-9 * abs({tau_m}) else {tau_syn} * {tau_m} / ({cm} * ({tau_m} - {tau_syn})) "
            f"* (exp(-{h} / {tau_m}) - exp(-{h} / {tau_syn}))")


def _lif(synapse: str) -> NeuronModel:
    delta = synapse == "delta"
    derived = {"P22": "exp(-dt / tau_m)",
               "P20": "tau_m / cm * (1 - P22)",
               "v_const": "v_rest * (1 - P22) + i_offset * P20"}
    update = "v = v * P22 + v_const + I_ext * P20"
    if not delta:
        derived.update(P21_E=p21_expression("tau_syn_E"), P21_I=p21_expression("tau_syn_I"))
        update += " + i_syn_e * P21_E + i_syn_i * P21_I"
    return NeuronModel(
        "LIF", variant=synapse,
        parameters=PARAMETERS,
        state={"v": "v_rest"},
        derived=derived,
        update=update,
        threshold="v >= v_thresh",
        reset="v = v_reset",
        synapses={"excitatory": synapse if delta else "current",
                  "inhibitory": synapse if delta else "current"},
        refractory="tau_refrac", hold="v = v_reset",
        positive=("tau_m", "cm", "tau_syn_E", "tau_syn_I"),
        constraints={"v_reset < v_thresh": "v_reset must be below v_thresh"},
        integration="exact (Rotter & Diesmann 1999)",
        doc=f"LIF with {synapse} synapses; exact integration. See neurosim.models.lif.")


LIF = model_family(
    "LIF", "synapse", {"exponential": _lif("exponential"), "delta": _lif("delta")},
    module=__name__, doc="""Current-based LIF with exponential (or delta) synapses; exact integration.

    Parameters: ``tau_m`` (ms), ``cm`` (pF), ``v_rest``, ``v_reset``, ``v_thresh`` (mV),
    ``tau_refrac`` (ms), ``tau_syn_E``, ``tau_syn_I`` (ms), ``i_offset`` (pA, constant input);
    option ``synapse``: ``"exponential"`` (weights in pA) or ``"delta"`` (weights in mV).
    Each numeric parameter may be an array with one value per neuron. Written as two
    :class:`~neurosim.NeuronModel` descriptions, ``LIF.descriptions[synapse]``.
    """)
