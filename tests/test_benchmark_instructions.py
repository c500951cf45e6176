"""Instructions per call under callgrind (`cds-service benchmark --instructions`).

The counting tier runs the real thing (valgrind, the compiled helper, a child Python) on a few
calls; it skips with its reason when valgrind is absent, unless CDS_REQUIRE_VALGRIND=1 (set by
`.ci/run`) makes that a failure. The rest checks the parsing and the report without valgrind.
"""

from __future__ import annotations

import os

import pytest

from cds_service.benchmark import instructions
from cds_service.benchmark.instructions import Count, available, report, totals


def test_totals_are_read_from_a_callgrind_dump() -> None:
    dump = "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 0\ntotals: 750084193\n"
    assert totals(dump) == 750084193
    assert totals("events: Ir\n") is None


def test_the_report_gives_each_scenario_its_service_floor_ratio() -> None:
    counts = [
        Count("gbs", "service", 200, 700_000_000),
        Count("gbs", "floor", 200, 112_000_000),
        Count("none", "service", 200, 350_000_000),
    ]
    text = report(counts)
    gbs = next(line for line in text.splitlines() if line.startswith("gbs"))
    assert gbs.split()[1:] == ["3.500", "0.560", "6.25x"]
    none = next(line for line in text.splitlines() if line.startswith("none"))
    assert none.split()[-1] == "-"  # no floor figure, no ratio
    assert instructions.as_json(counts)[0] == {
        "scenario": "gbs",
        "target": "service",
        "calls": 200,
        "instructions_per_call": 3_500_000,
    }


def test_what_is_missing_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cds_service.benchmark.instructions.shutil.which", lambda name: None)
    assert "valgrind is not installed" in (available() or "")


def test_a_few_calls_are_counted_for_the_service_and_the_floor() -> None:
    missing = available()
    if missing:
        if os.environ.get("CDS_REQUIRE_VALGRIND") == "1":
            pytest.fail(f"CDS_REQUIRE_VALGRIND=1 but {missing}")
        pytest.skip(f"instruction-count tier not run: {missing}")
    service = instructions.count("service", "gbs", calls=5, warmup=20)
    floor = instructions.count("floor", "gbs", calls=5, warmup=20)
    assert service.scenario == floor.scenario == "gbs-steroid-order-select (gbs-mp)"
    # The floor parses the body and answers the same bytes; the service does the clinical work
    # too. Both are counted (a few hundred thousand instructions a call at least), and the
    # service's calls cost several times the floor's.
    assert floor.per_call > 100_000
    assert service.per_call > 2 * floor.per_call
