"""VTIMEZONE components in the form calendar programs write themselves.

A zone's current rule is the POSIX TZ string at the end of its tzdata file
(``EST5EDT,M3.2.0,M11.1.0``). It becomes one ``STANDARD`` and one
``DAYLIGHT`` observance, each with a yearly RRULE and a DTSTART at its first
onset under that rule; a zone without daylight saving time gets one
``STANDARD`` observance. Each onset is written in the local time before the
change, as RFC 5545 (3.6.5) defines it: clocks that go forward at 02:00 EST
give ``DTSTART:20070311T020000`` with ``TZOFFSETFROM:-0500``.

Where a plan reaches back before the current rule took effect (or a zone's
rules change inside the plan, as Morocco's do each Ramadan), the changes in
the plan's span are added as further observances: a run of yearly changes
on the same weekday rule as one RRULE ending with UNTIL, anything else as a
one-off observance. A rule no single RRULE can state (one that moves into
the next month, such as "the day after the last Thursday") lists its
changes in the plan's span with RDATE.

The zone's data is read from the same tzdata file :class:`zoneinfo.ZoneInfo`
reads, so the file agrees with the times the plan holds. Components are
cached, keyed by the zone and the rule periods a plan touches: every plan
under a zone's current rule shares one. That one is also kept in ketaplan's
private cache folder, keyed by the tzdata file's digest, so a new process does
not read every change of the zone again to write it.
"""

from __future__ import annotations

import bisect
import calendar
import datetime as dt
import functools
import hashlib
from collections.abc import Iterable, Iterator
from typing import Literal, NamedTuple
from zoneinfo import _common as _tzif  # the TZif reader behind zoneinfo.ZoneInfo
from zoneinfo import _tzpath

import icalendar

from .._cache import json_cached
from .._values import pattern

__all__ = ["vtimezone", "vtimezone_bytes"]

#: How far either side of the plan's first and last day the zone must be right:
#: a day's local times span UTC-12 to UTC+14.
_MARGIN = 2 * 86400
_EPOCH = dt.datetime(1970, 1, 1)
_1900 = -2208988800  # 1900-01-01T00:00:00Z in seconds since 1970
#: The era of a zone without any change: its rule has always held.
_ALWAYS = -(2**62)
_DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")  # POSIX weekday numbers 0..6

Kind = Literal["STANDARD", "DAYLIGHT"]


class _Transition(NamedTuple):
    """One change of a zone's offset or name, from its tzdata file."""

    at: int  # seconds since 1970 UTC
    before: int  # UTC offset in seconds before the change
    after: int
    dst_before: bool
    dst: bool
    name: str

    @property
    def kind(self) -> Kind:
        if self.dst != self.dst_before:
            return "DAYLIGHT" if self.after > self.before else "STANDARD"
        return "DAYLIGHT" if self.dst else "STANDARD"

    @property
    def local(self) -> dt.datetime:
        """The onset in local time before the change."""
        return _EPOCH + dt.timedelta(seconds=self.at + self.before)


class _When(NamedTuple):
    """A POSIX TZ rule date and time: ``Mm.w.d/time``, ``Jn/time`` or ``n/time``."""

    form: Literal["M", "J", "n"]
    month: int  # M: month; J and n: unused
    week: int  # M: 1-5 (5 = last); J: day 1-365 without 29 February; n: day 0-365
    weekday: int  # M: 0 = Sunday
    seconds: int  # local time of the change, before it: may be negative or past 24 h

    def on(self, year: int) -> dt.datetime:
        """The change in ``year``, in local time before it."""
        if self.form == "M":
            first = dt.date(year, self.month, 1)
            day = 1 + (self.weekday - (first.weekday() + 1) % 7) % 7 + 7 * (self.week - 1)
            if day > calendar.monthrange(year, self.month)[1]:
                day -= 7
            date = dt.date(year, self.month, day)
        elif self.form == "J":
            date = dt.date(2001, 1, 1) + dt.timedelta(days=self.week - 1)  # a common year
            date = date.replace(year=year)
        else:
            date = dt.date(year, 1, 1) + dt.timedelta(days=self.week)
        return dt.datetime.combine(date, dt.time()) + dt.timedelta(seconds=self.seconds)

    def rrule(self) -> dict[str, object] | None:
        """The yearly RRULE of this rule with the time of day of :meth:`on`, or ``None`` when
        one RRULE cannot state it."""
        shift, _time = divmod(self.seconds, 86400)
        if self.form == "J":
            start = (dt.date(2001, 1, 1) + dt.timedelta(days=self.week - 1)).replace(year=2001)
            moved = start + dt.timedelta(days=shift)
            if moved.month != start.month or (moved.month, moved.day) == (2, 29):
                return None
            return {"freq": "yearly", "bymonth": moved.month, "bymonthday": moved.day}
        if self.form != "M":
            return None
        day = _DAYS[(self.weekday + shift) % 7]
        if shift == 0:
            return {"freq": "yearly", "bymonth": self.month, "byday": f"{self._nth}{day}"}
        # Another weekday, some days on: the n-th weekday's days of the month, moved.
        shortest = 28 if self.month == 2 else calendar.monthrange(2001, self.month)[1]
        if self.week < 5:
            days = [7 * (self.week - 1) + n + shift for n in range(1, 8)]
            if not all(1 <= d <= shortest for d in days):
                return None
        else:
            days = [n + shift for n in range(-7, 0)]
            if not all(-shortest <= d <= -1 for d in days):
                return None
        return {"freq": "yearly", "bymonth": self.month, "byday": day, "bymonthday": days}

    @property
    def _nth(self) -> int:
        return -1 if self.week == 5 else self.week


