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
workers start, the workers then skip that step, and on PostgreSQL the processes that find no
tables create them one at a time, under an advisory lock (the others wait, then find them).

Any number of processes may start together (an sbatch array of joiners): opening waits out
contention, not a fixed number of tries. A full server ("too many clients", "remaining connection
slots are reserved"), a deadlock, a lock or a duplicate row of a concurrent creation is retried
with jittered exponential backoff until ``OPEN_DEADLINE`` seconds have passed; a server that does
not answer is retried for a few seconds (it may be restarting); a wrong password, host, database
or driver is told at once. A process that still cannot open the study says so in one line, with
the URL's password hidden, as everywhere (``runkit.redact``).

A database server is shared by many processes: each one keeps at most
``POOL_SIZE + POOL_OVERFLOW`` connections (its trial loop and Optuna's heartbeat thread), and
checks a pooled connection before use so that a restarted server costs a reconnect, not a trial.

Whether a trial's worker is gone is judged by the database's clock alone: Optuna compares its
heartbeat rows with the database's ``now()``, and a trial that never recorded a heartbeat is
judged by how long this process has seen it so, never by comparing this machine's clock with a
start time another machine wrote.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import math
import random
import time
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.storages import BaseStorage, RDBStorage
from optuna.study import StudyDirection
from optuna.trial import TrialState

from runkit._private_apis import study_engine, trial_id
from runkit.errors import ConfigError
from runkit.redact import redact_url, scrub
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
    "open_study",
    "recover_lost_trials",
    "requeue",
    "requeue_interrupted",
    "resolve_storage_url",
    "storage_error",
]

DEFAULT_STORAGE_FILE = "mlruns/optuna.db"
SQLITE_TIMEOUT = 60.0  # seconds a connection waits for another process's write lock
POOL_SIZE = 2  # connections a process keeps to a database server (trial loop, heartbeat thread)
POOL_OVERFLOW = 1  # and may open beyond them for a moment (the sweep's monitor thread)
# A pooled database-server connection idle for longer is pinged before use (seconds).
PING_AFTER_IDLE = 1.0
# Seconds opening a storage or a study waits out contention (a full server, concurrent creation).
OPEN_DEADLINE = 300.0
_QUICK_TRIES = 8  # tries, over a few seconds, for a server that does not answer (restarting?)
_BACKOFF_FIRST, _BACKOFF_CAP = 0.1, 5.0  # seconds: exponential backoff with full jitter
# The advisory lock the processes creating Optuna's tables on one PostgreSQL database take.
_SCHEMA_LOCK = zlib.crc32(b"sweeps: creating Optuna's tables")

# Errors that contention causes and time cures: SQLSTATEs and words of server messages.
_CONTENTION_CODES = frozenset({
    "40001", "40P01",  # serialization failure, deadlock
    "23505", "42P07", "42710",  # duplicate row, table or object of a concurrent creation
    "53300", "53000", "57P03", "55P03",  # too many connections, resources, starting up, lock
})
_CONTENTION_WORDS = (
    "too many clients", "too many connections", "connection slots are reserved",
    "the database system is starting up", "deadlock detected", "could not serialize",
    "duplicate key value", "already exists", "database is locked", "could not obtain lock",
)
# Errors no wait cures: a wrong password, user, database, host or URL, a missing driver.
_PERMANENT_WORDS = (
    "authentication failed", "does not exist", "could not translate host name",
    "name or service not known", "no pg_hba.conf entry", "invalid dsn", "permission denied",
    "no longer compatible",  # a schema of another Optuna version
)
_T = TypeVar("_T")


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
                          "sqlite:///mlruns/optuna.db or postgresql://user@host/db",
                          redact_url(url))
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


