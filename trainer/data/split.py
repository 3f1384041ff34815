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


# The split draws exactly what scikit-learn's ``train_test_split`` (ShuffleSplit and
# StratifiedShuffleSplit) draws from the same seed, so every split made before sklearn was dropped
# from the run's path stays bit for bit the same; importing sklearn for it cost ~1 s per process
# (0.7-1.2 s of `python -m trainer`'s wall time, benchmarks/RESULTS.md). Tests compare both.


def shuffle_split(rows: np.ndarray, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rest, test): ``n_test`` rows drawn at random, the others kept."""
    order = np.random.RandomState(seed).permutation(len(rows))
    return rows[order[n_test:]], rows[order[:n_test]]


def _rows_per_class(counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of ``n_draws`` rows each class gets: the floor of its share, and one more for
    the classes with the largest remainders (ties drawn at random) until ``n_draws`` are taken."""
    share = counts / counts.sum() * n_draws
    taken = np.floor(share)
    missing = int(n_draws - taken.sum())
    remainder = share - taken
    for value in np.sort(np.unique(remainder))[::-1]:
        if missing <= 0:
            break
        (tied,) = np.where(remainder == value)
        extra = min(len(tied), missing)
        taken[rng.choice(tied, size=extra, replace=False)] += 1
        missing -= extra
    return taken.astype(int)


def stratified_split(rows: np.ndarray, y: np.ndarray, n_test: int, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(rest, test) of ``rows`` with labels ``y`` (one per row), each in random order: each class
    keeps its share in both parts; ``len(rows) - n_test`` rows stay in the rest."""
    rng = np.random.RandomState(seed)
    _, class_of_row, counts = np.unique(y, return_inverse=True, return_counts=True)
    members = np.split(np.argsort(class_of_row, kind="stable"), np.cumsum(counts)[:-1])
    n_rest = len(rows) - n_test
    rest_per_class = _rows_per_class(counts, n_rest, rng)
    test_per_class = _rows_per_class(counts - rest_per_class, n_test, rng)
    rest, test = [], []
    for c, count in enumerate(counts):
        shuffled = members[c][rng.permutation(count)]
        rest.append(shuffled[: rest_per_class[c]])
        test.append(shuffled[rest_per_class[c] : rest_per_class[c] + test_per_class[c]])
    # Both parts shuffled as scikit-learn does: a later split of the rest depends on its order.
    return rows[rng.permutation(np.concatenate(rest))], rows[rng.permutation(np.concatenate(test))]


def split_rows(
    y: np.ndarray, classes: np.ndarray | None, settings: Settings, seed: int, raw: RawData
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices (train, val, test); stratified by class for classification, so that every
    part keeps the class ratios of the whole."""
    n = len(y)
    n_train, n_val, n_test = part_sizes(n, settings, raw.origin)
    # Two independent streams from the one seed: same seed -> same split.
    seed_test, seed_val = (int(s) for s in np.random.SeedSequence(seed).generate_state(2))
    rows = np.arange(n)
    if classes is None:
        rest, test = shuffle_split(rows, n_test, seed_test)
        train, val = shuffle_split(rest, n_val, seed_val)
        return np.sort(train), np.sort(val), np.sort(test)

    # Check what a stratified split cannot do, and say which class or key is short instead.
    totals = np.bincount(y, minlength=len(classes))
    # One row of a class per part: 3 in all, so 2 in each set a split divides.
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
    rest, test = stratified_split(rows, y, n_test, seed_test)
    rest_counts = np.bincount(y[rest], minlength=len(classes))
    error = _short_class(classes, totals, rest_counts, 2, raw.source)
    if error:
        raise error
    train, val = stratified_split(rest, y[rest], n_val, seed_val)
    return np.sort(train), np.sort(val), np.sort(test)


def fit_scale(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations (d,) of A (n, d); constant columns get scale 1."""
    mean = A.mean(axis=0)
    std = A.std(axis=0)
    # A constant column's std can come out as rounding noise rather than 0: treat it as 0.
    noise = 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)
    return mean, np.where(std > noise, std, 1.0)
