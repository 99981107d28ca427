"""What an erased customer leaves in the customers table: a tombstone, and a mark.

An erasure deletes the customer's record (a tombstone on the table's changelog, so compaction
drops every earlier value) and its identity entries. What stays is a mark under
``erased:<customer id>``: the erasure's time, nothing personal. While the department topics
still hold records about the customer (their retention), a record replayed after a crash or a
rebalance, or a lookup already in flight, meets the mark and is dropped instead of bringing the
personal data back. After that retention no such record can exist, and the customer id is free
again (a new relationship under the same first identifier starts afresh).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from lifecycle_schemas.departments import Department
from lifecycle_schemas.topics import events_topic_for

MARK_PREFIX = b"erased:"
# As long as any record about the customer can still be read from a department topic.
MARK_LIFETIME = timedelta(
    milliseconds=max(events_topic_for(d).retention_ms or 0 for d in Department)
)


def mark_key(customer_key: bytes) -> bytes:
    """The table key of a customer's erasure mark."""
    return MARK_PREFIX + customer_key


def is_mark(table_key: bytes) -> bool:
    """Whether a customers-table key is an erasure mark, not a customer."""
    return table_key.startswith(MARK_PREFIX)


def mark(now: datetime) -> bytes:
    """A mark's value: when the customer was erased."""
    return json.dumps({"erased_at": now.isoformat()}).encode()


def still_erased(value: bytes | None, now: datetime) -> bool:
    """Whether a mark stops records about its customer at ``now``."""
    if not value:
        return False
    try:
        erased_at = datetime.fromisoformat(json.loads(value)["erased_at"])
    except (ValueError, KeyError, TypeError):
        return True  # unreadable: keep stopping them, as the safe side
    return now - erased_at < MARK_LIFETIME
