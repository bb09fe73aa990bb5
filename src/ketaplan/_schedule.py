"""The scheduler: a search for the plan a good receptionist would find.

Each phase's cadence gives every session a planned date and a window it may
move within (a per-week phase's weeks and weekly cap, an interval range, or
the phase's slack around a fixed interval or offset). Whether a session may
be at a time is the rule book's to say (:mod:`ketaplan._rules`); the search
only orders the candidates and backtracks. For each session in turn it tries,
in this order:

1. the planned day, before any other day;
2. then a preferred weekday before any other day;
3. then the day nearest the planned one, earlier or later;
4. then the earlier of two days equally near;

and on each day the preferred time first, then the other times inside
opening hours on a 15-minute grid, nearest first. When a later session of
the phase (or a companion) cannot fit, the search goes back and tries the
next candidate of the sessions before it, so a plan is refused only when no
choice in the phase's windows keeps every rule. Every session that is not
at its planned day and time records each day or time it passed over, and why.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence

import attrs

from ._clinic import Clinic
from ._ledger import Ledger
from ._limits import MAX_SESSIONS_PER_PHASE, MAX_SPAN, check_start
from ._protocol import (
    Companion,
    Every,
    Offsets,
    PerWeek,
    Phase,
    Protocol,
    SessionKind,
    SessionTemplate,
    Taper,
)
from ._rules import Own, Rules, utc
from ._session import Move, Session, SessionStatus, english_date
from ._units import Weekday
from .exceptions import ScheduleError, SpecError

__all__ = ["Schedule", "schedule"]

_DAY = dt.timedelta(days=1)
#: The weekdays by number, to look a date's up without the enum's own look-up.
_WEEKDAYS = tuple(Weekday)
#: How many candidate slots the search may try in one phase before it gives up.
SEARCH_BUDGET = 20_000
#: How many slots the whole plan's search may try, every phase and retry together.
TOTAL_BUDGET = 40_000
#: How many times a phase may be laid again so that the next one fits.
PHASE_RETRIES = 8
#: The longest phase searched best first, for the fewest moves overall.
BEST_FIRST_SESSIONS = 16
#: How many slots the best-first search may judge before it hands over to depth first.
BEST_FIRST_BUDGET = 3_000


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
    ledger: Ledger | None = None,
    keep: Sequence[Session] = (),
) -> Schedule:
    """Lay ``protocol`` onto ``clinic``'s calendar from ``start``.

    ``time`` is the preferred wall-clock time of day in the clinic's zone and
    ``weekdays`` the preferred days (the protocol's usual days when empty).
    ``ledger`` holds the clinic's bookings of other plans: a session that
    holds a resource (a chair) goes only where one is free. By default the
    clinic's ``chairs`` and ``busy`` bookings.

    ``keep`` are sessions already decided (completed, missed, cancelled, moved
    by hand): each stays as it is, the rules count those that take place, and
    only the sessions whose keys are not kept are laid around them.
    """
    if isinstance(start, dt.datetime) or not isinstance(start, dt.date):
        raise SpecError("plan.start", start, "expected a date such as 2027-01-11 (no time of day)")
    check_start("plan.start", start)
    return _Scheduler(
        protocol, clinic, start, time, weekdays or protocol.weekdays, ledger, keep
    ).run()


# The search's own records are plain classes with slots: cheap to make in the search's
# inner loops, and to define when the package is imported (a NamedTuple class costs
# ten times as much to define).


class _Window:
    """Where one dosing session of a phase may go: ``planned``, or from ``low`` to ``high``."""

    __slots__ = ("extra", "high", "low", "planned", "rule")

    def __init__(
        self,
        planned: dt.date,
        low: dt.date,
        high: dt.date,
        rule: Callable[[], str],
        extra: Callable[[dt.date], str | None] | None = None,
    ) -> None:
        self.planned = planned
        self.low = low
        self.high = high
        #: The phase's rule in words, made only when a session cannot keep it.
        self.rule = rule
        #: A day the phase's own rule (a per-week cap) rules out, with why.
        self.extra = extra


class _Step:
    """One session to place: a phase's ``index``-th dosing session, or a companion of it."""

    __slots__ = ("anchor", "companion", "index")

    def __init__(
        self, index: int, companion: Companion | None = None, anchor: Session | None = None
    ) -> None:
        self.index = index
        self.companion = companion
        self.anchor = anchor


class _Frame:
    """A step being placed: its candidates, the days they passed over, what is placed."""

    __slots__ = ("candidates", "memo", "passed", "placed", "step")

    def __init__(
        self,
        step: _Step,
        memo: tuple[object, ...] | None,
        passed: list[Move],
        candidates: Iterator[tuple[Session, _Cost]],
    ) -> None:
        self.step = step
        self.memo = memo
        self.passed = passed
        self.candidates = candidates
        self.placed: Session | None = None


class _Cursor:
    """A path of the phase's sessions and the candidates for the next one, in cost order."""

    __slots__ = (
        "base",
        "bounds",
        "candidates",
        "closed",
        "fits_at_preferred",
        "found",
        "passed",
        "path",
        "position",
        "preferred_reason",
        "rest",
        "window",
    )

    def __init__(
        self,
        path: tuple[Session, ...],
        window: _Window,
        candidates: list[tuple[dt.date, bool, _Cost]],
        base: _Cost,
        bounds: list[_Cost] | None = None,
    ) -> None:
        self.path = path
        self.window = window
        self.candidates = candidates
        self.base = base
        #: Each candidate's cost plus a lower bound on what the rest of the phase must
        #: still cost after it (see ``_PhaseSearch._still_costs``): the heap's order.
        self.bounds = bounds
        self.position = 0
        self.found = False
        self.passed: list[Move] = []
        self.closed: dict[dt.date, str | None] = {}
        self.preferred_reason: dict[dt.date, str] = {}
        self.fits_at_preferred: set[dt.date] = set()
        #: Builds the candidates after the first, which is the planned day at the preferred
        #: time when the window has it: most paths never need the rest.
        self.rest: (
            Callable[[], tuple[list[tuple[dt.date, bool, _Cost]], list[_Cost] | None]] | None
        ) = None

    def advance(self) -> bool:
        """Move to the next candidate; whether there may be one (see :meth:`expand`)."""
        self.position += 1
        return self.position < len(self.candidates) or self.rest is not None

    def expand(self) -> bool:
        """Build the candidates after the first if the cursor has reached them; whether
        there is a candidate at the cursor's position."""
        if self.rest is not None and self.position >= len(self.candidates):
            rest, bounds = self.rest()
            self.rest = None
            self.candidates = [*self.candidates, *rest]
            if bounds is None:  # then no candidate forces a move, nor did the first
                self.bounds = None
            else:
                assert self.bounds is not None
                self.bounds = [*self.bounds, *bounds]
        return self.position < len(self.candidates)

    def cost(self) -> tuple[int, int, int]:
        """What the path with the current candidate costs at least, once complete (before
        the candidates after the first are built, what the first did: no later one costs
        less)."""
        position = min(self.position, len(self.candidates) - 1)
        if self.bounds is not None:
            return _add(self.base, self.bounds[position])
        return _add(self.base, self.candidates[position][2])

    def spent(self) -> tuple[int, int, int]:
        """What the path with the current candidate costs so far."""
        return _add(self.base, self.candidates[self.position][2])

    def recent(self, horizon: dt.timedelta) -> list[Session]:
        """The path's sessions close enough before the next to bear on its rules."""
        if not self.path:
            return []
        since = utc(self.path[-1].start) - horizon
        # The path's sessions fall on later days one after another (each window starts
        # the day after the session before): the recent ones are its end.
        first = len(self.path)
        while first > 0 and utc(self.path[first - 1].start) > since:
            first -= 1
        return list(self.path[first:])


#: What a plan's moves cost, compared in order: sessions off their planned day,
#: sessions off a preferred weekday, sessions off the preferred time.
_Cost = tuple[int, int, int]
_ZERO: _Cost = (0, 0, 0)


def _add(one: _Cost, other: _Cost) -> _Cost:
    return (one[0] + other[0], one[1] + other[1], one[2] + other[2])


class _Final(ScheduleError):
    """A refusal that no other choice in an earlier phase can lift (the plan's span, or the
    search's budget): the scheduler does not lay earlier phases again."""


class _GiveUp(Exception):
    """The best-first search tried too many slots: search depth first instead."""


class _DeadEnd(Exception):
    """No candidate of one step keeps every rule: ``key``, ``day`` and why."""

    def __init__(self, key: str, day: dt.date, rule: str) -> None:
        self.key, self.day, self.rule = key, day, rule


class _Scheduler:
    def __init__(
        self,
        protocol: Protocol,
        clinic: Clinic,
        start: dt.date,
        time: dt.time,
        weekdays: tuple[Weekday, ...],
        ledger: Ledger | None = None,
        keep: Sequence[Session] = (),
    ) -> None:
        self.protocol = protocol
        self.clinic = clinic
        self.zone = clinic.zone
        self.start = start
        self.time = time
        self.weekdays = frozenset(weekdays)
        self._weekday_numbers = frozenset(int(day) for day in self.weekdays)
        self.rules = Rules(protocol, clinic, start, ledger)
        #: Sessions already decided, by key: placed as they are, never laid again.
        self.kept = {session.key: session for session in keep}
        self.own = Own(self.zone, [s for s in keep if s.status is not SessionStatus.CANCELLED])
        self.floor = dt.datetime.combine(start, dt.time(0), tzinfo=clinic.zone)
        #: Slots tried so far, by every phase's search (see TOTAL_BUDGET).
        self.tried = 0

    # -- the plan ----------------------------------------------------------------

    def run(self) -> Schedule:
        """Date the phases one after another.

        When a phase cannot fit, the phase before it is laid again with its
        last session on another day (the next best), so that a choice there
        (a consultation on the preferred Wednesday) does not leave the next
        phase without room, up to :data:`PHASE_RETRIES` times.
        """
        pending: list[tuple[str, str]] = []
        phases = self.protocol.phases
        #: What each dated phase placed, and the state before it, to undo it.
        laid: list[tuple[int, list[Session], Session | None, dt.date | None, dt.datetime]] = []
        avoid: dict[int, frozenset[dt.date]] = {}
        previous: Session | None = None
        window_end: dt.date | None = None
        failure: ScheduleError | None = None
        retries = 0
        index = 0
        while index < len(phases):
            phase = phases[index]
            if pending:
                pending.append(
                    (phase.name, f"it follows phase {pending[0][0]!r}, which is not dated")
                )
                index += 1
                continue
            cadence = phase.cadence
            if isinstance(cadence, Every) and cadence.set_by_clinician:
                pending.append(
                    (
                        phase.name,
                        f"the clinician sets the interval (the protocol allows {cadence.interval})",
                    )
                )
                index += 1
                continue
            earliest = (
                self.start if previous is None else phase.starts_after.after(self._day(previous))
            )
            if isinstance(cadence, PerWeek):
                earliest = max(earliest, window_end or earliest)
            try:
                search = _PhaseSearch(
                    self, phase, previous, earliest, avoid=avoid.get(index, frozenset())
                )
                placed = search.run()
            except _Final:
                raise
            except ScheduleError as error:
                failure = failure or error
                if not laid or retries >= PHASE_RETRIES:
                    raise failure from None
                # Lay the phase before again, its last session on another day.
                retries += 1
                index, placed, previous, window_end, self.floor = laid.pop()
                for session in placed:
                    if session.key not in self.kept:
                        self.own.remove(session)
                last = max(self._day(s) for s in placed if s.anchor is None)
                avoid = {k: v for k, v in avoid.items() if k <= index}
                avoid[index] = avoid.get(index, frozenset()) | {last}
                continue
            laid.append((index, placed, previous, window_end, self.floor))
            dosing = [s for s in placed if s.anchor is None]
            if dosing:
                previous = dosing[-1]
                if isinstance(cadence, PerWeek):
                    first = self._day(dosing[0])
                    window_end = first + dt.timedelta(weeks=cadence.weeks)
                self.floor = max(self.floor, max(s.end for s in placed))
            index += 1
        laid_keys = {s.key for s in self.own}
        unlaid = [s for s in self.kept.values() if s.key not in laid_keys]
        ordered = sorted([*self._with_assessments(), *unlaid], key=lambda s: (utc(s.start), s.key))
        return Schedule(tuple(ordered), tuple(pending))

    def _day(self, session: Session) -> dt.date:
        return session.start.astimezone(self.zone).date()

    def preferred(self, day: dt.date) -> bool:
        return day.weekday() in self._weekday_numbers

    def next_preferred(self, day: dt.date) -> dt.date:
        for _ in range(7):
            if self.preferred(day):
                return day
            day += _DAY
        return day

    # -- questionnaires -------------------------------------------------------------

    def _with_assessments(self) -> list[Session]:
        due: dict[str, list[str]] = {}
        ordered = sorted(self.own, key=lambda s: (self.own.instants(s)[0], s.key))
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
            for s in self.own
        ]


