"""The benchmark's results: medians of repetitions, ratios to the floor, targets, table and JSON.

Every figure quoted is the median over repetitions of one wrk run's figure (rps, p50, p90, p99,
wrk's CPU share, the service's peak RSS); errors are summed over repetitions, so one failed request
anywhere shows. Targets: with full prefetch, p50 at most 2x the floor's, throughput at least 0.5x
the floor's, p99 under 15 ms and under 30% of the CPU outside the logged stages; the ledger writer
under 0.1 ms of CPU per card-issuing call, in the hot loop and with think time between calls
(`paced`); without prefetch, p50 wall time at most 1.5x one measured FHIR round trip plus 20 ms;
growth, 10,000 Observations at most 3x the p50 of 10 and at most 1.3x the floor's p50 for the
same body, and memory bounded (our reading: the peak RSS of the last repetition no more than 10%
above the first, so nothing accumulates across calls); with authentication (ES384), at most 0.7 ms
of CPU per call above the same call without. A missing figure makes a target "n/a", never met.
Each row also has the CPU per request (server threads and the ledger writer, from /proc), the
logged stage times, the share of the CPU outside them, and (for a call the floor also answered)
the share that neither the stages nor the floor's whole CPU per request account for: the floor's
cost (gunicorn, Flask, the body read, the same bytes answered) lies outside any stage of any app
on this stack, so the plain share cannot fall below the floor's share of the call, while the
second says what the service adds that its stages do not see.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from cds_service.benchmark.load import LoadResult
from cds_service.frozen import fast_init

FLOOR, FULL, NO_PREFETCH, GROWTH = "floor", "full-prefetch", "no-prefetch", "growth"
PACED = "paced"  # the full-prefetch call with think time between requests (not a hot loop)
AUTH = "auth"  # the full-prefetch call with authentication on, one issuer (algorithm) per row
AUTH_EXTRA_CPU_MS_MAX = 0.7  # ES384: CPU per call above the same call without authentication
P50_FLOOR_RATIO_MAX = 2.0
RPS_FLOOR_RATIO_MIN = 0.5
P99_MAX_MS = 15.0
OUTSIDE_SHARE_MAX = 0.30  # of a call's CPU outside the logged stages
LEDGER_CPU_MS_MAX = 0.1  # the ledger writer's CPU per card-issuing call
ROUND_TRIP_FACTOR, ROUND_TRIP_ALLOWANCE_MS = 1.5, 20.0
GROWTH_P50_RATIO_MAX = 3.0
GROWTH_FLOOR_P50_RATIO_MAX = 1.3  # the largest growth body against the floor reading the same
RSS_DRIFT_MAX = 1.10
LIBRARIES = (
    "flask",
    "gunicorn",
    "werkzeug",
    "pydantic",
    "fhir.resources",
    "requests",
    "sqlalchemy",
)


@dataclass
class Measurement:
    part: str
    scenario: str
    connections: int
    cards: int
    body_bytes: int
    runs: list[LoadResult] = field(default_factory=list)
    peak_rss_mb: list[float] = field(default_factory=list)
    round_trip_ms: float | None = None  # no-prefetch only: one FHIR round trip via the proxy
    # Per repetition (see benchmark.cpu): CPU ms per request of the server's threads (all but
    # the ledger writer), of the ledger writer, and from the request log the mean summed stage
    # time and duration of a call.
    cpu_ms: list[float] = field(default_factory=list)
    ledger_cpu_ms: list[float] = field(default_factory=list)
    stages_ms: list[float] = field(default_factory=list)
    duration_ms: list[float] = field(default_factory=list)
    stages_cpu_ms: list[float] = field(default_factory=list)  # the stages' own CPU time
    base_scenario: str | None = None  # auth rows: the full-prefetch scenario they repeat
    pause_ms: float | None = None  # paced rows: each connection's think time between requests
    # Authentication rows, per repetition: one token's signature check alone, CPU ms (auth.py).
    signature_cpu_ms: list[float] = field(default_factory=list)

    def cpu_per_request_ms(self) -> float | None:
        """Median total CPU per request: server threads plus the ledger writer."""
        totals = [a + b for a, b in zip(self.cpu_ms, self.ledger_cpu_ms, strict=False)]
        return statistics.median(totals) if totals else None

    def outside_stages_share(self) -> float | None:
        """The share of a call's CPU spent outside the logged stages: 1 - stage CPU / all CPU
        (the stages' wall time when the log has no CPU figure)."""
        cpu, stages = self.cpu_per_request_ms(), self._stages_ms()
        return None if cpu is None or stages is None or cpu == 0 else max(0.0, 1 - stages / cpu)

    def outside_beyond_floor_share(self, floor: Measurement | None) -> float | None:
        """The share of a call's CPU that neither the logged stages nor the floor's whole CPU
        per request account for. The floor (gunicorn, Flask, the body read and parsed, the same
        bytes answered) is the stack's cost of any call; outside the stages it is unavoidable,
        so this says how much of what the service adds the stages do not see."""
        cpu, stages = self.cpu_per_request_ms(), self._stages_ms()
        floor_cpu = floor.cpu_per_request_ms() if floor is not None else None
        if cpu is None or stages is None or floor_cpu is None or cpu == 0:
            return None
        return max(0.0, (cpu - stages - floor_cpu) / cpu)

    def _stages_ms(self) -> float | None:
        """The logged stages' median CPU time per call (their wall time when the log has none)."""
        return _median(self.stages_cpu_ms) if self.stages_cpu_ms else _median(self.stages_ms)

    def median(self, name: str) -> float | None:
        values = [getattr(run, name) for run in self.runs]
        return statistics.median(values) if values else None

    def summary(self, floor: Measurement | None = None) -> dict[str, Any]:
        """`floor`: the floor's measurement of the same call, when there is one."""
        rss = statistics.median(self.peak_rss_mb) if self.peak_rss_mb else None
        return {
            "part": self.part,
            "scenario": self.scenario,
            "connections": self.connections,
            "cards": self.cards,
            "body_bytes": self.body_bytes,
            "repetitions": len(self.runs),
            "rps": self.median("rps"),
            "p50_ms": self.median("p50_ms"),
            "p90_ms": self.median("p90_ms"),
            "p99_ms": self.median("p99_ms"),
            "errors": sum(r.errors for r in self.runs),
            "client_cpu_share": self.median("client_cpu_share"),
            "peak_rss_mb": rss,
            "round_trip_ms": self.round_trip_ms,
            "cpu_ms_per_request": self.cpu_per_request_ms(),
            "ledger_cpu_ms_per_request": _median(self.ledger_cpu_ms),
            "stages_ms": _median(self.stages_ms),
            "stages_cpu_ms": _median(self.stages_cpu_ms),
            "duration_ms": _median(self.duration_ms),
            "outside_stages_share": self.outside_stages_share(),
            "outside_beyond_floor_share": self.outside_beyond_floor_share(floor),
            "signature_cpu_ms": _median(self.signature_cpu_ms),
        }


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


@fast_init
@dataclass(frozen=True)
class Target:
    name: str
    met: bool | None  # None: a figure was missing (n/a)
    measured: str
    limit: str


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _floors(measurements: list[Measurement]) -> dict[str, Measurement]:
    return {m.scenario: m for m in measurements if m.part == FLOOR}


def _floor_of(m: Measurement, floors: dict[str, Measurement]) -> Measurement | None:
    """The floor's measurement of the same call (full-prefetch and growth rows only)."""
    return floors.get(m.scenario) if m.part in (FULL, GROWTH) else None


def _auth_extra_ms(m: Measurement, by_key: dict[tuple[str, str], Measurement]) -> float | None:
    """An authentication row's CPU per call above the same call without authentication."""
    plain = by_key.get((FULL, m.base_scenario or ""))
    auth_cpu = m.cpu_per_request_ms()
    plain_cpu = plain.cpu_per_request_ms() if plain is not None else None
    return None if auth_cpu is None or plain_cpu is None else auth_cpu - plain_cpu


def _floor_median(floor: Measurement | None, name: str) -> float | None:
    return floor.median(name) if floor is not None else None


def _target(name: str, value: float | None, limit: float, at_most: bool, unit: str = "") -> Target:
    if value is None:
        return Target(name, None, "n/a", f"{'<=' if at_most else '>='} {limit:g}{unit}")
    met = value <= limit if at_most else value >= limit
    return Target(name, met, f"{value:.2f}{unit}", f"{'<=' if at_most else '>='} {limit:g}{unit}")


def evaluate_targets(measurements: list[Measurement]) -> list[Target]:
    by_key = {(m.part, m.scenario): m for m in measurements}
    targets: list[Target] = []
    for m in (m for m in measurements if m.part == FULL):
        floor = by_key.get((FLOOR, m.scenario))
        p50, rps = m.median("p50_ms"), m.median("rps")
        targets += [
            _target(
                f"{m.scenario}: p50 / floor p50",
                _ratio(p50, _floor_median(floor, "p50_ms")),
                P50_FLOOR_RATIO_MAX,
                at_most=True,
                unit="x",
            ),
            _target(
                f"{m.scenario}: rps / floor rps",
                _ratio(rps, _floor_median(floor, "rps")),
                RPS_FLOOR_RATIO_MIN,
                at_most=False,
                unit="x",
            ),
            _target(f"{m.scenario}: p99", m.median("p99_ms"), P99_MAX_MS, at_most=True, unit=" ms"),
            _target(
                f"{m.scenario}: CPU outside the logged stages",
                m.outside_stages_share(),
                OUTSIDE_SHARE_MAX,
                at_most=True,
            ),
        ]
    for m in (m for m in measurements if m.part in (FULL, PACED) and m.cards):
        targets.append(
            _target(
                f"{m.scenario}{' (paced)' if m.part == PACED else ''}: ledger writer CPU per call",
                _median(m.ledger_cpu_ms),
                LEDGER_CPU_MS_MAX,
                at_most=True,
                unit=" ms",
            )
        )
    for m in (m for m in measurements if m.part == NO_PREFETCH):
        limit = (
            None
            if m.round_trip_ms is None
            else (ROUND_TRIP_FACTOR * m.round_trip_ms + ROUND_TRIP_ALLOWANCE_MS)
        )
        target = _target(
            f"{m.scenario}: no-prefetch p50",
            m.median("p50_ms"),
            limit or 0.0,
            at_most=True,
            unit=" ms",
        )
        targets.append(target if limit is not None else Target(target.name, None, "n/a", "n/a"))
    for m in (m for m in measurements if m.part == AUTH):
        extra = _auth_extra_ms(m, by_key)
        if m.scenario.endswith("ES384"):
            targets.append(
                _target(
                    f"{m.scenario}: CPU per call above no authentication",
                    extra,
                    AUTH_EXTRA_CPU_MS_MAX,
                    at_most=True,
                    unit=" ms",
                )
            )
    growth = sorted((m for m in measurements if m.part == GROWTH), key=lambda m: m.body_bytes)
    if len(growth) >= 2:
        smallest, largest = growth[0], growth[-1]
        targets.append(
            _target(
                f"{largest.scenario} p50 / {smallest.scenario} p50",
                _ratio(largest.median("p50_ms"), smallest.median("p50_ms")),
                GROWTH_P50_RATIO_MAX,
                at_most=True,
                unit="x",
            )
        )
        floor = by_key.get((FLOOR, largest.scenario))
        if floor is not None:
            targets.append(
                _target(
                    f"{largest.scenario} p50 / floor p50 (same body)",
                    _ratio(largest.median("p50_ms"), floor.median("p50_ms")),
                    GROWTH_FLOOR_P50_RATIO_MAX,
                    at_most=True,
                    unit="x",
                )
            )
        drift = (
            _ratio(largest.peak_rss_mb[-1], largest.peak_rss_mb[0])
            if len(largest.peak_rss_mb) >= 2
            else None
        )
        targets.append(
            _target(
                f"{largest.scenario} peak RSS last / first repetition",
                drift,
                RSS_DRIFT_MAX,
                at_most=True,
                unit="x",
            )
        )
    return targets


def signature_notes(measurements: list[Measurement]) -> list[str]:
    """For each authentication row: its CPU above the same call without authentication, and how
    much of it one token's signature check alone cost, measured beside it (the part no service
    code can remove; the target's 0.7 ms assumed 0.47 ms of ES384 curve)."""
    by_key = {(m.part, m.scenario): m for m in measurements}
    notes = []
    for m in (m for m in measurements if m.part == AUTH and m.signature_cpu_ms):
        extra_ms = _auth_extra_ms(m, by_key)
        extra = "n/a" if extra_ms is None else f"{extra_ms:.2f} ms"
        alone = _median(m.signature_cpu_ms) or 0.0
        notes.append(
            f"{m.scenario}: CPU per call above no authentication {extra}, of which the "
            f"signature check alone {alone:.2f} ms (PyJWT over OpenSSL, measured in this "
            "process on one thread before each repetition)"
        )
    return notes


def environment(extra: dict[str, Any]) -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": versions,
        **extra,
    }


