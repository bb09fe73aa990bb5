"""The clinic's existing bookings, read from iCalendar files.

Busy VEVENTs (recurring ones expanded with their exceptions by
recurring-ical-events) and VFREEBUSY busy periods become :class:`Busy`
intervals. Cancelled and transparent events do not block, nor does a booking
that lasts no time. Nothing else of a booking is kept: its summary may name
another patient, and nothing personal travels into a plan or a message.

A bookings file is read strictly, because a file read as "no bookings" would
double-book a chair without a word. icalendar is lenient (it drops what it
cannot place), so the content lines are first checked here: every line is a
content line, every BEGIN has its END in order, and the file holds calendars
and nothing else. Then each event must have a start, an end that is not
before it, and a recurrence that stays within :data:`MAX_BUSY`. Errors name
the file and the line, never what the line says.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs
import dateutil.rrule
import icalendar
from icalendar.parser import Contentline

from ._clinic import Busy, instant
from ._reader import read_file
from .exceptions import SpecError

__all__ = ["HORIZON", "MAX_BUSY", "read_busy"]

#: The largest bookings file read.
MAX_FILE_BYTES = 50_000_000

#: How far after the plan's start bookings are read.
HORIZON = dt.timedelta(days=550)

#: The most bookings a file may give within the :data:`HORIZON`, counting
#: each occurrence of a recurring booking; also the most times one recurring
#: booking may repeat from its first occurrence to the end of the horizon.
MAX_BUSY = 100_000

#: Component names a message may repeat; any other name is not shown.
_KNOWN = frozenset(
    {
        "VCALENDAR",
        "VEVENT",
        "VTODO",
        "VJOURNAL",
        "VFREEBUSY",
        "VTIMEZONE",
        "STANDARD",
        "DAYLIGHT",
        "VALARM",
        "VAVAILABILITY",
        "AVAILABLE",
        "VLOCATION",
        "VRESOURCE",
        "PARTICIPANT",
        "VCARD",
    }
)
#: Components that only a VCALENDAR may hold.
_TOP = frozenset({"VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY", "VTIMEZONE", "VAVAILABILITY"})
#: Components whose properties' lines are kept for messages.
_OUTLINED = ("VEVENT", "VFREEBUSY", "VTIMEZONE")
#: Properties that RFC 5545 allows at most once in a component.
_ONCE = frozenset(
    {
        "DTSTART",
        "DTEND",
        "DURATION",
        "RECURRENCE-ID",
        "STATUS",
        "TRANSP",
        "UID",
        "TZID",
        "TZOFFSETFROM",
        "TZOFFSETTO",
        "VERSION",
    }
)
#: Properties of an event that decide when it blocks a chair.
_TIMING = {
    "DTSTART": "a date such as 20270113 or a date-time such as 20270113T090000",
    "DTEND": "a date such as 20270113 or a date-time such as 20270113T120000",
    "DURATION": "a duration such as PT3H",
    "RRULE": "a recurrence rule such as FREQ=WEEKLY;COUNT=3",
    "EXRULE": "a recurrence rule such as FREQ=WEEKLY;COUNT=3",
    "RDATE": "dates or date-times",
    "EXDATE": "dates or date-times",
    "RECURRENCE-ID": "a date or date-time",
    "FREEBUSY": "periods such as 20270122T130000Z/20270122T230000Z or 20270129T130000Z/PT2H",
}
#: Property names of time zones and calendars a message may repeat.
_CALENDAR_PROPERTIES = frozenset(
    {"TZID", "TZOFFSETFROM", "TZOFFSETTO", "TZNAME", "TZURL", "LAST-MODIFIED", "DTSTAMP"}
)
_NAME = r"[A-Za-z0-9_-]+"
_PARAMETER_VALUE = r'(?:"[^"\x00-\x1f]*"|[^";:,\x00-\x1f]*)'
_CONTENT_LINE = re.compile(
    rf"{_NAME}(?:;{_NAME}={_PARAMETER_VALUE}(?:,{_PARAMETER_VALUE})*)*:", re.ASCII
)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_NEWLINE = re.compile(r"\r?\n")
#: An upper bound of one period of each recurrence frequency, for counting.
_PERIOD = {
    "SECONDLY": dt.timedelta(seconds=1),
    "MINUTELY": dt.timedelta(minutes=1),
    "HOURLY": dt.timedelta(hours=1),
    "DAILY": dt.timedelta(days=1),
    "WEEKLY": dt.timedelta(weeks=1),
    "MONTHLY": dt.timedelta(days=28),
    "YEARLY": dt.timedelta(days=365),
}
_RANK = {name: rank for rank, name in enumerate(_PERIOD)}


class _Problem(Exception):
    """A fault in the file at ``line``: what is there and what was expected."""

    def __init__(
        self, problem: str, expected: str, *, line: int | None = None, invalid: bool = False
    ) -> None:
        super().__init__(problem)
        self.problem = problem
        self.expected = expected
        self.line = line
        self.invalid = invalid

    def __str__(self) -> str:
        where = "" if self.line is None else f"line {self.line}: "
        kind = "not a valid iCalendar file: " if self.invalid else ""
        # ``expected`` is what would be valid, or a rule that says it ("every ...").
        expected = (
            self.expected if self.expected.startswith("every ") else f"expected {self.expected}"
        )
        return f"{kind}{where}{self.problem}; {expected}"


@attrs.define
class _Outline:
    """A VEVENT or VFREEBUSY as found in the file: its first line and its properties' lines."""

    name: str
    line: int
    properties: dict[str, list[int]] = attrs.Factory(dict)

    def at(self, name: str, index: int = 0) -> int:
        """The line of the ``index``-th ``name`` property, or of the component if unknown."""
        lines = self.properties.get(name, [])
        return lines[index] if index < len(lines) else self.line


