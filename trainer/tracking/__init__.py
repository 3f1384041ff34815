"""What a training run writes to MLflow besides what every run writes (``runkit.mlflow``).

Modules: ``tags`` (the training run's tag names), ``model`` (the pyfunc model: ``model_env``
writes its environment files, ``numpy_mlp_predictor`` is its own NumPy loader), ``datasets`` (the
data's parts as MLflow datasets), ``pictures`` (learning curves; ``drawer`` draws a sweep's in a
helper process), ``links`` (a run's page), ``system_metrics`` (MLflow's system-metrics monitor).
"""
