"""The study's storage: URLs, resuming, several processes on one SQLite file, crash clean-up."""

from __future__ import annotations

import datetime
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from sweeps.study import (
    StorageSpec,
    count_trials,
    default_storage_url,
    load_or_create_study,
    open_storage,
    resolve_storage_url,
)
from sweeps.study._budget import FAIL_REASON_ATTR, RUN_ID_ATTR, SURPLUS_ATTR, WORKER_ATTR
from sweeps.study._storage import RetryCrashedTrial, recover_lost_trials, requeue_interrupted
from trainer.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_default_url_lives_under_mlruns_of_the_start_dir(tmp_path):
    # the local default sits beside the MLflow store, whatever the working dir of a worker
    assert default_storage_url(tmp_path) == f"sqlite:///{tmp_path}/mlruns/optuna.db"
    assert resolve_storage_url(None, tmp_path) == default_storage_url(tmp_path)


def test_relative_sqlite_resolves_against_start_dir_and_others_pass_through(tmp_path):
    # sqlite:///rel.db is relative to where the command started; server URLs are untouched
    assert resolve_storage_url("sqlite:///db/o.db", tmp_path) == f"sqlite:///{tmp_path}/db/o.db"
    assert resolve_storage_url("sqlite:////abs/o.db", tmp_path) == "sqlite:////abs/o.db"
    url = "postgresql://user:pw@host:5432/optuna"
    assert resolve_storage_url(url, tmp_path) == url
    with pytest.raises(ConfigError, match="hydra.sweeper.storage: expected a SQLAlchemy URL"):
        resolve_storage_url("mlruns/optuna.db", tmp_path)


def test_unusable_url_is_a_one_line_config_error():
    # a driver that is not installed names the key and the URL
    with pytest.raises(ConfigError, match="hydra.sweeper.storage: .*nosuchdriver"):
        open_storage(StorageSpec("mysql+nosuchdriver://u@localhost/db"))


class OperationalError(Exception):
    """Stands for psycopg2's."""


def _refused(message: str) -> Exception:
    """What Optuna raises when the server refuses a connection: SQLAlchemy's OperationalError
    (around the driver's) wrapped in a StorageInternalError."""
    import sqlalchemy.exc

    try:
        try:
            raise sqlalchemy.exc.OperationalError("SELECT 1", {}, OperationalError(message))
        except sqlalchemy.exc.OperationalError as error:
            raise optuna.exceptions.StorageInternalError("An exception is raised during the "
                                                         "commit.") from error
    except optuna.exceptions.StorageInternalError as wrapped:
        return wrapped


def _failing_first(monkeypatch, times: float, message: str) -> list[int]:
    """Optuna's RDBStorage is refused with ``message`` ``times`` times, then opens; returns the
    number of calls."""
    import sweeps.study._storage as storage_module

    real = storage_module.RDBStorage
    calls = [0]

    def opening(*args, **kwargs):
        calls[0] += 1
        if calls[0] <= times:
            raise _refused(message)
        return real(*args, **kwargs)

    monkeypatch.setattr(storage_module, "RDBStorage", opening)
    monkeypatch.setattr(storage_module, "_BACKOFF_FIRST", 0.001)
    return calls


FULL = 'connection to server at "db", port 5432 failed: FATAL:  sorry, too many clients already'


def test_a_full_server_is_waited_for_not_tried_three_times(tmp_path, monkeypatch):
    # sixteen joiners at once fill the server's connection slots: opening waits for a free
    # one (jittered backoff up to a deadline) instead of failing after a few tries
    calls = _failing_first(monkeypatch, 9, FULL)  # one more than the old fixed tries
    study = load_or_create_study(open_storage(StorageSpec(f"sqlite:///{tmp_path}/o.db")), "s",
                                 direction="minimize")
    assert calls[0] == 10 and study.study_name == "s"


