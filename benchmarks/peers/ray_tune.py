"""Ray Tune 2.x: OptunaSearch with ASHA, tracked by its MLflow callback: a peer of section 6.

    python benchmarks/peers/ray_tune.py --workload WORKLOAD.json --dir START_DIR \
        [--n-jobs 2] [--seed 0] [--cores 2] [--records trials.jsonl]

Tune's own way to run this sweep, set up as its documentation advises:
- ``ray.init`` on this machine's cores, no dashboard;
- ``OptunaSearch`` with a define-by-run space (the conditional parameter asked for only when its
  parent allows it) and ``TPESampler`` with the workload's start-up trials and seed;
- ``ASHAScheduler`` on ``training_iteration`` (one report per epoch): ``max_t`` past the
  workload's most epochs (a trial's own epochs end it), ``grace_period`` the epoch from which
  the median pruner of the other tools may stop a trial (the workload's warm-up),
  ``reduction_factor=2`` (each rung keeps the better half, as the median does);
- ``max_concurrent_trials=--n-jobs`` with ``--cores / --n-jobs`` CPUs a trial, reused actors
  (Tune's default for function trainables), the data loaded by each trial as the trainer does;
- ``MLflowLoggerCallback`` into ``START_DIR/mlruns/mlflow.db``: a run per trial with its config
  and every reported epoch's metrics. Tune's own result files (JSON, CSV, TensorBoard) are turned
  off (``TUNE_DISABLE_AUTO_CALLBACK_LOGGERS=1``, set before Ray is imported): MLflow keeps the
  record.

This directory must be importable in Ray's worker processes (``python -m benchmarks`` sets
PYTHONPATH, which they inherit): the task is ``peer_task.train``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")

import peer_space  # noqa: E402
import peer_task  # noqa: E402
from peer_records import TrialRecorder  # noqa: E402

MODES = {"minimize": "min", "maximize": "max"}


class TuneReporter:
    """Each epoch's metrics go to Tune (one ``training_iteration``); ASHA stops a trial from
    outside, so the trial never asks."""

    def report(self, epoch: int, logs: Mapping[str, float]) -> None:
        from ray import tune

        tune.report(dict(logs))

    def should_stop(self) -> bool:
        return False


class DefineByRun:
    """OptunaSearch's space: the workload's parameters asked of the Optuna trial (a class at
    module level: Tune pickles its searcher's state, which holds this)."""

    def __init__(self, params_space: list[peer_space.Param]) -> None:
        self.params_space = params_space

    def __call__(self, optuna_trial: Any) -> None:
        peer_space.suggest(optuna_trial, self.params_space)


def trial(config: dict[str, Any], *, workload: dict[str, Any], blas_threads: int,
          records: str | None) -> None:
    """One Tune trial: the trainer's task with the parameters OptunaSearch chose."""
    peer_task.train(peer_task.trial_config(workload, config), blas_threads=blas_threads,
                    recorder=TrialRecorder(records), reporter=TuneReporter())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", type=Path, required=True)
    parser.add_argument("--dir", type=Path, required=True, help="a fresh start directory")
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--records", default=None)
    args = parser.parse_args()

    import optuna
    import ray
    from ray import tune
    from ray.air.integrations.mlflow import MLflowLoggerCallback
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    workload = peer_task.load_workload(args.workload)
    params_space = peer_space.parse(workload["params"], workload["conditions"])
    store = args.dir / "mlruns"
    store.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ray.init(num_cpus=args.cores, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    try:
        per_trial = max(1, args.cores // args.n_jobs)
        metric, mode = workload["objective"], MODES[workload["direction"]]
        searcher = OptunaSearch(
            space=DefineByRun(params_space), metric=metric, mode=mode,
            sampler=optuna.samplers.TPESampler(
                seed=args.seed, n_startup_trials=workload["sampler"]["n_startup_trials"]))
        # max_t one past the most epochs: a trial that trains all its epochs ends by itself
        # (at max_t Tune would stop it inside its last report, before it returns its value);
        # the rungs (3, 6, 12, ...) are those of max_t = the most epochs
        scheduler = ASHAScheduler(metric=metric, mode=mode, max_t=workload["max_epochs"] + 1,
                                  grace_period=workload["pruner"]["n_warmup_steps"],
                                  reduction_factor=2)
        trainable = tune.with_resources(
            tune.with_parameters(trial, workload=workload, blas_threads=per_trial,
                                 records=args.records),
            {"cpu": per_trial})
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                search_alg=searcher, scheduler=scheduler, num_samples=workload["n_trials"],
                max_concurrent_trials=args.n_jobs),
            run_config=tune.RunConfig(
                name=workload["name"], storage_path=str((args.dir / "ray_results").resolve()),
                callbacks=[MLflowLoggerCallback(tracking_uri=f"sqlite:///{store / 'mlflow.db'}",
                                                experiment_name="ray-tune")],
                verbose=0))
        results = tuner.fit()
        errors = [r.error for r in results if r.error is not None]
        if errors and len(errors) == len(results):  # a diverged trial fails alone; all: a fault
            raise SystemExit(f"every trial failed; the first: {errors[0]}")
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
