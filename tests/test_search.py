"""A brute-force oracle for the scheduler: it finds a plan whenever one exists, and keeps every rule.

Written against the public API only, so that it holds for any scheduler:

- :func:`violations` checks a schedule against every hard rule in
  docs/scheduling.md and docs/protocols.md, read again from the documents (it
  imports none of ketaplan's own rule code);
- :func:`oracle` tries every placement of a small protocol's sessions on a
  small calendar (every open day in each session's window, every time on a
  15-minute grid inside opening hours) and returns one that
  :func:`violations` accepts, or ``None`` when there is none.

The property tests draw clinics (closures, holidays, hours per weekday, gaps,
the consecutive-day rule, chairs and bookings), preferences and small
protocols, and show that the scheduler refuses a plan only when the oracle
finds none, that what it returns breaks no rule, and that a refusal names
the session, the date and the rule.

How the rules are read
----------------------

Hard rules, for every session: the day is open (the weekday has hours, it is
no statutory holiday of the clinic's calendars and no closure); the session
starts and ends inside one opening period of that day; its wall-clock start
exists (the clocks do not skip it); it starts on or after the plan's start;
it lasts exactly its template's duration; it overlaps none of the plan's other
sessions; a session that takes a chair finds one free at every moment (the
clinic's bookings and the plan's own chair sessions count, at most ``chairs``
at once). Between two dosing sessions: at least the larger of the clinic's and
the protocol's ``min_gap`` between their starts, and, when the clinic forbids
consecutive days, at least two calendar days between their dates (so never
two on one day). A session that is not dosing does not start after a dosing
session on the same day (the patient recovers), except a companion when no
other time in its window is free. The schedule lists its sessions in time
order, each phase has the sessions its cadence declares, each companion rule
its companions, with the keys, kinds, phases, indexes and anchors the
documents give.

Soft rules, never checked: preferred weekdays, the preferred time of day,
being near the planned date.

Windows (``previous`` is the local date of the previous dated phase's last
session; ``earliest`` is ``starts_after`` after it, or the start date in the
first phase; ``slack`` is the phase's, "how far past its date a session may
move", docs/protocols.md):

- ``PerWeek``: the planned first day is the first preferred weekday on or
  after ``earliest`` (and, after another per-week phase, not before that
  phase's weeks have ended). The first session falls from ``earliest`` up to
  the slack past its planned day; weeks count from that first session, as
  docs/scheduling.md says ("weeks count from that first session, as a label's
  'weeks 1-4' do"), in blocks of seven days; each block holds at most the
  cadence's higher number, and every session falls within ``weeks`` weeks of
  the first. The lower number is no weekly minimum (docs: "at most the
  cadence's maximum per week"). Sessions fall one a day, in index order,
  earlier or later than planned. The next per-week phase starts when these
  weeks end.
- ``Every``: a range's session falls inside the range after the previous
  session (the first phase session after ``previous``, and not before
  ``earliest``); a fixed interval's from the interval after the previous
  session up to the slack later. The first session of a first phase is
  planned on the first preferred weekday on or after the start; being a
  preference, that day is no lower bound: the session falls from the start
  up to the slack past it. ``until`` is the last possible day.
- ``Offsets``: each session from its offset after ``previous`` (or the start)
  up to the slack later. ``Taper``: the same, each from the session before.
  A phase of one offset or taper step is keyed by its name alone.
- Companions: an ``after`` companion starts from ``low`` to ``high`` after
  the end of its anchor, a ``before`` companion from ``high`` to ``low``
  before its start and not before the end of any earlier phase's session.
  When no time in that window is free (the rest of the plan as it is), it may
  start up to the slack outside it (to the end of that day).

Where the documents leave a choice, :class:`Reading` names it and
:data:`READING` holds the one these tests use: ``weeks_from="planned"`` counts
a per-week phase's weeks from its planned first day instead (as the greedy
scheduler did); ``first_within`` lets the first per-week session move to the
end of its planned week or of the phase's weeks instead of the slack;
``before_fixed_date`` lets a fixed interval's or an offset's session also
move up to the slack earlier than its date (docs/scheduling.md: a session
moves "earlier or later" inside the slack); these tests read it so. Changing :data:`READING` changes the checker and the oracle
alike.

The oracle searches the strict windows only (a companion inside its window,
never after a dosing session on its day), so a plan it finds is valid under
every exception above. It decides each example exactly: a state that failed
once is not tried again, and when the phase sessions alone do not fit, the
companions are not tried. An example it cannot decide within its budget is
discarded.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import itertools
import zoneinfo
from collections.abc import Iterator, Sequence
from typing import Literal, NamedTuple

import holidays as holiday_calendars
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

import ketaplan

DAY = dt.timedelta(days=1)
GRID = dt.timedelta(minutes=15)
WEEKDAYS = list(ketaplan.Weekday)


@dataclasses.dataclass(frozen=True)
class Reading:
    """The oracle's reading of the rules that the documents leave open (see the module docstring)."""

    #: Count a per-week phase's weeks from its planned first day or its actual first session.
    weeks_from: Literal["planned", "first"] = "first"
    #: With ``weeks_from="first"``: how far past its planned day the first session may move:
    #: the phase's ``slack``, the rest of the planned first ``week``, or the phase's ``weeks``.
    first_within: Literal["slack", "week", "weeks"] = "slack"
    #: A fixed interval's or an offset's session may also move up to the slack earlier.
    before_fixed_date: bool = True
    #: A companion may leave its window by the phase's slack when no time in the window is free.
    companion_slack: bool = True
    #: A session that is not dosing does not start after a dosing session on the same day.
    recovery: bool = True
    #: A ``before`` companion starts no earlier than the end of every earlier phase's session.
    after_earlier_phases: bool = True


READING = Reading()


# -- what the protocol asks for --------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Item:
    """One session the protocol asks for: a phase's ``index``-th session or a companion of it."""

    key: str
    phase: int
    index: int
    template: ketaplan.SessionTemplate
    companion: ketaplan.Companion | None = None
    anchor: str | None = None


def dated_phases(protocol: ketaplan.Protocol) -> tuple[list[ketaplan.Phase], list[str]]:
    """The phases a schedule dates, and the names of those it leaves pending."""
    dated: list[ketaplan.Phase] = []
    pending: list[str] = []
    for phase in protocol.phases:
        cadence = phase.cadence
        if pending or (isinstance(cadence, ketaplan.Every) and cadence.set_by_clinician):
            pending.append(phase.name)
        else:
            dated.append(phase)
    return dated, pending