class _Rule(NamedTuple):
    """A POSIX TZ string: standard time, and daylight saving time if the zone keeps it."""

    std_name: str
    std: int  # UTC offset in seconds
    dst_name: str | None = None
    dst: int = 0
    start: _When | None = None  # daylight saving time begins, in standard time
    end: _When | None = None  # and ends, in daylight saving time

    def changes(self, year: int) -> Iterator[_Transition]:
        """The rule's changes in ``year`` (none without daylight saving time)."""
        if self.start is None or self.end is None or self.dst_name is None:
            return
        onset = self.start.on(year)
        yield _Transition(
            _seconds(onset) - self.std, self.std, self.dst, False, True, self.dst_name
        )
        back = self.end.on(year)
        yield _Transition(_seconds(back) - self.dst, self.dst, self.std, True, False, self.std_name)


class _Zone(NamedTuple):
    """A zone's explicit changes, its current rule, and from when that rule holds."""

    key: str
    transitions: tuple[_Transition, ...]
    rule: _Rule
    era: int  # seconds since 1970 UTC: the rule describes the zone from here on
    era_index: int  # transitions[era_index:] are the rule's own changes


def vtimezone(key: str, first: dt.date, last: dt.date) -> icalendar.Timezone:
    """The VTIMEZONE of zone ``key`` for events from ``first`` to ``last`` (local dates)."""
    return icalendar.Timezone.from_ical(vtimezone_bytes(key, first, last))  # type: ignore[return-value]


def vtimezone_bytes(key: str, first: dt.date, last: dt.date) -> bytes:
    """:func:`vtimezone` as the content lines of a file, ending in CRLF."""
    low = _seconds(dt.datetime.combine(first, dt.time())) - _MARGIN
    high = _seconds(dt.datetime.combine(last, dt.time())) + 86400 + _MARGIN
    kept = _kept(key)
    if kept is not None and low >= kept[0]:
        # Under the zone's current rule: what ``_component(key, (), True, ())`` gives.
        return kept[1]
    zone = _zone(key)
    before_era = _before_era(zone, low, high)
    era = high >= zone.era
    years: tuple[int, ...] = ()
    if era and not _expressible(zone.rule):
        years = tuple(range(max(first.year - 1, _year(zone.era)), last.year + 2))
    return _component(key, before_era, era, years)


def clear_cache() -> None:
    """Forget every zone read and component built (for measuring a cold start)."""
    _zone.cache_clear()
    _component.cache_clear()
    _kept.cache_clear()
    _kept_folder.cache_clear()


