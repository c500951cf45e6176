"""Prefetch diff (CDS Hooks 2.0 "Prefetch"): every state a declared key can arrive in, tokens."""

from __future__ import annotations

import json
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

import pytest
import responses
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.config import defaults
from cds_service.errors import DataUnavailable
from cds_service.hook_requests import bundle_entries
from cds_service.protocol.request import HookRequest
from cds_service.resolution import prefetch, resolve
from cds_service.resolution.resolved import KeyState
from cds_service.resolution.templates import render, resource_type_of, resource_type_of_template
from cds_service.services import ServiceDefinition
from tests.resolution_requests import hook_request

FHIR = "http://ehr.example/fhir"
TOKEN = "secret-access-token-123"
TEMPLATES = {
    "patient": "Patient/{{context.patientId}}",
    "sodium": "Observation?patient={{context.patientId}}&code=http://loinc.org|2951-2",
    "encounter": "Encounter/{{context.encounterId}}",
    "user": "Practitioner/{{userPractitionerId}}",
}
PATIENT = {"resourceType": "Patient", "id": "p1"}
SODIUM = {
    "resourceType": "Observation",
    "id": "na1",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "2951-2"}]},
}
CLIENT_OO = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "timeout", "diagnostics": "EHR timed out"}],
}


def service(
    required: AbstractSet[str] = frozenset(), templates: dict[str, str] = TEMPLATES
) -> ServiceDefinition:
    return ServiceDefinition(
        id="svc",
        hook="patient-view",
        title="t",
        description="d",
        prefetch=dict(templates),
        required_prefetch=frozenset(required),
        examples=(),
    )


def request(
    prefetch: dict[str, Any] | None, *, server: bool = False, context: dict[str, Any] | None = None
) -> HookRequest:
    return hook_request(
        prefetch,
        fhir_server=FHIR if server else None,
        token=TOKEN if server else None,
        context=context,
    )


def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {
                "fullUrl": f"{FHIR}/{r['resourceType']}/{r.get('id')}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


def test_a_prefetched_resource_and_searchset_are_provided_and_need_no_server() -> None:
    resolved = resolve(
        service(), request({"patient": PATIENT, "sodium": searchset(SODIUM)}), defaults()
    )
    assert resolved.outcomes["patient"].state is KeyState.PROVIDED
    assert resolved.resources("patient") == (PATIENT,)
    assert resolved.outcomes["sodium"].state is KeyState.PROVIDED
    assert resolved.resources("sodium") == (SODIUM,)
    assert resolved.outcomes["sodium"].source == "prefetch"


@pytest.mark.parametrize(
    "empty", [None, {"resourceType": "Bundle", "type": "searchset", "total": 0}]
)
def test_null_and_an_empty_searchset_are_known_empty(empty: Any) -> None:
    resolved = resolve(service({"sodium"}), request({"sodium": empty}), defaults())
    assert resolved.outcomes["sodium"].state is KeyState.EMPTY
    assert resolved.obtained("sodium")


@pytest.mark.parametrize("failed", [CLIENT_OO, searchset(CLIENT_OO)])
def test_an_operation_outcome_without_a_server_stays_failed_with_the_outcome_as_data(
    failed: dict[str, Any],
) -> None:
    resolved = resolve(service(), request({"sodium": failed}), defaults())
    outcome = resolved.outcomes["sodium"]
    assert outcome.state is KeyState.FAILED
    assert outcome.operation_outcomes == (CLIENT_OO,)


def test_a_required_key_failed_at_the_client_without_a_server_is_412() -> None:
    with pytest.raises(DataUnavailable) as caught:
        resolve(service({"sodium"}), request({"sodium": CLIENT_OO}), defaults())
    assert caught.value.status == 412
    assert [d["key"] for d in caught.value.details] == ["sodium"]


@responses.activate
def test_an_operation_outcome_is_refetched_when_a_server_is_available() -> None:
    responses.get(f"{FHIR}/Observation", json=searchset(SODIUM))
    resolved = resolve(service({"sodium"}), request({"sodium": CLIENT_OO}, server=True), defaults())
    assert resolved.outcomes["sodium"].state is KeyState.PROVIDED
    assert resolved.outcomes["sodium"].source == "fhir-server"
    assert resolved.resources("sodium") == (SODIUM,)


def test_missing_required_prefetch_without_fhir_server_is_412_naming_each_key() -> None:
    with pytest.raises(DataUnavailable) as caught:
        resolve(service({"patient", "sodium"}), request({}), defaults())
    details = {d["key"]: d["reason"] for d in caught.value.details}
    assert set(details) == {"patient", "sodium"}
    assert all("no fhirServer" in reason for reason in details.values())


def test_a_missing_optional_key_is_unavailable_not_an_error() -> None:
    resolved = resolve(service({"patient"}), request({"patient": PATIENT}), defaults())
    assert resolved.outcomes["sodium"].state is KeyState.UNAVAILABLE
    assert resolved.outcomes["sodium"].reason
    assert not resolved.obtained("sodium")


@pytest.mark.parametrize(
    "unusable",
    ["123", ["a"], {"id": "no-resource-type"}, {"resourceType": "Observation", "id": "wrong-type"}],
)
def test_unusable_prefetch_values_count_as_missing(unusable: Any) -> None:
    with pytest.raises(DataUnavailable) as caught:
        resolve(service({"patient"}), request({"patient": unusable}), defaults())
    assert caught.value.details[0]["key"] == "patient"


def test_over_delivered_prefetch_keeps_only_the_templates_resource_type() -> None:
    noise = [{"resourceType": "Condition", "id": f"c{i}"} for i in range(50)]
    warning = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "warning", "code": "informational"}],
    }
    bundle = searchset(SODIUM, *noise, warning, PATIENT)
    resolved = resolve(service(), request({"sodium": bundle}), defaults())
    assert resolved.resources("sodium") == (SODIUM,)
    assert resolved.outcomes["sodium"].operation_outcomes == (warning,)


