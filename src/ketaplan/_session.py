"""Sessions: the dated appointments of a plan, and why any of them moved."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable

import attrs

from ._protocol import SessionKind
from ._values import to_tuple
from .exceptions import SpecError

__all__ = ["Move", "Session", "SessionStatus"]


def _aware(instance: object, attribute: attrs.Attribute[dt.datetime], value: dt.datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise SpecError(attribute.name, value, "expected an aware datetime (with a time zone)")


def _at_least(least: int) -> Callable[[object, attrs.Attribute[int], int], None]:
    def check(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise SpecError(attribute.name, value, f"expected a whole number of at least {least}")

    return check


def _instant(value: dt.datetime) -> int:
    """Microseconds since 0001-01-01 UTC, for comparing without overflow near years 1 and 9999."""
    offset = value.utcoffset() or dt.timedelta(0)
    return (value.replace(tzinfo=None) - dt.datetime.min - offset) // dt.timedelta(microseconds=1)


def _ends_after(start: dt.datetime, end: dt.datetime) -> bool:
    """Whether instant ``end`` comes after instant ``start``."""
    try:
        # Both in UTC compare as instants; the fast way, for every date but the first
        # and last days a datetime can hold.
        return end.astimezone(dt.UTC) > start.astimezone(dt.UTC)
    except OverflowError:
        return _instant(end) > _instant(start)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def english_date(day: dt.date) -> str:
    """``"Fri 25 Dec 2026"`` in English whatever the machine's locale."""
    return f"{_DAYS[day.weekday()]} {day.day:02d} {_MONTHS[day.month - 1]} {day.year}"


class SessionStatus(enum.StrEnum):
    """Where a session stands."""

    SCHEDULED = "scheduled"
    COMPLETED = "completed"
    MISSED = "missed"
    CANCELLED = "cancelled"


def _kind(value: str) -> SessionKind:
    # The scheduler passes members: the enum's own lookup only for other values.
    return value if isinstance(value, SessionKind) else SessionKind(value)


def _status(value: str) -> SessionStatus:
    return value if isinstance(value, SessionStatus) else SessionStatus(value)


@attrs.frozen
class Move:
    """Why a session is not on the date its cadence gave: one rejected ``date`` and the ``rule``."""

    date: dt.date
    rule: str

    def __str__(self) -> str:
        return f"{english_date(self.date)}: {self.rule}"


@attrs.frozen
class Session:
    """One dated appointment in a plan.

    ``key`` is stable for the life of the plan (``"induction-03"``,
    ``"induction-03-integration"``) and is what calendars and later changes
    refer to. ``index`` counts the phase's sessions from 1; a companion
    session shares the index of the session it is tied to (``anchor``).
    ``moves`` is empty unless the session moved off the date its cadence
    gave (``planned``), and then says why. ``sequence`` counts the changes
    calendars have seen (iCalendar SEQUENCE). A session ends after it starts,
    as instants: 01:15 in the hour the clocks go back repeats comes after
    01:30 in the first one.
    """

    key: str
    kind: SessionKind = attrs.field(converter=_kind)
    phase: str
    index: int = attrs.field(validator=_at_least(1))
    start: dt.datetime = attrs.field(validator=_aware)
    end: dt.datetime = attrs.field(validator=_aware)
    template: str
    status: SessionStatus = attrs.field(default=SessionStatus.SCHEDULED, converter=_status)
    anchor: str | None = None
    planned: dt.date | None = None
    moves: tuple[Move, ...] = attrs.field(default=(), converter=to_tuple)
    assessments: tuple[str, ...] = attrs.field(default=(), converter=to_tuple)
    sequence: int = attrs.field(default=0, validator=_at_least(0))

    @end.validator
    def _after_start(self, attribute: attrs.Attribute[dt.datetime], value: dt.datetime) -> None:
        # As instants: two wall-clock times in one zone compare as wall clocks,
        # and the hour the clocks go back repeats.
        if not _ends_after(self.start, value):
            raise SpecError(
                "end",
                value.isoformat(),
                f"session {self.key!r} must end after it starts ({self.start.isoformat()})",
            )

    @classmethod
    def _laid(
        cls,
        key: str,
        kind: SessionKind,
        phase: str,
        index: int,
        start: dt.datetime,
        end: dt.datetime,
        template: str,
        anchor: str | None,
        planned: dt.date | None,
        moves: tuple[Move, ...],
    ) -> Session:
        """A scheduled session the scheduler has laid: its values are what the checks and
        conversions of the usual way would give (``kind`` a member, ``start`` and ``end``
        in the clinic's zone, ``end`` a template's positive duration later, ``index`` at
        least 1), so they are set as they are. The search makes tens of sessions a plan,
        and the checks were half the cost of each."""
        session = object.__new__(cls)
        put = object.__setattr__
        put(session, "key", key)
        put(session, "kind", kind)
        put(session, "phase", phase)
        put(session, "index", index)
        put(session, "start", start)
        put(session, "end", end)
        put(session, "template", template)
        put(session, "status", SessionStatus.SCHEDULED)
        put(session, "anchor", anchor)
        put(session, "planned", planned)
        put(session, "moves", moves)
        put(session, "assessments", ())
        put(session, "sequence", 0)
        return session

    @property
    def moved(self) -> bool:
        """Whether the session is not on the date its cadence gave."""
        return bool(self.moves)

    @property
    def duration(self) -> dt.timedelta:
        """The exact length of the session."""
        return self.end - self.start
