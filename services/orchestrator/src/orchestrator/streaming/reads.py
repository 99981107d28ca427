"""The read port: what the HTTP API and the dashboard may read of the worker's tables.

Reads only, by identifier or customer id, plus which worker owns a key (requests for another
worker's customers are proxied there). The HTTP layer never touches a faust table itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from orchestrator.core.identity import IdentityEntry
from orchestrator.core.state import CustomerState
from orchestrator.stored import load_state


class CustomerReads(Protocol):
    """Read access to identity resolution and customer states."""

    def customer_of(self, identifier: str) -> str | None:
        """The customer id an identifier (``"<kind>:<value>"``) resolves to on this worker."""
        ...

    def customer(self, customer_id: str) -> CustomerState | None:
        """A customer's state, if this worker holds it."""
        ...

    def local_customers(self) -> Iterator[CustomerState]:
        """Every readable customer state in this worker's partitions."""
        ...

    def identity_owner(self, identifier: str) -> str | None:
        """The URL of the worker owning an identifier's partition; ``None`` for this worker."""
        ...

    def customer_owner(self, customer_id: str) -> str | None:
        """The URL of the worker owning a customer's partition; ``None`` for this worker."""
        ...


class TableReads:
    """:class:`CustomerReads` over the faust tables of this worker."""

    def __init__(
        self,
        app: Any,
        identities: Mapping[bytes, bytes],
        customers: Mapping[bytes, bytes],
        canonical_url: str,
    ) -> None:
        self._app = app
        self._identities = identities
        self._customers = customers
        self._canonical_url = canonical_url

    def customer_of(self, identifier: str) -> str | None:
        stored = self._identities.get(identifier.encode())
        return IdentityEntry.model_validate_json(stored).customer_id if stored else None

    def customer(self, customer_id: str) -> CustomerState | None:
        stored = self._customers.get(customer_id.encode())
        return load_state(stored) if stored else None

    def local_customers(self) -> Iterator[CustomerState]:
        for _, value in self._customers.items():
            if not value:
                continue
            try:
                yield load_state(value)
            except ValueError:  # one unreadable state must not break a report
                continue

    def identity_owner(self, identifier: str) -> str | None:
        return self._owner(self._identities, identifier)

    def customer_owner(self, customer_id: str) -> str | None:
        return self._owner(self._customers, customer_id)

    def _owner(self, table: Any, key: str) -> str | None:
        try:
            url = str(self._app.router.key_store(table.name, key.encode())).rstrip("/")
        except Exception:  # no assignment yet: answer from what this worker has
            return None
        return None if url == self._canonical_url else url
