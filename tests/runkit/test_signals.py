"""Stopping signals as one interrupt (and a flag that outlives a swallowed one), SIGTERM and SIGHUP
turned into an interrupt around a run unless the program handles them, and a run's ending
shielded from a second one."""

from __future__ import annotations

import os
import signal

import pytest

from runkit.signals import (
    INTERRUPT_REQUESTED,
    Interrupted,
    exit_code,
    interrupt_name,
    interrupts,
    shielded,
    sigterm_as_interrupt,
    stop_if_interrupted,
)


def test_an_interrupt_sets_the_flag_that_outlives_a_swallowed_one() -> None:
    # a library may swallow the KeyboardInterrupt; the flag still stops the next check
    with interrupts((signal.SIGUSR1,)) as received:
        try:
            os.kill(os.getpid(), signal.SIGUSR1)
        except Interrupted as caught:  # what sqlite3 or a GC callback would do with it
            assert caught.signum == signal.SIGUSR1
        with pytest.raises(KeyboardInterrupt, match="interrupted"):
            stop_if_interrupted()
    assert received.received == [signal.SIGUSR1]
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL  # the old handler is back
    with interrupts((signal.SIGUSR1,)):  # a new scope starts with the flag down
        assert not INTERRUPT_REQUESTED.is_set()


def test_once_the_first_signal_interrupts_and_later_ones_are_dropped() -> None:
    # a worker records its interrupted trial while Ctrl-C keeps arriving (forwarded, repeated)
    with interrupts((signal.SIGUSR1,), once=True) as received:
        with pytest.raises(Interrupted):
            os.kill(os.getpid(), signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGUSR1)  # recorded, not raised
    assert received.received == [signal.SIGUSR1, signal.SIGUSR1]
    INTERRUPT_REQUESTED.clear()


def test_sigterm_raises_keyboard_interrupt_inside_the_block() -> None:
    # the default disposition (terminate) becomes an interrupt, and comes back afterwards
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with pytest.raises(KeyboardInterrupt, match="signal 15"), sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_handler_the_program_installed_is_kept() -> None:
    # a sweep worker's own handler also sets the flag that survives a swallowed interrupt
    received: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        with sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
        assert received == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_sighup_stops_like_sigterm_and_names_itself() -> None:
    # a closed terminal or ssh session interrupts the run; the exit code is the shell's 128 + 1
    previous = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        with pytest.raises(Interrupted) as caught, sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGHUP)
        assert interrupt_name(caught.value) == "SIGHUP" and exit_code(caught.value) == 129
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert exit_code(KeyboardInterrupt()) == 130 and interrupt_name(KeyboardInterrupt()) == "Ctrl-C"
    assert exit_code(Interrupted(signal.SIGTERM)) == 143


def test_a_shielded_block_finishes_and_the_signal_waits_for_its_end() -> None:
    # a Ctrl-C inside is held until the block ends, then raised; while ending an interrupted
    # run it is dropped
    steps: list[str] = []
    with pytest.raises(KeyboardInterrupt), shielded(interrupted=False):
        os.kill(os.getpid(), signal.SIGINT)
        steps.append("after the signal")
    assert steps == ["after the signal"]
    with shielded(interrupted=True):
        os.kill(os.getpid(), signal.SIGINT)
        steps.append("ended")
    assert steps[-1] == "ended"


def test_a_second_ctrl_c_cannot_leave_the_run_running(store_uri: str, monkeypatch) -> None:
    # the second Ctrl-C lands while the run records its end: the run still ends KILLED
    from runkit.mlflow import RunTracker, get_or_create_experiment

    experiment_id = get_or_create_experiment(store_uri, "second-ctrl-c")
    tracker = RunTracker.start(store_uri, experiment_id)
    set_terminated = tracker.client.set_terminated

    def interrupted_again(run_id: str, status: str) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # handled at the next bytecode: inside the end
        set_terminated(run_id, status)

    monkeypatch.setattr(tracker.client, "set_terminated", interrupted_again)
    with pytest.raises(KeyboardInterrupt), tracker:
        raise KeyboardInterrupt
    monkeypatch.undo()
    assert tracker.client.get_run(tracker.run_id).info.status == "KILLED"


SWALLOWED = """
import signal, sys, time, weakref
sys.path.insert(0, {repo!r})
{setup}

class Thing:
    pass

def callback(ref):
    signal.raise_signal(signal.SIGINT)  # the handler runs here, inside the weakref callback

thing = Thing()
ref = weakref.ref(thing, callback)
try:
    del thing  # Python cannot propagate what the callback raises: it prints it and drops it
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.01)
    print("lost")
except KeyboardInterrupt:
    print("delivered")
"""


@pytest.mark.slow  # starts a process
@pytest.mark.parametrize("setup", [
    # a command (python -m trainer): Python's own Ctrl-C handler
    "from runkit.signals import redeliver_swallowed_interrupts\n"
    "redeliver_swallowed_interrupts()",
    # a sweep's worker process: its handler acts on the first signal only
    "from runkit.signals import interrupts\ninterrupts(once=True).__enter__()",
], ids=["run", "sweep worker"])
def test_an_interrupt_python_swallows_in_a_gc_callback_is_silent_and_delivered_again(setup):
    # Ctrl-C arriving while a weakref callback runs (WeakKeyDictionary's `remove`) used to print
    # "Exception ignored in: <function ...>" with a traceback, and to be lost
    import subprocess
    import sys
    from pathlib import Path

    script = SWALLOWED.format(repo=str(Path(__file__).resolve().parents[2]), setup=setup)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert (done.stdout.strip(), done.stderr) == ("delivered", "")
