"""The Optuna study: its storage, crash recovery, the shared trial budget, samplers and pruners."""
