"""The FHIR client against canned HAPI-shaped answers: headers, retries, timeouts, error tree."""

from __future__ import annotations

import logging
import time

import pytest
import requests
import responses

from cds_service.fhir_client import (
    FhirClient,
    FhirForbidden,
    FhirNotFound,
    FhirServerError,
    FhirTokenRejected,
    FhirUnavailable,
    Timeouts,
    session_for,
)

BASE = "http://ehr.example/fhir"
TOKEN = "secret-access-token-123"
HAPI_OO = {
    "resourceType": "OperationOutcome",
    "issue": [
        {
            "severity": "error",
            "code": "processing",
            "diagnostics": 'HAPI-0524: Unknown search parameter "foo" for resource type '
            '"Observation". Valid search parameters for this search are: ...',
        }
    ],
}
FAST = Timeouts(connect=0.5, read=0.5, attempts=3, backoff=0.01)


def client(token: str | None = TOKEN) -> FhirClient:
    return FhirClient(BASE, token=token, timeouts=FAST, session=requests.Session())


@responses.activate
def test_bearer_token_and_fhir_json_accept_are_sent_to_the_fhir_server() -> None:
    responses.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    assert client().get("Patient/p1")["id"] == "p1"
    headers = responses.calls[0].request.headers
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Accept"] == "application/fhir+json"


@responses.activate
def test_no_authorization_header_is_sent_without_a_token() -> None:
    responses.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    client(token=None).get("Patient/p1")
    assert "Authorization" not in responses.calls[0].request.headers


@responses.activate
def test_a_url_on_another_origin_is_refused_without_a_request() -> None:
    with pytest.raises(FhirUnavailable, match="another origin"):
        client().get("http://elsewhere.example/fhir/Patient/p1")
    assert len(responses.calls) == 0


@responses.activate
def test_503_is_retried_with_backoff_until_it_succeeds() -> None:
    url = f"{BASE}/Observation"
    responses.get(url, status=503, body="Service Unavailable")
    responses.get(url, status=503, body="Service Unavailable")
    responses.get(url, json={"resourceType": "Bundle", "type": "searchset"})
    assert client().get("Observation")["resourceType"] == "Bundle"
    assert len(responses.calls) == 3


@responses.activate
def test_502_504_exhaust_the_attempts_and_report_the_server_unavailable() -> None:
    responses.get(f"{BASE}/Observation", status=504)
    with pytest.raises(FhirUnavailable) as caught:
        client().get("Observation")
    assert caught.value.status == 504
    assert len(responses.calls) == 3


@responses.activate
def test_401_is_a_token_problem_and_is_never_retried() -> None:
    responses.get(
        f"{BASE}/Patient/p1",
        status=401,
        json=HAPI_OO,
        headers={"WWW-Authenticate": 'Bearer realm="fhir"'},
    )
    with pytest.raises(FhirTokenRejected) as caught:
        client().get("Patient/p1")
    assert caught.value.status == 401
    assert len(responses.calls) == 1


@responses.activate
def test_403_is_a_scope_problem_and_is_never_retried() -> None:
    responses.get(f"{BASE}/Patient/p1", status=403, json=HAPI_OO)
    with pytest.raises(FhirForbidden):
        client().get("Patient/p1")
    assert len(responses.calls) == 1


@responses.activate
@pytest.mark.parametrize("status", [404, 410])
def test_404_and_410_are_not_found_and_410_is_gone(status: int) -> None:
    responses.get(f"{BASE}/Patient/gone", status=status, json=HAPI_OO)
    with pytest.raises(FhirNotFound) as caught:
        client().get("Patient/gone")
    assert caught.value.gone is (status == 410)


@responses.activate
def test_a_400_keeps_the_servers_operation_outcome_as_data() -> None:
    responses.get(f"{BASE}/Observation", status=400, json=HAPI_OO)
    with pytest.raises(FhirServerError) as caught:
        client().get("Observation?foo=bar")
    assert caught.value.operation_outcome == HAPI_OO
    assert caught.value.status == 400
    assert "foo=bar" not in str(caught.value) and "?" not in caught.value.url


