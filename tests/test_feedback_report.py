"""The feedback report counts cards, not feedback items, and flags what does not add up: retries,
a card both accepted and overridden, two accepted suggestions on an at-most-one card, feedback to
another service's endpoint, unknown suggestion ids, feedback on a silent card. Time window, tenant
filter, rates over time, and the --html page. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, insert

from cds_service import create_app
from cds_service.cli import main
from cds_service.database import open_engine
from cds_service.feedback_report import build_report, period_start
from cds_service.schema import card_rules, feedback, issued_cards, issued_suggestions
from tests.conftest import patient_seen_rule, patient_view_request, service_running

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday
GUIDANCE = "immunotherapy-guidance"
ORDER_SIGN = "immunotherapy-order-sign"


@pytest.fixture
def engine(database_url: str, tmp_path: Path) -> Iterator[Engine]:
    engine = open_engine(database_url, tmp_path)
    yield engine
    engine.dispose()


class Ledger:
    """Writes cards and feedback rows as the service would, with chosen times and tenants."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.count = 0

    def card(
        self,
        rule: str | tuple[str, ...] = "rule-a",
        *,
        at: datetime = T0,
        service: str = GUIDANCE,
        tenant: str | None = None,
        silent: bool = False,
        suggestions: tuple[str, ...] = (),
        behavior: str | None = None,
    ) -> str:
        self.count += 1
        uuid = f"card-{self.count}"
        rules = (rule,) if isinstance(rule, str) else rule
        with self.engine.begin() as conn:
            conn.execute(
                insert(issued_cards),
                {
                    "card_uuid": uuid,
                    "service_id": service,
                    "hook_instance": "h",
                    "patient_hash": "0" * 64,
                    "indicator": "warning",
                    "summary": "s",
                    "issued_at": at,
                    "tenant": tenant,
                    "silent": silent,
                    "selection_behavior": behavior or ("at-most-one" if suggestions else None),
                },
            )
            conn.execute(insert(card_rules), [{"card_uuid": uuid, "rule_id": r} for r in rules])
            if suggestions:
                conn.execute(
                    insert(issued_suggestions),
                    [
                        {"suggestion_uuid": f"{uuid}-{s}", "card_uuid": uuid, "label": s}
                        for s in suggestions
                    ],
                )
        return uuid

    def feedback(
        self,
        card: str,
        outcome: str,
        *,
        accepted: tuple[str, ...] = (),
        service: str = GUIDANCE,
        reason: str | None = None,
        received: datetime = T0,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(feedback),
                {
                    "card_uuid": card,
                    "service_id": service,
                    "outcome": outcome,
                    "accepted_suggestions": json.dumps([f"{card}-{s}" for s in accepted])
                    if accepted
                    else None,
                    "override_display": reason,
                    "outcome_timestamp": received,
                    "received_at": received,
                    "card_known": True,
                },
            )


@pytest.fixture
def ledger(engine: Engine) -> Ledger:
    return Ledger(engine)


def rule_row(engine: Engine, rule_id: str = "rule-a", **filters: Any) -> Any:
    [row] = [r for r in build_report(engine, **filters).rules if r.rule_id == rule_id]
    return row


def test_a_retried_post_counts_one_card_and_is_flagged(engine: Engine, ledger: Ledger) -> None:
    card = ledger.card(suggestions=("ivig",))
    for _ in range(3):
        ledger.feedback(card, "accepted", accepted=("ivig",))
    row = rule_row(engine)
    assert (row.issued, row.accepted, row.overridden, row.feedback_items) == (1, 1, 0, 3)
    assert row.acceptance_rate == 1.0
    assert row.flags == {"retried": 1}


def test_a_card_both_accepted_and_overridden_counts_in_neither_rate(
    engine: Engine, ledger: Ledger
) -> None:
    card = ledger.card(suggestions=("ivig",))
    ledger.feedback(card, "accepted", accepted=("ivig",))
    ledger.feedback(card, "overridden", reason="Patient declined")
    ledger.card()  # a second card, no feedback
    row = rule_row(engine)
    assert (row.issued, row.accepted, row.overridden, row.conflicting) == (2, 0, 0, 1)
    assert row.no_feedback == 1
    assert row.flags == {"accepted-and-overridden": 1}
    assert row.override_reasons == {}  # a conflicting card is not an override


