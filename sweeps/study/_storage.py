"""Where a study lives: the default SQLite file under ``mlruns/``, or any SQLAlchemy URL.

Every process (sweep commands, their workers, other machines on a shared PostgreSQL) opens the
same storage and the same study. Heartbeats mark which trials are alive: a RUNNING trial whose
heartbeat stopped for ``grace_period`` seconds (its process was killed, its machine lost power)
is failed by whoever notices first, its parameters are queued to run again, and its MLflow run is
marked KILLED.

SQLite is safe for several local processes here: every connection waits up to
``SQLITE_TIMEOUT`` seconds for the file lock instead of failing at once. Creating the tables of
a new database races between processes started together on every backend (on PostgreSQL one of
them fails on ``pg_type_typname_nsp_index``, Optuna #1092): a sweep creates them once before its
workers start, the workers then skip that step, and opening is retried on every backend.

A database server is shared by many processes: each one keeps at most
``POOL_SIZE + POOL_OVERFLOW`` connections (its trial loop and Optuna's heartbeat thread), and
checks a pooled connection before use so that a restarted server costs a reconnect, not a trial.

Whether a trial's worker is gone is judged by the database's clock alone: Optuna compares its
heartbeat rows with the database's ``now()``, and a trial that never recorded a heartbeat is
judged by how long this process has seen it so, never by comparing this machine's clock with a
start time another machine wrote.
"""

from __future__ import annotations

import copy
import datetime
import math
import random
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.storages import BaseStorage, RDBStorage
from optuna.study import StudyDirection
from optuna.trial import TrialState

from runkit._private_apis import study_engine, trial_id
from runkit.errors import ConfigError
from runkit.sqlite import anchored_sqlite_url, sqlite_path
from sweeps._optuna_logging import optuna_verbosity
from sweeps.study._budget import (
    FAIL_REASON_ATTR,
    PER_RUN_ATTRS,
    RUN_ID_ATTR,
    SURPLUS_ATTR,
    WORKER_ATTR,
)

__all__ = [
    "DEFAULT_STORAGE_FILE",
    "RetryCrashedTrial",
    "StorageSpec",
    "database_time",
    "default_storage_url",
    "load_or_create_study",
    "open_storage",
    "recover_lost_trials",
    "requeue",
    "requeue_interrupted",
    "resolve_storage_url",
]

DEFAULT_STORAGE_FILE = "mlruns/optuna.db"
SQLITE_TIMEOUT = 60.0  # seconds a connection waits for another process's write lock
POOL_SIZE = 2  # connections a process keeps to a database server (trial loop, heartbeat thread)
POOL_OVERFLOW = 1  # and may open beyond them for a moment (the sweep's monitor thread)
# A pooled database-server connection idle for longer is pinged before use (seconds).
PING_AFTER_IDLE = 1.0
_OPEN_ATTEMPTS = 8


def default_storage_url(start_dir: str | Path) -> str:
    """``sqlite:///<start dir>/mlruns/optuna.db``, next to the MLflow store."""
    return f"sqlite:///{(Path(start_dir) / DEFAULT_STORAGE_FILE).resolve()}"


def resolve_storage_url(url: str | None, start_dir: str | Path) -> str:
    """An absolute URL: ``None`` gives the default; a relative SQLite path resolves against the
    directory the command was started in (workers and Hydra may run elsewhere)."""
    if url is None or url == "":
        return default_storage_url(start_dir)
    if "://" not in url:
        raise ConfigError("hydra.sweeper.storage", "a SQLAlchemy URL such as "
                          "sqlite:///mlruns/optuna.db or postgresql://user@host/db", url)
    return anchored_sqlite_url(url, start_dir)


@dataclass(frozen=True)
class StorageSpec:
    """What every process needs to open the study's storage (small and picklable).

    Attributes:
        url: an absolute SQLAlchemy URL.
        heartbeat_interval: seconds between a running trial's heartbeats (``None`` disables
            crash detection).
        grace_period: seconds without a heartbeat after which a RUNNING trial is failed.
        max_retry: how many times a crashed trial's parameters are run again.
        tracking_uri: the MLflow store whose runs of crashed trials are marked KILLED.
        create_schema: whether opening creates missing tables (a sweep's workers skip it: the
            sweep created them before starting them).
    """

    url: str
    heartbeat_interval: int | None = 5
    grace_period: int | None = 20
    max_retry: int | None = 3
    tracking_uri: str | None = None
    create_schema: bool = True


class RetryCrashedTrial:
    """Heartbeat-stale trial callback: mark its MLflow run KILLED, then queue its parameters
    again (Optuna's ``RetryHeartbeatStaleTrialCallback``)."""

    def __init__(self, tracking_uri: str | None, max_retry: int | None) -> None:
        self.tracking_uri = tracking_uri
        self.max_retry = max_retry

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        from sweeps.tracking._parent import kill_run

        run_id = trial.user_attrs.get(RUN_ID_ATTR)
        if self.tracking_uri and run_id:
            kill_run(self.tracking_uri, run_id, "the trial's worker stopped sending heartbeats")
        requeue(study, trial, self.max_retry)


