"""`fhirAuthorization` as real clients send it: OAuth 2.0 token-response rules (RFC 6749 5.1)
where they are looser than a literal reading of the spec, and refusals where both forbid."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from pydantic import ValidationError

from cds_service.protocol.request import FhirAuthorization
from tests.conftest import patient_view_request

GUIDANCE = "/cds-services/immunotherapy-guidance"


def _authorization(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "access_token": "tok-never-logged-fa",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "user/Patient.read user/Observation.read",
        "subject": "cds-service",
    }
    for key, new in changes.items():
        if new is _DROP:
            del value[key]
        else:
            value[key] = new
    return value


_DROP = object()


@pytest.mark.parametrize("token_type", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_token_type_is_case_insensitive_and_kept_as_bearer(token_type: str) -> None:
    parsed = FhirAuthorization.model_validate(_authorization(token_type=token_type))
    assert parsed.token_type == "Bearer"


@pytest.mark.parametrize("token_type", ["bearer-ish", "MAC", "DPoP", "", " Bearer", "Bearer "])
def test_other_token_types_are_refused(token_type: str) -> None:
    with pytest.raises(ValidationError) as caught:
        FhirAuthorization.model_validate(_authorization(token_type=token_type))
    assert [e["loc"] for e in caught.value.errors()] == [("token_type",)]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(_DROP, None), (None, None), (300, 300), (0, 0), (300.0, 300), (3e2, 300)],
)
def test_expires_in_may_be_missing_null_or_a_whole_number(raw: Any, expected: int | None) -> None:
    parsed = FhirAuthorization.model_validate(_authorization(expires_in=raw))
    assert parsed.expires_in == expected
    assert parsed.expires_in is None or type(parsed.expires_in) is int


@pytest.mark.parametrize(
    "raw", [299.5, 0.25, -1, -1.0, "300", True, float("inf"), float("nan"), [300], {}]
)
def test_expires_in_that_oauth_and_the_spec_forbid_is_refused(raw: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        FhirAuthorization.model_validate(_authorization(expires_in=raw))
    assert [e["loc"][0] for e in caught.value.errors()] == ["expires_in"]


@pytest.mark.parametrize("field", ["access_token", "token_type", "scope", "subject"])
def test_the_other_required_fields_stay_required(field: str) -> None:
    with pytest.raises(ValidationError):
        FhirAuthorization.model_validate(_authorization(**{field: _DROP}))


def test_a_sandbox_shaped_authorization_is_accepted_end_to_end(client: FlaskClient) -> None:
    # What the CDS Hooks sandbox sends when its token response has no expires_in: lower-case
    # token type, no expires_in.
    body = patient_view_request(
        fhirServer="http://127.0.0.1:9/fhir",
        fhirAuthorization=_authorization(token_type="bearer", expires_in=_DROP),
    )
    response = client.post(GUIDANCE, json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "cards" in response.get_json()


def test_a_fractional_expires_in_is_a_400_naming_the_field(client: FlaskClient) -> None:
    body = patient_view_request(
        fhirServer="http://127.0.0.1:9/fhir", fhirAuthorization=_authorization(expires_in=299.5)
    )
    response = client.post(GUIDANCE, json=body)
    assert response.status_code == 400
    fields = [d["field"] for d in response.get_json()["details"]]
    assert fields == ["fhirAuthorization.expires_in"]
    assert "tok-never-logged" not in response.get_data(as_text=True)
