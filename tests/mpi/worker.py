"""Run by tests/test_distributed.py, on one process or under ``mpirun -n R``: builds small
versions of the reference networks (Brunel, COBA, the microcircuit), runs them, and writes the
spikes, a state trace and the drawn connectivity of each (rank 0) to ``OUT.npz``.

The networks are built exactly as a user script would build them: ``Network()`` finds the
communicator itself (``mpirun`` with more than one process) or is told by
``NEUROSIM_DISTRIBUTED=1`` (one process, the same distributed scheme).

    python tests/mpi/worker.py OUT.npz [case ...]

``NEUROSIM_WORKER_DEVICE`` (default ``cpu``) picks every network's device (``cuda:host``: the
CUDA engine per rank).
"""

import os
import sys

import numpy as np

import neurosim as ns
from neurosim.networks import brunel_2000, potjans_diesmann, vogels_abbott_coba

# every rank's engine: "cpu" (NumPy) by default, "cuda:host" (or "cuda") when asked
DEVICE = os.environ.get("NEUROSIM_WORKER_DEVICE", "cpu")


def brunel():
    ref = brunel_2000(n_exc=800, epsilon=0.1, seed=11, device=DEVICE)
    return ref, 200.0


def coba():
    ref = vogels_abbott_coba(n_exc=800, n_inh=200, p=0.05, seed=5, device=DEVICE)
    return ref, 60.0


def coba_stdp():
    """Vogels-Abbott COBA neurons (smaller, Poisson-driven) whose excitatory synapses learn:
    STDP (all pairs, additive) with delays of 0.1-1 ms onto the excitatory neurons, and
    multiplicative nearest-neighbour STDP onto the inhibitory ones."""
    from types import SimpleNamespace
    net = ns.Network(dt=0.1, seed=8, device=DEVICE)
    model = ns.LIFCond(cm=200.0, tau_m=20.0, v_rest=-60.0, v_reset=-60.0, v_thresh=-50.0,
                       tau_refrac=5.0, tau_syn_E=5.0, tau_syn_I=10.0, e_rev_E=0.0,
                       e_rev_I=-80.0)
    init = {"v": ns.Normal(-55.0, 5.0)}
    exc = net.add_population(400, model, name="exc", initial=init)
    inh = net.add_population(100, model, name="inh", initial=init)
    stdp = ns.STDP(A_plus=0.3, A_minus=0.32, w_min=0.0, w_max=12.0)
    net.connect(exc, exc, ns.FixedProbability(0.05), weight=ns.Uniform(2.0, 8.0),
                delay=ns.Uniform(0.1, 1.0), plasticity=stdp)
    net.connect(exc, inh, ns.FixedIndegree(20), weight=6.0, delay=0.5,
                plasticity=ns.STDP(A_plus=0.2, A_minus=0.2, w_min=0.0, w_max=10.0,
                                   pairing="nearest_reduced", update="multiplicative"))
    for post in (exc, inh):
        net.connect(inh, post, ns.FixedProbability(0.05), weight=67.0, delay=0.1,
                    receptor="inhibitory")
        net.add_poisson_input(post, rate=2000.0, weight=3.0)
    mons = {"exc": net.record_spikes(exc), "inh": net.record_spikes(inh)}
    return SimpleNamespace(network=net, populations={"exc": exc}, monitors=mons), 60.0


def microcircuit():
    ref = potjans_diesmann(scale=0.01, k_scale=0.05, seed=3, device=DEVICE, thalamic=True,
                           thalamic_start=20.0, thalamic_duration=10.0)
    return ref, 50.0


