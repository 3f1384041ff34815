"""``hydra.sweeper.custom_search_space``: a dotted path to ``fn(cfg, trial)`` that suggests
parameters beyond ``params`` (hydra-optuna-sweeper's key, with its meaning).

``fn`` is called in the worker that runs the trial, after the ``params`` have been suggested
(``trial.params`` holds them), with the sweep's config as ``cfg``. Each parameter it suggests is
passed to the task as the override ``NAME=VALUE``: ``trial.suggest_float("+w", 0, 1)`` adds the
key ``w``, as in the plugin's own example. The path is imported in every worker process (the
app's directory is on their ``sys.path``, as it is on the sweep's); a launched job on another
machine needs the module installed or on a shared file system, as it needs the app.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from optuna.trial import BaseTrial

from runkit.errors import ConfigError, UserError, one_line
from sweeps.search._space import format_value

__all__ = ["CUSTOM_KEY", "CustomSearchSpace", "CustomSearchSpaceError"]

CUSTOM_KEY = "hydra.sweeper.custom_search_space"
_EXPECTED = "a dotted path to a function fn(cfg, trial), importable by the sweep"
_REASON_LIMIT = 400


class CustomSearchSpaceError(UserError):
    """The function raised, or suggested a parameter a fixed override sets too: the trial
    fails with this one line, naming the key, as its reason."""


@dataclass(frozen=True)
class CustomSearchSpace:
    """The function at ``path`` (small and picklable: each process imports it itself)."""

    path: str

    def function(self) -> Callable[[Any, BaseTrial], Any]:
        """The function, imported once per process.

        Raises:
            ConfigError: the path does not import, or names something that is not callable.
        """
        return _import(self.path)

    def suggest(self, cfg: Any, trial: BaseTrial, searched: Mapping[str, Any],
                fixed: Mapping[str, str]) -> dict[str, Any]:
        """Call the function on ``trial`` (whose ``searched`` parameters are suggested
        already); returns the parameters it added, ``{name: value}``.

        Raises:
            CustomSearchSpaceError: it raised, or added a parameter that ``fixed`` (the fixed
                overrides, ``{key: value}``) sets too.
        """
        try:
            self.function()(cfg, trial)
        except ConfigError:
            raise
        except Exception as error:
            raise CustomSearchSpaceError(
                f"{CUSTOM_KEY}: {self.path} raised {one_line(error, _REASON_LIMIT)}") from error
        added = {name: value for name, value in trial.params.items() if name not in searched}
        clash = sorted(name for name in added if name.lstrip("+~") in fixed)
        if clash:
            raise CustomSearchSpaceError(
                f"{CUSTOM_KEY}: {self.path} suggested {', '.join(clash)}, which a fixed "
                "override sets too")
        return added

    @staticmethod
    def overrides(added: Mapping[str, Any]) -> list[str]:
        """The task's overrides of the added parameters (``+w=0.25``)."""
        return [f"{name}={format_value(value)}" for name, value in added.items()]

    @staticmethod
    def assignments(added: Mapping[str, Any]) -> dict[str, str]:
        """``{key: value text}`` of the added parameters, ``+`` dropped (MLflow params)."""
        return {name.lstrip("+~"): format_value(value) for name, value in added.items()}


@functools.cache
def _import(path: str) -> Callable[[Any, BaseTrial], Any]:
    from hydra.utils import get_method

    quiet = logging.getLogger("hydra.utils")  # it logs the error, lines long, then raises it
    was_disabled, quiet.disabled = quiet.disabled, True
    try:
        function = get_method(path)
    except Exception as error:
        raise ConfigError(CUSTOM_KEY, _EXPECTED, f"{path} ({_why(error)})") from None
    finally:
        quiet.disabled = was_disabled
    return function


def _why(error: Exception) -> str:
    """Hydra's lookup error in one line: the import's own error and Hydra's question
    ("Are you sure that 'configur' is importable from module 'app'?")."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    cause = str(error.__cause__).strip() if error.__cause__ is not None else ""
    hint = lines[-1] if len(lines) > 1 and lines[-1].startswith("Are you sure") else ""
    return "; ".join(part for part in (cause or (lines[0] if lines else ""), hint) if part) \
        or type(error).__name__
