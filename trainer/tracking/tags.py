"""The MLflow tag names a training run writes besides every run's (``runkit.mlflow.tags``).

Runs are found and filtered by these names (``tags.stop_reason = 'pruned'`` in the UI), so they
are part of the public interface: change one only with the README.
"""

DATASET_TAG = "dataset"
TASK_TAG = "task"
LOSS_TAG = "loss"
STOP_REASON_TAG = "stop_reason"  # completed | early_stopping | pruned

# -- a sweep trial's run (written by the run itself until the sweep writes them)
STUDY_TAG = "optuna.study_name"
TRIAL_NUMBER_TAG = "optuna.trial_number"
TRIAL_STATE_TAG = "optuna.trial_state"  # COMPLETE | PRUNED | FAIL