class _PhaseSearch:
    """A depth-first search over one phase's sessions and their companions."""

    def __init__(
        self,
        scheduler: _Scheduler,
        phase: Phase,
        previous: Session | None,
        earliest: dt.date,
        *,
        avoid: frozenset[dt.date] = frozenset(),
    ) -> None:
        self.s = scheduler
        #: Days the phase's last session may not take (it is laid again so the next phase fits).
        self.avoid = avoid
        self.phase = phase
        self.previous = previous
        self.earliest = earliest
        self.template = scheduler.protocol.template(phase.session)
        cadence = phase.cadence
        self.cadence = cadence
        if isinstance(cadence, PerWeek):
            if len(scheduler.weekdays) < 1:
                raise SpecError(
                    "plan.weekdays", [], f"phase {phase.name!r} needs at least one weekday"
                )
            self.count: int | None = cadence.sessions
        elif isinstance(cadence, Every):
            self.count = cadence.sessions
        elif isinstance(cadence, Taper):
            self.count = len(cadence.intervals)
        else:
            assert isinstance(cadence, Offsets)
            self.count = len(cadence.offsets)
        self.dosing: list[Session] = []
        self.tried = 0
        self.failed: set[tuple[object, ...]] = set()
        self._orders: dict[tuple[dt.date, dt.date, dt.date], list[tuple[dt.date, bool, _Cost]]] = {}
        self.deepest: _DeadEnd | None = None
        self.depth = -1
        self.blocked = ""

    # -- the search ----------------------------------------------------------------

    def run(self) -> list[Session]:
        """The phase's sessions with the fewest moves (see the module), or ScheduleError.

        A phase of up to :data:`BEST_FIRST_SESSIONS` sessions (an induction, a
        taper) is searched best first over its sessions' days, for the plan
        with the fewest moves; then its companions, depth first. A longer
        phase, or one whose companions do not fit around the best days, is
        searched depth first: each session in turn takes the best slot that
        still lets the rest of the phase fit.
        """
        path = None
        keeps = any(s.phase == self.phase.name for s in self.s.kept.values())
        if not keeps and self.count is not None and self.count <= BEST_FIRST_SESSIONS:
            try:
                path = self._best_path()
            except _GiveUp:
                path = None
        if path is not None:
            for session in path:
                self.s.own.add(session)
            self.dosing = list(path)
            first = self._companion_step(1, 0)
            if first is None:
                return list(path)
            try:
                return [*path, *self._search(first)]
            except ScheduleError:
                for session in path:
                    self.s.own.remove(session)
        self.dosing = []
        self.tried = 0
        return self._search(_Step(1))

    # -- the phase's own sessions: best first ------------------------------------------

    def _best_path(self) -> tuple[Session, ...]:
        """The phase's own sessions with the fewest moves: a best-first search whose
        candidates are judged lazily, in cost order, only when they are reached."""
        # Ties go to the longer path, then to the one whose last session is earlier.
        counter = itertools.count()
        heap: list[tuple[_Cost, int, int, int, tuple[_Cost, tuple[Session, ...]] | _Cursor]]
        heap = [(_ZERO, 0, 0, next(counter), (_ZERO, ()))]
        seen: set[tuple[object, ...]] = set()
        while heap:
            bound, _depth, _day, _, item = heapq.heappop(heap)
            if isinstance(item, tuple):
                spent, path = item
                state = self._state(path)
                if state in seen:
                    continue
                seen.add(state)
                self.dosing = list(path)
                if path and not self._more(len(path)):
                    return path
                window = self._window(len(path) + 1)
                if window is None:
                    if not path:
                        self._never_starts()
                    continue
                cursor = self._cursor(path, window, spent)
                if cursor.candidates:
                    heapq.heappush(heap, (cursor.cost(), -len(path), 0, next(counter), cursor))
                else:
                    key = self._key(len(path) + 1)
                    self._note(
                        _DeadEnd(key, window.low, f"{window.rule()}; no day is left"), len(path) + 1
                    )
                continue
            cursor = item
            if not cursor.expand():
                self._dead_end(cursor)
                continue
            if cursor.cost() > bound:  # its later candidates cost more than was known
                heapq.heappush(heap, (cursor.cost(), -len(cursor.path), 0, next(counter), cursor))
                continue
            session = self._fit(cursor)
            if session is not None:
                cursor.found = True
                depth, day = -len(cursor.path) - 1, self.s._day(session).toordinal()
                reached = (cursor.spent(), (*cursor.path, session))
                heapq.heappush(heap, (cursor.cost(), depth, day, next(counter), reached))
            if cursor.advance():
                heapq.heappush(heap, (cursor.cost(), -len(cursor.path), 0, next(counter), cursor))
            else:
                self._dead_end(cursor)
        last = self.deepest or _DeadEnd(self._key(1), self.earliest, "no day to try")
        raise ScheduleError(last.key, last.day, last.rule)

    def _dead_end(self, cursor: _Cursor) -> None:
        """Note why no candidate of ``cursor`` fit, if none did."""
        if not cursor.found:
            key = self._key(len(cursor.path) + 1)
            rule = f"{cursor.window.rule()}; {_summary(cursor.passed)}"
            self._note(_DeadEnd(key, cursor.window.planned, rule), len(cursor.path) + 1)

    def _cursor(self, path: tuple[Session, ...], window: _Window, spent: _Cost) -> _Cursor:
        """The candidates for the session after ``path``, in order of what a whole phase
        through each must cost at least: the best-first search then reaches the plan with
        the fewest moves without first trying every cheaper beginning (an A* search, with
        :meth:`_still_costs` as its bound)."""
        if window.low <= window.planned <= window.high:
            # The planned day at the preferred time costs least and forces no more moves
            # than any other day: it comes first, and the others only when it fails.
            first = (window.planned, True, (0, int(not self.s.preferred(window.planned)), 0))
            bound = first[2]
            if isinstance(self.cadence, PerWeek) and self.count is not None:
                still_costs = self._still_costs(path, window)
                bound = _add(bound, still_costs(window.planned)) if still_costs else bound
            cursor = _Cursor(path, window, [first], spent, [bound])
            cursor.rest = lambda: self._ranked(path, window, skip=first)
            return cursor
        candidates, bounds = self._ranked(path, window)
        return _Cursor(path, window, candidates, spent, bounds)

    def _ranked(
        self,
        path: tuple[Session, ...],
        window: _Window,
        skip: tuple[dt.date, bool, _Cost] | None = None,
    ) -> tuple[list[tuple[dt.date, bool, _Cost]], list[_Cost] | None]:
        """The candidates of ``window`` after ``path`` (but ``skip``) in the order of
        :meth:`_cursor`, with their bounds when the phase's rest forces moves."""
        candidates = [c for c in self._ordered(window) if c != skip]
        if not isinstance(self.cadence, PerWeek) or self.count is None:
            return candidates, None
        still_costs = self._still_costs(path, window)
        if still_costs is None:
            return candidates, None
        bounded = sorted(
            (_add(cost, still_costs(day)), n)
            for n, (day, _at_preferred, cost) in enumerate(candidates)
        )
        return [candidates[n] for _bound, n in bounded], [bound for bound, _n in bounded]

    def _still_costs(
        self, path: tuple[Session, ...], window: _Window
    ) -> Callable[[dt.date], _Cost] | None:
        """A lower bound on the moves the rest of a per-week phase must make once ``path``
        and a session on a given day are placed: each week has one day of each preferred
        weekday, so sessions beyond those days must take another weekday (which is never
        the planned one). Never more than the true cost, and never falling by more than a
        step costs, so the best-first search stays exact. ``None`` when no day of
        ``window`` forces a move: the later weeks have room for the rest."""
        assert isinstance(self.cadence, PerWeek)
        assert self.count is not None
        s, weeks, left = self.s, self.cadence.weeks, self.count - len(path) - 1
        preferred = len(s._weekday_numbers)
        origin = s._day(path[0]) if path else None
        latest = (window.high - origin).days // 7 if origin else 0
        if left <= preferred * max(weeks - latest - 1, 0):
            return None
        used: dict[int, int] = {}
        for day in (s._day(p) for p in path):
            if s.preferred(day):
                week = (day - origin).days // 7 if origin else 0
                used[week] = used.get(week, 0) + 1

        def still_costs(day: dt.date) -> _Cost:
            week = (day - origin).days // 7 if origin else 0
            in_week = used.get(week, 0) + s.preferred(day)
            room = preferred * max(weeks - week - 1, 0) + max(preferred - in_week, 0)
            forced = max(left - room, 0)
            return (forced, forced, 0)

        return still_costs

    def _never_starts(self) -> None:
        """Refuse a phase whose end date comes before its first session could."""
        until = self.cadence.until if isinstance(self.cadence, Every) else None
        raise SpecError(
            f"phases.{self.phase.name}.until",
            until.isoformat() if until else None,
            f"the phase cannot start before {self.earliest.isoformat()}; give a later end date",
        )

    def _state(self, path: tuple[Session, ...]) -> tuple[object, ...]:
        """What the rest of the phase depends on, once ``path`` is placed."""
        if not path:
            return ()
        last = path[-1]
        origin = self.s._day(path[0])
        week = (self.s._day(last) - origin).days // 7
        # The path's sessions fall on later days one after another: the week's are its end.
        this_week = []
        for p in reversed(path):
            day = self.s._day(p)
            if (day - origin).days // 7 != week:
                break
            this_week.append(day)
        # How many are on preferred weekdays bears on the bound of what the rest costs.
        in_week = (len(this_week), sum(self.s.preferred(day) for day in this_week))
        # Sessions fall on later days, so only the gap rule looks at earlier times.
        recent: tuple[object, ...] = (self.s._day(last),)
        if self.s.rules.min_gap:
            horizon = utc(last.start) - self._horizon()
            recent = tuple(utc(p.start) for p in path if utc(p.start) > horizon)
        return (len(path), origin, in_week, recent)

    def _horizon(self) -> dt.timedelta:
        """How far back the phase's earlier sessions bear on the next one's rules."""
        return max(self.s.rules.min_gap, dt.timedelta(days=2))

    def _more(self, count: int) -> bool:
        """Whether the phase has a session after its ``count``-th (with ``self.dosing`` placed)."""
        if self.count is not None:
            return count < self.count
        return self._window(count + 1) is not None

    def _ordered(self, window: _Window) -> list[tuple[dt.date, bool, _Cost]]:
        """Every (day, at the preferred time?) of ``window``, cheapest first: the planned
        day, then preferred weekdays, then the preferred time, then nearest, then earliest.
        Paths of a best-first search share windows, so each order is kept for the phase."""
        span = (window.planned, window.low, window.high)
        known = self._orders.get(span)
        if known is not None:
            return known
        # Laid out in that order rather than sorted: the planned day's two candidates, then
        # the other days nearest first (the earlier of two equally near) in four runs.
        planned, low, high = span
        ordered: list[tuple[dt.date, bool, _Cost]] = []
        if low <= planned <= high:
            off_weekday = int(not self.s.preferred(planned))
            ordered += [(planned, True, (0, off_weekday, 0)), (planned, False, (0, off_weekday, 1))]
        preferred: list[dt.date] = []
        others: list[dt.date] = []
        for distance in range(1, max((planned - low).days, (high - planned).days, 0) + 1):
            for day in (
                planned - dt.timedelta(days=distance),
                planned + dt.timedelta(days=distance),
            ):
                if low <= day <= high:
                    (preferred if self.s.preferred(day) else others).append(day)
        ordered += [(day, True, (1, 0, 0)) for day in preferred]
        ordered += [(day, False, (1, 0, 1)) for day in preferred]
        ordered += [(day, True, (1, 1, 0)) for day in others]
        ordered += [(day, False, (1, 1, 1)) for day in others]
        self._orders[span] = ordered
        return ordered

    def _fit(self, cursor: _Cursor) -> Session | None:
        """The session at ``cursor``'s candidate if it keeps every rule; otherwise its
        reason joins the days passed over."""
        day, at_preferred, _cost = cursor.candidates[cursor.position]
        key = self._key(len(cursor.path) + 1)
        index = len(cursor.path) + 1
        self._budget(key, day, best_first=True)
        s = self.s
        window = cursor.window
        if not at_preferred and day in cursor.fits_at_preferred and not s.rules.min_gap:
            return None  # the preferred time fits that day: no other time does better
        reason = cursor.closed.get(day)
        if reason is None and day not in cursor.closed:
            reason = s.rules.closed(day) or (window.extra and window.extra(day)) or None
            cursor.closed[day] = reason
        if reason is not None:
            cursor.passed.append(Move(day, reason))
            return None
        self.dosing = list(cursor.path)
        recent = cursor.recent(self._horizon())
        times = s.rules.times(day, self.template, s.time)
        found: tuple[dt.datetime, dt.datetime] | str = "no time that day fits"
        first_reason = cursor.preferred_reason.get(day)
        for time in times if not at_preferred else times[:1]:
            if not at_preferred and time == s.time:
                continue
            slot = self._slot(day, time, self.template, extra=recent)
            if not isinstance(slot, str):
                found = slot
                break
            if at_preferred:
                cursor.preferred_reason[day] = slot
            first_reason = first_reason or slot
            found = first_reason

        if isinstance(found, str):
            cursor.passed.append(Move(day, found))
            return None
        if at_preferred:
            cursor.fits_at_preferred.add(day)
        start, end = found
        if day == window.planned and at_preferred:
            return self._session(key, index, start, end, self.template)
        why = None if at_preferred else cursor.preferred_reason.get(day) or "taken"
        return self._moved(key, index, day, (start, end), window, cursor.passed, why)

    def _moved(
        self,
        key: str,
        index: int,
        day: dt.date,
        span: tuple[dt.datetime, dt.datetime],
        window: _Window,
        passed: list[Move],
        off_time: str | None,
    ) -> Session:
        """The session laid on ``day`` at ``span``, away from its planned day or time: each
        day from the planned one passed over and why, and why the preferred time was not
        taken (``off_time``) when it was not."""
        start, end = span
        moves = self._between(window, passed, day)
        if off_time is not None:
            moves.append(Move(day, f"{self.s.time:%H:%M}: {off_time}"))
        return self._session(
            key,
            index,
            start,
            end,
            self.template,
            planned=window.planned,
            moves=_first_per_day(moves),
        )

    def _between(self, window: _Window, passed: list[Move], chosen: dt.date) -> list[Move]:
        """Each day from the planned one up to ``chosen`` (either way), and why it was
        passed over (``passed`` holds the reasons found while searching)."""
        planned = window.planned
        step = _DAY if chosen >= planned else -_DAY
        known = {m.date: m.rule for m in passed}
        moves = []
        day = planned
        while day != chosen:
            reason = known.get(day) or self.s.rules.closed(day)
            if reason is None and window.extra is not None:
                reason = window.extra(day)
            if reason is None and not window.low <= day <= window.high:
                reason = f"outside the phase's window ({english_date(window.low)} to {english_date(window.high)})"
            if reason is None and not self.s.preferred(day):
                reason = f"{Weekday(day.weekday()).label} is not a preferred weekday"
            moves.append(Move(day, reason or "another day moves fewer of the phase's sessions"))
            day += step
        return moves

    # -- depth first: companions, and the fallback --------------------------------------

    def _search(self, first: _Step) -> list[Session]:
        """The first plan in preference order from step ``first`` on, or ScheduleError."""
        frames: list[_Frame] = []
        step: _Step | None = first
        while True:
            if step is not None:
                # What the rest of the phase depends on is needed to look a step up among
                # the failures (mostly none yet) or to record one: a step fails with the
                # placements it began with (those after it are undone by then), so it is
                # worked out then.
                memo = self._memo(step) if self.failed else None
                if memo is None or memo not in self.failed:
                    passed: list[Move] = []
                    frames.append(_Frame(step, memo, passed, self._candidates(step, passed)))
            if not frames:
                last = self.deepest or _DeadEnd(self._key(1), self.earliest, "no day to try")
                raise ScheduleError(last.key, last.day, last.rule)
            frame = frames[-1]
            if frame.placed is not None:
                # Back here because what follows could not fit: try the next candidate.
                day = self.s._day(frame.placed)
                self._unplace(frame)
                frame.passed.append(Move(day, f"using it leaves no time for {self.blocked}"))
            try:
                session, _extra = next(frame.candidates)
            except _DeadEnd as dead:
                self._note(dead, len(frames))
                self.failed.add(frame.memo or self._memo(frame.step))
                frames.pop()
                step = None
                continue
            self._place(frame, session)
            step = self._next(frame.step, session)
            if step is None:
                return [f.placed for f in frames if f.placed is not None]

    def _place(self, frame: _Frame, session: Session) -> None:
        frame.placed = session
        if session.key not in self.s.kept:
            self.s.own.add(session)
        if session.anchor is None:
            self.dosing.append(session)

    def _unplace(self, frame: _Frame) -> None:
        assert frame.placed is not None
        if frame.placed.key not in self.s.kept:
            self.s.own.remove(frame.placed)
        if frame.placed.anchor is None:
            self.dosing.remove(frame.placed)
        frame.placed = None

    def _note(self, dead: _DeadEnd, depth: int) -> None:
        self.blocked = dead.key
        if depth >= self.depth:
            self.depth, self.deepest = depth, dead

    def _memo(self, step: _Step) -> tuple[object, ...]:
        """What the rest of the phase depends on: the step and the placements near it
        (found through the day index, so that it costs the same late in a long phase)."""
        if not self.dosing:
            return (step.index, step.companion is not None, None)
        s = self.s
        if step.companion is not None and step.anchor is not None:
            reach = step.companion.window.high + dt.timedelta(days=self.phase.slack.approx_days + 2)
            centre = s._day(step.anchor)
        else:
            reach = max(s.rules.min_gap, dt.timedelta(days=8))
            centre = s._day(self.dosing[-1])
        # Later sessions fall on later days: their times matter only to the gap rule.
        timed = bool(s.rules.min_gap) or step.companion is not None
        phase = self.phase.name
        near = sorted(
            (other.key, s.own.instants(other)[0] if timed else day)
            for day, other in s.own.near(centre, reach.days + 1)
            if other.phase == phase
        )
        return (step.index, id(step.companion), s._day(self.dosing[0]), tuple(near))

    def _next(self, step: _Step, session: Session) -> _Step | None:
        """The step after ``step``; ``None`` when the phase is done.

        The phase's own sessions come first, then the companions of each in
        turn: a companion never takes the time its phase's next session wants.
        """
        if step.companion is None:
            more = (
                step.index < self.count
                if self.count is not None
                else self._window(step.index + 1) is not None
            )
            if more:
                return _Step(step.index + 1)
            return self._companion_step(1, 0)
        companions = self._companions(step.index)
        return self._companion_step(step.index, companions.index(step.companion) + 1)

    def _companion_step(self, index: int, position: int) -> _Step | None:
        """The ``position``-th companion of the ``index``-th session, or the next one that exists."""
        while index <= len(self.dosing):
            companions = self._companions(index)
            if position < len(companions):
                return _Step(index, companions[position], self.dosing[index - 1])
            index, position = index + 1, 0
        return None

    def _companions(self, index: int) -> list[Companion]:
        last = index == len(self.dosing)
        return [
            c
            for c in self.phase.companions
            if c.anchor == "each"
            or (c.anchor == "first" and index == 1)
            or (c.anchor == "last" and last)
        ]

    # -- candidates ------------------------------------------------------------------

    def _key(self, index: int) -> str:
        if isinstance(self.cadence, Offsets | Taper) and self.count == 1:
            return self.phase.name
        return f"{self.phase.name}-{index:02d}"

    def _candidates(self, step: _Step, passed: list[Move]) -> Iterator[tuple[Session, _Cost]]:
        if step.companion is not None:
            assert step.anchor is not None
            template = self.s.protocol.template(step.companion.session)
            key = f"{step.anchor.key}-{template.name}"
            if key in self.s.kept:
                return self._kept(self.s.kept[key])
            return self._companion_slots(step.companion, template, step.anchor, key, passed)
        key = self._key(step.index)
        if key in self.s.kept:
            return self._kept(self.s.kept[key])
        return self._dosing_slots(step.index, key, passed)

    def _kept(self, session: Session) -> Iterator[tuple[Session, _Cost]]:
        """A session already decided: its one candidate is itself."""
        yield session, _ZERO
        raise _DeadEnd(
            self.blocked or session.key,
            self.s._day(session),
            f"{session.key} is kept where it is ({english_date(self.s._day(session))})",
        )

    def _dosing_slots(
        self, index: int, key: str, passed: list[Move]
    ) -> Iterator[tuple[Session, _Cost]]:
        if index > MAX_SESSIONS_PER_PHASE:
            raise SpecError(
                f"phases.{self.phase.name}.until",
                None,
                f"the phase would have more than {MAX_SESSIONS_PER_PHASE} sessions; end it sooner",
            )
        window = self._window(index)
        if window is None:
            raise _DeadEnd(key, self.earliest, f"phase {self.phase.name!r} has ended")
        s = self.s
        rules = s.rules
        days = _preference_order(window, s.preferred)
        for day in days:
            self._budget(key, day)
            reason = rules.closed(day) or (window.extra and window.extra(day))
            if reason:
                passed.append(Move(day, reason))
                continue
            first_reason: str | None = None
            for time in rules.times(day, self.template, s.time):
                slot = self._slot(day, time, self.template)
                if isinstance(slot, str):
                    first_reason = first_reason or slot
                    continue
                start, end = slot
                cost = (int(day != window.planned), int(not s.preferred(day)), int(time != s.time))
                if cost[0] or cost[2]:
                    why = (first_reason or "taken") if time != s.time else None
                    yield self._moved(key, index, day, (start, end), window, passed, why), cost
                else:
                    yield self._session(key, index, start, end, self.template), cost
                if not rules.min_gap:
                    break  # another time that day leaves the rest of the phase as it was
            passed.append(Move(day, first_reason or "no time that day fits"))
        raise _DeadEnd(key, window.planned, f"{window.rule()}; {_summary(passed)}")

    def _slot(
        self,
        day: dt.date,
        time: dt.time,
        template: SessionTemplate,
        extra: Sequence[Session] = (),
        start: dt.datetime | str | None = None,
        instant: dt.datetime | None = None,
    ) -> tuple[dt.datetime, dt.datetime] | str:
        """The start and end of ``template``'s session at ``time`` on ``day`` (``start``,
        when the caller has it from the rule book, and ``instant``, it in UTC) if it keeps
        every rule, or why not."""
        s = self.s
        if start is None:
            start = s.rules.at(day, time, template)
        if isinstance(start, str):
            return start
        first = utc(start) if instant is None else instant
        last = first + template.duration
        end = last.astimezone(s.zone)
        conflict = s.rules.conflict(
            template.kind, start, end, template, s.own, extra, instants=(first, last)
        )
        if conflict is not None:
            return conflict
        if template.kind is SessionKind.DOSING:
            recovering = self._before_companion(start, day)
            if recovering is not None:
                return recovering
        return start, end

    def _session(
        self,
        key: str,
        index: int,
        start: dt.datetime,
        end: dt.datetime,
        template: SessionTemplate,
        *,
        phase: str | None = None,
        anchor: str | None = None,
        planned: dt.date | None = None,
        moves: tuple[Move, ...] = (),
    ) -> Session:
        """The session found for a slot, made once with everything it carries."""
        return Session._laid(
            key,
            template.kind,
            self.phase.name if phase is None else phase,
            index,
            start,
            end,
            template.name,
            anchor,
            planned,
            moves,
        )

    def _budget(self, key: str, day: dt.date, *, best_first: bool = False) -> None:
        """Count one slot tried; past :data:`SEARCH_BUDGET`, give up with the deepest reason
        (or, searching best first, fall back to the depth-first search)."""
        self.tried += 1
        self.s.tried += 1
        if best_first and self.tried > BEST_FIRST_BUDGET:
            raise _GiveUp
        if self.tried > SEARCH_BUDGET or self.s.tried > TOTAL_BUDGET:
            dead = self.deepest or _DeadEnd(key, day, f"phase {self.phase.name!r} does not fit")
            raise _Final(dead.key, dead.day, f"{dead.rule} (no plan found in {self.s.tried} tries)")

    # -- the windows of a phase's sessions -------------------------------------------

    def _window(self, index: int) -> _Window | None:
        """Where the phase's ``index``-th session may go, given the ones before it
        (``None`` when a phase that runs until a date has ended), keeping the
        last one off ``self.avoid``."""
        window = self._cadence_window(index)
        horizon = self.s.rules.horizon
        if window is not None and window.low > horizon:
            # No choice before this session can bring it inside the plan's span.
            raise _Final(
                self._key(index),
                window.planned,
                f"a plan runs at most {MAX_SPAN.days // 366} years from its start (to {english_date(horizon)})",
            )
        last = self.count is None or index == self.count
        if window is None or not self.avoid or not last:
            return window
        extra, avoid = window.extra, self.avoid

        def kept_free(day: dt.date) -> str | None:
            if day in avoid:
                return "the next phase does not fit after it"
            return extra(day) if extra is not None else None

        return _Window(window.planned, window.low, window.high, window.rule, kept_free)

    def _cadence_window(self, index: int) -> _Window | None:
        s = self.s
        slack = self.phase.slack
        before = self.dosing[index - 2] if index > 1 else self.previous
        floor = s._day(before) + _DAY if before is not None else self.earliest
        floor = max(floor, self.earliest) if index == 1 else floor
        cadence = self.cadence
        if isinstance(cadence, PerWeek):
            return self._per_week(index, cadence, floor)
        if isinstance(cadence, Every):
            if index == 1 and self.previous is None:
                planned = s.next_preferred(self.earliest)
                low, high = self.earliest, slack.after(planned)
                says: tuple[str, tuple[object, ...]] = (
                    "starts on or after {} (by {})",
                    (self.earliest,),
                )
            else:
                assert before is not None
                last = s._day(before)
                low = cadence.interval.low.after(last)
                high = max(cadence.interval.high.after(last), low)
                planned = low  # the first preferred day, else the first day
                while planned <= high and not s.preferred(planned):
                    planned += _DAY
                planned = planned if planned <= high else low
                if cadence.interval.fixed:
                    low, high = slack.before(low), slack.after(high)
                if index == 1:
                    low = max(low, self.earliest)
                says = ("needs a session {} after {} (by {})", (cadence, last))
            low = max(low, floor)
            if cadence.until is not None:
                if planned > cadence.until:
                    return None
                high = min(high, cadence.until)
            rule = _rule(f"phase {{!r}} {says[0]}", self.phase.name, *says[1], high)
            return _Window(planned, low, high, rule)
        intervals = cadence.intervals if isinstance(cadence, Taper) else cadence.offsets
        chained = isinstance(cadence, Taper)
        if chained and index > 1:
            anchor = s._day(self.dosing[index - 2])
        else:
            anchor = s._day(self.previous) if self.previous is not None else self.start_day
        interval = intervals[index - 1]
        planned = interval.after(anchor)
        low = max(slack.before(planned), floor if before is not None else self.earliest)
        if index == 1 and self.previous is None:
            low = max(low, s.start)
        high = slack.after(planned)
        rule = _rule(
            "phase {!r} needs a session {} after {} (by {})",
            self.phase.name,
            interval,
            anchor,
            high,
        )
        return _Window(planned, low, high, rule)

    @property
    def start_day(self) -> dt.date:
        return self.s.start

    def _per_week(self, index: int, cadence: PerWeek, floor: dt.date) -> _Window:
        s = self.s
        if index == 1:
            planned = s.next_preferred(self.earliest)
            high = self.phase.slack.after(planned)
            rule = _rule(
                "phase {!r} starts on or after {} (by {})", self.phase.name, self.earliest, high
            )
            return _Window(planned, self.earliest, high, rule)
        origin = s._day(self.dosing[0])
        last = origin + dt.timedelta(weeks=cadence.weeks) - _DAY
        # Sessions fall in index order on later days, and the window starts at ``floor``:
        # only the weeks from floor's on count, found from the last session back.
        first_week = (floor - origin).days // 7
        weeks: dict[int, int] = {}
        for session in reversed(self.dosing[: index - 1]):
            week = (s._day(session) - origin).days // 7
            if week < first_week:
                break
            weeks[week] = weeks.get(week, 0) + 1

        def week_full(day: dt.date) -> str | None:
            week = (day - origin).days // 7
            if weeks.get(week, 0) >= cadence.high:
                return f"week {week + 1} of phase {self.phase.name!r} already has {cadence.high} sessions"
            return None

        # The next preferred day in a week with room; past the window's end
        # when none is left in it (then every day of the window is a move).
        planned = floor
        while not s.preferred(planned) or week_full(planned):
            planned += _DAY
        rule = _rule("phase {!r} needs {} (by {})", self.phase.name, cadence, last)
        return _Window(planned, floor, last, rule, week_full)

    # -- companions --------------------------------------------------------------

    def _companion_slots(
        self,
        companion: Companion,
        template: SessionTemplate,
        anchor: Session,
        key: str,
        passed: list[Move],
    ) -> Iterator[tuple[Session, _Cost]]:
        """A companion inside its window, nearest the anchor first: not after another dosing
        session on the same day (while the patient recovers) unless no other time is free,
        and past the window by up to the phase's slack when the whole window is closed."""
        s = self.s
        zone = s.zone
        window = companion.window
        slack = self.phase.slack
        if companion.direction == "after":
            earliest, latest = anchor.end + window.low, anchor.end + window.high
            outer = dt.datetime.combine(
                slack.after(latest.astimezone(zone).date()), dt.time.max, tzinfo=zone
            )
            bounds = [(earliest, latest), (earliest, outer)]
        else:
            earliest = max(utc(anchor.start) - window.high, utc(s.floor))
            latest = utc(anchor.start) - window.low
            outer = max(
                utc(s.floor),
                utc(
                    dt.datetime.combine(
                        slack.before(earliest.astimezone(zone).date()), dt.time.min, tzinfo=zone
                    )
                ),
            )
            bounds = [(earliest, latest), (outer, latest)]
        rejected: list[Move] = []
        seen: set[tuple[dt.datetime, bool]] = set()
        for (low, high), lenient in ((b, lenient) for b in bounds for lenient in (False, True)):
            low, high = utc(low), utc(high)
            days = _days(low.astimezone(zone).date(), high.astimezone(zone).date())
            if companion.direction == "before":
                days.reverse()
            rejected = []
            for day in days:
                self._budget(key, day)
                reason = s.rules.closed(day)
                if reason is None:
                    for time, start in s.rules.starts(day, template, s.time):
                        instant = utc(start)
                        if not low <= instant <= high or (instant, lenient) in seen:
                            continue
                        seen.add((instant, lenient))
                        if not lenient and self._recovering(start, day):
                            continue
                        slot = self._slot(day, time, template, start=start, instant=instant)
                        if isinstance(slot, str):
                            continue
                        moves = self._worth_saying([*rejected, *passed])
                        moved = self._session(
                            key,
                            anchor.index,
                            *slot,
                            template,
                            phase=anchor.phase,
                            anchor=anchor.key,
                            planned=min(m.date for m in moves) if moves else None,
                            moves=tuple(moves),
                        )
                        yield moved, _ZERO
                    reason = (
                        f"no free time that day within {window} {companion.direction} {anchor.key}"
                    )
                rejected.append(Move(day, reason))
        first = rejected[0] if rejected else Move(s._day(anchor), "no day in the window")
        raise _DeadEnd(
            key,
            first.date,
            f"no time for the {template.title.lower()} {window} {companion.direction} {anchor.key} (first: {first})",
        )

    def _before_companion(self, start: dt.datetime, day: dt.date) -> str | None:
        """Why a dosing session from ``start`` would fall before a session that day that is
        not dosing (the patient would still be recovering), or ``None``."""
        own, instant = self.s.own, utc(start)
        for other in own.on(day):
            if other.kind is not SessionKind.DOSING and own.instants(other)[0] > instant:
                at = other.start.astimezone(self.s.zone)
                return f"the plan's own {other.key} is at {at:%H:%M} that day, while the patient would recover"
        return None

    def _recovering(self, start: dt.datetime, day: dt.date) -> bool:
        """Whether ``start`` falls after a dosing session that day, while the patient recovers."""
        own, instant = self.s.own, utc(start)
        return any(
            other.kind is SessionKind.DOSING and own.instants(other)[0] < instant
            for other in own.on(day)
        )

    def _worth_saying(self, rejected: list[Move]) -> list[Move]:
        """The days a companion passed over, in date order, leaving out the weekdays the
        clinic never opens: a window simply spans those."""
        return sorted(
            (m for m in rejected if self.s.clinic.hours.get(_WEEKDAYS[m.date.weekday()])),
            key=lambda move: move.date,
        )


