"""The scheduler: a pure function from protocol, clinic, preferences and start date to sessions.

Each phase's cadence gives every session a planned date. When that date
cannot be used (closed, a holiday, outside opening hours, a full slot, too
short a gap) the session moves to the next day that can, keeping the
preferred time of day, and records every day it passed over and why. When no
day inside the rule's window works, :class:`~ketaplan.ScheduleError` names the
session, the date and the rule.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator

import attrs

from ._clinic import Clinic
from ._limits import MAX_SESSIONS_PER_PHASE, MAX_SPAN, check_start
from ._protocol import (
    Companion,
    Every,
    PerWeek,
    Phase,
    Protocol,
    SessionKind,
    SessionTemplate,
    Taper,
)
from ._session import Move, Session, english_date
from ._units import Interval, Weekday
from .exceptions import ScheduleError, SpecError

__all__ = ["Schedule", "schedule"]

_DAY = dt.timedelta(days=1)
_STEP = dt.timedelta(minutes=15)

_DayCheck = Callable[[dt.date], "str | None"]


@attrs.frozen
class Schedule:
    """What the scheduler produced: dated ``sessions`` in time order, and phases it left ``pending``."""

    sessions: tuple[Session, ...]
    pending: tuple[tuple[str, str], ...] = ()


def schedule(
    protocol: Protocol,
    clinic: Clinic,
    start: dt.date,
    *,
    time: dt.time = dt.time(9, 0),
    weekdays: tuple[Weekday, ...] = (),
) -> Schedule:
    """Lay ``protocol`` onto ``clinic``'s calendar from ``start``.

    ``time`` is the preferred wall-clock time of day in the clinic's zone and
    ``weekdays`` the preferred days (the protocol's usual days when empty).
    """
    if isinstance(start, dt.datetime) or not isinstance(start, dt.date):
        raise SpecError("plan.start", start, "expected a date such as 2027-01-11 (no time of day)")
    check_start("plan.start", start)
    return _Scheduler(protocol, clinic, start, time, weekdays or protocol.weekdays).run()


@attrs.define
class _Slot:
    start: dt.datetime
    end: dt.datetime


class _Scheduler:
    def __init__(
        self,
        protocol: Protocol,
        clinic: Clinic,
        start: dt.date,
        time: dt.time,
        weekdays: tuple[Weekday, ...],
    ) -> None:
        self.protocol = protocol
        self.clinic = clinic
        self.start = start
        self.time = time
        self.weekdays = frozenset(weekdays)
        self.min_gap = max(clinic.min_gap, protocol.min_gap)
        self.sessions: list[Session] = []
        # The same sessions by local date: a slot is checked against its own day's only.
        self.by_day: dict[dt.date, list[Session]] = {}
        self.dosing_days: list[dt.datetime] = []
        self.floor = dt.datetime.combine(start, dt.time(0), tzinfo=clinic.zone)

    # -- the plan ----------------------------------------------------------------

    def run(self) -> Schedule:
        pending: list[tuple[str, str]] = []
        previous: Session | None = None
        window_end: dt.date | None = None
        for phase in self.protocol.phases:
            if pending:
                pending.append(
                    (phase.name, f"it follows phase {pending[0][0]!r}, which is not dated")
                )
                continue
            cadence = phase.cadence
            if isinstance(cadence, Every) and cadence.set_by_clinician:
                pending.append(
                    (
                        phase.name,
                        f"the clinician sets the interval (the protocol allows {cadence.interval})",
                    )
                )
                continue
            placed, window_end = self._phase(phase, previous, window_end)
            self._companions(phase, placed)
            if placed:
                previous = placed[-1]
                self.floor = max(self.floor, max(s.end for s in self.sessions))
        ordered = sorted(self._with_assessments(), key=lambda s: (s.start, s.key))
        return Schedule(tuple(ordered), tuple(pending))

    def _phase(
        self, phase: Phase, previous: Session | None, window_end: dt.date | None
    ) -> tuple[list[Session], dt.date | None]:
        template = self.protocol.template(phase.session)
        earliest = (
            self.start if previous is None else phase.starts_after.after(previous.start.date())
        )
        cadence = phase.cadence
        if isinstance(cadence, PerWeek):
            return self._per_week(phase, cadence, template, max(earliest, window_end or earliest))
        if isinstance(cadence, Every):
            return self._every(phase, cadence, template, previous, earliest), None
        if isinstance(cadence, Taper):
            return self._stepped(phase, cadence.intervals, template, previous, chained=True), None
        return self._stepped(phase, cadence.offsets, template, previous, chained=False), None

    def _per_week(
        self, phase: Phase, cadence: PerWeek, template: SessionTemplate, earliest: dt.date
    ) -> tuple[list[Session], dt.date]:
        if len(self.weekdays) < cadence.low:
            raise SpecError(
                "plan.weekdays",
                [day.name for day in sorted(self.weekdays)],
                f"phase {phase.name!r} needs at least {cadence.low} weekdays ({cadence})",
            )
        origin = self._next_preferred(earliest)
        last = origin + dt.timedelta(weeks=cadence.weeks) - _DAY
        rule = f"phase {phase.name!r} needs {cadence} (by {last})"
        per_week: dict[int, int] = {}
        placed: list[Session] = []
        after = earliest
        for index in range(1, cadence.sessions + 1):
            target = self._next_preferred(after)
            while per_week.get((target - origin).days // 7, 0) >= cadence.high:
                target = self._next_preferred(target + _DAY)

            def week_full(day: dt.date) -> str | None:
                week = (day - origin).days // 7
                if per_week.get(week, 0) >= cadence.high:
                    return f"week {week + 1} of phase {phase.name!r} already has {cadence.high} sessions"
                return None

            session = self._place(phase, template, index, target, last, rule, extra=week_full)
            placed.append(session)
            week = (session.start.date() - origin).days // 7
            per_week[week] = per_week.get(week, 0) + 1
            after = session.start.date() + _DAY
        return placed, last + _DAY

    def _every(
        self,
        phase: Phase,
        cadence: Every,
        template: SessionTemplate,
        previous: Session | None,
        earliest: dt.date,
    ) -> list[Session]:
        placed: list[Session] = []
        last_day = previous.start.date() if previous is not None else None
        count = cadence.sessions if cadence.sessions is not None else MAX_SESSIONS_PER_PHASE + 1
        for index in range(1, count + 1):
            if index > MAX_SESSIONS_PER_PHASE:
                raise SpecError(
                    f"phases.{phase.name}.until",
                    cadence.until.isoformat() if cadence.until else None,
                    f"the phase would have more than {MAX_SESSIONS_PER_PHASE} sessions; end it sooner",
                )
            if last_day is None:
                low = high = self._next_preferred(earliest)
            else:
                low = cadence.interval.low.after(last_day)
                if not placed:
                    low = max(low, earliest)
                high = max(cadence.interval.high.after(last_day), low)
            target = next(
                (day for day in _days(low, high) if Weekday(day.weekday()) in self.weekdays), low
            )
            if cadence.until is not None and target > cadence.until:
                if not placed:
                    raise SpecError(
                        f"phases.{phase.name}.until",
                        cadence.until.isoformat(),
                        f"the phase cannot start before {low.isoformat()}; give a later end date",
                    )
                break
            latest = phase.slack.after(high) if cadence.interval.fixed or last_day is None else high
            if cadence.until is not None:
                latest = min(latest, cadence.until)
            rule = f"phase {phase.name!r} needs a session {cadence} (by {latest})"
            session = self._place(phase, template, index, target, latest, rule)
            placed.append(session)
            last_day = session.start.date()
        return placed

    def _stepped(
        self,
        phase: Phase,
        intervals: tuple[Interval, ...],
        template: SessionTemplate,
        previous: Session | None,
        *,
        chained: bool,
    ) -> list[Session]:
        """Sessions at calendar intervals: each from the same anchor (offsets) or ``chained``
        from the session before it (a taper)."""
        anchor = self.start if previous is None else previous.start.date()
        placed: list[Session] = []
        for index, interval in enumerate(intervals, start=1):
            target = interval.after(anchor)
            latest = phase.slack.after(target)
            rule = f"phase {phase.name!r} needs a session {interval} after {anchor} (by {latest})"
            key = phase.name if len(intervals) == 1 else None
            session = self._place(phase, template, index, target, latest, rule, key=key)
            placed.append(session)
            if chained:
                anchor = session.start.date()
        return placed

    # -- one session and its companions -------------------------------------------

    def _place(
        self,
        phase: Phase,
        template: SessionTemplate,
        index: int,
        target: dt.date,
        latest: dt.date,
        rule: str,
        *,
        extra: _DayCheck | None = None,
        key: str | None = None,
    ) -> Session:
        key = key or f"{phase.name}-{index:02d}"
        horizon = self.start + MAX_SPAN
        if target > horizon:
            raise ScheduleError(
                key,
                target,
                f"a plan runs at most {MAX_SPAN.days // 366} years from its start (to {horizon})",
            )
        latest = min(latest, horizon)
        if target > latest:
            moved = [s for s in self.sessions if s.phase == phase.name and s.moves]
            why = "; ".join(f"{s.key} moved ({s.moves[0]})" for s in moved[:3]) or "no day is left"
            raise ScheduleError(key, target, f"{rule}; {why}")
        is_dosing = template.kind is SessionKind.DOSING
        moves: list[Move] = []
        for day in _days(target, latest):
            closed = (extra and extra(day)) or self._day_reason(day, template, dosing=is_dosing)
            slot = closed if closed is not None else self._slot(day, self.time, template)
            if isinstance(slot, _Slot):
                session = Session(
                    key=key,
                    kind=template.kind,
                    phase=phase.name,
                    index=index,
                    start=slot.start,
                    end=slot.end,
                    template=template.name,
                    planned=target if moves else None,
                    moves=tuple(moves),
                )
                self._commit(session, is_dosing)
                return session
            moves.append(Move(day, slot))
        first = moves[0] if moves else Move(target, "no day to try")
        raise ScheduleError(key, target, f"{rule}; no day up to {latest} is free (first: {first})")

    def _companions(self, phase: Phase, placed: list[Session]) -> None:
        for position, anchor in enumerate(placed):
            for companion in phase.companions:
                if companion.anchor == "first" and position != 0:
                    continue
                if companion.anchor == "last" and position != len(placed) - 1:
                    continue
                template = self.protocol.template(companion.session)
                self._companion(companion, template, anchor, phase.slack)

    def _companion(
        self, companion: Companion, template: SessionTemplate, anchor: Session, slack: Interval
    ) -> None:
        """Place one companion session inside its window, nearest the anchor first.

        A time after another dosing session on the same day (while the patient
        recovers) is used only when no other time in the window is free. When
        the whole window is closed, the session moves past it by up to the
        phase's slack, and its moves say why.
        """
        window = companion.window
        zone = self.clinic.zone
        if companion.direction == "after":
            earliest, latest = anchor.end + window.low, anchor.end + window.high
            outer = dt.datetime.combine(
                slack.after(latest.astimezone(zone).date()), dt.time.max, tzinfo=zone
            )
            bounds = [(earliest, latest), (earliest, outer)]
        else:
            earliest, latest = (
                max(anchor.start - window.high, self.floor),
                anchor.start - window.low,
            )
            outer = max(
                self.floor,
                dt.datetime.combine(
                    slack.before(earliest.astimezone(zone).date()), dt.time.min, tzinfo=zone
                ),
            )
            bounds = [(earliest, latest), (outer, latest)]
        key = f"{anchor.key}-{template.name}"
        moves: list[Move] = []
        rejected: list[Move] = []
        for (low, high), lenient in itertools.product(bounds, (False, True)):
            days = list(_days(low.astimezone(zone).date(), high.astimezone(zone).date()))
            if companion.direction == "before":
                days.reverse()
            rejected, moves = [], []
            for day in days:
                reason = self._day_reason(day, template, dosing=False)
                if reason is None:
                    for time in self._times(day):
                        slot = self._slot(day, time, template, after_dosing=lenient)
                        if isinstance(slot, _Slot) and low <= slot.start <= high:
                            session = Session(
                                key=key,
                                kind=template.kind,
                                phase=anchor.phase,
                                index=anchor.index,
                                start=slot.start,
                                end=slot.end,
                                template=template.name,
                                anchor=anchor.key,
                                planned=min(m.date for m in moves) if moves else None,
                                moves=tuple(moves),
                            )
                            self._commit(session, False)
                            return
                    reason = (
                        f"no free time that day within {window} {companion.direction} {anchor.key}"
                    )
                rejected.append(Move(day, reason))
                moves = self._worth_saying(rejected)
        first = rejected[0] if rejected else Move(anchor.start.date(), "no day in the window")
        raise ScheduleError(
            key,
            first.date,
            f"no time for the {template.title.lower()} {window} {companion.direction} {anchor.key} (first: {first})",
        )

    def _worth_saying(self, rejected: list[Move]) -> list[Move]:
        """The days a companion passed over, in date order, leaving out the weekdays the
        clinic never opens: a window simply spans those."""
        return sorted(
            (m for m in rejected if self.clinic.hours.get(Weekday(m.date.weekday()))),
            key=lambda move: move.date,
        )

    def _commit(self, session: Session, dosing: bool) -> None:
        self.sessions.append(session)
        day = session.start.astimezone(self.clinic.zone).date()
        self.by_day.setdefault(day, []).append(session)
        if dosing:
            self.dosing_days.append(session.start)

    # -- the rules ---------------------------------------------------------------

    def _day_reason(self, day: dt.date, template: SessionTemplate, *, dosing: bool) -> str | None:
        closed = self.clinic.closed_reason(day)
        if closed is not None:
            return closed
        if not dosing or not self.dosing_days:
            return None
        last = self.dosing_days[-1].astimezone(self.clinic.zone)
        if not self.clinic.consecutive_days and (day - last.date()).days < 2:
            return f"no dosing on consecutive days (the previous dosing session is on {english_date(last.date())})"
        return None

    def _slot(
        self, day: dt.date, time: dt.time, template: SessionTemplate, *, after_dosing: bool = False
    ) -> _Slot | str:
        start = self.clinic.local(day, time)
        if start is None:
            return f"{time:%H:%M} does not exist that day (the clocks go forward)"
        end = (start.astimezone(dt.UTC) + template.duration).astimezone(self.clinic.zone)
        outside = self.clinic.hours_reason(start, end)
        if outside is not None:
            return outside
        if template.kind is SessionKind.DOSING and self.dosing_days and self.min_gap:
            gap = start.astimezone(dt.UTC) - self.dosing_days[-1].astimezone(dt.UTC)
            if gap < self.min_gap:
                return f"too short a gap: {_hours(gap)} since the previous dosing session, at least {_hours(self.min_gap)} needed"
        # Sessions fit one day's opening hours, so only that day's can overlap.
        same_day = self.by_day.get(day, ())
        for other in same_day:
            if _utc(other.start) < _utc(end) and _utc(start) < _utc(other.end):
                return f"the plan's own {other.key} is at {other.start.astimezone(self.clinic.zone):%H:%M} that day"
            if (
                not after_dosing
                and template.kind is not SessionKind.DOSING
                and other.kind is SessionKind.DOSING
                and other.start.astimezone(self.clinic.zone).date() == day
                and other.start < start
            ):
                return f"after {other.key} that day, while the patient recovers"
        if template.uses_chair:
            own = [
                (s.start, s.end) for s in same_day if self.protocol.template(s.template).uses_chair
            ]
            if self.clinic.full(start, end, own):
                chairs = (
                    "the only chair is"
                    if self.clinic.chairs == 1
                    else f"all {self.clinic.chairs} chairs are"
                )
                return f"full: {chairs} booked between {start:%H:%M} and {end:%H:%M}"
        return _Slot(start, end)

    def _times(self, day: dt.date) -> Iterator[dt.time]:
        yield self.time
        for period in self.clinic.hours.get(Weekday(day.weekday()), ()):
            moment = dt.datetime.combine(day, period.opens)
            while moment.time() < period.closes and moment.date() == day:
                if moment.time() != self.time:
                    yield moment.time()
                moment += _STEP

    def _next_preferred(self, day: dt.date) -> dt.date:
        while Weekday(day.weekday()) not in self.weekdays:
            day += _DAY
        return day

    # -- questionnaires -------------------------------------------------------------

    def _with_assessments(self) -> list[Session]:
        due: dict[str, list[str]] = {}
        ordered = sorted(self.sessions, key=lambda s: (s.start, s.key))
        dosing = [s for s in ordered if s.kind is SessionKind.DOSING]
        for rule in self.protocol.assessments:
            keys: list[str] = []
            if rule.at == "baseline" and ordered:
                keys = [ordered[0].key]
            elif rule.at == "end":
                in_phase = [s for s in ordered if s.phase == rule.phase and s.anchor is None]
                if in_phase:
                    last = in_phase[-1]
                    review = [
                        s
                        for s in ordered
                        if s.anchor == last.key and s.kind is SessionKind.ASSESSMENT
                    ]
                    keys = [(review or [last])[0].key]
            else:
                pool = [s for s in dosing if rule.phase in (None, s.phase)]
                step = rule.every or 1
                keys = [s.key for number, s in enumerate(pool, start=1) if number % step == 0]
            for key in keys:
                due.setdefault(key, []).extend(rule.instruments)
        return [
            attrs.evolve(s, assessments=tuple(dict.fromkeys(due[s.key]))) if s.key in due else s
            for s in self.sessions
        ]


def _utc(moment: dt.datetime) -> dt.datetime:
    """Instants compare right on the night the clocks go back; wall clocks in one zone do not."""
    return moment.astimezone(dt.UTC)


def _days(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    day = first
    while day <= last:
        yield day
        day += _DAY


def _hours(value: dt.timedelta) -> str:
    hours = value.total_seconds() / 3600
    return f"{hours:g} h"
