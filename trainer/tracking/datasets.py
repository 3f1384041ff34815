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

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

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
    call; returns each part's name and digest."""
    import pandas as pd
    from mlflow.data.pandas_dataset import from_pandas
    from mlflow.entities import Dataset as DatasetEntity
    from mlflow.entities import DatasetInput, InputTag

    assert data.raw is not None
    name = dataset_name(data)
    source = str(data.raw.path) if data.raw.path is not None else None
    target = data.raw.target_name
    columns = [c if c != target else f"{c} (feature)" for c in data.feature_names]
    inputs, refs = [], {}
    for part, context in CONTEXTS.items():
        X, y = data.raw_part(part)
        frame = pd.DataFrame(X, columns=columns)
        if data.raw.feature_dtypes is not None:  # the column types the file holds
            frame = frame.astype(dict(zip(columns, data.raw.feature_dtypes, strict=True)))
        if y.ndim == 2 and y.shape[1] > 1:  # several regression targets
            targets = [f"{target}_{i}" for i in range(y.shape[1])]
            for i, column in enumerate(targets):
                frame[column] = y[:, i]
        else:
            frame[target] = y.reshape(-1)
        with warnings.catch_warnings():
            # MLflow's notes on every dataset: a local path matches two source kinds of the
            # same class, and integer columns cannot hold missing values (the loaders refuse
            # missing values, or drop their rows with data.dropna)
            warnings.filterwarnings("ignore", message="The specified dataset source can be")
            warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
            dataset = from_pandas(frame, source=source, name=name,  # type: ignore[arg-type]
                                  targets=target if target in frame else None)
            spec = dataset.to_dict()  # what mlflow.log_input logs (the schema is made here)
        entity = DatasetEntity(name=spec["name"], digest=spec["digest"],
                               source_type=spec["source_type"], source=spec["source"],
                               schema=spec.get("schema"), profile=spec.get("profile"))
        inputs.append(DatasetInput(entity, tags=[InputTag(_CONTEXT_TAG, context)]))
        refs[part] = DatasetRef(dataset.name, dataset.digest)
    client.log_inputs(run_id, datasets=inputs)
    return refs

