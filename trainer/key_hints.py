"""The key a user probably meant when an override names no key of the config (``epoch=3``).

Hydra answers an unknown key with "Could not override 'epoch'. To append to your config use
+epoch=3": right for a new key, no help for a typo. The keys are read from the YAML files of the
config directory (the main config and every option of every group), so the hint follows the
configs without composing them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ["config_keys", "did_you_mean"]

_UNKNOWN_KEY = re.compile(r"Could not override '([^']+)'")
_APPEND = re.compile(r"use \+(\S+)")


def _flat_keys(node: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in ("defaults", "hydra") or str(key).startswith("_"):
                continue
            name = f"{prefix}{key}"
            yield name
            yield from _flat_keys(value, f"{name}.")


def config_keys(config_dir: Path) -> set[str]:
    """Every dotted key of ``config.yaml`` and of the group options (``optimizer.lr``), and the
    group names (``optimizer``, ``sweep``)."""
    from omegaconf import OmegaConf

    def load(path: Path) -> Any:
        return OmegaConf.to_container(OmegaConf.load(path), resolve=False)

    keys: set[str] = set()
    main = load(config_dir / "config.yaml")
    keys.update(_flat_keys(main))
    for group in (p for p in config_dir.iterdir() if p.is_dir() and p.name != "hydra"):
        keys.add(group.name)
        for option in group.glob("*.yaml"):
            text = option.read_text()
            content = load(option)
            # a `# @package _global_` file (sweep/) sets top-level keys; others sit in the group
            prefix = "" if "@package _global_" in text else f"{group.name}."
            keys.update(_flat_keys(content, prefix))
    return keys


def did_you_mean(message: str, config_dir: Path) -> str | None:
    """For Hydra's "Could not override 'KEY'" message: one line naming the closest key, or
    None when the message is another error or no key is close."""
    match = _UNKNOWN_KEY.search(message)
    if match is None:
        return None
    key = match.group(1).lstrip("+~")
    try:
        known = config_keys(config_dir)
    except Exception:  # an unreadable config: Hydra's own message stands
        return None
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.75)
    if not close:
        return None
    append = _APPEND.search(message)
    value = append.group(1).split("=", 1)[1] if append and "=" in append.group(1) else None
    meant = f"{close[0]}={value}" if value is not None else close[0]
    added = f" (+{key}={value} would add it as a new key)" if value is not None else ""
    return f"{key}: no such key in the config; did you mean {meant}?{added}"
