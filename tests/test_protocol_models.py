"""The wire models accept the spec's own examples and make invalid cards impossible."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cds_service.protocol.discovery import DiscoveryResponse
from cds_service.protocol.feedback import FeedbackRequest
from cds_service.protocol.request import HookRequest, parse_context
from cds_service.protocol.response import Action, Card, CdsResponse, Link
from tests.conftest import spec_example


@pytest.mark.parametrize("name", ["request-patient-view", "request-with-extension"])
def test_spec_request_examples_parse_unchanged(name: str) -> None:
    body = spec_example(name)
    request = HookRequest.model_validate(body)
    assert request.hook == body["hook"]
    assert request.hookInstance == body["hookInstance"]


def test_spec_request_example_context_is_a_valid_patient_view_context() -> None:
    context = parse_context("patient-view", spec_example("request-patient-view")["context"])
    assert context.patientId == "1288992"
    assert context.encounterId == "89284"


@pytest.mark.parametrize(
    "name",
    ["response-cards", "response-cards-2", "response-system-actions"],
)
def test_spec_response_examples_parse_and_serialise_unchanged(name: str) -> None:
    body = spec_example(name)
    wire = CdsResponse.model_validate(body).to_wire()
    # Our models give every card a uuid (for feedback); the spec's examples sometimes omit it.
    for sent, received in zip(wire["cards"], body["cards"], strict=True):
        generated = sent.pop("uuid")
        assert generated == received.get("uuid", generated)
    expected_cards = [{k: v for k, v in c.items() if k != "uuid"} for c in body["cards"]]
    assert wire == {**body, "cards": expected_cards}


def test_spec_autolaunchable_example_is_refused_for_omitting_the_required_indicator() -> None:
    # The 2.0.1 text's autolaunchable example has no `indicator`, which its own Card table makes
    # REQUIRED; we never send such a card. With the indicator added, the rest of it parses.
    body = spec_example("response-autolaunchable")
    with pytest.raises(ValidationError, match="indicator"):
        CdsResponse.model_validate(body)
    body["cards"][0]["indicator"] = "info"
    assert CdsResponse.model_validate(body).to_wire() == body


@pytest.mark.parametrize("name", ["action-create", "action-update", "action-delete"])
def test_spec_action_examples_parse(name: str) -> None:
    body = spec_example(name)
    assert Action.model_validate(body).model_dump(exclude_none=True) == body


@pytest.mark.parametrize(
    "name", ["feedback-accepted", "feedback-overridden", "feedback-overridden-reason"]
)
def test_spec_feedback_examples_parse(name: str) -> None:
    body = spec_example(name)
    parsed = FeedbackRequest.model_validate(body)
    assert parsed.feedback[0].card == body["feedback"][0]["card"]


@pytest.mark.parametrize("name", ["discovery", "discovery-with-extension"])
def test_spec_discovery_examples_parse(name: str) -> None:
    DiscoveryResponse.model_validate(spec_example(name))


def full_card(**overrides: Any) -> dict[str, Any]:
    card: dict[str, Any] = {
        "uuid": "9f1c8a3e-0000-4000-8000-000000000001",
        "summary": "Use IVIG instead of corticosteroids in Guillain-Barré syndrome",
        "detail": "**Markdown** detail",
        "indicator": "critical",
        "source": {
            "label": "EAN/PNS GBS guideline 2023",
            "url": "https://doi.org/10.1111/ene.16073",
            "icon": "https://example.org/icon-100px.png",
            "topic": {"system": "https://example.org/topics", "code": "gbs"},
        },
        "suggestions": [
            {
                "label": "Replace with IVIG",
                "uuid": "9f1c8a3e-0000-4000-8000-000000000002",
                "isRecommended": True,
                "actions": [
                    {
                        "type": "delete",
                        "description": "Remove the steroid order",
                        "resourceId": "MedicationRequest/draft-1",
                    },
                    {
                        "type": "create",
                        "description": "Order IVIG",
                        "resource": {
                            "resourceType": "MedicationRequest",
                            "status": "draft",
                            "intent": "order",
                        },
                    },
                ],
            }
        ],
        "selectionBehavior": "at-most-one",
        "overrideReasons": [
            {
                "system": "https://example.org/reasons",
                "code": "other-indication",
                "display": "Steroid is for another indication",
            },
        ],
        "links": [
            {"label": "Guideline", "url": "https://doi.org/10.1111/ene.16073", "type": "absolute"},
            {
                "label": "Dose app",
                "url": "https://smart.example.org/launch",
                "type": "smart",
                "appContext": '{"drug":"ivig"}',
                "autolaunchable": False,
            },
        ],
    }
    card.update(overrides)
    return card


def test_a_response_using_every_card_feature_is_valid_and_round_trips() -> None:
    body = {
        "cards": [full_card()],
        "systemActions": [
            {
                "type": "update",
                "description": "Annotate the order",
                "resource": {"resourceType": "ServiceRequest", "id": "sr-1"},
            }
        ],
    }
    assert CdsResponse.model_validate(body).to_wire() == body


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"summary": "x" * 140}, "140 characters"),
        ({"indicator": "hard-stop"}, "indicator"),
        ({"indicator": "error"}, "indicator"),
        ({"source": {"url": "https://example.org"}}, "label required"),
        ({"selectionBehavior": None}, "suggestions without selectionBehavior"),
        ({"selectionBehavior": "all"}, "unknown selectionBehavior"),
        ({"suggestions": []}, "empty list"),
        ({"summary": ""}, "empty string"),
        ({"overrideReasons": [{"system": "s", "code": "c"}]}, "override reason display"),
        (
            {
                "links": [
                    {"label": "l", "url": "https://a.org", "type": "absolute", "appContext": "x"}
                ]
            },
            "appContext on absolute link",
        ),
        ({"links": [{"label": "l", "url": "not a url", "type": "absolute"}]}, "relative url"),
        (
            {
                "suggestions": [
                    {
                        "label": "s",
                        "actions": [
                            {
                                "type": "delete",
                                "description": "d",
                                "resource": {"resourceType": "X"},
                            }
                        ],
                    }
                ]
            },
            "delete without resourceId",
        ),
        (
            {"suggestions": [{"label": "s", "actions": [{"type": "create", "description": "d"}]}]},
            "create without resource",
        ),
        (
            {
                "suggestions": [
                    {
                        "label": "s",
                        "actions": [{"type": "create", "resource": {"resourceType": "X"}}],
                    }
                ]
            },
            "action description",
        ),
        (
            {
                "suggestions": [
                    {"label": "a", "isRecommended": True},
                    {"label": "b", "isRecommended": True},
                ]
            },
            "two recommended with at-most-one",
        ),
        ({"unknownField": 1}, "unknown field"),
    ],
)
def test_invalid_cards_cannot_be_built(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError):
        Card.model_validate(full_card(**change))


def test_cards_get_a_uuid_and_suggestions_get_a_uuid_by_default() -> None:
    card = Card.model_validate(
        {
            "summary": "s",
            "indicator": "info",
            "source": {"label": "l"},
            "suggestions": [{"label": "x"}],
            "selectionBehavior": "any",
        }
    )
    assert card.uuid and card.suggestions and card.suggestions[0].uuid


def test_serialised_responses_hold_no_null_or_empty_member() -> None:
    wire = CdsResponse.model_validate(
        {"cards": [{"summary": "s", "indicator": "info", "source": {"label": "l"}}]}
    ).to_wire()
    assert wire["cards"][0].keys() == {"uuid", "summary", "indicator", "source"}
    assert "systemActions" not in wire


def test_smart_links_may_carry_app_context() -> None:
    link = Link.model_validate(
        {"label": "l", "url": "https://a.org/launch", "type": "smart", "appContext": "{}"}
    )
    assert link.appContext == "{}"
