"""A search space the sweep grammar cannot write: Rosenbrock's function, whose minimum lies in a
narrow curved valley (y = x²). ``valley`` (the config's ``custom_search_space``) searches y only
near x², a range that depends on the x the trial drew."""

import hydra
from omegaconf import DictConfig
from optuna.trial import Trial


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def rosenbrock(cfg: DictConfig) -> float:
    return (1 - cfg.x) ** 2 + 100 * (cfg.y - cfg.x**2) ** 2


def valley(cfg: DictConfig, trial: Trial) -> None:
    """Called by the sweep after ``params`` (``trial.params`` holds x), with the sweep's config;
    y reaches the task as the override ``y=...``."""
    x = trial.params["x"]
    trial.suggest_float("y", x**2 - cfg.width, x**2 + cfg.width)


if __name__ == "__main__":
    rosenbrock()
