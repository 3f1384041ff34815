"""Stopping signals (Ctrl-C, SIGTERM, SIGHUP) as one interrupt, and a run's ending shielded from
a second one, so whatever is running records itself KILLED on the way out.

One mechanism, :func:`interrupts`, turns signals into :class:`Interrupted` (a KeyboardInterrupt
that knows its signal) and sets :data:`INTERRUPT_REQUESTED`. That flag outlives an interrupt a
library swallowed (sqlite3 reports one as an OperationalError, a garbage-collection callback
only prints it): a loop that checks it (:func:`stop_if_interrupted`) stops all the same.

A signal's Python handler runs between any two bytecodes of the main thread, also inside a
weakref callback or a ``__del__`` that the garbage collector happened to start there. An
exception raised in those cannot propagate: Python prints it ("Exception ignored in: <function
WeakKeyDictionary.__init__.<locals>.remove ...>" with a traceback) and drops it, so Ctrl-C on a
busy process was sometimes both noisy and lost. :func:`redeliver_swallowed_interrupts` makes such
an interrupt silent and sends its signal again a moment later, when ordinary code runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["INTERRUPT_REQUESTED", "STOP_SIGNALS", "Interrupted", "Interrupts", "exit_code",
           "ignore_further_interrupts", "interrupt_name", "interrupts",
           "redeliver_swallowed_interrupts", "redelivered", "shielded", "sigterm_as_interrupt",
           "signal_of", "stop_if_interrupted"]

# SIGHUP: the terminal or the ssh session closed. Each of them stops a run the same way.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

# Set by every handler of :func:`interrupts`: an interrupt was asked for (and maybe swallowed).
INTERRUPT_REQUESTED = threading.Event()


class Interrupted(KeyboardInterrupt):
    """A KeyboardInterrupt that knows which signal raised it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"signal {signum}")


def signal_of(interrupt: BaseException) -> int:
    """The signal behind a KeyboardInterrupt (Ctrl-C's SIGINT unless it says otherwise)."""
    return getattr(interrupt, "signum", signal.SIGINT)


def exit_code(interrupt: BaseException) -> int:
    """The shell's code for a command stopped by a signal: 128 + its number (130 for Ctrl-C,
    143 for SIGTERM, 129 for SIGHUP)."""
    return 128 + int(signal_of(interrupt))


def interrupt_name(interrupt: BaseException) -> str:
    """``Ctrl-C``, ``SIGTERM`` or ``SIGHUP``: what stopped the run, for its messages."""
    signum = signal_of(interrupt)
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def stop_if_interrupted() -> None:
    """Raise KeyboardInterrupt if an interrupt was requested (and maybe swallowed)."""
    if INTERRUPT_REQUESTED.is_set():
        raise KeyboardInterrupt("interrupted (Ctrl-C or SIGTERM)")


@dataclass
class Interrupts:
    """What :func:`interrupts` yields: the signals received in the block, and the handlers it
    replaced (they come back afterwards; a caller may hand a signal on to its old handler, as
    a submitit job does with its preemption signal)."""

    received: list[int] = field(default_factory=list)
    previous: dict[int, Any] = field(default_factory=dict)


