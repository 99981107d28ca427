"""API keys (hashed, scoped, per department), webhook signatures and masked JSON logs."""

from __future__ import annotations

import json
import logging
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from department_kit.webhooks import backoff, sign, verify_signature
from lifecycle_schemas.departments import Department
from service_kit.api_keys import (
    DEPARTMENT_SCOPES,
    KEYS_FILE_NAME,
    OPERATOR_KEY_ID,
    ORCHESTRATOR_SCOPES,
    PLAIN_KEYS_FILE_NAME,
    ApiKeyConfigError,
    hash_key,
    load_keys,
    parse_keys,
    write_development_keys,
)
from service_kit.logs import JsonFormatter, mask_personal_data


def test_development_keys_are_stored_hashed_and_the_plain_ones_are_private(tmp_path: Path) -> None:
    hashed_file = write_development_keys(tmp_path / "keys")
    plain_file = hashed_file.parent / PLAIN_KEYS_FILE_NAME
    plain = json.loads(plain_file.read_text())["keys"]
    ring = load_keys(hashed_file, None)

    assert stat.S_IMODE(plain_file.stat().st_mode) == 0o600
    for key in plain.values():
        assert key not in hashed_file.read_text()
    identified = {d: ring.identify(plain[f"local-{d.value}"]) for d in Department}
    assert {d: e.department if e else None for d, e in identified.items()} == {
        d: d for d in Department
    }
    assert all(e is not None and e.scopes == DEPARTMENT_SCOPES for e in identified.values())
    operator = ring.identify(plain[OPERATOR_KEY_ID])
    assert operator is not None
    assert (operator.department, operator.scopes) == (None, ORCHESTRATOR_SCOPES)
    assert write_development_keys(tmp_path / "keys") == hashed_file
    assert json.loads(plain_file.read_text())["keys"] == plain, "keys stay stable across runs"


def test_an_older_key_file_gains_the_operator_key_and_keeps_its_department_keys(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "keys"
    hashed_file = write_development_keys(directory)
    plain_file = directory / PLAIN_KEYS_FILE_NAME
    plain = json.loads(plain_file.read_text())["keys"]
    # As written before the orchestrator had keys: department keys only.
    older = {k: v for k, v in plain.items() if k != OPERATOR_KEY_ID}
    plain_file.write_text(json.dumps({"keys": older}))
    entries = json.loads((directory / KEYS_FILE_NAME).read_text())["keys"]
    (directory / KEYS_FILE_NAME).write_text(
        json.dumps({"keys": [e for e in entries if e["id"] != OPERATOR_KEY_ID]})
    )

    write_development_keys(directory)
    now = json.loads(plain_file.read_text())["keys"]
    assert {k: now[k] for k in older} == older
    assert load_keys(hashed_file, None).identify(now[OPERATOR_KEY_ID]) is not None


def test_an_unknown_key_is_not_identified_and_no_keys_means_nobody_is() -> None:
    ring = parse_keys(
        json.dumps(
            {
                "keys": [
                    {
                        "id": "crm",
                        "department": "sales",
                        "scopes": ["events:write"],
                        "sha256": hash_key("secret-1"),
                    }
                ]
            }
        )
    )
    assert ring.identify("secret-1") is not None
    assert ring.identify("secret-2") is None
    assert load_keys(None, None).identify("secret-1") is None


def test_a_key_file_with_plain_keys_is_refused() -> None:
    with pytest.raises(ApiKeyConfigError):
        parse_keys(
            json.dumps({"keys": [{"id": "x", "department": "sales", "scopes": [], "key": "p"}]})
        )


def test_a_signature_verifies_only_for_the_same_secret_body_and_a_recent_time() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    stamp = int(now.timestamp())
    signature = sign("s3cret", stamp, b'{"id":"a"}')
    assert signature.startswith("sha256=")
    assert verify_signature("s3cret", str(stamp), b'{"id":"a"}', signature, now)
    assert not verify_signature("other", str(stamp), b'{"id":"a"}', signature, now)
    assert not verify_signature("s3cret", str(stamp), b'{"id":"b"}', signature, now)
    assert not verify_signature(
        "s3cret", str(stamp), b'{"id":"a"}', signature, now + timedelta(hours=1)
    )
    assert not verify_signature("s3cret", "not-a-time", b'{"id":"a"}', signature, now)


def test_webhook_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff(n, 0.5, 3.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("contact ann.fischer@example.com failed", "contact *** failed"),
        ("call +44 20 7946 0958 now", "call *** now"),
        ("listening on 127.0.0.1:8101", "listening on 127.0.0.1:8101"),
        (
            "action 9b0c3f0e-5d1c-5a0b-9a53-2f4f5d9f4a11 stored",
            "action 9b0c3f0e-5d1c-5a0b-9a53-2f4f5d9f4a11 stored",
        ),
    ],
)
def test_emails_and_phones_are_masked_but_ids_and_addresses_kept(text: str, masked: str) -> None:
    assert mask_personal_data(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "/v1/customers/ann.fischer%40example.com",  # encodeURIComponent
        "/v1/customers/ann.fischer%2540example.com",  # encoded twice
        "/v1/customers/%2B4915550001234",
        "/v1/customers/phone%3A%2B49%20155%20500%2001234",
        "q=ann.fischer%u0040example.com",
        "ann.fischer&#64;example.com",
        "ann.fischer&#x40;example&#46;com",
        "ann.fischer&commat;example&period;com",
        "ann.fischer\\u0040example.com",  # a JSON escape, as text
        "ann.fischer\\x40example.com",
        "ann.fischer\uff20example\uff0ecom",  # fullwidth
        "+\uff14\uff19\uff11\uff15\uff15\uff15\uff10\uff10\uff10\uff11\uff12\uff13\uff14",
        "mailto:ann.fischer@example.com?subject=x",
        "a12 4915550001234",
        "+4915550001234,+4915550001235",
        "J\u00f6rg.M\u00fcller@b\u00fccher.example",
    ],
)
def test_personal_data_is_masked_in_any_encoding(text: str) -> None:
    masked = mask_personal_data(text)
    for secret in ("ann.fischer", "4915550001234", "4915550001235", "M\u00fcller"):
        assert secret not in masked, masked
    assert "***" in masked


@pytest.mark.parametrize(
    "hostile",
    [
        "A" * 1_000_000,
        "a@" * 500_000,
        "1 " * 500_000,
        "%41" * 300_000,
        "&#64;" * 200_000,
        "\\u0040" * 200_000,
        "[" * 1_000_000,
        "9" * 1_000_000,
    ],
)
def test_a_megabyte_of_hostile_text_is_masked_and_cut_short(hostile: str) -> None:
    # Linear time by construction (single character classes, bounded decoding rounds); what is
    # logged of it is bounded too.
    masked = mask_personal_data(hostile)
    assert len(masked) < 10_000


def test_a_long_text_is_cut_where_no_address_straddles_the_cut() -> None:
    text = "x " * 2040 + "ann.fischer@example.com " + "y" * 10_000
    masked = mask_personal_data(text)
    assert "ann.fischer" not in masked
    assert "characters cut]" in masked


def test_log_lines_are_json_with_personal_fields_masked() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "sent to %s", ("ann@example.com",), None
    )
    record.given_name = "Ann"
    record.action_id = "a-1"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "sent to ***"
    assert line["given_name"] == "***"
    assert line["action_id"] == "a-1"
    assert line["level"] == "info"
