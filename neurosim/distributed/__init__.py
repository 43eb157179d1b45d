"""MPI-distributed simulation: one network spread over the ranks of an MPI communicator.

The same script runs on one process and under ``mpirun -n R python script.py``: ``Network()``
sees ``MPI.COMM_WORLD`` when an MPI launcher started more than one process (or takes
``comm=`` explicitly) and every rank then builds and simulates only its share. See
``docs/distributed.md`` for the design (the measured scaling and the scaling model for 8–64
GPUs are in the benchmark report, :mod:`neurosim.report.distributed`); in short:

- **Partition** (:mod:`.partition`): every population is cut into ``R`` contiguous blocks,
  rank ``r`` owning neurons ``[n*r//R, n*(r+1)//R)`` of each population. Each rank holds the
  state of its neurons and the synapses whose *target* it owns, so delivery is local and only
  spikes cross ranks.
- **Same network, same spikes, any rank count**: connectivity is drawn per target chunk of
  :data:`~.partition.TARGET_CHUNK` neurons from a generator keyed by
  ``(seed, projection, chunk)``, initial values per population (every rank draws the
  population's values and keeps its block), Poisson input from the network's Philox stream at
  the global neuron's position. A seed gives the same network and the same spikes on 1, 2, 3
  ... ranks. This per-target scheme is not the single-process default's draw (one stream per
  projection), so ``Network(distributed=True)`` (or ``NEUROSIM_DISTRIBUTED=1``) uses it on one
  process too, to compare with any rank count.
- **Exchange** (:mod:`.exchange`): spikes are buffered for the network's minimum delay
  ``d_min`` (steps) and exchanged once per such interval with one ``Allgather`` of sizes (and
  an error flag) and one ``Allgatherv`` of (spike counts per step, global ids); delivery is
  deferred to the end of the interval, which is exact because no spike is needed earlier than
  ``d_min`` steps after it was emitted. ``Network.timings`` reports compute and communication
  time apart.
- **Monitors**: every rank receives every spike, so spike and rate monitors hold the full
  result on every rank; state monitors are gathered to every rank at each chunk's end;
  ``get_state`` returns the whole population on every rank. Progress bars and log records come
  from rank 0 only.
- **Failure**: an exception on one rank inside a run travels in the next exchange's error
  flag; every rank then raises the failing rank's exception (the first failing rank's, with a
  note naming it), never a hang. An exception outside neurosim that no one catches on one rank
  aborts the whole job (``comm.Abort``) after printing its traceback, instead of leaving the
  other ranks waiting.

- **Engines** (:mod:`.engine`, :mod:`.cuda`): NumPy per rank (``device="cpu"`` or
  ``"auto"``), or CUDA per rank (``device="cuda"``, rank ``r`` on GPU ``local_rank % n_gpus``;
  ``"cuda:host"`` runs it on the CPU for tests): the rank's spikes are copied to the host once
  per exchange interval and every rank's spikes are injected into the device's delay ring.
- **Plasticity and homeostasis** (:mod:`.plastic`, NumPy ranks): the rank that owns a synapse's
  target owns the synapse; ``RewardSTDP``'s ``deliver_reward`` is a collective call checked
  equal on every rank; homeostatic rules run per rank for its block of the population.
- **Checkpoints** (:mod:`.checkpoint`): ``net.save`` gathers every rank's share into one
  single-process checkpoint, written by rank 0; ``ns.load`` continues it on any number of
  ranks, or on one process.

What is not supported across ranks yet (each a clear error before any work): plasticity and
homeostasis on the CUDA engine, ``connectivity="device"``, setting weights, stimulus changes.
"""

from __future__ import annotations

import logging
import os
import sys

ENV_FLAG = "NEUROSIM_DISTRIBUTED"
# environment variables through which MPI launchers announce the number of processes
_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS",
              "SLURM_NTASKS")


def launched_size() -> int:
    """How many processes the MPI launcher started (1 when not under a launcher)."""
    for var in _SIZE_VARS[:3]:
        value = os.environ.get(var)
        if value and value.isdigit():
            return int(value)
    return 1


