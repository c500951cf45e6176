"""The clinical scenarios of `fhir_fixtures/`: a bundle, a hook, draft orders and expected cards.

`fhir_fixtures/scenarios.json` lists each scenario with the instant it was written for (`now`):
freshness windows and "hours since onset" are measured from it. `shift_dates` moves every FHIR
date and dateTime in a scenario by the same amount, so a scenario can be replayed at another
instant (`cds-service invoke --scenario`, the examples in `hooks/examples/`) and still mean the
same thing clinically (`Scenario.shifted`). `Scenario.request` builds the hook request an
over-delivering EHR would send. The benchmark's built scenarios are `Scenario`s too.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from cds_service.config import PROJECT_ROOT
from cds_service.frozen import fast_init
from cds_service.hook_requests import build_request, bundle_entries
from cds_service.services import ServiceDefinition

FIXTURES_DIR = PROJECT_ROOT / "fhir_fixtures"
HOOK_SERVICES = {
    "patient-view": "immunotherapy-guidance",
    "order-select": "immunotherapy-order-select",
    "order-sign": "immunotherapy-order-sign",
}
# A FHIR date or dateTime (zone optional, as EHRs send it); other strings are left alone.
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$")


@fast_init
@dataclass(frozen=True)
class Scenario:
    """A patient's record and the call made about it, written for the instant `now`.

    Fixture scenarios also carry what must come back (`expected_*`, `forbidden_rules`); the
    benchmark's built scenarios leave those empty.
    """

    name: str
    service_id: str
    hook: str
    patient_id: str
    now: datetime
    bundle: dict[str, Any]  # FHIR transaction Bundle (PUT Type/id) with the patient's record
    draft_orders: tuple[dict[str, Any], ...] = ()
    selections: tuple[str, ...] = ()
    title: str = ""
    expected_rules: tuple[str, ...] = ()
    expected_indicators: dict[str, str] = field(default_factory=dict)
    forbidden_rules: tuple[str, ...] = ()

    def shifted(self, at: datetime) -> Scenario:
        """The same scenario happening at `at`: every date moved by `at - now`."""
        delta = at - self.now
        return replace(
            self,
            now=at,
            bundle=shift_dates(self.bundle, delta),
            draft_orders=tuple(shift_dates(list(self.draft_orders), delta)),
        )

    def request(self, services: Mapping[str, ServiceDefinition]) -> dict[str, Any]:
        """The hook request an over-delivering EHR would send (every prefetch key filled)."""
        return build_request(
            services[self.service_id],
            self.bundle,
            patient_id=self.patient_id,
            draft_orders=self.draft_orders,
            selections=self.selections or None,
        )


def load_scenarios(fixtures_dir: Path = FIXTURES_DIR) -> dict[str, Scenario]:
    rows = json.loads((fixtures_dir / "scenarios.json").read_text())
    scenarios = {}
    for row in rows:
        drafts = row.get("draftOrders") or {}
        scenarios[row["name"]] = Scenario(
            name=row["name"],
            service_id=row.get("service") or HOOK_SERVICES[row["hook"]],
            hook=row["hook"],
            patient_id=row["patientId"],
            now=datetime.fromisoformat(row["now"].replace("Z", "+00:00")),
            bundle=json.loads((fixtures_dir / row["bundle"]).read_text()),
            draft_orders=tuple(bundle_entries(drafts)),
            selections=tuple(row.get("selections") or ()),
            title=row["title"],
            expected_rules=tuple(row.get("expectedRules", ())),
            expected_indicators=dict(row.get("expectedIndicators", {})),
            forbidden_rules=tuple(row.get("forbiddenRules", ())),
        )
    return scenarios


def parse_instant(text: str | None) -> datetime | None:
    """`now` (or nothing): None, the wall clock; a date: 12:00 UTC that day (the instant the
    fixtures are written for); a dateTime: that instant (UTC when it names no zone). Raises
    ValueError for anything else."""
    if text is None or text.strip().lower() in ("", "now"):
        return None
    value = text.strip()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(12), tzinfo=UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not 'now', a date (YYYY-MM-DD) or a dateTime") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def bundle_instants(fixtures_dir: Path = FIXTURES_DIR) -> dict[str, datetime]:
    """Bundle file name -> the instant its scenarios were written for (`scenarios.json`'s `now`);
    empty when the folder has no scenario table."""
    table = fixtures_dir / "scenarios.json"
    if not table.is_file():
        return {}
    instants: dict[str, datetime] = {}
    for row in json.loads(table.read_text()):
        instant = datetime.fromisoformat(row["now"].replace("Z", "+00:00"))
        if instants.setdefault(row["bundle"], instant) != instant:
            raise ValueError(f"{row['bundle']} is written for two different instants")
    return instants


def _shift(value: str, delta: timedelta) -> str:
    """Move one date or dateTime, keeping the form it was written in (date, Z, or offset)."""
    if not _DATE_TIME.match(value):
        return value
    if "T" not in value:
        return (date.fromisoformat(value) + timedelta(days=delta.days)).isoformat()
    moved = datetime.fromisoformat(value.replace("Z", "+00:00")) + delta
    text = moved.isoformat(timespec="seconds")
    return text.replace("+00:00", "Z") if value.endswith("Z") else text


def shift_dates(data: Any, delta: timedelta) -> Any:
    """A deep copy of FHIR JSON with every date and dateTime value moved by `delta`."""
    if isinstance(data, dict):
        return {k: shift_dates(v, delta) for k, v in data.items()}
    if isinstance(data, list):
        return [shift_dates(v, delta) for v in data]
    if isinstance(data, str):
        return _shift(data, delta)
    return copy.copy(data)
