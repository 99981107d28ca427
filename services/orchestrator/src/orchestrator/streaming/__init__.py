"""The faust topology: decode, resolve the customer, call the pure core, send, store.

Three in-order agents (concurrency 1, so no offset is committed past an unfinished record):

* ``resolve-department-events`` on the three department event topics (keyed by the event's
  first identifier) and ``settle-identity-messages`` on the internal identity topic (keyed by
  identifier) share the ``identities`` table: identity resolution, keyed by identifier
  (:mod:`.identity_agent`);
* ``apply-customer-messages`` on events-by-customer, the customer commands and the action
  outcomes (all keyed by customer id) owns the ``customers`` table (:mod:`.customer_agent`).

Both tables are RocksDB (rocksdict) with changelog topics, so a restarted worker recovers them.
A record that cannot be decoded or applied goes to the dead-letter topic with its original
bytes and the reason in headers; the stream goes on (:mod:`.sending`). The new state is
written with its outputs as an outbox before they are acknowledged; faust flushes the producer
before it commits a source offset, so a crash in between replays the record, which re-sends
the same (stable) ids rather than losing them (``orchestrator.stored``). What each decision
sends is decided in one pure place, shared with the replay engine: ``orchestrator.core.effects``.

The modules: :mod:`.wiring` (app, topics, tables), :mod:`.identity_agent`,
:mod:`.customer_agent`, :mod:`.sending`, :mod:`.upkeep` (deadlines, gauges, budgets),
:mod:`.observing` (metrics after a change) and :mod:`.reads` (what the HTTP API may read).
"""

from orchestrator.core.messages import LOOKUP_HEADER
from orchestrator.streaming.wiring import Topology

__all__ = ["LOOKUP_HEADER", "Topology"]
