"""The fixture loader: only idempotent transaction Bundles, token only when given, loud refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import responses

from cds_service.fixture_loader import FixtureError, check_bundle, load_bundle

BASE = "http://fhir.example/fhir"
BUNDLE = json.loads((Path(__file__).parent / "data" / "resolution" / "res-p1.json").read_text())


def test_the_resolution_test_fixture_is_a_loadable_transaction() -> None:
    check_bundle(BUNDLE, "res-p1.json")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"type": "batch"}, "transaction"),
        (
            {
                "entry": [
                    {
                        "resource": {"resourceType": "Patient", "id": "p"},
                        "request": {"method": "POST", "url": "Patient"},
                    }
                ]
            },
            "PUT",
        ),
        (
            {
                "entry": [
                    {
                        "resource": {"resourceType": "Patient", "id": "p"},
                        "request": {"method": "PUT", "url": "Patient/q"},
                    }
                ]
            },
            "Patient/p",
        ),
    ],
)
def test_bundles_that_would_not_load_idempotently_are_refused(
    change: dict[str, object], problem: str
) -> None:
    with pytest.raises(FixtureError, match=problem):
        check_bundle({**BUNDLE, **change}, "x.json")


@responses.activate
def test_the_bundle_is_posted_to_the_base_with_the_token_only_when_given() -> None:
    answer = {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [{"response": {"status": "201 Created"}}] * len(BUNDLE["entry"]),
    }
    responses.post(BASE, json=answer)
    load_bundle(BASE, BUNDLE, token="loader-token-1234")
    load_bundle(BASE, BUNDLE)
    assert responses.calls[0].request.headers["Authorization"] == "Bearer loader-token-1234"
    assert "Authorization" not in responses.calls[1].request.headers
    assert responses.calls[0].request.headers["Content-Type"] == "application/fhir+json"


@responses.activate
def test_a_refused_transaction_names_the_file_and_the_servers_diagnostics() -> None:
    responses.post(
        BASE,
        status=400,
        json={
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "error",
                    "code": "processing",
                    "diagnostics": "HAPI-0541: bad reference",
                }
            ],
        },
    )
    with pytest.raises(FixtureError, match=r"res-p1.json: the server answered 400: HAPI-0541"):
        load_bundle(BASE, BUNDLE, name="res-p1.json")
