"""Data sets: loading, validation, the train/val/test split and standardization.

``load_dataset(cfg, seed=...)`` turns the Hydra ``data`` node into a :class:`Dataset` whose
arrays are ready for the fit loop. Everything a user can get wrong (a missing file, an unknown
column, a non-numeric feature, missing values, a class too small to split) is checked here, at
the boundary, and reported as one line by :class:`~trainer.errors.ConfigError` or
:class:`~trainer.errors.DataError`; the rest of the trainer trusts the arrays.

The :class:`Preprocessor` (feature and target standardization fitted on the training part only)
travels with the saved model so that the model can take raw feature rows; it saves to plain
arrays, so an ``.npz`` without pickle can hold it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np

from trainer.config import check_dtype
from trainer.errors import ConfigError, DataError

# sklearn, pandas and omegaconf are imported inside the functions that need them: loading a
# saved model only needs Preprocessor, and should not pay for importing them.

__all__ = [
    "DATASETS",
    "DEFAULTS",
    "MAX_AUTO_CLASSES",
    "TASKS",
    "Dataset",
    "Preprocessor",
    "load_dataset",
]

logger = logging.getLogger(__name__)

TASKS = ("auto", "classification", "regression")

# data.task=auto treats integer labels with at most this many distinct values as classes.
MAX_AUTO_CLASSES = 20

# The keys of conf/data/*.yaml with their defaults, used when a plain dict leaves one out.
DEFAULTS: dict[str, Any] = {
    "name": "digits",
    "path": None,
    "target": None,
    "task": "auto",
    "val_fraction": 0.2,
    "test_fraction": 0.2,
    "standardize": True,
    "dropna": False,
}



# --------------------------------------------------------------------------------------------
# Preprocessor
# --------------------------------------------------------------------------------------------

_ARRAY_PREFIX = "preprocessor."


@dataclass
class Preprocessor:
    """Standardization fitted on the training part: ``X_std = (X_raw - x_mean) / x_scale``.

    Attributes:
        x_mean, x_scale: (d,) feature means and standard deviations of the training part
            (constant columns get scale 1); ``None`` when ``data.standardize`` is false.
        y_mean, y_scale: (k,) regression target means and standard deviations; ``None`` for
            classification or when ``data.standardize`` is false.
        n_features: d, the number of raw feature columns :meth:`transform` accepts.
        dtype: the float dtype :meth:`transform` and :meth:`inverse_targets` return.
    """

    x_mean: np.ndarray | None
    x_scale: np.ndarray | None
    y_mean: np.ndarray | None = None
    y_scale: np.ndarray | None = None
    n_features: int | None = None
    dtype: str = "float32"

    def transform(self, X_raw: Any) -> np.ndarray:
        """Raw feature rows (n, d) (array or DataFrame) -> model inputs (n, d) in ``dtype``."""
        X = np.asarray(X_raw)
        if X.dtype.kind not in "biuf":
            raise DataError(
                f"features: expected numeric raw feature rows, got an array of dtype {X.dtype}"
            )
        n_features = self.n_features
        if X.ndim != 2 or (n_features is not None and X.shape[1] != n_features):
            expected = f"{n_features} columns" if n_features is not None else "columns"
            raise DataError(
                f"features: expected a 2-D array of rows with {expected} "
                f"(one row: x.reshape(1, -1)), got shape {X.shape}"
            )
        if self.x_mean is None or self.x_scale is None:
            return X.astype(self.dtype)
        # Computed in float64 so that float32 models lose nothing before the cast.
        return ((X.astype(np.float64) - self.x_mean) / self.x_scale).astype(self.dtype)

    def inverse_targets(self, y_scaled: Any) -> np.ndarray:
        """Model outputs (n, k) in standardized units -> targets (n, k) in the data's units."""
        y = np.asarray(y_scaled, dtype=np.float64)
        if self.y_mean is None or self.y_scale is None:
            return y.astype(self.dtype)
        return (y * self.y_scale + self.y_mean).astype(self.dtype)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (no object dtype) for ``np.savez``; keys start with ``preprocessor.``."""
        arrays: dict[str, np.ndarray] = {_ARRAY_PREFIX + "dtype": np.array(self.dtype)}
        if self.n_features is not None:
            arrays[_ARRAY_PREFIX + "n_features"] = np.array(self.n_features, dtype=np.int64)
        for name in ("x_mean", "x_scale", "y_mean", "y_scale"):
            value = getattr(self, name)
            if value is not None:
                arrays[_ARRAY_PREFIX + name] = np.asarray(value)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Preprocessor:
        """Inverse of :meth:`to_arrays`; ``arrays`` may hold other keys too (an ``np.load``
        result that also holds the model weights)."""
        keys = set(arrays.keys())

        def get(name: str) -> np.ndarray | None:
            key = _ARRAY_PREFIX + name
            return np.asarray(arrays[key]) if key in keys else None

        dtype = get("dtype")
        n_features = get("n_features")
        return cls(
            x_mean=get("x_mean"),
            x_scale=get("x_scale"),
            y_mean=get("y_mean"),
            y_scale=get("y_scale"),
            n_features=int(n_features) if n_features is not None else None,
            dtype=str(dtype) if dtype is not None else "float32",
        )


# --------------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------------


@dataclass
class Dataset:
    """A data set split into train/val/test, ready for the fit loop.

    Attributes:
        name: ``data.name`` (``digits``, ``csv`` ...).
        task: ``"classification"`` or ``"regression"``.
        X_train, X_val, X_test: (n_part, d) features in the float dtype, standardized with the
            statistics of the training part when ``data.standardize`` is true.
        y_train, y_val, y_test: classification: (n_part,) int64 class indices into ``classes``;
            regression: (n_part, k) floats in the dtype, standardized like the features.
        feature_names: d column names.
        classes: (n_classes,) the original labels in index order (strings as a numpy unicode
            array); ``None`` for regression.
        preprocessor: the fitted standardization, to save with the model.
    """

    name: str
    task: str
    X_train: np.ndarray = field(repr=False)
    X_val: np.ndarray = field(repr=False)
    X_test: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    y_val: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    feature_names: list[str] = field(repr=False)
    classes: np.ndarray | None
    preprocessor: Preprocessor = field(repr=False)

    @property
    def n_features(self) -> int:
        """d, the number of input features."""
        return int(self.X_train.shape[1])

    @property
    def n_outputs(self) -> int:
        """Output units: 1 for two classes (sigmoid), n_classes for more (softmax), k for
        regression."""
        if self.task == "regression":
            return int(self.y_train.shape[1])
        assert self.classes is not None
        return 1 if len(self.classes) == 2 else len(self.classes)

    @property
    def dtype(self) -> np.dtype:
        """The float dtype of the arrays."""
        return self.X_train.dtype

    def encode_targets(self, y: np.ndarray) -> np.ndarray:
        """Targets for the loss, (n, n_outputs) in ``dtype``.

        Classification: (n,) class indices -> (n, 1) 0/1 for two classes, one-hot (n, k) for
        more. Regression: (n, k) (or (n,)) -> (n, k) unchanged apart from the dtype.
        """
        y = np.asarray(y)
        if self.task == "regression":
            return y.astype(self.dtype).reshape(len(y), -1)
        assert self.classes is not None
        n_classes = len(self.classes)
        y = y.reshape(-1)
        if y.dtype.kind not in "iu" or (y.size and (y.min() < 0 or y.max() >= n_classes)):
            raise ValueError(f"expected class indices in [0, {n_classes}), got {y[:5]!r}...")
        if n_classes == 2:
            return y.astype(self.dtype).reshape(-1, 1)
        one_hot = np.zeros((len(y), n_classes), dtype=self.dtype)
        one_hot[np.arange(len(y)), y] = 1
        return one_hot


# --------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    """The validated ``data`` node."""

    name: str
    path: str | None
    target: str | None
    task: str
    val_fraction: float
    test_fraction: float
    standardize: bool
    dropna: bool


def _as_dict(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict of the node; a Hydra ``???`` (unset mandatory value) stays the string."""
    try:
        from omegaconf import DictConfig, OmegaConf
    except ImportError:  # pragma: no cover - omegaconf comes with hydra-core
        DictConfig = ()  # type: ignore[assignment,misc]
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)  # type: ignore[return-value]
    return dict(cfg)