@responses.activate
def test_connect_timeouts_are_retried_but_read_timeouts_are_not() -> None:
    responses.get(f"{BASE}/A", body=requests.ConnectTimeout("connect timed out"))
    responses.get(f"{BASE}/B", body=requests.ReadTimeout("read timed out"))
    with pytest.raises(FhirUnavailable):
        client().get("A")
    assert len(responses.calls) == 3
    with pytest.raises(FhirUnavailable, match="did not answer in time"):
        client().get("B")
    assert len(responses.calls) == 4


@responses.activate
def test_request_timeouts_are_explicit_and_cut_to_the_deadline() -> None:
    responses.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    slow = FhirClient(BASE, timeouts=Timeouts(connect=1.0, read=2.5), session=requests.Session())
    slow.get("Patient/p1")
    slow.get("Patient/p1", deadline=time.monotonic() + 0.3)
    first = responses.calls[0].request.req_kwargs  # type: ignore[attr-defined]
    assert first["timeout"] == (1.0, 2.5)
    connect, read = responses.calls[1].request.req_kwargs["timeout"]  # type: ignore[attr-defined]
    assert connect <= 0.3 and read <= 0.3


@responses.activate
def test_no_retry_starts_after_the_deadline() -> None:
    responses.get(f"{BASE}/Observation", status=503, headers={"Retry-After": "5"})
    started = time.monotonic()
    with pytest.raises(FhirUnavailable):
        client().get("Observation", deadline=time.monotonic() + 0.5)
    assert time.monotonic() - started < 0.5
    assert len(responses.calls) == 1


@responses.activate
def test_redirects_are_not_followed_so_the_token_cannot_travel() -> None:
    responses.get(
        f"{BASE}/Patient/p1",
        status=302,
        headers={"Location": "http://elsewhere.example/Patient/p1"},
    )
    with pytest.raises(FhirServerError):
        client().get("Patient/p1")
    assert [c.request.url for c in responses.calls] == [f"{BASE}/Patient/p1"]


def test_next_links_are_rebased_only_when_their_path_lies_under_the_base() -> None:
    c = FhirClient("https://ehr.example/fhir", token=TOKEN, session=requests.Session())
    same = "https://ehr.example/fhir?_getpages=abc&_getpagesoffset=20"
    assert c.rebase(same) == same
    assert c.rebase("http://hapi-internal:8080/fhir?_getpages=abc") == (
        "https://ehr.example/fhir?_getpages=abc"
    )
    assert c.rebase("http://hapi-internal:8080/fhir/Observation?_offset=20") == (
        "https://ehr.example/fhir/Observation?_offset=20"
    )
    assert c.rebase("https://evil.example/other/Observation?_offset=20") is None
    assert c.rebase("https://evil.example/fhirx?_getpages=abc") is None


def test_the_token_stays_out_of_repr_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    c = client()
    assert TOKEN not in repr(c)
    with responses.RequestsMock() as mock, caplog.at_level(logging.DEBUG):
        mock.get(f"{BASE}/Observation", json={"resourceType": "Bundle", "type": "searchset"})
        c.get("Observation?patient=p1&code=http://loinc.org|2951-2")
    assert TOKEN not in caplog.text
    assert "2951-2" not in caplog.text  # no query strings (patient ids, codes) in logs


def test_a_patient_id_in_the_path_stays_out_of_logs_and_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    c = client()
    with responses.RequestsMock() as mock, caplog.at_level(logging.DEBUG):
        mock.get(f"{BASE}/Patient/pat-secret-77", status=404)
        with pytest.raises(FhirNotFound) as missing:
            c.get("Patient/pat-secret-77")
    assert "pat-secret-77" not in caplog.text
    assert "pat-secret-77" not in missing.value.url
    assert missing.value.url.endswith("/Patient/{id}")


def test_one_pooled_session_is_shared_per_fhir_base() -> None:
    assert session_for("http://a.example/fhir/") is session_for("http://a.example/fhir")
    assert session_for("http://a.example/fhir") is not session_for("http://b.example/fhir")
