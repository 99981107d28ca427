"""JSON parsed with guards that say where a limit was crossed.

One parser for every JSON that comes from outside (Kafka records, HTTP bodies, NDJSON lines,
outcomes): duplicate keys, integers longer than a limit, NaN, Infinity and numbers too large for
a float (``1e999``), nesting deeper than a limit and unpaired surrogates are refused with the
*location* of the offending value (``("data", "products", 0, "qty")``), not only a rule.

The parse itself raises as soon as a guard fails (the common, valid case pays nothing extra);
only then is the place looked for: by parsing again with hooks that mark instead of raise, or,
for nesting too deep for Python's parser, by a scan of the text's brackets and keys that stops
at the first container past the limit. Both run in time linear in the text.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

Location = tuple[str | int, ...]

_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# The text's structure for :func:`_deep_location`: whole strings, and the six punctuators.
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]', re.DOTALL)


class JsonGuardError(ValueError):
    """A JSON text refused: where (a location inside the document), the rule and why."""

    def __init__(self, location: Location, rule: str, message: str) -> None:
        super().__init__(message)
        self.location = location
        self.rule = rule
        self.message = message

    @property
    def pointer(self) -> str:
        """The location as an RFC 6901 JSON pointer (``/data/products/0/qty``)."""
        return json_pointer(self.location)


def json_pointer(location: Sequence[str | int]) -> str:
    """An RFC 6901 pointer to ``location``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in location)


class _RefusedError(Exception):
    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


class _Marked:
    """Where a guard failed, left in the document by the locating parse."""

    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        self.message = message


class _DuplicateKey(dict[str, Any]):
    def __init__(self, pairs: list[tuple[str, Any]], key: str) -> None:
        super().__init__(pairs)
        self.key = key


