"""Early stopping follows Keras: patience, min_delta, mode, start_from_epoch, best weights."""

import io

import numpy as np
import pytest

from trainer.core.callbacks import EarlyStopping, ProgressReporter, metric_mode
from trainer.core.fit import FitResult


class FakeNetwork:
    def __init__(self) -> None:
        self.params = np.zeros(3)

    def get_params(self) -> np.ndarray:
        return self.params.copy()

    def set_params(self, flat: np.ndarray) -> None:
        self.params[...] = flat


class FakeLoop:
    def __init__(self) -> None:
        self.network = FakeNetwork()
        self.result = FitResult()
        self.stop_reason: str | None = None

    def request_stop(self, reason: str) -> None:
        self.stop_reason = self.stop_reason or reason


def drive(callback: EarlyStopping, values: list[float], monitor: str = "val_loss") -> FakeLoop:
    """Feed one monitored value per epoch; the network's params record the epoch number."""
    loop = FakeLoop()
    callback.on_train_begin(loop)
    for epoch, value in enumerate(values, start=1):
        loop.network.params[:] = epoch
        callback.on_epoch_end(loop, epoch, {"epoch": epoch, monitor: value})
        if loop.stop_reason:
            break
    callback.on_train_end(loop, {})
    return loop


def test_stops_after_patience_epochs_without_improvement():
    # best at epoch 2, then 3 epochs without improvement with patience 3 -> stop at epoch 5
    es = EarlyStopping("val_loss", patience=3)
    loop = drive(es, [1.0, 0.5, 0.6, 0.7, 0.8, 0.1])
    assert loop.stop_reason == "early_stopping"
    assert es.stopped_epoch == 5
    assert loop.result.best_epoch == 2


def test_min_delta_requires_a_large_enough_improvement():
    # 0.95 is not below 1.0 - 0.1, so it is not an improvement and patience 1 stops at epoch 2
    es = EarlyStopping("val_loss", patience=1, min_delta=0.1)
    loop = drive(es, [1.0, 0.95, 0.5])
    assert es.stopped_epoch == 2
    assert loop.result.best_epoch == 1


def test_mode_auto_maximizes_accuracy():
    # accuracy rising is improvement; its max is at epoch 3
    assert metric_mode("val_accuracy") == "max" and metric_mode("val_r2") == "max"
    assert metric_mode("val_loss") == "min"
    es = EarlyStopping("val_accuracy", patience=2)
    loop = drive(es, [0.5, 0.6, 0.9, 0.8, 0.7, 0.95], monitor="val_accuracy")
    assert es.stopped_epoch == 5 and loop.result.best_epoch == 3


def test_restores_best_weights_when_stopping():
    es = EarlyStopping("val_loss", patience=1, restore_best_weights=True)
    loop = drive(es, [1.0, 0.2, 0.3, 0.4])
    np.testing.assert_array_equal(loop.network.params, 2.0)


def test_restores_best_weights_even_if_never_triggered():
    # Keras 3 semantics: training ends by running out of epochs, best weights still restored
    es = EarlyStopping("val_loss", patience=10, restore_best_weights=True)
    loop = drive(es, [1.0, 0.2, 0.3, 0.4])
    assert loop.stop_reason is None
    np.testing.assert_array_equal(loop.network.params, 2.0)


def test_start_from_epoch_ignores_warmup_epochs():
    # epochs 1-2 are not watched: the 0.1 there is not the best; patience counts from epoch 3
    es = EarlyStopping("val_loss", patience=1, start_from_epoch=2)
    loop = drive(es, [0.1, 0.2, 0.5, 0.6, 0.7])
    assert loop.result.best_epoch == 3 and es.stopped_epoch == 4


def test_reusable_after_on_train_begin():
    es = EarlyStopping("val_loss", patience=1)
    drive(es, [1.0, 2.0])
    loop = drive(es, [5.0, 4.0, 3.0])
    assert loop.stop_reason is None and loop.result.best_epoch == 3


def test_missing_monitor_warns_with_available_metrics():
    es = EarlyStopping("val_auc", patience=1)
    loop = FakeLoop()
    es.on_train_begin(loop)
    with pytest.warns(UserWarning, match="available: val_loss"):
        es.on_epoch_end(loop, 1, {"epoch": 1, "val_loss": 1.0})
    assert loop.stop_reason is None


def test_progress_lines_when_not_a_terminal():
    stream = io.StringIO()
    progress = ProgressReporter(10, stream=stream)
    loop = FakeLoop()
    progress.on_train_begin(loop)
    progress.on_epoch_end(loop, 3, {"epoch": 3, "train_loss": 0.5, "val_loss": 0.25})
    progress.on_train_end(loop, {})
    assert stream.getvalue() == "epoch  3/10  train_loss=0.5000  val_loss=0.2500\n"


def test_bar_shows_validation_metrics_first_within_80_columns():
    # a narrow terminal cuts the line's end: epoch, bar, time and the val_* metrics fit in 80
    stream = io.StringIO()
    progress = ProgressReporter(100, style="bar", stream=stream)
    progress.on_train_begin(None)
    progress._bar.ncols = 80
    logs = {"epoch": 1, "train_loss": 0.021, "train_accuracy": 0.9963, "val_loss": 0.2548,
            "val_accuracy": 0.95}
    progress.on_epoch_end(None, 1, logs)
    progress.on_train_end(None, {})
    line = stream.getvalue().split("\r")[-1].splitlines()[0]
    assert line.startswith("epoch 1/100 |") and len(line) <= 80
    assert "val_loss=0.2548 val_accuracy=0.9500" in line
    assert ProgressReporter.ordered(logs) == {"val_loss": 0.2548, "val_accuracy": 0.95,
                                              "train_loss": 0.021, "train_accuracy": 0.9963}
