"""Tests for trainer.data: loading, task inference, splits, standardization and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from trainer.data import Dataset, Preprocessor, load_dataset
from trainer.errors import ConfigError, DataError, ParameterError

CONF_DATA = Path(__file__).resolve().parents[3] / "conf" / "data"


def data_cfg(name: str, **overrides):
    """The real conf/data/NAME.yaml node with overrides, as Hydra hands it over."""
    cfg = OmegaConf.load(CONF_DATA / f"{name}.yaml")
    for key, value in overrides.items():
        cfg[key] = value
    return cfg


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def load_csv(tmp_path: Path, text: str):
    """The dataset of ``text`` written to ``data.csv``, its target the column ``y``."""
    path = write_csv(tmp_path / "data.csv", text)
    return load_dataset({"name": "csv", "path": str(path), "target": "y"}, seed=0)


def labelled_csv(path: Path, n_per_class: int = 10) -> Path:
    """A CSV with an id column (row number), a noisy feature and string labels a/b/c."""
    rng = np.random.default_rng(0)
    lines = ["id,f,label"]
    for i in range(3 * n_per_class):
        lines.append(f"{i},{rng.normal():.6f},{'abc'[i % 3]}")
    return write_csv(path, "\n".join(lines) + "\n")


# ------------------------------------------------------------------ bundled data sets


@pytest.mark.parametrize(
    ("name", "task", "n_rows", "n_features", "classes"),
    [
        ("digits", "classification", 1797, 64, list(range(10))),
        ("breast_cancer", "classification", 569, 30, ["malignant", "benign"]),
        ("wine", "classification", 178, 13, ["class_0", "class_1", "class_2"]),
        ("iris", "classification", 150, 4, ["setosa", "versicolor", "virginica"]),
        ("diabetes", "regression", 442, 10, None),
    ],
)
def test_bundled_sets_load_with_shapes_task_and_classes(name, task, n_rows, n_features, classes):
    # Each bundled set loads from its config with every row in exactly one part, float32
    # features, int64 class indices (or (n, 1) float targets) and its named classes.
    ds = load_dataset(data_cfg(name), seed=0)
    assert ds.name == name and ds.task == task
    parts = (ds.X_train, ds.X_val, ds.X_test)
    assert sum(len(X) for X in parts) == n_rows
    assert all(X.shape[1] == n_features and X.dtype == np.float32 for X in parts)
    assert ds.n_features == n_features and len(ds.feature_names) == n_features
    assert len(ds.X_val) == len(ds.X_test) == int(np.ceil(0.2 * n_rows))
    if classes is None:
        assert ds.classes is None and ds.n_outputs == 1
        assert ds.y_train.shape == (len(ds.X_train), 1) and ds.y_train.dtype == np.float32
    else:
        assert ds.classes.tolist() == classes and ds.classes.dtype != object
        assert ds.y_train.dtype == np.int64 and ds.y_train.shape == (len(ds.X_train),)
        assert ds.n_outputs == (1 if len(classes) == 2 else len(classes))


def test_default_data_set_is_digits():
    # An empty data node falls back to the defaults of conf/data/digits.yaml.
    ds = load_dataset({}, seed=0)
    assert ds.name == "digits" and ds.task == "classification"


def test_stratified_split_keeps_class_ratios():
    # Every part of a classification split keeps the class proportions of the whole data.
    ds = load_dataset(data_cfg("digits"), seed=3)
    whole = np.bincount(np.concatenate([ds.y_train, ds.y_val, ds.y_test]), minlength=10)
    for y in (ds.y_train, ds.y_val, ds.y_test):
        expected = whole * len(y) / whole.sum()
        assert np.all(np.abs(np.bincount(y, minlength=10) - expected) <= 1)
    iris = load_dataset(data_cfg("iris"), seed=3)
    assert np.bincount(iris.y_test).tolist() == [10, 10, 10]
    assert np.bincount(iris.y_val).tolist() == [10, 10, 10]


def test_same_seed_same_arrays_other_seed_other_split():
    # The split follows the seed alone: same seed -> identical arrays, another seed -> another.
    a = load_dataset(data_cfg("wine"), seed=7)
    b = load_dataset(data_cfg("wine"), seed=7)
    c = load_dataset(data_cfg("wine"), seed=8)
    for name in ("X_train", "X_val", "X_test", "y_train", "y_val", "y_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.X_test, c.X_test)


# ------------------------------------------------------------------ standardization


def test_standardization_uses_train_statistics_only(tmp_path):
    # Feature (and regression target) statistics are those of the training rows; rescaling the
    # validation and test rows by 1000 leaves them, and the training arrays, unchanged.
    rng = np.random.default_rng(1)
    X = rng.normal(3.0, 2.0, size=(50, 4))
    y = rng.normal(10.0, 5.0, size=50)
    np.savez(tmp_path / "a.npz", X=X, y=y)
    ds = load_dataset(data_cfg("npz", path=str(tmp_path / "a.npz")), seed=0, dtype="float64")
    pre = ds.preprocessor
    raw_train = ds.X_train * pre.x_scale + pre.x_mean
    train_rows = [int(np.flatnonzero(np.all(np.isclose(X, r), axis=1))[0]) for r in raw_train]
    np.testing.assert_allclose(pre.x_mean, X[train_rows].mean(axis=0))
    np.testing.assert_allclose(pre.x_scale, X[train_rows].std(axis=0))
    np.testing.assert_allclose(pre.y_mean, [y[train_rows].mean()])
    np.testing.assert_allclose(pre.y_scale, [y[train_rows].std()])
    assert abs(ds.X_val.mean()) > 1e-6  # val is transformed, not refitted

    held_out = np.setdiff1d(np.arange(50), train_rows)
    X2, y2 = X.copy(), y.copy()
    X2[held_out] *= 1000
    y2[held_out] *= 1000
    np.savez(tmp_path / "b.npz", X=X2, y=y2)
    ds2 = load_dataset(data_cfg("npz", path=str(tmp_path / "b.npz")), seed=0, dtype="float64")
    np.testing.assert_array_equal(ds2.preprocessor.x_mean, pre.x_mean)
    np.testing.assert_array_equal(ds2.preprocessor.y_scale, pre.y_scale)
    np.testing.assert_array_equal(ds2.X_train, ds.X_train)


def test_constant_column_gets_scale_one(tmp_path):
    # A constant feature gets scale 1 (no division by zero): its standardized values are 0.
    X = np.column_stack([np.full(30, 0.1), np.arange(30.0)])
    np.savez(tmp_path / "c.npz", X=X, y=np.arange(30) % 2)
    ds = load_dataset(data_cfg("npz", path=str(tmp_path / "c.npz")), seed=0)
    assert ds.preprocessor.x_scale[0] == 1.0
    assert np.all(np.abs(ds.X_train[:, 0]) < 1e-6) and np.all(np.isfinite(ds.X_test))


def test_standardize_false_keeps_raw_values(tmp_path):
    # data.standardize=false leaves features and regression targets as they are, no statistics.
    ds = load_dataset(data_cfg("diabetes", standardize=False), seed=0, dtype="float64")
    assert ds.preprocessor.x_mean is None and ds.preprocessor.y_mean is None
    assert ds.y_train.min() >= 25 and ds.y_train.max() <= 346  # diabetes targets in raw units


def test_regression_targets_standardized_and_inverted():
    # Regression targets are standardized with train statistics; inverse_targets recovers them.
    ds = load_dataset(data_cfg("diabetes"), seed=0, dtype="float64")
    assert abs(ds.y_train.mean()) < 1e-9 and abs(ds.y_train.std() - 1) < 1e-9
    raw = load_dataset(data_cfg("diabetes", standardize=False), seed=0, dtype="float64")
    np.testing.assert_allclose(ds.preprocessor.inverse_targets(ds.y_test), raw.y_test)


def test_float64_dtype():
    # dtype="float64" gives float64 features and regression targets.
    ds = load_dataset(data_cfg("diabetes"), seed=0, dtype="float64")
    assert ds.X_train.dtype == np.float64 and ds.y_val.dtype == np.float64


# ------------------------------------------------------------------ CSV and npz


def test_csv_string_labels_round_trip_through_classes(tmp_path):
    # String labels become int64 indices into a unicode `classes` array that gives them back.
    path = labelled_csv(tmp_path / "d.csv")
    ds = load_dataset(data_cfg("csv", path=str(path), target="label", standardize=False), seed=0)
    assert ds.task == "classification" and ds.feature_names == ["id", "f"]
    assert ds.classes.dtype.kind == "U" and ds.classes.tolist() == ["a", "b", "c"]
    for X, y in ((ds.X_train, ds.y_train), (ds.X_val, ds.y_val), (ds.X_test, ds.y_test)):
        ids = X[:, 0].astype(int)
        assert ds.classes[y].tolist() == ["abc"[i % 3] for i in ids]


def test_csv_relative_path_resolves_against_base_dir(tmp_path):
    # A relative data.path is looked up in base_dir (where the command was started).
    labelled_csv(tmp_path / "rel.csv")
    ds = load_dataset(data_cfg("csv", path="rel.csv", target="label"), seed=0, base_dir=tmp_path)
    assert ds.n_features == 2


def test_csv_numeric_target_name_from_hydra(tmp_path):
    # Hydra parses data.target=3 as an int; it still names the CSV column "3".
    rng = np.random.default_rng(0)
    rows = "\n".join(f"{rng.normal()},{i % 2}" for i in range(20))
    path = write_csv(tmp_path / "n.csv", "x,3\n" + rows + "\n")
    ds = load_dataset({"name": "csv", "path": str(path), "target": 3}, seed=0)
    assert ds.classes.tolist() == [0, 1] and ds.n_outputs == 1


def test_auto_task_rule_twenty_integer_labels(tmp_path):
    # auto: integer labels with at most 20 distinct values are classes, 21 make a regression.
    for n_values, task in ((20, "classification"), (21, "regression")):
        y = np.arange(5 * n_values) % n_values
        np.savez(tmp_path / "t.npz", X=np.random.default_rng(0).normal(size=(len(y), 2)), y=y)
        ds = load_dataset({"name": "npz", "path": str(tmp_path / "t.npz")}, seed=0)
        assert ds.task == task


def test_npz_loads_with_string_labels_and_feature_names(tmp_path):
    # An npz with X, unicode y and optional feature_names loads without pickle.
    rng = np.random.default_rng(0)
    y = np.array(["no", "yes"] * 15)
    names = np.array(["u", "v", "w"])
    np.savez(tmp_path / "s.npz", X=rng.normal(size=(30, 3)), y=y, feature_names=names)
    ds = load_dataset({"name": "npz", "path": str(tmp_path / "s.npz")}, seed=0)
    assert ds.task == "classification" and ds.classes.tolist() == ["no", "yes"]
    assert ds.feature_names == ["u", "v", "w"] and ds.n_outputs == 1


def test_npz_multi_output_regression(tmp_path):
    # A 2-D y is a multi-output regression with k outputs.
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "m.npz", X=rng.normal(size=(40, 3)), y=rng.normal(size=(40, 2)))
    ds = load_dataset({"name": "npz", "path": str(tmp_path / "m.npz")}, seed=0)
    assert ds.task == "regression" and ds.n_outputs == 2 and ds.y_test.shape == (8, 2)


def test_task_can_be_forced(tmp_path):
    # data.task=regression on integer labels, and classification on whole-number floats.
    ds = load_dataset(data_cfg("iris", task="regression"), seed=0)
    assert ds.task == "regression" and ds.classes is None
    y = np.repeat(np.arange(25.0), 4)  # 25 distinct whole numbers: auto would say regression
    np.savez(tmp_path / "f.npz", X=np.random.default_rng(0).normal(size=(100, 2)), y=y)
    cfg = {"name": "npz", "path": str(tmp_path / "f.npz"), "task": "classification"}
    forced = load_dataset({**cfg, "val_fraction": 0.25, "test_fraction": 0.25}, seed=0)
    assert forced.classes.dtype == np.int64 and len(forced.classes) == 25


def test_csv_dropna_drops_rows_with_missing_values(tmp_path):
    # data.dropna=true drops the rows with missing values (feature or target) and continues.
    path = labelled_csv(tmp_path / "m.csv")
    lines = path.read_text().splitlines()
    lines[1] = "0,,a"
    lines[2] = "1,0.5,"
    path.write_text("\n".join(lines) + "\n")
    ds = load_dataset(data_cfg("csv", path=str(path), target="label", dropna=True), seed=0)
    assert len(ds.X_train) + len(ds.X_val) + len(ds.X_test) == 28


def test_npz_dropna_drops_nan_rows(tmp_path):
    # data.dropna=true drops npz rows with NaN in X or y.
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 2)), rng.normal(size=30)
    X[0, 1] = np.nan
    y[5] = np.nan
    np.savez(tmp_path / "n.npz", X=X, y=y)
    ds = load_dataset({"name": "npz", "path": str(tmp_path / "n.npz"), "dropna": True}, seed=0)
    assert len(ds.X_train) + len(ds.X_val) + len(ds.X_test) == 28
    assert np.all(np.isfinite(ds.X_train)) and np.all(np.isfinite(ds.y_train))


# ------------------------------------------------------------------ Dataset and Preprocessor


def test_encode_targets_per_task():
    # Binary -> (n, 1) 0/1, several classes -> one-hot (n, k), regression -> (n, k) as is.
    binary = load_dataset(data_cfg("breast_cancer"), seed=0)
    t = binary.encode_targets(binary.y_val)
    assert t.shape == (len(binary.y_val), 1) and t.dtype == np.float32
    np.testing.assert_array_equal(t[:, 0], binary.y_val)
    multi = load_dataset(data_cfg("iris"), seed=0)
    t = multi.encode_targets(multi.y_val)
    assert t.shape == (30, 3) and np.all(t.sum(axis=1) == 1)
    np.testing.assert_array_equal(t.argmax(axis=1), multi.y_val)
    reg = load_dataset(data_cfg("diabetes"), seed=0)
    np.testing.assert_array_equal(reg.encode_targets(reg.y_val), reg.y_val)


@pytest.mark.parametrize("standardize", [True, False])
def test_preprocessor_round_trips_through_npz_without_pickle(tmp_path, standardize):
    # to_arrays -> np.savez -> np.load(allow_pickle=False) -> from_arrays gives a preprocessor
    # that maps raw rows exactly as the original, beside other arrays in the same file.
    ds = load_dataset(data_cfg("diabetes", standardize=standardize), seed=0)
    pre = ds.preprocessor
    np.savez(tmp_path / "model.npz", W0=np.ones((2, 2)), **pre.to_arrays())
    with np.load(tmp_path / "model.npz", allow_pickle=False) as arrays:
        back = Preprocessor.from_arrays(arrays)
    assert back.dtype == "float32" and back.n_features == 10
    raw = load_dataset(data_cfg("diabetes", standardize=False), seed=0, dtype="float64")
    np.testing.assert_array_equal(back.transform(raw.X_test), pre.transform(raw.X_test))
    np.testing.assert_allclose(back.transform(raw.X_test), ds.X_test, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(back.inverse_targets(ds.y_val), pre.inverse_targets(ds.y_val))
    for name in ("x_mean", "x_scale", "y_mean", "y_scale"):
        assert (getattr(back, name) is None) == (not standardize)


def test_preprocessor_rejects_rows_of_the_wrong_width():
    # transform names the expected number of columns when raw rows do not fit.
    pre = load_dataset(data_cfg("iris"), seed=0).preprocessor
    with pytest.raises(DataError, match=r"4 columns.*\(2, 3\)"):
        pre.transform(np.zeros((2, 3)))


def test_dataset_is_exported():
    # The public names others import exist.
    assert Dataset.__dataclass_fields__.keys() >= {"X_train", "classes", "preprocessor"}


# ------------------------------------------------------------------ configuration errors


def test_unknown_name_lists_valid_names():
    # An unknown data.name names the key, the valid names and how to pick one.
    with pytest.raises(ConfigError, match=r"data\.name.*digits.*iris.*npz.*data=NAME.*'mnist'"):
        load_dataset({"name": "mnist"}, seed=0)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"val_fraction": 0.0}, "data.val_fraction"),
        ({"test_fraction": 1.0}, "data.test_fraction"),
        ({"test_fraction": "a"}, "data.test_fraction"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "data.val_fraction + data.test_fraction"),
        ({"task": "clustering"}, "data.task"),
        ({"standardize": "yes"}, "data.standardize"),
        ({"dropna": 1}, "data.dropna"),
    ],
)
def test_bad_config_values_name_their_key(overrides, key):
    # Each out-of-range data key raises a ConfigError naming that key.
    with pytest.raises(ConfigError) as info:
        load_dataset(data_cfg("iris", **overrides), seed=0)
    assert info.value.key == key and str(info.value).startswith(key)


def test_bad_seed_and_dtype():
    # A negative seed and a non-float dtype are refused naming the parameters seed and dtype.
    with pytest.raises(ParameterError, match="^seed: expected an integer >= 0, got -1"):
        load_dataset(data_cfg("iris"), seed=-1)
    with pytest.raises(ParameterError, match=r"^dtype: expected one of float32, float64"):
        load_dataset(data_cfg("iris"), seed=0, dtype="float16")


@pytest.mark.parametrize("name", ["csv", "npz"])
def test_unset_path_is_a_config_error(name):
    # data.path left at ??? (or null) for csv/npz raises ConfigError "data.path".
    with pytest.raises(ConfigError, match=r"^data\.path"):
        load_dataset(data_cfg(name), seed=0)
    with pytest.raises(ConfigError, match=r"^data\.path"):
        load_dataset({"name": name, "path": None}, seed=0)


@pytest.mark.parametrize(("name", "file"), [("csv", "absent.csv"), ("npz", "absent.npz")])
def test_missing_file_names_resolved_path_and_key(tmp_path, name, file):
    # A missing file names data.path and the path it resolved to.
    with pytest.raises(DataError, match=r"data\.path") as info:
        load_dataset(data_cfg(name, path=file, target="y"), seed=0, base_dir=tmp_path)
    assert str(tmp_path / file) in str(info.value)


# ------------------------------------------------------------------ CSV errors


def test_unknown_target_column_lists_columns(tmp_path):
    # An unknown data.target lists available columns.
    path = labelled_csv(tmp_path / "d.csv")
    with pytest.raises(ConfigError, match=r"data\.target.*'id', 'f', 'label'.*'species'"):
        load_dataset(data_cfg("csv", path=str(path), target="species"), seed=0)
    with pytest.raises(ConfigError, match=r"data\.target.*'label'"):
        load_dataset(data_cfg("csv", path=str(path)), seed=0)  # target left at ???


def test_non_numeric_feature_names_column_and_value(tmp_path):
    # A non-numeric feature column is named with an example value.
    with pytest.raises(DataError, match=r"data\.csv.*'color'.*'red'"):
        load_csv(tmp_path, "x,color,y\n1,2,a\n2,red,b\n3,4,a\n")


def test_missing_values_name_columns_counts_and_dropna(tmp_path):
    # Missing values name each column with its count and point at data.dropna=true.
    with pytest.raises(DataError) as info:
        load_csv(tmp_path, "a,b,y\n1,,x\n,,y\n3,4,\n5,6,x\n")
    message = str(info.value)
    assert "'a' (1 row)" in message and "'b' (2 rows)" in message and "'y' (1 row)" in message
    assert "data.dropna=true" in message and "\n" not in message


def test_infinite_feature_is_refused(tmp_path):
    # An infinite feature value names its column.
    with pytest.raises(DataError, match=r"'a'.*infinite"):
        load_csv(tmp_path, "a,y\n1,0\ninf,1\n3,0\n")


def test_regression_on_string_labels_names_column(tmp_path):
    # Forcing regression on string labels names the target column.
    path = labelled_csv(tmp_path / "d.csv")
    with pytest.raises(DataError, match=r"regression.*column 'label'"):
        load_dataset(data_cfg("csv", path=str(path), target="label", task="regression"), seed=0)


def test_single_class_is_refused(tmp_path):
    # Fewer than 2 classes is a DataError naming the one class.
    with pytest.raises(DataError, match=r"at least 2 classes.*'k'"):
        load_csv(tmp_path, "a,y\n1,k\n2,k\n3,k\n4,k\n")


def test_too_few_rows_to_split(tmp_path):
    # Two rows cannot make three non-empty parts.
    with pytest.raises(DataError, match=r"2 rows"):
        load_csv(tmp_path, "a,y\n1,0.5\n2,1.5\n")


def test_class_too_small_to_stratify_names_class_and_count(tmp_path):
    # A class with 2 rows cannot appear in train, val and test: name it and its count.
    rows = [f"{i},{'big' if i < 20 else 'tiny'}" for i in range(22)]
    with pytest.raises(DataError, match=r"class 'tiny' has 2 rows"):
        load_csv(tmp_path, "a,y\n" + "\n".join(rows) + "\n")


def test_part_smaller_than_class_count(tmp_path):
    # A validation part with fewer rows than classes names data.val_fraction.
    with pytest.raises(DataError, match=r"val \(data\.val_fraction\).*3 classes.*2 rows"):
        load_dataset(data_cfg("iris", val_fraction=0.01), seed=0)


# ------------------------------------------------------------------ npz errors


def npz_error(tmp_path, **arrays):
    np.savez(tmp_path / "e.npz", **arrays)
    with pytest.raises(DataError) as info:
        load_dataset({"name": "npz", "path": str(tmp_path / "e.npz")}, seed=0)
    assert "e.npz" in str(info.value)
    return str(info.value)


def test_npz_missing_array_lists_keys(tmp_path):
    # An npz without y says so and lists the arrays it holds.
    assert "'y'" in npz_error(tmp_path, X=np.zeros((5, 2)), labels=np.zeros(5))
    assert "'labels'" in npz_error(tmp_path, X=np.zeros((5, 2)), labels=np.zeros(5))


def test_npz_shapes_are_checked(tmp_path):
    # X must be 2-D and y as long as X.
    assert "(10,)" in npz_error(tmp_path, X=np.zeros(10), y=np.zeros(10))
    assert "(9,)" in npz_error(tmp_path, X=np.zeros((10, 2)), y=np.zeros(9))


def test_npz_nan_and_inf_are_refused(tmp_path):
    # NaN (without dropna) and inf in X or y are DataErrors.
    X = np.random.default_rng(0).normal(size=(20, 2))
    X_nan = X.copy()
    X_nan[3, 0] = np.nan
    assert "data.dropna=true" in npz_error(tmp_path, X=X_nan, y=np.arange(20) % 2)
    y_inf = np.arange(20.0)
    y_inf[4] = np.inf
    assert "finite y" in npz_error(tmp_path, X=X, y=y_inf)


def test_npz_non_numeric_x_is_refused(tmp_path):
    # String features in an npz are refused naming the dtype.
    assert "numeric X" in npz_error(tmp_path, X=np.full((5, 2), "a"), y=np.zeros(5))


# ------------------------------------------------------------------ faults (issue 10)


def test_npz_whose_x_has_no_columns_is_refused(tmp_path):
    np.savez(tmp_path / "z.npz", X=np.zeros((50, 0)), y=np.arange(50) % 2)
    with pytest.raises(DataError, match=r"one feature, got shape \(50, 0\)"):
        load_dataset(data_cfg("npz", path=str(tmp_path / "z.npz")), seed=0)
    np.savez(tmp_path / "r.npz", X=np.zeros((0, 4)), y=np.zeros(0))  # and no rows
    with pytest.raises(DataError, match=r"at least one sample and one feature, got shape \(0, 4\)"):
        load_dataset(data_cfg("npz", path=str(tmp_path / "r.npz")), seed=0)


def test_a_text_file_named_npz_never_gets_advice_to_unpickle(tmp_path):
    # NumPy's own message suggests allow_pickle: the user gets what the file is not instead
    (tmp_path / "t.npz").write_text("a,b\n1,2\n")
    np.save(tmp_path / "o.npy", np.array([{"a": 1}] * 3, dtype=object), allow_pickle=True)
    (tmp_path / "o.npy").rename(tmp_path / "o.npz")
    for name, reason in (("t.npz", "not one"), ("o.npz", "pickled objects, which are never")):
        with pytest.raises(DataError, match=reason) as caught:
            load_dataset(data_cfg("npz", path=str(tmp_path / name)), seed=0)
        assert "allow_pickle" not in str(caught.value) and "\n" not in str(caught.value)


def test_an_infinite_regression_target_is_refused_when_loading(tmp_path):
    # named with its file, column and line, not found later as a diverging loss
    rows = "".join(f"{i},{2 * i},{i * 0.5}\n" for i in range(40)) + "40,80,inf\n"
    (tmp_path / "r.csv").write_text("a,b,t\n" + rows)
    with pytest.raises(DataError, match=r"r.csv: target column 't' must be finite, got inf "
                                        r"\(line 42\)"):
        load_dataset(data_cfg("csv", path=str(tmp_path / "r.csv"), target="t"), seed=0)


def test_a_zip_named_npz_whose_members_are_not_arrays_is_refused(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "z.npz", "w") as archive:
        archive.writestr("X.npy", "not an array")
        archive.writestr("y.npy", "nor this")
    with pytest.raises(DataError, match="expected X as a NumPy array"):
        load_dataset(data_cfg("npz", path=str(tmp_path / "z.npz")), seed=0)
