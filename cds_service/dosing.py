"""The one dose computation: what a regimen means for this patient, advised and checked alike.

Regimens are rows of `cds_service.knowledge.regimens`. `advise(agent, patient)` picks the row for
the patient's population (under 18 years: the paediatric row) and computes the dose from current,
plausible measurements; `check_order(order, patient)` runs the same computation on an order and
says whether it is within the regimen, so a card never advises a dose its own check would flag.

Honesty rules: a weight-based dose needs a current, plausible body weight; a dose per m2 needs a
current height too (body surface area by the Mosteller formula, named wherever it is shown:
BSA (m2) = sqrt(height (cm) x weight (kg) / 3600), Mosteller, N Engl J Med 1987). With an
unknown age the dose is weight-based (the paediatric row) and capped at the adult maximum, and the
card says the age is unknown; with neither age nor weight there is no number, said plainly.
Nothing is guessed. The tolerance for rounding applies to per-kg and per-m2 ranges and never
lifts a dose above an absolute maximum; more than twice the regimen's upper limit is critical.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from cds_service.facts.model import Dose, LabKind, Measurement, PatientFacts, Therapy, TherapyFact
from cds_service.frozen import fast_init
from cds_service.knowledge.regimens import (
    ADULT_AGE_YEARS,
    AGENT_NAMES,
    CRITICAL_EXCESS_FACTOR,
    DOSE_TOLERANCE_FRACTION,
    REGIMENS,
    Agent,
    Basis,
    Per,
    Population,
    Regimen,
    regimens_for,
)

# Outside these a measurement is a recording error, not a patient: it is never dosed from.
PLAUSIBLE_WEIGHT_KG = (0.3, 350.0)
PLAUSIBLE_HEIGHT_CM = (25.0, 250.0)
_MASS_TO = {("mg", "mg"): 1.0, ("g", "mg"): 1000.0, ("mg", "g"): 0.001, ("g", "g"): 1.0}


def number(value: float, digits: int = 1) -> str:
    """A figure for display: at most `digits` decimals, no trailing zeros."""
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def mass(value: float, unit: str) -> str:
    """A mass for display: mg below 1 g, else g ("450 mg", "1 g", "1.2 g", "28 g")."""
    if unit == "mg" and value >= 1000:
        return f"{number(value / 1000, 2)} g"
    return f"{number(value, 0 if unit == 'mg' else 1)} {unit}"


@fast_init
@dataclass(frozen=True)
class DosingPatient:
    """What dosing may know about the patient: age and the latest weight and height."""

    age_years: float | None
    weight: Measurement | None
    height: Measurement | None

    @classmethod
    def of(cls, facts: PatientFacts) -> DosingPatient:
        return cls(facts.age_years, facts.lab(LabKind.WEIGHT), facts.lab(LabKind.HEIGHT))

    @property
    def population(self) -> Population | None:
        if self.age_years is None or not math.isfinite(self.age_years) or self.age_years < 0:
            return None
        return Population.CHILD if self.age_years < ADULT_AGE_YEARS else Population.ADULT


def _plausible(value: float | None, bounds: tuple[float, float]) -> bool:
    return value is not None and math.isfinite(value) and bounds[0] <= value <= bounds[1]


def current_weight_kg(weight: Measurement | None) -> tuple[float | None, str | None]:
    """The weight to dose from, or why there is none (missing, stale, implausible: no guess)."""
    if weight is None or weight.value is None:
        return None, "No body weight is recorded, so a weight-based dose cannot be computed."
    when = weight.effective.date().isoformat() if weight.effective else "an unknown date"
    if not _plausible(weight.value, PLAUSIBLE_WEIGHT_KG):
        return None, (
            f"The recorded body weight ({number(weight.value)} kg, {when}) is not plausible; "
            "correct it before computing a weight-based dose."
        )
    if weight.stale:
        return None, (
            f"The latest body weight ({number(weight.value)} kg, {when}) is out of date; "
            "re-weigh before computing a weight-based dose."
        )
    return weight.value, None


def mosteller_bsa_m2(height_cm: float, weight_kg: float) -> float:
    """Body surface area by the Mosteller formula: sqrt(height cm x weight kg / 3600)."""
    return math.sqrt(height_cm * weight_kg / 3600.0)


def body_surface_area(
    height: Measurement | None, weight: Measurement | None
) -> tuple[float | None, str]:
    """BSA (Mosteller) from current height and weight, or the reason it cannot be computed."""
    kg, problem = current_weight_kg(weight)
    if kg is None:
        return None, problem or ""
    if height is None or height.value is None:
        return None, "No height is recorded, so body surface area (Mosteller) cannot be computed."
    if not _plausible(height.value, PLAUSIBLE_HEIGHT_CM):
        return None, (
            f"The recorded height ({number(height.value)} cm) is not plausible, so body surface "
            "area (Mosteller) cannot be computed."
        )
    if height.stale:
        return None, "The latest height is out of date, so body surface area cannot be computed."
    assert weight is not None
    bsa = mosteller_bsa_m2(height.value, kg)
    return bsa, (
        f"BSA {number(bsa, 2)} m2 by Mosteller from height {number(height.value)} cm "
        f"({height.reference}) and weight {number(kg)} kg ({weight.reference})"
    )


def _per(regimen: Regimen) -> str:
    return "/day" if regimen.per is Per.DAY else " per dose"


def _maximum(regimen: Regimen) -> float | None:
    return regimen.max_per_day if regimen.per is Per.DAY else regimen.max_per_dose


def regimen_text(regimen: Regimen) -> str:
    """The regimen as written for a clinician, without patient numbers (for the knowledge's own
    regimens, written once at import: the text depends on the regimen alone)."""
    known = _KNOWN_TEXTS.get(id(regimen))
    if known is not None and known[0] is regimen:
        return known[1]
    return _written(regimen)


def _written(regimen: Regimen) -> str:
    unit = regimen.unit
    amount = (
        number(regimen.low, 2)
        if regimen.low == regimen.high
        else f"{number(regimen.low, 2)}-{number(regimen.high, 2)}"
    )
    basis = {Basis.FIXED: unit, Basis.PER_KG: f"{unit}/kg", Basis.PER_M2: f"{unit}/m2"}
    text = f"{amount} {basis[regimen.basis]}{_per(regimen)}"
    if regimen.basis is Basis.FIXED and regimen.low >= 1000 and unit == "mg":
        text = f"{mass(regimen.low, unit)}{_per(regimen)}"
    limit = _maximum(regimen)
    if limit is not None and regimen.basis is not Basis.FIXED:
        text += f" (maximum {mass(limit, unit)}{_per(regimen)})"
    return f"{text} {regimen.course}"


# id -> (the regimen itself, its text): REGIMENS lives as long as the service, so an id here is
# never another object's; the identity check makes that hold whatever calls this.
_KNOWN_TEXTS: dict[int, tuple[Regimen, str]] = {id(r): (r, _written(r)) for r in REGIMENS}


@fast_init
@dataclass(frozen=True)
class DoseAdvice:
    """A regimen computed for one patient, or the plain reason no number can be given."""

    agent: Agent
    regimen: Regimen | None
    low: float | None = None  # per `regimen.per`, in `regimen.unit`
    high: float | None = None
    basis: str = ""  # how it was computed, with the measurements and their references
    problem: str | None = None
    brief: str = ""  # the basis as a card shows it (the evidence list carries the references)
    capped: bool = False
    age_unknown: bool = False

    @property
    def computed(self) -> bool:
        return self.high is not None

    @property
    def amount(self) -> float | None:
        """The single advised amount (the upper end of a range), or None."""
        return self.high

    @property
    def unit(self) -> str:
        return self.regimen.unit if self.regimen else ""

    def figure(self) -> str:
        """ "450 mg/day", "375-750 mg per dose": the computed amount with its period."""
        assert self.regimen is not None and self.low is not None and self.high is not None
        unit = self.regimen.unit
        low, high = mass(self.low, unit), mass(self.high, unit)
        if self.low == self.high:
            amount = high
        elif low.split()[1] == high.split()[1]:
            amount = f"{low.split()[0]}-{high}"  # "15-30 mg", not "15 mg-30 mg"
        else:
            amount = f"{low}-{high}"
        return f"{amount}{_per(self.regimen)}"

    def compact(self) -> str:
        """The figure and course only, for lists of options (or the regimen when not computed)."""
        if self.regimen is None:
            return "no regimen"
        if self.high is None:
            return f"{regimen_text(self.regimen)} (no current weight or height)"
        return f"{self.figure()} {self.regimen.course}"

    def text(self) -> str:
        """The advice as a clinician reads it: figure, basis, cap, course, and any caveat."""
        notes = []
        if self.age_unknown:
            notes.append(
                "age not recorded: dosed by weight as for a child, capped at the adult maximum"
            )
        if self.regimen is not None and not self.regimen.sourced:
            notes.append("no paediatric source: weight-based, adult maximum as the cap")
        caveat = f" ({'; '.join(notes)})" if notes else ""
        if self.regimen is None or self.high is None:
            regimen = f" Regimen: {regimen_text(self.regimen)}." if self.regimen else ""
            return f"no dose computed: {(self.problem or '').rstrip('.')}.{regimen}{caveat}"
        basis = f" ({self.brief})" if self.brief else ""
        return f"{self.figure()} {self.regimen.course}{basis}{caveat}"


def _row(agent: Agent, population: Population, kg: float | None) -> Regimen | None:
    rows = [r for r in regimens_for(agent, population) if r.advised]
    fitting = [r for r in rows if r.applies_to_weight(kg)] or rows
    return fitting[0] if fitting else None


def _adult_cap(agent: Agent, per: Per) -> float | None:
    caps = [
        r.max_per_day if per is Per.DAY else r.max_per_dose
        for r in regimens_for(agent, Population.ADULT)
    ]
    fixed = [
        r.high
        for r in regimens_for(agent, Population.ADULT)
        if r.basis is Basis.FIXED and r.per is per
    ]
    values = [v for v in (*caps, *fixed) if v is not None]
    return max(values) if values else None


def compute(regimen: Regimen, patient: DosingPatient, *, age_unknown: bool = False) -> DoseAdvice:
    """The regimen's amount for this patient (capped at its maximum), or why there is none."""
    agent = regimen.agent
    limit = _maximum(regimen)
    if age_unknown:
        adult = _adult_cap(agent, regimen.per)
        limit = adult if limit is None else min(limit, adult) if adult is not None else limit
    if regimen.basis is Basis.FIXED:
        return DoseAdvice(agent, regimen, regimen.low, regimen.high, age_unknown=age_unknown)
    if regimen.basis is Basis.PER_KG:
        kg, problem = current_weight_kg(patient.weight)
        if kg is None:
            return DoseAdvice(agent, regimen, problem=problem, age_unknown=age_unknown)
        assert patient.weight is not None
        factor, measured = kg, f"{number(kg)} kg ({patient.weight.reference})"
        short = f"{number(kg)} kg"
        per_unit = f"{regimen.unit}/kg"
    else:
        bsa, why = body_surface_area(patient.height, patient.weight)
        if bsa is None:
            return DoseAdvice(agent, regimen, problem=why, age_unknown=age_unknown)
        factor, measured, per_unit = bsa, why, f"{regimen.unit}/m2"
        short = f"BSA {number(bsa, 2)} m2, Mosteller"
    digits = 0 if regimen.unit == "mg" else 1
    low, high = round(regimen.low * factor, digits), round(regimen.high * factor, digits)
    capped = limit is not None and high > limit
    if limit is not None:
        low, high = min(low, limit), min(high, limit)
    each = (
        number(regimen.low, 2)
        if regimen.low == regimen.high
        else f"{number(regimen.low, 2)}-{number(regimen.high, 2)}"
    )
    cap = ""
    if limit is not None:
        cap = (
            f", capped at the maximum {mass(limit, regimen.unit)}{_per(regimen)}"
            if capped
            else f", maximum {mass(limit, regimen.unit)}{_per(regimen)}"
        )
    return DoseAdvice(
        agent,
        regimen,
        low,
        high,
        f"{each} {per_unit} x {measured}{cap}",
        capped=capped,
        age_unknown=age_unknown,
        brief=f"{each} {per_unit} x {short}{cap}",
    )