def exact():
    """Connectivity without random draws (AllToAll, OneToOne, constant weights and delays),
    so the single-process engine (distributed=False) builds the same network as the
    distributed scheme: the two must give the same spikes, bit for bit. Two delays (d_min = 8
    steps), per-neuron currents, a Poisson input, Poisson and scheduled spike sources."""
    from types import SimpleNamespace
    net = ns.Network(dt=0.1, seed=21, device=DEVICE)
    model = ns.LIF(tau_m=20.0, v_thresh=-50.0, v_reset=-60.0, v_rest=-60.0, tau_refrac=2.0,
                   synapse="delta")
    exc = net.add_population(40, model, name="exc", initial={"v": ns.Uniform(-60.0, -50.0)})
    inh = net.add_population(11, model, name="inh", initial={"v": ns.Uniform(-60.0, -50.0)})
    noise = net.add_population(13, ns.PoissonSource(rate=np.linspace(50.0, 200.0, 13)),
                               name="noise")
    times = [[5.0, 20.0], [], [7.5]] * 3 + [[1.0], [3.0]]
    sched = net.add_population(11, ns.SpikeSource(times), name="sched")
    net.connect(exc, exc, ns.AllToAll(allow_self=False), weight=0.2, delay=1.5)
    net.connect(exc, inh, ns.AllToAll(), weight=0.3, delay=0.8)
    net.connect(inh, exc, ns.AllToAll(), weight=-0.9, delay=0.8, receptor="inhibitory")
    net.connect(noise, exc, ns.AllToAll(), weight=0.5, delay=1.0)
    net.connect(sched, inh, ns.OneToOne(), weight=2.0, delay=2.0)
    net.add_poisson_input(exc, rate=800.0, weight=0.6, n_sources=10)
    net.inject(inh, ns.DCCurrent(np.linspace(100.0, 300.0, 11), start=2.0, stop=60.0))
    net.inject(exc, ns.StepCurrent([10.0, 30.0], [np.linspace(0, 200.0, 40), np.full(40, 50.0)]))
    mons = {"exc": net.record_spikes(exc), "inh": net.record_spikes(inh),
            "noise": net.record_spikes(noise, indices=[0, 5, 12])}
    return SimpleNamespace(network=net, populations={"exc": exc}, monitors=mons), 80.0


def exact_stdp():
    """As ``exact`` (the single-process engine draws the same network), with plastic synapses:
    the excitatory neurons receive only plastic AllToAll synapses (multiplicative all-pairs
    STDP from Poisson sources, delay 1 ms; restricted nearest-neighbour STDP among themselves,
    delay 0.3 ms) and their Poisson drive, so the order of the float32 sums into their ring
    cells is the same in both engines."""
    from types import SimpleNamespace
    net = ns.Network(dt=0.1, seed=23, device=DEVICE)
    model = ns.LIF(tau_m=20.0, v_thresh=-50.0, v_reset=-60.0, v_rest=-60.0, tau_refrac=2.0,
                   synapse="delta")
    exc = net.add_population(30, model, name="exc", initial={"v": ns.Uniform(-60.0, -50.0)})
    inh = net.add_population(7, model, name="inh", initial={"v": ns.Uniform(-60.0, -50.0)})
    noise = net.add_population(20, ns.PoissonSource(rate=np.linspace(20.0, 80.0, 20)),
                               name="noise")
    net.connect(noise, exc, ns.AllToAll(), weight=1.5, delay=1.0,
                plasticity=ns.STDP(A_plus=0.2, A_minus=0.22, w_min=0.0, w_max=4.0,
                                   update="multiplicative"))
    net.connect(exc, exc, ns.AllToAll(allow_self=False), weight=0.3, delay=0.3,
                plasticity=ns.STDP(A_plus=0.05, A_minus=0.05, w_min=0.0, w_max=1.0,
                                   pairing="nearest_reduced", update="multiplicative"))
    net.connect(exc, inh, ns.AllToAll(), weight=0.4, delay=0.5)
    net.add_poisson_input(exc, rate=500.0, weight=0.8, n_sources=10)
    mons = {"exc": net.record_spikes(exc), "inh": net.record_spikes(inh)}
    return SimpleNamespace(network=net, populations={"exc": exc}, monitors=mons), 100.0


