"""Resolve a hook call's prefetch keys: prefetch first, then `fhirServer`, else 412.

CDS Hooks 2.0 "Prefetch" (checklist section 3.5): "It is the CDS Service's responsibility to check
prefetched data against its template to determine what requests were satisfied (if any) and to
programmatically retrieve any additional necessary data", and "If the CDS Service is unable to
obtain required data because it cannot access the FHIR server and the request did not contain the
necessary prefetch keys, the service SHALL respond with an HTTP 412". Each declared key is
classified (`prefetch`), keys missing or failed at the client are fetched concurrently under one
time budget (`fetch`), and a required key that is still not obtained raises `DataUnavailable`
with one detail per key. Optional keys that cannot be obtained come back UNAVAILABLE with a
reason, for the facts layer to record as unknown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from cds_service.errors import DataUnavailable
from cds_service.protocol.request import HookRequest
from cds_service.resolution.fetch import FetchJob, fetch_all
from cds_service.resolution.prefetch import Classified, classify
from cds_service.resolution.resolved import KeyOutcome, KeyState, ResolvedData
from cds_service.resolution.templates import render, resource_type_of_template, token_values
from cds_service.services import ServiceDefinition

TOKEN_NOT_AVAILABLE = "token not available"  # noqa: S105 (a prefetch token, not a secret)
OBTAINED = (KeyState.PROVIDED, KeyState.EMPTY)


def resolve(
    service: ServiceDefinition,
    request: HookRequest,
    config: Mapping[str, Any],
    *,
    is_allowed: Callable[[str], bool] | None = None,
) -> ResolvedData:
    """One outcome per declared key; raises DataUnavailable (412) if a required key is lacking."""
    deadline = time.monotonic() + float(config["FHIR_BUDGET_SECONDS"])
    prefetch = request.prefetch or {}
    server_problem = _server_problem(request.fhirServer, is_allowed)
    outcomes: dict[str, KeyOutcome] = {}
    jobs: list[FetchJob] = []
    values = token_values(request.context)
    can_page = server_problem is None  # a further page can be read from fhirServer

    for key, template in service.prefetch.items():
        # A template's type is in its text ("Observation?...", "Patient/{{...}}") unless a
        # token is its first segment ("{{context.userId}}"): only then does rendering tell it.
        # Rendering is otherwise needed only for a URL to fetch or to page from.
        rendered = None
        resource_type = resource_type_of_template(template)
        if resource_type is None:
            rendered = render(template, values)
            resource_type = rendered.resource_type
        found = classify(key in prefetch, prefetch.get(key), resource_type)
        if found.state in OBTAINED and not (found.next_url and can_page):
            outcomes[key] = _from_prefetch(key, found, can_page=can_page)
            continue
        url = (rendered or render(template, values)).url
        if found.state in OBTAINED:  # a further page to read from fhirServer
            if url:
                jobs.append(FetchJob(key, url, resource_type, prefetched=found))
            else:
                outcomes[key] = _from_prefetch(key, found, can_page=True)
        elif url is None:
            outcomes[key] = _lacking(key, found, TOKEN_NOT_AVAILABLE)
        elif server_problem is not None:
            outcomes[key] = _lacking(key, found, server_problem)
        else:
            jobs.append(FetchJob(key, url, resource_type))

    if jobs:
        assert request.fhirServer is not None  # server_problem is None only with a server
        token = request.fhirAuthorization.access_token if request.fhirAuthorization else None
        outcomes.update(fetch_all(request.fhirServer, token, jobs, config, deadline))

    resolved = ResolvedData(outcomes={key: outcomes[key] for key in service.prefetch})
    _require(service, resolved)
    return resolved


def _server_problem(
    fhir_server: str | None, is_allowed: Callable[[str], bool] | None
) -> str | None:
    """Why `fhirServer` cannot be used (None if it can); a disallowed server is unreachable."""
    if fhir_server is None:
        return "not in prefetch and the request has no fhirServer"
    if is_allowed is not None and not is_allowed(fhir_server):
        return "fhirServer is not reachable: it is not on the FHIR server allowlist"
    return None


def _from_prefetch(key: str, found: Classified, *, can_page: bool) -> KeyOutcome:
    incomplete = found.next_url is not None
    reason = None
    if incomplete:
        reason = "prefetch has further pages and no usable fhirServer to read them"
        if can_page:
            reason = "prefetch has further pages but the template could not be rendered"
    return KeyOutcome(
        key=key,
        state=found.state,
        source="prefetch",
        resources=found.resources,
        complete=not incomplete,
        reason=reason,
        operation_outcomes=found.operation_outcomes,
    )


def _lacking(key: str, found: Classified, reason: str) -> KeyOutcome:
    """A key that could not be obtained; a client failure keeps its OperationOutcome as data."""
    if found.state is KeyState.FAILED:
        return KeyOutcome(
            key=key,
            state=KeyState.FAILED,
            source="prefetch",
            reason=f"{found.reason}; {reason}",
            operation_outcomes=found.operation_outcomes,
        )
    return KeyOutcome(key=key, state=KeyState.UNAVAILABLE, source="none", reason=reason)


def _require(service: ServiceDefinition, resolved: ResolvedData) -> None:
    lacking = [
        {"key": key, "state": str(outcome.state), "reason": outcome.reason or "not obtained"}
        for key, outcome in resolved.outcomes.items()
        if key in service.required_prefetch and outcome.state not in OBTAINED
    ]
    if lacking:
        names = ", ".join(d["key"] for d in lacking)
        raise DataUnavailable(f"required prefetch data could not be obtained: {names}", lacking)
