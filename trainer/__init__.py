"""trainer: feed-forward networks in NumPy, driven by Hydra, tuned by Optuna, tracked by MLflow.

The public names are importable from the package itself::

    from trainer import MLPClassifier, MLPRegressor, MLP, FitLoop, Adam, EarlyStopping, load_dataset

Each is imported when first asked for (PEP 562), so ``import trainer`` costs nothing and a script
that only fits an estimator loads neither MLflow, Hydra nor Optuna (a test pins it). The command
line is ``python -m trainer``; its application modules (``trainer.app``, ``trainer.tracking``) are
imported by it, not from here.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_PACKAGE_DIR = Path(__file__).resolve().parent

# The Hydra configs. A wheel ships the repository's conf/ inside the package (trainer/conf/,
# pyproject's package-dir); a source checkout or an editable install reads conf/ beside it.
CONFIG_DIR = (
    _PACKAGE_DIR / "conf" if (_PACKAGE_DIR / "conf").is_dir() else _PACKAGE_DIR.parent / "conf"
)

# public name -> the module that defines it
_EXPORTS = {
    # scikit-learn estimators
    "MLPClassifier": "trainer.estimators",
    "MLPRegressor": "trainer.estimators",
    # the numerical core
    "MLP": "trainer.core.network",
    "FitLoop": "trainer.core.fit",
    "FitResult": "trainer.core.fit",
    "Optimizer": "trainer.core.optimizers",
    "SGD": "trainer.core.optimizers",
    "Momentum": "trainer.core.optimizers",
    "RMSprop": "trainer.core.optimizers",
    "Adam": "trainer.core.optimizers",
    "OPTIMIZERS": "trainer.core.optimizers",
    "Callback": "trainer.core.callbacks",
    "EarlyStopping": "trainer.core.callbacks",
    "ProgressReporter": "trainer.core.callbacks",
    "LOSSES": "trainer.core.losses",
    "ACTIVATIONS": "trainer.core.activations",
    "INITIALIZERS": "trainer.core.initializers",
    "WeightPenalty": "trainer.core.penalties",
    "Preprocessor": "trainer.core.preprocessing",
    # data sets
    "load_dataset": "trainer.data",
    "Dataset": "trainer.data",
    "DATASETS": "trainer.data",
    # errors
    "TrainerError": "trainer.core.errors",
    "ParameterError": "trainer.core.errors",
    "DataError": "trainer.core.errors",
    "TrainingDiverged": "trainer.core.errors",
    "ConfigError": "trainer.errors",
}

__all__ = [  # a literal list, so linters see it; a test checks it against _EXPORTS
    "CONFIG_DIR", "__version__", "MLPClassifier", "MLPRegressor", "MLP", "FitLoop", "FitResult",
    "Optimizer", "SGD", "Momentum", "RMSprop", "Adam", "OPTIMIZERS", "Callback", "EarlyStopping",
    "ProgressReporter", "LOSSES", "ACTIVATIONS", "INITIALIZERS", "WeightPenalty", "Preprocessor",
    "load_dataset", "Dataset", "DATASETS", "TrainerError", "ParameterError", "DataError",
    "TrainingDiverged", "ConfigError",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        # a submodule (trainer.app ...) is an attribute once imported; anything else is not
        raise AttributeError(f"module 'trainer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ imports them
    from trainer.core.activations import ACTIVATIONS
    from trainer.core.callbacks import Callback, EarlyStopping, ProgressReporter
    from trainer.core.errors import DataError, ParameterError, TrainerError, TrainingDiverged
    from trainer.core.fit import FitLoop, FitResult
    from trainer.core.initializers import INITIALIZERS
    from trainer.core.losses import LOSSES
    from trainer.core.network import MLP
    from trainer.core.optimizers import OPTIMIZERS, SGD, Adam, Momentum, Optimizer, RMSprop
    from trainer.core.penalties import WeightPenalty
    from trainer.core.preprocessing import Preprocessor
    from trainer.data import DATASETS, Dataset, load_dataset
    from trainer.errors import ConfigError
    from trainer.estimators import MLPClassifier, MLPRegressor
