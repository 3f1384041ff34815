"""The MLflow tag names the sweeps write: on the sweep's parent run and on each trial's run.

Runs are found and filtered by these names (``tags.`optuna.trial_state` = 'PRUNED'`` in the
UI), so they are part of the public interface: change one only with the README.
"""

__all__ = [
    "DIRECTION_TAG",
    "HEARTBEAT_TAG",
    "ROLE_TAG",
    "SLURM_JOB_TAG",
    "STORAGE_TAG",
    "STUDY_TAG",
    "TRIAL_NUMBER_TAG",
    "TRIAL_STATE_TAG",
]

# -- every trial's run and the sweep's own run
STUDY_TAG = "optuna.study_name"
TRIAL_NUMBER_TAG = "optuna.trial_number"
TRIAL_STATE_TAG = "optuna.trial_state"  # COMPLETE | PRUNED | FAIL
# -- a trial's run in a SLURM job
SLURM_JOB_TAG = "slurm.job_id"  # the job's id (ARRAYJOB_TASK in an array)
# -- the sweep's own (parent) run
STORAGE_TAG = "optuna.storage"  # the study's storage URL, password redacted
DIRECTION_TAG = "optuna.direction"
ROLE_TAG = "sweep.role"  # "parent"
HEARTBEAT_TAG = "sweep.heartbeat"  # unix time, refreshed while the sweep process lives
