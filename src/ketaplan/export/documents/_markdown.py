"""Markdown escaping: every value interpolated into a Markdown document reads literally."""

from __future__ import annotations

import functools
import re

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~&$])")
# A value that starts a list item or table cell must not open a block:
# "- x", "+ x", "1. x", "1) x" would start a list and "---" a rule.
_MARKDOWN_LEADING = re.compile(r"^(?:[-+](?=\s|$)|\d{1,9}(?=[.)](?:\s|$))|-(?=--))")


def markdown_escape(value: object) -> str:
    """``value`` as Markdown text that renders literally, on one line.

    Backslash-escapes the ASCII punctuation that Markdown or HTML give a
    meaning inline (``\\ ` * _ { } [ ] < > # | ~ & $``), and a leading list
    or heading marker; newlines become spaces so a value never leaves its
    table cell or list item.
    """
    return _escape(value if type(value) is str else str(value))


@functools.lru_cache(maxsize=2048)
def _escape(value: str) -> str:
    """:func:`markdown_escape` of a text; the same texts come back in every row and plan."""
    text = " ".join(value.split())
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    match = _MARKDOWN_LEADING.match(text)
    if match is None:
        return text
    mark = match.group(0)
    if mark.isdigit():
        return mark + "\\" + text[len(mark) :]
    return "\\" + text
