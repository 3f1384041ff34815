"""The sweep a user would write by hand around the trainer's FitLoop: the per-trial reference.

    python benchmarks/reference_sweep.py --trials 20 --dir START_DIR

One process: an Optuna study on SQLite (TPE, median pruner: ``trial.report`` and
``trial.should_prune`` every epoch), an MLflow parent run on SQLite and one child run per trial
with its params, per-epoch metrics (``mlflow.log_metrics`` each epoch), a learning-curve PNG and
the weights (``.npz``). Every trial trains the same small network on digits as
``benchmarks._overhead.identical_sweep_command`` does (seed 0, 10 epochs, no early stopping), so
the per-trial cost of both, (T(20 trials) - T(4 trials)) / 16, compares the same work.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import mlflow
import numpy as np
import optuna
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from trainer.core.callbacks import Callback
from trainer.core.fit import FitLoop
from trainer.core.losses import LOSSES
from trainer.core.network import MLP
from trainer.core.optimizers import Adam
from trainer.core.penalties import WeightPenalty
from trainer.data import load_dataset

EPOCHS = 10
HIDDEN = [64, 32]
BATCH = 64


class ReportEpochs(Callback):
    """Per epoch: metrics to MLflow, val_loss to the trial, stop when the pruner says so."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial

    def on_epoch_end(self, loop: FitLoop, epoch: int, logs: dict[str, float]) -> None:
        mlflow.log_metrics({k: v for k, v in logs.items() if k != "epoch"}, step=epoch)
        self.trial.report(logs["val_loss"], step=epoch)
        if self.trial.should_prune():
            loop.request_stop("pruned")


def learning_curves(history: list[dict[str, float]]) -> Figure:
    figure = Figure(figsize=(10, 4))
    FigureCanvasAgg(figure)
    loss_ax, acc_ax = figure.subplots(1, 2)
    epochs = [row["epoch"] for row in history]
    for key in ("train_loss", "val_loss"):
        loss_ax.plot(epochs, [row[key] for row in history], label=key)
    for key in ("train_accuracy", "val_accuracy"):
        acc_ax.plot(epochs, [row[key] for row in history], label=key)
    loss_ax.legend()
    acc_ax.legend()
    return figure


def objective(trial: optuna.Trial) -> float:
    lr = trial.suggest_categorical("optimizer.lr", [0.001])  # one value: identical trials
    data = load_dataset({"name": "digits"}, seed=0)
    params = {"data": "digits", "model.hidden": HIDDEN, "optimizer": "adam", "optimizer.lr": lr,
              "batch_size": BATCH, "epochs": EPOCHS, "seed": 0}
    with mlflow.start_run(nested=True, run_name=f"trial-{trial.number}"):
        mlflow.log_params(params)
        rng = np.random.default_rng(0)
        network = MLP(data.n_features, HIDDEN, data.n_outputs, rng=rng)
        loop = FitLoop(network, LOSSES["categorical_crossentropy"], Adam(lr), WeightPenalty(),
                       epochs=EPOCHS, batch_size=BATCH, rng=rng, callbacks=[ReportEpochs(trial)])
        result = loop.run(data.X_train, data.encode_targets(data.y_train),
                          data.X_val, data.encode_targets(data.y_val),
                          y_train_labels=data.y_train, y_val_labels=data.y_val)
        mlflow.log_figure(learning_curves(result.history), "learning_curves.png")
        with tempfile.TemporaryDirectory() as tmp:
            weights = Path(tmp) / "weights.npz"
            np.savez(weights, **network.state_dict())
            mlflow.log_artifact(str(weights), artifact_path="model")
        if result.stop_reason == "pruned":
            raise optuna.TrialPruned()
    return result.history[-1]["val_loss"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True, help="a fresh start directory")
    args = parser.parse_args()
    store = args.dir / "mlruns"
    store.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    mlflow.set_experiment("reference")
    study = optuna.create_study(storage=f"sqlite:///{store / 'optuna.db'}", study_name="reference",
                                pruner=optuna.pruners.MedianPruner())
    with mlflow.start_run(run_name="reference-sweep"):
        study.optimize(objective, n_trials=args.trials)


if __name__ == "__main__":
    main()
