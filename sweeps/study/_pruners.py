"""Optuna's median and percentile pruners, reading the study once per trial, not per epoch.

Optuna's percentile pruners read every trial of the study at each ``should_prune``: with a
pruning check per epoch, that read is a good part of what a sweep asks its database per trial
(on PostgreSQL each statement is a round trip to the server). Reading once per trial cut a
10-epoch trial of the sweep's worker loop from 102 to 78 SQL statements (``python -m
benchmarks.scale_out``'s no-work trials on SQLite).

These subclasses decide exactly as Optuna's classes do, on trials read at most once per trial
and once per :data:`READ_INTERVAL` seconds. A trial's own reports never come from that read
(Optuna passes the trial's latest values separately), so with one worker every decision is the
one Optuna's class makes: the study changes only between trials. With many workers a trial that
another worker completes counts from that interval on, as it would in any distributed study.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Container
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

__all__ = ["READ_INTERVAL", "MedianPruner", "PercentilePruner", "StudyView"]

# Seconds a read of the study's trials serves one trial's pruning checks: one read per trial
# for trials shorter than this, one per check for epochs longer than it (as Optuna reads).
READ_INTERVAL = 1.0


class StudyView:
    """A study whose trials are a list read earlier; everything else is the study itself."""

    def __init__(self, study: optuna.Study, trials: list[FrozenTrial]) -> None:
        self._study = study
        self._trials = trials

    def get_trials(self, deepcopy: bool = True,
                   states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        trials = (list(self._trials) if states is None
                  else [t for t in self._trials if t.state in states])
        return copy.deepcopy(trials) if deepcopy else trials

    @property
    def trials(self) -> list[FrozenTrial]:
        return self.get_trials()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)


class _ReadsOncePerTrial:
    """Serves ``prune`` a :class:`StudyView` read at the trial's first check and again only when
    the read is :data:`READ_INTERVAL` seconds old."""

    clock: Callable[[], float] = time.monotonic  # a test moves it

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (the study, the trial number, when, its trials): one tuple, replaced whole
        self._read: tuple[optuna.Study, int, float, list[FrozenTrial]] | None = None

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        now = self.clock()
        read = self._read
        if (read is None or read[0] is not study or read[1] != trial.number
                or now - read[2] >= READ_INTERVAL):
            read = (study, trial.number, now, study.get_trials(deepcopy=False))
            self._read = read
        view: Any = StudyView(study, read[3])
        return bool(super().prune(view, trial))  # type: ignore[misc]


class PercentilePruner(_ReadsOncePerTrial, optuna.pruners.PercentilePruner):
    """``optuna.pruners.PercentilePruner`` (same arguments) reading the study once per trial."""


class MedianPruner(_ReadsOncePerTrial, optuna.pruners.MedianPruner):
    """``optuna.pruners.MedianPruner`` (same arguments) reading the study once per trial."""
