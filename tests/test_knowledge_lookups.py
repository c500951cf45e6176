"""Dosing's lookups into the regimen table, kept at import, answer as the plain definitions do."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from cds_service import dosing
from cds_service.facts.model import LabFact, LabKind, Measurement, PatientFacts
from cds_service.knowledge.regimens import REGIMENS, Agent, Population, regimens_for

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def facts_for(age: float, weight_kg: float) -> PatientFacts:
    weight = Measurement(
        LabKind.WEIGHT, "Observation/w", NOW, "final", value=weight_kg, unit="kg", age_hours=2.0
    )
    height = Measurement(
        LabKind.HEIGHT, "Observation/h", NOW, "final", value=170.0, unit="cm", age_hours=2.0
    )
    labs = {
        LabKind.WEIGHT: LabFact(LabKind.WEIGHT, weight, (), (weight,)),
        LabKind.HEIGHT: LabFact(LabKind.HEIGHT, height, (), (height,)),
    }
    return PatientFacts("p1", NOW, age_years=age, labs=labs)


def test_regimens_for_is_the_table_filtered_by_agent_and_population_in_table_order() -> None:
    for agent in Agent:
        for population in Population:
            plain = tuple(r for r in REGIMENS if r.agent is agent and r.population is population)
            assert regimens_for(agent, population) == plain
    assert sum(len(regimens_for(a, p)) for a in Agent for p in Population) == len(REGIMENS)


def test_a_regimen_text_is_written_once_for_the_table_and_fresh_for_any_other_regimen() -> None:
    for regimen in REGIMENS:
        assert dosing.regimen_text(regimen) == dosing._written(regimen)
    # A regimen built elsewhere (a copy with another dose, as a test or a change would make)
    # is never answered with the table's text, though it is equal in every other field.
    for regimen in REGIMENS:
        other = dataclasses.replace(regimen, low=regimen.low * 2, high=regimen.high * 2)
        assert dosing.regimen_text(other) == dosing._written(other)
        assert dosing.regimen_text(other) != dosing.regimen_text(regimen)
        same = dataclasses.replace(regimen)
        assert same is not regimen and dosing.regimen_text(same) == dosing.regimen_text(regimen)


def test_advice_for_a_call_is_the_advice_for_its_patient_and_never_outlives_the_facts() -> None:
    A = Agent
    facts = facts_for(age=40.0, weight_kg=70.0)
    for agent in A:
        first = dosing.advise_for(agent, facts)
        assert first == dosing.advise(agent, dosing.DosingPatient.of(facts))
        assert dosing.advise_for(agent, facts) is first  # once per agent for the call's facts
    copy = dataclasses.replace(facts)  # a copy starts without the call's kept advice
    assert "_dose_advice" not in copy.__dict__
    child = facts_for(age=6.0, weight_kg=20.0)
    assert dosing.advise_for(A.IVIG, child) == dosing.advise(A.IVIG, dosing.DosingPatient.of(child))
    assert dosing.advise_for(A.IVIG, child).high != dosing.advise_for(A.IVIG, facts).high
    assert child == dataclasses.replace(child)  # the kept advice is not a field: equality holds
