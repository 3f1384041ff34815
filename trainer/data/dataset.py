"""The :class:`Dataset`: a data set split into train/val/test, ready for the fit loop."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from trainer.core.preprocessing import Preprocessor
from trainer.data.loaders import RawData
from trainer.data.targets import encode_targets


@dataclass
class Dataset:
    """A data set split into train/val/test, ready for the fit loop.

    Attributes:
        name: ``data.name`` (``digits``, ``csv`` ...).
        task: ``"classification"`` or ``"regression"``.
        X_train, X_val, X_test: (n_part, d) features in the float dtype, standardized with the
            statistics of the training part when ``data.standardize`` is true.
        y_train, y_val, y_test: classification: (n_part,) int64 class indices into ``classes``;
            regression: (n_part, k) floats in the dtype, standardized like the features.
        feature_names: d column names.
        classes: (n_classes,) the original labels in index order (strings as a numpy unicode
            array); ``None`` for regression.
        preprocessor: the fitted standardization, to save with the model.
        raw: the rows as loaded (raw features, labels as given), before the split; ``parts``
            holds each part's row indices into them (``train``, ``val``, ``test``).
    """

    name: str
    task: str
    X_train: np.ndarray = field(repr=False)
    X_val: np.ndarray = field(repr=False)
    X_test: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    y_val: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    feature_names: list[str] = field(repr=False)
    classes: np.ndarray | None
    preprocessor: Preprocessor = field(repr=False)
    raw: RawData | None = field(default=None, repr=False)
    parts: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def raw_part(self, part: str) -> tuple[np.ndarray, np.ndarray]:
        """(raw features (n_part, d), targets as given (n_part,) or (n_part, k)) of ``part``
        (``train``, ``val`` or ``test``), as the file or bundled set holds them."""
        if self.raw is None or part not in self.parts:
            raise ValueError(f"part: expected one of {sorted(self.parts)}, got {part!r}")
        rows = self.parts[part]
        if self.classes is not None:  # the labels the model predicts (named classes)
            y = self.y_train if part == "train" else self.y_val if part == "val" else self.y_test
            return self.raw.X[rows], self.classes[y]
        return self.raw.X[rows], self.raw.y[rows]

    @property
    def n_features(self) -> int:
        """d, the number of input features."""
        return int(self.X_train.shape[1])

    @property
    def n_outputs(self) -> int:
        """Output units: 1 for two classes (sigmoid), n_classes for more (softmax), k for
        regression."""
        if self.task == "regression":
            return int(self.y_train.shape[1])
        assert self.classes is not None
        return 1 if len(self.classes) == 2 else len(self.classes)

    @property
    def dtype(self) -> np.dtype:
        """The float dtype of the arrays."""
        return self.X_train.dtype

    def encode_targets(self, y: np.ndarray) -> np.ndarray:
        """Targets for the loss, (n, n_outputs) in ``dtype``.

        Classification: (n,) class indices -> (n, 1) 0/1 for two classes, one-hot (n, k) for
        more. Regression: (n, k) (or (n,)) -> (n, k) unchanged apart from the dtype.
        """
        n_classes = None if self.classes is None else len(self.classes)
        return encode_targets(y, task=self.task, n_classes=n_classes, dtype=self.dtype)
