"""Every MLflow tag name the trainer and the sweeps write, in one place.

Runs are found and filtered by these names (``tags.stop_reason = 'pruned'`` in the UI), so they
are part of the public interface: change one only with the README.
"""

# -- every training run
DATASET_TAG = "dataset"
TASK_TAG = "task"
LOSS_TAG = "loss"
STOP_REASON_TAG = "stop_reason"  # completed | early_stopping | pruned
FAILURE_REASON_TAG = "failure_reason"  # one line, on FAILED and KILLED runs
# Who runs it (trainer.tracking.owner): a later command ends it KILLED once that process is gone.
OWNER_HOST_TAG = "trainer.owner.host"
OWNER_PID_TAG = "trainer.owner.pid"
OWNER_STARTED_TAG = "trainer.owner.started"  # the process's start time, unix seconds
RUN_HEARTBEAT_TAG = "trainer.heartbeat"  # unix time, refreshed while the run's process lives

# -- sweep trials (children of the sweep's run) and the sweep's own run
STUDY_TAG = "optuna.study_name"
TRIAL_NUMBER_TAG = "optuna.trial_number"
TRIAL_STATE_TAG = "optuna.trial_state"  # COMPLETE | PRUNED | FAIL
STORAGE_TAG = "optuna.storage"  # the study's storage URL, password redacted
DIRECTION_TAG = "optuna.direction"
ROLE_TAG = "sweep.role"  # "parent" on the sweep's own run
HEARTBEAT_TAG = "sweep.heartbeat"  # unix time, refreshed while the sweep process lives
SLURM_JOB_TAG = "slurm.job_id"  # a trial run in a SLURM job: its id (ARRAYJOB_TASK in an array)

# -- MLflow's own
PARENT_RUN_TAG = "mlflow.parentRunId"
RUN_NAME_TAG = "mlflow.runName"  # setting it renames the run (a pruned trial says so)
# On an experiment: the kind of work it holds. "custom_model_development" is MLflow 3's
# "Machine learning" kind (traces and GenAI views are for "genai_development").
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING_KIND = "custom_model_development"
SOURCE_TYPE_TAG = "mlflow.source.type"
SOURCE_NAME_TAG = "mlflow.source.name"
USER_TAG = "mlflow.user"
GIT_COMMIT_TAG = "mlflow.source.git.commit"
