"""Condition code sets per clinical category: ICD-10-CM families and a small SNOMED CT allow-list.

ICD-10-CM rows were checked against the CDC/CMS tabular list (FY2026, April 1 2026 release, as
shipped in `simple-icd-10-cm`; tests/test_terminology.py re-checks every one). A FAMILY entry
matches the code itself and every code below it, as the classification nests them: G35 became a
header in FY2026 and its children G35.A-G35.D count, while records coded "G35" before FY2026 still
count too. SNOMED CT rows are only those VERIFIED or
CORROBORATED; descendants are not expanded here (no terminology server at run time).
"""

from __future__ import annotations

from cds_service.facts.model import ConditionCategory as C
from cds_service.knowledge import (
    ICD10CM,
    SNOMED,
    CodeEntry,
    DroppedCode,
    Match,
    Verification,
    normalise_icd10cm,
)

_CDC_TAB = "CDC/CMS ICD-10-CM tabular list April 1 2026 (simple-icd-10-cm)"
_V, _C = Verification.VERIFIED, Verification.CORROBORATED
_VSAC_ASTHMA = (
    "VSAC 2.16.840.1.113883.3.526.3.362 and .526.2.61 (ecqm-content r4-2021, qicore-2024/5)"
)


def _icd(code: str, display: str, *, family: bool = False, note: str | None = None) -> CodeEntry:
    match = Match.FAMILY if family else Match.EXACT
    return CodeEntry(ICD10CM, code, display, _V, _CDC_TAB, match, note)


def _sct(code: str, display: str, status: Verification, source: str) -> CodeEntry:
    return CodeEntry(SNOMED, code, display, status, source)


