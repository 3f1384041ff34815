"""runkit: what a run needs from its surroundings, below both ``trainer`` and ``sweeps``.

Neither package is imported here; both import this one, so data and dependencies flow one way
(``runkit`` <- ``sweeps`` <- ``trainer``):

- ``runkit.errors``: errors a user can fix, told in one line (``UserError``, ``ConfigError``,
  ``one_line``);
- ``runkit.process``: the cores a process may use, whether another process lives;
- ``runkit.cpu_load``: how much of those cores other work uses (BLAS threads follow the rest);
- ``runkit.signals``: Ctrl-C, SIGTERM and SIGHUP as one interrupt, a run's end shielded from it;
- ``runkit.startup_gc``: the garbage collector paused while a command imports;
- ``runkit.sqlite``: SQLite URLs and files, empty databases built once and copied;
- ``runkit.mlflow``: the MLflow store (checked and opened once per process) and one run;
- ``runkit._private_apis``: every private name of MLflow, Hydra and Optuna used, with a probe.

Importing this package imports nothing.
"""
