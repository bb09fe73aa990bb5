"""The patient's .ics, read back with five independent iCalendar parsers, Mozilla's ical.js
(through Node) among them, and written byte for byte as icalendar writes it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import attrs
import icalendar
import ics
import pytest
import vobject
from ical.calendar_stream import IcsCalendarStream
from icalendar.parser import unescape_backslash

import ketaplan

from .conftest import EXAMPLES, NOW, ROOT, toronto_clinic

PLANS = sorted(EXAMPLES.glob("*.toml")) + sorted(
    (Path(__file__).parent / "data" / "plans").glob("*.toml")
)

#: Clinics whose plans start in DST and cross the autumn change, and the day each starts.
DST_STARTS = {
    "America/Toronto": dt.date(2027, 10, 4),
    "Europe/London": dt.date(2027, 10, 4),
    "Australia/Sydney": dt.date(2027, 3, 8),
    "America/Vancouver": dt.date(2027, 10, 4),
}
#: Every plan the calendar tests read: the example and test plan files by name, and the
#: DST plans by zone.
CORPUS = [path.stem for path in PLANS] + list(DST_STARTS)
ICALJS = ROOT / "tests" / "node" / "icaljs"


def dst_plan(zone: str) -> ketaplan.Plan:
    """An IV plan in ``zone`` that starts in DST and runs past the autumn change."""
    protocol = ketaplan.builtin_protocols()["iv-induction"]
    protocol = protocol.with_phase("maintenance", interval=ketaplan.IntervalRange.parse("2 weeks"))
    clinic = ketaplan.Clinic(
        name="Riverside Clinic",
        timezone=zone,
        address="1 River Rd",
        email="appointments@riverside.example",
    )
    plan = ketaplan.Plan.create(
        f"dst-{zone.replace('/', '-').lower()}", protocol, clinic, DST_STARTS[zone], now=NOW
    )
    zoneinfo = clinic.zone
    offsets = {s.start.astimezone(zoneinfo).utcoffset() for s in plan.sessions}
    assert len(offsets) == 2, f"{zone}: the plan does not cross a change"
    assert plan.sessions[0].start.astimezone(zoneinfo).dst(), f"{zone}: does not start in DST"
    return plan


def load_source(source: str) -> ketaplan.Plan:
    """The plan ``source`` names in :data:`CORPUS`."""
    if source in DST_STARTS:
        return dst_plan(source)
    return ketaplan.load_plan(next(p for p in PLANS if p.stem == source), now=NOW)


def build_source(source: str, audience: str = "patient") -> tuple[ketaplan.Plan, bytes]:
    plan = load_source(source)
    return plan, ketaplan.render_ics(plan, now=NOW, audience=audience)  # type: ignore[arg-type]


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


def node() -> str:
    """The ``node`` program; the tests that need it skip without it only when
    KETAPLAN_REQUIRE_NODE is unset (CI sets it)."""
    found = shutil.which("node")
    if found is None:
        if os.environ.get("KETAPLAN_REQUIRE_NODE"):
            pytest.fail("KETAPLAN_REQUIRE_NODE is set but node is not installed")
        pytest.skip("node is not installed (set KETAPLAN_REQUIRE_NODE=1 to make this a failure)")
    if not (ICALJS / "node_modules" / "ical.js").is_dir():
        pytest.fail(f"ical.js is not installed: run 'npm ci' in {ICALJS}")
    return found


def read_icaljs(data: bytes) -> set[Read]:
    """Mozilla's ical.js, resolving times only through the file's own VTIMEZONEs."""
    result = subprocess.run(
        [node(), str(ICALJS / "read.mjs")],
        input=data,
        capture_output=True,
        check=False,
        env={**os.environ, "TZ": "UTC"},
        timeout=60,
    )
    assert 0 == result.returncode, result.stderr.decode()
    found = json.loads(result.stdout)
    return {
        Read(
            event["uid"],
            dt.datetime.fromisoformat(event["start"]),
            dt.datetime.fromisoformat(event["end"]),
        )
        for event in found["events"]
    }


PARSERS = [read_icalendar, read_vobject, read_ics_py, read_ical_strict, read_icaljs]


def build(path: Path, audience: str = "patient") -> tuple[ketaplan.Plan, bytes]:
    plan = ketaplan.load_plan(path, now=NOW)
    return plan, ketaplan.render_ics(plan, now=NOW, audience=audience)  # type: ignore[arg-type]


@pytest.mark.parametrize("audience", ["patient", "clinic"])
@pytest.mark.parametrize("source", CORPUS, ids=str)
@pytest.mark.parametrize("parser", PARSERS, ids=lambda f: f.__name__)
def test_every_parser_reads_every_session(source: str, parser: object, audience: str) -> None:
    """Each parser finds one event per session in both calendars, with exact start and end
    instants, in every example plan and in plans that start in DST and cross the autumn
    change; the patient's calendar uses the plan's UIDs."""
    plan, data = build_source(source, audience)
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


# -- text values are escaped (RFC 5545, 3.3.11) -------------------------------

INJECTION = "X\nATTENDEE:mailto:evil@example.com"
UNUSUAL_NAMES = [
    "Lakeside\nWellness",
    "Lakeside\r\nWellness",
    "Lakeside; Wellness",
    "Lakeside, Wellness",
    "Lakeside \\ Wellness",
    INJECTION,
]


def _with_names(clinic: str, patient: str = "", privacy: str = "standard") -> ketaplan.Plan:
    plan = ketaplan.load_plan(EXAMPLES / "iv-induction.toml", now=NOW)
    return attrs.evolve(
        plan,
        clinic=attrs.evolve(plan.clinic, name=clinic),
        patient=attrs.evolve(plan.patient, name=patient or plan.patient.name),
        calendar=attrs.evolve(plan.calendar, privacy=privacy),
    )


def _newlines(text: str) -> str:
    """A name as a TEXT value carries it: every line break is one newline."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _property_names(data: bytes) -> set[str]:
    """The names of the file's properties, splitting lines at any line break, as lenient
    parsers do."""
    unfolded = re.sub(r"(?:\r\n|\r|\n)[ \t]", "", data.decode())
    lines = re.split(r"\r\n|\r|\n", unfolded)
    return {re.split(r"[;:]", line, maxsplit=1)[0].upper() for line in lines}


