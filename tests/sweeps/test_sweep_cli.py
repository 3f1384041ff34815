"""`python -m trainer --multirun` with the Optuna sweeper, end to end, as a user runs it.

Each test starts the real command in its own directory (the study and the MLflow store land
under ``<dir>/mlruns``) on a tiny model and a few epochs.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from sweeps.study import count_trials
from sweeps.study._budget import FAIL_REASON_ATTR, RUN_ID_ATTR, WORKER_ATTR

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "conf" / "config.yaml"
pytestmark = pytest.mark.slow
optuna.logging.set_verbosity(optuna.logging.WARNING)

QUICK = ["model.hidden=[16]", "mlflow.log_model=false"]
AD_HOC = ["hydra/sweeper=optuna", *QUICK, "optimizer.lr=tag(log, interval(1e-3, 1e-1))",
          "hydra.sweeper.pruner=none"]
# For the tests that kill a sweep: its lost trials are found within seconds. Only those: on a
# loaded machine a live trial's heartbeat can be late by a second (SQLite's clock has whole
# seconds), and a grace period this short would then fail it as lost.
FAST_CRASH_DETECTION = ["hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=2"]
# Trials that train for about a second (per-sample steps, all epochs), so that a test which stops
# the sweep mid-trial has seconds to see its moment rather than the few hundred milliseconds
# between tiny trials.
SLOW_TRIALS = ["batch_size=1", "epochs=25", "early_stopping.enabled=false"]


def sweep_choice(name: str) -> str:
    """``sweep=NAME`` once conf/config.yaml lists the ``sweep`` group, ``+sweep=NAME`` before."""
    listed = any(line.strip().startswith(("- sweep:", "- optional sweep:"))
                 for line in CONFIG.read_text().splitlines())
    return f"sweep={name}" if listed else f"+sweep={name}"


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "trainer", "--multirun", *args]


def run(cwd: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(*args), cwd=cwd, env=env(), capture_output=True, text=True,
                          timeout=timeout)


def start(cwd: Path, *args: str, **kwargs) -> subprocess.Popen[str]:
    return subprocess.Popen(command(*args), cwd=cwd, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def storage(cwd: Path) -> str:
    return f"sqlite:///{cwd}/mlruns/optuna.db"


def study_in(cwd: Path) -> optuna.Study:
    [name] = optuna.get_all_study_names(storage(cwd))
    return optuna.load_study(study_name=name, storage=storage(cwd))


def runs_in(cwd: Path) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{cwd}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("trainer")
    return list(client.search_runs([experiment.experiment_id], max_results=1000))


def parents(runs: list) -> list:
    return [r for r in runs if r.data.tags.get("sweep.role") == "parent"]


def children(runs: list) -> list:
    return [r for r in runs if "mlflow.parentRunId" in r.data.tags]


def wait_for(proc: subprocess.Popen[str], predicate, timeout: float = 120,
             every: float = 0.2) -> None:
    """Poll until ``predicate()`` holds while the sweep runs; a sweep that ends first fails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:  # the database may not exist yet
            pass
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"the sweep ended (exit {proc.returncode}) before the moment "
                                 f"this test waits for:\n{err[-3000:]}")
        time.sleep(every)
    if os.getpgid(proc.pid) == proc.pid:  # its own session: take its workers down too
        os.killpg(proc.pid, signal.SIGKILL)
    proc.kill()
    _, err = proc.communicate()
    raise AssertionError(f"timed out waiting for the sweep:\n{err[-3000:]}")


def running_trial_with_run(cwd: Path, *, after_a_complete_one: bool = False) -> bool:
    """A trial is training (RUNNING with its MLflow run), optionally after another completed;
    read from one load of the study, so each poll is one query."""
    trials = study_in(cwd).get_trials()
    if after_a_complete_one and not any(t.state == TrialState.COMPLETE for t in trials):
        return False
    return any(t.state == TrialState.RUNNING and RUN_ID_ATTR in t.user_attrs for t in trials)


