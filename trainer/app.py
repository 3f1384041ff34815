"""One training run from a composed config: data -> network -> fit -> test -> MLflow.

``run(cfg)`` is the Hydra task function behind ``python -m trainer`` (plain runs, Hydra grids and
Optuna sweep trials alike). It returns the value of ``cfg.objective`` at the kept epoch, so a
sweeper can optimize it; for a list of objectives (``[val_accuracy, param_count]``, a
multi-objective sweep) a tuple of their values.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlflow.environment_variables import MLFLOW_RUN_ID, MLFLOW_TRACKING_URI
from omegaconf import DictConfig, OmegaConf

import sweeps
from runkit import cpu_load, startup_gc
from runkit.mlflow import RunTracker, flatten_config, resolve_tracking_uri
from runkit.mlflow.disk_full import NoSpaceError, no_space_error, what_was_kept
from runkit.mlflow.store_checks import check_tracking_uri, open_experiment
from runkit.process import thread_budget
from runkit.redact import redact_url, scrub
from runkit.signals import (
    exit_code,
    ignore_further_interrupts,
    interrupt_name,
    sigterm_as_interrupt,
)
from trainer.config import (
    RUN_METRICS,
    build_optimizer,
    check_config,
    check_metric_names,
    check_mlflow,
    epoch_objective,
    objectives,
    with_monitor,
)
from trainer.core.callbacks import Callback, ProgressReporter
from trainer.core.fit import FitLoop, FitResult
from trainer.core.losses import task_loss
from trainer.data import Dataset
from trainer.data.reuse import load_dataset_reused
from trainer.errors import ConfigError, DataError, UserError
from trainer.interpolations import resolve_config
from trainer.memory import check_fits_in_memory, memory_error
from trainer.pruning import TrialReporter
from trainer.tracking.datasets import log_datasets
from trainer.tracking.drawer import drawer_for
from trainer.tracking.links import run_link
from trainer.tracking.model import log_trained_model, model_name
from trainer.tracking.system_metrics import system_metrics
from trainer.tracking.tags import DATASET_TAG, LOSS_TAG, STOP_REASON_TAG, TASK_TAG
from trainer.training import (
    Hyperparameters,
    SeedStreams,
    build_training,
    kept_epoch,
)


class EpochLogger(Callback):
    """Hands every epoch's metrics to the MLflow run (buffered there, written in batches)."""

    def __init__(self, tracker: RunTracker) -> None:
        self.tracker = tracker

    def on_epoch_end(self, loop: FitLoop, epoch: int, logs: dict[str, float]) -> None:
        self.tracker.log_epoch(epoch, {k: v for k, v in logs.items() if k != "epoch"})


