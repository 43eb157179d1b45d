"""Run by tests/test_distributed.py, on one process or under ``mpirun -n R``: checkpoints of a
distributed network (:mod:`neurosim.distributed.checkpoint`).

    python tests/mpi/checkpoint.py MODE FILE

The network: the worker's ``homeostasis`` case (random connectivity, multiplicative STDP,
every homeostatic rule) plus a readout population learning through RewardSTDP, with a
reward at half time.
``full``: 30 ms, the reward, 30 ms, without a checkpoint. ``save``: the first 30 ms and the
reward, then ``net.save(FILE, monitors=True)``. ``load``: ``ns.load(FILE)`` (on as many ranks
as this launch has, whatever wrote the file), then the last 30 ms. ``full`` and ``load``
write the spikes, weights, thresholds and membrane potentials to ``FILE.out.npz`` (rank 0).
"""

import sys

import numpy as np

import neurosim as ns
import worker


def build():
    ref, _ = worker.homeostasis()
    net = ref.network
    noise = net.populations[2]
    # a readout without homeostasis (scaling a RewardSTDP projection's lazily integrated
    # weights is not exact across chunk boundaries, on one process either)
    readout = net.add_population(
        12, ns.LIF(tau_m=20.0, v_thresh=-50.0, v_reset=-60.0, v_rest=-60.0, synapse="delta"),
        name="readout", initial={"v": ns.Uniform(-60.0, -50.0)})
    reward = ns.RewardSTDP(A_plus=0.5, A_minus=0.6, tau_c=40.0, tau_d=20.0, w_max=4.0)
    net.connect(noise, readout, ns.FixedIndegree(4), weight=ns.Uniform(1.0, 3.0),
                delay=ns.Uniform(0.3, 1.2), plasticity=reward)
    net.add_poisson_input(readout, rate=300.0, weight=1.0, n_sources=10)
    net.record_spikes(readout)
    return net


def results(net) -> dict:
    out = {}
    for k, mon in enumerate(net.monitors):
        out[f"mon{k}/steps"], out[f"mon{k}/indices"] = mon.steps, mon.indices
    for k, proj in enumerate(net.projections):
        out[f"proj{k}/weights"] = proj.weights
        out[f"proj{k}/sources"] = proj.sources
    for pop in net.populations[:2]:
        out[f"{pop.name}/v"] = net.get_state(pop, "v")
        out[f"{pop.name}/theta"] = net.get_state(pop, "theta")
    return out


def main(mode, path):
    if mode == "load":
        net = ns.load(path)
    else:
        net = build()
        net.run(30.0)
        net.projections[-1].plasticity.deliver_reward(0.5)
        if mode == "save":
            net.save(path, monitors=True)
            return
    net.run(30.0)
    out = results(net)
    out["ranks"] = np.array(net.n_ranks)
    if net.rank == 0:
        np.savez(path + ".out.npz", **out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
