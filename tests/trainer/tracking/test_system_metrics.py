"""mlflow.system_metrics=true: MLflow's own system-metrics monitor samples the machine while the
run trains; off by default; without psutil one line says how to install it."""

from __future__ import annotations

import importlib.util

import pytest
from mlflow import MlflowClient

from trainer.errors import ConfigError


def test_system_metrics_are_logged_when_asked(run_and_capture, make_config, store_uri, monkeypatch):
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")  # a short run here
    cfg = make_config("epochs=40", "early_stopping.enabled=false", "model.hidden=[128, 64]",
                      "batch_size=16", "mlflow.log_model=false", "mlflow.system_metrics=true")
    _, run_id, error = run_and_capture(cfg)
    assert error is None
    client = MlflowClient(store_uri)
    metrics = client.get_run(run_id).data.metrics
    system = {key for key in metrics if key.startswith("system/")}
    assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= system
    history = client.get_metric_history(run_id, "system/cpu_utilization_percentage")
    assert [m.step for m in history] == list(range(len(history)))


def test_off_by_default(run_and_capture, make_config, store_uri):
    _, run_id, error = run_and_capture(make_config("epochs=2", "mlflow.log_model=false"))
    assert error is None
    metrics = MlflowClient(store_uri).get_run(run_id).data.metrics
    assert not [key for key in metrics if key.startswith("system/")]


def test_without_psutil_one_line_says_how_to_install_it(run_and_capture, make_config, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "psutil" else real(name, *a))
    _, _, error = run_and_capture(make_config("epochs=2", "mlflow.system_metrics=true"))
    assert isinstance(error, ConfigError)
    assert str(error) == ('mlflow.system_metrics: expected false, or psutil installed to sample '
                          'the machine (pip install "numpy-mlp-trainer[system-metrics]"), '
                          'got True')


@pytest.mark.parametrize("value", ["yes", 1])
def test_a_value_that_is_not_a_switch_is_refused(make_config, value):
    # refused before a run is started, as every mlflow.* key
    from trainer.app import run

    with pytest.raises(ConfigError, match="^mlflow.system_metrics: expected true or false, got"):
        run(make_config("epochs=2", f"mlflow.system_metrics={value}"))
