"""CORS for browser-based CDS clients such as the CDS Hooks sandbox (spec "Cross-Origin Resource
Sharing"), with flask-cors and an allowlist from CDS_CORS_ORIGINS.

Preflight (OPTIONS) is answered for the CDS endpoints with `Authorization` and `Content-Type`
allowed; credentials are never combined with a wildcard origin (peer-survey section 5). A `*`
inside an origin's port (the default `http://localhost:*`) is turned into a pattern matching any
port of that host, never any host.
"""

from __future__ import annotations

import re

from flask import Flask
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


def init_app(app: Flask) -> None:
    CORS(
        app,
        resources={r"/cds-services*": {"origins": origin_patterns(app.config["CORS_ORIGINS"])}},
        methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
        supports_credentials=False,
        max_age=600,
        always_send=False,  # no CORS headers on requests without an Origin (EHR back ends)
    )
