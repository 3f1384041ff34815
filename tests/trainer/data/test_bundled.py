"""The bundled data sets and the train/val/test split without scikit-learn.

Both must give what the scikit-learn path gave before (its loaders, its ``train_test_split``),
bit for bit: a seed keeps meaning the same split, so earlier runs stay reproducible.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from trainer.data import load_dataset
from trainer.data.loaders import DATASETS
from trainer.data.make_bundled import NAMES, bundled_arrays
from trainer.data.settings import parse_settings
from trainer.data.split import shuffle_split, stratified_split

sklearn = pytest.importorskip("sklearn")


@pytest.mark.parametrize("name", NAMES)
def test_bundled_file_holds_scikit_learns_arrays(name: str, tmp_path) -> None:
    # Every array of bundled/<name>.npz equals scikit-learn's load_<name>(), dtype included
    # once read as float64 features.
    raw = DATASETS[name](parse_settings({"name": name}), tmp_path)
    expected = bundled_arrays(name)
    np.testing.assert_array_equal(raw.X, expected["X"].astype(np.float64))
    assert raw.X.dtype == np.float64
    np.testing.assert_array_equal(raw.y, expected["y"])
    assert raw.y.dtype == expected["y"].dtype
    assert raw.feature_names == [str(n) for n in expected["feature_names"]]
    if "target_names" in expected:
        np.testing.assert_array_equal(raw.label_names, expected["target_names"])
    else:
        assert raw.label_names is None


def _random_labels(rng: np.random.Generator) -> np.ndarray:
    k = int(rng.integers(2, 8))
    y = rng.integers(0, k, int(rng.integers(3 * k + 3, 300)))
    y[: 3 * k] = np.repeat(np.arange(k), 3)  # every class has the 3 rows a split needs
    rng.shuffle(y)
    return y


def test_splits_draw_what_train_test_split_draws() -> None:
    # Plain and stratified splits of random label sets give the same rows in the same order as
    # scikit-learn's train_test_split with the same seed.
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(0)
    for _ in range(300):
        y = _random_labels(rng)
        n = len(y)
        k = len(np.unique(y))
        n_test = int(rng.integers(k, n - k))
        seed = int(rng.integers(0, 2**32))
        rows = np.arange(n) + 5  # not 0..n-1: results are rows, not positions

        expected = train_test_split(rows, test_size=n_test, random_state=seed)
        for got, want in zip(shuffle_split(rows, n_test, seed), expected, strict=True):
            np.testing.assert_array_equal(got, want)

        expected = train_test_split(rows, test_size=n_test, random_state=seed, stratify=y)
        for got, want in zip(stratified_split(rows, y, n_test, seed), expected, strict=True):
            np.testing.assert_array_equal(got, want)  # in the same order: a later split reads it


@pytest.mark.parametrize("name", ["digits", "diabetes"])
def test_load_dataset_gives_the_scikit_learn_split(name: str) -> None:
    # The whole loader (bundled arrays, split, standardization) reproduces the arrays the
    # scikit-learn path gave: the same rows in each part, standardized the same.
    from sklearn.model_selection import train_test_split

    data = load_dataset({"name": name}, seed=3, dtype="float64")
    arrays = bundled_arrays(name)
    X, y = arrays["X"].astype(np.float64), arrays["y"]
    n = len(X)
    n_part = int(np.ceil(0.2 * n - 1e-9))
    seed_test, seed_val = (int(s) for s in np.random.SeedSequence(3).generate_state(2))
    stratify = y if name == "digits" else None
    rest, test = train_test_split(np.arange(n), test_size=n_part, random_state=seed_test,
                                  stratify=stratify)
    train, _ = train_test_split(rest, test_size=n_part, random_state=seed_val,
                                stratify=None if stratify is None else y[rest])
    train, test = np.sort(train), np.sort(test)
    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    std = np.where(std > 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0), std, 1.0)
    np.testing.assert_array_equal(data.X_test, (X[test] - mean) / std)


def test_a_bundled_run_never_imports_scikit_learn() -> None:
    # Reading a bundled set and splitting it import neither scikit-learn nor scipy (~1 s).
    code = ("import sys; from trainer.data import load_dataset; "
            "load_dataset({'name': 'digits'}, seed=0); load_dataset({'name': 'diabetes'}, seed=0); "
            "print(sorted(m for m in ('sklearn', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