@pytest.mark.parametrize("audience", ["patient", "clinic"])
@pytest.mark.parametrize("name", UNUSUAL_NAMES, ids=repr)
def test_clinic_name_with_line_breaks_and_separators_stays_in_its_properties(
    name: str, audience: str
) -> None:
    """A clinic name with a line break, semicolon, comma or backslash is escaped everywhere it
    appears, calendar name included: icalendar and vobject read it back whole, and no property
    it spells (ATTENDEE) appears in the file."""
    plan = _with_names(name)
    data = ketaplan.render_ics(plan, now=NOW, audience=audience)  # type: ignore[arg-type]
    calendar = icalendar.Calendar.from_ical(data)
    parsed = vobject.readOne(data.decode())
    if audience == "patient":
        # icalendar reads NAME and X-WR-CALNAME as unknown values and leaves them
        # escaped: unescape them as the TEXT values they are.
        expected_name = f"Appointments: {_newlines(name)}"
        assert [expected_name] * 2 == [
            unescape_backslash(str(calendar["NAME"])),
            unescape_backslash(str(calendar["X-WR-CALNAME"])),
        ]
        assert [expected_name] * 2 == [
            parsed.contents["name"][0].value,
            parsed.contents["x-wr-calname"][0].value,
        ]
    location = f"{_newlines(name)}, {plan.clinic.address}"
    assert {location} == {str(e["LOCATION"]) for e in calendar.walk("VEVENT")}
    assert {location} == {e.location.value for e in parsed.vevent_list}
    assert "ATTENDEE" not in _property_names(data)
    assert [] == [e for e in calendar.walk("VEVENT") if "ATTENDEE" in e]
    assert all("attendee" not in e.contents for e in parsed.vevent_list)


