"""Reporting: the sweep's MLflow parent run, the best trial, the study's pictures."""

from sweeps.reporting._tracking import BestTrial, best_trial, reproduce_command

__all__ = ["BestTrial", "best_trial", "reproduce_command"]
