"""One structured JSON log line per request, with stage timings; never tokens, JWTs or bodies.

Handlers add safe fields to `g.log_fields` (service, hook, hookInstance, cards, stages_ms); this
module adds method, path, status and duration and writes one line to the `cds_service.request`
logger. Nothing from headers or the body is ever copied in wholesale.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from flask import Flask, Response, g, request

log = logging.getLogger("cds_service.request")


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        line = {"ts": round(record.created, 3), "level": record.levelname, "logger": record.name}
        if fields:
            line.update(fields)
        else:
            line["message"] = record.getMessage()
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type only: tracebacks can quote request data.
            line["exception"] = record.exc_info[0].__name__
        return json.dumps(line, default=str)


def configure_logging(level: str) -> None:
    root = logging.getLogger("cds_service")
    if not any(isinstance(h.formatter, JsonLineFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLineFormatter())
        root.addHandler(handler)
    root.setLevel(level)


def init_app(app: Flask) -> None:
    configure_logging(app.config["LOG_LEVEL"])

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()
        g.log_fields = {}

    @app.after_request
    def _log(response: Response) -> Response:
        fields = {"method": request.method, "path": request.path, "status": response.status_code}
        fields.update(getattr(g, "log_fields", {}))
        started = getattr(g, "started", None)
        seconds = time.perf_counter() - started if started is not None else 0.0
        if started is not None:
            fields["duration_ms"] = round(seconds * 1000, 2)
        log.info("request", extra={"fields": fields})
        _count(response.status_code, seconds)
        return response


def _count(status: int, seconds: float) -> None:
    """The request metric, labelled only with bounded values (never the path as sent)."""
    from cds_service import extensions, metrics

    rule = request.url_rule
    endpoint = rule.endpoint if rule is not None else "(no route)"
    service_id = getattr(g, "log_fields", {}).get("service", "")
    service = extensions.services().get(service_id) if service_id else None
    hook = service.hook if service is not None else ""
    metrics.count_request(endpoint, service_id if service else "", hook, status, seconds)
