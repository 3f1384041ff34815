"""The README's cluster recipes on a real SLURM cluster, and what a cluster does to its jobs.

Recipe 3a (a controller submitting worker jobs through ``hydra/launcher=submitit_slurm``) and
recipe 3b (an ``sbatch --array`` of joining workers) are read from README.md and run as written,
with hosts, passwords and sizes substituted, on PostgreSQL and the MLflow server of
``.ci/services.sh``. Then a worker job cancelled mid-trial (``scancel``), one requeued
(``scontrol requeue``, as preemption does) and a controller killed with SIGKILL.

Both ways of selecting the sweeper run on the cluster with ``hydra.sweeper.*`` overrides:
``sweep=digits`` in recipe 3a, ``hydra/sweeper=optuna`` in the fault tests. (That the launched
workers get the controller's settings is checked from inside their trials with the local
submitit launcher, whose jobs Hydra composes the same way: tests/sweeps/test_launcher_forms.py.)

The cluster is one node (``.ci/slurm.sh``: 2 CPUs, partition ``cpu``, accounting on), started
once for the whole run. Every request is sized to it: a job asking for more CPUs than the node
has stays pending forever.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from readme_commands import commands, readme_block, shell_env, substitute
from test_scale_out import SLOW_TRIALS, TINY, no_local_stores, shared_stores, unique

from sweeps.study import count_trials
from sweeps.study._budget import (
    PARENT_RUN_ATTR,
    RUN_ID_ATTR,
    SLURM_JOB_ATTR,
    SURPLUS_ATTR,
)
from sweeps.tracking._tags import SLURM_JOB_TAG, STUDY_TAG

pytestmark = pytest.mark.slow
optuna.logging.set_verbosity(optuna.logging.WARNING)

HOW = "run `source .ci/slurm.sh` as root (it installs and starts a one-node SLURM cluster)"
N_TRIALS = 4  # on 2 jobs: both get trials however far apart they start
ENDED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY",
         "BOOT_FAIL", "DEADLINE")


def _slurm(*args: str, timeout: float = 30) -> str:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}: {done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def slurm() -> str:
    """The cluster's partition; skips (or fails, with TRAINER_TEST_SLURM=required) without one
    whose node is up and whose accounting answers (submitit reads job states from sacct)."""
    problem = None
    if shutil.which("sbatch") is None:
        problem = "SLURM is not installed here"
    else:
        try:
            states = _slurm("sinfo", "-h", "-o", "%P %T").split()
            _slurm("sacct", "-n", "-X", "-S", "now")
        except (AssertionError, subprocess.TimeoutExpired) as error:
            problem = f"no SLURM cluster answers ({str(error).strip()[:200]})"
        else:
            if "cpu*" not in states and "cpu" not in states:
                problem = f"no partition 'cpu' (the README's) is up: sinfo says {states}"
            elif not {"idle", "mixed", "allocated", "completing"} & set(states):
                problem = f"the node is not usable: sinfo says {states}"
    if problem is not None:
        if os.environ.get("TRAINER_TEST_SLURM") == "required":
            pytest.fail(f"{problem} (TRAINER_TEST_SLURM=required)")
        pytest.skip(f"{problem}: {HOW}")
    return "cpu"


def bash(command: str, cwd: Path, **kwargs) -> subprocess.Popen[str]:
    """The command line run by bash (the README's `python` is this interpreter, in the
    commands and in the jobs: sbatch exports the environment)."""
    return subprocess.Popen(["bash", "-c", command], cwd=cwd, env=shell_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def finish(proc: subprocess.Popen[str], timeout: float = 600) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"timed out:\n{out[-3000:]}") from None
    return out


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 300,
               proc: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:  # the study may not exist yet
            pass
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"ended (exit {proc.returncode}) before {what}:\n"
                                 f"{proc.communicate()[0][-3000:]}")
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def job_states(job_ids: set[str]) -> dict[str, str]:
    """Job id (ARRAYJOB_TASK) -> the job's state, from the accounting (what submitit reads)."""
    out = _slurm("sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", ",".join(job_ids))
    return {job: state.split()[0] for job, state in (line.split("|") for line in out.splitlines())}