def sources():
    """Two Poisson-source populations (one group, whose rank blocks are not adjacent in the
    Philox stream), scheduled spikes, a Poisson input and per-neuron currents into LIF neurons
    of two populations with delta synapses (weights that add exactly), one delay."""
    from types import SimpleNamespace
    net = ns.Network(dt=0.1, seed=31, device=DEVICE)
    model = ns.LIF(tau_m=20.0, v_thresh=-50.0, v_reset=-60.0, v_rest=-60.0, tau_refrac=2.0,
                   synapse="delta")
    exc = net.add_population(17, model, name="exc", initial={"v": ns.Uniform(-60.0, -50.0)})
    inh = net.add_population(10, model, name="inh", initial={"v": ns.Uniform(-60.0, -50.0)})
    slow = net.add_population(7, ns.PoissonSource(rate=40.0), name="slow")
    fast = net.add_population(11, ns.PoissonSource(rate=np.linspace(100.0, 300.0, 11)),
                              name="fast")
    sched = net.add_population(5, ns.SpikeSource([[2.0, 9.0], [], [4.5], [1.0], [30.0]]),
                               name="sched")
    net.connect(slow, exc, ns.FixedIndegree(3), weight=2.0, delay=0.4)
    net.connect(fast, exc, ns.FixedProbability(0.3), weight=1.0, delay=0.6)
    net.connect(fast, inh, ns.FixedIndegree(4), weight=1.5, delay=0.4)
    net.connect(sched, inh, ns.AllToAll(), weight=4.0, delay=0.5)
    net.connect(exc, inh, ns.FixedIndegree(5), weight=0.5, delay=0.4)
    net.connect(inh, exc, ns.FixedIndegree(4), weight=-1.0, delay=0.8, receptor="inhibitory")
    net.add_poisson_input(inh, rate=600.0, weight=0.5, n_sources=5)
    net.inject(exc, ns.DCCurrent(np.linspace(50.0, 250.0, 17), start=3.0, stop=40.0))
    mons = {"exc": net.record_spikes(exc), "inh": net.record_spikes(inh),
            "slow": net.record_spikes(slow), "fast": net.record_spikes(fast, indices=[0, 4, 10])}
    return SimpleNamespace(network=net, populations={"exc": exc}, monitors=mons), 60.0


def homeostasis():
    """Random connectivity (so 1 vs R ranks, not the single-process draw) with every
    homeostatic rule: an adaptive threshold (per-neuron initial values) and synaptic scaling
    toward a rate (of a static and a plastic projection, every 2.3 ms: not a multiple of the
    0.5 ms exchange interval) on the excitatory neurons; intrinsic plasticity and synaptic
    scaling toward a total weight on the inhibitory ones."""
    from types import SimpleNamespace
    net = ns.Network(dt=0.1, seed=31, device="cpu")
    model = ns.LIF(tau_m=20.0, v_thresh=-50.0, v_reset=-60.0, v_rest=-60.0, tau_refrac=2.0,
                   synapse="delta")
    init = {"v": ns.Uniform(-60.0, -50.0)}
    exc = net.add_population(60, model, name="exc", initial=init)
    inh = net.add_population(23, model, name="inh", initial=init)
    noise = net.add_population(20, ns.PoissonSource(rate=40.0), name="noise")
    net.connect(exc, exc, ns.FixedProbability(0.2), weight=ns.Uniform(0.1, 0.5),
                delay=ns.Uniform(0.5, 1.5))
    net.connect(noise, exc, ns.FixedIndegree(5), weight=ns.Uniform(1.0, 3.0), delay=0.5,
                plasticity=ns.STDP(A_plus=0.1, A_minus=0.1, w_min=0.0, w_max=4.0,
                                   update="multiplicative"))
    net.connect(exc, inh, ns.FixedIndegree(10), weight=ns.Uniform(0.2, 0.8), delay=0.5)
    net.connect(inh, exc, ns.FixedIndegree(5), weight=-1.0, delay=0.5, receptor="inhibitory")
    net.add_poisson_input(exc, rate=400.0, weight=0.8, n_sources=10)
    net.add_poisson_input(inh, rate=300.0, weight=1.0, n_sources=10)
    net.add_homeostasis(exc, ns.AdaptiveThreshold(theta_plus=0.5, tau_theta=30.0,
                                                  theta_init=np.linspace(0.0, 2.0, 60)))
    net.add_homeostasis(exc, ns.SynapticScaling(target_rate=15.0, eta=5.0, interval=2.3))
    net.add_homeostasis(inh, ns.IntrinsicPlasticity(target_rate=10.0, eta=2.0, interval=1.7))
    net.add_homeostasis(inh, ns.SynapticScaling(target_total=4.0, interval=3.0))
    mons = {"exc": net.record_spikes(exc), "inh": net.record_spikes(inh)}

    def end(results):
        results["homeostasis/theta_exc"] = net.get_state(exc, "theta")
        results["homeostasis/theta_inh"] = net.get_state(inh, "theta")
        results["homeostasis/proj2/weights"] = net.projections[2].weights
        results["homeostasis/proj2/targets"] = net.projections[2].targets
    return SimpleNamespace(network=net, populations={"exc": exc}, monitors=mons,
                           end=end), 60.0


