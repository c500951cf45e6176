"""Procedure codes and names for plasma exchange (PLEX), with provenance.

Plasma exchange arrives as a ServiceRequest (ordered) or a Procedure (done). No SNOMED CT or CPT
code for it was verified before this pass (terminology.md D and Addendum 2); codes verified since
are listed in `PLEX_CODES` with how. Until a code is verified, PLEX is recognised by name through
`PLEX_TEXT_TERMS`, matched as whole words by facts.therapies.
"""

from __future__ import annotations

from cds_service.terminology import CPT, SNOMED, CodeEntry, DroppedCode

PLEX_CODES: tuple[CodeEntry, ...] = ()

PLEX_TEXT_TERMS: tuple[str, ...] = (
    "plasma exchange", "plasmapheresis", "plasmapheresis procedure", "plex", "tpe",
    "therapeutic plasma exchange", "plasma pheresis", "therapeutic apheresis",
)

DROPPED_PROCEDURE_CODES: tuple[DroppedCode, ...] = (
    DroppedCode(SNOMED, "20720000", "Plasmapheresis", "single secondary source (OHDSI)"),
    DroppedCode(CPT, "36514", "Therapeutic apheresis; for plasma pheresis", "memory only"),
    DroppedCode(CPT, "36516", "Immunoadsorption (selective adsorption)", "memory only"),
)

_BY_CODE: dict[tuple[str, str], CodeEntry] = {(e.system, e.code): e for e in PLEX_CODES}


def is_plex_code(system: str | None, code: str | None) -> bool:
    return (system or "", code or "") in _BY_CODE
