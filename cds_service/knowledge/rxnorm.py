"""RxNorm codes per immunotherapy, plus the names the text fallback may match, with provenance.

Matching is by ingredient first (IN, and precise ingredient / brand name rows where seen), then by a
curated list of common clinical drugs (SCD/SBD), because SCD codes change between RxNorm releases
while ingredients do not. Each row names its source
(RxNorm 09032024 tx.fhir.org validations, VSAC and HL7 value sets). IVIG has no verified RxNorm
code, so IVIG orders are recognised by name only (`TEXT_TERMS`), which is documented in the README.
"""

from __future__ import annotations

from cds_service.facts.model import Therapy as T
from cds_service.knowledge import CVX, RXNORM, CodeEntry, DroppedCode, Verification

_V = Verification.VERIFIED
_CIBMTR = "tx.fhir.org $validate-code, RxNorm 09032024 (CIBMTR IG txcache; Addendum 1)"
_PDDI = "HL7 PDDI-CDS value set"
_VSAC_151 = "VSAC 2.16.840.1.113762.1.4.1151.32 expansion (ecqm-content-r4-2021; Addendum 1b)"
_VSAC_1048 = "VSAC 2.16.840.1.113883.3.7643.3.1048 expansion (ecqm-content-r4-2021; Addendum 1b)"
_PDDI_CSA = "HL7 PDDI-CDS valueset-cyclosporine (hl7.org/fhir/uv/pddi/2023Jan), verified this pass"
_FDA = "openFDA drug label / NDC brand_name + active ingredient (api.fda.gov), verified this pass"
_MEDSCAPE = "Medscape 'immune globulin IV (IGIV)' brand list, verified this pass"
_MP_SCD = "tx.fhir.org $expand RxNorm 09032024 (CIBMTR) and HL7 PDDI-CDS (Addendum 1b)"


def _rx(code: str, display: str, source: str, note: str | None = None) -> CodeEntry:
    return CodeEntry(RXNORM, code, display, _V, source, note=note)


# Ingredient-level codes (IN, PIN, BN): any product carrying one of these is the therapy.
INGREDIENT_CODES: dict[T, tuple[CodeEntry, ...]] = {
    T.CORTICOSTEROID: (
        _rx("6902", "methylprednisolone", _PDDI + "; " + _CIBMTR),
        _rx("203189", "methylprednisolone sodium succinate", _PDDI, note="PIN"),
        _rx("203856", "Solu-Medrol", _PDDI, note="BN"),
        _rx("8640", "prednisone", _PDDI),
        _rx("8638", "prednisolone", _PDDI),
        _rx("3264", "dexamethasone", _PDDI),
        _rx("5492", "hydrocortisone", _PDDI),
    ),
    T.RITUXIMAB: (_rx("121191", "rituximab", _CIBMTR + "; US Core allergy substance VS"),),
    T.CYCLOPHOSPHAMIDE: (_rx("3002", "cyclophosphamide", _CIBMTR + "; HL7 mCODE example"),),
    T.TOCILIZUMAB: (_rx("612865", "tocilizumab", _CIBMTR),),
    T.BORTEZOMIB: (
        _rx("358258", "bortezomib", _CIBMTR),
        _rx("356733", "Velcade", "CIBMTR med-bortezomib value set (Addendum 1)", note="BN"),
    ),
    T.AZATHIOPRINE: (
        _rx("1256", "azathioprine", "US Core allergy substance VS; OHDSI cohort 119"),
    ),
    T.MYCOPHENOLATE: (_rx("68149", "mycophenolate mofetil", _CIBMTR),),
    T.CYCLOSPORINE: (
        _rx("3008", "cyclosporine", _CIBMTR + "; US Core allergy substance VS"),
        _rx("202816", "Sandimmune", _PDDI_CSA, note="BN"),
        _rx("202817", "Neoral", _PDDI_CSA, note="BN"),
        _rx("261530", "Gengraf", _PDDI_CSA, note="BN"),
    ),
}

