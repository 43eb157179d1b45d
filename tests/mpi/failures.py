"""Run by tests/test_distributed.py under ``mpirun``: one rank fails, every rank must stop.

    python tests/mpi/failures.py MODE

MODE ``nan``: neuron 3 of a 4-neuron population (owned by the last rank) blows up: every rank
raises the SimulationError naming it. ``mismatch``: each rank passes another seed: the build
refuses on every rank. ``uncaught``: the last rank raises outside neurosim before ``run()``,
while the others enter it: the job is aborted instead of hanging. ``reward``: after a first
run each rank delivers another reward to a RewardSTDP projection: every rank refuses it. Each
rank prints
``rank R caught <type>: <message>`` for the errors it catches; neurosim's log records (INFO)
come from rank 0 only.
"""

import logging
import os
import sys

import numpy as np

import neurosim as ns


def main(mode):
    logging.basicConfig(level=logging.INFO, format="LOG %(name)s: %(message)s")
    seed = 7
    if mode == "mismatch":
        from mpi4py import MPI
        seed = 7 + MPI.COMM_WORLD.Get_rank()
    net = ns.Network(dt=0.1, seed=seed, device=os.environ.get("NEUROSIM_WORKER_DEVICE", "cpu"))
    ok = net.add_population(5, ns.LIF(i_offset=400.0), name="fine", initial={"v": -55.1})
    bad = net.add_population(4, ns.AdEx(tau_w=0.01, i_offset=np.array([0.0, 0.0, 0.0, 500.0])),
                             name="exploding")
    net.connect(ok, bad, ns.AllToAll(), weight=1.0, delay=0.5)
    net.record_spikes(ok)
    if mode == "reward":
        rule = ns.RewardSTDP()
        net.connect(ok, ok, ns.AllToAll(), weight=1.0, delay=0.5, plasticity=rule)
        net.run(2.0)                # before 'exploding' blows up
        try:
            rule.deliver_reward(1.0 + net.rank)
        except Exception as exc:
            print(f"rank {net.rank} caught {type(exc).__name__}: {exc}", flush=True)
            sys.exit(3)
    if mode == "uncaught" and net.rank == net.n_ranks - 1:
        raise ValueError("a bug in the user's script on the last rank only")
    try:
        net.run(100.0)
    except Exception as exc:
        print(f"rank {net.rank} caught {type(exc).__name__}: {exc}", flush=True)
        sys.exit(3)
    print(f"rank {net.rank} finished", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
