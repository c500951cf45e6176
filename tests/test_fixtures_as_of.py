"""Fixtures that stay current: `load-fixtures --shift-to-now` moves each bundle's dates as
`invoke --scenario` does, and `invoke --as-of` judges a bundle or request at a chosen instant."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import pytest
import responses
from click.testing import CliRunner

from cds_service.cli import main
from cds_service.cli.invoke import parse_as_of
from cds_service.scenarios import FIXTURES_DIR, load_scenarios

BASE = "http://fhir.test/fhir"
HEMI = str(FIXTURES_DIR / "ae-hemi-clear.json")


def _posted_bundles(calls: Any) -> dict[str, dict[str, Any]]:
    """Patient id -> the transaction Bundle POSTed for it."""
    found = {}
    for call in calls:
        bundle = json.loads(call.request.body)
        patient = next(
            e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
        )
        found[patient["id"]] = bundle
    return found


def _ok(request: Any) -> tuple[int, dict[str, str], str]:
    return 200, {}, json.dumps({"resourceType": "Bundle", "type": "transaction-response"})


@responses.activate
def test_shift_to_now_moves_each_bundle_by_now_minus_its_scenario_instant() -> None:
    responses.add_callback(responses.POST, BASE, callback=_ok)
    before = datetime.now(UTC)
    result = CliRunner().invoke(
        main, ["load-fixtures", "--fhir-base", BASE, "--dir", str(FIXTURES_DIR), "--shift-to-now"]
    )
    after = datetime.now(UTC)
    assert result.exit_code == 0, result.output
    posted = _posted_bundles(responses.calls)
    scenario = load_scenarios()["ae-hemi-clear"]
    original = {e["resource"]["id"]: e["resource"] for e in scenario.bundle["entry"]}
    moved = {e["resource"]["id"]: e["resource"] for e in posted["ae-hemi-clear"]["entry"]}
    checked = 0
    for rid, resource in original.items():
        stamp = resource.get("effectiveDateTime")
        if stamp is None:
            continue
        was = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        now = datetime.fromisoformat(moved[rid]["effectiveDateTime"].replace("Z", "+00:00"))
        # moved by (load time - scenario now), to the second
        assert before - scenario.now - timedelta(seconds=1) <= now - was <= after - scenario.now
        checked += 1
    assert checked >= 3
    assert "ae-hemi-clear.json: 8 entries loaded (dates moved by" in result.output


@responses.activate
def test_without_the_flag_the_dates_are_loaded_as_written() -> None:
    responses.add_callback(responses.POST, BASE, callback=_ok)
    result = CliRunner().invoke(
        main, ["load-fixtures", "--fhir-base", BASE, "--dir", str(FIXTURES_DIR)]
    )
    assert result.exit_code == 0, result.output
    assert (
        _posted_bundles(responses.calls)["ae-hemi-clear"]
        == load_scenarios()["ae-hemi-clear"].bundle
    )


@responses.activate
def test_a_bundle_outside_the_scenario_table_keeps_its_dates(tmp_path: Path) -> None:
    responses.add_callback(responses.POST, BASE, callback=_ok)
    shutil.copy(FIXTURES_DIR / "scenarios.json", tmp_path)
    shutil.copy(FIXTURES_DIR / "ae-hemi-clear.json", tmp_path)
    extra = json.loads((FIXTURES_DIR / "gbs-mp.json").read_text())
    (tmp_path / "zz-extra.json").write_text(json.dumps(extra))
    result = CliRunner().invoke(
        main, ["load-fixtures", "--fhir-base", BASE, "--dir", str(tmp_path), "--shift-to-now"]
    )
    assert result.exit_code == 0, result.output
    assert "zz-extra.json: 3 entries loaded (dates kept: not in scenarios.json)" in result.output
    assert _posted_bundles(responses.calls)["gbs-mp"] == extra


def test_shift_to_now_without_a_scenario_table_is_refused(tmp_path: Path) -> None:
    shutil.copy(FIXTURES_DIR / "gbs-mp.json", tmp_path)
    result = CliRunner().invoke(
        main, ["load-fixtures", "--fhir-base", BASE, "--dir", str(tmp_path), "--shift-to-now"]
    )
    assert result.exit_code != 0 and "needs" in result.output and "scenarios.json" in result.output


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(main, ["invoke", *args])
    assert result.exit_code == 0, result.output
    return result.stdout  # stderr carries the "authentication is OFF" warning


def test_a_bundle_is_judged_today_unless_as_of_names_its_day() -> None:
    today = _invoke("--bundle", HEMI, "--service", "immunotherapy-guidance")
    assert "No CSF infection studies found" in today  # the CSF results are months old
    assert (
        _invoke("--bundle", HEMI, "--service", "immunotherapy-guidance", "--as-of", "now") == today
    )
    then = _invoke("--bundle", HEMI, "--service", "immunotherapy-guidance", "--as-of", "2026-03-01")
    assert then.startswith("[1] INFO     AE, CSF clear of infection: start IV methylprednisolone")


def test_a_request_file_can_be_judged_at_its_own_date() -> None:
    example = "hooks/examples/immunotherapy-guidance--ae-hemi-clear.json"
    out = _invoke(example, "--as-of", "2026-11-21T12:00:00Z")
    assert out.startswith("[1] INFO     AE, CSF clear of infection"), out


@responses.activate
def test_with_url_the_request_dates_move_instead_since_the_service_has_its_own_clock() -> None:
    responses.add(
        responses.POST, "http://svc.test/cds-services/immunotherapy-guidance", json={"cards": []}
    )
    _invoke(
        "--bundle",
        HEMI,
        "--service",
        "immunotherapy-guidance",
        "--as-of",
        "2026-03-01",
        "--url",
        "http://svc.test",
    )
    sent = json.loads(responses.calls[0].request.body or b"")
    patient = sent["prefetch"]["patient"]
    original = json.loads(Path(HEMI).read_text())
    born = next(
        e["resource"]["birthDate"]
        for e in original["entry"]
        if e["resource"]["resourceType"] == "Patient"
    )
    shift = datetime.now(UTC) - datetime(2026, 3, 1, 12, tzinfo=UTC)
    expected = (datetime.fromisoformat(born) + timedelta(days=shift.days)).date().isoformat()
    assert patient["birthDate"] == expected


def test_fhir_server_sends_no_prefetch() -> None:
    with responses.RequestsMock() as mocked:
        mocked.add(
            responses.POST,
            "http://svc.test/cds-services/immunotherapy-guidance",
            json={"cards": []},
        )
        _invoke(
            "--scenario",
            "ae-hemi-clear",
            "--fhir-server",
            "http://fhir.test/fhir",
            "--url",
            "http://svc.test",
        )
        sent = json.loads(mocked.calls[0].request.body or b"")
    assert "prefetch" not in sent and sent["fhirServer"] == "http://fhir.test/fhir"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", None),
        ("NOW", None),
        (None, None),
        ("2026-03-01", datetime(2026, 3, 1, 12, tzinfo=UTC)),
        ("2026-03-01T08:30:00", datetime(2026, 3, 1, 8, 30, tzinfo=UTC)),
        ("2026-03-01T08:30:00+01:00", datetime(2026, 3, 1, 7, 30, tzinfo=UTC)),
        ("2026-03-01T08:30:00Z", datetime(2026, 3, 1, 8, 30, tzinfo=UTC)),
    ],
)
def test_as_of_reads_now_a_date_or_a_datetime(text: str | None, expected: datetime | None) -> None:
    assert parse_as_of(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "03/01/2026"])
def test_a_bad_as_of_is_a_usage_error(text: str) -> None:
    with pytest.raises(click.BadParameter):
        parse_as_of(text)
