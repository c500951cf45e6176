"""A small FHIR R4 REST client for reading an EHR's `fhirServer` (FHIR R4 http.html, search.html).

CDS Hooks 2.0 "Passing the Access Token to the CDS Service": the service may read `fhirServer`
with `fhirAuthorization.access_token` as a bearer token. This client sends that token only to the
origin of the base it was built for, never follows redirects (a redirect could carry the token
elsewhere), sends `Accept: application/fhir+json`, uses one pooled `requests.Session` per FHIR
origin (shared by threads; no cookies kept, so one call's session cannot leak into another's), and
applies explicit connect/read timeouts cut to a caller's deadline.

Bounded (a FHIR server may be slow, hostile or broken): bodies are read in chunks and decompressed
here (gzip/deflate, with zlib's output limit), so a compressed bomb never expands past the limit;
decompressed bytes count against `CallBudget` (per response and per hook call); the deadline is
checked between chunks, so a server trickling bytes is cut off at the deadline; `Abort` lets the
caller shut down, at its deadline, the sockets a fetch thread is blocked on (headers trickled one
byte at a time included), so no thread outlives the call's budget; at most `MAX_SESSIONS`
connection pools are kept, one per origin, the least recently used closed first.

GETs are retried, with backoff, only on connection errors and 502/503/504, and only while the
deadline allows. It logs method, origin, resource type, status and time; never a token, a query
string or a body. Errors:

    FhirError                       any failure; `.url` without query, `.status` if any
    ├── FhirUnavailable             connection error, timeout, 502/503/504 after retries,
    │                               deadline spent, a URL on another origin (not sent)
    ├── FhirAuthError               never retried
    │   ├── FhirTokenRejected       401: the token is missing, expired or wrong
    │   └── FhirForbidden           403: the token lacks the scope
    ├── FhirTooLarge                the answer (decompressed) exceeds the per-response or the
    │                               per-call byte limit; the connection is dropped
    ├── FhirNotFound                404, or 410 (`.gone` is True): treat as absent
    └── FhirServerError             any other status; `.operation_outcome` keeps the server's
                                    OperationOutcome as data (None if the body was not one)
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import logging
import random
import socket
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from cds_service import metrics
from cds_service.config import default
from cds_service.frozen import fast_init
from cds_service.redaction import fhir_path

log = logging.getLogger("cds_service.fhir_client")

RETRY_STATUSES = frozenset({502, 503, 504})
FHIR_JSON = "application/fhir+json"


class FhirError(Exception):
    def __init__(self, message: str, *, url: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class FhirUnavailable(FhirError):
    pass


class FhirAuthError(FhirError):
    pass


class FhirTokenRejected(FhirAuthError):
    pass


class FhirForbidden(FhirAuthError):
    pass


class FhirTooLarge(FhirError):
    pass


class FhirNotFound(FhirError):
    @property
    def gone(self) -> bool:
        return self.status == 410


class FhirServerError(FhirError):
    def __init__(
        self,
        message: str,
        *,
        url: str = "",
        status: int | None = None,
        operation_outcome: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, url=url, status=status)
        self.operation_outcome = operation_outcome


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def _safe(url: str) -> str:
    """A URL fit for logs and error messages: no query string (ids, codes), no userinfo, and no
    resource id in the path (`Patient/{id}`): see `redaction.fhir_path`."""
    return fhir_path(url)


MAX_SESSIONS = 16  # connection pools kept (one per FHIR origin); the oldest is closed first
POOL_SIZE = 8  # pooled connections per origin (more may open; they are closed after use)
READ_CHUNK_BYTES = 64 * 1024
ACCEPT_ENCODING = "gzip, deflate"  # what `_read_body` decodes; never br or zstd


class Abort:
    """The sockets one fetch thread is using, so its caller can shut them down at its deadline.

    A thread binds itself with `bound()`; connections it opens or reuses register here. After
    `abort()`, every registered socket is shut down (a recv blocked on it returns at once) and
    any socket registered later is shut down as it registers.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self.aborted = False

    @contextlib.contextmanager
    def bound(self) -> Iterator[None]:
        _current.abort = self
        try:
            yield
        finally:
            _current.abort = None
            with self._lock:
                self._sockets.clear()

    def register(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.add(sock)
            aborted = self.aborted
        if aborted:
            _shutdown(sock)

    def abort(self) -> None:
        with self._lock:
            self.aborted = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)


