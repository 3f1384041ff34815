"""A small app with the keys lightning-hydra-template's ``mnist_optuna.yaml`` sweeps: an MLP of
three hidden layers (lin1_size, lin2_size, lin3_size) trained on scikit-learn's digits with the
learning rate and batch size given; it logs ``val/acc`` and ``val/acc_best`` each epoch and
returns the one ``optimized_metric`` names, as the template's ``train.py`` does."""

import warnings

import hydra
import numpy as np
from omegaconf import DictConfig
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

import sweeps


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def train(cfg: DictConfig) -> float | None:
    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x / 16.0, y, test_size=0.25,
                                                      random_state=0, stratify=y)
    net = cfg.model.net
    model = MLPClassifier(hidden_layer_sizes=(net.lin1_size, net.lin2_size, net.lin3_size),
                          learning_rate_init=cfg.model.optimizer.lr,
                          batch_size=cfg.data.batch_size, max_iter=1, random_state=cfg.seed)
    metrics: dict[str, float] = {}
    for epoch in range(1, cfg.trainer.max_epochs + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # one epoch per fit
            model.partial_fit(x_train, y_train, classes=np.arange(10))
        accuracy = float(model.score(x_val, y_val))
        metrics = {"val/acc": accuracy,
                   "val/acc_best": max(accuracy, metrics.get("val/acc_best", 0.0))}
        sweeps.report(accuracy, step=epoch)  # the pruner may stop a weak trial here
    name = cfg.get("optimized_metric")
    if name is None:
        return None
    if name not in metrics:
        raise KeyError(f"optimized_metric: expected one of {', '.join(metrics)}, got {name!r}")
    return metrics[name]


if __name__ == "__main__":
    train()