def _cell(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _times(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def table(measurements: list[Measurement]) -> str:
    floors = _floors(measurements)
    header = (
        "part",
        "scenario",
        "conn",
        "cards",
        "body KB",
        "rps",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "errors",
        "wrk CPU",
        "RSS MB",
        "p50/floor",
        "rps/floor",
        "CPU ms",
        "ledger ms",
        "stage CPU",
        "outside",
        "beyond floor",
    )
    rows = [header]
    for m in measurements:
        floor = _floor_of(m, floors)
        s = m.summary(floor)
        rows.append(
            (
                m.part,
                m.scenario,
                str(m.connections),
                str(m.cards),
                _cell(m.body_bytes / 1024),
                _cell(s["rps"], 0),
                _cell(s["p50_ms"], 2),
                _cell(s["p90_ms"], 2),
                _cell(s["p99_ms"], 2),
                str(s["errors"]),
                _cell(s["client_cpu_share"], 2),
                _cell(s["peak_rss_mb"]),
                _times(_ratio(s["p50_ms"], _floor_median(floor, "p50_ms"))),
                _times(_ratio(s["rps"], _floor_median(floor, "rps"))),
                _cell(s["cpu_ms_per_request"], 2),
                _cell(s["ledger_cpu_ms_per_request"], 3),
                _cell(s["stages_cpu_ms"] if s["stages_cpu_ms"] is not None else s["stages_ms"], 2),
                _share(s["outside_stages_share"]),
                _share(s["outside_beyond_floor_share"]),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )


def targets_text(targets: list[Target]) -> str:
    verdict = {True: "met   ", False: "MISSED", None: "n/a   "}
    return "\n".join(
        f"{verdict[t.met]}  {t.name}: {t.measured} (target {t.limit})" for t in targets
    )


def write_json(
    path: Path,
    env: dict[str, Any],
    measurements: list[Measurement],
    targets: list[Target],
    notes: list[str],
) -> None:
    floors = _floors(measurements)
    document = {
        "environment": env,
        "notes": notes,
        "measurements": [
            {
                **m.summary(_floor_of(m, floors)),
                "runs": [asdict(r) for r in m.runs],
                "peak_rss_mb_runs": m.peak_rss_mb,
            }
            for m in measurements
        ],
        "targets": [asdict(t) for t in targets],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))
