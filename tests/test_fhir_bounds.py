"""Bounded everything on the FHIR side, against a local stand-in server that misbehaves on purpose:
gzip bombs, bodies larger than any limit, bodies and headers trickled a byte at a time, `next`
links that loop, 404 on a search, and many distinct `fhirServer` origins."""

from __future__ import annotations

import gzip
import json
import socket
import socketserver
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from cds_service import fhir_client
from cds_service.config import defaults
from cds_service.errors import DataUnavailable
from cds_service.fhir_client import CallBudget, FhirClient, FhirTooLarge, Timeouts
from cds_service.resolution import resolve
from cds_service.resolution.resolved import KeyState
from cds_service.services import ServiceDefinition
from tests.resolution_requests import hook_request

MIB = 1024 * 1024


def bundle(count: int, next_url: str | None = None) -> bytes:
    body: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"resource": {"resourceType": "Observation", "id": f"o{i}", "status": "final"}}
            for i in range(count)
        ],
    }
    if next_url:
        body["link"] = [{"relation": "next", "url": next_url}]
    return json.dumps(body).encode()


_BOMB: list[bytes] = []


def bomb() -> bytes:
    """64 MiB of a JSON string compress to ~64 KB: the classic decompression bomb (made once)."""
    if not _BOMB:
        _BOMB.append(gzip.compress(b'{"x": "' + b"0" * (64 * MIB) + b'"}', 6))
    return _BOMB[0]


class Behaviour(socketserver.BaseRequestHandler):
    """Answers by path; `stop` (set at teardown) ends the endless behaviours."""

    stop: threading.Event
    base: str

    def handle(self) -> None:
        conn: socket.socket = self.request
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        path = data.split(b" ", 2)[1].decode()
        name = path.split("?")[0].rsplit("/", 1)[-1]
        try:
            getattr(self, f"do_{name.replace('-', '_')}", self.do_missing)(conn, path)
        except OSError:
            pass  # the client hung up: what a bounded client does

    def send(
        self, conn: socket.socket, body: bytes, *, status: str = "200 OK", **headers: str
    ) -> None:
        head = [f"HTTP/1.1 {status}", "Content-Type: application/fhir+json", "Connection: close"]
        head += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
        if "Content_Length" not in headers:
            head.append(f"Content-Length: {len(body)}")
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)

    def do_missing(self, conn: socket.socket, path: str) -> None:
        self.send(conn, b'{"resourceType": "OperationOutcome"}', status="404 Not Found")

    def do_Patient(self, conn: socket.socket, path: str) -> None:
        self.send(conn, b'{"resourceType": "Bundle", "type": "searchset"}')

    def do_bomb(self, conn: socket.socket, path: str) -> None:
        self.send(conn, bomb(), Content_Encoding="gzip")

    def do_huge(self, conn: socket.socket, path: str) -> None:
        # 100 MiB announced and sent as fast as the client reads.
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\n"
            b"Content-Length: 104857600\r\n\r\n"
        )
        chunk = b" " * MIB
        for _ in range(100):
            conn.sendall(chunk)

    def do_unsized(self, conn: socket.socket, path: str) -> None:
        # No Content-Length, no end: bytes until the client hangs up.
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\n\r\n[")
        while not self.stop.is_set():
            conn.sendall(b" " * 65536)

    def do_trickle_body(self, conn: socket.socket, path: str) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n{")
        while not self.stop.wait(0.2):
            conn.sendall(b" ")

    def do_trickle_headers(self, conn: socket.socket, path: str) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        while not self.stop.wait(0.2):
            conn.sendall(b"X")

    def do_loop(self, conn: socket.socket, path: str) -> None:
        self.send(conn, bundle(1000, next_url=f"{self.base}/loop?page=again"))


@pytest.fixture
def stand_in() -> Iterator[str]:
    stop = threading.Event()
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Behaviour)
    server.daemon_threads = True
    base = f"http://127.0.0.1:{server.server_address[1]}/fhir"
    Behaviour.stop, Behaviour.base = stop, base
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    stop.set()
    server.shutdown()
    server.server_close()


FAST = Timeouts(connect=0.5, read=1.0, attempts=1, backoff=0.01)


def client(
    base: str, max_response_bytes: int | None = None, remaining_bytes: int | None = None
) -> FhirClient:
    budget = CallBudget()
    if max_response_bytes is not None:
        budget.max_response_bytes = max_response_bytes
    if remaining_bytes is not None:
        budget.remaining_bytes = remaining_bytes
    return FhirClient(base, timeouts=FAST, budget=budget)


def test_a_gzip_bomb_is_refused_without_expanding(stand_in: str) -> None:
    bomb()  # made before memory is traced: the server's bytes are not the client's
    tracemalloc.start()
    try:
        with pytest.raises(FhirTooLarge):
            client(stand_in).get("bomb")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * int(defaults()["FHIR_MAX_RESPONSE_BYTES"])  # not 64 MiB and more


@pytest.mark.parametrize("path", ["huge", "unsized"])
def test_a_body_past_the_limit_is_dropped_at_the_limit(stand_in: str, path: str) -> None:
    started = time.monotonic()
    with pytest.raises(FhirTooLarge):
        client(stand_in, max_response_bytes=2 * MIB).get(path, deadline=time.monotonic() + 10)
    assert time.monotonic() - started < 5


def test_the_call_budget_counts_every_answer(stand_in: str) -> None:
    shared = client(stand_in, max_response_bytes=MIB, remaining_bytes=150_000)
    shared.get("loop")  # ~100 KB
    with pytest.raises(FhirTooLarge):
        shared.get("loop")


CONFIG = {
    **defaults(),
    "FHIR_BUDGET_SECONDS": 1.0,
    "FHIR_CONNECT_TIMEOUT_SECONDS": 0.5,
    "FHIR_READ_TIMEOUT_SECONDS": 0.5,
}


def service(prefetch: dict[str, str], required: frozenset[str] = frozenset()) -> ServiceDefinition:
    return ServiceDefinition(
        id="svc",
        hook="patient-view",
        title="t",
        description="d",
        prefetch=prefetch,
        required_prefetch=required,
        examples=(),
    )


def fetch_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("fhir-fetch"))