@functools.lru_cache(maxsize=64)
def _kept(key: str) -> tuple[int, bytes] | None:
    """When the current rule of zone ``key`` holds (its era), and the definition every plan
    inside it shares: kept in the cache folder for the next process, keyed by the zone's
    tzdata file. ``None`` when one RRULE cannot state the rule or the file cannot be read
    (the definition is then worked out from the zone's changes)."""
    folder = _kept_folder()
    try:
        digest = hashlib.sha256(_tzif_bytes(key)).hexdigest()
    except (OSError, ValueError, LookupError):  # LookupError: a zone tzdata does not have
        return None

    def compute() -> dict[str, object]:
        zone = _zone(key)
        if not _expressible(zone.rule):
            return {"era": zone.era, "component": None}
        return {"era": zone.era, "component": _component(key, (), True, ()).decode("utf-8")}

    data = (
        json_cached(folder, f"{key}\n{digest}", compute, replaces="vtimezone-")
        if folder
        else compute()
    )
    era, component = data.get("era"), data.get("component")
    if type(era) is not int or not isinstance(component, str):
        return None
    return era, component.encode("utf-8")


@functools.cache
def _kept_folder() -> str | None:
    """The name of the cache folder for :func:`_kept`: one for each version of this code and
    of icalendar, which write the definition (``None`` when this file cannot be read)."""
    from .. import __version__  # the package has finished importing by the time of a build

    try:
        with open(__file__, "rb") as file:
            source = hashlib.sha256(file.read()).hexdigest()
    except OSError:
        return None
    versions = repr((__version__, icalendar.__version__, source))
    return f"vtimezone-{hashlib.sha256(versions.encode()).hexdigest()[:16]}"


@functools.lru_cache(maxsize=64)
def _zone(key: str) -> _Zone:
    transitions, footer = _read(key)
    try:
        rule = _parse_rule(footer)
    except ValueError:  # a footer tzdata does not write: keep the last offset for ever
        last = transitions[-1] if transitions else None
        rule = _Rule(last.name if last else "UTC", last.after if last else 0)
    years = {_year(t.at) for t in transitions}
    predicted = {
        (change.at, change.before, change.after)
        for year in range(min(years, default=1970) - 1, max(years, default=1970) + 2)
        for change in rule.changes(year)
    }
    index = len(transitions)
    while (
        index > 0
        and (
            (t := transitions[index - 1]).at,
            t.before,
            t.after,
        )
        in predicted
    ):
        index -= 1
    if index < len(transitions) and not _complete(rule, transitions[index:]):
        index = len(transitions)
    if index == len(transitions) and transitions and rule.start is None:
        index -= 1  # no daylight saving time: the rule holds from the last change
    if index < len(transitions):
        era = transitions[index].at
    elif transitions:
        era = transitions[-1].at + 1  # the rule's first change comes after the last listed
    else:
        era = _ALWAYS
    return _Zone(key, transitions, rule, era, index)


def _complete(rule: _Rule, suffix: tuple[_Transition, ...]) -> bool:
    """Whether ``suffix`` holds every change the rule makes from its first to its last."""
    first, last = suffix[0].at, suffix[-1].at
    expected = sorted(
        change.at
        for year in range(_year(first), _year(last) + 1)
        for change in rule.changes(year)
        if first <= change.at <= last
    )
    return expected == [t.at for t in suffix]


def _before_era(zone: _Zone, low: int, high: int) -> tuple[_Transition, ...]:
    """The explicit changes that define the zone from ``low`` to ``high`` before its rule
    holds: the one in force at ``low`` and every later one before the rule's era."""
    if low >= zone.era:
        return ()
    times = [t.at for t in zone.transitions[: zone.era_index]]
    begin = max(bisect.bisect_right(times, low) - 1, 0)
    end = bisect.bisect_left(times, min(high, zone.era))
    return zone.transitions[begin:end]


def _expressible(rule: _Rule) -> bool:
    return rule.start is None or (
        rule.start.rrule() is not None and rule.end is not None and rule.end.rrule() is not None
    )


@functools.lru_cache(maxsize=256)
def _component(
    key: str, before_era: tuple[_Transition, ...], era: bool, years: tuple[int, ...]
) -> bytes:
    zone = _zone(key)
    timezone = icalendar.Timezone()
    timezone.add("tzid", key)
    for observance in _grouped(before_era):
        timezone.add_component(observance)
    if era or not before_era:
        for observance in _era(zone, years):
            timezone.add_component(observance)
    content: bytes = timezone.to_ical()
    return content


