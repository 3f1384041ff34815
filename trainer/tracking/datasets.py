"""A run's data as MLflow datasets: one per part, linked to the run as its inputs.

Each part (``training``, ``validation``, ``test``: MLflow's context tag) is logged as an
``mlflow.data`` pandas dataset of the raw rows as the file or bundled set holds them (feature
columns by name, the target column with the labels as given): its name (the data set, or the
file's stem), digest (a hash of the rows, so trials of one sweep, which split the same data with
the same seed, share it), source (the file read: a CSV, an ``.npz`` or the bundled set's
``.npz`` in the package) and schema (the columns and their types). The run page's Datasets box
and the runs table's Datasets column show them; a logged model's metrics name the part they
were measured on (``RunTracker.log_metrics``).

"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.data import Dataset

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["CONTEXTS", "DatasetRef", "dataset_name", "log_datasets"]

# Dataset part -> MLflow's context tag for it
CONTEXTS = {"train": "training", "val": "validation", "test": "test"}
_CONTEXT_TAG = "mlflow.data.context"  # mlflow.utils.mlflow_tags.MLFLOW_DATASET_CONTEXT


@dataclass(frozen=True)
class DatasetRef:
    """What a metric needs to name the dataset it was measured on."""

    name: str
    digest: str


def dataset_name(data: Dataset) -> str:
    """``digits``; a CSV or ``.npz`` by its file's stem (``measurements``)."""
    path = None if data.raw is None else data.raw.path
    if data.name in ("csv", "npz") and path is not None:
        return Path(path).stem
    return data.name


def log_datasets(client: MlflowClient, run_id: str, data: Dataset) -> dict[str, DatasetRef]:
    """Log the train, validation and test parts of ``data`` as the run's dataset inputs, in one
    call; returns each part's name and digest.

    What ``mlflow.log_input(mlflow.data.from_pandas(frame), context=...)`` logs, made cheaply
    (MLflow's own took 250-650 ms for digits' three parts, a tenth of a run): the digest hashes
    the parts' arrays (MLflow's maps every cell through Python), and the schema, the same for
    the three parts, is inferred once from one row (MLflow's checks every cell for missing
    values, which the loaders have refused or dropped already).
    """
    global _described
    if _described is None or _described[0] is not data:
        _described = None  # the previous data set is not held while this one is described
        _described = (data, *_describe(data))
    _, inputs, refs = _described
    client.log_inputs(run_id, datasets=inputs)
    return dict(refs)


# The last data set described, with its inputs and refs: a sweep's trials in one process get
# the same Dataset object (trainer/data/reuse.py), whose parts need hashing only once
_described: tuple[Dataset, list[Any], dict[str, DatasetRef]] | None = None


def _describe(data: Dataset) -> tuple[list[Any], dict[str, DatasetRef]]:
    """The MLflow dataset inputs of ``data``'s parts, and each part's name and digest."""
    from mlflow.data.dataset import Dataset as MlflowDataset
    from mlflow.data.pandas_dataset import from_pandas
    from mlflow.entities import Dataset as DatasetEntity
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.models import infer_signature

    assert data.raw is not None
    name = dataset_name(data)
    source = str(data.raw.path) if data.raw.path is not None else None
    schema = None
    inputs, refs = [], {}
    for part, context in CONTEXTS.items():
        frame, digest = _frame(data, part)
        with warnings.catch_warnings():
            # MLflow's notes on every dataset: a local path matches two source kinds of the
            # same class, and integer columns cannot hold missing values (the loaders refuse
            # missing values, or drop their rows with data.dropna)
            warnings.filterwarnings("ignore", message="The specified dataset source can be")
            warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
            if schema is None:
                inferred = infer_signature(frame.iloc[:1]).inputs
                schema = json.dumps({"mlflow_colspec": inferred.to_dict()})
            dataset = from_pandas(frame, source=source, name=name,  # type: ignore[arg-type]
                                  targets=data.raw.target_name, digest=digest)
        spec = MlflowDataset.to_dict(dataset)  # name, digest, source, its type (no schema)
        entity = DatasetEntity(name=spec["name"], digest=spec["digest"],
                               source_type=spec["source_type"], source=spec["source"],
                               schema=schema, profile=json.dumps(dataset.profile))
        inputs.append(DatasetInput(entity, tags=[InputTag(_CONTEXT_TAG, context)]))
        refs[part] = DatasetRef(dataset.name, dataset.digest)
    return inputs, refs


def _frame(data: Dataset, part: str) -> tuple[Any, str]:
    """The part's rows as the file holds them (the feature columns in their types, then the
    target column, ``<target>_<i>`` for several regression targets), and their digest: 8 hex
    digits of an MD5 over the columns' names and types and the rows' values, the same for the
    same rows in every run."""
    import pandas as pd

    assert data.raw is not None
    X, y = data.raw_part(part)
    target = data.raw.target_name
    columns = [c if c != target else f"{c} (feature)" for c in data.feature_names]
    dtypes = data.raw.feature_dtypes or ["float64"] * len(columns)
    md5 = hashlib.md5(usedforsecurity=False)
    md5.update(repr((columns, dtypes, target, str(y.dtype))).encode())
    md5.update(X.tobytes())
    md5.update(y.tobytes() if y.dtype.kind != "O" else "\x00".join(map(str, y.flat)).encode())
    if len(set(dtypes)) == 1:  # one cast of the whole array (the bundled sets, an .npz)
        frame = pd.DataFrame(X.astype(dtypes[0]), columns=columns)
    else:  # a CSV's columns, each in its own type
        frame = pd.DataFrame({c: X[:, i].astype(d) for i, (c, d) in
                              enumerate(zip(columns, dtypes, strict=True))})
    if y.ndim == 2 and y.shape[1] > 1:
        for i in range(y.shape[1]):
            frame[f"{target}_{i}"] = y[:, i]
    else:
        frame[target] = y.reshape(-1)
    return frame, md5.hexdigest()[:8]