@pytest.mark.parametrize("audience", ["patient", "clinic"])
@pytest.mark.parametrize("name", UNUSUAL_NAMES, ids=repr)
def test_patient_name_at_full_privacy_stays_in_its_properties(name: str, audience: str) -> None:
    """At full privacy the patient's name, line breaks and separators included, comes back whole
    from icalendar and vobject in the titles (and the patient calendar's name), never as a
    property of its own."""
    plan = _with_names("Lakeside Wellness Clinic", patient=name, privacy="full")
    data = ketaplan.render_ics(plan, now=NOW, audience=audience)  # type: ignore[arg-type]
    calendar = icalendar.Calendar.from_ical(data)
    parsed = vobject.readOne(data.decode())
    expected = _newlines(name)
    if audience == "patient":
        title = f"{plan.protocol.title}: {expected}"
        assert title == unescape_backslash(str(calendar["X-WR-CALNAME"]))
        assert title == parsed.contents["x-wr-calname"][0].value
    assert all(str(e["SUMMARY"]).endswith(f": {expected}") for e in calendar.walk("VEVENT"))
    assert all(e.summary.value.endswith(f": {expected}") for e in parsed.vevent_list)
    assert "ATTENDEE" not in _property_names(data)


def test_injected_line_does_not_become_a_property_under_python_o(tmp_path: Path) -> None:
    """With assertions off (python -O) a name spelling a new line still cannot add a property:
    the escaping does not rest on an assert."""
    script = tmp_path / "build.py"
    script.write_text(
        "import sys, attrs, datetime as dt, ketaplan\n"
        "now = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)\n"
        "plan = ketaplan.load_plan(sys.argv[1], now=now)\n"
        "plan = attrs.evolve(plan, clinic=attrs.evolve(plan.clinic, name=sys.argv[2]),"
        " patient=attrs.evolve(plan.patient, name=sys.argv[2]),"
        " calendar=attrs.evolve(plan.calendar, privacy='full'))\n"
        "sys.stdout.buffer.write(ketaplan.render_ics(plan, now=now))\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-O", str(script), str(EXAMPLES / "iv-induction.toml"), INJECTION],
        capture_output=True,
        check=True,
    )
    assert "ATTENDEE" not in _property_names(result.stdout)
    assert [] == re.findall(rb"[^\r]\n|\r[^\n]", result.stdout)
    calendar = vobject.readOne(result.stdout.decode())
    assert "attendee" not in calendar.contents
    assert "Lakeside" not in calendar.contents["x-wr-calname"][0].value
    assert calendar.contents["x-wr-calname"][0].value.endswith(f": {INJECTION}")


@pytest.mark.parametrize(
    "module",
    [
        "export/_ics.py",
        "export/_lines.py",
        "export/_vtimezone.py",
        "export/documents/_clinician.py",
        "export/documents/_course.py",
        "export/documents/_environment.py",
        "export/documents/_format.py",
        "export/documents/_markdown.py",
        "export/documents/_patient.py",
        "export/documents/_render.py",
        "export/documents/_timeline.py",
        "_invite.py",
        "_dosing.py",
        "_library.py",
        "_protocol.py",
    ],
)
def test_no_assert_guards_user_data(module: str) -> None:
    """The writers and the modules that read protocols and doses check nothing with assert,
    which python -O would skip."""
    source = Path(ketaplan.__file__).parent / module
    assert [] == re.findall(r"^\s*assert\b", source.read_text(encoding="utf-8"), re.MULTILINE)


# -- route- and drug-neutral text below full privacy --------------------------

ROUTE_WORDS = [
    "ketamine",
    "esketamine",
    "spravato",
    "kap",
    "infusion",
    "infusions",
    "iv",
    "intravenous",
    "line",
    "drip",
    "cannula",
    "needle",
    "nasal",
    "intranasal",
    "spray",
    "sprays",
    "device",
    "devices",
    "corticosteroid",
    "decongestant",
    "injection",
    "injections",
    "intramuscular",
    "lozenge",
    "lozenges",
    "troche",
    "troches",
    "sublingual",
    "tongue",
    "oral",
    "swallow",
    "swallowed",
    "tablet",
    "tablets",
]


