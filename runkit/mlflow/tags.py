"""The MLflow tag names every run of this project carries, whoever started it.

Runs are found and filtered by these names (``tags.failure_reason``), so they are part of the
public interface: change one only with the README. The trainer's own tags live in
``trainer.tracking.tags``, the sweeps' in ``sweeps``.
"""

FAILURE_REASON_TAG = "failure_reason"  # one line, on FAILED and KILLED runs
# Who runs it (runkit.mlflow.owner): a later command ends it KILLED once that process is gone.
OWNER_HOST_TAG = "trainer.owner.host"
OWNER_PID_TAG = "trainer.owner.pid"
OWNER_STARTED_TAG = "trainer.owner.started"  # the process's start time, unix seconds
RUN_HEARTBEAT_TAG = "trainer.heartbeat"  # unix time, refreshed while the run's process lives

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
