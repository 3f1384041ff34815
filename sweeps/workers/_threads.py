"""The threads one trial may use, when its worker shares the machine with others.

A worker given a share of the cores (``n_jobs`` local workers: ``cores // n_jobs`` each; a
launched job: its cores over the workers on its machine) passes it to each trial two ways, as
Ray Tune does for its trials' CPUs: ``OMP_NUM_THREADS`` names it while the task runs (read by
the libraries and processes the task starts, and by ``runkit.process.thread_budget``), and the
BLAS libraries already loaded are limited to it (threadpoolctl), since they read that variable
only when they load: a worker forked from a server that imported NumPy would otherwise run every
trial's BLAS on every core.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

__all__ = ["ThreadBudget"]

_VARIABLE = "OMP_NUM_THREADS"


class ThreadBudget:
    """A worker's threads per trial (None: no limit, the machine is its alone)."""

    def __init__(self, threads: int | None) -> None:
        self.threads = threads
        # threadpoolctl's scan of the loaded libraries costs 5-20 ms: once per worker, at its
        # first trial (a worker process has the app imported by then; the sweep's own slot may
        # load BLAS later, in the task, which then sizes its own threads by the budget)
        self._controller: Any = None

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """The task's time: its threads limited to the budget; everything comes back after."""
        if self.threads is None:
            yield
            return
        if self._controller is None:
            from threadpoolctl import ThreadpoolController

            self._controller = ThreadpoolController()
        previous = os.environ.get(_VARIABLE)
        os.environ[_VARIABLE] = str(self.threads)
        try:
            with self._controller.limit(limits=self.threads, user_api="blas"):
                yield
        finally:
            if previous is None:
                os.environ.pop(_VARIABLE, None)
            else:
                os.environ[_VARIABLE] = previous