# Common clinical drugs (SCD/SBD/SCDF) as ordered; matched in addition to the ingredients.
CLINICAL_DRUG_CODES: dict[T, tuple[CodeEntry, ...]] = {
    T.CORTICOSTEROID: (
        _rx("1743726", "methylprednisolone 1000 MG Injection", _MP_SCD),
        _rx("1743720", "methylprednisolone 500 MG Injection", _MP_SCD),
        _rx("1743704", "methylprednisolone 125 MG Injection", _MP_SCD),
        _rx("311659", "methylprednisolone 40 MG Injection", _MP_SCD),
        _rx("1743729", "Methylprednisolone 1000 MG Injection [Solu-Medrol]", _PDDI + " txCache"),
        _rx("1743707", "Methylprednisolone 125 MG Injection [Solu-Medrol]", _PDDI + " txCache"),
    ),
    T.CYCLOPHOSPHAMIDE: (
        _rx("1734917", "cyclophosphamide 500 MG Injection", _VSAC_1048),
        _rx("1734919", "cyclophosphamide 1000 MG Injection", _VSAC_1048),
    ),
    T.TOCILIZUMAB: (
        _rx("1657974", "4 ML tocilizumab 20 MG/ML Injection", _VSAC_151),
        _rx("1657979", "10 ML tocilizumab 20 MG/ML Injection", _VSAC_151),
        _rx("1657981", "20 ML tocilizumab 20 MG/ML Injection", _VSAC_151),
    ),
    T.RITUXIMAB: (
        _rx("1657862", "10 ML rituximab 10 MG/ML Injection", _VSAC_151),
        _rx("1657867", "50 ML rituximab 10 MG/ML Injection", _VSAC_151),
    ),
    T.BORTEZOMIB: (
        _rx("1804994", "bortezomib Injection", "CIBMTR med-bortezomib value set", note="SCDF"),
    ),
    T.AZATHIOPRINE: (_rx("197388", "azathioprine 50 MG Oral Tablet", _VSAC_151),),
    T.MYCOPHENOLATE: (
        _rx("200060", "mycophenolate mofetil 500 MG Oral Tablet", _VSAC_151),
        _rx("485020", "mycophenolic acid 180 MG Delayed Release Oral Tablet", _VSAC_151),
        _rx("485023", "mycophenolic acid 360 MG Delayed Release Oral Tablet", _VSAC_151),
    ),
}


