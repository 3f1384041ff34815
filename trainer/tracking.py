"""MLflow tracking of one training run through :class:`mlflow.MlflowClient`.

The client API (never the fluent ``mlflow.start_run`` global state) lets several runs, threads
and processes log at once without sharing a hidden active run. Costs measured on this project's
machine shape the module:

- opening an MLflow store costs over a second, so there is one client per process per URI;
- several processes creating a fresh SQLite store (or the same experiment) at once corrupt it or
  send runs to "Default", so creation happens once, under a file lock beside the database;
- a metric value logged alone costs ~1 ms, ~0.15 ms through ``log_batch``, so per-epoch metrics
  are buffered and written in batches (every ~2 s, when the buffer is full, and at the end).
"""

from __future__ import annotations

import atexit
import contextlib
import getpass
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlparse

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.utils.validation import (
    MAX_ENTITIES_PER_BATCH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAM_VAL_LENGTH,
    MAX_PARAMS_TAGS_PER_BATCH,
    MAX_TAG_VAL_LENGTH,
)

from trainer import store_template
from trainer.errors import ConfigError, TrainerError

try:  # POSIX only; elsewhere concurrent first use of a fresh store is not guarded
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "FAILURE_REASON_TAG",
    "RunTracker",
    "default_artifact_root",
    "flatten_config",
    "get_client",
    "get_or_create_experiment",
    "prepare_store",
    "resolve_tracking_uri",
]

logger = logging.getLogger(__name__)

FAILURE_REASON_TAG = "failure_reason"
MODEL_ARTIFACT_PATH = "model"
_TERMINAL_STATUSES = ("FINISHED", "FAILED", "KILLED")
# Tracking URIs that carry no scheme yet are not file paths.
_SCHEMELESS_URIS = frozenset({"databricks", "databricks-uc", "uc"})

_clients: dict[str, MlflowClient] = {}
_clients_lock = threading.Lock()
_open_trackers: weakref.WeakSet[RunTracker] = weakref.WeakSet()  # started, not yet ended


def _forget_parent_state() -> None:
    # A forked child must not reuse the parent's SQLite connections (SQLAlchemy's advice:
    # dispose the pool without closing the parent's connections) nor end the parent's runs.
    for client in _clients.values():
        with contextlib.suppress(Exception):
            client._tracking_client.store.engine.dispose(close=False)
    _clients.clear()
    _open_trackers.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_state)


# --------------------------------------------------------------------------- URIs and store


def resolve_tracking_uri(uri: str, base_dir: Path) -> str:
    """Make a tracking URI independent of the working directory.

    ``sqlite:///relative/path.db`` becomes ``sqlite:////<base_dir>/relative/path.db``; a plain
    directory path becomes its ``file:`` URI; absolute SQLite URIs and every other scheme
    (``http``, ``postgresql`` ...) are returned unchanged.
    """
    base = Path(base_dir).resolve()
    if uri.startswith("sqlite:///"):
        path, sep, query = uri[len("sqlite:///") :].partition("?")
        if path.startswith("/"):
            return uri
        return f"sqlite:///{(base / path).as_posix()}{sep}{query}"
    if uri in _SCHEMELESS_URIS or urlparse(uri).scheme:
        return uri
    return (base / uri).resolve().as_uri()


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a file-backed SQLite URI, else None (in-memory, other schemes)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///") :].partition("?")[0]
    if not path or path == ":memory:":
        return None
    return Path(path)


def default_artifact_root(uri: str) -> str | None:
    """Where runs of a local SQLite store keep artifacts: the database's directory as a
    ``file:`` URI (``mlruns/`` for ``sqlite:///mlruns/mlflow.db``); None for other stores,
    whose server decides."""
    db = _sqlite_path(uri)
    if db is None:
        return None
    return db.resolve().parent.as_uri()


@contextlib.contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """An exclusive inter-process lock on ``<db>.lock`` for a SQLite store (no-op otherwise)."""
    db = _sqlite_path(uri)
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


def _sqlite_store_ready(db: Path) -> bool:
    """Whether ``db`` holds an MLflow schema already (checked read-only, in milliseconds)."""
    if not db.is_file():
        return False
    try:
        with contextlib.closing(
            sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
        ) as con:
            tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master")}
            if not {"experiments", "runs", "alembic_version"} <= tables:
                return False
            return con.execute("SELECT count(*) FROM alembic_version").fetchone()[0] > 0
    except sqlite3.Error:
        return False