def _era(zone: _Zone, years: tuple[int, ...]) -> Iterator[icalendar.Component]:
    """The observances of the zone's current rule, from its first change on or after the era."""
    rule = zone.rule
    if rule.start is None or rule.end is None or rule.dst_name is None:
        last = zone.transitions[-1] if zone.transitions else None
        start = last.local if last is not None else _EPOCH
        before = last.before if last is not None else rule.std
        yield _observance("STANDARD", start, rule.std_name, before, rule.std)
        return
    year = _year(zone.era) if zone.era != _ALWAYS else 1970
    for when, name, before, after in (
        (rule.start, rule.dst_name, rule.std, rule.dst),
        (rule.end, rule.std_name, rule.dst, rule.std),
    ):
        kind: Kind = "DAYLIGHT" if after > before else "STANDARD"
        onset = next(
            when.on(y) for y in range(year, year + 3) if _seconds(when.on(y)) - before >= zone.era
        )
        recurrence = when.rrule()
        if recurrence is not None:
            yield _observance(kind, onset, name, before, after, rrule=recurrence)
            continue
        dates = [when.on(y) for y in years if when.on(y) > onset]
        yield _observance(kind, onset, name, before, after, rdates=dates)


def _grouped(changes: Iterable[_Transition]) -> Iterator[icalendar.Component]:
    """``changes`` as observances: each run of yearly changes on one weekday rule as an
    RRULE with UNTIL, and the other changes to the same offset and name as one observance
    listing them with RDATE."""
    runs: list[list[_Transition]] = []
    open_runs: dict[tuple[object, ...], tuple[list[_Transition], set[int]]] = {}
    for change in changes:
        local = change.local
        key = (
            change.kind,
            change.before,
            change.after,
            change.name,
            local.month,
            local.weekday(),
            local.time(),
        )
        rules = _weekday_rules(local.date())
        found = open_runs.get(key)
        if found is not None:
            run, common = found
            if _year(run[-1].at + run[-1].before) + 1 == local.year and common & rules:
                run.append(change)
                open_runs[key] = (run, common & rules)
                continue
        run = [change]
        runs.append(run)
        open_runs[key] = (run, rules)
    singles: dict[tuple[Kind, int, int, str], list[_Transition]] = {}
    observances: list[tuple[int, icalendar.Component]] = []
    for run in runs:
        head = run[0]
        if len(run) == 1:
            singles.setdefault((head.kind, head.before, head.after, head.name), []).append(head)
            continue
        rules = set.intersection(*(_weekday_rules(t.local.date()) for t in run))
        nth = -1 if -1 in rules else min(rules)
        day = _DAYS[(head.local.weekday() + 1) % 7]
        until = dt.datetime.fromtimestamp(run[-1].at, dt.UTC)
        recurrence = {
            "freq": "yearly",
            "until": until,
            "bymonth": head.local.month,
            "byday": f"{nth}{day}",
        }
        observances.append(
            (
                head.at,
                _observance(
                    head.kind, head.local, head.name, head.before, head.after, rrule=recurrence
                ),
            )
        )
    for (kind, before, after, name), alike in singles.items():
        dates = [change.local for change in alike[1:]]
        observances.append(
            (alike[0].at, _observance(kind, alike[0].local, name, before, after, rdates=dates))
        )
    for _at, observance in sorted(observances, key=lambda pair: pair[0]):
        yield observance


