"""The cortical microcircuit of Potjans & Diesmann (2014) as a reference network.

Potjans TC, Diesmann M (2014) The cell-type specific cortical microcircuit: relating structure
and activity in a full-scale spiking network model. Cereb Cortex 24(3):785-806.

77,169 current-based LIF neurons (NEST ``iaf_psc_exp``) in eight populations (excitatory and
inhibitory in layers 2/3, 4, 5, 6) under 1 mm^2 of cortex, about 3 x 10^8 synapses. Parameters
are those of NEST's PyNEST example ``pynest/examples/Potjans_2014`` (files ``network_params.py``,
``stimulus_params.py``, ``sim_params.py``, ``network.py``, ``helpers.py`` of the NEST 3
version, authors H. Rothe, H. Bos, S. van Albada, J. Senk et al.):

- sizes ``N_FULL``, connection probabilities ``CONN_PROBS`` (target x source), external
  in-degrees ``K_EXT`` at 8 Hz, neurons: C_m 250 pF, tau_m 10 ms, tau_syn 0.5 ms (both
  receptors), E_L = V_reset = -65 mV, V_th -50 mV, t_ref 2 ms, dt 0.1 ms;
- total number of synapses per pair from the probability, NEST's ``num_synapses_from_conn_probs``:
  ``K_total = log(1 - p) / log(1 - 1/(N_pre N_post))``, scaled by ``scale * k_scale`` and
  rounded; each pair connected by ``FixedTotalNumber(K_total)`` (NEST's ``fixed_total_number``,
  multapses and autapses allowed), so in-degrees are binomial around ``K_total / N_post``;
  ``connection="fixed_indegree"`` gives every neuron exactly that in-degree (rounded) instead;
- weights: mean PSP 0.15 mV turned into a PSC amplitude for these neurons (NEST's
  ``postsynaptic_potential_to_current``: 87.8 pA), relative inhibition g = -4, the L4E -> L2/3E
  weight doubled, relative standard deviation 0.1, normal redrawn until it has the right sign;
- delays: normal, excitatory 1.5 +- 0.75 ms, inhibitory 0.75 +- 0.375 ms, redrawn below dt/2
  and rounded to the grid as NEST does (``redraw(normal, min=resolution/2)``), so the shortest
  delay is one step;
- background: ``K_ext`` independent Poisson inputs at 8 Hz with the excitatory weight
  (``background="poisson"``) or the equal mean current ``8 Hz * K_ext * w_ext * tau_syn``
  (``background="dc"``, NEST's ``dc_input_compensating_poisson``);
- initial V_m: per-population normal (``v0="optimized"``, NEST's default, which avoids the
  initial burst) or N(-58, 10) mV (``v0="original"``);
- down-scaling (NEST's ``adjust_weights_and_input_to_synapse_scaling``): with ``k_scale < 1``
  in-degrees are multiplied by ``k_scale``, weights (recurrent and external) divided by
  ``sqrt(k_scale)``, and a DC current ``0.001 tau_syn (1 - sqrt(k_scale)) sum_j w_ij K_ij
  nu_j`` (plus the external term with Poisson input) restores the mean input, with the
  full-scale rates ``FULL_MEAN_RATES`` of NEST's example; ``scale`` multiplies the numbers of
  neurons (in-degrees unchanged);
- optional thalamic input (``thalamic=True``, ``stimulus_params.py``): 902 neurons firing
  Poisson spikes at 120 Hz from 700 to 710 ms, connected to L4 and L6 with probabilities
  ``CONN_PROBS_TH`` by the same total-number rule, weight 0.15 mV PSP, delays 1.5 +- 0.75 ms.
  NEST's example scales the thalamic synapse numbers by ``K_scaling`` only; here they are also
  multiplied by ``scale`` so that thalamic in-degrees do not grow when the network shrinks.

Reference rates (spikes/s): NEST's full-scale rates with DC background, ``NEST_RATES_DC``, used
by ``benchmarks/potjans_diesmann_validate.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _validate as V
from ..connectivity import FixedIndegree, FixedTotalNumber
from ..distributions import Distribution, Normal
from ..models import LIF, SpikeSource
from ..network import Network
from .classic import ReferenceNetwork

POPULATIONS = ("L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I")
N_FULL = np.array([20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948])
# connection probabilities, CONN_PROBS[target, source]
CONN_PROBS = np.array([
    [0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0],
    [0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0],
    [0.0077, 0.0059, 0.0497, 0.135, 0.0067, 0.0003, 0.0453, 0.0],
    [0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0],
    [0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0],
    [0.0548, 0.0269, 0.0257, 0.0022, 0.06, 0.3158, 0.0086, 0.0],
    [0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252],
    [0.0364, 0.001, 0.0034, 0.0005, 0.0277, 0.008, 0.0658, 0.1443]])
K_EXT = np.array([1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100])
BG_RATE = 8.0                    # Hz per external input
# full-scale rates of NEST's example (Poisson background), used for the k_scale compensation
FULL_MEAN_RATES = np.array([0.943, 3.026, 4.368, 5.882, 7.733, 8.664, 1.096, 7.851])
# NEST's published full-scale rates with DC background (spikes/s), the validation reference
NEST_RATES_DC = dict(zip(POPULATIONS, (0.903, 2.965, 4.414, 5.876, 7.569, 8.633, 1.105, 7.829)))
PSP_EXC = 0.15                   # mV
G = -4.0
WEIGHT_REL_STD = 0.1
DELAY_EXC, DELAY_INH, DELAY_REL_STD = 1.5, 0.75, 0.5      # ms
V0_ORIGINAL = (-58.0, 10.0)
V0_OPTIMIZED_MEAN = np.array([-68.28, -63.16, -63.33, -63.45, -63.11, -61.66, -66.72, -61.43])
V0_OPTIMIZED_STD = np.array([5.36, 4.57, 4.74, 4.94, 4.94, 4.55, 5.46, 4.48])
NEURON = dict(cm=250.0, tau_m=10.0, v_rest=-65.0, v_reset=-65.0, v_thresh=-50.0,
              tau_refrac=2.0, tau_syn_E=0.5, tau_syn_I=0.5)
# thalamic input (stimulus_params.py)
N_THALAMUS = 902
CONN_PROBS_TH = np.array([0.0, 0.0, 0.0983, 0.0619, 0.0, 0.0, 0.0512, 0.0196])
TH_RATE, TH_START, TH_DURATION = 120.0, 700.0, 10.0
THALAMUS_SEED_KEY = (100,)       # spawn key of the thalamic spike times (not used by the engine)


def psc_over_psp(cm: float, tau_m: float, tau_syn: float) -> float:
    """PSC amplitude (pA) that gives a PSP peak of 1 mV (NEST's formula, Hanuschkin et al. 2010)."""
    sub = 1.0 / (tau_syn - tau_m)
    pre = tau_m * tau_syn / cm * sub
    frac = (tau_m / tau_syn) ** sub
    return 1.0 / (pre * (frac ** tau_m - frac ** tau_syn))


def num_synapses_from_conn_probs(p, n_target, n_source) -> np.ndarray:
    """Expected number of distinct-pair-equivalent synapses: log(1-p) / log(1 - 1/(N_t N_s))."""
    prod = np.outer(n_target, n_source).astype(float)
    return np.log(1.0 - np.asarray(p)) / np.log((prod - 1.0) / prod)


@dataclass(frozen=True)
class NestDelay(Distribution):
    """Normal delay as NEST draws it: redrawn below ``dt/2``, then rounded to the grid.

    Values in ``[dt/2, dt)`` are raised to ``dt`` (they would round to one step anyway), so the
    distribution of delays in steps is exactly NEST's; ``bounds()`` is ``[dt, inf)``.
    """

    mean: float
    std: float
    dt: float

    def sample(self, rng, n):
        out = Normal(self.mean, self.std, low=0.5 * self.dt).sample(rng, n)
        return np.maximum(out, self.dt, out=out)

    def bounds(self):
        return (float(self.dt), np.inf)

    def device_form(self) -> Normal:
        """The spec the device draws (kernels/connect.cu): the same normal redrawn below dt/2;
        raising values in [dt/2, dt) to dt does not change their step (``max(1, rint(d/dt))``)."""
        return Normal(self.mean, self.std, low=0.5 * self.dt)


@dataclass(frozen=True)
class Parameters:
    """Derived parameters of one instance (rows are targets, columns sources)."""

    sizes: np.ndarray               # neurons per population
    num_synapses: np.ndarray        # synapses per pair (target, source)
    indegrees: np.ndarray           # num_synapses / size of the target
    weights: np.ndarray             # mean PSC (pA) per pair
    weight_ext: float               # pA
    k_ext: np.ndarray               # external inputs per neuron
    dc: np.ndarray                  # DC per population (pA): background and k_scale compensation
    delays: np.ndarray              # mean delay per pair (ms)
    num_th_synapses: np.ndarray     # thalamic synapses per target population
    weight_th: float                # pA


def derive_parameters(scale: float = 1.0, k_scale: float = 1.0,
                      background: str = "poisson") -> Parameters:
    """The scaled numbers, weights and currents of NEST's ``Network.__derive_parameters``."""
    tau_syn = NEURON["tau_syn_E"]
    full_syn = num_synapses_from_conn_probs(CONN_PROBS, N_FULL, N_FULL)
    sizes = np.round(N_FULL * scale).astype(int)
    num_syn = np.round(full_syn * scale * k_scale).astype(np.int64)
    k_ext = np.round(K_EXT * k_scale).astype(int)
    factor = psc_over_psp(NEURON["cm"], NEURON["tau_m"], tau_syn)
    psp = np.where(np.arange(8)[None, :] % 2 == 0, PSP_EXC, G * PSP_EXC) * np.ones((8, 1))
    psp[0, 2] = 2.0 * PSP_EXC                           # L4E -> L2/3E doubled
    w = psp * factor
    w_ext = PSP_EXC * factor
    dc = np.zeros(8)
    if background == "dc":
        dc = BG_RATE * K_EXT * w_ext * tau_syn * 1e-3
    if k_scale != 1.0:
        indeg_full = full_syn / N_FULL[:, None]
        input_rec = np.sum(w * indeg_full * FULL_MEAN_RATES, axis=1)
        dc = dc + 1e-3 * tau_syn * (1.0 - np.sqrt(k_scale)) * input_rec
        if background == "poisson":
            dc = dc + 1e-3 * tau_syn * (1.0 - np.sqrt(k_scale)) * w_ext * K_EXT * BG_RATE
        w = w / np.sqrt(k_scale)
        w_ext = w_ext / np.sqrt(k_scale)
    delays = np.where(np.arange(8)[None, :] % 2 == 0, DELAY_EXC, DELAY_INH) * np.ones((8, 1))
    th_full = num_synapses_from_conn_probs(CONN_PROBS_TH[None, :], [N_THALAMUS], N_FULL)[0]
    num_th = (th_full * scale * k_scale).astype(np.int64)
    w_th = PSP_EXC * factor / np.sqrt(k_scale)
    return Parameters(sizes, num_syn, num_syn / np.maximum(sizes, 1)[:, None], w, float(w_ext),
                      k_ext, dc, delays, num_th, float(w_th))


def potjans_diesmann(scale: float = 1.0, k_scale: float = 1.0, *, background: str = "poisson",
                     thalamic: bool = False, connection: str = "fixed_total_number",
                     v0: str = "optimized", dt: float = 0.1, device: str = "auto",
                     seed: int | None = None, record: bool = True, connectivity: str = "auto",
                     thalamic_start: float = TH_START, thalamic_duration: float = TH_DURATION,
                     thalamic_rate: float = TH_RATE) -> ReferenceNetwork:
    """The Potjans & Diesmann (2014) microcircuit with NEST's example parameters.

    ``scale``: fraction of the neurons (in-degrees kept); ``k_scale``: fraction of the
    in-degrees, with weights times ``1/sqrt(k_scale)`` and DC compensation (NEST's scheme;
    rates are preserved approximately). ``background``: ``"poisson"`` (8 Hz x K_ext inputs per
    neuron) or ``"dc"`` (the equal mean current). ``connection``: ``"fixed_total_number"``
    (NEST's rule) or ``"fixed_indegree"``. ``v0``: ``"optimized"`` or ``"original"`` initial
    membrane potentials. ``thalamic``: add the thalamic population and its 120 Hz burst
    (``thalamic_start``/``thalamic_duration`` ms, ``thalamic_rate`` Hz). ``record``: a spike
    monitor per population. ``connectivity``: where the synapses are drawn (``Network``'s
    argument): ``"auto"`` generates them on the GPU when the network runs on one (about 3 x 10^8
    synapses written in place, no host memory), ``"host"`` draws them with NumPy (the same network
    on every backend), ``"device"`` insists on the GPU. Populations are named ``L23E``, ``L23I``,
    ... ``L6I``.
    """
    where = "potjans_diesmann()"
    scale = V.positive(where, "scale", scale)
    k_scale = V.positive(where, "k_scale", k_scale)
    if scale > 1.0 or k_scale > 1.0:
        raise ValueError(f"{where}: scale and k_scale must be in (0, 1], got scale={scale}, "
                         f"k_scale={k_scale}")
    V.choice(where, "background", background, ("poisson", "dc"))
    V.choice(where, "connection", connection, ("fixed_total_number", "fixed_indegree"))
    V.choice(where, "v0", v0, ("optimized", "original"))
    thalamic = V.boolean(where, "thalamic", thalamic)
    record = V.boolean(where, "record", record)
    V.non_negative(where, "thalamic_start", thalamic_start)
    V.non_negative(where, "thalamic_duration", thalamic_duration)
    V.non_negative(where, "thalamic_rate", thalamic_rate)
    P = derive_parameters(scale, k_scale, background)
    if np.any(P.sizes < 1):
        raise ValueError(f"{where}: scale={scale} leaves a population without neurons "
                         f"(sizes {P.sizes.tolist()})")
    net = Network(dt=dt, device=device, seed=seed, connectivity=connectivity)
    pops = []
    for i, name in enumerate(POPULATIONS):
        mean, std = ((V0_OPTIMIZED_MEAN[i], V0_OPTIMIZED_STD[i]) if v0 == "optimized"
                     else V0_ORIGINAL)
        model = LIF(**NEURON, i_offset=float(P.dc[i]))
        pops.append(net.add_population(int(P.sizes[i]), model, name=name,
                                       initial={"v": Normal(float(mean), float(std))}))
    for i, post in enumerate(pops):
        for j, pre in enumerate(pops):
            n = int(P.num_synapses[i, j])
            if n == 0:
                continue
            rule = (FixedTotalNumber(n) if connection == "fixed_total_number"
                    else FixedIndegree(int(round(n / post.size))))
            _connect(net, pre, post, rule, P.weights[i, j], P.delays[i, j], dt)
    if background == "poisson":
        for i, pop in enumerate(pops):
            net.add_poisson_input(pop, rate=BG_RATE, weight=P.weight_ext,
                                  n_sources=int(P.k_ext[i]))
    populations = {p.name: p for p in pops}
    if thalamic:
        th = _thalamus(net, thalamic_start, thalamic_duration, thalamic_rate)
        populations["TH"] = th
        for i, post in enumerate(pops):
            if P.num_th_synapses[i] > 0:
                _connect(net, th, post, FixedTotalNumber(int(P.num_th_synapses[i])),
                         P.weight_th, DELAY_EXC, dt)
    mons = {p.name: net.record_spikes(p) for p in pops} if record else {}
    params = dict(scale=scale, k_scale=k_scale, background=background, thalamic=thalamic,
                  connection=connection, v0=v0, dt=dt, derived=P,
                  n_neurons=int(P.sizes.sum()), n_synapses=int(P.num_synapses.sum())
                  + (int(P.num_th_synapses.sum()) if thalamic else 0))
    return ReferenceNetwork(net, populations, mons, params)


def _connect(net, pre, post, rule, weight, delay, dt):
    w = float(weight)
    exc = w >= 0
    dist = Normal(w, abs(w) * WEIGHT_REL_STD, low=0.0 if exc else None,
                  high=None if exc else 0.0)
    net.connect(pre, post, rule, weight=dist,
                delay=NestDelay(float(delay), float(delay) * DELAY_REL_STD, dt),
                receptor="excitatory" if exc else "inhibitory")


def _thalamus(net, start, duration, rate):
    """902 thalamic neurons with independent Poisson spikes at ``rate`` in [start, start+duration)."""
    rng = np.random.default_rng(np.random.SeedSequence(net.seed, spawn_key=THALAMUS_SEED_KEY))
    counts = rng.poisson(rate * duration * 1e-3, size=N_THALAMUS)
    times = [np.sort(rng.uniform(start, start + duration, size=c)) for c in counts]
    return net.add_population(N_THALAMUS, SpikeSource(times), name="TH")
