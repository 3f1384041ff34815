"""Opt-in system metrics (``mlflow.system_metrics=true``): CPU, memory, disk and network of the
machine while a run trains, as MLflow's own system-metrics monitor logs them (``system/...``
metrics, charted on the run page's "System metrics" tab).

Off by default: the monitor is a thread sampling the machine and writing to the store. It needs
psutil (``pip install "numpy-mlp-trainer[system-metrics]"``). It samples every second unless
``MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL`` says otherwise (MLflow's own default, 10 s, would
leave most runs here without a single sample).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from trainer.errors import ConfigError

if TYPE_CHECKING:
    from runkit.mlflow.run import RunTracker

__all__ = ["SAMPLING_INTERVAL", "check_available", "system_metrics"]

SAMPLING_INTERVAL = 1.0  # seconds
# MLflow says "Started monitoring ...", "Stopping ..." and "Successfully terminated ..." at INFO
# for every run: three lines per trial of a sweep. Its warnings and errors still show.
logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)
_EXTRA = 'pip install "numpy-mlp-trainer[system-metrics]"'


def check_available() -> None:
    """MLflow samples the machine with psutil: without it, one line saying how to install it."""
    if importlib.util.find_spec("psutil") is None:
        raise ConfigError("mlflow.system_metrics",
                          f"false, or psutil installed to sample the machine ({_EXTRA})", True)


@contextlib.contextmanager
def system_metrics(tracker: RunTracker, uri: str, *, enabled: bool) -> Iterator[None]:
    """MLflow's system-metrics monitor on the run while the block runs (nothing when not
    ``enabled``); its last samples are written before the block is left, so before the run
    ends."""
    if not enabled:
        yield
        return
    check_available()
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    monitor = SystemMetricsMonitor(tracker.run_id, sampling_interval=SAMPLING_INTERVAL,
                                   tracking_uri=uri)
    monitor.start()
    try:
        yield
    finally:
        monitor.finish()