# --------------------------------------------------------------------------- digits sweep


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The shipped digits sweep, shrunk: 8 trials, 5 epochs, one good and one hopeless lr."""
    cwd = tmp_path_factory.mktemp("digits")
    done = run(cwd, sweep_choice("digits"), *QUICK, "hydra.sweeper.n_trials=8",
               "hydra.sweeper.n_jobs=1", "hydra.sweeper.sampler=random", "epochs=5",
               "batch_size=64", "optimizer=choice(sgd, momentum)",
               "optimizer.lr=choice(0.05, 1e-5)", "hydra.sweeper.pruner.n_startup_trials=2",
               "hydra.sweeper.pruner.n_warmup_steps=2")
    return cwd, done


def test_pruning_really_prunes(digits):
    # weak trials stop early and are recorded PRUNED, strong ones run all epochs
    cwd, done = digits
    assert done.returncode == 0, done.stderr
    trials = study_in(cwd).get_trials()
    budget = count_trials(trials, 8)
    assert budget.finished == 8 and budget.pruned >= 1 and budget.complete >= 1
    assert all(t.intermediate_values for t in trials)
    assert all(len(t.intermediate_values) < 5 for t in trials if t.state == TrialState.PRUNED)
    assert any(len(t.intermediate_values) == 5 for t in trials
               if t.state == TrialState.COMPLETE)


def test_conditional_param_only_with_its_parent(digits):
    # optimizer.momentum is searched (and reaches the run's config) only for optimizer=momentum
    cwd, _ = digits
    trials = study_in(cwd).get_trials()
    assert {t.params["optimizer"] for t in trials} == {"sgd", "momentum"}
    for t in trials:
        assert ("optimizer.momentum" in t.params) == (t.params["optimizer"] == "momentum")
    for r in children(runs_in(cwd)):
        assert ("optimizer.momentum" in r.data.params) == (
            r.data.params["optimizer.name"] == "momentum")


def test_parent_and_child_runs(digits):
    # one parent run named after the study, every trial a child tagged with its trial and state
    cwd, _ = digits
    study = study_in(cwd)
    runs = runs_in(cwd)
    [parent] = parents(runs)
    assert parent.info.status == "FINISHED"
    assert parent.info.run_name == study.study_name
    assert study.metric_names == ["val_loss"]  # optuna-dashboard's name for the objective
    assert parent.data.params["space.optimizer.lr"] == "choice(0.05, 1e-05)"
    assert parent.data.params["n_trials"] == "8"
    assert parent.data.metrics["best_value"] == pytest.approx(study.best_value)
    assert parent.data.tags["best.trial_number"] == str(study.best_trial.number)
    kids = children(runs)
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{cwd}/mlruns/mlflow.db")
    assert len(kids) == 8 and {r.data.tags["mlflow.parentRunId"] for r in kids} == {
        parent.info.run_id}
    by_number = {int(r.data.tags["optuna.trial_number"]): r for r in kids}
    for t in study.trials:
        kid = by_number[t.number]
        assert kid.info.status == "FINISHED"
        assert kid.data.tags["optuna.study_name"] == study.study_name
        assert kid.data.tags["optuna.trial_state"] == t.state.name
        assert t.user_attrs[RUN_ID_ATTR] == kid.info.run_id
        # named by number, then study; a pruned one says so in its name (the runs table)
        name = f"trial-{t.number}-{study.study_name}"
        if t.state == TrialState.PRUNED:
            name = (f"trial-{t.number} (pruned at step {int(kid.data.metrics['stopped_epoch'])})"
                    f" {study.study_name}")
        assert kid.info.run_name == name
        assert kid.data.tags["stop_reason"] == (
            "pruned" if t.state == TrialState.PRUNED else kid.data.tags["stop_reason"])
        # a finished trial's picture is there when the sweep ends, wherever it was drawn
        pictures = {a.path for a in client.list_artifacts(kid.info.run_id)} & {
            "learning_curves.png"}
        assert pictures == (set() if t.state == TrialState.PRUNED else {"learning_curves.png"})
    assert {r.data.tags["stop_reason"] for r in kids
            if r.data.tags["optuna.trial_state"] == "PRUNED"} == {"pruned"}


def test_parent_artifacts_and_best_command_reproduces_the_best_trial(digits):
    # pictures, the trials table and a command that reruns the best trial to the same value
    cwd, _ = digits
    from mlflow import MlflowClient

    [parent] = parents(runs_in(cwd))
    client = MlflowClient(f"sqlite:///{cwd}/mlruns/mlflow.db")
    names = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"optimization_history.png", "param_importances.png", "intermediate_values.png",
            "timeline.png", "trials.csv", "best_trial.txt"} <= names
    text = Path(client.download_artifacts(parent.info.run_id, "best_trial.txt",
                                          str(cwd))).read_text()
    [line] = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("python -m")]
    assert line == parent.data.tags["best.command"]
    import shlex

    args = shlex.split(line)[3:]  # drop "python -m trainer"
    again = subprocess.run([sys.executable, "-m", "trainer", *args], cwd=cwd, env=env(),
                           capture_output=True, text=True, timeout=240)
    assert again.returncode == 0, again.stderr
    best = study_in(cwd).best_value
    assert f"val_loss={best:.4f}" in again.stdout


# --------------------------------------------------------------------------- parallel workers


def test_two_jobs_run_in_two_processes_at_once_without_batch_barrier(tmp_path):
    # n_jobs=2: slot 0 in the sweep's process, slot 1 in a worker; both busy at the same time,
    # each refilled at once
    proc = start(tmp_path, *AD_HOC, "hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=2",
                 "epochs=choice(3, 12)")
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    trials = study_in(tmp_path).get_trials()
    assert count_trials(trials, 6).complete == 6
    workers = {t.user_attrs[WORKER_ATTR] for t in trials}
    pids = {int(w.rsplit(":", 1)[1]) for w in workers}
    assert len(pids) == 2 and proc.pid in pids
    spans = {pid: [(t.datetime_start, t.datetime_complete) for t in trials
                   if t.user_attrs[WORKER_ATTR].endswith(f":{pid}")] for pid in pids}
    mine, other = spans.values()
    assert any(a0 < b1 and b0 < a1 for a0, a1 in mine for b0, b1 in other)  # in parallel
    for worker in workers:  # a slot's next trial starts as soon as its previous one ended
        mine = sorted((t for t in trials if t.user_attrs[WORKER_ATTR] == worker),
                      key=lambda t: t.number)
        gaps = [(b.datetime_start - a.datetime_complete).total_seconds()
                for a, b in zip(mine, mine[1:], strict=False)]
        assert all(gap < 1.5 for gap in gaps), gaps
    [parent] = parents(runs_in(tmp_path))
    assert parent.data.params["n_jobs"] == "2"
    assert len(children(runs_in(tmp_path))) == 6


@contextlib.contextmanager
def store_creation_held(cwd: Path) -> Iterator[None]:
    """Hold the MLflow store's creation lock (``mlruns/mlflow.db.lock``, taken by every process
    before it opens the store): a sweep started meanwhile opens its study, says so, and waits
    there before its first trial."""
    (cwd / "mlruns").mkdir(exist_ok=True)
    with open(cwd / "mlruns" / "mlflow.db.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def wait_for_line(proc: subprocess.Popen[str], text: str) -> None:
    """Read the sweep's output until a line contains ``text``; a sweep that ends first fails."""
    assert proc.stdout is not None
    for line in proc.stdout:
        if text in line:
            return
    _, err = proc.communicate()
    raise AssertionError(f"the sweep ended (exit {proc.returncode}) before saying {text!r}:\n"
                         f"{err[-3000:]}")