@attrs.define
class _Open:
    """A component begun and not yet ended, with the properties it has had."""

    name: str
    line: int
    seen: set[str] = attrs.Factory(set)


def read_busy(
    path: str | Path, *, start: dt.date, zone: zoneinfo.ZoneInfo, field: str = "clinic.busy"
) -> tuple[Busy, ...]:
    """The busy intervals in the calendar file at ``path`` from ``start`` for :data:`HORIZON`.

    Times without a zone (floating) and all-day events are read in ``zone``.
    A file that is empty, cut off, not a calendar or not UTF-8 text, an event
    without a start or ending before it starts, and more than
    :data:`MAX_BUSY` bookings are a :class:`~ketaplan.SpecError` naming
    ``field``, the file and the line.
    """
    path = Path(path)
    shown = _shown(path)
    data = read_file(
        path,
        what=field,
        limit=MAX_FILE_BYTES,
        shown=shown,
        hint="give .ics files of existing bookings",
    )
    first = dt.datetime.combine(start, dt.time(0), tzinfo=zone)
    try:
        last = dt.datetime.combine(start + HORIZON, dt.time(0), tzinfo=zone)
    except OverflowError:  # a plan near year 9999: read up to the last day there is
        last = dt.datetime.combine(dt.date.max, dt.time(0), tzinfo=zone)
    try:
        return _read(data, first, last, zone)
    except _Problem as problem:
        raise SpecError(field, shown, str(problem)) from None


def _shown(path: Path) -> str:
    """The path for a message, its end (the file name) kept when it is long."""
    text = str(path)
    return text if len(text) <= 70 else "..." + text[-67:]


