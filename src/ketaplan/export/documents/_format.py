"""Dates, times and small texts as the documents print them.

Names of days and months are English whatever the machine's locale; times are
wall-clock times in the clinic's zone.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from ..._session import Move, Session
from ..._units import Weekday
from ...exceptions import SpecError

BLANK = "_" * 10
"""What an unfilled dose field or signature line shows before its unit."""

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def long_date(day: dt.date) -> str:
    """``"Tuesday 16 February 2027"``: English names, whatever the locale."""
    return f"{Weekday(day.weekday()).label} {day.day} {MONTHS[day.month - 1]} {day.year}"


def short_date(day: dt.date) -> str:
    """``"Tue 16 Feb 2027"``."""
    weekday = Weekday(day.weekday()).label[:3]
    return f"{weekday} {day.day} {MONTHS[day.month - 1][:3]} {day.year}"


def clock(moment: dt.datetime) -> str:
    """``"09:30"``."""
    return f"{moment:%H:%M}"


def zone_name(moment: dt.datetime) -> str:
    """The zone's abbreviation at ``moment`` (``"EST"``), or its UTC offset."""
    return moment.tzname() or f"{moment:%z}"


def span(start: dt.datetime, end: dt.datetime, *, with_zone: bool) -> str:
    """``"09:30-10:30"`` (with the zone's abbreviation if asked), or with both dates past midnight."""
    suffix = f" {zone_name(end)}" if with_zone else ""
    if start.date() == end.date():
        if with_zone and zone_name(start) != zone_name(end):
            return f"{clock(start)} {zone_name(start)}-{clock(end)}{suffix}"
        return f"{clock(start)}-{clock(end)}{suffix}"
    return f"{clock(start)}-{short_date(end.date())} {clock(end)}{suffix}"


def when(session: Session, zone: zoneinfo.ZoneInfo, *, with_zone: bool = False) -> str:
    """``"Tuesday 16 February 2027, 09:30-10:30"`` in ``zone``."""
    start, end = session.start.astimezone(zone), session.end.astimezone(zone)
    return f"{long_date(start.date())}, {span(start, end, with_zone=with_zone)}"


def stamp(moment: dt.datetime, zone: zoneinfo.ZoneInfo) -> str:
    """``"Fri 1 Jan 2027 09:30 EST"``: an instant, in ``zone``."""
    local = moment.astimezone(zone)
    return f"{short_date(local.date())} {clock(local)} {zone_name(local)}"


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


def moves(session: Session) -> tuple[str, ...]:
    """Every date the scheduler passed over for ``session``, with the rule that refused it."""
    return tuple(move_text(move) for move in session.moves)


def move_text(move: Move) -> str:
    """``"Mon 15 Feb 2027: statutory holiday: ..."``."""
    return f"{short_date(move.date)}: {move.rule}"


def css_string(text: str) -> str:
    """``text`` as the inside of a double-quoted CSS string: anything unusual as a hex escape."""
    return "".join(
        char if char.isascii() and (char.isalnum() or char in " .,-") else f"\\{ord(char):x} "
        for char in text
    )
