"""Reporting: the sweep's MLflow parent run, the best trial, the study's pictures."""