def declared_count(phase: ketaplan.Phase) -> int | None:
    """How many sessions the phase's cadence declares (``None``: as many as fit ``until``)."""
    cadence = phase.cadence
    if isinstance(cadence, ketaplan.Offsets):
        return len(cadence.offsets)
    if isinstance(cadence, ketaplan.Taper):
        return len(cadence.intervals)
    return cadence.sessions


def layout(
    protocol: ketaplan.Protocol, phases: Sequence[ketaplan.Phase], counts: Sequence[int]
) -> list[Item]:
    """Every session of the dated phases, each phase session followed by its companions."""
    result: list[Item] = []
    for number, (phase, count) in enumerate(zip(phases, counts, strict=True)):
        template = protocol.template(phase.session)
        single = isinstance(phase.cadence, ketaplan.Offsets | ketaplan.Taper) and count == 1
        for index in range(1, count + 1):
            key = phase.name if single else f"{phase.name}-{index:02d}"
            result.append(Item(key, number, index, template))
            for companion in phase.companions:
                if (companion.anchor == "first" and index != 1) or (
                    companion.anchor == "last" and index != count
                ):
                    continue
                extra = protocol.template(companion.session)
                result.append(
                    Item(f"{key}-{extra.name}", number, index, extra, companion, anchor=key)
                )
    return result


# -- the phase windows -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Entry:
    """What a phase's windows depend on from the phases before it."""

    previous: dt.date | None = None  # the previous dated phase's last session (local date)
    week_end: dt.date | None = None  # the first day after the previous per-week phase's weeks


class Window(NamedTuple):
    low: dt.date
    high: dt.date
    origin: dt.date | None  # a per-week phase's first day of week 1


def next_preferred(day: dt.date, weekdays: frozenset[ketaplan.Weekday]) -> dt.date:
    while ketaplan.Weekday(day.weekday()) not in weekdays:
        day += DAY
    return day


def window(
    phase: ketaplan.Phase,
    index: int,
    before: Sequence[dt.date],
    entry: Entry,
    start: dt.date,
    weekdays: frozenset[ketaplan.Weekday],
    reading: Reading,
) -> Window:
    """The days the phase's ``index``-th session may use, given the dates of the ones ``before`` it."""
    cadence = phase.cadence
    earliest = start if entry.previous is None else phase.starts_after.after(entry.previous)
    if isinstance(cadence, ketaplan.PerWeek):
        base = max(earliest, entry.week_end or earliest)
        origin = next_preferred(base, weekdays)
        if reading.weeks_from == "first":
            if not before:
                if reading.first_within == "slack":
                    last = phase.slack.after(origin)
                else:
                    weeks = 1 if reading.first_within == "week" else cadence.weeks
                    last = origin + dt.timedelta(weeks=weeks) - DAY
                return Window(base, last, None)
            origin = before[0]
        low = before[-1] + DAY if before else origin
        return Window(low, origin + dt.timedelta(weeks=cadence.weeks) - DAY, origin)
    if isinstance(cadence, ketaplan.Every):
        if entry.previous is None and not before:
            # Planned on a preferred weekday, which is a preference: any day from the start.
            low, high = earliest, phase.slack.after(next_preferred(earliest, weekdays))
        else:
            reference = before[-1] if before else (entry.previous or start)
            low = cadence.interval.low.after(reference)
            if not before:
                low = max(low, earliest)
            high = max(cadence.interval.high.after(reference), low)
            if cadence.interval.fixed:
                if reading.before_fixed_date:
                    low = max(phase.slack.before(low), before[-1] + DAY if before else earliest)
                high = phase.slack.after(high)
        if cadence.until is not None:
            high = min(high, cadence.until)
        return Window(low, high, None)
    if isinstance(cadence, ketaplan.Offsets):
        target = cadence.offsets[index - 1].after(entry.previous or start)
    else:
        anchor = before[-1] if before else (entry.previous or start)
        target = cadence.intervals[index - 1].after(anchor)
    low = target
    if reading.before_fixed_date:
        low = max(phase.slack.before(target), before[-1] + DAY if before else earliest)
    return Window(low, phase.slack.after(target), None)


def week_of(day: dt.date, origin: dt.date) -> int:
    return (day - origin).days // 7


def next_entry(
    phase: ketaplan.Phase,
    dates: Sequence[dt.date],
    entry: Entry,
    start: dt.date,
    weekdays: frozenset[ketaplan.Weekday],
    reading: Reading,
) -> Entry:
    """The entry of the phase after ``phase``, whose sessions fell on ``dates``."""
    week_end = None
    if isinstance(phase.cadence, ketaplan.PerWeek):
        origin = window(phase, 1, [], entry, start, weekdays, reading).origin
        if reading.weeks_from == "first" or origin is None:
            origin = dates[0]
        week_end = origin + dt.timedelta(weeks=phase.cadence.weeks)
    return Entry(dates[-1], week_end)


# -- the rules of one time -------------------------------------------------------------------


class Placed(NamedTuple):
    """A session as the rules see it: instants in UTC, its local date and what it uses."""

    key: str
    start: dt.datetime
    end: dt.datetime
    day: dt.date
    dosing: bool
    chair: bool


@functools.cache
def statutory(code: str, year: int) -> frozenset[dt.date]:
    country, _, subdivision = code.partition("-")
    return frozenset(
        holiday_calendars.country_holidays(country, subdiv=subdivision or None, years=year)
    )