def advise_for(agent: Agent, facts: PatientFacts) -> DoseAdvice:
    """`advise(agent, DosingPatient.of(facts))`, computed once per agent for one call's facts:
    the rules ask for the same agent's dose more than once a call (a card's lines and its
    suggestion). Kept in the facts' __dict__ beside their fields, as PatientFacts keeps its own
    per-call indexes: frozen facts never change, and a copy (dataclasses.replace) starts empty."""
    kept: dict[Agent, DoseAdvice] = facts.__dict__.setdefault("_dose_advice", {})
    found = kept.get(agent)
    if found is None:
        found = kept[agent] = advise(agent, DosingPatient.of(facts))
    return found


def advise(agent: Agent, patient: DosingPatient) -> DoseAdvice:
    """The advised dose of an agent for this patient: the one computation cards print."""
    population = patient.population
    kg, _ = current_weight_kg(patient.weight)
    if population is None:
        regimen = _row(agent, Population.CHILD, kg)
        if regimen is None:
            return DoseAdvice(agent, None, problem=f"no regimen for {AGENT_NAMES[agent]}")
        if kg is None:
            return DoseAdvice(
                agent,
                regimen,
                problem=(
                    "the patient's age is not recorded and there is no current body weight, "
                    "so no dose can be computed"
                ),
            )
        return compute(regimen, patient, age_unknown=True)
    regimen = _row(agent, population, kg)
    if regimen is None:
        return DoseAdvice(agent, None, problem=f"no regimen for {AGENT_NAMES[agent]}")
    return compute(regimen, patient)


