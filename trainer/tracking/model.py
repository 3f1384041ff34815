"""The trained model as an MLflow 3 logged model: a pyfunc model stored without pickle.

A custom pyfunc *flavor* (``loader_module``), not a ``PythonModel`` subclass: MLflow would
cloudpickle the latter. The model directory holds the arrays and settings described in
:mod:`trainer.tracking.numpy_mlp_predictor` (``data/nn/weights.npz``, ``data/nn/meta.json``)
and that one module as its whole code (``code/numpy_mlp_predictor.py``): what predicting
needs and no more. A model thus loads with NumPy alone, with or without the trainer installed,
and its top-level module name shadows no installed package (a copy of ``trainer`` would).

:func:`log_model` stores it the way ``mlflow.pyfunc.log_model`` does, through the client API:
a logged model (the experiment's Models tab, ``models:/<model_id>``) created with the run as
its source, linked as the run's output, with its params, and READY once its files are up (FAILED
if they could not be written). The run's metrics that describe the model are logged with its id
by the caller (:meth:`trainer.tracking.run.RunTracker.log_metrics`).

The signature declares only the output, so that MLflow passes arrays through instead of
demanding named columns; the predictor checks its input itself (columns by name, arrays by
shape).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trainer.core.preprocessing import Preprocessor
from trainer.tracking import numpy_mlp_predictor as predictor

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["MODEL_NAME", "MODEL_TYPE", "log_model", "save_model"]

MODEL_NAME = "model"  # also the artifact path: runs:/<run_id>/model finds the logged model
MODEL_TYPE = "numpy-mlp"
# The output activation of each loss (its predictions), as the predictor names them.
OUTPUT_OF_LOSS = {
    "categorical_crossentropy": "softmax",
    "binary_crossentropy": "sigmoid",
    "mse": "identity",
}
_PREDICTOR_FILE = Path(predictor.__file__).resolve()
_LOADER_MODULE = _PREDICTOR_FILE.stem  # imported by this top-level name from the model's code/


def _pinned(package: str) -> str:
    """``package~=X.Y.0``: the installed major.minor, any patch."""
    major, minor = metadata.version(package).split(".")[:2]
    return f"{package}~={major}.{minor}.0"


def _plain_array(name: str, value: Any) -> np.ndarray:
    """``value`` as an array np.load can read without pickle (strings become unicode)."""
    array = np.asarray(value)
    if array.dtype == object:
        array = np.asarray(array.tolist())
    if array.dtype.kind not in "biufU":
        raise ValueError(f"{name}: expected a numeric or string array, got dtype {array.dtype}")
    return array


_OUTPUT_TYPES = {"b": "boolean", "i": "long", "u": "long", "f": "double", "U": "string"}


def _signature(task: str, classes: np.ndarray | None, n_outputs: int) -> Any:
    """The output schema: labels, one value, or (n, k) values."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    if task == "classification":
        assert classes is not None
        outputs = Schema([ColSpec(_OUTPUT_TYPES[np.asarray(classes).dtype.kind])])
    elif n_outputs == 1:
        outputs = Schema([ColSpec("double")])
    else:
        outputs = Schema([TensorSpec(np.dtype(np.float64), (-1, n_outputs))])
    return ModelSignature(outputs=outputs)