def trials_of(pg_url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=pg_url).get_trials()


def check_on_slurm_and_server(pg_url: str, server: str, name: str, n_trials: int
                              ) -> tuple[list, dict]:
    """Exactly ``n_trials`` finished; the trials ran in at least 2 SLURM jobs that ended,
    each trial with its job's SLURM_JOB_ID (on the trial and its run); every trial's run is on
    the server with its trial's state, and no run of the study is left RUNNING. Returns the
    trials and their runs by id."""
    from mlflow import MlflowClient

    trials = trials_of(pg_url, name)
    budget = count_trials(trials, n_trials)
    assert (budget.finished, budget.running, budget.waiting) == (n_trials, 0, 0), budget
    ran = [t for t in trials if RUN_ID_ATTR in t.user_attrs and not t.user_attrs.get(SURPLUS_ATTR)]
    jobs = {t.user_attrs[SLURM_JOB_ATTR] for t in ran}
    assert len(jobs) >= 2, jobs
    client = MlflowClient(server)
    runs = {t.user_attrs[RUN_ID_ATTR]: client.get_run(t.user_attrs[RUN_ID_ATTR]) for t in ran}
    for trial in ran:
        run = runs[trial.user_attrs[RUN_ID_ATTR]]
        assert run.data.tags[SLURM_JOB_TAG] == trial.user_attrs[SLURM_JOB_ATTR]
        assert run.data.tags[STUDY_TAG] == name
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            assert run.info.status == "FINISHED", (trial.number, run.info.status)
    running = client.search_runs(
        [r.info.experiment_id for r in runs.values()][:1],
        filter_string=f"tags.`{STUDY_TAG}` = '{name}' and attributes.status = 'RUNNING'")
    assert [r.info.run_name for r in running] == []
    wait_until(lambda: all(s in ENDED for s in job_states(jobs).values()), "the jobs to end",
               timeout=60)
    return trials, runs


def describe(trials: list) -> list[tuple[int, str, str | None]]:
    return [(t.number, t.state.name, t.user_attrs.get(SLURM_JOB_ATTR)) for t in trials]


def parent_run(server: str, pg_url: str, name: str):
    from mlflow import MlflowClient

    parent = optuna.load_study(study_name=name, storage=pg_url).user_attrs[PARENT_RUN_ATTR]
    return MlflowClient(server).get_run(parent)


# --------------------------------------------------------------------------- README recipes


def test_readme_recipe_3a_a_controller_with_submitit_slurm_workers(
        tmp_path, slurm, fresh_pg_database, mlflow_server):
    # the README's command, sizes and hosts substituted: the controller submits n_jobs worker
    # jobs in one array; exactly n_trials, on 2 SLURM jobs, every run on the server
    [command] = commands("cluster-submitit-slurm", {
        "hydra.launcher.cpus_per_task=4": "hydra.launcher.cpus_per_task=1",
        "hydra.sweeper.n_jobs=32": "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=1000": f"hydra.sweeper.n_trials={N_TRIALS}",
        "postgresql+psycopg2://sweeper:secret@db-host:5432/optuna": fresh_pg_database,
        "http://mlflow-host:5000": mlflow_server,
    })
    started = time.monotonic()
    proc = bash(command, tmp_path)
    out = finish(proc)
    assert proc.returncode == 0, out[-3000:]
    print(f"recipe 3a: {command}\n  {time.monotonic() - started:.0f} s")
    trials, _ = check_on_slurm_and_server(fresh_pg_database, mlflow_server, "digits-big",
                                          N_TRIALS)
    assert parent_run(mlflow_server, fresh_pg_database, "digits-big").info.status == "FINISHED"
    assert "launching 2 worker jobs through SlurmLauncher" in out
    assert "best of study 'digits-big'" in out
    assert list(tmp_path.glob("multirun/*/*/.submitit/*_*/*_log.out"))  # submitit's job logs
    no_local_stores(tmp_path)  # the study and every run went to the two servers
    print(f"  trials (number, state, SLURM job): {describe(trials)}")


