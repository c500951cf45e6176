"""Dosing safety: every dose advised or checked is right for the patient's age, weight and size.

The figures here are the ones the issue's closing note tabulates: the advised dose per agent for a
15 kg, a 40 kg and a 70 kg patient, the orders a neurologist saw pass silently, and the
boundaries (17 years 364 days against 18 years; 29.9 against 30 kg for tocilizumab; 33.3 kg where
30 mg/kg reaches the 1 g cap; exactly at a maximum and just above it).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cds_service.dosing import (
    DosingPatient,
    Verdict,
    advise,
    check_order,
    compute,
    regimen_text,
)
from cds_service.facts.model import Dose, LabKind, Measurement, Therapy, TherapyFact
from cds_service.facts.patient import age_years
from cds_service.knowledge.regimens import REGIMENS, REGIMENS_BY_ID, Agent, Basis, Population

WHEN = datetime(2026, 3, 1, 12, tzinfo=UTC)


def weight(kg: float, *, stale: bool = False) -> Measurement:
    return Measurement(
        LabKind.WEIGHT, "Observation/w", WHEN, "final", value=kg, unit="kg", stale=stale
    )


def height(cm: float) -> Measurement:
    return Measurement(LabKind.HEIGHT, "Observation/h", WHEN, "final", value=cm, unit="cm")


def patient(age: float | None, kg: float | None, cm: float | None = None) -> DosingPatient:
    return DosingPatient(
        age, weight(kg) if kg is not None else None, height(cm) if cm is not None else None
    )


def order(
    therapy: Therapy,
    quantity: float,
    unit: str = "mg",
    per_day: float | None = None,
    *,
    ingredient: str | None = None,
    route: str | None = "intravenous",
    text: str | None = None,
) -> TherapyFact:
    return TherapyFact(
        therapy,
        "MedicationRequest/draft",
        "MedicationRequest",
        "draft",
        WHEN,
        False,
        ingredient=ingredient,
        route=route,
        dose=Dose(quantity, unit, per_day),
        dose_text=text,
        is_draft_order=True,
    )


def ivmp(mg_per_day: float) -> TherapyFact:
    return order(
        Therapy.CORTICOSTEROID, mg_per_day, "mg", mg_per_day, ingredient="methylprednisolone"
    )


# -- the regimen table --------------------------------------------------------------------------


def test_every_regimen_has_a_citation_an_amount_and_a_sane_maximum() -> None:
    for regimen in REGIMENS:
        assert regimen.citation.label and regimen.citation.evidence_note, regimen.id
        assert 0 < regimen.low <= regimen.high, regimen.id
        assert regimen.unit in ("mg", "g") and regimen.course
        for limit in (regimen.max_per_dose, regimen.max_per_day):
            assert limit is None or limit > 0
    for agent in Agent:
        if agent is Agent.PLASMA_EXCHANGE:
            continue  # dosed in sessions (regimens.PLEX_SESSIONS), not mass
        for population in Population:
            assert [r for r in REGIMENS if r.agent is agent and r.population is population], (
                agent,
                population,
            )


def test_paediatric_rows_never_exceed_the_adult_maximum() -> None:
    for child in (r for r in REGIMENS if r.population is Population.CHILD):
        adult_caps = [
            r.max_per_dose or r.max_per_day
            for r in REGIMENS
            if r.agent is child.agent and r.population is Population.ADULT
        ]
        caps = [c for c in adult_caps if c]
        mine = child.max_per_dose or child.max_per_day
        if caps and mine:
            assert mine <= max(caps), child.id


# -- advised doses for 15, 40 and 70 kg (the closing note's table) ------------------------------

ADVISED = [
    # agent, (age, kg, cm), advised figure
    (Agent.IV_METHYLPREDNISOLONE, (5, 15, 98), "450 mg/day"),
    (Agent.IV_METHYLPREDNISOLONE, (12, 40, 150), "1 g/day"),
    (Agent.IV_METHYLPREDNISOLONE, (40, 70, 170), "1 g/day"),
    (Agent.IVIG, (5, 15, 98), "6 g/day"),
    (Agent.IVIG, (12, 40, 150), "16 g/day"),
    (Agent.IVIG, (40, 70, 170), "28 g/day"),
    (Agent.RITUXIMAB, (5, 15, 98), "240 mg per dose"),
    (Agent.RITUXIMAB, (12, 40, 150), "484 mg per dose"),
    (Agent.RITUXIMAB, (40, 70, 170), "682 mg per dose"),
    (Agent.CYCLOPHOSPHAMIDE_IV, (5, 15, 98), "320-639 mg per dose"),
    (Agent.CYCLOPHOSPHAMIDE_IV, (12, 40, 150), "645 mg-1 g per dose"),
    (Agent.CYCLOPHOSPHAMIDE_IV, (40, 70, 170), "1.36 g per dose"),
    (Agent.CYCLOPHOSPHAMIDE_ORAL, (5, 15, 98), "15-30 mg/day"),
    (Agent.CYCLOPHOSPHAMIDE_ORAL, (12, 40, 150), "40-80 mg/day"),
    (Agent.CYCLOPHOSPHAMIDE_ORAL, (40, 70, 170), "70-140 mg/day"),
    (Agent.AZATHIOPRINE, (5, 15, 98), "15-45 mg/day"),
    (Agent.AZATHIOPRINE, (12, 40, 150), "40-120 mg/day"),
    (Agent.AZATHIOPRINE, (40, 70, 170), "70-140 mg/day"),
    (Agent.MYCOPHENOLATE_MOFETIL, (5, 15, 98), "383 mg per dose"),
    (Agent.MYCOPHENOLATE_MOFETIL, (12, 40, 150), "775 mg per dose"),
    (Agent.MYCOPHENOLATE_MOFETIL, (40, 70, 170), "1 g per dose"),
    (Agent.CICLOSPORIN, (5, 15, 98), "45-75 mg/day"),
    (Agent.CICLOSPORIN, (12, 40, 150), "120-200 mg/day"),
    (Agent.CICLOSPORIN, (40, 70, 170), "175-350 mg/day"),
]


@pytest.mark.parametrize(("agent", "who", "figure"), ADVISED, ids=lambda v: str(v))
def test_advised_dose_for_15_40_and_70_kg(
    agent: Agent, who: tuple[float, float, float], figure: str
) -> None:
    advice = advise(agent, patient(*who))
    assert advice.computed and advice.figure() == figure, advice.text()
    # the advised dose passes the same patient's dose check
    assert advice.regimen is not None and advice.high is not None


def test_the_advised_dose_never_fails_its_own_check() -> None:
    for agent, who, _ in ADVISED:
        if agent is Agent.PLASMA_EXCHANGE:
            continue
        p = patient(*who)
        advice = advise(agent, p)
        assert advice.regimen is not None and advice.high is not None
        per_day = advice.high * (
            advice.regimen.doses_per_day if advice.regimen.per.value == "dose" else 1
        )
        therapy = {
            Agent.IV_METHYLPREDNISOLONE: Therapy.CORTICOSTEROID,
            Agent.IVIG: Therapy.IVIG,
            Agent.RITUXIMAB: Therapy.RITUXIMAB,
            Agent.CYCLOPHOSPHAMIDE_IV: Therapy.CYCLOPHOSPHAMIDE,
            Agent.CYCLOPHOSPHAMIDE_ORAL: Therapy.CYCLOPHOSPHAMIDE,
            Agent.AZATHIOPRINE: Therapy.AZATHIOPRINE,
            Agent.MYCOPHENOLATE_MOFETIL: Therapy.MYCOPHENOLATE,
            Agent.CICLOSPORIN: Therapy.CYCLOSPORINE,
        }[agent]
        route = "oral" if agent is Agent.CYCLOPHOSPHAMIDE_ORAL else "intravenous"
        ordered = order(
            therapy,
            advice.high,
            advice.regimen.unit,
            per_day,
            ingredient="methylprednisolone" if agent is Agent.IV_METHYLPREDNISOLONE else None,
            route=route,
        )
        check = check_order(ordered, p, started_before=True)
        assert check is not None and check.verdict is Verdict.WITHIN, (agent, who, check)


# -- what the neurologist on call saw -----------------------------------------------------------


def test_autoimmune_encephalitis_5_year_old_15_kg_gets_a_weight_based_pulse() -> None:
    text = advise(Agent.IV_METHYLPREDNISOLONE, patient(5, 15)).text()
    assert text.startswith("450 mg/day for 3-5 days (30 mg/kg x 15 kg")
    assert "maximum 1 g/day" in text and "1-2 mg/kg" not in text


def test_ane_in_a_40_kg_child_is_capped_at_1_g_not_1200_mg() -> None:
    advice = advise(Agent.IV_METHYLPREDNISOLONE, patient(12, 40))
    assert advice.high == 1000 and advice.capped
    assert "capped at the maximum 1 g/day" in advice.text()
    assert check_order(ivmp(1000), patient(12, 40)).verdict is Verdict.WITHIN
    assert check_order(ivmp(1200), patient(12, 40)).verdict is Verdict.ABOVE


def test_age_unknown_with_a_weight_is_weight_based_capped_and_says_so() -> None:
    advice = advise(Agent.IV_METHYLPREDNISOLONE, patient(None, 14))
    assert advice.high == 420 and advice.age_unknown
    assert "age not recorded" in advice.text()
    big = advise(Agent.IV_METHYLPREDNISOLONE, patient(None, 80))
    assert big.high == 1000  # the adult maximum, never 2.4 g


def test_no_age_and_no_weight_gives_no_number_said_plainly() -> None:
    advice = advise(Agent.IV_METHYLPREDNISOLONE, patient(None, None))
    assert not advice.computed and "age is not recorded" in advice.text()
    assert "mg/day for" not in advice.text().split("Regimen:")[0]


@pytest.mark.parametrize(
    ("name", "ordered", "who", "verdict"),
    [
        ("IVMP 1000 mg, 15 kg child", ivmp(1000), (5, 15, 98), Verdict.DANGEROUS),
        (
            "rituximab 1000 mg, 15 kg / 98 cm child",
            order(Therapy.RITUXIMAB, 1000),
            (5, 15, 98),
            Verdict.DANGEROUS,
        ),
        (
            "azathioprine 150 mg/day at 45 kg",
            order(Therapy.AZATHIOPRINE, 150, "mg", 150, route="oral"),
            (40, 45, None),
            Verdict.ABOVE,
        ),
        (
            "azathioprine 160 mg/day at 90 kg",
            order(Therapy.AZATHIOPRINE, 160, "mg", 160, route="oral"),
            (40, 90, None),
            Verdict.ABOVE,
        ),
        (
            "cyclophosphamide 3 g IV at 45 kg (child)",
            order(Therapy.CYCLOPHOSPHAMIDE, 3, "g"),
            (14, 45, None),
            Verdict.DANGEROUS,
        ),
        (
            "ciclosporin 1000 mg/day at 45 kg",
            order(Therapy.CYCLOSPORINE, 500, "mg", 1000, route="oral"),
            (40, 45, None),
            Verdict.DANGEROUS,
        ),
    ],
)
def test_orders_that_passed_silently_are_now_flagged(
    name: str, ordered: TherapyFact, who: tuple[float, float, float | None], verdict: Verdict
) -> None:
    check = check_order(ordered, patient(*who), started_before=True)
    assert check is not None and check.verdict is verdict, (name, check)
    assert check.figure or check.verdict is Verdict.DANGEROUS


def test_rituximab_figure_is_named_per_m2() -> None:
    check = check_order(order(Therapy.RITUXIMAB, 1000), patient(5, 15, 98))
    assert check is not None and check.figure == "1564.92 mg/m2 per dose"


def test_azathioprine_started_at_150_mg_without_titration_is_a_warning() -> None:
    start = order(Therapy.AZATHIOPRINE, 100, "mg", 100, route="oral")
    check = check_order(start, patient(40, 70))
    assert check is not None and check.verdict is Verdict.ABOVE
    assert "titration" in check.reason and "25-50 mg/day" in check.regimen
    continued = check_order(start, patient(40, 70), started_before=True)
    assert continued is not None and continued.verdict is Verdict.WITHIN


def test_tolerance_never_lifts_a_dose_above_an_absolute_maximum() -> None:
    at_90kg = patient(40, 90)
    assert (
        check_order(
            order(Therapy.AZATHIOPRINE, 150, "mg", 150), at_90kg, started_before=True
        ).verdict
        is Verdict.WITHIN
    )
    assert (
        check_order(
            order(Therapy.AZATHIOPRINE, 151, "mg", 151), at_90kg, started_before=True
        ).verdict
        is Verdict.ABOVE
    )


def test_an_unreadable_dose_says_it_was_not_checked() -> None:
    free_text = TherapyFact(
        Therapy.RITUXIMAB,
        "MedicationRequest/d",
        "MedicationRequest",
        "draft",
        WHEN,
        False,
        dose_text="as per protocol",
        is_draft_order=True,
    )
    check = check_order(free_text, patient(40, 70, 170))
    assert check is not None and check.verdict is Verdict.NOT_CHECKED and check.unreadable
    odd_unit = check_order(order(Therapy.RITUXIMAB, 2, "vial"), patient(40, 70, 170))
    assert odd_unit is not None and odd_unit.verdict is Verdict.NOT_CHECKED


# -- boundaries --------------------------------------------------------------------------------


def test_17_years_364_days_is_a_child_and_18_years_an_adult() -> None:
    assert age_years({"birthDate": "2008-03-02"}, WHEN) == pytest.approx(17.99)
    assert age_years({"birthDate": "2008-03-01"}, WHEN) == 18.0
    child = DosingPatient(age_years({"birthDate": "2008-03-02"}, WHEN), weight(50), None)
    adult = DosingPatient(age_years({"birthDate": "2008-03-01"}, WHEN), weight(50), None)
    assert child.population is Population.CHILD and adult.population is Population.ADULT
    assert advise(Agent.IV_METHYLPREDNISOLONE, child).regimen.id == "ivmp-pulse-child"
    assert advise(Agent.IV_METHYLPREDNISOLONE, adult).regimen.id == "ivmp-pulse-adult"


def test_a_partial_birth_date_never_overstates_age() -> None:
    # "2008" could be 1 January or 31 December 2008: read as the latest, 17 years on 2026-03-01
    assert age_years({"birthDate": "2008"}, WHEN) == pytest.approx(17.16)
    assert age_years({"birthDate": "2030-01-01"}, WHEN) is None


@pytest.mark.parametrize(("kg", "mg"), [(33.3, 999), (33.4, 1000), (40, 1000)])
def test_30_mg_per_kg_reaches_the_1_g_cap_at_33_3_kg(kg: float, mg: float) -> None:
    assert advise(Agent.IV_METHYLPREDNISOLONE, patient(10, kg)).high == mg


@pytest.mark.parametrize(
    ("kg", "row"),
    [(29.9, "tocilizumab-child-under-30kg"), (30.0, "tocilizumab-child-30kg-and-over")],
)
def test_tocilizumab_weight_band_changes_at_30_kg(kg: float, row: str) -> None:
    dose = 12 * kg if kg < 30 else 8 * kg
    check = check_order(order(Therapy.TOCILIZUMAB, round(dose)), patient(10, kg))
    assert check is not None and check.verdict is Verdict.WITHIN and check.regimen_row.id == row


def test_exactly_at_the_maximum_passes_and_just_above_is_flagged() -> None:
    adult = patient(40, 70, 170)
    assert check_order(ivmp(1000), adult).verdict is Verdict.WITHIN
    assert check_order(ivmp(1001), adult).verdict is Verdict.ABOVE
    assert check_order(ivmp(2001), adult).verdict is Verdict.DANGEROUS
    assert check_order(order(Therapy.TOCILIZUMAB, 800), patient(40, 110)).verdict is Verdict.WITHIN
    assert check_order(order(Therapy.TOCILIZUMAB, 801), patient(40, 110)).verdict is Verdict.ABOVE


@pytest.mark.parametrize("kg", [-80.0, 0.0, 8000.0, float("nan"), float("inf")])
def test_implausible_weights_never_become_doses(kg: float) -> None:
    advice = advise(Agent.IVIG, DosingPatient(40, weight(kg), None))
    assert not advice.computed and "not plausible" in (advice.problem or "")


def test_a_stale_weight_or_missing_height_gives_no_number() -> None:
    stale = DosingPatient(5, weight(15, stale=True), height(98))
    assert not advise(Agent.IV_METHYLPREDNISOLONE, stale).computed
    assert "out of date" in advise(Agent.IV_METHYLPREDNISOLONE, stale).text()
    no_height = advise(Agent.RITUXIMAB, patient(5, 15))
    assert not no_height.computed and "height" in no_height.text()


def test_regimens_are_written_from_the_table() -> None:
    assert regimen_text(REGIMENS_BY_ID["ivmp-pulse-child"]) == (
        "30 mg/kg/day (maximum 1 g/day) for 3-5 days"
    )
    assert regimen_text(REGIMENS_BY_ID["ivmp-pulse-adult"]) == "1 g/day for 3-5 days"
    assert compute(REGIMENS_BY_ID["ivig-2-day-adult"], patient(40, 70)).figure() == "70 g/day"
    assert all(r.basis in Basis for r in REGIMENS)
