"""The median and percentile pruners decide as Optuna's, reading the study once per trial."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna
import pytest

from sweeps.study import build_pruner
from sweeps.study._pruners import READ_INTERVAL, MedianPruner, PercentilePruner

optuna.logging.set_verbosity(optuna.logging.WARNING)


class CountingStorage(optuna.storages.InMemoryStorage):
    """Counts the reads of a study's whole trial list."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get_all_trials(self, *args: Any, **kwargs: Any) -> list[optuna.trial.FrozenTrial]:
        self.reads += 1
        return super().get_all_trials(*args, **kwargs)


def curve(number: int, step: int) -> float:
    """Trial ``number``'s value at ``step``: curves that cross, so decisions differ by step."""
    return (number * 7 % 5 + 1) / (step + 1) + 0.05 * step * (number % 3)


def run_study(pruner: optuna.pruners.BasePruner, n_trials: int = 12, steps: int = 10
              ) -> tuple[list[tuple[int, int | None]], int]:
    """Sequential trials reporting ``curve`` each step; returns (trial, pruned-at step or None)
    for each trial, and the study reads made inside ``should_prune``."""
    storage = CountingStorage()
    study = optuna.create_study(storage=storage, pruner=pruner)
    decisions: list[tuple[int, int | None]] = []
    reads_in_pruning = 0
    for _ in range(n_trials):
        trial = study.ask()
        pruned_at = None
        for step in range(steps):
            trial.report(curve(trial.number, step), step)
            before = storage.reads
            pruned = trial.should_prune()
            reads_in_pruning += storage.reads - before
            if pruned:
                pruned_at = step
                break
        if pruned_at is None:
            study.tell(trial, curve(trial.number, steps - 1))
        else:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        decisions.append((trial.number, pruned_at))
    return decisions, reads_in_pruning


@pytest.mark.parametrize(("ours", "optunas"), [
    (lambda: MedianPruner(n_startup_trials=2, n_warmup_steps=1),
     lambda: optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)),
    (lambda: PercentilePruner(25.0, n_startup_trials=3, interval_steps=2),
     lambda: optuna.pruners.PercentilePruner(25.0, n_startup_trials=3, interval_steps=2)),
])
def test_decisions_are_optunas_with_one_read_per_trial(
        ours: Callable[[], optuna.pruners.BasePruner],
        optunas: Callable[[], optuna.pruners.BasePruner]) -> None:
    mine, my_reads = run_study(ours())
    theirs, their_reads = run_study(optunas())

    assert mine == theirs
    assert any(step is not None for _, step in mine), "the scenario prunes nothing"
    assert any(step is None for _, step in mine), "the scenario prunes everything"
    # Optuna reads the study at each check; ours once per trial (the clock does not move by
    # READ_INTERVAL within these trials)
    assert my_reads <= 12
    assert their_reads > 3 * my_reads


def test_another_workers_trial_counts_once_the_read_is_older_than_the_interval() -> None:
    now = [100.0]
    pruner = MedianPruner(n_startup_trials=1)
    pruner.clock = lambda: now[0]
    study = optuna.create_study(pruner=pruner)

    mine = study.ask()
    mine.report(10.0, 0)
    assert not mine.should_prune()  # nothing complete yet: read at t=100

    other = study.ask()  # another worker's trial, complete with far better values
    for step in range(3):
        other.report(1.0, step)
    study.tell(other, 1.0)

    now[0] += READ_INTERVAL / 2
    mine.report(10.0, 1)
    assert not mine.should_prune()  # the read from t=100 still serves: other is unseen

    now[0] += READ_INTERVAL
    mine.report(10.0, 2)
    assert mine.should_prune()  # read again: 10 is worse than the median of the complete trials


def test_each_new_trial_reads_the_study_again() -> None:
    """With one worker the study changes only between trials: the trial before counts at once."""
    now = [0.0]
    pruner = MedianPruner(n_startup_trials=1)
    pruner.clock = lambda: now[0]  # frozen: only a new trial number triggers a read
    study = optuna.create_study(pruner=pruner)

    first = study.ask()
    first.report(1.0, 0)
    assert not first.should_prune()
    study.tell(first, 1.0)

    second = study.ask()
    second.report(10.0, 0)
    assert second.should_prune()


def test_names_build_these_pruners_which_are_optunas_classes() -> None:
    median = build_pruner("median")
    assert isinstance(median, MedianPruner)
    assert isinstance(median, optuna.pruners.MedianPruner)  # what isinstance checks expect
    assert isinstance(build_pruner({"name": "percentile", "percentile": 30.0}), PercentilePruner)
