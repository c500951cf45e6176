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

from cds_service.benchmark import auth, cpu, fhir_server, fixture_scenarios, load, scenarios
from cds_service.benchmark.latency_proxy import RunningProxy, start_proxy
from cds_service.benchmark.report import (
    AUTH,
    FLOOR,
    FULL,
    GROWTH,
    NO_PREFETCH,
    PACED,
    Measurement,
)
from cds_service.benchmark.servers import (
    ServerProcess,
    peak_rss_mb,
    reset_peak_rss,
    start_floor,
    start_service,
)
from cds_service.config import load_config
from cds_service.frozen import fast_init
from cds_service.scenarios import Scenario
from cds_service.services import ServiceDefinition, load_services

ROUND_TRIP_SAMPLES = 7
WARM_UP_SECONDS = 1.0
TOKENS_PER_SECOND = 2500  # signed per authentication run; beyond it tokens repeat (401s show)
AUTH_SCENARIO = "gbs-steroid-order-select (gbs-mp)"
# Paced rows: each connection thinks 10-30 ms before each request, so the service is busy but
# not saturated and its threads (the ledger writer's too) sleep and wake as they do in service.
PACE_MS = 20.0


@fast_init
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
    issuer: auth.Issuer | None = None  # authentication runs: a fresh token per request

    def tokens(self, duration_s: float) -> list[str] | None:
        if self.issuer is None:
            return None
        count = int(duration_s * TOKENS_PER_SECOND) + 500
        return self.issuer.tokens(self.url, count)


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
    tokens = target.tokens(settings.duration_s)
    if target.issuer is not None:  # beside each authentication run, before its load starts
        m.signature_cpu_ms.append(auth.signature_check_cpu_ms(target.issuer, target.url))
    reset_peak_rss(pids)
    log_offset = _log_size(target.server)
    before = cpu.thread_cpu(pids)
    result = load.run_wrk(
        target.url,
        target.body,
        scenario_header,
        connections=m.connections,
        duration_s=settings.duration_s,
        token=settings.token,
        tokens=tokens,
        pause_ms=m.pause_ms,
    )
    used = cpu.thread_cpu(pids) - before
    m.runs.append(result)
    if pids:
        m.peak_rss_mb.append(peak_rss_mb(pids))
        if result.requests:
            m.cpu_ms.append(used.request_s * 1000 / result.requests)
            m.ledger_cpu_ms.append(used.ledger_s * 1000 / result.requests)
    if target.server is not None and target.server.name.startswith("service"):
        stages = cpu.log_stages(_log_since(target.server, log_offset))
        if stages is not None:
            m.stages_ms.append(stages[0])
            m.duration_ms.append(stages[1])
            if stages[2] is not None:
                m.stages_cpu_ms.append(stages[2])


def _log_size(server: ServerProcess | None) -> int:
    try:
        return server.log_path.stat().st_size if server else 0
    except OSError:
        return 0


def _log_since(server: ServerProcess, offset: int) -> str:
    with server.log_path.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


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
        paced = Measurement(PACED, sc.name, settings.connections, cards, len(body))
        paced.pause_ms = PACE_MS
        targets.append(Target(url, body, server, paced))
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
        answers[sc.name] = _post(url, body, settings.token)
        cards = len(answers[sc.name].get("cards", []))
        targets.append(Target(url, body, server, Measurement(GROWTH, sc.name, 1, cards, len(body))))
    return targets, answers


def _auth_targets(
    workdir: Path, targets: list[Target], started: list[ServerProcess], say: Callable[[str], None]
) -> list[Target]:
    """The Guillain-Barre order-select call against a second service with authentication on,
    once per issuer (ES384, ES256, RS256), each request with a token of its own."""
    plain = next(
        (
            t
            for t in targets
            if t.measurement.part == FULL and t.measurement.scenario == AUTH_SCENARIO
        ),
        None,
    )
    if plain is None:
        return []
    issuers = auth.make_issuers()
    trusted = auth.write_trusted_issuers(workdir / "trusted-issuers.json", issuers)
    server = start_service(workdir, ["http://127.0.0.1"], trusted)
    started.append(server)
    url = server.url + urlsplit(plain.url).path
    found = []
    for alg in auth.ALGORITHMS:
        issuer = issuers[alg]
        check = requests.post(
            url,
            data=plain.body,
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {issuer.tokens(url, 1)[0]}",
            },
            timeout=30,
        )
        if check.status_code != 200:
            raise RuntimeError(f"authenticated call ({alg}) answered {check.status_code}")
        m = plain.measurement
        found.append(
            Target(
                url,
                plain.body,
                server,
                Measurement(
                    AUTH,
                    f"{m.scenario} {alg}",
                    m.connections,
                    m.cards,
                    len(plain.body),
                    base_scenario=m.scenario,
                ),
                issuer,
            )
        )
    say(f"authentication on at {server.url}: issuers {', '.join(auth.ALGORITHMS)}")
    return found


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
                largest = max(
                    (t for t in targets if t.measurement.part == GROWTH),
                    key=lambda t: t.measurement.body_bytes,
                    default=None,
                )
                # The floor reads the same bodies: every full-prefetch call and the largest
                # growth body (the target compares the service's latency for it with the floor's).
                for t in [t for t in targets if t.measurement.part == FULL or t is largest]:
                    m = t.measurement
                    floor_m = Measurement(FLOOR, m.scenario, m.connections, m.cards, len(t.body))
                    targets.insert(
                        targets.index(t),
                        Target(floor.url + urlsplit(t.url).path, t.body, floor, floor_m),
                    )
                targets += _auth_targets(workdir, targets, started, say)
            say("warming up ...")
            for t in targets:
                load.run_wrk(
                    t.url,
                    t.body,
                    t.measurement.scenario,
                    connections=t.measurement.connections,
                    duration_s=WARM_UP_SECONDS,
                    token=settings.token,
                    tokens=t.tokens(WARM_UP_SECONDS),
                    pause_ms=t.measurement.pause_ms,
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
