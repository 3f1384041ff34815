"""The sweeps stand alone: importing any of their modules, or the plugin Hydra discovers, loads
nothing of the trainer; and runkit, below both, loads neither."""

from __future__ import annotations

import subprocess
import sys

_IMPORT_ALL = """
import importlib, pkgutil, sys
import {root}
names = [{root}.__name__] + [m.name for m in pkgutil.walk_packages({root}.__path__,
                                                                    {root}.__name__ + ".")]
for name in names + {extra!r}:
    if name not in ("sweeps._preload",):  # the fork server's preload: checked on its own
        importlib.import_module(name)
print(len(names), sorted({{m.split(".")[0] for m in sys.modules}} & {forbidden!r}))
"""


def _imports(root: str, forbidden: set[str], extra: list[str] = ()) -> tuple[int, list[str]]:
    # A fresh interpreter: this test process has imported everything already.
    code = _IMPORT_ALL.format(root=root, forbidden=forbidden, extra=list(extra))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split(maxsplit=1)
    return int(out[0]), eval(out[1])  # noqa: S307 - the list the child printed


def test_no_sweeps_module_imports_the_trainer() -> None:
    # every module of the package and the plugin shim; data and dependencies flow one way
    count, loaded = _imports("sweeps", {"trainer"}, ["hydra_plugins.optuna_sweeps"])
    assert count > 20 and loaded == []


def test_the_fork_servers_preload_imports_no_trainer_unless_the_app_names_it() -> None:
    # what every worker process imports: the engine, and the app's modules only when named
    code = ("import os, sys; os.environ['SWEEPS_PRELOAD'] = ''\n"
            "import sweeps._preload\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'trainer'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_runkit_imports_neither_package_it_serves() -> None:
    count, loaded = _imports("runkit", {"trainer", "sweeps"})
    assert count >= 10 and loaded == []
