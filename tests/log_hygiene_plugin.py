"""Log hygiene across the whole test suite (issue 5 "Hygiene"; CDS Hooks 2.0 best practices: never
log whole JWTs): no JWT or access token the tests used may appear in any log record.

Registered once from `tests/conftest.py` with `pytest_plugins = ["tests.log_hygiene_plugin"]`, the
plugin (1) records every logging call of the session, whatever the logger's level, handlers or
propagation, rendering message, arguments, structured extras and exception text; (2) collects
secrets: the `Authorization` bearer value of every Flask test-client request, every
`fhirAuthorization.access_token` in a JSON body sent through it, and anything passed to
`remember_secret` (tokens minted for unit tests that never reach a client); (3) after each test,
fails that test if a record so far contains a secret so far, and at the end of the session checks
everything once more. Any JWT-shaped string in a log record fails too, remembered or not.

Patient identifiers are watched the same way (issue 13): from every JSON body sent through the
test client, `context.patientId` and, of every Patient resource in it (prefetch, draft orders,
bundles), its `id`, the parts of its names (`family`, `given`, `text`) and its `birthDate`. They
are matched as whole tokens (`pat-1` does not match inside `pat-10` nor `pat-1-rule`), so short
ids can be watched without false alarms; a FHIR URL path `.../Patient/pat-1` in a log line is
caught. Ids are watched when they hold a digit or a hyphen (fuzzed bodies send words such as
`after` that log lines rightly contain), names when capitalised. They are checked in the records
that can reach the service's log: its own loggers and gunicorn's at any level (CDS_LOG_LEVEL may be
DEBUG), other libraries' at WARNING and above (nothing routes their DEBUG and INFO records to a
handler, e.g. urllib3's request lines with query strings).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import Client

__all__ = ["HYGIENE", "remember_secret"]

JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_MIN_SECRET_CHARS = 8  # shorter strings would match by accident ("abc" is in many messages)
_MIN_PHI_CHARS = 4  # patient ids and names, matched as whole tokens
_OWN_LOGGERS = ("cds_service", "gunicorn")
_STANDARD_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class Hygiene:
    """The secrets used and the log text seen so far in this session."""

    def __init__(self) -> None:
        self.active = False
        self.secrets: list[str] = []
        self.patient_identifiers: dict[str, re.Pattern[str]] = {}  # value -> whole-token pattern
        self.records: list[tuple[str, str]] = []  # (logger name, rendered text)
        self.levels: list[int] = []
        self._checked_secrets = 0
        self._checked_records = 0
        self._checked_identifiers = 0

    def remember(self, secret: str) -> None:
        if len(secret) >= _MIN_SECRET_CHARS and secret not in self.secrets:
            self.secrets.append(secret)

    def remember_patient(self, value: str, *, name: bool = False) -> None:
        value = value.strip()
        if len(value) < _MIN_PHI_CHARS or value in self.patient_identifiers:
            return
        if name and not value[:1].isupper():
            return
        if not name and not any(c.isdigit() or c == "-" for c in value):
            return
        token = rf"(?<![A-Za-z0-9_-]){re.escape(value)}(?![A-Za-z0-9_-])"
        self.patient_identifiers[value] = re.compile(token)

    def capture(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, render(record)))
        self.levels.append(record.levelno)

    def leaks(self, *, everything: bool = False) -> list[str]:
        """Problems in records not yet checked, and old records against secrets not yet checked."""
        start_s = 0 if everything else self._checked_secrets
        start_r = 0 if everything else self._checked_records
        new_secrets = self.secrets[start_s:]
        found = []
        for index in range(0 if new_secrets else start_r, len(self.records)):
            name, text = self.records[index]
            secrets = self.secrets if index >= start_r else new_secrets
            for secret in secrets:
                if secret in text:
                    found.append(
                        f"logger {name!r} logged a token used by the tests: {secret[:12]}..."
                    )
            if index >= start_r and JWT_SHAPE.search(text):
                found.append(f"logger {name!r} logged something shaped like a JWT")
        found += self._identifier_leaks(start_r, everything=everything)
        self._checked_secrets, self._checked_records = len(self.secrets), len(self.records)
        self._checked_identifiers = len(self.patient_identifiers)
        return found

    def _identifier_leaks(self, start_r: int, *, everything: bool) -> list[str]:
        values = list(self.patient_identifiers.items())
        new_values = values[0 if everything else self._checked_identifiers :]
        found = []
        for index in range(0 if new_values else start_r, len(self.records)):
            name, text = self.records[index]
            if not name.startswith(_OWN_LOGGERS) and self.levels[index] < logging.WARNING:
                continue
            for value, pattern in values if index >= start_r else new_values:
                if value in text and pattern.search(text):
                    found.append(f"logger {name!r} logged a patient identifier: {value[:2]}...")
        return found


HYGIENE = Hygiene()


def remember_secret(secret: str) -> str:
    """Declare a token the tests use; returns it, so it can wrap the minting call."""
    HYGIENE.remember(secret)
    return secret


def render(record: logging.LogRecord) -> str:
    parts = [str(record.msg)]
    try:
        parts.append(record.getMessage())
    except Exception:  # a broken format string: its arguments are still checked
        parts.append(repr(record.args))
    for name, value in vars(record).items():
        if name not in _STANDARD_RECORD_FIELDS:
            parts.append(f"{name}={json.dumps(value, default=str)}")
    if record.exc_info and record.exc_info[1] is not None:
        parts.append(logging.Formatter().formatException(record.exc_info))
    if record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(parts)


def _access_tokens(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "access_token" and isinstance(item, str):
                yield item
            else:
                yield from _access_tokens(item)
    elif isinstance(value, list):
        for item in value:
            yield from _access_tokens(item)


def _patient_identifiers(value: Any) -> Iterator[tuple[str, bool]]:
    """(value, is a name): context.patientId, and the id, names and birth date of every Patient
    resource."""
    if isinstance(value, dict):
        context = value.get("context")
        if isinstance(context, dict) and isinstance(context.get("patientId"), str):
            yield context["patientId"], False
        if value.get("resourceType") == "Patient":
            for key in ("id", "birthDate"):
                if isinstance(value.get(key), str):
                    yield value[key], False
            for name in value.get("name") or ():
                if isinstance(name, dict):
                    parts = [name.get("family"), name.get("text"), *(name.get("given") or ())]
                    yield from ((part, True) for part in parts if isinstance(part, str))
        for item in value.values():
            yield from _patient_identifiers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _patient_identifiers(item)


def _harvest(kwargs: dict[str, Any]) -> None:
    headers = kwargs.get("headers") or {}
    items = headers.items() if hasattr(headers, "items") else headers
    for name, value in items:
        if str(name).lower() == "authorization" and isinstance(value, str):
            HYGIENE.remember(value.split(" ", 1)[-1].strip())
    body = kwargs.get("json")
    if body is None and isinstance(kwargs.get("data"), str | bytes):
        try:
            body = json.loads(kwargs["data"])
        except (ValueError, RecursionError):  # tests send deliberately broken bodies
            body = None
    try:
        for token in _access_tokens(body):
            HYGIENE.remember(token)
        for identifier, is_name in _patient_identifiers(body):
            HYGIENE.remember_patient(identifier, name=is_name)
    except RecursionError:  # a test's deliberately deep body holds no token of ours
        pass


_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}


def _watching(method_name: str) -> Any:
    """Wrap `Logger.<method_name>` so that a call is seen even when its level is disabled: a
    DEBUG line that leaks a token is a leak the day someone sets CDS_LOG_LEVEL=DEBUG."""
    original = getattr(logging.Logger, method_name)

    def method(self: logging.Logger, *args: Any, **kwargs: Any) -> Any:
        # A malformed logging call must fail in the code under test, not here.
        with contextlib.suppress(Exception):
            level, msg, *rest = args if method_name == "log" else (_LEVELS[method_name], *args)
            exc_info = kwargs.get("exc_info", method_name == "exception")
            if exc_info is True:
                exc_info = sys.exc_info()
            record = logging.LogRecord(self.name, level, "", 0, msg, tuple(rest), exc_info or None)
            for key, value in (kwargs.get("extra") or {}).items():
                setattr(record, key, value)
            HYGIENE.capture(record)
        # One frame more between the caller and logging: keep funcName/lineno pointing at it.
        kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 1
        return original(self, *args, **kwargs)

    return method


def pytest_configure(config: pytest.Config) -> None:
    if HYGIENE.active:
        return
    HYGIENE.active = True
    for name in (*_LEVELS, "log"):
        setattr(logging.Logger, name, _watching(name))
    original_handle = logging.Logger.handle

    def handle(self: logging.Logger, record: logging.LogRecord) -> None:
        # Records that reach handlers without a logging method (makeRecord + handle, adapters
        # of other libraries) are seen here; the others are seen twice, which is harmless.
        HYGIENE.capture(record)
        original_handle(self, record)

    logging.Logger.handle = handle  # type: ignore[method-assign]
    # FlaskClient.open turns its keyword arguments into an EnvironBuilder before calling
    # werkzeug's, so both are wrapped: each sees the arguments of its own callers.
    for client_class in (Client, FlaskClient):
        client_class.open = _harvesting(client_class.open)  # type: ignore[method-assign]


def _harvesting(original_open: Any) -> Any:
    def open_(self: Client, *args: Any, **kwargs: Any) -> Any:
        _harvest(kwargs)
        return original_open(self, *args, **kwargs)

    return open_


@pytest.fixture(autouse=True)
def _no_token_in_logs() -> Iterator[None]:
    yield
    leaks = HYGIENE.leaks()
    if leaks:
        pytest.fail("log hygiene: " + "; ".join(sorted(set(leaks))), pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leaks = HYGIENE.leaks(everything=True)
    if leaks:
        print("\nlog hygiene: " + "; ".join(sorted(set(leaks))))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
