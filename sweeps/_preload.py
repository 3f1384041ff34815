"""What the fork server imports and warms once, so that every sweep worker forks from it ready
instead of importing in a spawned interpreter (about 5 s per worker on 2 busy cores;
benchmarks/RESULTS.md, sweep start-up): the sweep engine, the two SQL stores' modules (1.3 s),
then the app's modules (``sweeps._fork_server.app_modules``: the task function's module and the
sweeper's ``preload`` key). Nothing here opens a file or a connection: those must not be shared
by forked processes. It lives outside ``sweeps.workers``, whose package imports Optuna, so that
the collector is paused before the first heavy import."""

import signal

# Ctrl-C reaches the whole process group, the fork server too: multiprocessing's server ignores
# SIGINT only once this preload is imported, and a KeyboardInterrupt here would print the
# import's traceback. The sweep stops its workers itself; the server exits with the sweep.
signal.signal(signal.SIGINT, signal.SIG_IGN)

from runkit import startup_gc  # noqa: E402

startup_gc.pause()  # the imports grow a heap the collector would scan again and again (0.8 s)

import contextlib
import importlib
import os

import cloudpickle  # noqa: F401
import mlflow.store.tracking.sqlalchemy_store  # noqa: F401  (the store each worker opens)
from sqlalchemy.orm import configure_mappers

import sweeps.workers._worker  # noqa: F401
from runkit._private_apis import import_optuna_rdb_models
from sweeps._fork_server import APP_MODULES

import_optuna_rdb_models()  # the study's storage
for _module in filter(None, os.environ.get(APP_MODULES, "").split(",")):
    # A module that cannot be imported here fails in the worker, where its error is reported.
    with contextlib.suppress(Exception):
        importlib.import_module(_module)
configure_mappers()  # both stores' table mappings, done here rather than in each worker (0.4 s)
# The imported modules live as long as the process: keep the collector off them. Workers then
# share these pages with the server instead of copying them when a collection touches them, and
# the server's own exit skips a final collection of the whole heap (2 s, during which a caller
# reading the sweep's output through a pipe waits). Frozen, and collected again from here on.
startup_gc.resume()
