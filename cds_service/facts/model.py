"""Typed facts about one patient and the orders being placed: the only thing rules ever see.

Facts are honest about data: every value has its time, its
resource reference and its normalised unit; stale values are marked stale, not passed off as
current; data that could not be obtained is listed in `PatientFacts.unknown` so a rule can say
"CSF results could not be retrieved" instead of guessing. Rules never see raw JSON, Flask or HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from cds_service.frozen import fast_init


class ConditionCategory(StrEnum):
    """Clinical categories the rules reason about ."""

    AUTOIMMUNE_ENCEPHALITIS = "autoimmune-encephalitis"
    HEMIPLEGIA = "hemiplegia"
    GUILLAIN_BARRE = "guillain-barre"
    ACUTE_NECROTIZING_ENCEPHALOPATHY = "acute-necrotizing-encephalopathy"
    PLEXOPATHY = "plexopathy"
    CNS_INFECTION = "cns-infection"
    PRIMARY_CNS_LYMPHOMA = "primary-cns-lymphoma"
    NEUROSARCOIDOSIS = "neurosarcoidosis"
    COAGULOPATHY = "coagulopathy"  # coagulopathy, bleeding disorder, thrombocytopenia
    THROMBOEMBOLIC_RISK = "thromboembolic-risk"  # VTE history, thrombophilia
    CNS_DEMYELINATION = "cns-demyelination"
    HYPONATREMIA = "hyponatremia"  # hyponatremia, SIADH
    AGITATION = "agitation"  # agitation, delirium
    IGA_DEFICIENCY = "iga-deficiency"
    RENAL_FAILURE = "renal-failure"
    DIFFICULT_VASCULAR_ACCESS = "difficult-vascular-access"
    # Conditions for which a systemic steroid is indicated in its own right (adrenal insufficiency
    # and stress dosing, long-term steroid use, asthma or COPD exacerbation): not the GBS pitfall.
    STEROID_INDICATION = "steroid-indication"
    # "Encephalitis, unspecified": neither autoimmune nor infectious until worked up.
    ENCEPHALITIS_UNSPECIFIED = "encephalitis-unspecified"


@fast_init
@dataclass(frozen=True)
class CodeRef:
    system: str
    code: str
    display: str | None = None


@fast_init
@dataclass(frozen=True)
class ConditionFact:
    category: ConditionCategory
    code: CodeRef
    reference: str  # "Condition/abc"
    active: bool  # clinicalStatus active | recurrence | relapse, and not refuted
    clinical_status: str | None
    verification_status: str | None
    onset: datetime | None
    recorded: datetime | None
    text: str | None = None


class LabKind(StrEnum):
    """Kinds of observation the rules read; each is one row of cds_service.knowledge.labs."""

    SODIUM = "sodium"  # mmol/L
    INR = "inr"  # ratio, unitless
    PLATELETS = "platelets"  # 10*9/L
    FIBRINOGEN = "fibrinogen"  # g/L
    CSF_WBC = "csf-wbc"  # cells/uL (10*6/L)
    CSF_GRAM_STAIN = "csf-gram-stain"  # qualitative
    CSF_CULTURE = "csf-culture"  # qualitative
    CSF_HSV_PCR = "csf-hsv-pcr"  # qualitative
    CSF_PATHOGEN_PCR = "csf-pathogen-pcr"  # other pathogen PCR or multiplex panel, qualitative
    IL6 = "il-6"  # pg/mL
    WEIGHT = "weight"  # kg
    HEIGHT = "height"  # cm
    CREATININE = "creatinine"  # mg/dL
    EGFR = "egfr"  # mL/min/{1.73_m2}
    AUTOIMMUNE_ANTIBODY = "autoimmune-antibody"  # qualitative, may be pending
    GCS = "gcs"  # Glasgow Coma Scale total, 3-15


class Qualitative(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    PENDING = "pending"  # registered/preliminary: ordered or in progress, no final result
    INDETERMINATE = "indeterminate"


@fast_init
@dataclass(frozen=True)
class Measurement:
    """One usable observation value, already normalised to its kind's canonical unit."""

    kind: LabKind
    reference: str  # "Observation/xyz"
    effective: datetime | None
    status: str  # final | amended | corrected | preliminary | registered
    value: float | None = None  # in `unit`; None for qualitative results
    unit: str | None = None  # canonical UCUM unit of the kind
    original: str | None = None  # as recorded, e.g. "272 mg/dL", when a conversion happened
    qualitative: Qualitative | None = None
    code: CodeRef | None = None
    stale: bool = False  # older than the kind's freshness window (facts.observations)
    age_hours: float | None = None
    comparator: str | None = None  # "<", "<=", ">=", ">" as recorded (valueQuantity.comparator)
    # A qualitative result's own words (valueCodeableConcept text/display or valueString), e.g.
    # "Gram-positive diplococci" or "Herpes simplex virus 1 detected": names the pathogen.
    result_text: str | None = None


@fast_init
@dataclass(frozen=True)
class LabFact:
    """The newest usable value of one kind, and why other values were not used."""

    kind: LabKind
    latest: Measurement | None
    # Human-readable notes about values that were present but not usable, e.g.
    # "Observation/na-3: unit 'mg' cannot be converted to mmol/L; not used".
    unusable: tuple[str, ...] = ()
    history: tuple[Measurement, ...] = ()  # newest first, usable values only


class CsfInfectionStatus(StrEnum):
    EXCLUDED = "excluded"  # studies present and negative
    INFECTION_FOUND = "infection-found"  # positive culture, Gram stain or pathogen PCR/panel
    PENDING = "pending"  # studies sent, results not final
    UNKNOWN = "unknown"  # no CSF studies in the data (or the data could not be retrieved)


