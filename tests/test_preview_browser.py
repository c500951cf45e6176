"""The card preview page in a real browser: Debian's Chromium, driven by Playwright for Python
through the system executable (no browser download). The service runs in process on a loopback
port with a SQLite ledger; the page calls its real hook and feedback endpoints.

The tier needs `/usr/bin/chromium` (`apt-get install -y chromium chromium-driver`) and the
`playwright` package (a test extra). Without them it is skipped with that reason; CI sets
`CDS_REQUIRE_BROWSER=1`, which turns the skip into a failure. Screenshots are written to
`test-artifacts/` (gitignored): `preview-gbs-mp.png` is the Guillain-Barre order-select fixture
(one critical card, two suggestions), `preview-gbs-mp-sidebar.png` the same in a 420-pixel sidebar.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from cds_service import create_app
from cds_service.ledger import get_ledger
from cds_service.scenarios import FIXTURES_DIR
from cds_service.schema import feedback
from tests.conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"
CRITICAL_RGB = "rgb(198, 40, 40)"  # --critical in preview.css
TIMEOUT_MS = 15_000


def _need_browser() -> None:
    missing = []
    if not CHROMIUM.exists():
        missing.append("Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -e '.[test]')")
    if missing:
        reason = "browser tier not run: needs " + " and ".join(missing)
        if os.environ.get("CDS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason}; CDS_REQUIRE_BROWSER=1 makes it mandatory", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, str]]:
    _need_browser()
    folder = tmp_path_factory.mktemp("preview")
    app = create_app(
        {
            "AUTH_ENABLED": False,
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": f"sqlite:///{folder / 'ledger.sqlite3'}",
        }
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, served: tuple[Flask, str]) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    opened.goto(f"{served[1]}/preview")
    try:
        yield opened
    finally:
        context.close()


def _feedback_rows(app: Flask, card_uuid: str) -> list[Any]:
    with app.app_context():
        get_ledger().flush()
        with get_ledger().engine.connect() as conn:
            query = select(feedback).where(feedback.c.card_uuid == card_uuid)
            return list(conn.execute(query))


def _call(page: Any, scenario: str) -> Any:
    page.select_option("#scenario", scenario)
    page.click("#run")
    page.wait_for_selector(".card, .no-cards, .answer-error")
    return page.locator(".card")


def test_gbs_order_select_shows_a_critical_card_with_two_suggestions_and_feedback_is_recorded(
    page: Any, served: tuple[Flask, str]
) -> None:
    cards = _call(page, "gbs-mp")
    assert cards.count() == 1
    card = cards.first
    assert card.get_attribute("data-indicator") == "critical"
    assert card.evaluate("c => getComputedStyle(c).borderLeftColor") == CRITICAL_RGB
    assert card.locator(".indicator").inner_text().strip().lower() == "critical"
    assert card.locator(".summary").inner_text() == (
        "Steroids are not recommended in Guillain-Barre syndrome: use IVIG or PLEX"
    )
    assert "Corticosteroids are not recommended for Guillain-Barre syndrome" in (
        card.locator(".detail strong").first.inner_text()
    )
    assert card.locator(".source a").get_attribute("href") == "https://doi.org/10.1111/ene.16073"
    suggestions = card.locator("button.suggestion")
    assert suggestions.all_inner_texts() == [
        "Replace with IVIG 32 g/day x 5 days",
        "Replace with plasma exchange x 5 (every other day)",
    ]
    assert card.locator(".override-reason option").count() >= 2  # "no reason" + the card's
    assert '"hook": "order-select"' in page.locator("#raw-request").inner_text()
    assert '"indicator": "critical"' in page.locator("#raw-response").inner_text()
    page.wait_for_selector("#explain .rule")
    fired = page.locator("#explain .rule.fired").all_inner_texts()
    assert [t.split(":")[0] for t in fired] == ["gbs-corticosteroid-not-recommended"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "preview-gbs-mp.png"), full_page=True)

    page.check("#sidebar")
    assert page.locator("#cards").evaluate("c => c.getBoundingClientRect().width") == 420
    height = card.locator(".card-height").inner_text()
    assert height.endswith(" px") and int(height.split()[0]) > 100
    page.locator(".cards-panel").screenshot(path=str(ARTIFACTS / "preview-gbs-mp-sidebar.png"))

    card_uuid = card.get_attribute("data-card")
    suggestion_uuid = suggestions.first.get_attribute("data-suggestion")
    suggestions.first.click()
    page.wait_for_selector(".feedback-status:has-text('Accepted: feedback stored')")
    [row] = _feedback_rows(served[0], card_uuid)
    assert row.outcome == "accepted" and row.card_known
    assert json.loads(row.accepted_suggestions) == [suggestion_uuid]
    assert row.service_id == "immunotherapy-order-select"


def test_dismissing_with_a_reason_posts_overridden_feedback(
    page: Any, served: tuple[Flask, str]
) -> None:
    card = _call(page, "gbs-pred-nowt").first
    assert card.get_attribute("data-indicator") == "critical"
    reason = card.locator(".override-reason option").nth(1)
    code = reason.get_attribute("data-code")
    card.locator(".override-reason").select_option(index=1)
    card.locator(".dismiss-button").click()
    page.wait_for_selector(".feedback-status:has-text('Dismissed: feedback stored')")
    [row] = _feedback_rows(served[0], card.get_attribute("data-card"))
    assert row.outcome == "overridden" and row.override_code == code and row.card_known


def test_a_pasted_bundle_written_for_its_date_gives_the_documented_card(page: Any) -> None:
    page.check("input[name=source][value=bundle]")
    page.fill("#bundle", (FIXTURES_DIR / "ae-hemi-clear.json").read_text())
    page.fill("#as-of", "2026-03-01")
    page.select_option("#service", "immunotherapy-guidance")
    page.click("#run")
    page.wait_for_selector(".card")
    assert (
        page.locator(".card .summary")
        .first.inner_text()
        .startswith("AE, CSF clear of infection: start IV methylprednisolone")
    )


def test_a_who_icd10_bundle_gives_no_cards_and_explain_names_the_code_system(page: Any) -> None:
    bundle = json.loads((FIXTURES_DIR / "ae-hemi-clear.json").read_text())
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Condition":
            for coding in entry["resource"]["code"]["coding"]:
                coding["system"] = "http://hl7.org/fhir/sid/icd-10"
    page.check("input[name=source][value=bundle]")
    page.fill("#bundle", json.dumps(bundle))
    page.fill("#as-of", "2026-03-01")
    page.select_option("#service", "immunotherapy-guidance")
    page.click("#run")
    page.wait_for_selector("#explain .not-recognised li")
    assert page.locator(".no-cards").count() == 1
    reasons = page.locator("#explain .not-recognised").inner_text()
    assert (
        "code system not recognised: WHO ICD-10 (http://hl7.org/fhir/sid/icd-10) G04.81" in reasons
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "preview-who-icd10-explain.png"), full_page=True)


def test_a_record_with_no_relevant_condition_says_no_cards(page: Any) -> None:
    _call(page, "none-pv")
    assert page.locator(".no-cards").inner_text() == (
        "No cards: nothing in this record calls for advice."
    )
    assert page.locator("#call-status").inner_text() == "HTTP 200, 0 cards"
