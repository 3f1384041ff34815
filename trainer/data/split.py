"""The train/val/test split (stratified for classification) and standardization statistics."""

from __future__ import annotations

import math

import numpy as np

from trainer.data.loaders import RawData, plural
from trainer.data.settings import Settings
from trainer.errors import DataError


def part_sizes(n: int, settings: Settings, origin: str) -> tuple[int, int, int]:
    """(n_train, n_val, n_test): val and test round up (as sklearn does), at least one row."""
    # The small slack keeps 0.1 * 30 = 3.0000000000000004 from rounding up to 4.
    n_val = max(1, math.ceil(settings.val_fraction * n - 1e-9))
    n_test = max(1, math.ceil(settings.test_fraction * n - 1e-9))
    n_train = n - n_val - n_test
    if n_train < 1:
        raise DataError(
            f"{origin}: expected enough rows for a train/val/test split with "
            f"data.val_fraction={settings.val_fraction} and "
            f"data.test_fraction={settings.test_fraction}, got {plural(n, 'row')}"
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
        f"{source}: class {classes[c].item()!r} has {plural(int(totals[c]), 'row')}; a stratified "
        "train/val/test split needs at least 3 rows of every class (add rows, remove the class, "
        "or lower data.val_fraction/data.test_fraction)"
    )


def split_rows(
    y: np.ndarray, classes: np.ndarray | None, settings: Settings, seed: int, raw: RawData
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices (train, val, test); stratified by class for classification, so that every
    part keeps the class ratios of the whole."""
    from sklearn.model_selection import train_test_split

    n = len(y)
    n_train, n_val, n_test = part_sizes(n, settings, raw.origin)
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
                f"{len(classes)} classes, got {plural(size, 'row')} of {n} "
                "(raise the fraction or add rows)"
            )
    rest, test = train_test_split(rows, test_size=n_test, random_state=seed_test, stratify=y)
    rest_counts = np.bincount(y[rest], minlength=len(classes))
    error = _short_class(classes, totals, rest_counts, 2, raw.source)
    if error:
        raise error
    train, val = train_test_split(rest, test_size=n_val, random_state=seed_val, stratify=y[rest])
    return np.sort(train), np.sort(val), np.sort(test)


def fit_scale(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations (d,) of A (n, d); constant columns get scale 1."""
    mean = A.mean(axis=0)
    std = A.std(axis=0)
    # A constant column's std can come out as rounding noise rather than 0: treat it as 0.
    noise = 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)
    return mean, np.where(std > noise, std, 1.0)
