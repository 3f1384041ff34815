"""One study shared by workers that share no files: PostgreSQL for the study, an MLflow tracking
server for the runs, Hydra's launchers (submitit) for placing the workers.

Each test starts the real command, as a user on a cluster would, in start directories of its
own, with tiny trials. The services come from ``.ci/services.sh`` (see ``conftest.py``); each
test uses its own study and MLflow experiment on them.
"""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState
from test_sweep_cli import run, start, wait_for

from sweeps.study import count_trials
from sweeps.study._budget import PARENT_RUN_ATTR, RUN_ID_ATTR, SURPLUS_ATTR, WORKER_ATTR

pytestmark = pytest.mark.slow
optuna.logging.set_verbosity(optuna.logging.WARNING)

TINY = ["hydra/sweeper=optuna", "model.hidden=[16]", "epochs=3", "hydra.sweeper.pruner=none",
        "optimizer.lr=tag(log, interval(1e-3, 1e-1))", "hydra.sweeper.heartbeat_interval=1",
        "hydra.sweeper.grace_period=3", "progress=none"]
# Trials that train for about a second, so that a test can stop a worker mid-trial.
SLOW_TRIALS = ["batch_size=1", "epochs=25", "early_stopping.enabled=false"]


def shared_stores(pg_url: str, server: str, name: str) -> list[str]:
    """The two URLs a worker needs, and the study's and experiment's name."""
    return [f"hydra.sweeper.storage={pg_url}", f"hydra.sweeper.study_name={name}",
            f"mlflow.tracking_uri={server}", f"mlflow.experiment={name}"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def server_runs(server: str, experiment: str) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(server)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment!r} on the server"
    return list(client.search_runs([found.experiment_id], max_results=1000))


def no_local_stores(*dirs: Path) -> None:
    # everything went to the two servers: no SQLite study or MLflow store was written
    for directory in dirs:
        assert not list(directory.rglob("*.db")), list(directory.rglob("*.db"))


def check_study_and_runs(pg_url: str, server: str, name: str, n_trials: int
                         ) -> tuple[list, list, list]:
    """Exactly ``n_trials`` finished, nothing RUNNING anywhere, every trial that ran has its
    run on the server, and every child run's parent is a parent run of the study. Returns the
    trials, the parent runs and the child runs."""
    study = optuna.load_study(study_name=name, storage=pg_url)
    trials = study.get_trials()
    budget = count_trials(trials, n_trials)
    assert budget.finished == n_trials and budget.running == budget.waiting == 0, budget
    runs = server_runs(server, name)
    assert [r.info.run_name for r in runs if r.info.status == "RUNNING"] == []
    parents = [r for r in runs if r.data.tags.get("sweep.role") == "parent"]
    children = [r for r in runs if r.data.tags.get("sweep.role") != "parent"]
    parent_ids = {r.info.run_id for r in parents}
    if parents:  # a controller made them: every trial run is the child of one
        assert all(r.data.tags.get("mlflow.parentRunId") in parent_ids for r in children)
    child_ids = {r.info.run_id for r in children}
    ran = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
           and not t.user_attrs.get(SURPLUS_ATTR)]
    assert ran and all(t.user_attrs[RUN_ID_ATTR] in child_ids for t in ran)
    return trials, parents, children


def workers_of(trials: list) -> set[str]:
    return {t.user_attrs[WORKER_ATTR] for t in trials
            if t.state == TrialState.COMPLETE and WORKER_ATTR in t.user_attrs}


# --------------------------------------------------------------------------- two machines


def test_two_sweeps_with_no_shared_files_share_one_study_and_one_mlflow_server(
        tmp_path, pg_url, mlflow_server, monkeypatch):
    # two "machines" (start directories with nothing in common) run the same sweep on one
    # PostgreSQL study and one MLflow server: together exactly n_trials, each did some, every
    # run is on the server with its parent, and a trial's model loads through the server
    name, n_trials = unique("two-machines"), 6
    dirs = [tmp_path / "machine-a", tmp_path / "machine-b"]
    args = [*TINY, *shared_stores(pg_url, mlflow_server, name), "epochs=6",
            f"hydra.sweeper.n_trials={n_trials}", "hydra.sweeper.n_jobs=1"]
    procs = []
    for directory in dirs:
        directory.mkdir()
        procs.append(start(directory, *args))
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-3000:] for _, err in results]

    trials, parents, children = check_study_and_runs(pg_url, mlflow_server, name, n_trials)
    assert len(workers_of(trials)) == 2  # both machines ran trials
    assert sorted(r.info.status for r in parents) == ["FINISHED", "FINISHED"]
    study = optuna.load_study(study_name=name, storage=pg_url)
    assert study.user_attrs[PARENT_RUN_ATTR] in {r.info.run_id for r in parents}
    no_local_stores(*dirs)

    import mlflow

    # Through the environment, as a user would, never MLflow's process-wide global: a global
    # left set would send every later test's models:/ and runs:/ look-ups to this server.
    monkeypatch.setattr("mlflow.tracking._tracking_service.utils._tracking_uri", None)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    best = study.best_trial.user_attrs[RUN_ID_ATTR]
    run_name = mlflow.MlflowClient(mlflow_server).get_run(best).info.run_name
    model = mlflow.pyfunc.load_model(f"runs:/{best}/{run_name}")  # a model is named after its run
    columns = model.metadata.get_input_schema().input_names()
    predictions = np.asarray(model.predict(pd.DataFrame(np.zeros((3, 64), np.int64),
                                                        columns=columns)))
    assert predictions.shape[0] == 3


