"""CORS for browser-based CDS clients such as the CDS Hooks sandbox (spec "Cross-Origin Resource
Sharing"), with flask-cors and an allowlist from CDS_CORS_ORIGINS.

Preflight (OPTIONS) is answered for the CDS endpoints with `Authorization` and `Content-Type`
allowed; credentials are never combined with a wildcard origin (peer-survey section 5). A `*`
inside an origin's port (the default `http://localhost:*`) is turned into a pattern matching any
port of that host, never any host.

A request without an `Origin` header (an EHR's back end, never a browser making a cross-origin
call: browsers send `Origin` on every CORS request and preflight) skips flask-cors entirely: it
would add nothing to the response and cost a path match per call.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from flask import Flask, Response, request
from flask_cors import CORS


def origin_patterns(origins: list[str]) -> list[str | re.Pattern[str]]:
    patterns: list[str | re.Pattern[str]] = []
    for origin in origins:
        if origin == "*":
            raise ValueError("CDS_CORS_ORIGINS must list origins; '*' is not allowed")
        if origin.endswith(":*"):
            # Anchored at the end: flask-cors matches with re.match, which anchors only the start.
            patterns.append(re.compile(re.escape(origin[:-2]) + r"(:\d{1,5})?\Z"))
        else:
            patterns.append(origin.rstrip("/"))
    return patterns


def _only_with_origin(handler: Callable[[Response], Response]) -> Callable[[Response], Response]:
    @functools.wraps(handler)
    def wrapper(response: Response) -> Response:
        if "HTTP_ORIGIN" not in request.environ:  # the Origin header, read without a KeyError
            return response
        return handler(response)

    return wrapper


def init_app(app: Flask) -> None:
    before = list(app.after_request_funcs.get(None, []))
    CORS(
        app,
        resources={r"/cds-services*": {"origins": origin_patterns(app.config["CORS_ORIGINS"])}},
        methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
        supports_credentials=False,
        max_age=600,
        always_send=False,  # no CORS headers on requests without an Origin (EHR back ends)
    )
    after = app.after_request_funcs.setdefault(None, [])
    added = [f for f in after if f not in before]
    if len(added) != 1:
        raise RuntimeError(f"flask-cors registered {len(added)} response handlers, expected 1")
    after[after.index(added[0])] = _only_with_origin(added[0])  # type: ignore[arg-type]