# Tablet- and product-level codes (SCD) as the CDS Hooks sandbox's own drug list and EHR order
# catalogues send them, curated to the ingredients above. Each is VERIFIED in an NLM VSAC
# expansion as well as listed by the sandbox (cds-hooks/sandbox src/assets/medication-list.js).
_VSAC_ORAL = (
    "VSAC 2.16.840.1.113883.3.464.1003.196.12.1266 or 2.16.840.1.113762.1.4.1151.32; sandbox list"
)
# One row per product: its therapy, its ingredient (TherapyFact.ingredient: prednisone vs
# methylprednisolone) and its code; the lookups below are derived from these rows.
PRODUCTS: tuple[tuple[T, str, CodeEntry], ...] = (
    (
        T.CORTICOSTEROID,
        "prednisone",
        _rx("1303125", "Prednisone 1 MG Delayed Release Oral Tablet", _VSAC_ORAL),
    ),
    (T.CORTICOSTEROID, "prednisone", _rx("198144", "Prednisone 1 MG Oral Tablet", _VSAC_ORAL)),
    (T.CORTICOSTEROID, "prednisone", _rx("198145", "Prednisone 10 MG Oral Tablet", _VSAC_ORAL)),
    (
        T.CORTICOSTEROID,
        "prednisone",
        _rx("1303132", "Prednisone 2 MG Delayed Release Oral Tablet", _VSAC_ORAL),
    ),
    (T.CORTICOSTEROID, "prednisone", _rx("198146", "Prednisone 2.5 MG Oral Tablet", _VSAC_ORAL)),
    (T.CORTICOSTEROID, "prednisone", _rx("312615", "Prednisone 20 MG Oral Tablet", _VSAC_ORAL)),
    (
        T.CORTICOSTEROID,
        "prednisone",
        _rx("1303135", "Prednisone 5 MG Delayed Release Oral Tablet", _VSAC_ORAL),
    ),
    (T.CORTICOSTEROID, "prednisone", _rx("312617", "Prednisone 5 MG Oral Tablet", _VSAC_ORAL)),
    (T.CORTICOSTEROID, "prednisone", _rx("198148", "Prednisone 50 MG Oral Tablet", _VSAC_ORAL)),
    (
        T.CORTICOSTEROID,
        "prednisolone",
        _rx("643123", "prednisolone 10 MG Disintegrating Oral Tablet", _VSAC_ORAL),
    ),
    (
        T.CORTICOSTEROID,
        "prednisolone",
        _rx("643125", "prednisolone 15 MG Disintegrating Oral Tablet", _VSAC_ORAL),
    ),
    (T.CORTICOSTEROID, "prednisolone", _rx("429199", "prednisolone 20 MG Oral Tablet", _VSAC_ORAL)),
    (
        T.CORTICOSTEROID,
        "prednisolone",
        _rx("643127", "prednisolone 30 MG Disintegrating Oral Tablet", _VSAC_ORAL),
    ),
    (T.CORTICOSTEROID, "prednisolone", _rx("198142", "prednisolone 5 MG Oral Tablet", _VSAC_ORAL)),
    (
        T.CORTICOSTEROID,
        "methylprednisolone",
        _rx("328161", "Methylprednisolone 16 MG Oral Tablet", _VSAC_ORAL),
    ),
    (
        T.CORTICOSTEROID,
        "methylprednisolone",
        _rx("197969", "Methylprednisolone 2 MG Oral Tablet", _VSAC_ORAL),
    ),
    (
        T.CORTICOSTEROID,
        "methylprednisolone",
        _rx("197971", "Methylprednisolone 32 MG Oral Tablet", _VSAC_ORAL),
    ),
    (
        T.CORTICOSTEROID,
        "methylprednisolone",
        _rx("259966", "Methylprednisolone 4 MG Oral Tablet", _VSAC_ORAL),
    ),
    (
        T.CORTICOSTEROID,
        "methylprednisolone",
        _rx("197973", "Methylprednisolone 8 MG Oral Tablet", _VSAC_ORAL),
    ),
    (
        T.CORTICOSTEROID,
        "dexamethasone",
        _rx("197577", "Dexamethasone 0.5 MG Oral Tablet", _VSAC_ORAL),
    ),
    (
        T.CORTICOSTEROID,
        "dexamethasone",
        _rx("343033", "Dexamethasone 0.75 MG Oral Tablet", _VSAC_ORAL),
    ),
    (
        T.CORTICOSTEROID,
        "dexamethasone",
        _rx("197579", "Dexamethasone 1 MG Oral Tablet", _VSAC_ORAL),
    ),
    (
        T.CORTICOSTEROID,
        "dexamethasone",
        _rx("197580", "Dexamethasone 1.5 MG Oral Tablet", _VSAC_ORAL),
    ),
    (
        T.CORTICOSTEROID,
        "dexamethasone",
        _rx("197581", "Dexamethasone 2 MG Oral Tablet", _VSAC_ORAL),
    ),
    (
        T.CORTICOSTEROID,
        "dexamethasone",
        _rx("197582", "Dexamethasone 4 MG Oral Tablet", _VSAC_ORAL),
    ),
    (
        T.CORTICOSTEROID,
        "dexamethasone",
        _rx("197583", "Dexamethasone 6 MG Oral Tablet", _VSAC_ORAL),
    ),
    (
        T.CORTICOSTEROID,
        "hydrocortisone",
        _rx("197782", "Hydrocortisone 10 MG Oral Tablet", _VSAC_ORAL),
    ),
    (
        T.CORTICOSTEROID,
        "hydrocortisone",
        _rx("197783", "Hydrocortisone 20 MG Oral Tablet", _VSAC_ORAL),
    ),
    (
        T.CORTICOSTEROID,
        "hydrocortisone",
        _rx("197787", "Hydrocortisone 5 MG Oral Tablet", _VSAC_ORAL),
    ),
    (
        T.CORTICOSTEROID,
        "dexamethasone",
        _rx("2261802", "dexamethasone 20 MG Oral Tablet", _VSAC_ORAL),
    ),
    (T.AZATHIOPRINE, "azathioprine", _rx("359228", "Azathioprine 100 MG Oral Tablet", _VSAC_ORAL)),
    (T.AZATHIOPRINE, "azathioprine", _rx("199310", "Azathioprine 25 MG Oral Tablet", _VSAC_ORAL)),
    (T.AZATHIOPRINE, "azathioprine", _rx("359229", "Azathioprine 75 MG Oral Tablet", _VSAC_ORAL)),
    (T.AZATHIOPRINE, "azathioprine", _rx("239983", "azathioprine 100 MG Injection", _VSAC_ORAL)),
    (
        T.MYCOPHENOLATE,
        "mycophenolate mofetil",
        _rx("199058", "mycophenolate mofetil 250 MG Oral Capsule", _VSAC_ORAL),
    ),
    (
        T.CYCLOPHOSPHAMIDE,
        "cyclophosphamide",
        _rx("1437968", "Cyclophosphamide 25 MG Oral Capsule", _VSAC_ORAL),
    ),
    (
        T.CYCLOPHOSPHAMIDE,
        "cyclophosphamide",
        _rx("1437969", "Cyclophosphamide 50 MG Oral Capsule", _VSAC_ORAL),
    ),
    (
        T.CYCLOPHOSPHAMIDE,
        "cyclophosphamide",
        _rx("1734921", "cyclophosphamide 2000 MG Injection", _VSAC_ORAL),
    ),
    (T.CYCLOSPORINE, "cyclosporine", _rx("328160", "Cyclosporine 100 MG Oral Capsule", _VSAC_ORAL)),
    (T.CYCLOSPORINE, "cyclosporine", _rx("197553", "Cyclosporine 25 MG Oral Capsule", _VSAC_ORAL)),
    (
        T.CYCLOSPORINE,
        "cyclosporine",
        _rx("241834", "cyclosporine, modified 100 MG Oral Capsule", _VSAC_ORAL),
    ),
    (
        T.CYCLOSPORINE,
        "cyclosporine",
        _rx("835894", "cyclosporine, modified 25 MG Oral Capsule", _VSAC_ORAL),
    ),
    (
        T.CYCLOSPORINE,
        "cyclosporine",
        _rx("835925", "cyclosporine, modified 50 MG Oral Capsule", _VSAC_ORAL),
    ),
    (
        T.CYCLOSPORINE,
        "cyclosporine",
        _rx("205175", "5 ML cyclosporine 50 MG/ML Injection", _VSAC_ORAL),
    ),
)
PRODUCT_CODES: dict[T, tuple[CodeEntry, ...]] = {
    therapy: tuple(entry for t, _, entry in PRODUCTS if t is therapy)
    for therapy in dict.fromkeys(t for t, _, _ in PRODUCTS)
}
PRODUCT_INGREDIENTS: dict[str, str] = {entry.code: name for _, name, entry in PRODUCTS}

