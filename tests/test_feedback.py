"""The feedback endpoint and the card ledger, on SQLite and on PostgreSQL: validation per spec,
storage joined to the cards issued, unknown cards flagged, and the per-rule report."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from cds_service import create_app
from cds_service.ledger import feedback, get_ledger, issued_cards
from tests.conftest import patient_view_request

GUIDANCE = "/cds-services/immunotherapy-guidance"
FEEDBACK = GUIDANCE + "/feedback"


@pytest.fixture
def app(database_url: str) -> Flask:
    """Every test here runs on SQLite and on PostgreSQL (see tests/databases.py)."""
    return create_app({"TESTING": True, "AUTH_ENABLED": False, "DATABASE_URL": database_url})


def issue_card(client: FlaskClient) -> dict[str, Any]:
    cards = client.post(GUIDANCE, json=patient_view_request()).get_json()["cards"]
    assert len(cards) == 1
    card: dict[str, Any] = cards[0]
    return card


def rows(app: Flask, table: Any) -> list[Any]:
    with app.app_context():
        get_ledger().flush()
        with get_ledger().engine.connect() as conn:
            return list(conn.execute(select(table)))


def test_issued_cards_are_recorded_with_rule_and_a_hashed_patient_id(
    app: Flask, client: FlaskClient, temporary_rule: str
) -> None:
    card = issue_card(client)
    [row] = rows(app, issued_cards)
    assert row.card_uuid == card["uuid"]
    assert row.service_id == "immunotherapy-guidance"
    assert row.hook_instance == patient_view_request()["hookInstance"]
    assert row.patient_hash != "pat-1" and len(row.patient_hash) == 64


def test_accepted_feedback_is_stored_joined_to_the_card(
    app: Flask, client: FlaskClient, temporary_rule: str
) -> None:
    card = issue_card(client)
    response = client.post(
        FEEDBACK,
        json={
            "feedback": [
                {
                    "card": card["uuid"],
                    "outcome": "accepted",
                    "acceptedSuggestions": [{"id": "s-1"}],
                    "outcomeTimestamp": "2026-11-21T10:05:31Z",
                }
            ]
        },
    )
    assert response.status_code == 200
    assert response.get_json() == {"stored": 1}
    [row] = rows(app, feedback)
    assert row.card_known is True and row.outcome == "accepted"
    with app.app_context():
        [report] = [r for r in get_ledger().report() if r.rule_id == temporary_rule]
    assert (report.issued, report.accepted, report.overridden) == (1, 1, 0)


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        (None, "no reason given"),
        (
            {
                "reason": {
                    "code": "other",
                    "system": "https://example.org/reasons",
                    "display": "Other reason",
                }
            },
            "Other reason",
        ),
        ({"reason": {"code": "d7ecf885", "system": "https://example.org/reasons"}}, "d7ecf885"),
        ({"userComment": "Patient declined"}, "comment only"),
    ],
)
def test_overridden_feedback_counts_its_reason_in_the_report(
    app: Flask, client: FlaskClient, temporary_rule: str, override: Any, reason: str
) -> None:
    card = issue_card(client)
    item: dict[str, Any] = {
        "card": card["uuid"],
        "outcome": "overridden",
        "outcomeTimestamp": "2026-11-21T10:05:31.52+01:00",
    }
    if override:
        item["overrideReason"] = override
    assert client.post(FEEDBACK, json={"feedback": [item]}).status_code == 200
    with app.app_context():
        [report] = [r for r in get_ledger().report() if r.rule_id == temporary_rule]
    assert report.overridden == 1
    assert report.override_reasons == {reason: 1}


def test_feedback_for_an_unknown_card_is_stored_and_flagged(
    app: Flask, client: FlaskClient
) -> None:
    response = client.post(
        FEEDBACK,
        json={
            "feedback": [
                {
                    "card": "never-issued",
                    "outcome": "overridden",
                    "outcomeTimestamp": "2026-11-21T10:05:31Z",
                }
            ]
        },
    )
    assert response.get_json() == {"stored": 1, "unknownCards": ["never-issued"]}
    [row] = rows(app, feedback)
    assert row.card_known is False
    with app.app_context():
        assert get_ledger().report()[-1].unmatched_feedback == 1


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"outcome": "accepted", "acceptedSuggestions": [{"id": "s"}]}, "feedback.0.card"),
        ({"card": "c", "outcome": "ignored"}, "feedback.0.outcome"),
        ({"card": "c", "outcome": "accepted"}, "feedback.0"),
        (
            {"card": "c", "outcome": "accepted", "acceptedSuggestions": []},
            "feedback.0.acceptedSuggestions",
        ),
        (
            {"card": "c", "outcome": "accepted", "acceptedSuggestions": [{}]},
            "feedback.0.acceptedSuggestions.0.id",
        ),
        (
            {"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-11-21 10:05"},
            "feedback.0.outcomeTimestamp",
        ),
        (
            {"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-11-21T10:05:31"},
            "feedback.0.outcomeTimestamp",
        ),
        (
            {"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-13-45T10:05:31Z"},
            "feedback.0.outcomeTimestamp",
        ),
        (
            {"card": "c", "outcome": "overridden", "overrideReason": {"reason": {"code": "x"}}},
            "feedback.0.overrideReason.reason.system",
        ),
    ],
)
def test_invalid_feedback_is_400_naming_the_field(
    app: Flask, client: FlaskClient, item: dict[str, Any], field: str
) -> None:
    item.setdefault("outcomeTimestamp", "2026-11-21T10:05:31Z")
    response = client.post(FEEDBACK, json={"feedback": [item]})
    assert response.status_code == 400
    assert field in [d["field"] for d in response.get_json()["details"]]
    assert rows(app, feedback) == []


@pytest.mark.parametrize("body", [{}, {"feedback": []}, {"feedback": "x"}])
def test_feedback_without_items_is_400(client: FlaskClient, body: dict[str, Any]) -> None:
    assert client.post(FEEDBACK, json=body).status_code == 400


def test_feedback_for_an_unknown_service_is_404(client: FlaskClient) -> None:
    assert client.post("/cds-services/nope/feedback", json={"feedback": []}).status_code == 404
