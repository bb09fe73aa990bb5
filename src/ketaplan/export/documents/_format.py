"""Dates, times and small texts as the documents print them.

Each is in the plan's language (a :class:`~ketaplan._i18n.Language`, which
holds Babel's forms for it): English names of days and months whatever the
machine's locale, or the locale's own; times are wall-clock times in the
clinic's zone.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from ..._i18n import Language
from ..._session import Move, Session
from ...exceptions import SpecError

BLANK = "_" * 10
"""What an unfilled dose field or signature line shows before its unit."""


def zone_name(moment: dt.datetime, words: Language) -> str:
    """The zone's abbreviation at ``moment`` (``"EST"``; fr-CA ``"HNE"``), or its UTC offset."""
    zone = moment.tzinfo
    if not words.english and isinstance(zone, zoneinfo.ZoneInfo):
        # Babel's name depends on the zone and on whether it keeps summer time then:
        # looked up once for each, not for each moment.
        key = (zone.key, moment.dst(), words.tag)
        name = _ZONE_NAMES.get(key, "")
        if name == "" or zone.key is None:
            from babel.dates import get_timezone_name

            name = get_timezone_name(moment, "short", locale=words.locale)
            if name.startswith(("GMT", "UTC", "UTC")):  # only an offset: the zone's own
                name = None
            if len(_ZONE_NAMES) >= 256:
                _ZONE_NAMES.clear()
            _ZONE_NAMES[key] = name
        if name is not None:
            return name
    return moment.tzname() or f"{moment:%z}"


#: Babel's short zone names by zone, summer time and language (None: only an offset).
_ZONE_NAMES: dict[tuple[str, dt.timedelta | None, str], str | None] = {}


def span(start: dt.datetime, end: dt.datetime, words: Language, *, with_zone: bool) -> str:
    """``"09:30-10:30"`` (with the zone's abbreviation if asked), or with both dates past
    midnight; fr-CA ``"9 h 30 à 10 h 30"``."""
    ending = zone_name(end, words) if with_zone else ""
    suffix = f" {ending}" if with_zone else ""
    first, last = words.clock(start), words.clock(end)
    if start.date() == end.date():
        if with_zone and (beginning := zone_name(start, words)) != ending:
            first = f"{first} {beginning}"
    else:
        last = f"{words.short_date(end.date())} {last}"
    return words.gettext("%(start)s-%(end)s") % {"start": first, "end": last} + suffix


def stamp(moment: dt.datetime, zone: zoneinfo.ZoneInfo, words: Language) -> str:
    """``"Fri 1 Jan 2027 09:30 EST"``: an instant, in ``zone``."""
    local = moment.astimezone(zone)
    return f"{words.short_date(local.date())} {words.clock(local)} {zone_name(local, words)}"


def elapsed(start: dt.datetime, after: dt.timedelta, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """The wall-clock moment ``after`` elapsed time from ``start`` (exact across DST)."""
    return (start.astimezone(dt.UTC) + after).astimezone(zone)


def week_start(day: dt.date) -> dt.date:
    """The Monday of ``day``'s week."""
    return day - dt.timedelta(days=day.weekday())


def zone_place(zone: str) -> str:
    """``"America/Toronto"`` -> ``"Toronto"``."""
    return zone.rsplit("/", 1)[-1].replace("_", " ")


def check_aware(now: dt.datetime) -> None:
    """Refuse a naive generation time."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise SpecError("now", now, "expected an aware datetime (with a time zone)")


def moves(session: Session, words: Language) -> tuple[str, ...]:
    """Every date the scheduler passed over for ``session``, with the rule that refused it
    (as the scheduler recorded it, in English)."""
    if not session.moves:  # most sessions
        return ()
    return tuple(move_text(move, words) for move in session.moves)


def move_text(move: Move, words: Language) -> str:
    """``"Mon 15 Feb 2027: statutory holiday: ..."``."""
    return words.gettext("%(date)s: %(rule)s") % {
        "date": words.short_date(move.date),
        "rule": move.rule,
    }


def css_string(text: str) -> str:
    """``text`` as the inside of a double-quoted CSS string: anything unusual as a hex escape."""
    return "".join(
        char if char.isascii() and (char.isalnum() or char in " .,-") else f"\\{ord(char):x} "
        for char in text
    )
