"""Where the rules' advice comes from: one Citation per source, honest about its strength and date.

Each citation names the source summary (seed) it implements (000 autoimmune hemiplegia, 002
acute necrotizing encephalopathy, 004 idiopathic plexopathy; all three are AI-generated secondary
summaries "pending human review", dated 2025-10 to 2026-01) and the primary source behind it, with
what was actually verified (the evidence note of each citation). Where the
primary wording was not reached, `evidence_note` says so: a clinician must be able to tell a graded
guideline from a survey, a meta-analysis of case series or a case report. Also here: the override
reasons offered on order cards and the topic codings, both in a code system of our own.
"""

from __future__ import annotations

from cds_service.findings import Citation, Coding

# Code systems of our own, identified by URNs minted for this service (RFC 4122 name-based UUIDs
# of "cds-service/CodeSystem/<name>"), so they need no domain anyone else owns and never change.
OVERRIDE_REASON_SYSTEM = "urn:uuid:fa8dba7b-c396-5e67-a3d4-fe92a972145c"
TOPIC_SYSTEM = "urn:uuid:2d7ae450-9d90-5091-bad1-9d3c828bbe36"

# Card text says what the clinician needs (the evidence is a secondary summary, not checked against
# the original paper, and when); which summary it was is provenance, kept in `Citation.seed` and
# shown to integrators (`cds-service rules`), never in the card.
_SEED_000 = "a secondary summary (January 2026) not checked against the original paper"
_SEED_002 = "a secondary summary (October 2025) not checked against the original paper"
_SEED_004 = "a secondary summary (October 2025) not checked against the original paper"

ABBOUD_2021_AE = Citation(
    label="Abboud et al. 2021, autoimmune encephalitis best practice (JNNP 92:757)",
    url="https://doi.org/10.1136/jnnp-2020-325300",
    seed="000",
    evidence_note=(
        "Expert-survey recommendations (AE Alliance, 2021), not graded trials. The CSF gate, the "
        "IVIG-vs-PLEX selection criteria and the 2-4 week escalation window reach us through "
        f"{_SEED_000} and other secondary summaries; the paper's own wording was not verified. "
        "IVMP 1 g daily for 3-5 days matches Uy, Binks & Irani, Pract Neurol 2021 (Table 2)."
    ),
)

ABBOUD_2021_AE_PART2 = Citation(
    label="Abboud et al. 2021, AE long-term management (JNNP 92:897)",
    url="https://doi.org/10.1136/jnnp-2020-325302",
    seed="000",
    evidence_note=(
        "Expert survey (2021): oral prednisone taper the most popular bridge (38%), rituximab the "
        "most popular maintenance (46%). Azathioprine/mycophenolate doses and durations were not "
        f"verified in the paper; they come from {_SEED_000}."
    ),
)

AE_SECOND_LINE = Citation(
    label="Abboud et al. 2021 (JNNP); paediatric NMDARE consensus, Nosadini et al. 2021",
    url="https://doi.org/10.1136/jnnp-2020-325300",
    seed="000",
    evidence_note=(
        "Escalation timing is expert opinion: 2-4 weeks per secondary summaries of Abboud 2021; "
        "'about 2 weeks' in the paediatric consensus (Neurol Neuroimmunol Neuroinflamm 2021, "
        "doi 10.1212/NXI.0000000000001052); 'within 10 days' for anti-NMDAR in the German table "
        "(Neurol Res Pract 2019, doi 10.1186/s42466-019-0047-8: rituximab 4 x 375 mg/m2 weekly; "
        "cyclophosphamide 750 mg/m2 monthly). No randomised trial."
    ),
)

GBS_GUIDELINE = Citation(
    label="EAN/PNS GBS guideline 2023 (van Doorn et al.); AAN practice parameter 2003",
    url="https://doi.org/10.1111/ene.16073",
    seed="000",
    evidence_note=(
        "AAN 2003 (Neurology 61:736, verbatim): 'Corticosteroids are not recommended for the "
        "management of GBS'; IVIg and PE equivalent. Cochrane 2016 (CD001446.pub5): no benefit of "
        "corticosteroids; very low quality evidence that oral corticosteroids slow recovery. The "
        "EAN/PNS 2023 treatment wording itself was not retrieved here."
    ),
)

