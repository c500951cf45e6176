"""The representative hook calls the benchmark sends, as FHIR data and as ready-to-POST bodies.

Three patients: one with none of the conditions the service treats (no cards),
one with Guillain-Barre syndrome whose clinician selects IV methylprednisolone (order-select), and
one with autoimmune encephalitis and a realistic set of CSF, blood and vital-sign results
(patient-view). Each is a transaction Bundle with stable `PUT Type/id` entries, so the same data
seeds the loopback FHIR server (no-prefetch runs) and fills the prefetch through
`Scenario.request` (an over-delivering EHR). Condition, LOINC and RxNorm codes come from
`cds_service.knowledge`. Dates are relative to `now`, so results stay fresh whenever the
benchmark runs. The growth series pads the encephalitis patient's observations to a given count
with unrelated results and older values of the codes the rules read, as EHRs that ignore `_count`
send them; the filler codes only need to be absent from the rules' code sets.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cds_service.knowledge import ICD10CM, LOINC, RXNORM, SNOMED, UCUM
from cds_service.scenarios import HOOK_SERVICES, Scenario

GROWTH_SIZES = (10, 100, 1_000, 10_000)
# Codes of common results the rules do not read (chemistry, haematology, vital signs).
FILLER_LOINC = (
    "718-7",
    "4548-4",
    "2345-7",
    "2823-3",
    "2075-0",
    "1742-6",
    "1920-8",
    "6690-2",
    "789-8",
    "8867-4",
    "8480-6",
    "8462-4",
    "8310-5",
    "9279-1",
    "2093-3",
    "3094-0",
)
NEGATIVE = (SNOMED, "260385009", "Negative (qualifier value)")
POSITIVE = (SNOMED, "10828004", "Positive (qualifier value)")


def without_prefetch(body: dict[str, Any], fhir_server: str) -> dict[str, Any]:
    """The same call with no prefetch: the service must read everything from `fhir_server`."""
    return {**{k: v for k, v in body.items() if k != "prefetch"}, "fhirServer": fhir_server}


def _scenario(
    name: str,
    hook: str,
    pid: str,
    now: datetime,
    resources: list[dict[str, Any]],
    draft_orders: tuple[dict[str, Any], ...] = (),
) -> Scenario:
    return Scenario(
        name=name,
        service_id=HOOK_SERVICES[hook],
        hook=hook,
        patient_id=pid,
        now=now,
        bundle=_transaction(resources),
        draft_orders=draft_orders,
    )


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _transaction(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in resources
        ],
    }


def _patient(pid: str, gender: str, birth: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "gender": gender,
        "birthDate": birth,
        "name": [{"family": "Benchmark", "given": [pid]}],
    }


def _condition(cid: str, pid: str, code: str, display: str, onset: datetime) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "confirmed",
                }
            ]
        },
        "code": {"coding": [{"system": ICD10CM, "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{pid}"},
        "onsetDateTime": _stamp(onset),
        "recordedDate": _stamp(onset),
    }


def observation(
    oid: str,
    pid: str,
    code: str,
    when: datetime,
    *,
    value: float | None = None,
    unit: str | None = None,
    result: tuple[str, str, str] | None = None,
) -> dict[str, Any]:
    """A final laboratory Observation with a quantity or a SNOMED CT qualitative result."""
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": _stamp(when),
    }
    if value is not None:
        resource["valueQuantity"] = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    if result is not None:
        system, code_value, display = result
        resource["valueCodeableConcept"] = {
            "coding": [{"system": system, "code": code_value, "display": display}]
        }
    return resource


def no_conditions(now: datetime) -> Scenario:
    pid = "bench-no-conditions"
    resources = [
        _patient(pid, "female", "1971-03-02"),
        _condition(
            f"{pid}-htn", pid, "I10", "Essential (primary) hypertension", now - timedelta(days=900)
        ),
        observation(f"{pid}-na", pid, "2951-2", now - timedelta(hours=6), value=139, unit="mmol/L"),
        observation(f"{pid}-wt", pid, "29463-7", now - timedelta(days=2), value=71.5, unit="kg"),
    ]
    return _scenario("no-conditions", "patient-view", pid, now, resources)


def gbs_steroid_order(now: datetime) -> Scenario:
    pid = "bench-gbs"
    resources = [
        _patient(pid, "male", "1964-11-20"),
        _condition(f"{pid}-gbs", pid, "G61.0", "Guillain-Barre syndrome", now - timedelta(days=3)),
        observation(f"{pid}-wt", pid, "29463-7", now - timedelta(days=1), value=82.0, unit="kg"),
        observation(
            f"{pid}-na", pid, "2951-2", now - timedelta(hours=10), value=137, unit="mmol/L"
        ),
        observation(f"{pid}-cr", pid, "2160-0", now - timedelta(hours=10), value=0.9, unit="mg/dL"),
    ]
    order = {
        "resourceType": "MedicationRequest",
        "id": f"{pid}-ivmp",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{pid}"},
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": RXNORM,
                    "code": "1743726",
                    "display": "methylprednisolone 1000 MG Injection",
                }
            ]
        },
        "dosageInstruction": [
            {
                "text": "1 g IV once daily for 5 days",
                "route": {"text": "intravenous"},
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [
                    {"doseQuantity": {"value": 1, "unit": "g", "system": UCUM, "code": "g"}}
                ],
            }
        ],
    }
    return _scenario("gbs-steroid-order-select", "order-select", pid, now, resources, (order,))


def encephalitis_labs(pid: str, now: datetime) -> list[dict[str, Any]]:
    """A realistic work-up: CSF cells, chemistry, microbiology, antibodies, blood, vitals."""
    lp = now - timedelta(days=2)
    blood = now - timedelta(hours=8)
    rows: list[tuple[str, datetime, dict[str, Any]]] = [
        ("26465-5", lp, {"value": 38, "unit": "/uL"}),
        ("26454-9", lp, {"value": 2, "unit": "/uL"}),
        ("2880-3", lp, {"value": 62, "unit": "mg/dL"}),
        ("2342-4", lp, {"value": 58, "unit": "mg/dL"}),
        ("14357-8", lp, {"result": NEGATIVE}),
        ("606-4", lp, {"result": NEGATIVE}),
        ("16952-4", lp, {"result": NEGATIVE}),
        ("16960-7", lp, {"result": NEGATIVE}),
        ("108157-9", lp, {"result": NEGATIVE}),
        ("21598-8", lp, {"result": NEGATIVE}),
        ("80220-7", lp, {"result": POSITIVE}),
        ("80221-5", lp, {"result": POSITIVE}),
        ("2951-2", blood, {"value": 134, "unit": "mmol/L"}),
        ("6301-6", blood, {"value": 1.1, "unit": "{INR}"}),
        ("777-3", blood, {"value": 245, "unit": "10*3/uL"}),
        ("3255-7", blood, {"value": 310, "unit": "mg/dL"}),
        ("2160-0", blood, {"value": 0.8, "unit": "mg/dL"}),
        ("98979-8", blood, {"value": 96, "unit": "mL/min/{1.73_m2}"}),
        ("29463-7", now - timedelta(days=1), {"value": 64.0, "unit": "kg"}),
        ("8302-2", now - timedelta(days=1), {"value": 168, "unit": "cm"}),
    ]
    return [
        observation(f"{pid}-lab-{n}", pid, code, when, **kw)
        for n, (code, when, kw) in enumerate(rows)
    ]


def encephalitis_view(now: datetime, observations: int | None = None) -> Scenario:
    """The encephalitis patient; with `observations`, padded or cut to exactly that many."""
    pid = "bench-ae"
    labs = encephalitis_labs(pid, now)
    if observations is not None:
        labs = labs[:observations] + filler_observations(pid, now, observations - len(labs))
    resources = [
        _patient(pid, "female", "1996-05-14"),
        _condition(
            f"{pid}-ae",
            pid,
            "G04.81",
            "Other encephalitis and encephalomyelitis",
            now - timedelta(days=4),
        ),
        *labs,
    ]
    name = "ae-patient-view" if observations is None else f"growth-{observations}"
    return _scenario(name, "patient-view", pid, now, resources)


def filler_observations(pid: str, now: datetime, count: int) -> list[dict[str, Any]]:
    """Unrelated results, and every fifth one an older value of a code the rules read."""
    read_by_rules = (
        ("2951-2", "mmol/L", 138.0),
        ("2160-0", "mg/dL", 0.85),
        ("29463-7", "kg", 65.0),
        ("777-3", "10*3/uL", 250.0),
    )
    out = []
    for n in range(max(0, count)):
        when = now - timedelta(days=3 + n // 8, hours=n % 8)
        if n % 5 == 0:
            code, unit, value = read_by_rules[(n // 5) % len(read_by_rules)]
        else:
            code, unit, value = FILLER_LOINC[n % len(FILLER_LOINC)], "1", float(n % 97)
        out.append(observation(f"{pid}-f{n}", pid, code, when, value=value, unit=unit))
    return out


def representative(now: datetime) -> list[Scenario]:
    return [no_conditions(now), gbs_steroid_order(now), encephalitis_view(now)]
