"""`/openapi.json`: a valid OpenAPI 3.1 document, generated from the wire models, covering every
route, agreeing with the spec's own API description (`tests/data/spec/cds-hooks.yaml`) where the
two overlap, and accepting the spec's own examples. The fuzzing lives in `test_openapi_fuzz.py`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from cds_service import create_app
from tests.conftest import ROOT, SPEC_EXAMPLES
from tests.fake_ehr import write_trusted_issuers

SPEC_API = yaml.safe_load((ROOT / "tests" / "data" / "spec" / "cds-hooks.yaml").read_text())
DEFINITIONS: dict[str, Any] = SPEC_API["definitions"]

# The spec's definition -> ours, and which way the data flows: what the service accepts must admit
# everything the spec allows (request), what it emits must stay within what the spec allows.
REQUEST, RESPONSE = "request", "response"
OVERLAP = {
    "CDS Service Information": ("DiscoveryResponse", RESPONSE),
    "CDS Service": ("DiscoveryEntry", RESPONSE),
    "CDS Request": ("HookRequest", REQUEST),
    "FHIR Authorization": ("FhirAuthorization", REQUEST),
    "CDS Response": ("CdsResponse", RESPONSE),
    "Card": ("Card", RESPONSE),
    "Source": ("Source", RESPONSE),
    "Link": ("Link", RESPONSE),
    "Suggestion": ("Suggestion", RESPONSE),
    "Action": ("Action", RESPONSE),
}
# Deliberate differences, each with its reason; anything else that differs fails the test.
DEVIATIONS = {
    ("Card", "selectionBehavior", "enum"): "CDS Hooks 2.0 'Card Attributes' allows `at-most-one` "
    "and `any`; the YAML predates `any`",
}
# The spec's own example that breaks the spec's rules, and the one error it must give.
SPEC_EXAMPLE_FAULTS = {
    "response-autolaunchable": "'indicator' is a required property",  # the Card table: REQUIRED
}
SPEC_EXAMPLE_SCHEMAS = {
    "discovery": "DiscoveryResponse",
    "discovery-with-extension": "DiscoveryResponse",
    "request-patient-view": "HookRequest",
    "request-with-extension": "HookRequest",
    "feedback-accepted": "FeedbackRequest",
    "feedback-overridden": "FeedbackRequest",
    "feedback-overridden-reason": "FeedbackRequest",
    "response-cards": "CdsResponse",
    "response-cards-2": "CdsResponse",
    "response-system-actions": "CdsResponse",
    "response-autolaunchable": "CdsResponse",
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    app = create_app({"AUTH_ENABLED": False, "DATABASE_URL": "sqlite://", "LOG_LEVEL": "WARNING"})
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    loaded: dict[str, Any] = response.get_json()
    return loaded


def _ours(document: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = document["components"]["schemas"][name]
    return schema


def _types(schema: dict[str, Any]) -> set[str]:
    """JSON types a (pydantic or Swagger) property schema allows, `null` aside."""
    if "$ref" in schema:
        return {"object"}
    if "anyOf" in schema:
        return set().union(*(_types(s) for s in schema["anyOf"])) - {"null"}
    if "const" in schema and "type" not in schema:
        return {type(schema["const"]).__name__.replace("str", "string")}
    kind = schema.get("type")
    return {kind} if isinstance(kind, str) else set(kind or ())


def _enum(schema: dict[str, Any]) -> set[Any] | None:
    if "anyOf" in schema:
        found = [e for e in (_enum(s) for s in schema["anyOf"]) if e is not None]
        return set().union(*found) if found else None
    if "enum" in schema:
        return set(schema["enum"])
    if "const" in schema:
        return {schema["const"]}
    return None


def _validator(document: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    root = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return jsonschema.Draft202012Validator(root)


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    validate(document)  # raises on any violation of the OpenAPI 3.1 schema


def test_every_route_is_documented_and_every_documented_path_is_served(
    app: Flask, document: dict[str, Any]
) -> None:
    served = set()
    for rule in app.url_map.iter_rules():
        # The document describes the CDS Hooks API (the `cds` blueprint); the operator and preview
        # pages are not part of what an EHR integrates with.
        if not rule.endpoint.startswith("cds."):
            continue
        path = rule.rule.replace("<service_id>", "{id}")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            served.add((path, method.lower()))
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    templated = {(p, m) for p, m in documented if "{" in p or "/cds-services/" not in p}
    assert served == templated
    for service_id in ("immunotherapy-guidance", "immunotherapy-order-select"):
        assert (f"/cds-services/{service_id}", "post") in documented
        assert (f"/cds-services/{service_id}/feedback", "post") in documented


def test_each_service_path_takes_its_own_hooks_request(document: dict[str, Any]) -> None:
    schema = document["paths"]["/cds-services/immunotherapy-order-select"]["post"]
    ref = schema["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    request = _ours(document, ref.rsplit("/", 1)[1])
    assert request["properties"]["hook"]["const"] == "order-select"
    assert request["properties"]["context"]["$ref"].endswith("/OrderSelectContext")
    context = _ours(document, "OrderSelectContext")
    assert {"userId", "patientId", "draftOrders", "selections"} <= set(context["required"])


def test_schemas_come_from_the_wire_models(document: dict[str, Any]) -> None:
    from cds_service.protocol.response import MAX_SUMMARY_CHARS

    card = _ours(document, "Card")
    assert card["properties"]["summary"]["maxLength"] == MAX_SUMMARY_CHARS
    assert card["additionalProperties"] is False  # StrictModel: extra="forbid"
    errors = _ours(document, "ErrorResponse")
    assert set(errors["required"]) == {"error", "message"}


@pytest.mark.parametrize("definition", sorted(OVERLAP))
def test_ours_agrees_with_the_spec_api_description_where_they_overlap(
    document: dict[str, Any], definition: str
) -> None:
    name, direction = OVERLAP[definition]
    spec = DEFINITIONS[definition]
    ours = _ours(document, name)
    spec_required = set(spec.get("required", ()))
    our_required = set(ours.get("required", ()))
    problems = []
    for prop, spec_prop in spec.get("properties", {}).items():
        if prop not in ours["properties"]:
            problems.append((name, prop, "missing"))
            continue
        our_prop = ours["properties"][prop]
        spec_types = _types(spec_prop) if "$ref" not in spec_prop else {"object"}
        if spec_types and not spec_types <= _types(our_prop):
            problems.append((name, prop, "type"))
        spec_enum, our_enum = _enum(spec_prop), _enum(our_prop)
        if direction == RESPONSE and spec_enum and our_enum and not our_enum <= spec_enum:
            problems.append((name, prop, "enum"))
        if direction == REQUEST and spec_enum and our_enum and not spec_enum <= our_enum:
            problems.append((name, prop, "enum"))
    # A response keeps every member the spec requires (and may always send more); a request
    # requires nothing the spec leaves optional.
    if direction == RESPONSE:
        problems += [(name, prop, "required") for prop in sorted(spec_required - our_required)]
    else:
        problems += [(name, prop, "required") for prop in sorted(our_required - spec_required)]
    unexplained = [p for p in problems if p not in DEVIATIONS]
    assert unexplained == []


def test_every_listed_deviation_still_exists(document: dict[str, Any]) -> None:
    """A deviation that has gone away must leave the list, or the list stops meaning anything."""
    by_name = {name: definition for definition, (name, _) in OVERLAP.items()}
    for name, prop, kind in DEVIATIONS:
        spec = DEFINITIONS[by_name[name]]
        ours = _ours(document, name)
        if kind == "enum":
            assert _enum(ours["properties"][prop]) != _enum(spec["properties"][prop])
        if kind == "required":
            assert (prop in ours.get("required", ())) != (prop in spec.get("required", ()))


def test_the_spec_paths_exist_with_the_same_methods_and_bodies(document: dict[str, Any]) -> None:
    for path, item in SPEC_API["paths"].items():
        for method, operation in item.items():
            ours = document["paths"][path][method]
            assert "200" in ours["responses"]
            spec_ok = operation["responses"][200]["schema"]["$ref"].rsplit("/", 1)[1]
            our_ok = ours["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
            assert our_ok.rsplit("/", 1)[1] == OVERLAP[spec_ok.replace("%20", " ")][0]


@pytest.mark.parametrize("example", sorted(SPEC_EXAMPLE_SCHEMAS))
def test_the_spec_examples_are_valid_against_our_schemas(
    document: dict[str, Any], example: str
) -> None:
    body = json.loads((SPEC_EXAMPLES / f"{example}.json").read_text())
    errors = [
        e.message for e in _validator(document, SPEC_EXAMPLE_SCHEMAS[example]).iter_errors(body)
    ]
    assert errors == ([SPEC_EXAMPLE_FAULTS[example]] if example in SPEC_EXAMPLE_FAULTS else [])


def test_a_body_the_models_refuse_is_refused_by_the_schema_too(document: dict[str, Any]) -> None:
    """The patterns documented for the validators: a userId that is no reference, a fhirServer
    that is no http(s) URL."""
    base = json.loads((SPEC_EXAMPLES / "request-patient-view.json").read_text())
    validator = _validator(document, "PatientViewRequest")
    assert validator.is_valid(base)
    assert not validator.is_valid({**base, "context": {**base["context"], "userId": "nobody"}})
    assert not validator.is_valid({**base, "fhirServer": "ftp://fhir.example.org"})


def test_every_status_the_service_answers_is_documented_in_one_table() -> None:
    from cds_service.openapi import ERROR_MEANINGS, STATUSES

    assert {s for statuses in STATUSES.values() for s in statuses} <= set(ERROR_MEANINGS)


def test_authentication_is_declared_when_it_is_on(tmp_path: Path, client: FlaskClient) -> None:
    app = create_app(
        {
            "DATABASE_URL": "sqlite://",
            "LOG_LEVEL": "WARNING",
            "TRUSTED_ISSUERS_FILE": str(write_trusted_issuers(tmp_path)),
            "PUBLIC_BASE_URL": "https://cds.example.org",
        }
    )
    assert app.test_client().get("/openapi.json").status_code == 401  # as discovery is
    from cds_service import extensions
    from cds_service.openapi import openapi_document

    secured = openapi_document(
        extensions.services(app), auth_enabled=True, server_url="https://cds.example.org"
    )
    assert secured["security"] == [{"cdsClientJwt": []}]
    assert secured["servers"] == [{"url": "https://cds.example.org"}]
    assert secured["paths"]["/healthz"]["get"]["security"] == []
    assert "security" not in client.get("/openapi.json").get_json()  # auth off


def test_the_copied_api_description_is_the_shared_specs() -> None:
    """`tests/data/spec/cds-hooks.yaml` is a verbatim copy of the project's shared spec folder."""
    shared = ROOT.parent / "shared" / "spec" / "cds-hooks.yaml"
    if not shared.exists():
        pytest.skip(f"no shared spec folder beside the checkout ({shared.parent})")
    copy = ROOT / "tests" / "data" / "spec" / "cds-hooks.yaml"
    assert copy.read_bytes() == shared.read_bytes()
