"""Duplicate alerts: order-sign does not repeat a card the clinician already overrode for the same,
unchanged orders in the same encounter.

The same rule fires at order-select (when the clinician picks the order) and again at order-sign
(when they sign it). Once they have overridden it at order-select, showing it again at order-sign
for the very same orders is noise that teaches clinicians to click through. What is remembered,
and what it is keyed on:

- **Encounter**: `context.encounterId`, kept in the ledger only as a keyed hash (like the patient
  id), plus the patient hash. Without an `encounterId` nothing is suppressed: no encounter, no
  scope within which "already seen" is safe to say.
- **Orders**: a keyed fingerprint of each draft order: its canonical JSON (orjson, sorted keys,
  compact UTF-8) without `meta` and `text`, which servers rewrite without any clinical change.
  Anything else that changes (medication, dose, route, timing, a new or different order) changes
  the fingerprint.
- **Cards**: by rule ids. `hookInstance` cannot be the key: each hook call has its own.

A card at order-sign is left out when an earlier card in the same encounter (order-select, or an
earlier order-sign) that was *overridden* and never accepted carried every rule id of this card,
and every draft order being signed now was among that earlier call's draft orders, unchanged.
A card nobody answered is not an override (CDS Hooks has no "ignored" outcome) and repeats; a new
or changed order, or a rule that did not speak before, repeats it too. When the ledger cannot say
(the earlier card not committed yet, no feedback received yet), the card is shown again: the safe
direction. Cards left out are not recorded as issued; the request log counts them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select

from cds_service.cards import IssuedCard
from cds_service.frozen import fast_init
from cds_service.ledger import Ledger
from cds_service.schema import card_rules, feedback, issued_cards

_VOLATILE = frozenset({"meta", "text"})


def order_fingerprints(ledger: Ledger, orders: Iterable[Mapping[str, Any]]) -> list[str]:
    """Keyed fingerprints of draft orders (a keyed hash: orders name the patient)."""
    return sorted(
        ledger.patient_hash(
            "order\n"
            + orjson.dumps(
                {k: v for k, v in order.items() if k not in _VOLATILE},
                option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
            ).decode()
        )
        for order in orders
    )


@fast_init
@dataclass(frozen=True)
class _Overridden:
    rule_ids: frozenset[str]
    orders: frozenset[str]


def _overridden_before(ledger: Ledger, patient_hash: str, encounter_hash: str) -> list[_Overridden]:
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            select(issued_cards.c.card_uuid, issued_cards.c.draft_orders, feedback.c.outcome)
            .select_from(
                issued_cards.join(feedback, feedback.c.card_uuid == issued_cards.c.card_uuid)
            )
            .where(
                issued_cards.c.patient_hash == patient_hash,
                issued_cards.c.encounter_hash == encounter_hash,
                issued_cards.c.silent.is_(False),
                issued_cards.c.draft_orders.is_not(None),
            )
        ).all()
        outcomes: dict[str, set[str]] = defaultdict(set)
        orders: dict[str, frozenset[str]] = {}
        for row in rows:
            outcomes[row.card_uuid].add(row.outcome)
            orders[row.card_uuid] = frozenset(json.loads(row.draft_orders))
        overridden = [uuid for uuid, seen in outcomes.items() if seen == {"overridden"}]
        if not overridden:
            return []
        rules: dict[str, set[str]] = defaultdict(set)
        for uuid, rule_id in conn.execute(
            select(card_rules.c.card_uuid, card_rules.c.rule_id).where(
                card_rules.c.card_uuid.in_(overridden)
            )
        ):
            rules[uuid].add(rule_id)
    return [_Overridden(frozenset(rules[uuid]), orders[uuid]) for uuid in overridden]


def already_overridden(
    ledger: Ledger,
    issued: Sequence[IssuedCard],
    *,
    patient_id: str,
    encounter_id: str | None,
    orders: Sequence[str],
) -> set[str]:
    """The uuids of the cards (of an order-sign call) to leave out as repeats."""
    if not issued or not encounter_id or not orders:
        return set()
    earlier = _overridden_before(
        ledger, ledger.patient_hash(patient_id), ledger.encounter_hash(encounter_id)
    )
    signing = frozenset(orders)
    return {
        i.card["uuid"]
        for i in issued
        if any(
            frozenset(i.rule_ids) <= before.rule_ids and signing <= before.orders
            for before in earlier
        )
    }
