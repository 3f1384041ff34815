"""Plain Optuna with its pruner and a hand-written MLflow run per trial: a peer of section 6.

    python benchmarks/peers/optuna_mlflow.py --workload WORKLOAD.json --dir START_DIR \
        [--n-jobs 2] [--seed 0] [--blas-threads 1] [--records trials.jsonl]

What a user writes around the trainer's task without a sweep tool:
- an Optuna study on SQLite (``START_DIR/mlruns/optuna.db``): TPE with the workload's start-up
  trials and seed, ``MedianPruner`` with its start-up trials and warm-up, ``trial.report`` and
  ``trial.should_prune`` every epoch;
- MLflow on SQLite (``START_DIR/mlruns/mlflow.db``): a parent run, and a child run per trial with
  the resolved config as params, every epoch's metrics (``mlflow.log_metrics`` each epoch) and,
  for a trial that was not pruned, its learning-curve picture and weights (``.npz``);
- ``--n-jobs 2``: two processes on the one study (this one and one it starts), each asking for
  its half of the trials with its own sampler seed: Optuna's advice for CPU-bound objectives,
  whose ``study.optimize(n_jobs=...)`` threads would share one interpreter lock.

The repository root and this directory must be importable (``python -m benchmarks`` sets
PYTHONPATH): the task is ``peer_task.train``, the picture ``benchmarks.reference_sweep``'s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import optuna
import peer_space
import peer_task
from peer_records import TrialRecorder

from benchmarks.reference_sweep import learning_curves
from trainer.core.errors import TrainingDiverged


class OptunaReporter:
    """Each epoch: its metrics to the MLflow run, the objective to the trial; the pruner
    decides."""

    def __init__(self, trial: optuna.Trial, metric: str) -> None:
        self.trial, self.metric = trial, metric

    def report(self, epoch: int, logs: Mapping[str, float]) -> None:
        mlflow.log_metrics(dict(logs), step=epoch)
        self.trial.report(logs[self.metric], step=epoch)

    def should_stop(self) -> bool:
        return self.trial.should_prune()


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def objective(trial: optuna.Trial, args: argparse.Namespace, workload: dict[str, Any],
              params_space: list[peer_space.Param], parent_run_id: str) -> float:
    config = peer_task.trial_config(workload, peer_space.suggest(trial, params_space))
    with mlflow.start_run(run_name=f"trial-{trial.number}", parent_run_id=parent_run_id):
        mlflow.log_params(flatten(config))
        outcome = peer_task.train(config, blas_threads=args.blas_threads,
                                  recorder=TrialRecorder(args.records),
                                  reporter=OptunaReporter(trial, workload["objective"]))
        if outcome.pruned:
            raise optuna.TrialPruned()
        mlflow.log_figure(learning_curves(outcome.history), "learning_curves.png")
        with tempfile.TemporaryDirectory() as tmp:
            weights = Path(tmp) / "weights.npz"
            np.savez(weights, **outcome.network.state_dict())
            mlflow.log_artifact(str(weights), artifact_path="model")
    return outcome.value


def work(args: argparse.Namespace, worker: int, n_trials: int, experiment_id: str,
         parent_run_id: str) -> None:
    """One worker: its own sampler seed, ``n_trials`` trials of the shared study."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = args.dir / "mlruns"
    workload = peer_task.load_workload(args.workload)
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    mlflow.set_experiment(experiment_id=experiment_id)
    sampler = optuna.samplers.TPESampler(seed=args.seed + worker,
                                         n_startup_trials=workload["sampler"]["n_startup_trials"])
    pruner = optuna.pruners.MedianPruner(**workload["pruner"])
    study = optuna.load_study(study_name=workload["name"],
                              storage=f"sqlite:///{store / 'optuna.db'}", sampler=sampler,
                              pruner=pruner)
    params_space = peer_space.parse(workload["params"], workload["conditions"])
    # a diverged trial fails, and the study goes on (as the trainer's sweep does)
    study.optimize(lambda trial: objective(trial, args, workload, params_space, parent_run_id),
                   n_trials=n_trials, catch=(TrainingDiverged,))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", type=Path, required=True)
    parser.add_argument("--dir", type=Path, required=True, help="a fresh start directory")
    parser.add_argument("--n-jobs", type=int, default=1, choices=(1, 2))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blas-threads", type=int, default=1)
    parser.add_argument("--records", default=None)
    args = parser.parse_args()
    workload = peer_task.load_workload(args.workload)
    store = args.dir / "mlruns"
    store.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.create_study(study_name=workload["name"], storage=f"sqlite:///{store / 'optuna.db'}",
                        direction=workload["direction"])
    client = mlflow.MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    experiment_id = client.create_experiment("optuna-mlflow")
    # the parent run is made with the client: every worker, this process's too, starts its
    # trial runs under it with the fluent API
    parent = client.create_run(experiment_id, run_name=f"{workload['name']}-sweep").info.run_id
    shares = [workload["n_trials"] // args.n_jobs + (i < workload["n_trials"] % args.n_jobs)
              for i in range(args.n_jobs)]
    others = [multiprocessing.get_context("spawn").Process(
        target=work, args=(args, i, shares[i], experiment_id, parent))
        for i in range(1, args.n_jobs)]
    status = "FAILED"
    try:
        for process in others:
            process.start()
        work(args, 0, shares[0], experiment_id, parent)
        for process in others:
            process.join()
            if process.exitcode != 0:
                raise SystemExit(f"worker process exited with {process.exitcode}")
        status = "FINISHED"
    finally:
        client.set_terminated(parent, status)


if __name__ == "__main__":
    main()
