"""sweeps: an Optuna sweeper for any Hydra app (``hydra/sweeper=optuna``), and the API a running
task uses to reach its trial.

A task function reports to its trial and may be pruned::

    import sweeps

    @hydra.main(config_path="conf", config_name="config", version_base="1.3")
    def train(cfg) -> float:
        for epoch in range(cfg.epochs):
            loss = fit_one_epoch(...)
            sweeps.report(loss, step=epoch)   # raises optuna.TrialPruned when pruned
        return loss

``sweeps.current_trial()`` is the running ``optuna.Trial`` (None outside a sweep), for Optuna's
integrations. Both do nothing outside an Optuna sweep, and importing this package imports
neither Optuna nor MLflow.

Inside, grouped by concern (each subpackage importing its public names plainly):

- ``sweeps.search``: the search-space grammar (``SearchSpace``, ``parse_search_space``);
- ``sweeps.study``: the study's storage and crash recovery, the trial budget shared by every
  process, the sampler and pruner registries (``open_storage``, ``count_trials``,
  ``build_sampler`` ...);
- ``sweeps.workers``: one worker's ask -> run -> tell loop (``run_worker``), the worker processes
  and launched worker jobs;
- ``sweeps.tracking``: the sweep's MLflow parent run, each trial's run, the best trial or the
  Pareto front (printed, in ``optimization_results.yaml``, on the parent run) and the study's
  pictures;
- ``sweeps._session``: the running trial behind ``current_trial`` and ``report``;
- ``sweeps._sweeper`` (``OptunaSweep``) ties them together; ``sweeps._config`` is the config
  schema (every ``hydra.sweeper.*`` key, registered in Hydra's ConfigStore by the shim Hydra
  discovers, ``hydra_plugins.optuna_sweeps``), ``sweeps._settings`` checks its keys.

``sweeps._fork_server`` imports nothing heavy either: the sweeper plugin starts the workers'
fork server before Optuna and MLflow are imported.

A trial's life
--------------

1. **Asked.** A worker slot calls ``study.optimize(objective, n_trials=1)`` while the study has
   fewer than ``n_trials`` counted trials (``sweeps.study._budget``). Optuna hands it a WAITING
   trial (parameters queued again, below) or creates a new RUNNING one; heartbeats start.
2. **Worker.** The objective's first act writes the ``worker`` attribute (``host:pid``). A RUNNING
   trial without it was lost between Optuna creating it and the objective: it is failed and
   queued again once it has been seen so for the grace period.
3. **Surplus?** Several processes may ask for the last trials at once. The trial ranks itself by
   number among the counted trials; from rank ``n_trials`` on it is marked ``sweep.surplus`` and
   ended FAIL before anything runs (no task, no MLflow run). A surplus trial never counts.
4. **Run.** The parameters are sampled and written as Hydra overrides (``overrides``), and the
   Hydra job runs the task with the trial current (``report``, ``current_trial``).
5. **Ends** COMPLETE (the task returned a finite value, or a tuple or list of one per direction
   when ``direction`` is a list), PRUNED (the task raised ``optuna.TrialPruned``, as ``report``
   does when the pruner stops it; never with several directions, which Optuna cannot prune), or
   FAIL (the task raised, returned no such values, or its config did not compose; the one-line
   reason is ``fail_reason``).
6. **Queued again.** An interrupted trial (Ctrl-C, SIGTERM) ends FAIL "interrupted" and its
   worker, or else the sweep process, queues its parameters as a new WAITING trial. A crashed
   one (no heartbeat for ``grace_period`` seconds: its process was killed, its machine lost) is
   failed by whichever process notices first, its MLflow run marked KILLED, and its parameters
   queued the same way, at most ``max_retry`` times. The failed original then stops counting;
   its copy counts instead, so the study still ends with ``n_trials`` finished trials.

Each worker returns a ``WorkerReport`` (the trials it ran, whether it stopped for failures or an
interrupt); the sweep gathers them, its own slot's and its worker processes', in
``SweepResult.workers``.
"""

from sweeps._session import current_trial, report

__all__ = ["current_trial", "report"]
