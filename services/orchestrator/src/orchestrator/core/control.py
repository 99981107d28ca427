"""The global control group: customers observed but not treated, to measure what treatment does.

A stable hash of the customer id (SHA-256, not Python's salted ``hash``) puts a configurable share
of customers in the group, the same on every worker and after every restart. Their candidate
actions are still proposed, ranked and logged, but the winners are marked ``held-out`` and never
sent. Erasure is exempt: a legal obligation is not a treatment.
"""

from __future__ import annotations

import hashlib

from lifecycle_schemas.outputs import Verdict
from orchestrator.core.decide import ERASE_ACTION, Proposal

_BUCKETS = 10_000


def control_bucket(customer_id: str) -> int:
    """The customer's bucket in ``0..9999``, stable across processes and versions."""
    digest = hashlib.sha256(f"control-group:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % _BUCKETS


def in_control_group(customer_id: str, share: float) -> bool:
    """Whether the customer is in the control group of the given share (0..1)."""
    return control_bucket(customer_id) < round(share * _BUCKETS)


def hold_out(proposals: list[Proposal]) -> None:
    """Mark every winning proposal (erasure excepted) as held out: logged, not sent."""
    for proposal in proposals:
        if proposal.verdict is Verdict.WON and not proposal.spec.type.endswith(ERASE_ACTION):
            proposal.verdict = Verdict.HELD_OUT
            proposal.reason_code = "control-group"
            proposal.reason = "the customer is in the global control group (observed, not treated)"