FISCHELL_2023_ANE = Citation(
    label="Fischell et al. 2023, ANE case report and meta-analysis (Front Neurol 14:1239746)",
    url="https://doi.org/10.3389/fneur.2023.1239746",
    seed="002",
    evidence_note=(
        "Meta-analysis of observational reports (10 articles, 158 patients, 2023): early "
        "high-dose IV methylprednisolone (within 24 h of neurological onset) effective; no "
        "difference with or without IVIG. Its PLEX conclusions were not retrieved; PLEX support "
        f"is case-series level and comes via {_SEED_002}."
    ),
)

ANE_TOCILIZUMAB = Citation(
    label="Ju, Geng & Guan 2025, tocilizumab in ANE (J Neurol), systematic review",
    url="https://doi.org/10.1007/s00415-025-13355-y",
    seed="002",
    evidence_note=(
        "Systematic review of 77 published cases (2025): tocilizumab associated with lower "
        "mortality, start within 24 h with good outcome. Observational only; no consensus dose "
        "for tocilizumab in ANE was found (do not read a dose from this card)."
    ),
)

PLEXOPATHY_EVIDENCE = Citation(
    label="Cochrane review: immunotherapy for idiopathic lumbosacral plexopathy (2013)",
    url="https://doi.org/10.1002/14651858.CD009722.pub2",
    seed="004",
    evidence_note=(
        "No randomised trials (Cochrane 2013: 'no evidence from randomized trials to support any "
        "recommendation'). IVIG after failed steroids rests on case reports (J Clin Neurosci "
        "2005) and expert opinion; AANEM consensus (2009, updated): insufficient evidence for "
        f"IVIG in idiopathic brachial plexopathy. Doses come from {_SEED_004}."
    ),
)

IVIG_SAFETY = Citation(
    label="Keh et al. 2020, IVIG safety screening (J Neurol Sci 408:116527)",
    url=None,
    seed="004",
    evidence_note=(
        "Review (2020): pre-treatment IgA level, monitor blood count and renal function. Renal "
        f"failure, thrombosis and headache as IVIG risks are listed in {_SEED_004}."
    ),
)


def _reason(code: str, display: str) -> Coding:
    return Coding(OVERRIDE_REASON_SYSTEM, code, display)


OVERRIDE_OTHER_STEROID_INDICATION = _reason(
    "other-steroid-indication", "Steroid is for another indication"
)
OVERRIDE_SPECIALIST_PLAN = _reason("specialist-plan", "Agreed with neurology / specialist plan")
OVERRIDE_CLINICAL_JUDGEMENT = _reason(
    "clinical-judgement", "Benefit outweighs risk for this patient"
)
OVERRIDE_DATA_OUT_OF_DATE = _reason("data-out-of-date", "Record is out of date or wrong")
OVERRIDE_INFECTION_TREATED = _reason(
    "infection-covered", "Infection is being treated; immunotherapy still needed"
)
OVERRIDE_DOSE_INTENDED = _reason("dose-intended", "Dose is intended (protocol or local regimen)")

ORDER_OVERRIDES = (OVERRIDE_SPECIALIST_PLAN, OVERRIDE_CLINICAL_JUDGEMENT, OVERRIDE_DATA_OUT_OF_DATE)


def topic(code: str, display: str) -> Coding:
    return Coding(TOPIC_SYSTEM, code, display)


TOPIC_AE = topic("autoimmune-encephalitis", "Autoimmune encephalitis immunotherapy")
TOPIC_GBS = topic("guillain-barre", "Guillain-Barre syndrome treatment")
TOPIC_ANE = topic("acute-necrotizing-encephalopathy", "Acute necrotizing encephalopathy")
TOPIC_PLEXOPATHY = topic("immune-plexopathy", "Immune-mediated plexopathy")
TOPIC_ORDER_SAFETY = topic("immunotherapy-order-safety", "Immunotherapy order checks")