def _read(
    data: bytes, first: dt.datetime, last: dt.datetime, zone: zoneinfo.ZoneInfo
) -> tuple[Busy, ...]:
    text = _text(data)
    lines = _content_lines(text)
    outlines = _outline(lines)
    if any(outline.name == "VTIMEZONE" for outline in outlines):
        # icalendar keeps, for the whole process, the first time zone it built
        # for a TZID that is not an IANA name, and reads every later file's
        # times with it. Start afresh (same provider) so that this file's own
        # VTIMEZONE decides what its times mean.
        icalendar.timezone.tzp.use(icalendar.timezone.tzp.name)
    try:
        calendars = icalendar.Calendar.from_ical(text, multiple=True)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError):
        raise _unreadable(lines) from None
    components = [
        component
        for calendar in calendars
        for component in calendar.subcomponents
        if component.name in _OUTLINED
    ]
    if len(components) != len(outlines):  # cannot happen once _outline has passed the file
        raise _Problem(
            "its components cannot be told apart", "one calendar after another", invalid=True
        )
    pairs = list(zip(components, outlines, strict=True))
    for component, outline in pairs:
        if outline.name == "VTIMEZONE":
            _check_zone(component, outline)
    repeats = sum(
        _check_event(event, outline, first, last, zone)
        for event, outline in pairs
        if outline.name == "VEVENT"
    )
    if repeats > MAX_BUSY:
        raise _Problem(
            f"its recurring bookings repeat more than {MAX_BUSY:,} times between {first:%Y-%m-%d} and {last:%Y-%m-%d}",
            f"at most {MAX_BUSY:,} bookings in a file",
        )
    found: list[Busy] = []
    for calendar in calendars:
        found.extend(_limited(_events(calendar, first, last, zone), len(found), first, last))
    for component, outline in pairs:
        if outline.name == "VFREEBUSY":
            found.extend(
                _limited(_free_busy(component, outline, first, last, zone), len(found), first, last)
            )
    return tuple(sorted(found, key=lambda busy: (busy.start, busy.end)))


