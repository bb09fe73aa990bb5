"""The rule book: may this session be at this time? The one place that decides.

Every rule a session's time must keep is here, each answered with the
sentence users see when a session moves or a change is refused:

- the plan's bounds: nothing before the plan's start, nothing more than
  :data:`~ketaplan._limits.MAX_SPAN` after it;
- a closed day: the clinic's weekly hours, a statutory holiday, a closure;
- a wall-clock time the clocks skip, and the clinic's opening hours;
- an overlap with the patient's own sessions;
- the minimum gap and the consecutive-day rule between dosing sessions;
- the capacity of the resource the session uses (a chair, a room), counting
  the clinic's bookings (its :class:`~ketaplan.Ledger`) and the patient's own
  sessions;
- a per-week phase's window and weekly cap (:func:`phase_window`).

The scheduler's search, :func:`ketaplan.reschedule`, ``defer``,
``add_boosters``, ``revert_phase`` and the lateness rules all ask it; nothing
else re-implements a rule. Times are compared as instants (UTC): on the
night the clocks go back, two wall-clock times that read the same are an
hour apart.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Iterator, Sequence

from ._clinic import Clinic
from ._ledger import Ledger
from ._limits import MAX_SPAN
from ._protocol import PerWeek, Protocol, SessionKind, SessionTemplate
from ._session import Session, SessionStatus, english_date
from ._units import Weekday, format_duration

#: The weekdays by number, to look a date's up without the enum's own look-up.
_WEEKDAYS = tuple(Weekday)

__all__ = ["Own", "Rules", "phase_window"]

_DAY = dt.timedelta(days=1)


def utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` as an instant in UTC, for comparing."""
    return moment.astimezone(dt.UTC)


class Own:
    """The patient's own sessions that take place, indexed for the rules.

    Sessions are kept by local date (only one day's sessions can overlap a
    session, since every session fits one day's opening hours) and dosing
    sessions in time order (for the gap and consecutive-day rules), so a check
    costs the same with ten sessions or a thousand. The scheduler adds and
    removes sessions as its search goes.
    """

    def __init__(self, zone: dt.tzinfo, sessions: Iterable[Session] = ()) -> None:
        self.zone = zone
        self.by_day: dict[dt.date, list[Session]] = {}
        #: The days of ``by_day`` in order, to find the sessions near a day.
        self.days: list[dt.date] = []
        self.dosing: list[tuple[dt.datetime, str]] = []
        self._sessions: dict[str, Session] = {}
        #: Each session's start and end in UTC, by the session's identity: the rules
        #: compare them again and again.
        self._instants: dict[int, tuple[dt.datetime, dt.datetime]] = {}
        for session in sessions:
            self.add(session)

    def day(self, session: Session) -> dt.date:
        return session.start.astimezone(self.zone).date()

    def add(self, session: Session) -> None:
        self._sessions[session.key] = session
        start = utc(session.start)
        self._instants[id(session)] = (start, utc(session.end))
        day = self.day(session)
        if day not in self.by_day:
            self.by_day[day] = []
            bisect.insort(self.days, day)
        self.by_day[day].append(session)
        if session.kind is SessionKind.DOSING:
            bisect.insort(self.dosing, (start, session.key))

    def remove(self, session: Session) -> None:
        del self._sessions[session.key]
        self._instants.pop(id(session), None)
        self.by_day[self.day(session)].remove(session)
        if session.kind is SessionKind.DOSING:
            self.dosing.remove((utc(session.start), session.key))

    def instants(self, session: Session) -> tuple[dt.datetime, dt.datetime]:
        """The start and end in UTC of ``session``, one of these sessions."""
        known = self._instants.get(id(session))
        return known if known is not None else (utc(session.start), utc(session.end))

    def __iter__(self) -> Iterator[Session]:
        return iter(self._sessions.values())

    def __contains__(self, key: str) -> bool:
        return key in self._sessions

    def get(self, key: str) -> Session | None:
        return self._sessions.get(key)

    def on(self, day: dt.date) -> list[Session]:
        """The sessions on local date ``day``."""
        return self.by_day.get(day, [])

    def near(self, day: dt.date, days: int) -> Iterator[tuple[dt.date, Session]]:
        """The sessions on the local dates up to ``days`` before or after ``day``, each
        with its date."""
        first = bisect.bisect_left(self.days, day - dt.timedelta(days=days))
        last = bisect.bisect_right(self.days, day + dt.timedelta(days=days))
        for near_day in self.days[first:last]:
            for session in self.by_day[near_day]:
                yield near_day, session

    def dosing_near(self, moment: dt.datetime, within: dt.timedelta) -> list[str]:
        """Keys of dosing sessions starting less than ``within`` from ``moment``."""
        low = bisect.bisect_right(self.dosing, (moment - within, "\uffff"))
        found = []
        for start, key in self.dosing[low:]:
            if start >= moment + within:
                break
            found.append(key)
        return found


