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
by the caller (:meth:`runkit.mlflow.run.RunTracker.log_metrics`).

The signature declares the input, one ``double`` column per feature by name (the Models tab and
the registered version show them; MLflow checks a DataFrame's columns and casts integer ones),
and the output. Through ``mlflow.pyfunc`` a model then takes DataFrames (or the REST server's
``dataframe_split`` / ``dataframe_records``) with those columns; a plain 2-D array goes to
the raw model (``model.get_raw_model().predict(rows)``), which checks it by shape.

Speed (issue 13: one model per run and per sweep trial). :func:`save_model` writes the directory
``mlflow.pyfunc.save_model`` would write, through MLflow's public ``Model`` API and
:mod:`trainer.tracking.model_env`'s environment files, unless MLflow would write more (an input
example, a uv project, locked requirements): that skips MLflow's scan of the installed packages
(0.25-0.3 s on the first save in a process), the import of ``mlflow.pyfunc`` (30-50 ms, also the
first time) and a copy of the data through a temporary directory. :func:`log_model` saves straight
into a local store's artifact directory, which skips a temporary copy and the look-up of the
model's artifact location.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

from runkit.mlflow.params import flatten_config
from trainer.core.preprocessing import Preprocessor
from trainer.tracking import model_env
from trainer.tracking import numpy_mlp_predictor as predictor

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.models import Model

    from runkit.mlflow.run import RunTracker

__all__ = ["MODEL_NAME", "MODEL_TYPE", "log_model", "log_trained_model", "model_name",
           "save_model"]

MODEL_NAME = "model"  # a model without a name of its own; runs:/<run_id>/<name> finds it
MODEL_TYPE = "numpy-mlp"
# The output activation of each loss (its predictions), as the predictor names them.
OUTPUT_OF_LOSS = {
    "categorical_crossentropy": "softmax",
    "binary_crossentropy": "sigmoid",
    "mse": "identity",
}
_PREDICTOR_FILE = Path(predictor.__file__).resolve()
_LOADER_MODULE = _PREDICTOR_FILE.stem  # imported by this top-level name from the model's code/
# The model directory's layout, as mlflow.pyfunc.save_model names it
_DATA_DIR = "data"
_CODE_DIR = "code"
_NN_DIR = "nn"  # data/nn: the arrays and settings


def _plain_array(name: str, value: Any) -> np.ndarray:
    """``value`` as an array np.load can read without pickle (strings become unicode)."""
    array = np.asarray(value)
    if array.dtype == object:
        array = np.asarray(array.tolist())
    if array.dtype.kind not in "biufU":
        raise ValueError(f"{name}: expected a numeric or string array, got dtype {array.dtype}")
    return array


_OUTPUT_TYPES = {"b": "boolean", "i": "long", "u": "long", "f": "double", "U": "string"}
_INPUT_TYPES = {"b": "boolean", "i": "long", "u": "long", "f": "double"}


_NOT_IN_MODEL_NAMES = re.compile(r"[/:.%\"']+")  # what MLflow refuses in a logged model's name


def model_name(run_name: str) -> str:
    """A logged model's name after its run (``digits-mlp-64x32``, ``trial-3-digits-8d6cdc7e``):
    the Models tab tells the models apart, and ``runs:/<run_id>/<name>`` loads one. Characters
    MLflow refuses in a model's name (``/ : . % " '``) become ``-``."""
    return _NOT_IN_MODEL_NAMES.sub("-", run_name).strip() or MODEL_NAME


def _signature(task: str, classes: np.ndarray | None, n_outputs: int,
               feature_names: Sequence[str], feature_dtypes: Sequence[str] | None) -> Any:
    """:func:`_schemas` of these, made once per data set in a process: a sweep's trials share
    it (784 columns cost 20 ms a trial)."""
    label_kind = None if classes is None else np.asarray(classes).dtype.kind
    return _schemas(task, label_kind, n_outputs, tuple(feature_names),
                    None if feature_dtypes is None else tuple(feature_dtypes))


