"""The service's error tree and the one JSON envelope every error is answered with.

Every error leaves as `{"error": <code>, "message": <text>, "details": [...]}` with an HTTP
status: 400 malformed request (with field paths), 401
authentication (no detail), 404 unknown service or path, 405 method, 413 too large, 412 required
data unobtainable (the one status CDS Hooks 2.0 mandates, spec "HTTP Response"), 500 unexpected.
An error is never turned into `{"cards": []}`: an empty card list means only "no advice".

    ServiceError
    ├── BadRequest              400  (details name field paths)
    ├── Unauthorized            401  (no detail in the body, ever)
    ├── UnknownService          404
    ├── PayloadTooLarge         413
    ├── DataUnavailable         412  (names the prefetch keys and why)
    └── ServiceUnavailable      503  (a store the call needs cannot take a write; retry)

Errors from the FHIR client have their own tree in `fhir_client`; only the data-resolution layer
turns them into `DataUnavailable`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from cds_service.protocol.envelopes import ErrorResponse

log = logging.getLogger("cds_service")


class ServiceError(Exception):
    status = 500
    code = "internal-error"

    def __init__(self, message: str, details: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)


class BadRequest(ServiceError):
    status = 400
    code = "bad-request"


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"

    def __init__(self, reason: str = "") -> None:
        # The reason is for the log only; the body says nothing (CDS Hooks best practices).
        super().__init__("authentication required")
        self.reason = reason


class UnknownService(ServiceError):
    status = 404
    code = "not-found"


class PayloadTooLarge(ServiceError):
    status = 413
    code = "payload-too-large"


class DataUnavailable(ServiceError):
    """Required prefetch data could neither be read from prefetch nor fetched (spec: 412)."""

    status = 412
    code = "precondition-failed"


class ServiceUnavailable(ServiceError):
    """The ledger, the feedback store or the replay cache cannot be written: retry later."""

    status = 503
    code = "service-unavailable"


def envelope(
    status: int, code: str, message: str, details: Sequence[dict[str, Any]] = ()
) -> Response:
    body = ErrorResponse(error=code, message=message or code, details=list(details) or None)
    response = jsonify(body.to_wire())
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="cds-hooks"'
    return response


_HTTP_CODES = {
    400: "bad-request",
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
    415: "unsupported-media-type",
}


def init_app(app: Flask) -> None:
    """Answer every error, ours or werkzeug's, with the envelope; never with a stack trace."""

    @app.errorhandler(ServiceError)
    def _service_error(exc: ServiceError) -> Response:
        return envelope(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        message = exc.description or exc.name
        if status == 413:
            message = f"request body exceeds the limit of {app.config['MAX_BODY_BYTES']} bytes"
        response = envelope(status, _HTTP_CODES.get(status, "http-error"), message)
        allow = exc.get_response().headers.get("Allow") if status == 405 else None
        if allow:
            response.headers["Allow"] = allow
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        # Logged without the request body or headers; the request log line carries the ids.
        log.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
        return envelope(500, "internal-error", "the service failed to process the request")
