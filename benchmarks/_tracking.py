"""Tracking overhead: the small MLP's training with MLflow logging on vs off.

Four peers train the digits problem for ``epochs`` epochs each call, interleaved:

- ``off``: the trainer's FitLoop with no callback;
- ``a real run's callbacks``: the FitLoop with every callback ``python -m trainer`` gives it
  (``EpochLogger``, ``EarlyStopping`` with best weights, ``ProgressReporter`` lines): the
  per-epoch cost of a real run; its metrics are written at the run's end (one batch, timed in
  ``whole tracking``);
- ``epoch logging``: the same FitLoop with ``trainer.app.EpochLogger`` (what every run adds per
  epoch), the buffered metrics written to MLflow's SQLite store before the timer stops;
- ``whole tracking``: a complete tracked run without artifacts: ``RunTracker.start`` (create the
  run), ``log_params`` of the resolved config, the FitLoop with the EpochLogger, ``end``.

A fourth figure, the whole ``trainer.app.run(cfg)`` (data loading, the figure and model
artifacts, the test evaluation), is timed on its own to show what share of a user's run is
training.
"""

from __future__ import annotations

import contextlib
import io
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._data import Problem
from benchmarks._timing import Timing, interleaved

OFF = "off"
CALLBACKS = "a real run's callbacks"
EPOCH_LOGGING = "epoch logging"
WHOLE = "whole tracking"


@dataclass
class TrackingResult:
    """Timings of each peer (one call = one run of ``epochs`` epochs)."""

    problem: Problem
    epochs: int
    timings: dict[str, Timing]
    app_run_seconds: tuple[float, ...]  # whole trainer.app.run(cfg), same epochs
    metrics_per_epoch: int

    def overhead(self, peer: str) -> float:
        """Median time with ``peer``'s tracking over median time without, minus 1."""
        return self.timings[peer].median / self.timings[OFF].median - 1.0

    @property
    def app_run_median(self) -> float | None:
        return statistics.median(self.app_run_seconds) if self.app_run_seconds else None


def _fitloop(problem: Problem, epochs: int, callbacks: list[Any]) -> Any:
    from trainer.core.fit import FitLoop
    from trainer.core.losses import LOSSES
    from trainer.core.network import MLP
    from trainer.core.optimizers import Adam
    from trainer.core.penalties import WeightPenalty

    rng = np.random.default_rng(0)
    net = MLP(problem.n_features, list(problem.hidden), problem.n_classes, activation="relu",
              init="he_normal", dropout=0.0, dtype=np.float32, rng=rng)
    return FitLoop(net, LOSSES["categorical_crossentropy"], Adam(problem.lr), WeightPenalty(),
                   epochs=epochs, batch_size=problem.batch_size, rng=rng, callbacks=callbacks)


def _compose(overrides: list[str]) -> Any:
    """The resolved config ``python -m trainer <overrides>`` would run with."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from trainer import CONFIG_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        return compose(config_name="config", overrides=overrides)


def run_tracking(
    problem: Problem,
    *,
    epochs: int,
    repeats: int,
    app_repeats: int,
    workdir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrackingResult:
    """Time training with and without MLflow tracking on a fresh SQLite store in ``workdir``
    (a temporary directory when None)."""
    from omegaconf import OmegaConf

    from runkit.mlflow import RunTracker, get_or_create_experiment, prepare_store
    from trainer import app
    from trainer.core.callbacks import EarlyStopping, ProgressReporter

    with tempfile.TemporaryDirectory(prefix="bench-tracking-", dir=workdir) as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlruns' / 'mlflow.db'}"
        prepare_store(uri)  # opening the store costs over a second: once, outside the timings
        experiment_id = get_or_create_experiment(uri, "benchmark-tracking")
        overrides = [
            f"epochs={epochs}", f"batch_size={problem.batch_size}",
            f"model.hidden=[{','.join(map(str, problem.hidden))}]", "early_stopping.enabled=false",
            "progress=none", f"mlflow.tracking_uri={uri}", "mlflow.experiment=benchmark-tracking",
        ]
        cfg = _compose(overrides)
        params = OmegaConf.to_container(cfg, resolve=True)
        assert isinstance(params, dict)

        data = (problem.X_train, problem.Y_train, problem.X_val, problem.Y_val)
        labels = {"y_train_labels": problem.y_train, "y_val_labels": problem.y_val}

        loop_off = _fitloop(problem, epochs, [])
        # What `python -m trainer` hangs on its loop: the MLflow logger, early stopping with
        # best weights (patience long enough never to stop) and the per-epoch progress lines.
        # Its tracker keeps the values: a run writes them at its end, in one batch (the per-run
        # cost 'whole tracking' measures), so only the work inside the epochs is timed here.
        buffered = RunTracker.start(uri, experiment_id, run_name="real-callbacks")
        buffered.flush_interval, buffered.max_buffered = math.inf, sys.maxsize
        loop_callbacks = _fitloop(problem, epochs, [
            app.EpochLogger(buffered),
            EarlyStopping("val_loss", patience=epochs, restore_best_weights=True),
            ProgressReporter(epochs, style="lines", stream=io.StringIO()),
        ])
        logged = RunTracker.start(uri, experiment_id, run_name="epoch-logging")
        loop_logged = _fitloop(problem, epochs, [app.EpochLogger(logged)])
        loop_whole = _fitloop(problem, epochs, [])

        def off() -> None:
            loop_off.run(*data, **labels)

        def real_callbacks() -> None:
            buffered._buffer.clear()  # the previous call's values: not this call's work
            loop_callbacks.run(*data, **labels)

        def epoch_logging() -> None:
            loop_logged.run(*data, **labels)
            logged.flush()  # the buffered metrics are written inside the timing

        def whole() -> None:
            with RunTracker.start(uri, experiment_id, run_name="whole") as tracker:
                tracker.log_params(params)
                loop_whole.callbacks = [app.EpochLogger(tracker)]
                loop_whole.run(*data, **labels)

        peers = {OFF: off, CALLBACKS: real_callbacks, EPOCH_LOGGING: epoch_logging, WHOLE: whole}
        timings = interleaved(peers, repeats, progress=progress)
        metrics_per_epoch = len(loop_off.result.history[-1]) - 1  # all logs but "epoch"
        logged.end()
        buffered._buffer.clear()
        buffered.end()

        app_seconds: list[float] = []
        # the first call pays one-off imports (matplotlib, the pyfunc flavour): not timed
        for r in range(app_repeats + 1 if app_repeats > 0 else 0):
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # its one-run summary
                app.run(cfg)
            if r == 0:
                continue
            app_seconds.append(time.perf_counter() - start)
            if progress is not None:
                progress(f"trainer.app.run {r}/{app_repeats}: "
                         f"{app_seconds[-1] * 1e3:.0f} ms")
    return TrackingResult(problem, epochs, timings, tuple(app_seconds), metrics_per_epoch)
