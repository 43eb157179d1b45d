"""Interrupts and failures inside ``run()`` leave the network at a step boundary.

Two mechanisms, used by both engines:

- :class:`DeferredInterrupt` (installed by :meth:`Network.run`, in the main thread only):
  while the engine steps, SIGINT (Ctrl-C) is recorded instead of raised; the engine stops at
  the end of the chunk of steps in progress (about a quarter of a second of wall time at most)
  and, once time and monitors are committed, ``run()`` raises ``KeyboardInterrupt``. A second
  Ctrl-C before that raises at once: the chunk is then rolled back as below.
- :func:`chunk_transaction`: every chunk of steps starts from a snapshot of the engine's state
  (:mod:`neurosim.engine.state`) and the lengths of the monitors' recordings; the chunk commits
  (recordings handed to the monitors, ``net.t`` advanced) only once all its steps are done. Any
  exception before that (an out-of-memory, a second Ctrl-C, a failing kernel) restores the
  snapshot and truncates the monitors, so the network is exactly where the chunk started and
  ``run()`` again continues as an uninterrupted run would.

The cost is one copy of the dynamic state (neuron state, delay ring, plasticity state) per chunk:
on the host for the NumPy engine (into the previous copy's buffers; the float64 accumulator ``Z``
of the deferred STDP runtime is not copied but rebuilt from the postsynaptic spikes since its last
settling sweep, and chunks are long enough that the copy stays near 2 % of their CPU time), in
device memory for the CUDA engine (one set of buffers, reused; on the host when they do not fit).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading

log = logging.getLogger(__name__)


class DeferredInterrupt:
    """Context manager: SIGINT sets :attr:`pending` instead of raising (main thread only).

    On exit the previous handler is restored; if an interrupt is pending and the block ended
    normally, the previous handler is called as the signal would have called it (the default
    one raises ``KeyboardInterrupt``).
    """

    def __init__(self):
        self.pending = False
        self._previous = None
        self._installed = False

    def _handler(self, signum, frame):
        if self.pending:                    # a second Ctrl-C: stop now (the chunk rolls back)
            self.pending = False            # this KeyboardInterrupt answers both
            raise KeyboardInterrupt
        self.pending = True
        log.warning("interrupt received: stopping at the end of the current chunk of steps "
                    "(press Ctrl-C again to stop at once)")

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if callable(previous):          # not SIG_IGN / SIG_DFL / set outside Python
                self._previous = previous
                signal.signal(signal.SIGINT, self._handler)
                self._installed = True
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False
            if self.pending and exc_type is None:
                self._previous(signal.SIGINT, None)
        return False


class _Transaction:
    def __init__(self, engine):
        self.engine = engine
        net = engine.net
        self.n0 = net._steps_done
        self.snapshot = engine.snapshot(static_weights=_scales_static(net))
        self.marks = [(mon, mon._mark()) for mon in net.monitors]
        self.committed = False

    def commit(self, n: int) -> None:
        """The steps up to ``n`` are complete: hand their recordings over, advance time."""
        self.engine.commit(n)
        self.committed = True

    def rollback(self) -> None:
        """Back to the chunk's first step: state, monitors and time."""
        self.engine.discard()
        for mon, mark in self.marks:
            mon._rollback(mark)
        self.engine.net._steps_done = self.n0
        self.engine.restore(self.snapshot)


@contextlib.contextmanager
def chunk_transaction(engine):
    """A chunk of steps that commits completely or not at all (see module docstring)."""
    tx = _Transaction(engine)
    try:
        yield tx
    except BaseException:
        if not tx.committed:
            try:
                tx.rollback()
            except Exception:   # noqa: BLE001 -- keep the original error; say the state is lost
                log.exception("rolling back a failed chunk of steps failed too: the network's "
                              "state is undefined; build it again")
        raise


def _scales_static(net) -> bool:
    """Whether a rule may change static weights during a run (synaptic scaling)."""
    from ..plasticity.homeostasis import SynapticScaling
    return any(isinstance(rule, SynapticScaling) for _, rule in net.homeostasis)
