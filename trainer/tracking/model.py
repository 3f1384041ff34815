"""The trained model as an MLflow pyfunc model, stored without pickle.

A custom pyfunc *flavor* (``loader_module``), not a ``PythonModel`` subclass: MLflow would
cloudpickle the latter. The model directory holds

- ``data/nn/weights.npz``: ``W0, b0, W1, b1 ...``, the preprocessor's arrays (keys ``pre_*``)
  and ``classes`` (a numeric or unicode array, never ``object``), read with
  ``allow_pickle=False``;
- ``data/nn/meta.json``: the network's constructor arguments, the loss, the task and the
  feature names;
- ``code/trainer/``: a copy of this package, so ``mlflow.pyfunc.load_model`` works wherever
  numpy and pandas are installed, without installing ``trainer``.

MLflow loads it by importing this module and calling :func:`_load_pyfunc` with the data
directory; the returned :class:`NumpyMLPModel` predicts from raw feature rows: a DataFrame
(columns picked by name), a 2-D array or a list of rows (taken in order). The signature declares
only the output, so that MLflow passes arrays through instead of demanding named columns.
"""

from __future__ import annotations

import json
import tempfile
import threading
import warnings
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from trainer.core.losses import LOSSES
from trainer.core.network import MLP
from trainer.core.preprocessing import Preprocessor
from trainer.errors import DataError

__all__ = ["NumpyMLPModel", "save_model"]

WEIGHTS_FILE = "weights.npz"
META_FILE = "meta.json"
FORMAT_VERSION = 1
_PREPROCESSOR_PREFIX = "pre_"
_CLASSES_KEY = "classes"
_TASKS = ("classification", "regression")
_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the trainer package


