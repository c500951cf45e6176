"""Representative calls taken from the clinical fixtures (`fhir_fixtures/`), dates moved to now.

`fhir_fixtures/scenarios.json` lists each scenario's bundle, patient, hook, draft orders and the
`now` its dates were written for. The service judges freshness against the real clock, so every
date and dateTime in the bundle and the draft orders is moved by (now - the scenario's `now`),
with `Scenario.shifted`; otherwise a benchmark run months later would measure
stale-data cards instead of the intended ones. The no-conditions patient-view and the
Guillain-Barre steroid order-select come from here when their fixtures exist (`none-pv`,
`gbs-mp`); the encephalitis patient-view stays the one built in `scenarios`, because the fixture
patients carry only the four or five labs their rule needs, not a realistic work-up.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from cds_service.scenarios import FIXTURES_DIR, Scenario, load_scenarios

FIXTURE_FOR = {"no-conditions": "none-pv", "gbs-steroid-order-select": "gbs-mp"}


def from_fixtures(now: datetime) -> dict[str, Scenario]:
    """Our scenario name -> Scenario, for each fixture that exists."""
    if not (FIXTURES_DIR / "scenarios.json").is_file():
        return {}
    fixtures = load_scenarios()
    found: dict[str, Scenario] = {}
    for ours, name in FIXTURE_FOR.items():
        fixture = fixtures.get(name)
        if fixture is None:
            continue
        found[ours] = replace(fixture.shifted(now), name=f"{ours} ({name})")
    return found