class Rules:
    """The hard rules for one clinic, protocol and start date, as this module reads them."""

    def __init__(
        self, protocol: ketaplan.Protocol, clinic: ketaplan.Clinic, start: dt.date
    ) -> None:
        self.protocol = protocol
        self.clinic = clinic
        self.zone = clinic.zone
        self.start = start
        self.min_gap = max(clinic.min_gap, protocol.min_gap)
        self.busy = [(b.start.astimezone(dt.UTC), b.end.astimezone(dt.UTC)) for b in clinic.busy]
        self._times: dict[object, tuple[tuple[dt.datetime, dt.datetime], ...]] = {}

    def closed(self, day: dt.date) -> str | None:
        """Why the clinic is closed on ``day``, or ``None``."""
        if any(closure.first <= day <= closure.last for closure in self.clinic.closures):
            return "a closure"
        if any(day in statutory(code, day.year) for code in self.clinic.holidays):
            return "a statutory holiday"
        if not self.clinic.hours.get(ketaplan.Weekday(day.weekday())):
            return "a weekday the clinic is closed"
        return None

    def slot(self, start: dt.datetime, end: dt.datetime) -> str | None:
        """Why a session from ``start`` to ``end`` breaks a rule on its own, or ``None``."""
        local = start.astimezone(self.zone)
        day = local.date()
        if day < self.start:
            return "before the plan's start"
        closed = self.closed(day)
        if closed is not None:
            return f"the clinic is closed ({closed})"
        round_trip = local.astimezone(dt.UTC).astimezone(self.zone)
        if round_trip.replace(tzinfo=None) != local.replace(tzinfo=None):
            return "a wall-clock time the clocks skip"
        local_end = end.astimezone(self.zone)
        periods = self.clinic.hours.get(ketaplan.Weekday(day.weekday()), ())
        if local_end.date() != day or not any(
            p.opens <= local.time() and local_end.time() <= p.closes for p in periods
        ):
            return "outside opening hours"
        return None

    def clash(self, one: Placed, other: Placed) -> str | None:
        """Why two sessions of the plan cannot both be where they are (the recovery rule aside)."""
        if one.start < other.end and other.start < one.end:
            return f"overlaps {other.key}"
        if one.dosing and other.dosing:
            if abs(one.start - other.start) < self.min_gap:
                return f"less than {self.min_gap} after or before dosing session {other.key}"
            if not self.clinic.consecutive_days and abs((one.day - other.day).days) < 2:
                return f"dosing on the day of or the day next to dosing session {other.key}"
        return None

    @staticmethod
    def recovering(one: Placed, other: Placed) -> bool:
        """Whether ``one``, not dosing, starts after dosing session ``other`` on the same day."""
        return not one.dosing and other.dosing and one.day == other.day and other.start < one.start

    def full(self, one: Placed, others: Sequence[Placed]) -> bool:
        """Whether ``one`` takes a chair at a moment when every chair is taken."""
        if not one.chair:
            return False
        intervals = [
            (start, end)
            for start, end in (*self.busy, *((o.start, o.end) for o in others if o.chair))
            if start < one.end and one.start < end
        ]
        edges = sorted(
            [(max(s, one.start), 1) for s, _ in intervals]
            + [(min(e, one.end), -1) for _, e in intervals]
        )
        in_use = 0
        for _moment, change in edges:
            in_use += change
            if in_use >= self.clinic.chairs:
                return True
        return False

    def placed(
        self, key: str, start: dt.datetime, end: dt.datetime, template: ketaplan.SessionTemplate
    ) -> Placed:
        return Placed(
            key,
            start.astimezone(dt.UTC),
            end.astimezone(dt.UTC),
            start.astimezone(self.zone).date(),
            template.kind is ketaplan.SessionKind.DOSING,
            template.uses_chair,
        )

    def times(
        self, day: dt.date, template: ketaplan.SessionTemplate, grid: dt.timedelta, time: dt.time
    ) -> tuple[tuple[dt.datetime, dt.datetime], ...]:
        """Every start on ``day`` on the grid from each opening (and the preferred ``time``)
        where the session keeps the rules it keeps on its own, with its end."""
        key = (day, template.duration, grid, time)
        if key not in self._times:
            self._times[key] = tuple(self._day_times(day, template.duration, grid, time))
        return self._times[key]

    def _day_times(
        self, day: dt.date, duration: dt.timedelta, grid: dt.timedelta, time: dt.time
    ) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        if self.closed(day) is not None or day < self.start:
            return
        wall: set[dt.time] = {time}
        for period in self.clinic.hours.get(ketaplan.Weekday(day.weekday()), ()):
            moment = dt.datetime.combine(day, period.opens)
            while moment.date() == day and moment.time() < period.closes:
                wall.add(moment.time())
                moment += grid
        for clock in sorted(wall):
            start = dt.datetime.combine(day, clock, tzinfo=self.zone)
            end = (start.astimezone(dt.UTC) + duration).astimezone(self.zone)
            if self.slot(start, end) is None:
                yield start, end


def companion_bounds(
    companion: ketaplan.Companion,
    anchor: Placed,
    slack: ketaplan.Interval,
    zone: dt.tzinfo,
    floor: dt.datetime,
    *,
    lenient: bool,
) -> tuple[dt.datetime, dt.datetime]:
    """The instants a companion may start between: its window, or with ``lenient`` the window
    widened by the phase's slack (to the end of that day)."""
    window = companion.window
    if companion.direction == "after":
        low, high = anchor.end + window.low, anchor.end + window.high
        if lenient:
            last = slack.after(high.astimezone(zone).date())
            high = dt.datetime.combine(last + DAY, dt.time(0), tzinfo=zone).astimezone(dt.UTC)
            high -= dt.timedelta(microseconds=1)
        return low, high
    low, high = anchor.start - window.high, anchor.start - window.low
    if lenient:
        first = slack.before(low.astimezone(zone).date())
        low = dt.datetime.combine(first, dt.time(0), tzinfo=zone).astimezone(dt.UTC)
    return max(low, floor), high


# -- the checker -----------------------------------------------------------------------------


def _when(moment: dt.datetime, zone: dt.tzinfo) -> str:
    return moment.astimezone(zone).isoformat(timespec="minutes")


