"""One worker's ask -> run -> tell loop, with a fake job instead of the trainer (no MLflow)."""

from __future__ import annotations

import os
import threading
import time

import optuna
import pytest
from optuna.trial import TrialState
from sweep_fakes import FakeJob, load, make_plan

from sweeps.study import count_trials, fail_reason, open_storage
from sweeps.study._budget import (
    FAIL_REASON_ATTR,
    LOST_REASON,
    OVERRIDES_ATTR,
    RUN_ID_ATTR,
    SLURM_JOB_ATTR,
    SURPLUS_ATTR,
    WORKER_ATTR,
)
from sweeps.workers import run_worker
from sweeps.workers._worker import slurm_job_id

optuna.logging.set_verbosity(optuna.logging.WARNING)


def states(study: optuna.Study) -> list[str]:
    return [t.state.name for t in study.get_trials()]


def test_runs_exactly_n_trials_and_records_each(tmp_path):
    # the worker stops at the study's total and leaves what a user needs on every trial
    plan = make_plan(tmp_path / "o.db", n_trials=4)
    report = run_worker(plan, FakeJob())
    study = load(plan)
    assert states(study) == ["COMPLETE"] * 4
    assert report.trials == [0, 1, 2, 3]
    trial = study.trials[0]
    assert RUN_ID_ATTR not in trial.user_attrs  # no tracking here: no MLflow run
    assert trial.user_attrs[OVERRIDES_ATTR] == [f"x={trial.params['x']!r}"]
    assert trial.user_attrs[WORKER_ATTR].endswith(f":{report.pid}")
    assert list(trial.intermediate_values) == [1, 2, 3, 4, 5]  # one report per epoch
    assert trial.value == pytest.approx(trial.params["x"] / 5)
    assert SLURM_JOB_ATTR not in trial.user_attrs  # not in a SLURM job


def test_a_trial_in_a_slurm_job_records_the_job(tmp_path, monkeypatch):
    # the id squeue, sacct and scancel take: an array task's own (scancel of its SLURM_JOB_ID,
    # which is also the array's id, would end every task of the array)
    for name in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(name, raising=False)
    assert slurm_job_id() is None
    monkeypatch.setenv("SLURM_JOB_ID", "41")
    assert slurm_job_id() == "41"
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "40")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    plan = make_plan(tmp_path / "o.db", n_trials=2)
    run_worker(plan, FakeJob())
    assert [t.user_attrs[SLURM_JOB_ATTR] for t in load(plan).trials] == ["40_1", "40_1"]


def test_rerun_resumes_up_to_n_trials(tmp_path):
    # n_trials is the study's total: a second run with a larger total adds only the rest
    run_worker(make_plan(tmp_path / "o.db", n_trials=2), FakeJob())
    report = run_worker(make_plan(tmp_path / "o.db", n_trials=5), FakeJob())
    assert report.trials == [2, 3, 4]
    assert count_trials(load(make_plan(tmp_path / "o.db", n_trials=5)).get_trials(), 5).done


def test_failing_trial_is_recorded_with_its_reason_and_the_loop_goes_on(tmp_path):
    # a job that raises becomes a FAIL trial carrying the one-line reason; others still run
    plan = make_plan(tmp_path / "o.db", n_trials=6, params={"x": "choice(0.2, 0.9)"},
                     max_failure_rate=1.0)
    run_worker(plan, FakeJob(fail_above=0.5))
    study = load(plan)
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert failed and len(study.trials) == 6
    assert all(t.params["x"] == 0.9 for t in failed)
    assert failed[0].user_attrs[FAIL_REASON_ATTR] == "ValueError: x=0.9 too big"
    assert {t.state for t in study.trials if t.params["x"] == 0.2} == {TrialState.COMPLETE}


def test_most_trials_failing_stops_the_worker(tmp_path):
    # when more than max_failure_rate of at least 4 finished trials failed, stop asking
    plan = make_plan(tmp_path / "o.db", n_trials=20, params={"x": "interval(0.6, 0.9)"})
    report = run_worker(plan, FakeJob(fail_above=0.5))
    assert report.stopped_for_failures
    assert states(load(plan)) == ["FAIL"] * 4


