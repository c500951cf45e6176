"""The benchmark behind `cds-service benchmark`: the service against its stack's physical floor.

One run measures, side by side on the same machine: a minimal Flask app under the service's own
gunicorn settings answering the same POST with the same cards (`floor`), the service with full
prefetch on representative calls (`scenarios`, or the clinical fixtures via `fixture_scenarios`),
the same calls without prefetch against a real FHIR server on loopback behind a fixed-delay proxy
(`latency_proxy`, `fhir_server`), and the cost of growing prefetch. Load comes from `wrk` in its
own process (`load`); the processes under test are started and measured by `servers`, the run is
sequenced by `run`, and `report` turns repetitions into medians, ratios and targets met or missed.
"""
