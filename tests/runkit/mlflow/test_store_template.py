"""Fresh SQLite stores copied from a cached empty database instead of MLflow's migrations."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import mlflow
import pytest

from runkit.mlflow import RunTracker, get_client, get_or_create_experiment, store_template


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("TRAINER_CACHE_DIR", str(directory))
    return directory


def _template(cache: Path) -> Path:
    return cache / f"mlflow-{mlflow.__version__}-empty.db"


def _use(uri: str) -> str:
    """Create an experiment and a finished run with a metric; returns the experiment's id."""
    experiment_id = get_or_create_experiment(uri, "template")
    with RunTracker.start(uri, experiment_id) as tracker:
        tracker.log_epoch(1, {"val_loss": 0.5})
    return experiment_id


def _assert_a_new_store_works(tmp_path: Path) -> None:
    """A store created under ``tmp_path`` (by whichever way) takes an experiment and a run."""
    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    experiment_id = _use(uri)
    (run,) = get_client(uri).search_runs([experiment_id])
    assert run.info.status == "FINISHED"


def test_first_store_builds_the_template_and_the_next_is_a_copy(cache: Path,
                                                                 tmp_path: Path) -> None:
    first, second = (f"sqlite:///{tmp_path}/{name}/mlflow.db" for name in ("a", "b"))
    _use(first)
    assert _template(cache).is_file()
    # a copy is byte for byte the template until MLflow opens it
    Path(tmp_path / "c").mkdir()
    copied = tmp_path / "c" / "mlflow.db"
    assert store_template.copy_empty_store(copied)
    assert copied.read_bytes() == _template(cache).read_bytes()
    # and a store made from it works like one MLflow made: default experiment, runs, metrics
    experiment_id = _use(second)
    client = get_client(second)
    assert client.get_experiment("0").name == "Default"
    (run,) = client.search_runs([experiment_id])
    assert run.info.status == "FINISHED" and run.data.metrics == {"val_loss": 0.5}
    # the default experiment is made when the copy is opened, not taken from the template
    assert str(cache) not in client.get_experiment("0").artifact_location


def test_template_has_the_schema_and_no_experiment(cache: Path, tmp_path: Path) -> None:
    from mlflow.store.db.utils import _get_latest_schema_revision

    assert store_template.copy_empty_store(tmp_path / "mlflow.db")
    with sqlite3.connect(_template(cache)) as con:
        (revision,) = con.execute("SELECT version_num FROM alembic_version").fetchone()
        assert con.execute("SELECT count(*) FROM experiments").fetchone() == (0,)
    assert revision == _get_latest_schema_revision()


def test_a_template_mlflow_refuses_is_replaced(cache: Path, tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    # a template from another schema (e.g. a dev build with the same version string): MLflow
    # rejects the copy, and the store is created from scratch instead
    assert store_template.copy_empty_store(tmp_path / "seed.db")
    with sqlite3.connect(_template(cache)) as con:
        con.execute("UPDATE alembic_version SET version_num = 'not-a-revision'")
    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    with caplog.at_level(logging.WARNING, logger="runkit.mlflow"):
        experiment_id = _use(uri)
    assert "refused the store copied from the template" in caplog.text
    assert not _template(cache).exists()  # the bad template is gone; the next run rebuilds it
    (run,) = get_client(uri).search_runs([experiment_id])
    assert run.info.status == "FINISHED"


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_template_is_rebuilt_and_never_copied(cache: Path, tmp_path: Path,
                                                        damage: str) -> None:
    # a cached template that went bad (garbage, or cut short by a full disk) is checked before
    # it is copied: it is built again, and no broken store is left in the new directory
    import os

    assert store_template.copy_empty_store(tmp_path / "seed.db")
    good = _template(cache).read_bytes()
    _template(cache).write_bytes(os.urandom(3000) if damage == "garbage"
                                 else good[: len(good) // 3])
    target = tmp_path / "new" / "mlflow.db"
    assert store_template.copy_empty_store(target)
    assert store_template.is_empty_store(target) and store_template.is_empty_store(_template(cache))
    _assert_a_new_store_works(tmp_path)


def test_an_unwritable_cache_falls_back_to_mlflow(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("TRAINER_CACHE_DIR", str(blocker / "cache"))
    assert not store_template.copy_empty_store(tmp_path / "unused.db")
    assert not (tmp_path / "unused.db").exists() and not (tmp_path / "unused.db.tmp").exists()
    _assert_a_new_store_works(tmp_path)


def test_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TRAINER_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert store_template.cache_dir() == tmp_path / "trainer"


def test_no_home_directory_falls_back_to_mlflow(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # e.g. a service account without a home: the store is still created, the slow way
    monkeypatch.delenv("TRAINER_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert not store_template.copy_empty_store(tmp_path / "unused.db")
    _assert_a_new_store_works(tmp_path)