def test_pruner_cuts_bad_trials_through_report(tmp_path):
    # each epoch reaches the trial through sweeps.report; the median pruner stops the curves
    # worse than the median, and the TrialPruned report() raises ends the trial PRUNED
    plan = make_plan(tmp_path / "o.db", n_trials=4,
                     pruner={"name": "median", "n_startup_trials": 2, "n_warmup_steps": 2})
    for x in (0.1, 0.2, 0.9, 0.8):  # two good trials first, then two bad ones
        load(plan).enqueue_trial({"x": x})
    run_worker(plan, FakeJob(epochs=6))
    trials = load(plan).trials
    assert states(load(plan)) == ["COMPLETE", "COMPLETE", "PRUNED", "PRUNED"]
    assert [len(t.intermediate_values) for t in trials] == [6, 6, 2, 2]  # first chance: epoch 2
    assert trials[2].value == pytest.approx(0.9 / 2)  # a pruned trial keeps its last value


@pytest.mark.slow  # waits out the heartbeat grace period
@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # the test asks outside optimize
def test_crashed_trial_is_retried_with_its_params(tmp_path):
    # a RUNNING trial whose heartbeat stopped (its process was killed) is failed and its params
    # run again; the worker waits for it instead of leaving while it is RUNNING
    plan = make_plan(tmp_path / "o.db", n_trials=3)
    storage = open_storage(plan.storage)
    study = optuna.load_study(study_name=plan.study_name, storage=storage)
    study.enqueue_trial({"x": 0.25})
    lost = study.ask()
    lost.suggest_float("x", 0.0, 1.0)
    storage.record_heartbeat(lost._trial_id)  # as Optuna's heartbeat thread would, then dies
    study.tell(study.ask({"x": optuna.distributions.FloatDistribution(0, 1)}), 0.5)
    time.sleep(2.2)  # grace_period is 1 s
    run_worker(plan, FakeJob())
    trials = load(plan).get_trials()
    budget = count_trials(trials, 3)
    assert budget.finished == 3 and budget.running == budget.waiting == 0
    assert trials[lost.number].state == TrialState.FAIL
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == lost.number]
    assert len(retried) == 1 and retried[0].params == {"x": 0.25}
    assert retried[0].state == TrialState.COMPLETE
    assert fail_reason(trials[lost.number]) == LOST_REASON  # not "unknown error"


def test_an_error_outside_the_job_is_recorded_as_the_trials_reason(tmp_path, monkeypatch):
    # e.g. the storage failing between Optuna's ask and the job: the FAIL says why, instead of
    # reading as a trial lost with its worker
    from sweeps.workers import _worker

    def broken(*args: object) -> bool:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(_worker, "within_budget", broken)
    plan = make_plan(tmp_path / "o.db", n_trials=1)
    run_worker(plan, FakeJob())
    trial = load(plan).get_trials()[0]
    assert trial.state == TrialState.FAIL
    assert fail_reason(trial) == "RuntimeError: database is locked"


def test_a_lost_trial_is_logged_with_why_it_failed(caplog):
    from sweeps.workers._worker import _log_finished

    study = optuna.create_study()
    trial = study.ask()
    study.tell(trial, state=TrialState.FAIL)  # as the crash recovery ends it: no reason
    with caplog.at_level("WARNING", logger="sweeps"):
        _log_finished(study, study.trials[0])
    assert f"trial 0 FAIL: {LOST_REASON}" in caplog.text


