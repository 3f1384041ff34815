"""The callback a swept run adds to its fit loop: each epoch goes to the trial through
sweeps.report, and the pruner may stop the loop."""

from __future__ import annotations

import optuna
import pytest

from sweeps._session import TrialSession, running  # the worker's side, to run as a trial
from trainer.pruning import TrialReporter

optuna.logging.set_verbosity(optuna.logging.WARNING)


class FakeLoop:
    """What callbacks may touch on the trainer's fit loop."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def request_stop(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason

    @property
    def stop_requested(self) -> bool:
        return self.reason is not None


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial) -> bool:
        return True


def _as_trial(pruner: optuna.pruners.BasePruner) -> tuple[optuna.Study, optuna.Trial]:
    study = optuna.create_study(pruner=pruner)
    return study, study.ask()


def test_each_epoch_is_reported_with_its_step():
    # the monitored metric reaches the trial as intermediate value step=epoch
    study, trial = _as_trial(optuna.pruners.NopPruner())
    reporter, loop = TrialReporter("val_loss"), FakeLoop()
    with running(TrialSession(trial)):
        for epoch, loss in [(1, 0.9), (2, 0.5), (3, float("nan")), (4, 0.4)]:
            reporter.on_epoch_end(loop, epoch, {"val_loss": loss, "train_loss": 1.0})
    assert study.trials[0].intermediate_values == {1: 0.9, 2: 0.5, 4: 0.4}  # a NaN is not
    assert reporter.pruned is None and not loop.stop_requested


def test_prune_stops_the_loop_with_reason_pruned_and_keeps_what_to_raise():
    # the loop ends as pruned; the run raises the TrialPruned afterwards (the trial: PRUNED)
    _, trial = _as_trial(AlwaysPrune())
    reporter, loop = TrialReporter("val_loss"), FakeLoop()
    with running(TrialSession(trial)):
        reporter.on_epoch_end(loop, 1, {"val_loss": 1.0})
    assert loop.reason == "pruned" and isinstance(reporter.pruned, optuna.TrialPruned)
    reporter.on_train_begin(FakeLoop())  # reusable: a new run starts unpruned
    assert reporter.pruned is None


def test_early_stopping_first_is_a_normal_finish():
    # an epoch where early stopping already stopped the run is not turned into a prune
    _, trial = _as_trial(AlwaysPrune())
    reporter, loop = TrialReporter("val_loss"), FakeLoop()
    loop.request_stop("early_stopping")
    with running(TrialSession(trial)):
        reporter.on_epoch_end(loop, 4, {"val_loss": 1.0})
    assert loop.reason == "early_stopping" and reporter.pruned is None


def test_missing_metric_warns_once_and_never_prunes():
    # an objective the run does not log cannot drive pruning: say which ones exist
    _, trial = _as_trial(AlwaysPrune())
    reporter, loop = TrialReporter("val_r2"), FakeLoop()
    with running(TrialSession(trial)):
        with pytest.warns(UserWarning, match="'val_r2' is not logged; available: val_loss"):
            reporter.on_epoch_end(loop, 1, {"epoch": 1, "val_loss": 1.0})
        reporter.on_epoch_end(loop, 2, {"epoch": 2, "val_loss": 1.0})  # no second warning
    assert not loop.stop_requested