# Dosing sources (cds_service.knowledge.regimens). Each says what it was checked for; a paediatric
# figure without a source is marked unsourced on the regimen row and on the card.
UY_2021_TREATMENT = Citation(
    label="Uy, Binks & Irani 2021, autoimmune encephalitis treatment (Pract Neurol 21:412)",
    url="https://pmc.ncbi.nlm.nih.gov/articles/PMC8461404/",
    seed="000",
    evidence_note=(
        "Review (2021), Table 2: methylprednisolone 1 g intravenous daily x3-5 days; IVIG 2 g/kg "
        "intravenous divided over 3-5 days."
    ),
)
KINDERFORMULARIUM_MP = Citation(
    label="Dutch Paediatric Formulary (Kinderformularium): methylprednisolone",
    url="https://kfgb.healthesolutions.nl/drug/39094/methylprednisolone",
    seed="000",
    evidence_note=(
        "National paediatric formulary: pulse maximum 30 mg/kg/day, not exceeding 1 g/day "
        "(1 month-18 years). Neurological use: Tenembaum et al., Neurology 2002 (ADEM, "
        "30 mg/kg/day, 1 g/day from 30 kg, 3-5 days); Chang et al., Children 2022 (ANE, "
        "30 mg/kg/day x3 days, doi 10.3390/children9020136). Observational evidence."
    ),
)
ONTARIO_IVIG_NMDAR = Citation(
    label="Ontario IVIG utilisation guideline: NMDA receptor encephalitis",
    url="https://ivig.transfusionontario.org/?b=cn&cn=90",
    seed="000",
    evidence_note=(
        "Provincial guideline: total 2 g/kg divided over 2 to 5 days in adults and children. In "
        "childhood Guillain-Barre syndrome, 2 g/kg over 2 days gave more early relapses than "
        "over 5 days (Korinthenberg et al., Pediatrics 2005, randomised, n=51)."
    ),
)
EYRE_2019_PLEX = Citation(
    label="Eyre et al. 2019, plasma exchange in paediatric neuroimmune disorders (DMCN 61:540)",
    url=(
        "https://kclpure.kcl.ac.uk/portal/en/publications/"
        "utility-and-safety-of-plasma-exchange-in-paediatric-neuroimmune-d"
    ),
    seed="000",
    evidence_note=(
        "Multicentre cohort of 58 children (2019): median six exchanges over 8 days; "
        "complications in 60% of courses, 24% line-related. Exchange volume per apheresis team."
    ),
)
KINDERFORMULARIUM_RITUXIMAB = Citation(
    label="Dutch Paediatric Formulary (Kinderformularium): rituximab",
    url="https://kfgb.healthesolutions.nl/drug/39176/rituximab",
    seed="000",
    evidence_note=(
        "375 mg/m2 once weekly for 4 weeks, 2 to 18 years (licensed indication GPA/MPA; "
        "off-label in encephalitis). No paediatric per-dose maximum was found in a primary "
        "source: the adult 1000 mg dose is used as the cap."
    ),
)
STARSHIP_CYCLOPHOSPHAMIDE = Citation(
    label="Starship Children's Health: intravenous cyclophosphamide in paediatrics",
    url=None,
    seed="000",
    evidence_note=(
        "Hospital guideline (rheumatology): 500-1000 mg/m2 monthly, increased by 250 mg/m2 to a "
        "maximum of 1000 mg per dose. Off-label in neuroimmune disease."
    ),
)
KINDERFORMULARIUM_AZATHIOPRINE = Citation(
    label="Dutch Paediatric Formulary (Kinderformularium): azathioprine",
    url="https://kfgb.healthesolutions.nl/drug/39198/azathioprine",
    seed="004",
    evidence_note=(
        "Autoimmune disease, 1 month-18 years: 1-3 mg/kg/day once daily; no paediatric mg/day "
        "maximum found (the adult 150 mg/day is used as the cap)."
    ),
)
MMF_LABEL_PAEDIATRIC = Citation(
    label="Mycophenolate mofetil US prescribing information (paediatric dosing)",
    url=None,
    seed="004",
    evidence_note=(
        "Label (renal transplant), 3 months-18 years: 600 mg/m2 twice daily, maximum 2 g/day "
        "(1 g twice daily). No neuroimmune-specific paediatric dose was found."
    ),
)
KINDERFORMULARIUM_CICLOSPORIN = Citation(
    label="Dutch Paediatric Formulary (Kinderformularium): ciclosporin",
    url="https://kfgb.healthesolutions.nl/drug/38990/ciclosporin",
    seed="004",
    evidence_note=(
        "3-5 mg/kg/day in 2 doses (non-neurological indications; the same range in paediatric "
        "nephrotic syndrome trials). No neuroimmune-specific paediatric dose was found."
    ),
)
TOCILIZUMAB_LABEL = Citation(
    label="Tocilizumab (Actemra) prescribing information: weight-based dosing",
    url=None,
    seed="002",
    evidence_note=(
        "Label (cytokine release syndrome): 12 mg/kg if under 30 kg, 8 mg/kg from 30 kg, maximum "
        "800 mg per infusion. No consensus dose exists for ANE or autoimmune encephalitis."
    ),
)
GERMAN_TABLE_2019 = Citation(
    label="Autoimmune encephalitis treatment, Neurol Res Pract 2019 (German table)",
    url="https://doi.org/10.1186/s42466-019-0047-8",
    seed="000",
    evidence_note=(
        "Expert review (2019), Table 4: rituximab 4 x 375 mg/m2 weekly; cyclophosphamide "
        "750 mg/m2 monthly. Adults."
    ),
)
SEED_004_REGIMENS = Citation(
    label="Immunosuppressant regimens for immune plexopathy (secondary summary)",
    url=None,
    seed="004",
    evidence_note=(
        f"Doses come from {_SEED_004} and were not verified against a primary source: "
        "azathioprine start 25-50 mg/day, +25 mg every 7-14 days to 1-2 mg/kg/day, maximum "
        "150 mg/day; mycophenolate mofetil 1 g twice daily; ciclosporin 5 mg/kg/day then "
        "2.5-3 mg/kg/day; oral cyclophosphamide 1-2 mg/kg/day."
    ),
)

