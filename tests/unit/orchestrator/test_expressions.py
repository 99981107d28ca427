"""The playbook's expressions read ``customer.<field>`` as top-level variables, lazily: the
same answers as the expressions as written against one nested ``customer`` map."""

from __future__ import annotations

from typing import Any

import cel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.core.expressions import top_level_fields
from orchestrator.core.playbook import Playbook, load_playbook
from orchestrator.core.views import NEVER_DAYS, build_context


@pytest.mark.parametrize(
    ("source", "rewritten"),
    [
        ("customer.ltv > 1.0", "customer__ltv > 1.0"),
        ("customer . ltv>1.0&&!customer.churned", "customer__ltv>1.0&&!customer__churned"),
        ('customer.consents.email == "withdrawn"', 'customer__consents.email == "withdrawn"'),
        # Inside strings and comments, nothing changes.
        ('"customer.ltv" + customer.id', '"customer.ltv" + customer__id'),
        ("'it\\'s customer.x' == customer.y", "'it\\'s customer.x' == customer__y"),
        ('r"\\" == customer.x', 'r"\\" == customer__x'),
        ('"""a "customer.x" b""" + customer.y', '"""a "customer.x" b""" + customer__y'),
        ("customer.x // customer.y\n&& customer.z", "customer__x // customer.y\n&& customer__z"),
        # Selections CEL needs as such stay: has(), a call on the map, a field of something else.
        ("has(customer.x) && customer.x > 1", "has(customer.x) && customer__x > 1"),
        (
            "customer.size() > 0 && customer.segments.size() > 0",
            "customer.size() > 0 && customer__segments.size() > 0",
        ),
        ("event.customer.x == customer.y", "event.customer.x == customer__y"),
        ('customer["ltv"] > 1.0', 'customer["ltv"] > 1.0'),
        ("my_customer.x + customer2.y", "my_customer.x + customer2.y"),
        # A macro variable named customer: the expression is left as written.
        ("[1].exists(customer, customer > 0) && customer.ltv > 0.0", None),
    ],
)
def test_the_rewrite_touches_only_plain_field_selections(
    source: str, rewritten: str | None
) -> None:
    assert top_level_fields(source) == (source if rewritten is None else rewritten)


# Every value the view can hold, by type: what each customer field may be in any state.
_NUMBERS = st.one_of(
    st.integers(-5, 5), st.integers(-(2**40), 2**40), st.just(NEVER_DAYS), st.just(-1)
)
_DOUBLES = st.one_of(st.floats(-1e7, 1e7, allow_nan=False), st.sampled_from([0.0, 100000.0]))
_WORDS = st.sampled_from(["", "active", "withdrawn", "granted", "sales", "0015g00000AbCdEAAZ"])
_CUSTOMER = st.fixed_dictionaries(
    {
        "id": st.just("c-1"),
        "identifiers": st.dictionaries(
            st.sampled_from(["crm_account_id", "email", "phone"]), _WORDS, max_size=3
        ),
        "ltv": _DOUBLES,
        "revenue": _DOUBLES,
        "pipeline": _DOUBLES,
        "purchases": _NUMBERS,
        "is_customer": st.booleans(),
        "churned": st.booleans(),
        "open_cases": _NUMBERS,
        "open_urgent_cases": _NUMBERS,
        "complaints_90d": _NUMBERS,
        "days_since_complaint": _NUMBERS,
        "last_csat": _NUMBERS,
        "last_nps": st.integers(-1, 10),
        "sentiment": _DOUBLES,
        "lead_score": st.integers(0, 100),
        "lead_qualified": st.booleans(),
        "days_since_engaged": _NUMBERS,
        "days_since_first_purchase": _NUMBERS,
        "days_since_last_purchase": _NUMBERS,
        "days_to_renewal": _NUMBERS,
        "stages": st.dictionaries(st.sampled_from(["engage", "transact", "service"]), _WORDS),
        "segments": st.lists(st.sampled_from(["vip", "new-lead", "at-risk"]), max_size=3),
        "consents": st.dictionaries(st.sampled_from(["email", "sms", "phone"]), _WORDS),
        "has_account_owner": st.booleans(),
        "owner_department": _WORDS,
        "sales_contacted": st.booleans(),
        "promotions_suppressed": st.booleans(),
        "erased": st.booleans(),
    }
)
_EVENT = st.fixed_dictionaries(
    {"type": st.sampled_from(["sales.deal.won", "servicedesk.case.opened"]), "id": st.just("e")},
    optional={
        "score": st.integers(0, 100),
        "nps": st.integers(0, 10),
        "kind": st.sampled_from(["new-business", "renewal"]),
        "status": _WORDS,
        "channel": st.sampled_from(["email", "sms"]),
        "case_id": _WORDS,
        "category": _WORDS,
        "product_interest": _WORDS,
        "opportunity_id": _WORDS,
        "contract_id": _WORDS,
        "request_id": _WORDS,
        "regulation": _WORDS,
        "plays": st.lists(st.sampled_from(["hot-lead", "win-back"]), max_size=2),
    },
)
# Beyond the default playbook: the shapes the rewrite leaves alone must still agree.
_EXTRA = [
    "has(customer.ltv) && customer.ltv > 10.0",
    "customer.size() > 3 && customer.purchases >= 1",
    '"email" in customer.consents && customer.consents.email == "withdrawn"',
    'customer["ltv"] >= 0.0 || customer.churned',
    "customer.no_such_field == 1 || customer.is_customer",
    "customer.segments.exists(s, s == 'vip') && customer.last_nps >= 0",
    "customer.stages.engage == 'active'",
    "event.score >= customer.lead_score",
]


def _outcome(program: Any, context: Any) -> Any:
    try:
        return ("value", program.execute(context))
    except Exception:  # any failure: the core counts it as False, a template raises it on
        return ("error", None)


@pytest.fixture(scope="module")
def default_playbook() -> Playbook:
    return load_playbook()


@settings(max_examples=300, deadline=None)
@given(customer=_CUSTOMER, event=_EVENT)
def test_rewritten_expressions_in_a_lazy_context_answer_as_written_in_a_nested_one(
    default_playbook: Playbook, customer: dict[str, Any], event: dict[str, Any]
) -> None:
    sources = [*default_playbook.expressions, *_EXTRA]
    # As the playbook compiles them; with the default playbook's fields, and with all of them
    # (an expression reading the whole map needs the whole view).
    for fields in (default_playbook.customer_fields, None):
        selected = {k: v for k, v in customer.items() if fields is None or k in fields}
        nested = cel.Context({"customer": selected, "event": event})
        lazy = build_context(customer, event, fields)
        for source in sources:
            if source in default_playbook.expressions:
                program = default_playbook.expression(source).program
            else:
                program = cel.compile(top_level_fields(source))
            as_written = _outcome(cel.compile(source), nested)
            assert _outcome(program, lazy) == as_written, source


def test_the_playbook_runs_rewritten_programs(default_playbook: Playbook) -> None:
    rewritten = [e for e in default_playbook.expressions.values() if "customer." in e.source]
    assert rewritten
    for expression in rewritten:
        variables = expression.program.references()["variables"]
        assert any(v.startswith("customer__") for v in variables), expression.source
