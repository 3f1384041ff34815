"""What the controller says when its launched workers stop short of the study."""

from __future__ import annotations

from sweeps.search._space import parse_search_space
from sweeps.study._storage import StorageSpec
from sweeps.workers._launchers import (
    JobFailure,
    LaunchResult,
    _failure,
    first_error_line,
    launched_workers_failure,
)
from sweeps.workers._worker import WorkerPlan

# submitit's FailedJobError text: the job's own traceback between two rules, then its logs
SUBMITIT_FAILURE = """Job (task=0) failed during processing with trace:
----------------------
Traceback (most recent call last):
  File "/site-packages/submitit/core/submission.py", line 52, in process_job
    delayed = utils.DelayedSubmission.load(paths.submitted_pickle)
              ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
hydra.errors.ConfigCompositionException: Could not override 'hydra.sweeper.n_jobs'.
To append to your config use +hydra.sweeper.n_jobs=2

----------------------
You can check full logs with 'job.stderr(0)' and 'job.stdout(0)'or at paths:
  - /runs/multirun/x/.submitit/17532/17532_0_log.err
  - /runs/multirun/x/.submitit/17532/17532_0_log.out
"""


PLAN = WorkerPlan(
    study_name="s", sampler="random", pruner="none", seed=0, n_trials=1, objective=None,
    storage=StorageSpec("postgresql+psycopg2://sweeper:s3cret@db-host:5432/optuna"),
    space=parse_search_space({"x": "interval(0.0, 1.0)"}))


class FailedJobError(RuntimeError):
    pass


class UncompletedJobError(RuntimeError):
    pass


def test_the_jobs_own_exception_line_is_quoted_not_the_launchers_wrapper():
    assert first_error_line(FailedJobError(SUBMITIT_FAILURE)) == (
        "hydra.errors.ConfigCompositionException: Could not override 'hydra.sweeper.n_jobs'.")
    # joblib: the remote traceback is the cause of the error raised in the controller
    remote = RuntimeError('\n"""\nTraceback (most recent call last):\n  File "x.py", line 1\n'
                          "ModuleNotFoundError: No module named 'mypackage'\n\"\"\"")
    try:
        raise OSError("A task has failed to un-serialize.") from remote
    except OSError as error:
        assert first_error_line(error) == "ModuleNotFoundError: No module named 'mypackage'"
    # no traceback anywhere: the type and the message's first line
    assert first_error_line(ValueError("bad value\nmore")) == "ValueError: bad value"


def test_a_job_that_left_no_result_was_killed_and_one_that_raised_was_not():
    raised = _failure(FailedJobError(SUBMITIT_FAILURE), PLAN)
    assert not raised.killed and raised.log == "/runs/multirun/x/.submitit/17532/17532_0_log.err"
    assert _failure(UncompletedJobError("Job 12_0 has not produced any output"), PLAN).killed


def test_a_quoted_failure_never_shows_the_storage_password():
    # on a cluster, the controller's output lands in logs others may read
    failure = _failure(ValueError(f"got '{PLAN.storage.url} (OperationalError)'"), PLAN)
    assert failure.line == ("ValueError: got 'postgresql+psycopg2://sweeper:***@db-host:5432/"
                            "optuna (OperationalError)'")


def test_failed_before_the_first_trial_quotes_and_asks_for_no_rerun():
    launch = LaunchResult(failures=[JobFailure("ModuleNotFoundError: No module named 'm'",
                                               log="/runs/0_log.err")])
    line = launched_workers_failure(launch, finished=0, n_trials=40, started=False,
                                    logs="their logs under multirun/x")
    assert line == ("error: the launched workers failed before their first trial: "
                    "ModuleNotFoundError: No module named 'm' (see /runs/0_log.err)")


def test_workers_killed_or_stopped_after_trials_can_be_resumed():
    # a job cancelled from outside would run on a second try; so would a study half done
    killed = LaunchResult(failures=[JobFailure("UncompletedJobError: Job 12_0 (task: 0) has not "
                                               "produced any output (state: CANCELLED by 0)",
                                               killed=True)])
    line = launched_workers_failure(killed, finished=0, n_trials=40, started=False,
                                    logs="their logs under multirun/x")
    assert line.startswith("error: the launched workers stopped with 0 of 40 trials finished "
                           "(first error: UncompletedJobError: Job 12_0")
    assert line.endswith("see their logs under multirun/x); run the same command again to resume")
    stopped = launched_workers_failure(LaunchResult(), finished=7, n_trials=40, started=True,
                                       logs="their logs under multirun/x")
    assert stopped == ("error: the launched workers stopped with 7 of 40 trials finished (see "
                       "their logs under multirun/x); run the same command again to resume")