def _is_unset(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() in ("", "???"))


def _fraction(values: Mapping[str, Any], key: str) -> float:
    value = values[key]
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 < float(value) < 1:
        raise ConfigError(f"data.{key}", "a fraction between 0 and 1 (exclusive)", value)
    return float(value)


def _flag(values: Mapping[str, Any], key: str) -> bool:
    value = values[key]
    if not isinstance(value, bool):
        raise ConfigError(f"data.{key}", "true or false", value)
    return value


def _settings(cfg: Mapping[str, Any]) -> _Settings:
    values = {**DEFAULTS, **_as_dict(cfg)}
    name = values["name"]
    if name not in DATASETS:
        raise ConfigError(
            "data.name",
            f"one of {', '.join(DATASETS)} (pick one on the command line with data=NAME)",
            name,
        )
    task = values["task"]
    if task not in TASKS:
        raise ConfigError("data.task", f"one of {', '.join(TASKS)}", task)
    val_fraction = _fraction(values, "val_fraction")
    test_fraction = _fraction(values, "test_fraction")
    if val_fraction + test_fraction >= 1:
        raise ConfigError(
            "data.val_fraction + data.test_fraction",
            "a sum below 1 (the rest is the training part)",
            round(val_fraction + test_fraction, 10),
        )
    path = None if _is_unset(values["path"]) else str(values["path"])
    # Hydra parses data.target=3 as an int; CSV headers are strings.
    target = None if _is_unset(values["target"]) else str(values["target"])
    return _Settings(
        name=name,
        path=path,
        target=target,
        task=task,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        standardize=_flag(values, "standardize"),
        dropna=_flag(values, "dropna"),
    )


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise ConfigError("seed", "a non-negative integer", seed)
    return int(seed)