def _preference_order(window: _Window, preferred: Callable[[dt.date], bool]) -> Iterator[dt.date]:
    """The days of ``window`` in the search's order, lazily: the planned day, then preferred
    weekdays, then the others, each nearest the planned day first and the earlier of two
    equally near; a session that takes its planned day costs one step, not the window."""
    planned, low, high = window.planned, window.low, window.high
    if low <= planned <= high:
        yield planned
    reach = max((planned - low).days, (high - planned).days, 0)
    for wanted in (True, False):
        for distance in range(1, reach + 1):
            for day in (
                planned - dt.timedelta(days=distance),
                planned + dt.timedelta(days=distance),
            ):
                if low <= day <= high and preferred(day) is wanted:
                    yield day


def _rule(text: str, *values: object) -> Callable[[], str]:
    """A window's rule in words, put together only when asked: ``text`` formatted with
    ``values``, dates as :func:`english_date` writes them. Most windows are kept, and
    their rules are never read."""
    return lambda: text.format(*(english_date(v) if isinstance(v, dt.date) else v for v in values))


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def _first_per_day(moves: list[Move]) -> tuple[Move, ...]:
    """Each day passed over once (its first reason), in the order they were passed over."""
    seen: dict[dt.date, Move] = {}
    for move in moves:
        seen.setdefault(move.date, move)
    return tuple(seen.values())


