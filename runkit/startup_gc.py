"""The cyclic garbage collector stays off while a command imports, on again before training.

Importing Hydra, Optuna, MLflow, SQLAlchemy and numba allocates millions of objects that live as
long as the process; the collector scans them over and over while they are being created: 0.8 s
of a sweep's start-up (5 full collections of the growing heap) and 0.34 s of
``python -c "import optuna, mlflow"`` alone, measured with ``gc.callbacks``. Start-up creates
almost no garbage cycles (about 3,000 unreachable objects, 1 MB, among 500,000 tracked after a
sweep's imports; frozen with the rest, they stay), so a command pauses the collector as it
starts (:func:`pause`, e.g. in ``trainer.__main__.cli``; importing that module does not). Once
the stores are open and training is about to start, :func:`resume` moves everything allocated
so far to the permanent generation (``gc.freeze``: never scanned again, so each later full
collection is cheaper too) and turns the collector back on.

At the exit of a process that ran a sweep, the interpreter's final collection scans everything
MLflow, SQLAlchemy, Optuna and matplotlib left behind: 1.3 s after a tracked 24-trial sweep of a
small Hydra app, while its user waits for the prompt. :func:`skip_exit_collection` freezes the
heap once the exit handlers have run (0.15 s then); the process is ending, so nothing it frees
is needed any more, and a process that goes on after its sweep collects as usual.
"""

from __future__ import annotations

import atexit
import gc

__all__ = ["pause", "resume", "skip_exit_collection"]

_paused = False  # whether pause() turned the collector off and resume() has not run yet


def pause() -> None:
    """Turn the collector off for the start-up (a no-op if it is off already)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """End the start-up: freeze what it allocated and turn the collector back on. Idempotent,
    and a no-op unless :func:`pause` turned it off (tests, library use)."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()


_exit_frozen = False  # whether skip_exit_collection() registered its handler


def skip_exit_collection() -> None:
    """Freeze the heap at the interpreter's exit, before its final collection (registered
    once per process; handlers registered later, e.g. MLflow's, run before it)."""
    global _exit_frozen
    if not _exit_frozen:
        _exit_frozen = True
        atexit.register(gc.freeze)
