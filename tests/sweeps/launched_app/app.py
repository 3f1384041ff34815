"""A Hydra app for the launcher tests: each trial writes what its job sees (its task config, its
``hydra.sweeper`` node, its process and SLURM job) to ``record_dir``, one JSON file per trial,
and returns a quadratic of ``x``.

``python app.py --multirun sweep=quad hydra/launcher=...``: the sweep file selects the Optuna
sweeper and sets a task key of its own (``offset``), as the trainer's ``sweep=digits`` does.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

# hydra/sweeper=optuna needs no file of the app's: the plugin registers its config.

# A module only the controller can import (as a package missing on a cluster's nodes): with
# RECORDING_APP_LOCAL_MODULE=DIR, the task uses DIR/controller_only.py, and every launched job
# fails unpickling the task, before its first trial.
_LOCAL_MODULE = os.environ.get("RECORDING_APP_LOCAL_MODULE")
if _LOCAL_MODULE:
    sys.path.insert(0, _LOCAL_MODULE)
    import controller_only  # type: ignore[import-not-found]

    sys.path.remove(_LOCAL_MODULE)  # joblib's workers start with the controller's sys.path
else:
    controller_only = None


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    hydra_cfg = HydraConfig.get()
    record = {
        "task": OmegaConf.to_container(cfg, resolve=True),
        "sweeper": OmegaConf.to_container(hydra_cfg.sweeper, resolve=True),
        "overrides": list(hydra_cfg.overrides.task),
        "pid": os.getpid(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
    }
    if controller_only is not None:
        controller_only.touch()
    path = Path(cfg.record_dir) / f"trial-{hydra_cfg.job.num}-{os.getpid()}.json"
    path.write_text(json.dumps(record))
    return (float(cfg.x) - 0.3) ** 2 + float(cfg.offset)


if __name__ == "__main__":
    main()
