"""The pruning callback the sweep hands to the trainer's fit loop."""

from __future__ import annotations

import optuna
import pytest
from sweep_fakes import FakeLoop

from sweeps.workers import PruningBridge

optuna.logging.set_verbosity(optuna.logging.WARNING)


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial) -> bool:
        return True


def test_each_epoch_is_reported_with_its_step():
    # the monitored metric reaches the trial as intermediate value step=epoch
    study = optuna.create_study(pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    bridge, loop = PruningBridge(trial, "val_loss"), FakeLoop()
    for epoch, loss in [(1, 0.9), (2, 0.5), (3, 0.4)]:
        bridge.on_epoch_end(loop, epoch, {"val_loss": loss, "train_loss": 1.0})
    study.tell(trial, 0.4)
    assert study.trials[0].intermediate_values == {1: 0.9, 2: 0.5, 3: 0.4}
    assert not bridge.pruned and not loop.stop_requested


def test_prune_stops_the_loop_with_reason_pruned():
    # when the pruner says so, the loop is asked to stop with reason "pruned"
    study = optuna.create_study(pruner=AlwaysPrune())
    bridge, loop = PruningBridge(study.ask(), "val_loss"), FakeLoop()
    bridge.on_epoch_end(loop, 1, {"val_loss": 1.0})
    assert loop.reason == "pruned" and bridge.pruned and bridge.pruned_epoch == 1


def test_early_stopping_first_is_a_normal_finish():
    # an epoch where early stopping already stopped the run is not turned into a prune
    study = optuna.create_study(pruner=AlwaysPrune())
    bridge, loop = PruningBridge(study.ask(), "val_loss"), FakeLoop()
    loop.request_stop("early_stopping")
    bridge.on_epoch_end(loop, 4, {"val_loss": 1.0})
    assert loop.reason == "early_stopping" and not bridge.pruned


def test_missing_metric_warns_once_and_never_prunes():
    # an objective the run does not log cannot drive pruning: say which ones exist
    study = optuna.create_study(pruner=AlwaysPrune())
    bridge, loop = PruningBridge(study.ask(), "val_r2"), FakeLoop()
    with pytest.warns(UserWarning, match="'val_r2' is not logged; available: val_loss"):
        bridge.on_epoch_end(loop, 1, {"epoch": 1, "val_loss": 1.0})
    bridge.on_epoch_end(loop, 2, {"epoch": 2, "val_loss": 1.0})  # no second warning
    assert not loop.stop_requested


def test_factory_hands_out_the_same_instance_and_reset_on_train_begin():
    # the worker reads `pruned` from the very object the run used, fresh for each run
    study = optuna.create_study(pruner=AlwaysPrune())
    bridge = PruningBridge(study.ask(), "val_loss")
    assert bridge.factory() is bridge
    bridge.on_epoch_end(FakeLoop(), 1, {"val_loss": 1.0})
    bridge.on_train_begin(FakeLoop())
    assert not bridge.pruned


def test_a_swallowed_interrupt_stops_the_trial_at_the_next_epoch():
    # the flag outlives a KeyboardInterrupt a library (or a GC callback) swallowed
    from runkit.signals import INTERRUPT_REQUESTED

    study = optuna.create_study(pruner=optuna.pruners.NopPruner())
    bridge, loop = PruningBridge(study.ask(), "val_loss"), FakeLoop()
    bridge.on_epoch_end(loop, 1, {"val_loss": 1.0})
    INTERRUPT_REQUESTED.set()
    try:
        with pytest.raises(KeyboardInterrupt, match="interrupted"):
            bridge.on_epoch_end(loop, 2, {"val_loss": 0.9})
    finally:
        INTERRUPT_REQUESTED.clear()
    assert study.trials[0].intermediate_values == {1: 1.0}
