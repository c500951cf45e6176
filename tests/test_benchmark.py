"""The benchmark's pieces, fast: the latency proxy, the floor, the scenarios, wrk's output, reports.

No benchmark runs here (issue 6: targets are reported by the benchmark, not timed unit tests); each
test stays well under a second.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from flask import Flask

from cds_service import extensions
from cds_service.benchmark import load, report, scenarios
from cds_service.benchmark.floor import SCENARIO_HEADER, create_floor_app
from cds_service.benchmark.latency_proxy import start_proxy
from cds_service.benchmark.load import LoadResult, parse_wrk_output
from cds_service.benchmark.report import FLOOR, FULL, GROWTH, NO_PREFETCH, Measurement
from cds_service.benchmark.servers import peak_rss_mb, service_environment
from cds_service.cli import main
from cds_service.scenarios import shift_dates
from cds_service.services import ServiceDefinition

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


class _Upstream(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 404 if self.path.endswith("/missing") else 200
        payload = json.dumps({"resourceType": "Bundle", "path": self.path}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/fhir"
    server.shutdown()
    server.server_close()


def _run(p50: float, rps: float, errors: int = 0, p99: float | None = None) -> LoadResult:
    return LoadResult(
        requests=int(rps * 5),
        duration_s=5.0,
        errors=errors,
        p50_ms=p50,
        p90_ms=p50 * 1.5,
        p99_ms=p99 if p99 is not None else p50 * 2,
        max_ms=p50 * 3,
        client_cpu_s=1.0,
    )


def _measured(
    part: str,
    scenario: str,
    runs: list[LoadResult],
    *,
    body_bytes: int = 1000,
    round_trip_ms: float | None = None,
) -> Measurement:
    m = Measurement(part, scenario, 8, 1, body_bytes, round_trip_ms=round_trip_ms)
    m.runs.extend(runs)
    return m


def _verdicts(targets: list[report.Target]) -> dict[str, bool | None]:
    return {t.name: t.met for t in targets}


def test_the_latency_proxy_adds_its_delay_to_every_response(upstream: str) -> None:
    proxy = start_proxy(upstream, delay_seconds=0.15)
    try:
        started = time.perf_counter()
        answer = requests.get(f"{proxy.url}/Patient/p1", timeout=5)
        elapsed = time.perf_counter() - started
    finally:
        proxy.close()
    assert answer.status_code == 200
    assert answer.json() == {"resourceType": "Bundle", "path": "/fhir/Patient/p1"}
    assert 0.15 <= elapsed < 1.0
    assert proxy.forwarded == 1


def test_the_latency_proxy_passes_error_statuses_through(upstream: str) -> None:
    proxy = start_proxy(upstream, delay_seconds=0.0)
    try:
        answer = requests.get(f"{proxy.url}/missing", timeout=5)
    finally:
        proxy.close()
    assert answer.status_code == 404
    assert proxy.url.startswith("http://127.0.0.1:") and proxy.url.endswith("/fhir")


def test_the_floor_answers_with_the_same_cards_as_the_service(app: Flask) -> None:
    scenario = scenarios.gbs_steroid_order(NOW)
    body = scenario.request(extensions.services(app))
    served = app.test_client().post(f"/cds-services/{scenario.service_id}", json=body)
    assert served.status_code == 200 and len(served.get_json()["cards"]) == 1
    floor = create_floor_app({scenario.name: served.get_json()}).test_client()
    answer = floor.post(
        f"/cds-services/{scenario.service_id}", json=body, headers={SCENARIO_HEADER: scenario.name}
    )
    assert answer.status_code == 200
    assert answer.get_json()["cards"] == served.get_json()["cards"]


def test_the_floor_answers_an_unknown_scenario_with_its_first_canned_answer() -> None:
    floor = create_floor_app({"a": {"cards": [{"summary": "x"}]}}).test_client()
    answer = floor.post("/cds-services/s", json={"hook": "patient-view"})
    assert len(answer.get_json()["cards"]) == 1


def test_growth_scenarios_carry_exactly_the_requested_observations(app: Flask) -> None:
    services: dict[str, ServiceDefinition] = extensions.services(app)
    for size in (10, 100):
        body = scenarios.encephalitis_view(NOW, size).request(services)
        assert len(body["prefetch"]["observations"]["entry"]) == size


def test_a_call_without_prefetch_names_the_fhir_server_and_keeps_the_context(app: Flask) -> None:
    body = scenarios.no_conditions(NOW).request(extensions.services(app))
    bare = scenarios.without_prefetch(body, "http://127.0.0.1:9/fhir")
    assert "prefetch" not in bare
    assert bare["fhirServer"] == "http://127.0.0.1:9/fhir"
    assert bare["context"] == body["context"]


def test_wrk_output_is_read_in_milliseconds_with_every_kind_of_error_counted() -> None:
    line = (
        load.RESULT_MARKER + '{"requests":1000,"duration_us":5000000,"bytes":1,"connect":1,'
        '"read":2,"write":0,"status":3,"timeout":4,"p50_us":2500,"p90_us":4000,'
        '"p99_us":9000,"max_us":20000,"mean_us":2600.0}'
    )
    result = parse_wrk_output(f"Running 5s test\n{line}\n", client_cpu_s=2.5)
    assert (result.rps, result.errors, result.p50_ms, result.p99_ms) == (200.0, 10, 2.5, 9.0)
    assert result.client_cpu_share == 0.5


def test_a_missing_wrk_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(load.WrkMissing, match="apt-get install -y wrk"):
        load.wrk_path()


def test_the_lua_script_posts_the_body_file_with_the_scenario_and_token() -> None:
    script = load.lua_script(Path("/bench/a b/body.json"), "gbs", token="t0k")
    assert '"/bench/a b/body.json"' in script and 'wrk.method = "POST"' in script
    assert '"Bearer t0k"' in script and '"gbs"' in script


def test_figures_are_medians_of_the_repetitions_and_errors_are_summed() -> None:
    m = _measured(FULL, "s", [_run(3.0, 900), _run(9.0, 100, errors=2), _run(4.0, 800)])
    m.peak_rss_mb.extend([100.0, 130.0, 110.0])
    summary = m.summary()
    assert (summary["p50_ms"], summary["rps"], summary["errors"]) == (4.0, 800, 2)
    assert summary["peak_rss_mb"] == 110.0


def test_full_prefetch_targets_compare_each_call_to_the_floor_of_the_same_call() -> None:
    measurements = [
        _measured(FLOOR, "a", [_run(3.0, 2000)]),
        _measured(FULL, "a", [_run(5.0, 1200, p99=14.0)]),
        _measured(FLOOR, "b", [_run(3.0, 2000)]),
        _measured(FULL, "b", [_run(7.0, 900, p99=15.5)]),
    ]
    verdicts = _verdicts(report.evaluate_targets(measurements))
    assert verdicts["a: p50 / floor p50"] and verdicts["a: rps / floor rps"] and verdicts["a: p99"]
    assert verdicts["b: p50 / floor p50"] is False
    assert verdicts["b: rps / floor rps"] is False and verdicts["b: p99"] is False


def test_without_a_floor_the_ratio_targets_are_not_applicable() -> None:
    verdicts = _verdicts(report.evaluate_targets([_measured(FULL, "a", [_run(5.0, 100)])]))
    assert verdicts["a: p50 / floor p50"] is None and verdicts["a: p99"] is True


def test_no_prefetch_target_is_one_and_a_half_round_trips_plus_20_ms() -> None:
    fast = _measured(NO_PREFETCH, "a", [_run(90.0, 10)], round_trip_ms=49.0)  # limit 93.5
    slow = _measured(NO_PREFETCH, "b", [_run(250.0, 4)], round_trip_ms=52.0)
    verdicts = _verdicts(report.evaluate_targets([fast, slow]))
    assert verdicts == {"a: no-prefetch p50": True, "b: no-prefetch p50": False}


def test_growth_targets_compare_the_largest_prefetch_to_the_smallest() -> None:
    small = _measured(GROWTH, "growth-10", [_run(3.0, 300)], body_bytes=6_000)
    large = _measured(GROWTH, "growth-10000", [_run(12.0, 80)], body_bytes=4_800_000)
    large.peak_rss_mb.extend([300.0, 310.0, 305.0])
    verdicts = _verdicts(report.evaluate_targets([large, small]))
    assert verdicts["growth-10000 p50 / growth-10 p50"] is False
    assert verdicts["growth-10000 peak RSS last / first repetition"] is True


def test_the_table_shows_ratios_to_the_floor_only_for_the_service() -> None:
    text = report.table(
        [_measured(FLOOR, "a", [_run(3.0, 2000)]), _measured(FULL, "a", [_run(6.0, 1000)])]
    )
    floor_row, service_row = text.splitlines()[1:]
    assert floor_row.rstrip().endswith("-")
    assert service_row.split()[-7:-5] == ["2.00x", "0.50x"]  # then CPU, ledger, stages, outside x2


def test_the_report_file_holds_environment_medians_runs_and_targets(tmp_path: Path) -> None:
    measurements = [_measured(FLOOR, "a", [_run(3.0, 2000)]), _measured(FULL, "a", [_run(5, 900)])]
    path = tmp_path / "out" / "bench.json"
    report.write_json(
        path,
        report.environment({"connections": 8}),
        measurements,
        report.evaluate_targets(measurements),
        ["a note"],
    )
    document = json.loads(path.read_text())
    assert document["environment"]["cpu_count"] == os.cpu_count()
    assert document["environment"]["libraries"]["flask"]
    service = document["measurements"][1]
    assert service["p50_ms"] == 5 and len(service["runs"]) == 1
    assert {t["name"] for t in document["targets"]} >= {"a: p99"}


def test_peak_rss_is_read_from_proc_for_the_given_processes() -> None:
    assert peak_rss_mb([os.getpid()]) > 1.0
    assert peak_rss_mb([]) == 0.0


def test_the_benchmark_command_is_part_of_the_cli() -> None:
    result = CliRunner().invoke(main, ["benchmark", "--help"])
    assert result.exit_code == 0
    for option in ("--duration", "--connections", "--repetitions", "--output", "--url"):
        assert option in result.output


def test_fixture_dates_move_with_the_clock_but_other_strings_stay() -> None:
    moved = shift_dates(
        {
            "effectiveDateTime": "2026-03-01T06:00:00Z",
            "birthDate": "1981-05-02",
            "issued": "2026-03-01T06:00:00+01:00",
            "code": "2951-2",
            "n": [7],
        },
        timedelta(days=10, hours=1),
    )
    assert moved == {
        "effectiveDateTime": "2026-03-11T07:00:00Z",
        "birthDate": "1981-05-12",
        "issued": "2026-03-11T07:00:00+01:00",
        "code": "2951-2",
        "n": [7],
    }


def test_the_outside_share_and_ledger_targets_read_the_cpu_figures() -> None:
    """Under 30% of a call's CPU outside the logged stages; the ledger writer under 0.1 ms per
    card-issuing call, hot loop and paced alike; a call with no cards has no ledger target."""
    lean = _measured(FULL, "lean", [_run(3.0, 1000)])
    lean.cpu_ms, lean.ledger_cpu_ms, lean.stages_cpu_ms = [1.0], [0.05], [0.8]  # 24% outside
    heavy = _measured(FULL, "heavy", [_run(3.0, 1000)])
    heavy.cpu_ms, heavy.ledger_cpu_ms, heavy.stages_cpu_ms = [1.0], [0.2], [0.6]  # 50% outside
    paced = _measured(report.PACED, "heavy", [_run(3.0, 300)])
    paced.ledger_cpu_ms = [0.15]
    silent = _measured(FULL, "silent", [_run(3.0, 1000)])
    silent.cards = 0
    verdicts = _verdicts(report.evaluate_targets([lean, heavy, paced, silent]))
    assert verdicts["lean: CPU outside the logged stages"] is True
    assert verdicts["heavy: CPU outside the logged stages"] is False
    assert verdicts["lean: ledger writer CPU per call"] is True
    assert verdicts["heavy: ledger writer CPU per call"] is False
    assert verdicts["heavy (paced): ledger writer CPU per call"] is False
    assert "silent: ledger writer CPU per call" not in verdicts


def test_a_paced_script_pauses_each_connection_around_the_think_time(tmp_path: Path) -> None:
    from cds_service.benchmark import load

    script = load.lua_script(tmp_path / "b.json", "s", pause_ms=20.0)
    assert "function delay()" in script and "math.random(10, 30)" in script
    assert "function delay()" not in load.lua_script(tmp_path / "b.json", "s")


def test_the_benchmarked_service_never_writes_to_a_configured_ledger_or_keeps_pilot_switches(
    tmp_path: Path,
) -> None:
    parent = {
        "PATH": "/usr/bin",
        "GUNICORN_CMD_ARGS": "--threads 1",
        "CDS_DATABASE_URL": "postgresql://ledger.hospital.example/cds",
        "CDS_LEDGER_SPOOL_DIR": "/var/lib/cds/spool",
        "CDS_SHADOW_MODE": "on",
        "CDS_WORKERS": "7",
        "CDS_HOOKS_DIR": "/srv/hooks",
    }
    env = service_environment(parent, tmp_path, "service", ["http://127.0.0.1"], 8123)
    assert env["CDS_DATABASE_URL"] == f"sqlite:///{tmp_path / 'service-ledger.sqlite3'}"
    assert Path(env["CDS_LEDGER_SPOOL_DIR"]).parent == tmp_path
    assert "CDS_SHADOW_MODE" not in env and "CDS_WORKERS" not in env
    assert env["CDS_HOOKS_DIR"] == "/srv/hooks"  # the calls are built from the same folder
    assert env["PATH"] == "/usr/bin" and env["GUNICORN_CMD_ARGS"] == "--threads 1"
    assert env["CDS_AUTH_ENABLED"] == "false" and "CDS_TRUSTED_ISSUERS_FILE" not in env

    issuers = tmp_path / "issuers.json"
    with_auth = service_environment(parent, tmp_path, "service-auth", [], 8124, issuers)
    assert with_auth["CDS_AUTH_ENABLED"] == "true"
    assert with_auth["CDS_TRUSTED_ISSUERS_FILE"] == str(issuers)
    assert with_auth["CDS_PUBLIC_BASE_URL"] == "http://127.0.0.1:8124"
    assert with_auth["CDS_LEDGER_SPOOL_DIR"] != env["CDS_LEDGER_SPOOL_DIR"]
