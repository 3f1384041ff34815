"""A full disk mid-run is told in one line saying where no space was left."""

from __future__ import annotations

import errno
import sqlite3

from mlflow.exceptions import MlflowException

from runkit.mlflow.disk_full import no_space_error


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