def start_dir() -> Path:
    """The directory the command was started in (Hydra may have changed the working dir)."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.cwd)
    return Path.cwd()


def run(cfg: DictConfig | Mapping[str, Any]) -> float | tuple[float, ...]:
    """Train, evaluate and track one run; return the objective at the kept epoch (a tuple, one
    value per metric, when ``objective`` is a list).

    The run is a new MLflow run, or the one MLflow's ``MLFLOW_RUN_ID`` hands over (a sweep's run
    of the trial this run is), which its owner ends.

    Raises:
        optuna.TrialPruned: a sweep's pruner stopped the run (it ended as any run does).
    """
    # other work's use of the cores, from the command's start (or this run's) to training
    load_since = cpu_load.command_start or cpu_load.cpu_times()
    config = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(dict(cfg))
    # an interpolation that does not resolve: one line; the monitor following a list objective
    plain = with_monitor(resolve_config(config))
    base = start_dir()

    check_mlflow(plain)  # the rest is checked inside the run, which then ends FAILED
    uri = resolve_tracking_uri(check_tracking_uri(plain["mlflow"]["tracking_uri"]), base)
    handed_over = MLFLOW_RUN_ID.get()
    if handed_over:  # a run someone else started and ends, e.g. a sweep's trial run
        uri = MLFLOW_TRACKING_URI.get() or uri
        tracker = RunTracker.borrow(uri, handed_over)
        tracker.set_tags({DATASET_TAG: str(plain["data"]["name"])})
    else:
        tracker = RunTracker.start(
            uri,
            open_experiment(uri, plain["mlflow"]["experiment"]),
            run_name=plain["mlflow"].get("run_name") or default_run_name(plain),
            tags={DATASET_TAG: str(plain["data"]["name"])},
        )
    # A run this process's sweep started is written with the trial's state as the sweep ends
    # it (one write instead of two)
    write_here = not (handed_over and tracker.owned)
    try:
        with tracker.writing() if handed_over else tracker, sigterm_as_interrupt():
            try:
                tracker.log_params(flatten_config(plain))
                tracker.log_text(OmegaConf.to_yaml(config, resolve=True), "config.yaml")
                startup_gc.resume()  # the imports and the store are done: collect from here on
                with system_metrics(tracker, uri, enabled=plain["mlflow"]["system_metrics"]):
                    objective, pruned = _train(plain, tracker, base, uri, write_here, load_since)
            except Exception as error:
                full = no_space_error(error, uri)
                if full is not None:  # one line saying where, as the run's reason too
                    raise full from error
                if isinstance(error, MemoryError):  # the network's: its arrays, its training
                    raise memory_error(error, plain["model"]["hidden"]) from error
                raise
    except KeyboardInterrupt as interrupt:
        interrupt.kept = what_was_kept(tracker)  # type: ignore[attr-defined]
        raise
    except NoSpaceError as error:
        raise NoSpaceError(f"{error}; {what_was_kept(tracker)}") from None
    if tracker.end_error is not None:  # the run's last writes failed after training
        full = no_space_error(tracker.end_error, uri)
        if full is not None:
            raise NoSpaceError(f"{full}; {what_was_kept(tracker)}")
    if pruned is not None:  # the run is complete; the sweep records its trial PRUNED
        raise pruned
    return objective


def default_run_name(plain: Mapping[str, Any]) -> str:
    """A run is named after its data and model (``digits-mlp-64x32``; a sweep names its trials'
    runs itself)."""
    data = plain["data"]
    name = str(data["name"])
    if data.get("path"):  # csv, npz: the file's name says more than the loader's
        name = Path(str(data["path"])).stem
    hidden = plain["model"]["hidden"]  # not checked yet: a bad value still names the run
    if isinstance(hidden, list):
        hidden = "x".join(str(width) for width in hidden) or "linear"
    return f"{name}-mlp-{hidden}"


def run_cli(cfg: DictConfig) -> float | tuple[float, ...]:
    """``run`` for the command line: a user error in a single run prints one line, exit code 1.

    In a multirun the error is raised, so the sweeper or launcher records it for that job.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        return run(cfg)
    except UserError as error:
        if multirun:
            raise
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt as interrupt:  # Ctrl-C, SIGTERM, SIGHUP: what was kept, no traceback
        if multirun:
            raise
        ignore_further_interrupts()
        kept = _what_the_run_kept(interrupt)
        print(f"interrupted ({interrupt_name(interrupt)}): {kept}", file=sys.stderr, flush=True)
        raise SystemExit(exit_code(interrupt)) from None


def _what_the_run_kept(interrupt: BaseException) -> str:
    """The run's last state, told by the interrupt that ended it (a second Ctrl-C just after the
    run ended carries the first one as its context)."""
    current: BaseException | None = interrupt
    while current is not None:
        if hasattr(current, "kept"):
            return str(current.kept)
        current = current.__context__
    return "nothing was logged yet"


