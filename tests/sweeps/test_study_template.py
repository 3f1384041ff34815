"""New SQLite study databases copied from a cached empty one instead of created by Optuna."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import optuna
import pytest

from runkit import sqlite as sqlite_template
from sweeps.study._template import copy_empty_study_storage, is_empty_study_storage


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("TRAINER_CACHE_DIR", str(directory))
    return directory


def _schema(db: Path) -> tuple[list[tuple[str, str]], list[tuple[str]]]:
    """The tables' SQL and the Alembic revision of a SQLite database."""
    with sqlite3.connect(db) as con:
        tables = con.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
        revision = con.execute("SELECT version_num FROM alembic_version").fetchall()
    return tables, revision


def test_a_copy_holds_the_schema_optuna_creates_and_takes_a_study(cache: Path,
                                                                   tmp_path: Path) -> None:
    # The first copy builds the cached template; a copy has Optuna's own tables and revision,
    # and a study in it works as in a database Optuna created.
    db = tmp_path / "run" / "optuna.db"
    assert copy_empty_study_storage(db)
    assert (cache / f"optuna-{optuna.__version__}-empty.db").is_file()
    reference = tmp_path / "optuna-made.db"
    optuna.storages.RDBStorage(f"sqlite:///{reference}").engine.dispose()
    assert _schema(db) == _schema(reference)

    study = optuna.create_study(storage=f"sqlite:///{db}", study_name="s")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    loaded = optuna.load_study(study_name="s", storage=f"sqlite:///{db}")
    assert [t.state for t in loaded.trials] == [optuna.trial.TrialState.COMPLETE] * 2


def test_an_existing_database_is_never_replaced(cache: Path, tmp_path: Path) -> None:
    # Resuming a study: the file that is there stays as it is, whatever it holds.
    db = tmp_path / "optuna.db"
    optuna.create_study(storage=f"sqlite:///{db}", study_name="kept")
    before = db.read_bytes()
    assert not copy_empty_study_storage(db)
    assert db.read_bytes() == before
    assert optuna.get_all_study_names(f"sqlite:///{db}") == ["kept"]


def test_a_database_that_appears_meanwhile_wins_over_the_copy(
        cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Another process creating the file between the check and the link keeps its file.
    db = tmp_path / "optuna.db"
    real_copy = sqlite_template.shutil.copyfile

    def copy_then_race(source: Path, target: Path) -> None:
        real_copy(source, target)
        db.write_bytes(b"the other process's file")

    copy_empty_study_storage(tmp_path / "warm.db")  # the template exists
    monkeypatch.setattr(sqlite_template.shutil, "copyfile", copy_then_race)
    assert not copy_empty_study_storage(db)
    assert db.read_bytes() == b"the other process's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "optuna.db", "warm.db"]


def test_a_damaged_template_is_built_again(cache: Path, tmp_path: Path) -> None:
    assert copy_empty_study_storage(tmp_path / "first.db")
    template = cache / f"optuna-{optuna.__version__}-empty.db"
    template.write_bytes(b"not a database")
    assert copy_empty_study_storage(tmp_path / "second.db")
    assert is_empty_study_storage(template)
    assert is_empty_study_storage(tmp_path / "second.db")


def test_no_template_leaves_the_creation_to_optuna(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # An unwritable cache: no copy, no file left behind; Optuna creates the tables as before.
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("")
    monkeypatch.setenv("TRAINER_CACHE_DIR", str(blocker / "sub"))
    db = tmp_path / "optuna.db"
    assert not copy_empty_study_storage(db)
    assert not db.exists()