def _calendar_texts(data: bytes) -> list[str]:
    """Every text an event or the calendar carries, unescaped: names, titles, descriptions,
    locations, categories and alarm texts (time zone definitions left out)."""
    texts = []
    for component in icalendar.Calendar.from_ical(data).walk():
        if component.name in ("VTIMEZONE", "STANDARD", "DAYLIGHT"):
            continue
        for _name, value in component.property_items(recursive=False):
            if hasattr(value, "to_ical"):
                texts.append(unescape_backslash(value.to_ical().decode()))
    return texts


def _route_words(plan: ketaplan.Plan, data: bytes) -> list[str]:
    words = {*ROUTE_WORDS, plan.protocol.drug.lower(), plan.protocol.route.name.lower()}
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, sorted(words))) + r")\b", re.IGNORECASE)
    return [hit for text in _calendar_texts(data) for hit in pattern.findall(text)]


def _at(plan: ketaplan.Plan, privacy: str) -> ketaplan.Plan:
    return attrs.evolve(plan, calendar=attrs.evolve(plan.calendar, privacy=privacy))


def _dated(protocol: ketaplan.Protocol) -> ketaplan.Protocol:
    """``protocol`` with every interval the clinician sets set to its shortest choice."""
    for phase in protocol.phases:
        cadence = phase.cadence
        if isinstance(cadence, ketaplan.Every) and cadence.set_by_clinician:
            low = cadence.interval.low
            protocol = protocol.with_phase(phase.name, interval=ketaplan.IntervalRange(low, low))
    return protocol


@pytest.mark.parametrize("privacy", ["minimal", "standard"])
@pytest.mark.parametrize("path", PLANS, ids=lambda p: p.stem)
def test_patient_calendar_below_full_names_no_drug_or_route(path: Path, privacy: str) -> None:
    """Below full privacy no text in the patient's calendar (calendar name, titles, descriptions,
    locations, categories, alarms) names the drug, the route or a route's device."""
    plan = _at(ketaplan.load_plan(path, now=NOW), privacy)
    assert [] == _route_words(plan, ketaplan.render_ics(plan, now=NOW))


@pytest.mark.parametrize("privacy", ["minimal", "standard"])
@pytest.mark.parametrize("name", list(ketaplan.builtin_protocols()))
def test_every_builtin_protocol_calendar_below_full_names_no_drug_or_route(
    name: str, privacy: str
) -> None:
    """Every session template of every built-in protocol, dated in a plan, gives route- and
    drug-neutral calendar text below full privacy."""
    protocol = _dated(ketaplan.builtin_protocols()[name])
    plan = ketaplan.Plan.create(
        "neutral-check",
        protocol,
        toronto_clinic(),
        dt.date(2027, 3, 1),
        calendar=ketaplan.CalendarOptions(privacy=privacy),  # type: ignore[arg-type]
        now=NOW,
    )
    assert {t.name for t in protocol.sessions} == {s.template for s in plan.sessions}
    assert [] == _route_words(plan, ketaplan.render_ics(plan, now=NOW))


def test_standard_calendar_carries_the_neutral_wording() -> None:
    """At standard the nasal-spray plan's events still say how to prepare, in the protocol's
    neutral wording, and its alarms carry the first such line."""
    plan = _at(ketaplan.load_plan(EXAMPLES / "esketamine-nasal.toml", now=NOW), "standard")
    calendar = icalendar.Calendar.from_ical(ketaplan.render_ics(plan, now=NOW))
    event = next(e for e in calendar.walk("VEVENT") if str(e["SUMMARY"]) == "Treatment session")
    text = str(event["DESCRIPTION"])
    assert "Some other medicines must be used at least 1 hour before your session" in text
    assert "you must not drive until the next day" in text
    first = "Do not eat for 2 hours before your session, and do not drink anything for 30 minutes before."
    assert {f"Treatment session: {first}"} == {
        str(alarm["DESCRIPTION"]) for alarm in event.walk("VALARM")
    }


