"""The MLflow tag names a training run writes besides every run's (``runkit.mlflow.tags``).

Runs are found and filtered by these names (``tags.stop_reason = 'pruned'`` in the UI), so they
are part of the public interface: change one only with the README.
"""

DATASET_TAG = "dataset"
TASK_TAG = "task"
LOSS_TAG = "loss"
STOP_REASON_TAG = "stop_reason"  # completed | early_stopping | pruned