class _ClinicFacts:
    """What the rules learn of one clinic's days and times, shared by every plan made for
    it in a row (a clinic books many): which days are closed, when a session of a given
    length may start and the times to try on a weekday. Bounded: cleared when it grows
    past :data:`_FACTS`; the rules of a plan keep nothing of their own, so a process that
    plans for thousands of patients does not grow."""

    def __init__(self) -> None:
        self.closed: dict[dt.date, str | None] = {}
        #: For a day and a session length, each wall-clock time asked about: ``None`` when
        #: a session may start then (its start is made again from the day and time: keeping
        #: no datetime lets a few megabytes hold two years of a clinic's days), else why not.
        self.at: dict[tuple[dt.date, dt.timedelta], dict[dt.time, str | None]] = {}
        self.times: dict[tuple[int, dt.timedelta, dt.time], list[dt.time]] = {}
        #: How many facts are kept.
        self.size = 0

    def bound(self) -> None:
        """Make room for one more fact."""
        self.size += 1
        if self.size > _FACTS:
            self.closed.clear()
            self.at.clear()
            self.times.clear()
            self.size = 1


#: How many facts about a clinic are kept at most: about two years of its days and times,
#: some 2 MB, so that a worker writing thousands of plans for a few clinics, their starts
#: spread over a year, keeps finding them instead of working them out again.
_FACTS = 40_000
#: Marks a day or time not asked about yet (never a reason).
_UNKNOWN = "?"
#: The facts of the last clinics planned for, newest last. A clinic is known by what the
#: facts depend on (its zone, holidays, closures and hours), so that plans read one by
#: one from files, each with a clinic of its own that is the same, share them.
_KNOWN: dict[tuple[object, ...], _ClinicFacts] = {}


def _facts(clinic: Clinic) -> _ClinicFacts:
    key = (clinic.timezone, clinic.holidays, clinic.closures, tuple(clinic.hours.items()))
    facts = _KNOWN.pop(key, None) or _ClinicFacts()
    _KNOWN[key] = facts
    while len(_KNOWN) > 4:
        del _KNOWN[next(iter(_KNOWN))]
    return facts


