r"""Quadratic integrate-and-fire neuron (``QIF``), written as a :class:`~neurosim.NeuronModel`.

Equations (units: mV, ms, pA, pF, nS/mV), Izhikevich's (2007) quadratic form::

    cm dv/dt = k (v - v_rest) (v - v_crit) + I_syn + i_offset + I_ext
    if v >= v_peak:  v <- v_reset

with exponential current synapses (``i_syn_e``, ``i_syn_i``, pA, decaying with ``tau_syn_E``,
``tau_syn_I``; excitatory weights >= 0, inhibitory <= 0). ``v_rest`` is the stable and
``v_crit`` the unstable fixed point without input; the rheobase is ``k (v_crit - v_rest)^2 / 4``.
For a constant current ``I`` above it, with ``v_m = (v_rest + v_crit) / 2`` and
``q = sqrt(I / k - (v_crit - v_rest)^2 / 4)``, ``v - v_m = q tan(k q t / cm + phi)``, so the
interval between spikes is::

    T = cm / (k q) * (atan((v_peak - v_m) / q) - atan((v_reset - v_m) / q)) + tau_refrac

(``pi cm / (k q)`` as ``v_peak -> inf`` and ``v_reset -> -inf``: the classic ``T = pi tau / sqrt(I)``
of the normalised QIF). Integration: forward Euler at ``dt``; ``v`` is held at ``v_reset`` for
``round(tau_refrac / dt)`` updates after a spike.
"""

from .description import NeuronModel

QIF = NeuronModel(
    "QIF",
    parameters={"cm": 100.0, "k": 0.7, "v_rest": -60.0, "v_crit": -40.0, "v_peak": 35.0,
                "v_reset": -50.0, "tau_refrac": 0.0, "tau_syn_E": 2.0, "tau_syn_I": 2.0,
                "i_offset": 0.0},
    state={"v": "v_rest"},
    derived={"h_over_cm": "dt / cm"},
    update="v += h_over_cm * (k * (v - v_rest) * (v - v_crit) + I_syn + i_offset + I_ext)",
    threshold="v >= v_peak",
    reset="v = v_reset",
    synapses={"excitatory": "current", "inhibitory": "current"},
    refractory="tau_refrac", hold="v = v_reset",
    positive=("cm", "k"),
    integration="forward Euler",
    doc="Quadratic integrate-and-fire neuron: cm (pF), k (nS/mV), v_rest, v_crit, v_peak, "
        "v_reset (mV), tau_refrac, tau_syn_E, tau_syn_I (ms), i_offset (pA); forward Euler. "
        "See neurosim.models.qif.",
)