def test_interrupted_trial_is_queued_again(tmp_path):
    # Ctrl-C inside a trial: it ends FAIL with a reason and its params wait for the next run
    plan = make_plan(tmp_path / "o.db", n_trials=4)
    with pytest.raises(KeyboardInterrupt):
        run_worker(plan, FakeJob(interrupt_trial=1))
    trials = load(plan).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.WAITING]
    assert trials[1].user_attrs[FAIL_REASON_ATTR].startswith("interrupted")
    assert trials[2].params == trials[1].params
    assert FAIL_REASON_ATTR not in trials[2].user_attrs  # the copy starts clean
    assert count_trials(trials, 4).counted == 2  # the interrupted FAIL no longer counts
    run_worker(plan, FakeJob())  # resume
    final = load(plan).get_trials()
    assert count_trials(final, 4).finished == 4 and final[2].state == TrialState.COMPLETE


def test_trial_interrupted_before_its_first_act_is_queued_again(tmp_path, monkeypatch):
    # Ctrl-C just after Optuna handed a trial over, before the worker wrote itself on it: the
    # trial is still found (by its worker) and queued again, not left FAIL for good
    from sweeps.workers import _worker

    plan = make_plan(tmp_path / "o.db", n_trials=3)
    first_act = _worker._TrialRunner._run

    def interrupted_at_once(self: _worker._TrialRunner, trial: optuna.Trial) -> float:
        if trial.number == 1:
            raise KeyboardInterrupt
        return first_act(self, trial)

    monkeypatch.setattr(_worker._TrialRunner, "_run", interrupted_at_once)
    with pytest.raises(KeyboardInterrupt):
        run_worker(plan, FakeJob())
    trials = load(plan).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.WAITING]
    assert trials[1].user_attrs[FAIL_REASON_ATTR].startswith("interrupted")
    assert trials[2].params == trials[1].params


def test_trial_beyond_the_budget_is_marked_surplus_and_not_run(tmp_path):
    # trials asked together past n_trials (another process) are ended before running
    plan = make_plan(tmp_path / "o.db", n_trials=3)
    run_worker(make_plan(tmp_path / "o.db", n_trials=2), FakeJob())
    study = load(plan)
    study.enqueue_trial({"x": 0.1})
    study.enqueue_trial({"x": 0.2})  # one more than the budget allows
    job = FakeJob()
    run_worker(plan, job)
    trials = load(plan).get_trials()
    assert job.runs == [2]
    assert trials[3].state == TrialState.FAIL and trials[3].user_attrs[SURPLUS_ATTR]
    assert count_trials(trials, 3).finished == 3


def _assert_the_worker_recovers(plan, orphan: optuna.Trial) -> None:
    """A worker on a 2-trial study fails the ``orphan`` RUNNING trial, runs its parameters
    again and finishes, instead of waiting for it."""
    done = threading.Thread(target=run_worker, args=(plan, FakeJob()), daemon=True)
    done.start()
    done.join(timeout=60)
    assert not done.is_alive(), "the worker waited for a trial nobody runs"
    trials = load(plan).get_trials()
    assert trials[orphan.number].state == TrialState.FAIL
    budget = count_trials(trials, 2)
    assert budget.finished == 2 and budget.running == budget.waiting == 0


@pytest.mark.slow  # waits out twice the grace period
@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # the test asks outside optimize
def test_trial_that_never_started_is_recovered_instead_of_awaited_forever(tmp_path):
    # a worker killed between Optuna creating its trial and the first heartbeat leaves a
    # RUNNING trial that can never go stale: it is failed and re-queued, the sweep finishes
    plan = make_plan(tmp_path / "o.db", n_trials=2)
    orphan = load(plan).ask()  # RUNNING, no heartbeat, never reached the objective
    time.sleep(2.5)  # 2 x grace_period
    _assert_the_worker_recovers(plan, orphan)


def test_a_worker_process_report_comes_back_through_its_file(tmp_path):
    # a worker process writes its report beside its payload; the sweep reads it back, and a
    # worker that wrote none (interrupted, crashed) has no report rather than a made-up one
    import dataclasses
    import json

    from sweeps.workers._processes import REPORT_SUFFIX, _read_report
    from sweeps.workers._worker import WorkerReport

    payload = str(tmp_path / "sweep-worker-1.pkl")
    assert _read_report(payload) is None
    sent = WorkerReport(1, pid=4321, trials=[1, 4], stopped_for_failures=True)
    (tmp_path / ("sweep-worker-1.pkl" + REPORT_SUFFIX)).write_text(
        json.dumps(dataclasses.asdict(sent)))
    assert _read_report(payload) == sent


