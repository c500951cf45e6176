"""Procedure codes and names for plasma exchange (PLEX), with provenance.

Plasma exchange arrives as a ServiceRequest (ordered) or a Procedure (done). No SNOMED CT code for
it could be verified (20720000 has one secondary source), so
besides CPT 36514 PLEX is recognised by name through `PLEX_TEXT_TERMS`, matched as whole words by
facts.therapies ("plex" never matches inside "plexopathy").
"""

from __future__ import annotations

from cds_service.knowledge import CPT, SNOMED, CodeEntry, DroppedCode, Verification

PLEX_CODES: tuple[CodeEntry, ...] = (
    CodeEntry(
        CPT,
        "36514",
        "Therapeutic apheresis; for plasma pheresis",
        Verification.CORROBORATED,
        "verified this pass: AAPC coding article (36511-36516 by component removed), "
        "RVU Edge (CMS PFS RVU26A) and Coding Ahead (AMA descriptor) agree; CPT itself "
        "is licensed and not openly published",
    ),
)

PLEX_TEXT_TERMS: tuple[str, ...] = (
    "plasma exchange",
    "plasmapheresis",
    "plasmapheresis procedure",
    "plex",
    "tpe",
    "therapeutic plasma exchange",
    "plasma pheresis",
    "therapeutic apheresis",
)

DROPPED_PROCEDURE_CODES: tuple[DroppedCode, ...] = (
    DroppedCode(SNOMED, "20720000", "Plasmapheresis", "single secondary source (OHDSI)"),
    DroppedCode(
        CPT,
        "36516",
        "Therapeutic apheresis with extracorporeal selective adsorption",
        "immunoadsorption, not plasma exchange; no Therapy member for it",
    ),
)

_BY_CODE: dict[tuple[str, str], CodeEntry] = {(e.system, e.code): e for e in PLEX_CODES}


def is_plex_code(system: str | None, code: str | None) -> bool:
    return (system or "", code or "") in _BY_CODE
