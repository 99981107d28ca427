"""The small maps CEL expressions see: ``customer`` (from the state) and ``event``.

Built once per event and wrapped in one ``cel.Context`` that every segment, play, suppression
and owner expression reuses (converting a whole state per expression would cost 100x more).
Money is a double in major units (EUR 1,299.00 is ``1299.0``); counts are integers; a missing
number is a documented sentinel so expressions need no ``has()``.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Any

import cel

from lifecycle_schemas.vocabulary import CURRENCY_EXPONENTS, Money
from orchestrator.core.expressions import field_variable
from orchestrator.core.playbook import short_type
from orchestrator.core.state import CustomerState
from orchestrator.core.timescale import Calendar

# "Never happened" for day counters: far enough away that any window comparison is false.
NEVER_DAYS = 100_000
COMPLAINT_WINDOW_DAYS = 90


def major_units(amount_minor: int, currency: str | None) -> float:
    """Minor units as a float amount in the currency's major unit."""
    exponent: int = CURRENCY_EXPONENTS.get(currency or "EUR", 2)
    return float(amount_minor) / float(10**exponent)


def recent_complaints(state: CustomerState, now: datetime, calendar: Calendar) -> int:
    """Complaints in the last :data:`COMPLAINT_WINDOW_DAYS` days of the playbook's calendar."""
    return sum(
        1 for at in state.complaints if calendar.days_between(at, now) < COMPLAINT_WINDOW_DAYS
    )


def customer_view(state: CustomerState, now: datetime, calendar: Calendar) -> dict[str, Any]:
    """The ``customer`` variable of every expression (documented in docs/orchestrator.md).

    Day counts are on the playbook's calendar (simulated days under a time scale). A renewal
    date is a department's calendar date, so the days until it are plain days either way.
    """

    def days_since(moment: datetime | None) -> int:
        return NEVER_DAYS if moment is None else max(0, calendar.days_between(moment, now))

    currency = state.currency
    identifiers: dict[str, str] = {}
    for identifier in state.identifiers:
        identifiers.setdefault(identifier.kind, identifier.value)
    last_complaint = max(state.complaints) if state.complaints else None
    return {
        "id": state.customer_id,
        "identifiers": identifiers,
        "ltv": major_units(state.predicted_ltv_minor, currency),
        "revenue": major_units(state.revenue_to_date_minor, currency),
        "pipeline": major_units(sum(state.open_opportunities.values()), currency),
        "purchases": state.purchases,
        "is_customer": state.purchases > 0,
        "churned": state.churned_at is not None,
        "open_cases": len(state.open_cases),
        "open_urgent_cases": state.open_urgent_cases(),
        "complaints_90d": recent_complaints(state, now, calendar),
        "days_since_complaint": days_since(last_complaint),
        "last_csat": state.last_csat if state.last_csat is not None else 0,
        "last_nps": state.last_nps if state.last_nps is not None else -1,
        "sentiment": state.sentiment if state.sentiment is not None else 0.0,
        "lead_score": state.lead_score if state.lead_score is not None else 0,
        "lead_qualified": state.lead_qualified,
        "days_since_engaged": days_since(state.last_engaged_at),
        "days_since_first_purchase": days_since(state.first_purchase_at),
        "days_since_last_purchase": days_since(state.last_purchase_at),
        "days_to_renewal": (
            (state.renewal_due_at - now).days if state.renewal_due_at is not None else NEVER_DAYS
        ),
        "stages": {stage: status for stage, status in state.stages.items()},
        "segments": list(state.segments),
        "consents": {channel: c.status for channel, c in state.consents.items()},
        "has_account_owner": state.account_owner is not None,
        "owner_department": state.owner.department if state.owner else "",
        "sales_contacted": state.first_sales_contact_at is not None,
        "promotions_suppressed": state.promotions_suppressed,
        "erased": state.erased,
    }


def _scalar(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def event_view(event: Any) -> dict[str, Any]:
    """The ``event`` variable for a department event: its short type and scalar data fields.

    Money fields become a major-unit double plus ``<name>_currency``; nested objects other than
    money, lists and the customer reference are left out.
    """
    view: dict[str, Any] = {"type": short_type(event.type), "id": event.id}
    for name in type(event.data).model_fields:
        if name == "customer":
            continue
        value = getattr(event.data, name)
        if isinstance(value, Money):
            view[name] = major_units(value.amount_minor, value.currency)
            view[f"{name}_currency"] = value.currency
        elif isinstance(value, str | int | float | bool | Enum | datetime | date):
            view[name] = _scalar(value)
    return view


def build_context(
    customer: dict[str, Any], event: dict[str, Any], fields: frozenset[str] | None = None
) -> Any:
    """One ``cel.Context`` for every expression of an event, resolving variables lazily.

    ``customer.<field>`` is read as the variable ``customer__<field>`` (the playbook's programs
    are compiled that way: ``core/expressions.py``), ``customer`` and ``event`` as maps; only
    ``fields`` of ``customer`` if given (the ones the expressions read:
    ``Playbook.customer_fields``). A value is converted to CEL only when an evaluation reads
    it: most of an event's expressions read a few numbers and booleans, and converting
    strings and maps was the context's cost.
    """
    if fields is not None:
        customer = {name: value for name, value in customer.items() if name in fields}
    variables: dict[str, Any] = {field_variable(name): v for name, v in customer.items()}
    variables["customer"] = customer
    variables["event"] = event
    context = cel.Context()
    # The resolver's None means "not declared"; a value that is None is declared as null.
    for name, value in variables.items():
        if value is None:
            context.add_variable(name, None)
    context.set_variable_resolver(variables.get)
    return context