def save_model(
    path: str | Path,
    *,
    network_state: Mapping[str, np.ndarray],
    network_config: Mapping[str, Any],
    loss: str,
    task: str,
    preprocessor_arrays: Mapping[str, np.ndarray],
    classes: np.ndarray | None,
    feature_names: Sequence[str],
    input_example: np.ndarray | None = None,
    mlflow_model: Any = None,
) -> None:
    """Save a trained network as an MLflow pyfunc model directory at ``path`` (new or empty).

    Args:
        network_state: ``MLP.state_dict()``: ``W{l}`` (fan_in, fan_out), ``b{l}`` (fan_out,).
        network_config: ``MLP.config()``: the constructor arguments.
        loss: a key of ``OUTPUT_OF_LOSS`` (the loss the network was trained with).
        task: ``"classification"`` or ``"regression"``.
        preprocessor_arrays: ``Preprocessor.to_arrays()``.
        classes: (n_classes,) labels for classification; None for regression.
        feature_names: d raw feature names, the model's input columns.
        input_example: (n, d) raw feature rows stored with the model (optional).
        mlflow_model: the ``mlflow.models.Model`` to fill (it carries a logged model's id).
    """
    import mlflow.pyfunc  # here, not at import: loading a model must not need it
    import pandas as pd

    if loss not in OUTPUT_OF_LOSS:
        raise ValueError(f"loss: expected one of {', '.join(OUTPUT_OF_LOSS)}, got {loss!r}")
    if task not in predictor.TASKS:
        raise ValueError(f"task: expected one of {', '.join(predictor.TASKS)}, got {task!r}")
    if (task == "classification") != (classes is not None):
        raise ValueError(f"classes: expected labels exactly for classification, task is {task!r}")
    names = [str(name) for name in feature_names]
    if len(names) != network_config["n_inputs"] or len(set(names)) != len(names):
        raise ValueError(
            f"feature_names: expected {network_config['n_inputs']} distinct names, got {names}"
        )

    # Any: np.savez(file, **arrays) would otherwise match the keyword allow_pickle: bool
    arrays: dict[str, Any] = {key: _plain_array(key, value) for key, value in network_state.items()}
    pre = Preprocessor.from_arrays(preprocessor_arrays)
    for key in ("x_mean", "x_scale", "y_mean", "y_scale"):
        value = getattr(pre, key)
        if value is not None:
            arrays[key] = _plain_array(key, value)
    if classes is not None:
        arrays["classes"] = _plain_array("classes", classes)
    meta = {
        "format_version": predictor.FORMAT_VERSION,
        "activation": network_config["activation"],
        "output": OUTPUT_OF_LOSS[loss],
        "task": task,
        "dtype": network_config["dtype"],
        "feature_names": names,
    }

    with tempfile.TemporaryDirectory(prefix="trainer-nn-") as tmp:
        data_dir = Path(tmp) / "nn"
        data_dir.mkdir()
        np.savez(data_dir / predictor.WEIGHTS_FILE, **arrays)
        (data_dir / predictor.META_FILE).write_text(json.dumps(meta, indent=2) + "\n")

        # Run the saved model once (on the example, or one row of zeros): a model that cannot
        # predict fails here, at save time, not when a user loads it.
        rows = np.zeros((1, len(names))) if input_example is None else np.asarray(input_example)
        frame = pd.DataFrame(rows.astype(np.float64), columns=names)
        predictor.MLPPredictor.load(data_dir).predict(frame)
        with warnings.catch_warnings():
            # MLflow nags on every save without an example; the model checks its own input
            warnings.filterwarnings("ignore", message=".*input example was not provided")
            mlflow.pyfunc.save_model(
                str(path),
                loader_module=_LOADER_MODULE,
                data_path=str(data_dir),
                code_paths=[str(_PREDICTOR_FILE)],
                pip_requirements=[_pinned("numpy")],
                signature=_signature(task, classes, network_config["n_outputs"]),
                input_example=None if input_example is None else frame,
                mlflow_model=mlflow_model,
            )


def log_model(
    client: MlflowClient,
    *,
    experiment_id: str,
    run_id: str,
    step: int,
    params: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    **save_kwargs: Any,
) -> str:
    """Save the model (:func:`save_model`'s keyword arguments) as a logged model of the run.

    Args:
        step: the epoch whose weights the model holds (the run's output link records it).
        params: the model's params (the run's config, flattened).
        tags: the model's tags.

    Returns:
        The model id: ``models:/<model_id>`` loads it.
    """
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus
    from mlflow.models import Model

    model = client.create_logged_model(
        experiment_id,
        name=MODEL_NAME,
        source_run_id=run_id,
        params=dict(params or {}),
        tags=dict(tags or {}),
        model_type=MODEL_TYPE,
    )
    tmp = tempfile.mkdtemp(prefix="trainer-model-")
    try:
        local = Path(tmp) / MODEL_NAME
        mlflow_model = Model(
            artifact_path=model.artifact_location,
            model_uuid=model.model_id,
            run_id=run_id,
            model_id=model.model_id,
        )
        save_model(local, mlflow_model=mlflow_model, **save_kwargs)
        client.log_model_artifacts(model.model_id, str(local))
        client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=step)])
        client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    except BaseException:
        with contextlib.suppress(Exception):  # the cause matters more than the status
            client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return model.model_id