@functools.lru_cache(maxsize=4)
def _schemas(task: str, label_kind: str | None, n_outputs: int,
             feature_names: tuple[str, ...], feature_dtypes: tuple[str, ...] | None) -> Any:
    """The input schema (one column per feature, by name, of the type the training data held:
    ``long`` for integer columns, ``boolean``, else ``double``, as MLflow infers it from a
    DataFrame) and the output schema (labels, one value, or (n, k) values)."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    if task == "classification":
        assert label_kind is not None
        outputs = Schema([ColSpec(_OUTPUT_TYPES[label_kind])])
    elif n_outputs == 1:
        outputs = Schema([ColSpec("double")])
    else:
        outputs = Schema([TensorSpec(np.dtype(np.float64), (-1, n_outputs))])
    kinds = [np.dtype(d).kind for d in feature_dtypes or ["float64"] * len(feature_names)]
    inputs = Schema([ColSpec(_INPUT_TYPES.get(kind, "double"), name)
                     for name, kind in zip(feature_names, kinds, strict=True)])
    return ModelSignature(inputs=inputs, outputs=outputs)


def _write_data(data_dir: Path, arrays: Mapping[str, Any], meta: Mapping[str, Any],
                rows: Any) -> None:
    """Write ``weights.npz`` and ``meta.json`` to ``data_dir`` and predict ``rows`` from them: a
    model that cannot predict fails here, at save time, not when a user loads it."""
    data_dir.mkdir(parents=True)
    np.savez(data_dir / predictor.WEIGHTS_FILE, **arrays)
    (data_dir / predictor.META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    predictor.MLPPredictor.load(data_dir).predict(rows)


def _total_size(directory: Path) -> int:
    return sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())


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
    feature_dtypes: Sequence[str] | None = None,
    input_example: np.ndarray | None = None,
    mlflow_model: Model | None = None,
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
        feature_dtypes: d NumPy dtype names of the raw columns (the schema's column types;
            ``None``: all ``double``).
        input_example: (n, d) raw feature rows stored with the model (optional).
        mlflow_model: the ``mlflow.models.Model`` to fill (it carries a logged model's id).
    """
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
    signature = _signature(task, classes, network_config["n_outputs"], names, feature_dtypes)
    if input_example is None and model_env.mlflow_writes_more() is None:
        _write_model(Path(path), arrays, meta, signature, mlflow_model)
    else:
        _save_with_mlflow(Path(path), arrays, meta, signature, mlflow_model, input_example)


def _write_model(path: Path, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any],
                 signature: Any, mlflow_model: Model | None) -> None:
    """Write what ``mlflow.pyfunc.save_model`` writes for this model without an input example:
    data/nn/, code/, the environment files and MLmodel (see the module's docstring)."""
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    if path.exists() and any(path.iterdir()):
        raise MlflowException(f"Path '{path}' already exists and is not empty")
    _write_data(path / _DATA_DIR / _NN_DIR, arrays, meta, np.zeros((1, len(meta["feature_names"]))))
    model = Model() if mlflow_model is None else mlflow_model
    # the python_function flavor as mlflow.pyfunc.add_to_model writes it (the keys of MLflow's
    # "pyfunc filesystem format"), without importing mlflow.pyfunc (30-50 ms)
    model.add_flavor(
        "python_function",
        loader_module=_LOADER_MODULE,
        python_version=model_env.python_version(),
        data=f"{_DATA_DIR}/{_NN_DIR}",
        code=_CODE_DIR,
        env={"conda": model_env.CONDA_FILE, "virtualenv": model_env.PYTHON_ENV_FILE},
        streamable=False,
    )
    model.signature = signature
    model.model_size_bytes = _total_size(path / _DATA_DIR) or None  # MLflow counts the data only
    (path / _CODE_DIR).mkdir()
    shutil.copy(_PREDICTOR_FILE, path / _CODE_DIR / _PREDICTOR_FILE.name)
    for name, text in model_env.environment_files().items():
        (path / name).write_text(text)
    model.save(str(path / "MLmodel"))


