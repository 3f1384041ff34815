"""A full disk mid-run: one line saying where no space was left; the run keeps what was written
and ends FAILED with that line as its reason when the store can still record it."""

from __future__ import annotations

import errno
import sqlite3

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from trainer import run_context
from trainer.app import run
from trainer.tracking.disk_full import NoSpaceError, no_space_error
from trainer.tracking.tags import FAILURE_REASON_TAG


def test_a_full_store_or_artifact_disk_is_recognised_and_named() -> None:
    # SQLite's message (through MLflow), or the OS's ENOSPC with its file; other errors are not
    uri = "sqlite:////data/mlruns/mlflow.db"
    try:
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError as error:
            raise MlflowException("SQLAlchemy error") from error
    except MlflowException as wrapped:
        assert str(no_space_error(wrapped, uri)) == (
            "no space left on device for the MLflow store /data/mlruns/mlflow.db")
    full = OSError(errno.ENOSPC, "No space left on device", "/data/mlruns/1/model/weights.npz")
    assert str(no_space_error(full, uri)) == (
        "no space left on device writing /data/mlruns/1/model/weights.npz")
    assert no_space_error(OSError(errno.EACCES, "Permission denied"), uri) is None
    assert no_space_error(ValueError("x"), uri) is None


def test_a_run_whose_disk_fills_up_ends_failed_with_one_line(make_config, store_uri,
                                                             monkeypatch) -> None:
    # the metrics write after training finds the store's disk full: the run stops with one
    # line naming the store; its end writes what it can (here the disk had room again: the
    # epochs' metrics and the FAILED status with that line as the reason)
    cfg = make_config("epochs=5", "model.hidden=[8]", "early_stopping.enabled=false",
                      "mlflow.log_model=false", "mlflow.experiment=disk-full")
    from trainer.tracking import get_client

    shared = get_client(store_uri)
    log_batch = shared.log_batch
    calls: list[int] = []

    def filling_up(run_id, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise MlflowException("(sqlite3.OperationalError) database or disk is full")
        return log_batch(run_id, **kwargs)

    monkeypatch.setattr(shared, "log_batch", filling_up)
    started: list[str] = []
    with (run_context.use(run_context.RunContext(on_run_started=started.append)),
          pytest.raises(NoSpaceError) as caught):
        run(cfg)
    monkeypatch.undo()
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith("no space left on device for the MLflow store ")
    assert f"MLflow run {started[0]} ended FAILED with its config and the metrics of 5" in line
    logged = MlflowClient(store_uri).get_run(started[0])
    assert logged.info.status == "FAILED"
    assert logged.data.tags[FAILURE_REASON_TAG].startswith("no space left on device")
    assert logged.data.metrics["val_loss"] > 0  # buffered epochs written at the end