def test_a_bundle_of_only_unrelated_types_is_known_empty() -> None:
    bundle = searchset({"resourceType": "Condition", "id": "c1"})
    assert resolve(service(), request({"sodium": bundle}), defaults()).outcomes["sodium"].state is (
        KeyState.EMPTY
    )


@responses.activate
def test_user_tokens_are_derived_from_user_id() -> None:
    responses.get(f"{FHIR}/Practitioner/u1", json={"resourceType": "Practitioner", "id": "u1"})
    templates = {"user": "Practitioner/{{userPractitionerId}}"}
    resolved = resolve(service(templates=templates), request({}, server=True), defaults())
    assert resolved.resources("user")[0]["id"] == "u1"


@responses.activate
def test_a_template_with_an_unresolvable_token_is_skipped_and_never_sent_half_filled() -> None:
    templates = {
        "encounter": "Encounter/{{context.encounterId}}",
        "role": "PractitionerRole?_id={{userPractitionerRoleId}}",
    }
    resolved = resolve(service(templates=templates), request({}, server=True), defaults())
    for key in templates:
        assert resolved.outcomes[key].state is KeyState.UNAVAILABLE
        assert resolved.outcomes[key].reason == "token not available"
    assert len(responses.calls) == 0


def test_a_prefetched_value_is_used_even_when_the_service_cannot_render_its_template() -> None:
    templates = {"role": "PractitionerRole?_id={{userPractitionerRoleId}}"}
    role = {"resourceType": "PractitionerRole", "id": "r1"}
    resolved = resolve(service({"role"}, templates), request({"role": searchset(role)}), defaults())
    assert resolved.resources("role") == (role,)


@responses.activate
def test_the_412_details_never_contain_the_access_token() -> None:
    responses.get(f"{FHIR}/Patient/p1", status=401)
    with pytest.raises(DataUnavailable) as caught:
        resolve(service({"patient"}), request({}, server=True), defaults())
    assert TOKEN not in repr(caught.value.details) and TOKEN not in str(caught.value)
    assert "401" in caught.value.details[0]["reason"]


