"""Bad input gets a clear 4xx at the boundary, never a 500 and never a lost batch (issue 12):
string lengths that the ledger's columns hold, feedback limited in items and bytes, deep JSON,
and bodies over the limit whether sized or chunked."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cds_service.protocol import feedback as limits
from tests.conftest import patient_view_request

GUIDANCE = "/cds-services/immunotherapy-guidance"
FEEDBACK = GUIDANCE + "/feedback"


def item(**overrides: Any) -> dict[str, Any]:
    body = {
        "card": "9d6d6b3e-3b1c-4a59-9a50-5f0e0a2c8f11",
        "outcome": "overridden",
        "outcomeTimestamp": "2026-11-21T10:05:31Z",
    }
    body.update(overrides)
    return body


def fields(response: Any) -> list[str]:
    return [d["field"] for d in response.get_json().get("details", [])]


def test_a_hook_instance_longer_than_the_ledger_holds_is_a_400(client: FlaskClient) -> None:
    response = client.post(GUIDANCE, json=patient_view_request(hookInstance="h" * 129))
    assert response.status_code == 400
    assert fields(response) == ["hookInstance"]
    assert (
        client.post(GUIDANCE, json=patient_view_request(hookInstance="h" * 128)).status_code == 200
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"card": "c" * 65}, "feedback.0.card"),
        (
            {"outcome": "accepted", "acceptedSuggestions": [{"id": "s" * 65}]},
            "feedback.0.acceptedSuggestions.0.id",
        ),
        (
            {"outcome": "accepted", "acceptedSuggestions": [{"id": "s"}] * 33},
            "feedback.0.acceptedSuggestions",
        ),
        ({"overrideReason": {"userComment": "x" * 4001}}, "feedback.0.overrideReason.userComment"),
        (
            {"overrideReason": {"reason": {"code": "c" * 257, "system": "https://x"}}},
            "feedback.0.overrideReason.reason.code",
        ),
    ],
    ids=["card", "suggestion id", "suggestions", "comment", "code"],
)
def test_feedback_fields_past_their_limits_are_a_400_naming_the_field(
    client: FlaskClient, overrides: dict[str, Any], field: str
) -> None:
    response = client.post(FEEDBACK, json={"feedback": [item(**overrides)]})
    assert response.status_code == 400, response.get_json()
    assert fields(response) == [field]


def test_feedback_is_limited_in_items_and_in_bytes(client: FlaskClient) -> None:
    many = {"feedback": [item() for _ in range(limits.MAX_ITEMS + 1)]}
    response = client.post(FEEDBACK, json=many)
    assert response.status_code == 400
    assert fields(response) == ["feedback"]
    assert client.post(FEEDBACK, json={"feedback": [item()] * limits.MAX_ITEMS}).status_code == 200
    big = b'{"feedback": [], "padding": "' + b"x" * limits.MAX_BODY_BYTES + b'"}'
    response = client.post(FEEDBACK, data=big, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["error"] == "payload-too-large"


def chunked_post(client: FlaskClient, path: str, body: bytes) -> Any:
    """A body without Content-Length, as a server that decodes chunked transfer passes it on."""
    return client.post(
        path,
        input_stream=io.BytesIO(body),
        content_type="application/json",
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_a_chunked_body_over_the_limit_is_413_not_truncated(app: Flask) -> None:
    client = app.test_client()
    limit = int(app.config["MAX_BODY_BYTES"])
    body = b'{"padding": "' + b"x" * (limit + 1024 * 1024) + b'"}'  # 17 MiB
    response = chunked_post(client, GUIDANCE, body)
    assert response.status_code == 413
    assert str(limit) in response.get_json()["message"]
    feedback = chunked_post(client, FEEDBACK, b"[" + b" " * limits.MAX_BODY_BYTES + b"]")
    assert feedback.status_code == 413


def test_a_chunked_body_within_the_limit_is_read_whole(client: FlaskClient) -> None:
    import json

    response = chunked_post(client, GUIDANCE, json.dumps(patient_view_request()).encode())
    assert response.status_code == 200


@pytest.mark.parametrize("path", [GUIDANCE, FEEDBACK])
def test_deeply_nested_json_is_a_400_not_a_500(client: FlaskClient, path: str) -> None:
    response = client.post(path, data="[" * 100_000, content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.get_json()["message"]


def test_nesting_that_parses_but_runs_deep_is_answered_not_a_500(client: FlaskClient) -> None:
    deep: Any = "x"
    for _ in range(900):
        deep = {"a": deep}
    body = patient_view_request()
    body["context"]["extension"] = deep
    body["prefetch"]["observations"] = {"resourceType": "Bundle", "type": "searchset", "x": deep}
    assert client.post(GUIDANCE, json=body).status_code in (200, 400)
