"""Optuna's own per-trial storage cost, with no code of the sweep engine: the floor of the
scale-out coordination target (benchmarks/RESULTS.md, scale-out).

    python benchmarks/optuna_floor.py                       # SQLite in a temporary directory
    python benchmarks/optuna_floor.py postgresql+psycopg2://user:pw@host/db
    python benchmarks/optuna_floor.py URL --once-per-trial  # the sweep's median pruner

Each trial: ask, one ``suggest_float``, up to 10 ``report`` + ``should_prune`` (the median
pruner, 5 start-up trials, 2 warm-up steps), tell; random sampler. 20 trials warm up, then 120
are timed. The engine settings are the sweep's (``synchronous_commit=off`` on PostgreSQL, WAL
and ``synchronous=NORMAL`` on SQLite).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

import optuna
import sqlalchemy

if __package__ in (None, ""):  # `python benchmarks/optuna_floor.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _storage(url: str) -> optuna.storages.RDBStorage:
    if url.startswith("sqlite"):
        storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})

        def pragmas(connection: object, record: object) -> None:
            connection.execute("PRAGMA journal_mode=WAL")  # type: ignore[attr-defined]
            connection.execute("PRAGMA synchronous=NORMAL")  # type: ignore[attr-defined]

        sqlalchemy.event.listen(storage.engine, "connect", pragmas)
        storage.engine.dispose()
        return storage
    return optuna.storages.RDBStorage(
        url, engine_kwargs={"connect_args": {"options": "-c synchronous_commit=off"}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", nargs="?", help="a storage URL (default: a new SQLite file)")
    parser.add_argument("--once-per-trial", action="store_true",
                        help="the sweep's median pruner (sweeps/study/_pruners.py)")
    parser.add_argument("--trials", type=int, default=120)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = args.url or f"sqlite:///{tempfile.mkdtemp()}/floor.db"
    if args.once_per_trial:
        from sweeps.study._pruners import MedianPruner
        pruner: optuna.pruners.BasePruner = MedianPruner(n_startup_trials=5, n_warmup_steps=2)
    else:
        pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2)
    study = optuna.create_study(study_name=f"floor-{uuid.uuid4().hex[:8]}", storage=_storage(url),
                                sampler=optuna.samplers.RandomSampler(seed=0), pruner=pruner)

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        for epoch in range(1, 11):
            trial.report(x / epoch, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return x / 10

    study.optimize(objective, n_trials=20)
    began = time.perf_counter()
    study.optimize(objective, n_trials=args.trials)
    seconds = time.perf_counter() - began
    print(f"{url.split(':', 1)[0]}: {1000 * seconds / args.trials:.1f} ms a trial")


if __name__ == "__main__":
    main()
