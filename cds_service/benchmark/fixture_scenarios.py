"""Representative calls taken from the clinical fixtures (`fhir_fixtures/`), dates moved to now.

`fhir_fixtures/scenarios.json` lists each scenario's bundle, patient, hook, draft orders and the
`now` its dates were written for. The service judges freshness against the real clock, so every
date and dateTime in the bundle and the draft orders is moved by (now - the scenario's `now`);
otherwise a benchmark run months later would measure stale-data cards instead of the intended
ones. The no-conditions patient-view and the Guillain-Barre steroid order-select come from here
when their fixtures exist (`none-pv`, `gbs-mp`); the encephalitis patient-view stays the one built
in `scenarios`, because the fixture patients carry only the four or five labs their rule needs,
not a realistic work-up.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from cds_service.benchmark.scenarios import Scenario
from cds_service.config import PROJECT_ROOT

FIXTURES_DIR = PROJECT_ROOT / "fhir_fixtures"
FIXTURE_FOR = {"no-conditions": ("none-pv", "immunotherapy-guidance"),
               "gbs-steroid-order-select": ("gbs-mp", "immunotherapy-order-select")}
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$")


def shift_dates(value: Any, delta: timedelta) -> Any:
    """A copy of `value` with every FHIR date or dateTime string moved by `delta`."""
    if isinstance(value, dict):
        return {k: shift_dates(v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [shift_dates(v, delta) for v in value]
    if isinstance(value, str) and _DATE_TIME.match(value):
        if "T" not in value:
            return (datetime.fromisoformat(value) + delta).date().isoformat()
        moved = datetime.fromisoformat(value.replace("Z", "+00:00")) + delta
        text = moved.isoformat(timespec="seconds")
        return text.replace("+00:00", "Z") if value.endswith("Z") else text
    return value


def _entries() -> dict[str, dict[str, Any]]:
    index = FIXTURES_DIR / "scenarios.json"
    if not index.exists():
        return {}
    listed = json.loads(index.read_text(encoding="utf-8"))
    return {e["name"]: e for e in listed if isinstance(e, dict) and "name" in e}


def from_fixtures(now: datetime) -> dict[str, Scenario]:
    """Our scenario name -> Scenario, for each fixture that exists and reads cleanly."""
    entries = _entries()
    found: dict[str, Scenario] = {}
    for ours, (fixture, service_id) in FIXTURE_FOR.items():
        entry = entries.get(fixture)
        bundle_path = FIXTURES_DIR / str((entry or {}).get("bundle", ""))
        if entry is None or not bundle_path.is_file():
            continue
        try:
            written_for = datetime.fromisoformat(str(entry["now"]).replace("Z", "+00:00"))
            bundle = json.loads(bundle_path.read_text(encoding="utf-8"))
        except (KeyError, ValueError):
            continue
        delta = now - written_for
        orders = [e["resource"] for e in (entry.get("draftOrders") or {}).get("entry", [])]
        found[ours] = Scenario(f"{ours} ({fixture})", service_id, str(entry["patientId"]),
                               shift_dates(bundle, delta), tuple(shift_dates(orders, delta)))
    return found
