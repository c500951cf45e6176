"""Prometheus metrics (prometheus-client), off unless `CDS_METRICS=on`.

What is counted (all names prefixed `cds_`):

- `requests_total{endpoint, service, hook, status}`: every answer (endpoint is the Flask route
  name; service and hook are empty outside the service endpoints);
- `request_seconds{endpoint}` and `stage_seconds{service, stage}`: latency histograms, the stages
  of a hook call being those of its request-log line up to `respond` (request, auth, parse,
  resolve, facts, rules, render, ledger, respond; `stages`);
- `cards_total{rule_id, indicator}`: cards issued, once per rule that spoke;
- `prefetch_keys_total{service, key, source, state}`: how each prefetch key was obtained (source
  prefetch / fhir-server / none; state provided, empty, failed, missing, unavailable);
- `fhir_requests_total{outcome}`: requests to the EHR's FHIR server, by outcome;
- `precondition_failed_total{service, key, state}`: 412 answers, per required key lacking;
- `feedback_total{outcome, card_known}`: feedback items stored;
- `jwt_refused_total{reason}`: 401 answers, by a bounded reason category.

Labels are bounded: route names, service ids and prefetch keys from `hooks/`, rule ids from the
rule registry, enumerations; nothing from a request is used as a label as-is.

Under gunicorn (several worker processes) prometheus-client's multiprocess mode is used:
`serve` points `PROMETHEUS_MULTIPROC_DIR` at an empty folder before anything imports
prometheus-client, each worker writes its own files there, and a scrape (answered by any worker)
adds them up. prometheus-client is imported only when metrics are on.

`/metrics` is never behind the EHR's JWT authentication. By default it is served on the service's
port; `CDS_METRICS_PORT` moves it to a port of its own (gunicorn listens on both; on the service
port `/metrics` is then 404, and the metrics port answers nothing else), and `CDS_METRICS_TOKEN`
requires `Authorization: Bearer <that token>` for it.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import NotFound

from cds_service.errors import Unauthorized

METRICS = "cds_metrics"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_PATH = "/metrics"
# Seconds: hook calls are tens of milliseconds to a few seconds (the FHIR budget is 3 s).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The metric objects of this process (made once; every app in the process shares them)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter(
            "cds_requests_total",
            "HTTP answers by endpoint, CDS service, hook and status",
            ["endpoint", "service", "hook", "status"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "cds_request_seconds",
            "Time to answer, by endpoint",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.stage_seconds = Histogram(
            "cds_stage_seconds",
            "Time per stage of a hook call (request, auth, parse, resolve, ... respond)",
            ["service", "stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.cards = Counter(
            "cds_cards_total",
            "Cards issued, by rule id and indicator",
            ["rule_id", "indicator"],
            registry=registry,
        )
        self.prefetch_keys = Counter(
            "cds_prefetch_keys_total",
            "Prefetch keys by how they were obtained (source) and their state",
            ["service", "key", "source", "state"],
            registry=registry,
        )
        self.fhir_requests = Counter(
            "cds_fhir_requests_total",
            "Requests to the EHR's FHIR server, by outcome",
            ["outcome"],
            registry=registry,
        )
        self.precondition_failed = Counter(
            "cds_precondition_failed_total",
            "412 answers, per required prefetch key lacking and its state",
            ["service", "key", "state"],
            registry=registry,
        )
        self.feedback = Counter(
            "cds_feedback_total",
            "Feedback items stored, by outcome and whether the card was known",
            ["outcome", "card_known"],
            registry=registry,
        )
        self.jwt_refused = Counter(
            "cds_jwt_refused_total",
            "Calls refused with 401, by reason",
            ["reason"],
            registry=registry,
        )

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if not self.multiprocess:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST


_PROCESS_METRICS: Metrics | None = None


def _process_metrics() -> Metrics:
    global _PROCESS_METRICS
    if _PROCESS_METRICS is None:
        _PROCESS_METRICS = Metrics()
    return _PROCESS_METRICS


def active() -> Metrics | None:
    """This app's metrics, or None when they are off. Outside an app context (a FHIR fetch
    thread), the process's metrics if an app of this process turned them on."""
    if _PROCESS_METRICS is None:  # no app of this process turned metrics on: nothing to look up
        return None
    try:
        found: Metrics | None = current_app.extensions.get(METRICS)
    except RuntimeError:  # no app context
        return _PROCESS_METRICS
    return found


