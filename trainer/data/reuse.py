"""The data set a process loaded last, reused by its next run while nothing it depends on changed.

A sweep's worker (and a Hydra grid's process) runs trial after trial on the same data: the same
``data`` node and split seed, so the same arrays. Loading, checking, splitting and standardizing
them again cost each trial of a 784-feature, 7,000-row set about 0.2 s, and hashing the parts
for MLflow's dataset digest 0.15 s more (benchmarks/RESULTS.md, section 6). The last data set is
kept, keyed by the validated node, the seed, the dtype, the directory a relative path resolves
against and the file's size and modification time (a file rewritten between two trials is read
again). Its arrays are made read-only, so a run that tried to change them in place would fail
at once rather than hand altered data to the next trial.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from trainer.data import Dataset, load_dataset
from trainer.data.loaders import data_path
from trainer.data.settings import Settings, parse_settings

__all__ = ["forget", "load_dataset_reused"]

_last: tuple[Hashable, Dataset] | None = None


def _file_identity(settings: Settings, base_dir: Path) -> tuple[str, int, int] | None:
    """(path, size, modification time in ns) of the file ``data.path`` names; None for a
    bundled set or a path that does not name a file (loading it then raises its own error)."""
    path = data_path(settings, base_dir)
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    return str(path), stat.st_size, stat.st_mtime_ns


def _read_only(data: Dataset) -> None:
    arrays: list[Any] = [data.X_train, data.X_val, data.X_test, data.y_train, data.y_val,
                         data.y_test, data.classes, *data.parts.values()]
    if data.raw is not None:
        arrays += [data.raw.X, data.raw.y]
    for array in arrays:
        if isinstance(array, np.ndarray):
            array.flags.writeable = False


def load_dataset_reused(node: Mapping[str, Any], *, seed: int, dtype: np.dtype | str,
                        base_dir: Path) -> Dataset:
    """:func:`trainer.data.load_dataset` of ``node``, or the same :class:`Dataset` object as
    this process's previous call when it would load the same arrays (see the module's notes).
    Errors are those of ``load_dataset``, raised at every call (a failure is not kept)."""
    global _last
    settings = parse_settings(node)
    key = (settings, seed, np.dtype(dtype).name, str(Path(base_dir).resolve()),
           _file_identity(settings, base_dir))
    if _last is not None and _last[0] == key:
        return _last[1]
    _last = None  # the previous set is not held while the next one loads
    data = load_dataset(settings, seed=seed, dtype=dtype, base_dir=base_dir)
    _read_only(data)
    _last = (key, data)
    return data


def forget() -> None:
    """Drop the kept data set (its memory goes back once no run holds it)."""
    global _last
    _last = None
