"""Empty SQLite databases built once per library version, cached, and copied into place.

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

__all__ = ["cache_dir", "copy_template", "read_only"]

log = logging.getLogger(__name__)


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
