"""Inference for a network trained by numpy-mlp-trainer: the loader MLflow ships in each model.

This one file, NumPy only, is the model's whole code (``code/numpy_mlp_predictor.py`` in the
model directory; MLflow imports it by this top-level name). A model therefore loads wherever
NumPy is installed, with or without the trainer package, and a name no other package uses never
shadows an installed one. Inference is a few matrix products; the trainer's own forward pass is
tested against this one.

The model directory's ``data/nn/`` holds

- ``weights.npz``, read with ``allow_pickle=False``: ``W0, b0, W1, b1 ...`` (``W{l}`` (fan_in,
  fan_out), ``b{l}`` (fan_out,)); ``x_mean``, ``x_scale`` (d,) and ``y_mean``, ``y_scale`` (k,)
  when the data was standardized; ``classes`` (a numeric or unicode array) for classification;
- ``meta.json``: ``format_version``, ``activation`` (hidden layers), ``output`` (``softmax``,
  ``sigmoid`` or ``identity``), ``task``, ``dtype`` and ``feature_names``.

:func:`_load_pyfunc` is MLflow's entry point; the :class:`MLPPredictor` it returns predicts from
raw feature rows: a DataFrame (columns picked by name), a 2-D array or a list of rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FORMAT_VERSION", "META_FILE", "MLPPredictor", "WEIGHTS_FILE"]

FORMAT_VERSION = 2
WEIGHTS_FILE = "weights.npz"
META_FILE = "meta.json"
LEAKY_RELU_SLOPE = 0.01  # as the trainer's leaky_relu


def _sigmoid(Z: np.ndarray) -> np.ndarray:
    return 0.5 * np.tanh(0.5 * Z) + 0.5  # = 1 / (1 + e^-Z), without overflow


def _softmax(Z: np.ndarray) -> np.ndarray:
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda Z: np.maximum(Z, 0.0),
    "leaky_relu": lambda Z: np.maximum(Z, LEAKY_RELU_SLOPE * Z),
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
}
OUTPUTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "softmax": _softmax,
    "sigmoid": _sigmoid,
    "identity": lambda Z: Z,
}
TASKS = ("classification", "regression")


def _choice(name: str, value: Any, valid: Sequence[str]) -> str:
    if value not in valid:
        raise ValueError(f"{META_FILE}: {name}: expected one of {', '.join(valid)}, got {value!r}")
    return str(value)


class MLPPredictor:
    """A trained network with its standardization and labels, at inference only.

    Attributes:
        weights, biases: per layer, ``W`` (fan_in, fan_out) and ``b`` (fan_out,).
        activation: the hidden layers' activation, a key of ``ACTIVATIONS``.
        output: the output activation, a key of ``OUTPUTS``.
        task: ``"classification"`` or ``"regression"``.
        classes: (n_classes,) the labels in the data's own terms; None for regression.
        feature_names: d names of the raw feature columns, in order.
        x_mean, x_scale: (d,) feature standardization, or None.
        y_mean, y_scale: (k,) regression target standardization, or None.
        dtype: the float dtype the network computes in (as in training).
    """

    def __init__(
        self,
        weights: Sequence[np.ndarray],
        biases: Sequence[np.ndarray],
        *,
        activation: str,
        output: str,
        task: str,
        classes: np.ndarray | None,
        feature_names: Sequence[str],
        x_mean: np.ndarray | None = None,
        x_scale: np.ndarray | None = None,
        y_mean: np.ndarray | None = None,
        y_scale: np.ndarray | None = None,
        dtype: str = "float32",
    ) -> None:
        self.activation = _choice("activation", activation, list(ACTIVATIONS))
        self.output = _choice("output", output, list(OUTPUTS))
        self.task = _choice("task", task, TASKS)
        if (task == "classification") != (classes is not None):
            raise ValueError(
                f"classes: expected labels exactly for classification, task is {task!r}"
            )
        self.dtype = np.dtype(dtype)
        self.weights = [np.asarray(W, self.dtype) for W in weights]
        self.biases = [np.asarray(b, self.dtype) for b in biases]
        self.classes = classes
        self.feature_names = [str(name) for name in feature_names]
        self.x_mean, self.x_scale = x_mean, x_scale
        self.y_mean, self.y_scale = y_mean, y_scale
        n_inputs = self.weights[0].shape[0] if self.weights else 0
        if not self.weights or len(self.feature_names) != n_inputs:
            raise ValueError(
                f"feature_names: expected {n_inputs} names, one per input, got {len(feature_names)}"
            )

    @classmethod
    def load(cls, data_dir: str | Path) -> MLPPredictor:
        """Read ``weights.npz`` and ``meta.json`` from ``data_dir``."""
        data_dir = Path(data_dir)
        meta = json.loads((data_dir / META_FILE).read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{data_dir / META_FILE}: expected format_version {FORMAT_VERSION}, "
                f"got {meta.get('format_version')!r} (saved by another version of the trainer)"
            )
        with np.load(data_dir / WEIGHTS_FILE, allow_pickle=False) as archive:
            arrays: dict[str, np.ndarray] = {key: archive[key] for key in archive.files}
        n_layers = sum(1 for key in arrays if key[:1] == "W" and key[1:].isdigit())
        return cls(
            [arrays[f"W{i}"] for i in range(n_layers)],
            [arrays[f"b{i}"] for i in range(n_layers)],
            activation=meta["activation"],
            output=meta["output"],
            task=meta["task"],
            classes=arrays.get("classes"),
            feature_names=meta["feature_names"],
            x_mean=arrays.get("x_mean"),
            x_scale=arrays.get("x_scale"),
            y_mean=arrays.get("y_mean"),
            y_scale=arrays.get("y_scale"),
            dtype=meta["dtype"],
        )

    def features(self, model_input: Any) -> np.ndarray:
        """Raw feature rows (n, d) as floats from a DataFrame (columns picked by name; unnamed
        ones taken in order), a 2-D array, a list of rows or one row."""
        columns = getattr(model_input, "columns", None)
        d = len(self.feature_names)
        if columns is not None:
            names = [str(c) for c in columns]
            if names == [str(i) for i in range(len(names))]:
                model_input = model_input.to_numpy()  # unnamed columns: taken in order
            else:
                missing = [name for name in self.feature_names if name not in names]
                if missing:
                    raise ValueError(
                        f"model input: expected the {d} feature columns the model was trained "
                        f"on, missing {missing}"
                    )
                model_input = model_input[self.feature_names].to_numpy()
        X = np.asarray(model_input)
        if X.ndim == 1 and X.shape[0] == d:
            X = X.reshape(1, -1)
        if X.dtype.kind not in "biuf":
            raise ValueError(f"model input: expected numeric feature rows, got dtype {X.dtype}")
        if X.ndim != 2 or X.shape[1] != d:
            raise ValueError(
                f"model input: expected rows of {d} features (one row: x.reshape(1, -1)), "
                f"got shape {X.shape}"
            )
        return X

    def predict_raw(self, model_input: Any) -> np.ndarray:
        """Class probabilities (n, n_outputs) or standardized values (n, k) for raw rows."""
        X = self.features(model_input)
        if self.x_mean is not None and self.x_scale is not None:
            X = (X.astype(np.float64) - self.x_mean) / self.x_scale  # float64 before the cast
        H = X.astype(self.dtype)
        act = ACTIVATIONS[self.activation]
        last = len(self.weights) - 1
        for i, (W, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            Z = H @ W + b                                     # Z = H W + b
            H = Z if i == last else act(Z)                    # A = sigma(Z)
        return OUTPUTS[self.output](H)

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
        y = np.asarray(out, dtype=np.float64)
        if self.y_mean is not None and self.y_scale is not None:
            y = y * self.y_scale + self.y_mean
        y = y.astype(self.dtype)
        return y[:, 0] if y.shape[1] == 1 else y

    def get_raw_model(self) -> MLPPredictor:
        """This object, for ``mlflow.pyfunc.load_model(uri).get_raw_model()`` (e.g. to reach
        :meth:`predict_raw` and the class probabilities)."""
        return self


def _load_pyfunc(data_path: str) -> MLPPredictor:
    """MLflow's entry point for this flavor: the model saved in ``data_path``."""
    return MLPPredictor.load(data_path)
