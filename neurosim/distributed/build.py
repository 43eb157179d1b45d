"""Building one rank's engine, with every rank agreeing on the outcome before any run."""

from __future__ import annotations

import logging

from .exchange import agree

log = logging.getLogger(__name__)


def fingerprint(net) -> tuple:
    """What every rank's description must share (the same script on every rank)."""
    return (net.seed, net.dt,
            tuple((p.name, p.size, type(p.model).__name__) for p in net.populations),
            tuple((p.pre.index, p.post.index, repr(p.rule), p.receptor)
                  for p in net.projections),
            len(net.poisson_inputs), len(net.currents))


def rank_backend(net, comm) -> str:
    """The engine of every rank: "numpy" (device "cpu" or "auto"), "cuda" or "cuda:host".
    With "cuda", the rank's GPU (``local_rank % n_gpus``) becomes the current device first,
    so that the backend's probe and everything after it run there."""
    if net.device == "cuda":
        from .cuda import local_rank, select_gpu
        local = local_rank(comm)            # every rank (a collective without the launcher's
        try:                                # variable), before anything can fail
            select_gpu(local)
        except Exception:                   # noqa: BLE001 -- select_backend says what is missing
            pass
    if net.device in ("cuda", "cuda:host"):
        from ..backends import select_backend
        return select_backend(net.device, net.n_neurons)      # raises if it is unavailable
    return "numpy"


def build_engine(net, comm):
    """The engine of this rank's share of ``net`` (collective: every rank builds at once);
    an exception on any rank is raised on every rank."""
    rank, size = comm.Get_rank(), comm.Get_size()
    error, engine = None, None
    prints = comm.allgather(fingerprint(net)) if size > 1 else [fingerprint(net)]
    try:
        differ = [r for r, f in enumerate(prints) if f != prints[0]]
        if differ:
            names = ("seed", "dt", "populations", "projections", "Poisson inputs", "currents")
            what = next(n for n, a, b in zip(names, prints[0], prints[differ[0]]) if a != b)
            raise ValueError(f"Network: the MPI ranks describe different networks: the "
                             f"{what} of rank {differ[0]} differs from rank 0's "
                             f"({prints[differ[0]][names.index(what)]!r} against "
                             f"{prints[0][names.index(what)]!r}); every rank must run the same "
                             f"script with the same arguments (and an explicit seed or none)")
        from .partition import build_local_layout
        backend = rank_backend(net, comm)
        layout = build_local_layout(net, rank, size)
        if backend == "numpy":
            from .engine import DistributedNumpyEngine
            engine = DistributedNumpyEngine(net, layout, comm)
        else:
            from .cuda import DistributedCudaEngine
            engine = DistributedCudaEngine(net, layout, comm, host=backend == "cuda:host")
        log.info("distributed build: %d ranks, rank 0 holds %d neurons and %d synapses; spikes "
                 "exchanged every %d steps", size, layout.n_total, layout.n_synapses,
                 layout.d_min)
    except Exception as exc:
        error = exc
    agree(comm, error)
    return engine
