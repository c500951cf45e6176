"""Shared fixtures (Flask tutorial style): `app`, `client`, `runner`, and a rule registered
only for one test to prove the pipeline end to end."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy.engine import URL

from cds_service import create_app
from cds_service.contracts import Hook
from cds_service.extensions import SERVICES
from cds_service.hook_requests import hook_request
from tests import databases

pytest_plugins = ["tests.log_hygiene_plugin"]

ROOT = Path(__file__).resolve().parent.parent
SPEC_EXAMPLES = ROOT / "tests" / "data" / "spec_examples"


def spec_example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SPEC_EXAMPLES / f"{name}.json").read_text())
    return loaded


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "AUTH_ENABLED": False,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
        }
    )


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[URL]:
    """A database of this session's own on the PostgreSQL server of CDS_TEST_DATABASE_URL."""
    server = databases.server_url()
    if server is None:
        pytest.skip(databases.SKIP_REASON)
    with databases.session_database(server) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """CDS_DATABASE_URL of an empty database, for a test that must pass on both backends: a fresh
    SQLite file, and a fresh PostgreSQL schema (skipped, with the reason, when no server is
    configured)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
        return
    database: URL = request.getfixturevalue("postgres_database")
    with databases.fresh_schema(database) as url:
        yield url


@pytest.fixture
def database_url(empty_database_url: str, tmp_path: Path) -> str:
    """`empty_database_url` after `cds-service db upgrade`, as an operator leaves it."""
    from cds_service import migrate
    from cds_service.database import open_engine

    engine = open_engine(empty_database_url, tmp_path)
    migrate.upgrade(engine)
    engine.dispose()
    return empty_database_url


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


HOOK_INSTANCE = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"
EMPTY_PREFETCH: dict[str, Any] = {
    "patient": {"resourceType": "Patient", "id": "pat-1", "birthDate": "1980-01-01"},
    "conditions": {"resourceType": "Bundle", "type": "searchset", "total": 0},
    "observations": None,
    "medications": None,
    "procedures": None,
}


def patient_view_request(**overrides: Any) -> dict[str, Any]:
    body = hook_request(
        "patient-view",
        "pat-1",
        user_id="Practitioner/example",
        hook_instance=HOOK_INSTANCE,
        prefetch=copy.deepcopy(EMPTY_PREFETCH),
    )
    body.update(overrides)
    return body


def draft_orders(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


def order_request(hook: str, orders: list[dict[str, Any]], **context: Any) -> dict[str, Any]:
    """An order hook on the empty record; order-select selects the first order by default."""
    body = hook_request(
        hook,
        "pat-1",
        user_id="Practitioner/example",
        hook_instance=HOOK_INSTANCE,
        prefetch=copy.deepcopy(EMPTY_PREFETCH),
        draft_orders=orders,
        selections=[f"{o['resourceType']}/{o['id']}" for o in orders[:1]],
    )
    body["context"].update(context)
    return body


def patient_seen_rule() -> Any:
    """A simple patient-view rule for tests: one info card saying the pipeline ran."""
    from cds_service import rules
    from cds_service.facts.model import PatientFacts
    from cds_service.findings import Citation, Coding, Evidence, Finding, Urgency

    rule_id = "test-patient-seen"

    def patient_seen(facts: PatientFacts) -> list[Finding]:
        return [
            Finding(
                rule_id=rule_id,
                urgency=Urgency.INFO,
                summary="Test card: the pipeline ran",
                detail="A finding rendered end to end.",
                citation=Citation(label="Test source", url="https://example.org/source"),
                evidence=(Evidence(label="Patient", value=facts.patient_id),),
                override_reasons=(Coding("https://example.org/reasons", "other", "Other reason"),),
            )
        ]

    return rules.Rule(rule_id, frozenset({Hook.PATIENT_VIEW}), patient_seen, "000")


@pytest.fixture
def temporary_rule(app: Flask) -> Iterator[str]:
    """Let the `app` fixture's patient-view service run a simple test rule for one test."""
    rule = patient_seen_rule()
    with service_running(app, "immunotherapy-guidance", rule):
        yield rule.id


@contextmanager
def service_running(app: Flask, service_id: str, *extra: Any) -> Iterator[None]:
    """Let one service of `app` run extra rules (a test's own) after its listed ones."""
    services = app.extensions[SERVICES]
    original = services[service_id]
    services[service_id] = replace(original, rules=(*original.rules, *extra))
    try:
        yield
    finally:
        services[service_id] = original
