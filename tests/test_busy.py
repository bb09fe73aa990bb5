"""Existing bookings read from .ics files: recurring series, exceptions, free/busy."""

from __future__ import annotations

import datetime as dt
import io
import os
import random
import re
import shutil
import zoneinfo
from pathlib import Path
from typing import Any

import attrs
import pytest

import ketaplan
from ketaplan import _busy
from ketaplan._busy import read_busy
from ketaplan._cli import main

from .conftest import EXAMPLES, NOW, ROOT

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
    """Sessions move off the full slots (to a free time the same day when there is one, else to
    another day), keep the freed ones, and each move names the full slot."""
    plan = ketaplan.load_plan(DATA / "plan.toml", now=NOW)
    dosing = {s.key: s for s in plan.sessions if s.kind is ketaplan.SessionKind.DOSING}
    days = [s.start.date().day for s in dosing.values()]
    assert [13, 15, 18, 20, 25, 27] == days
    assert dt.time(12, 0) == dosing["induction-01"].start.time()
    assert (
        "09:30: full: the only chair is booked between 09:30 and 11:30"
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


# A bookings file is read strictly: a file that would be read as "no bookings"
# double-books a chair without a word. Every rejection is checked through the
# API and through the command line, which must print one line and write nothing.

MARKER = "Jane Roe"
ZONE = "America/Toronto"


def ics(*body: str) -> bytes:
    """A calendar around ``body`` lines, with CRLF line ends as RFC 5545 writes them."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Lakeside//Bookings//EN", *body]
    return ("\r\n".join([*lines, "END:VCALENDAR"]) + "\r\n").encode("utf-8")


def event(
    start: str = "20270113T090000", end: str | None = "20270113T120000", *extra: str
) -> tuple[str, ...]:
    """A VEVENT booked in Toronto whose summary names another patient: first alone in a
    calendar, its lines are 4 (BEGIN) to 10 (END), 8 the start and 9 the end."""
    return (
        "BEGIN:VEVENT",
        f"UID:{start}-{end}@lakeside.example",
        "DTSTAMP:20261201T000000Z",
        f"SUMMARY:Chair booked: {MARKER}",
        f"DTSTART;TZID={ZONE}:{start}",
        *([] if end is None else [f"DTEND;TZID={ZONE}:{end}"]),
        *extra,
        "END:VEVENT",
    )


def plan_with(tmp_path: Path, bookings: bytes, name: str = "bookings.ics") -> Path:
    """The test plan file in a fresh folder, its ``busy`` file holding ``bookings``."""
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(bookings)
    text = (DATA / "plan.toml").read_text(encoding="utf-8").replace("bookings.ics", name)
    (folder / "plan.toml").write_text(text, encoding="utf-8")
    return folder / "plan.toml"


def rejected(tmp_path: Path, plan: Path) -> str:
    """The API's message for ``plan``, after checking the CLI refuses it the same way."""
    with pytest.raises(ketaplan.SpecError) as caught:
        ketaplan.load_plan(plan, now=NOW)
    message = str(caught.value)
    out, stdout, stderr = tmp_path / "out", io.StringIO(), io.StringIO()
    assert 2 == main(["build", str(plan), "--out", str(out)], stdout=stdout, stderr=stderr)
    lines = stderr.getvalue().splitlines()
    assert [f"error: {message}"] == lines
    assert [] == (sorted(out.iterdir()) if out.exists() else [])
    assert "clinic.busy" == caught.value.field
    assert "\n" not in message
    assert len(message) < 300
    assert MARKER not in message
    assert "datetime." not in message
    return message


CUT = ics(*event())[: ics(*event()).index(b"DTEND")]

BAD_FILES = {
    "cut before END:VCALENDAR": (
        ics(*event())[: -len(b"END:VCALENDAR\r\n")],
        r"not a valid iCalendar file: line 10: the file ends inside a VCALENDAR \(begun at line 1\);"
        r" expected END:VCALENDAR$",
    ),
    "cut inside an event": (
        b"\r\n".join(
            ics(*event(), *event("20270114T090000", "20270114T120000")).split(b"\r\n")[:15]
        ),
        r"not a valid iCalendar file: line 15: the file ends inside a VEVENT \(begun at line 11\);"
        r" expected END:VEVENT and END:VCALENDAR$",
    ),
    "cut inside a line": (
        CUT + b"DTEND;TZID=America/Tor",
        r"line 9: the file ends inside a VEVENT \(begun at line 4\); expected END:VEVENT and END:VCALENDAR$",
    ),
    "cut between CR and LF": (
        ics(*event())[: ics(*event()).index(b"END:VEVENT\r") + 11],
        r"^clinic\.busy: got '.*bookings\.ics'; not a valid iCalendar file: line 10: the file ends"
        r" inside a VCALENDAR",
    ),
    "empty": (b"", r"got '.*bookings\.ics'; the file is empty; expected an iCalendar file"),
    "only whitespace": (b" \r\n\r\n\t\n", r"; the file is empty; expected an iCalendar file"),
    "a vCard": (
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{MARKER}\r\nEND:VCARD\r\n".encode(),
        r"not a valid iCalendar file: line 1: a vCard \(BEGIN:VCARD\) where a calendar begins;"
        r" expected BEGIN:VCALENDAR$",
    ),
    "binary": (
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 12,
        r"not a valid iCalendar file: line 3: binary data \(a NUL byte\); expected a text file$",
    ),
    "not UTF-8": (
        ics(*event()).replace(MARKER.encode(), "Jöhn Roe".encode("latin-1")),
        r"not a valid iCalendar file: line 7: bytes that are not UTF-8 text; expected an iCalendar"
        r" file in UTF-8$",
    ),
    "a control character": (
        ics(*event()).replace(b"Chair", b"Ch\x1bair"),
        r"not a valid iCalendar file: line 7: a control character",
    ),
    "lines ending in CR alone": (
        ics(*event()).replace(b"\r\n", b"\r"),
        r"not a valid iCalendar file: line 1: a carriage return without a line feed; expected lines"
        r" that end in CRLF or LF$",
    ),
    "a broken line naming a patient": (
        ics(*event()).replace(f"SUMMARY:Chair booked: {MARKER}".encode(), MARKER.encode()),
        r"not a valid iCalendar file: line 7: not a content line; expected NAME:value",
    ),
    "an END that closes the wrong component": (
        ics(*event()[:-1], "END:VTODO"),
        r"line 10: END:VTODO inside a VEVENT \(begun at line 4\); expected END:VEVENT$",
    ),
    "an event inside an event": (
        ics(*event()[:-1], *event()),
        r"line 10: BEGIN:VEVENT inside a VEVENT \(begun at line 4\); expected END:VEVENT before it$",
    ),
    "two starts": (
        ics(*event("20270113T090000", "20270113T120000", "DTSTART:20270114T090000")),
        r"line 10: a second DTSTART in a VEVENT \(begun at line 4\); expected one DTSTART$",
    ),
    "no DTSTART": (
        ics(*(line for line in event() if not line.startswith("DTSTART"))),
        r"got '.*bookings\.ics'; the event at line 4 has no DTSTART; every booking needs a start$",
    ),
    "a start naming a patient": (
        ics(*event(f"{MARKER}")),
        r"line 8: the event's DTSTART cannot be read; expected a date such as 20270113",
    ),
    "an end before the start": (
        ics(*event("20270113T090000", "20270113T080000")),
        r"the event at line 4 ends before it starts \(DTEND at line 9\); expected an end at or after"
        r" the start",
    ),
    "a negative duration": (
        ics(*event("20270113T090000", None, "DURATION:-PT1H")),
        r"the event at line 4 ends before it starts \(DURATION at line 9\); expected an end at or"
        r" after the start",
    ),
    "a broken rule": (
        ics(*event("20270113T090000", "20270113T120000", "RRULE:FREQ=WEEKLY;COU,T=3")),
        r"line 10: the event's RRULE cannot be read; expected a recurrence rule",
    ),
    "a broken time zone": (
        ics(
            "BEGIN:VTIMEZONE",
            "TZID:Lakeside",
            "BEGIN:STANDARD",
            "DTSTART:20261101T020000",
            "TZOFFSETTO:-0500",
            "END:STANDARD",
            "END:VTIMEZONE",
            *(line.replace(ZONE, "Lakeside") for line in event()),
        ),
        r"the VTIMEZONE at line 4 cannot be read; expected a TZID and STANDARD or DAYLIGHT parts",
    ),
    "a free/busy period ending before it starts": (
        ics(
            "BEGIN:VFREEBUSY",
            "UID:fb@lakeside.example",
            "DTSTAMP:20261201T000000Z",
            "FREEBUSY:20270122T130000Z/20270122T030000Z",
            "END:VFREEBUSY",
        ),
        r"line 7: FREEBUSY cannot be read; expected periods such as",
    ),
    "an end past the year 9999": (
        ics(*event("99991231T220000", None, "DURATION:P3D")),
        r"the event at line 4 ends after the year 9999; expected dates before 9999-12-31$",
    ),
    "a rule repeating every minute without end": (
        ics(*event("20270113T090000", "20270113T090100", "RRULE:FREQ=MINUTELY")),
        r"line 10: the event at line 4 repeats \(FREQ=MINUTELY\) more than 100,000 times before"
        r" 2028-07-14; expected a COUNT or UNTIL that gives at most 100,000 bookings$",
    ),
    "a rule repeating every second before the plan starts": (
        ics(
            *event(
                "20260113T090000", "20260113T090001", "RRULE:FREQ=SECONDLY;UNTIL=20261231T000000Z"
            )
        ),
        r"line 10: the event at line 4 repeats \(FREQ=SECONDLY\) more than 100,000 times",
    ),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_bookings_file_that_cannot_be_trusted_is_refused(tmp_path: Path, name: str) -> None:
    """A cut-off, empty, foreign, binary or broken bookings file, and a booking without a start,
    ending before it starts or repeating without bound, is an error naming clinic.busy, the file
    and the line, never the booking's text; the CLI prints it on one line and writes nothing."""
    data, pattern = BAD_FILES[name]
    message = rejected(tmp_path, plan_with(tmp_path, data))
    assert re.search(pattern, message), message


def test_a_cut_off_file_loses_no_booking_silently(tmp_path: Path) -> None:
    """The example bookings file cut after any line but its last is refused: the complete
    bookings before the cut are never read as if they were all there were."""
    data = (EXAMPLES / "clinic-bookings.ics").read_bytes()
    lines = data.split(b"\r\n")
    for count in range(1, len(lines) - 2):
        if lines[count - 1] == b"END:VCALENDAR":  # a whole calendar: the file may end there
            continue
        path = tmp_path / f"cut-{count}.ics"
        path.write_bytes(b"\r\n".join(lines[:count]) + b"\r\n")
        with pytest.raises(
            ketaplan.SpecError,
            match=r"the file ends inside a (VCALENDAR|VEVENT|VTIMEZONE|STANDARD|DAYLIGHT|VFREEBUSY)",
        ):
            read_busy(path, start=dt.date(2027, 1, 11), zone=TORONTO)


def test_the_documented_cut_off_message_is_the_one_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/plan-file.md shows the line `ketaplan build` prints for the example bookings cut
    after line 41, word for word."""
    lines = (EXAMPLES / "clinic-bookings.ics").read_bytes().split(b"\r\n")
    (tmp_path / "clinic-bookings.ics").write_bytes(b"\r\n".join(lines[:41]) + b"\r\n")
    shutil.copy(EXAMPLES / "busy-clinic.toml", tmp_path / "busy-clinic.toml")
    monkeypatch.chdir(tmp_path)
    stderr = io.StringIO()
    assert 2 == main(
        ["build", "busy-clinic.toml", "--out", "out"], stdout=io.StringIO(), stderr=stderr
    )
    printed = stderr.getvalue().strip()
    assert printed.startswith("error: clinic.busy: got 'clinic-bookings.ics'; not a valid")
    assert printed in (ROOT / "docs" / "plan-file.md").read_text(encoding="utf-8")


def test_a_folder_is_refused(tmp_path: Path) -> None:
    """A busy entry that names a folder is an error saying so, not "no bookings"."""
    plan = plan_with(tmp_path, b"")
    (plan.parent / "bookings.ics").unlink()
    (plan.parent / "bookings.ics").mkdir()
    assert rejected(tmp_path, plan).endswith("; expected a file, not a folder")


def test_an_unreadable_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bookings file that cannot be opened is an error with the reason, not "no bookings"."""
    plan = plan_with(tmp_path, ics(*event()))
    bookings = plan.parent / "bookings.ics"
    real_open = os.open

    def refuse(path: object, *args: Any, **kwargs: Any) -> int:
        if Path(str(path)) == bookings:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refuse)
    assert rejected(tmp_path, plan).endswith("; the file cannot be read (Permission denied)")


def test_a_long_path_keeps_its_file_name_in_the_message(tmp_path: Path) -> None:
    """A bookings file deep in folders is named by the end of its path, so its name shows."""
    folder = tmp_path.joinpath(*["clinic-records-archive"] * 6)
    folder.mkdir(parents=True)
    (folder / "bookings-lakeside.ics").write_bytes(b"")
    with pytest.raises(
        ketaplan.SpecError, match=r"got '\.\.\..*/bookings-lakeside\.ics'; the file is empty"
    ):
        read_busy(folder / "bookings-lakeside.ics", start=dt.date(2027, 1, 11), zone=TORONTO)


def test_more_bookings_than_the_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More busy events (occurrences counted one by one) than MAX_BUSY in the window is an
    error stating the limit; up to the limit is read."""
    monkeypatch.setattr(_busy, "MAX_BUSY", 3)
    three = ics(*event("20270113T090000", "20270113T120000", "RRULE:FREQ=WEEKLY;COUNT=3"))
    assert 3 == len(
        read_busy(
            plan_with(tmp_path, three).parent / "bookings.ics",
            start=dt.date(2027, 1, 11),
            zone=TORONTO,
        )
    )
    four = ics(
        *event("20270113T090000", "20270113T120000", "RRULE:FREQ=WEEKLY;COUNT=3"),
        *event("20270115T090000", "20270115T120000"),
    )
    message = rejected(tmp_path, plan_with(tmp_path, four))
    assert message.endswith(
        "; more than 3 bookings between 2027-01-11 and 2028-07-14; expected at most 3 bookings in a file"
    )


def test_the_limit_is_one_hundred_thousand() -> None:
    """The documented limit on bookings read from one file."""
    assert 100_000 == _busy.MAX_BUSY


@pytest.mark.parametrize("until", ["20270126T000000Z", "20270126T000000", "20270126"])
def test_a_series_ending_in_any_common_until_form_is_read(tmp_path: Path, until: str) -> None:
    """Strict reading still takes the UNTIL forms calendar programs write beside a zoned start
    (UTC as RFC 5545 asks, floating, or a date), and ends the series there."""
    path = tmp_path / "bookings.ics"
    rule = f"RRULE:FREQ=WEEKLY;UNTIL={until}"
    path.write_bytes(ics(*event("20270113T090000", "20270113T120000", rule)))
    busy = read_busy(path, start=dt.date(2027, 1, 11), zone=TORONTO)
    assert [(at(13, 9), at(13, 12)), (at(20, 9), at(20, 12))] == [(b.start, b.end) for b in busy]


def test_each_file_is_read_with_its_own_time_zone_definitions(tmp_path: Path) -> None:
    """Two files defining the same non-IANA TZID differently are each read with their own
    VTIMEZONE, not with whichever file was read first."""

    def defined(offset: str) -> bytes:
        zone = (
            "BEGIN:VTIMEZONE",
            "TZID:Lakeside Local",
            "BEGIN:STANDARD",
            "DTSTART:19700101T000000",
            f"TZOFFSETFROM:{offset}",
            f"TZOFFSETTO:{offset}",
            "END:STANDARD",
            "END:VTIMEZONE",
        )
        return ics(*zone, *(line.replace(ZONE, "Lakeside Local") for line in event()))

    starts = []
    for name, offset in (("west.ics", "-0500"), ("east.ics", "+0100")):
        (tmp_path / name).write_bytes(defined(offset))
        busy = read_busy(tmp_path / name, start=dt.date(2027, 1, 11), zone=TORONTO)
        starts.extend(b.start.isoformat() for b in busy)
    assert ["2027-01-13T09:00:00-05:00", "2027-01-13T09:00:00+01:00"] == starts


def test_a_booking_that_lasts_no_time_blocks_nothing(tmp_path: Path) -> None:
    """DTEND equal to DTSTART is legal iCalendar: such a booking is skipped, not refused."""
    data = ics(
        *event("20270113T090000", "20270113T090000"), *event("20270114T090000", "20270114T100000")
    )
    path = tmp_path / "bookings.ics"
    path.write_bytes(data)
    busy = read_busy(path, start=dt.date(2027, 1, 11), zone=TORONTO)
    assert [(at(14, 9), at(14, 10))] == [(b.start, b.end) for b in busy]


SPRING = dt.date(2027, 3, 14)  # Toronto's clocks go from 02:00 to 03:00
AUTUMN = dt.date(2027, 11, 7)  # and back from 02:00 to 01:00


def toronto(day: dt.date, hour: int, minute: int = 0, fold: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute, fold=fold), tzinfo=TORONTO)


def test_a_time_skipped_by_the_clocks_is_read_with_the_offset_before_the_gap(
    tmp_path: Path,
) -> None:
    """As RFC 5545 says, 02:30 on the night of the spring change is 02:30 EST, i.e. 03:30 EDT:
    02:30-03:30 blocks nothing, 02:30-04:00 blocks 03:30-04:00, 01:30-02:30 blocks to 03:30."""
    data = ics(
        *event("20270314T023000", "20270314T033000"),
        *event("20270314T023000", "20270314T040000"),
        *event("20270314T013000", "20270314T023000"),
    )
    path = tmp_path / "bookings.ics"
    path.write_bytes(data)
    busy = read_busy(path, start=dt.date(2027, 3, 8), zone=TORONTO)
    expected = [
        ("2027-03-14T01:30:00-05:00", "2027-03-14T03:30:00-04:00"),
        ("2027-03-14T03:30:00-04:00", "2027-03-14T04:00:00-04:00"),
    ]
    assert expected == [(b.start.isoformat(), b.end.isoformat()) for b in busy]


def test_bookings_around_the_clock_changes_survive_a_build_and_load_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plan whose bookings fall in the spring gap and the repeated autumn hour builds with the
    CLI; `ketaplan sessions` reads the saved plan and it loads back equal to the plan built."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(NOW.timestamp())))
    data = ics(
        *event("20270314T023000", "20270314T033000"),
        *event("20270314T023000", "20270314T040000"),
        *event("20270314T013000", "20270314T023000"),
        *event("20271107T010000", "20271107T013000"),
        *event("20271107T013000", "20271107T020000"),
    )
    plan_file = plan_with(tmp_path, data)
    text = plan_file.read_text(encoding="utf-8").replace("start = 2027-01-11", "start = 2027-03-08")
    plan_file.write_text(text, encoding="utf-8")
    plan = ketaplan.load_plan(plan_file, now=NOW)
    out = tmp_path / "out"
    assert 0 == main(
        ["build", str(plan_file), "--out", str(out)], stdout=io.StringIO(), stderr=io.StringIO()
    )
    saved = out / f"{plan.id}.json"
    assert 0 == main(["sessions", str(saved)], stdout=io.StringIO(), stderr=io.StringIO())
    loaded = ketaplan.load_plan(saved, now=NOW)
    assert plan.clinic.busy == loaded.clinic.busy
    assert plan == loaded
    assert 4 == len(loaded.clinic.busy)


def test_a_booking_in_the_repeated_hour_survives_a_json_round_trip() -> None:
    """Busy made from the second 01:30 of the autumn change (fold=1) keeps its instant and stays
    equal to itself once saved and loaded, as does one from the first 01:30."""
    plan = ketaplan.load_plan(DATA / "plan.toml", now=NOW)
    busy = (
        ketaplan.Busy(toronto(AUTUMN, 1, 30), toronto(AUTUMN, 1, 45)),
        ketaplan.Busy(toronto(AUTUMN, 1, 30, fold=1), toronto(AUTUMN, 2, 0)),
    )
    assert ["2027-11-07T05:30:00+00:00", "2027-11-07T06:30:00+00:00"] == [
        b.start.astimezone(dt.UTC).isoformat() for b in busy
    ]
    changed = attrs.evolve(plan, clinic=attrs.evolve(plan.clinic, busy=busy))
    assert changed == ketaplan.plan_from_json(ketaplan.plan_to_json(changed))


def test_busy_compares_instants_and_reads_a_skipped_time_as_rfc_5545_does() -> None:
    """Busy(02:30, 03:30) on the night of the spring change lasts no time, so it is an error
    (in words, without Python reprs), while 02:30-04:00 holds 03:30-04:00."""
    with pytest.raises(ketaplan.SpecError) as caught:
        ketaplan.Busy(toronto(SPRING, 2, 30), toronto(SPRING, 3, 30))
    assert (
        "busy.end: got '2027-03-14T03:30:00-04:00'; expected an end after the start"
        " (2027-03-14T03:30:00-04:00)"
    ) == str(caught.value)
    busy = ketaplan.Busy(toronto(SPRING, 2, 30), toronto(SPRING, 4))
    assert (toronto(SPRING, 3, 30), toronto(SPRING, 4)) == (busy.start, busy.end)


def test_a_naive_busy_time_is_refused_in_words() -> None:
    """A Busy without a time zone is an error that shows the time as ISO 8601, not a repr."""
    with pytest.raises(ketaplan.SpecError) as caught:
        ketaplan.Busy(dt.datetime(2027, 1, 13, 9), toronto(dt.date(2027, 1, 13), 10))
    assert (
        "busy.start: got '2027-01-13T09:00:00'; expected an aware datetime (with a time zone)"
        == str(caught.value)
    )


def test_bookings_near_the_year_9999_are_read_within_the_last_days_there_are(
    tmp_path: Path,
) -> None:
    """A plan starting in June or on the last day of 9999 reads its bookings up to the last
    day there is instead of failing to add 550 days."""
    path = tmp_path / "bookings.ics"
    path.write_bytes(ics(*event("99991201T090000", "99991201T120000", "RRULE:FREQ=WEEKLY")))
    busy = read_busy(path, start=dt.date(9999, 6, 1), zone=TORONTO)
    assert [1, 8, 15, 22, 29] == [b.start.day for b in busy]
    assert () == read_busy(path, start=dt.date(9999, 12, 31), zone=TORONTO)
    assert () == read_busy(DATA / "bookings.ics", start=dt.date(9999, 6, 1), zone=TORONTO)


def mutations(data: bytes, rng: random.Random) -> bytes:
    """``data`` with one to three random cuts, lost, doubled or swapped lines, or garbage."""
    lines = data.split(b"\n")
    for _ in range(rng.randint(1, 3)):
        change = rng.choice(["cut", "delete", "duplicate", "swap", "garbage", "bytes", "digit"])
        where = rng.randrange(len(lines)) if lines else 0
        if change == "cut":
            joined = b"\n".join(lines)
            lines = joined[: rng.randrange(len(joined) + 1)].split(b"\n")
        elif change == "delete" and lines:
            del lines[where]
        elif change == "duplicate" and lines:
            lines.insert(where, lines[where])
        elif change == "swap" and lines:
            other = rng.randrange(len(lines))
            lines[where], lines[other] = lines[other], lines[where]
        elif change == "garbage":
            noise = bytes(rng.randrange(32, 127) for _ in range(rng.randint(1, 40)))
            lines.insert(where, noise)
        elif change == "bytes" and lines:
            cut = rng.randrange(len(lines[where]) + 1)
            noise = bytes(rng.randrange(128, 256) for _ in range(rng.randint(1, 4)))
            lines[where] = lines[where][:cut] + noise + lines[where][cut:]
        elif change == "digit" and lines and lines[where]:
            line = bytearray(lines[where])
            line[rng.randrange(len(line))] = rng.choice(b"0123456789:;=,-/TZ ")
            lines[where] = bytes(line)
    return b"\n".join(lines)


def test_mutated_bookings_files_are_read_or_refused_cleanly(tmp_path: Path) -> None:
    """300 random mutations of the bookings files are either read or refused with a one-line
    SpecError under 300 characters that never repeats a booking's summary or description."""
    sources = []
    for source in (DATA / "bookings.ics", EXAMPLES / "clinic-bookings.ics"):
        text = source.read_bytes().decode("utf-8")
        text = re.sub(r"(?m)^(SUMMARY|DESCRIPTION):(.*?)\r?$", rf"\1:\2 {MARKER}\r", text)
        text = text.replace("END:VEVENT", f"DESCRIPTION:Call {MARKER} at home\r\nEND:VEVENT")
        sources.append(text.encode("utf-8"))
    assert all(source.count(MARKER.encode()) >= 4 for source in sources)
    rng = random.Random(5545)
    outcomes = {"read": 0, "refused": 0}
    for case in range(300):
        path = tmp_path / f"case-{case}.ics"
        path.write_bytes(mutations(rng.choice(sources), rng))
        try:
            read_busy(path, start=dt.date(2027, 1, 11), zone=TORONTO)
        except ketaplan.SpecError as error:
            message = str(error)
            assert "\n" not in message, message
            assert len(message) < 300, message
            assert MARKER not in message, message
            outcomes["refused"] += 1
        else:
            outcomes["read"] += 1
    assert outcomes["read"] > 0
    assert outcomes["refused"] > 0