def _weekday_rules(day: dt.date) -> set[int]:
    """Which n-th weekday of its month ``day`` is: ``{n}``, with -1 if it is also the last."""
    rules = {(day.day - 1) // 7 + 1}
    if day.day + 7 > calendar.monthrange(day.year, day.month)[1]:
        rules.add(-1)
    return rules


def _observance(
    kind: Kind,
    start: dt.datetime,
    name: str,
    before: int,
    after: int,
    *,
    rrule: dict[str, object] | None = None,
    rdates: list[dt.datetime] | None = None,
) -> icalendar.Component:
    observance = (
        icalendar.TimezoneDaylight() if kind == "DAYLIGHT" else icalendar.TimezoneStandard()
    )
    observance.add("dtstart", start)
    if rrule is not None:
        observance.add("rrule", rrule)
    if rdates:
        observance.add("rdate", rdates)
    observance.add("tzname", name)
    observance.add("tzoffsetfrom", dt.timedelta(seconds=before))
    observance.add("tzoffsetto", dt.timedelta(seconds=after))
    return observance


# -- reading tzdata ------------------------------------------------------------------


def _tzif_bytes(key: str) -> bytes:
    """The tzdata file :func:`_read` reads for ``key``, whole."""
    path = _tzpath.find_tzfile(key)
    stream = open(path, "rb") if path is not None else _tzif.load_tzdata(key)  # noqa: SIM115
    with stream:
        data: bytes = stream.read()
    return data


def _read(key: str) -> tuple[tuple[_Transition, ...], str]:
    """The changes and the footer (POSIX TZ string) of the tzdata file
    :class:`zoneinfo.ZoneInfo` reads for ``key``: the first match on ``zoneinfo.TZPATH``,
    else the ``tzdata`` package."""
    path = _tzpath.find_tzfile(key)
    stream = open(path, "rb") if path is not None else _tzif.load_tzdata(key)  # noqa: SIM115
    with stream:
        indexes, times, offsets, dsts, names, footer = _tzif.load_data(stream)
    if footer is None:  # a version 1 file: the last offset holds for ever
        last = indexes[-1] if indexes else 0
        footer = f"<{names[last]}>{-offsets[last]}".encode()
    # Before the first change: the first standard-time type, else type 0 (as zoneinfo does),
    # from 1900 on (before it, local mean time is the only time any zone has).
    previous = next((i for i, dst in enumerate(dsts) if not dst), 0)
    transitions = []
    if times and offsets:
        initial = offsets[previous]
        transitions.append(_Transition(_1900, initial, initial, False, False, names[previous]))
    for at, index in zip(times, indexes, strict=True):
        if offsets[index] != offsets[previous]:  # a change of name alone moves no time
            transitions.append(
                _Transition(
                    at,
                    offsets[previous],
                    offsets[index],
                    bool(dsts[previous]),
                    bool(dsts[index]),
                    names[index],
                )
            )
        previous = index
    return tuple(transitions), footer.decode("ascii")


_NAME = r"(?:<(?P<{0}q>[^>]+)>|(?P<{0}>[A-Za-z]{{3,}}))"
_OFFSET = r"(?P<{0}>[+-]?\d{{1,3}}(?::\d{{1,2}}){{0,2}})"
_WHEN = (
    r"(?P<{0}>(?:M\d{{1,2}}\.\d\.\d|J\d{{1,3}}|\d{{1,3}})(?:/[+-]?\d{{1,3}}(?::\d{{1,2}}){{0,2}})?)"
)
_POSIX = pattern(  # compiled for a zone not in the cache folder
    "^"
    + _NAME.format("std")
    + _OFFSET.format("std_offset")
    + "(?:"
    + _NAME.format("dst")
    + _OFFSET.format("dst_offset")
    + "?"
    + ","
    + _WHEN.format("start")
    + ","
    + _WHEN.format("end")
    + ")?$"
)


def _parse_rule(text: str) -> _Rule:
    """A POSIX TZ string (POSIX.1-2017, 8.3, with the RFC 8536 extensions tzdata uses)."""
    match = _POSIX().match(text)
    if match is None:
        raise ValueError(f"unsupported POSIX TZ string {text!r}")
    std_name = match["stdq"] or match["std"]
    std = -_clock(match["std_offset"])
    dst_name = match["dstq"] or match["dst"]
    if dst_name is None:
        return _Rule(std_name, std)
    dst = -_clock(match["dst_offset"]) if match["dst_offset"] else std + 3600
    return _Rule(
        std_name, std, dst_name, dst, _parse_when(match["start"]), _parse_when(match["end"])
    )


def _parse_when(text: str) -> _When:
    date, _, time = text.partition("/")
    seconds = _clock(time) if time else 7200
    if date.startswith("M"):
        month, week, weekday = (int(part) for part in date[1:].split("."))
        return _When("M", month, week, weekday, seconds)
    if date.startswith("J"):
        return _When("J", 0, int(date[1:]), 0, seconds)
    return _When("n", 0, int(date), 0, seconds)


def _clock(text: str) -> int:
    """``[+-]hh[:mm[:ss]]`` in seconds."""
    sign = -1 if text.startswith("-") else 1
    parts = [int(part) for part in text.lstrip("+-").split(":")]
    parts += [0] * (3 - len(parts))
    return sign * (parts[0] * 3600 + parts[1] * 60 + parts[2])


def _seconds(local: dt.datetime) -> int:
    return (local - _EPOCH) // dt.timedelta(seconds=1)


def _year(seconds: int) -> int:
    return (_EPOCH + dt.timedelta(seconds=seconds)).year