# --------------------------------------------------------------------------- launchers


def test_a_killed_and_a_preempted_worker_lose_only_their_trials(tmp_path, pg_url, mlflow_server):
    # SIGKILL of one launched worker mid-trial: the other fails that trial once its heartbeat
    # is stale and runs its parameters again. Then submitit's preemption signal (SIGUSR2) to
    # the other: its trial ends interrupted at once and is queued again, and submitit requeues
    # the job, whose fresh worker finishes the study. Exactly n_trials, the lost trials' runs
    # KILLED, nothing RUNNING, and the sweep ends FINISHED whatever submitit says of its jobs
    name, n_trials = unique("lost-workers"), 4
    proc = start(tmp_path, *TINY, *SLOW_TRIALS, *shared_stores(pg_url, mlflow_server, name),
                 "hydra/launcher=submitit_local", f"hydra.sweeper.n_trials={n_trials}",
                 "hydra.sweeper.n_jobs=2", "mlflow.log_model=false")
    found: list[optuna.trial.FrozenTrial] = []

    def a_trial_trains(*, besides: str | None = None) -> bool:
        trials = optuna.load_study(study_name=name, storage=pg_url).get_trials()
        found[:] = [t for t in trials if t.state == TrialState.RUNNING
                    and RUN_ID_ATTR in t.user_attrs and t.user_attrs[WORKER_ATTR] != besides][:1]
        return bool(found)

    def pid(trial: optuna.trial.FrozenTrial) -> int:
        return int(trial.user_attrs[WORKER_ATTR].rsplit(":", 1)[1])

    wait_for(proc, a_trial_trains, timeout=180, every=0.5)
    [killed] = found
    os.kill(pid(killed), signal.SIGKILL)
    wait_for(proc, lambda: a_trial_trains(besides=killed.user_attrs[WORKER_ATTR]), timeout=120,
             every=0.5)
    [preempted] = found
    os.kill(pid(preempted), signal.SIGUSR2)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]

    trials, parents, children = check_study_and_runs(pg_url, mlflow_server, name, n_trials)
    assert trials[preempted.number].user_attrs["fail_reason"].startswith("interrupted")
    runs = {r.info.run_id: r for r in children}
    for lost in (killed, preempted):
        assert trials[lost.number].state == TrialState.FAIL
        again = [t for t in trials if t.system_attrs.get("failed_trial") == lost.number]
        assert len(again) == 1 and again[0].params == lost.params
        assert again[0].state == TrialState.COMPLETE
        assert runs[lost.user_attrs[RUN_ID_ATTR]].info.status == "KILLED"
    assert [r.info.status for r in parents] == ["FINISHED"]


def test_sqlite_with_a_launcher_that_places_work_elsewhere_is_one_line(tmp_path):
    # a SLURM job cannot reach this machine's SQLite file: refused before anything starts
    done = run(tmp_path, *TINY, "hydra/launcher=submitit_slurm", timeout=120)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: hydra.sweeper.storage: expected a database server URL")
    assert not list(tmp_path.rglob(".submitit"))


# --------------------------------------------------------------------------- joining workers


def test_workers_join_a_fresh_database_at_once_and_run_exactly_n_trials(
        tmp_path, fresh_pg_database, mlflow_server):
    # hydra.sweeper.role=worker: two copies of one command, no controller, started together
    # on an empty database (Optuna #1092 would crash one): both finish, exactly n_trials
    name, n_trials = unique("joiners"), 6
    args = [*TINY, *shared_stores(fresh_pg_database, mlflow_server, name), "epochs=8",
            "hydra.sweeper.role=worker", f"hydra.sweeper.n_trials={n_trials}",
            "mlflow.log_model=false"]
    dirs = [tmp_path / "a", tmp_path / "b"]
    for directory in dirs:
        directory.mkdir()
    procs = [start(d, *args) for d in dirs]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-3000:] for _, err in results]
    trials, parents, children = check_study_and_runs(fresh_pg_database, mlflow_server, name,
                                                     n_trials)
    assert parents == []  # no controller: trial runs are top-level, tagged with the study
    assert all("mlflow.parentRunId" not in r.data.tags for r in children)
    assert all(r.data.tags["optuna.study_name"] == name for r in children)
    assert len(workers_of(trials)) == 2
    no_local_stores(*dirs)


