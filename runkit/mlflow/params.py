"""A resolved config as MLflow params: keys flattened with dots, values as YAML shows them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from runkit.redact import redact_url

__all__ = ["flatten_config"]


def _format_value(value: Any) -> str:
    """A config value as the text the YAML config would show: ``null``, ``true``, ``[64, 32]``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_format_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return "[" + ", ".join(_format_value(v) for v in value) + "]"
    if isinstance(value, str):
        return redact_url(value)  # mlflow.tracking_uri=postgresql://user:PASSWORD@host/db
    return str(value)


def flatten_config(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested mappings to dotted keys with string values.

    ``{"optimizer": {"lr": 0.1}, "model": {"hidden": [64, 32]}, "loss": None}`` gives
    ``{"optimizer.lr": "0.1", "model.hidden": "[64, 32]", "loss": "null"}``. Nothing is
    skipped: an empty mapping is kept as ``"{}"``. A URL's password reads ``***``, as
    everywhere a run or a sweep writes (:mod:`runkit.redact`).
    """
    flat: dict[str, str] = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and len(value) > 0:
            flat.update(flatten_config(value, prefix=f"{name}."))
        else:
            flat[name] = _format_value(value)
    return flat
