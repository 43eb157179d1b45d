"""The two classic benchmark networks, as defined in ``docs/benchmark-cases.md``.

- :func:`vogels_abbott_coba`: Vogels & Abbott (2005) as Brette et al. (2007) benchmark 1 — 4,000
  conductance-based LIF neurons (3,200 excitatory, 800 inhibitory), 2% random connectivity
  (self-connections allowed), weights 6 nS / 67 nS (0.6 and 6.7 in units of g_L = 10 nS), delay
  one step. Settles near 19 Hz; about one seed in ten falls silent (it is bistable).
- :func:`brunel_2000`: Brunel (2000) model A — 10,000 excitatory and 2,500 inhibitory LIF
  neurons with delta synapses, fixed in-degrees (sources drawn with replacement), J = 0.1 mV,
  inhibition -g J, delay 1.5 ms, external Poisson drive at eta * nu_thr. At g = 5, eta = 2 it is
  asynchronous irregular (about 37 Hz); at g = 3, eta = 2 synchronous regular.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import _validate as V
from ..connectivity import FixedIndegree, FixedProbability
from ..distributions import Normal, Uniform
from ..models import LIF, LIFCond
from ..network import Network


@dataclass
class ReferenceNetwork:
    """A built description: the network, its populations and monitors by name, its parameters."""

    network: Network
    populations: dict
    monitors: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)


def vogels_abbott_coba(n_exc: int = 3200, n_inh: int = 800, p: float = 0.02,
                       w_exc: float = 6.0, w_inh: float = 67.0, *, dt: float = 0.1,
                       device: str = "auto", seed: int | None = None,
                       record: bool = True, connectivity: str = "auto",
                       integration: str = "exponential_euler") -> ReferenceNetwork:
    """Vogels–Abbott COBA network (Brette et al. 2007, benchmark 1); weights in nS.
    ``connectivity``: where synapses are drawn, as ``Network``'s argument. ``integration``:
    the neurons' scheme, ``"exponential_euler"`` (default) or ``"euler"`` (forward Euler, as
    Brian2's ``method="euler"`` and ANNarchy's ``explicit``; see :class:`~neurosim.LIFCond`)."""
    where = "vogels_abbott_coba()"
    schemes = tuple(LIFCond.descriptions)
    if not isinstance(integration, str) or integration not in schemes:
        raise ValueError(f"{where}: integration must be one of {schemes}, got {integration!r}")
    n_exc = V.count(where, "n_exc", n_exc)
    n_inh = V.count(where, "n_inh", n_inh)
    p = V.probability(where, "p", p)
    w_exc = V.non_negative(where, "w_exc", w_exc, float32=True)
    w_inh = V.non_negative(where, "w_inh", w_inh, float32=True)
    record = V.boolean(where, "record", record)
    net = Network(dt=dt, device=device, seed=seed, connectivity=connectivity)
    model = LIFCond(cm=200.0, tau_m=20.0, v_rest=-60.0, v_reset=-60.0, v_thresh=-50.0,
                    tau_refrac=5.0, tau_syn_E=5.0, tau_syn_I=10.0, e_rev_E=0.0, e_rev_I=-80.0,
                    integration=integration)
    initial = {"v": Normal(-65.0, 5.0),
               "g_e": Normal(40.0, 15.0, low=0.0, bound="clip"),
               "g_i": Normal(200.0, 120.0, low=0.0, bound="clip")}
    exc = net.add_population(n_exc, model, name="exc", initial=initial)
    inh = net.add_population(n_inh, model, name="inh", initial=initial)
    for pre, w, rec in ((exc, w_exc, "excitatory"), (inh, w_inh, "inhibitory")):
        for post in (exc, inh):
            net.connect(pre, post, FixedProbability(p), weight=w, delay=dt, receptor=rec)
    mons = {}
    if record:
        mons = {"exc": net.record_spikes(exc), "inh": net.record_spikes(inh)}
    params = dict(n_exc=n_exc, n_inh=n_inh, p=p, w_exc=w_exc, w_inh=w_inh, dt=dt,
                  integration=integration)
    return ReferenceNetwork(net, {"exc": exc, "inh": inh}, mons, params)


def brunel_2000(g: float = 5.0, eta: float = 2.0, *, n_exc: int = 10_000, gamma: float = 0.25,
                epsilon: float = 0.1, J: float = 0.1, delay: float = 1.5, tau_m: float = 20.0,
                theta: float = 20.0, v_reset: float = 10.0, tau_refrac: float = 2.0,
                dt: float = 0.1, device: str = "auto", seed: int | None = None,
                record: bool = True, connectivity: str = "auto") -> ReferenceNetwork:
    """Brunel (2000) sparse network of delta-synapse LIF neurons (weights in mV).

    ``n_exc`` excitatory and ``gamma * n_exc`` inhibitory neurons; each receives exactly
    ``C_E = epsilon * n_exc`` excitatory and ``C_I = gamma * C_E`` inhibitory inputs (drawn with
    replacement), weight ``J`` and ``-g J``, and ``C_E`` external Poisson inputs at
    ``eta * nu_thr``, ``nu_thr = theta / (J C_E tau_m)``. Initial ``v`` uniform in [0, theta).
    Smaller versions keep ``J * C_E`` in mind: the state depends on ``g``, ``eta`` and on it.
    ``connectivity``: where synapses are drawn, as ``Network``'s argument.

    Every argument is checked first: ``g``, ``eta`` >= 0, ``J``, ``tau_m``, ``gamma``,
    ``epsilon`` > 0 (``epsilon`` <= 1), at least one inhibitory neuron and one input per
    neuron, ``v_reset < theta``.
    """
    n_inh, c_e, c_i = _brunel_sizes(g, eta, n_exc, gamma, epsilon, J, tau_m, theta, v_reset,
                                    tau_refrac, delay, record)
    nu_thr = theta / (J * c_e * tau_m) * 1e3          # Hz
    nu_ext = eta * nu_thr
    net = Network(dt=dt, device=device, seed=seed, connectivity=connectivity)
    model = LIF(tau_m=tau_m, cm=250.0, v_rest=0.0, v_reset=v_reset, v_thresh=theta,
                tau_refrac=tau_refrac, synapse="delta")
    init = {"v": Uniform(0.0, theta)}
    exc = net.add_population(n_exc, model, name="exc", initial=init)
    inh = net.add_population(n_inh, model, name="inh", initial=init)
    for post in (exc, inh):
        net.connect(exc, post, FixedIndegree(c_e), weight=J, delay=delay)
        net.connect(inh, post, FixedIndegree(c_i), weight=-g * J, delay=delay,
                    receptor="inhibitory")
        net.add_poisson_input(post, rate=nu_ext, weight=J, n_sources=c_e)
    mons = {}
    if record:
        mons = {"exc": net.record_spikes(exc), "inh": net.record_spikes(inh)}
    params = dict(g=g, eta=eta, n_exc=n_exc, n_inh=n_inh, c_e=c_e, c_i=c_i, J=J, delay=delay,
                  nu_thr_hz=nu_thr, nu_ext_hz=nu_ext, dt=dt)
    return ReferenceNetwork(net, {"exc": exc, "inh": inh}, mons, params)


def _brunel_sizes(g, eta, n_exc, gamma, epsilon, J, tau_m, theta, v_reset, tau_refrac, delay,
                  record):
    """Validate :func:`brunel_2000`'s arguments; (n_inh, C_E, C_I)."""
    where = "brunel_2000()"
    V.non_negative(where, "g (relative inhibition)", g, float32=True)
    V.non_negative(where, "eta (external rate / threshold rate)", eta)
    n_exc = V.count(where, "n_exc", n_exc)
    V.positive(where, "gamma", gamma)
    V.positive(where, "epsilon", epsilon)
    if epsilon > 1.0:
        raise ValueError(f"{where}: epsilon (connection probability) must be in (0, 1], "
                         f"got {epsilon}")
    V.positive(where, "J (mV)", J, float32=True)
    V.positive(where, "tau_m (ms)", tau_m)
    V.real(where, "theta (mV)", theta, float32=True)
    V.real(where, "v_reset (mV)", v_reset, float32=True)
    V.non_negative(where, "tau_refrac (ms)", tau_refrac)
    V.positive(where, "delay (ms)", delay)
    V.boolean(where, "record", record)
    n_inh = int(round(gamma * n_exc))
    c_e = int(round(epsilon * n_exc))
    c_i = int(round(gamma * c_e))
    for name, value, what in (("gamma * n_exc", n_inh, "inhibitory neurons"),
                              ("epsilon * n_exc", c_e, "excitatory inputs per neuron"),
                              ("gamma * epsilon * n_exc", c_i, "inhibitory inputs per neuron")):
        if value < 1:
            raise ValueError(f"{where}: {name} rounds to {value} {what} (n_exc={n_exc}, "
                             f"gamma={gamma}, epsilon={epsilon}); it must be at least 1")
    return n_inh, c_e, c_i
