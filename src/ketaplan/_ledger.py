"""The clinic's bookings: what each resource holds, and when, across many plans.

A :class:`Ledger` is an immutable value: the clinic's resources (``"chair"``
for dosing sessions, and any room it counts) with their capacity, and the
booked intervals of every plan it holds. Intervals are indexed by resource
and day (the UTC date of each instant they cover), so checking a time looks
at that day's bookings only and costs the same with 100 or 100,000 bookings.
Booking returns a new ledger and leaves the old one as it was.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import attrs

from ._clinic import Busy, Clinic
from ._session import SessionStatus
from .exceptions import ScheduleError, SpecError

if TYPE_CHECKING:
    from ._plan import Plan

__all__ = ["RESOURCE_PROPERTY", "Ledger", "book"]

#: The iCalendar property that marks an event of ketaplan's clinic calendar as
#: holding a resource (its value names the resource).
RESOURCE_PROPERTY = "X-KETAPLAN-RESOURCE"
_DAY = dt.timedelta(days=1)
#: One booking: start and end as UTC instants, and who holds it.
_Interval = tuple[dt.datetime, dt.datetime, str]
_Key = tuple[str, dt.date]


def _days(first: dt.datetime, last: dt.datetime) -> Iterator[dt.date]:
    """The UTC dates an interval from ``first`` to ``last`` (UTC, ``last`` excluded) covers."""
    day, final = first.date(), max(first, last - dt.timedelta(microseconds=1)).date()
    while day <= final:
        yield day
        day += _DAY


def _capacities(value: Mapping[str, int]) -> Mapping[str, int]:
    if not isinstance(value, Mapping):
        raise SpecError(
            "ledger.resources", type(value).__name__, "expected a mapping such as {'chair': 4}"
        )
    for name, capacity in value.items():
        if not isinstance(name, str) or not name or len(name) > 40:
            raise SpecError(
                "ledger.resources", name, "expected a short resource name such as 'chair'"
            )
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise SpecError(
                f"ledger.resources.{name}", capacity, "expected a whole number of at least 1"
            )
    return MappingProxyType(dict(sorted(value.items())))


@attrs.frozen(eq=False)
class Ledger:
    """A clinic's bookings: ``resources`` (name to capacity) and the intervals booked.

    Build one with :meth:`for_clinic` (its chairs, and its ``busy`` bookings)
    or :meth:`from_folder`; add plans with :meth:`book` and take them out
    with :meth:`release`. A session holds the resource its template names
    (:attr:`~ketaplan.SessionTemplate.resource`); a resource the ledger does
    not list is not limited.
    """

    resources: Mapping[str, int] = attrs.field(converter=_capacities)
    _index: Mapping[_Key, tuple[_Interval, ...]] = attrs.field(
        factory=dict, alias="index", repr=False
    )
    _plans: Mapping[str, tuple[tuple[str, dt.datetime, dt.datetime], ...]] = attrs.field(
        factory=dict, alias="plans", repr=False
    )
    #: The clinics' ``busy`` bookings this ledger holds (see :meth:`with_clinic_busy`).
    _clinic_busy: frozenset[tuple[Busy, ...]] = attrs.field(
        factory=frozenset, alias="clinic_busy", repr=False
    )

    @classmethod
    def for_clinic(cls, clinic: Clinic, resources: Mapping[str, int] | None = None) -> Ledger:
        """An empty ledger with ``clinic``'s chairs (and ``resources``, e.g. rooms), holding
        the clinic's ``busy`` bookings (each takes a chair)."""
        return cls({"chair": clinic.chairs, **(resources or {})}).with_clinic_busy(clinic)

    # -- reading ----------------------------------------------------------------------

    @property
    def plan_ids(self) -> tuple[str, ...]:
        """The ids of the plans booked, sorted."""
        return tuple(sorted(p for p in self._plans if p))

    def __len__(self) -> int:
        """How many intervals are booked."""
        return sum(len(intervals) for intervals in self._plans.values())

    def capacity(self, resource: str) -> int | None:
        """How many of ``resource`` the clinic has, or ``None`` when it is not limited."""
        return self.resources.get(resource)

    def days(self, resource: str = "chair") -> tuple[dt.date, ...]:
        """The UTC dates on which some ``resource`` is booked, in order."""
        return tuple(sorted(day for name, day in self._index if name == resource))

    def on(self, resource: str, day: dt.date) -> tuple[_Interval, ...]:
        """The bookings of ``resource`` that cover some of UTC date ``day``."""
        return self._index.get((resource, day), ())

    def in_use(
        self,
        resource: str,
        start: dt.datetime,
        end: dt.datetime,
        extra: Iterable[tuple[dt.datetime, dt.datetime]] = (),
    ) -> int:
        """The most of ``resource`` in use at once between ``start`` and ``end``, counting the
        ledger's bookings and the ``extra`` intervals."""
        first, last = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
        edges: list[tuple[dt.datetime, int]] = []
        first_day = first.date()
        for day in _days(first, last):
            for interval in self._index.get((resource, day), ()):
                if day != first_day and interval[0].date() < day:
                    continue  # held over from the day before: counted there
                if interval[0] < last and first < interval[1]:
                    edges.append((max(interval[0], first), 1))
                    edges.append((min(interval[1], last), -1))
        for other_first, other_last in extra:
            other_first, other_last = other_first.astimezone(dt.UTC), other_last.astimezone(dt.UTC)
            if other_first < last and first < other_last:
                edges.append((max(other_first, first), 1))
                edges.append((min(other_last, last), -1))
        most = in_use = 0
        for _moment, change in sorted(edges):
            in_use += change
            most = max(most, in_use)
        return most

    def _overlapping(self, resource: str, start: dt.datetime, end: dt.datetime) -> int:
        """How many bookings of ``resource`` overlap ``start`` to ``end`` (at least as many as
        are in use at once)."""
        first, last = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
        first_day, count = first.date(), 0
        for day in _days(first, last):
            for interval in self._index.get((resource, day), ()):
                if day != first_day and interval[0].date() < day:
                    continue  # held over from the day before: counted there
                if interval[0] < last and first < interval[1]:
                    count += 1
        return count

    def full(
        self,
        resource: str,
        start: dt.datetime,
        end: dt.datetime,
        extra: Iterable[tuple[dt.datetime, dt.datetime]] = (),
    ) -> str | None:
        """Why one more ``resource`` cannot be held from ``start`` to ``end`` (every one is
        booked at some moment), or ``None``; the times are written as given (local)."""
        capacity = self.capacity(resource)
        if capacity is None:
            return None
        extra = tuple(extra)
        if self._overlapping(resource, start, end) + len(extra) < capacity:
            return None  # fewer bookings touch the interval than there are of the resource
        if self.in_use(resource, start, end, extra) < capacity:
            return None
        if resource == "chair":
            held = "the only chair is" if capacity == 1 else f"all {capacity} chairs are"
        else:
            held = (
                f"the only {resource} is" if capacity == 1 else f"all {capacity} of {resource} are"
            )
        return f"full: {held} booked between {start:%H:%M} and {end:%H:%M}"

    # -- changing -----------------------------------------------------------------------

    def _added(self, owner: str, held: Iterable[tuple[str, dt.datetime, dt.datetime]]) -> Ledger:
        index = dict(self._index)
        plans = dict(self._plans)
        mine = list(plans.get(owner, ()))
        for resource, start, end in held:
            first, last = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
            interval = (first, last, owner)
            for day in _days(first, last):
                index[(resource, day)] = (*index.get((resource, day), ()), interval)
            mine.append((resource, first, last))
        plans[owner] = tuple(mine)
        return Ledger(self.resources, index=index, plans=plans, clinic_busy=self._clinic_busy)

    def with_busy(self, busy: Iterable[Busy], resource: str = "chair") -> Ledger:
        """This ledger with ``busy`` bookings (from a calendar) each holding one ``resource``.

        They are not checked against the capacity: they have been booked already.
        """
        return self._added("", ((resource, b.start, b.end) for b in busy))

    def with_clinic_busy(self, clinic: Clinic) -> Ledger:
        """This ledger with ``clinic``'s ``busy`` bookings, once: a ledger that holds them
        already (made by :meth:`for_clinic`) is returned as it is."""
        if not clinic.busy or clinic.busy in self._clinic_busy:
            return self
        ledger = self.with_busy(clinic.busy)
        return attrs.evolve(ledger, clinic_busy=self._clinic_busy | {clinic.busy})

    def release(self, plan_id: str) -> Ledger:
        """This ledger without ``plan_id``'s bookings (the same ledger if it holds none)."""
        held = self._plans.get(plan_id)
        if not held or not plan_id:
            return self
        index = dict(self._index)
        for resource, first, last in held:
            for day in _days(first, last):
                key = (resource, day)
                kept = tuple(i for i in index[key] if i[2] != plan_id)
                if kept:
                    index[key] = kept
                else:
                    index.pop(key, None)
        plans = {owner: value for owner, value in self._plans.items() if owner != plan_id}
        return Ledger(self.resources, index=index, plans=plans, clinic_busy=self._clinic_busy)

    def book(self, plan: Plan, *, check: bool = True) -> Ledger:
        """This ledger with ``plan``'s sessions that take place, each holding its template's
        resource; an earlier booking of the same plan id is replaced.

        All or nothing: when a session would need more of a resource than the
        clinic has, :class:`~ketaplan.ScheduleError` names the session, its
        date and the rule, and no session is booked (this ledger is unchanged).
        ``check=False`` books without checking (plans booked already).
        """
        base = self.release(plan.id)
        zone = plan.clinic.zone
        held: list[tuple[str, dt.datetime, dt.datetime]] = []
        own: dict[tuple[str, dt.date], list[tuple[dt.datetime, dt.datetime]]] = {}
        for session in sorted(plan.sessions, key=lambda s: (s.start, s.key)):
            if session.status is SessionStatus.CANCELLED:
                continue
            resource = plan.template(session).resource
            if not resource:
                continue
            first, last = session.start.astimezone(dt.UTC), session.end.astimezone(dt.UTC)
            if check:
                mine = [i for day in _days(first, last) for i in own.get((resource, day), ())]
                problem = base.full(
                    resource,
                    session.start.astimezone(zone),
                    session.end.astimezone(zone),
                    mine,
                )
                if problem is not None:
                    raise ScheduleError(session.key, session.start.astimezone(zone).date(), problem)
                for day in _days(first, last):
                    own.setdefault((resource, day), []).append((first, last))
            held.append((resource, first, last))
        return base._added(plan.id, held)

    # -- from files -----------------------------------------------------------------------

    @classmethod
    def from_folder(
        cls,
        path: str | Path,
        clinic: Clinic,
        *,
        start: dt.date | None = None,
        resources: Mapping[str, int] | None = None,
    ) -> Ledger:
        """The bookings in folder ``path``: saved plans (``*.json``) and calendars (``*.ics``).

        A saved plan books its sessions as they are. ketaplan's own calendars
        (their PRODID is ketaplan's) count only the events marked
        ``X-KETAPLAN-RESOURCE`` (the clinic calendar's sessions that hold a
        resource), and none of a plan also read from its saved JSON; any other
        calendar keeps the ``busy`` rules: each busy event takes a chair.
        Calendars are read from ``start`` (by default from 2000-01-01) for as
        far ahead as the clinic's ``busy`` calendars are.
        """
        from ._busy import read_busy
        from ._reader import read_file
        from ._serialize import MAX_BYTES, plan_from_json

        folder = Path(path)
        if not folder.is_dir():
            raise SpecError(
                "bookings", str(folder), "expected a folder of saved plans and .ics files"
            )
        ledger = cls.for_clinic(clinic, resources)
        first_day = start or dt.date(2000, 1, 1)
        loaded: set[str] = set()
        for file in sorted(folder.glob("*.json")):
            if not file.is_file():
                continue
            data = read_file(file, what="bookings", limit=MAX_BYTES, shown=file.name)
            if b'"ketaplan.plan"' not in data[:200]:
                continue  # another JSON file (FHIR, a configuration): not a booking
            plan = plan_from_json(data)
            ledger = ledger.book(plan, check=False)
            loaded.add(plan.id)
        for file in sorted(folder.glob("*.ics")):
            if not file.is_file():
                continue
            busy = read_busy(file, start=first_day, zone=clinic.zone, field="bookings")
            own = _own_calendar(file)
            if own is None:
                ledger = ledger.with_busy(busy)
                continue
            marked = [
                (resource, b) for resource, b in _marked(own, busy) if _plan_of(file) not in loaded
            ]
            for resource in sorted({r for r, _ in marked}):
                ledger = ledger.with_busy((b for r, b in marked if r == resource), resource)
        return ledger


