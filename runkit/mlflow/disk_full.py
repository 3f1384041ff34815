"""A full disk during a run: one line saying where no space was left, and what the run kept.

The space can run out under the MLflow store (SQLite says "database or disk is full"), under the
artifacts (an ``OSError`` ENOSPC while copying the model or a picture) or in the temporary
directory. The run keeps what was written before; its end (FAILED, with this line as the reason)
is written if the store still can, and otherwise left to the next command on the store, which
ends it KILLED once this process is gone (:mod:`runkit.mlflow.owner`).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from runkit.errors import UserError
from runkit.sqlite import sqlite_path

if TYPE_CHECKING:
    from runkit.mlflow.run import RunTracker

__all__ = ["NoSpaceError", "no_space_error", "what_was_kept"]

_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_FULL_TEXTS = ("database or disk is full", "no space left on device", "disk quota exceeded")


class NoSpaceError(UserError):
    """The disk (or quota) holding the store, the artifacts or a temporary file is full."""


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def no_space_error(error: BaseException, uri: str) -> NoSpaceError | None:
    """A :class:`NoSpaceError` naming where, when ``error`` (or what caused it) is a full disk."""
    for cause in _chain(error):
        if isinstance(cause, NoSpaceError):
            return cause
        if isinstance(cause, OSError) and cause.errno in _FULL_ERRNOS:
            where = cause.filename or cause.filename2
            place = f"writing {where}" if where else "on a disk the run writes to"
            return NoSpaceError(f"no space left on device {place}")
        text = str(cause).lower()
        if any(full in text for full in _FULL_TEXTS):
            db = sqlite_path(uri)
            place = f"for the MLflow store {db}" if db is not None else f"at {uri}"
            return NoSpaceError(f"no space left on device {place}")
    return None


def what_was_kept(tracker: RunTracker) -> str:
    """One clause for the end of a run's last line: its status and what it holds."""
    epochs = tracker.last_step
    metrics = f"the metrics of {epochs} epoch{'s' if epochs != 1 else ''}" if epochs else "no epoch"
    if not tracker.ended or not tracker.status_recorded:
        return (f"MLflow run {tracker.run_id} could not be ended (the next command on this "
                "store marks it KILLED)")
    unwritten = ", its last writes failed" if tracker.end_error is not None else ""
    return (f"MLflow run {tracker.run_id} ended {tracker.status} with its config and "
            f"{metrics}{unwritten}")