def test_full_calendar_keeps_the_specific_instructions() -> None:
    """At full privacy the events keep the route's own instructions, naming the spray."""
    plan = _at(ketaplan.load_plan(EXAMPLES / "esketamine-nasal.toml", now=NOW), "full")
    calendar = icalendar.Calendar.from_ical(ketaplan.render_ics(plan, now=NOW))
    texts = {str(e.get("DESCRIPTION", "")) for e in calendar.walk("VEVENT")}
    line = "If you use a nasal corticosteroid or decongestant spray, use it at least 1 hour before your session."
    assert any(line in text for text in texts)


def test_template_without_calendar_wording_points_to_the_plan() -> None:
    """A session template with instructions but no calendar wording gives, below full, only a
    pointer to the treatment plan, and an alarm with the title alone."""
    plan = ketaplan.load_plan(EXAMPLES / "iv-induction.toml", now=NOW)
    dosing = plan.protocol.template("dosing")
    bare = attrs.evolve(
        dosing,
        preparation=("Bring the infusion pump diary.",),
        aftercare=("Keep the IV site dry.",),
        calendar_preparation=(),
        calendar_aftercare=(),
    )
    protocol = attrs.evolve(
        plan.protocol,
        sessions=tuple(bare if t.name == "dosing" else t for t in plan.protocol.sessions),
    )
    plan = attrs.evolve(plan, protocol=protocol)
    calendar = icalendar.Calendar.from_ical(ketaplan.render_ics(plan, now=NOW))
    event = next(e for e in calendar.walk("VEVENT") if str(e["SUMMARY"]) == "Treatment session")
    text = str(event["DESCRIPTION"])
    assert "Before you come:\n- See your treatment plan for how to prepare." in text
    assert "Afterwards:\n- See your treatment plan for what to do afterwards." in text
    assert "infusion" not in text.lower()
    assert {"Treatment session"} == {str(alarm["DESCRIPTION"]) for alarm in event.walk("VALARM")}
    full = icalendar.Calendar.from_ical(ketaplan.render_ics(_at(plan, "full"), now=NOW))
    assert any(
        "- Bring the infusion pump diary." in str(e.get("DESCRIPTION", ""))
        for e in full.walk("VEVENT")
    )


# -- the content-line writer: icalendar's own bytes, without its objects --------------


def _with_cancellations(plan: ketaplan.Plan) -> ketaplan.Plan:
    """``plan`` with its second and last sessions cancelled (SEQUENCE raised)."""
    chosen = {plan.sessions[1].key, plan.sessions[-1].key}
    sessions = tuple(
        attrs.evolve(s, status=ketaplan.SessionStatus.CANCELLED, sequence=s.sequence + 1)
        if s.key in chosen
        else s
        for s in plan.sessions
    )
    return attrs.evolve(plan, sessions=sessions)