def _own_calendar(file: Path) -> bytes | None:
    """The file's bytes when ketaplan wrote it (its PRODID), else ``None``."""
    from .export._ics import PRODID

    data = file.read_bytes()
    head = data[:2000].decode("utf-8", "replace")
    return data if f"PRODID:{PRODID}" in head else None


def _plan_of(file: Path) -> str:
    """The plan id of a calendar named ``<id>.ics`` or ``<id>-clinic.ics``."""
    return file.name.removesuffix(".ics").removesuffix("-clinic")


def _marked(data: bytes, busy: Iterable[Busy]) -> list[tuple[str, Busy]]:
    """Of the ``busy`` intervals read from ketaplan's calendar ``data``, those whose event
    holds a resource, with the resource."""
    import icalendar

    resources: dict[tuple[dt.datetime, dt.datetime], list[str]] = {}
    for calendar in icalendar.Calendar.from_ical(data.decode("utf-8-sig"), multiple=True):
        for event in calendar.walk("VEVENT"):
            resource = str(event.get(RESOURCE_PROPERTY, "")).strip()
            if not resource or str(event.get("STATUS", "")).upper() == "CANCELLED":
                continue
            start, end = event.decoded("DTSTART"), event.decoded("DTEND", None)
            if not isinstance(start, dt.datetime) or not isinstance(end, dt.datetime):
                continue  # ketaplan writes timed events only
            key = (start.astimezone(dt.UTC), end.astimezone(dt.UTC))
            resources.setdefault(key, []).append(resource)
    found = []
    for b in busy:
        names = resources.get((b.start.astimezone(dt.UTC), b.end.astimezone(dt.UTC)))
        if names:
            found.append((names.pop(0), b))
    return found


