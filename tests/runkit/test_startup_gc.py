"""The garbage collector is off while a command starts and on again, with the start-up's objects
frozen, once training begins; a library user's collector is left alone."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from runkit import startup_gc


@pytest.fixture
def collector() -> Iterator[None]:
    was_enabled = gc.isenabled()
    yield
    gc.unfreeze()
    startup_gc._paused = False
    if was_enabled:
        gc.enable()
    else:
        gc.disable()


def test_pause_then_resume_freezes_the_start_up_and_collects_again(collector: None) -> None:
    gc.enable()
    startup_gc.pause()
    assert not gc.isenabled()
    startup_gc.resume()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0
    frozen = gc.get_freeze_count()
    startup_gc.resume()  # idempotent: a sweep's later trials freeze nothing more
    assert gc.get_freeze_count() == frozen


def test_resume_without_pause_changes_nothing(collector: None) -> None:
    # Tests and library use call the app's run() without python -m trainer's pause.
    gc.disable()
    frozen = gc.get_freeze_count()
    startup_gc.resume()
    assert not gc.isenabled()
    assert gc.get_freeze_count() == frozen


def test_the_command_runs_its_start_up_without_the_collector(
        collector: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # cli() pauses it before Hydra composes and the app is imported; importing the module
    # (as a test or a console script's loader does) leaves it alone.
    import trainer.__main__ as command

    gc.enable()
    seen: list[bool] = []
    monkeypatch.setattr(command, "main", lambda: seen.append(gc.isenabled()))
    assert gc.isenabled()
    command.cli()
    assert seen == [False]


@pytest.mark.parametrize("skipped", [True, False])
def test_a_process_that_ran_a_sweep_freezes_its_heap_only_at_exit(skipped: bool) -> None:
    # registered once however often it is asked; the heap is frozen after the exit handlers
    # registered before it ran (those after it run first), never while the process goes on
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    script = textwrap.dedent(f"""
        import atexit, gc
        from runkit import startup_gc
        atexit.register(lambda: print("at exit", gc.get_freeze_count() > 0))
        before = atexit._ncallbacks()
        for _ in range({2 if skipped else 0}):
            startup_gc.skip_exit_collection()
        print("added", atexit._ncallbacks() - before, "frozen now", gc.get_freeze_count() > 0)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], timeout=60, check=True)
    assert done.stdout.splitlines() == [f"added {int(skipped)} frozen now False",
                                        f"at exit {skipped}"]
