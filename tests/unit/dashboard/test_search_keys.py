"""What the customer search tries for what a person typed (``api.lookup_keys``)."""

from __future__ import annotations

import pytest

from orchestrator.api import lookup_keys


@pytest.mark.parametrize(
    ("typed", "tried"),
    [
        (
            " acc-42-5 ",
            [
                "customer_id:acc-42-5",
                "crm_account_id:acc-42-5",
                "helpdesk_requester_id:acc-42-5",
                "marketing_contact_id:acc-42-5",
            ],
        ),
        ("Ann@Example.COM", ["email:ann@example.com"]),
        ("email:Ann@Example.COM", ["email:ann@example.com"]),
        ("+44 20 7946 0958", ["phone:+442079460958"]),
        ("phone:+44 (20) 7946-0958", ["phone:+442079460958"]),
        ("crm_account_id:acc-1", ["crm_account_id:acc-1"]),
        ("customer_id:c-1", ["customer_id:c-1"]),
        # Not a phone number: left as typed, so the lookup finds nothing rather than failing.
        ("+1", ["phone:+1"]),
        # An unknown prefix is part of the key (system ids may hold a colon).
        (
            "ext:7",
            [
                f"{kind}:ext:7"
                for kind in (
                    "customer_id",
                    "crm_account_id",
                    "helpdesk_requester_id",
                    "marketing_contact_id",
                )
            ],
        ),
    ],
)
def test_each_reading_of_what_was_typed_is_tried_in_order(typed: str, tried: list[str]) -> None:
    assert lookup_keys(typed) == tried
