"""The trainer's task as a Hydra app swept by hydra-optuna-sweeper 1.3.0: a peer of section 6.

    python benchmarks/peers/hos_app.py --multirun workload=WORKLOAD.json \
        hydra.sweeper.n_trials=40 hydra.sweeper.n_jobs=1 hydra.sweeper.sampler.seed=0 \
        'optimizer.name=choice(sgd, momentum, rmsprop, adam)' \
        'optimizer.lr=tag(log, interval(1e-4, 3e-1))' ...
    # two at a time: hydra.sweeper.n_jobs=2 hydra/launcher=joblib hydra.launcher.n_jobs=2

It runs in the virtual environment ``python -m benchmarks`` makes for the plugin (it requires
Optuna below 3): hydra-optuna-sweeper 1.3.0, hydra-joblib-launcher 1.2.0, Hydra, numpy, numba and
threadpoolctl at the versions the trainer uses, and the trainer's package on PYTHONPATH (its
core only is imported here). The plugin asks TPE (Optuna 2.10, in-memory storage) for a batch of
``n_jobs`` trials, launches the batch and waits for all of it; it cannot prune, so the task
reports nothing back. It tracks nothing either: the trials live only in the sweep's memory and
its ``optimization_results.yaml``.
"""

from __future__ import annotations

import hydra
import peer_task
from omegaconf import DictConfig, OmegaConf
from peer_records import TrialRecorder

# The trainer's name of a searched key -> this app's (the optimizer group is a key here)
APP_KEYS = {"optimizer": "optimizer.name"}


@hydra.main(version_base="1.3", config_path="conf", config_name="hos_trainer")
def main(cfg: DictConfig) -> float:
    task = peer_task.load_workload(cfg.workload)
    params = {name: OmegaConf.to_object(value) if OmegaConf.is_config(value) else value
              for name in task["params"]
              for value in [OmegaConf.select(cfg, APP_KEYS.get(name, name))]}
    outcome = peer_task.train(peer_task.trial_config(task, params),
                              blas_threads=cfg.blas_threads, recorder=TrialRecorder(cfg.records))
    return outcome.value


if __name__ == "__main__":
    main()