def test_two_accepted_suggestions_on_an_at_most_one_card_are_flagged(
    engine: Engine, ledger: Ledger
) -> None:
    one = ledger.card(suggestions=("ivig", "plex"))
    ledger.feedback(one, "accepted", accepted=("ivig", "plex"))
    split = ledger.card(suggestions=("ivig", "plex"))
    ledger.feedback(split, "accepted", accepted=("ivig",))
    ledger.feedback(split, "accepted", accepted=("plex",))
    fine = ledger.card(suggestions=("ivig", "plex"), behavior="any")
    ledger.feedback(fine, "accepted", accepted=("ivig", "plex"))
    report = build_report(engine)
    flagged = {c.card_uuid: set(c.flags) for c in report.flagged_cards}
    assert flagged[one] == {"several-accepted-at-most-one"}
    assert flagged[split] == {"several-accepted-at-most-one", "retried"}
    assert fine not in flagged


def test_feedback_to_another_services_endpoint_and_unknown_suggestions_are_flagged(
    engine: Engine, ledger: Ledger
) -> None:
    elsewhere = ledger.card()
    ledger.feedback(elsewhere, "overridden", service=ORDER_SIGN)
    unknown = ledger.card(suggestions=("ivig",))
    ledger.feedback(unknown, "accepted", accepted=("rituximab",))
    flagged = {c.card_uuid: c.flags for c in build_report(engine).flagged_cards}
    assert flagged == {
        elsewhere: ("other-service-endpoint",),
        unknown: ("unknown-suggestion",),
    }


def test_silent_cards_are_counted_apart_and_feedback_on_them_is_flagged(
    engine: Engine, ledger: Ledger
) -> None:
    ledger.card(silent=True)
    odd = ledger.card(silent=True)
    ledger.feedback(odd, "overridden")
    shown = ledger.card()
    ledger.feedback(shown, "overridden", reason="Not indicated")
    row = rule_row(engine)
    assert (row.issued, row.silent, row.overridden) == (1, 2, 1)
    assert row.override_rate == 1.0
    assert row.flags == {"feedback-on-silent-card": 1}


def test_a_card_of_two_rules_counts_for_each(engine: Engine, ledger: Ledger) -> None:
    card = ledger.card(("rule-a", "rule-b"))
    ledger.feedback(card, "overridden", reason="Other")
    report = build_report(engine)
    assert [(r.rule_id, r.issued, r.overridden) for r in report.rules] == [
        ("rule-a", 1, 1),
        ("rule-b", 1, 1),
    ]


def test_time_window_and_tenant_filter(engine: Engine, ledger: Ledger) -> None:
    for day, tenant in [(0, "north"), (1, "south"), (7, "north"), (30, None)]:
        card = ledger.card(at=T0 + timedelta(days=day), tenant=tenant)
        ledger.feedback(card, "overridden", received=T0 + timedelta(days=day, hours=1))
    ledger.feedback("never-issued", "overridden", received=T0 + timedelta(days=3))
    assert rule_row(engine).issued == 4
    assert rule_row(engine, since=T0 + timedelta(days=1)).issued == 3
    window: dict[str, Any] = {"since": T0, "until": T0 + timedelta(days=7)}
    assert rule_row(engine, **window).issued == 2
    assert rule_row(engine, **window, tenant="north").issued == 1
    assert rule_row(engine, tenant="north").issued == 2
    assert build_report(engine, **window).unknown_card_feedback == 1
    assert build_report(engine, since=T0 + timedelta(days=4)).unknown_card_feedback == 0
    assert build_report(engine, tenant="north").unknown_card_feedback == 0
    # A window given in another zone means the same instants.
    plus_two = timezone(timedelta(hours=2))
    assert rule_row(engine, since=T0.astimezone(plus_two)).issued == 4
    day_one = (T0 + timedelta(days=1)).astimezone(plus_two)
    assert rule_row(engine, since=day_one).issued == 3


def test_rates_over_time_are_per_period(engine: Engine, ledger: Ledger) -> None:
    for day, outcome in [(0, "accepted"), (1, "overridden"), (2, None), (7, "overridden")]:
        card = ledger.card(at=T0 + timedelta(days=day), suggestions=("ivig",))
        if outcome:
            ledger.feedback(card, outcome, accepted=("ivig",) if outcome == "accepted" else ())
    [(rule_id, points)] = build_report(engine).series.items()
    assert rule_id == "rule-a"
    assert [(p.period.isoformat(), p.issued, p.accepted, p.overridden) for p in points] == [
        ("2026-11-02", 3, 1, 1),
        ("2026-11-09", 1, 0, 1),
    ]
    assert points[0].acceptance_rate == pytest.approx(1 / 3)
    days = build_report(engine, period="day").series["rule-a"]
    assert len(days) == 4
    assert [
        p.period.isoformat() for p in build_report(engine, period="month").series["rule-a"]
    ] == ["2026-11-01"]


