"""The public API a running task uses: sweeps.current_trial() and sweeps.report()."""

from __future__ import annotations

import threading

import optuna
import pytest
from optuna.trial import TrialState
from sweep_fakes import FakeJob, load, make_plan

import sweeps
from sweeps._session import TrialSession, running
from sweeps.workers import run_worker

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_outside_a_sweep_there_is_no_trial_and_report_does_nothing() -> None:
    # an app calls both unconditionally: a plain run neither fails nor is pruned
    assert sweeps.current_trial() is None
    sweeps.report(1.0, step=0)
    assert sweeps.__all__ == ["current_trial", "report"]


def test_the_task_runs_as_its_trial_and_each_report_reaches_it(tmp_path) -> None:
    # current_trial() is the very trial the worker asked for; every report is an
    # intermediate value at its step
    plan = make_plan(tmp_path / "o.db", n_trials=3)
    job = FakeJob(epochs=4)
    run_worker(plan, job)
    trials = load(plan).trials
    assert [(n, number) for n, number, _ in job.seen] == [(0, 0), (1, 1), (2, 2)]
    for trial, (_, _, params) in zip(trials, job.seen, strict=True):
        assert params == trial.params
        assert trial.state == TrialState.COMPLETE
        assert trial.intermediate_values == {e: pytest.approx(trial.params["x"] / e)
                                             for e in range(1, 5)}


def test_a_task_raising_trial_pruned_itself_is_pruned_not_failed(tmp_path) -> None:
    # hydra-optuna-sweeper records such a trial FAIL; here it is PRUNED
    plan = make_plan(tmp_path / "o.db", n_trials=2)
    run_worker(plan, FakeJob(epochs=5, prune_itself_at=3))
    trials = load(plan).trials
    assert [t.state for t in trials] == [TrialState.PRUNED] * 2
    assert [sorted(t.intermediate_values) for t in trials] == [[1, 2]] * 2


def test_a_swallowed_interrupt_stops_the_trial_at_its_next_report() -> None:
    # the flag outlives a KeyboardInterrupt a library (or a GC callback) swallowed
    from runkit.signals import INTERRUPT_REQUESTED

    study = optuna.create_study(pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    with running(TrialSession(trial)):
        sweeps.report(1.0, step=1)
        INTERRUPT_REQUESTED.set()
        try:
            with pytest.raises(KeyboardInterrupt, match="interrupted"):
                sweeps.report(0.9, step=2)
        finally:
            INTERRUPT_REQUESTED.clear()
    assert study.trials[0].intermediate_values == {1: 1.0}


def test_a_thread_the_task_starts_reaches_the_only_running_trial() -> None:
    # e.g. a training loop in a thread pool: the process runs one trial, so it is that one
    study = optuna.create_study()
    trial = study.ask()
    seen: list[object] = []
    with running(TrialSession(trial)):
        worker = threading.Thread(target=lambda: seen.append(sweeps.current_trial()))
        worker.start()
        worker.join()
    assert seen == [trial]
    assert sweeps.current_trial() is None


def test_with_two_trials_running_in_threads_a_third_thread_is_told_none() -> None:
    # each worker thread sees its own trial; a thread of neither cannot know which it serves
    study = optuna.create_study()
    first, second = study.ask(), study.ask()
    inside = threading.Barrier(3)
    done = threading.Event()
    seen: dict[str, object] = {}

    def worker(name: str, trial: optuna.Trial) -> None:
        with running(TrialSession(trial)):
            inside.wait()
            seen[name] = sweeps.current_trial()
            done.wait()

    threads = [threading.Thread(target=worker, args=(n, t))
               for n, t in (("first", first), ("second", second))]
    for thread in threads:
        thread.start()
    inside.wait()
    seen["other"] = sweeps.current_trial()
    done.set()
    for thread in threads:
        thread.join()
    assert seen == {"first": first, "second": second, "other": None}


def test_in_a_multi_objective_trial_report_records_and_never_prunes() -> None:
    # Optuna's Trial.report raises NotImplementedError for several objectives: sweeps.report
    # hands the value to the trial's run only, and the task goes on
    study = optuna.create_study(directions=["minimize", "maximize"])
    trial = study.ask()
    recorded: list[tuple[int, float]] = []
    with running(TrialSession(trial, on_report=lambda step, value: recorded.append(
            (step, value)))):
        for step in range(1, 4):
            sweeps.report(10.0 / step, step=step)
    assert recorded == [(1, 10.0), (2, 5.0), (3, pytest.approx(10 / 3))]
    study.tell(trial, [1.0, 2.0])
    assert study.trials[0].intermediate_values == {}
