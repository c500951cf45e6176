"""Every dose the service advises or checks: one row per agent, population and regimen.

A regimen row is data, written once: the agent, the population (adult, or child under 18 years),
the amount and its basis (a fixed amount, per kg of current body weight, or per m2 of body
surface area by the Mosteller formula), whether the amount is per day or per dose, the course,
the absolute maxima per dose and per day, titration where the drug is started low, and the
citation. Card text and order checks both read these rows through `cds_service.dosing`, so the
dose a card advises is the dose its own check accepts. The adult regimens come from the seed
summaries and, where verified, their primary sources; the paediatric regimens from the sources
named on each row. Where no paediatric source was found the row is marked `sourced=False`: the
dose is then weight-based with the adult maximum as the cap, and the card says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from cds_service.findings import Citation
from cds_service.frozen import fast_init
from cds_service.knowledge import citations as c

ADULT_AGE_YEARS = 18.0


class Agent(StrEnum):
    IV_METHYLPREDNISOLONE = "iv-methylprednisolone"
    IVIG = "ivig"
    PLASMA_EXCHANGE = "plasma-exchange"
    RITUXIMAB = "rituximab"
    CYCLOPHOSPHAMIDE_IV = "cyclophosphamide-iv"
    CYCLOPHOSPHAMIDE_ORAL = "cyclophosphamide-oral"
    AZATHIOPRINE = "azathioprine"
    MYCOPHENOLATE_MOFETIL = "mycophenolate-mofetil"
    CICLOSPORIN = "ciclosporin"
    TOCILIZUMAB = "tocilizumab"


AGENT_NAMES: Mapping[Agent, str] = MappingProxyType(
    {
        Agent.IV_METHYLPREDNISOLONE: "IV methylprednisolone",
        Agent.IVIG: "IVIG",
        Agent.PLASMA_EXCHANGE: "Plasma exchange",
        Agent.RITUXIMAB: "Rituximab",
        Agent.CYCLOPHOSPHAMIDE_IV: "IV cyclophosphamide",
        Agent.CYCLOPHOSPHAMIDE_ORAL: "Oral cyclophosphamide",
        Agent.AZATHIOPRINE: "Azathioprine",
        Agent.MYCOPHENOLATE_MOFETIL: "Mycophenolate mofetil",
        Agent.CICLOSPORIN: "Ciclosporin",
        Agent.TOCILIZUMAB: "Tocilizumab",
    }
)


class Population(StrEnum):
    ADULT = "adult"  # 18 years and over
    CHILD = "child"  # under 18 years


class Basis(StrEnum):
    FIXED = "fixed"  # the amount itself
    PER_KG = "per-kg"  # per kg of current body weight
    PER_M2 = "per-m2"  # per m2 of body surface area (Mosteller)


class Per(StrEnum):
    DAY = "day"
    DOSE = "dose"


@fast_init
@dataclass(frozen=True)
class Titration:
    """Start low and rise: the start range per day, the step and its interval."""

    start_low: float
    start_high: float
    step: float
    interval: str  # "every 7-14 days"


@fast_init
@dataclass(frozen=True)
class Regimen:
    id: str
    agent: Agent
    population: Population
    name: str  # "pulse", "standard course", "weekly x4"
    basis: Basis
    low: float  # amount per `per`, in `unit` (per kg or per m2 when the basis says so)
    high: float
    unit: str  # "mg" or "g": the mass unit of the amount and of the maxima
    per: Per
    course: str  # "for 3-5 days", "weekly for 4 doses"
    citation: Citation
    max_per_dose: float | None = None  # absolute, in `unit`
    max_per_day: float | None = None  # absolute, in `unit`
    titration: Titration | None = None
    doses_per_day: int = 1  # how a per-day amount is split ("in 2 doses")
    course_days: int | None = None  # a fixed course length, written into suggested orders
    # Weight band (kg) the row applies to, for label dosing that changes with weight.
    min_kg: float | None = None
    below_kg: float | None = None
    sourced: bool = True  # False: no paediatric source found; weight-based, adult cap
    advised: bool = True  # False: a regimen the service only checks, never proposes

    def applies_to_weight(self, kg: float | None) -> bool:
        if kg is None:
            return self.min_kg is None and self.below_kg is None
        return (self.min_kg is None or kg >= self.min_kg) and (
            self.below_kg is None or kg < self.below_kg
        )


A, K = Population.ADULT, Population.CHILD
FIXED, PER_KG, PER_M2 = Basis.FIXED, Basis.PER_KG, Basis.PER_M2
DAY, DOSE = Per.DAY, Per.DOSE

REGIMENS: tuple[Regimen, ...] = (
    # IV methylprednisolone pulse.
    Regimen(
        "ivmp-pulse-adult",
        Agent.IV_METHYLPREDNISOLONE,
        A,
        "pulse",
        FIXED,
        1000,
        1000,
        "mg",
        DAY,
        "for 3-5 days",
        c.UY_2021_TREATMENT,
        max_per_day=1000,
    ),
    Regimen(
        "ivmp-pulse-child",
        Agent.IV_METHYLPREDNISOLONE,
        K,
        "pulse",
        PER_KG,
        30,
        30,
        "mg",
        DAY,
        "for 3-5 days",
        c.KINDERFORMULARIUM_MP,
        max_per_day=1000,
    ),
    # IVIG: 2 g/kg per course; 0.4 g/kg/day for 5 days (children: 5 days preferred over 2).
    Regimen(
        "ivig-5-day-adult",
        Agent.IVIG,
        A,
        "standard course",
        PER_KG,
        0.4,
        0.4,
        "g",
        DAY,
        "for 5 days (2 g/kg per course)",
        c.UY_2021_TREATMENT,
        course_days=5,
    ),
    Regimen(
        "ivig-2-day-adult",
        Agent.IVIG,
        A,
        "high-dose course",
        PER_KG,
        1.0,
        1.0,
        "g",
        DAY,
        "for 2 days (2 g/kg per course)",
        c.UY_2021_TREATMENT,
        advised=False,
        course_days=2,
    ),
    Regimen(
        "ivig-5-day-child",
        Agent.IVIG,
        K,
        "standard course",
        PER_KG,
        0.4,
        0.4,
        "g",
        DAY,
        "for 5 days (2 g/kg per course)",
        c.ONTARIO_IVIG_NMDAR,
        course_days=5,
    ),
    Regimen(
        "ivig-2-day-child",
        Agent.IVIG,
        K,
        "high-dose course",
        PER_KG,
        1.0,
        1.0,
        "g",
        DAY,
        "for 2 days (2 g/kg per course)",
        c.ONTARIO_IVIG_NMDAR,
        advised=False,
        course_days=2,
    ),
    # Rituximab.
    Regimen(
        "rituximab-weekly-adult",
        Agent.RITUXIMAB,
        A,
        "weekly x4",
        PER_M2,
        375,
        375,
        "mg",
        DOSE,
        "weekly for 4 doses",
        c.GERMAN_TABLE_2019,
        max_per_dose=1000,
    ),
    Regimen(
        "rituximab-fixed-adult",
        Agent.RITUXIMAB,
        A,
        "fixed dose",
        FIXED,
        1000,
        1000,
        "mg",
        DOSE,
        "on days 1 and 15",
        c.AE_SECOND_LINE,
        max_per_dose=1000,
    ),
    Regimen(
        "rituximab-weekly-child",
        Agent.RITUXIMAB,
        K,
        "weekly x4",
        PER_M2,
        375,
        375,
        "mg",
        DOSE,
        "weekly for 4 doses",
        c.KINDERFORMULARIUM_RITUXIMAB,
        max_per_dose=1000,
    ),
    # Cyclophosphamide.
    Regimen(
        "cyclophosphamide-iv-adult",
        Agent.CYCLOPHOSPHAMIDE_IV,
        A,
        "monthly pulse",
        PER_M2,
        750,
        750,
        "mg",
        DOSE,
        "monthly",
        c.GERMAN_TABLE_2019,
    ),
    Regimen(
        "cyclophosphamide-iv-range-adult",
        Agent.CYCLOPHOSPHAMIDE_IV,
        A,
        "pulse range",
        PER_M2,
        300,
        1000,
        "mg",
        DOSE,
        "every 2-4 weeks",
        c.SEED_004_REGIMENS,
        advised=False,
    ),
    Regimen(
        "cyclophosphamide-iv-child",
        Agent.CYCLOPHOSPHAMIDE_IV,
        K,
        "monthly pulse",
        PER_M2,
        500,
        1000,
        "mg",
        DOSE,
        "monthly",
        c.STARSHIP_CYCLOPHOSPHAMIDE,
        max_per_dose=1000,
    ),
    Regimen(
        "cyclophosphamide-oral-adult",
        Agent.CYCLOPHOSPHAMIDE_ORAL,
        A,
        "daily",
        PER_KG,
        1,
        2,
        "mg",
        DAY,
        "daily",
        c.SEED_004_REGIMENS,
    ),
    Regimen(
        "cyclophosphamide-oral-child",
        Agent.CYCLOPHOSPHAMIDE_ORAL,
        K,
        "daily",
        PER_KG,
        1,
        2,
        "mg",
        DAY,
        "daily",
        c.SEED_004_REGIMENS,
        sourced=False,
    ),
    # Azathioprine: titrated, never above 150 mg/day.
    Regimen(
        "azathioprine-adult",
        Agent.AZATHIOPRINE,
        A,
        "maintenance target",
        PER_KG,
        1,
        2,
        "mg",
        DAY,
        "daily",
        c.SEED_004_REGIMENS,
        max_per_day=150,
        titration=Titration(25, 50, 25, "every 7-14 days"),
    ),
    Regimen(
        "azathioprine-child",
        Agent.AZATHIOPRINE,
        K,
        "maintenance target",
        PER_KG,
        1,
        3,
        "mg",
        DAY,
        "once daily",
        c.KINDERFORMULARIUM_AZATHIOPRINE,
        max_per_day=150,
        titration=Titration(25, 50, 25, "every 7-14 days"),
    ),
    # Mycophenolate mofetil.
    Regimen(
        "mycophenolate-adult",
        Agent.MYCOPHENOLATE_MOFETIL,
        A,
        "maintenance",
        FIXED,
        1000,
        1000,
        "mg",
        DOSE,
        "twice daily",
        c.SEED_004_REGIMENS,
        max_per_dose=1000,
        max_per_day=2000,
        doses_per_day=2,
    ),
    Regimen(
        "mycophenolate-child",
        Agent.MYCOPHENOLATE_MOFETIL,
        K,
        "maintenance",
        PER_M2,
        600,
        600,
        "mg",
        DOSE,
        "twice daily",
        c.MMF_LABEL_PAEDIATRIC,
        max_per_dose=1000,
        max_per_day=2000,
        doses_per_day=2,
    ),
    # Ciclosporin.
    Regimen(
        "ciclosporin-adult",
        Agent.CICLOSPORIN,
        A,
        "induction",
        PER_KG,
        2.5,
        5,
        "mg",
        DAY,
        "daily in 2 doses (5 mg/kg/day, then 2.5-3 mg/kg/day)",
        c.SEED_004_REGIMENS,
        doses_per_day=2,
    ),
    Regimen(
        "ciclosporin-child",
        Agent.CICLOSPORIN,
        K,
        "induction",
        PER_KG,
        3,
        5,
        "mg",
        DAY,
        "daily in 2 doses",
        c.KINDERFORMULARIUM_CICLOSPORIN,
        doses_per_day=2,
    ),
    # Tocilizumab (label dosing; no consensus dose in ANE or encephalitis).
    Regimen(
        "tocilizumab-adult",
        Agent.TOCILIZUMAB,
        A,
        "single infusion",
        PER_KG,
        8,
        8,
        "mg",
        DOSE,
        "per infusion",
        c.TOCILIZUMAB_LABEL,
        max_per_dose=800,
        advised=False,  # checked only: no consensus dose in ANE or encephalitis
    ),
    Regimen(
        "tocilizumab-child-under-30kg",
        Agent.TOCILIZUMAB,
        K,
        "single infusion",
        PER_KG,
        12,
        12,
        "mg",
        DOSE,
        "per infusion",
        c.TOCILIZUMAB_LABEL,
        max_per_dose=800,
        advised=False,  # checked only: no consensus dose in ANE or encephalitis
        below_kg=30,
    ),
    Regimen(
        "tocilizumab-child-30kg-and-over",
        Agent.TOCILIZUMAB,
        K,
        "single infusion",
        PER_KG,
        8,
        8,
        "mg",
        DOSE,
        "per infusion",
        c.TOCILIZUMAB_LABEL,
        max_per_dose=800,
        advised=False,  # checked only: no consensus dose in ANE or encephalitis
        min_kg=30,
    ),
)

REGIMENS_BY_ID: Mapping[str, Regimen] = MappingProxyType({r.id: r for r in REGIMENS})

# Plasma exchange is dosed in sessions, not mass: the suggestion orders this course, and the
# apheresis team sets the exchange volume (1-1.5 plasma volumes per session).
PLEX_SESSIONS = 5
PLEX_INTERVAL_DAYS = 2
PLEX_SESSIONS_RANGE = "5-10 sessions every other day"
PLEX_CITATION = c.ABBOUD_2021_AE
PLEX_CHILD_CITATION = c.EYRE_2019_PLEX

# An ordered dose within 10% of a per-kg or per-m2 regimen counts as that regimen (vial rounding,
# rounding of weight and BSA); the tolerance never lifts a dose above an absolute maximum. A
# design choice, not a guideline. More than twice the regimen's upper limit is critical.
DOSE_TOLERANCE_FRACTION = 0.10
CRITICAL_EXCESS_FACTOR = 2.0


# Each agent's regimens for each population, in table order: dosing asks for them several times
# a call, and the table never changes while the service runs.
_BY_AGENT_AND_POPULATION: Mapping[tuple[Agent, Population], tuple[Regimen, ...]] = MappingProxyType(
    {
        (agent, population): tuple(
            r for r in REGIMENS if r.agent is agent and r.population is population
        )
        for agent in Agent
        for population in Population
    }
)


def regimens_for(agent: Agent, population: Population) -> tuple[Regimen, ...]:
    return _BY_AGENT_AND_POPULATION.get((agent, population), ())
