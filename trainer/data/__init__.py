"""Data sets: loading, validation, the train/val/test split and standardization.

``load_dataset(cfg, seed=...)`` turns the Hydra ``data`` node into a :class:`Dataset` whose
arrays are ready for the fit loop. Everything a user can get wrong (a missing file, an unknown
column, a non-numeric feature, missing values, a class too small to split) is checked here, at
the boundary, and reported as one line by :class:`~trainer.errors.ConfigError` or
:class:`~trainer.errors.DataError`; the rest of the trainer trusts the arrays.

Modules: ``settings`` (the validated ``data`` node), ``loaders`` (bundled sets, CSV, NPZ),
``targets`` (task and class labels), ``split`` (train/val/test and standardization),
``dataset`` (the result).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from trainer.core.dtypes import check_dtype
from trainer.core.parameters import NON_NEGATIVE_INT
from trainer.core.preprocessing import Preprocessor
from trainer.data.dataset import Dataset
from trainer.data.loaders import DATASETS
from trainer.data.settings import TASK_CHOICES, Settings, parse_settings
from trainer.data.split import fit_scale, split_rows
from trainer.data.targets import MAX_AUTO_CLASSES, encode_classes, resolve_task

__all__ = [
    "DATASETS",
    "MAX_AUTO_CLASSES",
    "TASK_CHOICES",
    "Dataset",
    "Preprocessor",
    "Settings",
    "load_dataset",
]

def load_dataset(
    cfg: Mapping[str, Any] | Settings,
    *,
    seed: int,
    dtype: np.dtype | str = "float32",
    base_dir: Path | None = None,
) -> Dataset:
    """Load, validate, split and standardize the data set the ``data`` node names.

    Args:
        cfg: the Hydra ``data`` node (DictConfig or dict): ``name``, ``path``, ``target``,
            ``task``, ``val_fraction``, ``test_fraction``, ``standardize``, ``dropna``; keys
            left out take the values of ``conf/data/NAME.yaml``. Or settings checked already.
        seed: drives the split; the same seed gives identical arrays.
        dtype: ``float32`` (default) or ``float64``.
        base_dir: resolves a relative ``data.path`` (the directory the command was started
            in); default the current directory.

    ``data.task=auto`` means classification for string, bool or object labels and for integer
    labels with at most 20 distinct values, regression otherwise.

    Raises:
        ConfigError: a key of the node holds a value outside what it accepts.
        ParameterError: ``seed`` or ``dtype`` is not what they accept.
        DataError: the file or its contents cannot be used.
    """
    settings = cfg if isinstance(cfg, Settings) else parse_settings(cfg)
    seed = NON_NEGATIVE_INT("seed", seed)
    float_dtype = check_dtype(dtype)
    base = Path.cwd() if base_dir is None else Path(base_dir)

    raw = DATASETS[settings.name](settings, base)
    task = resolve_task(raw, settings.task)
    if task == "classification":
        y, classes = encode_classes(raw)
    else:
        y, classes = raw.y.astype(np.float64).reshape(len(raw.y), -1), None
    train, val, test = split_rows(y, classes, settings, seed, raw)

    X = raw.X
    x_mean = x_scale = y_mean = y_scale = None
    if settings.standardize:
        x_mean, x_scale = fit_scale(X[train])  # train rows only: val/test must not leak in
        X = (X - x_mean) / x_scale
        if task == "regression":
            y_mean, y_scale = fit_scale(y[train])
            y = (y - y_mean) / y_scale
    if task == "regression":
        y = y.astype(float_dtype)

    # Statistics stay float64 so that transform() reproduces X_train to the last bit.
    preprocessor = Preprocessor(
        x_mean=x_mean,
        x_scale=x_scale,
        y_mean=y_mean,
        y_scale=y_scale,
        n_features=X.shape[1],
        dtype=float_dtype.name,
    )
    X = X.astype(float_dtype)
    return Dataset(
        name=settings.name,
        task=task,
        X_train=X[train],
        X_val=X[val],
        X_test=X[test],
        y_train=y[train],
        y_val=y[val],
        y_test=y[test],
        feature_names=list(raw.feature_names),
        classes=classes,
        preprocessor=preprocessor,
        raw=raw,
        parts={"train": train, "val": val, "test": test},
    )
