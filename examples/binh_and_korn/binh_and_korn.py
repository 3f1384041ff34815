"""Two objectives at once: the Binh and Korn problem (hydra-optuna-sweeper's multi-objective
example). Each trial returns two values; the sweep ends with the Pareto front, the trials no
other trial beats in both."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def binh_and_korn(cfg: DictConfig) -> tuple[float, float]:
    x, y = cfg.x, cfg.y
    v0 = 4 * x**2 + 4 * y**2
    v1 = (x - 5) ** 2 + (y - 5) ** 2
    return v0, v1


if __name__ == "__main__":
    binh_and_korn()