def _errors(error: BaseException) -> Iterator[BaseException]:
    """``error`` and its causes (Optuna's StorageInternalError wraps SQLAlchemy's, which wraps
    the driver's)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _kind(error: BaseException) -> str:
    """``contention`` (retried until the deadline), ``permanent`` (not retried) or ``other``
    (a server that does not answer, anything unknown: retried a few times)."""
    import sqlalchemy.exc

    chain = list(_errors(error))
    if any(isinstance(e, ImportError | ValueError | sqlalchemy.exc.ArgumentError)
           for e in chain):
        return "permanent"
    words = " ".join(str(e) for e in chain).lower()
    codes = {getattr(e, attr, None) for e in chain for attr in ("pgcode", "sqlstate")}
    if any(isinstance(e, optuna.exceptions.DuplicatedStudyError) for e in chain) or (
            codes & _CONTENTION_CODES or any(w in words for w in _CONTENTION_WORDS)):
        return "contention"
    if any(w in words for w in _PERMANENT_WORDS):
        return "permanent"
    return "other"


def _describe(error: BaseException, url: str) -> str:
    """The most telling error of the chain, in one line, its password hidden: the driver's
    words rather than Optuna's "An exception is raised during the commit"."""
    import sqlalchemy.exc

    chain = list(_errors(error))
    telling = next((e for e in chain if isinstance(e, sqlalchemy.exc.DBAPIError)), chain[0])
    if isinstance(telling, sqlalchemy.exc.DBAPIError) and telling.orig is not None:
        telling = telling.orig
    lines = [line.strip() for line in str(telling).splitlines() if line.strip()]
    said = "; ".join(line.rstrip(".") for line in lines[:2]) or type(telling).__name__
    return scrub(f"{type(telling).__name__}: {said}", url)


def _with_retries(url: str, attempt: Callable[[float], _T]) -> _T:
    """``attempt(deadline)``, tried again as long as its error is one that waiting cures (see
    :func:`_kind`), with exponential backoff and full jitter so that processes started together
    spread out.

    Raises:
        ConfigError: one line naming ``hydra.sweeper.storage``, the URL without its password and
            the last error.
    """
    started = time.monotonic()
    deadline = started + OPEN_DEADLINE
    tries = 0
    while True:
        try:
            return attempt(deadline)
        except Exception as error:
            tries += 1
            kind = _kind(error)
            now = time.monotonic()
            if (kind == "permanent" or (kind == "other" and tries >= _QUICK_TRIES)
                    or now >= deadline):
                detail = _describe(error, url)
                if kind != "permanent" and tries > 1:
                    detail += f"; tried {tries} times in {now - started:.0f} s"
                raise ConfigError("hydra.sweeper.storage", "a storage that can be opened",
                                  f"{redact_url(url)} ({detail})") from None
            backoff = min(_BACKOFF_CAP, _BACKOFF_FIRST * 2 ** min(tries, 16))
            time.sleep(min(random.uniform(0.2 * backoff, backoff), max(0.0, deadline - now)))


@contextlib.contextmanager
def _creating_tables(url: str, connect_args: dict[str, Any], create: bool,
                     deadline: float) -> Iterator[bool]:
    """Yields whether the tables still need creating. On PostgreSQL, a process that finds no
    tables creates them holding an advisory lock: creators go one at a time (Optuna #1092) and
    the next finds them made. Elsewhere it only yields ``create``."""
    if not (create and url.startswith("postgresql")):
        yield create
        return
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    engine = sqlalchemy.create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT",
                                      connect_args=connect_args)

    def made(connection: Any) -> bool:  # Optuna stamps alembic_version last
        if not connection.execute(sqlalchemy.text(
                "SELECT to_regclass('alembic_version') IS NOT NULL")).scalar():
            return False
        return bool(connection.execute(sqlalchemy.text(
            "SELECT EXISTS (SELECT 1 FROM alembic_version)")).scalar())

    try:
        with engine.connect() as connection:
            ready = made(connection)
        if ready:  # the usual case: no lock, and the connection is back before Optuna's open
            yield False
            return
        with engine.connect() as connection:
            lock = sqlalchemy.text("SELECT pg_try_advisory_lock(:key)")
            while not connection.execute(lock, {"key": _SCHEMA_LOCK}).scalar():
                if time.monotonic() >= deadline:
                    raise TimeoutError("another process kept creating Optuna's tables")
                time.sleep(random.uniform(0.05, 0.25))
            try:
                yield not made(connection)
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"),
                                   {"key": _SCHEMA_LOCK})
    finally:
        engine.dispose()