def test_readme_recipe_3b_an_sbatch_array_of_joining_workers(
        tmp_path, slurm, fresh_pg_database, mlflow_server):
    # the README's batch script, submitted with sbatch: two array tasks join the study with no
    # controller and run exactly n_trials between them
    script = substitute(readme_block("cluster-sbatch-joiners"), {
        "--array=0-31": "--array=0-1",
        "--cpus-per-task=4": "--cpus-per-task=1",
        "hydra.sweeper.n_trials=1000": f"hydra.sweeper.n_trials={N_TRIALS}",
        "postgresql+psycopg2://sweeper:secret@db-host:5432/optuna": fresh_pg_database,
        "http://mlflow-host:5000": mlflow_server,
    }, where="README.md's block 'cluster-sbatch-joiners'")
    (tmp_path / "joiners.sh").write_text(script)
    started = time.monotonic()
    submitted = finish(bash("sbatch joiners.sh", tmp_path), timeout=60)
    [array] = re.findall(r"Submitted batch job (\d+)", submitted)

    def tasks() -> dict[str, str]:
        out = _slurm("sacct", "-n", "-X", "-P", "-o", "JobID,State,ExitCode", "-j", array)
        return {job: (state.split()[0], code) for job, state, code in
                (line.split("|") for line in out.splitlines())}

    wait_until(lambda: len(tasks()) == 2 and all(s in ENDED for s, _ in tasks().values()),
               "the array's two tasks to end", timeout=600)
    print(f"recipe 3b: sbatch joiners.sh\n{script}  {time.monotonic() - started:.0f} s")
    logs = {p.name: p.read_text() for p in tmp_path.glob("slurm-*.out")}
    assert tasks() == {f"{array}_0": ("COMPLETED", "0:0"), f"{array}_1": ("COMPLETED", "0:0")}, \
        {name: text[-2000:] for name, text in logs.items()}
    trials, runs = check_on_slurm_and_server(fresh_pg_database, mlflow_server, "digits-big",
                                             N_TRIALS)
    assert all("mlflow.parentRunId" not in r.data.tags for r in runs.values())  # no controller
    print(f"  trials (number, state, SLURM job): {describe(trials)}")


# --------------------------------------------------------------------------- faults


def controller(pg_url: str, server: str, name: str) -> str:
    """Recipe 3a's controller, on trials that train for a few seconds each."""
    args = [*TINY, *SLOW_TRIALS, *shared_stores(pg_url, server, name),
            "hydra/launcher=submitit_slurm", "hydra.launcher.partition=cpu",
            "hydra.launcher.cpus_per_task=1", "hydra.launcher.timeout_min=60",
            "hydra.sweeper.n_jobs=2", f"hydra.sweeper.n_trials={N_TRIALS}",
            "mlflow.log_model=false"]
    return " ".join(["python -m trainer --multirun", *(f"'{a}'" for a in args)])


def a_trial_trains_in_a_job(pg_url: str, name: str, found: list, *, task: str = "") -> bool:
    """A trial trains (RUNNING with its MLflow run) in a SLURM job, one of array task ``task``
    when given."""
    found[:] = [t for t in trials_of(pg_url, name) if t.state == TrialState.RUNNING
                and RUN_ID_ATTR in t.user_attrs
                and str(t.user_attrs.get(SLURM_JOB_ATTR)).endswith(task)][:1]
    return bool(found)


