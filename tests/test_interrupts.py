"""Ctrl-C and failures inside ``run()``: the network stays at one step boundary and continues
exactly as an uninterrupted run (spike for spike, state for state), on every backend."""

from __future__ import annotations

import signal
import threading
import time

import numpy as np
import pytest

import neurosim as ns
from neurosim.engine.interrupts import DeferredInterrupt
from state_nets import assert_monitors_at, assert_same, coba, plastic

DT = 0.1


@pytest.fixture(autouse=True)
def python_sigint_handler():
    """Ctrl-C as an interactive Python has it (KeyboardInterrupt). A process started in the
    background by a non-interactive shell inherits SIGINT ignored, and Python then installs no
    handler (nor does neurosim: see test_ignored_sigint_stays_ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ignored_sigint_stays_ignored():
    """Where the process ignores SIGINT, a run neither installs a handler nor stops."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    net = ns.Network(dt=DT, device="cpu", seed=1)
    pop = net.add_population(10, ns.LIF())
    net.inject(pop, ns.DCCurrent(400.0))
    with DeferredInterrupt() as guard:
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        signal.raise_signal(signal.SIGINT)
        assert not guard.pending
    net.run(5.0)
    assert net.t == pytest.approx(5.0) and signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def _final(net, mons):
    state = {(p.name, v): net.get_state(p, v) for p in net.populations for v in p.state_names}
    weights = {pr.name: pr.weights for pr in net.projections}
    return state, weights


def _reference(build, device, T):
    net, mons = build(device)
    net.run(T)
    return net, mons


def _continue(net, T):
    left = int(round(T / DT)) - net._steps_done
    assert left > 0
    net.run(left * DT)


def _compare(net, mons, ref_net, ref_mons):
    assert net._steps_done == ref_net._steps_done
    assert_same(mons, ref_mons)
    (s1, w1), (s2, w2) = _final(net, mons), _final(ref_net, ref_mons)
    for k in s2:
        np.testing.assert_array_equal(s1[k], s2[k], err_msg=str(k))
    for k in w2:
        np.testing.assert_array_equal(w1[k], w2[k], err_msg=k)


def _sigint_after(seconds: float, running=lambda: True):
    """A thread that sends SIGINT to the main thread after ``seconds`` if ``running()``;
    ``thread.sent`` says whether it did."""
    main = threading.main_thread().ident

    def fire():
        time.sleep(seconds)
        if running():
            th.sent = True
            signal.pthread_kill(main, signal.SIGINT)
    th = threading.Thread(target=fire, daemon=True)
    th.sent = False
    th.start()
    return th


@pytest.mark.parametrize("build, T, delay", [(coba, 8000.0, 0.5), (plastic, 3000.0, 0.6)],
                         ids=["coba", "plastic"])
def test_sigint_then_continue_equals_uninterrupted(device, build, T, delay):
    ref_net, ref_mons = _reference(build, device, T)
    # A run checks for Ctrl-C between chunks of steps; a signal that arrives during the last
    # chunk lets the run finish. A fast backend may run the whole network in a few chunks, so
    # the timer is tried earlier until the signal lands inside the run, before its last chunk.
    for wait in (delay, delay / 2, delay / 4, delay / 8, delay / 16, delay / 32, delay / 64):
        net, mons = build(device)
        net.build()
        running = {"on": True}
        th = _sigint_after(wait, lambda: running["on"])
        try:
            net.run(T)
        except KeyboardInterrupt:
            pass
        finally:
            running["on"] = False
        th.join()
        if th.sent and 0 < net.t < T:
            break
    if not th.sent or not 0 < net.t < T:
        pytest.skip(f"the run of {T} ms ended before an interrupt ({wait} s and later) stopped it")
    assert 0 < net.t < T, "the interrupt must land inside the run"
    assert_monitors_at(net, mons)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    _continue(net, T)
    _compare(net, mons, ref_net, ref_mons)


class _Boom(MemoryError):
    pass


def _boom(k):
    raise _Boom(f"injected in step {k}")


def _fail_inside_step(net, k: int, fail=None):
    """Make step ``k`` fail half-way (after part of its work changed the state): call
    ``fail()`` there (default: raise a MemoryError)."""
    fail = fail or (lambda: _boom(k))
    eng = net._engine
    if eng.name == "numpy":
        target = eng.plastic[0] if eng.plastic else eng.recorder
        name = "step" if eng.plastic else "record"
        original = getattr(target, name)

        def failing(n, *args):
            if n == k:
                fail()
            return original(n, *args)
        setattr(target, name, failing)
        return lambda: delattr(target, name)
    original = eng._launch

    def launch(n0, n1):
        if not n0 <= k < n1:
            return original(n0, n1)
        if k > n0:
            reached = original(n0, k)
            if reached < k:                         # halted before step k (buffer full)
                return reached
        half = len(eng._plans) // 2
        for kern, grid, block, args in eng._plans[:half]:
            kern(grid, block, args[k & 1])
        fail()                                      # if it does not raise, the chunk goes on
        for kern, grid, block, args in eng._plans[half:]:
            kern(grid, block, args[k & 1])
        return original(k + 1, n1) if k + 1 < n1 else n1
    eng._launch = launch
    return lambda: delattr(eng, "_launch")


