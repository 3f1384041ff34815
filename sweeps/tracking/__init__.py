"""MLflow tracking of a sweep: its parent run (search space, best so far, the study's pictures,
the best trial and the command that reproduces it), the tag names, the registered best model."""

from sweeps.tracking._parent import BestTrial, best_trial, reproduce_command

__all__ = ["BestTrial", "best_trial", "reproduce_command"]
