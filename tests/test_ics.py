"""The patient's .ics, read back with four independent iCalendar parsers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

import attrs
import icalendar
import ics
import pytest
import vobject
from ical.calendar_stream import IcsCalendarStream

import ketaplan

from .conftest import EXAMPLES, NOW

PLANS = sorted(EXAMPLES.glob("*.toml")) + sorted(
    (Path(__file__).parent / "data" / "plans").glob("*.toml")
)


@dataclasses.dataclass(frozen=True)
class Read:
    """What a parser saw of one event: UID and start and end in UTC."""

    uid: str
    start: dt.datetime
    end: dt.datetime


def utc(value: dt.datetime) -> dt.datetime:
    assert value.tzinfo is not None, f"{value!r} has no zone: its TZID was not resolved"
    return value.astimezone(dt.UTC)


def read_icalendar(data: bytes) -> set[Read]:
    calendar = icalendar.Calendar.from_ical(data)
    return {Read(str(e["UID"]), utc(e.start), utc(e.end)) for e in calendar.walk("VEVENT")}


def read_vobject(data: bytes) -> set[Read]:
    # vobject keeps the first VTIMEZONE it sees for each TZID for the rest of
    # the process; each file defines its zone for its own span only, so forget
    # earlier files' zones before reading this one.
    zones = vars(vobject.icalendar)["__tzidMap"]
    for tzid in [key for key in zones if key != "UTC"]:
        del zones[tzid]
    calendar = vobject.readOne(data.decode())
    return {
        Read(e.uid.value, utc(e.dtstart.value), utc(e.dtend.value)) for e in calendar.vevent_list
    }


def read_ics_py(data: bytes) -> set[Read]:
    calendar = ics.Calendar(data.decode())
    return {
        Read(e.uid, e.begin.datetime.astimezone(dt.UTC), e.end.datetime.astimezone(dt.UTC))
        for e in calendar.events
    }


def read_ical_strict(data: bytes) -> set[Read]:
    calendar = IcsCalendarStream.calendar_from_ics(data.decode())
    return {Read(e.uid or "", utc(e.dtstart), utc(e.dtend)) for e in calendar.events}  # type: ignore[arg-type]


PARSERS = [read_icalendar, read_vobject, read_ics_py, read_ical_strict]


def build(path: Path, audience: str = "patient") -> tuple[ketaplan.Plan, bytes]:
    plan = ketaplan.load_plan(path, now=NOW)
    return plan, ketaplan.render_ics(plan, now=NOW, audience=audience)  # type: ignore[arg-type]


@pytest.mark.parametrize("audience", ["patient", "clinic"])
@pytest.mark.parametrize("path", PLANS, ids=lambda p: p.stem)
@pytest.mark.parametrize("parser", PARSERS, ids=lambda f: f.__name__)
def test_every_parser_reads_every_session(path: Path, parser: object, audience: str) -> None:
    """Each parser finds one event per session in both calendars, with exact start and end
    instants; the patient's calendar uses the plan's UIDs."""
    plan, data = build(path, audience)
    found = parser(data)  # type: ignore[operator]
    instants = {(s.start.astimezone(dt.UTC), s.end.astimezone(dt.UTC)) for s in plan.sessions}
    assert instants == {(read.start, read.end) for read in found}
    assert len(plan.sessions) == len({read.uid for read in found})
    if audience == "patient":
        assert {plan.uid(s) for s in plan.sessions} == {read.uid for read in found}


@pytest.mark.parametrize("path", PLANS, ids=lambda p: p.stem)
def test_every_tzid_has_a_vtimezone_covering_the_plan(path: Path) -> None:
    """Every TZID an event uses is defined by a VTIMEZONE in the file (Outlook needs it)."""
    plan, data = build(path)
    calendar = icalendar.Calendar.from_ical(data)
    defined = {str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")}
    used = set(re.findall(rb";TZID=([^:;]+)", data))
    assert {plan.clinic.timezone} == defined == {tzid.decode() for tzid in used}


@pytest.mark.parametrize("path", PLANS, ids=lambda p: p.stem)
def test_wall_clock_times_in_the_file_are_the_clinic_times(path: Path) -> None:
    """DTSTART carries the clinic's wall-clock time, not a UTC time shifted across DST."""
    plan, data = build(path)
    starts = set(re.findall(rb"DTSTART;TZID=[^:]+:(\d{8}T\d{6})", data))
    expected = {
        s.start.astimezone(plan.clinic.zone).strftime("%Y%m%dT%H%M%S").encode()
        for s in plan.sessions
    }
    assert expected == starts


