"""The packaged Hydra config files, read as plain YAML: the library's defaults come from the same
files as the command line's, without importing Hydra or OmegaConf.

Only files without interpolations are read for values (``conf/data/NAME.yaml``,
``conf/optimizer/NAME.yaml``) and ``conf/config.yaml`` for its defaults list.
"""

from __future__ import annotations

from functools import cache
from typing import Any

__all__ = ["option_defaults", "read"]


@cache
def read(*parts: str) -> Any:
    """The YAML file ``conf/<parts...>`` as plain Python values; ``None`` when it is missing."""
    import yaml

    from trainer import CONFIG_DIR

    path = CONFIG_DIR.joinpath(*parts)
    if not path.is_file():
        return None
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def option_defaults(group: str, name: str) -> dict[str, Any]:
    """The keys of ``conf/GROUP/NAME.yaml`` (empty for a name without a file)."""
    loaded = read(group, f"{name}.yaml")
    return dict(loaded) if isinstance(loaded, dict) else {}