# Antivirals (not immunotherapy): read only to tell whether HSV or VZV found in CSF is being
# treated (rules.csf_gate). Ingredient codes only; IV aciclovir products (SCD) were not found in
# a verified source, so orders coded at product level are recognised by name (ANTIVIRAL_TEXT_TERMS).
_US_CORE_SUBSTANCE = (
    "US Core allergy-substance VSAC expansion (ecqm-content-qicore-2024); "
    "CICADA IG ValueSet-vaccine-medication-codes-rxnorm"
)
ANTIVIRAL_CODES: tuple[CodeEntry, ...] = (
    _rx("281", "acyclovir", _US_CORE_SUBSTANCE),
    _rx("73645", "valacyclovir", _US_CORE_SUBSTANCE),
)
# Names for the text fallback (whole words), each mapped to its ingredient; INN and USAN spellings.
ANTIVIRAL_TEXT_TERMS: dict[str, str] = {
    "acyclovir": "acyclovir",
    "aciclovir": "acyclovir",
    "valacyclovir": "valacyclovir",
    "valaciclovir": "valacyclovir",
}
_ANTIVIRAL_BY_CODE = {entry.code: entry.display for entry in ANTIVIRAL_CODES}


def antiviral_for_rxnorm(code: str | None) -> str | None:
    """The antiviral ingredient an RxNorm code stands for (acyclovir, valacyclovir), if any."""
    return _ANTIVIRAL_BY_CODE.get(code.strip()) if code else None