def icalendar_serialisation(plan: ketaplan.Plan, audience: str) -> bytes:
    """The same calendar built from icalendar objects (Event.new, Alarm, Calendar.new) and
    written by icalendar's own ``to_ical()``."""
    from ketaplan.export import _ics
    from ketaplan.export._vtimezone import vtimezone

    view = _ics._View(plan, audience)  # type: ignore[arg-type]
    zone = plan.clinic.zone
    local_days = [s.start.astimezone(zone).date() for s in plan.sessions]
    events = []
    for session in plan.sessions:
        content = _ics.event(view, session)
        organizer = None
        if content.organizer:
            organizer = icalendar.vCalAddress(f"mailto:{content.organizer}")
            if content.organizer_name:
                organizer.params["CN"] = content.organizer_name
        event = icalendar.Event.new(
            uid=content.uid,
            stamp=NOW,
            start=content.start,
            end=content.end,
            summary=content.summary,
            description=content.description or None,
            location=content.location or None,
            categories=content.categories,
            sequence=session.sequence,
            status=icalendar.STATUS.CANCELLED if content.cancelled else icalendar.STATUS.CONFIRMED,
            transparency=icalendar.TRANSP.TRANSPARENT
            if content.cancelled
            else icalendar.TRANSP.OPAQUE,
            last_modified=view.modified(session, NOW),
            organizer=organizer,
        )
        if content.resource:
            event.add("X-KETAPLAN-RESOURCE", content.resource)
        for alarm in content.alarms:
            component = icalendar.Alarm()
            component.add("action", "DISPLAY")
            component.add("trigger", -alarm.before)
            component.add("description", alarm.text)
            event.add_component(component)
        events.append(event)
    calendar = icalendar.Calendar.new(
        prodid=_ics.PRODID,
        method="PUBLISH",
        calscale="GREGORIAN",
        name=icalendar.vText(_ics._calendar_name(view)),
        uid=_ics._hash(f"calendar\x00{audience}\x00{plan.id}"),
        subcomponents=[
            vtimezone(plan.clinic.timezone, min(local_days), max(local_days)),
            *events,
        ],
    )
    data: bytes = calendar.to_ical()
    return data


WRITER_CORPUS = [
    (source, privacy, audience)
    for source in [path.stem for path in PLANS]
    for privacy in ("minimal", "standard", "full")
    for audience in ("patient", "clinic")
]


@pytest.mark.parametrize(("source", "privacy", "audience"), WRITER_CORPUS, ids=str)
def test_writer_gives_icalendars_own_bytes(source: str, privacy: str, audience: str) -> None:
    """For every example plan at every privacy level, in both calendars, with cancelled
    sessions, ketaplan's content-line writer gives exactly the bytes icalendar's to_ical()
    gives for the same events."""
    plan = _with_cancellations(_at(load_source(source), privacy))
    ours = ketaplan.render_ics(plan, now=NOW, audience=audience)  # type: ignore[arg-type]
    assert icalendar_serialisation(plan, audience) == ours


@pytest.mark.parametrize("name", [*UNUSUAL_NAMES, 'Clinique "Ésprit" 🧠 ^ Ltd.'], ids=repr)
def test_writer_gives_icalendars_own_bytes_for_unusual_names(name: str) -> None:
    """Line breaks, separators, quotes, carets and characters of several bytes in names are
    escaped and folded exactly as icalendar does it, calendar name and organizer included."""
    plan = _with_cancellations(_with_names(name * 3, patient=name * 5, privacy="full"))
    for audience in ("patient", "clinic"):
        ours = ketaplan.render_ics(plan, now=NOW, audience=audience)  # type: ignore[arg-type]
        assert icalendar_serialisation(plan, audience) == ours


def test_folding_matches_icalendar_around_escapes_and_wide_characters() -> None:
    """Every cut the writer makes in a long line is where icalendar makes it: never inside
    a character of several bytes, never right after the backslash of an escape."""
    from icalendar.parser.string import _foldline

    from ketaplan.export._lines import fold

    for length in range(60, 240, 7):
        for filler in ("a", "é", "🧠", "\\,", "^n", "a\\"):
            line = "DESCRIPTION:" + (filler * length)[:length]
            assert _foldline(line) == fold(line)


def _unfolded(data: bytes) -> list[str]:
    return re.sub(r"\r\n[ \t]", "", data.decode()).split("\r\n")


@pytest.mark.parametrize("privacy", ["minimal", "standard", "full"])
@pytest.mark.parametrize("path", PLANS, ids=lambda p: p.stem)
def test_no_property_is_empty(path: Path, privacy: str) -> None:
    """Regression (libical drops an empty CATEGORIES: with an error): no property in either
    calendar has an empty value, at any privacy level."""
    plan = _with_cancellations(_at(ketaplan.load_plan(path, now=NOW), privacy))
    plan = attrs.evolve(plan, clinic=attrs.evolve(plan.clinic, address=""))
    for audience in ("patient", "clinic"):
        data = ketaplan.render_ics(plan, now=NOW, audience=audience)  # type: ignore[arg-type]
        assert [] == [line for line in _unfolded(data) if re.fullmatch(r"[^:]+:", line)]


