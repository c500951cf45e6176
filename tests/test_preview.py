"""The card preview page without a browser: when it is served, that it never opens the hook
endpoints, how it builds requests, and that card markdown is rendered safely. The browser tier
(`test_preview_browser.py`) drives the page itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cds_service import create_app
from cds_service.auth.headers import SECURITY_HEADERS
from cds_service.preview.cards_html import markdown_html, safe_url
from cds_service.scenarios import FIXTURES_DIR, load_scenarios
from tests.fake_ehr import write_trusted_issuers

HEMI = FIXTURES_DIR / "ae-hemi-clear.json"


def _secured(tmp_path: Path, **settings: Any) -> Flask:
    return create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
            "LOG_LEVEL": "WARNING",
            "TRUSTED_ISSUERS_FILE": str(write_trusted_issuers(tmp_path)),
            **settings,
        }
    )


def test_the_page_is_on_by_default_when_authentication_is_off(client: FlaskClient) -> None:
    page = client.get("/preview")
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert "gbs-mp" in text and "immunotherapy-order-select" in text
    assert 'id="jwt"' not in text  # nothing to paste when no token is needed
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert client.get("/preview/static/preview.js").status_code == 200


def test_with_authentication_on_the_page_is_off_unless_enabled(tmp_path: Path) -> None:
    assert _secured(tmp_path).test_client().get("/preview").status_code == 404  # no such page


def test_enabled_with_authentication_the_page_opens_but_the_hooks_stay_closed(
    tmp_path: Path,
) -> None:
    client = _secured(tmp_path, PREVIEW="true").test_client()
    page = client.get("/preview")
    assert page.status_code == 200 and 'id="jwt"' in page.get_data(as_text=True)
    built = client.post("/preview/request", json={"scenario": "gbs-mp"})
    assert built.status_code == 200
    body = built.get_json()["request"]
    assert client.post("/cds-services/immunotherapy-order-select", json=body).status_code == 401
    feedback = {
        "feedback": [
            {"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-11-21T10:00:00Z"}
        ]
    }
    assert (
        client.post("/cds-services/immunotherapy-order-select/feedback", json=feedback).status_code
        == 401
    )
    assert client.get("/cds-services").status_code == 401


def test_an_explicit_false_turns_the_page_off(tmp_path: Path) -> None:
    app = create_app({"AUTH_ENABLED": False, "PREVIEW": "false", "DATABASE_URL": "sqlite://"})
    assert app.test_client().get("/preview").status_code == 404


def test_api_responses_keep_the_strict_policy(client: FlaskClient) -> None:
    assert (
        client.get("/cds-services").headers["Content-Security-Policy"]
        == SECURITY_HEADERS["Content-Security-Policy"]
    )


def test_a_scenario_request_happens_now_as_invoke_scenario_moves_it(client: FlaskClient) -> None:
    scenario = load_scenarios()["gbs-mp"]
    before = datetime.now(UTC)
    built = client.post("/preview/request", json={"scenario": "gbs-mp"}).get_json()
    assert built["serviceId"] == "immunotherapy-order-select" and built["hook"] == "order-select"
    request = built["request"]
    assert request["context"]["selections"] == list(scenario.selections)
    drafts = request["context"]["draftOrders"]["entry"]
    assert [e["resource"]["id"] for e in drafts] == [r["id"] for r in scenario.draft_orders]
    original = next(
        e["resource"]
        for e in scenario.bundle["entry"]
        if e["resource"]["resourceType"] == "Condition"
    )
    moved = request["prefetch"]["conditions"]["entry"][0]["resource"]
    was = datetime.fromisoformat(original["onsetDateTime"].replace("Z", "+00:00"))
    now = datetime.fromisoformat(moved["onsetDateTime"].replace("Z", "+00:00"))
    assert abs((now - was) - (before - scenario.now)) < timedelta(minutes=1)


def test_a_pasted_bundle_can_be_moved_from_the_date_it_was_written_for(client: FlaskClient) -> None:
    import json

    bundle = json.loads(HEMI.read_text())
    asked = {"bundle": bundle, "serviceId": "immunotherapy-guidance"}
    kept = client.post("/preview/request", json=asked).get_json()["request"]
    moved = client.post("/preview/request", json={**asked, "asOf": "2026-03-01"}).get_json()[
        "request"
    ]
    assert kept["prefetch"]["patient"] == next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    assert moved["prefetch"]["patient"]["birthDate"] != kept["prefetch"]["patient"]["birthDate"]
    answer = client.post("/cds-services/immunotherapy-guidance", json=moved).get_json()
    assert answer["cards"][0]["summary"].startswith("AE, CSF clear of infection")


@pytest.mark.parametrize(
    ("asked", "problem"),
    [
        ({"scenario": "no-such"}, "no fixture scenario"),
        ({}, "give a fixture scenario or a FHIR Bundle"),
        ({"bundle": {"resourceType": "Bundle"}, "serviceId": "nope"}, "serviceId must be one of"),
        (
            {"bundle": {"resourceType": "Bundle"}, "serviceId": "immunotherapy-guidance"},
            "exactly one Patient",
        ),
        ({"bundle": {}, "serviceId": "immunotherapy-guidance", "asOf": "soon"}, "is not 'now'"),
        ({"scenario": "gbs-mp", "surprise": 1}, "not valid"),
    ],
)
def test_a_request_that_cannot_be_built_is_a_400_that_says_why(
    client: FlaskClient, asked: dict[str, Any], problem: str
) -> None:
    answer = client.post("/preview/request", json=asked)
    assert answer.status_code == 400
    assert problem in answer.get_json()["message"]


def test_markdown_keeps_raw_html_and_script_links_inert() -> None:
    html = str(
        markdown_html("**bold** <script>alert(1)</script> [x](javascript:alert(1)) <b>b</b>")
    )
    assert "<strong>bold</strong>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>" not in html and 'href="javascript' not in html


def test_only_http_urls_become_links() -> None:
    assert safe_url("https://doi.org/10.1/x") == "https://doi.org/10.1/x"
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("//evil.example") is None and safe_url(None) is None


def test_a_card_renders_with_its_indicator_suggestions_and_reasons(client: FlaskClient) -> None:
    answer = {
        "cards": [
            {
                "uuid": "c-1",
                "summary": "Summary <i>here</i>",
                "detail": "Line with `code`",
                "indicator": "warning",
                "source": {"label": "Guideline", "url": "javascript:alert(1)"},
                "suggestions": [{"uuid": "s-1", "label": "Do this", "isRecommended": True}],
                "selectionBehavior": "at-most-one",
                "overrideReasons": [
                    {"system": "https://x", "code": "r1", "display": "Not relevant"}
                ],
            }
        ]
    }
    html = client.post("/preview/render", json={"status": 200, "response": answer}).get_data(
        as_text=True
    )
    assert 'data-indicator="warning"' in html and "card-warning" in html
    assert "Summary &lt;i&gt;here&lt;/i&gt;" in html
    assert "<code>code</code>" in html
    assert 'data-suggestion="s-1"' in html and "recommended" in html
    assert 'data-code="r1"' in html and "Not relevant" in html
    assert "javascript:" not in html  # the source is shown, not linked


def test_no_cards_and_errors_are_said_plainly(client: FlaskClient) -> None:
    empty = client.post("/preview/render", json={"status": 200, "response": {"cards": []}})
    assert "No cards: nothing in this record calls for advice." in empty.get_data(as_text=True)
    error = {
        "error": "precondition-failed",
        "message": "required prefetch data could not be obtained",
    }
    html = client.post("/preview/render", json={"status": 412, "response": error}).get_data(
        as_text=True
    )
    assert "HTTP 412" in html and "precondition-failed" in html


def test_the_browser_tier_skips_without_chromium_unless_ci_requires_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from _pytest.outcomes import Failed, Skipped

    from tests import test_preview_browser

    monkeypatch.setattr(test_preview_browser, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CDS_REQUIRE_BROWSER", raising=False)
    with pytest.raises(Skipped, match="browser tier not run: needs Debian's chromium"):
        test_preview_browser._need_browser()
    monkeypatch.setenv("CDS_REQUIRE_BROWSER", "1")
    with pytest.raises(Failed, match="CDS_REQUIRE_BROWSER=1 makes it mandatory"):
        test_preview_browser._need_browser()


def test_the_explain_panel_names_facts_and_rules(client: FlaskClient) -> None:
    built = client.post("/preview/request", json={"scenario": "gbs-mp"}).get_json()
    html = client.post(
        "/preview/explain", json={"serviceId": built["serviceId"], "request": built["request"]}
    ).get_data(as_text=True)
    assert 'data-rule="gbs-corticosteroid-not-recommended"' in html
    assert "guillain-barre" in html and "recognised by code" in html
    assert "silent at line" in html


def test_the_explain_panel_never_fetches_from_a_fhir_server(client: FlaskClient) -> None:
    built = client.post("/preview/request", json={"scenario": "gbs-mp"}).get_json()
    request = {**built["request"], "fhirServer": "http://127.0.0.1:9/fhir"}
    answer = client.post(
        "/preview/explain", json={"serviceId": built["serviceId"], "request": request}
    )
    assert answer.status_code == 400
    assert "prefetch only" in answer.get_json()["message"]
