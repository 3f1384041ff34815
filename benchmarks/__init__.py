"""Side-by-side speed and sweep-efficiency benchmarks of the trainer (issue 4).

``python -m benchmarks`` (or ``python benchmarks/run.py``) measures the trainer next to
scikit-learn, PyTorch (when installed) and the GEMM lower bound, MLflow tracking on vs off, and
a fixed Optuna sweep with and without pruning and with one or two workers, then writes
``benchmarks/RESULTS.md``.
"""