@pytest.mark.slow  # waits out the grace period
@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # the test asks outside optimize
def test_trial_killed_after_its_first_act_but_before_its_first_heartbeat_is_recovered(tmp_path):
    # the kill caught the trial after it recorded its worker, before any heartbeat: it has no
    # heartbeat to go stale either, and is failed and re-queued after the grace period too
    plan = make_plan(tmp_path / "o.db", n_trials=2)
    orphan = load(plan).ask()
    orphan.set_user_attr(WORKER_ATTR, "elsewhere:12345")
    _assert_the_worker_recovers(plan, orphan)


def test_each_trial_runs_within_its_workers_thread_share(tmp_path, monkeypatch):
    # n_jobs workers on a machine: each trial's task sees its share as OMP_NUM_THREADS and its
    # BLAS limited to it (NumPy's is loaded before the trial, as in a forked worker); the
    # worker's own settings come back afterwards
    from dataclasses import replace

    import numpy as np  # noqa: F401  (its BLAS is loaded)
    from threadpoolctl import threadpool_info

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    seen: list[tuple[str | None, set[int]]] = []

    class Job(FakeJob):
        def run(self, overrides, number):
            blas = {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}
            seen.append((os.environ.get("OMP_NUM_THREADS"), blas))
            return super().run(overrides, number)

    plan = replace(make_plan(tmp_path / "o.db", n_trials=2), blas_threads=1)
    run_worker(plan, Job())
    assert seen == [("1", {1}), ("1", {1})]
    assert "OMP_NUM_THREADS" not in os.environ