def test_two_sweep_commands_share_one_study_within_n_trials(tmp_path):
    # the same command started twice at once cooperates on one study: exactly n_trials finish,
    # each process running some. Start-up takes seconds and a loaded machine delays one process
    # more than the other, enough for the first to run the whole study alone; so both wait at
    # the store until each has opened the study, then start their trials together.
    args = [*AD_HOC, "hydra.sweeper.n_trials=5", "hydra.sweeper.n_jobs=1", "epochs=8"]
    with store_creation_held(tmp_path):
        procs = [start(tmp_path, *args) for _ in range(2)]
        for proc in procs:
            wait_for_line(proc, "trials finished")
    results = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    trials = study_in(tmp_path).get_trials()
    budget = count_trials(trials, 5)
    assert budget.finished == 5 and budget.running == budget.waiting == 0
    assert len({t.user_attrs[WORKER_ATTR] for t in trials if WORKER_ATTR in t.user_attrs}) == 2
    runs = runs_in(tmp_path)
    assert [r.info.status for r in parents(runs)] == ["FINISHED", "FINISHED"]
    assert len(children(runs)) == 5 and all(r.info.status == "FINISHED" for r in runs)


# --------------------------------------------------------------------------- crashes and stops


def test_resume_after_sigkill_finishes_exactly_n_trials(tmp_path):
    # power loss: every sweep process dies at once mid-trial; the same command, run again,
    # re-runs the lost trials and finishes the study, leaving nothing RUNNING anywhere
    args = [*AD_HOC, *SLOW_TRIALS, *FAST_CRASH_DETECTION, "hydra.sweeper.n_trials=6",
            "hydra.sweeper.n_jobs=2", "hydra.sweeper.study_name=resume"]
    proc = start(tmp_path, *args, start_new_session=True)
    wait_for(proc, lambda: running_trial_with_run(tmp_path, after_a_complete_one=True))
    killed_at_ms = time.time() * 1000
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    stale = [t for t in study_in(tmp_path).get_trials() if t.state == TrialState.RUNNING]
    lost = [t.number for t in stale]
    lost_runs = [t.number for t in stale if RUN_ID_ATTR in t.user_attrs]  # had begun training
    assert lost_runs
    # A run can end in the instant between its own end and Optuna's record of the trial: it
    # keeps the status it ended with. Every other lost run was RUNNING and must end KILLED.
    ended_before = {r.data.tags.get("optuna.trial_number") for r in runs_in(tmp_path)
                    if r.info.status != "RUNNING" and r.info.end_time
                    and r.info.end_time <= killed_at_ms}

    done = run(tmp_path, *args)
    assert done.returncode == 0, done.stderr
    trials = study_in(tmp_path).get_trials()
    budget = count_trials(trials, 6)
    assert budget.finished == 6 and budget.running == budget.waiting == 0
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    retried = {t.system_attrs.get("failed_trial") for t in trials}
    assert set(lost) <= retried  # each lost trial's parameters ran again
    runs = runs_in(tmp_path)
    assert all(r.info.status != "RUNNING" for r in runs)
    killed = {r.data.tags.get("optuna.trial_number") for r in runs if r.info.status == "KILLED"}
    assert {str(n) for n in lost_runs} - ended_before <= killed
    assert sorted(r.info.status for r in parents(runs)) == ["FINISHED", "KILLED"]


