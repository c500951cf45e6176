"""Paging searchset Bundles the way HAPI and other servers link them, and where the token may go."""

from __future__ import annotations

from typing import Any

import responses
from responses import matchers

from cds_service.config import defaults
from cds_service.protocol.request import HookRequest
from cds_service.resolution import resolve
from cds_service.resolution.resolved import KeyState
from cds_service.services import ServiceDefinition
from tests.resolution_requests import hook_request

FHIR = "https://ehr.example/fhir"
TOKEN = "secret-access-token-123"
TEMPLATE = "Observation?patient={{context.patientId}}&code=http://loinc.org|2951-2"
CONFIG = {**defaults(), "FHIR_BUDGET_SECONDS": 3.0, "FHIR_MAX_PAGES": 10}


def service() -> ServiceDefinition:
    return ServiceDefinition(
        id="svc",
        hook="patient-view",
        title="t",
        description="d",
        prefetch={"sodium": TEMPLATE},
        required_prefetch=frozenset({"sodium"}),
        examples=(),
    )


def request(prefetch: dict[str, Any] | None = None, *, server: bool = True) -> HookRequest:
    return hook_request(
        prefetch or {}, fhir_server=FHIR if server else None, token=TOKEN if server else None
    )


def page(ids: list[str], next_url: str | None = None) -> dict[str, Any]:
    """A HAPI searchset page: a `self` link, maybe a `next` link, no `total` (HAPI omits it)."""
    links = [{"relation": "self", "url": f"{FHIR}/Observation?patient=p1"}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return {
        "resourceType": "Bundle",
        "id": "7d1c",
        "type": "searchset",
        "link": links,
        "entry": [
            {
                "fullUrl": f"{FHIR}/Observation/{i}",
                "resource": {"resourceType": "Observation", "id": i, "status": "final"},
                "search": {"mode": "match"},
            }
            for i in ids
        ],
    }


def getpages(offset: int, origin: str = FHIR) -> str:
    return (
        f"{origin}?_getpages=0b6b1e3d-7a66-4f5e&_getpagesoffset={offset}&_count=2"
        "&_pretty=true&_bundletype=searchset"
    )


def on_page(offset: int) -> list[Any]:
    return [
        matchers.query_param_matcher(
            {
                "_getpages": "0b6b1e3d-7a66-4f5e",
                "_getpagesoffset": str(offset),
                "_count": "2",
                "_pretty": "true",
                "_bundletype": "searchset",
            }
        )
    ]


def ids(resolved: Any) -> list[str]:
    return [r["id"] for r in resolved.resources("sodium")]


@responses.activate
def test_hapi_getpages_links_are_followed_verbatim_to_the_end() -> None:
    responses.get(f"{FHIR}/Observation", json=page(["o1", "o2"], getpages(2)))
    responses.get(FHIR, json=page(["o3", "o4"], getpages(4)), match=on_page(2))
    responses.get(FHIR, json=page(["o5"]), match=on_page(4))
    resolved = resolve(service(), request(), CONFIG)
    assert ids(resolved) == ["o1", "o2", "o3", "o4", "o5"]
    assert resolved.outcomes["sodium"].complete
    assert responses.calls[1].request.url == getpages(2)


@responses.activate
def test_offset_links_on_the_type_url_are_followed() -> None:
    responses.get(
        f"{FHIR}/Observation",
        json=page(["o1"], f"{FHIR}/Observation?patient=p1&_count=1&_offset=1"),
        match=[matchers.query_param_matcher({"patient": "p1", "code": "http://loinc.org|2951-2"})],
    )
    responses.get(
        f"{FHIR}/Observation",
        json=page(["o2"]),
        match=[matchers.query_param_matcher({"patient": "p1", "_count": "1", "_offset": "1"})],
    )
    assert ids(resolve(service(), request(), CONFIG)) == ["o1", "o2"]


@responses.activate
def test_paging_stops_at_the_page_cap_and_says_the_result_is_incomplete() -> None:
    responses.get(f"{FHIR}/Observation", json=page(["o1", "o2"], getpages(2)))
    responses.get(FHIR, json=page(["o3", "o4"], getpages(4)), match=on_page(2))
    resolved = resolve(service(), request(), {**CONFIG, "FHIR_MAX_PAGES": 2})
    assert ids(resolved) == ["o1", "o2", "o3", "o4"]
    assert not resolved.outcomes["sodium"].complete
    assert "2 pages" in (resolved.outcomes["sodium"].reason or "")


@responses.activate
def test_a_next_link_on_a_foreign_origin_is_not_followed_and_never_gets_the_token() -> None:
    foreign = "https://evil.example/steal?_getpages=abc&_getpagesoffset=2"
    responses.get(f"{FHIR}/Observation", json=page(["o1", "o2"], foreign))
    responses.get("https://evil.example/steal", json=page(["x"]))
    resolved = resolve(service(), request(), CONFIG)
    assert ids(resolved) == ["o1", "o2"]
    assert not resolved.outcomes["sodium"].complete
    assert all(c.request.url.startswith(FHIR) for c in responses.calls)
    assert len(responses.calls) == 1


@responses.activate
def test_a_next_link_built_from_an_internal_host_is_rebased_onto_fhir_server() -> None:
    responses.get(
        f"{FHIR}/Observation", json=page(["o1", "o2"], getpages(2, "http://hapi:8080/fhir"))
    )
    responses.get(FHIR, json=page(["o3"]), match=on_page(2))
    resolved = resolve(service(), request(), CONFIG)
    assert ids(resolved) == ["o1", "o2", "o3"]
    assert resolved.outcomes["sodium"].complete
    assert all(c.request.url.startswith(FHIR) for c in responses.calls)


@responses.activate
def test_a_410_on_a_page_restarts_the_search_once() -> None:
    responses.get(f"{FHIR}/Observation", json=page(["o1", "o2"], getpages(2)))
    responses.get(
        FHIR,
        status=410,
        match=on_page(2),
        json={
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "error",
                    "code": "processing",
                    "diagnostics": (
                        'HAPI-0417: Search ID "0b6b1e3d" does not exist and may have expired'
                    ),
                }
            ],
        },
    )
    responses.get(f"{FHIR}/Observation", json=page(["o1", "o2", "o3"]))
    resolved = resolve(service(), request(), CONFIG)
    assert ids(resolved) == ["o1", "o2", "o3"]  # the restarted search only, no duplicates
    assert resolved.outcomes["sodium"].complete
    assert len(responses.calls) == 3


