"""Dosing's lookups into the regimen table, kept at import, answer as the plain definitions do."""

from __future__ import annotations

import dataclasses

from cds_service import dosing
from cds_service.knowledge.regimens import REGIMENS, Agent, Population, regimens_for


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
