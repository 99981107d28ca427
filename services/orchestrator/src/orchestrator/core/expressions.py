"""The playbook's ``customer.<field>`` references as top-level CEL variables.

Building a ``cel.Context`` converts every value it holds into CEL values, and the binding
converts a nested map slowly (each string key is tried as an integer and a boolean first):
the ``customer`` map of one event cost more than all the expressions evaluated against it.
So each expression is compiled a second time with ``customer.ltv`` written as the variable
``customer__ltv``, and the context resolves variables lazily (``build_context`` in
``core/views.py``): only the values an evaluation reads are converted, one at a time.

The rewrite is lexical, on CEL's tokens: text in string literals and comments is left alone,
and so is a selection CEL needs as one (``has(customer.x)``, a call ``customer.f(...)``, a
``customer`` that is itself a field, ``a.customer.x``). Whatever is left as ``customer`` reads
the whole (field-filtered) map, as before. An expression that names a macro variable
``customer`` is not rewritten at all.
"""

from __future__ import annotations

import re

# The variable a ``customer.<field>`` reference becomes (CEL allows ``__`` in identifiers, and
# the playbook's own variables can only be ``customer`` and ``event``: no clash).
FIELD_PREFIX = "customer__"
_IDENTIFIER = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")
_SPACE = re.compile(r"\s*")
_STRING_PREFIXES = frozenset({"r", "R", "b", "B", "rb", "rB", "Rb", "RB", "br", "bR", "Br", "BR"})
# ``[...].exists(customer, ...)``: a comprehension variable shadows the real one.
_SHADOWED = re.compile(r"\(\s*customer\s*,")


def field_variable(name: str) -> str:
    """The top-level variable holding ``customer.<name>``."""
    return FIELD_PREFIX + name


def top_level_fields(source: str) -> str:
    """``source`` with each plain ``customer.<field>`` selection as ``customer__<field>``."""
    if _SHADOWED.search(source):
        return source
    out: list[str] = []
    i = 0
    previous: list[str] = []  # the last two significant tokens before ``i``
    while i < len(source):
        char = source[i]
        if source.startswith("//", i):
            end = source.find("\n", i)
            end = len(source) if end < 0 else end
            out.append(source[i:end])
            i = end
            continue
        if char in "\"'":
            end = _string_end(source, i, raw=False)
            out.append(source[i:end])
            previous = [*previous, '""'][-2:]
            i = end
            continue
        match = _IDENTIFIER.match(source, i)
        if match is None or (i > 0 and (source[i - 1].isalnum() or source[i - 1] == "_")):
            # Not an identifier's start (an operator, a digit, the rest of a number like 1e5).
            if match is not None:
                out.append(match.group())
                i = match.end()
            else:
                out.append(char)
                if not char.isspace():
                    previous = [*previous, char][-2:]
                i += 1
            continue
        word = match.group()
        i = match.end()
        if word in _STRING_PREFIXES and i < len(source) and source[i] in "\"'":
            end = _string_end(source, i, raw="r" in word.lower())
            out.append(word + source[i:end])
            previous = [*previous, '""'][-2:]
            i = end
            continue
        if word == "customer" and previous[-1:] != ["."] and previous != ["has", "("]:
            field, after = _selected_field(source, i)
            if field is not None:
                out.append(field_variable(field))
                previous = [*previous, field][-2:]
                i = after
                continue
        out.append(word)
        previous = [*previous, word][-2:]
    return "".join(out)


def _selected_field(source: str, i: int) -> tuple[str | None, int]:
    """After ``customer`` at ``i``: the field of a ``.field`` selection that is not a call."""
    j = _SPACE.match(source, i).end()  # type: ignore[union-attr]
    if j >= len(source) or source[j] != ".":
        return None, i
    j = _SPACE.match(source, j + 1).end()  # type: ignore[union-attr]
    match = _IDENTIFIER.match(source, j)
    if match is None:
        return None, i
    k = _SPACE.match(source, match.end()).end()  # type: ignore[union-attr]
    if k < len(source) and source[k] == "(":
        return None, i  # ``customer.f(...)``: a function called on the map
    return match.group(), match.end()


def _string_end(source: str, start: int, raw: bool) -> int:
    """The index just after the string literal whose opening quote is at ``start``."""
    quote = source[start]
    delimiter = quote * 3 if source.startswith(quote * 3, start) else quote
    i = start + len(delimiter)
    while i < len(source):
        if not raw and source[i] == "\\":
            i += 2
            continue
        if source.startswith(delimiter, i):
            return i + len(delimiter)
        i += 1
    return len(source)  # unterminated: CEL refuses it anyway