@pytest.mark.parametrize("path", PLANS, ids=lambda p: p.stem)
def test_uids_carry_no_personal_data(path: Path) -> None:
    """UIDs are opaque: no patient name or reference, plan id or session key shows through."""
    _plan, data = build(path)
    calendar = icalendar.Calendar.from_ical(data)
    for event in calendar.walk("VEVENT"):
        uid = str(event["UID"])
        assert re.fullmatch(r"[0-9a-f]{32}@ketaplan", uid)


@pytest.mark.parametrize("path", PLANS, ids=lambda p: p.stem)
def test_default_privacy_names_neither_patient_nor_drug(path: Path) -> None:
    """Unless the plan asks for full detail, the calendar never names the patient, the drug or the route."""
    plan, data = build(path)
    text = icalendar.Calendar.from_ical(data).to_ical().decode().lower()
    unfolded = re.sub(r"\r\n[ \t]", "", data.decode()).lower()
    words = [plan.protocol.drug, "ketamine", "esketamine", plan.protocol.route.name]
    if plan.patient.name:
        words.append(plan.patient.name.lower())
    if plan.patient.ref:
        words.append(plan.patient.ref.lower())
    found = [word for word in words if word in unfolded or word in text]
    if plan.calendar.privacy == "full":
        assert plan.patient.name.lower() in unfolded
    else:
        assert found == []


def test_full_privacy_names_patient_and_session_n_of_n() -> None:
    """At the full level an event says who, which phase and which session of how many."""
    _plan, data = build(Path(__file__).parent / "data" / "plans" / "tokyo-iv-full.toml")
    summaries = [str(e["SUMMARY"]) for e in icalendar.Calendar.from_ical(data).walk("VEVENT")]
    assert "IV infusion session (Induction series, 3 of 6): 山田 花子" in summaries


def test_minimal_privacy_says_only_appointment() -> None:
    """At the minimal level every event is just an appointment at the clinic's address."""
    plan, data = build(Path(__file__).parent / "data" / "plans" / "toronto-fall-back.toml")
    events = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert {"Appointment"} == {str(e["SUMMARY"]) for e in events}
    assert {plan.clinic.address} == {str(e["LOCATION"]) for e in events}
    assert all("DESCRIPTION" not in e for e in events)


def test_description_holds_preparation_and_aftercare() -> None:
    """Because some clients drop alarms, the event text itself says how to prepare and what to avoid after."""
    _plan, data = build(Path(__file__).parent / "data" / "plans" / "sydney-iv-markup.toml")
    event = next(
        e
        for e in icalendar.Calendar.from_ical(data).walk("VEVENT")
        if str(e["SUMMARY"]) == "Treatment session"
    )
    description = str(event["DESCRIPTION"])
    assert "Arrange for an adult to drive you home" in description
    assert "Do not drive, make important decisions or drink alcohol for 24 hours." in description


def test_unusual_text_survives_other_parsers() -> None:
    """Commas, semicolons and quotes in the clinic's address come back intact from vobject and ical."""
    _plan, data = build(Path(__file__).parent / "data" / "plans" / "sydney-iv-markup.toml")
    expected = 'Harbourside Wellbeing, 1 Macquarie St, Sydney NSW 2000; Level 4, Suite "B"'
    assert {expected} == {e.location.value for e in vobject.readOne(data.decode()).vevent_list}
    assert {expected} == {
        e.location for e in IcsCalendarStream.calendar_from_ics(data.decode()).events
    }


