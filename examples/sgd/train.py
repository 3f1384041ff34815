"""An iterative model swept with pruning: scikit-learn's SGDClassifier on the breast-cancer data,
one pass over the training part per epoch, its validation log-loss reported to the trial after
each (``sweeps.report``); the sweep prunes the trials whose curve is worse than the others' at
the same epoch. Outside a sweep, ``python train.py`` trains once and report() does nothing."""

import hydra
import numpy as np
from omegaconf import DictConfig
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import sweeps


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def train(cfg: DictConfig) -> float:
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, stratify=y,
                                                      random_state=cfg.seed)
    scaler = StandardScaler().fit(X_train)
    X_train, X_val = scaler.transform(X_train), scaler.transform(X_val)
    model = SGDClassifier(loss="log_loss", alpha=cfg.alpha, learning_rate="constant",
                          eta0=cfg.eta0, random_state=cfg.seed)
    loss = float("nan")
    for epoch in range(1, cfg.epochs + 1):
        model.partial_fit(X_train, y_train, classes=np.unique(y))
        loss = log_loss(y_val, model.predict_proba(X_val))
        sweeps.report(loss, step=epoch)  # raises optuna.TrialPruned when the pruner stops it
    return loss


if __name__ == "__main__":
    train()
