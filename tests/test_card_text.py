"""Cards a clinician reads at a glance: checked over every fixture scenario's cards.

No internal words (our provenance lives in `cds-service rules`, the ledger and the feedback
report, not in card text), no raw UCUM, a summary under 140 characters, and a recommendation of
at most about 700 characters before the evidence list. Evidence lines stay short enough for a
400-pixel card column.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service import create_app
from cds_service.extensions import services
from cds_service.scenarios import Scenario, load_scenarios

SCENARIOS = load_scenarios()
INTERNAL = re.compile(
    r"\bseeds?\b|source document|AI-generated|pending human review|\bissue \d+|"
    r"terminology\.md|guidelines\.md|\brules?\.\w+|cds\.example\.org",
    re.IGNORECASE,
)
RAW_UCUM = re.compile(r"10\*\d|\{[^}]*\}|\[(?:lb_av|in_i)\]")
DETAIL_BEFORE_EVIDENCE = 700
EVIDENCE_LINE = 300


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    folder = tmp_path_factory.mktemp("card-text")
    return create_app(
        {
            "TESTING": True,
            "AUTH_ENABLED": False,
            "DATABASE_URL": f"sqlite:///{folder / 'ledger.sqlite3'}",
        }
    )


def _cards(app: Flask, scenario: Scenario) -> list[dict[str, Any]]:
    # The scenario replayed now, as `invoke --scenario` does: the service reads the wall clock.
    now = scenario.shifted(datetime.now(UTC))
    response = app.test_client().post(
        f"/cds-services/{scenario.service_id}", json=now.request(services(app))
    )
    assert response.status_code == 200, response.get_json()
    cards: list[dict[str, Any]] = response.get_json()["cards"]
    return cards


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=list(SCENARIOS))
def test_card_text_is_for_clinicians(app: Flask, scenario: Scenario) -> None:
    for card in _cards(app, scenario):
        texts = [card["summary"], card.get("detail", ""), card["source"]["label"]]
        texts += [s["label"] for s in card.get("suggestions", [])]
        for text in texts:
            assert not INTERNAL.search(text), (scenario.name, INTERNAL.search(text), text)
            assert not RAW_UCUM.search(text), (scenario.name, RAW_UCUM.search(text), text)
        assert 0 < len(card["summary"]) < 140
        recommendation = card.get("detail", "").split("**Evidence used**")[0]
        assert len(recommendation) <= DETAIL_BEFORE_EVIDENCE, (
            scenario.name,
            len(recommendation),
            recommendation,
        )
        for line in card.get("detail", "").splitlines():
            if line.startswith("- "):
                assert len(line) <= EVIDENCE_LINE, (scenario.name, line)


def test_the_text_checks_can_fail() -> None:
    assert INTERNAL.search("as seed 000 says")
    assert INTERNAL.search("(source document 002)")
    assert RAW_UCUM.search("32 10*9/L")
    assert not INTERNAL.search("AAN 2003 practice parameter")


def test_fixture_folder_is_the_one_the_scenarios_come_from() -> None:
    assert all((Path(__file__).parent.parent / "fhir_fixtures").glob("*.json"))


@pytest.mark.parametrize("name", ["ae-gbs", "ae-lymphoma"])
def test_first_line_never_advises_steroids_another_card_would_stop(app: Flask, name: str) -> None:
    [card] = [c for c in _cards(app, SCENARIOS[name]) if "first line" in c["detail"] + c["summary"]]
    recommendation = card["detail"].split("**Evidence used**")[0]
    assert "IVIG preferred as first line" in card["summary"] + recommendation
    assert "Start IV methylprednisolone" not in recommendation
    assert "steroids plus IVIG" not in recommendation


@pytest.mark.parametrize(("name", "asked"), [("ae-hsv-eie", True), ("ae-hemi-clear", False)])
def test_first_line_asks_for_antibody_testing_only_when_none_is_recorded(
    app: Flask, name: str, asked: bool
) -> None:
    [card] = _cards(app, SCENARIOS[name])
    assert ("No autoantibody test is recorded" in card["detail"]) is asked


@pytest.mark.parametrize(("name", "coma"), [("ane-coma", True), ("ane-early", False)])
def test_ane_reads_coma_from_a_current_glasgow_coma_scale(
    app: Flask, name: str, coma: bool
) -> None:
    [card] = _cards(app, SCENARIOS[name])
    assert ("Coma now (GCS 6)" in card["detail"]) is coma


def test_an_operator_protocol_link_leads_the_card_links(tmp_path: Path) -> None:
    app = create_app(
        {
            "TESTING": True,
            "AUTH_ENABLED": False,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
            "PROTOCOL_LINKS": {"guillain-barre": "https://intranet.example/gbs-ivig"},
        }
    )
    [card] = _cards(app, SCENARIOS["gbs-mp"])
    assert card["links"][0] == {
        "label": "Local protocol",
        "url": "https://intranet.example/gbs-ivig",
        "type": "absolute",
    }
    assert all(link["type"] == "absolute" for link in card["links"])  # never a SMART link


def test_protocol_links_are_topic_equals_https_pairs() -> None:
    from cds_service.config import _protocol_links

    assert _protocol_links(
        "guillain-barre=https://a.example/x, immune-plexopathy=https://b.example"
    ) == {
        "guillain-barre": "https://a.example/x",
        "immune-plexopathy": "https://b.example",
    }
    for bad in ("guillain-barre", "gbs=http://a.example", "=https://a.example"):
        with pytest.raises(ValueError, match="topic=https"):
            _protocol_links(bad)


def test_a_card_says_which_data_could_not_be_retrieved(app: Flask) -> None:
    scenario = SCENARIOS["gbs-mp"].shifted(datetime.now(UTC))
    body = scenario.request(services(app))
    body["prefetch"]["procedures"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "exception"}],
    }
    response = app.test_client().post(f"/cds-services/{scenario.service_id}", json=body)
    [card] = response.get_json()["cards"]
    assert "**Procedures** — could not be retrieved for this request" in card["detail"]
    [plain] = _cards(app, SCENARIOS["gbs-mp"])
    assert "could not be retrieved" not in plain["detail"]


def test_malformed_data_is_skipped_and_said_never_a_500(app: Flask) -> None:
    """One malformed resource, a hostile display and a draft order without an id: the GBS card
    still comes back, says what could not be read, escapes the text, and offers only the
    suggestions that do not need the draft's id."""
    scenario = SCENARIOS["gbs-mp"].shifted(datetime.now(UTC))
    body = scenario.request(services(app))
    observations = body["prefetch"]["observations"]
    observations["entry"].append(
        {
            "resource": {
                "resourceType": "Observation",
                "id": "bad",
                "status": "final",
                "code": {"coding": "x"},
            }
        }
    )
    conditions = body["prefetch"]["conditions"]["entry"]
    conditions[0]["resource"]["code"]["coding"][0]["display"] = (
        "<img src=x onerror=alert(1)> ## STOP"
    )
    [draft] = body["context"]["draftOrders"]["entry"]
    del draft["resource"]["id"]
    body["context"]["selections"] = []
    body["hook"] = "order-sign"
    response = app.test_client().post("/cds-services/immunotherapy-order-sign", json=body)
    assert response.status_code == 200, response.get_json()
    [card] = response.get_json()["cards"]
    assert card["indicator"] == "critical"
    assert "1 Observation" in card["detail"] and "could not be read" in card["detail"]
    assert "<img" not in card["detail"].replace("\\<img", "")
    for suggestion in card.get("suggestions", []):
        for action in suggestion["actions"]:
            assert action["type"] == "create"  # no delete or update of an order with no id


