"""Security headers on every response, errors included (CDS Hooks 2.0
"Security and Safety" leaves the details to the OWASP guidance it cites).

The service only ever answers JSON to programs, so the headers can be strict: no content sniffing,
no caching anywhere (responses carry patient data and cards), no scripts or framing if a browser
ever renders a body, and no referrer. HSTS is left to the TLS-terminating proxy, which knows
whether the public side is https.
"""

from __future__ import annotations

from flask import Flask, Response

SECURITY_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


_CSP = "content-security-policy"
# (name, lower-case name, value): header names compare case-insensitively.
_SECURITY_HEADERS = tuple((name, name.lower(), value) for name, value in SECURITY_HEADERS.items())


def add_security_headers(response: Response) -> Response:
    """Each header set (replacing a value a view gave), except a Content-Security-Policy a page
    sets for itself (the preview page's scripts). The response's headers are read once: a JSON
    answer carries only its Content-Type and Content-Length, so each header is appended rather
    than searched for again (werkzeug's `set` scans the list per header)."""
    headers = response.headers
    present = {name.lower() for name, _ in headers.items()}
    for name, lowered, value in _SECURITY_HEADERS:
        if lowered not in present:
            headers.add(name, value)
        elif lowered != _CSP:
            headers.set(name, value)
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)