class Verdict(StrEnum):
    WITHIN = "within"
    BELOW = "below"
    NOT_CHECKED = "not-checked"
    ABOVE = "above"
    DANGEROUS = "dangerous"  # more than twice the upper limit


@fast_init
@dataclass(frozen=True)
class DoseCheck:
    """An order's dose against the regimens for this patient."""

    agent: Agent
    verdict: Verdict
    ordered: str  # "1 g/day", "0.45 g/kg/day"
    figure: str | None  # the patient's figure, "67 mg/kg/day", "1565 mg/m2 per dose"
    regimen: str  # the regimen(s) as computed for this patient, or as written
    regimen_row: Regimen  # the regimen the order was judged against (its citation is shown)
    reason: str = ""  # why not checked, or what exceeded
    unreadable: bool = False  # the order states a dose the service could not read


def agent_of(order: TherapyFact) -> Agent | None:
    """The agent whose regimens check this order, or None (not dose-checked)."""
    route = order.route or ""
    if order.therapy is Therapy.CORTICOSTEROID:
        iv = route in ("", "intravenous")
        return (
            Agent.IV_METHYLPREDNISOLONE if order.ingredient == "methylprednisolone" and iv else None
        )
    if order.therapy is Therapy.CYCLOPHOSPHAMIDE:
        return Agent.CYCLOPHOSPHAMIDE_ORAL if route == "oral" else Agent.CYCLOPHOSPHAMIDE_IV
    if order.therapy is Therapy.MYCOPHENOLATE:
        return None if order.ingredient == "mycophenolic acid" else Agent.MYCOPHENOLATE_MOFETIL
    return {
        Therapy.IVIG: Agent.IVIG,
        Therapy.RITUXIMAB: Agent.RITUXIMAB,
        Therapy.AZATHIOPRINE: Agent.AZATHIOPRINE,
        Therapy.CYCLOSPORINE: Agent.CICLOSPORIN,
        Therapy.TOCILIZUMAB: Agent.TOCILIZUMAB,
    }.get(order.therapy)