def _by_date(moves: list[Move]) -> list[Move]:
    """Each day passed over once (its first reason), in date order."""
    seen: dict[dt.date, Move] = {}
    for move in moves:
        seen.setdefault(move.date, move)
    return sorted(seen.values(), key=lambda move: move.date)


def _summary(passed: list[Move]) -> str:
    """Why every day of a window was passed over, runs of closed days together:
    "Fri 25 Dec to Mon 28 Dec closed: Christmas Day, ...; Thu 24 Dec: no dosing on ..."."""
    parts: list[str] = []
    run: list[Move] = []

    def flush() -> None:
        if not run:
            return
        names = ", ".join(dict.fromkeys(_closed_name(m.rule) or m.rule for m in run))
        span = (
            _short(run[0].date)
            if len(run) == 1
            else f"{_short(run[0].date)} to {_short(run[-1].date)}"
        )
        parts.append(f"{span} closed: {names}")
        run.clear()

    for move in _by_date(passed):
        if _closed_name(move.rule) is not None:
            if run and (move.date - run[-1].date).days != 1:
                flush()
            run.append(move)
            continue
        flush()
        parts.append(f"{_short(move.date)}: {move.rule}")
    flush()
    return "; ".join(parts) if parts else "no day is left"


def _closed_name(rule: str) -> str | None:
    for prefix in ("statutory holiday: ", "closure: "):
        if rule.startswith(prefix):
            return rule[len(prefix) :]
    if rule.startswith("the clinic is closed on "):
        return rule.removeprefix("the clinic is closed on ")
    return None


