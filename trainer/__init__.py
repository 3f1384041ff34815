"""trainer: feed-forward networks in NumPy, driven by Hydra, tuned by Optuna, tracked by MLflow."""

__version__ = "0.1.0"

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent

# The Hydra configs. A wheel ships the repository's conf/ inside the package (trainer/conf/,
# pyproject's package-dir); a source checkout or an editable install reads conf/ beside it.
CONFIG_DIR = (
    _PACKAGE_DIR / "conf" if (_PACKAGE_DIR / "conf").is_dir() else _PACKAGE_DIR.parent / "conf"
)