def test_sigterm_ends_everything_killed_and_queues_the_trials(tmp_path):
    # SIGTERM (like Ctrl-C) stops the sweep: runs end KILLED, trials are queued for a resume
    args = [*AD_HOC, *SLOW_TRIALS, "hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=2",
            "hydra.sweeper.study_name=term"]
    proc = start(tmp_path, *args)
    wait_for(proc, lambda: running_trial_with_run(tmp_path))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted:" in err and "resume" in err
    trials = study_in(tmp_path).get_trials()
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    interrupted = [t for t in trials if t.state == TrialState.FAIL]
    assert interrupted and all(
        t.user_attrs[FAIL_REASON_ATTR].startswith("interrupted") for t in interrupted)
    # Each interrupted trial was queued again. A copy can itself be picked up and interrupted
    # (Optuna then keeps the original's number in failed_trial and the chain in retry_history),
    # so exactly one copy per interrupted parameter set is left waiting.
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    copied = {t.system_attrs["retry_history"][-1] for t in trials
              if t.system_attrs.get("retry_history")}
    details = (err, [(t.number, t.state, t.user_attrs, t.system_attrs) for t in trials])
    assert {t.number for t in interrupted} <= copied, details
    assert len(waiting) == len({tuple(sorted(t.params.items())) for t in interrupted}), details
    runs = runs_in(tmp_path)
    assert [(r.info.run_name, r.data.tags) for r in runs if r.info.status == "RUNNING"] == [], err
    assert [r.info.status for r in parents(runs)] == ["KILLED"]


