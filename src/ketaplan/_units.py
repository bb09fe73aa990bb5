"""Calendar intervals, exact durations, weekdays and times of day.

A calendar interval ("every 4 weeks", "3 months after") moves a *date* on the
calendar; an exact duration ("a 120 minute session", "24 h after") measures
elapsed time. They are separate types so that one is never used for the other.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, TypeVar

import attrs

from ._values import pattern
from .exceptions import SpecError

if TYPE_CHECKING:
    from dateutil.relativedelta import relativedelta

__all__ = [
    "DurationRange",
    "Interval",
    "IntervalRange",
    "Weekday",
    "format_duration",
    "parse_duration",
    "parse_time",
]

IntervalUnit = Literal["days", "weeks", "months"]
T = TypeVar("T")

_UNIT_WORDS: dict[str, IntervalUnit] = {
    "d": "days",
    "day": "days",
    "days": "days",
    "w": "weeks",
    "wk": "weeks",
    "week": "weeks",
    "weeks": "weeks",
    "mo": "months",
    "month": "months",
    "months": "months",
}
_APPROX_DAYS: dict[IntervalUnit, float] = {"days": 1, "weeks": 7, "months": 30.44}

_INTERVAL = pattern(r"^\s*(\d+)\s*([a-z]+)\s*$")
_RANGE = pattern(r"^\s*(\d+)\s*(?:-|to)\s*(\d+)\s*([a-z]+)\s*$")


@attrs.frozen(order=False)
class Interval:
    """A calendar interval: a whole number of days, weeks or months."""

    amount: int
    unit: IntervalUnit = attrs.field(validator=attrs.validators.in_(("days", "weeks", "months")))

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.amount * _APPROX_DAYS[self.unit] <= _LONGEST_INTERVAL_DAYS:
            raise SpecError(
                "interval",
                f"{self.amount} {self.unit}",
                f"expected at most {_LONGEST_INTERVAL_DAYS} days (5 years), e.g. '2 weeks'",
            )

    @classmethod
    def parse(cls, text: str, *, field: str = "interval") -> Interval:
        """Read ``"3 days"``, ``"2 weeks"`` or ``"1 month"``."""
        match = _INTERVAL().match(text.lower()) if isinstance(text, str) else None
        if match is None or match.group(2) not in _UNIT_WORDS:
            raise SpecError(
                field, text, "expected a number and days, weeks or months, e.g. '2 weeks'"
            )
        return _checked(
            field, text, lambda: cls(_number(match.group(1)), _UNIT_WORDS[match.group(2)])
        )

    def after(self, day: dt.date) -> dt.date:
        """The date this interval after ``day``."""
        result: dt.date = day + self._delta()
        return result

    def before(self, day: dt.date) -> dt.date:
        """The date this interval before ``day``."""
        result: dt.date = day - self._delta()
        return result

    def _delta(self) -> relativedelta | dt.timedelta:
        if self.unit == "months":
            return _months(self.amount)
        return _days(self.amount * (7 if self.unit == "weeks" else 1))

    @property
    def approx_days(self) -> float:
        """Length in days, counting a month as 30.44 days: for comparisons only."""
        return self.amount * _APPROX_DAYS[self.unit]

    def __str__(self) -> str:
        unit = self.unit[:-1] if self.amount == 1 else self.unit
        return f"{self.amount} {unit}"


@functools.lru_cache(maxsize=64)
def _months(amount: int) -> relativedelta:
    from dateutil.relativedelta import relativedelta  # for intervals in months only

    return relativedelta(months=amount)


@functools.lru_cache(maxsize=64)
def _days(amount: int) -> dt.timedelta:
    # The scheduler adds a phase's few intervals to dates again and again.
    return dt.timedelta(days=amount)


def _interval_order(low: Interval, high: Interval, field: str) -> None:
    if high.approx_days < low.approx_days:
        raise SpecError(
            field, f"{low}-{high}", "the shorter interval comes first, e.g. '1-2 weeks'"
        )


@attrs.frozen
class IntervalRange:
    """A calendar interval that may fall anywhere from ``low`` to ``high``.

    A fixed interval has ``low == high``.
    """

    low: Interval
    high: Interval

    def __attrs_post_init__(self) -> None:
        _interval_order(self.low, self.high, "interval")

    @classmethod
    def parse(cls, text: str, *, field: str = "interval") -> IntervalRange:
        """Read ``"2 weeks"``, ``"1-2 weeks"`` or ``"2 to 6 weeks"``."""
        if isinstance(text, str):
            match = _RANGE().match(text.lower())
            if match is not None and match.group(3) in _UNIT_WORDS:
                unit = _UNIT_WORDS[match.group(3)]
                low, high = (_bounded(field, text, match.group(n), unit) for n in (1, 2))
                _interval_order(low, high, field)
                return cls(low, high)
        try:
            single = Interval.parse(text, field=field)
        except SpecError as error:
            if error.expected.startswith("expected at most"):
                raise
            raise SpecError(
                field, text, "expected an interval such as '2 weeks' or a range such as '1-2 weeks'"
            ) from None
        return cls(single, single)

    @property
    def fixed(self) -> bool:
        """Whether the range holds a single interval."""
        return self.low == self.high

    def contains(self, other: IntervalRange) -> bool:
        """Whether ``other`` lies inside this range."""
        return (
            self.low.approx_days <= other.low.approx_days
            and other.high.approx_days <= self.high.approx_days
        )

    def __str__(self) -> str:
        if self.fixed:
            return str(self.low)
        if self.low.unit == self.high.unit:
            return f"{self.low.amount}-{self.high.amount} {self.high.unit}"
        return f"{self.low} to {self.high}"


_DURATION = pattern(
    r"^\s*(?:(\d+)\s*(?:d|day|days))?"
    r"\s*(?:(\d+)\s*(?:h|hr|hrs|hour|hours))?"
    r"\s*(?:(\d+)\s*(?:m|min|mins|minute|minutes))?\s*$"
)


def parse_duration(text: str, *, field: str = "duration") -> dt.timedelta:
    """Read an exact duration such as ``"120 min"``, ``"2 h"`` or ``"1 h 30 min"``."""
    match = _DURATION().match(text.lower()) if isinstance(text, str) else None
    if match is None or not any(match.groups()):
        raise SpecError(
            field,
            text,
            "expected days, hours and/or minutes, e.g. '120 min', '2 h' or '1 h 30 min'",
        )
    days, hours, minutes = (_number(part) if part else 0 for part in match.groups())
    value = dt.timedelta(days=days, hours=hours, minutes=minutes)
    if value > _LONGEST_DURATION:
        raise SpecError(field, text, f"expected at most {_LONGEST_DURATION.days} days")
    return value


#: The longest exact duration read (a session, a gap, a reminder, a window).
_LONGEST_DURATION = dt.timedelta(days=366)
#: The longest calendar interval read (about a plan's longest span).
_LONGEST_INTERVAL_DAYS = 5 * 366


def _number(digits: str) -> int:
    """A whole number of at most nine digits (longer ones are out of every range here)."""
    return int(digits) if len(digits) <= 9 else 10**9


def _bounded(field: str, text: str, digits: str, unit: IntervalUnit) -> Interval:
    return _checked(field, text, lambda: Interval(_number(digits), unit))


def _checked(field: str, text: str, make: Callable[[], T]) -> T:
    """``make()``, with any SpecError renamed to ``field`` and ``text``."""
    try:
        return make()
    except SpecError as error:
        raise SpecError(field, text, error.expected) from None


def format_duration(value: dt.timedelta) -> str:
    """Write a duration the way :func:`parse_duration` reads it: ``"1 h 30 min"``."""
    minutes = int(value.total_seconds()) // 60
    sign = "-" if minutes < 0 else ""
    hours, rest = divmod(abs(minutes), 60)
    if hours and not rest and hours % 24 == 0 and hours > 24:
        return f"{sign}{hours // 24} days"
    parts = [f"{hours} h"] if hours else []
    if rest or not hours:
        parts.append(f"{rest} min")
    return sign + " ".join(parts)


@attrs.frozen
class DurationRange:
    """An exact-time window such as "24-72 h after"; ``low`` may be negative for "before"."""

    low: dt.timedelta
    high: dt.timedelta

    def __attrs_post_init__(self) -> None:
        if self.high < self.low:
            raise SpecError(
                "window",
                f"{format_duration(self.low)}-{format_duration(self.high)}",
                "the earlier bound comes first",
            )

    @classmethod
    def parse(cls, text: str, *, field: str = "window") -> DurationRange:
        """Read ``"24-72 h"``, ``"1 h"`` or ``"30 min-2 h"``."""
        if not isinstance(text, str):
            raise SpecError(field, text, "expected a window such as '24-72 h'")
        match = re.match(r"^\s*(\d+)\s*(?:-|to)\s*(\d+)\s*([a-z]+)\s*$", text.lower())
        if match:
            unit = match.group(3)
            low = parse_duration(f"{match.group(1)} {unit}", field=field)
            high = parse_duration(f"{match.group(2)} {unit}", field=field)
        elif "-" in text:
            first, _, second = text.partition("-")
            low, high = parse_duration(first, field=field), parse_duration(second, field=field)
        else:
            low = high = parse_duration(text, field=field)
        if high < low:
            raise SpecError(field, text, "the earlier bound comes first, e.g. '24-72 h'")
        return cls(low, high)

    def __str__(self) -> str:
        if self.low == self.high:
            return format_duration(self.low)
        day, hour = dt.timedelta(days=1), dt.timedelta(hours=1)
        if self.low >= 2 * day and not self.low % day and not self.high % day:
            return f"{self.low // day}-{self.high // day} days"
        if not self.low % hour and not self.high % hour:
            return f"{self.low // hour}-{self.high // hour} h"
        return f"{format_duration(self.low)} to {format_duration(self.high)}"


class Weekday(enum.IntEnum):
    """Days of the week, numbered as :meth:`datetime.date.weekday` numbers them."""

    MO = 0
    TU = 1
    WE = 2
    TH = 3
    FR = 4
    SA = 5
    SU = 6

    @classmethod
    def parse(cls, text: str, *, field: str = "weekday") -> Weekday:
        """Read a weekday as its two-letter iCalendar code (``"MO"``) or its English name."""
        key = text.strip().upper()[:2] if isinstance(text, str) else None
        if (
            key is None
            or key not in cls.__members__
            or (
                len(text.strip()) > 2 and not _FULL_NAMES[cls[key]].startswith(text.strip().lower())
            )
        ):
            raise SpecError(field, text, "expected one of MO, TU, WE, TH, FR, SA, SU")
        return cls[key]

    @property
    def label(self) -> str:
        """The English name, capitalised: ``"Monday"``."""
        return _FULL_NAMES[self].capitalize()


_FULL_NAMES = {
    Weekday.MO: "monday",
    Weekday.TU: "tuesday",
    Weekday.WE: "wednesday",
    Weekday.TH: "thursday",
    Weekday.FR: "friday",
    Weekday.SA: "saturday",
    Weekday.SU: "sunday",
}


def parse_time(text: str, *, field: str = "time") -> dt.time:
    """Read a wall-clock time of day, ``"09:30"``."""
    match = re.match(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*$", text) if isinstance(text, str) else None
    if match is None:
        raise SpecError(field, text, "expected a 24-hour time of day such as '09:30'")
    return dt.time(int(match.group(1)), int(match.group(2)))
