"""JSON logs: every line one JSON object; one line per request, with stage timings and the rule
ids of the cards issued; never tokens, JWTs, bodies or patient identifiers.

Every line has `ts` (ISO-8601 UTC, milliseconds, `Z`), `level`, `logger`, and, while a request is
being answered, its `request_id`: the caller's `X-Request-ID` when it is a plain token (at most
128 letters, digits and `-_.:`), else a fresh one; it is echoed in the response's `X-Request-ID`.
gunicorn's own error and access logs go through the same formatter (`server.JsonGunicornLogger`).

Handlers add safe fields to `g.log_fields` (service, hook, hookInstance, cards, rules, stages_ms);
this module adds method, path, status and duration and writes one line to the
`cds_service.request` logger. Nothing from headers or the body is ever copied in wholesale.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from flask import Flask, Request, Response, g, request

from cds_service.stages import StageTimer
from cds_service.uuids import uuid4_hex

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

log = logging.getLogger("cds_service.request")
REQUEST_ID_HEADER = "X-Request-ID"
STAGE_TIMER_ENVIRON = "cds_service.stage_timer"  # the WSGI environ key of the request's timer
_REQUEST_ID_ENVIRON = "HTTP_X_REQUEST_ID"  # the header as WSGI names it
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def iso_utc(created: float) -> str:
    stamp = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record, serialised in one orjson call."""

    def format(self, record: logging.LogRecord) -> str:
        return self._serialise(record)

    @staticmethod
    def _serialise(record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        line: dict[str, object] = {
            "ts": iso_utc(record.created),
            "level": record.levelname,
            "logger": record.name,
        }
        current = request_id.get()
        if current is not None:
            line["request_id"] = current
        if fields:
            line.update(fields)
        else:
            line["message"] = record.getMessage()
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type only: tracebacks can quote request data.
            line["exception"] = record.exc_info[0].__name__
        try:
            return orjson.dumps(line, default=str).decode()
        except TypeError:  # what orjson refuses outright (an integer beyond 64 bits)
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
    inner = app.wsgi_app

    def timed_wsgi_app(environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        # The request's stage timer starts where the server hands the request to the app, so
        # the `request` stage shows what Flask's request context and routing cost.
        environ[STAGE_TIMER_ENVIRON] = StageTimer()
        return inner(environ, start_response)

    app.wsgi_app = timed_wsgi_app  # type: ignore[method-assign]

    @app.before_request
    def _start() -> None:
        # `g` and `request` are context-local proxies: each use is a lookup, so they are
        # resolved once per hook.
        ctx_g = g._get_current_object()
        environ = request.environ
        timer = environ.get(STAGE_TIMER_ENVIRON)
        if isinstance(timer, StageTimer):
            timer.lap("request")
        else:  # a caller of the unwrapped app (none in service): the stages start here
            timer = StageTimer()
        ctx_g.stage_timer = timer
        ctx_g.log_fields = {}
        given = environ.get(_REQUEST_ID_ENVIRON, "")
        rid = given if given and _REQUEST_ID.match(given) else uuid4_hex()
        ctx_g.request_id = rid
        ctx_g.request_id_token = request_id.set(rid)

    @app.teardown_request
    def _end(_exc: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            request_id.reset(token)

    @app.after_request
    def _log(response: Response) -> Response:
        ctx_g = g._get_current_object()
        req: Request = request._get_current_object()  # type: ignore[attr-defined]
        rid = getattr(ctx_g, "request_id", None)
        if rid is not None:
            response.headers[REQUEST_ID_HEADER] = rid
        fields = {"method": req.method, "path": req.path, "status": response.status_code}
        fields.update(getattr(ctx_g, "log_fields", {}))
        timer = getattr(ctx_g, "stage_timer", None)
        if timer is not None and "stages_ms" in fields:  # a hook call: its last stage ends here
            timer.lap("finish")
            fields["stages_ms"] = timer.timings_ms
            cpu_ms = timer.cpu_ms()
            if cpu_ms is not None:  # one request in stages.CPU_SAMPLE_EVERY
                fields["stages_cpu_ms"] = cpu_ms
        started = timer.started if timer is not None else None  # where the stages began
        seconds = time.perf_counter() - started if started is not None else 0.0
        if started is not None:
            fields["duration_ms"] = round(seconds * 1000, 2)
        if log.isEnabledFor(logging.INFO):
            # makeRecord + handle is what `log.info` does, without walking the stack for the
            # caller's file and line (no JSON line carries them).
            record = log.makeRecord(
                log.name, logging.INFO, __file__, 0, "request", (), None, extra={"fields": fields}
            )
            log.handle(record)
        service_id = fields.get("service")
        service_id = service_id if isinstance(service_id, str) else ""
        _count(req, service_id, response.status_code, seconds)
        return response


def _count(req: Request, service_id: str, status: int, seconds: float) -> None:
    """The request metric, labelled only with bounded values (never the path as sent)."""
    from cds_service import extensions, metrics

    if metrics.active() is None:
        return
    rule = req.url_rule
    endpoint = rule.endpoint if rule is not None else "(no route)"
    service = extensions.services().get(service_id) if service_id else None
    hook = service.hook if service is not None else ""
    metrics.count_request(endpoint, service_id if service else "", hook, status, seconds)
