"""/healthz says alive; /readyz says whether to send calls here: database reachable and at this
release's schema, trusted issuers loaded, hooks loaded; 503 naming the failing check."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from cds_service import create_app
from cds_service.extensions import AUTH, LEDGER, SERVICES
from tests.fake_ehr import write_trusted_issuers


def secured(database_url: str, tmp_path: Path) -> Flask:
    return create_app(
        {
            "AUTH_ENABLED": True,
            "TRUSTED_ISSUERS_FILE": str(write_trusted_issuers(tmp_path)),
            "PUBLIC_BASE_URL": "https://cds.example.org",
            "DATABASE_URL": database_url,
        }
    )


def test_ready_when_everything_is_there(database_url: str, tmp_path: Path) -> None:
    response = secured(database_url, tmp_path).test_client().get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready" and body["failing"] == []
    assert body["checks"]["database"].startswith("ok (schema ")
    assert body["checks"]["trusted_issuers"] == "3 issuer(s)"
    assert body["checks"]["hooks"] == "3 service(s)"
    assert body["checks"]["replay_cache"].startswith("ok")


def test_a_database_that_cannot_be_reached_is_not_ready_but_alive(
    database_url: str, tmp_path: Path
) -> None:
    app = secured(database_url, tmp_path)
    app.extensions[LEDGER].engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["failing"] == ["database"]
    assert body["checks"]["database"] == "unreachable (OperationalError)"
    assert "127.0.0.1" not in response.get_data(as_text=True)
    assert client.get("/healthz").status_code == 200


def test_a_database_behind_this_releases_schema_is_not_ready(
    database_url: str, tmp_path: Path
) -> None:
    app = secured(database_url, tmp_path)
    with app.extensions[LEDGER].engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0002'"))
    body = app.test_client().get("/readyz").get_json()
    assert body["failing"] == ["database"]
    assert body["checks"]["database"].startswith("schema revision 0002, needs ")


def test_no_trusted_issuer_or_no_service_is_not_ready(database_url: str, tmp_path: Path) -> None:
    app = secured(database_url, tmp_path)
    app.extensions[AUTH].issuers = {}
    app.extensions[SERVICES] = {}
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["failing"] == ["trusted_issuers", "hooks"]


def test_with_authentication_off_issuers_are_not_required(client: FlaskClient) -> None:
    body = client.get("/readyz").get_json()
    assert body["checks"]["trusted_issuers"] == "disabled (authentication off)"


def test_a_shared_replay_store_that_is_down_is_not_ready(database_url: str, tmp_path: Path) -> None:
    app = secured(database_url, tmp_path)

    class Down:
        def first_use(self, key: str, expires_at: float) -> bool:
            return True

        def health(self) -> dict[str, object]:
            return {"shared_ok": False, "outage_seconds": 12.5}

    app.extensions[AUTH].replay_cache = Down()
    body = app.test_client().get("/readyz").get_json()
    assert body["failing"] == ["replay_cache"]
    assert body["checks"]["replay_cache"] == "shared store down for 12.5 s; host-local only"
