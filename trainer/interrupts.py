"""SIGTERM handled like Ctrl-C, so whatever is running records itself KILLED on the way out."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside the block, SIGTERM raises KeyboardInterrupt (only the main thread gets signals;
    elsewhere this does nothing). The previous handler comes back afterwards.

    A handler the program installed already is kept: a sweep's worker turns SIGTERM into an
    interrupt itself, and also records it where a swallowed KeyboardInterrupt cannot lose it.
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