def threshold():
    """The per-neuron homeostasis rules (AdaptiveThreshold with per-neuron initial shifts,
    IntrinsicPlasticity) with STDP onto the adapting population: what CUDA ranks run."""
    from types import SimpleNamespace
    net = ns.Network(dt=0.1, seed=41, device=DEVICE)
    model = ns.LIF(tau_m=20.0, v_thresh=-50.0, v_reset=-60.0, v_rest=-60.0, tau_refrac=2.0,
                   synapse="delta")
    init = {"v": ns.Uniform(-60.0, -50.0)}
    exc = net.add_population(40, model, name="exc", initial=init)
    inh = net.add_population(13, model, name="inh", initial=init)
    noise = net.add_population(20, ns.PoissonSource(rate=40.0), name="noise")
    net.connect(noise, exc, ns.FixedIndegree(5), weight=ns.Uniform(1.0, 3.0), delay=0.5,
                plasticity=ns.STDP(A_plus=0.1, A_minus=0.1, w_min=0.0, w_max=4.0,
                                   update="multiplicative"))
    net.connect(exc, inh, ns.FixedIndegree(10), weight=ns.Uniform(0.2, 0.8), delay=0.5)
    net.connect(inh, exc, ns.FixedIndegree(5), weight=-1.0, delay=0.5, receptor="inhibitory")
    net.add_poisson_input(exc, rate=400.0, weight=0.8, n_sources=10)
    net.add_poisson_input(inh, rate=300.0, weight=1.0, n_sources=10)
    net.add_homeostasis(exc, ns.AdaptiveThreshold(theta_plus=0.5, tau_theta=30.0,
                                                  theta_init=np.linspace(0.0, 2.0, 40)))
    net.add_homeostasis(inh, ns.IntrinsicPlasticity(target_rate=10.0, eta=2.0, interval=1.7))
    mons = {"exc": net.record_spikes(exc), "inh": net.record_spikes(inh)}

    def end(results):
        results["threshold/theta_exc"] = net.get_state(exc, "theta")
        results["threshold/theta_inh"] = net.get_state(inh, "theta")
    return SimpleNamespace(network=net, populations={"exc": exc}, monitors=mons,
                           end=end), 40.0


