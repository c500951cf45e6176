"""Fetching missing keys from fhirServer: concurrency, the time budget, errors, the allowlist."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from typing import Any

import pytest
import requests
import responses

from cds_service.config import defaults
from cds_service.errors import DataUnavailable
from cds_service.protocol.request import HookRequest
from cds_service.resolution import resolve
from cds_service.resolution.resolved import KeyState
from cds_service.services import ServiceDefinition
from tests.resolution_requests import hook_request

FHIR = "http://ehr.example/fhir"
TOKEN = "secret-access-token-123"
TEMPLATES = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}&clinical-status=active",
    "sodium": "Observation?patient={{context.patientId}}&code=http://loinc.org|2951-2",
    "medications": "MedicationRequest?patient={{context.patientId}}",
}
HAPI_OO = {
    "resourceType": "OperationOutcome",
    "issue": [
        {
            "severity": "error",
            "code": "processing",
            "diagnostics": 'HAPI-0524: Unknown search parameter "clinical-status"',
        }
    ],
}
FAST = {
    **defaults(),
    "FHIR_BUDGET_SECONDS": 3.0,
    "FHIR_CONNECT_TIMEOUT_SECONDS": 0.5,
    "FHIR_READ_TIMEOUT_SECONDS": 2.0,
    "FHIR_MAX_PAGES": 10,
}


def service(required: AbstractSet[str] = frozenset()) -> ServiceDefinition:
    return ServiceDefinition(
        id="svc",
        hook="patient-view",
        title="t",
        description="d",
        prefetch=dict(TEMPLATES),
        required_prefetch=frozenset(required),
        examples=(),
    )


def request(prefetch: dict[str, Any] | None = None, token: str | None = TOKEN) -> HookRequest:
    return hook_request(prefetch, fhir_server=FHIR, token=token)


def searchset(resource_type: str, count: int = 1) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {
                "fullUrl": f"{FHIR}/{resource_type}/{resource_type[:3]}{i}",
                "resource": {"resourceType": resource_type, "id": f"{resource_type[:3]}{i}"},
                "search": {"mode": "match"},
            }
            for i in range(count)
        ],
    }


def serve_everything(mock: responses.RequestsMock) -> None:
    mock.get(f"{FHIR}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    for resource_type in ("Condition", "Observation", "MedicationRequest"):
        mock.get(f"{FHIR}/{resource_type}", json=searchset(resource_type, 2))


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Slow callbacks wait on this; set at teardown so no thread outlives the test for long."""
    event = threading.Event()
    yield event
    event.set()


@responses.activate
def test_missing_keys_are_fetched_with_the_bearer_token() -> None:
    serve_everything(responses.mock)
    resolved = resolve(service({"patient", "conditions"}), request({}), FAST)
    assert {k: o.state for k, o in resolved.outcomes.items()} == dict.fromkeys(
        TEMPLATES, KeyState.PROVIDED
    )
    assert all(o.source == "fhir-server" for o in resolved.outcomes.values())
    assert len(resolved.resources("sodium")) == 2
    assert {c.request.headers["Authorization"] for c in responses.calls} == {f"Bearer {TOKEN}"}


@responses.activate
def test_only_keys_missing_from_prefetch_are_fetched() -> None:
    serve_everything(responses.mock)
    prefetch = {
        "patient": {"resourceType": "Patient", "id": "p1"},
        "conditions": searchset("Condition"),
        "medications": None,
    }
    resolved = resolve(service(), request(prefetch), FAST)
    assert [c.request.path_url.split("?")[0] for c in responses.calls] == ["/fhir/Observation"]
    assert resolved.outcomes["medications"].state is KeyState.EMPTY


@responses.activate
def test_no_authorization_header_is_sent_when_the_request_carries_no_token() -> None:
    serve_everything(responses.mock)
    resolve(service(), request({}, token=None), FAST)
    assert len(responses.calls) == 4
    assert not any("Authorization" in c.request.headers for c in responses.calls)