# --------------------------------------------------------------------------------------------
# Loaders: each returns raw, validated arrays
# --------------------------------------------------------------------------------------------


@dataclass
class _Raw:
    """What a loader hands on: raw features and labels, before splitting.

    Attributes:
        X: (n, d) float64 features, finite.
        y: (n,) labels of any dtype (strings as a unicode array) or (n, k) numeric targets.
        feature_names: d names.
        source: how messages name the labels ("column 'label' of /data/a.csv").
        origin: how messages name the data ("/data/a.csv", "the iris data set").
        label_names: names of integer labels 0..c-1 (the bundled sets' target_names).
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    source: str
    origin: str
    label_names: np.ndarray | None = None


def _sklearn_loader(loader_name: str) -> Callable[[_Settings, Path], _Raw]:
    def load(settings: _Settings, base_dir: Path) -> _Raw:
        from sklearn import datasets

        bunch = getattr(datasets, loader_name)()
        n_features = bunch.data.shape[1]
        names = getattr(bunch, "feature_names", None)
        feature_names = (
            [str(n) for n in names] if names is not None else [f"x{i}" for i in range(n_features)]
        )
        label_names = getattr(bunch, "target_names", None)
        if label_names is not None:
            label_names = np.asarray(label_names)
            if label_names.dtype.kind == "O":
                label_names = label_names.astype(str)
        return _Raw(
            X=np.asarray(bunch.data, dtype=np.float64),
            y=np.asarray(bunch.target),
            feature_names=feature_names,
            source=f"the targets of the {settings.name} data set",
            origin=f"the {settings.name} data set",
            label_names=label_names,
        )

    return load


def _resolve_path(settings: _Settings, base_dir: Path, kind: str) -> Path:
    if settings.path is None:
        raise ConfigError("data.path", f"the path of a {kind} file (data.path=FILE)", None)
    path = Path(settings.path).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    if not path.is_file():
        what = "a directory" if path.is_dir() else "no such file"
        raise DataError(f"data.path: expected a {kind} file at {path}, found {what}")
    return path


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _load_csv(settings: _Settings, base_dir: Path) -> _Raw:
    import pandas as pd

    path = _resolve_path(settings, base_dir, "CSV")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"data.path: {path} is not a readable CSV file ({reason})") from None
    frame.columns = [str(c) for c in frame.columns]
    columns = list(frame.columns)
    shown = ", ".join(repr(c) for c in columns[:8]) + (", ..." if len(columns) > 8 else "")
    if settings.target is None:
        raise ConfigError("data.target", f"the name of the target column of {path} ({shown})", None)
    target = settings.target
    if target not in columns:
        raise ConfigError("data.target", f"a column of {path} ({shown})", target)
    features = [c for c in columns if c != target]
    if not features:
        raise DataError(f"{path}: expected feature columns besides the target {target!r}, got none")

    # Non-numeric features first: dropping rows cannot fix them.
    for column in features:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        coerced = pd.to_numeric(values, errors="coerce")
        bad = values.notna() & coerced.isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{path}: feature column {column!r} must be numeric, got {values.iloc[row]!r} "
                f"(line {row + 2}); drop the column or encode it as numbers"
            )
        frame[column] = coerced

    missing = frame.isna().sum()
    missing = missing[missing > 0]
    if len(missing):
        if not settings.dropna:
            counts = ", ".join(
                f"column {c!r} ({_plural(int(n), 'row')})" for c, n in missing.items()
            )
            raise DataError(
                f"{path}: expected no missing values, got missing values in {counts}; "
                "fill them, or set data.dropna=true to drop those rows"
            )
        before = len(frame)
        frame = frame.dropna()
        logger.info("data.dropna: dropped %d of %d rows of %s", before - len(frame), before, path)

    X = frame[features].to_numpy(dtype=np.float64)
    not_finite = ~np.isfinite(X).all(axis=0)
    if not_finite.any():
        column = features[int(np.flatnonzero(not_finite)[0])]
        raise DataError(f"{path}: feature column {column!r} must be finite, got infinite values")

    labels = frame[target]
    if pd.api.types.is_bool_dtype(labels) or pd.api.types.is_numeric_dtype(labels):
        y = labels.to_numpy()
    else:
        # Strings stay strings, as a unicode array (never object dtype).
        y = labels.astype(str).to_numpy(dtype=str)
    return _Raw(
        X=X, y=y, feature_names=features, source=f"column {target!r} of {path}", origin=str(path)
    )


def _load_npz(settings: _Settings, base_dir: Path) -> _Raw:
    path = _resolve_path(settings, base_dir, ".npz")
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise DataError(
            f"data.path: expected an .npz archive of plain arrays at {path} "
            f"(np.savez(path, X=X, y=y)), got an unreadable file ({error})"
        ) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(
            f"data.path: expected an .npz archive (np.savez(path, X=X, y=y)) at {path}, "
            "got a single .npy array"
        )
    with archive:
        keys = list(archive.keys())
        absent = [k for k in ("X", "y") if k not in keys]
        if absent:
            raise DataError(
                f"{path}: expected arrays 'X' and 'y', missing {', '.join(map(repr, absent))}; "
                f"arrays found: {', '.join(map(repr, keys)) or 'none'}"
            )
        try:
            X, y = archive["X"], archive["y"]
            names = archive["feature_names"] if "feature_names" in keys else None
        except ValueError as error:  # object arrays need pickle, which is refused
            raise DataError(
                f"{path}: expected plain numeric or string arrays, got {error}"
            ) from None

    if X.ndim != 2:
        raise DataError(f"{path}: expected X of shape (samples, features), got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise DataError(f"{path}: expected numeric X, got dtype {X.dtype}")
    if y.ndim not in (1, 2) or len(y) != len(X):
        raise DataError(
            f"{path}: expected y of shape ({len(X)},) or ({len(X)}, k) to match X {X.shape}, "
            f"got shape {y.shape}"
        )
    X = X.astype(np.float64)
    y_float = y.dtype.kind == "f"
    nan_rows = np.isnan(X).any(axis=1)
    if y_float:
        nan_rows |= np.isnan(y).reshape(len(y), -1).any(axis=1)
    if nan_rows.any():
        if not settings.dropna:
            raise DataError(
                f"{path}: expected no NaN in X or y, got NaN in "
                f"{_plural(int(nan_rows.sum()), 'row')}; fix them, or set data.dropna=true to "
                "drop those rows"
            )
        logger.info("data.dropna: dropped %d of %d rows of %s", nan_rows.sum(), len(X), path)
        X, y = X[~nan_rows], y[~nan_rows]
    if not np.isfinite(X).all():
        raise DataError(f"{path}: expected finite X, got infinite values")
    if y_float and not np.isfinite(y).all():
        raise DataError(f"{path}: expected finite y, got infinite values")

    d = X.shape[1]
    if names is not None and names.shape == (d,):
        feature_names = [str(n) for n in names]
    else:
        feature_names = [f"x{i}" for i in range(d)]
    return _Raw(X=X, y=y, feature_names=feature_names, source=f"y in {path}", origin=str(path))


# data.name -> loader. The user picks one with data=NAME.
DATASETS: dict[str, Callable[[_Settings, Path], _Raw]] = {
    "digits": _sklearn_loader("load_digits"),
    "breast_cancer": _sklearn_loader("load_breast_cancer"),
    "wine": _sklearn_loader("load_wine"),
    "iris": _sklearn_loader("load_iris"),
    "diabetes": _sklearn_loader("load_diabetes"),
    "csv": _load_csv,
    "npz": _load_npz,
}


# --------------------------------------------------------------------------------------------
# Task and labels
# --------------------------------------------------------------------------------------------


def _whole_floats(y: np.ndarray) -> bool:
    return y.dtype.kind == "f" and bool(np.all(np.isfinite(y))) and bool(np.all(y == np.round(y)))


def _resolve_task(raw: _Raw, requested: str) -> str:
    """``data.task=auto``: classification for string, bool or object labels, and for integer
    labels (or floats that are all whole numbers) with at most ``MAX_AUTO_CLASSES`` distinct
    values; regression otherwise (and always for 2-D targets)."""
    y = raw.y
    if requested == "regression":
        if y.dtype.kind not in "iuf":
            example = y.reshape(-1)[0] if y.size else ""
            raise DataError(
                f"data.task=regression: expected numeric targets in {raw.source}, "
                f"got labels such as {str(example)!r}; use data.task=classification or auto"
            )
        return "regression"
    if requested == "classification":
        return "classification"
    if y.ndim == 2 and y.shape[1] > 1:
        return "regression"
    if y.dtype.kind in "USOb":
        return "classification"
    if y.dtype.kind in "iu" or _whole_floats(y):
        return "classification" if len(np.unique(y)) <= MAX_AUTO_CLASSES else "regression"
    return "regression"


def _encode_classes(raw: _Raw) -> tuple[np.ndarray, np.ndarray]:
    """Labels (n,) -> (class indices (n,) int64, classes (c,) in index order)."""
    y = raw.y
    if y.ndim == 2:
        if y.shape[1] != 1:
            raise DataError(
                f"data.task=classification: expected one label per row in {raw.source}, "
                f"got targets of shape {y.shape}"
            )
        y = y[:, 0]
    if y.dtype.kind == "f" and not _whole_floats(y):
        raise DataError(
            f"data.task=classification: expected class labels in {raw.source}, got fractional "
            f"values such as {float(y[y != np.round(y)][0])!r}; use data.task=regression"
        )
    if y.dtype.kind == "f":
        y = y.astype(np.int64)
    if y.dtype.kind in "SO":
        y = y.astype(str)
    classes, indices = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        got = f"only {classes[0].item()!r}" if len(classes) else "no labels"
        raise DataError(f"{raw.source}: expected at least 2 classes, got {got}")
    if raw.label_names is not None and classes.dtype.kind in "iu":
        classes = raw.label_names[classes]
    return indices.astype(np.int64).reshape(-1), classes


# --------------------------------------------------------------------------------------------
# Split and standardization
# --------------------------------------------------------------------------------------------


def _part_sizes(n: int, settings: _Settings, origin: str) -> tuple[int, int, int]:
    """(n_train, n_val, n_test): val and test round up (as sklearn does), at least one row."""
    # The small slack keeps 0.1 * 30 = 3.0000000000000004 from rounding up to 4.
    n_val = max(1, math.ceil(settings.val_fraction * n - 1e-9))
    n_test = max(1, math.ceil(settings.test_fraction * n - 1e-9))
    n_train = n - n_val - n_test
    if n_train < 1:
        raise DataError(
            f"{origin}: expected enough rows for a train/val/test split with "
            f"data.val_fraction={settings.val_fraction} and "
            f"data.test_fraction={settings.test_fraction}, got {_plural(n, 'row')}"
        )
    return n_train, n_val, n_test


def _short_class(
    classes: np.ndarray, totals: np.ndarray, counts: np.ndarray, minimum: int, source: str
) -> DataError | None:
    """The error for the first class with fewer than ``minimum`` rows in ``counts`` (the rows
    about to be split), naming the class and its rows in the whole data (``totals``)."""
    short = np.flatnonzero(counts < minimum)
    if not len(short):
        return None
    c = int(short[0])
    return DataError(
        f"{source}: class {classes[c].item()!r} has {_plural(int(totals[c]), 'row')}; a stratified "
        "train/val/test split needs at least 3 rows of every class (add rows, remove the class, "
        "or lower data.val_fraction/data.test_fraction)"
    )


def _split(
    y: np.ndarray, classes: np.ndarray | None, settings: _Settings, seed: int, raw: _Raw
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices (train, val, test); stratified by class for classification, so that every
    part keeps the class ratios of the whole."""
    from sklearn.model_selection import train_test_split

    n = len(y)
    n_train, n_val, n_test = _part_sizes(n, settings, raw.origin)
    # Two independent streams from the one seed: same seed -> same split.
    seed_test, seed_val = (int(s) for s in np.random.SeedSequence(seed).generate_state(2))
    rows = np.arange(n)
    if classes is None:
        rest, test = train_test_split(rows, test_size=n_test, random_state=seed_test)
        train, val = train_test_split(rest, test_size=n_val, random_state=seed_val)
        return np.sort(train), np.sort(val), np.sort(test)

    # Check what sklearn would refuse, and say which class or key is short instead.
    totals = np.bincount(y, minlength=len(classes))
    # One row of a class per part: 3 in all. sklearn then needs 2 in each set it splits.
    error = _short_class(classes, totals, totals, 3, raw.source)
    if error:
        raise error
    parts = {
        "train": n_train,
        "val (data.val_fraction)": n_val,
        "test (data.test_fraction)": n_test,
    }
    for part, size in parts.items():
        if size < len(classes):
            raise DataError(
                f"{raw.origin}: expected the {part} part to hold one row of each of the "
                f"{len(classes)} classes, got {_plural(size, 'row')} of {n} "
                "(raise the fraction or add rows)"
            )
    rest, test = train_test_split(rows, test_size=n_test, random_state=seed_test, stratify=y)
    rest_counts = np.bincount(y[rest], minlength=len(classes))
    error = _short_class(classes, totals, rest_counts, 2, raw.source)
    if error:
        raise error
    train, val = train_test_split(rest, test_size=n_val, random_state=seed_val, stratify=y[rest])
    return np.sort(train), np.sort(val), np.sort(test)