_current = threading.local()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _register_current(sock: socket.socket | None) -> None:
    abort: Abort | None = getattr(_current, "abort", None)
    if abort is not None:
        abort.register(sock)


class _TrackedHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _register_current(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:  # a reused keep-alive connection
        _register_current(self.sock)
        super().request(*args, **kwargs)


class _TrackedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _register_current(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _register_current(self.sock)
        super().request(*args, **kwargs)


class _TrackedPool(HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection


class _TrackedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


class _TrackedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _TrackedPool, "https": _TrackedHTTPSPool}


@dataclass
class CallBudget:
    """The decompressed bytes one hook call may still read from `fhirServer`, shared by its
    fetch threads, and the most one response may be."""

    max_response_bytes: int = field(default_factory=lambda: int(default("FHIR_MAX_RESPONSE_BYTES")))
    remaining_bytes: int = field(default_factory=lambda: int(default("FHIR_MAX_CALL_BYTES")))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, n: int) -> bool:
        with self._lock:
            if n > self.remaining_bytes:
                self.remaining_bytes = 0
                return False
            self.remaining_bytes -= n
            return True


def tracked_session() -> requests.Session:
    """A session without cookies whose sockets register with the calling thread's `Abort`."""
    session = requests.Session()
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    adapter = _TrackedAdapter(pool_connections=2, pool_maxsize=POOL_SIZE, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


_sessions: OrderedDict[tuple[str, str, int | None], requests.Session] = OrderedDict()
_sessions_lock = threading.Lock()


def session_for(base_url: str) -> requests.Session:
    """The pooled session of a FHIR origin, created on first use; at most MAX_SESSIONS kept."""
    key = origin(base_url)
    evicted: requests.Session | None = None
    with _sessions_lock:
        session = _sessions.get(key)
        if session is not None:
            _sessions.move_to_end(key)
            return session
        session = tracked_session()
        _sessions[key] = session
        if len(_sessions) > MAX_SESSIONS:
            _, evicted = _sessions.popitem(last=False)
    if evicted is not None:
        evicted.close()  # idle connections closed now; ones in use when they are returned
    return session


def session_count() -> int:
    with _sessions_lock:
        return len(_sessions)


@fast_init
@dataclass(frozen=True)
class Timeouts:
    # Defaults are the settings' own (config.py holds the one default per setting).
    connect: float = field(default_factory=lambda: float(default("FHIR_CONNECT_TIMEOUT_SECONDS")))
    read: float = field(default_factory=lambda: float(default("FHIR_READ_TIMEOUT_SECONDS")))
    attempts: int = 3  # one try and at most two retries
    backoff: float = 0.1  # first pause; doubles, with jitter


class FhirClient:
    """Reads one FHIR base. Thread-safe: no per-call state is kept on the instance."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeouts: Timeouts | None = None,
        session: requests.Session | None = None,
        budget: CallBudget | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self._token = token
        self.timeouts = timeouts or Timeouts()
        self._session = session or session_for(self.base_url)
        self.budget = budget or CallBudget()

    def __repr__(self) -> str:  # the token stays out of reprs and tracebacks
        return f"FhirClient({_safe(self.base_url)!r}, token={'set' if self._token else 'none'})"

    @property
    def has_token(self) -> bool:
        return self._token is not None

    def url_for(self, relative_or_absolute: str) -> str:
        return urljoin(self.base_url, relative_or_absolute.lstrip("/"))

    def same_origin(self, url: str) -> bool:
        return origin(url) == origin(self.base_url)

    def rebase(self, url: str) -> str | None:
        """Where a server-given link may be followed with the token, or None if nowhere.

        A link on our origin is used verbatim. A link on another origin (a proxy that built it
        from an internal Host header, or http for https) is moved onto our origin when its path
        lies under our base path; anything else is another server and gets no request.
        """
        url = self.url_for(url)
        if self.same_origin(url):
            return url
        base, link = urlsplit(self.base_url), urlsplit(url)
        if not (link.path + "/").startswith(base.path):
            return None
        return urlunsplit((base.scheme, base.netloc, link.path, link.query, ""))

    def get(self, url: str, *, deadline: float | None = None) -> dict[str, Any]:
        """GET a relative or same-origin URL and return its JSON; raises a FhirError."""
        url = self.url_for(url)
        if not self.same_origin(url):
            metrics.fhir_request("refused")
            raise FhirUnavailable(
                "refused: URL is on another origin than fhirServer", url=_safe(url)
            )
        try:
            return self._get(url, deadline)
        except FhirError as exc:
            metrics.fhir_request(_outcome(exc))
            raise

    def _get(self, url: str, deadline: float | None) -> dict[str, Any]:
        headers = {"Accept": FHIR_JSON, "Accept-Encoding": ACCEPT_ENCODING}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            timeout = self._timeout(url, deadline)
            started = time.monotonic()
            try:
                response = self._session.get(
                    url, headers=headers, timeout=timeout, allow_redirects=False, stream=True
                )
            except requests.ConnectionError as exc:  # includes ConnectTimeout
                failure: FhirError = FhirUnavailable(
                    f"cannot connect to the FHIR server ({type(exc).__name__})", url=_safe(url)
                )
            except requests.Timeout as exc:  # a read timeout: the server may be working; no retry
                raise FhirUnavailable(
                    f"the FHIR server did not answer in time ({type(exc).__name__})", url=_safe(url)
                ) from None
            except requests.RequestException as exc:
                raise FhirUnavailable(
                    f"request failed ({type(exc).__name__})", url=_safe(url)
                ) from None
            else:
                log.info(
                    "fhir GET %s -> %s in %.0f ms",
                    _safe(url),
                    response.status_code,
                    (time.monotonic() - started) * 1000,
                )
                if response.status_code not in RETRY_STATUSES:
                    with contextlib.closing(response):
                        answer = self._answer(response, url, deadline)
                    metrics.fhir_request("ok")
                    return answer
                response.close()
                failure = FhirUnavailable(
                    f"the FHIR server answered {response.status_code}",
                    url=_safe(url),
                    status=response.status_code,
                )
                retry_after = _retry_after(response)
            if attempt >= self.timeouts.attempts:
                raise failure
            metrics.fhir_request(_outcome(failure))  # this attempt; the last one is counted above
            pause = self.timeouts.backoff * (2 ** (attempt - 1)) * (1 + random.random() / 2)  # noqa: S311
            if failure.status is not None and retry_after is not None:
                pause = max(pause, retry_after)
            if deadline is not None and time.monotonic() + pause >= deadline:
                raise failure
            time.sleep(pause)

    def _timeout(self, url: str, deadline: float | None) -> tuple[float, float]:
        connect, read = self.timeouts.connect, self.timeouts.read
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0.01:
                raise FhirUnavailable("time budget spent before the request", url=_safe(url))
            connect, read = min(connect, remaining), min(read, remaining)
        return connect, read

    def _read_body(self, response: requests.Response, url: str, deadline: float | None) -> bytes:
        """The body, decompressed here within the limits and by the deadline."""
        limit = min(self.budget.max_response_bytes, self.budget.remaining_bytes)
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            decoder: Any = zlib.decompressobj(wbits=zlib.MAX_WBITS | 32)  # gzip or zlib header
        elif encoding in ("", "identity"):
            decoder = None
        else:
            raise FhirServerError(
                f"the FHIR server used a content encoding not asked for ({encoding[:20]})",
                url=_safe(url),
                status=response.status_code,
            )
        declared = response.headers.get("Content-Length", "")
        if decoder is None and declared.isdigit() and int(declared) > limit:
            self._too_large(url, limit)
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                if deadline is not None and time.monotonic() >= deadline:
                    raise FhirUnavailable(
                        "time budget spent while the FHIR server was still sending",
                        url=_safe(url),
                    )
                # read1: what has arrived (a trickle must not hold us until 64 KiB are in)
                data = response.raw.read1(READ_CHUNK_BYTES, decode_content=False)
                if not data:
                    break
                while data:
                    if decoder is None:
                        out, data = data, b""
                    else:
                        out = decoder.decompress(data, limit + 1 - size)
                        data = decoder.unconsumed_tail
                    size += len(out)
                    if size > limit:
                        self._too_large(url, limit)
                    chunks.append(out)
            if decoder is not None:
                out = decoder.flush()
                size += len(out)
                if size > limit:
                    self._too_large(url, limit)
                chunks.append(out)
        except zlib.error:
            raise FhirServerError(
                "the FHIR server's compressed answer is corrupt",
                url=_safe(url),
                status=response.status_code,
            ) from None
        except (requests.RequestException, OSError) as exc:
            raise FhirUnavailable(
                f"the FHIR server's answer broke off ({type(exc).__name__})", url=_safe(url)
            ) from None
        except Exception as exc:  # urllib3's own read errors (ProtocolError, ReadTimeoutError)
            if type(exc).__module__.startswith("urllib3"):
                raise FhirUnavailable(
                    f"the FHIR server's answer broke off ({type(exc).__name__})", url=_safe(url)
                ) from None
            raise
        if not self.budget.take(size):
            self._too_large(url, limit)
        return b"".join(chunks)

    def _too_large(self, url: str, limit: int) -> None:
        raise FhirTooLarge(
            f"the FHIR server's answer exceeds the {limit} bytes this call may still read",
            url=_safe(url),
        )

    def _answer(
        self, response: requests.Response, url: str, deadline: float | None
    ) -> dict[str, Any]:
        status = response.status_code
        body = _json(self._read_body(response, url, deadline))
        if 200 <= status < 300:
            if body is None:
                raise FhirServerError(
                    "the FHIR server answered with a body that is not JSON",
                    url=_safe(url),
                    status=status,
                )
            return body
        outcome = body if body and body.get("resourceType") == "OperationOutcome" else None
        if status == 401:
            raise FhirTokenRejected(
                "the FHIR server rejected the access token (401)", url=_safe(url), status=status
            )
        if status == 403:
            raise FhirForbidden(
                "the access token lacks the scope for this query (403)",
                url=_safe(url),
                status=status,
            )
        if status in (404, 410):
            raise FhirNotFound(
                f"not found on the FHIR server ({status})", url=_safe(url), status=status
            )
        raise FhirServerError(
            f"the FHIR server answered {status}",
            url=_safe(url),
            status=status,
            operation_outcome=outcome,
        )


def _json(raw: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def _outcome(exc: FhirError) -> str:
    """The `metrics.fhir_request` outcome of a failed attempt."""
    if isinstance(exc, FhirTooLarge):
        return "too_large"
    if isinstance(exc, FhirTokenRejected):
        return "token_rejected"
    if isinstance(exc, FhirForbidden):
        return "forbidden"
    if isinstance(exc, FhirNotFound):
        return "not_found"
    if isinstance(exc, FhirServerError):
        return "server_error"
    if "in time" in str(exc) or "time budget" in str(exc):
        return "timeout"
    return "unavailable"


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None
