"""The trainer's task, built from its core, for the sweep tools section 6 compares ours with.

Each peer's script or app calls :func:`train` with :func:`trial_config`: the resolved config a
trial of ``python -m trainer --multirun`` would run (composed once by ``python -m benchmarks``
with Hydra and written to the workload file), trained by the build steps ``trainer.app`` trains
it with (``trainer.training``): the same seed streams for the split, the initialization and the
shuffling, the same ``FitLoop``, ``EarlyStopping`` and BLAS thread count, the same objective at
the kept epoch. So a trial with the
same parameters gives the same value under every tool (a test pins this against
``trainer.app.run``), and only the sweep machinery differs. What the trainer's own task adds
(MLflow tracking, the test evaluation, the learning-curve picture, the logged model) is each
tool's business: see the section's notes.

Imports numpy, threadpoolctl and the trainer's core only (no Hydra, Optuna or MLflow), so it runs
in hydra-optuna-sweeper's own virtual environment too. Peer scripts import it as a sibling module
(``import peer_task``): this directory is on their ``sys.path``, the repository root is not (it
would let Hydra find our sweeper plugin beside the one being measured).
"""

from __future__ import annotations

import copy
import functools
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from peer_records import TrialRecorder

from runkit import cpu_load
from trainer.config import build_optimizer
from trainer.core.callbacks import Callback
from trainer.core.fit import FitLoop
from trainer.core.losses import task_loss
from trainer.core.network import MLP
from trainer.data import load_dataset
from trainer.training import Hyperparameters, SeedStreams, build_training, kept_epoch

# This process's start, for its trials' thread count: as `python -m trainer` does, a trial
# trains on the cores of its share that other work left free meanwhile (runkit/cpu_load.py)
STARTED = cpu_load.cpu_times()


@functools.cache  # read once per process (a peer may run many trials in one)
def load_workload(path: str | Path) -> dict[str, Any]:
    """The workload file ``python -m benchmarks`` writes (``benchmarks._peers.Workload.write``):
    ``config`` (the resolved config before a trial's parameters), ``optimizers`` (each optimizer
    group's node), ``params`` (the search space in Hydra's grammar), ``conditions``, ``n_trials``,
    ``max_epochs``, ``objective``, ``direction``, ``sampler`` and ``pruner`` settings."""
    workload: dict[str, Any] = json.loads(Path(path).read_text())
    return workload


def _value(value: Any) -> Any:
    """A categorical choice between lists reaches Optuna as its text (``"[128, 64]"``)."""
    if isinstance(value, str) and value.startswith("["):
        return json.loads(value)
    return value


def trial_config(workload: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The config a trial with ``params`` (the trainer's override keys: ``optimizer``,
    ``optimizer.lr``, ``model.hidden`` ...) runs: the workload's config with the chosen
    optimizer group's node, then each dotted key set. A key the chosen group lacks
    (``optimizer.momentum`` with Adam) is left out, as the trainer's conditional parameter is."""
    config = copy.deepcopy(dict(workload["config"]))
    if "optimizer" in params:
        config["optimizer"] = copy.deepcopy(workload["optimizers"][str(params["optimizer"])])
    for key, value in params.items():
        if key == "optimizer":
            continue
        *path, leaf = key.split(".")
        node = config
        for part in path:
            node = node[part]
        if leaf in node:
            node[leaf] = _value(value)
    return config


class Reporter(Protocol):
    """How a sweep tool hears of each epoch (every metric the FitLoop logged) and may stop the
    trial."""

    def report(self, epoch: int, logs: Mapping[str, float]) -> None: ...

    def should_stop(self) -> bool: ...


class _ReportEpochs(Callback):
    """Each epoch's objective to the recorder and the tool; stops when the tool says so (asked
    only when early stopping has not stopped this epoch, as the trainer's pruning bridge does)."""

    def __init__(self, metric: str, recorder: TrialRecorder, reporter: Reporter | None) -> None:
        self.metric, self.recorder, self.reporter = metric, recorder, reporter
        self.pruned = False
        self._since = time.perf_counter()

    def on_train_begin(self, loop: FitLoop | None) -> None:
        self._since = time.perf_counter()

    def on_epoch_end(self, loop: FitLoop, epoch: int, logs: dict[str, float]) -> None:
        value = float(logs[self.metric])
        self.recorder.epoch(epoch, value, compute=time.perf_counter() - self._since)
        if self.reporter is not None and math.isfinite(value):
            self.reporter.report(epoch, {k: v for k, v in logs.items() if k != "epoch"})
            if not loop.stop_requested and self.reporter.should_stop():
                loop.request_stop("pruned")
                self.pruned = True
        self._since = time.perf_counter()  # the next epoch's own time starts here


@dataclass
class Outcome:
    """A finished trial: its objective at the kept epoch (or ``pruned``), its epochs' logs and
    its network (holding the kept epoch's weights)."""

    value: float
    pruned: bool
    history: list[dict[str, float]]
    network: MLP


def train(config: Mapping[str, Any], *, blas_threads: int, recorder: TrialRecorder,
          reporter: Reporter | None = None) -> Outcome:
    """Train one trial as ``trainer.app`` does and return its objective at the kept epoch.

    Args:
        config: the trial's resolved config (:func:`trial_config`).
        blas_threads: the cores this trial may use (all of them over the tool's concurrent
            trials), fewer where other work keeps some busy; a small model trains on one
            thread, as in the trainer.
        recorder: where the trial's start, epochs and end go.
        reporter: the tool's per-epoch channel (None: the tool cannot hear of epochs).
    """
    recorder.start()
    try:
        outcome = _train(config, blas_threads, recorder, reporter)
    except Exception:  # e.g. TrainingDiverged: the tool records the trial failed
        recorder.end("FAIL")
        raise
    except BaseException:  # the tool stopping the trial from outside (Ray Tune: SystemExit)
        recorder.end("STOPPED")
        raise
    recorder.end("PRUNED" if outcome.pruned else "COMPLETE",
                 None if outcome.pruned else outcome.value)
    return outcome


def _train(config: Mapping[str, Any], blas_threads: int, recorder: TrialRecorder,
           reporter: Reporter | None) -> Outcome:
    hp = Hyperparameters.from_config(config)
    streams = SeedStreams.of(config["seed"])
    data = load_dataset(config["data"], seed=streams.split, dtype=hp.dtype)
    n_classes = None if data.classes is None else len(data.classes)
    reporting = _ReportEpochs(config["objective"], recorder, reporter)
    training = build_training(hp, n_features=data.n_features, n_outputs=data.n_outputs,
                              loss=task_loss(data.task, n_classes),
                              optimizer=build_optimizer(config["optimizer"]), streams=streams,
                              after=[reporting])
    classification = data.task == "classification"
    result = training.run(data.X_train, data.encode_targets(data.y_train),
                          data.X_val, data.encode_targets(data.y_val),
                          y_train_labels=data.y_train if classification else None,
                          y_val_labels=data.y_val if classification else None,
                          available_threads=cpu_load.idle_cores(STARTED, cores=blas_threads))
    value = float(result.history[kept_epoch(result, hp) - 1][config["objective"]])
    return Outcome(value, reporting.pruned, result.history, training.network)