class NumpyMLPModel:
    """A trained network with its standardization and labels; what ``_load_pyfunc`` returns.

    Attributes:
        network: the MLP, used at inference only.
        loss: the loss key; its output activation turns logits into probabilities or values.
        task: ``"classification"`` or ``"regression"``.
        preprocessor: the standardization fitted on the training part.
        classes: (n_classes,) the labels in the data's own terms; None for regression.
        feature_names: d names of the raw feature columns, in order.
    """

    def __init__(
        self,
        network: MLP,
        *,
        loss: str,
        task: str,
        preprocessor: Preprocessor,
        classes: np.ndarray | None,
        feature_names: Sequence[str],
    ) -> None:
        self.network = network
        self.loss = loss
        self.task = task
        self.preprocessor = preprocessor
        self.classes = classes
        self.feature_names = list(feature_names)
        # The network reuses per-batch-size buffers: one prediction at a time per model.
        self._lock = threading.Lock()

    @classmethod
    def load(cls, data_dir: str | Path) -> NumpyMLPModel:
        """Read ``weights.npz`` and ``meta.json`` from ``data_dir``."""
        data_dir = Path(data_dir)
        meta = json.loads((data_dir / META_FILE).read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise DataError(
                f"{data_dir / META_FILE}: expected format_version {FORMAT_VERSION}, "
                f"got {meta.get('format_version')!r}"
            )
        with np.load(data_dir / WEIGHTS_FILE, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        state = {k: v for k, v in arrays.items() if k[:1] in "Wb" and k[1:].isdigit()}
        pre = {
            key[len(_PREPROCESSOR_PREFIX) :]: value
            for key, value in arrays.items()
            if key.startswith(_PREPROCESSOR_PREFIX)
        }
        network = MLP(**meta["network_config"], rng=np.random.default_rng(0))
        network.load_state_dict(state)
        return cls(
            network,
            loss=meta["loss"],
            task=meta["task"],
            preprocessor=Preprocessor.from_arrays(pre),
            classes=arrays.get(_CLASSES_KEY),
            feature_names=meta["feature_names"],
        )

    def _raw_features(self, model_input: Any) -> np.ndarray:
        """Feature rows (n, d) from a DataFrame (columns picked by name) or an array-like."""
        columns = getattr(model_input, "columns", None)
        if columns is not None:
            names = [str(c) for c in columns]
            if names == [str(i) for i in range(len(names))]:
                model_input = model_input.to_numpy()  # unnamed columns: taken in order
            else:
                missing = [name for name in self.feature_names if name not in names]
                if missing:
                    raise DataError(
                        f"model input: expected the {len(self.feature_names)} feature columns "
                        f"the model was trained on, missing {missing}"
                    )
                model_input = model_input[self.feature_names].to_numpy()
        X = np.asarray(model_input)
        return X.reshape(1, -1) if X.ndim == 1 and len(self.feature_names) == X.shape[0] else X

    def predict_raw(self, model_input: Any) -> np.ndarray:
        """Probabilities (classification, (n, n_outputs)) or standardized values (regression,
        (n, k)) for raw feature rows (n, d)."""
        X = self.preprocessor.transform(self._raw_features(model_input))
        with self._lock:
            Z = self.network.logits(X)  # (n, n_outputs)
        return LOSSES[self.loss].output(Z)

    def predict(self, model_input: Any, params: Mapping[str, Any] | None = None) -> np.ndarray:
        """Labels or values for raw feature rows (n, d) in the data's own terms.

        Returns:
            classification: (n,) labels from ``classes`` (argmax of the softmax, or sigmoid
            >= 0.5 for two classes); regression: (n,) values for one target, (n, k) for k,
            with the target standardization undone.
        """
        out = self.predict_raw(model_input)
        if self.task == "classification":
            assert self.classes is not None
            index = (out[:, 0] >= 0.5).astype(np.intp) if out.shape[1] == 1 else out.argmax(axis=1)
            return self.classes[index]
        y = self.preprocessor.inverse_targets(out)  # (n, k)
        return y[:, 0] if y.shape[1] == 1 else y

    def get_raw_model(self) -> NumpyMLPModel:
        """This object, for ``mlflow.pyfunc.load_model(uri).get_raw_model()`` (e.g. to reach
        :meth:`predict_raw` and the class probabilities)."""
        return self


def _load_pyfunc(data_path: str) -> NumpyMLPModel:
    """MLflow's entry point for this flavor: the model saved in ``data_path``."""
    return NumpyMLPModel.load(data_path)


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
    """The output schema: labels, one value, or (n, k) values.

    No input schema on purpose: MLflow would then accept only DataFrames with exactly these
    columns and refuse numpy rows; :meth:`NumpyMLPModel.predict` checks its input itself
    (columns by name, arrays by shape).
    """
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
) -> None:
    """Save a trained network as an MLflow pyfunc model directory at ``path`` (new or empty).

    Args:
        network_state: ``MLP.state_dict()``: ``W{l}`` (fan_in, fan_out), ``b{l}`` (fan_out,).
        network_config: ``MLP.config()``: the constructor arguments.
        loss: a key of ``trainer.core.losses.LOSSES``.
        task: ``"classification"`` or ``"regression"``.
        preprocessor_arrays: ``Preprocessor.to_arrays()``.
        classes: (n_classes,) labels for classification; None for regression.
        feature_names: d raw feature names, the model's input columns.
        input_example: (n, d) raw feature rows stored with the model (optional).
    """
    import mlflow.pyfunc  # here, not at import: loading a model must not need it
    import pandas as pd

    if loss not in LOSSES:
        raise ValueError(f"loss: expected one of {', '.join(LOSSES)}, got {loss!r}")
    if task not in _TASKS:
        raise ValueError(f"task: expected one of {', '.join(_TASKS)}, got {task!r}")
    if (task == "classification") != (classes is not None):
        raise ValueError(f"classes: expected labels exactly for classification, task is {task!r}")
    names = [str(name) for name in feature_names]
    if len(names) != network_config["n_inputs"] or len(set(names)) != len(names):
        raise ValueError(
            f"feature_names: expected {network_config['n_inputs']} distinct names, got {names}"
        )

    # Any: np.savez(file, **arrays) would otherwise match the keyword allow_pickle: bool
    arrays: dict[str, Any] = {key: _plain_array(key, value) for key, value in network_state.items()}
    for key, value in preprocessor_arrays.items():
        arrays[_PREPROCESSOR_PREFIX + key] = _plain_array(key, value)
    if classes is not None:
        arrays[_CLASSES_KEY] = _plain_array(_CLASSES_KEY, classes)
    meta = {
        "format_version": FORMAT_VERSION,
        "network_config": dict(network_config),
        "loss": loss,
        "task": task,
        "feature_names": names,
    }

    with tempfile.TemporaryDirectory(prefix="trainer-nn-") as tmp:
        data_dir = Path(tmp) / "nn"
        data_dir.mkdir()
        np.savez(data_dir / WEIGHTS_FILE, **arrays)
        (data_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")

        # Run the saved model once (on the example, or one row of zeros): a model that cannot
        # predict fails here, at save time, not when a user loads it.
        rows = np.zeros((1, len(names))) if input_example is None else np.asarray(input_example)
        frame = pd.DataFrame(rows.astype(np.float64), columns=names)
        NumpyMLPModel.load(data_dir).predict(frame)
        with warnings.catch_warnings():
            # MLflow nags on every save without an example; the model checks its own input
            warnings.filterwarnings("ignore", message=".*input example was not provided")
            mlflow.pyfunc.save_model(
                str(path),
                loader_module=__name__,
                data_path=str(data_dir),
                code_paths=[str(_PACKAGE_DIR)],
                pip_requirements=[_pinned("numpy"), _pinned("pandas")],
                signature=_signature(task, classes, network_config["n_outputs"]),
                input_example=None if input_example is None else frame,
            )