def test_moved_session_says_why_in_calendar() -> None:
    """A session moved off a holiday carries the reason in its event text."""
    plan, data = build(Path(__file__).parent / "data" / "plans" / "sydney-iv-markup.toml")
    moved = [s for s in plan.sessions if s.moves]
    assert moved
    events = {
        str(e["UID"]): str(e.get("DESCRIPTION", ""))
        for e in icalendar.Calendar.from_ical(data).walk("VEVENT")
    }
    for session in moved:
        assert f"Moved: {session.moves[0]}" in events[plan.uid(session)]


def test_render_is_byte_identical() -> None:
    """The same plan and generation time give the same bytes."""
    first = build(PLANS[0])[1]
    second = build(PLANS[0])[1]
    assert first == second


def test_dtstamp_is_the_generation_time() -> None:
    """DTSTAMP is the given generation time, never the clock."""
    _plan, data = build(PLANS[0])
    stamps = {e.decoded("DTSTAMP") for e in icalendar.Calendar.from_ical(data).walk("VEVENT")}
    assert {NOW} == stamps


def test_alarms_follow_the_plan_reminders() -> None:
    """Each event has one display alarm per reminder, a day and two hours before by default."""
    _plan, data = build(PLANS[0])
    event = icalendar.Calendar.from_ical(data).walk("VEVENT")[0]
    triggers = sorted(alarm.decoded("TRIGGER") for alarm in event.walk("VALARM"))
    assert [-dt.timedelta(days=1), -dt.timedelta(hours=2)] == triggers


def test_clinic_calendar_has_full_detail_and_checkpoints() -> None:
    """The clinic's calendar names the patient and lists each checkpoint at its clock time,
    with UIDs distinct from the patient's so both fit in one account, and no dose value."""
    plan, data = build(EXAMPLES / "iv-induction.toml", "clinic")
    session = next(s for s in plan.sessions if s.key == "induction-01")
    patient_uids = {plan.uid(s) for s in plan.sessions}
    events = icalendar.Calendar.from_ical(data).walk("VEVENT")
    event = next(e for e in events if e.start == session.start)
    text = str(event["DESCRIPTION"])
    assert plan.patient.name in str(event["SUMMARY"])
    assert "09:45 Vital signs during the infusion" in text
    assert patient_uids.isdisjoint(str(e["UID"]) for e in events)
    assert not re.search(r"\d\s*mg", data.decode())


def test_unusual_text_round_trips_through_every_parser() -> None:
    """Emoji, accents, newlines, commas, semicolons, quotes and a very long address come back
    unchanged from every independent parser, in both calendars."""
    address = (
        'Suite 4; "Rear" entrance, Rue de l\'Église 12\nMontréal QC 🌿 ' + "long way round, " * 20
    )
    plan = ketaplan.load_plan(EXAMPLES / "iv-induction.toml", now=NOW)
    plan = attrs.evolve(
        plan, clinic=attrs.evolve(plan.clinic, name="Clinique Ésprit 🧠, Ltd.", address=address)
    )
    expected = f"Clinique Ésprit 🧠, Ltd., {address}"
    for audience in ("patient", "clinic"):
        data = ketaplan.render_ics(plan, now=NOW, audience=audience)  # type: ignore[arg-type]
        text = data.decode()
        assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
        assert {expected} == {e.location.value for e in vobject.readOne(text).vevent_list}
        assert {expected} == {e.location for e in IcsCalendarStream.calendar_from_ics(text).events}
        assert {expected} == {e.location for e in ics.Calendar(text).events}
        assert {expected} == {
            str(e["LOCATION"]) for e in icalendar.Calendar.from_ical(data).walk("VEVENT")
        }
