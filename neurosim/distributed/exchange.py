"""Spike exchange between ranks, and errors that stop every rank together.

One exchange per interval of ``m <= d_min`` steps: each rank sends one int32 message — the
number of its spikes in each of the ``m`` steps, then their global ids — with one
``Allgather`` of (message length, error flag) and one ``Allgatherv`` of the messages: 4 bytes
per spike plus ``4 m`` bytes per rank and interval. Every rank then holds every spike of the
interval, sorted by (step, global id), the order in which the single-process engine delivers
them, so the float32 sums into the delay ring are the same whatever the rank count.

``NEUROSIM_EXCHANGE=alltoallv`` sends each rank only the spikes it needs instead: the spikes of
the neurons it holds synapses from (static or plastic) and of the populations its monitors
record, which every rank announces at the start of each ``run()`` (one ``allgather`` of a bit
per neuron); one ``Alltoall`` of sizes and error flags and one ``Alltoallv``. With random
connectivity every rank needs nearly every spike (``benchmarks/distributed_scaling.py``
measures how many ranks hold synapses of the average neuron), so this pays only for networks
whose ranks need few of each other's neurons.

An error flag in the first collective carries a failure on one rank to every rank at the next
exchange; :func:`agree` then shares the exception itself, and every rank raises it.
"""

from __future__ import annotations

import pickle
import time

import numpy as np

from ..errors import NeurosimError


class RankError(NeurosimError, RuntimeError):
    """An exception on another MPI rank that could not be rebuilt here (its text is kept)."""


def _portable(exc: BaseException):
    """What another rank needs to rebuild ``exc``: (module, qualname, args, attributes)."""
    cls = type(exc)
    state = {k: v for k, v in getattr(exc, "__dict__", {}).items() if not k.startswith("_")}
    try:
        payload = pickle.dumps((cls.__module__, cls.__qualname__, exc.args, state))
        pickle.loads(payload)
        return payload
    except Exception:
        return pickle.dumps((cls.__module__, cls.__qualname__, (str(exc),), {}))


def _rebuild(payload, rank: int, size: int) -> BaseException:
    module, qualname, args, state = pickle.loads(payload)
    try:
        import importlib
        cls = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        exc = cls.__new__(cls)
        exc.args = tuple(args)
        exc.__dict__.update(state)
        str(exc)
        return exc
    except Exception:
        text = args[0] if args else ""
        return RankError(f"{qualname} on MPI rank {rank} of {size}: {text}")


def agree(comm, exc: BaseException | None) -> None:
    """Collective: if any rank passes an exception, every rank raises the first failing
    rank's (the original object there, a rebuilt copy elsewhere, with a note naming the rank);
    returns on every rank if none failed."""
    size = comm.Get_size()
    if size == 1:
        if exc is not None:
            exc._neurosim_agreed = True
            raise exc
        return
    mine = None if exc is None else _portable(exc)
    every = comm.allgather(mine)
    failed = [r for r, p in enumerate(every) if p is not None]
    if not failed:
        return
    first = failed[0]
    out = exc if first == comm.Get_rank() else _rebuild(every[first], first, size)
    others = f" (and on ranks {failed[1:]})" if len(failed) > 1 else ""
    if hasattr(out, "add_note"):
        out.add_note(f"raised on MPI rank {first} of {size}{others}; every rank stopped")
    out._neurosim_agreed = True
    if out is exc:
        raise out
    raise out from None


MODES = ("allgatherv", "alltoallv")
ENV_MODE = "NEUROSIM_EXCHANGE"


def exchange_mode() -> str:
    """The exchange collective, from ``NEUROSIM_EXCHANGE`` (default ``allgatherv``)."""
    import os
    mode = os.environ.get(ENV_MODE, "") or "allgatherv"
    if mode not in MODES:
        raise ValueError(f"the environment variable {ENV_MODE} must be one of {list(MODES)}, "
                         f"got {mode!r}")
    return mode


