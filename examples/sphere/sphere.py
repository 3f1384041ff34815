"""The smallest app the sweeper sweeps: a function of two numbers (hydra-optuna-sweeper's own
example). ``python sphere.py --multirun`` runs the study its config declares."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def sphere(cfg: DictConfig) -> float:
    return cfg.x**2 + cfg.y**2


if __name__ == "__main__":
    sphere()