AAN_2003_GBS = Citation(
    label="Hughes et al. 2003, AAN practice parameter: immunotherapy for GBS (Neurology 61:736)",
    url="https://doi.org/10.1212/wnl.61.6.736",
    seed="000",
    evidence_note=(
        "Evidence-based practice parameter (2003), abstract verified (PubMed 14504313): PE or "
        "IVIg hastens recovery; 'Combining the two treatments is not beneficial'; 'Sequential "
        "treatment with PE followed by IVIg ... is not recommended'; IVIg within 2 or possibly "
        "4 weeks of onset, PE within 4 weeks, in nonambulant adults."
    ),
)

# Infection found in CSF (rules.csf_gate) and unspecified encephalitis (rules.encephalitis_workup).
ENCEPHALITIS_ANTIVIRAL = Citation(
    label="IDSA encephalitis guideline 2008; ABN/BIA viral encephalitis guideline 2012",
    url="https://doi.org/10.1086/589747",
    seed="000",
    evidence_note=(
        "Clinical practice guidelines of expert panels (2008, 2012). Tunkel et al., Clin Infect "
        "Dis 2008;47:303: aciclovir started in every patient with suspected encephalitis pending "
        "results, then targeted to the pathogen found; Solomon et al., J Infect 2012;64:347 (doi "
        "10.1016/j.jinf.2011.11.014). Autoimmune encephalitis after HSV encephalitis: "
        "prospective cohort, Armangue et al., Lancet Neurol 2018;17:760 (doi "
        "10.1016/S1474-4422(18)30244-8)."
    ),
)
GRAUS_2016_AE_CRITERIA = Citation(
    label="Graus et al. 2016, clinical approach to diagnosis of autoimmune encephalitis",
    url="https://doi.org/10.1016/S1474-4422(15)00401-9",
    seed="000",
    evidence_note=(
        "Expert consensus position paper (2016). Lancet Neurol 2016;15:391. Possible autoimmune "
        "encephalitis: subacute onset (under 3 months) of memory deficit, altered mental status "
        "or psychiatric symptoms; one of new focal CNS findings, unexplained seizures, CSF "
        "white cells above 5 per microlitre or MRI suggestive of encephalitis; and reasonable "
        "exclusion of alternative causes. EEG and antibody testing enter the probable and "
        "definite levels."
    ),
)