class Exchanger:
    """Allgatherv (or Alltoallv) of each interval's spikes; ``comm_seconds`` accumulates the
    time spent in the collectives (which includes waiting for the slowest rank)."""

    def __init__(self, comm, n_global: int, mode: str = "allgatherv"):
        self.comm, self.n_global, self.mode = comm, n_global, mode
        self.send_to = None             # alltoallv: per rank, a bool mask of the ids it needs
        self.size, self.rank = comm.Get_size(), comm.Get_rank()
        self.comm_seconds = 0.0
        self.exchanges = 0
        self.bytes_received = 0
        self._head = np.zeros(2, np.int64)
        self._heads = np.zeros((self.size, 2), np.int64)
        self._buf = np.zeros(1024, np.int32)

    def exchange(self, per_step: list, failed: bool):
        """Every rank's spikes of the interval: a list (one per step) of sorted int64 global
        ids; None if some rank flagged a failure (then call :func:`agree`)."""
        m = len(per_step)
        counts = np.fromiter((s.size for s in per_step), np.int32, m)
        msg = np.concatenate([counts] + [s.astype(np.int32) for s in per_step if s.size])
        self.exchanges += 1
        if self.size == 1:
            return None if failed else [s.astype(np.int64) for s in per_step]
        if self.mode == "alltoallv":
            return self._alltoallv(per_step, counts, m, failed)
        from mpi4py import MPI
        t0 = time.perf_counter()
        self._head[0], self._head[1] = msg.size, int(failed)
        self.comm.Allgather(self._head, self._heads)
        if self._heads[:, 1].any():
            self.comm_seconds += time.perf_counter() - t0
            return None
        lens = self._heads[:, 0].astype(np.int64)
        displs = np.zeros(self.size, np.int64)
        np.cumsum(lens[:-1], out=displs[1:])
        total = int(lens.sum())
        if self._buf.size < total:
            self._buf = np.empty(max(total, 2 * self._buf.size), np.int32)
        buf = self._buf[:total]
        self.comm.Allgatherv([msg, MPI.INT32_T], [buf, (lens, displs), MPI.INT32_T])
        self.comm_seconds += time.perf_counter() - t0
        self.bytes_received += 4 * total
        return self._unpack(buf, lens, displs, m)

    def announce(self, wanted: np.ndarray) -> None:
        """Collective (alltoallv): every rank's bool mask of the global ids it needs."""
        if self.size == 1 or self.mode != "alltoallv":
            return
        every = self.comm.allgather(np.packbits(wanted))
        self.send_to = [np.unpackbits(b, count=self.n_global).astype(bool) for b in every]

    def _alltoallv(self, per_step, counts, m, failed):
        from mpi4py import MPI
        R = self.size
        msgs = []
        for r in range(R):
            if r == self.rank or self.send_to is None:
                sel = per_step
            else:
                want = self.send_to[r]
                sel = [s[want[s]] if s.size else s for s in per_step]
            c = np.fromiter((s.size for s in sel), np.int32, m)
            msgs.append(np.concatenate([c] + [s.astype(np.int32) for s in sel if s.size]))
        t0 = time.perf_counter()
        head = np.array([[x.size, int(failed)] for x in msgs], np.int64)
        heads = np.empty_like(head)
        self.comm.Alltoall(head, heads)
        if heads[:, 1].any():
            self.comm_seconds += time.perf_counter() - t0
            return None
        sendbuf = np.concatenate(msgs)
        scounts = head[:, 0].copy()
        sdispl = np.zeros(R, np.int64)
        np.cumsum(scounts[:-1], out=sdispl[1:])
        lens = heads[:, 0].copy()
        displs = np.zeros(R, np.int64)
        np.cumsum(lens[:-1], out=displs[1:])
        total = int(lens.sum())
        buf = np.empty(total, np.int32)
        self.comm.Alltoallv([sendbuf, (scounts, sdispl), MPI.INT32_T],
                            [buf, (lens, displs), MPI.INT32_T])
        self.comm_seconds += time.perf_counter() - t0
        self.bytes_received += 4 * total
        return self._unpack(buf, lens, displs, m)

    def _unpack(self, buf, lens, displs, m):
        steps, ids = [], []
        for r in range(self.size):
            seg = buf[displs[r]:displs[r] + lens[r]]
            cnt = seg[:m]
            if seg.size > m:
                steps.append(np.repeat(np.arange(m, dtype=np.int64), cnt))
                ids.append(seg[m:])
        if not ids:
            return [np.zeros(0, np.int64)] * m
        key = np.concatenate(steps) * self.n_global
        key += np.concatenate(ids)
        key.sort()
        cut = np.searchsorted(key, np.arange(1, m, dtype=np.int64) * self.n_global)
        out = np.split(key, cut)
        for k in range(1, m):
            if out[k].size:
                out[k] -= k * self.n_global
        return out