def fork_server_started(pgid: int) -> bool:
    """Whether the sweep's fork server (which imports the app for seconds) is running."""
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            if (entry.name.isdigit() and os.getpgid(int(entry.name)) == pgid
                    and b"forkserver" in (entry / "cmdline").read_bytes()):
                return True
    return False


@pytest.mark.parametrize("moment", ["starting", "training"])
def test_ctrl_c_on_the_sweeps_process_group_is_clean_and_leaves_nothing_running(tmp_path,
                                                                                moment):
    # a terminal's Ctrl-C reaches every process of the group: the sweep, its fork server (still
    # importing the app while the sweep starts) and its workers. The sweep says what it kept
    # and nothing else: no "Exception ignored in", no traceback of any process; no trial and no
    # MLflow run is left RUNNING
    proc = start(tmp_path, sweep_choice("digits"), "hydra.sweeper.n_jobs=2",
                 "mlflow.log_model=false", start_new_session=True)
    if moment == "starting":
        wait_for(proc, lambda: fork_server_started(proc.pid), every=0.01)
    else:
        wait_for(proc, lambda: running_trial_with_run(tmp_path))
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert lines in (["interrupted (Ctrl-C)"], ["interrupted"]) or (
        len(lines) == 1 and lines[0].startswith("interrupted: ")
        and lines[0].endswith("run the same command again to resume the study")), err
    if (tmp_path / "mlruns" / "optuna.db").exists():
        assert [t.number for t in study_in(tmp_path).get_trials()
                if t.state == TrialState.RUNNING] == []
    if (tmp_path / "mlruns" / "mlflow.db").exists():  # the experiment may not exist yet
        from mlflow import MlflowClient

        client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
        experiments = [e.experiment_id for e in client.search_experiments()]
        assert [r.info.run_name for r in client.search_runs(experiments)
                if r.info.status == "RUNNING"] == []


def test_failing_trial_is_recorded_and_the_sweep_goes_on(tmp_path):
    # a bad sampled value fails its trial (reason kept) while the others complete
    done = run(tmp_path, *AD_HOC, "hydra.sweeper.sampler=grid", "hydra.sweeper.n_trials=2",
               "optimizer.lr=0.01", "regularization.dropout=choice(0.1, 1.5)", "epochs=2")
    assert done.returncode == 0, done.stderr
    trials = study_in(tmp_path).get_trials()
    [failed] = [t for t in trials if t.state == TrialState.FAIL]
    [complete] = [t for t in trials if t.state == TrialState.COMPLETE]
    assert failed.params["regularization.dropout"] == 1.5
    assert failed.user_attrs[FAIL_REASON_ATTR].startswith("regularization.dropout: expected")
    run_of = {r.info.run_id: r for r in runs_in(tmp_path)}
    assert run_of[failed.user_attrs[RUN_ID_ATTR]].info.status == "FAILED"
    assert run_of[failed.user_attrs[RUN_ID_ATTR]].data.tags["optuna.trial_state"] == "FAIL"
    assert run_of[complete.user_attrs[RUN_ID_ATTR]].info.status == "FINISHED"


