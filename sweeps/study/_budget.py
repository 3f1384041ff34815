"""How many trials of a study count against ``n_trials``, shared by every process on the storage.

``n_trials`` is the study's total. A trial *counts* when it is finished (COMPLETE, PRUNED, FAIL)
or active (RUNNING, WAITING), except:

- a FAIL whose parameters were put back to run again (a trial lost to a crash or an
  interruption, re-enqueued by Optuna's ``RetryHeartbeatStaleTrialCallback``: its copy counts);
- a *surplus* trial: several processes may ask for the last trial at the same moment. Each new
  trial checks its rank by number among the counted trials; one ranked ``n_trials`` or later is
  marked surplus and ended FAIL before anything runs (no training, no MLflow run). So the
  finished, counted trials never exceed ``n_trials``; a surplus FAIL stays visible in the study
  with the user attribute ``sweep.surplus``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState

__all__ = [
    "FAIL_REASON_ATTR",
    "OVERRIDES_ATTR",
    "PARENT_RUN_ATTR",
    "PER_RUN_ATTRS",
    "RUN_ID_ATTR",
    "SLURM_JOB_ATTR",
    "SURPLUS_ATTR",
    "WORKER_ATTR",
    "Budget",
    "count_trials",
    "counted_trials",
    "fail_reason",
    "within_budget",
]

FAIL_REASON_ATTR = "fail_reason"
RUN_ID_ATTR = "mlflow_run_id"
SURPLUS_ATTR = "sweep.surplus"
WORKER_ATTR = "worker"  # host:pid of the worker process that ran the trial
SLURM_JOB_ATTR = "slurm_job_id"  # that process's SLURM job (ARRAYJOB_TASK in an array)
OVERRIDES_ATTR = "overrides"  # the trial's exact Hydra overrides
PARENT_RUN_ATTR = "mlflow_parent_run_id"  # a study's attribute: its controller's MLflow run
# Attributes of one run of a trial's parameters: a retried copy starts without them.
PER_RUN_ATTRS = frozenset({FAIL_REASON_ATTR, RUN_ID_ATTR, WORKER_ATTR, SLURM_JOB_ATTR,
                           OVERRIDES_ATTR})
# Written by optuna.storages.RetryHeartbeatStaleTrialCallback on the re-enqueued copy.
_RETRY_HISTORY = "retry_history"
# A FAIL without a recorded reason: the sweep records one for every failure it sees, so only
# the crash recovery, which fails a trial that can no longer be written to, leaves none.
LOST_REASON = ("its worker stopped sending heartbeats for the grace period (killed, lost or "
               "suspended); its parameters were queued to run again")
# The failure-rate check waits for this many finished trials ("most trials fail" needs a few).
MIN_FINISHED_FOR_FAILURE_RATE = 4


@dataclass(frozen=True)
class Budget:
    """Counted trials of a study against its total ``n_trials``."""

    n_trials: int
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: int = 0
    waiting: int = 0

    @property
    def finished(self) -> int:
        return self.complete + self.pruned + self.failed

    @property
    def counted(self) -> int:
        return self.finished + self.running + self.waiting

    @property
    def remaining(self) -> int:
        """Trials nobody has started yet (``n_trials`` minus every counted trial)."""
        return max(0, self.n_trials - self.counted)

    @property
    def done(self) -> bool:
        return self.finished >= self.n_trials

    def too_many_failures(self, max_failure_rate: float) -> bool:
        """Most trials fail: more than ``max_failure_rate`` of at least a few finished ones."""
        return (self.finished >= MIN_FINISHED_FOR_FAILURE_RATE
                and self.failed > max_failure_rate * self.finished)


def _retried(trials: Iterable[FrozenTrial]) -> set[int]:
    numbers: set[int] = set()
    for trial in trials:
        numbers.update(trial.system_attrs.get(_RETRY_HISTORY, ()))
    return numbers


def counted_trials(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The trials that count against ``n_trials`` (see the module docstring)."""
    retried = _retried(trials)
    return [
        t for t in trials
        if not t.user_attrs.get(SURPLUS_ATTR)
        and not (t.state == TrialState.FAIL and t.number in retried)
    ]


def count_trials(trials: Sequence[FrozenTrial], n_trials: int) -> Budget:
    """Tally the counted trials by state."""
    states = [t.state for t in counted_trials(trials)]
    return Budget(
        n_trials=n_trials,
        complete=states.count(TrialState.COMPLETE),
        pruned=states.count(TrialState.PRUNED),
        failed=states.count(TrialState.FAIL),
        running=states.count(TrialState.RUNNING),
        waiting=states.count(TrialState.WAITING),
    )


def within_budget(trials: Sequence[FrozenTrial], number: int, n_trials: int) -> bool:
    """Whether trial ``number`` ranks below ``n_trials`` among the counted trials.

    Trial numbers only grow, so every process ranks a trial against the same earlier trials:
    at most ``n_trials`` finished trials can pass, however many processes share the study.
    """
    earlier = sum(1 for t in counted_trials(trials) if t.number < number)
    return earlier < n_trials


def fail_reason(trial: FrozenTrial) -> str:
    """Why a FAIL trial failed, as the sweep recorded it (a lost worker's trial has no record)."""
    return str(trial.user_attrs.get(FAIL_REASON_ATTR, LOST_REASON))