def _fit_scale(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations (d,) of A (n, d); constant columns get scale 1."""
    mean = A.mean(axis=0)
    std = A.std(axis=0)
    # A constant column's std can come out as rounding noise rather than 0: treat it as 0.
    noise = 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)
    return mean, np.where(std > noise, std, 1.0)


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def load_dataset(
    cfg: Mapping[str, Any],
    *,
    seed: int,
    dtype: np.dtype | str = "float32",
    base_dir: Path | None = None,
) -> Dataset:
    """Load, validate, split and standardize the data set the ``data`` node names.

    Args:
        cfg: the Hydra ``data`` node (DictConfig or dict): ``name``, ``path``, ``target``,
            ``task``, ``val_fraction``, ``test_fraction``, ``standardize``, ``dropna``; keys
            left out take :data:`DEFAULTS`.
        seed: drives the split; the same seed gives identical arrays.
        dtype: ``float32`` (default) or ``float64``.
        base_dir: resolves a relative ``data.path`` (the directory the command was started
            in); default the current directory.

    ``data.task=auto`` means classification for string, bool or object labels and for integer
    labels with at most 20 distinct values, regression otherwise.

    Raises:
        ConfigError: a key holds a value outside what it accepts.
        DataError: the file or its contents cannot be used.
    """
    settings = _settings(cfg)
    seed = _check_seed(seed)
    float_dtype = check_dtype(dtype)
    base = Path.cwd() if base_dir is None else Path(base_dir)

    raw = DATASETS[settings.name](settings, base)
    task = _resolve_task(raw, settings.task)
    if task == "classification":
        y, classes = _encode_classes(raw)
    else:
        y, classes = raw.y.astype(np.float64).reshape(len(raw.y), -1), None
    train, val, test = _split(y, classes, settings, seed, raw)

    X = raw.X
    x_mean = x_scale = y_mean = y_scale = None
    if settings.standardize:
        x_mean, x_scale = _fit_scale(X[train])  # train rows only: val/test must not leak in
        X = (X - x_mean) / x_scale
        if task == "regression":
            y_mean, y_scale = _fit_scale(y[train])
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
    )
