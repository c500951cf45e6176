"""Duplicate alerts: a card overridden at order-select is not shown again at order-sign for the
same unchanged orders in the same encounter; anything else repeats it (repeats.py)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from cds_service import create_app, extensions
from cds_service.ledger import get_ledger
from cds_service.scenarios import load_scenarios
from cds_service.schema import card_rules, issued_cards

GBS = load_scenarios()["gbs-mp"]  # methylprednisolone ordered in GBS: a critical card
RULE = "gbs-corticosteroid-not-recommended"
SELECT = "/cds-services/immunotherapy-order-select"
SIGN = "/cds-services/immunotherapy-order-sign"
ENCOUNTER = "enc-1"


@pytest.fixture
def app(database_url: str) -> Flask:
    return create_app(
        {
            "AUTH_ENABLED": False,
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": database_url,
            "CLOCK": lambda: GBS.now,
        }
    )


def select_request(app: Flask, encounter: str | None = ENCOUNTER) -> dict[str, Any]:
    body = GBS.request(extensions.services(app))
    if encounter:
        body["context"]["encounterId"] = encounter
    return body


def sign_request(
    select_body: dict[str, Any], change: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    body = copy.deepcopy(select_body)
    body["hook"] = "order-sign"
    body["hookInstance"] = "a-later-call-" + body["hookInstance"]
    del body["context"]["selections"]
    if change:
        change(body["context"])
    return body


def rule_cards(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    cards: list[dict[str, Any]] = response.get_json()["cards"]
    return [
        c for c in cards if "corticosteroid" in c["summary"].lower() or c["indicator"] == "critical"
    ]


def answer(app: Flask, card: dict[str, Any], outcome: str) -> None:
    item: dict[str, Any] = {
        "card": card["uuid"],
        "outcome": outcome,
        "outcomeTimestamp": "2026-03-01T12:05:00Z",
    }
    if outcome == "accepted":
        item["acceptedSuggestions"] = [{"id": card["suggestions"][0]["uuid"]}]
    else:
        item["overrideReason"] = {"userComment": "Discussed with the neurologist"}
    response = app.test_client().post(SELECT + "/feedback", json={"feedback": [item]})
    assert response.status_code == 200, response.get_data(as_text=True)


def selected_and_answered(app: Flask, outcome: str | None, **request: Any) -> dict[str, Any]:
    body = select_request(app, **request)
    [card] = [c for c in rule_cards(app.test_client().post(SELECT, json=body))]
    if outcome:
        answer(app, card, outcome)
    with app.app_context():
        get_ledger().flush()
    return body


def test_an_overridden_card_is_not_repeated_at_order_sign(app: Flask) -> None:
    body = selected_and_answered(app, "overridden")
    response = app.test_client().post(SIGN, json=sign_request(body))
    assert rule_cards(response) == []
    with app.app_context():
        get_ledger().flush()
        with get_ledger().engine.connect() as conn:
            services = [
                row.service_id
                for row in conn.execute(
                    select(issued_cards).join(card_rules).where(card_rules.c.rule_id == RULE)
                )
            ]
    assert services == [
        "immunotherapy-order-select"
    ]  # the left-out repeat is not recorded as shown


def test_a_server_rewriting_meta_and_text_is_not_a_changed_order(app: Flask) -> None:
    def rewritten(context: dict[str, Any]) -> None:
        order = context["draftOrders"]["entry"][0]["resource"]
        order["meta"] = {"versionId": "2", "lastUpdated": "2026-03-01T12:04:00Z"}
        order["text"] = {"status": "generated", "div": "<div>methylprednisolone</div>"}

    body = selected_and_answered(app, "overridden")
    assert rule_cards(app.test_client().post(SIGN, json=sign_request(body, rewritten))) == []


def _dose_changed(context: dict[str, Any]) -> None:
    order = context["draftOrders"]["entry"][0]["resource"]
    order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = 500


def _order_added(context: dict[str, Any]) -> None:
    second = copy.deepcopy(context["draftOrders"]["entry"][0])
    second["resource"]["id"] = "gbs-mp-draft-4"
    context["draftOrders"]["entry"].append(second)


def _other_encounter(context: dict[str, Any]) -> None:
    context["encounterId"] = "enc-2"


def _no_encounter(context: dict[str, Any]) -> None:
    del context["encounterId"]


@pytest.mark.parametrize(
    ("outcome", "change"),
    [
        (None, None),  # nobody answered: not an override
        ("accepted", None),
        ("overridden", _dose_changed),
        ("overridden", _order_added),
        ("overridden", _other_encounter),
        ("overridden", _no_encounter),
    ],
    ids=[
        "no feedback",
        "accepted",
        "dose changed",
        "order added",
        "other encounter",
        "no encounter",
    ],
)
def test_anything_else_repeats_the_card(app: Flask, outcome: str | None, change: Any) -> None:
    body = selected_and_answered(app, outcome)
    assert len(rule_cards(app.test_client().post(SIGN, json=sign_request(body, change)))) == 1


def test_without_an_encounter_at_order_select_nothing_is_remembered(app: Flask) -> None:
    body = selected_and_answered(app, "overridden", encounter=None)
    body["context"]["encounterId"] = ENCOUNTER
    assert len(rule_cards(app.test_client().post(SIGN, json=sign_request(body)))) == 1


def test_a_card_both_accepted_and_overridden_repeats(app: Flask) -> None:
    body = select_request(app)
    [card] = rule_cards(app.test_client().post(SELECT, json=body))
    answer(app, card, "overridden")
    answer(app, card, "accepted")
    assert len(rule_cards(app.test_client().post(SIGN, json=sign_request(body)))) == 1


def test_the_encounter_and_orders_are_stored_only_as_keyed_hashes(
    app: Flask, tmp_path: Path
) -> None:
    selected_and_answered(app, None)
    with app.app_context(), get_ledger().engine.connect() as conn:
        [row] = conn.execute(
            select(issued_cards.c.encounter_hash, issued_cards.c.draft_orders)
        ).all()
    assert ENCOUNTER not in row.encounter_hash and len(row.encounter_hash) == 64
    assert "methylprednisolone" not in row.draft_orders and "gbs-mp" not in row.draft_orders