def get_client(uri: str) -> MlflowClient:
    """This process's client for ``uri``, opening (and for SQLite, creating) the store once."""
    with _clients_lock:
        client = _clients.get(uri)
        if client is None:
            # MlflowClient opens the store eagerly and creates missing SQLite tables: that runs
            # under the lock, so only one process ever creates the schema of a fresh database.
            # Opening a ready store (~1 s) runs outside it, so workers start in parallel.
            with _store_lock(uri):
                db = _sqlite_path(uri)
                if db is not None and not _sqlite_store_ready(db):
                    client = _create_sqlite_store(uri, db)
            if client is None:
                client = MlflowClient(tracking_uri=uri)
            _clients[uri] = client
        return client


def _create_sqlite_store(uri: str, db: Path) -> MlflowClient:
    """Open a client on a SQLite store that has no schema yet, creating it: copied from
    :mod:`trainer.store_template` (0.05 s) when ``db`` does not exist, else by MLflow."""
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
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    with contextlib.suppress(Exception):
        for key in list(SqlAlchemyStore._engine_map):
            path = _sqlite_path(key)
            if path is not None and path.resolve() == db.resolve():
                SqlAlchemyStore._engine_map.pop(key).dispose()


def prepare_store(uri: str) -> None:
    """Create the store's directory and the SQLite database exactly once, safely against other
    processes doing the same; a no-op when this process has already opened ``uri``."""
    get_client(uri)


def _experiment_artifact_location(uri: str, name: str) -> str | None:
    """``<artifact root>/<name made path-safe>`` for SQLite stores, else None (server default)."""
    root = default_artifact_root(uri)
    if root is None:
        return None
    db = _sqlite_path(uri)
    assert db is not None
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "experiment"
    location = db.resolve().parent / slug
    if location.exists() and not location.is_dir():  # e.g. an experiment named "mlflow.db"
        location = location.with_name(slug + "_artifacts")
    return location.as_uri()


def get_or_create_experiment(uri: str, name: str) -> str:
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
                    name, artifact_location=_experiment_artifact_location(uri, name)
                )
            except MlflowException:
                # A remote store has no lock file: another process may have won the race.
                experiment = client.get_experiment_by_name(name)
                if experiment is None:
                    raise
    if experiment.lifecycle_stage != "active":
        raise ConfigError(
            "mlflow.experiment",
            "an active experiment (restore the deleted one with `mlflow experiments restore` "
            "or choose another name)",
            name,
        )
    return experiment.experiment_id


# --------------------------------------------------------------------------- params


def _format_value(value: Any) -> str:
    """A config value as the text the YAML config would show: ``null``, ``true``, ``[64, 32]``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_format_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return "[" + ", ".join(_format_value(v) for v in value) + "]"
    return str(value)


def flatten_config(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested mappings to dotted keys with string values.

    ``{"optimizer": {"lr": 0.1}, "model": {"hidden": [64, 32]}, "loss": None}`` gives
    ``{"optimizer.lr": "0.1", "model.hidden": "[64, 32]", "loss": "null"}``. Nothing is
    skipped: an empty mapping is kept as ``"{}"``.
    """
    flat: dict[str, str] = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and len(value) > 0:
            flat.update(flatten_config(value, prefix=f"{name}."))
        else:
            flat[name] = _format_value(value)
    return flat