def violations(
    protocol: ketaplan.Protocol,
    clinic: ketaplan.Clinic,
    start: dt.date,
    sessions: Sequence[ketaplan.Session],
    *,
    weekdays: Sequence[ketaplan.Weekday] = (),
    time: dt.time = dt.time(9),
    reading: Reading = READING,
) -> list[str]:
    """Every hard rule ``sessions`` break, one line each (empty: the schedule keeps every rule)."""
    rules = Rules(protocol, clinic, start)
    zone = clinic.zone
    preferred = frozenset(weekdays or protocol.weekdays)
    problems: list[str] = []
    by_key: dict[str, ketaplan.Session] = {}
    for session in sessions:
        if session.key in by_key:
            problems.append(f"{session.key}: listed twice")
        by_key[session.key] = session
    phases, _pending = dated_phases(protocol)
    counts = []
    for phase in phases:
        count = declared_count(phase)
        if count is None:
            count = sum(1 for s in sessions if s.phase == phase.name and s.anchor is None)
        counts.append(count)
    items = layout(protocol, phases, counts)
    wanted = {item.key for item in items}
    problems += [
        f"{key}: not a session the protocol asks for" for key in sorted(by_key.keys() - wanted)
    ]
    problems += [f"{item.key}: missing" for item in items if item.key not in by_key]
    if problems:
        return problems

    instants = [s.start.astimezone(dt.UTC) for s in sessions]
    if instants != sorted(instants):
        problems.append("the sessions are not in time order")
    placed: dict[str, Placed] = {}
    for item in items:
        session = by_key[item.key]
        phase = phases[item.phase]
        template = item.template
        expected = (template.kind, template.name, phase.name, item.index, item.anchor)
        actual = (session.kind, session.template, session.phase, session.index, session.anchor)
        if expected != actual:
            problems.append(
                f"{item.key}: kind, template, phase, index, anchor {actual}, expected {expected}"
            )
        length = session.end.astimezone(dt.UTC) - session.start.astimezone(dt.UTC)
        if length != template.duration:
            problems.append(f"{item.key}: lasts {length}, its template {template.duration}")
        placed[item.key] = rules.placed(item.key, session.start, session.end, template)
        why = rules.slot(session.start, session.end)
        if why is not None:
            problems.append(f"{item.key} at {_when(session.start, zone)}: {why}")

    everyone = list(placed.values())
    for one, other in itertools.combinations(everyone, 2):
        why = rules.clash(one, other)
        if why is not None:
            problems.append(f"{one.key} at {_when(one.start, zone)}: {why}")
    for one in everyone:
        if rules.full(one, [o for o in everyone if o.key != one.key]):
            problems.append(f"{one.key} at {_when(one.start, zone)}: every chair is taken")

    # The phases' windows, walked in order from the actual dates.
    entry = Entry()
    floor = dt.datetime.combine(start, dt.time(0), tzinfo=zone).astimezone(dt.UTC)
    floors: list[dt.datetime] = []
    for number, phase in enumerate(phases):
        floors.append(floor)
        own = [item for item in items if item.phase == number and item.companion is None]
        dates = [placed[item.key].day for item in own]
        per_week: dict[int, int] = {}
        for position, item in enumerate(own):
            low, high, origin = window(
                phase, item.index, dates[:position], entry, start, preferred, reading
            )
            day = dates[position]
            if not low <= day <= high:
                problems.append(
                    f"{item.key} on {day}: outside its window {low} to {high} ({phase.cadence})"
                )
            if position and day <= dates[position - 1]:
                problems.append(f"{item.key} on {day}: not after {own[position - 1].key}")
            if isinstance(phase.cadence, ketaplan.PerWeek):
                origin = dates[0] if origin is None else origin
                week = week_of(day, origin)
                per_week[week] = per_week.get(week, 0) + 1
                if per_week[week] > phase.cadence.high:
                    problems.append(
                        f"{item.key} on {day}: week {week + 1} of {phase.name} has more than {phase.cadence.high}"
                    )
        cadence = phase.cadence
        if (
            isinstance(cadence, ketaplan.Every)
            and cadence.until is not None
            and dates[-1] > cadence.until
        ):
            problems.append(f"{own[-1].key} on {dates[-1]}: after the phase's end {cadence.until}")
        entry = next_entry(phase, dates, entry, start, preferred, reading)
        floor = max([floor, *(placed[i.key].end for i in items if i.phase == number)])

    # Companions, and the recovery rule.
    for item in items:
        one = placed[item.key]
        others = [o for o in everyone if o.key != one.key]
        recovering = reading.recovery and any(rules.recovering(one, o) for o in others)
        if item.companion is None:
            if recovering:
                problems.append(
                    f"{item.key} at {_when(one.start, zone)}: after a dosing session that day"
                )
            continue
        phase = phases[item.phase]
        anchor = placed[item.anchor or ""]
        floor = floors[item.phase] if reading.after_earlier_phases else floors[0]
        strict = companion_bounds(item.companion, anchor, phase.slack, zone, floor, lenient=False)
        wide = companion_bounds(item.companion, anchor, phase.slack, zone, floor, lenient=True)
        inside = strict[0] <= one.start <= strict[1]
        if not inside and not (reading.companion_slack and wide[0] <= one.start <= wide[1]):
            problems.append(
                f"{item.key} at {_when(one.start, zone)}: outside its window {item.companion.window} {item.companion.direction} {item.anchor}"
            )
            continue
        if not inside:
            free = _free_time(rules, item, strict, others, time, recovery=False)
            if free is not None:
                problems.append(
                    f"{item.key} at {_when(one.start, zone)}: outside its window although {_when(free, zone)} is free"
                )
        if recovering:
            free = _free_time(rules, item, strict if inside else wide, others, time, recovery=True)
            if free is not None:
                problems.append(
                    f"{item.key} at {_when(one.start, zone)}: after a dosing session that day although {_when(free, zone)} is free"
                )
    return problems


def _free_time(
    rules: Rules,
    item: Item,
    bounds: tuple[dt.datetime, dt.datetime],
    others: Sequence[Placed],
    time: dt.time,
    *,
    recovery: bool,
) -> dt.datetime | None:
    """A start in ``bounds`` on the 15-minute grid where ``item`` keeps every rule (with
    ``recovery``, also not after a dosing session that day), the rest of the plan as it is."""
    low, high = bounds
    day = low.astimezone(rules.zone).date()
    while day <= high.astimezone(rules.zone).date():
        for start, end in rules.times(day, item.template, GRID, time):
            if not low <= start <= high:
                continue
            one = rules.placed(item.key, start, end, item.template)
            if any(rules.clash(one, o) for o in others) or rules.full(one, others):
                continue
            if recovery and any(rules.recovering(one, o) for o in others):
                continue
            return start
        day += DAY
    return None


# -- the oracle ------------------------------------------------------------------------------


class Undecided(Exception):
    """The oracle tried more candidates than its budget allows."""


