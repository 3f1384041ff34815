"""The key a user probably meant when an override names no key of the config (``epoch=3``).

Hydra answers an unknown key with "Could not override 'epoch'. To append to your config use
+epoch=3": right for a new key, no help for a typo, and misleading for a key that exists in
another option of its group (``optimizer.momentum`` with Adam chosen belongs to
``optimizer=momentum``). The keys are read from the YAML files of the config directory (the main
config and every option of every group, with the options it extends), so the hint follows the
configs without composing them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ["config_keys", "did_you_mean", "key_owners"]

_UNKNOWN_KEY = re.compile(r"Could not override '([^']+)'")
_APPEND = re.compile(r"use \+(\S+)")
MAIN = "config.yaml"  # the owner of the main config's keys in :func:`key_owners`


def _flat_keys(node: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in ("defaults", "hydra") or str(key).startswith("_"):
                continue
            name = f"{prefix}{key}"
            yield name
            yield from _flat_keys(value, f"{name}.")


def _load(path: Path) -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.load(path), resolve=False)


def _option_keys(group: Path, option: str, seen: frozenset[str] = frozenset()) -> set[str]:
    """The keys option ``option`` of ``group`` sets, relative to where it is placed, with those
    of the options of the same group it extends (``defaults: [mlp, _self_]``)."""
    path = group / f"{option}.yaml"
    if option in seen or not path.is_file():
        return set()
    content = _load(path)
    keys = set(_flat_keys(content))
    defaults = content.get("defaults", []) if isinstance(content, Mapping) else []
    for entry in defaults if isinstance(defaults, list) else []:
        if isinstance(entry, str) and entry != "_self_" and "/" not in entry:
            keys |= _option_keys(group, entry, seen | {option})
    return keys


def key_owners(config_dir: Path) -> dict[str, set[str]]:
    """Every dotted key of ``config.yaml`` and of the group options (``optimizer.lr``), and the
    group names (``optimizer``, ``sweep``), each with what defines it: :data:`MAIN` and the
    options (``optimizer=momentum``)."""
    owners: dict[str, set[str]] = {}
    for key in _flat_keys(_load(config_dir / MAIN)):
        owners.setdefault(key, set()).add(MAIN)
    for group in sorted(p for p in config_dir.iterdir() if p.is_dir() and p.name != "hydra"):
        owners.setdefault(group.name, set()).add(MAIN)
        for path in sorted(group.glob("*.yaml")):
            # a `# @package _global_` file (sweep/) sets top-level keys; others sit in the group
            prefix = "" if "@package _global_" in path.read_text() else f"{group.name}."
            for key in _option_keys(group, path.stem):
                owners.setdefault(f"{prefix}{key}", set()).add(f"{group.name}={path.stem}")
    return owners


def config_keys(config_dir: Path) -> set[str]:
    """Every dotted key of the main config and of the group options, and the group names."""
    return set(key_owners(config_dir))


def _options_only(owners: set[str], all_owners: dict[str, set[str]]) -> list[str]:
    """The options among ``owners`` when the key is not the main config's nor every option's
    of its group (``optimizer.lr`` is in all of them: nothing to say), else []."""
    if MAIN in owners:
        return []
    groups = {owner.split("=", 1)[0] for owner in owners}
    every = {o for key_owners_ in all_owners.values() for o in key_owners_
             if o.split("=", 1)[0] in groups}
    return [] if owners == every else sorted(owners)


def did_you_mean(message: str, config_dir: Path) -> str | None:
    """For Hydra's "Could not override 'KEY'" message: one line naming the options of the
    key's group that have it (a key of another optimizer), or else the closest key; None when
    the message is another error or no key is close."""
    match = _UNKNOWN_KEY.search(message)
    if match is None:
        return None
    key = match.group(1).lstrip("+~")
    try:
        owners = key_owners(config_dir)
    except Exception:  # an unreadable config: Hydra's own message stands
        return None
    append = _APPEND.search(message)
    value = append.group(1).split("=", 1)[1] if append and "=" in append.group(1) else None
    assignment = f"{key}={value}" if value is not None else key
    options = _options_only(owners.get(key, {MAIN}), owners)
    if options:  # a key of other options of its group than the one chosen
        group = options[0].split("=", 1)[0]
        example = f"{options[0]} {assignment}"
        return (f"{key}: no such key in the {group} chosen; it belongs to {', '.join(options)} "
                f"({'e.g. ' if len(options) > 1 else ''}{example})")
    candidates = sorted(k for k in owners if k != key)
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.75)
    if not close:
        return None
    meant = f"{close[0]}={value}" if value is not None else close[0]
    only = _options_only(owners[close[0]], owners)
    if only:
        meant += f", a key of {' and '.join(only)}"
    added = f" (+{key}={value} would add it as a new key)" if value is not None else ""
    return f"{key}: no such key in the config; did you mean {meant}?{added}"