def _train(
    plain: dict[str, Any],
    tracker: RunTracker,
    base: Path,
    uri: str,
    write_here: bool,
    load_since: cpu_load.CpuTimes | None,
) -> tuple[float | tuple[float, ...], BaseException | None]:
    """Train, evaluate and log; returns the objective at the kept epoch (a tuple for a list of
    objectives), and the ``optuna.TrialPruned`` to raise when the sweep pruned the run (None
    otherwise)."""
    check_config(plain)
    hp = Hyperparameters.from_config(plain)
    streams = SeedStreams.of(plain["seed"])

    try:
        # the previous trial's arrays when they are the same (trainer/data/reuse.py)
        data = load_dataset_reused(plain["data"], seed=streams.split, dtype=hp.dtype,
                                   base_dir=base)
    except MemoryError as error:  # later ones are the network's (run() says so)
        raise DataError(f"data: expected a data set that fits in memory, got "
                        f"{plain['data'].get('path') or plain['data']['name']!r} (loading it "
                        f"ran out of memory: {str(error).strip() or 'MemoryError'})") from None
    check_metric_names(plain, data.task)
    loss_name = _choose_loss(plain["loss"], data)
    tracker.set_tags({TASK_TAG: data.task, LOSS_TAG: loss_name})
    # the train, validation and test parts, as the run's inputs
    tracker.datasets = log_datasets(tracker.client, tracker.run_id, data)

    check_fits_in_memory([data.n_features, *hp.hidden, data.n_outputs],
                         batch_size=min(hp.batch_size, len(data.X_train)), dtype=hp.dtype,
                         optimizer=str(plain["optimizer"].get("name")),
                         hidden=plain["model"]["hidden"])
    in_sweep = sweeps.current_trial() is not None
    # started now, the helper that draws a sweep's pictures imports while this trial trains
    drawer = drawer_for(uri) if in_sweep else None
    progress_style = plain["progress"]
    if progress_style == "auto" and in_sweep:
        progress_style = "none"  # sweep workers share one terminal: the sweep reports instead
    # a multi-objective sweep is not pruned (sweeps.report only records the curve there)
    reporter = TrialReporter(epoch_objective(plain)) if in_sweep else None
    training = build_training(
        hp, n_features=data.n_features, n_outputs=data.n_outputs, loss=loss_name,
        optimizer=build_optimizer(plain["optimizer"]), streams=streams,
        before=[EpochLogger(tracker)],
        after=[*([reporter] if reporter is not None else []),
               ProgressReporter(hp.epochs, style=progress_style)],
    )
    loop, network = training.loop, training.network
    classification = data.task == "classification"
    started = time.perf_counter()
    result = training.run(
        data.X_train,
        data.encode_targets(data.y_train),
        data.X_val,
        data.encode_targets(data.y_val),
        y_train_labels=data.y_train if classification else None,
        y_val_labels=data.y_val if classification else None,
        # a sweep's trial: its share of the cores (the sweep splits them between its workers,
        # OMP_NUM_THREADS); any other run: the cores other work left free since it started
        available_threads=thread_budget() if in_sweep
        else cpu_load.idle_cores(load_since, cores=thread_budget()),
    )
    # what a sweep can trade accuracy against: the model's size and the fit loop's time
    run_metrics = {"param_count": float(network.n_params),
                   "train_time_s": time.perf_counter() - started}

    kept = kept_epoch(result, hp)
    assert result.best_epoch is not None  # the validation metrics are always logged here
    names = objectives(plain)
    values = tuple(float(run_metrics[name] if name in RUN_METRICS
                         else result.history[kept - 1][name]) for name in names)
    objective = values[0] if isinstance(plain["objective"], str) else values

    test_metrics = loop.evaluate(
        data.X_test,
        data.encode_targets(data.y_test),
        data.y_test if classification else None,
        prefix="test_",
    )
    # The kept epoch's value of what the sweep optimizes and early stopping watches, under a
    # name of its own: the runs table sorts by it as the sweep ranks (`val_loss` itself is the
    # last epoch's value there).
    kept_values = {f"best_{key}": result.history[kept - 1][key]
                   for key in dict.fromkeys([*names, hp.monitor]) if key not in RUN_METRICS}
    end_metrics = {**test_metrics, **kept_values, **run_metrics, "best_epoch": result.best_epoch,
                   "stopped_epoch": result.stopped_epoch}
    tracker.set_tags({STOP_REASON_TAG: result.stop_reason})
    # A pruned trial is a weak configuration cut short: its few epochs stay charted from the
    # per-epoch metrics (and in the sweep's picture of all trials), but drawing its own
    # picture (~0.2 s) and storing its model would be most of a sweep's per-trial overhead.
    pruned = result.stop_reason == "pruned"
    title = f"{data.name} ({loss_name})"
    if not pruned and drawer is not None:
        drawer.draw(tracker.run_id, result.history, title, result.best_epoch)
    elif not pruned:
        # matplotlib (0.4 s to import) only in the processes that draw
        from trainer.tracking.pictures import learning_curves_figure

        tracker.log_figure(
            learning_curves_figure(result.history, title=title, best_epoch=result.best_epoch),
            "learning_curves.png",
        )
    model_id = None
    if plain["mlflow"]["log_model"] and not pruned:
        model_id = log_trained_model(
            tracker,
            name=model_name(tracker.run_name or data.name),
            step=kept,
            params=plain,
            network_state=network.state_dict(),
            network_config=network.config(),
            loss=loss_name,
            task=data.task,
            preprocessor_arrays=data.preprocessor.to_arrays(),
            classes=data.classes,
            feature_names=data.feature_names,
            feature_dtypes=None if data.raw is None else data.raw.feature_dtypes,
            input_example=None,
        )
        # The model's metrics: those of the epoch whose weights it holds, and the test's
        kept_logs = {k: v for k, v in result.history[kept - 1].items() if k != "epoch"}
        tracker.log_metrics(kept_logs, step=kept, model_id=model_id)
    tracker.log_metrics(end_metrics, model_id=model_id)
    # The run's one write of its params, tags and metrics (a short run logs nothing before;
    # one log_batch instead of two saves 5 ms a run, 3-13 ms in a fresh process). Here, not
    # as the run ends, so that a failed write fails the run with its reason.
    if write_here:
        tracker.flush()
    if not in_sweep:  # a sweep prints its own summary, not one per trial
        _print_summary(values, result, test_metrics, kept, plain, tracker, uri)
    return objective, reporter.pruned if reporter is not None else None