def _text(data: bytes) -> str:
    """The file as text: UTF-8 (with or without a byte order mark), no NUL."""
    if not data.strip():
        raise _Problem(
            "the file is empty", "an iCalendar file of bookings (BEGIN:VCALENDAR ... END:VCALENDAR)"
        )
    zero = data.find(b"\x00")
    if zero >= 0:
        raise _Problem(
            "binary data (a NUL byte)",
            "a text file",
            line=data.count(b"\n", 0, zero) + 1,
            invalid=True,
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _Problem(
            "bytes that are not UTF-8 text",
            "an iCalendar file in UTF-8",
            line=data.count(b"\n", 0, error.start) + 1,
            invalid=True,
        ) from None


def _content_lines(text: str) -> list[tuple[int, str]]:
    """The unfolded content lines, each with the number of its first line in the file."""
    logical: list[tuple[int, str]] = []
    # A file cut between the CR and the LF of its last line ends in a bare CR.
    for number, line in enumerate(_NEWLINE.split(text.removesuffix("\r")), 1):
        if "\r" in line:
            raise _Problem(
                "a carriage return without a line feed",
                "lines that end in CRLF or LF",
                line=number,
                invalid=True,
            )
        if _CONTROL.search(line):
            raise _Problem(
                "a control character (is it a binary file?)",
                "text",
                line=number,
                invalid=True,
            )
        if not line:
            continue
        if line[0] in " \t":
            if not logical:
                raise _Problem(
                    "a folded line with nothing before it",
                    "BEGIN:VCALENDAR",
                    line=number,
                    invalid=True,
                )
            logical[-1] = (logical[-1][0], logical[-1][1] + line[1:])
        else:
            logical.append((number, line))
    if not logical:
        raise _Problem(
            "the file is empty", "an iCalendar file of bookings (BEGIN:VCALENDAR ... END:VCALENDAR)"
        )
    return logical


def _outline(logical: list[tuple[int, str]]) -> list[_Outline]:
    """Check the BEGIN/END structure; the VEVENTs and VFREEBUSYs of the calendars in order."""
    stack: list[_Open] = []
    found: list[_Outline] = []
    for number, line in logical:
        try:
            name, value = _parts(line, number)
        except _Problem:
            if stack and number == logical[-1][0]:  # cut in the middle of the last line
                raise _cut(stack, number) from None
            raise
        if name == "BEGIN":
            _begin(value.strip().upper(), number, stack)
            if len(stack) == 2 and stack[-1].name in _OUTLINED:
                found.append(_Outline(stack[-1].name, number))
        elif name == "END":
            _end(value.strip().upper(), number, stack)
        elif not stack:
            raise _Problem(
                "a property outside a calendar",
                "BEGIN:VCALENDAR",
                line=number,
                invalid=True,
            )
        else:
            _once(name, number, stack[-1])
        if name not in ("BEGIN", "END") and len(stack) == 2 and stack[-1].name in _OUTLINED:
            lines = found[-1].properties.setdefault(name, [])
            lines.extend([number] * (value.count(",") + 1 if name == "FREEBUSY" else 1))
    if stack:
        raise _cut(stack, logical[-1][0])
    return found


def _cut(stack: list[_Open], line: int) -> _Problem:
    return _Problem(
        f"the file ends inside {_a(stack[-1].name)} (begun at line {stack[-1].line})",
        " and ".join(f"END:{_label(open.name)}" for open in reversed(stack)),
        line=line,
        invalid=True,
    )


def _parts(line: str, number: int) -> tuple[str, str]:
    """The upper-case name and the value of a content line."""
    problem = _Problem(
        "not a content line",
        "NAME:value or NAME;PARAMETER=value:value",
        line=number,
        invalid=True,
    )
    if _CONTENT_LINE.match(line) is None:
        raise problem
    try:
        name, _parameters, value = Contentline(line).parts()  # type: ignore[no-untyped-call]
    except (ValueError, TypeError, KeyError, IndexError):
        raise problem from None
    return str(name).upper(), str(value)


def _begin(name: str, number: int, stack: list[_Open]) -> None:
    if not re.fullmatch(_NAME, name, re.ASCII):
        raise _Problem(
            "BEGIN without a component name",
            "BEGIN:VCALENDAR or BEGIN:VEVENT",
            line=number,
            invalid=True,
        )
    if not stack and name != "VCALENDAR":
        found = "a vCard (BEGIN:VCARD)" if name == "VCARD" else f"BEGIN:{_label(name)}"
        raise _Problem(
            f"{found} where a calendar begins",
            "BEGIN:VCALENDAR",
            line=number,
            invalid=True,
        )
    if stack and (name == "VCALENDAR" or (name in _TOP and stack[-1].name != "VCALENDAR")):
        raise _Problem(
            f"BEGIN:{name} inside {_a(stack[-1].name)} (begun at line {stack[-1].line})",
            f"END:{_label(stack[-1].name)} before it",
            line=number,
            invalid=True,
        )
    stack.append(_Open(name, number))


def _end(name: str, number: int, stack: list[_Open]) -> None:
    if not stack:
        raise _Problem(
            f"END:{_label(name)} without a BEGIN",
            "BEGIN:VCALENDAR first",
            line=number,
            invalid=True,
        )
    if name != stack[-1].name:
        raise _Problem(
            f"END:{_label(name)} inside {_a(stack[-1].name)} (begun at line {stack[-1].line})",
            f"END:{_label(stack[-1].name)}",
            line=number,
            invalid=True,
        )
    stack.pop()


def _once(name: str, number: int, component: _Open) -> None:
    """Refuse a second ``name`` where RFC 5545 allows one (icalendar would keep either)."""
    if name in _ONCE and name in component.seen:
        raise _Problem(
            f"a second {name} in {_a(component.name)} (begun at line {component.line})",
            f"one {name}",
            line=number,
            invalid=True,
        )
    component.seen.add(name)


def _label(name: str) -> str:
    """A component name fit for a message: a standard one, else a placeholder."""
    return name if name in _KNOWN else "<name>"


def _a(name: str) -> str:
    return f"a {name}" if name in _KNOWN else "a component"


def _check_event(
    event: icalendar.cal.Component,
    outline: _Outline,
    first: dt.datetime,
    last: dt.datetime,
    zone: zoneinfo.ZoneInfo,
) -> int:
    """Check an event's timing; how many times it may occur within the horizon."""
    where = f"the event at line {outline.line}"
    for name, _message in event.errors:
        if name is None:
            raise _Problem(
                f"{where} has a line that cannot be read", "content lines", line=outline.line
            )
        if str(name).upper() in _TIMING:
            name = str(name).upper()
            raise _Problem(
                f"the event's {name} cannot be read", _TIMING[name], line=outline.at(name)
            )
    if "DTSTART" not in event:
        raise _Problem(f"{where} has no DTSTART", "every booking needs a start")
    start = _moment(event, "DTSTART", outline, zone)
    end, ends = start, "DTEND"
    try:
        if "DTEND" in event:
            end = _moment(event, "DTEND", outline, zone)
        elif "DURATION" in event:
            length = getattr(event["DURATION"], "dt", None)
            if not isinstance(length, dt.timedelta):
                raise _Problem(
                    "the event's DURATION cannot be read",
                    _TIMING["DURATION"],
                    line=outline.at("DURATION"),
                )
            end, ends = start + length, "DURATION"
    except OverflowError:
        raise _Problem(f"{where} ends after the year 9999", "dates before 9999-12-31") from None
    if end < start:
        raise _Problem(
            f"{where} ends before it starts ({ends} at line {outline.at(ends)})",
            "an end at or after the start; a booking that lasts no time blocks nothing",
        )
    # Only recurrences are counted here, before they are worked out; single
    # events are counted as they are read.
    repeats = 0
    if "RRULE" in event or "RDATE" in event:
        for value in _values(event.get("RDATE")):
            repeats += len(_values(getattr(value, "dts", [value])))
    for name in ("RRULE", "EXRULE"):
        for index, rule in enumerate(_values(event.get(name))):
            line = outline.at(name, index)
            total, within = _count(rule, name, line, start, first, last)
            if total > MAX_BUSY:
                frequency = str(rule["FREQ"][0]).upper()
                raise _Problem(
                    f"{where} repeats (FREQ={frequency}) more than {MAX_BUSY:,} times"
                    f" before {last:%Y-%m-%d}",
                    f"a COUNT or UNTIL that gives at most {MAX_BUSY:,} bookings",
                    line=line,
                )
            if name == "RRULE":
                repeats += within
    return repeats


def _check_zone(component: icalendar.cal.Component, outline: _Outline) -> None:
    """A VTIMEZONE that icalendar cannot turn into a time zone is an error, not a crash later."""
    try:
        if not isinstance(component, icalendar.Timezone):
            raise TypeError(component.name)
        component.to_tz()
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError):
        raise _zone_problem(outline.line) from None