# Which ingredient a code stands for where the therapy has several (TherapyFact.ingredient).
INGREDIENT_NAME_BY_CODE: dict[str, str] = {
    "6902": "methylprednisolone",
    "203189": "methylprednisolone",
    "203856": "methylprednisolone",
    "1743726": "methylprednisolone",
    "1743720": "methylprednisolone",
    "1743704": "methylprednisolone",
    "311659": "methylprednisolone",
    "1743729": "methylprednisolone",
    "1743707": "methylprednisolone",
    "8640": "prednisone",
    "8638": "prednisolone",
    "3264": "dexamethasone",
    "5492": "hydrocortisone",
    "485020": "mycophenolic acid",
    "485023": "mycophenolic acid",
}

# Names for the text fallback, matched as whole words (see facts.therapies). Each maps to the
# ingredient it names. Brand names appear only where their ingredient was verified (see sources).
TEXT_TERMS: dict[T, dict[str, str]] = {
    T.CORTICOSTEROID: {
        "methylprednisolone": "methylprednisolone",
        "solu-medrol": "methylprednisolone",
        "solumedrol": "methylprednisolone",
        "prednisone": "prednisone",
        "prednisolone": "prednisolone",
        "dexamethasone": "dexamethasone",
        "hydrocortisone": "hydrocortisone",
    },
    T.IVIG: {
        "ivig": "immune globulin",
        "igiv": "immune globulin",
        "intravenous immunoglobulin": "immune globulin",
        "intravenous immune globulin": "immune globulin",
        "immune globulin intravenous": "immune globulin",
        **dict.fromkeys(
            (
                "privigen",
                "gammagard",
                "gamunex",
                "gamunex-c",
                "octagam",
                "gammaplex",
                "panzyga",
                "kiovig",
                "intratect",
                "bivigam",
                "flebogamma",
                "gammaked",
                "asceniv",
            ),
            "immune globulin",
        ),
    },
    T.RITUXIMAB: dict.fromkeys(
        ("rituximab", "rituxan", "truxima", "ruxience", "riabni"), "rituximab"
    ),
    T.CYCLOPHOSPHAMIDE: {"cyclophosphamide": "cyclophosphamide"},
    T.TOCILIZUMAB: dict.fromkeys(("tocilizumab", "actemra", "tofidence", "avtozma"), "tocilizumab"),
    T.BORTEZOMIB: {"bortezomib": "bortezomib", "velcade": "bortezomib"},
    T.AZATHIOPRINE: {"azathioprine": "azathioprine"},
    T.MYCOPHENOLATE: {
        "mycophenolate": "mycophenolate mofetil",
        "mycophenolate mofetil": "mycophenolate mofetil",
        "mycophenolic acid": "mycophenolic acid",
        "cellcept": "mycophenolate mofetil",
    },
    T.CYCLOSPORINE: dict.fromkeys(
        ("cyclosporine", "ciclosporin", "cyclosporin", "sandimmune", "neoral", "gengraf"),
        "cyclosporine",
    ),
}

