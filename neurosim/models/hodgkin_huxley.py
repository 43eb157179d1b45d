r"""Hodgkin–Huxley neuron with Traub–Miles channels (``HodgkinHuxley``), written as a
:class:`~neurosim.NeuronModel`.

The single-compartment Hodgkin–Huxley-type neuron of Traub & Miles (1991, *Neuronal Networks
of the Hippocampus*, Cambridge University Press) in the form of Brette et al. (2007, J Comput
Neurosci 23:349, benchmark 3 "COBAHH"), as Brian2's COBAHH example, NEST's
``hh_cond_exp_traub`` and PyNN's ``HH_cond_exp``: a transient sodium current (``m``, ``h``), a
delayed-rectifier potassium current (``n``), a leak, and exponentially decaying synaptic
conductances with reversal potentials. Units: mV, ms, pA, pF, nS::

    cm dv/dt = g_L (e_L - v) + g_Na m^3 h (e_Na - v) + g_K n^4 (e_K - v)
               + g_e (e_rev_E - v) + g_i (e_rev_I - v) + i_offset + I_ext
    dx/dt = alpha_x(v) (1 - x) - beta_x(v) x            for x = m, h, n
    dg_e/dt = -g_e / tau_syn_E,   dg_i/dt = -g_i / tau_syn_I      (nS; weights >= 0, nS)

with ``u = v - v_T`` (mV) and the rates in 1/ms::

    alpha_m = 0.32 (13 - u) / (exp((13 - u) / 4) - 1)
    beta_m  = 0.28 (u - 40) / (exp((u - 40) / 5) - 1)
    alpha_h = 0.128 exp((17 - u) / 18)
    beta_h  = 4 / (1 + exp((40 - u) / 5))
    alpha_n = 0.032 (15 - u) / (exp((15 - u) / 5) - 1)
    beta_n  = 0.5 exp((10 - u) / 40)

The three rates of the form ``c z / (exp(z) - 1)`` have a removable singularity at ``z = 0``
(``alpha_m`` at ``v = v_T + 13``, ``beta_m`` at ``v_T + 40``, ``alpha_n`` at ``v_T + 15`` =
-48 mV with the defaults); they are computed as ``c z / expm1(z)``, which is accurate in
float32 for every ``z != 0``, and as its limit ``c (1 - z / 2)`` for ``|z| < 1e-6``, so no
voltage gives 0/0. Every ``v`` within 1500 mV of ``v_T`` gives finite rates (an overflowing
``expm1`` makes its rate 0, its limit).

Parameters (defaults): the densities of the benchmark on a 20 000 µm² membrane — ``cm`` = 1
µF/cm² -> 200 pF, ``g_L`` = 0.05 mS/cm² -> 10 nS, ``g_Na`` = 100 mS/cm² -> 20 000 nS,
``g_K`` = 30 mS/cm² -> 6000 nS — ``e_Na`` = 50 mV, ``e_K`` = -90 mV, ``v_T`` = -63 mV (it shifts
every rate), ``e_rev_E`` = 0 mV, ``e_rev_I`` = -80 mV, ``tau_syn_E`` = 5 ms, ``tau_syn_I`` = 10
ms, ``i_offset`` = 0 pA. ``e_L`` is -65 mV (PyNN's ``HH_cond_exp``), with which the neuron
rests at -64.8 mV without input and fires above a rheobase of 18.2 pA (a saddle-node on the
limit cycle: the rate rises from 0); Brian2's and NEST's COBAHH use ``e_L = -60`` mV, with
which this neuron fires by itself (about 14 spikes/s at 0 pA) — give ``e_L=-60.0`` for theirs.
With the defaults a spike peaks near +48 mV, is 0.62 ms wide at -20 mV and is followed by an
after-hyperpolarisation to about -85 mV; 50 pA give 14 spikes/s, 1000 pA 128/s.

Spikes: a spike is an upward crossing of ``v_thresh`` (-20 mV, Brian2's COBAHH detection
level): ``v > v_thresh`` at the end of a step while ``v <= v_thresh`` at its start (the state
variable ``v_prev``, set by the update). Nothing is reset and there is no refractory period:
the dynamics themselves repolarise, and a neuron cannot spike again before ``v`` has come back
below ``v_thresh`` (what Brian2 writes as ``refractory="v > -20*mV"``). ``v_prev`` needs no
initial value (the update sets it before the threshold reads it). The gating variables are
called ``m_Na``, ``h_Na`` and ``n_K`` (``n`` is a name descriptions cannot declare).

Initial state: ``v = e_L`` and ``m_Na``, ``h_Na``, ``n_K`` at their steady states at ``e_L``
(``alpha / (alpha + beta)``, computed in float64), as NEST does.

Integration (one step of length ``dt``; ``dt`` from 0.01 to 0.05 ms for accuracy, stable at
any ``dt``):

1. the gating variables advance by exponential Euler (Rush–Larsen) with the rates of ``v`` at
   the start of the step — exact for a frozen ``v``:
   ``x <- x_inf + (x - x_inf) exp(-dt (alpha_x + beta_x))``, ``x_inf = alpha_x / (alpha_x +
   beta_x)``, written with ``expm1`` so the small increments keep their float32 digits;
2. ``v`` advances by exponential Euler with the *new* gating variables and the synaptic
   conductances averaged over the step (``g tau / dt (1 - exp(-dt / tau))``, exact for their
   decay, as ``LIFCond``) — exact for frozen gates: ``v <- v_inf + (v - v_inf) exp(-dt G /
   cm)``, with the total conductance ``G`` and ``v_inf`` the conductance-weighted mean of the
   reversal potentials plus ``(i_offset + I_ext) / G``;
3. the synaptic conductances decay exactly and take the weights arriving at the end of the
   step (NEST's order, as every neurosim model).

Using the new gating variables in step 2 staggers ``v`` and the gates by half a step, as
NEURON's staggered scheme does (Hines 1984), and makes the scheme close to second order. Its
fixed points are the equations' at any ``dt`` (``x = x_inf(v)``, ``v = v_inf``). Against an
RK4 integration at 0.005 ms, from 50 to 1000 pA (float32, through the simulator), interspike
intervals are within 0.02 % at ``dt`` = 0.01 ms, 0.1 % at 0.025 ms, 0.4 % at 0.05 ms and 1.5 %
at 0.1 ms; spike peak, width and after-hyperpolarisation within 0.15 mV, 0.002 ms and 0.02 mV
at 0.025 ms. Forward Euler, by contrast, diverges at the first spike at ``dt`` = 0.1 ms. A step
costs about ten ``exp``/``expm1`` per neuron; on cuda:host (the C library's ``expf``,
``expm1f``) results match the NumPy backend's to float32 rounding, not bit for bit (tests:
identical spikes, ``v`` within 0.05 mV).
"""

