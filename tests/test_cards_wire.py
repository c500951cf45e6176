"""Cards are built in wire form (`cards.render_card`) with cheap invariant checks; the pydantic
models of `protocol.response` are the reference: over every fixture (the typed scenarios and the
FHIR fixtures through the HTTP API) each card must equal, byte for byte in JSON and uuids aside,
what the model-based renderer gives, and must validate with the models."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cds_service import cards, create_app, extensions
from cds_service.facts.model import Therapy, TherapyFact
from cds_service.findings import Citation, Coding, Finding, ProposedAction, ProposeRemoval, Urgency
from cds_service.protocol.response import Card, CdsResponse
from cds_service.rules import evaluate, rules_for
from cds_service.scenarios import load_scenarios
from tests.card_reference import reference_card, without_uuids
from tests.test_rules_scenarios import SCENARIOS

Call = tuple[Any, ...]  # name, card groups, patient id, then render's other arguments


def _typed_calls() -> Iterator[Call]:
    for name, patient, _, _ in SCENARIOS:
        findings = evaluate(patient, rules_for(patient.hook))
        yield name, cards._group(findings), patient.patient_id


@pytest.fixture(scope="module")
def fixture_calls(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Call, dict[str, Any]]]:
    """Every FHIR fixture scenario through the API: the card groups `render` was given, and the
    response body the client received."""
    seen: list[tuple[Any, ...]] = []
    real_render = cards.render

    def spy(findings: Sequence[Finding], patient_id: str, *rest: Any) -> Any:
        seen.append(("", cards._group(findings), patient_id, *rest))
        return real_render(findings, patient_id, *rest)

    scenarios = load_scenarios()
    clock: list[datetime] = [datetime.now(UTC)]
    tmp = tmp_path_factory.mktemp("cards-wire")
    app = create_app(
        {
            "AUTH_ENABLED": False,
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": f"sqlite:///{Path(tmp) / 'ledger.sqlite3'}",
            "CLOCK": lambda: clock[0],
        }
    )
    client = app.test_client()
    calls: list[tuple[Call, dict[str, Any]]] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cards, "render", spy)
        for scenario in scenarios.values():
            clock[0] = scenario.now
            request = scenario.request(extensions.services(app))
            answer = client.post(f"/cds-services/{scenario.service_id}", json=request)
            assert answer.status_code == 200, (scenario.name, answer.get_json())
            _, groups, patient_id, *rest = seen.pop()
            calls.append(((scenario.name, groups, patient_id, *rest), answer.get_json()))
    return calls


def _assert_same_rendering(
    name: str, groups: list[list[Finding]], patient_id: str, *rest: Any
) -> int:
    for members in groups:
        wire = cards.render_card(members, patient_id, *rest)
        model = reference_card(members, patient_id, *rest)
        reference = model.model_dump(mode="json", exclude_none=True)
        assert json.dumps(without_uuids(wire)) == json.dumps(without_uuids(reference)), name
    return len(groups)


def test_wire_cards_equal_the_model_rendering_over_the_typed_scenarios() -> None:
    rendered = sum(_assert_same_rendering(*call) for call in _typed_calls())
    assert rendered >= len(SCENARIOS) // 2  # most scenarios speak


def test_wire_cards_equal_the_model_rendering_over_the_fhir_fixtures(
    fixture_calls: list[tuple[Call, dict[str, Any]]],
) -> None:
    rendered = sum(_assert_same_rendering(*call) for call, _ in fixture_calls)
    assert rendered >= 30
    with_suggestions = [
        card for _, body in fixture_calls for card in body["cards"] if "suggestions" in card
    ]
    assert len(with_suggestions) >= 5


def test_every_card_of_every_fixture_satisfies_the_models(
    fixture_calls: list[tuple[Call, dict[str, Any]]],
) -> None:
    uuids: list[str] = []
    for _, body in fixture_calls:
        assert CdsResponse.model_validate(body).model_dump(mode="json", exclude_none=True) == body
        for card in body["cards"]:
            Card.model_validate(card)
            uuids += [card["uuid"], *(s["uuid"] for s in card.get("suggestions", ()))]
    assert all(uuid.UUID(u).version == 7 for u in uuids)  # time-ordered ledger keys
    assert len(set(uuids)) == len(uuids), "every card and suggestion has its own uuid"


CITATION = Citation("Test et al. 2024", "https://doi.org/10.1000/test")


def _finding(**changes: Any) -> Finding:
    base = Finding("test-rule", Urgency.WARNING, "Do the thing", "Because.", CITATION)
    return replace(base, **changes)


DRAFT = TherapyFact(
    Therapy.CORTICOSTEROID,
    "MedicationRequest/draft-1",
    "MedicationRequest",
    "draft",
    None,
    False,
    is_draft_order=True,
    display="methylprednisolone",
)


@pytest.mark.parametrize(
    ("finding", "problem"),
    [
        (_finding(summary="x" * 140), "140 characters"),
        (_finding(summary=""), "summary is empty"),
        (_finding(citation=Citation("Label", "ftp://example.org/x")), "absolute http"),
        (_finding(citation=Citation("", None)), "source label is empty"),
        (_finding(override_reasons=(Coding("urn:x", "c", ""),)), "display is empty"),
        (
            _finding(suggestions=(ProposeRemoval(DRAFT),), selection_behavior="one-of"),
            "selectionBehavior is required",
        ),
    ],
    ids=["summary-140", "summary-empty", "source-url", "source-label", "reason-display", "sel"],
)
def test_a_card_breaking_the_spec_is_refused(finding: Finding, problem: str) -> None:
    with pytest.raises(cards.CardInvariantError, match=problem):
        cards.render_card([finding], "pt-1")


def test_a_local_protocol_link_comes_first_as_in_the_models() -> None:
    finding = _finding(topic=Coding("urn:topic", "gbs", "Guillain-Barre syndrome"))
    links = {"gbs": "https://intranet.example.org/gbs-protocol"}
    wire = cards.render_card([finding], "pt-1", links)
    reference = reference_card([finding], "pt-1", links).model_dump(mode="json", exclude_none=True)
    assert json.dumps(without_uuids(wire)) == json.dumps(without_uuids(reference))
    assert wire["links"][0] == {
        "label": "Local protocol",
        "url": "https://intranet.example.org/gbs-protocol",
        "type": "absolute",
    }


def test_data_not_retrieved_is_named_as_in_the_models() -> None:
    finding = _finding()
    wire = cards.render_card([finding], "pt-1", None, {"observations", "procedures"})
    model = reference_card([finding], "pt-1", None, {"observations", "procedures"})
    reference = model.model_dump(mode="json", exclude_none=True)
    assert json.dumps(without_uuids(wire)) == json.dumps(without_uuids(reference))
    assert "Lab results" in wire["detail"] and "could not be retrieved" in wire["detail"]


def test_a_card_at_the_limits_is_accepted_and_valid() -> None:
    finding = _finding(
        summary="x" * 139,
        suggestions=(ProposeRemoval(DRAFT),),
        override_reasons=(Coding("urn:x", "c", "Reason"),),
    )
    card = cards.render_card([finding], "pt-1")
    assert Card.model_validate(card).model_dump(mode="json", exclude_none=True) == card
    assert card["selectionBehavior"] == "at-most-one"
    assert card["suggestions"][0]["actions"][0] == {
        "type": "delete",
        "description": "Remove the draft order methylprednisolone",
        "resourceId": "MedicationRequest/draft-1",
    }


@pytest.mark.parametrize(
    ("action", "problem"),
    [
        (ProposedAction("delete", "Remove", resource_id="draft-1"), "not Type/id"),
        (ProposedAction("delete", "Remove"), "carries resourceId"),
        (ProposedAction("create", "Order", resource={"status": "draft"}), "carries a FHIR"),
        (ProposedAction("replace", "Order", resource={"resourceType": "X"}), "unknown action"),
        (ProposedAction("create", "", resource={"resourceType": "X"}), "description is empty"),
    ],
)
def test_an_action_breaking_the_spec_is_refused(action: ProposedAction, problem: str) -> None:
    with pytest.raises(cards.CardInvariantError, match=problem):
        cards._action(action)