def open_storage(spec: StorageSpec) -> BaseStorage:
    """Open (creating tables if needed) the storage, with heartbeats and crash retries.

    Raises:
        ConfigError: the URL cannot be opened (driver missing, server unreachable, full for
            ``OPEN_DEADLINE`` seconds ...), in one line without the URL's password.
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

    def attempt(deadline: float) -> BaseStorage:
        with _creating_tables(spec.url, engine_kwargs.get("connect_args", {}),
                              spec.create_schema, deadline) as create, \
                warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            storage = RDBStorage(
                spec.url,
                engine_kwargs=engine_kwargs,
                skip_table_creation=not create,
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

    return _with_retries(spec.url, attempt)


def storage_error(error: BaseException, url: str) -> ConfigError | None:
    """A storage call that failed once the study was open (the server went away, or is full
    and a new connection was refused) as one line naming ``hydra.sweeper.storage``, without the
    URL's password; None for an error that is not the storage's."""
    import sqlalchemy.exc

    failures = (optuna.exceptions.StorageInternalError, sqlalchemy.exc.SQLAlchemyError)
    if not any(isinstance(e, failures) for e in _errors(error)):
        return None
    return ConfigError("hydra.sweeper.storage", "a storage that stays reachable",
                       f"{redact_url(url)} ({_describe(error, url)})")


def open_study(spec: StorageSpec, study_name: str, storage: BaseStorage | None = None
               ) -> optuna.Study:
    """Load the existing study ``study_name`` (a worker's start) from ``storage``, or from the
    storage of ``spec`` opened here, waiting out contention as :func:`open_storage` does."""
    opened = open_storage(spec) if storage is None else storage
    return _with_retries(spec.url, lambda deadline: optuna.load_study(study_name=study_name,
                                                                      storage=opened))


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
    direction: str | Sequence[str],
    metric_name: str | Sequence[str] | None = None,
) -> optuna.Study:
    """Create the study or load it when it exists (re-running a command resumes it).

    ``direction`` is one direction or one per objective (a multi-objective study); a new study
    is created quietly (the sweep reports it; Optuna would log "A new study created in RDB")
    and given ``metric_name`` as its objectives' names (optuna-dashboard shows them instead of
    "Objective 0"), one per direction.

    Raises:
        ConfigError: the existing study optimizes in other directions.
    """
    directions = [direction] if isinstance(direction, str) else list(direction)
    url = str(getattr(storage, "url", ""))
    with optuna_verbosity(optuna.logging.WARNING):
        # Several processes creating it at once: one wins, the others load it (DuplicatedStudy-
        # Error while the winner commits, or a full server, is waited out).
        study = _with_retries(url, lambda deadline: optuna.create_study(
            storage=storage, study_name=study_name,
            directions=[StudyDirection[d.upper()] for d in directions], load_if_exists=True))
    existing = [d.name.lower() for d in study.directions]
    if existing != directions:
        shown = existing[0] if len(existing) == 1 else f"[{', '.join(existing)}]"
        given = directions[0] if len(directions) == 1 else directions
        raise ConfigError("hydra.sweeper.direction", f"{shown} (study {study_name!r} "
                          f"exists with that direction; set another study_name)", given)
    names = [metric_name] if isinstance(metric_name, str) else metric_name
    if names is not None and study.metric_names is None:
        with warnings.catch_warnings():  # "experimental" since Optuna 3.2, unchanged since
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([str(n) for n in names])
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