class Therapy(StrEnum):
    CORTICOSTEROID = "corticosteroid"
    IVIG = "ivig"
    PLEX = "plasma-exchange"
    RITUXIMAB = "rituximab"
    CYCLOPHOSPHAMIDE = "cyclophosphamide"
    TOCILIZUMAB = "tocilizumab"
    BORTEZOMIB = "bortezomib"
    AZATHIOPRINE = "azathioprine"
    MYCOPHENOLATE = "mycophenolate"
    CYCLOSPORINE = "cyclosporine"


FIRST_LINE_THERAPIES = frozenset({Therapy.CORTICOSTEROID, Therapy.IVIG, Therapy.PLEX})


@fast_init
@dataclass(frozen=True)
class Dose:
    """A dose as ordered: quantity and unit per administration, and per day where computable."""

    quantity: float
    unit: str  # UCUM: mg, g, mg/kg, g/kg, mg/m2
    per_day: float | None = None  # in `unit`, when the timing allows computing it
    text: str | None = None  # dosageInstruction.text as ordered


@fast_init
@dataclass(frozen=True)
class TherapyFact:
    """One immunotherapy order or administration, from history or from the draft orders."""

    therapy: Therapy
    reference: str  # "MedicationRequest/abc", "ServiceRequest/plex-1", "Procedure/p1"
    resource_type: str
    status: str | None
    started: datetime | None  # authoredOn / effective / performed start
    completed: bool  # status completed, or a bounded course that has ended
    ingredient: str | None = None  # e.g. "methylprednisolone"
    route: str | None = None  # e.g. "intravenous", "oral"
    dose: Dose | None = None
    dose_text: str | None = None  # dosageInstruction.text, kept when no dose could be read
    is_draft_order: bool = False  # from context.draftOrders
    is_selected: bool = False  # named in context.selections (order-select)
    matched_by: str = "code"  # "code" | "text": how the therapy was recognised
    display: str | None = None
    ended: datetime | None = None  # end of the course when the record bounds it


@fast_init
@dataclass(frozen=True)
class AntiviralFact:
    """An aciclovir or valaciclovir order or administration: is HSV/VZV found in CSF treated?"""

    ingredient: str  # "acyclovir" | "valacyclovir"
    reference: str  # "MedicationRequest/abc"
    status: str | None
    started: datetime | None
    completed: bool
    route: str | None = None
    is_draft_order: bool = False
    display: str | None = None


# contracts.Hook's values (contracts imports this module, so not Hook itself).
ORDER_SELECT, ORDER_SIGN = "order-select", "order-sign"


@fast_init
@dataclass(frozen=True)
class PatientFacts:
    """Everything the rules may know about one patient on one hook call."""

    patient_id: str
    now: datetime
    age_years: float | None = None
    sex: str | None = None
    conditions: tuple[ConditionFact, ...] = ()
    labs: dict[LabKind, LabFact] = field(default_factory=dict)
    csf_status: CsfInfectionStatus = CsfInfectionStatus.UNKNOWN
    # The CSF results behind csf_status (newest per test), and the studies still missing for
    # EXCLUDED, e.g. ("HSV PCR",) when only a negative culture is on record (facts.csf).
    csf_evidence: tuple[Measurement, ...] = ()
    csf_missing: tuple[str, ...] = ()
    therapy_history: tuple[TherapyFact, ...] = ()  # existing orders/administrations
    draft_orders: tuple[TherapyFact, ...] = ()  # the immunotherapy orders being placed
    # Antivirals (aciclovir, valaciclovir) in the record and among the draft orders (not therapy:
    # read only by the CSF infection gate).
    antivirals: tuple[AntiviralFact, ...] = ()
    # Data categories that could not be obtained (prefetch key missing and not fetchable),
    # e.g. {"conditions", "observations", "medications"}; rules say so where it matters.
    unknown: frozenset[str] = frozenset()
    # Resources that could not be read (malformed) and were skipped, e.g. ("Observation/o1",).
    unreadable: tuple[str, ...] = ()
    hook: str = "patient-view"

    def active(self, category: ConditionCategory) -> tuple[ConditionFact, ...]:
        """The active conditions of `category`, in record order."""
        return self._active_by_category().get(category, ())

    def has_active(self, category: ConditionCategory) -> bool:
        return category in self._active_by_category()

    def orders_under_review(self) -> tuple[TherapyFact, ...]:
        """The draft orders the call is about: order-select's selected ones, every one on
        order-sign, none on patient-view (`rules.support.scope`; asked by most rules)."""
        found: tuple[TherapyFact, ...] | None = self.__dict__.get("_under_review")
        if found is None:
            if self.hook == ORDER_SELECT:
                found = tuple(o for o in self.draft_orders if o.is_selected)
            elif self.hook == ORDER_SIGN:
                found = self.draft_orders
            else:
                found = ()
            self.__dict__["_under_review"] = found
        return found

    def _active_by_category(self) -> dict[ConditionCategory, tuple[ConditionFact, ...]]:
        # The rules ask 20-40 times a call; the conditions are read once, on the first question.
        # Kept in the instance's __dict__ beside the fields, as `orders_under_review` is (not
        # fields: equality, hashing, repr and dataclasses.replace see only the fields).
        found: dict[ConditionCategory, tuple[ConditionFact, ...]] | None = self.__dict__.get(
            "_active_index"
        )
        if found is None:
            grouped: dict[ConditionCategory, list[ConditionFact]] = {}
            for condition in self.conditions:
                if condition.active:
                    grouped.setdefault(condition.category, []).append(condition)
            found = {category: tuple(group) for category, group in grouped.items()}
            self.__dict__["_active_index"] = found
        return found

    def lab(self, kind: LabKind) -> Measurement | None:
        fact = self.labs.get(kind)
        return fact.latest if fact else None
