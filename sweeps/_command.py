"""The app's own command, as its user typed it: the start of every line that reproduces a trial.

A sweep is started as ``python sphere.py --multirun ...``, ``python -m trainer --multirun ...`` or
through an installed command (``trainer --multirun ...``); the trial is reproduced by the same
command without ``--multirun`` and with the trial's overrides instead of the sweep's:
``python sphere.py x=0.0 y=0``. Hydra's options that choose the config (``--config-name``,
``--config-path``, ``--config-dir`` and their short forms) stay. The interpreter is written
``python``, as a user types it in the environment the sweep ran in.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import sys
from collections.abc import Sequence

__all__ = ["app_command", "reproduce_line", "started_with_multirun"]

# Hydra's command-line options that choose the config a job composes, with a value each.
_CONFIG_OPTIONS = ("--config-name", "-cn", "--config-path", "-cp", "--config-dir", "-cd")
# The interpreter's options that take a value as the next argument (python -W ignore ...).
_VALUED = ("-W", "-X", "-Q")


@functools.cache
def app_command() -> tuple[str, ...]:
    """The command that started this process (``sys.orig_argv``), reduced to what starts the app
    with the same config: ``("python", "sphere.py")``, ``("python", "-m", "trainer")``,
    ``("trainer",)`` ..."""
    return command_of(list(getattr(sys, "orig_argv", [sys.executable, *sys.argv])))


def command_of(argv: Sequence[str]) -> tuple[str, ...]:
    """:func:`app_command` of a given ``sys.orig_argv``."""
    args = list(argv[1:])
    while args and args[0].startswith("-") and args[0] not in ("-m", "-c"):
        option = args.pop(0)  # an option of the interpreter itself (-u, -X dev ...)
        if option in _VALUED and args:
            args.pop(0)
    if not args or args[0] == "-c":  # python -c "...": no command of its own to give
        start: list[str] = ["python", *sys.argv[:1]]
        rest: list[str] = []
    elif args[0] == "-m":
        start, rest = ["python", "-m", *args[1:2]], args[2:]
    else:
        start, rest = _script(args[0]), args[1:]
    return (*start, *_config_options(rest))


def _script(path: str) -> list[str]:
    """An installed command (on PATH as this very file) by its name, any other script as
    ``python <path as typed>``."""
    name = os.path.basename(path)
    found = shutil.which(name)
    if found is not None and os.path.exists(path):
        try:
            if os.path.samefile(found, path):
                return [name]
        except OSError:
            pass
    return ["python", path]


def _config_options(args: Sequence[str]) -> list[str]:
    """The options among ``args`` that choose the config, with their values."""
    kept: list[str] = []
    items = iter(args)
    for arg in items:
        if arg in _CONFIG_OPTIONS:
            kept += [arg, next(items, "")]
        elif arg.startswith(tuple(f"{option}=" for option in _CONFIG_OPTIONS)):
            kept.append(arg)
    return kept


def reproduce_line(overrides: Sequence[str]) -> str:
    """The shell line running the app alone with ``overrides`` (each quoted as the shell
    needs). A sweep started without ``--multirun`` got its mode from a config
    (``hydra: {mode: MULTIRUN}``, as lightning-hydra-template's search files set it): the line
    then says ``hydra.mode=RUN``, or it would start the sweep again."""
    mode = [] if started_with_multirun() else ["hydra.mode=RUN"]
    return shlex.join([*app_command(), *(str(o) for o in overrides), *mode])


def started_with_multirun(argv: Sequence[str] | None = None) -> bool:
    """Whether the command line (``sys.argv``) asked for ``--multirun`` (``-m``)."""
    args = sys.argv[1:] if argv is None else argv
    return any(arg in ("-m", "--multirun") for arg in args)
