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


def init_app(app: Flask) -> None:
    @app.after_request
    def _add_security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            if name == "Content-Security-Policy" and name in response.headers:
                continue  # a page that sets its own (the preview page's scripts) keeps it
            response.headers[name] = value
        return response
