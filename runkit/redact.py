"""A database URL's password kept out of everything a sweep writes.

``hydra.sweeper.storage=postgresql+psycopg2://user:PASSWORD@host/db`` is how a user points a
study at a server, and on a cluster the job logs are often readable by others. The password may
reach: the sweep's lines and errors, errors of SQLAlchemy, psycopg2 and Optuna that quote the
URL, a trial's failure reason (a trial attribute and an MLflow tag), Hydra's files (the sweep's
``multirun.yaml`` and each job's ``.hydra/hydra.yaml``, which hold ``hydra.sweeper.storage`` and
the command line's ``hydra.*`` overrides) and MLflow tags. Each of those goes through here and
says ``user:***@`` instead, as ``sqlalchemy.engine.URL.render_as_string`` writes it.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

__all__ = ["redact_url", "scrub", "scrub_hydra_node", "url_password"]

HIDDEN = "***"
# The password of a URL as written (``scheme://user:password@host``), when SQLAlchemy cannot
# parse it; also with no scheme (``user:password@host/db``, refused as a storage URL).
_WRITTEN = re.compile(r"^(?:[^:/@\s]+://|(?![^/]*://))[^:/@\s]*:([^/@\s]*)@")
# A bare password is replaced in any text only from this length on: a shorter one would hit
# ordinary words; its ``:password@`` form is replaced at any length.
_MIN_BARE = 4


def _written_password(url: str) -> str | None:
    found = _WRITTEN.match(url)
    return found.group(1) if found and found.group(1) else None


def url_password(url: str | None) -> str | None:
    """The password written in ``url`` (as written, percent-encoding included), or None."""
    if not url or "@" not in url:
        return None
    return _written_password(url)


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (unchanged when it has none)."""
    password = url_password(url)
    if password is None:
        return url
    return url.replace(f":{password}@", f":{HIDDEN}@", 1)


def scrub(text: str, *urls: str | None) -> str:
    """``text`` with the passwords of ``urls`` (as written and percent-decoded) replaced by
    ``***``: for messages of libraries that quote a URL or a connection string."""
    for url in urls:
        password = url_password(url)
        if password is None:
            continue
        for secret in {password, unquote(password)}:
            text = text.replace(f":{secret}@", f":{HIDDEN}@")
            if len(secret) >= _MIN_BARE:
                text = text.replace(secret, HIDDEN)
    return text


def scrub_hydra_node(config: Any) -> None:
    """Hide the password of the config's ``hydra.sweeper.storage`` in its ``hydra`` node, in
    place: there and in the command line's ``hydra.*`` overrides, which Hydra writes to a job's
    ``.hydra/hydra.yaml`` (and the sweep to ``multirun.yaml``). Nothing reads them back: workers
    get the URL with their plan."""
    from omegaconf import OmegaConf, open_dict

    url = OmegaConf.select(config, "hydra.sweeper.storage", default=None)
    if not isinstance(url, str) or url_password(url) is None:
        return
    with open_dict(config):
        config.hydra.sweeper.storage = redact_url(url)
        overrides = OmegaConf.select(config, "hydra.overrides.hydra", default=None)
        if overrides is not None:
            config.hydra.overrides.hydra = [scrub(str(o), url) for o in overrides]
