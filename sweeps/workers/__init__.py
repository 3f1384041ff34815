"""Workers: the ask -> run -> tell loop, the pruning bridge, worker processes and their fork server.

Nothing is imported here: the sweeper plugin imports ``_fork_server`` before Optuna and MLflow."""
