"""Clinical scenarios built directly as PatientFacts, shared by the rule tests (no FHIR parsing).

Each scenario is a small, named patient: a builder per fact type keeps the table readable. Dates
are relative to a fixed `NOW` so timing rules (24 h, 2-4 weeks, 48-72 h) are deterministic.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cds_service.facts.model import (
    CodeRef,
    ConditionCategory,
    ConditionFact,
    CsfInfectionStatus,
    Dose,
    LabFact,
    LabKind,
    Measurement,
    PatientFacts,
    Qualitative,
    Therapy,
    TherapyFact,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
C = ConditionCategory
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
UNITS = {LabKind.SODIUM: "mmol/L", LabKind.INR: "{INR}", LabKind.PLATELETS: "10*9/L",
         LabKind.FIBRINOGEN: "g/L", LabKind.WEIGHT: "kg", LabKind.HEIGHT: "cm",
         LabKind.IL6: "pg/mL", LabKind.EGFR: "mL/min/{1.73_m2}"}
CODES = {C.AUTOIMMUNE_ENCEPHALITIS: "G04.81", C.HEMIPLEGIA: "G81.91", C.GUILLAIN_BARRE: "G61.0",
         C.ACUTE_NECROTIZING_ENCEPHALOPATHY: "G04.30", C.PLEXOPATHY: "G54.5",
         C.CNS_INFECTION: "B00.4", C.PRIMARY_CNS_LYMPHOMA: "C83.390", C.COAGULOPATHY: "D68.9",
         C.THROMBOEMBOLIC_RISK: "Z86.718", C.CNS_DEMYELINATION: "G37.9", C.HYPONATREMIA: "E87.1",
         C.AGITATION: "R45.1", C.IGA_DEFICIENCY: "D80.2", C.RENAL_FAILURE: "N18.4",
         C.NEUROSARCOIDOSIS: "D86.89"}


def cond(category: ConditionCategory, *, active: bool = True, onset_hours: float = 24 * 10,
         status: str | None = None) -> ConditionFact:
    code = CODES[category]
    return ConditionFact(category, CodeRef(ICD, code, category.value),
                         f"Condition/{category.value}", active,
                         status or ("active" if active else "resolved"), "confirmed",
                         NOW - timedelta(hours=onset_hours), None)


def lab(kind: LabKind, value: float | None = None, *, stale: bool = False,
        hours: float = 6, qualitative: Qualitative | None = None) -> tuple[LabKind, LabFact]:
    m = Measurement(kind, f"Observation/{kind.value}", NOW - timedelta(hours=hours), "final",
                    value, UNITS.get(kind) if value is not None else None,
                    qualitative=qualitative, stale=stale, age_hours=hours)
    return kind, LabFact(kind, m)


def therapy(kind: Therapy, *, days_ago: float = 0, draft: bool = False, selected: bool = False,
            ingredient: str | None = None, route: str | None = "intravenous",
            dose: Dose | None = None, status: str | None = None, ref: str | None = None,
            completed: bool = False) -> TherapyFact:
    resource = "ServiceRequest" if kind is Therapy.PLEX else "MedicationRequest"
    name = ref or f"{resource}/{'draft' if draft else 'hx'}-{kind.value}"
    return TherapyFact(kind, name, resource, status or ("draft" if draft else "active"),
                       NOW - timedelta(days=days_ago), completed, ingredient, route, dose,
                       is_draft_order=draft, is_selected=selected,
                       display=ingredient or kind.value)


def steroid(**kw: object) -> TherapyFact:
    return therapy(Therapy.CORTICOSTEROID, ingredient="methylprednisolone", **kw)  # type: ignore[arg-type]


def facts(*, hook: str = "patient-view", conditions: tuple[ConditionFact, ...] = (),
          labs: tuple[tuple[LabKind, LabFact], ...] = (),
          csf: CsfInfectionStatus = CsfInfectionStatus.UNKNOWN,
          history: tuple[TherapyFact, ...] = (), drafts: tuple[TherapyFact, ...] = (),
          unknown: frozenset[str] = frozenset(), age: float | None = 45) -> PatientFacts:
    return PatientFacts("pt-1", NOW, age, "female", conditions, dict(labs), csf, history, drafts,
                        unknown, hook)


WEIGHT_70 = lab(LabKind.WEIGHT, 70.0, hours=24)
HEIGHT_170 = lab(LabKind.HEIGHT, 170.0, hours=24)
AE = cond(C.AUTOIMMUNE_ENCEPHALITIS)