def test_a_joining_worker_with_a_launcher_is_one_line(tmp_path, pg_url):
    done = run(tmp_path, *TINY, f"hydra.sweeper.storage={pg_url}", "hydra.sweeper.role=worker",
               "hydra/launcher=submitit_local", timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("error: hydra.sweeper.role:")


# --------------------------------------------------------------------------- the password


def _texts_of(directory: Path) -> dict[str, bytes]:
    # submitit's pickled jobs hold the URL: the launched workers need it
    return {str(p): p.read_bytes() for p in directory.rglob("*")
            if p.is_file() and not (".submitit" in p.parts and p.suffix == ".pkl")}


def test_no_output_of_a_postgresql_sweep_holds_the_database_password(
        tmp_path, pg_url, mlflow_server):
    # On a cluster, job logs are often readable by others: the password of
    # hydra.sweeper.storage is in none of the command's outputs, Hydra's files, MLflow (tags,
    # params and artifacts of the parent and trial runs) or the study's and trials' attributes;
    # a controller (two worker processes), a joining worker and a controller whose workers are
    # submitit jobs run on the study
    from mlflow import MlflowClient
    from sqlalchemy.engine import make_url

    password = make_url(pg_url).password
    assert password and password not in make_url(pg_url).username, "needs a distinct password"
    name, n_trials = unique("password"), 4
    args = [*TINY, *shared_stores(pg_url, mlflow_server, name), "mlflow.log_model=false",
            "hydra.sweeper.n_jobs=2"]
    outputs: dict[str, bytes] = {}
    for directory, extra in (
            (tmp_path / "controller", [f"hydra.sweeper.n_trials={n_trials}"]),
            (tmp_path / "joiner", ["hydra.sweeper.role=worker",
                                   f"hydra.sweeper.n_trials={n_trials + 2}"]),
            (tmp_path / "launched", ["hydra/launcher=submitit_local",
                                     f"hydra.sweeper.n_trials={n_trials + 4}"])):
        directory.mkdir()
        done = run(directory, *args, *extra, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        outputs[f"{directory.name} stdout"] = done.stdout.encode()
        outputs[f"{directory.name} stderr"] = done.stderr.encode()
        outputs.update(_texts_of(directory))  # multirun.yaml, .hydra/*.yaml, the jobs' logs
    assert any(path.endswith("hydra.yaml") for path in outputs)
    assert any(b"storage: postgresql" in text for text in outputs.values())  # redacted there

    client = MlflowClient(mlflow_server)
    runs = server_runs(mlflow_server, name)
    assert len(runs) >= n_trials + 4 + 2
    artifacts = tmp_path / "artifacts"
    for found in runs:
        outputs[f"run {found.info.run_id}"] = repr((found.data.tags, found.data.params)).encode()
        client.download_artifacts(found.info.run_id, "", str(artifacts / found.info.run_id))
    outputs.update(_texts_of(artifacts))
    study = optuna.load_study(study_name=name, storage=pg_url)
    storage = optuna.storages.RDBStorage(pg_url)
    outputs["study"] = repr((study.user_attrs, storage.get_study_system_attrs(study._study_id),
                             [(t.user_attrs, t.system_attrs) for t in study.trials])).encode()
    storage.engine.dispose()
    leaks = [where for where, text in outputs.items() if password.encode() in text]
    assert leaks == []


def test_a_storage_that_cannot_be_opened_is_one_line_without_its_password(tmp_path, pg_url):
    # a database that does not exist on a server that answers: told at once, in one line,
    # with the URL as `user:***@`
    from sqlalchemy.engine import make_url

    url = make_url(pg_url)
    wrong = url.set(database="no_such_database").render_as_string(hide_password=False)
    done = run(tmp_path, *TINY, f"hydra.sweeper.storage={wrong}", timeout=120)
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: hydra.sweeper.storage: expected a storage that can be "
                           f"opened, got 'postgresql+psycopg2://{url.username}:***@")
    assert 'database "no_such_database" does not exist' in line
    assert url.password not in done.stderr + done.stdout