@pytest.mark.parametrize("build, T, k", [(coba, 300.0, 1234), (plastic, 200.0, 777)],
                         ids=["coba", "plastic"])
def test_exception_inside_a_step_rolls_back(device, build, T, k):
    ref_net, ref_mons = _reference(build, device, T)
    net, mons = build(device)
    net.build()
    undo = _fail_inside_step(net, k)
    with pytest.raises(_Boom):
        net.run(T)
    assert net._steps_done <= k
    assert_monitors_at(net, mons)
    undo()
    _continue(net, T)
    _compare(net, mons, ref_net, ref_mons)


def test_failure_while_handing_recordings_over(device):
    """A monitor that fails to take a chunk: no monitor keeps part of it, time stays."""
    T = 200.0
    ref_net, ref_mons = _reference(coba, device, T)
    net, mons = coba(device)
    net.run(50.0)
    calls = {"n": 0}
    original = ns.StateMonitor._append

    def failing(self, steps, values):
        calls["n"] += 1
        raise _Boom("no memory for the samples")
    ns.StateMonitor._append = failing
    try:
        with pytest.raises(_Boom):
            net.run(T - 50.0)
    finally:
        ns.StateMonitor._append = original
    assert calls["n"] == 1
    assert net._steps_done == 500
    assert_monitors_at(net, mons)
    _continue(net, T)
    _compare(net, mons, ref_net, ref_mons)


def test_non_finite_state_stops_at_a_consistent_step(device):
    """A SimulationError commits exactly the steps up to the one that went non-finite."""
    net = ns.Network(dt=DT, device=device, seed=1)
    ok = net.add_population(5, ns.LIF(i_offset=400.0), name="fine", initial={"v": -55.1})
    pop = net.add_population(3, ns.AdEx(tau_w=0.01, i_offset=np.array([0.0, 500.0, 0.0])),
                             name="exploding")
    mon = net.record_state(ok, "v")
    spk = net.record_spikes(ok)
    with pytest.raises(ns.SimulationError):
        net.run(10.0)
    assert 0 < net._steps_done < 100
    assert mon.values.shape[0] == net._steps_done
    assert_monitors_at(net, {"v": mon, "s": spk})


def test_deferred_interrupt_records_and_reraises():
    with pytest.raises(KeyboardInterrupt):
        with DeferredInterrupt() as guard:
            signal.raise_signal(signal.SIGINT)
            assert guard.pending                    # recorded, not raised
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_second_interrupt_raises_at_once():
    with DeferredInterrupt() as guard:
        signal.raise_signal(signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        assert not guard.pending                    # one KeyboardInterrupt for both
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _sigint_from_a_thread():
    """A real SIGINT sent by another thread while the main thread waits inside a step: the
    handler runs as soon as the main thread resumes, in the middle of the step."""
    _sigint_after(0.0).join()


@pytest.mark.parametrize("build, T, k", [(coba, 600.0, 1500), (plastic, 400.0, 1111)],
                         ids=["coba", "plastic"])
def test_sigint_inside_a_step_stops_at_the_chunk_end(device, build, T, k):
    ref_net, ref_mons = _reference(build, device, T)
    net, mons = build(device)
    net.build()
    undo = _fail_inside_step(net, k, _sigint_from_a_thread)
    with pytest.raises(KeyboardInterrupt):
        net.run(T)
    undo()
    assert k < net._steps_done <= int(round(T / DT)), "stopped at the end of step k's chunk"
    assert_monitors_at(net, mons)
    if net._steps_done < int(round(T / DT)):
        _continue(net, T)
    _compare(net, mons, ref_net, ref_mons)


def _two_sigints():
    signal.raise_signal(signal.SIGINT)              # deferred: stop at the chunk's end
    signal.raise_signal(signal.SIGINT)              # the second one raises here, mid-step


@pytest.mark.parametrize("build, T, k", [(coba, 300.0, 1500), (plastic, 200.0, 1111)],
                         ids=["coba", "plastic"])
def test_second_interrupt_inside_a_step_rolls_back(device, build, T, k):
    """Two real SIGINTs: the second raises inside step k, whose chunk rolls back."""
    ref_net, ref_mons = _reference(build, device, T)
    net, mons = build(device)
    net.build()
    undo = _fail_inside_step(net, k, _two_sigints)
    with pytest.raises(KeyboardInterrupt):
        net.run(T)
    assert 0 < net._steps_done <= k
    assert_monitors_at(net, mons)
    undo()
    _continue(net, T)
    _compare(net, mons, ref_net, ref_mons)


def test_cuda_rollback_through_host_copies(monkeypatch):
    """Where device buffers for the rollback copy do not fit, the CUDA engine keeps the copy
    on the host (the checkpoint export) and rolls back just as exactly."""
    from neurosim.backends import host_build_status
    if not host_build_status()[0]:
        pytest.skip("cuda:host unavailable")
    from neurosim.engine import state
    made = []
    monkeypatch.setattr(state.DeviceSnapshot, "create",
                        classmethod(lambda cls, engine, static: made.append(1)))
    test_exception_inside_a_step_rolls_back("cuda:host", plastic, 200.0, 777)
    assert made
