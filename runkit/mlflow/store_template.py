"""Fresh MLflow SQLite stores copied from an empty database at the current schema.

MLflow creates a new SQLite store by running every alembic migration since its first release:
1.5 s on this project's machine, paid by each new project directory, each sweep's start and
each test that opens a store (opening an existing one costs 0.04 s). The result only depends
on the MLflow version, so it is built once per machine and version, cached, and copied. MLflow
still verifies the copy's schema revision when it opens it; a copy that fails that check is
removed and the store created the usual way.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import mlflow

from runkit._private_apis import initialize_mlflow_tables
from runkit.sqlite import cache_dir, copy_template, read_only

__all__ = ["cache_dir", "copy_empty_store", "discard", "quiet_schema_creation"]

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def quiet_schema_creation() -> Iterator[None]:
    """MLflow and alembic log each migration step at INFO when a store is created: that is
    noise on a user's terminal, so it is raised to WARNING for that moment."""
    loggers = [logging.getLogger(name) for name in ("mlflow.store.db.utils", "alembic")]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)


def _template_path() -> Path:
    return cache_dir() / f"mlflow-{mlflow.__version__}-empty.db"


def _create_store(path: Path) -> None:
    """Create an empty store at ``path`` the way MLflow does (its tables, then the migrations),
    without the default experiment, whose artifact location belongs to each store."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    try:
        with quiet_schema_creation():
            initialize_mlflow_tables(engine)  # MLflow's own creation step
    finally:
        engine.dispose()


def copy_empty_store(db: Path) -> bool:
    """Put an empty MLflow database at ``db`` (which must not exist yet); False when no
    template could be built or copied, and the caller lets MLflow create the store itself.
    Call it under the store's creation lock (the copy is renamed into place)."""
    try:
        template = _template_path()  # Path.home() raises when there is no home directory
        copy_template(db, template, sound=is_empty_store, build=_create_store,
                      what="empty MLflow store", exclusive=False)
    except Exception as exc:  # an unwritable cache, a changed MLflow internal: the slow way
        logger.debug("no MLflow schema template (%s); creating %s the usual way", exc, db)
        return False
    return True


def is_empty_store(path: Path) -> bool:
    """Whether ``path`` is a sound SQLite file holding MLflow's schema (checked read-only)."""
    return holds_mlflow_schema(path, integrity_check=True)


def holds_mlflow_schema(path: Path, *, integrity_check: bool = False) -> bool:
    """Whether ``path`` is a SQLite file holding MLflow's schema, checked read-only in
    milliseconds; ``integrity_check`` also runs SQLite's ``quick_check`` over every page."""
    import sqlite3

    if not path.is_file():
        return False
    try:
        with read_only(path) as con:
            if integrity_check and con.execute("PRAGMA quick_check").fetchall() != [("ok",)]:
                return False
            tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master")}
            if not {"experiments", "runs", "alembic_version"} <= tables:
                return False
            return con.execute("SELECT count(*) FROM alembic_version").fetchone()[0] > 0
    except sqlite3.Error:
        return False


def discard(db: Path) -> None:
    """Remove a copied store MLflow refused, and the template it came from."""
    for path in (db, _template_path()):
        with contextlib.suppress(OSError):
            path.unlink()
