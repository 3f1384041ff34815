"""README.md's "Run on many machines" set-up, run as written (read from README.md by
``readme_commands``): recipe 1 creates a PostgreSQL role and two databases, recipe 2 starts
the MLflow tracking server on one of them, and "Sharing a study" runs two copies of one sweep
command on the other, through that server. Hosts, passwords, names of the role and databases
(this test's own, on the machine's PostgreSQL), ports and sizes are substituted.

The README says ``sudo -u postgres``: where sudo is not installed (the tests run as root), a
stand-in on PATH runs the same command with ``runuser -u postgres``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import optuna
import pytest
from readme_commands import commands, free_port, run_shell, serving, shell_env
from sqlalchemy.engine import make_url

from sweeps.study import count_trials
from sweeps.study._budget import RUN_ID_ATTR

pytestmark = pytest.mark.slow
optuna.logging.set_verbosity(optuna.logging.WARNING)

SUDO_STAND_IN = """#!/bin/sh
# sudo -u USER COMMAND...: this machine has no sudo; the tests run as root
[ "$1" = -u ] || { echo "this stand-in takes sudo -u USER COMMAND only" >&2; exit 2; }
user=$2; shift 2
exec runuser -u "$user" -- "$@"
"""


def as_postgres(sql: str) -> None:
    root = os.geteuid() == 0
    become = ["runuser", "-u", "postgres", "--"] if root else ["sudo", "-u", "postgres"]
    subprocess.run([*become, "psql", "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True,
                   capture_output=True, timeout=60)


@pytest.fixture
def sudo_path(tmp_path) -> dict[str, str]:
    """PATH for the README's `sudo -u postgres`: the real sudo, or the stand-in."""
    if os.geteuid() != 0 and shutil.which("sudo") is None:
        pytest.skip("recipe 1 runs `sudo -u postgres`: needs sudo, or root for runuser")
    if shutil.which("sudo") is not None:
        return {}
    stand_in = tmp_path / "bin"
    stand_in.mkdir()
    (stand_in / "sudo").write_text(SUDO_STAND_IN)
    (stand_in / "sudo").chmod(0o755)
    return {"PATH": f"{stand_in}{os.pathsep}{shell_env()['PATH']}"}


def test_readme_recipes_1_and_2_then_two_commands_share_one_study(tmp_path, pg_url, sudo_path):
    base = f"{make_url(pg_url).username}_readme_{uuid.uuid4().hex[:6]}"
    role, password = base, uuid.uuid4().hex
    # named ROLE_fresh_*: .ci/services.sh drops them at exit even if this test could not
    optuna_db, mlflow_db = f"{make_url(pg_url).username}_fresh_{base}_optuna", \
        f"{make_url(pg_url).username}_fresh_{base}_mlflow"
    try:
        for command in commands("cluster-database", {
                "CREATE ROLE sweeper": f"CREATE ROLE {role}", "'secret'": f"'{password}'",
                "-O sweeper optuna": f"-O {role} {optuna_db}",
                "-O sweeper mlflow": f"-O {role} {mlflow_db}"}):
            done = run_shell(command, tmp_path, env=sudo_path, timeout=60)
            assert done.returncode == 0, f"{command}:\n{done.stdout}"

        port = free_port()
        [server] = commands("cluster-mlflow-server", {
            "sweeper:secret@db-host:5432/mlflow":
                f"{role}:{password}@127.0.0.1:5432/{mlflow_db}",
            "/srv/mlflow-artifacts": str(tmp_path / "mlflow-artifacts"),
            "--host 0.0.0.0": "--host 127.0.0.1",  # loopback only
            "--port 5000": f"--workers 1 --port {port}"})
        url = f"http://127.0.0.1:{port}"
        # its first start creates MLflow's tables: minutes on a busy machine
        with serving(server, tmp_path, f"{url}/health", timeout=600):
            [sweep] = commands("sweep-shared-study", {
                "sweep=digits ": "sweep=digits hydra.sweeper.n_trials=4 ",
                "user:password@db-host:5432/optuna":
                    f"{role}:{password}@127.0.0.1:5432/{optuna_db}",
                "http://mlflow-host:5000": url})
            dirs = [tmp_path / "machine-a", tmp_path / "machine-b"]
            for directory in dirs:
                directory.mkdir()
            procs = [subprocess.Popen(["bash", "-c", sweep], cwd=directory, env=shell_env(),
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True) for directory in dirs]
            outputs = [proc.communicate(timeout=600)[0] for proc in procs]
            assert [p.returncode for p in procs] == [0, 0], [o[-2000:] for o in outputs]
            check_the_shared_study(make_url(pg_url).set(
                username=role, password=password, database=optuna_db
            ).render_as_string(hide_password=False), url, dirs)
    finally:
        for database in (optuna_db, mlflow_db):
            as_postgres(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        as_postgres(f'DROP ROLE IF EXISTS "{role}"')


def check_the_shared_study(storage: str, server: str, dirs: list[Path]) -> None:
    """Together the two commands ran exactly n_trials, each trial's run is on the server (its
    artifacts too, through it) and neither start directory holds a store."""
    from mlflow import MlflowClient

    study = optuna.load_study(study_name="digits-shared", storage=storage)
    trials = study.get_trials()
    assert count_trials(trials, 4).finished == 4
    client = MlflowClient(server)
    for trial in trials:
        run = client.get_run(trial.user_attrs[RUN_ID_ATTR])
        assert run.info.status == "FINISHED"
        if trial.state == optuna.trial.TrialState.COMPLETE:
            assert "config.yaml" in {a.path for a in client.list_artifacts(run.info.run_id)}
    experiment = client.get_experiment_by_name("trainer")
    parents = client.search_runs([experiment.experiment_id],
                                 filter_string="tags.`sweep.role` = 'parent'")
    # a command that found the study complete made no parent run: one or two, all ended
    assert parents and {r.info.status for r in parents} == {"FINISHED"}
    for directory in dirs:
        assert not list(directory.rglob("*.db"))