class Rules:
    """The rules for one plan's sessions at one clinic, from the plan's ``start``.

    Each template's ``resource`` says what its sessions hold; ``ledger`` (by
    default the clinic's chairs and its ``busy`` bookings) says how many of
    each the clinic has and which are booked. A given ledger must not hold
    this plan's own sessions (:meth:`~ketaplan.Ledger.release` them first);
    the clinic's ``busy`` bookings are added to it unless it holds them
    already (:meth:`~ketaplan.Ledger.for_clinic` and ``from_folder`` add them).
    """

    def __init__(
        self, protocol: Protocol, clinic: Clinic, start: dt.date, ledger: Ledger | None = None
    ) -> None:
        self.protocol = protocol
        self.clinic = clinic
        self.start = start
        self.zone = clinic.zone
        self.horizon = start + MAX_SPAN
        self.min_gap = max(clinic.min_gap, protocol.min_gap)
        self.ledger = (
            Ledger.for_clinic(clinic) if ledger is None else ledger.with_clinic_busy(clinic)
        )
        self._facts = _facts(clinic)

    # -- days and times ------------------------------------------------------------

    def closed(self, day: dt.date) -> str | None:
        """Why no session can be on ``day``, or ``None``."""
        if day < self.start:
            return f"the plan starts on {english_date(self.start)}; nothing is booked before it"
        if day > self.horizon:
            return f"a plan runs at most {MAX_SPAN.days // 366} years from its start (to {english_date(self.horizon)})"
        facts = self._facts
        why = facts.closed.get(day, _UNKNOWN)
        if why is _UNKNOWN:
            facts.bound()
            why = facts.closed[day] = self.clinic.closed_reason(day)
        return why

    def at(self, day: dt.date, time: dt.time, template: SessionTemplate) -> dt.datetime | str:
        """The start of ``template``'s session at wall-clock ``time`` on ``day``, or why not."""
        facts, fact = self._facts, (day, template.duration)
        known = facts.at.get(fact)
        if known is None:
            facts.bound()
            known = facts.at[fact] = {}
        why = known.get(time, _UNKNOWN)
        if why is _UNKNOWN:
            facts.bound()
            why = known[time] = self._at(day, time, template.duration)
        # As Clinic.local makes it.
        return dt.datetime.combine(day, time, tzinfo=self.zone) if why is None else why

    def starts(
        self, day: dt.date, template: SessionTemplate, preferred: dt.time
    ) -> Iterator[tuple[dt.time, dt.datetime]]:
        """Each of :meth:`times` at which :meth:`at` gives a start, with the start, in
        order: one look-up of the day for all its times."""
        facts, duration, zone = self._facts, template.duration, self.zone
        fact = (day, duration)
        known = facts.at.get(fact)
        if known is None:
            facts.bound()
            known = facts.at[fact] = {}
        for time in self.times(day, template, preferred):
            why = known.get(time, _UNKNOWN)
            if why is _UNKNOWN:
                facts.bound()
                why = known[time] = self._at(day, time, duration)
            if why is None:
                yield time, dt.datetime.combine(day, time, tzinfo=zone)

    def _at(self, day: dt.date, time: dt.time, duration: dt.timedelta) -> str | None:
        local = self.clinic._local(day, time)
        if local is None:
            return f"{time:%H:%M} does not exist on {english_date(day)} (the clocks go forward)"
        start, instant = local
        end = (instant + duration).astimezone(self.zone)
        # What Clinic.hours_reason asks first, of a start on ``day`` at ``time``: only a
        # session that does not fit needs it, for the reason.
        end_day, end_time = end.date(), end.time()
        for period in self.clinic.hours.get(_WEEKDAYS[day.weekday()], ()):
            if end_day == day and period.opens <= time and end_time <= period.closes:
                return None
        return self.clinic.hours_reason(start, end)

    def times(self, day: dt.date, template: SessionTemplate, preferred: dt.time) -> list[dt.time]:
        """The times ``template`` may start on ``day``: ``preferred`` first, then the
        15-minute grid inside opening hours, nearest ``preferred`` first."""
        facts, fact = self._facts, (day.weekday(), template.duration, preferred)
        found = facts.times.get(fact)
        if found is None:
            facts.bound()
            found = facts.times[fact] = self._times(Weekday(day.weekday()), *fact[1:])
        return found

    def _times(self, weekday: Weekday, duration: dt.timedelta, preferred: dt.time) -> list[dt.time]:
        grid: set[dt.time] = set()
        for period in self.clinic.hours.get(weekday, ()):
            minutes = period.opens.hour * 60 + period.opens.minute
            closes = period.closes.hour * 60 + period.closes.minute
            while minutes + duration.total_seconds() / 60 <= closes:
                grid.add(dt.time(minutes // 60, minutes % 60))
                minutes += 15
        grid.discard(preferred)
        target = preferred.hour * 60 + preferred.minute
        rest = sorted(grid, key=lambda t: (abs(t.hour * 60 + t.minute - target), t))
        return [preferred, *rest]

    # -- a session among others ------------------------------------------------------

    def conflict(
        self,
        kind: SessionKind,
        start: dt.datetime,
        end: dt.datetime,
        template: SessionTemplate,
        own: Own,
        extra: Sequence[Session] = (),
        *,
        instants: tuple[dt.datetime, dt.datetime] | None = None,
    ) -> str | None:
        """The rule a ``kind`` session of ``template`` from ``start`` to ``end`` breaks among
        the patient's ``own`` sessions (and ``extra`` ones) and the clinic's bookings, or
        ``None``. ``own`` must not hold the session itself. ``instants`` are ``start`` and
        ``end`` in UTC when the caller has them."""
        first, last = (utc(start), utc(end)) if instants is None else instants
        day = start.astimezone(self.zone).date()
        ours = own.on(day)
        theirs = [s for s in extra if s.start.astimezone(self.zone).date() == day]
        for other in ours:
            other_start, other_end = own.instants(other)
            if other_start < last and first < other_end:
                return self._overlap(other)
        for other in theirs:
            if utc(other.start) < last and first < utc(other.end):
                return self._overlap(other)
        same_day = [*ours, *theirs]
        if kind is SessionKind.DOSING:
            if self.min_gap:
                near = own.dosing_near(first, self.min_gap) + [
                    s.key
                    for s in extra
                    if s.kind is SessionKind.DOSING and abs(utc(s.start) - first) < self.min_gap
                ]
                if near:
                    return f"too short a gap to {near[0]}: at least {format_duration(self.min_gap)} between dosing sessions"
            if not self.clinic.consecutive_days:
                nearby = (*own.on(day - _DAY), *own.on(day), *own.on(day + _DAY), *extra)
                for other in nearby:
                    other_day = other.start.astimezone(self.zone).date()
                    if other.kind is SessionKind.DOSING and abs((other_day - day).days) < 2:
                        return f"no dosing on consecutive days ({other.key} is on {english_date(other_day)})"
        if template.resource:
            return self.full(template.resource, start, end, same_day)
        return None

    def _overlap(self, other: Session) -> str:
        return (
            f"the plan's own {other.key} is at {other.start.astimezone(self.zone):%H:%M} that day"
        )

    def full(
        self, resource: str, start: dt.datetime, end: dt.datetime, same_day: Sequence[Session]
    ) -> str | None:
        """Whether every ``resource`` is taken at some moment from ``start`` to ``end``, asking
        the ledger, with the sessions among ``same_day`` that hold the same resource."""
        taken = [
            (s.start, s.end)
            for s in same_day
            if self.protocol.template(s.template).resource == resource
        ]
        return self.ledger.full(
            resource, start.astimezone(self.zone), end.astimezone(self.zone), taken
        )

    def check(self, session: Session, own: Own) -> str | None:
        """Every rule for ``session`` at its time among ``own``: the first one broken, or ``None``."""
        local = session.start.astimezone(self.zone)
        day = local.date()
        closed = self.closed(day)
        if closed is not None:
            return closed
        if self.clinic.local(day, local.time()) is None:
            return f"{local:%H:%M} does not exist on {english_date(day)} (the clocks go forward)"
        outside = self.clinic.hours_reason(session.start, session.end)
        if outside is not None:
            return outside
        template = self.protocol.template(session.template)
        return self.conflict(session.kind, session.start, session.end, template, own)


def phase_window(protocol: Protocol, sessions: Iterable[Session], zone: dt.tzinfo) -> str | None:
    """The phase rule a per-week phase's sessions break: all within the phase's weeks,
    counted from its first session, and at most the weekly cap in each week."""
    by_phase: dict[str, list[dt.date]] = {}
    for session in sessions:
        if session.anchor is None and session.status is not SessionStatus.CANCELLED:
            by_phase.setdefault(session.phase, []).append(session.start.astimezone(zone).date())
    for phase, days in by_phase.items():
        cadence = protocol.phase(phase).cadence
        if not isinstance(cadence, PerWeek):
            continue
        days.sort()
        origin = days[0]
        last = origin + dt.timedelta(weeks=cadence.weeks) - _DAY
        if days[-1] > last:
            return f"phase {phase!r} needs {cadence} (by {english_date(last)})"
        weeks: dict[int, int] = {}
        for day in days:
            week = (day - origin).days // 7
            weeks[week] = weeks.get(week, 0) + 1
            if weeks[week] > cadence.high:
                return f"week {week + 1} of phase {phase!r} would have more than {cadence.high} sessions"
    return None
