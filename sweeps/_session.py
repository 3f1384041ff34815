"""The running trial as its task sees it: :func:`current_trial` and :func:`report`.

The sweep's worker opens a :class:`TrialSession` around each trial's task (:func:`running`), in
the worker's own process, wherever that process runs: the sweep's own slot, a worker process, a
launched job (submitit, joblib) or a joining worker. The task reaches it through the two public
functions, which do nothing outside a sweep, so an app calls them unconditionally.

Which session is current: the one opened in this thread or the context it was copied from (a
``ContextVar``, as asyncio tasks and ``contextvars.copy_context`` carry it); else, from a thread
the task started, the only trial this process is running. A process that runs several trials at
once in threads (joblib's threading backend) is then told none: better no report than one sent
to another trial.

This module imports no Optuna: an app imports ``sweeps`` for nothing outside a sweep.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING

from runkit.signals import stop_if_interrupted

if TYPE_CHECKING:
    import optuna

__all__ = ["TrialSession", "current_trial", "report", "running"]


class TrialSession:
    """One trial while its task runs.

    Attributes:
        trial: the running ``optuna.Trial``.
        on_report: called with ``(step, value)`` for every reported value (the trial's MLflow
            run records it).
        last_step: the last step reported (None before the first).
        pruned_at: the step at which the pruner stopped the trial, once it did.
    """

    def __init__(self, trial: optuna.Trial,
                 on_report: Callable[[int, float], None] | None = None) -> None:
        self.trial = trial
        self.on_report = on_report
        self.last_step: int | None = None
        self.pruned_at: int | None = None
        # Optuna cannot prune a trial of a multi-objective study (report and should_prune raise
        # NotImplementedError): its reports go to the trial's MLflow run only.
        self.prunable = len(trial.study.directions) == 1

    def report(self, value: float, step: int) -> None:
        """``trial.report(value, step)``, then raise ``optuna.TrialPruned`` if the pruner says so;
        in a multi-objective study only the trial's MLflow run records the value.

        An interrupt a library swallowed (Ctrl-C, SIGTERM) stops the trial here too.
        """
        stop_if_interrupted()
        if self.prunable:
            self.trial.report(value, step)  # Optuna checks and converts value and step
        else:
            value, step = float(value), int(step)  # as Optuna would check them
        self.last_step = int(step)
        if self.on_report is not None:
            self.on_report(int(step), float(value))
        if self.prunable and self.trial.should_prune():
            import optuna

            self.pruned_at = int(step)
            raise optuna.TrialPruned(f"pruned at step {step}")


_current: ContextVar[TrialSession | None] = ContextVar("sweeps_trial_session", default=None)
_running: list[TrialSession] = []  # every session open in this process
_lock = threading.Lock()


@contextlib.contextmanager
def running(session: TrialSession) -> Iterator[TrialSession]:
    """Make ``session`` current while its task runs (for the worker that runs the trial)."""
    token = _current.set(session)
    with _lock:
        _running.append(session)
    try:
        yield session
    finally:
        with _lock:
            _running.remove(session)
        _current.reset(token)


def _session() -> TrialSession | None:
    session = _current.get()
    if session is not None:
        return session
    with _lock:
        return _running[0] if len(_running) == 1 else None


def current_trial() -> optuna.Trial | None:
    """The ``optuna.Trial`` this task runs as, or None outside an Optuna sweep.

    Optuna's integrations take it unchanged, e.g.
    ``optuna_integration.PyTorchLightningPruningCallback(trial, monitor="val_loss")``; a task
    may also suggest further parameters with it or read ``trial.number``.
    """
    session = _session()
    return None if session is None else session.trial


def report(value: float, step: int) -> None:
    """Report an intermediate value of the objective at ``step`` (an epoch, an iteration).

    The value reaches the trial (its pruner, optuna-dashboard) and the trial's MLflow run, as
    the metric ``intermediate_value`` at that step. Outside a sweep this does nothing. In a
    multi-objective study (``direction: [...]``) only the MLflow run records it: Optuna cannot
    prune such a trial (its ``Trial.report`` raises NotImplementedError), so this never raises
    ``optuna.TrialPruned`` there, and an app written for one objective runs unchanged.

    Raises:
        optuna.TrialPruned: the pruner stops the trial. Let it propagate out of the task (the
            trial is then recorded PRUNED), or stop the work and raise it at the end.
    """
    session = _session()
    if session is not None:
        session.report(value, step)
