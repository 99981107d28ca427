"""Expression and template injection strings, and where a department event takes them.

Shared by the pure injection test and the live one (real services and worker), so both try the
very same strings on the very same free-text fields.
"""

from __future__ import annotations

import json
from typing import Any

from lifecycle_schemas.codec import RecordDecodeError, decode_record

INJECTIONS = (
    "${customer.ltv > 0}",
    "{{ customer.segments }}",
    '" || true || "',
    "customer.ltv > 0 && event.type == 'sales.deal.won'",
    '="upsell-" + customer.id',
)


def injected(document: dict[str, Any], text: str) -> dict[str, Any]:
    """``document`` with every free-text field of ``data`` set to ``text`` where still valid."""
    result: dict[str, Any] = json.loads(json.dumps(document))
    for name, value in document["data"].items():
        if name == "customer" or not isinstance(value, str):
            continue
        candidate = json.loads(json.dumps(result))
        candidate["data"][name] = text
        try:
            decode_record(json.dumps(candidate).encode(), now=None)
        except RecordDecodeError:
            continue  # an id, code or date field: the contract refuses the string itself
        result = candidate
    return result


def free_text_fields(document: dict[str, Any], text: str) -> list[str]:
    """The names of the fields of ``data`` that take ``text`` (see ``injected``)."""
    return [n for n, v in injected(document, text)["data"].items() if v == text]