def test_sweep_stops_with_one_line_when_most_trials_fail(tmp_path):
    # every trial failing is not worth n_trials: stop after a few with one clear line, exit 1
    done = run(tmp_path, *AD_HOC, "hydra.sweeper.n_trials=10", "epochs=2",
               "regularization.dropout=choice(1.5, 2.5)")
    assert done.returncode == 1
    [line] = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert line.startswith("error: sweep stopped: 4 of 4 finished trials failed")
    assert "regularization.dropout" in line
    assert len(study_in(tmp_path).get_trials()) == 4
    [parent] = parents(runs_in(tmp_path))
    assert parent.info.status == "FAILED"
    # the parent run says what the sweep said
    assert parent.data.tags["failure_reason"] == line.removeprefix("error: ")


def test_bad_search_space_is_one_line(tmp_path):
    # a grammar mistake stops before anything runs, naming the key
    done = run(tmp_path, "hydra/sweeper=optuna", "optimizer.lr=tag(log, interval(0, 1))")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "error: optimizer.lr: expected a log interval with low > 0, got '[0.0, 1.0]'")


def test_plain_hydra_grid_still_works(tmp_path):
    # without the Optuna sweeper, --multirun a,b is Hydra's grid: one logged run per value
    done = run(tmp_path, "optimizer=sgd,adam", "epochs=1", "model.hidden=[16]",
               "mlflow.log_model=false")
    assert done.returncode == 0, done.stderr
    runs = runs_in(tmp_path)
    assert sorted(r.data.params["optimizer.name"] for r in runs) == ["adam", "sgd"]
    assert all(r.info.status == "FINISHED" for r in runs)
    assert not (tmp_path / "mlruns" / "optuna.db").exists()


# --------------------------------------------------------------------------- faults of issue 10


def worker_trial(cwd: Path, sweep_pid: int) -> tuple[int, int] | None:
    """(trial number, pid) of a trial a worker process (not the sweep's own slot) is training."""
    for t in study_in(cwd).get_trials():
        pid = int(t.user_attrs.get(WORKER_ATTR, "x:0").rsplit(":", 1)[1])
        if t.state == TrialState.RUNNING and RUN_ID_ATTR in t.user_attrs and pid != sweep_pid:
            return t.number, pid
    return None


