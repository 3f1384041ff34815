"""A trial's Hydra config, composed once per distinct choice of config groups.

Hydra's launchers compose every job from scratch (``load_sweep_config``: the defaults list, every
YAML file, the merge): 50 ms per trial on an idle core, 65 ms in a running sweep, 150 ms under a
profiler; about 2.6 s of a 40-trial ``sweep=digits`` (benchmarks/RESULTS.md, per-trial cost).
Most of a trial's overrides only change values (``optimizer.lr=0.03``); only group choices
(``optimizer=momentum``) change which files are composed. So the config is composed once per
distinct list of group choices and the value overrides are applied to a copy, exactly as Hydra
applies them after composing (``OmegaConf.update(..., merge=True)`` in order); the hydra node
records the trial's overrides as Hydra would. A copy costs ~3 ms.

Anything Hydra treats specially (``+key``, ``++key``, ``~key``, a ``@package``, a ``hydra.*`` key,
a sweep value) takes Hydra's own path, as does an override the copy rejects, so that Hydra raises
its own error for it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

__all__ = ["TrialConfigs"]

_MAX_CACHED = 64  # distinct group choices kept; a conditional search space has a handful


class TrialConfigs:
    """``compose(overrides)`` = Hydra's ``load_sweep_config(master, overrides)``, cached."""

    def __init__(self, config_loader: Any, master: Any) -> None:
        self.config_loader = config_loader
        self.master = master
        self._bases: dict[tuple[str, ...], Any] = {}

    def compose(self, overrides: Sequence[str]) -> Any:
        """The job config of a trial with ``overrides`` (a fresh DictConfig each call)."""
        overrides = list(overrides)
        split = self._parse(overrides)
        if split is not None:
            groups, values, parsed = split
            try:
                return self._from_base(groups, values, parsed, overrides)
            except Exception:  # Hydra's own path raises the user's error
                pass
        return self.config_loader.load_sweep_config(self.master, overrides)

    def _parse(self, overrides: list[str]) -> tuple[list[str], list[Any], list[Any]] | None:
        """(group choices as written, value overrides, all overrides) parsed, or None when an
        override needs Hydra's own handling."""
        from hydra.core.override_parser.overrides_parser import OverridesParser
        from hydra.core.override_parser.types import OverrideType

        repository = getattr(self.config_loader, "repository", None)
        if repository is None:
            return None
        try:
            parsed = OverridesParser.create().parse_overrides(overrides)
        except Exception:  # a malformed override: Hydra reports it
            return None
        groups: list[str] = []
        values: list[Any] = []
        for override in parsed:
            if (override.is_sweep_override() or override.package is not None
                    or override.is_hydra_override()):
                return None
            # Hydra's own rule (defaults_list.Overrides): a key that is a config group, with a
            # value that is not a mapping, chooses a file; everything else sets a value.
            is_group = repository.group_exists(override.key_or_group)
            if is_group and not isinstance(override.value(), dict):
                if override.type != OverrideType.CHANGE:
                    return None  # +group=..., ~group: rare, composed by Hydra
                groups.append(str(override.input_line))
            elif override.type == OverrideType.CHANGE:
                values.append(override)
            else:
                return None
        return groups, values, parsed

    def _from_base(self, groups: list[str], values: list[Any], parsed: list[Any],
                   overrides: list[str]) -> Any:
        from omegaconf import OmegaConf

        from runkit._private_apis import overrides_dirname

        key = tuple(groups)
        base = self._bases.get(key)
        if base is None:
            base = self.config_loader.load_sweep_config(self.master, groups)
            if len(self._bases) >= _MAX_CACHED:
                self._bases.pop(next(iter(self._bases)))
            self._bases[key] = base
        config = copy.deepcopy(base)
        for override in values:  # as ConfigLoaderImpl._apply_overrides_to_config does
            OmegaConf.update(config, override.key_or_group, override.value(), merge=True)
        # The hydra node as Hydra fills it: every task override in order, and the job's
        # directory name made from them.
        hydra_node = config.hydra
        hydra_node.overrides.task = list(overrides)
        dirname = hydra_node.job.config.override_dirname
        hydra_node.job.override_dirname = overrides_dirname(
            overrides=parsed,
            kv_sep=dirname.kv_sep,
            item_sep=dirname.item_sep,
            exclude_keys=dirname.exclude_keys,
        )
        OmegaConf.copy_cache(from_config=self.master, to_config=config)
        return config
