"""A small threaded HTTP proxy that delays every answer of an upstream server by a fixed time.

It stands between the service and the loopback FHIR server in the no-prefetch runs, so each FHIR
response costs what a round trip to a remote EHR would: requests are forwarded
as they come (method, path, body, headers but the hop-by-hop ones), the answer is read in full,
then held for `delay_seconds` before it is sent back. One thread per client connection
(`ThreadingHTTPServer`), HTTP/1.1 keep-alive towards the client, one short-lived connection per
request towards the upstream. Binds to 127.0.0.1 only; `start_proxy` returns a running proxy that
`close()` stops.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)
REWRITTEN = frozenset({"date", "server"})  # send_response writes its own
UPSTREAM_TIMEOUT_SECONDS = 30.0


class _DelayingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes; with Nagle on, the body waits for the client's
    # delayed ACK (about 40 ms on Linux), which would add to every round trip we claim is fixed.
    disable_nagle_algorithm = True
    server: _ProxyServer

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Host"] = self.server.upstream_netloc
        upstream = http.client.HTTPConnection(
            self.server.upstream_host, self.server.upstream_port, timeout=UPSTREAM_TIMEOUT_SECONDS
        )
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            payload = answer.read()
            status, reason, answer_headers = answer.status, answer.reason, answer.getheaders()
        except OSError as exc:
            status, reason, answer_headers = 502, "Bad Gateway", []
            payload = f"upstream unreachable: {type(exc).__name__}".encode()
        finally:
            upstream.close()
        time.sleep(self.server.delay_seconds)
        self.send_response(status, reason)
        for key, value in answer_headers:
            if key.lower() not in HOP_BY_HOP | REWRITTEN:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        with self.server.lock:
            self.server.forwarded += 1

    do_GET = do_POST = do_PUT = do_DELETE = _forward

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request would cost more than the requests themselves


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    upstream_host: str
    upstream_port: int
    upstream_netloc: str
    delay_seconds: float
    forwarded: int
    lock: threading.Lock


@dataclass
class RunningProxy:
    url: str  # the proxy's base URL, with the upstream's path (e.g. http://127.0.0.1:P/fhir)
    server: _ProxyServer
    thread: threading.Thread

    @property
    def forwarded(self) -> int:
        return self.server.forwarded

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_proxy(upstream_base: str, delay_seconds: float) -> RunningProxy:
    """Proxy `upstream_base` (an http:// URL) on a free loopback port, adding `delay_seconds`."""
    parts = urlsplit(upstream_base)
    if parts.scheme != "http" or parts.hostname is None:
        raise ValueError(f"the latency proxy forwards to http:// servers only, not {upstream_base}")
    server = _ProxyServer(("127.0.0.1", 0), _DelayingHandler)
    server.upstream_host = parts.hostname
    server.upstream_port = parts.port or 80
    server.upstream_netloc = parts.netloc
    server.delay_seconds = delay_seconds
    server.forwarded = 0
    server.lock = threading.Lock()
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.1},
        name="latency-proxy",
        daemon=True,
    )
    thread.start()
    port = server.server_address[1]
    return RunningProxy(f"http://127.0.0.1:{port}{parts.path.rstrip('/')}", server, thread)