# Recording, called from the request path; each is a no-op when metrics are off.


def count_request(endpoint: str, service: str, hook: str, status: int, seconds: float) -> None:
    m = active()
    if m:
        m.requests.labels(endpoint, service, hook, str(status)).inc()
        m.request_seconds.labels(endpoint).observe(seconds)


def hook_call(service: str, stages_ms: Mapping[str, float]) -> None:
    m = active()
    if m:
        for stage, ms in stages_ms.items():
            m.stage_seconds.labels(service, stage).observe(ms / 1000)


def cards_issued(cards: Iterable[tuple[Iterable[str], str]]) -> None:
    """`cards`: (rule ids, indicator) per card."""
    m = active()
    if m:
        for rule_ids, indicator in cards:
            for rule_id in dict.fromkeys(rule_ids):
                m.cards.labels(rule_id, indicator).inc()


def prefetch_key(service: str, key: str, source: str, state: str) -> None:
    m = active()
    if m:
        m.prefetch_keys.labels(service, key, source, state).inc()


FHIR_OUTCOMES = frozenset(
    {
        "ok",
        "not_found",
        "token_rejected",
        "forbidden",
        "server_error",
        "unavailable",
        "timeout",
        "too_large",
        "refused",
    }
)


def fhir_request(outcome: str) -> None:
    m = active()
    if m:
        m.fhir_requests.labels(outcome if outcome in FHIR_OUTCOMES else "other").inc()


def precondition_failed(service: str, lacking: Iterable[Mapping[str, Any]]) -> None:
    m = active()
    if m:
        for item in lacking:
            m.precondition_failed.labels(service, str(item["key"]), str(item["state"])).inc()


def feedback_stored(outcomes: Iterable[tuple[str, bool]]) -> None:
    m = active()
    if m:
        for outcome, known in outcomes:
            m.feedback.labels(outcome, "true" if known else "false").inc()


# Reason text of a refusal -> a bounded category (the text itself can quote an algorithm name).
_JWT_REASONS = (
    ("no Authorization header", "missing"),
    ("Authorization is not", "not_bearer"),
    ("replay", "replay"),
    ("signature", "signature"),
    ("trusted issuer", "untrusted_issuer"),
    ("`aud`", "audience"),
    ("tenant", "tenant"),
    ("expired", "expired"),
    ("`iat`", "time"),
    ("`nbf`", "time"),
    ("`exp`", "time"),
    ("lifetime", "lifetime"),
    ("jku", "key"),
    ("key", "key"),
    ("algorithm", "algorithm"),
    ("header", "header"),
    ("`jti`", "jti"),
    ("malformed", "malformed"),
    ("longer than", "malformed"),
)


def jwt_reason(reason: str) -> str:
    return next((label for text, label in _JWT_REASONS if text in reason), "other")


def jwt_refused(reason: str) -> None:
    m = active()
    if m:
        m.jwt_refused.labels(jwt_reason(reason)).inc()


# The endpoint.


def _authorized(token: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


def init_app(app: Flask) -> None:
    if app.config["METRICS"] != "on":
        return
    metrics = _process_metrics()
    app.extensions[METRICS] = metrics
    metrics_port = int(app.config["METRICS_PORT"])
    token: str = app.config["METRICS_TOKEN"]

    @app.before_request
    def _metrics_port_gate() -> Response | None:
        # Registered before authentication: /metrics never sees the EHR's JWT check.
        on_metrics_port = bool(metrics_port) and request.environ.get("SERVER_PORT") == str(
            metrics_port
        )
        if request.path != METRICS_PATH:
            if on_metrics_port:
                raise NotFound()
            return None
        if metrics_port and not on_metrics_port:
            raise NotFound()
        if request.method != "GET":
            raise NotFound()
        if token and not _authorized(token):
            raise Unauthorized("metrics token missing or wrong")
        body, content_type = metrics.exposition()
        return Response(body, content_type=content_type)