def oracle(
    protocol: ketaplan.Protocol,
    clinic: ketaplan.Clinic,
    start: dt.date,
    *,
    weekdays: Sequence[ketaplan.Weekday] = (),
    time: dt.time = dt.time(9),
    grid: dt.timedelta = GRID,
    budget: int = 500_000,
    reading: Reading = READING,
    companions: bool = True,
) -> list[ketaplan.Session] | None:
    """A schedule that keeps every hard rule, found by trying every placement, or ``None``.

    Sessions are placed in protocol order, each phase session followed by its
    companions; each tries every open day in its window and every time on the
    ``grid`` from each opening (and the preferred ``time``). A state that
    failed once is not tried again: what later sessions may do depends only
    on the last phase session, the phase's week count, the phases' entry
    and the sessions placed on or after the day later ones can reach.
    Raises :class:`Undecided` past ``budget`` candidates. Without
    ``companions`` it places the phase sessions only (a plan for part of the
    protocol).
    """
    if companions and any(phase.companions for phase in protocol.phases):
        # Companions only add rules: when the phase sessions alone do not fit, nothing does.
        alone = oracle(
            protocol,
            clinic,
            start,
            weekdays=weekdays,
            time=time,
            grid=grid,
            budget=budget,
            reading=reading,
            companions=False,
        )
        if alone is None:
            return None
    rules = Rules(protocol, clinic, start)
    zone = clinic.zone
    preferred = frozenset(weekdays or protocol.weekdays)
    phases, _pending = dated_phases(protocol)
    counts = [declared_count(phase) for phase in phases]
    if any(count is None for count in counts):
        raise NotImplementedError("the oracle needs a number of sessions for every phase")
    items = layout(protocol, phases, [c for c in counts if c is not None])
    if not companions:
        items = [item for item in items if item.companion is None]
    reach = [  # how many days before its anchor a later companion may start
        max(
            (
                i.companion.window.high.days + 1
                for i in items[position:]
                if i.companion is not None and i.companion.direction == "before"
            ),
            default=0,
        )
        for position in range(len(items) + 1)
    ]
    # Whether every session from a position on falls on a later day than the last phase
    # session placed before it: each phase's sessions fall one a day, and a later phase
    # starts a day or more after (unless an offset, taper step or start is 0 days).
    zero = [
        phase.starts_after.amount == 0
        or any(
            step.amount == 0
            for step in (
                phase.cadence.offsets
                if isinstance(phase.cadence, ketaplan.Offsets)
                else phase.cadence.intervals
                if isinstance(phase.cadence, ketaplan.Taper)
                else ()
            )
        )
        for phase in phases
    ]
    later_days = [
        not any(zero[i.phase] for i in items[position:] if i.phase > items[position - 1].phase)
        if position
        else False
        for position in range(len(items))
    ]
    start_floor = dt.datetime.combine(start, dt.time(0), tzinfo=zone).astimezone(dt.UTC)
    placed: list[Placed] = []
    by_day: dict[dt.date, list[Placed]] = {}
    dosing: list[Placed] = []
    dates: list[list[dt.date]] = [[] for _ in phases]
    entries: list[Entry] = [Entry()]
    floors: list[dt.datetime] = [start_floor]
    anchors: dict[str, Placed] = {}
    phase_placed: list[Placed] = []
    failed: set[object] = set()
    tried = 0

    @functools.cache
    def planned_origin(number: int, entry: Entry) -> dt.date | None:
        return window(phases[number], 1, [], entry, start, preferred, reading).origin

    def origin_of(number: int) -> dt.date | None:
        """The first day of week 1 of a per-week phase (``None``: not known yet, or not per-week)."""
        if not isinstance(phases[number].cadence, ketaplan.PerWeek):
            return None
        if reading.weeks_from == "first":
            return dates[number][0] if dates[number] else None
        return planned_origin(number, entries[number])

    def state(position: int, origin: dt.date | None) -> object:
        """What the sessions from ``position`` on depend on: the phase's entry and dates so far,
        its week count, the anchor of pending companions, how the last dosing session binds
        the next, and the sessions on the days later ones can reach."""
        item = items[position]
        number = item.phase
        own = dates[number]
        last_phase = phase_placed[-1] if phase_placed else None
        if last_phase is None:
            reachable = dt.datetime.combine(start, dt.time(0), tzinfo=zone).astimezone(dt.UTC)
        else:
            next_day = last_phase.day + (DAY if later_days[position] else dt.timedelta(0))
            reachable = dt.datetime.combine(next_day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)
            for pending in items[position:]:
                if pending.companion is None:
                    break
                if pending.companion.direction == "after":
                    reachable = min(reachable, last_phase.end + pending.companion.window.low)
                else:
                    reachable = min(reachable, last_phase.start - pending.companion.window.high)
        horizon = reachable.astimezone(zone).date() - dt.timedelta(days=reach[position])
        week = None
        if own and origin is not None:
            current = week_of(own[-1], origin)
            week = (origin, sum(1 for d in own if week_of(d, origin) == current))
        gap = consecutive = None
        if dosing:
            gap = max(dosing[-1].start + rules.min_gap, reachable)
            if not clinic.consecutive_days and dosing[-1].day + DAY >= horizon:
                consecutive = dosing[-1].day
        return (
            position,
            entries[number],
            floors[number],
            len(own),
            own[-1] if own else None,
            week,
            last_phase[1:3] if item.companion is not None and last_phase else None,
            gap,
            consecutive,
            frozenset(p[1:] for p in placed if p.day >= horizon),
        )

    def days_of(item: Item, origin: dt.date | None) -> Iterator[dt.date]:
        """The days a phase session may use, by its window, order, weekly cap and day rules."""
        phase = phases[item.phase]
        own = dates[item.phase]
        low, high, _origin = window(
            phase, item.index, own, entries[item.phase], start, preferred, reading
        )
        if own:
            low = max(low, own[-1] + DAY)
        day = low
        while day <= high:
            if origin is not None and isinstance(phase.cadence, ketaplan.PerWeek):
                week = week_of(day, origin)
                if sum(1 for d in own if week_of(d, origin) == week) >= phase.cadence.high:
                    day += DAY
                    continue
            if (
                dosing
                and item.template.kind is ketaplan.SessionKind.DOSING
                and not clinic.consecutive_days
                and abs((day - dosing[-1].day).days) < 2
            ):
                day += DAY
                continue
            yield day
            day += DAY

    def candidates(item: Item, origin: dt.date | None) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        if item.companion is None:
            for day in days_of(item, origin):
                yield from rules.times(day, item.template, grid, time)
            return
        phase = phases[item.phase]
        floor = floors[item.phase] if reading.after_earlier_phases else start_floor
        anchor = anchors[item.anchor or ""]
        low, high = companion_bounds(
            item.companion, anchor, phase.slack, zone, floor, lenient=False
        )
        day = low.astimezone(zone).date()
        while day <= high.astimezone(zone).date():
            for moment, end in rules.times(day, item.template, grid, time):
                if low <= moment <= high:
                    yield moment, end
            day += DAY

    def fits(one: Placed) -> bool:
        """Whether ``one`` keeps the rules against the sessions placed so far (strictly: no
        session after a dosing session on its day)."""
        same_day = by_day.get(one.day, [])
        if any(rules.clash(one, other) for other in same_day):
            return False
        if one.dosing and any(rules.clash(one, other) for other in dosing):
            return False
        if any(rules.recovering(one, o) or rules.recovering(o, one) for o in same_day):
            return False
        return not rules.full(one, same_day)

    def place(item: Item, one: Placed) -> None:
        placed.append(one)
        by_day.setdefault(one.day, []).append(one)
        if one.dosing:
            dosing.append(one)
        if item.companion is None:
            dates[item.phase].append(one.day)
            anchors[item.key] = one
            phase_placed.append(one)

    def unplace(item: Item, one: Placed) -> None:
        placed.pop()
        by_day[one.day].pop()
        if one.dosing:
            dosing.pop()
        if item.companion is None:
            dates[item.phase].pop()
            del anchors[item.key]
            phase_placed.pop()

    def solve(position: int) -> list[tuple[dt.datetime, dt.datetime]] | None:
        nonlocal tried
        if position == len(items):
            return []
        item = items[position]
        grown = item.phase == len(entries)  # the first session of the next phase
        if grown:
            before = phases[item.phase - 1]
            entries.append(
                next_entry(before, dates[item.phase - 1], entries[-1], start, preferred, reading)
            )
            floors.append(max([floors[-1], *(p.end for p in placed)]))
        try:
            origin = origin_of(item.phase)
            key = state(position, origin)
            if key in failed:
                return None
            for moment, end in candidates(item, origin):
                tried += 1
                if tried > budget:
                    raise Undecided(f"more than {budget} candidates")
                one = rules.placed(item.key, moment, end, item.template)
                if not fits(one):
                    continue
                place(item, one)
                rest = solve(position + 1)
                unplace(item, one)
                if rest is not None:
                    return [(moment, end), *rest]
            failed.add(key)
            return None
        finally:
            if grown:
                entries.pop()
                floors.pop()

    found = solve(0)
    if found is None:
        return None
    sessions = [
        ketaplan.Session(
            key=item.key,
            kind=item.template.kind,
            phase=phases[item.phase].name,
            index=item.index,
            start=moment,
            end=end,
            template=item.template.name,
            anchor=item.anchor,
        )
        for item, (moment, end) in zip(items, found, strict=True)
    ]
    return sorted(sessions, key=lambda s: (s.start.astimezone(dt.UTC), s.key))


