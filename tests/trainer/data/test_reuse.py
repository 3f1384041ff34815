"""A process's runs on the same data reuse its arrays; anything that changes them loads again."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from trainer.data import load_dataset, reuse
from trainer.data.reuse import load_dataset_reused
from trainer.errors import DataError


@pytest.fixture(autouse=True)
def nothing_kept():
    reuse.forget()
    yield
    reuse.forget()


def csv_of(path: Path, rows: int = 40, *, shift: float = 0.0) -> Path:
    rng = np.random.default_rng(0)
    lines = ["a,b,y"] + [f"{rng.normal() + shift:.6f},{rng.normal():.6f},{i % 2}"
                         for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def node(path: Path | str) -> dict[str, object]:
    return {"name": "csv", "path": str(path), "target": "y"}


def test_the_same_node_seed_and_dtype_give_the_same_arrays_without_loading_again(tmp_path):
    path = csv_of(tmp_path / "d.csv")
    first = load_dataset_reused(node(path), seed=1, dtype="float32", base_dir=tmp_path)
    again = load_dataset_reused(node(path), seed=1, dtype="float32", base_dir=tmp_path)
    assert again is first
    fresh = load_dataset(node(path), seed=1, dtype="float32")
    np.testing.assert_array_equal(first.X_train, fresh.X_train)
    np.testing.assert_array_equal(first.y_test, fresh.y_test)


@pytest.mark.parametrize("change", ["seed", "dtype", "val_fraction", "base_dir"])
def test_anything_that_changes_the_arrays_loads_again(tmp_path, change):
    path = csv_of(tmp_path / "d.csv")
    (tmp_path / "other").mkdir()
    csv_of(tmp_path / "other" / "d.csv", shift=5.0)
    settings = {"seed": 1, "dtype": "float32", "base_dir": tmp_path}
    first = load_dataset_reused(node("d.csv"), **settings)
    data_node = node("d.csv")
    if change == "val_fraction":
        data_node["val_fraction"] = 0.3
    else:
        settings[change] = {"seed": 2, "dtype": "float64", "base_dir": tmp_path / "other"}[change]
    other = load_dataset_reused(data_node, **settings)
    assert other is not first
    expected = load_dataset(data_node, seed=settings["seed"], dtype=settings["dtype"],
                            base_dir=settings["base_dir"])
    np.testing.assert_array_equal(other.X_train, expected.X_train)
    assert path.exists()


def test_a_file_rewritten_between_two_runs_is_read_again(tmp_path):
    path = csv_of(tmp_path / "d.csv")
    first = load_dataset_reused(node(path), seed=1, dtype="float64", base_dir=tmp_path)
    stat = path.stat()
    csv_of(path, shift=3.0)  # same size is possible: the modification time tells too
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = load_dataset_reused(node(path), seed=1, dtype="float64", base_dir=tmp_path)
    assert second is not first
    assert second.raw is not None and first.raw is not None
    assert not np.array_equal(second.raw.X, first.raw.X)


def test_kept_arrays_cannot_be_changed_in_place(tmp_path):
    data = load_dataset_reused(node(csv_of(tmp_path / "d.csv")), seed=0, dtype="float32",
                               base_dir=tmp_path)
    with pytest.raises(ValueError, match="read-only"):
        data.X_train[0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        data.y_train[0] = 1


def test_an_error_is_raised_at_every_call_and_nothing_is_kept(tmp_path):
    for _ in range(2):
        with pytest.raises(DataError, match="data.path"):
            load_dataset_reused(node(tmp_path / "missing.csv"), seed=0, dtype="float32",
                                base_dir=tmp_path)
    assert reuse._last is None
