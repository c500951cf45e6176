"""CDS_DATABASE_URL: PostgreSQL URLs go to psycopg 3, anything unusable is a configuration error
that names the variable (never a ModuleNotFoundError at the first query)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from cds_service.database import DatabaseConfigError, database_url, open_engine


@pytest.mark.parametrize(
    "configured",
    ["postgresql://cds@db:5432/cds", "postgres://cds@db/cds", "postgresql+psycopg://cds@db/cds"],
)
def test_postgresql_urls_use_psycopg_3(configured: str) -> None:
    url = database_url(configured, Path("/instance"))
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.database, url.username) == ("db", "cds", "cds")


def test_empty_means_the_sqlite_file_in_the_instance_folder() -> None:
    url = database_url("", Path("/srv/instance"))
    assert url.render_as_string() == "sqlite:////srv/instance/cds-ledger.sqlite3"


@pytest.mark.parametrize(
    ("configured", "problem"),
    [
        ("cds.example.org/ledger", "not a database URL"),
        ("mysql://cds@db/cds", "unsupported database 'mysql'"),
        ("postgresql+psycopg2://cds@db/cds", "driver 'psycopg2'"),
    ],
)
def test_unusable_urls_are_configuration_errors(configured: str, problem: str) -> None:
    with pytest.raises(DatabaseConfigError, match="CDS_DATABASE_URL") as raised:
        database_url(configured, Path("/instance"))
    assert problem in str(raised.value)


def test_a_postgresql_url_without_the_driver_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "psycopg" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(DatabaseConfigError, match=r"cds-service\[postgres\]"):
        database_url("postgresql://cds@db/cds", Path("/instance"))


def test_each_backend_answers(database_url: str, tmp_path: Path) -> None:
    engine = open_engine(database_url, tmp_path)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT 1")) == 1
    expected = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    assert engine.dialect.name == expected
