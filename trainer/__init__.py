"""trainer: feed-forward networks in NumPy, driven by Hydra, tuned by Optuna, tracked by MLflow."""

__version__ = "0.1.0"

from pathlib import Path

# The Hydra configs: the repository's conf/ (found by the editable install the README uses).
CONFIG_DIR = Path(__file__).resolve().parent.parent / "conf"