def _short(day: dt.date) -> str:
    return english_date(day).rsplit(" ", 1)[0]


# -- laying given sessions again (lifecycle operations) ------------------------------------

#: How many days past its planned day a session laid again may go.
REACH_DAYS = 60
#: Slots tried at most when sessions are laid again in turn (see :func:`lay_in_turn`).
IN_TURN_BUDGET = 20_000


class InTurn:
    """One session to lay again: ``session`` as it is, to start at wall-clock ``time``
    on the ``planned`` day, or the day ``planned`` gives from the day the session
    before it took (``None`` for the first)."""

    __slots__ = ("planned", "session", "time")

    def __init__(
        self,
        session: Session,
        time: dt.time,
        planned: dt.date | Callable[[dt.date | None], dt.date],
    ) -> None:
        self.session = session
        self.time = time
        self.planned = planned


def lay_in_turn(rules: Rules, placed: Iterable[Session], steps: Sequence[InTurn]) -> list[Session]:
    """``steps``' sessions laid again in turn around ``placed``, each at its planned day
    and time when the rule book allows, else at the nearest other time that day or on
    the first later day (within :data:`REACH_DAYS`) that keeps every rule; each carries
    the days and times it passed over and why (its ``moves``, after the session's own).

    A search like the scheduler's: when a later session cannot be laid, earlier
    choices are revisited before it gives up, and then :class:`ScheduleError`
    names the session, the date and every rule that closed its window.
    """
    own = Own(rules.zone, placed)
    laid: list[Session] = []
    options: list[Iterator[Session]] = []
    deepest: tuple[int, ScheduleError] | None = None
    tried = [0]
    while len(laid) < len(steps):
        depth = len(laid)
        if len(options) == depth:
            previous = laid[-1].start.astimezone(rules.zone).date() if laid else None
            options.append(_in_turn_options(rules, own, steps[depth], previous, tried))
        try:
            chosen = next(options[depth])
        except ScheduleError as error:
            if deepest is None or depth >= deepest[0]:
                deepest = (depth, error)
            if not laid or tried[0] > IN_TURN_BUDGET:
                raise deepest[1] from None
            options.pop()
            own.remove(laid.pop())
            continue
        laid.append(chosen)
        own.add(chosen)
    return laid