@responses.activate
def test_a_template_whose_first_segment_is_a_token_takes_its_type_from_the_rendered_url() -> None:
    # "{{context.userId}}" reads "Practitioner/u1": only rendering names the type, so a
    # prefetched Practitioner is used and a prefetched Patient is not (it is re-read).
    templates = {"user": "{{context.userId}}"}
    practitioner = {"resourceType": "Practitioner", "id": "u1"}
    given = request({"user": practitioner}, context={"userId": "Practitioner/u1"})
    assert resolve(service(templates=templates), given, defaults()).resources("user") == (
        practitioner,
    )
    responses.get(f"{FHIR}/Practitioner/u1", json=practitioner)
    wrong = request(
        {"user": {"resourceType": "Patient", "id": "u1"}},
        server=True,
        context={"userId": "Practitioner/u1"},
    )
    resolved = resolve(service(templates=templates), wrong, defaults())
    assert resolved.outcomes["user"].source == "fhir-server"
    assert resolved.resources("user") == (practitioner,)


def test_a_templates_type_read_from_its_text_is_the_rendered_urls_type() -> None:
    values = {
        "context.patientId": "p/1?x",
        "context.userId": "Practitioner/u1",
        "context.encounterId": "e1",
        "userPractitionerId": "u1",
    }
    templates = [*TEMPLATES.values(), "{{context.userId}}", "/{{context.userId}}", "?_id=x"]
    for hooks_file in sorted(Path(__file__).parents[1].joinpath("hooks").glob("*.json")):
        templates += json.loads(hooks_file.read_text())["prefetch"].values()
    for template in templates:
        url = render(template, values).url
        from_text = resource_type_of_template(template)
        if from_text is not None:
            assert url is not None and resource_type_of(url) == from_text, template
    assert resource_type_of_template("{{context.userId}}") is None
    assert resource_type_of_template("Patient/{{context.patientId}}") == "Patient"


_KINDS = st.sampled_from(["Observation", "Condition", "OperationOutcome", "Patient", None, 3])
_RESOURCES = st.fixed_dictionaries({"resourceType": _KINDS}, optional={"id": st.just("r1")})
_ENTRIES: st.SearchStrategy[Any] = st.one_of(
    st.fixed_dictionaries({"resource": _RESOURCES}),
    st.fixed_dictionaries({"resource": st.one_of(st.none(), st.text(max_size=2), st.just([]))}),
    st.fixed_dictionaries({}),
    st.none(),
    st.text(max_size=2),
)
_BUNDLES = st.fixed_dictionaries(
    {"resourceType": st.just("Bundle")},
    optional={
        "entry": st.one_of(st.lists(_ENTRIES, max_size=8), st.none(), st.just("x")),
        "link": st.just([{"relation": "next", "url": "https://ehr.example.org/fhir?page=2"}]),
    },
)


def _keep(resources: list[dict[str, Any]], resource_type: str | None) -> tuple[dict[str, Any], ...]:
    if resource_type is None:
        return tuple(r for r in resources if r.get("resourceType") != "OperationOutcome")
    return tuple(r for r in resources if r.get("resourceType") == resource_type)


@settings(max_examples=300, deadline=None)
@given(_BUNDLES, st.sampled_from(["Observation", "OperationOutcome", None]))
def test_classify_bundle_in_one_pass_is_the_three_passes_it_replaced(
    bundle: dict[str, Any], resource_type: str | None
) -> None:
    # The plain reading the one pass replaced: every entry's resource that is an object.
    resources = bundle_entries(bundle)
    outcomes = tuple(r for r in resources if r.get("resourceType") == "OperationOutcome")
    got = prefetch.classify_bundle(bundle, resource_type)
    if resources and len(outcomes) == len(resources):
        assert got.state is KeyState.FAILED and got.operation_outcomes == outcomes
        assert got.resources == () and got.next_url is None
        return
    kept = _keep(resources, resource_type)
    assert got.state is (KeyState.PROVIDED if kept else KeyState.EMPTY)
    assert (got.resources, got.operation_outcomes) == (kept, outcomes)
    assert got.next_url == prefetch.next_link(bundle)