def reward():
    """RewardSTDP on random connectivity, with a reward after the first half computed from
    the spike monitor (which holds every spike on every rank, so every rank delivers the same
    amount)."""
    from types import SimpleNamespace
    net = ns.Network(dt=0.1, seed=37, device=DEVICE)
    model = ns.LIF(tau_m=20.0, v_thresh=-50.0, v_reset=-60.0, v_rest=-60.0, tau_refrac=2.0,
                   synapse="delta")
    exc = net.add_population(50, model, name="exc", initial={"v": ns.Uniform(-60.0, -50.0)})
    noise = net.add_population(30, ns.PoissonSource(rate=np.linspace(20.0, 60.0, 30)), name="noise")
    rule = ns.RewardSTDP(A_plus=0.5, A_minus=0.6, tau_c=40.0, tau_d=20.0, w_max=4.0)
    net.connect(noise, exc, ns.FixedIndegree(8), weight=ns.Uniform(1.0, 3.0),
                delay=ns.Uniform(0.2, 1.0), plasticity=rule)
    net.connect(exc, exc, ns.FixedProbability(0.1), weight=0.3, delay=0.2,
                plasticity=ns.RewardSTDP(A_plus=0.2, A_minus=0.2, tau_c=30.0, tau_d=10.0,
                                         w_max=1.0, pairing="all"))
    net.add_poisson_input(exc, rate=300.0, weight=1.0, n_sources=10)
    mons = {"exc": net.record_spikes(exc)}

    def between():
        rule.deliver_reward(0.02 * mons["exc"].num_spikes)
        net.projections[1].plasticity.deliver_reward(0.5)
    return SimpleNamespace(network=net, populations={"exc": exc}, monitors=mons,
                           between=between), 60.0


def tiny():
    """Populations smaller than the rank count (on 3 ranks, one rank holds no neuron of the
    receiving population): TripletSTDP with per-synapse delays, intrinsic plasticity, a
    Poisson input."""
    from types import SimpleNamespace
    net = ns.Network(dt=0.1, seed=41, device=DEVICE)
    src = net.add_population(5, ns.PoissonSource(rate=120.0), name="src")
    model = ns.LIF(v_thresh=-50.0, v_reset=-60.0, v_rest=-60.0, synapse="delta")
    out = net.add_population(2, model, name="out", initial={"v": ns.Uniform(-60.0, -50.0)})
    net.connect(src, out, ns.AllToAll(), weight=3.0, delay=ns.Uniform(0.2, 0.9),
                plasticity=ns.TripletSTDP(w_min=0.0, w_max=6.0))
    net.connect(out, out, ns.AllToAll(), weight=0.5, delay=0.3)
    net.add_poisson_input(out, rate=200.0, weight=2.0, n_sources=5)
    net.add_homeostasis(out, ns.IntrinsicPlasticity(target_rate=20.0, interval=1.0))
    mons = {"out": net.record_spikes(out), "src": net.record_spikes(src)}
    return SimpleNamespace(network=net, populations={"out": out}, monitors=mons), 60.0


CASES = {"brunel": brunel, "coba": coba, "coba_stdp": coba_stdp, "microcircuit": microcircuit,
         "exact": exact, "exact_stdp": exact_stdp, "sources": sources,
         "homeostasis": homeostasis, "reward": reward, "tiny": tiny, "threshold": threshold}


def main(out, names):
    results = {}
    for name in names:
        ref, duration = CASES[name]()
        net = ref.network
        pop = next(iter(ref.populations.values()))
        vmon = net.record_state(pop, "v", indices=np.arange(0, pop.size, 7))
        net.run(duration / 2)
        if getattr(ref, "between", None) is not None:
            ref.between()
        net.run(duration / 2)
        if getattr(ref, "end", None) is not None:
            ref.end(results)
        for key, mon in ref.monitors.items():
            results[f"{name}/{key}/steps"] = mon.steps
            results[f"{name}/{key}/indices"] = mon.indices
        results[f"{name}/v"] = vmon.values
        results[f"{name}/v_times"] = vmon.times
        results[f"{name}/v_end"] = net.get_state(pop, "v")
        for i in (0, 1):
            proj = net.projections[i]
            for kind in ("sources", "targets", "weights", "delays"):
                results[f"{name}/proj{i}/{kind}"] = getattr(proj, kind)
        results[f"{name}/ranks"] = np.array(net.n_ranks)
        t = net.timings
        if net.rank == 0:
            print(f"{name}: {sum(m.num_spikes for m in ref.monitors.values())} spikes on "
                  f"{net.n_ranks} ranks; timings {t}", flush=True)
    if results and ns.Network is not None:
        rank = net.rank
        if rank == 0:
            np.savez(out, **results)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:] or [c for c in CASES if c not in ("sources", "threshold")])
