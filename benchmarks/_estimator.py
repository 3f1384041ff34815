"""Estimator fit: ``trainer.MLPClassifier().fit(X, y)`` next to scikit-learn's ``MLPClassifier``
with the same architecture, on digits (issue 18).

Both fit from scratch on the same raw rows (scikit-learn's digits, 1,797 x 64), each with its
defaults apart from the architecture: 64-32 ReLU hidden layers, Adam (lr 0.001), batch 64, at
most 100 epochs, early stopping on a held-out 20% after 10 epochs without improvement (the
trainer's defaults; scikit-learn is given ``hidden_layer_sizes=(64, 32)``, ``batch_size=64``,
``early_stopping=True``, ``validation_fraction=0.2``, ``n_iter_no_change=10``, which it otherwise
sets to ``"auto"`` (= 200), False, 0.1 and 10). The two stop on different signals (the trainer on
validation loss, scikit-learn on validation accuracy with ``tol``), so the table gives the epochs
each trained, the time per epoch and the test accuracy on a held-out quarter besides the whole
fit's time, which is the claim. Every peer runs on the BLAS threads the trainer picks for this
model (one), as in section 2.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from benchmarks._timing import Timing, interleaved

TRAINER = "trainer.MLPClassifier"
SKLEARN = "scikit-learn MLPClassifier"


@dataclass
class EstimatorResult:
    """Whole-fit timings and what each fit reached."""

    timings: dict[str, Timing]
    epochs: dict[str, int] = field(default_factory=dict)
    accuracy: dict[str, float] = field(default_factory=dict)
    n_train: int = 0

    def ratio(self) -> float:
        """trainer / scikit-learn, median whole-fit time."""
        return self.timings[TRAINER].median / self.timings[SKLEARN].median


def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0,
                                                        stratify=y)
    return X_train, X_test, y_train, y_test


def peers() -> dict[str, Callable[[], object]]:
    """name -> a function that fits a new estimator on the training rows."""
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    from trainer import MLPClassifier

    X, _, y, _ = _digits()

    def trainer_fit() -> object:
        return MLPClassifier().fit(X, y)

    def sklearn_fit() -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a ConvergenceWarning when max_iter is reached
            return SklearnMLP(hidden_layer_sizes=(64, 32), batch_size=64, early_stopping=True,
                              validation_fraction=0.2, n_iter_no_change=10, max_iter=100,
                              random_state=0).fit(X, y)

    return {TRAINER: trainer_fit, SKLEARN: sklearn_fit}


def run_estimator(*, repeats: int, progress: Callable[[str], None] | None = None
                  ) -> EstimatorResult:
    """Time both fits ``repeats`` times, interleaved; BLAS threads are limited by the caller."""
    fits = peers()
    timings = interleaved(fits, repeats, progress=progress)
    X_train, X_test, _, y_test = _digits()
    result = EstimatorResult(timings, n_train=len(X_train))
    for name, fit in fits.items():
        model: object = fit()
        result.epochs[name] = int(model.n_iter_)  # type: ignore[attr-defined]
        result.accuracy[name] = float(model.score(X_test, y_test))  # type: ignore[attr-defined]
    return result


def section(result: EstimatorResult, title: str) -> list[str]:
    """The RESULTS.md section."""
    lines = [f"## {title}", "", __doc__.split("\n\n", 1)[1].strip().replace("\n", " "), ""]
    rows = []
    for name, timing in result.timings.items():
        epochs = result.epochs.get(name, 0)
        rows.append([name, f"{timing.median:.2f} s", f"{timing.spread * 100:.0f}%",
                     str(epochs), f"{timing.median / max(epochs, 1) * 1e3:.1f} ms",
                     f"{result.accuracy.get(name, float('nan')):.3f}"])
    header = ["peer", "median whole fit", "spread (max-min)/median", "epochs trained",
              "per epoch", "test accuracy"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", f"trainer / scikit-learn, whole fit: **{result.ratio():.2f}x** (median of "
              f"{len(result.timings[TRAINER].seconds)} alternating repeats, after one untimed "
              f"fit each; {result.n_train} training rows)."]
    return lines
