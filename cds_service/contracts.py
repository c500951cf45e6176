"""Typed names for the contracts between layers: hooks, prefetch keys and card groups.

A prefetch key is written in three places that must agree: the service definitions in `hooks/`
(what the EHR is asked for), the fact builders (what is read) and the prefetch templates below
(what is asked). `cds-service check` fails when a builder reads a key no service declares, or a
service declares one that nothing reads. The Observation template is generated from the lab table
(`cds_service.knowledge.labs`), so adding a lab is one row there.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from cds_service.knowledge import LOINC
from cds_service.knowledge.labs import observation_codes


class Hook(StrEnum):
    PATIENT_VIEW = "patient-view"
    ORDER_SELECT = "order-select"
    ORDER_SIGN = "order-sign"


ORDER_HOOKS = (Hook.ORDER_SELECT, Hook.ORDER_SIGN)
ALL_HOOKS = (Hook.PATIENT_VIEW, *ORDER_HOOKS)


class PrefetchKey(StrEnum):
    PATIENT = "patient"
    CONDITIONS = "conditions"
    OBSERVATIONS = "observations"
    MEDICATIONS = "medications"
    ADMINISTRATIONS = "administrations"
    PROCEDURES = "procedures"
    SERVICE_REQUESTS = "serviceRequests"


class CardGroup(StrEnum):
    """Findings that share a group become one card (cds_service.cards)."""

    AE_TREATMENT = "ae-treatment"
    ANE = "ane"
    CSF_GATE = "csf-gate"
    GBS_STEROID = "gbs-steroid"
    ORDER_CHOICE = "order-choice"
    ORDER_SAFETY = "order-safety"
    PLEXOPATHY = "plexopathy"


_PATIENT = "{{context.patientId}}"


def observation_template() -> str:
    """The Observation search: exactly the LOINC codes of the lab table, newest first."""
    codes = ",".join(f"{LOINC}|{code}" for code in observation_codes())
    return f"Observation?patient={_PATIENT}&code={codes}&_sort=-date&_count=200"


# spec "Prefetch Template": reads and type-level searches with the context's patient id only.
PREFETCH_TEMPLATES: Mapping[PrefetchKey, str] = MappingProxyType(
    {
        PrefetchKey.PATIENT: f"Patient/{_PATIENT}",
        PrefetchKey.CONDITIONS: (
            f"Condition?patient={_PATIENT}&clinical-status=active,recurrence,relapse&_count=100"
        ),
        PrefetchKey.OBSERVATIONS: observation_template(),
        PrefetchKey.MEDICATIONS: f"MedicationRequest?patient={_PATIENT}&_count=100",
        PrefetchKey.ADMINISTRATIONS: f"MedicationAdministration?patient={_PATIENT}&_count=100",
        PrefetchKey.PROCEDURES: f"Procedure?patient={_PATIENT}&_count=100",
        PrefetchKey.SERVICE_REQUESTS: f"ServiceRequest?patient={_PATIENT}&_count=100",
    }
)