# Where each brand name in TEXT_TERMS was checked (generic names need no source).
BRAND_NAME_SOURCES: dict[str, str] = {
    "solu-medrol": _PDDI + " (BN 203856)",
    "solumedrol": _PDDI + " (BN 203856, unhyphenated)",
    "velcade": "CIBMTR med-bortezomib value set (BN 356733)",
    "privigen": "DailyMed label 'PRIVIGEN, Immune Globulin Intravenous (Human), 10% Liquid'",
    "gammagard": "DailyMed label 'GAMMAGARD LIQUID, Immune Globulin Infusion (Human)' (IV or SC)",
    "kiovig": "EU package leaflet 'KIOVIG ... Human normal immunoglobulin'; " + _MEDSCAPE,
    "intratect": "EU package leaflet 'Intratect ... Human normal immunoglobulin (IVIg)'",
    **dict.fromkeys(
        ("gamunex", "gamunex-c", "octagam", "gammaplex", "panzyga"),
        _MEDSCAPE + "; EU package leaflets (IVIg)",
    ),
    **dict.fromkeys(("bivigam", "flebogamma", "gammaked", "asceniv"), _MEDSCAPE),
    **dict.fromkeys(("rituxan", "truxima", "ruxience", "riabni"), _FDA),
    **dict.fromkeys(("actemra", "tofidence", "avtozma"), _FDA),
    "cellcept": _FDA,
    **dict.fromkeys(("sandimmune", "neoral", "gengraf"), _PDDI_CSA + "; " + _FDA),
}

# Generic immune globulin names: IVIG only when none of NOT_IVIG_WORDS is present as a whole word.
IVIG_GENERIC_TERMS: tuple[str, ...] = (
    "immune globulin",
    "immunoglobulin",
    "immune globulin g",
    "immunoglobulin g",
    "human normal immunoglobulin",
    "normal immunoglobulin",
)

# Specific (hyperimmune) immune globulins and non-IV products that are not IVIG; a text naming one
# of these words is never read as IVIG even if it says "immune globulin".
NOT_IVIG_WORDS = frozenset(
    {
        "hepatitis",
        "tetanus",
        "rabies",
        "rho",
        "rh",
        "anti-d",
        "thymocyte",
        "anti-thymocyte",
        "antithymocyte",
        "lymphocyte",
        "botulism",
        "varicella",
        "zoster",
        "cytomegalovirus",
        "cmv",
        "vaccinia",
        "anthrax",
        "subcutaneous",
        "subcut",
        "sc",
        "scig",
        "intramuscular",
        "im",
    }
)

DROPPED_RXNORM_CODES: tuple[DroppedCode, ...] = (
    DroppedCode(
        RXNORM,
        "(none)",
        "IVIG ingredient and IVIG SCD/SBDs",
        "no RxCUI found in any verified value set; matched by name instead",
    ),
    DroppedCode(RXNORM, "7145", "mycophenolic acid ingredient", "candidate not confirmed"),
)

_BY_CODE: dict[str, T] = {
    entry.code: therapy
    for table in (INGREDIENT_CODES, CLINICAL_DRUG_CODES, PRODUCT_CODES)
    for therapy, entries in table.items()
    for entry in entries
}


def therapy_for_rxnorm(code: str | None) -> T | None:
    return _BY_CODE.get(code.strip()) if code else None


def ingredient_for_rxnorm(code: str) -> str | None:
    """The ingredient name behind a shipped RxNorm code (for TherapyFact.ingredient)."""
    if code in INGREDIENT_NAME_BY_CODE:
        return INGREDIENT_NAME_BY_CODE[code]
    if code in PRODUCT_INGREDIENTS:
        return PRODUCT_INGREDIENTS[code]
    therapy = _BY_CODE.get(code)
    if therapy is None:
        return None
    for entry in INGREDIENT_CODES.get(therapy, ()):
        if entry.note is None:
            return entry.display
    return None


# IVIG has no verified RxNorm code (the only candidate, ingredient 1426680, has one source). CVX 87
# "immune globulin, intravenous" is verified (US Core CVX value set, VSAC): suggested IVIG orders
# carry it, because clients such as the CDS Hooks sandbox apply a `create` only when the
# medication is coded, and the facts layer recognises it.
CVX_IVIG = CodeEntry(
    CVX, "87", "immune globulin, intravenous", Verification.VERIFIED, "US Core CVX value set (VSAC)"
)