class SerialComm:
    """A one-rank communicator with the few mpi4py calls the engine uses: the distributed
    scheme on one process without mpi4py (``Network(distributed=True)``)."""

    def Get_rank(self) -> int:
        return 0

    def Get_size(self) -> int:
        return 1

    def allgather(self, obj):
        return [obj]

    def bcast(self, obj, root=0):
        return obj

    def Abort(self, code=1):                 # pragma: no cover - ends the process
        os._exit(code)

    def __repr__(self):
        return "SerialComm()"


def _mpi_world():
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(f"this process was started by an MPI launcher with "
                          f"{launched_size()} processes, but mpi4py cannot be imported ({exc}); "
                          f"install it with pip install 'neurosim[mpi]', or pass "
                          f"distributed=False to run every process on its own") from None
    return MPI.COMM_WORLD


def resolve(comm, distributed, where: str = "Network"):
    """The communicator a network runs over, or None for the usual single process.

    ``comm``: an mpi4py communicator (anything with ``Get_rank``/``Get_size``/``allgather``);
    ``distributed``: None (auto: distributed when ``comm`` is given, when an MPI launcher
    started more than one process, or when ``NEUROSIM_DISTRIBUTED=1``), True or False.
    """
    if distributed is not None and not isinstance(distributed, bool):
        raise TypeError(f"{where}: distributed must be True, False or None, got "
                        f"{distributed!r} ({type(distributed).__name__})")
    if comm is not None:
        for attr in ("Get_rank", "Get_size", "allgather"):
            if not callable(getattr(comm, attr, None)):
                raise TypeError(f"{where}: comm must be an mpi4py communicator (such as "
                                f"MPI.COMM_WORLD), got {type(comm).__name__} {comm!r}")
        if distributed is False:
            raise ValueError(f"{where}: comm={comm!r} was given with distributed=False; give "
                             f"one or the other")
        return comm
    if distributed is None:
        flag = os.environ.get(ENV_FLAG, "")
        if flag not in ("", "0", "1"):
            raise ValueError(f"{where}: the environment variable {ENV_FLAG} must be '0' or "
                             f"'1', got {flag!r}")
        distributed = launched_size() > 1 or flag == "1"
    if not distributed:
        return None
    if launched_size() > 1:
        return _mpi_world()
    return SerialComm()          # one process: the one-rank COMM_WORLD, without MPI


def check_network_options(comm, device: str, connectivity: str) -> None:
    """What a distributed network cannot do yet, refused at ``Network()`` on every rank."""
    if device not in ("auto", "cpu", "cuda", "cuda:host"):
        raise ValueError(f"Network: device={device!r} with a distributed network "
                         f"({comm.Get_size()} MPI ranks): each rank runs the NumPy engine "
                         f"(device='cpu' or 'auto') or the CUDA engine (device='cuda', or "
                         f"'cuda:host'); use one of those, or distributed=False")
    if connectivity == "device":
        raise ValueError("Network: connectivity='device' with a distributed network: each "
                         "rank draws its synapses on the host; use connectivity='auto' or "
                         "'host'")
    install_rank_hooks(comm)


_installed = False


def install_rank_hooks(comm) -> None:
    """Once per process on a multi-rank communicator: log records from rank 0 only, and an
    uncaught exception aborts every rank (after its traceback) instead of a hang."""
    global _installed
    if _installed or comm.Get_size() < 2:
        return
    _installed = True
    rank = comm.Get_rank()
    if rank != 0:
        # a level above CRITICAL on the package logger: its child loggers (level NOTSET)
        # inherit it, so no neurosim record is created on the other ranks
        logging.getLogger("neurosim").setLevel(logging.CRITICAL + 1)
    previous = sys.excepthook

    def abort_all(kind, value, tb):
        if getattr(value, "_neurosim_agreed", False):
            # raised on every rank together (see .exchange.agree): no abort needed; the
            # traceback from rank 0, one line from the others
            if rank == 0:
                previous(kind, value, tb)
            else:
                sys.stderr.write(f"neurosim rank {rank}: stopped by {kind.__name__} (the "
                                 f"traceback is rank 0's)\n")
            return
        previous(kind, value, tb)
        sys.stderr.write(f"neurosim: uncaught {kind.__name__} on MPI rank {rank} of "
                         f"{comm.Get_size()}: aborting every rank (comm.Abort)\n")
        sys.stderr.flush()
        comm.Abort(1)

    sys.excepthook = abort_all