def _zone_problem(line: int) -> _Problem:
    return _Problem(
        f"the VTIMEZONE at line {line} cannot be read",
        "a TZID and STANDARD or DAYLIGHT parts with DTSTART, TZOFFSETFROM and TZOFFSETTO",
    )


def _moment(
    event: icalendar.cal.Component, name: str, outline: _Outline, zone: zoneinfo.ZoneInfo
) -> dt.datetime:
    value = getattr(event[name], "dt", None)
    if not isinstance(value, dt.date):
        raise _Problem(
            f"the event's {name} is not a date or a date-time", _TIMING[name], line=outline.at(name)
        )
    return _aware(value, zone)


def _values(value: object) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _count(
    rule: Any, name: str, line: int, start: dt.datetime, first: dt.datetime, last: dt.datetime
) -> tuple[int, int]:
    """At most how many times ``rule`` repeats up to ``last``, and from ``first`` to ``last``."""
    frequency = str((_values(rule.get("FREQ")) or [""])[0]).upper()
    if frequency not in _PERIOD:
        raise _Problem(
            f"the event's {name} has no FREQ", "FREQ=DAILY, WEEKLY, MONTHLY, ...", line=line
        )
    interval = (_values(rule.get("INTERVAL")) or [1])[0]
    if not isinstance(interval, int) or interval < 1:
        raise _Problem(
            f"the event's {name} has an INTERVAL below 1", "INTERVAL=1 or more", line=line
        )
    end = last
    until = (_values(rule.get("UNTIL")) or [None])[0]
    if isinstance(until, dt.date):
        end = min(end, _aware(until, start.tzinfo or dt.UTC))
    # The rule's parts must make sense to dateutil, which works it out. Its
    # UNTIL, already read, may be floating or a date beside a zoned start:
    # recurring-ical-events makes that fit, so it is left out of this check.
    parts = rule.to_ical().decode().split(";")
    text = ";".join(part for part in parts if not part.upper().startswith("UNTIL="))
    try:
        dateutil.rrule.rrulestr(text, dtstart=start.replace(tzinfo=None))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError):
        raise _Problem(f"the event's {name} cannot be read", _TIMING[name], line=line) from None
    period = _PERIOD[frequency] * interval
    each = _expansion(rule, frequency)
    total = _periods(start, end, period) * each
    within = _periods(max(start, first), end, period) * each
    count = (_values(rule.get("COUNT")) or [None])[0]
    if isinstance(count, int):
        total, within = min(total, count), min(within, count)
    return total, within