CONDITION_CODES: dict[C, tuple[CodeEntry, ...]] = {
    C.AUTOIMMUNE_ENCEPHALITIS: (
        _icd(
            "G04.81",
            "Other encephalitis and encephalomyelitis",
            note="no dedicated FY2026 code for autoimmune/anti-NMDAR encephalitis",
        ),
        _icd(
            "G13.1",
            "Other systemic atrophy primarily affecting central nervous system in "
            "neoplastic disease",
            note="inclusion term: paraneoplastic limbic encephalopathy",
        ),
    ),
    C.ENCEPHALITIS_UNSPECIFIED: (
        _icd(
            "G04.90",
            "Encephalitis and encephalomyelitis, unspecified",
            note="not autoimmune encephalitis: rules.encephalitis_workup lists what is missing",
        ),
    ),
    C.HEMIPLEGIA: (
        _icd("G81", "Hemiplegia and hemiparesis", family=True),
        _sct(
            "278286009",
            "Right hemiparesis (disorder)",
            _V,
            "HL7 PACIO PFE IG example (Functional-PFECondition)",
        ),
    ),
    C.GUILLAIN_BARRE: (
        _icd("G61.0", "Guillain-Barre syndrome", note="inclusion term: Miller Fisher syndrome"),
        _sct(
            "40956001",
            "Guillain-Barre syndrome (disorder)",
            _V,
            "healthassure SNOMED mirror; HL7 ICSR FDA BEST GBS CQL",
        ),
        _sct(
            "1767005",
            "Fisher's syndrome (disorder)",
            _C,
            "Disease Ontology DOID:12889 xref",
        ),
    ),
    C.ACUTE_NECROTIZING_ENCEPHALOPATHY: (
        _icd("G04.3", "Acute necrotizing hemorrhagic encephalopathy", family=True),
    ),
    C.PLEXOPATHY: (
        _icd("G54.0", "Brachial plexus disorders"),
        _icd("G54.1", "Lumbosacral plexus disorders"),
        _icd("G54.5", "Neuralgic amyotrophy", note="inclusion: Parsonage-Aldren-Turner syndrome"),
        _sct(
            "1259103005",
            "Autoimmune neuritis of nerve root and/or plexus (disorder)",
            _V,
            "healthassure SNOMED mirror (active, fully defined)",
        ),
        _sct(
            "26609002",
            "Brachial plexus neuritis",
            _C,
            "Disease Ontology DOID:3689 xref, aligned with G54.5",
        ),
        _sct(
            "4062006",
            "Lumbosacral plexus lesion",
            _C,
            "Disease Ontology DOID:13913 xref",
        ),
    ),
    C.CNS_INFECTION: (
        _icd("G00", "Bacterial meningitis, not elsewhere classified", family=True),
        _icd("G03.9", "Meningitis, unspecified"),
        _icd(
            "G04.2", "Bacterial meningoencephalitis and meningomyelitis, not elsewhere classified"
        ),
        _icd("B00.4", "Herpesviral encephalitis"),
        _icd("B02.0", "Zoster encephalitis"),
        _icd("B02.1", "Zoster meningitis"),
        _icd("A85.0", "Enteroviral encephalitis"),
        _icd("A85.8", "Other specified viral encephalitis"),
        _icd("A86", "Unspecified viral encephalitis"),
        _icd("A87.0", "Enteroviral meningitis"),
        _icd("A87.9", "Viral meningitis, unspecified"),
        _sct(
            "95883001",
            "Bacterial meningitis (disorder)",
            _C,
            "OHDSI cohort 1073; MONDO:0006670; public FSH list",
        ),
        _sct(
            "230176008",
            "Herpes zoster encephalitis (disorder)",
            _V,
            "VSAC expansions (ecqm-content) and OHDSI",
        ),
        _sct("301770000", "Aseptic meningitis", _C, "OHDSI and MONDO"),
    ),
    C.PRIMARY_CNS_LYMPHOMA: (
        _icd("C83.390", "Primary central nervous system lymphoma"),
        _sct(
            "307649006",
            "Primary central nervous system lymphoma",
            _C,
            "Disease Ontology DOID:3234 xref aligned with C83.390",
        ),
    ),
    C.NEUROSARCOIDOSIS: (
        _icd("D86.81", "Sarcoid meningitis"),
        _icd("D86.82", "Multiple cranial nerve palsies in sarcoidosis"),
        _icd(
            "D86.89",
            "Sarcoidosis of other sites",
            note="where neurosarcoidosis is coded; not specific to the nervous system",
        ),
        _sct(
            "111936002",
            "Neurosarcoidosis",
            _C,
            "Disease Ontology DOID:13403 xref",
        ),
    ),
    C.COAGULOPATHY: (
        _icd("D65", "Disseminated intravascular coagulation [defibrination syndrome]"),
        _icd("D66", "Hereditary factor VIII deficiency"),
        _icd("D67", "Hereditary factor IX deficiency"),
        _icd("D68.0", "Von Willebrand disease", family=True),
        _icd("D68.311", "Acquired hemophilia"),
        _icd("D68.32", "Hemorrhagic disorder due to extrinsic circulating anticoagulants"),
        _icd("D68.4", "Acquired coagulation factor deficiency"),
        _icd("D68.9", "Coagulation defect, unspecified"),
        _icd("D69.3", "Immune thrombocytopenic purpura"),
        _icd("D69.4", "Other primary thrombocytopenia", family=True),
        _icd("D69.59", "Other secondary thrombocytopenia"),
        _icd("D69.6", "Thrombocytopenia, unspecified"),
        _sct(
            "64779008",
            "Blood coagulation disorder (disorder)",
            _C,
            "Disease Ontology DOID:1247 xref aligned with D68.9",
        ),
        _sct(
            "67406007",
            "Disseminated intravascular coagulation (disorder)",
            _C,
            "Disease Ontology; HL7 ICSR DIC CQL",
        ),
        _sct(
            "302215000",
            "Thrombocytopenic disorder",
            _C,
            "OHDSI cohort 1091; MONDO:0002049",
        ),
        _sct(
            "32273002",
            "Idiopathic thrombocytopenic purpura",
            _C,
            "HL7 ICSR thrombocytopenic_purpura CQL",
        ),
        _sct(
            "41788008",
            "Hereditary factor IX deficiency disease",
            _C,
            "Disease Ontology DOID:12259 xref aligned with D67",
        ),
        _sct(
            "128105004",
            "von Willebrand disease (hereditary or acquired)",
            _C,
            "MONDO:0024574 and two public code tables",
        ),
        _sct(
            "128106003",
            "von Willebrand disease type 1",
            _C,
            "MONDO:0008668 and Disease Ontology",
        ),
        _sct(
            "128107007",
            "von Willebrand disease type 2",
            _C,
            "MONDO:0013304 and Disease Ontology",
        ),
        _sct(
            "128108002",
            "von Willebrand disease type 3",
            _C,
            "MONDO:0010191 and Disease Ontology",
        ),
    ),
    C.THROMBOEMBOLIC_RISK: (
        _icd("Z86.711", "Personal history of pulmonary embolism"),
        _icd("Z86.718", "Personal history of other venous thrombosis and embolism"),
        _icd("I26", "Pulmonary embolism", family=True),
        _icd(
            "I82.4", "Acute embolism and thrombosis of deep veins of lower extremity", family=True
        ),
        _icd("D68.5", "Primary thrombophilia", family=True),
        _icd("D68.6", "Other thrombophilia", family=True),
        _sct(
            "128053003",
            "Deep venous thrombosis (disorder)",
            _V,
            "VSAC 2.16.840.1.113883.3.117.1.7.1.279 (ecqm-content)",
        ),
        _sct("59282003", "Pulmonary embolism (disorder)", _C, "HL7 ICSR PE CQL"),
        _sct(
            "234467004",
            "Thrombophilia",
            _C,
            "MONDO:0002305; HDR-UK CCU002 codelist; CDC NBS",
        ),
    ),
    C.CNS_DEMYELINATION: (
        _icd(
            "G35",
            "Multiple sclerosis",
            family=True,
            note="header since FY2026: G35.A-G35.D count, and legacy 'G35' records too",
        ),
        _icd("G04.0", "Acute disseminated encephalitis and encephalomyelitis (ADEM)", family=True),
        _icd("G36.0", "Neuromyelitis optica [Devic]"),
        _icd(
            "G37.3", "Acute transverse myelitis in demyelinating disease of central nervous system"
        ),
        _icd("G37.81", "Myelin oligodendrocyte glycoprotein antibody disease"),
        _icd("G37.9", "Demyelinating disease of central nervous system, unspecified"),
        _sct(
            "24700007",
            "Multiple sclerosis (disorder)",
            _V,
            "VSAC 2.16.840.1.113883.3.464.1003.110.12.1082; OHDSI",
        ),
        _sct(
            "83942000",
            "Acute disseminated encephalomyelitis (disorder)",
            _C,
            "Disease Ontology DOID:639; HL7 ICSR CQL",
        ),
        _sct(
            "25044007",
            "Neuromyelitis optica (disorder)",
            _C,
            "Disease Ontology DOID:8869",
        ),
        _sct(
            "47000000",
            "Transverse myelitis",
            _C,
            "HL7 ICSR transverse_myelitis CQL",
        ),
    ),
    C.HYPONATREMIA: (
        _icd("E87.1", "Hypo-osmolality and hyponatremia"),
        _icd("E22.2", "Syndrome of inappropriate secretion of antidiuretic hormone"),
        _sct(
            "89627008",
            "Hyponatremia (disorder)",
            _C,
            "community MedDRA/CTCAE->SNOMED ConceptMap",
        ),
    ),
    C.AGITATION: (
        _icd("R45.1", "Restlessness and agitation"),
        _icd("F05", "Delirium due to known physiological condition"),
        _sct(
            "2776000",
            "Delirium (disorder)",
            _V,
            "VSAC 2.16.840.1.113883.3.117.1.7.1.299; OHDSI; MONDO",
        ),
        _sct(
            "24199005",
            "Feeling agitated (finding)",
            _C,
            "three public sources (weak)",
        ),
    ),
    C.IGA_DEFICIENCY: (
        _icd("D80.2", "Selective deficiency of immunoglobulin A [IgA]"),
        _sct(
            "29260007",
            "Selective IgA immunodeficiency",
            _C,
            "Disease Ontology DOID:11701",
        ),
    ),
    C.RENAL_FAILURE: (
        _icd("N17", "Acute kidney failure", family=True),
        _icd("N18.4", "Chronic kidney disease, stage 4 (severe)"),
        _icd("N18.5", "Chronic kidney disease, stage 5"),
        _icd("N18.6", "End stage renal disease"),
        _icd("N18.9", "Chronic kidney disease, unspecified"),
        _icd("N19", "Unspecified kidney failure"),
        _sct(
            "14669001",
            "Acute renal failure syndrome (disorder)",
            _V,
            "VSAC 2.16.840.1.113883.3.464.1003.109.12.1028",
        ),
        _sct(
            "46177005",
            "End-stage renal disease (disorder)",
            _V,
            "VSAC Kidney Failure value set",
        ),
        _sct(
            "709044004",
            "Chronic kidney disease (disorder)",
            _C,
            "OHDSI cohort 1191; MONDO:0005300",
        ),
        _sct(
            "42399005",
            "Renal failure syndrome (disorder)",
            _C,
            "Disease Ontology DOID:1074 xref aligned with N19",
        ),
    ),
    # No verified code set exists for "difficult vascular access"; it stays empty (see DROPPED).
    C.DIFFICULT_VASCULAR_ACCESS: (),
    C.STEROID_INDICATION: (
        _icd("E27.1", "Primary adrenocortical insufficiency", note="inclusion: Addison's disease"),
        _icd("E27.2", "Addisonian crisis", note="inclusion: adrenal crisis"),
        _icd("E27.3", "Drug-induced adrenocortical insufficiency"),
        _icd("E27.4", "Other and unspecified adrenocortical insufficiency", family=True),
        _icd("E23.0", "Hypopituitarism", note="secondary adrenal insufficiency"),
        _icd("E89.6", "Postprocedural adrenocortical (-medullary) hypofunction"),
        _icd(
            "Z79.52",
            "Long term (current) use of systemic steroids",
            note="stress dosing or continuation; inhaled steroids (Z79.51) do not count",
        ),
        _icd("J45.901", "Unspecified asthma with (acute) exacerbation"),
        _icd("J45.902", "Unspecified asthma with status asthmaticus"),
        _icd("J45.21", "Mild intermittent asthma with (acute) exacerbation"),
        _icd("J45.22", "Mild intermittent asthma with status asthmaticus"),
        _icd("J45.31", "Mild persistent asthma with (acute) exacerbation"),
        _icd("J45.41", "Moderate persistent asthma with (acute) exacerbation"),
        _icd("J45.42", "Moderate persistent asthma with status asthmaticus"),
        _icd("J45.51", "Severe persistent asthma with (acute) exacerbation"),
        _icd("J45.52", "Severe persistent asthma with status asthmaticus"),
        _icd("J44.1", "Chronic obstructive pulmonary disease with (acute) exacerbation"),
        _sct(
            "281239006",
            "Exacerbation of asthma (disorder)",
            _V,
            _VSAC_ASTHMA,
        ),
        _sct(
            "708090002",
            "Acute severe exacerbation of asthma (disorder)",
            _V,
            _VSAC_ASTHMA,
        ),
    ),
}