def _in_turn_options(
    rules: Rules, own: Own, step: InTurn, previous: dt.date | None, tried: list[int]
) -> Iterator[Session]:
    """The slots ``step`` may take, best first (one a day); ScheduleError once none is left."""
    session, time = step.session, step.time
    template = rules.protocol.template(session.template)
    planned = step.planned if isinstance(step.planned, dt.date) else step.planned(previous)
    last = planned + dt.timedelta(days=REACH_DAYS)
    passed: list[Move] = []
    for day in _days(planned, last):
        tried[0] += 1
        reason = rules.closed(day)
        if reason is not None:
            passed.append(Move(day, reason))
            continue
        first: str | None = None
        for at in rules.times(day, template, time):
            start = rules.at(day, at, template)
            if isinstance(start, str):
                first = first or start
                continue
            end = (utc(start) + template.duration).astimezone(rules.zone)
            candidate = attrs.evolve(session, start=start, end=end)
            problem = rules.check(candidate, own)
            if problem is None:
                moves = list(passed)
                if at != time:
                    moves.append(Move(day, f"{time:%H:%M}: {first}"))
                yield attrs.evolve(candidate, moves=(*session.moves, *moves))
                passed.append(Move(day, "the sessions after it do not fit from there"))
                break
            first = first or problem
        else:
            passed.append(Move(day, first or "no time that day fits"))
    rule = f"no day from {english_date(planned)} to {english_date(last)} works: {_summary(passed)}"
    raise ScheduleError(session.key, planned, rule)