def test_cancelled_event_says_so_in_its_title_and_has_no_alarm() -> None:
    """Regression (Outlook shows STATUS:CANCELLED events from a file as live): a cancelled
    session's title starts with "Cancelled:", it is STATUS:CANCELLED and transparent, and
    it carries no alarm."""
    plan = _with_cancellations(ketaplan.load_plan(EXAMPLES / "iv-induction.toml", now=NOW))
    cancelled = plan.sessions[1]
    events = {
        str(e["UID"]): e
        for e in icalendar.Calendar.from_ical(ketaplan.render_ics(plan, now=NOW)).walk("VEVENT")
    }
    event = events[plan.uid(cancelled)]
    assert "Cancelled: Treatment session" == str(event["SUMMARY"])
    assert ("CANCELLED", "TRANSPARENT") == (str(event["STATUS"]), str(event["TRANSP"]))
    assert [] == event.walk("VALARM")
    live = events[plan.uid(plan.sessions[0])]
    assert not str(live["SUMMARY"]).startswith("Cancelled")
    assert 2 == len(live.walk("VALARM"))


def test_last_modified_is_when_the_session_last_changed() -> None:
    """Every event has LAST-MODIFIED: the time of the revision that last changed its session
    (the plan's creation for the others), so a change to one session moves only its own."""
    plan = ketaplan.load_plan(EXAMPLES / "iv-induction.toml", now=NOW)
    later = NOW + dt.timedelta(days=3)
    moved = plan.sessions[-1]
    changed = ketaplan.reschedule(
        plan, moved.key, moved.start + dt.timedelta(days=1), now=later, reason="asked"
    )
    events = icalendar.Calendar.from_ical(ketaplan.render_ics(changed, now=later)).walk("VEVENT")
    modified = {str(e["UID"]): e.decoded("LAST-MODIFIED") for e in events}
    assert len(changed.sessions) == len(modified)
    assert {changed.uid(moved): later} == {uid: at for uid, at in modified.items() if at != NOW}


def test_organizer_is_the_clinics_address_when_it_has_one() -> None:
    """With a clinic email every event names the clinic as ORGANIZER (its name too, except at
    minimal); without one, none does."""
    plan = dst_plan("America/Toronto")
    for privacy, name in (("standard", "Riverside Clinic"), ("minimal", None)):
        data = ketaplan.render_ics(_at(plan, privacy), now=NOW)
        events = icalendar.Calendar.from_ical(data).walk("VEVENT")
        assert {"mailto:appointments@riverside.example"} == {str(e["ORGANIZER"]) for e in events}
        assert {name} == {e["ORGANIZER"].params.get("CN") for e in events}
    bare = attrs.evolve(plan, clinic=attrs.evolve(plan.clinic, email=""))
    assert b"ORGANIZER" not in ketaplan.render_ics(bare, now=NOW)


def test_calendar_name_with_a_comma_reads_back_whole_in_vobject() -> None:
    """Regression: a comma in the clinic's name no longer cuts the calendar name in vobject."""
    plan = _with_names("Lakeside, Wellness & Co.")
    calendar = vobject.readOne(ketaplan.render_ics(plan, now=NOW).decode())
    assert "Appointments: Lakeside, Wellness & Co." == calendar.contents["name"][0].value