@contextlib.contextmanager
def interrupts(signals: Iterable[int] = STOP_SIGNALS, *, once: bool = False,
               keep_installed: bool = False) -> Iterator[Interrupts]:
    """Inside the block, each of ``signals`` raises :class:`Interrupted` and sets
    :data:`INTERRUPT_REQUESTED` (only the main thread gets signals; elsewhere nothing changes).

    Args:
        once: only the first raises; later ones are recorded and dropped, so that what the
            first one interrupted can record itself (Ctrl-C reaches every worker process of a
            sweep, and the sweep forwards it too).
        keep_installed: a handler the program installed already is kept (only signals with the
            default disposition are taken), and the flag is left alone, as Ctrl-C's default
            KeyboardInterrupt leaves it: a run inside a sweep worker keeps the worker's
            handlers, which own the flag.
    """
    state = Interrupts()
    if not _main_thread():
        yield state
        return

    def interrupt(signum: int, frame: Any) -> None:
        state.received.append(signum)
        again = redelivered()  # the same interrupt, whose first raise Python swallowed
        if once and len(state.received) > 1 and not again:
            return
        if not keep_installed:
            INTERRUPT_REQUESTED.set()
        raise Interrupted(signum)

    if not keep_installed:
        INTERRUPT_REQUESTED.clear()
        redeliver_swallowed_interrupts()  # one raised inside a GC callback: silent, sent again
    for sig in signals:
        if not keep_installed or signal.getsignal(sig) is signal.SIG_DFL:
            state.previous[sig] = signal.signal(sig, interrupt)
    try:
        yield state
    finally:
        for sig, handler in state.previous.items():
            signal.signal(sig, handler)


def sigterm_as_interrupt() -> contextlib.AbstractContextManager[Interrupts]:
    """Inside the block, SIGTERM and SIGHUP raise :class:`Interrupted`, as Ctrl-C raises
    KeyboardInterrupt: a command stops the same way whichever it gets. A handler the program
    installed already is kept (see :func:`interrupts`)."""
    return interrupts((signal.SIGTERM, signal.SIGHUP), keep_installed=True)


@contextlib.contextmanager
def shielded(*, interrupted: bool) -> Iterator[None]:
    """Run the block (ending a run: its last writes and its status) without letting a stopping
    signal cut it short. A signal that arrives meanwhile is dropped when the block ends a run
    that is being ``interrupted`` already, and raised right after the block otherwise."""
    if not _main_thread():
        yield
        return
    pending: list[int] = []

    def remember(signum: int, frame: Any) -> None:
        pending.append(signum)

    previous = {sig: signal.signal(sig, remember) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if pending and not interrupted:
        signal.raise_signal(pending[0])  # through the handler that was there before


def ignore_further_interrupts() -> None:
    """The command is leaving because it was interrupted: a later Ctrl-C (impatient users press
    it twice) must not turn its orderly exit into a traceback."""
    if _main_thread():
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)


# Set while a signal re-sent for a swallowed interrupt is on its way (see redelivered()).
_REDELIVERING = threading.Event()
_REDELIVER_AFTER = 0.01  # seconds: the callback that swallowed the interrupt has returned by then


def _resend(signum: int) -> None:
    # Only to a handler of the program: a default disposition would now kill the process, and
    # one set to ignore (the command is leaving) ignores it anyway.
    if callable(signal.getsignal(signum)):
        _REDELIVERING.set()
        os.kill(os.getpid(), signum)


def _swallowed_interrupt_hook(previous: Any) -> Any:
    def hook(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            timer = threading.Timer(_REDELIVER_AFTER, _resend,
                                    (int(signal_of(unraisable.exc_value)),))
            timer.daemon = True
            timer.start()
            return
        previous(unraisable)

    hook.redelivers_interrupts = True  # type: ignore[attr-defined]
    return hook


def redeliver_swallowed_interrupts() -> None:
    """An interrupt raised where Python cannot propagate it (a weakref callback, ``__del__``) is
    not printed; its signal is sent again a moment later instead, so it interrupts the program
    from ordinary code. Idempotent; for the process's lifetime (``sys.unraisablehook``)."""
    if not getattr(sys.unraisablehook, "redelivers_interrupts", False):
        sys.unraisablehook = _swallowed_interrupt_hook(sys.unraisablehook)


def redelivered() -> bool:
    """Whether the stopping signal being handled was re-sent for an interrupt Python swallowed
    (asked once per signal): a handler that acts only on the first signal acts on this one."""
    if _REDELIVERING.is_set():
        _REDELIVERING.clear()
        return True
    return False
