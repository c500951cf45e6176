"""Logs for a log stack: every line JSON (gunicorn's error and access logs included), `ts` in
ISO-8601 UTC, a request id (the caller's X-Request-ID if it is a plain token, else a new one;
echoed in the response), the rule ids of the cards issued, no patient id in FHIR URLs."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from flask import Flask

from cds_service.fhir_client import FhirClient
from cds_service.redaction import fhir_path
from cds_service.request_log import JsonLineFormatter
from tests.conftest import patient_seen_rule, patient_view_request, service_running
from tests.processes import free_port, serve_command

ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
GUIDANCE = "/cds-services/immunotherapy-guidance"


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the service's loggers write, through the service's formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    logger = logging.getLogger("cds_service")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_request_line_has_an_iso_timestamp_the_request_id_and_the_rules(
    app: Flask, json_lines: io.StringIO
) -> None:
    rule = patient_seen_rule()
    with service_running(app, "immunotherapy-guidance", rule):
        response = app.test_client().post(
            GUIDANCE, json=patient_view_request(), headers={"X-Request-ID": "lb-7f3a:42"}
        )
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "lb-7f3a:42"
    [line] = [r for r in records(json_lines) if r["logger"] == "cds_service.request"]
    assert ISO_UTC.match(line["ts"])
    assert line["request_id"] == "lb-7f3a:42"
    assert line["rules"] == [rule.id] and line["cards"] == 1
    assert "pat-1" not in json_lines.getvalue()


@pytest.mark.parametrize("given", [None, "", "x" * 129, "bad id", "a\u00e9b", "id;drop"])
def test_an_absent_or_odd_request_id_is_replaced_by_a_fresh_one(
    app: Flask, json_lines: io.StringIO, given: str | None
) -> None:
    headers = {"X-Request-ID": given} if given is not None else {}
    first = app.test_client().get("/cds-services", headers=headers)
    second = app.test_client().get("/cds-services", headers=headers)
    ids = [first.headers["X-Request-ID"], second.headers["X-Request-ID"]]
    assert all(re.fullmatch(r"[0-9a-f]{32}", rid) for rid in ids) and ids[0] != ids[1]
    lines = [r for r in records(json_lines) if r["logger"] == "cds_service.request"]
    assert [r["request_id"] for r in lines] == ids


def test_every_line_logged_during_a_request_carries_its_id(
    app: Flask, json_lines: io.StringIO
) -> None:
    app.test_client().get("/cds-services", headers={"X-Request-ID": "req-1"})  # auth-off warning
    lines = records(json_lines)
    assert len(lines) >= 2 and {r["request_id"] for r in lines} == {"req-1"}


@responses.activate
def test_fhir_request_lines_name_no_patient(caplog: pytest.LogCaptureFixture) -> None:
    base = "https://ehr.example.org/fhir"
    responses.get(f"{base}/Patient/pt-8812", json={"resourceType": "Patient", "id": "pt-8812"})
    with caplog.at_level(logging.INFO, logger="cds_service"):
        FhirClient(base).get("Patient/pt-8812")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "fhir GET https://ehr.example.org/fhir/Patient/{id} -> 200" in text
    assert "pt-8812" not in text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://e.org/fhir/Patient/123", "https://e.org/fhir/Patient/{id}"),
        (
            "https://e.org/fhir/Patient/123/_history/2",
            "https://e.org/fhir/Patient/{id}/_history/{id}",
        ),
        (
            "http://127.0.0.1:5000/fhir/Condition?patient=123",
            "http://127.0.0.1:5000/fhir/Condition",
        ),
        ("https://e.org/r4/metadata", "https://e.org/r4/metadata"),
        ("https://[::1]:8443/fhir/Observation/o-1", "https://[::1]:8443/fhir/Observation/{id}"),
    ],
)
def test_fhir_urls_are_shown_without_ids_or_queries(url: str, shown: str) -> None:
    assert fhir_path(url) == shown


def test_under_gunicorn_every_line_is_json(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDS_", "GUNICORN"))} | {
        "CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
        "GUNICORN_CMD_ARGS": "--access-logfile -",
    }
    process = subprocess.Popen(
        serve_command(port, workers=2),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("serve did not start: " + process.communicate()[0].decode()[-2000:])
            time.sleep(0.1)
        answer = requests.post(
            base + GUIDANCE,
            json=patient_view_request(),
            headers={"X-Request-ID": "trace-9"},
            timeout=10,
        )
        assert answer.headers["X-Request-ID"] == "trace-9"
        requests.get(base + "/nowhere", timeout=5)
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]  # each one JSON
    assert all(ISO_UTC.match(line["ts"]) for line in lines)
    loggers = {line["logger"] for line in lines}
    assert {
        "gunicorn.error",
        "gunicorn.access",
        "cds_service.request",
        "cds_service.serve",
    } <= loggers
    assert any("Booting worker" in line.get("message", "") for line in lines)
    access = [line for line in lines if line["logger"] == "gunicorn.access"]
    assert {
        "method": "POST",
        "path": GUIDANCE,
        "status": 200,
        "request_id": "trace-9",
    }.items() <= next(a for a in access if a["path"] == GUIDANCE).items()
    assert "pat-1" not in output