# -- small calendars -------------------------------------------------------------------------

ROUTE_SOURCE = ketaplan.builtin_protocols()["iv-induction"]
ZONES = {"America/Toronto": "CA-ON", "Europe/London": "GB-ENG", "Australia/Sydney": "AU-NSW"}
PERIODS = (
    "09:00-12:00",
    "09:00-11:00, 13:00-15:00",
    "10:00-13:00",
    "08:00-10:30",
    "13:00-16:00",
    "01:00-04:00",
)
#: Christmas, Easter and the days the clocks change in the drawn zones, 2026 and 2027.
SEASONS = tuple(
    dt.date.fromisoformat(day)
    for day in (
        "2026-12-25",
        "2027-12-25",
        "2026-04-05",  # also the day Sydney's clocks go back
        "2027-03-28",
        "2026-03-08",
        "2026-11-01",
        "2026-03-29",
        "2026-10-25",
        "2026-10-04",
        "2027-03-14",
        "2027-10-31",
    )
)


@dataclasses.dataclass(frozen=True)
class Spec:
    """A small protocol, clinic and preferences, in plain values that read as a reproduction."""

    start: dt.date
    zone: str = "America/Toronto"
    holidays: bool = False
    hours: tuple[tuple[str, str], ...] = (("MO", "09:00-12:00"), ("TU", "09:00-12:00"))
    closures: tuple[tuple[dt.date, dt.date], ...] = ()
    min_gap_hours: int = 0
    consecutive_days: bool = True
    chairs: int = 1
    busy: tuple[tuple[str, int], ...] = ()  # (local start, minutes)
    time: dt.time = dt.time(9)
    weekdays: tuple[str, ...] = ()
    consultation: bool = False
    cadence: tuple[object, ...] = ("per_week", 2, 2, 2, 4)  # or ("every", "2-4 days", 3)
    #: A second dosing phase: ("per_week", 1, 1, w, n), ("every", "1 week", n), ("offsets", "1 week").
    second: tuple[object, ...] | None = None
    dosing_minutes: int = 60
    #: A companion after each (or the last) session: (window, minutes, uses a chair, anchor).
    companion: tuple[str, int, bool, Literal["each", "first", "last"]] | None = None

    def clinic(self) -> ketaplan.Clinic:
        zone = zoneinfo.ZoneInfo(self.zone)
        return ketaplan.Clinic(
            name="Test clinic",
            timezone=self.zone,
            hours={
                ketaplan.Weekday.parse(day): ketaplan.Hours.parse_day(text, field="hours")
                for day, text in self.hours
            },
            holidays=(ZONES[self.zone],) if self.holidays else (),
            closures=tuple(
                ketaplan.Closure(first, last, "closed") for first, last in self.closures
            ),
            min_gap=dt.timedelta(hours=self.min_gap_hours),
            consecutive_days=self.consecutive_days,
            chairs=self.chairs,
            busy=tuple(
                ketaplan.Busy(moment, moment + dt.timedelta(minutes=minutes))
                for moment, minutes in (
                    (dt.datetime.fromisoformat(begin).replace(tzinfo=zone), minutes)
                    for begin, minutes in self.busy
                )
            ),
        )

    def protocol(self) -> ketaplan.Protocol:
        dosing = ketaplan.SessionTemplate(
            name="dosing",
            kind=ketaplan.SessionKind.DOSING,
            title="Treatment session",
            duration=dt.timedelta(minutes=self.dosing_minutes),
            uses_chair=True,
        )
        templates = [dosing]
        phases = []
        if self.consultation:
            templates.append(
                ketaplan.SessionTemplate(
                    name="consultation",
                    kind=ketaplan.SessionKind.CONSULTATION,
                    title="Consultation",
                    duration=dt.timedelta(hours=1),
                )
            )
            phases.append(
                ketaplan.Phase(
                    name="consultation",
                    title="Consultation",
                    cadence=ketaplan.Offsets((ketaplan.Interval(0, "days"),)),
                    session="consultation",
                )
            )
        companions: tuple[ketaplan.Companion, ...] = ()
        if self.companion is not None:
            text, minutes, chair, anchor = self.companion
            templates.append(
                ketaplan.SessionTemplate(
                    name="integration",
                    kind=ketaplan.SessionKind.INTEGRATION,
                    title="Integration session",
                    duration=dt.timedelta(minutes=minutes),
                    uses_chair=chair,
                )
            )
            companions = (
                ketaplan.Companion(
                    session="integration",
                    anchor=anchor,
                    window=ketaplan.DurationRange.parse(text),
                    direction="after",
                ),
            )
        phases.append(
            ketaplan.Phase(
                name="induction",
                title="Induction",
                cadence=_cadence(self.cadence),
                session="dosing",
                companions=companions,
            )
        )
        if self.second is not None:
            phases.append(
                ketaplan.Phase(
                    name="maintenance",
                    title="Maintenance",
                    cadence=_cadence(self.second),
                    session="dosing",
                )
            )
        return ketaplan.Protocol(
            name="small",
            title="A small protocol",
            summary="",
            route=ROUTE_SOURCE.route,
            phases=tuple(phases),
            sessions=tuple(templates),
            weekdays=(ketaplan.Weekday.MO, ketaplan.Weekday.TH),
            sources=ROUTE_SOURCE.sources,
        )

    def preferred(self) -> tuple[ketaplan.Weekday, ...]:
        return tuple(ketaplan.Weekday.parse(day) for day in self.weekdays)


