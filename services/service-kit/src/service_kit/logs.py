"""JSON log lines with personal data masked.

Services log ids, types and counts, never payloads; as a second line of defence every message
and extra field is passed through :func:`mask_personal_data`, which hides e-mail addresses and
phone numbers, and fields named like personal data (names, e-mail, phone) are masked whole.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# A phone number: an optional +, then 7+ digits with the usual separators.
_PHONE = re.compile(r"(?<![\w.-])\+?\d[\d ()-]{5,}\d(?![\w.-])")
PERSONAL_FIELDS = frozenset(
    {
        "email",
        "phone",
        "name",
        "given_name",
        "family_name",
        "display_name",
        "first_name",
        "last_name",
        "firstname",
        "lastname",
        "full_name",
    }
)
MASK = "***"
# Attributes every LogRecord has; anything else was passed in `extra=`.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}


def mask_personal_data(text: str) -> str:
    """``text`` with e-mail addresses and phone numbers replaced by ``***``."""
    return _PHONE.sub(MASK, _EMAIL.sub(MASK, text))


def _mask_value(name: str, value: Any) -> Any:
    if name.lower() in PERSONAL_FIELDS:
        return MASK
    if isinstance(value, str):
        return mask_personal_data(value)
    if isinstance(value, dict):
        return {k: _mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_value("", v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the extra fields, masked."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask_personal_data(record.getMessage()),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD_ATTRIBUTES and not name.startswith("_"):
                entry[name] = _mask_value(name, value)
        if record.exc_info and record.exc_info[0] is not None:
            # The class only: exception messages may quote the data that caused them.
            entry["error"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    """Send every logger's records to stderr as masked JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # kafka-python is chatty at INFO (every connection attempt); keep its warnings.
    logging.getLogger("kafka").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
