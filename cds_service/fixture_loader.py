"""Loading FHIR transaction Bundles (`fhir_fixtures/*.json`) into a FHIR server.

FHIR R4 http.html#transaction: each fixture is one `transaction` Bundle POSTed to the server's
base; its entries use `PUT Type/id` with stable ids, so loading twice updates rather than
duplicates, and every test, example request and README table can name the same ids (HAPI refuses
client ids on POST and purely numeric ids). A bearer token is sent when
given, to that server only; it is never printed. The whole transaction succeeds or fails (the
server rolls back); a failure raises `FixtureError` naming the file and the server's
OperationOutcome diagnostics.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from cds_service.frozen import fast_init

FHIR_JSON = "application/fhir+json"


class FixtureError(Exception):
    """A fixture file is not a loadable transaction, or the server refused it."""


@fast_init
@dataclass(frozen=True)
class LoadResult:
    file: str
    entries: int
    statuses: tuple[str, ...]  # entry[].response.status, e.g. "201 Created", "200 OK"


def check_bundle(bundle: Any, name: str) -> None:
    """A transaction Bundle whose entries all PUT `Type/id` (stable ids, idempotent loads)."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise FixtureError(f"{name}: not a FHIR Bundle")
    if bundle.get("type") != "transaction":
        raise FixtureError(f"{name}: Bundle.type must be 'transaction', not {bundle.get('type')!r}")
    for i, entry in enumerate(bundle.get("entry") or []):
        request = entry.get("request") if isinstance(entry, dict) else None
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(request, dict) or request.get("method") != "PUT":
            raise FixtureError(f"{name}: entry[{i}] must use request.method PUT (stable ids)")
        if not isinstance(resource, dict) or not resource.get("id"):
            raise FixtureError(f"{name}: entry[{i}] has no resource with an id")
        expected = f"{resource.get('resourceType')}/{resource['id']}"
        if request.get("url") != expected:
            raise FixtureError(f"{name}: entry[{i}] request.url must be {expected!r}")


def _diagnostics(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    issues = body.get("issue", []) if isinstance(body, dict) else []
    texts = [str(i.get("diagnostics") or i.get("code")) for i in issues if isinstance(i, dict)]
    return "; ".join(texts) or "no OperationOutcome"


def load_bundle(
    base_url: str,
    bundle: dict[str, Any],
    *,
    name: str = "bundle",
    token: str | None = None,
    session: requests.Session | None = None,
    timeout: float = 60.0,
) -> LoadResult:
    """POST one transaction Bundle to `base_url`; raises FixtureError if it is refused."""
    check_bundle(bundle, name)
    headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    http = session or requests.Session()
    try:
        response = http.post(
            base_url.rstrip("/"),
            data=json.dumps(bundle),
            headers=headers,
            timeout=(5.0, timeout),
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise FixtureError(f"{name}: cannot reach {base_url} ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise FixtureError(
            f"{name}: the server answered {response.status_code}: {_diagnostics(response)}"
        )
    answer = response.json()
    statuses = tuple(
        str((e.get("response") or {}).get("status", "?")) for e in answer.get("entry", [])
    )
    return LoadResult(file=name, entries=len(bundle.get("entry") or []), statuses=statuses)


def read_fixture(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FixtureError(f"{path.name}: unreadable JSON ({exc})") from None


def is_fhir_resource(document: Any) -> bool:
    """Fixture folders also hold metadata (e.g. `scenarios.json`, a list): not for the server."""
    return isinstance(document, dict) and isinstance(document.get("resourceType"), str)


def load_file(
    base_url: str, path: Path, *, token: str | None = None, session: requests.Session | None = None
) -> LoadResult:
    return load_bundle(base_url, read_fixture(path), name=path.name, token=token, session=session)


def load_directory(
    base_url: str,
    directory: Path,
    *,
    token: str | None = None,
    on_loaded: Callable[[LoadResult], None] | None = None,
    prepare: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None,
) -> list[LoadResult]:
    """Load every FHIR `*.json` in `directory`, in name order; stops at the first refusal.

    JSON files that are not FHIR resources (scenario tables) are skipped; a file that is a FHIR
    resource but not a transaction Bundle is an error. `prepare(file name, bundle)` may return a
    changed bundle to load instead (e.g. with its dates moved).
    """
    documents = [(p, read_fixture(p)) for p in sorted(directory.glob("*.json"))]
    bundles = [(p, d) for p, d in documents if is_fhir_resource(d)]
    if not bundles:
        raise FixtureError(f"no FHIR *.json fixtures in {directory}")
    results = []
    with requests.Session() as session:
        for path, bundle in bundles:
            if prepare is not None:
                bundle = prepare(path.name, bundle)
            result = load_bundle(base_url, bundle, name=path.name, token=token, session=session)
            results.append(result)
            if on_loaded:
                on_loaded(result)
    return results


def wait_until_ready(base_url: str, seconds: float, *, token: str | None = None) -> None:
    """Poll `[base]/metadata` until it answers 200 (HAPI takes a while to start)."""
    deadline = time.monotonic() + seconds
    headers = {"Accept": FHIR_JSON} | ({"Authorization": f"Bearer {token}"} if token else {})
    last = "no answer"
    while True:
        try:
            response = requests.get(f"{base_url.rstrip('/')}/metadata", headers=headers, timeout=5)
            if response.status_code == 200:
                return
            last = f"status {response.status_code}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        if time.monotonic() >= deadline:
            raise FixtureError(f"{base_url} not ready after {seconds:g} s ({last})")
        time.sleep(1.0)