def _cadence(values: tuple[object, ...]) -> ketaplan.PerWeek | ketaplan.Every | ketaplan.Offsets:
    kind, *rest = (str(value) for value in values)
    if kind == "per_week":
        low, high, weeks, sessions = (int(value) for value in rest)
        return ketaplan.PerWeek(low, high, weeks, sessions)
    if kind == "every":
        return ketaplan.Every(ketaplan.IntervalRange.parse(rest[0]), sessions=int(rest[1]))
    return ketaplan.Offsets(tuple(ketaplan.Interval.parse(value) for value in rest))


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    """A clinic over a few weeks, preferences and a protocol of 2 to 6 dosing sessions."""
    start = draw(
        st.one_of(
            st.dates(dt.date(2026, 1, 1), dt.date(2027, 12, 31)),
            st.builds(
                lambda day, shift: day + dt.timedelta(days=shift),
                st.sampled_from(SEASONS),
                st.integers(-35, 3),
            ),
        )
    )
    zone = draw(st.sampled_from(sorted(ZONES)))
    open_days = draw(st.sets(st.sampled_from(WEEKDAYS), min_size=3))
    pattern = draw(st.sampled_from(PERIODS[:-1]))
    hours = dict.fromkeys(open_days, pattern)
    if draw(st.booleans()):
        hours[draw(st.sampled_from(sorted(open_days)))] = draw(st.sampled_from(PERIODS))
    closures = [
        (start + dt.timedelta(days=d),) * 2 for d in draw(st.sets(st.integers(0, 34), max_size=6))
    ]
    if draw(st.booleans()):
        first = start + dt.timedelta(days=draw(st.integers(0, 30)))
        closures.append((first, first + dt.timedelta(days=draw(st.integers(1, 5)))))
    busy = tuple(
        (
            dt.datetime.combine(start + dt.timedelta(days=day), dt.time(8)) + quarter * GRID,
            minutes,
        )
        for day, quarter, minutes in draw(
            st.lists(
                st.tuples(
                    st.integers(0, 34), st.integers(0, 20), st.sampled_from([30, 60, 120, 180])
                ),
                max_size=8,
            )
        )
    )
    dosing_phase: tuple[object, ...]
    if draw(st.booleans()):
        high = draw(st.integers(1, 3))
        weeks = draw(st.integers(1 if high > 1 else 2, 3))
        sessions = draw(st.integers(2, min(6, high * weeks)))
        dosing_phase = ("per_week", draw(st.integers(1, high)), high, weeks, sessions)
    else:
        every = ["2 days", "3 days", "2-4 days", "1-3 days", "1 week", "1-2 weeks"]
        sessions = draw(st.integers(2, 5))
        dosing_phase = ("every", draw(st.sampled_from(every)), sessions)
    second = None
    if sessions <= 4 and draw(st.booleans()):
        second = draw(
            st.sampled_from(
                [
                    ("per_week", 1, 1, 2, 2),
                    ("per_week", 1, 1, 1, 1),
                    ("every", "1 week", 2),
                    ("offsets", "1 week"),
                ]
            )
        )
    companion: tuple[str, int, bool, Literal["each", "first", "last"]] | None = None
    if draw(st.booleans()):
        companion = (
            draw(st.sampled_from(["24-72 h", "24-48 h", "18-30 h", "1-3 days"])),
            draw(st.sampled_from([30, 60])),
            draw(st.booleans()),
            draw(st.sampled_from(("each", "each", "last"))),
        )
    return Spec(
        start=start,
        zone=zone,
        holidays=draw(st.booleans()),
        hours=tuple((day.name, text) for day, text in sorted(hours.items())),
        closures=tuple(sorted(closures)),
        min_gap_hours=draw(st.sampled_from([0, 0, 24, 48, 72])),
        consecutive_days=draw(st.booleans()),
        chairs=draw(st.integers(1, 2)),
        busy=tuple((moment.isoformat(timespec="minutes"), minutes) for moment, minutes in busy),
        time=draw(
            st.sampled_from(
                [
                    dt.time(9),
                    dt.time(9, 30),
                    dt.time(10, 15),
                    dt.time(11),
                    dt.time(13),
                    dt.time(2, 30),
                ]
            )
        ),
        weekdays=tuple(
            day.name for day in sorted(draw(st.sets(st.sampled_from(WEEKDAYS), max_size=3)))
        ),
        consultation=draw(st.booleans()),
        cadence=dosing_phase,
        second=second,
        dosing_minutes=draw(st.sampled_from([60, 90, 120, 150])),
        companion=companion,
    )


# -- the scheduler against the oracle ---------------------------------------------------------

PROPERTY = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def attempt(spec: Spec) -> ketaplan.Schedule | ketaplan.KetaplanError:
    """The scheduler's plan for ``spec``, or the error it refused it with."""
    try:
        return ketaplan.schedule(
            spec.protocol(), spec.clinic(), spec.start, time=spec.time, weekdays=spec.preferred()
        )
    except ketaplan.KetaplanError as error:
        return error


def decide(spec: Spec) -> list[ketaplan.Session] | None:
    """The oracle's plan for ``spec`` (``None``: there is none); an example it cannot decide
    within its budget is discarded."""
    try:
        return oracle(
            spec.protocol(), spec.clinic(), spec.start, weekdays=spec.preferred(), time=spec.time
        )
    except Undecided:
        reject()


def describe(sessions: Sequence[ketaplan.Session], zone: dt.tzinfo) -> str:
    """A plan on one line: each session's key and local start."""
    return ", ".join(f"{s.key} {s.start.astimezone(zone):%Y-%m-%d %H:%M}" for s in sessions)


@PROPERTY
@given(spec=specs())
def test_a_plan_is_returned_whenever_one_exists(spec: Spec) -> None:
    """Whenever some placement of the sessions (any open day in each window, any time on the
    15-minute grid) keeps every hard rule, the scheduler returns a plan instead of refusing."""
    protocol, clinic = spec.protocol(), spec.clinic()
    found = decide(spec)
    if found is None:
        return
    assert [] == violations(
        protocol, clinic, spec.start, found, weekdays=spec.preferred(), time=spec.time
    )
    result = attempt(spec)
    refusal = str(result) if isinstance(result, ketaplan.KetaplanError) else None
    assert None is refusal, f"a plan exists: {describe(found, clinic.zone)}"


@PROPERTY
@given(spec=specs())
def test_a_returned_plan_breaks_no_rule(spec: Spec) -> None:
    """What the scheduler returns keeps every hard rule, has every session the protocol asks for
    and leaves pending exactly the phases whose interval the clinician sets."""
    result = attempt(spec)
    if isinstance(result, ketaplan.KetaplanError):
        return
    protocol, clinic = spec.protocol(), spec.clinic()
    assert [] == violations(
        protocol, clinic, spec.start, result.sessions, weekdays=spec.preferred(), time=spec.time
    )
    assert dated_phases(protocol)[1] == [name for name, _why in result.pending]