from .description import NeuronModel

#: The rates (1/ms) of each gating variable as functions of ``u = v - v_T`` (mV): (form, c, z)
#: with the forms ``exprel``: ``c z / (exp(z) - 1)``, ``exp``: ``c exp(z)`` and ``sigmoid``:
#: ``c / (1 + exp(z))``; ``0.32 (13 - u) / (exp((13 - u) / 4) - 1)`` is ``exprel`` with
#: ``c = 0.32 * 4``, ``z = (13 - u) / 4``.
_RATES = {
    "m_Na": (("exprel", "1.28", "(13.0 - {u}) / 4.0"), ("exprel", "1.4", "({u} - 40.0) / 5.0")),
    "h_Na": (("exp", "0.128", "(17.0 - {u}) / 18.0"), ("sigmoid", "4.0", "(40.0 - {u}) / 5.0")),
    "n_K": (("exprel", "0.16", "(15.0 - {u}) / 5.0"), ("exp", "0.5", "(10.0 - {u}) / 40.0")),
}


def _rate(form: str, c: str, z: str) -> str:
    """One rate as an expression of ``z`` (an expression); ``exprel`` without 0/0 at z = 0."""
    if form == "exprel":
        return f"{c} * ({z} / expm1({z}) if abs({z}) >= 1e-6 else 1.0 - 0.5 * {z})"
    if form == "exp":
        return f"{c} * exp({z})"
    return f"{c} / (1.0 + exp({z}))"


