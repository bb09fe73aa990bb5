"""Existing bookings read from .ics files: recurring series, exceptions, free/busy."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

import pytest

import ketaplan
from ketaplan._busy import read_busy

from .conftest import NOW

DATA = Path(__file__).parent / "data" / "busy"
TORONTO = zoneinfo.ZoneInfo("America/Toronto")


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2027, 1, day, hour, minute, tzinfo=TORONTO)


def test_bookings_expand_series_and_skip_what_does_not_block() -> None:
    """A weekly series keeps its moved occurrence and loses its excluded one; cancelled,
    transparent and FBTYPE=FREE entries do not block; free/busy periods do."""
    busy = read_busy(DATA / "bookings.ics", start=dt.date(2027, 1, 11), zone=TORONTO)
    expected = [
        (at(13, 9), at(13, 12)),
        (at(22, 8), at(22, 18)),
        (at(27, 13), at(27, 15)),
        (at(29, 8), at(29, 10)),
    ]
    assert expected == [(b.start, b.end) for b in busy]


def test_scheduler_works_around_full_slots_and_says_why() -> None:
    """Sessions move off the full slots, keep the freed ones, and each move names the full slot."""
    plan = ketaplan.load_plan(DATA / "plan.toml", now=NOW)
    dosing = {s.key: s for s in plan.sessions if s.kind is ketaplan.SessionKind.DOSING}
    days = [s.start.date().day for s in dosing.values()]
    assert [14, 15, 18, 20, 25, 27] == days
    assert (
        "full: the only chair is booked between 09:30 and 11:30"
        == dosing["induction-01"].moves[0].rule
    )
    assert (
        "full: the only chair is booked between 09:30 and 11:30"
        == dosing["induction-05"].moves[0].rule
    )


def test_bookings_leave_no_personal_data_in_the_plan(tmp_path: Path) -> None:
    """Another patient's name in a booking's summary never reaches the plan or its files."""
    plan = ketaplan.load_plan(DATA / "plan.toml", now=NOW)
    files = ketaplan.write_outputs(plan, tmp_path, now=NOW)
    assert all(b"Smith" not in path.read_bytes() for path in files)


def test_missing_bookings_file_names_the_field(tmp_path: Path) -> None:
    """A busy file that does not exist is a one-line error naming clinic.busy."""
    text = (DATA / "plan.toml").read_text(encoding="utf-8").replace("bookings.ics", "nope.ics")
    (tmp_path / "plan.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ketaplan.SpecError, match=r"clinic\.busy: got '.*nope\.ics'; no such file"):
        ketaplan.load_plan(tmp_path / "plan.toml", now=NOW)


def test_broken_bookings_file_names_the_field(tmp_path: Path) -> None:
    """A busy file that is not iCalendar is a one-line error naming clinic.busy."""
    (tmp_path / "bad.ics").write_text("BEGIN:VCALENDAR\nthis is not ical\n", encoding="utf-8")
    text = (DATA / "plan.toml").read_text(encoding="utf-8").replace("bookings.ics", "bad.ics")
    (tmp_path / "plan.toml").write_text(text, encoding="utf-8")
    with pytest.raises(
        ketaplan.SpecError, match=r"clinic\.busy: got '.*bad\.ics'; not a valid iCalendar file"
    ):
        ketaplan.load_plan(tmp_path / "plan.toml", now=NOW)