def _periods(start: dt.datetime, end: dt.datetime, period: dt.timedelta) -> int:
    if end < start:
        return 0
    return (end - start) // period + 1


def _expansion(rule: Any, frequency: str) -> int:
    """At most how many occurrences the BYxxx parts make of one period of ``frequency``."""
    rank = _RANK[frequency]
    sizes = {part: len(_values(rule.get(part))) for part in rule if str(part).startswith("BY")}
    factor = 1
    for part, rank_below in (("BYSECOND", 0), ("BYMINUTE", 1), ("BYHOUR", 2)):
        if sizes.get(part) and rank > rank_below:
            factor *= sizes[part]
    if sizes.get("BYDAY") and rank >= _RANK["WEEKLY"]:
        factor *= sizes["BYDAY"] * {"WEEKLY": 1, "MONTHLY": 5, "YEARLY": 53}[frequency]
    if sizes.get("BYMONTHDAY") and rank >= _RANK["MONTHLY"]:
        factor *= sizes["BYMONTHDAY"] * (12 if frequency == "YEARLY" else 1)
    if frequency == "YEARLY":
        for part, days in (("BYYEARDAY", 1), ("BYWEEKNO", 7), ("BYMONTH", 1)):
            if sizes.get(part):
                factor *= sizes[part] * days
    return max(factor, 1)


def _limited(
    busy: Iterable[Busy], before: int, first: dt.datetime, last: dt.datetime
) -> Iterator[Busy]:
    for count, item in enumerate(busy, before + 1):
        if count > MAX_BUSY:
            raise _Problem(
                f"more than {MAX_BUSY:,} bookings between {first:%Y-%m-%d} and {last:%Y-%m-%d}",
                f"at most {MAX_BUSY:,} bookings in a file",
            )
        yield item


