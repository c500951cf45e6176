"""`outcomeTimestamp` (CDS Hooks 2.0 "Feedback": an RFC 3339 instant with a zone): a timestamp
that matches the grammar but names no real instant is a 400 that says so in plain words, never
a Python error message (found by fuzzing /openapi.json)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

FEEDBACK = "/cds-services/immunotherapy-guidance/feedback"


@pytest.mark.parametrize(
    ("stamp", "problem"),
    [
        ("2026-02-30T10:00:00Z", "is not a date-time that exists"),
        ("2026-13-01T10:00:00Z", "must be an RFC 3339 date-time with a zone"),
        ("2026-11-21T10:00:00+48:00", "must be an RFC 3339 date-time with a zone"),
        ("0000-01-01T00:00:00Z", "must be an RFC 3339 date-time with a zone"),
        ("2026-11-21T24:00:00Z", "must be an RFC 3339 date-time with a zone"),
    ],
)
def test_an_impossible_timestamp_is_a_400_in_plain_words(
    client: FlaskClient, stamp: str, problem: str
) -> None:
    body = {"feedback": [{"card": "c1", "outcome": "overridden", "outcomeTimestamp": stamp}]}
    response = client.post(FEEDBACK, json=body)
    assert response.status_code == 400
    (detail,) = response.get_json()["details"]
    assert detail["field"] == "feedback.0.outcomeTimestamp"
    assert problem in detail["problem"] and "timedelta" not in detail["problem"]


def test_a_real_timestamp_with_an_offset_is_stored(client: FlaskClient) -> None:
    body = {
        "feedback": [
            {"card": "c1", "outcome": "overridden", "outcomeTimestamp": "2026-02-28T23:59:59-05:30"}
        ]
    }
    assert client.post(FEEDBACK, json=body).status_code == 200