_HOSTILE = [
    "x",
    5,
    {"a": 1},
    [1, 2],
    None,
    True,
    "<img src=x onerror=alert(1)>",
    "## STOP",
    "[x](javascript:alert(1))",
]
_UNESCAPED = re.compile(r"(?<!\\)<img|(?<!\\)\]\(javascript|\n## STOP")


def _mutate(node: Any, rng: Any) -> None:
    items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
    for key, value in items:
        if rng.random() < 0.07:
            node[key] = rng.choice(_HOSTILE)
        elif isinstance(value, dict | list):
            _mutate(value, rng)


def test_fuzzed_fixture_data_never_fails_and_never_leaks_markup(app: Flask) -> None:
    """Every fixture, with random members of its data replaced by wrong types or hostile text
    (a fixed seed, so the run is repeatable): no 5xx, no Python repr, no live markup."""
    import random

    rng = random.Random(20261201)  # noqa: S311 -- a repeatable fuzz, not cryptography
    for scenario in SCENARIOS.values():
        body = scenario.shifted(datetime.now(UTC)).request(services(app))
        _mutate(body.get("prefetch") or {}, rng)
        if "draftOrders" in body["context"]:
            _mutate(body["context"]["draftOrders"], rng)
        response = app.test_client().post(f"/cds-services/{scenario.service_id}", json=body)
        assert response.status_code < 500, (scenario.name, response.get_json())
        if response.status_code != 200:
            continue
        for card in response.get_json()["cards"]:
            text = card["summary"] + card.get("detail", "")
            assert "{'" not in text and "['" not in text, (scenario.name, text)
            assert not _UNESCAPED.search(text), (scenario.name, text)