def book(
    plan_or_id: Plan | str, *args: object, ledger: Ledger, **kwargs: object
) -> tuple[Plan, Ledger]:
    """Book a plan into ``ledger``: ``(plan, new ledger)``.

    Given a :class:`~ketaplan.Plan`, it is booked as it is. Given the
    arguments of :meth:`Plan.create <ketaplan.Plan.create>` (an id first),
    the plan is scheduled around the ledger's bookings first. Booking is all
    or nothing (see :meth:`Ledger.book`).
    """
    from ._plan import Plan

    if isinstance(plan_or_id, Plan):
        if args or kwargs:
            raise SpecError(
                "book", "a plan and more arguments", "give a Plan alone, or Plan.create's arguments"
            )
        plan = plan_or_id
    else:
        plan = Plan.create(plan_or_id, *args, ledger=ledger, **kwargs)  # type: ignore[arg-type]
    return plan, ledger.book(plan)


def book_around(plan: Plan, folder: str | Path | Ledger) -> Plan:
    """``plan`` booked around the bookings in ``folder`` (:meth:`Ledger.from_folder`), or
    in a ledger read from it already.

    A plan just created (revision 1) is scheduled again around them; a plan
    with a history keeps its dates, which must fit (else
    :class:`~ketaplan.ScheduleError` names the session, the date and why).
    """
    ledger = (
        folder
        if isinstance(folder, Ledger)
        else Ledger.from_folder(folder, plan.clinic, start=plan.start)
    )
    plan = laid_around(plan, ledger)
    ledger.book(plan)
    return plan


def laid_around(plan: Plan, ledger: Ledger) -> Plan:
    """``plan`` scheduled again around ``ledger``'s other bookings if it was just created
    (revision 1); a plan with a history as it is."""
    from ._plan import PendingPhase
    from ._schedule import schedule

    if len(plan.history) != 1:
        return plan
    laid = schedule(
        plan.protocol,
        plan.clinic,
        plan.start,
        time=plan.preferences.time,
        weekdays=plan.preferences.weekdays,
        ledger=ledger.release(plan.id),
    )
    pending = tuple(PendingPhase(phase, reason) for phase, reason in laid.pending)
    return attrs.evolve(plan, sessions=laid.sessions, pending=pending)