def test_several_missing_keys_are_fetched_concurrently(release: threading.Event) -> None:
    in_flight, peak, lock = [0], [0], threading.Lock()

    def slow(req: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        release.wait(0.4)
        with lock:
            in_flight[0] -= 1
        resource_type = req.path_url.split("?")[0].split("/")[2]  # /fhir/<type>[/id]
        body = (
            {"resourceType": "Patient", "id": "p1"}
            if resource_type == "Patient"
            else searchset(resource_type)
        )
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(body)

    with responses.RequestsMock() as mock:
        for path in ("Patient/p1", "Condition", "Observation", "MedicationRequest"):
            mock.add_callback(responses.GET, f"{FHIR}/{path}", callback=slow)
        started = time.monotonic()
        resolved = resolve(service(), request({}), FAST)
        elapsed = time.monotonic() - started
    assert all(o.state is KeyState.PROVIDED for o in resolved.outcomes.values())
    assert peak[0] == 4
    assert elapsed < 1.0  # four 0.4 s answers one after another would take 1.6 s


def test_a_slow_server_ends_in_412_within_the_budget(release: threading.Event) -> None:
    def hang(req: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        release.wait(5)
        return 200, {}, "{}"

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, f"{FHIR}/Condition", callback=hang)
        mock.add_callback(responses.GET, f"{FHIR}/Patient/p1", callback=hang)
        started = time.monotonic()
        with pytest.raises(DataUnavailable) as caught:
            resolve(
                service({"conditions"}),
                request({"sodium": None, "medications": None}),
                {**FAST, "FHIR_BUDGET_SECONDS": 0.5},
            )
        elapsed = time.monotonic() - started
    assert 0.45 <= elapsed < 0.7
    assert caught.value.details == [
        {
            "key": "conditions",
            "state": "unavailable",
            "reason": "time budget of 0.5 s spent before fhirServer answered",
        }
    ]


def test_a_slow_server_leaves_optional_keys_unknown_within_the_budget(
    release: threading.Event,
) -> None:
    def hang(req: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        release.wait(5)
        return 200, {}, "{}"

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, f"{FHIR}/Observation", callback=hang)
        mock.get(f"{FHIR}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
        started = time.monotonic()
        resolved = resolve(
            service({"patient"}),
            request({"conditions": None, "medications": None}),
            {**FAST, "FHIR_BUDGET_SECONDS": 0.4},
        )
        elapsed = time.monotonic() - started
    assert elapsed < 0.6
    assert resolved.outcomes["patient"].state is KeyState.PROVIDED
    assert resolved.outcomes["sodium"].state is KeyState.UNAVAILABLE
    assert "time budget" in (resolved.outcomes["sodium"].reason or "")


@responses.activate
def test_a_503_is_retried_and_the_key_is_still_obtained() -> None:
    responses.get(f"{FHIR}/Observation", status=503)
    responses.get(f"{FHIR}/Observation", json=searchset("Observation"))
    prefetch = {"patient": None, "conditions": None, "medications": None}
    resolved = resolve(service({"sodium"}), request(prefetch), FAST)
    assert resolved.outcomes["sodium"].state is KeyState.PROVIDED
    assert len(responses.calls) == 2


@responses.activate
def test_a_401_is_reported_as_a_token_problem_with_412_and_not_retried() -> None:
    responses.get(f"{FHIR}/Condition", status=401, json=HAPI_OO)
    prefetch = {"patient": None, "sodium": None, "medications": None}
    with pytest.raises(DataUnavailable) as caught:
        resolve(service({"conditions"}), request(prefetch), FAST)
    assert "rejected the access token (401)" in caught.value.details[0]["reason"]
    assert len(responses.calls) == 1


@responses.activate
def test_a_401_without_a_token_says_the_request_carried_none() -> None:
    responses.get(f"{FHIR}/Condition", status=401)
    prefetch = {"patient": None, "sodium": None, "medications": None}
    with pytest.raises(DataUnavailable) as caught:
        resolve(service({"conditions"}), request(prefetch, token=None), FAST)
    assert "carried none" in caught.value.details[0]["reason"]


@responses.activate
def test_a_403_is_reported_as_a_scope_problem() -> None:
    responses.get(f"{FHIR}/Condition", status=403, json=HAPI_OO)
    prefetch = {"patient": None, "sodium": None, "medications": None}
    with pytest.raises(DataUnavailable) as caught:
        resolve(service({"conditions"}), request(prefetch), FAST)
    assert "scope" in caught.value.details[0]["reason"]


@responses.activate
def test_a_server_error_keeps_its_operation_outcome_as_data() -> None:
    responses.get(f"{FHIR}/Condition", status=400, json=HAPI_OO)
    prefetch = {"patient": None, "sodium": None, "medications": None}
    outcome = resolve(service(), request(prefetch), FAST).outcomes["conditions"]
    assert outcome.state is KeyState.FAILED
    assert outcome.operation_outcomes == (HAPI_OO,)


@responses.activate
def test_a_404_on_a_read_is_known_empty() -> None:
    responses.get(f"{FHIR}/Patient/p1", status=404, json=HAPI_OO)
    prefetch = {"conditions": None, "sodium": None, "medications": None}
    assert resolve(service(), request(prefetch), FAST).outcomes["patient"].state is (KeyState.EMPTY)


@responses.activate
def test_an_unreachable_server_is_412_for_required_keys() -> None:
    responses.get(f"{FHIR}/Condition", body=requests.ConnectionError("connection refused"))
    prefetch = {"patient": None, "sodium": None, "medications": None}
    with pytest.raises(DataUnavailable) as caught:
        resolve(service({"conditions"}), request(prefetch), FAST)
    assert "not reachable" in caught.value.details[0]["reason"]
    assert len(responses.calls) == 3  # connection errors are retried


@responses.activate
def test_a_server_that_is_not_allowed_gets_no_request_and_counts_as_unreachable() -> None:
    serve_everything(responses.mock)
    asked: list[str] = []

    def is_allowed(url: str) -> bool:
        asked.append(url)
        return False

    with pytest.raises(DataUnavailable) as caught:
        resolve(service({"conditions"}), request({}), FAST, is_allowed=is_allowed)
    assert asked == [FHIR]
    assert len(responses.calls) == 0
    assert "allowlist" in caught.value.details[0]["reason"]


@responses.activate
def test_an_allowed_server_is_used() -> None:
    serve_everything(responses.mock)
    resolved = resolve(service(), request({}), FAST, is_allowed=lambda url: url == FHIR)
    assert all(o.state is KeyState.PROVIDED for o in resolved.outcomes.values())