def _one_line(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def failure_reason(exc: BaseException, limit: int = MAX_TAG_VAL_LENGTH) -> str:
    """One line of at most ``limit`` characters: a user error's own message, else
    ``TypeName: message``."""
    message = str(exc)
    if isinstance(exc, TrainerError) and message:
        return _one_line(message, limit)
    return _one_line(f"{type(exc).__name__}: {message}".rstrip(": "), limit)


# --------------------------------------------------------------------------- source tags


@lru_cache(maxsize=8)
def _git_commit(cwd: str) -> str | None:
    """HEAD of the git repository containing ``cwd`` (once per process and directory)."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", commit) else None


def _source_tags() -> dict[str, str]:
    tags = {"mlflow.source.type": "LOCAL", "mlflow.source.name": sys.argv[0] or "python"}
    with contextlib.suppress(Exception):  # no user name in some containers
        tags["mlflow.user"] = getpass.getuser()
    try:
        commit = _git_commit(os.getcwd())
    except OSError:  # the working directory was removed
        commit = None
    if commit:
        tags["mlflow.source.git.commit"] = commit
    return tags


# --------------------------------------------------------------------------- the run


@atexit.register
def end_open_runs() -> None:
    """End every run of this process still open as KILLED: the last resort, at exit, so that no
    run stays RUNNING. Processes that leave with ``os._exit`` (multiprocessing children) skip
    atexit and call it themselves."""
    for tracker in list(_open_trackers):
        tracker.end("KILLED", failure_reason="the process exited before the run was ended")


class RunTracker:
    """One MLflow run, written through a per-process :class:`MlflowClient`.

    Use it as a context manager: a normal exit ends the run FINISHED, an exception FAILED (its
    one-line message in the ``failure_reason`` tag), Ctrl-C or a SIGTERM turned into
    ``SystemExit`` KILLED. Metrics are buffered and written with ``log_batch``.
    """

    def __init__(
        self,
        client: MlflowClient,
        run_id: str,
        *,
        flush_interval: float = 2.0,
        max_buffered: int = MAX_METRICS_PER_BATCH,
    ) -> None:
        self.client = client
        self.run_id = run_id
        self.flush_interval = flush_interval
        self.max_buffered = max_buffered
        self._buffer: list[Metric] = []
        # Params and tags wait for the next metrics write: each store call costs ~5 ms on
        # SQLite whatever it carries, so a run's few params and tags ride along with its
        # metrics (benchmarks/RESULTS.md, tracking overhead).
        self._params: dict[str, Param] = {}
        self._tags: dict[str, RunTag] = {}
        self._last_flush = time.monotonic()
        self._ended = False
        _open_trackers.add(self)

    @classmethod
    def start(
        cls,
        uri: str,
        experiment_id: str,
        *,
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
    ) -> RunTracker:
        """Create a RUNNING run in ``experiment_id`` (the child of ``parent_run_id`` if given),
        tagged with its source (user, entry point, git commit when the cwd is in a repo)."""
        client = get_client(uri)
        all_tags = _source_tags()
        if parent_run_id is not None:
            all_tags["mlflow.parentRunId"] = parent_run_id
        all_tags.update({k: str(v)[:MAX_TAG_VAL_LENGTH] for k, v in (tags or {}).items()})
        # create_run also sets the mlflow.runName tag (a generated name when None)
        run = client.create_run(experiment_id, tags=all_tags, run_name=run_name)
        return cls(client, run.info.run_id)

    @property
    def ended(self) -> bool:
        return self._ended

    # -- params and tags: buffered with the metrics

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log params (nested mappings are flattened with dots), each value truncated to
        MLflow's limit; written with the next :meth:`flush`."""
        for key, value in flatten_config(params).items():
            self._params[key] = Param(key, value[:MAX_PARAM_VAL_LENGTH])

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Set tags, each value truncated to MLflow's limit; written with the next
        :meth:`flush` (a tag set twice keeps its last value)."""
        for key, value in tags.items():
            self._tags[key] = RunTag(key, str(value)[:MAX_TAG_VAL_LENGTH])

    # -- metrics: buffered

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """Buffer one epoch's metrics with ``step=epoch``."""
        self.log_metrics(metrics, step=epoch)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Buffer metrics at ``step`` (0 when None); written when ~2 s passed since the last
        write, when the buffer is full, or by :meth:`flush` / :meth:`end`."""
        timestamp = int(time.time() * 1000)
        step = 0 if step is None else int(step)
        self._buffer.extend(
            Metric(key, float(value), timestamp, step) for key, value in metrics.items()
        )
        if (
            len(self._buffer) >= self.max_buffered
            or time.monotonic() - self._last_flush >= self.flush_interval
        ):
            self.flush()

    def flush(self) -> None:
        """Write the buffered params, tags and metrics, as few ``log_batch`` calls as MLflow's
        limits allow."""
        self._last_flush = time.monotonic()
        while self._buffer or self._params or self._tags:
            params = list(self._params.values())[:MAX_PARAMS_TAGS_PER_BATCH]
            tags = list(self._tags.values())[:MAX_PARAMS_TAGS_PER_BATCH]
            room = min(MAX_METRICS_PER_BATCH, MAX_ENTITIES_PER_BATCH - len(params) - len(tags))
            metrics = self._buffer[:room]
            self.client.log_batch(self.run_id, metrics=metrics, params=params, tags=tags,
                                  synchronous=True)
            # removed only once written: a failed write can be retried
            del self._buffer[: len(metrics)]
            for param in params:
                del self._params[param.key]
            for tag in tags:
                del self._tags[tag.key]

    # -- artifacts

    def log_text(self, text: str, artifact_file: str) -> None:
        """Store ``text`` as the artifact ``artifact_file`` (e.g. ``config.yaml``)."""
        self.client.log_text(self.run_id, text, artifact_file)

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        """Store a Matplotlib figure as the PNG artifact ``artifact_file``."""
        self.client.log_figure(self.run_id, figure, artifact_file, save_kwargs={"format": "png"})

    def log_pyfunc_model(self, **save_kwargs: Any) -> str:
        """Save the model with :func:`trainer.pyfunc_model.save_model` (same keyword arguments)
        and upload it as the artifact directory ``model``.

        Returns:
            ``runs:/<run_id>/model``, loadable with ``mlflow.pyfunc.load_model``.
        """
        from trainer import pyfunc_model  # numpy/pandas side of the package, only when needed

        tmp = tempfile.mkdtemp(prefix="trainer-model-")
        try:
            local = Path(tmp) / MODEL_ARTIFACT_PATH
            pyfunc_model.save_model(local, **save_kwargs)
            self.client.log_artifacts(self.run_id, str(local), artifact_path=MODEL_ARTIFACT_PATH)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return f"runs:/{self.run_id}/{MODEL_ARTIFACT_PATH}"

    def artifact_uri(self, artifact_path: str = "") -> str:
        """The absolute URI of the run's artifact directory (or of a path inside it); loading
        from it needs no tracking URI, unlike ``runs:/``."""
        root = self.client.get_run(self.run_id).info.artifact_uri
        return f"{root.rstrip('/')}/{artifact_path}" if artifact_path else root

    # -- end

    def end(self, status: str = "FINISHED", failure_reason: str | None = None) -> None:
        """Flush, record ``failure_reason`` as a tag when given, and terminate the run with
        ``status`` (FINISHED, FAILED or KILLED). Idempotent; a store that cannot be reached
        only logs a warning, so ending never hides the error that caused it."""
        if status not in _TERMINAL_STATUSES:
            raise ValueError(f"status must be one of {_TERMINAL_STATUSES}, got {status!r}")
        if self._ended:
            return
        self._ended = True
        _open_trackers.discard(self)
        if failure_reason is not None:
            self.set_tags({FAILURE_REASON_TAG: _one_line(failure_reason, MAX_TAG_VAL_LENGTH)})
        try:
            self.flush()
        except Exception as exc:  # keep going: the status matters more than the last metrics
            logger.warning("MLflow run %s: could not write metrics: %s", self.run_id, exc)
            if failure_reason is not None:  # the reason alone, without what was rejected
                with contextlib.suppress(Exception):
                    reason = self._tags[FAILURE_REASON_TAG]
                    self.client.set_tag(self.run_id, reason.key, reason.value)
        try:
            self.client.set_terminated(self.run_id, status)
        except Exception as exc:
            logger.warning("MLflow run %s: could not mark it %s: %s", self.run_id, status, exc)

    def __enter__(self) -> RunTracker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            self.end("FINISHED")
        elif isinstance(exc, KeyboardInterrupt):
            self.end("KILLED", failure_reason="interrupted (KeyboardInterrupt)")
        elif isinstance(exc, SystemExit):
            if exc.code in (None, 0):
                self.end("FINISHED")
            else:  # a SIGTERM handler raising SystemExit, or an explicit non-zero exit
                self.end("KILLED", failure_reason=f"exited with code {exc.code}")
        else:
            self.end("FAILED", failure_reason=failure_reason(exc))