def _steady_state(x: str) -> str:
    """``alpha / (alpha + beta)`` of gate ``x`` at ``v = e_L`` (the default initial value)."""
    a, b = (_rate(form, c, "(" + z.format(u="(e_L - v_T)") + ")") for form, c, z in _RATES[x])
    return f"({a}) / (({a}) + ({b}))"


def _gate_update(x: str) -> str:
    """Rush-Larsen step of gate ``x`` with the rates of ``u`` (locals z, a, s)."""
    lines = []
    for k, (form, c, z) in enumerate(_RATES[x]):
        z = z.format(u="u")
        if form == "exprel":
            lines.append(f"z = {z}")
            z = "z"
        lines.append(("a = " if k == 0 else "s = a + ") + _rate(form, c, z))
    lines.append(f"{x} += (a / s - {x}) * -expm1(-dt * s)")
    return "\n".join(lines)


#: v_prev, then the gates (Rush-Larsen with the rates of v at the start of the step), then v
#: (exponential Euler with the new gates and the synaptic conductances averaged over the step).
_UPDATE = "\n".join([
    "v_prev = v",
    "u = v - v_T",
    *(_gate_update(x) for x in _RATES),
    "g_na = g_Na * m_Na ** 3 * h_Na",
    "g_k = g_K * n_K ** 4",
    "g_ex = g_e * mean_e",
    "g_in = g_i * mean_i",
    "g_total = g_L + g_na + g_k + g_ex + g_in",
    "i_rev = i_leak + g_na * e_Na + g_k * e_K + g_ex * e_rev_E + g_in * e_rev_I",
    "v_inf = (i_rev + i_offset + I_ext) / g_total",
    "v += (v_inf - v) * -expm1(-g_total * dt_over_cm)",
])

HodgkinHuxley = NeuronModel(
    "HodgkinHuxley",
    parameters={"cm": 200.0, "g_L": 10.0, "e_L": -65.0, "g_Na": 20000.0, "e_Na": 50.0,
                "g_K": 6000.0, "e_K": -90.0, "v_T": -63.0, "v_thresh": -20.0,
                "tau_syn_E": 5.0, "tau_syn_I": 10.0, "e_rev_E": 0.0, "e_rev_I": -80.0,
                "i_offset": 0.0},
    state={"v": "e_L", **{x: _steady_state(x) for x in _RATES}, "v_prev": "e_L"},
    derived={"dt_over_cm": "dt / cm", "i_leak": "g_L * e_L",
             "mean_e": "-expm1(-dt / tau_syn_E) * tau_syn_E / dt",
             "mean_i": "-expm1(-dt / tau_syn_I) * tau_syn_I / dt"},
    update=_UPDATE,
    threshold="v > v_thresh and v_prev <= v_thresh",
    synapses={"excitatory": "conductance", "inhibitory": "conductance"},
    positive=("cm", "g_L"),
    non_negative=("g_Na", "g_K"),
    doc="Hodgkin-Huxley neuron with Traub-Miles channels and conductance synapses (as NEST "
        "hh_cond_exp_traub, PyNN HH_cond_exp): cm (pF), g_L, g_Na, g_K (nS), e_L, e_Na, e_K, "
        "v_T, v_thresh (mV), tau_syn_E, tau_syn_I (ms), e_rev_E, e_rev_I (mV), i_offset (pA); "
        "exponential Euler (Rush-Larsen) for m, h, n, then for v; dt 0.01-0.05 ms. "
        "See neurosim.models.hodgkin_huxley.",
)