def _choose_loss(requested: str | None, data: Dataset) -> str:
    n_classes = None if data.classes is None else len(data.classes)
    expected = task_loss(data.task, n_classes)
    if requested is not None and requested != expected:
        kind = f"{n_classes}-class classification" if n_classes else "regression"
        raise ConfigError("loss", f"{expected!r} for this {kind} task (or null)", requested)
    return expected


def _print_summary(
    values: tuple[float, ...],
    result: FitResult,
    test_metrics: Mapping[str, float],
    kept_epoch: int,
    plain: Mapping[str, Any],
    tracker: RunTracker,
    uri: str,
) -> None:
    """Where training stopped, the epoch whose weights were kept with its value, the test
    metrics of those weights, and where the run is."""
    objective, monitor = epoch_objective(plain), plain["early_stopping"]["monitor"]
    kept = result.history[kept_epoch - 1]
    best_epoch = result.best_epoch if result.best_epoch is not None else kept_epoch
    best = result.history[best_epoch - 1]
    which = "the best" if kept_epoch == best_epoch else "the last"
    lines = [f"stopped at epoch {result.stopped_epoch} ({result.stop_reason}); kept the weights "
             f"of epoch {kept_epoch} ({which}): {objective}={kept[objective]:.4f}"]
    if kept_epoch != best_epoch:  # early stopping off, or restore_best_weights=false
        lines[0] += f"; best was epoch {best_epoch}: {monitor}={best[monitor]:.4f}"
    if not isinstance(plain["objective"], str):  # several: what a sweep would get
        lines.append("objective: " + "  ".join(
            f"{name}={value:.6g}" for name, value in zip(objectives(plain), values, strict=True)))
    metrics = "  ".join(f"{k}={v:.4f}" for k, v in test_metrics.items())
    lines.append(f"test: {metrics}")
    lines.append(f"MLflow run {tracker.run_id} in experiment {plain['mlflow']['experiment']!r} "
                 f"({redact_url(uri)})")
    lines.append(f"  see it: {scrub(run_link(uri, tracker.experiment_id, tracker.run_id), uri)}")
    print("\n".join(lines), flush=True)