def wait_for_worker_trial(proc: subprocess.Popen[str], cwd: Path) -> tuple[int, int]:
    found: list[tuple[int, int]] = []

    def training() -> bool:
        trial = worker_trial(cwd, proc.pid)
        if trial is not None:
            found.append(trial)
        return trial is not None

    wait_for(proc, training)
    return found[-1]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_kill_9_of_the_sweep_process_stops_its_worker_and_queues_its_trial(tmp_path):
    # the sweep process dies alone (its workers are not in the kill): the worker notices, ends
    # its trial (FAIL, interrupted, queued again; its run KILLED) and exits instead of running
    # the study unattended
    args = [*AD_HOC, *SLOW_TRIALS, *FAST_CRASH_DETECTION, "hydra.sweeper.n_trials=20",
            "hydra.sweeper.n_jobs=2", "hydra.sweeper.study_name=orphaned", "epochs=100"]
    proc = start(tmp_path, *args, start_new_session=True)
    number, worker_pid = wait_for_worker_trial(proc, tmp_path)
    proc.kill()  # not reaped yet (like a parent busy elsewhere): the worker must see it dead
    deadline = time.monotonic() + 60  # a bound on hanging, not a speed claim
    while not gone(worker_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    stopped = gone(worker_pid)
    with contextlib.suppress(ProcessLookupError):  # whatever is left of the group
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert stopped, "the worker went on without its sweep"
    # Its trial was cut short (unless it ended in the same instant): FAIL, queued again, its
    # run KILLED. Nothing of that worker is left RUNNING either way.
    trials = study_in(tmp_path).get_trials()
    mine = [t for t in trials if t.user_attrs.get(WORKER_ATTR, "").endswith(f":{worker_pid}")]
    assert mine and all(t.state != TrialState.RUNNING for t in mine)
    run_of = {r.info.run_id: r for r in runs_in(tmp_path)}
    for t in mine:
        assert run_of[t.user_attrs[RUN_ID_ATTR]].info.status != "RUNNING"
        if t.state == TrialState.FAIL:
            assert t.user_attrs[FAIL_REASON_ATTR].startswith("interrupted")
            assert any(c.state == TrialState.WAITING and c.system_attrs.get("failed_trial")
                       == t.number for c in trials)
            assert run_of[t.user_attrs[RUN_ID_ATTR]].info.status == "KILLED"
    assert trials[number].state in (TrialState.FAIL, TrialState.COMPLETE)
    assert count_trials(trials, 20).finished < 20  # it did not run the study alone


def test_one_worker_sigkilled_the_others_finish_and_the_sweep_succeeds(tmp_path):
    # a worker dies mid-trial: the sweep says so, its trial runs again, the study completes,
    # exit 0
    args = [*AD_HOC, *SLOW_TRIALS, *FAST_CRASH_DETECTION, "hydra.sweeper.n_trials=5",
            "hydra.sweeper.n_jobs=2", "hydra.sweeper.study_name=one-worker"]
    proc = start(tmp_path, *args)
    number, worker_pid = wait_for_worker_trial(proc, tmp_path)
    os.kill(worker_pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    assert "stopped unexpectedly: killed by SIGKILL" in out + err  # which worker, and how
    assert "the other workers finished the study" in err
    trials = study_in(tmp_path).get_trials()
    budget = count_trials(trials, 5)
    assert budget.finished == 5 and budget.running == budget.waiting == 0
    assert any(t.system_attrs.get("failed_trial") == number for t in trials)  # ran again
    runs = runs_in(tmp_path)
    assert "RUNNING" not in {r.info.status for r in runs}
    assert [r.info.status for r in parents(runs)] == ["FINISHED"]


def test_a_dead_sweeps_parent_run_ends_even_when_the_study_is_complete(tmp_path):
    # the sweep died after its last trial, before ending its parent run: the next command
    # finds the study complete and still ends that run KILLED
    from mlflow import MlflowClient

    args = [*AD_HOC, "hydra.sweeper.n_trials=2", "epochs=2", "hydra.sweeper.study_name=done"]
    assert run(tmp_path, *args).returncode == 0
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("trainer")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    planted = client.create_run(experiment.experiment_id, tags={
        "optuna.study_name": "done", "sweep.role": "parent", "trainer.owner.host":
        parents(runs_in(tmp_path))[0].data.tags["trainer.owner.host"],
        "trainer.owner.pid": str(dead.pid), "sweep.heartbeat": f"{time.time() - 3600:.0f}"})
    done = run(tmp_path, *args)
    assert done.returncode == 0, done.stderr
    assert "the study has its 2 trials" in done.stdout + done.stderr
    assert client.get_run(planted.info.run_id).info.status == "KILLED"


def test_a_damaged_study_database_is_one_line(tmp_path):
    # a page of optuna.db overwritten (a disk fault): one line naming the key and the file,
    # exit 1, the file left as it was for the user to move away
    args = [*AD_HOC, "hydra.sweeper.n_trials=1", "epochs=1"]
    assert run(tmp_path, *args).returncode == 0
    db = tmp_path / "mlruns" / "optuna.db"
    for side in ("-wal", "-shm"):
        (tmp_path / "mlruns" / f"optuna.db{side}").unlink(missing_ok=True)
    data = bytearray(db.read_bytes())
    data[2 * 4096:3 * 4096] = os.urandom(4096)  # the third page, past the header
    db.write_bytes(bytes(data))
    done = run(tmp_path, *[*args[:-2], "hydra.sweeper.n_trials=2", "epochs=1"])
    assert done.returncode == 1
    [line] = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert line.startswith("error: hydra.sweeper.storage: expected an Optuna SQLite database (")
    assert f"{db} is damaged" in line
    assert "Traceback" not in done.stderr
    assert db.read_bytes() == bytes(data)
