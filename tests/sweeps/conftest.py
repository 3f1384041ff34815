"""Services for the scale-out tests: a PostgreSQL database and an MLflow tracking server.

``.ci/services.sh`` starts both and exports their URLs (``TRAINER_TEST_PG_URL``,
``TRAINER_TEST_MLFLOW_URL``) with ``TRAINER_TEST_CLUSTER=required``: then a missing service
fails the tests that need it. Elsewhere they skip, saying what to start.
"""

from __future__ import annotations

import os
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

HOW = "run `source .ci/services.sh` first (it starts PostgreSQL 15 and an MLflow server)"


def _missing(reason: str) -> None:
    if os.environ.get("TRAINER_TEST_CLUSTER") == "required":
        pytest.fail(f"{reason} (TRAINER_TEST_CLUSTER=required)")
    pytest.skip(f"{reason}: {HOW}")


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A PostgreSQL database for Optuna studies (give each test its own study name)."""
    url = os.environ.get("TRAINER_TEST_PG_URL")
    if not url:
        _missing("no PostgreSQL: TRAINER_TEST_PG_URL is not set")
    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(url)
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT 1"))
        engine.dispose()
    except Exception as error:
        _missing(f"PostgreSQL at TRAINER_TEST_PG_URL does not answer ({type(error).__name__})")
    return url


@pytest.fixture
def fresh_pg_database(pg_url: str) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    import sqlalchemy
    from sqlalchemy.engine import make_url

    # Named after the role (.ci/services.sh drops ROLE_fresh_* at exit, and only its own).
    name = f"{make_url(pg_url).username}_fresh_{uuid.uuid4().hex[:10]}"
    engine = sqlalchemy.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(scope="session")
def mlflow_server() -> str:
    """The URL of an MLflow tracking server (on PostgreSQL, proxying artifacts)."""
    url = os.environ.get("TRAINER_TEST_MLFLOW_URL")
    if not url:
        _missing("no MLflow server: TRAINER_TEST_MLFLOW_URL is not set")
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=10) as answer:
            if answer.status != 200:
                raise OSError(f"status {answer.status}")
    except OSError as error:
        _missing(f"the MLflow server at {url} does not answer /health ({error})")
    return url