def test_a_storage_still_full_at_the_deadline_is_one_line_without_the_password(monkeypatch):
    monkeypatch.setattr("sweeps.study._storage.OPEN_DEADLINE", 0.3)
    calls = _failing_first(monkeypatch, float("inf"), FULL)
    url = "postgresql+psycopg2://sweeper:s3cr3t-pw@db:5432/optuna"
    with pytest.raises(ConfigError) as raised:
        open_storage(StorageSpec(url, create_schema=False))  # no server: Optuna's open fails
    message = str(raised.value)
    assert "\n" not in message and "s3cr3t" not in message
    assert message.startswith("hydra.sweeper.storage: expected a storage that can be opened, "
                              "got 'postgresql+psycopg2://sweeper:***@db:5432/optuna "
                              "(OperationalError: ")  # the driver's words, not Optuna's
    assert "too many clients already; tried" in message and calls[0] > 3


def test_a_wrong_password_is_told_at_once(monkeypatch):
    # waiting cannot cure it: one try, one line, no password
    calls = _failing_first(monkeypatch, 1, 'connection to server at "db", port 5432 failed: '
                           'FATAL:  password authentication failed for user "sweeper"')
    with pytest.raises(ConfigError, match="password authentication failed") as raised:
        open_storage(StorageSpec("postgresql+psycopg2://sweeper:wrong-pw@db/optuna",
                                 create_schema=False))
    assert calls[0] == 1 and "wrong-pw" not in str(raised.value)


def test_a_url_sqlalchemy_cannot_parse_is_not_quoted_with_its_password():
    # SQLAlchemy's own message quotes the whole URL
    with pytest.raises(ConfigError) as raised:
        open_storage(StorageSpec("postgresql+psycopg2://sweeper:s3cr3t-pw@db:port/optuna"))
    assert "s3cr3t" not in str(raised.value) and "sweeper:***@db" in str(raised.value)


