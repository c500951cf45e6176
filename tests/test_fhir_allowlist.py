"""The FHIR server allowlist (CDS Hooks 2.0 "Calling a CDS Service": `fhirServer` MUST be https for
production data; issue 5 item 5): table-driven over base URLs, and through the app: a disallowed
`fhirServer` is never contacted, not even looked up in DNS, and the call proceeds as if the server
were unreachable."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient

from cds_service import create_app, extensions
from cds_service.config import defaults
from cds_service.fhir_allowlist import fhir_server_allowed, is_loopback_host
from tests.conftest import patient_view_request

DEFAULTS = defaults()["FHIR_ALLOWLIST"]
HAPI = ["https://hapi.fhir.org/baseR4"]

ALLOWED = [
    ("https://hapi.fhir.org/baseR4", HAPI),
    ("https://hapi.fhir.org/baseR4/", HAPI),
    ("https://HAPI.fhir.org/baseR4", HAPI),
    ("https://hapi.fhir.org:443/baseR4", HAPI),
    ("https://hapi.fhir.org/baseR4/Patient", HAPI),
    ("https://hapi.fhir.org/baseR4", ["https://hapi.fhir.org/baseR4/"]),
    ("https://fhir.example.org/any/path", ["https://fhir.example.org"]),
    ("http://localhost:8080/fhir", DEFAULTS),
    ("http://127.0.0.1:52773/fhir/r4", DEFAULTS),
    ("http://[::1]:8080/fhir", DEFAULTS),
    ("http://localhost/fhir", DEFAULTS),
    ("https://hapi.fhir.org/baseR4", DEFAULTS),
    ("http://127.0.0.5:9000/fhir", ["http://127.0.0.5"]),
    ("http://localhost:8080/fhir/r4", ["http://localhost:8080/fhir"]),
    ("http://127.0.0.1:5000/fhir", ["http://127.0.0.1:5000/fhir"]),
    ("http://localhost/fhir", ["http://localhost:80/fhir"]),
    ("http://localhost:80/fhir", ["http://localhost/fhir"]),
    ("https://localhost:8443/fhir", ["https://localhost/fhir"]),  # no port: any loopback port
]

REFUSED = [
    ("https://hapi.fhir.org/baseR4evil", HAPI),
    ("https://hapi.fhir.org/baseR", HAPI),
    ("https://hapi.fhir.org/", HAPI),
    ("https://hapi.fhir.org/baser4", HAPI),
    ("https://evil.example/baseR4", HAPI),
    ("https://hapi.fhir.org.evil.example/baseR4", HAPI),
    ("https://hapi.fhir.org:8443/baseR4", HAPI),
    ("http://hapi.fhir.org/baseR4", HAPI),
    ("http://hapi.fhir.org/baseR4", ["http://hapi.fhir.org/baseR4"]),
    ("https://user:pw@hapi.fhir.org/baseR4", HAPI),
    ("https://hapi.fhir.org@evil.example/baseR4", HAPI),
    ("https://hapi.fhir.org/baseR4/../admin", HAPI),
    ("https://hapi.fhir.org/baseR4/%2e%2e/admin", HAPI),
    ("https://hapi.fhir.org/baseR4%2F..%2Fadmin", HAPI),
    ("https://hapi.fhir.org/baseR4\\..\\admin", HAPI),
    ("https://hapi.fhir.org/baseR4?_format=json", HAPI),
    ("https://hapi.fhir.org/baseR4#x", HAPI),
    (" https://hapi.fhir.org/baseR4", HAPI),
    ("ftp://hapi.fhir.org/baseR4", ["ftp://hapi.fhir.org/baseR4"]),
    ("file:///etc/passwd", DEFAULTS),
    ("https://hapi.fhir.org:99999/baseR4", HAPI),
    ("http://10.0.0.7/fhir", DEFAULTS),
    ("http://169.254.169.254/latest/meta-data", DEFAULTS),
    ("http://2130706433/fhir", DEFAULTS),  # 127.0.0.1 as a decimal integer: not parsed as loopback
    ("http://127.1/fhir", DEFAULTS),
    ("http://localhost.evil.example/fhir", DEFAULTS),
    ("https://localhost/fhir", DEFAULTS),  # the defaults list loopback as http
    ("http://127.0.0.2/fhir", DEFAULTS),
    ("", DEFAULTS),
    ("not a url", DEFAULTS),
    ("https://hapi.fhir.org/baseR4", []),
    # A loopback entry with an explicit port means that port only (issue 16).
    ("http://localhost:9999/fhir", ["http://localhost:8080/fhir"]),
    ("http://127.0.0.1:5001/fhir", ["http://127.0.0.1:5000/fhir"]),
    ("http://127.0.0.1/fhir", ["http://127.0.0.1:5000/fhir"]),
    ("http://[::1]:5001/fhir", ["http://[::1]:5000/fhir"]),
    ("http://localhost:8080/fhir", ["http://localhost:80/fhir"]),
]


@pytest.mark.parametrize(("url", "allowlist"), ALLOWED)
def test_a_listed_base_or_a_path_under_it_is_allowed(url: str, allowlist: list[str]) -> None:
    assert fhir_server_allowed(url, allowlist)


@pytest.mark.parametrize(("url", "allowlist"), REFUSED)
def test_anything_else_is_refused(url: str, allowlist: list[str]) -> None:
    assert not fhir_server_allowed(url, allowlist)


def test_an_http_entry_off_loopback_allows_nothing() -> None:
    assert not fhir_server_allowed("http://fhir.example.org/r4", ["http://fhir.example.org/r4"])


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("[::1]", True),
        ("10.0.0.1", False),
        ("localhost.example", False),
        ("0.0.0.0", False),  # noqa: S104 -- a host name under test, not a bind
        ("", False),
    ],
)
def test_loopback_is_recognised_from_the_text_alone(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    lookups: list[Any] = []
    real_lookup = socket.getaddrinfo

    def refuse_lookup(*args: Any, **kwargs: Any) -> Any:
        # Loopback lookups are let through: a fetch thread another test left running against
        # its own 127.0.0.1 server (it ends at that test's deadline) must not fail this one.
        if args and is_loopback_host(str(args[0])):
            return real_lookup(*args, **kwargs)
        lookups.append(args)
        raise OSError("DNS lookup attempted in a test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse_lookup)
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        yield lookups


def test_the_decision_never_touches_dns(no_network: list[Any]) -> None:
    for url, allowlist in ALLOWED + REFUSED:
        fhir_server_allowed(url, allowlist)
    assert no_network == []


def test_a_disallowed_fhir_server_gets_no_request_and_the_call_is_412(
    client: FlaskClient, no_network: list[Any]
) -> None:
    evil = "https://fhir.evil.example/r4"
    body = patient_view_request(
        fhirServer=evil,
        fhirAuthorization={
            "access_token": "opaque-access-token-for-evil-fhir-0001",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "cds-service",
        },
    )
    del body["prefetch"]["conditions"]  # a required key: the service would have to fetch it
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{evil}/Condition", json={"resourceType": "Bundle", "type": "searchset"})
        response = client.post(_patient_view_path(client), json=body)
        assert len(mock.calls) == 0
    assert no_network == []
    assert response.status_code == 412
    assert "allowlist" in response.get_data(as_text=True)
    assert "opaque-access-token" not in response.get_data(as_text=True)


def _patient_view_path(client: FlaskClient) -> str:
    services = extensions.services(client.application).values()
    return "/cds-services/" + str(next(s.id for s in services if s.hook == "patient-view"))


class _CountingFhir:
    """A loopback HTTP server that answers every GET with an empty searchset and counts them."""

    def __init__(self) -> None:
        hits: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                body = json.dumps({"resourceType": "Bundle", "type": "searchset", "total": 0})
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.hits = hits
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_loopback_entry_with_a_port_lets_no_request_reach_another_port(tmp_path: Any) -> None:
    listed, other = _CountingFhir(), _CountingFhir()
    try:
        app = create_app(
            {
                "TESTING": True,
                "AUTH_ENABLED": False,
                "DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
                "FHIR_ALLOWLIST": [f"http://127.0.0.1:{listed.port}/fhir"],
            }
        )
        client = app.test_client()
        answers = {}
        for server in (other, listed):
            body = patient_view_request(fhirServer=f"http://127.0.0.1:{server.port}/fhir")
            del body["prefetch"]["conditions"]  # required: the service must fetch it
            answers[server.port] = client.post(_patient_view_path(client), json=body)
        assert other.hits == []
        assert answers[other.port].status_code == 412
        assert "allowlist" in answers[other.port].get_data(as_text=True)
        # The control: the listed port is reached, so the zero above is not a broken probe.
        assert listed.hits and all(h.startswith("/fhir/") for h in listed.hits)
        assert answers[listed.port].status_code == 200
    finally:
        listed.close()
        other.close()