class _Guards:
    """The hooks of :mod:`json` for one set of limits: raising ones and marking ones."""

    def __init__(self, max_integer_digits: int) -> None:
        self.max_integer_digits = max_integer_digits
        self.too_long = f"integers have at most {max_integer_digits} digits"
        self.raising = json.JSONDecoder(
            parse_int=self._int,
            parse_float=self._float,
            parse_constant=self._constant,
            object_pairs_hook=self._object,
        )
        self.marking = json.JSONDecoder(
            parse_int=self._int_marked,
            parse_float=self._float_marked,
            parse_constant=lambda _name: _Marked(
                "number_not_finite", "NaN and Infinity are not allowed"
            ),
            object_pairs_hook=self._object_marked,
        )

    def _int(self, text: str) -> int:
        # Checked before int(): Python refuses >4300 digits, and is slow before that.
        if len(text.lstrip("-")) > self.max_integer_digits:
            raise _RefusedError("integer_too_large", self.too_long)
        return int(text)

    @staticmethod
    def _float(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise _RefusedError("number_not_finite", "numbers must be finite")
        return value

    @staticmethod
    def _constant(_name: str) -> Any:
        raise _RefusedError("number_not_finite", "NaN and Infinity are not allowed")

    @staticmethod
    def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        # Two readers may disagree on which duplicate wins; refuse the ambiguity.
        result = dict(pairs)
        if len(result) != len(pairs):
            raise _RefusedError("duplicate_key", "a key appears twice in one object")
        return result

    def _int_marked(self, text: str) -> int | _Marked:
        if len(text.lstrip("-")) > self.max_integer_digits:
            return _Marked("integer_too_large", self.too_long)
        return int(text)

    @staticmethod
    def _float_marked(text: str) -> float | _Marked:
        value = float(text)
        return (
            value
            if math.isfinite(value)
            else _Marked("number_not_finite", "numbers must be finite")
        )

    @staticmethod
    def _object_marked(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                return _DuplicateKey(pairs, key)
            seen.add(key)
        return dict(pairs)


_GUARDS: dict[int, _Guards] = {}


def _guards(max_integer_digits: int) -> _Guards:
    guards = _GUARDS.get(max_integer_digits)
    if guards is None:
        guards = _GUARDS[max_integer_digits] = _Guards(max_integer_digits)
    return guards


def loads(text: str, *, max_depth: int, max_integer_digits: int) -> Any:
    """``text`` parsed, or :class:`JsonGuardError` naming the place a guard failed."""
    guards = _guards(max_integer_digits)
    try:
        document = guards.raising.decode(text)
    except _RefusedError as refused:
        raise _located(text, guards, refused, max_depth) from None
    except RecursionError:
        raise _too_deep(text, max_depth) from None
    except json.JSONDecodeError as error:
        raise JsonGuardError(
            (), "json_invalid", f"not JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except ValueError:
        raise JsonGuardError((), "json_invalid", "not JSON") from None
    # Cheap counts first: a text with few brackets cannot nest deeply, and a surrogate can only
    # arrive as a \uD800-\uDFFF escape (a str from valid UTF-8 holds none otherwise).
    if isinstance(document, dict | list):
        if text.count("{") + text.count("[") > max_depth and _depth_exceeds(document, max_depth):
            raise _too_deep(text, max_depth)
        if _SURROGATE_ESCAPE.search(text):
            _check_surrogates(document)
    return document


def _located(text: str, guards: _Guards, refused: _RefusedError, max_depth: int) -> JsonGuardError:
    """The error for ``refused``, at the place of the first value that fails a guard."""
    try:
        document = guards.marking.decode(text)
    except RecursionError:
        return _too_deep(text, max_depth)
    stack: list[tuple[Any, Location]] = [(document, ())]
    while stack:
        node, location = stack.pop()
        if isinstance(node, _Marked):
            return JsonGuardError(location, node.rule, node.message)
        if isinstance(node, _DuplicateKey):
            return JsonGuardError((*location, node.key), "duplicate_key", refused.message)
        if isinstance(node, dict):
            # Reversed, so the first value in document order is looked at first.
            stack.extend((value, (*location, key)) for key, value in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((value, (*location, i)) for i, value in reversed(list(enumerate(node))))
    return JsonGuardError((), refused.rule, refused.message)


def _depth_exceeds(document: Any, max_depth: int) -> bool:
    """Whether objects and arrays nest deeper than ``max_depth`` (without recursion)."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def _too_deep(text: str, max_depth: int) -> JsonGuardError:
    return JsonGuardError(
        _deep_location(text, max_depth), "nesting_too_deep", f"nesting deeper than {max_depth}"
    )


def _deep_location(text: str, max_depth: int) -> Location:
    """Where the first object or array nested deeper than ``max_depth`` starts in ``text``.

    A scan of strings and punctuators only, stopped at that container: the place is known
    before the rest of a hostile document (10,000 brackets deep) is looked at.
    """
    # Per open container: the key or index of the value being read in it.
    path: list[str | int] = []
    expecting_key = False
    for match in _STRUCTURE.finditer(text):
        piece = match.group()
        if piece in "{[":
            if len(path) >= max_depth:
                return tuple(path)
            if piece == "{":
                path.append("")
                expecting_key = True
            else:
                path.append(0)
                expecting_key = False
        elif piece in "}]":
            if path:
                path.pop()
            expecting_key = False
        elif piece == ",":
            if path and isinstance(path[-1], int):
                path[-1] += 1
            else:
                expecting_key = True
        elif piece == ":":
            expecting_key = False
        elif expecting_key and path:
            try:
                path[-1] = str(json.loads(piece))
            except ValueError:
                path[-1] = piece[1:-1]
            expecting_key = False
    return tuple(path[:max_depth])


def _check_surrogates(document: Any) -> None:
    """Refuse unpaired surrogates (they cannot be encoded as UTF-8 again), where they are."""
    stack: list[tuple[Any, Location]] = [(document, ())]
    while stack:
        node, location = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                raise JsonGuardError(
                    location, "invalid_unicode", "text holds an unpaired surrogate"
                )
        elif isinstance(node, dict):
            for key, value in node.items():
                if _SURROGATE.search(key):
                    raise JsonGuardError(
                        location, "invalid_unicode", "a key holds an unpaired surrogate"
                    )
                stack.append((value, (*location, key)))
        elif isinstance(node, list):
            stack.extend((value, (*location, i)) for i, value in enumerate(node))