def requeue(study: optuna.Study, trial: optuna.trial.FrozenTrial, max_retry: int | None) -> None:
    """Queue the parameters of a lost trial to run again (at most ``max_retry`` times).

    The copy keeps the user attributes except those describing the lost run (its failure
    reason, MLflow run, worker): the new run writes its own.
    """
    fresh = copy.deepcopy(trial)
    fresh.user_attrs = {k: v for k, v in trial.user_attrs.items() if k not in PER_RUN_ATTRS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        callback = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
    callback(study, fresh)


def requeue_interrupted(study: optuna.Study, max_retry: int | None,
                        workers: set[str] | None = None) -> list[int]:
    """Queue again every interrupted trial (FAIL with an "interrupted" reason) that has no
    queued copy yet, optionally only those run by ``workers`` ("host:pid"); returns their
    numbers. Idempotent: the worker that was interrupted calls it for its own trial, and the
    sweep process again once every worker has stopped, in case a worker could not."""
    trials = study.get_trials(deepcopy=False)
    copied = {history[-1] for t in trials if (history := t.system_attrs.get("retry_history"))}
    queued = []
    for trial in trials:
        if (trial.state == TrialState.FAIL and trial.number not in copied
                and not trial.user_attrs.get(SURPLUS_ATTR)
                and str(trial.user_attrs.get(FAIL_REASON_ATTR, "")).startswith("interrupted")
                and (workers is None or trial.user_attrs.get(WORKER_ATTR) in workers)):
            requeue(study, trial, max_retry)
            queued.append(trial.number)
    return queued


def open_storage(spec: StorageSpec) -> BaseStorage:
    """Open (creating tables if needed) the storage, with heartbeats and crash retries.

    Raises:
        ConfigError: the URL cannot be opened (driver missing, server unreachable ...).
    """
    sqlite = spec.url.startswith("sqlite")
    engine_kwargs: dict[str, Any] = {}
    if sqlite:
        db = sqlite_path(spec.url)
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs["connect_args"] = {"timeout": SQLITE_TIMEOUT}
    else:
        # no pool_pre_ping: it pings at every checkout, ~20 a trial (_ping_idle_connections)
        engine_kwargs.update(pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)
        if spec.url.startswith("postgresql"):
            # As SQLite's synchronous=NORMAL below: a commit does not wait for its WAL flush
            # (a server crash may lose the last moment of updates, never consistency; a trial
            # left RUNNING is retried like a crashed one). A sweep commits ~30 times a trial.
            engine_kwargs["connect_args"] = {"options": "-c synchronous_commit=off"}
    heartbeat = spec.heartbeat_interval
    for attempt in range(_OPEN_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                storage = RDBStorage(
                    spec.url,
                    engine_kwargs=engine_kwargs,
                    skip_table_creation=not spec.create_schema,
                    heartbeat_interval=heartbeat,
                    grace_period=spec.grace_period if heartbeat else None,
                    heartbeat_stale_trial_callback=(
                        RetryCrashedTrial(spec.tracking_uri, spec.max_retry) if heartbeat else None
                    ),
                )
            if sqlite:
                _use_wal(storage)
            else:
                _ping_idle_connections(storage.engine)
            return storage
        except ImportError as error:
            raise ConfigError("hydra.sweeper.storage", "a URL whose database driver is "
                              "installed", f"{spec.url} ({error})") from None
        except Exception as error:
            # Processes creating new tables together race (any backend); an unreachable server
            # may be starting. Retry both a few times.
            if attempt == _OPEN_ATTEMPTS - 1:
                raise ConfigError("hydra.sweeper.storage", "a storage that can be opened",
                                  f"{spec.url} ({type(error).__name__}: {error})") from None
            time.sleep(0.05 + random.random() * 0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _ping_idle_connections(engine: Any) -> None:
    """Ping a pooled connection before use only when it sat idle for over
    :data:`PING_AFTER_IDLE` seconds (SQLAlchemy's pessimistic disconnect handling, applied to
    idle connections only).

    A restarted, failed-over or idle-timed-out server leaves the pool's connections dead, and a
    storage call on one would fail (with it a trial). Such a restart takes seconds, so a
    connection checked in less than a second ago needs no ping: the storage calls of a running
    trial (~20, back to back) skip one round trip each, about a sixth of a trial's round trips
    to the server. A failed ping raises ``DisconnectionError``: the pool then opens a new
    connection, as it does for ``pool_pre_ping``.
    """
    import sqlalchemy

    def fresh(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_since", -math.inf) <= PING_AFTER_IDLE:
            return
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
        except Exception as error:
            raise sqlalchemy.exc.DisconnectionError(str(error)) from error

    sqlalchemy.event.listen(engine, "connect", fresh)
    sqlalchemy.event.listen(engine, "checkin", fresh)
    sqlalchemy.event.listen(engine, "checkout", ping_if_idle)


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    # WAL: readers (the sweep's monitor, optuna-dashboard) never block the workers' writes;
    # synchronous=NORMAL: a commit is not an fsync (a power cut may lose the last few updates,
    # never the file's consistency; a trial left RUNNING is then retried like a crashed one).
    dbapi_connection.execute("PRAGMA journal_mode=WAL")
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def _use_wal(storage: RDBStorage) -> None:
    """Apply the pragmas to every connection of ``storage`` (the pool is emptied so that the
    connections Optuna opened while creating the tables are replaced)."""
    import sqlalchemy

    sqlalchemy.event.listen(storage.engine, "connect", _sqlite_pragmas)
    storage.engine.dispose()


def load_or_create_study(
    storage: BaseStorage,
    study_name: str,
    *,
    direction: str,
    metric_name: str | None = None,
) -> optuna.Study:
    """Create the study or load it when it exists (re-running a command resumes it).

    A new study is created quietly (the sweep reports it; Optuna would log "A new study created
    in RDB") and given ``metric_name`` as its objective's name (optuna-dashboard shows it
    instead of "Objective 0").

    Raises:
        ConfigError: the existing study optimizes in the other direction.
    """
    with optuna_verbosity(optuna.logging.WARNING):
        for attempt in range(_OPEN_ATTEMPTS):
            try:
                study = optuna.create_study(storage=storage, study_name=study_name,
                                            direction=StudyDirection[direction.upper()],
                                            load_if_exists=True)
                break
            except optuna.exceptions.DuplicatedStudyError:
                if attempt == _OPEN_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 + random.random() * 0.2)
    existing = study.direction.name.lower()
    if existing != direction:
        raise ConfigError("hydra.sweeper.direction", f"{existing} (study {study_name!r} "
                          f"exists with that direction; set another study_name)", direction)
    if metric_name is not None and study.metric_names is None:
        with warnings.catch_warnings():  # "experimental" since Optuna 3.2, unchanged since
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([metric_name])
    return study


# RUNNING trials this process has seen without any heartbeat: trial id -> time.monotonic() then.
_seen_without_heartbeat: dict[int, float] = {}


def database_time(study: optuna.Study) -> float:
    """Now, in POSIX seconds, by the clock of the study's database: the one clock that every
    machine sharing the study reads alike (this machine's clock for non-RDB storages)."""
    import sqlalchemy

    engine = study_engine(study)
    if engine is None:
        return time.time()
    with engine.connect() as connection:
        now = connection.execute(sqlalchemy.select(sqlalchemy.func.now())).scalar()
    if now is None:  # no database answers NOW() with NULL; read this machine's clock then
        return time.time()
    if now.tzinfo is None:  # SQLite's CURRENT_TIMESTAMP is UTC without a zone
        now = now.replace(tzinfo=datetime.UTC)
    return float(now.timestamp())


def _trials_with_heartbeat(study: optuna.Study, trial_ids: list[int]) -> set[int]:
    """Which of ``trial_ids`` have a row in Optuna's heartbeat table."""
    import sqlalchemy

    engine = study_engine(study)
    if engine is None or not trial_ids:
        return set(trial_ids)  # not an RDB storage: nothing to judge by
    query = sqlalchemy.text("SELECT trial_id FROM trial_heartbeats WHERE trial_id IN :ids")
    query = query.bindparams(sqlalchemy.bindparam("ids", expanding=True))
    with engine.connect() as connection:
        return {row[0] for row in connection.execute(query, {"ids": trial_ids})}


def recover_lost_trials(study: optuna.Study, spec: StorageSpec) -> None:
    """Fail the trials whose worker is gone and queue their parameters again.

    Two kinds: a RUNNING trial whose heartbeat stopped for ``grace_period`` seconds (Optuna's
    ``fail_stale_trials``, which compares the heartbeat with the database's clock, with
    :class:`RetryCrashedTrial` as callback), and a RUNNING trial that never recorded a
    heartbeat (its worker died between Optuna creating the trial and the first heartbeat, which
    follows within milliseconds): it is lost once this process has seen it so for
    ``grace_period`` seconds, measured on this process's monotonic clock (a start time written
    by another machine's clock says nothing here). A no-op without heartbeats.
    """
    if spec.heartbeat_interval is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    grace = spec.grace_period or 2 * spec.heartbeat_interval
    running = {trial_id(t): t for t in study.get_trials(deepcopy=False,
                                                        states=(TrialState.RUNNING,))}
    beating = _trials_with_heartbeat(study, list(running))
    now = time.monotonic()
    for key in list(_seen_without_heartbeat):
        if key not in running or key in beating:
            del _seen_without_heartbeat[key]
    for key, trial in running.items():
        if key in beating:
            continue
        first_seen = _seen_without_heartbeat.setdefault(key, now)
        if now - first_seen <= grace:
            continue
        del _seen_without_heartbeat[key]
        try:
            study.tell(trial.number, state=TrialState.FAIL)
        except (ValueError, RuntimeError):  # another process got there first
            continue
        RetryCrashedTrial(spec.tracking_uri, spec.max_retry)(study, trial)