@pytest.mark.parametrize("path", ["trickle-body", "trickle-headers"])
def test_a_trickling_server_leaves_no_thread_behind(stand_in: str, path: str) -> None:
    before = fetch_threads()
    svc = service({"obs": f"{path}?patient={{{{context.patientId}}}}"})
    started = time.monotonic()
    outcomes = [
        resolve(svc, hook_request({}, fhir_server=stand_in), CONFIG).outcomes["obs"]
        for _ in range(2)
    ]
    took = time.monotonic() - started
    assert all(o.state is KeyState.UNAVAILABLE for o in outcomes)
    assert took < 2 * 1.0 + 1.0  # each call returns at its 1 s budget
    time.sleep(0.3)  # the aborted threads finish unwinding
    assert fetch_threads() == before


def test_next_links_that_loop_stop_at_the_page_cap(stand_in: str) -> None:
    svc = service({"obs": "loop?patient={{context.patientId}}"})
    config = {**CONFIG, "FHIR_BUDGET_SECONDS": 5.0, "FHIR_MAX_PAGES": 4}
    outcome = resolve(svc, hook_request({}, fhir_server=stand_in), config).outcomes["obs"]
    assert not outcome.complete and outcome.reason == "stopped at 4 pages"
    assert len(outcome.resources) == 4000


def test_a_404_on_a_required_search_is_412_and_on_an_optional_one_could_not_be_retrieved(
    stand_in: str,
) -> None:
    templates = {
        "patient": "Patient/{{context.patientId}}",
        "obs": "Observation?patient={{context.patientId}}",
    }
    with pytest.raises(DataUnavailable) as refused:
        resolve(
            service(templates, frozenset({"obs"})), hook_request({}, fhir_server=stand_in), CONFIG
        )
    assert [d["key"] for d in refused.value.details] == ["obs"]
    assert "could not be retrieved" in refused.value.details[0]["reason"]
    optional = resolve(service(templates), hook_request({}, fhir_server=stand_in), CONFIG)
    assert optional.outcomes["obs"].state is KeyState.UNAVAILABLE
    assert "could not be retrieved" in (optional.outcomes["obs"].reason or "")


def test_a_404_on_a_read_is_not_found(stand_in: str) -> None:
    svc = service({"patient": "Patient/{{context.patientId}}"}, frozenset({"patient"}))
    missing = f"{stand_in}/nowhere"
    outcome = resolve(svc, hook_request({}, fhir_server=missing), CONFIG).outcomes["patient"]
    assert outcome.state is KeyState.EMPTY


def test_connection_pools_are_bounded_in_number(stand_in: str) -> None:
    port = int(stand_in.split(":")[2].split("/")[0])
    for i in range(3 * fhir_client.MAX_SESSIONS):
        fhir_client.session_for(f"http://127.0.0.{1 + i}:{port}/fhir")
        fhir_client.session_for(f"http://127.0.0.1:{port}/fhir/path-{i}")  # same origin: shared
    assert fhir_client.session_count() <= fhir_client.MAX_SESSIONS
