"""Alembic migrations, on SQLite and PostgreSQL: the migrations build exactly `schema.metadata`;
PostgreSQL is never changed behind the operator's back (the app refuses to start until `db
upgrade`), SQLite upgrades itself; ledgers made before migrations are adopted; concurrent upgrades
are safe; each issued card records the caller's `iss` and `tenant`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect, select, text

from cds_service import create_app, migrate
from cds_service.cli import main
from cds_service.database import open_engine
from cds_service.ledger import get_ledger
from cds_service.schema import issued_cards, metadata
from tests.conftest import patient_seen_rule, patient_view_request, service_running
from tests.fake_ehr import GROUP_ISS, hospital_group, write_trusted_issuers

HEAD = migrate.head()


def test_the_migrations_build_exactly_the_schema(empty_database_url: str, tmp_path: Path) -> None:
    engine = open_engine(empty_database_url, tmp_path)
    assert migrate.upgrade(engine) == (None, HEAD)
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []
    assert migrate.current(engine) == HEAD


def test_every_revision_downgrades_and_upgrades_again(
    empty_database_url: str, tmp_path: Path
) -> None:
    engine = open_engine(empty_database_url, tmp_path)
    migrate.upgrade(engine)
    assert migrate.downgrade(engine, migrate.BASELINE) == (HEAD, migrate.BASELINE)
    assert "issuer" not in {c["name"] for c in inspect(engine).get_columns("issued_cards")}
    assert migrate.upgrade(engine) == (migrate.BASELINE, HEAD)


def test_postgresql_is_never_migrated_by_the_service_itself(
    empty_database_url: str, tmp_path: Path
) -> None:
    config = {"AUTH_ENABLED": False, "DATABASE_URL": empty_database_url}
    if empty_database_url.startswith("sqlite"):
        create_app(config)  # the embedded default upgrades itself
        assert migrate.current(open_engine(empty_database_url, tmp_path)) == HEAD
        return
    with pytest.raises(migrate.SchemaNotReady, match="run `cds-service db upgrade`"):
        create_app(config)
    engine = open_engine(empty_database_url, tmp_path)
    assert not inspect(engine).get_table_names()  # nothing created
    migrate.upgrade(engine, migrate.BASELINE)
    with pytest.raises(migrate.SchemaNotReady, match=f"at schema revision 0001, .* needs {HEAD}"):
        create_app(config)
    migrate.upgrade(engine)
    create_app(config)


def test_a_database_newer_than_the_code_is_refused(empty_database_url: str, tmp_path: Path) -> None:
    engine = open_engine(empty_database_url, tmp_path)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(migrate.SchemaNotReady, match="newer than this service knows"):
        create_app({"AUTH_ENABLED": False, "DATABASE_URL": empty_database_url})


def test_a_ledger_made_before_migrations_is_adopted_with_its_rows(
    empty_database_url: str, tmp_path: Path
) -> None:
    engine = open_engine(empty_database_url, tmp_path)
    migrate.upgrade(engine, migrate.BASELINE)  # the tables release 0.1.0's create_all made
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(
            text(
                "INSERT INTO issued_cards (card_uuid, service_id, hook_instance, patient_hash,"
                " indicator, summary, issued_at) VALUES ('c-1', 's', 'h', 'p', 'info', 'x',"
                " '2026-01-01 00:00:00+00:00')"
            )
        )
    assert migrate.current(engine) is None
    assert migrate.upgrade(engine) == (None, HEAD)
    with engine.connect() as conn:
        assert conn.execute(select(issued_cards.c.card_uuid, issued_cards.c.issuer)).all() == [
            ("c-1", None)
        ]


def test_db_current_and_upgrade_commands(
    monkeypatch: pytest.MonkeyPatch, empty_database_url: str
) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", empty_database_url)
    before = CliRunner().invoke(main, ["db", "current"])
    assert before.exit_code == 1 and "run `cds-service db upgrade`" in before.output
    upgraded = CliRunner().invoke(main, ["db", "upgrade"])
    assert upgraded.exit_code == 0 and f"upgraded from (empty) to {HEAD}" in upgraded.output
    again = CliRunner().invoke(main, ["db", "upgrade"])
    assert f"already at revision {HEAD}" in again.output
    after = CliRunner().invoke(main, ["db", "current"])
    assert after.exit_code == 0 and "up to date" in after.output
    assert "password" not in after.output


def test_four_upgrades_started_at_once_on_an_empty_database_all_succeed(
    empty_database_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "CDS_DATABASE_URL": empty_database_url}
    for _round in range(2):
        engine = open_engine(empty_database_url, tmp_path)
        metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        engine.dispose()
        started = time.monotonic()
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "cds_service", "db", "upgrade"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for _ in range(4)
        ]
        outputs = [p.communicate(timeout=60)[0].decode() for p in processes]
        assert [p.returncode for p in processes] == [0, 0, 0, 0], outputs
        assert sum("upgraded from (empty)" in o for o in outputs) == 1, outputs
        assert time.monotonic() - started < 60
        assert migrate.current(open_engine(empty_database_url, tmp_path)) == HEAD


def test_each_issued_card_records_the_callers_issuer_and_tenant(
    database_url: str, tmp_path: Path
) -> None:
    app = create_app(
        {
            "AUTH_ENABLED": True,
            "TRUSTED_ISSUERS_FILE": str(write_trusted_issuers(tmp_path)),
            "PUBLIC_BASE_URL": "https://cds.example.org",
            "DATABASE_URL": database_url,
        }
    )
    path = "/cds-services/immunotherapy-guidance"
    token = hospital_group().token(
        "https://cds.example.org" + path, time.time(), tenant="north-hospital"
    )
    with service_running(app, "immunotherapy-guidance", patient_seen_rule()):
        response = app.test_client().post(
            path, json=patient_view_request(), headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200
    with app.app_context():
        get_ledger().flush()
        with get_ledger().engine.connect() as conn:
            rows = conn.execute(select(issued_cards.c.issuer, issued_cards.c.tenant)).all()
    assert rows == [(GROUP_ISS, "north-hospital")]
