"""The clinic's existing bookings, read from iCalendar files.

Busy VEVENTs (recurring ones expanded with their exceptions by
recurring-ical-events) and VFREEBUSY busy periods become :class:`Busy`
intervals. Cancelled and transparent events do not block. Nothing else of a
booking is kept: its summary may name another patient, and nothing personal
travels into a plan.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from pathlib import Path

import icalendar
import recurring_ical_events

from ._clinic import Busy
from .exceptions import SpecError

__all__ = ["HORIZON", "read_busy"]

#: How far after the plan's start bookings are read.
HORIZON = dt.timedelta(days=550)


def read_busy(
    path: str | Path, *, start: dt.date, zone: zoneinfo.ZoneInfo, field: str = "clinic.busy"
) -> tuple[Busy, ...]:
    """The busy intervals in the calendar file at ``path`` from ``start`` for :data:`HORIZON`.

    Times without a zone (floating) and all-day events are read in ``zone``.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(
            field, str(path), "no such file; give .ics files of existing bookings"
        ) from None
    except OSError as error:
        raise SpecError(field, str(path), f"the file cannot be read ({error.strerror})") from None
    try:
        calendars = icalendar.Calendar.from_ical(data, multiple=True)
    except ValueError as error:
        raise SpecError(field, str(path), f"not a valid iCalendar file ({error})") from None
    first = dt.datetime.combine(start, dt.time(0), tzinfo=zone)
    last = first + HORIZON
    found: list[Busy] = []
    try:
        for calendar in calendars:
            found.extend(_events(calendar, first, last, zone))
            found.extend(_free_busy(calendar, first, last, zone))
    except (ValueError, TypeError, KeyError) as error:
        raise SpecError(field, str(path), f"a booking in it cannot be read ({error})") from None
    return tuple(sorted(found, key=lambda busy: (busy.start, busy.end)))


def _events(
    calendar: icalendar.Calendar, first: dt.datetime, last: dt.datetime, zone: zoneinfo.ZoneInfo
) -> Iterator[Busy]:
    for event in recurring_ical_events.of(calendar).between(first, last):
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        if str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
            continue
        start, end = _aware(event.start, zone), _aware(event.end, zone)
        if end > start:
            yield Busy(start, end)


def _free_busy(
    calendar: icalendar.Calendar, first: dt.datetime, last: dt.datetime, zone: zoneinfo.ZoneInfo
) -> Iterator[Busy]:
    for component in calendar.walk("VFREEBUSY"):
        values = component.get("FREEBUSY", [])
        for value in values if isinstance(values, list) else [values]:
            if str(value.params.get("FBTYPE", "BUSY")).upper() == "FREE":
                continue
            for period in value.dt if isinstance(value.dt, list) else [value.dt]:
                begin, finish = period
                begin = _aware(begin, zone)
                finish = (
                    begin + finish if isinstance(finish, dt.timedelta) else _aware(finish, zone)
                )
                if begin < last and first < finish:
                    yield Busy(begin, finish)


def _aware(value: dt.date | dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time(0), tzinfo=zone)
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)
