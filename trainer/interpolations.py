"""An interpolation that does not resolve (``epochs=${nope}``, ``epochs=${oc.env:UNSET}``), told
in one line naming its key.

OmegaConf resolves interpolations lazily, when a value is read: Hydra composes such a config
without complaint, and the failure comes later as "Interpolation key 'nope' not found", which
names neither the key that holds the interpolation nor what it was. The error usually carries
the key (``full_key``); when Hydra lost it on the way, the command line's overrides tell which
key holds the interpolation that failed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import (
    InterpolationKeyError,
    InterpolationResolutionError,
    InterpolationToMissingValueError,
    UnsupportedInterpolationType,
)

from trainer.errors import ConfigError

__all__ = ["interpolation_error", "resolve_config"]

_ENV = re.compile(r"Environment variable '([^']*)' not found")
_KEY = re.compile(r"Interpolation key '([^']*)' not found")
_MISSING = re.compile(r"Missing mandatory value: (\S+)")
_RESOLVER = re.compile(r"Unsupported interpolation type (\S+)")
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _reason(error: InterpolationResolutionError) -> tuple[str, str | None]:
    """What went wrong, in the user's terms, and a piece of the interpolation that shows which
    override holds it (``nope`` of ``${nope}``), when the message names one."""
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    if isinstance(error, InterpolationKeyError) and (found := _KEY.search(message)):
        return f"the config has no key {found.group(1)!r}", "${" + found.group(1)
    if (found := _ENV.search(message)) is not None:
        name = found.group(1)
        return (f"the environment variable {name} is not set; ${{oc.env:{name},DEFAULT}} "
                "gives a default"), f"oc.env:{name}"
    if isinstance(error, InterpolationToMissingValueError) and (found := _MISSING.search(message)):
        return f"{found.group(1)} has no value (???)", "${" + found.group(1)
    if isinstance(error, UnsupportedInterpolationType) and (found := _RESOLVER.search(message)):
        return f"no resolver named {found.group(1)!r}", "${" + found.group(1) + ":"
    return message.rstrip("."), None


def _raw_value(config: DictConfig, key: str) -> Any:
    """The value at dotted ``key`` (``model.hidden[0]``) as written, interpolation unresolved."""
    node: Any = OmegaConf.to_container(config, resolve=False)
    for name, index in _PATH_PART.findall(key):
        node = node[int(index)] if index else node[name]
    return node


def _override_holding(piece: str | None, overrides: Sequence[str]) -> tuple[str, str] | None:
    """The one command-line override ``key=value`` whose value holds ``piece``."""
    if piece is None:
        return None
    found = [o.split("=", 1) for o in overrides if "=" in o and piece in o.split("=", 1)[1]]
    if len(found) != 1:
        return None
    key, value = found[0]
    return key.lstrip("+~"), value


def interpolation_error(error: BaseException, *, config: DictConfig | None = None,
                        overrides: Sequence[str] = ()) -> ConfigError | None:
    """A one-line :class:`ConfigError` for an interpolation that did not resolve, naming its key
    (from the error, else from the ``overrides`` of the command line), what it should do and the
    interpolation as written; None for any other error or when no key can be named. Hydra's
    own exceptions are looked through (the interpolation error is their cause)."""
    while not isinstance(error, InterpolationResolutionError):
        if error.__cause__ is None:
            return None
        error = error.__cause__
    reason, piece = _reason(error)
    key = getattr(error, "full_key", None) or None
    received: Any = None
    if key is not None and config is not None:
        try:
            received = _raw_value(config, key)
        except (KeyError, IndexError, TypeError, ValueError):
            received = None
    if key is None or received is None:
        held = _override_holding(piece, overrides)
        if held is not None and (key is None or held[0] == key):
            key, received = held
    if key is None:
        return None
    return ConfigError(key, f"an interpolation that resolves ({reason})", received)


def resolve_config(config: DictConfig) -> dict[str, Any]:
    """The config as plain containers, every interpolation resolved.

    Raises:
        ConfigError: an interpolation does not resolve (naming its key).
    """
    try:
        return OmegaConf.to_container(config, resolve=True)  # type: ignore[return-value]
    except InterpolationResolutionError as error:
        converted = interpolation_error(error, config=config)
        if converted is None:
            raise
        raise converted from None
