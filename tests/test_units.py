"""Calendar intervals, durations, weekdays and times: parsing and arithmetic."""

from __future__ import annotations

import datetime as dt

import pytest

import ketaplan
from ketaplan._units import format_duration, parse_duration, parse_time


def test_month_interval_is_calendar_not_thirty_days() -> None:
    """One month after 31 January is the last day of February, not 2 March."""
    assert dt.date(2027, 2, 28) == ketaplan.Interval.parse("1 month").after(dt.date(2027, 1, 31))


def test_interval_range_parses_both_forms() -> None:
    """'1-2 weeks' and '2 to 6 weeks' are ranges; '2 weeks' is fixed."""
    assert str(ketaplan.IntervalRange.parse("1-2 weeks")) == "1-2 weeks"
    assert str(ketaplan.IntervalRange.parse("2 to 6 weeks")) == "2-6 weeks"
    assert ketaplan.IntervalRange.parse("2 weeks").fixed


def test_reversed_range_is_rejected() -> None:
    """A range whose longer interval comes first is an error that shows the value."""
    with pytest.raises(ketaplan.SpecError, match="the shorter interval comes first"):
        ketaplan.IntervalRange.parse("6-2 weeks")


@pytest.mark.parametrize(
    ("text", "minutes"), [("120 min", 120), ("2 h", 120), ("1 h 30 min", 90), ("1 day", 1440)]
)
def test_durations(text: str, minutes: int) -> None:
    """Durations read in minutes, hours and days."""
    assert dt.timedelta(minutes=minutes) == parse_duration(text)


def test_duration_round_trips_through_its_text() -> None:
    """format_duration writes what parse_duration reads back."""
    for minutes in (5, 60, 90, 150, 24 * 60, 72 * 60):
        value = dt.timedelta(minutes=minutes)
        assert value == parse_duration(format_duration(value))


def test_weekday_accepts_codes_and_names() -> None:
    """Weekdays read as iCalendar codes or English names, in any case."""
    assert [
        ketaplan.Weekday.parse("mo"),
        ketaplan.Weekday.parse("Thursday"),
    ] == [ketaplan.Weekday.MO, ketaplan.Weekday.TH]


def test_bad_time_names_the_field() -> None:
    """A time that is not HH:MM is rejected with the field name."""
    with pytest.raises(ketaplan.SpecError, match=r"plan\.time: got '9am'"):
        parse_time("9am", field="plan.time")
