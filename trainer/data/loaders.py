"""Loaders: each turns ``data.name`` (and ``data.path``) into raw, validated arrays."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainer.data.settings import Settings
from trainer.errors import ConfigError, DataError

# pandas is imported inside the CSV loader, the only one that needs it.

logger = logging.getLogger("trainer.data")

@dataclass
class RawData:
    """What a loader hands on: raw features and labels, before splitting.

    Attributes:
        X: (n, d) float64 features, finite.
        y: (n,) labels of any dtype (strings as a unicode array) or (n, k) numeric targets.
        feature_names: d names.
        source: how messages name the labels ("column 'label' of /data/a.csv").
        origin: how messages name the data ("/data/a.csv", "the iris data set").
        label_names: names of integer labels 0..c-1 (the bundled sets' target_names).
        path: the file the rows were read from (a bundled set's ``.npz`` in the package).
        target_name: the name of the labels (the CSV's target column, ``y`` of an ``.npz``).
        feature_dtypes: d NumPy dtype names of the columns as the file holds them (``X`` is
            float64 whatever they were; a model's input schema follows these).
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    source: str
    origin: str
    label_names: np.ndarray | None = None
    path: Path | None = None
    target_name: str = "target"
    feature_dtypes: list[str] | None = None


BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"


def _bundled_loader(name: str) -> Callable[[Settings, Path], RawData]:
    """A loader of ``bundled/<name>.npz``: scikit-learn's copy of the data set as plain arrays
    (see ``bundled/README.md``). Reading it takes ~5 ms; ``sklearn.datasets`` took ~1 s to
    import in every process that trained on a bundled set (benchmarks/RESULTS.md, one run)."""

    def load(settings: Settings, base_dir: Path) -> RawData:
        with np.load(BUNDLED_DIR / f"{name}.npz", allow_pickle=False) as arrays:
            n_features = arrays["X"].shape[1]
            return RawData(
                X=arrays["X"].astype(np.float64),  # digits' pixels are stored as uint8
                y=arrays["y"],
                feature_names=[str(n) for n in arrays["feature_names"]],
                source=f"the targets of the {settings.name} data set",
                origin=f"the {settings.name} data set",
                label_names=arrays.get("target_names"),
                path=BUNDLED_DIR / f"{name}.npz",
                # The data set as scikit-learn's loaders give it (float64): uint8 is only how
                # digits is stored here, and a model declaring integer pixels would refuse
                # load_digits(as_frame=True).data.
                feature_dtypes=["float64"] * n_features,
            )

    return load


def data_path(settings: Settings, base_dir: Path) -> Path | None:
    """The file ``data.path`` names, ``~`` expanded and a relative path taken from ``base_dir``
    (the directory the command started in); None when no path is set."""
    if settings.path is None:
        return None
    path = Path(settings.path).expanduser()
    return path if path.is_absolute() else base_dir / path


def _resolve_path(settings: Settings, base_dir: Path, kind: str) -> Path:
    path = data_path(settings, base_dir)
    if path is None:
        raise ConfigError("data.path", f"the path of a {kind} file (data.path=FILE)", None)
    if not path.is_file():
        what = "a directory" if path.is_dir() else "no such file"
        raise DataError(f"data.path: expected a {kind} file at {path}, found {what}")
    return path


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _load_csv(settings: Settings, base_dir: Path) -> RawData:
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
                f"column {c!r} ({plural(int(n), 'row')})" for c, n in missing.items()
            )
            raise DataError(
                f"{path}: expected no missing values, got missing values in {counts}; "
                "fill them, or set data.dropna=true to drop those rows"
            )
        before = len(frame)
        frame = frame.dropna()
        logger.info("data.dropna: dropped %d of %d rows of %s", before - len(frame), before, path)

    dtypes = [_column_dtype(frame[c]) for c in features]
    X = frame[features].to_numpy(dtype=np.float64)
    not_finite = ~np.isfinite(X).all(axis=0)
    if not_finite.any():
        column = features[int(np.flatnonzero(not_finite)[0])]
        raise DataError(f"{path}: feature column {column!r} must be finite, got infinite values")

    labels = frame[target]
    if pd.api.types.is_bool_dtype(labels) or pd.api.types.is_numeric_dtype(labels):
        y = labels.to_numpy()
        if y.dtype.kind == "f" and np.isinf(y).any():  # a regression target the loss cannot fit
            row = int(np.flatnonzero(np.isinf(y))[0])
            raise DataError(f"{path}: target column {target!r} must be finite, got {y[row]} "
                            f"(line {row + 2})")
    else:
        # Strings stay strings, as a unicode array (never object dtype).
        y = labels.astype(str).to_numpy(dtype=str)
    return RawData(
        X=X, y=y, feature_names=features, source=f"column {target!r} of {path}", origin=str(path),
        path=path, target_name=target, feature_dtypes=dtypes,
    )


def _column_dtype(values: Any) -> str:
    """The NumPy dtype name of a numeric or boolean pandas column (a nullable one's too)."""
    dtype = values.dtype
    return str(getattr(dtype, "numpy_dtype", dtype))


def _load_npz(settings: Settings, base_dir: Path) -> RawData:
    path = _resolve_path(settings, base_dir, ".npz")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
    except OSError as error:
        raise DataError(f"data.path: {path} cannot be read ({error.strerror})") from None
    # NumPy answers a file that is neither a zip (.npz) nor an .npy with advice to unpickle
    # it: never that. What it is not is said here instead.
    if not magic.startswith((b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")):
        raise DataError(
            f"data.path: expected an .npz archive of plain arrays at {path} "
            "(np.savez(path, X=X, y=y)), got a file that is not one (no zip header)"
        )
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        reason = "it holds pickled objects, which are never loaded" if "pickle" in str(
            error) else " ".join(str(error).split())
        raise DataError(
            f"data.path: expected an .npz archive of plain arrays at {path} "
            f"(np.savez(path, X=X, y=y)), got an unreadable file ({reason})"
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
        except ValueError:  # object arrays need pickle, which is never used
            raise DataError(
                f"{path}: expected plain numeric or string arrays, got pickled objects"
            ) from None
    for name, array in (("X", X), ("y", y)):
        if not isinstance(array, np.ndarray):  # a zip member that is not an .npy array
            raise DataError(f"{path}: expected {name} as a NumPy array (np.savez), got a "
                            f"{type(array).__name__} member")

    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(f"{path}: expected X of shape (samples, features) with at least one "
                        f"sample and one feature, got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise DataError(f"{path}: expected numeric X, got dtype {X.dtype}")
    if y.ndim not in (1, 2) or len(y) != len(X):
        raise DataError(
            f"{path}: expected y of shape ({len(X)},) or ({len(X)}, k) to match X {X.shape}, "
            f"got shape {y.shape}"
        )
    file_dtype = X.dtype.name
    X = X.astype(np.float64)
    y_float = y.dtype.kind == "f"
    nan_rows = np.isnan(X).any(axis=1)
    if y_float:
        nan_rows |= np.isnan(y).reshape(len(y), -1).any(axis=1)
    if nan_rows.any():
        if not settings.dropna:
            raise DataError(
                f"{path}: expected no NaN in X or y, got NaN in "
                f"{plural(int(nan_rows.sum()), 'row')}; fix them, or set data.dropna=true to "
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
    return RawData(X=X, y=y, feature_names=feature_names, source=f"y in {path}", origin=str(path),
                   path=path, target_name="y", feature_dtypes=[file_dtype] * d)


# data.name -> loader. The user picks one with data=NAME.
DATASETS: dict[str, Callable[[Settings, Path], RawData]] = {
    "digits": _bundled_loader("digits"),
    "breast_cancer": _bundled_loader("breast_cancer"),
    "wine": _bundled_loader("wine"),
    "iris": _bundled_loader("iris"),
    "diabetes": _bundled_loader("diabetes"),
    "csv": _load_csv,
    "npz": _load_npz,
}
