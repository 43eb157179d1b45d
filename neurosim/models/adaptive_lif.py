r"""Adaptive leaky integrate-and-fire neuron (``AdaptiveLIF``), written as a
:class:`~neurosim.NeuronModel`.

Equations (units: mV, ms, pA, pF, nS): a LIF with a spike-triggered adaptation current ``w``
(Brette & Gerstner's AdEx without its exponential term)::

    dv/dt = (v_rest - v) / tau_m + (I_syn + i_offset + I_ext - w) / cm
    dw/dt = (a (v - v_rest) - w) / tau_w
    if v >= v_thresh:  v <- v_reset,  w <- w + b

with exponential current synapses (``i_syn_e``, ``i_syn_i``, pA, decaying with ``tau_syn_E``,
``tau_syn_I``; excitatory weights >= 0, inhibitory <= 0). ``a`` (nS) is the subthreshold and
``b`` (pA) the spike-triggered adaptation. Integration: forward Euler at ``dt`` for ``v`` and
``w``, both from the state at the start of the step; ``v`` is held at ``v_reset`` for
``round(tau_refrac / dt)`` updates after a spike, while ``w`` keeps evolving.
"""

from .description import NeuronModel

AdaptiveLIF = NeuronModel(
    "AdaptiveLIF",
    parameters={"tau_m": 20.0, "cm": 250.0, "v_rest": -70.0, "v_reset": -65.0,
                "v_thresh": -50.0, "tau_refrac": 2.0, "a": 0.5, "b": 20.0, "tau_w": 100.0,
                "tau_syn_E": 5.0, "tau_syn_I": 5.0, "i_offset": 0.0},
    state={"v": "v_rest", "w": 0.0},
    update="""
        dv = dt * ((v_rest - v) / tau_m + (I_syn + i_offset + I_ext - w) / cm)
        w += dt * (a * (v - v_rest) - w) / tau_w
        v += dv
    """,
    threshold="v >= v_thresh",
    reset="v = v_reset; w += b",
    synapses={"excitatory": "current", "inhibitory": "current"},
    refractory="tau_refrac", hold="v = v_reset",
    positive=("tau_m", "cm", "tau_w"),
    integration="forward Euler",
    doc="Adaptive LIF: tau_m (ms), cm (pF), v_rest, v_reset, v_thresh (mV), tau_refrac (ms), "
        "a (nS), b (pA), tau_w, tau_syn_E, tau_syn_I (ms), i_offset (pA); forward Euler. "
        "See neurosim.models.adaptive_lif.",
)