@PROPERTY
@given(spec=specs())
def test_a_refusal_is_right_and_names_session_date_and_rule(spec: Spec) -> None:
    """The scheduler refuses a plan only with a ScheduleError, only when no placement keeps every
    rule, and the error names one of the plan's sessions, a date and the rule on one short line."""
    result = attempt(spec)
    if not isinstance(result, ketaplan.KetaplanError):
        return
    assert isinstance(result, ketaplan.ScheduleError), str(result)
    protocol, clinic = spec.protocol(), spec.clinic()
    phases, _pending = dated_phases(protocol)
    keys = {item.key for item in layout(protocol, phases, [declared_count(p) or 0 for p in phases])}
    assert result.session_key in keys
    assert type(result.date) is dt.date
    assert isinstance(result.rule, str)
    assert result.rule.strip()
    message = str(result)
    assert f"{result.session_key!r}" in message
    assert result.date.isoformat() in message
    assert 1 == len(message.splitlines())
    assert len(message) <= 300
    assert "datetime." not in message
    found = decide(spec)
    assert None is found, (
        f"refused ({message}) although a plan exists: {describe(found or [], clinic.zone)}"
    )


# -- the example ----------------------------------------------------------------------


def test_christmas_takes_the_thursday_before() -> None:
    """esketamine-nasal in Toronto (CA-ON, no dosing on consecutive days), Tuesdays and Fridays
    from Fri 27 Nov 2026: induction-08 is planned on Christmas Day, with Boxing Day and the
    weekend after it closed, so it takes Thu 24 Dec, and its moves name Fri 25 Dec and Christmas."""
    protocol = ketaplan.builtin_protocols()["esketamine-nasal"]
    clinic = ketaplan.Clinic(
        name="Lakeside", timezone="America/Toronto", holidays=("CA-ON",), consecutive_days=False
    )
    start = dt.date(2026, 11, 27)
    weekdays = (ketaplan.Weekday.TU, ketaplan.Weekday.FR)

    result = ketaplan.schedule(protocol, clinic, start, weekdays=weekdays)

    session = next(s for s in result.sessions if s.key == "induction-08")
    assert dt.date(2026, 12, 24) == session.start.astimezone(clinic.zone).date()
    assert dt.date(2026, 12, 25) == session.planned
    assert any(
        "Fri 25 Dec 2026" in str(move) and "Christmas" in str(move) for move in session.moves
    ), [str(move) for move in session.moves]
    assert [] == violations(protocol, clinic, start, result.sessions, weekdays=weekdays)


# -- whole years on real calendars ------------------------------------------------------------

CITIES = (
    ("America/Toronto", "CA-ON"),
    ("Europe/London", "GB-ENG"),
    ("Australia/Sydney", "AU-NSW"),
    ("Europe/Berlin", "DE-BE"),
    ("Asia/Tokyo", "JP"),
)
PREFERENCES = (("MO", "TH"), ("TU", "FR"), ("MO", "WE", "FR"), ())


def _days(first: str, count: int, step: int = 1) -> set[dt.date]:
    day = dt.date.fromisoformat(first)
    return {day + dt.timedelta(days=step * n) for n in range(count)}


#: Every fifth day of 2027, and every day of the six weeks before each Christmas and Easter 2027.
YEAR_STARTS = sorted(
    _days("2027-01-01", 73, 5)
    | _days("2026-11-20", 42)
    | _days("2027-11-20", 42)
    | _days("2027-02-25", 40)
)
#: How many of the twenty clinic and preference pairs each start date is tried with; they
#: rotate, so that every pair meets every tenth date.
PAIRS_PER_START = 2


def _variants() -> Iterator[tuple[str, ketaplan.Protocol]]:
    """Every built-in protocol, and each with its clinician-set interval dated at its whole range."""
    for name, protocol in ketaplan.builtin_protocols().items():
        yield name, protocol
        dated = protocol
        for phase in protocol.phases:
            if isinstance(phase.cadence, ketaplan.Every) and phase.cadence.set_by_clinician:
                dated = dated.with_phase(phase.name, interval=phase.cadence.interval)
        if dated is not protocol:
            yield f"{name} (maintenance dated)", dated


def year_problems(
    protocol: ketaplan.Protocol, *, limit: int = 5, reading: Reading = READING
) -> list[str]:
    """What goes wrong over :data:`YEAR_STARTS`: a plan that breaks a rule, or a refusal while
    the oracle finds a plan on an hourly grid; at most ``limit`` of them."""
    pairs = [
        (
            ketaplan.Clinic(name="Clinic", timezone=zone, holidays=(code,), consecutive_days=False),
            tuple(ketaplan.Weekday.parse(day) for day in days),
        )
        for (zone, code), days in itertools.product(CITIES, PREFERENCES)
    ]
    problems: list[str] = []
    for number, start in enumerate(YEAR_STARTS):
        for shift in range(PAIRS_PER_START):
            clinic, weekdays = pairs[(number + shift * len(pairs) // PAIRS_PER_START) % len(pairs)]
            where = f"{clinic.timezone} {'/'.join(d.name for d in weekdays) or 'usual days'} from {start}"
            try:
                result = ketaplan.schedule(protocol, clinic, start, weekdays=weekdays)
            except ketaplan.KetaplanError as error:
                try:
                    found = oracle(
                        protocol,
                        clinic,
                        start,
                        weekdays=weekdays,
                        grid=dt.timedelta(hours=1),
                        budget=200_000,
                        reading=reading,
                    )
                except Undecided:
                    problems.append(f"{where}: refused ({error}); the oracle could not decide")
                    continue
                if found is not None:
                    problems.append(
                        f"{where}: refused ({error}) although a plan exists: {describe(found, clinic.zone)}"
                    )
            else:
                problems += [
                    f"{where}: {problem}"
                    for problem in violations(
                        protocol, clinic, start, result.sessions, weekdays=weekdays, reading=reading
                    )
                ]
            if len(problems) >= limit:
                break
        if len(problems) >= limit:
            break
    return problems


@pytest.mark.parametrize(("name", "protocol"), list(_variants()), ids=[n for n, _ in _variants()])
def test_whole_years_refuse_no_plan_that_exists(name: str, protocol: ketaplan.Protocol) -> None:
    """Over the start dates of a whole year (every day before Christmas and Easter), in clinics on
    four continents with their statutory holidays and no dosing on consecutive days, and the
    common weekday preferences: every plan keeps every rule, and none is refused while the
    oracle (on an hourly grid) finds one."""
    assert [] == year_problems(protocol)