def test_period_starts() -> None:
    sunday = datetime(2026, 11, 8, 23, 30, tzinfo=UTC)
    assert period_start(sunday, "week").isoformat() == "2026-11-02"
    assert period_start(sunday, "month").isoformat() == "2026-11-01"
    assert period_start(sunday.replace(tzinfo=None), "day").isoformat() == "2026-11-08"


def test_end_to_end_a_retried_feedback_post_is_one_card(database_url: str) -> None:
    app = create_app({"AUTH_ENABLED": False, "DATABASE_URL": database_url})
    client = app.test_client()
    rule = patient_seen_rule()
    with service_running(app, GUIDANCE, rule):
        [card] = client.post(f"/cds-services/{GUIDANCE}", json=patient_view_request()).get_json()[
            "cards"
        ]
    item = {
        "card": card["uuid"],
        "outcome": "overridden",
        "outcomeTimestamp": "2026-11-21T10:05:31Z",
    }
    for _ in range(2):  # the EHR retries after a timeout
        assert (
            client.post(f"/cds-services/{GUIDANCE}/feedback", json={"feedback": [item]}).status_code
            == 200
        )
    with app.app_context():
        from cds_service.ledger import get_ledger

        [row] = [r for r in get_ledger().report() if r.rule_id == rule.id]
    assert (row.issued, row.overridden, row.feedback_items, row.flags) == (1, 1, 2, {"retried": 1})


def test_the_cli_filters_and_writes_an_html_page_with_a_chart_per_rule(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    engine: Engine,
    ledger: Ledger,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", database_url)
    for day in range(0, 21, 3):
        card = ledger.card("gbs-corticosteroid-not-recommended", at=T0 + timedelta(days=day))
        ledger.feedback(
            card, "overridden" if day % 2 else "accepted", accepted=() if day % 2 else ("x",)
        )
    ledger.card("ane-early-methylprednisolone", at=T0, tenant="north")
    page = tmp_path / "report.html"
    result = CliRunner().invoke(
        main,
        ["feedback-report", "--since", "2026-11-01", "--until", "2026-12-01", "--html", str(page)],
    )
    assert result.exit_code == 0, result.output
    assert "gbs-corticosteroid-not-recommended" in result.output
    assert "2026-11-01T00:00:00+00:00" in result.output
    text = page.read_text()
    assert text.startswith("<!doctype html>") and text.count("<svg") == 2
    # Self-contained: no script, nothing loaded from elsewhere (only XML namespace names).
    assert "<script" not in text and "http" not in re.sub(r'xmlns(:\w+)?="[^"]*"', "", text)
    assert "accepted %" in text and "overridden %" in text
    as_json = json.loads(
        CliRunner().invoke(main, ["feedback-report", "--json", "--tenant", "north"]).output
    )
    assert [r["rule_id"] for r in as_json["rules"]] == ["ane-early-methylprednisolone"]
    assert as_json["tenant"] == "north"


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (["--since", "last tuesday"], "not a date"),
        (["--since", "2026-12-01", "--until", "2026-11-01"], "--since must be before --until"),
        (["--period", "year"], "year"),
    ],
)
def test_the_cli_refuses_bad_windows(
    monkeypatch: pytest.MonkeyPatch, database_url: str, arguments: list[str], problem: str
) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", database_url)
    result = CliRunner().invoke(main, ["feedback-report", *arguments])
    assert result.exit_code == 2
    assert problem in result.output


def test_html_without_matplotlib_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, database_url: str, ledger: Ledger, tmp_path: Path
) -> None:
    import sys

    monkeypatch.setenv("CDS_DATABASE_URL", database_url)
    ledger.card(at=T0)
    for name in ("matplotlib", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, name, None)  # import now raises ImportError
    page = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["feedback-report", "--html", str(page)])
    assert result.exit_code == 1
    assert "pip install 'cds-service[report]'" in result.output
    assert not page.exists()
