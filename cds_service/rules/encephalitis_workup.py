"""Unspecified encephalitis (ICD-10-CM G04.90) is not autoimmune encephalitis: say what is missing.

Clinical source: Graus et al. 2016 (Lancet Neurol 15:391), whose criteria for possible autoimmune
encephalitis need subacute onset (under 3 months) of memory deficit, altered mental status or
psychiatric symptoms; at least one of new focal CNS findings, unexplained seizures, CSF white
cells above 5 per microlitre or MRI suggestive of encephalitis; and reasonable exclusion of other
causes. Antibody results are not needed for the possible level. On patient-view, an active
"encephalitis, unspecified" with no autoimmune or necrotizing encephalopathy and no CNS infection
coded gets one info card listing what the record lacks: CSF cell count, CSF infection studies,
neuronal antibody testing; MRI and EEG are not read by this service, and the card says so. It is
silent when an AE or ANE diagnosis is also coded (the AE and ANE rules take over) and when
infection is found in CSF or coded (the CSF infection gate speaks then).
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.contracts import CardGroup, Hook
from cds_service.facts.model import (
    ConditionCategory,
    CsfInfectionStatus,
    LabKind,
    PatientFacts,
    Qualitative,
)
from cds_service.findings import Finding, Urgency
from cds_service.knowledge.citations import GRAUS_2016_AE_CRITERIA, TOPIC_AE
from cds_service.rules import rule
from cds_service.rules.support.evidence import (
    CSF_KINDS,
    not_retrieved,
    of_condition,
    of_lab,
    of_measurement,
)

RULE_ID = "encephalitis-unspecified-workup"
_EXPLAINED_BY = (
    ConditionCategory.AUTOIMMUNE_ENCEPHALITIS,
    ConditionCategory.ACUTE_NECROTIZING_ENCEPHALOPATHY,
    ConditionCategory.CNS_INFECTION,
)


@rule(
    RULE_ID,
    hooks=(Hook.PATIENT_VIEW,),
    seed="000",
    fires=("enc-unspec", "enc-unspec-csf"),
    silent=("enc-unspec-ae", "enc-unspec-hsv", "ae-no-csf", "none-pv"),
)
def is_unspecified_encephalitis_worked_up(facts: PatientFacts) -> Iterator[Finding]:
    unspecified = facts.active(ConditionCategory.ENCEPHALITIS_UNSPECIFIED)
    if not unspecified or any(facts.has_active(c) for c in _EXPLAINED_BY):
        return
    if facts.csf_status is CsfInfectionStatus.INFECTION_FOUND:
        return
    missing: list[tuple[str, str]] = []  # (as the detail says it, as the summary says it)
    if facts.lab(LabKind.CSF_WBC) is None:
        missing.append(("CSF cell count", "CSF cells"))
    if facts.csf_status is CsfInfectionStatus.PENDING:
        missing.append(("final CSF infection studies", "CSF infection results"))
    elif facts.csf_status is not CsfInfectionStatus.EXCLUDED:
        studies = " and ".join(facts.csf_missing)
        studies = f"CSF {studies}" if studies else "CSF infection studies"
        missing.append((studies, "CSF infection studies"))
    antibody = facts.lab(LabKind.AUTOIMMUNE_ANTIBODY)
    if antibody is None:
        missing.append(("neuronal antibody testing (serum and CSF)", "antibody tests"))
    elif antibody.qualitative is Qualitative.PENDING:
        missing.append(("neuronal antibody results (pending)", "antibody results"))
    if "observations" in facts.unknown:
        missing = [
            ("CSF and antibody results (could not be retrieved)", "CSF and antibody results")
        ]
    found = "; ".join(long for long, _ in missing)
    summary = (
        "Encephalitis, unspecified: not yet autoimmune encephalitis; missing "
        + ", ".join(short for _, short in missing)
        if missing
        else "Encephalitis, unspecified: check MRI, EEG and criteria before calling it autoimmune"
    )
    lines = [
        "**Unspecified encephalitis is not yet autoimmune encephalitis.** Possible autoimmune "
        "encephalitis (Graus 2016) needs subacute onset (under 3 months) of memory deficit, "
        "altered mental status or psychiatric symptoms; one of new focal CNS findings, "
        "unexplained seizures, CSF white cells above 5 per microlitre or MRI suggestive of "
        "encephalitis; and reasonable exclusion of other causes, infection first.",
        f"Missing from the record: {found}. MRI and EEG are not read here: check them. "
        "Antibody results are not needed to reach possible autoimmune encephalitis."
        if missing
        else "CSF and antibody studies are in the record. MRI and EEG are not read here: "
        "check them against the criteria and record the diagnosis once it is made.",
    ]
    evidence = [of_condition(c) for c in unspecified]
    if facts.csf_evidence:
        evidence += [of_measurement(m) for m in facts.csf_evidence]
    else:
        for kind in CSF_KINDS:
            if kind is not LabKind.CSF_WBC:
                evidence += of_lab(facts, kind)
    evidence += of_lab(facts, LabKind.CSF_WBC)
    evidence += of_lab(facts, LabKind.AUTOIMMUNE_ANTIBODY)
    evidence += not_retrieved(facts, "observations", "CSF and antibody results")
    yield Finding(
        RULE_ID,
        Urgency.INFO,
        summary,
        "\n\n".join(lines),
        GRAUS_2016_AE_CRITERIA,
        tuple(dict.fromkeys(evidence)),
        topic=TOPIC_AE,
        group=CardGroup.CSF_GATE,
    )