def _save_with_mlflow(path: Path, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any],
                      signature: Any, mlflow_model: Model | None,
                      input_example: np.ndarray | None) -> None:
    """Save through ``mlflow.pyfunc.save_model``, for what :func:`_write_model` does not write
    (the input example's files, a uv project's, locked requirements)."""
    import mlflow.pyfunc  # here, not at import: loading a model must not need it
    import pandas as pd

    rows = np.zeros((1, len(meta["feature_names"]))) if input_example is None else input_example
    frame = pd.DataFrame(np.asarray(rows, dtype=np.float64), columns=meta["feature_names"])
    with tempfile.TemporaryDirectory(prefix="trainer-nn-") as tmp:
        data_dir = Path(tmp) / _NN_DIR
        _write_data(data_dir, arrays, meta, frame)
        with warnings.catch_warnings():
            # MLflow nags on every save without an example; the model checks its own input
            warnings.filterwarnings("ignore", message=".*input example was not provided")
            mlflow.pyfunc.save_model(
                str(path),
                loader_module=_LOADER_MODULE,
                data_path=str(data_dir),
                code_paths=[str(_PREDICTOR_FILE)],
                pip_requirements=[model_env.pinned("numpy")],
                signature=signature,
                input_example=None if input_example is None else frame,
                mlflow_model=mlflow_model,
            )


def _local_directory(uri: str) -> Path | None:
    """The local directory an artifact location (``file://`` URI or plain path) names, or None
    for a remote one (a tracking server's ``mlflow-artifacts:``, S3 ...)."""
    parsed = urlparse(uri)
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
        return Path(url2pathname(parsed.path))
    return Path(uri) if parsed.scheme == "" else None


def log_model(
    client: MlflowClient,
    *,
    experiment_id: str,
    run_id: str,
    step: int,
    name: str = MODEL_NAME,
    params: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    **save_kwargs: Any,
) -> str:
    """Save the model (:func:`save_model`'s keyword arguments) as a logged model of the run.

    Args:
        step: the epoch whose weights the model holds (the run's output link records it).
        name: the model's name (:func:`model_name` of the run's).
        params: the model's params (the run's config, flattened).
        tags: the model's tags.

    Returns:
        The model id: ``models:/<model_id>`` loads it.
    """
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus
    from mlflow.models import Model

    model = client.create_logged_model(
        experiment_id,
        name=name,
        source_run_id=run_id,
        params=dict(params or {}),
        tags=dict(tags or {}),
        model_type=MODEL_TYPE,
    )
    mlflow_model = Model(
        artifact_path=model.artifact_location,
        model_uuid=model.model_id,
        run_id=run_id,
        model_id=model.model_id,
    )
    # A local store's artifact directory is written in place: what client.log_model_artifacts
    # would copy there from a temporary directory, without the copy and its look-up of the
    # artifact location (5-7 ms a model)
    local = _local_directory(model.artifact_location)
    tmp = None if local is not None else tempfile.mkdtemp(prefix="trainer-model-")
    try:
        if local is not None:
            try:
                save_model(local, mlflow_model=mlflow_model, **save_kwargs)
            except BaseException:
                shutil.rmtree(local, ignore_errors=True)  # no half-written model (a full disk)
                raise
        else:
            assert tmp is not None
            save_model(Path(tmp) / MODEL_NAME, mlflow_model=mlflow_model, **save_kwargs)
            client.log_model_artifacts(model.model_id, str(Path(tmp) / MODEL_NAME))
        client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=step)])
        client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    except BaseException:
        with contextlib.suppress(Exception):  # the cause matters more than the status
            client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
        raise
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return model.model_id


def log_trained_model(tracker: RunTracker, *, step: int, params: Mapping[str, Any] | None = None,
                      **save_kwargs: Any) -> str:
    """Store the trained network as an MLflow logged model of the tracker's run (the
    experiment's Models tab), with ``params`` (flattened like the run's) and
    :func:`save_model`'s keyword arguments.

    Args:
        step: the epoch whose weights the model holds.

    Returns:
        The model id: ``models:/<model_id>`` (and ``runs:/<run_id>/<its name>``) load it.
    """
    flat = {k: v[:MAX_PARAM_VAL_LENGTH] for k, v in flatten_config(params or {}).items()}
    return log_model(tracker.client, experiment_id=tracker.experiment_id, run_id=tracker.run_id,
                     step=step, params=flat, **save_kwargs)
