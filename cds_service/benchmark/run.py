"""One benchmark run, in order: start everything, check the calls, warm up, measure, stop.

Locally, the FHIR server (behind the latency proxy), the service and the floor all run at once on
127.0.0.1; each repetition then loads one target at a time with wrk, interleaving floor and
service runs of the same call so that drift on a shared machine hits both alike. Full-prefetch
calls and the floor use `connections` connections; no-prefetch and growth calls use one, because
they measure the wall time of a single call. Every call is first POSTed once and must answer 200
(its cards become the floor's canned answer); every target gets an unrecorded one-second warm-up.
With `url`, only the full-prefetch and growth calls run, against the operator's deployment.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from cds_service.benchmark import fhir_server, fixture_scenarios, load, scenarios
from cds_service.benchmark.latency_proxy import RunningProxy, start_proxy
from cds_service.benchmark.report import FLOOR, FULL, GROWTH, NO_PREFETCH, Measurement
from cds_service.benchmark.servers import (
    ServerProcess,
    peak_rss_mb,
    reset_peak_rss,
    start_floor,
    start_service,
)
from cds_service.config import load_config
from cds_service.scenarios import Scenario
from cds_service.services import ServiceDefinition, load_services

ROUND_TRIP_SAMPLES = 7
WARM_UP_SECONDS = 1.0


@dataclass(frozen=True)
class Settings:
    duration_s: float
    connections: int
    repetitions: int
    fhir_delay_ms: float
    url: str | None = None
    token: str | None = None


@dataclass
class Target:
    """One measured call: where it goes, what it sends, and its Measurement."""

    url: str
    body: bytes
    server: ServerProcess | None
    measurement: Measurement


def representative(now: datetime) -> list[Scenario]:
    """The three calls of part 2, from the clinical fixtures where they exist."""
    fixtures = fixture_scenarios.from_fixtures(now)
    return [fixtures.get(sc.name, sc) for sc in scenarios.representative(now)]


def _post(url: str, body: bytes, token: str | None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    answer = requests.post(url, data=body, headers=headers, timeout=30)
    if answer.status_code != 200:
        raise RuntimeError(f"{url} answered {answer.status_code}: {answer.text[:500]}")
    result: dict[str, Any] = answer.json()
    return result


def round_trip_ms(base: str, service: ServiceDefinition, patient_id: str) -> float:
    """The slowest of the service's prefetch queries for this patient, one at a time, via `base`."""
    slowest = 0.0
    with requests.Session() as http:
        for template in service.prefetch.values():
            url = f"{base}/{template.replace('{{context.patientId}}', patient_id)}"
            samples = []
            for _ in range(ROUND_TRIP_SAMPLES):
                started = time.perf_counter()
                http.get(url, headers={"Accept": "application/fhir+json"}, timeout=30)
                samples.append((time.perf_counter() - started) * 1000)
            slowest = max(slowest, statistics.median(samples))
    return slowest


def measure(target: Target, settings: Settings, scenario_header: str) -> None:
    m = target.measurement
    pids = target.server.pids() if target.server else []
    reset_peak_rss(pids)
    result = load.run_wrk(
        target.url,
        target.body,
        scenario_header,
        connections=m.connections,
        duration_s=settings.duration_s,
        token=settings.token,
    )
    m.runs.append(result)
    if pids:
        m.peak_rss_mb.append(peak_rss_mb(pids))


