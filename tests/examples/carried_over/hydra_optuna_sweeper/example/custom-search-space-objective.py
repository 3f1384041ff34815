"""The app of hydra-optuna-sweeper's custom-search-space config: a sphere in four dimensions, two
of them (z near x, and a new key w) suggested by ``configure``, the config's
``custom_search_space``."""

import hydra
from omegaconf import DictConfig
from optuna.trial import Trial


@hydra.main(version_base=None, config_path="custom-search-space", config_name="config")
def sphere4(cfg: DictConfig) -> float:
    return cfg.w**2 + cfg.x**2 + cfg.y**2 + cfg.z**2


def configure(cfg: DictConfig, trial: Trial) -> None:
    """z within max_z_difference_from_x of the x the trial drew; w, a key the config lacks
    (hence '+w', the override that adds it), in [0, 1]."""
    x = trial.params["x"]
    spread = cfg.max_z_difference_from_x
    trial.suggest_float("z", x - spread, x + spread)
    trial.suggest_float("+w", 0.0, 1.0)


if __name__ == "__main__":
    sphere4()
