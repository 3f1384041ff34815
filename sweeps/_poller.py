"""A daemon thread that polls every few seconds while a ``with`` block runs: the base of the
sweep's parent-run monitor (``sweeps.tracking._parent``) and the controller's log of finished
trials (``sweeps.workers._launchers``)."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Self

__all__ = ["Poller"]


class Poller(ABC):
    """Calls :meth:`poll` from a daemon thread every ``interval`` seconds inside its ``with``
    block, and once more on leaving it, after the thread has ended.

    Leaving the block wakes the thread at once (it waits on an event, not in a sleep): only a
    poll under way is waited for. ``poll`` must not raise: a busy store never stops the sweep, so
    a poll logs what went wrong and the next one tries again.

    Args:
        interval: seconds between polls.
        name: the thread's name.
    """

    def __init__(self, *, interval: float, name: str) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    @abstractmethod
    def poll(self) -> None:
        """One poll; logs a failure instead of raising it."""

    @property
    def stopping(self) -> bool:
        """Whether the block is being left (the thread's last poll may still run)."""
        return self._stop.is_set()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()
