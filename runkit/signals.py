"""Stopping signals (Ctrl-C, SIGTERM, SIGHUP) as one interrupt, and a run's ending shielded from
a second one, so whatever is running records itself KILLED on the way out."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["STOP_SIGNALS", "Interrupted", "exit_code", "ignore_further_interrupts",
           "interrupt_name", "shielded", "sigterm_as_interrupt", "signal_of"]

# SIGHUP: the terminal or the ssh session closed. Each of them stops a run the same way.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


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


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside the block, SIGTERM and SIGHUP raise :class:`Interrupted` (only the main thread gets
    signals; elsewhere this does nothing). The previous handlers come back afterwards.

    A handler the program installed already is kept: a sweep's worker turns them into an
    interrupt itself, and also records it where a swallowed KeyboardInterrupt cannot lose it.
    """
    if not _main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise Interrupted(signum)

    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_DFL:
            previous[sig] = signal.signal(sig, interrupt)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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
