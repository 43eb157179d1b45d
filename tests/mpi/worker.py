"""Run by tests/test_distributed.py, on one process or under ``mpirun -n R``: builds small
versions of the reference networks (Brunel, COBA, the microcircuit), runs them, and writes the
spikes, a state trace and the drawn connectivity of each (rank 0) to ``OUT.npz``.

The networks are built exactly as a user script would build them: ``Network()`` finds the
communicator itself (``mpirun`` with more than one process) or is told by
``NEUROSIM_DISTRIBUTED=1`` (one process, the same distributed scheme).

    python tests/mpi/worker.py OUT.npz [case ...]
"""

import sys

import numpy as np

import neurosim as ns
from neurosim.networks import brunel_2000, potjans_diesmann, vogels_abbott_coba


def brunel():
    ref = brunel_2000(n_exc=800, epsilon=0.1, seed=11, device="cpu")
    return ref, 200.0


def coba():
    ref = vogels_abbott_coba(n_exc=800, n_inh=200, p=0.05, seed=5, device="cpu")
    return ref, 100.0


def microcircuit():
    ref = potjans_diesmann(scale=0.01, k_scale=0.05, seed=3, device="cpu", thalamic=True,
                           thalamic_start=20.0, thalamic_duration=10.0)
    return ref, 50.0


CASES = {"brunel": brunel, "coba": coba, "microcircuit": microcircuit}


def main(out, names):
    results = {}
    for name in names:
        ref, duration = CASES[name]()
        net = ref.network
        pop = next(iter(ref.populations.values()))
        vmon = net.record_state(pop, "v", indices=np.arange(0, pop.size, 7))
        net.run(duration / 2)
        net.run(duration / 2)
        for key, mon in ref.monitors.items():
            results[f"{name}/{key}/steps"] = mon.steps
            results[f"{name}/{key}/indices"] = mon.indices
        results[f"{name}/v"] = vmon.values
        results[f"{name}/v_times"] = vmon.times
        results[f"{name}/v_end"] = net.get_state(pop, "v")
        proj = net.projections[0]
        for kind in ("sources", "targets", "weights", "delays"):
            results[f"{name}/proj0/{kind}"] = getattr(proj, kind)
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
    main(sys.argv[1], sys.argv[2:] or list(CASES))
