"""iCalendar content lines, assembled and folded without a component object per event.

icalendar still encodes every value (its ``vText`` escaping, ``vDatetime``,
``vDuration``, ``vCategory``, ``vCalAddress`` and parameter quoting): this
module only joins name, parameters and value into a line and folds it, the
way icalendar's own ``to_ical()`` does, so that both give the same bytes (a
test compares them). Values and folded lines that repeat within one file
(the same location, the same preparation text) are encoded once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import icalendar
from icalendar.parser import Parameters

__all__ = ["ContentLines", "fold"]

#: icalendar folds before a line would reach this many octets.
_LIMIT = 75
_FOLD = "\r\n "


def fold(line: str) -> str:
    """``line`` folded as icalendar folds it (RFC 5545, 3.1).

    Each part holds fewer than 75 octets, not counting the space that begins
    a continuation; a part never ends in the ``\\`` or ``^`` that starts an
    escape, and a character is never split.
    """
    if line.isascii():
        if len(line) < _LIMIT:
            return line
        parts = []
        start, end = 0, len(line)
        while end - start >= _LIMIT:
            part = line[start : start + _LIMIT - 1]
            if part[-1] in "\\^":
                part = part[:-1]
            parts.append(part)
            start += len(part)
        parts.append(line[start:])
        return _FOLD.join(parts)
    return _fold_any(line)


def _fold_any(line: str) -> str:
    """:func:`fold` for a line with characters of more than one octet."""
    parts: list[str] = []
    current: list[str] = []
    count = 0
    for char in line:
        size = len(char.encode())
        if current and count + size >= _LIMIT:
            if len(current) > 1 and current[-1] in "\\^":
                carried = current.pop()
                parts.append("".join(current))
                current = [carried]
                count = 1
            else:
                parts.append("".join(current))
                current = []
                count = 0
        current.append(char)
        count += size
    if current:
        parts.append("".join(current))
    return _FOLD.join(parts)


class ContentLines:
    """The lines of one iCalendar file, in the order they are added.

    Each ``add`` takes a property name and its value already encoded by one
    of the encoding methods; parameters are written as icalendar writes
    them (sorted by name, quoted where needed).
    """

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._folded: dict[str, str] = {}
        self._texts: dict[str, str] = {}
        self._params: dict[tuple[tuple[str, str], ...], str] = {}

    def add(self, name: str, value: str, params: str = "") -> None:
        """Add the property ``name`` with an encoded ``value`` and encoded ``params``."""
        line = f"{name};{params}:{value}" if params else f"{name}:{value}"
        if len(line) < _LIMIT and line.isascii():
            self._lines.append(line)
            return
        folded = self._folded.get(line)
        if folded is None:
            folded = self._folded[line] = fold(line)
        self._lines.append(folded)

    def begin(self, component: str) -> None:
        self._lines.append(f"BEGIN:{component}")

    def end(self, component: str) -> None:
        self._lines.append(f"END:{component}")

    def extend(self, content: bytes) -> None:
        """Add lines already written (a VTIMEZONE), each ending in CRLF."""
        self._lines.extend(content.decode().removesuffix("\r\n").split("\r\n"))

    def to_ical(self) -> bytes:
        """The file: every line ending in CRLF."""
        return ("\r\n".join(self._lines) + "\r\n").encode()

    # -- values, encoded by icalendar's value types --------------------------------

    def text(self, value: str) -> str:
        """A TEXT value (RFC 5545, 3.3.11): backslash, comma, semicolon and line breaks escaped."""
        encoded = self._texts.get(value)
        if encoded is None:
            encoded = self._texts[value] = icalendar.vText(value).to_ical().decode()
        return encoded

    @staticmethod
    def categories(values: Iterable[str]) -> str:
        """A CATEGORIES value: TEXT values separated by commas."""
        encoded: bytes = icalendar.vCategory(list(values)).to_ical()
        return encoded.decode()

    @staticmethod
    def utc(moment: dt.datetime) -> str:
        """A DATE-TIME in UTC (``20261120T120000Z``)."""
        encoded: bytes = icalendar.vDatetime(moment.astimezone(dt.UTC)).to_ical()  # type: ignore[no-untyped-call]
        return encoded.decode()

    @staticmethod
    def local(moment: dt.datetime) -> str:
        """A DATE-TIME as a wall-clock time (``20261214T093000``), for use with a TZID."""
        encoded: bytes = icalendar.vDatetime(moment.replace(tzinfo=None)).to_ical()  # type: ignore[no-untyped-call]
        return encoded.decode()

    @staticmethod
    def duration(value: dt.timedelta) -> str:
        """A DURATION (``-P1D``, ``-PT2H``)."""
        encoded: bytes = icalendar.vDuration(value).to_ical()  # type: ignore[no-untyped-call]
        return encoded.decode()

    @staticmethod
    def integer(value: int) -> str:
        encoded: bytes = icalendar.vInt(value).to_ical()
        return encoded.decode()

    @staticmethod
    def address(email: str) -> str:
        """A CAL-ADDRESS: ``mailto:`` and the address."""
        encoded: bytes = icalendar.vCalAddress(f"mailto:{email}").to_ical()
        return encoded.decode()

    def params(self, values: Mapping[str, str]) -> str:
        """Property parameters as icalendar writes them: sorted, quoted and RFC 6868-escaped."""
        key = tuple(values.items())
        encoded = self._params.get(key)
        if encoded is None:
            raw: bytes = Parameters(values).to_ical()
            encoded = self._params[key] = raw.decode()
        return encoded