DROPPED_CONDITION_CODES: tuple[DroppedCode, ...] = (
    DroppedCode(SNOMED, "95643007", "autoimmune encephalitis", "single source (MONDO)"),
    DroppedCode(
        SNOMED,
        "716684004",
        "anti-NMDA receptor encephalitis",
        "single source (MONDO), contested against US 452281000124106",
    ),
    DroppedCode(SNOMED, "230192003", "limbic encephalitis", "single source (MONDO)"),
    DroppedCode(
        SNOMED,
        "763310000",
        "acute necrotizing encephalopathy of childhood",
        "single source (MONDO)",
    ),
    DroppedCode(
        SNOMED,
        "111897007",
        "acute necrotizing encephalitis",
        "not ANE of childhood (MONDO and DO agree)",
    ),
    DroppedCode(SNOMED, "50582007", "hemiplegia", "sources conflict (OMOP vs MONDO 1593000)"),
    DroppedCode(SNOMED, "20022000", "hemiparesis", "no source found"),
    DroppedCode(SNOMED, "55004003", "SIADH", "single source (Disease Ontology)"),
    DroppedCode(SNOMED, "128209004", "CIDP", "not GBS: no category for it"),
)

_EXACT: dict[tuple[str, str], frozenset[C]] = {}
_ICD_FAMILY: dict[str, frozenset[C]] = {}
for _category, _entries in CONDITION_CODES.items():
    for _entry in _entries:
        _key = normalise_icd10cm(_entry.code) if _entry.system == ICD10CM else _entry.code
        if _entry.match is Match.FAMILY:
            _ICD_FAMILY[_key] = _ICD_FAMILY.get(_key, frozenset()) | {_category}
        else:
            _hit = (_entry.system, _key)
            _EXACT[_hit] = _EXACT.get(_hit, frozenset()) | {_category}


# ICD-10-CM codes are at most 8 characters with the dot, SNOMED CT ids at most 18 digits; a
# longer "code" matches nothing, and is refused before any per-prefix work (a 200 KB code once
# cost 48 s of CPU in the prefix loop below).
MAX_CODE_CHARS = 32


def categories_for(system: str | None, code: str | None) -> frozenset[C]:
    """The categories one coding belongs to; ICD-10-CM codes also match their families."""
    if not system or not code or len(code) > MAX_CODE_CHARS:
        return frozenset()  # no code system we read has codes this long: linear, not quadratic
    if system != ICD10CM:
        return _EXACT.get((system, code.strip()), frozenset())
    icd = normalise_icd10cm(code)
    found = _EXACT.get((ICD10CM, icd), frozenset())
    compact = icd.replace(".", "")
    for length in range(len(compact), 2, -1):
        found |= _ICD_FAMILY.get(normalise_icd10cm(compact[:length]), frozenset())
    return found


def condition_codes(system: str) -> tuple[str, ...]:
    """Every code of one system in the sets, sorted (for search-by-code prefetch templates)."""
    codes = {e.code for es in CONDITION_CODES.values() for e in es if e.system == system}
    return tuple(sorted(codes))
