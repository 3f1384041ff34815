"""scikit-learn estimators on the trainer's core: :class:`MLPClassifier` and :class:`MLPRegressor`.

They follow scikit-learn's estimator contract (``fit``, ``predict``, ``predict_proba``, ``score``,
``partial_fit``, ``get_params``/``set_params``, ``clone``; fitted attributes end in ``_``) and pass
its estimator checks, so they work in ``Pipeline``, ``cross_val_score`` and ``GridSearchCV``.

The hyperparameters carry the config's names and defaults (``conf/``: ``model.hidden`` is
``hidden``, ``optimizer=adam`` with ``optimizer.lr`` is ``optimizer="adam", lr=...``,
``regularization.l2`` is ``l2``, ``early_stopping.patience`` is ``patience``,
``early_stopping.enabled`` is ``early_stopping``, ``data.val_fraction`` is
``validation_fraction``); ``tests/trainer/test_estimators.py`` pins them to the YAML files. They
are checked when ``fit`` starts, through the core's own ``PARAMETERS`` tables, and a refused
value raises the core's one-line :class:`~trainer.core.errors.ParameterError` (a ``ValueError``):
``lr: expected a finite number > 0, got -1``.

A fit is built by the same steps as a run of ``python -m trainer`` (``trainer.training``): the
same seed streams, initialization, shuffling, early stopping and standardization, so the same
training rows, validation rows, hyperparameters and seed reach the same weights either way.

Importing this module loads scikit-learn, but not MLflow, Hydra or Optuna.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from runkit.process import thread_budget
from trainer import conf_files
from trainer.config import METRICS
from trainer.core.callbacks import Callback, EarlyStopping, ProgressReporter
from trainer.core.dtypes import DTYPE
from trainer.core.errors import ParameterError
from trainer.core.fit import FitLoop, FitResult
from trainer.core.losses import LOSSES, task_loss
from trainer.core.network import MLP
from trainer.core.optimizers import OPTIMIZERS, Adam, Momentum, Optimizer, RMSprop
from trainer.core.parameters import (
    BOOLEAN,
    NON_NEGATIVE_INT,
    Constraint,
    Options,
    Real,
    check,
)
from trainer.core.penalties import WeightPenalty
from trainer.core.preprocessing import Preprocessor
from trainer.data.loaders import plural
from trainer.data.split import fit_scale, shuffle_split, stratified_split
from trainer.data.targets import encode_targets
from trainer.training import (
    Hyperparameters,
    SeedStreams,
    Training,
    build_training,
    kept_epoch,
)

__all__ = ["MLPClassifier", "MLPRegressor"]

# Each hyperparameter accepts what the core class it feeds accepts: one rule, written once.
_OPTIMIZER_KEYS = {"lr": Optimizer.PARAMETERS["lr"], "beta1": Adam.PARAMETERS["beta1"],
                   "beta2": Adam.PARAMETERS["beta2"], "eps": Adam.PARAMETERS["eps"],
                   "momentum": Momentum.PARAMETERS["momentum"],
                   "nesterov": Momentum.PARAMETERS["nesterov"], "rho": RMSprop.PARAMETERS["rho"]}
assert RMSprop.PARAMETERS["eps"] is Adam.PARAMETERS["eps"]
# None: the optimizer's own default (they differ between optimizers)
_OPTIONAL = frozenset({"lr", "eps"})
PARAMETERS: dict[str, Constraint] = {
    "hidden": MLP.PARAMETERS["hidden"],
    "activation": MLP.PARAMETERS["activation"],
    "init": MLP.PARAMETERS["init"],
    "dtype": DTYPE,
    "optimizer": Options(list(OPTIMIZERS)),
    **_OPTIMIZER_KEYS,
    "batch_size": FitLoop.PARAMETERS["batch_size"],
    "epochs": FitLoop.PARAMETERS["epochs"],
    "dropout": MLP.PARAMETERS["dropout"],
    **WeightPenalty.PARAMETERS,
    "early_stopping": BOOLEAN,
    **{key: EarlyStopping.PARAMETERS[key] for key in
       ("mode", "patience", "min_delta", "restore_best_weights", "start_from_epoch")},
    "validation_fraction": Real(0.0, 1.0, closed="neither",
                                description="a fraction between 0 and 1 (exclusive)"),
    "standardize": BOOLEAN,
    "seed": NON_NEGATIVE_INT,
    "progress": ProgressReporter.PARAMETERS["style"],
}


class _MLPBase(BaseEstimator):
    """What both estimators share; a subclass says its task and how it encodes ``y``."""

    _TASK: ClassVar[str]

    def __init__(
        self,
        *,
        hidden: tuple[int, ...] = (64, 32),
        activation: str = "relu",
        init: str = "he_normal",
        dtype: str = "float32",
        optimizer: str = "adam",
        lr: float | None = None,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float | None = None,
        momentum: float = 0.9,
        nesterov: bool = False,
        rho: float = 0.9,
        batch_size: int = 64,
        epochs: int = 100,
        dropout: float = 0.0,
        l1: float = 0.0,
        l2: float = 0.0,
        early_stopping: bool = True,
        monitor: str = "val_loss",
        mode: str = "auto",
        patience: int = 10,
        min_delta: float = 0.0,
        restore_best_weights: bool = True,
        start_from_epoch: int = 0,
        validation_fraction: float = 0.2,
        standardize: bool = True,
        seed: int = 0,
        progress: str = "none",
    ) -> None:
        self.hidden = hidden
        self.activation = activation
        self.init = init
        self.dtype = dtype
        self.optimizer = optimizer
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.momentum = momentum
        self.nesterov = nesterov
        self.rho = rho
        self.batch_size = batch_size
        self.epochs = epochs
        self.dropout = dropout
        self.l1 = l1
        self.l2 = l2
        self.early_stopping = early_stopping
        self.monitor = monitor
        self.mode = mode
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.validation_fraction = validation_fraction
        self.standardize = standardize
        self.seed = seed
        self.progress = progress

    # -- the hyperparameters, checked by the core's tables

    def _checked(self) -> dict[str, Any]:
        """Every hyperparameter converted by its rule; the first one refused raises
        :class:`ParameterError` naming it."""
        params = self.get_params(deep=False)
        checked = check(PARAMETERS, **{k: v for k, v in params.items() if k != "monitor"
                                       and not (k in _OPTIONAL and v is None)})
        checked.update({k: None for k in _OPTIONAL if params[k] is None})
        checked["monitor"] = Options(METRICS[self._TASK])("monitor", params["monitor"])
        return checked

    def _hyperparameters(self, checked: Mapping[str, Any]) -> Hyperparameters:
        return Hyperparameters(
            hidden=checked["hidden"], activation=checked["activation"], init=checked["init"],
            dtype=checked["dtype"], batch_size=checked["batch_size"], epochs=checked["epochs"],
            dropout=checked["dropout"], l1=checked["l1"], l2=checked["l2"],
            early_stopping=checked["early_stopping"], monitor=checked["monitor"],
            mode=checked["mode"], patience=checked["patience"], min_delta=checked["min_delta"],
            restore_best_weights=checked["restore_best_weights"],
            start_from_epoch=checked["start_from_epoch"], seed=checked["seed"],
        )

    def _build_optimizer(self, checked: Mapping[str, Any]) -> Optimizer:
        """The optimizer ``optimizer`` names, with its own keys; a key left ``None`` takes that
        optimizer's default (``conf/optimizer/NAME.yaml``: Adam's lr 0.001, SGD's 0.05 ...)."""
        name = checked["optimizer"]
        cls = OPTIMIZERS[name]
        defaults = conf_files.option_defaults("optimizer", name)
        arguments = {}
        for key in cls.PARAMETERS:
            value = checked[key]
            arguments[key] = defaults[key] if value is None else value
        return cls(**arguments)

    # -- subclass hooks

    def _targets(self, y: Any, *, first: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """(encoded targets for the loss (n, n_outputs), class indices or None); ``first``
        learns the classes or target scale, later calls use them."""
        raise NotImplementedError

    @property
    def _n_outputs(self) -> int:
        raise NotImplementedError

    def _validate_y(self, X: Any, y: Any, *, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    # -- fit

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None) -> _MLPBase:
        """Train a new network on (X, y).

        Early stopping (``early_stopping=True``, the default) watches ``monitor`` on a
        validation part: (``X_val``, ``y_val``) when given, else ``validation_fraction`` of the
        rows, held out (stratified by class for the classifier) with the seed's split stream.
        Without early stopping every row trains, and (``X_val``, ``y_val``), when given, is
        still evaluated each epoch (``history_``).

        Args:
            X: (n, d) feature rows (array-like or DataFrame).
            y: (n,) labels (classifier, any type) or (n,) / (n, k) targets (regressor).
            X_val, y_val: a validation part, in the same form.

        Returns:
            self, fitted: ``network_``, ``history_``, ``best_epoch_``, ``n_iter_`` ...
        """
        checked = self._checked()
        hp = self._hyperparameters(checked)
        optimizer = self._build_optimizer(checked)
        if (X_val is None) != (y_val is None):
            given, missing = ("X_val", "y_val") if y_val is None else ("y_val", "X_val")
            raise ParameterError(missing, f"an array when {given} is given", None)
        X, y = self._validate_y(X, y, reset=True)
        streams = SeedStreams.of(hp.seed)
        if X_val is None and hp.early_stopping and hp.monitor.startswith("val_"):
            train, val = self._split(y, checked["validation_fraction"], streams.split)
            X, X_val, y, y_val = X[train], X[val], y[train], y[val]
        elif X_val is not None:
            X_val, y_val = self._validate_y(X_val, y_val, reset=False)

        self.preprocessor_ = self._fit_preprocessor(X, hp.dtype, checked["standardize"])
        Y, labels = self._targets(y, first=True)
        Xt = self._inputs(X)
        Y_val = labels_val = Xv = None
        if X_val is not None:
            Y_val, labels_val = self._targets(y_val, first=False)
            Xv = self._inputs(X_val)
        loss = self._loss_name()
        after: list[Callback] = []
        if checked["progress"] != "none":
            after.append(ProgressReporter(hp.epochs, style=checked["progress"]))
        training = build_training(hp, n_features=X.shape[1], n_outputs=self._n_outputs,
                                  loss=loss, optimizer=optimizer, streams=streams, after=after)
        result = training.run(Xt, Y, Xv, Y_val, y_train_labels=labels, y_val_labels=labels_val,
                              available_threads=thread_budget())
        self._finish(training, result, kept_epoch(result, hp))
        return self

    def partial_fit(self, X: Any, y: Any, **kwargs: Any) -> _MLPBase:
        """One more epoch over (X, y), keeping the network and the optimizer's state; the first
        call (on an unfitted estimator) builds the network and, with ``standardize=True``, fixes
        the standardization from its rows. No early stopping: every row trains.

        Returns:
            self; ``history_`` gains the epoch's training metrics.
        """
        first = not hasattr(self, "network_")
        self._before_partial_fit(first, kwargs)
        if first:
            checked = self._checked()
            hp = replace(self._hyperparameters(checked), epochs=1, early_stopping=False)
            X, y = self._validate_y(X, y, reset=True)
            self.preprocessor_ = self._fit_preprocessor(X, hp.dtype, checked["standardize"])
            Y, labels = self._targets(y, first=True)
            streams = SeedStreams.of(hp.seed)
            training = build_training(hp, n_features=X.shape[1], n_outputs=self._n_outputs,
                                      loss=self._loss_name(),
                                      optimizer=self._build_optimizer(checked), streams=streams)
            self._finish(training, FitResult(), 0)
        else:
            X, y = self._validate_y(X, y, reset=False)
            Y, labels = self._targets(y, first=False)
        # one epoch of the same network, optimizer state and shuffling stream, no callbacks
        hp = replace(self._fitted_hyperparameters, epochs=1, early_stopping=False)
        loop = FitLoop(self.network_, LOSSES[self._loss], self._optimizer, self._penalty,
                       epochs=1, batch_size=hp.batch_size, rng=self._shuffle_rng)
        result = Training(self.network_, loop, hp).run(
            self._inputs(X), Y, None, None, y_train_labels=labels, y_val_labels=None,
            available_threads=thread_budget())
        epoch = len(self.history_) + 1
        self.history_.append({**result.history[0], "epoch": float(epoch)})
        self.n_iter_ = epoch
        self.stop_reason_ = "partial_fit"
        self._keep_float64_copy()
        return self

    def _before_partial_fit(self, first: bool, kwargs: dict[str, Any]) -> None:
        if kwargs:
            raise TypeError(f"partial_fit() got unexpected keyword arguments {sorted(kwargs)}")

    def _split(self, y: np.ndarray, fraction: float, seed: int
               ) -> tuple[np.ndarray, np.ndarray]:
        """(train rows, validation rows) for early stopping."""
        n = len(y)
        n_val = max(1, math.ceil(fraction * n - 1e-9))
        if n - n_val < 1:
            raise ValueError(
                f"validation_fraction={fraction}: expected enough rows to hold out a validation "
                f"part for early stopping, got {plural(n, 'sample')}; pass X_val and y_val, or "
                "early_stopping=False")
        rows = np.arange(n)
        # Stratified as the command line splits (each class keeps its share in both parts)
        # where every class has a row for each part; else a plain random split.
        stratify = self._TASK == "classification" and bool(
            np.min(np.unique(y, return_counts=True)[1]) >= 2)
        if stratify:
            train, val = stratified_split(rows, y, n_val, seed)
        else:
            train, val = shuffle_split(rows, n_val, seed)
        return np.sort(train), np.sort(val)

    def _fit_preprocessor(self, X: np.ndarray, dtype: np.dtype, standardize: bool
                          ) -> Preprocessor:
        mean = scale = None
        if standardize:
            mean, scale = fit_scale(X)  # the training rows only, as the command line does
        return Preprocessor(x_mean=mean, x_scale=scale, n_features=X.shape[1], dtype=dtype.name)

    def _inputs(self, X: np.ndarray) -> np.ndarray:
        """Validated float64 rows -> the network's inputs (standardized, in its dtype)."""
        if self.preprocessor_.x_mean is None or self.preprocessor_.x_scale is None:
            return X.astype(self.preprocessor_.dtype)
        # The same arithmetic as trainer.data.load_dataset: float64, then the network's dtype.
        return ((X - self.preprocessor_.x_mean) / self.preprocessor_.x_scale).astype(
            self.preprocessor_.dtype)

    def _loss_name(self) -> str:
        classes = getattr(self, "classes_", None)
        return task_loss(self._TASK, None if classes is None else len(classes))

    def _finish(self, training: Training, result: FitResult, kept: int) -> None:
        """The fitted attributes, and what ``partial_fit`` continues from."""
        loop = training.loop
        self.network_ = training.network
        self._fitted_hyperparameters = training.hyperparameters
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.kept_epoch_ = kept
        self.n_iter_ = result.stopped_epoch
        self.stop_reason_ = result.stop_reason
        self._loss: str = self._loss_name()
        self._optimizer: Optimizer = loop.optimizer
        self._penalty: WeightPenalty = loop.penalty
        self._shuffle_rng: np.random.Generator = loop.rng
        self._keep_float64_copy()

    # -- predict

    def _logits(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self._float64_network.logits(self._inputs(X).astype(np.float64))

    def _keep_float64_copy(self) -> None:
        """The trained network in float64, for predictions. In float32 BLAS sums a row's
        products in an order that depends on where the row falls in its block of rows, so the
        same row predicted in another batch differed in the 7th digit; in float64 the
        difference is far below what scikit-learn's checks (or a user) can see. Made when the
        weights change, as predicting must not change the estimator."""
        config = {**self.network_.config(), "dtype": "float64"}
        net = MLP(**config, rng=np.random.default_rng(0))  # its weights are overwritten next
        net.load_state_dict(self.network_.state_dict())
        self._float64_network = net

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False  # the seed fixes every draw
        return tags


class MLPClassifier(ClassifierMixin, _MLPBase):
    """A feed-forward network classifier trained by the trainer's fit loop.

    Labels of any type (strings, integers, booleans ...) come back as given; two classes use a
    sigmoid output with binary cross-entropy, more a softmax with categorical cross-entropy.

    Parameters (the config's names and defaults; see ``python -m trainer --help``):
        hidden: widths of the hidden layers (``model.hidden``).
        activation: ``relu``, ``leaky_relu``, ``tanh``, ``sigmoid``.
        init: ``he_normal``, ``he_uniform``, ``xavier_normal``, ``xavier_uniform``.
        dtype: ``float32`` or ``float64``, what the network trains in.
        optimizer: ``adam``, ``sgd``, ``momentum``, ``rmsprop``.
        lr, beta1, beta2, eps, momentum, nesterov, rho: the optimizer's own settings (each
            optimizer reads only its own keys); ``lr`` and ``eps`` left ``None`` take that
            optimizer's default (Adam: lr 0.001, eps 1e-8; SGD and momentum: lr 0.05; RMSprop:
            lr 0.001, eps 1e-7).
        batch_size, epochs: rows per step; at most this many passes.
        dropout, l1, l2: inverted dropout after every hidden layer; weight penalties.
        early_stopping, monitor, mode, patience, min_delta, restore_best_weights,
            start_from_epoch: Keras-style early stopping (``early_stopping.*``).
        validation_fraction: the rows held out for early stopping when ``fit`` gets no
            ``X_val`` (``data.val_fraction``).
        standardize: standardize the features with the training rows' statistics.
        seed: one seed for the validation split, initialization, shuffling and dropout.
        progress: ``none`` (default: a library call prints nothing), ``lines``, ``bar``,
            ``auto``.

    Attributes:
        classes_: (n_classes,) the labels, in the order of ``predict_proba``'s columns.
        n_features_in_, feature_names_in_: what ``fit`` saw (names only for a DataFrame).
        history_: one dict of metrics per epoch (``train_loss``, ``train_accuracy``,
            ``val_loss``, ``val_accuracy`` when there is a validation part).
        best_epoch_: the best epoch by ``monitor`` (``None`` without validation metrics);
            kept_epoch_: the epoch whose weights the network holds.
        n_iter_: epochs trained; stop_reason_: ``completed``, ``early_stopping`` ...
        network_: the trained :class:`~trainer.core.network.MLP`; preprocessor_: its
            standardization.
    """

    _TASK = "classification"

    def _validate_y(self, X: Any, y: Any, *, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        X, y = validate_data(self, X, y, reset=reset, dtype=np.float64)
        check_classification_targets(y)
        return X, y

    def _targets(self, y: Any, *, first: bool) -> tuple[np.ndarray, np.ndarray | None]:
        if first and not hasattr(self, "_classes_fixed"):
            classes, indices = np.unique(y, return_inverse=True)
            if len(classes) < 2:
                got = f"only {classes[0]!r}" if len(classes) else "no labels"
                raise ValueError(f"y: expected at least 2 classes, got {got}")
            self.classes_ = classes
        else:
            indices = self._class_indices(y)
        indices = indices.reshape(-1).astype(np.int64)
        encoded = encode_targets(indices, task="classification", n_classes=len(self.classes_),
                                 dtype=np.dtype(self.preprocessor_.dtype))
        return encoded, indices

    def _class_indices(self, y: np.ndarray) -> np.ndarray:
        """Indices into ``classes_`` of labels ``y``; a label fit never saw is refused."""
        indices = np.searchsorted(self.classes_, y)
        indices = np.clip(indices, 0, len(self.classes_) - 1)
        unknown = self.classes_[indices] != y
        if np.any(unknown):
            raise ValueError(f"y: expected labels among classes_ {self.classes_.tolist()}, "
                             f"got {y[unknown][0]!r}")
        return indices

    def _before_partial_fit(self, first: bool, kwargs: dict[str, Any]) -> None:
        classes = kwargs.pop("classes", None)
        super()._before_partial_fit(first, kwargs)
        if first:
            if classes is None:
                raise ParameterError("classes", "every label y may hold, on the first call "
                                     "to partial_fit (e.g. classes=np.unique(y_all))", None)
            classes = np.unique(np.asarray(classes))
            if len(classes) < 2:
                raise ValueError(f"classes: expected at least 2 classes, got {classes.tolist()}")
            self.classes_ = classes
            self._classes_fixed = True
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes: expected {self.classes_.tolist()} as on the first call "
                             f"to partial_fit, got {np.unique(classes).tolist()}")

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None) -> MLPClassifier:
        if hasattr(self, "_classes_fixed"):
            del self._classes_fixed  # a new fit learns its classes from y
        super().fit(X, y, X_val, y_val)
        return self

    @property
    def _n_outputs(self) -> int:
        return 1 if len(self.classes_) == 2 else len(self.classes_)

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, n_classes) class probabilities, columns in the order of ``classes_``."""
        Z = self._logits(X)
        P = LOSSES[self._loss].output(Z)  # softmax or sigmoid, computed in float64
        if P.shape[1] == 1:
            P = np.hstack([1.0 - P, P])
        return P

    def predict(self, X: Any) -> np.ndarray:
        """(n,) predicted labels, of the type ``y`` had."""
        probabilities = self.predict_proba(X)  # checks that it is fitted first
        return self.classes_[np.argmax(probabilities, axis=1)]


class MLPRegressor(RegressorMixin, _MLPBase):
    """A feed-forward network regressor trained by the trainer's fit loop: a linear output and
    mean squared error; ``y`` may be (n,) or (n, k). With ``standardize=True`` the targets are
    standardized too (as ``python -m trainer`` does) and predictions come back in their units.

    Parameters: as :class:`MLPClassifier`'s; ``monitor`` is one of ``val_loss``, ``val_r2``,
    ``train_loss``.

    Attributes: as :class:`MLPClassifier`'s, without ``classes_``; ``n_outputs_`` is k.
    """

    _TASK = "regression"

    def _validate_y(self, X: Any, y: Any, *, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        X, y = validate_data(self, X, y, reset=reset, dtype=np.float64, multi_output=True,
                             y_numeric=True)
        return X, y

    def _targets(self, y: Any, *, first: bool) -> tuple[np.ndarray, np.ndarray | None]:
        Y = np.asarray(y, dtype=np.float64)
        if first:
            self._y_is_1d = Y.ndim == 1
            self.n_outputs_ = 1 if Y.ndim == 1 else Y.shape[1]
        Y = Y.reshape(len(Y), -1)
        if Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y: expected {self.n_outputs_} target columns as in the first "
                             f"fit, got {Y.shape[1]}")
        pre = self.preprocessor_
        if first and pre.x_mean is not None:  # standardize=True: the targets too
            pre.y_mean, pre.y_scale = fit_scale(Y)
        if pre.y_mean is not None and pre.y_scale is not None:
            Y = (Y - pre.y_mean) / pre.y_scale
        return encode_targets(Y, task="regression", n_classes=None,
                              dtype=np.dtype(pre.dtype)), None

    @property
    def _n_outputs(self) -> int:
        return self.n_outputs_

    def predict(self, X: Any) -> np.ndarray:
        """(n,) predictions, or (n, k) for targets fitted as (n, k), in the targets' units."""
        Y = self._logits(X)
        pre = self.preprocessor_
        if pre.y_mean is not None and pre.y_scale is not None:
            Y = Y * pre.y_scale + pre.y_mean
        return Y[:, 0] if self._y_is_1d else Y

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y of shape (n, k) trains k linear outputs
        return tags
