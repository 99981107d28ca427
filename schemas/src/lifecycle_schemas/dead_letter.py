"""The dead-letter contract: what a service writes when a record cannot be decoded or applied.

The dead-letter record's value is the original bytes, unchanged; its key is the original key;
the reason travels in these Kafka headers (all values UTF-8, none of them personal data).
"""

from __future__ import annotations

from datetime import datetime

from lifecycle_schemas.codec import RecordDecodeError
from lifecycle_schemas.departments import Service

HEADER_TOPIC = "dlq.topic"
HEADER_PARTITION = "dlq.partition"
HEADER_OFFSET = "dlq.offset"
HEADER_SERVICE = "dlq.service"
HEADER_FAILED_AT = "dlq.failed-at"
HEADER_ERROR_CLASS = "dlq.error.class"
HEADER_ERROR_MESSAGE = "dlq.error.message"
HEADER_RECORD_TYPE = "dlq.record.type"
# "<path> <rule>" pairs separated by "; ", e.g. "data.customer.email email_invalid".
HEADER_ERROR_FIELDS = "dlq.error.fields"

DEAD_LETTER_HEADERS: tuple[str, ...] = (
    HEADER_TOPIC,
    HEADER_PARTITION,
    HEADER_OFFSET,
    HEADER_SERVICE,
    HEADER_FAILED_AT,
    HEADER_ERROR_CLASS,
    HEADER_ERROR_MESSAGE,
    HEADER_RECORD_TYPE,
    HEADER_ERROR_FIELDS,
)
# Kafka headers are not meant for essays; long messages are cut.
MAX_HEADER_TEXT = 1000


def dead_letter_headers(
    *,
    topic: str,
    partition: int,
    offset: int,
    service: Service,
    failed_at: datetime,
    error: Exception,
) -> list[tuple[str, bytes]]:
    """The headers of a dead-letter record for a record that failed with ``error``.

    For a :class:`~lifecycle_schemas.codec.RecordDecodeError` the field paths and rules are
    listed. For other exceptions only the class name is kept (their messages may hold data).
    """
    headers = {
        HEADER_TOPIC: topic,
        HEADER_PARTITION: str(partition),
        HEADER_OFFSET: str(offset),
        HEADER_SERVICE: service.value,
        HEADER_FAILED_AT: failed_at.isoformat(),
        HEADER_ERROR_CLASS: type(error).__name__,
    }
    if isinstance(error, RecordDecodeError):
        headers[HEADER_ERROR_MESSAGE] = str(error)
        headers[HEADER_ERROR_FIELDS] = "; ".join(f"{e.path} {e.rule}" for e in error.errors)
        if error.record_type is not None:
            headers[HEADER_RECORD_TYPE] = error.record_type
    return [(name, value[:MAX_HEADER_TEXT].encode("utf-8")) for name, value in headers.items()]
