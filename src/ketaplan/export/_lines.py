"""iCalendar content lines, assembled and folded without a component object per event.

icalendar encodes the values (``vDatetime``, ``vDuration``, ``vCategory``,
``vCalAddress`` and parameter quoting); TEXT is escaped here with the very
replacements icalendar's ``vText`` makes, since texts unique to one event
(a UID, a description with its times) are the ones no cache can hold. This
module joins name, parameters and value into a line and folds it, the way
icalendar's own ``to_ical()`` does, so that both give the same bytes (tests
compare them). Values and whole lines that repeat (the same location, the
same preparation text, in every event of a plan and in the next plan) are
encoded once, in caches of bounded size.
"""

from __future__ import annotations

import datetime as dt
import functools
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
    """:func:`fold` for a line with characters of more than one octet: each part the most
    whole characters that fit in 74 octets, less a final ``\\`` or ``^``."""
    data = line.encode()
    parts: list[bytes] = []
    start, size = 0, len(data)
    while size - start >= _LIMIT:
        end = start + _LIMIT - 1
        while data[end] & 0xC0 == 0x80:  # inside a character: cut before it
            end -= 1
        if data[end - 1] in b"\\^" and end - 1 > start:
            end -= 1
        parts.append(data[start:end])
        start = end
    parts.append(data[start:])
    return _FOLD.join(part.decode() for part in parts)


class ContentLines:
    """The lines of one iCalendar file, in the order they are added.

    Each ``add`` takes a property name and its value already encoded by one
    of the encoding methods; parameters are written as icalendar writes
    them (sorted by name, quoted where needed).
    """

    def __init__(self) -> None:
        self._lines: list[str] = []

    def add(self, name: str, value: str, params: str = "") -> None:
        """Add the property ``name`` with an encoded ``value`` and encoded ``params``."""
        line = f"{name};{params}:{value}" if params else f"{name}:{value}"
        if len(line) < _LIMIT and line.isascii():
            self._lines.append(line)
        else:
            self._lines.append(_folded(line))

    def add_text(self, name: str, value: str) -> None:
        """Add the property ``name`` with the TEXT ``value``: the same as
        ``add(name, text(value))``, the whole line encoded once for a value that repeats."""
        self._lines.append(_text_line(name, value))

    def add_local(self, name: str, moment: dt.datetime) -> None:
        """Add the property ``name`` with ``moment`` as a wall-clock time with its zone's
        TZID: the same as ``add(name, local(moment), params({"TZID": key}))``."""
        zone = moment.tzinfo.key  # type: ignore[union-attr]
        self._lines.append(_folded_line(_local_name(name, zone) + _wall(moment)))

    def add_lines(self, lines: Iterable[str]) -> None:
        """Add lines already encoded and folded (see :meth:`lines`)."""
        self._lines.extend(lines)

    def lines(self) -> tuple[str, ...]:
        """The lines so far, encoded and folded, without line ends: a block to add again
        with :meth:`add_lines`."""
        return tuple(self._lines)

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
    # The same values come back in every event, in both of a plan's calendars and in
    # the next plan of the same protocol: each is encoded once, in caches of bounded size.

    @staticmethod
    def text(value: str) -> str:
        """A TEXT value (RFC 5545, 3.3.11): backslash, comma, semicolon and line breaks escaped."""
        return _text(value)

    @staticmethod
    def categories(values: Iterable[str]) -> str:
        """A CATEGORIES value: TEXT values separated by commas."""
        return _categories(tuple(values))

    @staticmethod
    def utc(moment: dt.datetime) -> str:
        """A DATE-TIME in UTC (``20261120T120000Z``)."""
        return _datetime(moment.astimezone(dt.UTC))

    @staticmethod
    def local(moment: dt.datetime) -> str:
        """A DATE-TIME as a wall-clock time (``20261214T093000``), for use with a TZID."""
        return _wall(moment)

    @staticmethod
    def duration(value: dt.timedelta) -> str:
        """A DURATION (``-P1D``, ``-PT2H``)."""
        return _duration(value)

    @staticmethod
    def integer(value: int) -> str:
        return _integer(value)

    @staticmethod
    def address(email: str) -> str:
        """A CAL-ADDRESS: ``mailto:`` and the address."""
        return _address(email)

    @staticmethod
    def params(values: Mapping[str, str]) -> str:
        """Property parameters as icalendar writes them: sorted, quoted and RFC 6868-escaped."""
        return _params(tuple(values.items()))


#: How many texts and long lines (a description can be a kilobyte) each cache keeps:
#: about what a few plans' calendars hold, the texts they share being what comes back;
#: about 1 MB each when full.
_CACHED_TEXTS = 1024


@functools.lru_cache(maxsize=_CACHED_TEXTS)
def _folded(line: str) -> str:
    return fold(line)


def _folded_line(line: str) -> str:
    return line if len(line) < _LIMIT and line.isascii() else _folded(line)


def _text(value: str) -> str:
    """``value`` escaped as icalendar's ``vText`` escapes it, the replacements in its order
    (a test compares both): ``\\N`` read as a line break; backslash, semicolon and comma
    escaped; each line break (CRLF, LF or a lone CR) written ``\\n``."""
    return (
        value.replace("\\N", "\n")
        .replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


@functools.lru_cache(maxsize=_CACHED_TEXTS)
def _text_line(name: str, value: str) -> str:
    return _folded_line(f"{name}:{_text(value)}")


@functools.lru_cache(maxsize=256)
def _local_name(name: str, zone: str) -> str:
    """``name`` and its TZID parameter, up to the value: ``DTSTART;TZID=Europe/London:``."""
    return f"{name};{_params((('TZID', zone),))}:"


@functools.lru_cache(maxsize=256)
def _categories(values: tuple[str, ...]) -> str:
    encoded: bytes = icalendar.vCategory(list(values)).to_ical()
    return encoded.decode()


def _datetime(moment: dt.datetime) -> str:
    """``moment``, naive (a wall-clock time) or in UTC (with ``Z``), as icalendar's
    ``vDatetime`` writes it (a test compares them)."""
    return _wall(moment) if moment.tzinfo is None else _wall(moment) + "Z"


def _wall(moment: dt.datetime) -> str:
    """The wall-clock time of ``moment`` (``20261214T093000``): each event's own, no use
    caching. From the C ``isoformat`` (``2026-12-14T09:30:00``, the date and time only)."""
    return moment.isoformat(timespec="seconds")[:19].replace("-", "").replace(":", "")


@functools.lru_cache(maxsize=256)
def _duration(value: dt.timedelta) -> str:
    encoded: bytes = icalendar.vDuration(value).to_ical()  # type: ignore[no-untyped-call]
    return encoded.decode()


@functools.lru_cache(maxsize=256)
def _integer(value: int) -> str:
    encoded: bytes = icalendar.vInt(value).to_ical()
    return encoded.decode()


@functools.lru_cache(maxsize=256)
def _address(email: str) -> str:
    encoded: bytes = icalendar.vCalAddress(f"mailto:{email}").to_ical()
    return encoded.decode()


@functools.lru_cache(maxsize=256)
def _params(values: tuple[tuple[str, str], ...]) -> str:
    raw: bytes = Parameters(dict(values)).to_ical()
    return raw.decode()