def _targets_for(
    service_url: str,
    services: dict[str, ServiceDefinition],
    settings: Settings,
    server: ServerProcess | None,
    proxy: RunningProxy | None,
    notes: list[str],
) -> tuple[list[Target], dict[str, dict[str, Any]]]:
    now = datetime.now(UTC)
    targets: list[Target] = []
    answers: dict[str, dict[str, Any]] = {}
    for sc in representative(now):
        body = json.dumps(sc.request(services)).encode()
        url = f"{service_url}/cds-services/{sc.service_id}"
        answers[sc.name] = _post(url, body, settings.token)
        cards = len(answers[sc.name].get("cards", []))
        targets.append(
            Target(
                url,
                body,
                server,
                Measurement(FULL, sc.name, settings.connections, cards, len(body)),
            )
        )
        if proxy is not None:
            bare = json.dumps(scenarios.without_prefetch(sc.request(services), proxy.url)).encode()
            bare_cards = len(_post(url, bare, None).get("cards", []))
            if bare_cards != cards:
                notes.append(f"{sc.name}: {bare_cards} cards without prefetch, {cards} with it")
            m = Measurement(
                NO_PREFETCH,
                sc.name,
                1,
                bare_cards,
                len(bare),
                round_trip_ms=round_trip_ms(proxy.url, services[sc.service_id], sc.patient_id),
            )
            targets.append(Target(url, bare, server, m))
    for size in scenarios.GROWTH_SIZES:
        sc = scenarios.encephalitis_view(now, size)
        body = json.dumps(sc.request(services)).encode()
        url = f"{service_url}/cds-services/{sc.service_id}"
        cards = len(_post(url, body, settings.token).get("cards", []))
        targets.append(Target(url, body, server, Measurement(GROWTH, sc.name, 1, cards, len(body))))
    return targets, answers


def run_benchmark(
    settings: Settings, say: Callable[[str], None]
) -> tuple[list[Measurement], list[str]]:
    """All measurements of one run, in table order, and notes on anything skipped or odd."""
    load.wrk_path()  # fail first, with the install hint, if wrk is missing
    services = load_services(Path(load_config()["HOOKS_DIR"]))
    notes: list[str] = []
    started: list[ServerProcess] = []
    proxy: RunningProxy | None = None
    with tempfile.TemporaryDirectory(prefix="cds-bench-") as tmp:
        workdir = Path(tmp)
        try:
            if settings.url:
                service: ServerProcess | None = None
                service_url = settings.url.rstrip("/")
                notes.append(f"against {service_url}: no floor, no-prefetch or RSS figures")
            else:
                try:
                    (workdir / "fhir").mkdir()
                    fhir = fhir_server.start_fhir_server(workdir / "fhir")
                    started.append(fhir)
                    bundles = [(s.name, s.bundle) for s in representative(datetime.now(UTC))]
                    say(
                        f"FHIR server {fhir.url}: {fhir_server.seed(fhir.url, bundles)} "
                        "entries loaded"
                    )
                    proxy = start_proxy(fhir.url, settings.fhir_delay_ms / 1000)
                except fhir_server.SekmetMissing as exc:
                    notes.append(f"no-prefetch part skipped: {exc}")
                allow = ["http://127.0.0.1", "http://localhost"] + ([proxy.url] if proxy else [])
                service = start_service(workdir, allow)
                started.append(service)
                service_url = service.url
            say("checking each call answers 200 ...")
            targets, answers = _targets_for(service_url, services, settings, service, proxy, notes)
            if not settings.url:
                responses_file = workdir / "floor-responses.json"
                responses_file.write_text(json.dumps(answers))
                floor = start_floor(workdir, responses_file)
                started.append(floor)
                for t in [t for t in targets if t.measurement.part == FULL]:
                    m = t.measurement
                    floor_m = Measurement(FLOOR, m.scenario, m.connections, m.cards, len(t.body))
                    targets.insert(
                        targets.index(t),
                        Target(floor.url + urlsplit(t.url).path, t.body, floor, floor_m),
                    )
            say("warming up ...")
            for t in targets:
                load.run_wrk(
                    t.url,
                    t.body,
                    t.measurement.scenario,
                    connections=t.measurement.connections,
                    duration_s=WARM_UP_SECONDS,
                    token=settings.token,
                )
            for rep in range(1, settings.repetitions + 1):
                for t in targets:
                    say(
                        f"repetition {rep}/{settings.repetitions}: {t.measurement.part} "
                        f"{t.measurement.scenario}"
                    )
                    measure(t, settings, t.measurement.scenario)
            if proxy is not None:
                notes.append(
                    f"latency proxy forwarded {proxy.forwarded} FHIR requests, "
                    f"{settings.fhir_delay_ms:g} ms added to each"
                )
        finally:
            if proxy is not None:
                proxy.close()
            for server in reversed(started):
                server.stop()
    return [t.measurement for t in targets], notes
