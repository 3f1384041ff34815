"""trainer: feed-forward networks in NumPy, driven by Hydra, tuned by Optuna, tracked by MLflow."""

__version__ = "0.1.0"
