"""The MLflow store: tracking URIs, one client per process, experiments.

Costs measured on this project's machine shape the module:

- opening an MLflow store costs over a second, so there is one client per process per URI;
- several processes creating a fresh SQLite store (or the same experiment) at once corrupt it or
  send runs to "Default", so creation happens once, under a file lock beside the database.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from runkit._private_apis import client_engine, forget_cached_engines
from runkit.errors import ConfigError
from runkit.mlflow import store_template
from runkit.mlflow.tags import EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND
from runkit.sqlite import anchored_sqlite_url, sqlite_path

try:  # POSIX only; elsewhere concurrent first use of a fresh store is not guarded
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "created_here",
    "default_artifact_root",
    "get_client",
    "get_or_create_experiment",
    "prepare_store",
    "resolve_tracking_uri",
]

logger = logging.getLogger("runkit.mlflow")

# Tracking URIs that carry no scheme yet are not file paths.
_SCHEMELESS_URIS = frozenset({"databricks", "databricks-uc", "uc"})

_clients: dict[str, MlflowClient] = {}
_clients_lock = threading.Lock()
_created: set[str] = set()  # the URIs of SQLite stores whose schema this process created
# Called in a forked child after the clients are dropped (the run module forgets its runs).
_after_fork_hooks: list[Callable[[], None]] = []


def _forget_parent_state() -> None:
    # A forked child must not reuse the parent's SQLite connections (SQLAlchemy's advice:
    # dispose the pool without closing the parent's connections) nor end the parent's runs.
    for client in _clients.values():
        with contextlib.suppress(Exception):
            client_engine(client).dispose(close=False)
    _clients.clear()
    _created.clear()
    for hook in _after_fork_hooks:
        hook()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_state)


def resolve_tracking_uri(uri: str, base_dir: Path) -> str:
    """Make a tracking URI independent of the working directory.

    ``sqlite:///relative/path.db`` becomes ``sqlite:////<base_dir>/relative/path.db``; a plain
    directory path becomes its ``file:`` URI; absolute SQLite URIs and every other scheme
    (``http``, ``postgresql`` ...) are returned unchanged.
    """
    if uri.startswith("sqlite:///"):
        return anchored_sqlite_url(uri, base_dir)
    if uri in _SCHEMELESS_URIS or urlparse(uri).scheme:
        return uri
    return (Path(base_dir).resolve() / uri).resolve().as_uri()


def default_artifact_root(uri: str) -> str | None:
    """Where runs of a local SQLite store keep artifacts: the database's directory as a
    ``file:`` URI (``mlruns/`` for ``sqlite:///mlruns/mlflow.db``); None for other stores,
    whose server decides."""
    db = sqlite_path(uri)
    if db is None:
        return None
    return db.resolve().parent.as_uri()


@contextlib.contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """An exclusive inter-process lock on ``<db>.lock`` for a SQLite store (no-op otherwise)."""
    db = sqlite_path(uri)
    if db is None or fcntl is None:
        yield
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def get_client(uri: str) -> MlflowClient:
    """This process's client for ``uri``, opening (and for SQLite, creating) the store once."""
    with _clients_lock:
        client = _clients.get(uri)
        if client is None:
            # MlflowClient opens the store eagerly and creates missing SQLite tables: that runs
            # under the lock, so only one process ever creates the schema of a fresh database.
            # Opening a ready store (~1 s) runs outside it, so workers start in parallel.
            with _store_lock(uri):
                db = sqlite_path(uri)
                if db is not None and not store_template.holds_mlflow_schema(db):
                    client = _create_sqlite_store(uri, db)
                    _created.add(uri)
            if client is None:
                client = MlflowClient(tracking_uri=uri)
            _clients[uri] = client
        return client


def created_here(uri: str) -> bool:
    """Whether this process created the store at ``uri`` (it then holds only what this
    process wrote: there is no earlier command's run to look for)."""
    return uri in _created


def _create_sqlite_store(uri: str, db: Path) -> MlflowClient:
    """Open a client on a SQLite store that has no schema yet, creating it: copied from
    :mod:`runkit.mlflow.store_template` (0.05 s) when ``db`` does not exist, else by MLflow."""
    if not db.exists() and store_template.copy_empty_store(db):
        try:
            return MlflowClient(tracking_uri=uri)
        except MlflowException as exc:  # MLflow checks the copy's schema revision
            logger.warning("MLflow refused the store copied from the template (%s); "
                           "creating %s from scratch", exc, db)
            _forget_engine(db)
            store_template.discard(db)
    with store_template.quiet_schema_creation():
        return MlflowClient(tracking_uri=uri)


def _forget_engine(db: Path) -> None:
    """Drop MLflow's cached engine on ``db``, whose connections point at a file about to go."""
    def on_db(uri: str) -> bool:
        path = sqlite_path(uri)
        return path is not None and path.resolve() == db.resolve()

    with contextlib.suppress(Exception):
        forget_cached_engines(on_db)


def prepare_store(uri: str) -> None:
    """Create the store's directory and the SQLite database exactly once, safely against other
    processes doing the same; a no-op when this process has already opened ``uri``."""
    get_client(uri)


def _experiment_artifact_location(uri: str, name: str) -> str | None:
    """``<artifact root>/<name made path-safe>`` for SQLite stores, else None (server default)."""
    root = default_artifact_root(uri)
    if root is None:
        return None
    db = sqlite_path(uri)
    assert db is not None
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "experiment"
    location = db.resolve().parent / slug
    if location.exists() and not location.is_dir():  # e.g. an experiment named "mlflow.db"
        location = location.with_name(slug + "_artifacts")
    return location.as_uri()


def get_or_create_experiment(uri: str, name: str, *, key: str = "mlflow.experiment") -> str:
    """The id of the active experiment ``name``, created if missing.

    Runs under the store lock so that concurrent callers agree on one experiment. For SQLite
    stores the experiment keeps its artifacts beside the database (``mlruns/<name>/``), not in
    a directory relative to whichever working directory the first caller had.
    """
    client = get_client(uri)
    with _store_lock(uri):
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            try:
                return client.create_experiment(
                    name, artifact_location=_experiment_artifact_location(uri, name),
                    tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING_KIND},
                )
            except MlflowException:
                # A remote store has no lock file: another process may have won the race.
                experiment = client.get_experiment_by_name(name)
                if experiment is None:
                    raise
    if EXPERIMENT_KIND_TAG not in experiment.tags:  # a store made before the kind was set
        with contextlib.suppress(MlflowException):
            client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG,
                                      MODEL_TRAINING_KIND)
    if experiment.lifecycle_stage != "active":
        raise ConfigError(
            key,
            "an active experiment (restore the deleted one with `mlflow experiments restore` "
            "or choose another name)",
            name,
        )
    return experiment.experiment_id