def check_only_the_lost_trial_ran_again(pg_url: str, server: str, name: str,
                                        lost: optuna.trial.FrozenTrial) -> None:
    trials, runs = check_on_slurm_and_server(pg_url, server, name, N_TRIALS)
    assert trials[lost.number].state == TrialState.FAIL
    assert trials[lost.number].user_attrs.get("fail_reason", "").startswith(
        ("interrupted", "its worker stopped sending heartbeats")), trials[lost.number].user_attrs
    again = [t for t in trials if t.system_attrs.get("failed_trial") == lost.number]
    assert len(again) == 1 and again[0].params == lost.params
    assert again[0].state == TrialState.COMPLETE
    assert runs[lost.user_attrs[RUN_ID_ATTR]].info.status == "KILLED"
    # nothing else was lost
    assert [t.number for t in trials if t.state == TrialState.FAIL] == [lost.number]
    print(f"  trials (number, state, SLURM job): {describe(trials)}")


@pytest.mark.parametrize("fault", ["scancel", "scontrol requeue"])
def test_a_cancelled_or_requeued_worker_job_loses_only_its_trial(
        tmp_path, slurm, pg_url, mlflow_server, fault):
    # scancel ends a job; scontrol requeue (what preemption does) ends it and runs it again
    # later. Either way SLURM sends SIGTERM: the job's trial ends interrupted and is queued
    # again, its MLflow run KILLED; the other job (and a requeued one) finish the study, and
    # the sweep ends FINISHED. The job is the array's task 0, the one whose result the launcher
    # waits for first: the controller still waits for the other job's trials.
    name = unique(re.sub(r"\W+", "-", fault.split()[-1]).strip("-"))
    started = time.monotonic()
    proc = bash(controller(pg_url, mlflow_server, name), tmp_path, start_new_session=True)
    found: list = []
    wait_until(lambda: a_trial_trains_in_a_job(pg_url, name, found, task="_0"),
               "a trial in the array's task 0", proc=proc)
    [lost] = found
    job = lost.user_attrs[SLURM_JOB_ATTR]
    _slurm(*fault.split(), job)
    out = finish(proc)
    assert proc.returncode == 0, out[-3000:]
    print(f"{fault} {job}: {time.monotonic() - started:.0f} s\n{out}")
    check_only_the_lost_trial_ran_again(pg_url, mlflow_server, name, lost)
    assert parent_run(mlflow_server, pg_url, name).info.status == "FINISHED"
    if fault == "scancel":
        assert job_states({job})[job] == "CANCELLED"
    else:  # the requeued job ran again and ran trials
        assert job_states({job})[job] == "COMPLETED"


def test_a_controller_killed_while_its_jobs_run_leaves_a_study_that_completes(
        tmp_path, slurm, pg_url, mlflow_server):
    # kill -9 of the controller (a login node's session lost): its jobs are SLURM's and go on to
    # n_trials; the next command on the study says it is complete and ends the dead
    # controller's MLflow run
    name = unique("controller")
    started = time.monotonic()
    proc = bash(controller(pg_url, mlflow_server, name), tmp_path, start_new_session=True)
    found: list = []
    wait_until(lambda: a_trial_trains_in_a_job(pg_url, name, found), "a trial in a job",
               proc=proc)
    os.killpg(proc.pid, signal.SIGKILL)
    finish(proc)
    jobs = {found[0].user_attrs[SLURM_JOB_ATTR]}
    wait_until(lambda: count_trials(trials_of(pg_url, name), N_TRIALS).done,
               "the jobs to finish the study", timeout=600)
    wait_until(lambda: all(s in ENDED for s in job_states(jobs).values()), "the jobs to end")
    print(f"controller killed: the jobs finished the study in {time.monotonic() - started:.0f} s")

    parent = parent_run(mlflow_server, pg_url, name)
    assert parent.info.status == "RUNNING"  # nobody could end it yet

    rerun = bash(controller(pg_url, mlflow_server, name), tmp_path)
    out = finish(rerun)
    assert rerun.returncode == 0, out[-3000:]
    assert f"the study has its {N_TRIALS} trials" in out
    trials, _ = check_on_slurm_and_server(pg_url, mlflow_server, name, N_TRIALS)
    assert parent_run(mlflow_server, pg_url, name).info.status == "KILLED"
    print(f"  trials (number, state, SLURM job): {describe(trials)}")
