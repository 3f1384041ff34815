"""``python -m trainer [key=value ...]``: train one model; a grid or sweep with ``--multirun``."""

import hydra
from omegaconf import DictConfig

from trainer.app import CONFIG_DIR, run_cli


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def main(cfg: DictConfig) -> float:
    return run_cli(cfg)


if __name__ == "__main__":
    main()