@responses.activate
def test_a_second_410_keeps_what_was_read_and_marks_it_incomplete() -> None:
    responses.get(f"{FHIR}/Observation", json=page(["o1", "o2"], getpages(2)))
    responses.get(FHIR, status=410, match=on_page(2))
    resolved = resolve(service(), request(), CONFIG)
    assert ids(resolved) == ["o1", "o2"]
    assert not resolved.outcomes["sodium"].complete
    assert len(responses.calls) == 4


@responses.activate
def test_a_prefetched_bundle_with_a_next_link_is_completed_from_fhir_server() -> None:
    responses.get(FHIR, json=page(["o3"]), match=on_page(2))
    resolved = resolve(service(), request({"sodium": page(["o1", "o2"], getpages(2))}), CONFIG)
    assert ids(resolved) == ["o1", "o2", "o3"]
    assert resolved.outcomes["sodium"].source == "prefetch"
    assert resolved.outcomes["sodium"].complete
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


@responses.activate
def test_a_prefetched_bundle_with_a_next_link_and_no_server_is_kept_incomplete() -> None:
    resolved = resolve(
        service(), request({"sodium": page(["o1"], getpages(2))}, server=False), CONFIG
    )
    assert resolved.outcomes["sodium"].state is KeyState.PROVIDED
    assert not resolved.outcomes["sodium"].complete
    assert len(responses.calls) == 0