def test_reconcile_does_not_render_events_to_compare_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """reconcile compares what each session's events say without writing a content line."""
    from ketaplan.export import _lines

    first = ketaplan.load_plan(EXAMPLES / "iv-induction.toml", now=NOW)
    storm = ketaplan.Closure(dt.date(2026, 12, 21), dt.date(2026, 12, 21), "ice storm")
    rebuilt = ketaplan.Plan.create(
        first.id,
        first.protocol,
        attrs.evolve(first.clinic, closures=(*first.clinic.closures, storm)),
        first.start,
        preferences=first.preferences,
        patient=first.patient,
        calendar=first.calendar,
        now=NOW,
    )

    def refuse(*_args: object) -> None:
        raise AssertionError("a content line was written")

    monkeypatch.setattr(_lines.ContentLines, "add", refuse)
    monkeypatch.setattr(_lines, "fold", refuse)
    second = ketaplan.reconcile(first, rebuilt, now=NOW)
    assert any(s.sequence == 1 for s in second.sessions)


@pytest.mark.parametrize(
    "text",
    [
        *UNUSUAL_NAMES,
        "",
        "plain",
        "a\\Nb \\n c \\\\N",
        "lone\rreturn and\r\n\nmixed\n\r breaks",
        ";,;\\,\\;",
        "Zoë 日本 🧠 ^ caret",
    ],
    ids=repr,
)
def test_text_values_are_escaped_as_icalendar_escapes_them(text: str) -> None:
    """A TEXT value is escaped exactly as icalendar's vText escapes it: backslashes,
    semicolons, commas and every kind of line break, ``\\N`` included."""
    from ketaplan.export._lines import ContentLines

    assert icalendar.vText(text).to_ical().decode() == ContentLines.text(text)


def test_a_worker_keeps_the_shared_work_of_a_few_plans_only() -> None:
    """The work a plan's two calendars share is kept for the last few plans only, and each
    calendar of a plan rendered after others is the same as rendered alone."""
    from ketaplan.export import _ics

    plan = ketaplan.load_plan(PLANS[0], now=NOW)
    alone = [
        ketaplan.render_ics(plan, now=NOW, audience=audience)  # type: ignore[arg-type]
        for audience in ("patient", "clinic")
    ]
    others = [attrs.evolve(plan, id=f"other-{n}") for n in range(10)]
    for other in others:
        ketaplan.render_ics(other, now=NOW)
    assert _ics._RECENT_PLANS >= len(_ics._RECENT)
    again = [
        ketaplan.render_ics(attrs.evolve(plan), now=NOW, audience=audience)  # type: ignore[arg-type]
        for audience in ("clinic", "patient")
    ]
    assert alone == again[::-1]
    assert _ics._event_end.cache_info().maxsize is not None


@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime(2027, 3, 14, 9, 5, 7),
        dt.datetime(999, 1, 2, 0, 0, 0),
        dt.datetime(2027, 12, 31, 23, 59, 59, 999999),
        dt.datetime(2027, 3, 14, 9, 5, 7, tzinfo=dt.UTC),
    ],
    ids=str,
)
def test_date_times_are_written_as_icalendar_writes_them(moment: dt.datetime) -> None:
    """A DATE-TIME, a wall-clock time or an instant in UTC, is written exactly as
    icalendar's vDatetime writes it: no fraction of a second, Z for UTC."""
    from ketaplan.export._lines import _datetime

    assert icalendar.vDatetime(moment).to_ical().decode() == _datetime(moment)


def test_the_generation_time_in_the_repeated_hour_is_the_instant_it_names() -> None:
    """A generation time in the hour that comes twice when clocks go back (01:30 in New
    York on 1 November 2026, first at 05:30 UTC, then at 06:30 UTC) is written as its own
    instant, whichever of the two a calendar rendered just before was stamped with."""
    plan = ketaplan.load_plan(EXAMPLES / "iv-induction.toml", now=NOW)
    zone = ZoneInfo("America/New_York")
    first = dt.datetime(2026, 11, 1, 1, 30, tzinfo=zone)
    second = first.replace(fold=1)
    stamps = []
    for now in (first, second, first):
        calendar = icalendar.Calendar.from_ical(ketaplan.render_ics(plan, now=now))
        stamps.append({event["DTSTAMP"].to_ical().decode() for event in calendar.walk("VEVENT")})
    assert [{"20261101T053000Z"}, {"20261101T063000Z"}, {"20261101T053000Z"}] == stamps