@fast_init
@dataclass(frozen=True)
class _Ordered:
    """An ordered amount in the regimen's mass unit, or per kg / per m2 as ordered."""

    value: float
    basis: Basis
    lower_bound: bool = False  # per-day total unknown: the single dose is a lower bound


def _ordered(dose: Dose, regimen: Regimen) -> _Ordered | None:
    unit = dose.unit
    base, _, per_what = unit.partition("/")
    basis = {"": Basis.FIXED, "kg": Basis.PER_KG, "m2": Basis.PER_M2}.get(per_what)
    factor = _MASS_TO.get((base, regimen.unit))
    if basis is None or factor is None:
        return None
    if regimen.per is Per.DAY:
        if dose.per_day is not None:
            return _Ordered(dose.per_day * factor, basis)
        return _Ordered(dose.quantity * factor, basis, lower_bound=True)
    return _Ordered(dose.quantity * factor, basis)


def _unit_text(regimen: Regimen, basis: Basis) -> str:
    suffix = {Basis.FIXED: "", Basis.PER_KG: "/kg", Basis.PER_M2: "/m2"}[basis]
    return f"{regimen.unit}{suffix}{_per(regimen)}"


def check_order(
    order: TherapyFact, patient: DosingPatient, *, started_before: bool = False
) -> DoseCheck | None:
    """The order's dose against its regimens for this patient; None for agents not checked."""
    agent = agent_of(order)
    if agent is None:
        return None
    population = patient.population
    age_unknown = population is None
    kg, kg_problem = current_weight_kg(patient.weight)
    rows = [
        r
        for r in regimens_for(agent, population or Population.CHILD)
        if r.applies_to_weight(kg) or kg is None
    ]
    if not rows:
        return None
    name = AGENT_NAMES[agent]
    written = "; ".join(dict.fromkeys(regimen_text(r) for r in rows))
    if order.dose is None and order.dose_text is None:
        return None  # the order states no dose: nothing to check
    if order.dose is None:
        return DoseCheck(
            agent,
            Verdict.NOT_CHECKED,
            order.display or name,
            None,
            written,
            rows[0],
            "the order's dose could not be read (free text only, no quantity)",
            unreadable=True,
        )
    bsa, bsa_problem = body_surface_area(patient.height, patient.weight)
    best: DoseCheck | None = None
    uppers: list[float] = []
    for regimen in rows:
        ordered = _ordered(order.dose, regimen)
        if ordered is None:
            return DoseCheck(
                agent,
                Verdict.NOT_CHECKED,
                f"{number(order.dose.quantity, 2)} {order.dose.unit}",
                None,
                written,
                regimen,
                f"the unit {order.dose.unit!r} cannot be compared with the regimen",
                unreadable=True,
            )
        advice = compute(regimen, patient, age_unknown=age_unknown)
        # The ordered amount as a total and as the patient's figure for this regimen's basis.
        size = {Basis.FIXED: 1.0, Basis.PER_KG: kg, Basis.PER_M2: bsa}
        if ordered.basis is Basis.FIXED:
            total: float | None = ordered.value
        else:
            multiplier = size[ordered.basis]
            total = None if multiplier is None else ordered.value * multiplier
        shown = f"{mass(total, regimen.unit) if total is not None else ''}"
        ordered_text = (
            f"{shown}{_per(regimen)}"
            if ordered.basis is Basis.FIXED
            else f"{number(ordered.value, 2)} {_unit_text(regimen, ordered.basis)}"
        )
        figure = None
        if regimen.basis is not Basis.FIXED and total is not None:
            divisor = size[regimen.basis]
            if divisor:
                figure = f"{number(total / divisor, 2)} {_unit_text(regimen, regimen.basis)}"
        limit = _maximum(regimen)
        if age_unknown:
            adult = _adult_cap(agent, regimen.per)
            limit = adult if limit is None else (min(limit, adult) if adult else limit)
        # Upper limit for this patient: the computed range with tolerance, never above the cap.
        if regimen.basis is Basis.FIXED:
            upper: float | None = regimen.high
            lower: float | None = regimen.low
        elif advice.computed:
            assert advice.high is not None and advice.low is not None
            upper = advice.high * (1 + DOSE_TOLERANCE_FRACTION)
            lower = advice.low * (1 - DOSE_TOLERANCE_FRACTION)
            if advice.capped:
                upper = advice.high
        else:
            upper = lower = None
        if upper is not None and limit is not None:
            upper = min(upper, limit)
        if upper is None and limit is not None:
            upper = limit  # no weight or BSA: the absolute maximum still holds
        if upper is not None:
            uppers.append(upper)
        computed_text = advice.text() if advice.computed else regimen_text(regimen)
        verdict, reason = _judge(total, upper, lower, advice, regimen, ordered.lower_bound)
        if total is None or upper is None:
            reason = advice.problem or kg_problem or bsa_problem
        candidate = DoseCheck(
            agent, verdict, ordered_text, figure, computed_text, regimen, reason or ""
        )
        best = _better(best, candidate)
    assert best is not None
    titration = next((r.titration for r in rows if r.titration), None)
    if (
        best.verdict is Verdict.WITHIN
        and titration is not None
        and not started_before
        and order.dose.per_day is not None
    ):
        regimen = best.regimen_row
        ordered = _ordered(order.dose, regimen)
        if ordered is not None and ordered.basis is Basis.FIXED:
            if ordered.value > titration.start_high:
                return DoseCheck(
                    agent,
                    Verdict.ABOVE,
                    f"{mass(ordered.value, regimen.unit)}/day",
                    None,
                    (
                        f"start at {number(titration.start_low)}-{number(titration.start_high)} "
                        f"{regimen.unit}/day and increase by {number(titration.step)} "
                        f"{regimen.unit} {titration.interval} to {regimen_text(regimen)}"
                    ),
                    regimen,
                    "started without titration: no earlier course is recorded",
                )
    return best


