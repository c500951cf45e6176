"""GBS steroid card in context: IVIG/PLEX already under way, another steroid indication, timing.

A steroid with IVIG or plasma exchange already ordered or given in this episode is a warning; a
steroid with another coded indication is not the GBS pitfall and nothing proposes deleting it; the
treatment windows (AAN 2003: IVIg within 2 or possibly 4 weeks of onset, PE within 4 weeks) shape
what the card proposes.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from cds_service.facts.model import (
    CodeRef,
    ConditionCategory,
    ConditionFact,
    LabKind,
    Therapy,
    TherapyFact,
)
from cds_service.findings import Finding, ProposeOrder, ProposeRemoval, Urgency
from cds_service.knowledge import ICD10CM, SNOMED
from cds_service.knowledge.conditions import categories_for
from cds_service.rules import evaluate, load_rules
from cds_service.rules.guillain_barre import RULE_ID
from tests.test_rules_scenarios import C, cond, facts, lab, steroid, therapy

GBS_RULE = load_rules()[RULE_ID]


def _gbs(days: float | None = 10) -> ConditionFact:
    c = cond(C.GUILLAIN_BARRE, onset_hours=(days or 0) * 24)
    return c if days is not None else replace(c, onset=None)


def _run(
    *conditions: ConditionFact,
    history: tuple[TherapyFact, ...] = (),
    extra_drafts: tuple[TherapyFact, ...] = (),
    hook: str = "order-sign",
) -> list[Finding]:
    f = facts(
        hook=hook,
        conditions=conditions,
        labs=(lab(LabKind.WEIGHT, 70),),
        drafts=(steroid(draft=True), *extra_drafts),
        history=history,
    )
    return evaluate(f, (GBS_RULE,))


def _indication(code: str, system: str = ICD10CM, *, active: bool = True) -> ConditionFact:
    (category,) = categories_for(system, code)
    return ConditionFact(
        category,
        CodeRef(system, code),
        f"Condition/{code}",
        active,
        "active" if active else "resolved",
        "confirmed",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("code", "system"),
    [
        ("E27.1", ICD10CM),
        ("E27.49", ICD10CM),  # through the E27.4 family
        ("E23.0", ICD10CM),
        ("Z79.52", ICD10CM),
        ("J45.901", ICD10CM),
        ("J44.1", ICD10CM),
        ("281239006", SNOMED),
    ],
)
def test_a_steroid_with_another_coded_indication_is_silent(code: str, system: str) -> None:
    assert categories_for(system, code) == {ConditionCategory.STEROID_INDICATION}
    assert _run(_gbs(), _indication(code, system)) == []
    assert _run(_gbs(), _indication(code, system), hook="order-select") == []


def test_inhaled_steroid_use_and_a_resolved_exacerbation_are_not_indications() -> None:
    assert not categories_for(ICD10CM, "Z79.51")
    (found,) = _run(_gbs(), _indication("J45.901", active=False))
    assert found.urgency is Urgency.CRITICAL


def test_g0490_is_not_autoimmune_encephalitis() -> None:
    assert categories_for(ICD10CM, "G04.90") == {ConditionCategory.ENCEPHALITIS_UNSPECIFIED}
    assert ConditionCategory.AUTOIMMUNE_ENCEPHALITIS in categories_for(ICD10CM, "G04.81")


def test_ivig_given_in_this_episode_makes_it_a_warning_with_removal_only() -> None:
    (found,) = _run(_gbs(10), history=(therapy(Therapy.IVIG, days_ago=5, completed=True),))
    assert found.urgency is Urgency.WARNING
    assert [type(s) for s in found.suggestions] == [ProposeRemoval]


def test_plasma_exchange_being_ordered_with_it_makes_it_a_warning() -> None:
    (found,) = _run(_gbs(10), extra_drafts=(therapy(Therapy.PLEX, draft=True),))
    assert found.urgency is Urgency.WARNING


def test_ivig_from_an_earlier_episode_does_not_count() -> None:
    (found,) = _run(_gbs(10), history=(therapy(Therapy.IVIG, days_ago=400, completed=True),))
    assert found.urgency is Urgency.CRITICAL
    assert any(isinstance(s, ProposeOrder) for s in found.suggestions)


def test_within_two_weeks_both_treatments_are_proposed_without_a_timing_note() -> None:
    (found,) = _run(_gbs(10))
    assert {s.therapy for s in found.suggestions if isinstance(s, ProposeOrder)} == {
        Therapy.IVIG,
        Therapy.PLEX,
    }
    assert "Onset" not in found.detail


def test_between_two_and_four_weeks_ivig_is_possibly_beneficial() -> None:
    (found,) = _run(_gbs(20))
    assert "possibly" in found.detail and "20 days" in found.detail
    assert any(isinstance(s, ProposeOrder) for s in found.suggestions)


def test_after_four_weeks_no_course_is_proposed_and_neurology_is_asked() -> None:
    (found,) = _run(_gbs(29))
    assert found.urgency is Urgency.CRITICAL
    assert not any(isinstance(s, ProposeOrder) for s in found.suggestions)
    assert [type(s) for s in found.suggestions] == [ProposeRemoval]
    assert "neurology" in found.summary and "29 days" in found.detail


def test_unknown_onset_says_the_windows() -> None:
    (found,) = _run(_gbs(None))
    assert "Onset is not recorded" in found.detail
    assert any(isinstance(s, ProposeOrder) for s in found.suggestions)