def _events(
    calendar: icalendar.Calendar, first: dt.datetime, last: dt.datetime, zone: zoneinfo.ZoneInfo
) -> Iterator[Busy]:
    if last <= first:  # a plan that starts on the last day there is
        return
    import recurring_ical_events  # only plans with busy files need it (and its dependencies)

    try:
        occurrences = recurring_ical_events.of(calendar).between(first, last)
    except OverflowError:
        raise _Problem(
            "a recurring booking in it runs past the year 9999", "dates before 9999-12-31"
        ) from None
    except (ValueError, TypeError, KeyError, IndexError):
        raise _Problem(
            "a recurring booking in it cannot be expanded",
            "RRULE, RDATE and EXDATE values as RFC 5545 writes them",
        ) from None
    for event in occurrences:
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        if str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
            continue
        try:
            start, end = instant(_aware(event.start, zone)), instant(_aware(event.end, zone))
        except OverflowError:
            raise _Problem(
                "a booking in it runs past the year 9999", "dates before 9999-12-31"
            ) from None
        if end > start:
            yield Busy(start, end)


def _free_busy(
    component: icalendar.cal.Component,
    outline: _Outline,
    first: dt.datetime,
    last: dt.datetime,
    zone: zoneinfo.ZoneInfo,
) -> Iterator[Busy]:
    for index, value in enumerate(_values(component.get("FREEBUSY"))):
        line = outline.at("FREEBUSY", index)
        if isinstance(value, icalendar.prop.vBroken) or not hasattr(value, "dt"):
            raise _Problem("a FREEBUSY period cannot be read", _TIMING["FREEBUSY"], line=line)
        if str(value.params.get("FBTYPE", "BUSY")).upper() == "FREE":
            continue
        for period in _values(value.dt) if isinstance(value.dt, list) else [value.dt]:
            begin, finish = period
            try:
                begin = _aware(begin, zone)
                finish = (
                    begin + finish if isinstance(finish, dt.timedelta) else _aware(finish, zone)
                )
                begin, finish = instant(begin), instant(finish)
            except OverflowError:
                raise _Problem(
                    "a FREEBUSY period runs past the year 9999",
                    "dates before 9999-12-31",
                    line=line,
                ) from None
            if finish < begin:
                raise _Problem(
                    "a FREEBUSY period ends before it starts",
                    "an end at or after the start",
                    line=line,
                )
            if begin < last and first < finish and begin < finish:
                yield Busy(begin, finish)


def _aware(value: dt.date | dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time(0), tzinfo=zone)
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


def _unreadable(logical: list[tuple[int, str]]) -> _Problem:
    """The first property whose value icalendar cannot read, found again line by line."""
    for number, line in logical:
        name, parameters, value = Contentline(line).parts()  # type: ignore[no-untyped-call]
        name = str(name).upper()
        if name in ("BEGIN", "END") or (name == "RDATE" and not value):
            continue
        factory: Any = icalendar.Component.types_factory.for_property(name, parameters.value)
        zone = (parameters.get("TZID"),) if name in _TIMING and parameters.get("TZID") else ()
        try:
            for part in value.split(",") if name == "FREEBUSY" else [value]:
                factory(factory.from_ical(part, *zone))
        except (ValueError, TypeError, KeyError, IndexError, OverflowError):
            shown = name if name in _TIMING or name in _CALENDAR_PROPERTIES else "a property"
            expected = _TIMING.get(name, "a value as RFC 5545 writes it")
            return _Problem(f"{shown} cannot be read", expected, line=number, invalid=True)
    # icalendar turns each VTIMEZONE into a time zone as it reads it.
    block: list[str] = []
    begun = 0
    for number, line in logical:
        name, value = _parts(line, number)
        if name == "BEGIN" and value.strip().upper() == "VTIMEZONE":
            block, begun = [], number
        block.append(line)
        if name == "END" and value.strip().upper() == "VTIMEZONE" and begun:
            try:
                timezone = icalendar.Timezone.from_ical("\r\n".join(block))
                if isinstance(timezone, icalendar.Timezone):
                    timezone.to_tz(lookup_tzid=False)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError):
                return _zone_problem(begun)
            begun = 0
    return _Problem("a value in it cannot be read", "values as RFC 5545 writes them", invalid=True)
