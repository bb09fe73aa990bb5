"""The clinic calendar: time zone, opening hours, closures, holidays, chairs and bookings."""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from collections.abc import Iterable, Mapping

import attrs
import dateutil.tz

from ._cache import holidays_cached
from ._limits import check_date
from ._units import Weekday, format_duration
from ._values import pattern, to_tuple
from .exceptions import SpecError

__all__ = ["Busy", "Clinic", "Closure", "Hours", "default_hours"]


@attrs.frozen(order=True)
class Hours:
    """One opening period of a day, ``opens`` to ``closes`` in wall-clock time."""

    opens: dt.time
    closes: dt.time

    def __attrs_post_init__(self) -> None:
        if self.closes <= self.opens:
            raise SpecError(
                "clinic.hours", str(self), "the closing time comes after the opening time"
            )

    @classmethod
    def parse_day(cls, text: object, *, field: str) -> tuple[Hours, ...]:
        """Read ``"08:00-18:00"`` or ``"08:00-12:00, 13:00-17:00"``."""
        periods = []
        if not isinstance(text, str) or not text.strip():
            raise SpecError(field, text, "expected opening hours such as '08:00-18:00'")
        for part in text.split(","):
            match = re.match(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$", part)
            if match is None:
                raise SpecError(
                    field,
                    text,
                    "expected opening hours such as '08:00-18:00' or '08:00-12:00, 13:00-17:00'",
                )
            numbers = [int(group) for group in match.groups()]
            try:
                opens, closes = dt.time(numbers[0], numbers[1]), dt.time(numbers[2], numbers[3])
            except ValueError:
                raise SpecError(field, text, "hours run from 00:00 to 23:59") from None
            if closes <= opens:
                raise SpecError(
                    field, text, "each period closes after it opens, e.g. '08:00-18:00'"
                )
            periods.append(cls(opens, closes))
        return tuple(sorted(periods))

    def __str__(self) -> str:
        return f"{self.opens:%H:%M}-{self.closes:%H:%M}"


def default_hours() -> dict[Weekday, tuple[Hours, ...]]:
    """Monday to Friday, 08:00 to 18:00."""
    return {day: (Hours(dt.time(8), dt.time(18)),) for day in list(Weekday)[:5]}


@attrs.frozen
class Closure:
    """Days the clinic is closed, ``first`` to ``last`` inclusive, with the reason."""

    first: dt.date
    last: dt.date
    reason: str = "clinic closed"

    def __attrs_post_init__(self) -> None:
        check_date("clinic.closures", self.first)
        check_date("clinic.closures", self.last)
        if self.last < self.first:
            raise SpecError(
                "clinic.closures",
                f"{self.first}..{self.last}",
                "the last day comes after the first",
            )

    def covers(self, day: dt.date) -> bool:
        """Whether the clinic is closed on ``day`` by this closure."""
        return self.first <= day <= self.last


def _aware(_instance: object, attribute: attrs.Attribute[dt.datetime], value: dt.datetime) -> None:
    if not isinstance(value, dt.datetime) or value.tzinfo is None or value.utcoffset() is None:
        shown = value.isoformat() if isinstance(value, dt.date) else value
        raise SpecError(
            f"busy.{attribute.name}", shown, "expected an aware datetime (with a time zone)"
        )


def instant(value: dt.datetime) -> dt.datetime:
    """``value`` as the same instant at its fixed UTC offset.

    A local time that does not exist, because the clocks went forward over it,
    is read as RFC 5545 (3.3.5) says: with the UTC offset before the gap, so
    02:30 on the night clocks jump from 02:00 to 03:00 is 03:30. A fixed
    offset compares as an instant and is what a saved plan holds, so a value
    in the repeated autumn hour (``fold=1``) stays equal to itself once saved.
    Anything else (a naive time, not a datetime) is left for the validator.
    """
    if not isinstance(value, dt.datetime) or value.utcoffset() is None:
        return value
    if isinstance(value.tzinfo, dt.timezone):  # already fixed: every local time exists
        return value.replace(fold=0)
    try:
        if not dateutil.tz.datetime_exists(value):
            value = dateutil.tz.resolve_imaginary(value)
    except OverflowError:  # within a day of year 1 or 9999: keep the offset as given
        pass
    offset = value.utcoffset()
    if offset is None:
        return value
    return value.replace(tzinfo=dt.timezone(offset), fold=0)


@attrs.frozen
class Busy:
    """An existing booking that takes one chair from ``start`` to ``end``.

    Both are instants at a fixed UTC offset (see :func:`instant`): given in
    a zone, they are converted, and an end that is not after the start, as
    instants, is an error.
    """

    start: dt.datetime = attrs.field(converter=instant, validator=_aware)
    end: dt.datetime = attrs.field(converter=instant, validator=_aware)
    label: str = ""

    def __attrs_post_init__(self) -> None:
        if self.end <= self.start:  # fixed offsets: compared as instants
            raise SpecError(
                "busy.end",
                self.end.isoformat(),
                f"expected an end after the start ({self.start.isoformat()})",
            )


def _zone(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    _load_zone(value, "clinic.timezone")


@functools.cache
def _load_zone(key: str, field: str) -> zoneinfo.ZoneInfo:
    try:
        if not isinstance(key, str) or len(key) > 64:
            raise ValueError(key)
        return zoneinfo.ZoneInfo(key)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise SpecError(
            field, key, "expected an IANA time zone such as 'America/Toronto' or 'Europe/London'"
        ) from None


#: The weekdays by number, to look a date's up without the enum's own look-up.
_WEEKDAYS = tuple(Weekday)

_EMAIL = pattern(
    r"[^@\s\x00-\x1f\x7f<>()\[\],;:\\\"]{1,64}@[^@\s\x00-\x1f\x7f<>()\[\],;:\\\"]{1,189}"
)


def _email(value: object) -> None:
    """``clinic.email``: empty, or one plain address such as ``appointments@clinic.example``."""
    if not isinstance(value, str) or (value and not _EMAIL().fullmatch(value)):
        raise SpecError(
            "clinic.email",
            value,
            "expected one email address such as 'appointments@clinic.example', without a name or brackets",
        )


def _holiday_codes(
    _instance: object, attribute: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]
) -> None:
    for code in value:
        _holiday_calendar(code, 2000)


@functools.lru_cache(maxsize=512)
def _holiday_calendar(code: str, year: int) -> Mapping[dt.date, str]:
    """The statutory holidays of ``code`` (``"CA-ON"``) in ``year``, by date, kept in
    ketaplan's cache folder for the next process (:func:`~ketaplan._cache.holidays_cached`):
    finding one country's calendar makes ``holidays`` load every country's."""
    return holidays_cached(code, year, lambda: _holidays_of(code, year))


def _holidays_of(code: str, year: int) -> Mapping[dt.date, str]:
    """The statutory holidays of ``code`` in ``year``, from the ``holidays`` package.

    The country is looked up by its code alone: listing every supported
    country's subdivisions would load each country's calendar class.
    """
    import holidays

    country, _, subdivision = code.partition("-")
    subdivisions = _holiday_subdivisions(country)
    if subdivisions is None:
        raise SpecError(
            "clinic.holidays",
            code,
            "expected an ISO country code with an optional subdivision, such as 'CA-ON', 'GB-ENG' or 'US'",
        )
    if subdivision and subdivision not in subdivisions:
        raise SpecError(
            "clinic.holidays", code, f"{country} subdivisions are {', '.join(subdivisions)}"
        )
    calendar = holidays.country_holidays(
        country, subdiv=subdivision or None, years=year, language="en_US"
    )
    return dict(calendar.items())


def _holiday_subdivisions(country: str) -> tuple[str, ...] | None:
    """The subdivisions ``holidays`` knows for ``country`` (a code or alias), or None if unknown."""
    import holidays
    from holidays.registry import COUNTRIES

    known = any(country in names[1:] and 2 <= len(country) <= 3 for names in COUNTRIES.values())
    return tuple(getattr(holidays, country).subdivisions) if known else None


def _hours_by_day(value: Mapping[Weekday, Iterable[Hours]]) -> dict[Weekday, tuple[Hours, ...]]:
    return {Weekday(day): tuple(periods) for day, periods in sorted(value.items())}


def _by_start(value: Iterable[Busy]) -> tuple[Busy, ...]:
    return tuple(sorted(value, key=lambda busy: busy.start))


@attrs.frozen
class Clinic:
    """Where and when the clinic treats patients.

    ``timezone`` is an IANA zone; every appointment is a wall-clock time in
    it. ``hours`` maps each open weekday to its opening periods (a weekday not
    listed is closed). ``holidays`` are statutory calendars by country and
    subdivision (``"CA-ON"``); ``closures`` extra closed days; ``busy`` the
    existing bookings, of which ``chairs`` may overlap at once. ``min_gap`` is
    the least time between two dosing sessions and ``consecutive_days``
    whether dosing may fall on consecutive days. ``email`` is the address
    the clinic's calendar events name as their organizer and invitations
    come from (empty: events name no organizer, and invitations cannot be
    sent).
    """

    name: str
    timezone: str = attrs.field(validator=_zone)
    address: str = ""
    phone: str = ""
    hours: Mapping[Weekday, tuple[Hours, ...]] = attrs.field(
        factory=default_hours,
        converter=_hours_by_day,
    )
    holidays: tuple[str, ...] = attrs.field(
        default=(), converter=to_tuple, validator=_holiday_codes
    )
    closures: tuple[Closure, ...] = attrs.field(default=(), converter=to_tuple)
    min_gap: dt.timedelta = dt.timedelta(0)
    consecutive_days: bool = True
    chairs: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    busy: tuple[Busy, ...] = attrs.field(default=(), converter=_by_start)
    email: str = attrs.field(default="", validator=lambda _c, _a, value: _email(value))

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The clinic's time zone."""
        return _load_zone(self.timezone, "clinic.timezone")

    def holiday(self, day: dt.date) -> str | None:
        """The name of the statutory holiday on ``day`` (with its calendar), or ``None``."""
        for code in self.holidays:
            name = _holiday_calendar(code, day.year).get(day)
            if name is not None:
                return f"{name} ({code})"
        return None

    def closed_reason(self, day: dt.date) -> str | None:
        """Why the clinic is closed on ``day``, or ``None`` when it is open."""
        for closure in self.closures:
            if closure.covers(day):
                return f"closure: {closure.reason}"
        holiday = self.holiday(day)
        if holiday is not None:
            return f"statutory holiday: {holiday}"
        if not self.hours.get(_WEEKDAYS[day.weekday()]):
            return f"the clinic is closed on {Weekday(day.weekday()).label}s"
        return None

    def local(self, day: dt.date, time: dt.time) -> dt.datetime | None:
        """The aware datetime of wall-clock ``time`` on ``day``, or ``None`` if DST skips it."""
        found = self._local(day, time)
        return None if found is None else found[0]

    def _local(self, day: dt.date, time: dt.time) -> tuple[dt.datetime, dt.datetime] | None:
        """:meth:`local`, with the same instant in UTC."""
        zone = self.zone
        moment = dt.datetime.combine(day, time, tzinfo=zone)
        instant = moment.astimezone(dt.UTC)
        # The wall-clock time survives the round trip through UTC exactly when its
        # offset does (the same instant): a skipped time comes back an hour later.
        back = instant.astimezone(zone)
        return (moment, instant) if back.utcoffset() == moment.utcoffset() else None

    def hours_reason(self, start: dt.datetime, end: dt.datetime) -> str | None:
        """Why ``start``-``end`` falls outside opening hours, or ``None`` when it fits."""
        local_start, local_end = start.astimezone(self.zone), end.astimezone(self.zone)
        periods = self.hours.get(_WEEKDAYS[local_start.weekday()], ())
        for period in periods:
            if (
                local_end.date() == local_start.date()
                and period.opens <= local_start.time()
                and local_end.time() <= period.closes
            ):
                return None
        opening = ", ".join(str(period) for period in periods)
        length = format_duration(end - start)
        return f"a {length} session from {local_start:%H:%M} does not fit the opening hours ({opening})"
