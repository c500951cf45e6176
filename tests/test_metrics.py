"""Prometheus metrics: off unless enabled; never behind the EHR's JWT; on a port of their own or
behind their own token; requests, stage latencies, cards by rule and indicator, prefetch keys,
412s, feedback and JWT refusals counted; under gunicorn, several workers' counts add up
(multiprocess mode)."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from cds_service import create_app
from cds_service.config import ConfigError, load_config
from cds_service.metrics import Metrics, jwt_reason
from tests.conftest import patient_seen_rule, patient_view_request, service_running
from tests.fake_ehr import write_trusted_issuers
from tests.processes import free_port, serve_command

GUIDANCE = "/cds-services/immunotherapy-guidance"
TOKEN = "metrics-token-0123456789"


def make_app(tmp_path: Path, **settings: Any) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "AUTH_ENABLED": False,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
            "METRICS": "on",
        }
        | settings
    )


def sample(app: Flask, name: str, **labels: str) -> float:
    metrics: Metrics = app.extensions["cds_metrics"]
    return metrics.registry.get_sample_value(name, labels) or 0.0


def scrape(client: FlaskClient, **kwargs: Any) -> str:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.data
    assert response.content_type.startswith("text/plain")
    return response.get_data(as_text=True)


def test_metrics_are_off_by_default(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 404


def test_a_hook_call_is_counted_with_its_stages_cards_and_prefetch_keys(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    client = app.test_client()
    rule = patient_seen_rule()
    labels = {"endpoint": "cds.call_service", "service": "immunotherapy-guidance"}
    before = sample(app, "cds_requests_total", **labels, hook="patient-view", status="200")
    cards_before = sample(app, "cds_cards_total", rule_id=rule.id, indicator="info")
    with service_running(app, "immunotherapy-guidance", rule):
        assert client.post(GUIDANCE, json=patient_view_request()).status_code == 200
    assert (
        sample(app, "cds_requests_total", **labels, hook="patient-view", status="200") == before + 1
    )
    assert sample(app, "cds_cards_total", rule_id=rule.id, indicator="info") == cards_before + 1
    text = scrape(client)
    for stage in ("resolve", "facts", "rules", "render", "ledger"):
        assert (
            f'cds_stage_seconds_count{{service="immunotherapy-guidance",stage="{stage}"}}' in text
        )
    assert re.search(
        r'cds_prefetch_keys_total\{key="conditions",service="immunotherapy-guidance",'
        r'source="prefetch",state="(provided|empty)"\} [1-9]',
        text,
    )


def test_412_feedback_and_bad_requests_are_counted(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    client = app.test_client()
    body = patient_view_request()
    del body["prefetch"]["conditions"]  # required, and no fhirServer to fetch it from
    failed = {"service": "immunotherapy-guidance", "key": "conditions", "state": "unavailable"}
    before = sample(app, "cds_precondition_failed_total", **failed)
    assert client.post(GUIDANCE, json=body).status_code == 412
    assert sample(app, "cds_precondition_failed_total", **failed) == before + 1

    item = {
        "card": "never-issued",
        "outcome": "overridden",
        "outcomeTimestamp": "2026-11-21T10:05:31Z",
    }
    stored = {"outcome": "overridden", "card_known": "false"}
    before = sample(app, "cds_feedback_total", **stored)
    assert client.post(GUIDANCE + "/feedback", json={"feedback": [item]}).status_code == 200
    assert sample(app, "cds_feedback_total", **stored) == before + 1

    labels = {
        "endpoint": "cds.call_service",
        "service": "immunotherapy-guidance",
        "hook": "patient-view",
    }
    before = sample(app, "cds_requests_total", **labels, status="400")
    assert (
        client.post(GUIDANCE, data="not json", content_type="application/json").status_code == 400
    )
    assert sample(app, "cds_requests_total", **labels, status="400") == before + 1


def test_metrics_are_never_behind_the_ehr_jwt_and_refusals_are_counted(tmp_path: Path) -> None:
    app = make_app(
        tmp_path,
        AUTH_ENABLED=True,
        TRUSTED_ISSUERS_FILE=str(write_trusted_issuers(tmp_path)),
        PUBLIC_BASE_URL="https://cds.example.org",
    )
    client = app.test_client()
    before = sample(app, "cds_jwt_refused_total", reason="missing")
    assert client.get("/cds-services").status_code == 401
    assert sample(app, "cds_jwt_refused_total", reason="missing") == before + 1
    assert "cds_jwt_refused_total" in scrape(client)  # no JWT needed
    not_bearer = client.get("/cds-services", headers={"Authorization": "Basic eA=="})
    assert not_bearer.status_code == 401
    assert sample(app, "cds_jwt_refused_total", reason="not_bearer") >= 1


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        ("`jti` already used (replay)", "replay"),
        ("algorithm 'HS256' is not allowed", "algorithm"),
        ("`aud` is not this endpoint's URL nor a configured audience", "audience"),
        ("token expired", "expired"),
        ("bad signature", "signature"),
        ("`iss` is not a trusted issuer", "untrusted_issuer"),
        ("something new", "other"),
    ],
)
def test_jwt_refusal_reasons_become_bounded_labels(reason: str, label: str) -> None:
    assert jwt_reason(reason) == label


def test_the_metrics_token_protects_metrics(tmp_path: Path) -> None:
    client = make_app(tmp_path, METRICS_TOKEN=TOKEN).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    scrape(client, headers={"Authorization": f"Bearer {TOKEN}"})


def test_on_a_metrics_port_metrics_are_served_there_only(tmp_path: Path) -> None:
    client = make_app(tmp_path, METRICS_PORT=9464).test_client()
    on_metrics_port = "http://localhost:9464"
    assert client.get("/metrics").status_code == 404  # the service's port
    scrape(client, base_url=on_metrics_port)
    assert client.get("/cds-services", base_url=on_metrics_port).status_code == 404
    assert client.get("/cds-services").status_code == 200


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"CDS_METRICS_PORT": "9464"}, "CDS_METRICS_PORT is set but CDS_METRICS is off"),
        ({"CDS_METRICS_TOKEN": TOKEN}, "CDS_METRICS_TOKEN is set but CDS_METRICS is off"),
        ({"CDS_METRICS": "on", "CDS_METRICS_TOKEN": "short"}, "at least 16 characters"),
        ({"CDS_METRICS": "on", "CDS_METRICS_PORT": "8080"}, "must differ from CDS_PORT"),
        ({"CDS_METRICS": "yes"}, "must be one of on, off"),
    ],
)
def test_metrics_settings_are_checked(env: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(problem)):
        load_config(env)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    port, metrics_port = free_port(), free_port()
    multiproc = tmp_path / "prometheus"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDS_", "GUNICORN"))} | {
        "CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
        "CDS_METRICS": "on",
        "CDS_METRICS_PORT": str(metrics_port),
        "CDS_METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "CDS_LOG_LEVEL": "WARNING",
    }
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        serve_command(port, workers=2),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            pytest.fail("serve did not start: " + (tmp_path / "serve.log").read_text()[-2000:])
        time.sleep(0.1)
    try:
        yield base, f"http://127.0.0.1:{metrics_port}", multiproc
    finally:
        process.terminate()
        process.wait(timeout=30)


def _writers(multiproc: Path) -> set[str]:
    """The worker processes that have counted something (one file per process and kind)."""
    return {p.stem.rsplit("_", 1)[-1] for p in multiproc.glob("counter_*.db")}


def test_workers_counts_add_up_in_one_scrape(served: tuple[str, str, Path]) -> None:
    base, metrics_base, multiproc = served
    body = patient_view_request()
    calls = 0
    # A new connection per call lets gunicorn hand calls to either worker; go on until both have
    # answered some (which one accepts is the kernel's choice), then scrape once.
    while calls < 400 and (calls < 20 or len(_writers(multiproc)) < 2):
        answer = requests.post(
            base + GUIDANCE, json=body, timeout=10, headers={"Connection": "close"}
        )
        assert answer.status_code == 200
        calls += 1
    assert len(_writers(multiproc)) >= 2, f"one worker answered all {calls} calls"
    assert requests.get(base + "/metrics", timeout=5).status_code == 404
    assert requests.get(metrics_base + "/metrics", timeout=5).status_code == 401
    assert requests.get(metrics_base + "/cds-services", timeout=5).status_code == 404
    text = requests.get(
        metrics_base + "/metrics", timeout=5, headers={"Authorization": f"Bearer {TOKEN}"}
    ).text
    line = re.search(
        r'cds_requests_total\{endpoint="cds.call_service",hook="patient-view",'
        r'service="immunotherapy-guidance",status="200"\} ([0-9.]+)',
        text,
    )
    assert line is not None, text[:2000]
    assert float(line.group(1)) == calls