def test_same_name_resumes_and_direction_must_match(tmp_path):
    # load_if_exists: a second open sees the first's trials; a flipped direction is refused
    spec = StorageSpec(f"sqlite:///{tmp_path}/o.db")
    study = load_or_create_study(open_storage(spec), "s", direction="minimize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    again = load_or_create_study(open_storage(spec), "s", direction="minimize")
    assert len(again.trials) == 2
    with pytest.raises(ConfigError, match="hydra.sweeper.direction: expected minimize"):
        load_or_create_study(open_storage(spec), "s", direction="maximize")


def test_sqlite_file_uses_wal(tmp_path):
    # WAL lets the monitor and optuna-dashboard read while workers write
    spec = StorageSpec(f"sqlite:///{tmp_path}/o.db")
    load_or_create_study(open_storage(spec), "s", direction="minimize")
    with sqlite3.connect(tmp_path / "o.db") as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.slow  # opens an MLflow store
def test_crashed_trial_run_is_killed_and_params_requeued(tmp_path, store_uri):
    # the heartbeat-stale callback ends the trial's MLflow run KILLED and queues its params
    from runkit.mlflow import RunTracker, get_client, get_or_create_experiment

    experiment = get_or_create_experiment(store_uri, "sweep-storage-test")
    run = RunTracker.start(store_uri, experiment, run_name="lost trial",
                           tags={"optuna.trial_number": "0"})
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/o.db")
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    trial.set_user_attr(RUN_ID_ATTR, run.run_id)
    study.tell(trial, state=TrialState.FAIL)  # what fail_stale_trials does first

    RetryCrashedTrial(store_uri, max_retry=3)(study, study.trials[0])

    info = get_client(store_uri).get_run(run.run_id)
    assert info.info.status == "KILLED"
    assert info.data.tags["optuna.trial_state"] == "FAIL"
    assert "heartbeats" in info.data.tags["failure_reason"]
    waiting = study.trials[1]
    assert waiting.state == TrialState.WAITING and waiting.params == study.trials[0].params
    run._ended = True  # already terminated above; keep the atexit hook from touching it


@pytest.mark.slow  # opens an MLflow store
def test_a_crashed_trials_run_ended_by_the_stores_housekeeping_still_gets_its_state(tmp_path,
                                                                                   store_uri):
    # the next command on the store may end the dead worker's run first (its process is gone):
    # the crash recovery still tags the run with its trial's state
    from runkit.mlflow import end_killed, get_client, get_or_create_experiment

    client = get_client(store_uri)
    experiment = get_or_create_experiment(store_uri, "sweep-storage-test")
    run_id = client.create_run(experiment, tags={"optuna.trial_number": "0"}).info.run_id
    end_killed(client, run_id, "its process (pid 1 on elsewhere) ended without ending the run")
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/o.db")
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    trial.set_user_attr(RUN_ID_ATTR, run_id)
    study.tell(trial, state=TrialState.FAIL)

    RetryCrashedTrial(store_uri, max_retry=3)(study, study.trials[0])

    info = client.get_run(run_id)
    assert info.info.status == "KILLED"
    assert info.data.tags["optuna.trial_state"] == "FAIL"
    assert info.data.tags["failure_reason"].startswith("its process")  # the first reason stays


def _failed_trial(study, worker, reason, **attrs):
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    for key, value in {WORKER_ATTR: worker, FAIL_REASON_ATTR: reason, **attrs}.items():
        trial.set_user_attr(key, value)
    study.tell(trial, state=TrialState.FAIL)
    return trial.number


def test_interrupted_trials_of_given_workers_are_queued_once():
    # the worker and then the sweep process may both repair an interrupt: one copy each
    study = optuna.create_study()
    mine = _failed_trial(study, "h:1", "interrupted (Ctrl-C or SIGTERM)")
    _failed_trial(study, "h:2", "interrupted (Ctrl-C or SIGTERM)")  # another sweep's worker
    _failed_trial(study, "h:1", "ValueError: bad")  # a real failure stays failed
    _failed_trial(study, "h:1", "interrupted", **{SURPLUS_ATTR: True})

    assert requeue_interrupted(study, max_retry=3, workers={"h:1"}) == [mine]
    assert requeue_interrupted(study, max_retry=3, workers={"h:1"}) == []
    waiting = [t for t in study.get_trials() if t.state == TrialState.WAITING]
    assert len(waiting) == 1
    assert waiting[0].system_attrs["failed_trial"] == mine
    assert waiting[0].params == study.trials[mine].params
    assert FAIL_REASON_ATTR not in waiting[0].user_attrs


WORKER_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path[:0] = [{repo!r}, {tests!r}]
    from sweep_fakes import FakeJob
    from sweeps.search import parse_search_space
    from sweeps.study import StorageSpec, load_or_create_study, open_storage
    from sweeps.workers import WorkerPlan, run_worker
    from pathlib import Path
    ready = Path({ready!r})
    (ready / sys.argv[1]).touch()
    while len(list(ready.iterdir())) < {n_processes}:  # all open the fresh database at once
        time.sleep(0.001)
    spec = StorageSpec({url!r}, heartbeat_interval=1, grace_period=10)
    load_or_create_study(open_storage(spec), "shared", direction="minimize")
    plan = WorkerPlan("shared", spec, "random", "none", int(sys.argv[1]),
                      parse_search_space({{"x": "interval(0, 1)"}}), {n_trials}, "val_loss",
                      poll_interval=0.2)
    run_worker(plan, FakeJob(epochs=3, epoch_seconds=0.02), int(sys.argv[1]))
""")


def _share_a_fresh_study(url: str, n_trials: int, n_processes: int, ready: Path) -> None:
    """``n_processes`` processes create the same study on a fresh ``url`` at one moment and
    run it; each must succeed, and exactly ``n_trials`` finish, on more than one process."""
    ready.mkdir()
    script = WORKER_SCRIPT.format(repo=str(REPO), tests=str(Path(__file__).parent), url=url,
                                  n_trials=n_trials, ready=str(ready), n_processes=n_processes)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(i)], stderr=subprocess.PIPE,
                              text=True) for i in range(n_processes)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * n_processes, errors
    assert [e for e in errors if e.strip()] == []  # no retry or warning printed
    trials = optuna.load_study(study_name="shared", storage=url).get_trials()
    budget = count_trials(trials, n_trials)
    assert budget.finished == n_trials == budget.complete
    assert budget.running == budget.waiting == 0
    workers = {t.user_attrs.get(WORKER_ATTR) for t in trials if t.state == TrialState.COMPLETE}
    assert len(workers) >= 2  # the processes really shared the study


@pytest.mark.slow
def test_processes_sharing_a_fresh_sqlite_file_run_exactly_n_trials(tmp_path):
    # three processes create the same new file and study at once and share its budget:
    # nobody fails on a locked or half-created database, and exactly n_trials finish
    _share_a_fresh_study(f"sqlite:///{tmp_path}/o.db", n_trials=12, n_processes=3,
                         ready=tmp_path / "ready")


@pytest.mark.slow
def test_processes_opening_a_fresh_postgresql_database_at_once_run_exactly_n_trials(
        fresh_pg_database, tmp_path):
    # eight processes creating Optuna's tables and one study on a new PostgreSQL database at
    # the same moment would collide (Optuna #1092: pg_type_typname_nsp_index): one creates
    # them under an advisory lock while the others wait, so none fails and nothing is printed
    _share_a_fresh_study(fresh_pg_database, n_trials=8, n_processes=8, ready=tmp_path / "ready")


@pytest.mark.slow
def test_a_restarted_database_server_costs_no_storage_call(fresh_pg_database, monkeypatch):
    # The server closing every connection (a restart, a fail-over, an idle timeout) leaves the
    # pool's connections dead; one idle for over PING_AFTER_IDLE is pinged before use and
    # replaced, so the next storage calls succeed instead of failing a trial.
    import sqlalchemy

    from sweeps.study import _storage

    monkeypatch.setattr(_storage, "PING_AFTER_IDLE", 0.2)
    storage = open_storage(StorageSpec(fresh_pg_database, heartbeat_interval=None))
    study = load_or_create_study(storage, "restart", direction="minimize")
    study.tell(study.ask(), 1.0)

    admin = sqlalchemy.create_engine(fresh_pg_database)
    with admin.connect() as connection:
        ended = connection.execute(sqlalchemy.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
    admin.dispose()
    assert ended >= 1  # the storage's pooled connection was among them

    time.sleep(0.5)
    study.tell(study.ask(), 2.0)
    assert [t.value for t in study.get_trials()] == [1.0, 2.0]
    storage.engine.dispose()


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # the test asks outside optimize
def test_lost_trials_are_judged_by_the_database_clock_not_by_start_times(tmp_path):
    # start times written by a machine whose clock is an hour behind fail no live trial; a
    # trial that never sent a heartbeat is failed (and re-queued) once seen so for grace_period
    import sqlalchemy

    spec = StorageSpec(url=f"sqlite:///{tmp_path}/o.db", heartbeat_interval=1, grace_period=1)
    storage = open_storage(spec)
    study = load_or_create_study(storage, "skew", direction="minimize")
    live, silent = study.ask(), study.ask()
    for trial in (live, silent):
        trial.suggest_float("x", 0, 1)
    skewed = datetime.datetime.now() - datetime.timedelta(hours=1)
    with storage.engine.begin() as connection:
        connection.execute(sqlalchemy.text("UPDATE trials SET datetime_start = :t"), {"t": skewed})
    storage.record_heartbeat(live._trial_id)

    recover_lost_trials(study, spec)
    assert [t.state for t in study.get_trials()] == [TrialState.RUNNING, TrialState.RUNNING]
    time.sleep(1.5)
    storage.record_heartbeat(live._trial_id)
    recover_lost_trials(study, spec)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.RUNNING, TrialState.FAIL, TrialState.WAITING]
    assert trials[2].params == trials[1].params
