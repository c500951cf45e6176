"""Data resolution for hook calls (CDS Hooks 2.0 "Providing FHIR Resources to a CDS Service").

The one entry point is `resolve(service, request, config, *, is_allowed=None) -> ResolvedData`:
prefetch first, then the EHR's `fhirServer` (concurrently, under one time budget, with the
bearer token sent to that server only), else `DataUnavailable` (412) for required keys. The
modules: `templates` renders prefetch templates, `prefetch` classifies what the EHR sent, `fetch`
reads what is missing from the server, `resolver` ties them together.
"""

from cds_service.resolution.resolver import resolve

__all__ = ["resolve"]
