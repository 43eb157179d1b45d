r"""Izhikevich (2003) neuron (``Izhikevich``).

Equations (v in mV, t in ms, I in pA taken with unit capacitance as in NEST's ``izhikevich``)::

    dv/dt = 0.04 v^2 + 5 v + 140 - u + I,     I = i_offset + I_ext
    du/dt = a (b v - u)
    if v >= v_peak:  v <- c,  u <- u + d

Integration: forward Euler at the simulation step ``dt`` for both variables (u from the old v),
then threshold and reset. Izhikevich's 2003 code instead takes two 0.5 ms half-steps for v at
1 ms resolution; forward Euler at 0.1 ms gives different spike counts for fast cells, so compare
like with like. Synaptic input is a jump of ``v`` by the weight in mV (delta synapses, as NEST's
``izhikevich``), added after the Euler update of the step in which it arrives and before the
threshold check; excitatory weights >= 0, inhibitory <= 0.
The spike is stamped with the end of the step. There is no refractory period.

The model is a :class:`~neurosim.NeuronModel` description: its update, threshold and reset are
written once, below, and the NumPy step and the CUDA kernel are generated from them.

Parameters: ``a`` (1/ms, the recovery rate of ``u``, > 0), ``b`` (1/ms), ``c`` (mV, below
``v_peak``), ``d`` (mV/ms), ``v_peak`` (mV), ``i_offset`` (pA), ``v_init`` (mV, initial v;
u starts at ``b * v_init``). Published parameter sets (Izhikevich 2003, Fig. 2) are available
as ``Izhikevich.preset(name)`` for ``"RS"``, ``"IB"``, ``"CH"``, ``"FS"``, ``"LTS"``, ``"TC"``,
``"RZ"``.
"""

from .description import NeuronModel

PRESETS = {
    "RS": dict(a=0.02, b=0.2, c=-65.0, d=8.0),
    "IB": dict(a=0.02, b=0.2, c=-55.0, d=4.0),
    "CH": dict(a=0.02, b=0.2, c=-50.0, d=2.0),
    "FS": dict(a=0.1, b=0.2, c=-65.0, d=2.0),
    "LTS": dict(a=0.02, b=0.25, c=-65.0, d=2.0),
    "TC": dict(a=0.02, b=0.25, c=-65.0, d=0.05),
    "RZ": dict(a=0.1, b=0.26, c=-65.0, d=2.0),
}

Izhikevich = NeuronModel(
    "Izhikevich",
    parameters={"a": 0.02, "b": 0.2, "c": -65.0, "d": 8.0, "v_peak": 30.0, "i_offset": 0.0,
                "v_init": -65.0},
    state={"v": "v_init", "u": "b * v_init"},
    update="""
        du = (b * v - u) * a
        dv = ((0.04 * v + 5) * v + 140 - u + i_offset + I_ext) * dt
        v += dv
        u += du * dt
    """,
    threshold="v >= v_peak",
    reset="v = c; u += d",
    synapses={"excitatory": "delta", "inhibitory": "delta"},
    positive=("a",),
    constraints={"c < v_peak": "c must be below v_peak"},
    presets=PRESETS,
    integration="forward Euler",
    doc="Izhikevich 2003 model: a (1/ms, > 0), b (1/ms), c (mV), d (mV/ms), v_peak (mV), "
        "i_offset (pA), v_init (mV); forward Euler at dt, delta synapses (mV). See "
        "neurosim.models.izhikevich.",
)
