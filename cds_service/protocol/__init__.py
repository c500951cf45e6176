"""CDS Hooks 2.0 wire models (pydantic v2), field names spelled exactly as on the wire.

`request` holds the hook call and its per-hook contexts, `response` the cards and actions (valid
by construction), `feedback` the feedback endpoint's body. Each module cites the spec section it
implements (https://cds-hooks.hl7.org/2.0/).
"""
