"""The bounds on a plan, so that every input is answered quickly and in little memory.

docs/plan-file.md ("Limits") lists them for users; a value beyond one is
refused with a :class:`~ketaplan.SpecError` or :class:`~ketaplan.ScheduleError`
naming the field and the limit.
"""

from __future__ import annotations

import datetime as dt

from .exceptions import SpecError

__all__ = [
    "EARLIEST_DATE",
    "EARLIEST_START",
    "LATEST_DATE",
    "LATEST_START",
    "MAX_SESSIONS_PER_PHASE",
    "MAX_SPAN",
    "check_date",
    "check_sessions",
    "check_start",
]

#: The most sessions one phase may have (a year of daily sessions fits).
MAX_SESSIONS_PER_PHASE = 400
#: How long after its start a plan may run: no session is placed later.
MAX_SPAN = dt.timedelta(days=5 * 366)
#: The range of start dates a plan may have.
EARLIEST_START = dt.date(2000, 1, 1)
LATEST_START = dt.date(2199, 12, 31)


def check_sessions(field: str, value: int) -> None:
    """Refuse a number of sessions below 1 or above :data:`MAX_SESSIONS_PER_PHASE`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(field, value, "expected a whole number of sessions, e.g. 6")
    if not 1 <= value <= MAX_SESSIONS_PER_PHASE:
        raise SpecError(field, value, f"expected a whole number from 1 to {MAX_SESSIONS_PER_PHASE}")


def check_start(field: str, value: dt.date) -> None:
    """Refuse a start date outside :data:`EARLIEST_START` to :data:`LATEST_START`."""
    if not EARLIEST_START <= value <= LATEST_START:
        raise SpecError(
            field,
            value.isoformat(),
            f"expected a date from {EARLIEST_START.isoformat()} to {LATEST_START.isoformat()}",
        )


#: The range of any date a plan holds (closures, bookings, a phase's end).
EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2999, 12, 31)


def check_date(field: str, value: dt.date) -> None:
    """Refuse a date outside :data:`EARLIEST_DATE` to :data:`LATEST_DATE`."""
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise SpecError(
            field,
            value.isoformat(),
            f"expected a date from {EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()}",
        )


def span_end(start: dt.date) -> dt.date:
    """The last day a plan starting on ``start`` may use."""
    return start + MAX_SPAN
