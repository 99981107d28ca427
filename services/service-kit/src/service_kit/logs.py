"""JSON log lines with personal data masked.

Services log ids, types and counts, never payloads, and access lines name route templates, not
paths; as a second line of defence every message and extra field is passed through
:func:`mask_personal_data`, which hides e-mail addresses and phone numbers, also when they are
percent-encoded (``%40``, ``%2B``, twice over), written as HTML entities (``&#64;``,
``&commat;``), escaped (``\\u0040``) or in Unicode's compatibility forms (the fullwidth at
sign, U+FF20). Fields named like personal data (names, e-mail, phone) are masked whole.

Untrusted text reaches these functions (a hostile path once did), so they run in time linear in
its length and look at no more than :data:`MAX_LOGGED_CHARS` of it: no backtracking regular
expression; each pattern below is a single character class, matched once per run.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import unicodedata
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

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
# The id of the HTTP request being answered (service_kit.http sets it from X-Request-ID, or
# makes one): every line logged while answering it carries it as ``request_id``.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
# A longer string is cut at a delimiter before this many characters (no half of an address
# is left at the cut), then masked.
MAX_LOGGED_CHARS = 4096
# Decoding is repeated (an address encoded twice) at most this many times.
_DECODING_ROUNDS = 4
# Attributes every LogRecord has; anything else was passed in `extra=`.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}

# Where a word that may be an e-mail address ends: white space and punctuation an address does
# not hold. A token with an `@` inside and a dot after it is masked whole.
_ADDRESS_DELIMITERS = "\\s\"'<>()\\[\\]{},;:/\\\\|`^=&?#*!$"
_EMAIL_TOKEN = re.compile(f"[^{_ADDRESS_DELIMITERS}]+")
_DELIMITER = re.compile(f"[{_ADDRESS_DELIMITERS}]")
# A run that may hold a phone number: digits with the separators people write between them.
_PHONE_RUN = re.compile(r"[\d+() \-]+")
_PHONE_SEPARATORS = frozenset(" ()+")
_PHONE_MIN_DIGITS = 7
_PERCENT_UNICODE = re.compile(r"%[uU]([0-9A-Fa-f]{4})")
_BACKSLASH_ESCAPE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|x([0-9A-Fa-f]{2})|U([0-9A-Fa-f]{8}))")
_HTML_ENTITY = re.compile(
    r"&#[xX]([0-9A-Fa-f]{1,6});?|&#([0-9]{1,7});?|&([A-Za-z]{2,8});", re.ASCII
)
_NAMED_ENTITIES = {
    "commat": "@",
    "plus": "+",
    "period": ".",
    "hyphen": "-",
    "dash": "-",
    "minus": "-",
    "lpar": "(",
    "rpar": ")",
    "amp": "&",
    "num": "#",
    "colon": ":",
    "lowbar": "_",
    "nbsp": " ",
    "sol": "/",
}


def _character(code: int) -> str:
    """The character of a code point; U+FFFD for one that is not a character."""
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return chr(code)


def _escaped(match: re.Match[str]) -> str:
    digits = next(group for group in match.groups() if group is not None)
    return _character(int(digits, 16))


def _entity(match: re.Match[str]) -> str:
    hexadecimal, decimal, name = match.groups()
    if hexadecimal is not None:
        return _character(int(hexadecimal, 16))
    if decimal is not None:
        return _character(int(decimal))
    return _NAMED_ENTITIES.get(name.lower(), match.group(0))


def decoded(text: str) -> str:
    """``text`` with percent-encoding, HTML entities and backslash escapes undone and Unicode's
    compatibility forms folded (NFKC), repeated until nothing changes (a few rounds at most)."""
    for _ in range(_DECODING_ROUNDS):
        plain = text
        if "%" in plain:
            plain = unquote(_PERCENT_UNICODE.sub(_escaped, plain), errors="replace")
        if "&" in plain:
            plain = _HTML_ENTITY.sub(_entity, plain)
        if "\\" in plain:
            plain = _BACKSLASH_ESCAPE.sub(_escaped, plain)
        if not plain.isascii():
            plain = unicodedata.normalize("NFKC", plain)
        if plain == text:
            break
        text = plain
    return text


def _truncated(text: str) -> str:
    """At most :data:`MAX_LOGGED_CHARS`, cut where no address can straddle the cut."""
    if len(text) <= MAX_LOGGED_CHARS:
        return text
    head = text[:MAX_LOGGED_CHARS]
    cut = 0
    for match in _DELIMITER.finditer(head):
        cut = match.start()
    return f"{head[:cut]}…[{len(text) - cut} characters cut]"


def _mask_emails(text: str) -> str:
    if "@" not in text:
        return text
    pieces: list[str] = []
    last = 0
    for match in _EMAIL_TOKEN.finditer(text):
        token = match.group()
        at = token.find("@")
        if at > 0 and "." in token[at + 1 :].strip(".@"):
            pieces.append(text[last : match.start()])
            pieces.append(MASK)
            last = match.end()
    pieces.append(text[last:])
    return "".join(pieces)


def _glued(character: str) -> bool:
    """Whether a character next to a digit run makes it part of a word or number."""
    return character.isalnum() or character in "_."


def _phone_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The phone number in the run ``text[start:end]``, if any, as a (start, end) span."""
    run = text[start:end]
    if start > 0 and _glued(text[start - 1]):
        # Glued to a word before: a number may still start after a separator inside the run.
        inner = next((i for i, c in enumerate(run) if c in _PHONE_SEPARATORS), None)
        if inner is None:
            return None
        start += inner
    if end < len(text) and _glued(text[end]):
        inner = next((i for i in range(len(run) - 1, -1, -1) if run[i] in _PHONE_SEPARATORS), None)
        if inner is None:
            return None
        end = end - len(run) + inner
    while start < end and not (text[start].isdigit() or text[start] == "+"):
        start += 1
    while end > start and not text[end - 1].isdigit():
        end -= 1
    digits = sum(1 for c in text[start:end] if c.isdigit())
    return (start, end) if digits >= _PHONE_MIN_DIGITS else None


def _mask_phones(text: str) -> str:
    pieces: list[str] = []
    last = 0
    for match in _PHONE_RUN.finditer(text):
        if match.end() - match.start() < _PHONE_MIN_DIGITS:
            continue
        span = _phone_span(text, match.start(), match.end())
        if span is None:
            continue
        pieces.append(text[last : span[0]])
        pieces.append(MASK)
        last = span[1]
    pieces.append(text[last:])
    return "".join(pieces)


def mask_personal_data(text: str) -> str:
    """``text`` with e-mail addresses and phone numbers replaced by ``***``, in any of the
    encodings :func:`decoded` undoes; a text that was encoded is logged decoded."""
    return _mask_phones(_mask_emails(decoded(_truncated(text))))


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
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
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
