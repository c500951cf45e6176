"""Reading missing or failed prefetch keys from `fhirServer`, concurrently, under one budget.

CDS Hooks 2.0 "Prefetch" (checklist section 3.5) makes the service responsible for "programmatically
retrieve any additional necessary data"; 2.0 also lets a client paginate prefetch (section 3.1), so
a prefetched searchset Bundle's `next` link is followed here too. Every key runs on its own thread;
the caller waits at most until the deadline and reports keys still running as "time budget spent";
at the deadline their sockets are shut down (`fhir_client.Abort`), so the threads end then, even
against a server that trickles its headers. All keys and pages of a call share one byte budget
(`CallBudget`: CDS_FHIR_MAX_RESPONSE_BYTES per answer, CDS_FHIR_MAX_CALL_BYTES per call). A 404 or
410 on a search is "could not be retrieved" (412 if the key is required); only a read of a single
resource may mean "not found". Paging follows
`link[relation=next]` verbatim (HAPI's `[base]?_getpages=` form and the `_offset` form), up to
`FHIR_MAX_PAGES`; a link that `FhirClient.rebase` cannot place on `fhirServer` stops paging and
marks the key incomplete; a 410 on a page (HAPI's expired page id) restarts the search once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any

from cds_service.fhir_client import (
    Abort,
    CallBudget,
    FhirClient,
    FhirError,
    FhirForbidden,
    FhirNotFound,
    FhirServerError,
    FhirTokenRejected,
    FhirTooLarge,
    Timeouts,
)
from cds_service.frozen import fast_init
from cds_service.resolution.prefetch import (
    OPERATION_OUTCOME,
    Classified,
    classify,
    next_link,
    sort_entries,
)
from cds_service.resolution.resolved import KeyOutcome, KeyState
from cds_service.resolution.templates import is_read

log = logging.getLogger("cds_service.resolution")

MAX_WORKERS = 8
# Requests stop this long before the budget ends, so a finished thread's answer is still read.
REQUEST_MARGIN_SECONDS = 0.1


@fast_init
@dataclass(frozen=True)
class FetchJob:
    key: str
    url: str  # the rendered template, relative to fhirServer
    resource_type: str | None
    prefetched: Classified | None = None  # a prefetched Bundle whose `next` link is to follow


@dataclass
class Pages:
    resources: list[dict[str, Any]]
    outcomes: list[dict[str, Any]]
    complete: bool = True
    reason: str | None = None


def fetch_all(
    fhir_server: str,
    token: str | None,
    jobs: list[FetchJob],
    config: Mapping[str, Any],
    deadline: float,
) -> dict[str, KeyOutcome]:
    """One outcome per job; returns by `deadline` whatever the server does."""
    timeouts = Timeouts(
        connect=float(config["FHIR_CONNECT_TIMEOUT_SECONDS"]),
        read=float(config["FHIR_READ_TIMEOUT_SECONDS"]),
    )
    bytes_budget = CallBudget(
        max_response_bytes=int(config["FHIR_MAX_RESPONSE_BYTES"]),
        remaining_bytes=int(config["FHIR_MAX_CALL_BYTES"]),
    )
    client = FhirClient(fhir_server, token=token, timeouts=timeouts, budget=bytes_budget)
    max_pages = int(config["FHIR_MAX_PAGES"])
    budget = float(config["FHIR_BUDGET_SECONDS"])
    request_deadline = deadline - REQUEST_MARGIN_SECONDS
    pool = ThreadPoolExecutor(
        max_workers=min(len(jobs), MAX_WORKERS), thread_name_prefix="fhir-fetch"
    )
    aborts = {job.key: Abort() for job in jobs}
    futures = {
        pool.submit(_fetch_bound, aborts[job.key], client, job, request_deadline, max_pages): job
        for job in jobs
    }
    done, _ = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
    for future, job in futures.items():
        if future not in done:  # shut its sockets: the thread ends now, not at the server's will
            aborts[job.key].abort()
    pool.shutdown(wait=False, cancel_futures=True)
    results: dict[str, KeyOutcome] = {}
    for future, job in futures.items():
        if future in done:
            results[job.key] = future.result()
        else:
            results[job.key] = _budget_spent(job, budget)
    return results


def _fetch_bound(
    abort: Abort, client: FhirClient, job: FetchJob, deadline: float, max_pages: int
) -> KeyOutcome:
    with abort.bound():
        return fetch_key(client, job, deadline, max_pages)


def fetch_key(client: FhirClient, job: FetchJob, deadline: float, max_pages: int) -> KeyOutcome:
    reading = is_read(job.url) and job.prefetched is None
    try:
        if reading:
            return _read(client, job, deadline)
        pages = _search(client, job, deadline, max_pages)
    except FhirError as exc:
        return _failure(job, exc, token_sent=client.has_token, read=reading)
    except Exception:  # a bug must not hang the hook call; the key is reported unavailable
        log.exception("unexpected error fetching prefetch key %s", job.key)
        return KeyOutcome(
            key=job.key,
            state=KeyState.UNAVAILABLE,
            source="none",
            reason="unexpected error while reading fhirServer",
        )
    state = KeyState.PROVIDED if pages.resources else KeyState.EMPTY
    return KeyOutcome(
        key=job.key,
        state=state,
        source="prefetch" if job.prefetched else "fhir-server",
        resources=tuple(pages.resources),
        complete=pages.complete,
        reason=pages.reason,
        operation_outcomes=tuple(pages.outcomes),
    )


def _read(client: FhirClient, job: FetchJob, deadline: float) -> KeyOutcome:
    found = classify(True, client.get(job.url, deadline=deadline), job.resource_type)
    if found.state is KeyState.MISSING:  # the server answered something we cannot use
        return KeyOutcome(
            key=job.key,
            state=KeyState.FAILED,
            source="fhir-server",
            reason="the FHIR server's answer is not the resource the template reads",
        )
    reason = None
    if found.operation_outcomes:
        reason = "the FHIR server answered with an OperationOutcome"
    return KeyOutcome(
        key=job.key,
        state=found.state,
        source="fhir-server",
        resources=found.resources,
        reason=reason,
        operation_outcomes=found.operation_outcomes,
    )


def _search(client: FhirClient, job: FetchJob, deadline: float, max_pages: int) -> Pages:
    start = job.prefetched
    for attempt in (1, 2):
        if start is not None and attempt == 1:
            pages = Pages(list(start.resources), list(start.operation_outcomes))
            next_url = start.next_url
        else:
            bundle = client.get(job.url, deadline=deadline)
            pages = Pages([], [])
            next_url = _add_page(pages, bundle, job.resource_type)
        count = 1
        try:
            while next_url:
                if count >= max_pages:
                    return replace(pages, complete=False, reason=f"stopped at {max_pages} pages")
                target = client.rebase(next_url)
                if target is None:
                    return replace(
                        pages, complete=False, reason="next page is on another server; not followed"
                    )
                next_url = _add_page(
                    pages, client.get(target, deadline=deadline), job.resource_type
                )
                count += 1
            return pages
        except FhirNotFound as exc:
            if exc.gone and attempt == 1:
                log.info("page of prefetch key %s expired (410); restarting the search", job.key)
                continue
            return replace(pages, complete=False, reason=f"paging stopped: {exc}")
        except FhirError as exc:
            return replace(pages, complete=False, reason=f"paging stopped: {exc}")
    raise AssertionError("unreachable")  # pragma: no cover


def _add_page(pages: Pages, bundle: dict[str, Any], resource_type: str | None) -> str | None:
    if bundle.get("resourceType") == OPERATION_OUTCOME:
        raise FhirServerError(
            "the FHIR server answered a search with an OperationOutcome", operation_outcome=bundle
        )
    if bundle.get("resourceType") != "Bundle":
        raise FhirServerError("the FHIR server answered a search with something not a Bundle")
    _, kept, outcomes = sort_entries(bundle, resource_type)
    pages.resources.extend(kept)
    # search.mode=outcome entries are warnings about the search, not results; kept as data.
    pages.outcomes.extend(outcomes)
    return next_link(bundle)


def _failure(job: FetchJob, exc: FhirError, *, token_sent: bool, read: bool) -> KeyOutcome:
    earlier = job.prefetched.operation_outcomes if job.prefetched else ()
    if isinstance(exc, FhirNotFound) and read:
        # Only a read of one resource may mean "not found": that patient has no such resource.
        return KeyOutcome(key=job.key, state=KeyState.EMPTY, source="fhir-server", reason=str(exc))
    if isinstance(exc, FhirNotFound):
        # A search answers a Bundle, empty or not; a 404/410 means the search itself was not
        # found (a wrong base path, say): the data could not be retrieved, never "none".
        return KeyOutcome(
            key=job.key,
            state=KeyState.UNAVAILABLE,
            source="none",
            reason=f"could not be retrieved: the FHIR server answered {exc.status} to the search",
            operation_outcomes=earlier,
        )
    if isinstance(exc, FhirTooLarge):
        return KeyOutcome(
            key=job.key,
            state=KeyState.UNAVAILABLE,
            source="none",
            reason=f"could not be retrieved: {exc}",
            operation_outcomes=earlier,
        )
    if isinstance(exc, FhirServerError):
        server_oo = (exc.operation_outcome,) if exc.operation_outcome else ()
        return KeyOutcome(
            key=job.key,
            state=KeyState.FAILED,
            source="fhir-server",
            reason=str(exc),
            operation_outcomes=earlier + server_oo,
        )
    reason = str(exc)
    if isinstance(exc, FhirTokenRejected) and not token_sent:
        reason = "the FHIR server requires an access token and the request carried none (401)"
    elif not isinstance(exc, FhirTokenRejected | FhirForbidden):
        reason = f"fhirServer not reachable: {exc}"
    return KeyOutcome(
        key=job.key,
        state=KeyState.UNAVAILABLE,
        source="none",
        reason=reason,
        operation_outcomes=earlier,
    )


def _budget_spent(job: FetchJob, budget: float) -> KeyOutcome:
    reason = f"time budget of {budget:g} s spent before fhirServer answered"
    if job.prefetched is not None:  # the first page came with the request: keep it
        return KeyOutcome(
            key=job.key,
            state=job.prefetched.state,
            source="prefetch",
            resources=job.prefetched.resources,
            complete=False,
            reason=reason,
            operation_outcomes=job.prefetched.operation_outcomes,
        )
    return KeyOutcome(key=job.key, state=KeyState.UNAVAILABLE, source="none", reason=reason)