def _judge(
    total: float | None,
    upper: float | None,
    lower: float | None,
    advice: DoseAdvice,
    regimen: Regimen,
    lower_bound: bool,
) -> tuple[Verdict, str | None]:
    """The verdict for one regimen, and why a dose could not be checked against it."""
    if total is None or upper is None:
        return Verdict.NOT_CHECKED, None
    if total > upper:
        dangerous = total > CRITICAL_EXCESS_FACTOR * upper
        return (Verdict.DANGEROUS if dangerous else Verdict.ABOVE), None
    if not advice.computed and regimen.basis is not Basis.FIXED:
        return Verdict.NOT_CHECKED, advice.problem
    if lower is not None and total < lower and not lower_bound:
        return Verdict.BELOW, None
    if lower_bound:
        return Verdict.NOT_CHECKED, "the order's timing does not give a daily total"
    return Verdict.WITHIN, None


_RANK = {
    Verdict.WITHIN: 0,
    Verdict.NOT_CHECKED: 1,  # a regimen that could not be checked may still fit
    Verdict.BELOW: 2,
    Verdict.ABOVE: 3,
    Verdict.DANGEROUS: 4,
}


def _better(current: DoseCheck | None, candidate: DoseCheck) -> DoseCheck:
    """Across an agent's regimens, the order is judged by the one it fits best."""
    if current is None or _RANK[candidate.verdict] < _RANK[current.verdict]:
        return candidate
    return current
