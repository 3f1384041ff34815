"""What a caller outside the command line (a sweep worker) hands to a training run.

The Hydra task function reads :func:`current` for the helper that draws a sweep's trial pictures.
(The trial itself, its MLflow run and its threads reach the run as they reach any app:
``sweeps.current_trial()``, MLflow's ``MLFLOW_RUN_ID`` and ``OMP_NUM_THREADS``.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RunContext:
    """Extra wiring for one training run.

    Attributes:
        learning_curves: draws and logs the run's learning-curve picture instead of the run,
            called with ``(run_id, history, title, best_epoch)`` (a sweep with a free core hands
            its trials' pictures to one drawing process, so the next trial starts sooner).
    """

    learning_curves: Callable[[str, list[dict[str, float]], str, int | None], None] | None = None


_current: ContextVar[RunContext | None] = ContextVar("trainer_run_context", default=None)


def current() -> RunContext:
    """The context of the run being started (an empty one for a plain command line run)."""
    return _current.get() or RunContext()


@contextlib.contextmanager
def use(context: RunContext) -> Iterator[RunContext]:
    """Make ``context`` current for the runs started inside the ``with`` block."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
