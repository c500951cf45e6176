"""A slow or trickling JWKS endpoint (issue 12): the fetch has a total deadline, and a call whose
key is already cached is never held up by a fetch in flight. Against a local stand-in server."""

from __future__ import annotations

import json
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from cds_service.auth import jwks
from cds_service.auth.issuers import TrustedIssuer
from cds_service.auth.jwks import KeySets, UnknownKey
from tests.fake_ehr import FakeClock, sandbox


class JwksServer(socketserver.BaseRequestHandler):
    """`/fast` answers the sandbox's set at once; `/slow` after 2 s; `/trickle` a byte at a time."""

    stop: threading.Event

    def handle(self) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            data += chunk
        path = data.split(b" ", 2)[1].decode()
        body = json.dumps(sandbox().jwks()).encode()
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        try:
            if path == "/slow":
                self.stop.wait(2.0)
            if path == "/trickle":
                for byte in head.encode() + body:
                    if self.stop.wait(0.1):
                        return
                    self.request.sendall(bytes([byte]))
                return
            self.request.sendall(head.encode() + body)
        except OSError:
            pass


@pytest.fixture
def server() -> Iterator[str]:
    stop = threading.Event()
    JwksServer.stop = stop
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), JwksServer)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    stop.set()
    srv.shutdown()
    srv.server_close()


def issuer(*urls: str) -> TrustedIssuer:
    return TrustedIssuer(iss=sandbox().iss, jku=frozenset(urls))


def test_a_trickling_key_set_is_given_up_at_the_deadline(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jwks, "FETCH_DEADLINE_SECONDS", 0.5)
    started = time.monotonic()
    with pytest.raises(UnknownKey):
        KeySets().key_for(issuer(f"{server}/trickle"), f"{server}/trickle", sandbox().kid)
    assert time.monotonic() - started < 1.5  # not the ~50 s the trickle would take


def test_a_cached_key_is_served_while_a_slow_refetch_is_in_flight(server: str) -> None:
    clock = FakeClock()
    slow = f"{server}/slow"
    trusted = issuer(slow)
    key_sets = KeySets(clock=clock)
    assert key_sets.key_for(trusted, slow, sandbox().kid)  # first fetch: 2 s, once
    clock.advance(120)  # a refetch is allowed again
    refused: list[bool] = []

    def forged_call() -> None:
        try:
            key_sets.key_for(trusted, slow, "random-kid")
        except UnknownKey:
            refused.append(True)

    forged = threading.Thread(target=forged_call)
    forged.start()  # a forged token with a random kid starts a 2 s refetch
    time.sleep(0.2)
    started = time.monotonic()
    assert key_sets.key_for(trusted, slow, sandbox().kid).kid == sandbox().kid
    assert time.monotonic() - started < 0.1
    forged.join()
    assert refused == [True]


def test_a_stale_cached_key_is_served_while_one_call_refreshes_it(server: str) -> None:
    clock = FakeClock()
    slow = f"{server}/slow"
    trusted = issuer(slow)
    key_sets = KeySets(clock=clock)
    key_sets.key_for(trusted, slow, sandbox().kid)
    clock.advance(jwks.MAX_AGE_SECONDS + 1)
    refresher = threading.Thread(target=key_sets.key_for, args=(trusted, slow, sandbox().kid))
    refresher.start()
    time.sleep(0.2)
    started = time.monotonic()
    assert key_sets.key_for(trusted, slow, sandbox().kid).kid == sandbox().kid
    assert time.monotonic() - started < 0.1
    refresher.join()
