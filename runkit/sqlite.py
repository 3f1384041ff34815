"""SQLite files: their URLs, what is wrong with one, and empty databases built once per library
version, cached and copied into place.

Both stores of a sweep may be local SQLite files (MLflow's ``sqlite:///mlruns/mlflow.db``,
Optuna's ``sqlite:///mlruns/optuna.db``): :func:`sqlite_path` reads either URL,
:func:`anchored_sqlite_url` anchors a relative one at the directory a command was started in,
and :func:`check_sqlite_file` tells in one line what would stop the library from using the file.

A library that creates its schema in a new SQLite file (MLflow's migrations, Optuna's tables)
takes 0.5-1.5 s for what is the same file every time for one library version. Such a file is
built once (by the library itself), cached under :func:`cache_dir`, and copied: the MLflow
store (``runkit/mlflow/store_template.py``) and the sweep's study (``sweeps/study/_template.py``)
each say what their file holds and how it is built; this module keeps, checks and copies it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from runkit.errors import ConfigError

__all__ = [
    "anchored_sqlite_url",
    "cache_dir",
    "check_sqlite_file",
    "copy_template",
    "read_only",
    "sqlite_file_problem",
    "sqlite_path",
]

_PREFIX = "sqlite:///"
_SQLITE_MAGIC = b"SQLite format 3\x00"

log = logging.getLogger(__name__)


def sqlite_path(url: str) -> Path | None:
    """The database file of a file-backed SQLite URL (``sqlite:///mlruns/mlflow.db`` is relative,
    ``sqlite:////data/mlflow.db`` absolute; a ``?query`` is not part of it), else None: an
    in-memory database, another backend."""
    if not url.startswith(_PREFIX):
        return None
    path = url[len(_PREFIX):].partition("?")[0]
    if not path or path == ":memory:":
        return None
    return Path(path)


def anchored_sqlite_url(url: str, base: str | Path) -> str:
    """``url`` with a relative SQLite path made absolute against ``base`` (the directory a
    command was started in: workers and Hydra jobs may run elsewhere), its query kept; any
    other URL unchanged."""
    path = sqlite_path(url)
    if path is None or path.is_absolute():
        return url
    _, sep, query = url.partition("?")
    return f"{_PREFIX}{(Path(base).resolve() / path).as_posix()}{sep}{query}"


def sqlite_file_problem(db: Path) -> str | None:
    """Why the existing file ``db`` is not a sound SQLite database (not SQLite, damaged pages),
    or None; read-only, in milliseconds for a database of a few megabytes."""
    if db.stat().st_size == 0:
        return None  # SQLite's empty database: its tables are created in it
    try:
        with open(db, "rb") as handle:
            header = handle.read(len(_SQLITE_MAGIC))
    except OSError as error:
        return f"{db} cannot be read: {error.strerror}"
    if header != _SQLITE_MAGIC:
        return f"{db} is not a SQLite database"
    try:
        with read_only(db) as con:
            result = con.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as error:
        return f"{db} is damaged: {error}"
    if result != [("ok",)]:
        detail = " ".join(str(result[0][0]).replace("*** in database main ***", "").split())
        return f"{db} is damaged: {detail}"
    return None


def check_sqlite_file(db: Path, *, key: str, what: str, shown: str) -> None:
    """The SQLite file ``db`` (which may not exist yet) and its directory can hold ``what`` (``an
    MLflow SQLite store``): writable, sound, a file. Checked in milliseconds, before the library
    answers with a traceback; a damaged file is never touched.

    Raises:
        ConfigError: naming ``key``, whose value is shown as ``shown`` (a password redacted).
    """
    for parent in (db.parent, *db.parent.parents):
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(key, f"{what} in a directory ({parent} is a file; move it "
                                  "away or choose another path)", shown)
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ConfigError(key, f"{what} in a writable directory ({parent} is "
                                  "read-only)", shown)
            break
    if not db.exists():
        return
    if db.is_dir():
        raise ConfigError(key, f"a SQLite file at {db}, not a directory", shown)
    if not os.access(db, os.R_OK | os.W_OK):
        raise ConfigError(key, f"{what} this user can write ({db} is read-only)", shown)
    problem = sqlite_file_problem(db)
    if problem is not None:
        raise ConfigError(key, f"{what} ({problem}; move it away to start afresh)", shown)


def cache_dir() -> Path:
    """``$TRAINER_CACHE_DIR``, else ``$XDG_CACHE_HOME/trainer``, else ``~/.cache/trainer``."""
    explicit = os.environ.get("TRAINER_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "trainer"


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the SQLite file ``path`` (it never creates or changes it)."""
    with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro",
                                            uri=True)) as connection:
        yield connection


def _build(path: Path, create: Callable[[Path], None]) -> None:
    """``create`` the database at a new temporary path beside ``path``, then move it there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    os.unlink(tmp)  # the library creates the file itself
    try:
        create(Path(tmp))
        os.replace(tmp, path)  # atomic: a concurrent builder's copy is as good as this one
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def copy_template(db: Path, template: Path, *, sound: Callable[[Path], bool],
                  build: Callable[[Path], None], what: str, exclusive: bool) -> None:
    """Copy the cached ``template`` to ``db``, building it first (``build(path)``) when it is
    missing or not ``sound``; ``what`` names the file in messages.

    The copy lands under a temporary name, is checked, and is then renamed into place (the
    caller holds a lock) or, ``exclusive``, hard-linked, which fails if another process created
    ``db`` meanwhile: nobody ever opens half a file or loses a database to a copy.

    Raises:
        Exception: whatever failed (an unwritable cache, no hard links, a race lost, a copy
            that is not ``sound``); the caller then lets the library create ``db`` itself.
    """
    if template.is_file() and not sound(template):
        log.warning("the cached %s %s is damaged: building it again", what, template)
        template.unlink()
    if not template.is_file():
        _build(template, build)
    db.parent.mkdir(parents=True, exist_ok=True)
    tmp = db.with_name(f"{db.name}.{os.getpid()}.tmp")  # the umask's mode, as the library's
    try:
        shutil.copyfile(template, tmp)
        if not sound(tmp):  # a cache that went bad, a copy cut short: never kept
            raise OSError(f"the copy of {template} is not a sound {what}")
        if exclusive:
            os.link(tmp, db)  # FileExistsError when another process was first: its file stays
        else:
            os.replace(tmp, db)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