@pytest.mark.slow  # starts a process
def test_a_worker_process_that_cannot_open_the_storage_says_so_in_one_line(tmp_path):
    # one line naming hydra.sweeper.storage, its password hidden, exit 1: not a traceback
    # ending in a message that quotes the URL
    import dataclasses
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    import cloudpickle
    from hydra.core.singleton import Singleton
    from omegaconf import OmegaConf

    plan = make_plan(tmp_path / "o.db", n_trials=2)
    url = "mysql+nosuchdriver://sweeper:s3cret-pw@db-host/optuna"
    plan = dataclasses.replace(plan, storage=dataclasses.replace(plan.storage, url=url))
    job = FakeJob()
    job.config = OmegaConf.create({"hydra": {"hydra_logging": None, "verbose": False}})
    payload = tmp_path / "sweep-worker-1.pkl"
    payload.write_bytes(cloudpickle.dumps((plan, job, Singleton.get_state())))
    tests = Path(__file__).parent
    script = textwrap.dedent(f"""
        import os, sys
        sys.path[:0] = [{str(tests.parents[1])!r}, {str(tests)!r}]
        from sweeps.workers._processes import worker_process_main
        from runkit.process import process_start_time
        worker_process_main({str(payload)!r}, 1, os.getpid(), process_start_time(os.getpid()))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "error: hydra.sweeper.storage: expected a storage that can be opened, got "
        '"mysql+nosuchdriver://sweeper:***@db-host/optuna (NoSuchModuleError: Can\'t load '
        'plugin: sqlalchemy.dialects:mysql.nosuchdriver)"']


def test_a_ready_sampler_object_is_reseeded_in_every_worker_but_the_first(tmp_path):
    # a sampler object handed in from Python keeps its own seed: each worker process gets a
    # copy in the same state, so every worker but slot 0 reseeds its copy (Optuna's way for its
    # own threads) instead of drawing slot 0's points again
    def first_x(index: int, db: str) -> float:
        plan = make_plan(tmp_path / db, n_trials=1, sampler=optuna.samplers.RandomSampler(seed=3))
        run_worker(plan, FakeJob(epochs=1), index)
        return load(plan).trials[0].params["x"]

    assert first_x(0, "a.db") == first_x(0, "b.db")  # slot 0: the object's own seed
    assert first_x(1, "c.db") != first_x(0, "d.db")


def test_a_multi_objective_trial_takes_the_tasks_tuple_and_its_reports_prune_nothing(tmp_path):
    # direction: [minimize, maximize]: the task returns two values (a tuple or a list); its
    # sweeps.report calls neither fail (Optuna cannot take them) nor prune
    plan = make_plan(tmp_path / "o.db", n_trials=4, direction=["minimize", "maximize"])
    run_worker(plan, FakeJob(returns=lambda x, loss: (x, 1 - x) if x < 0.5 else [x, 1 - x]))
    trials = load(plan).trials
    assert states(load(plan)) == ["COMPLETE"] * 4
    for trial in trials:
        assert trial.values == [pytest.approx(trial.params["x"]),
                                pytest.approx(1 - trial.params["x"])]
        assert trial.intermediate_values == {}


@pytest.mark.parametrize(("returned", "shown"), [
    ((1.0, 2.0, 3.0), "(1.0, 2.0, 3.0)"),
    (0.5, "0.5"),
    ("ab", "'ab'"),
    ((1.0, float("nan")), "(1.0, nan)"),
])
def test_a_multi_objective_task_returning_the_wrong_values_fails_in_one_line(tmp_path, returned,
                                                                             shown):
    # two directions, anything but two finite numbers: the trial FAILs with what was expected
    # and what came back
    plan = make_plan(tmp_path / "o.db", n_trials=1, direction=["minimize", "minimize"])
    run_worker(plan, FakeJob(returns=lambda x, loss: returned))
    [trial] = load(plan).trials
    assert trial.state == TrialState.FAIL
    assert fail_reason(trial) == (
        f"the task returned {shown}: expected a tuple or list of 2 finite numbers, one per "
        "direction of hydra.sweeper.direction")


def test_a_single_objective_task_returning_a_tuple_fails_in_one_line(tmp_path):
    plan = make_plan(tmp_path / "o.db", n_trials=1)
    run_worker(plan, FakeJob(returns=lambda x, loss: (x, x)))
    [trial] = load(plan).trials
    assert trial.state == TrialState.FAIL
    assert fail_reason(trial).endswith(": expected a finite number (one direction)")
    assert fail_reason(trial).startswith("the task returned (")


def test_ctrl_c_while_a_worker_process_starts_its_watch_exits_130_without_a_trace(
        tmp_path, monkeypatch, capsys):
    # Ctrl-C reaches the whole process group: a worker still starting (importing, starting its
    # sweep-watch thread) exits 130 quietly, as one in a trial does; no traceback on stderr
    import signal

    from runkit.signals import Interrupted
    from sweeps.workers import _processes

    def interrupted_watch(*_args: object) -> None:
        raise Interrupted(signal.SIGINT)

    monkeypatch.setattr(_processes, "_watch_sweep", interrupted_watch)
    payload = tmp_path / "sweep-worker-1.pkl"
    payload.write_bytes(b"never read")
    with pytest.raises(SystemExit) as stopped:
        _processes._run_worker_process(str(payload), 1, os.getpid(), None)
    assert stopped.value.code == _processes.EXIT_INTERRUPTED
    assert capsys.readouterr().err == ""


def test_ctrl_c_as_a_worker_process_ends_its_work_exits_130(monkeypatch):
    # the first interrupt may land after the run's own handling (closing its MLflow runs):
    # still exit 130, not a traceback printed by multiprocessing and exit 1
    import signal

    from runkit.signals import Interrupted
    from sweeps.workers import _processes

    def interrupted_ending(*_args: object) -> None:
        raise Interrupted(signal.SIGINT)

    monkeypatch.setattr(_processes, "_run_worker_process", interrupted_ending)
    with pytest.raises(SystemExit) as stopped:
        _processes.worker_process_main("unused.pkl", 1)
    assert stopped.value.code == _processes.EXIT_INTERRUPTED
