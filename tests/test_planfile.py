"""Plan files: what a valid one gives, and the one-line error each kind of bad one gets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import ketaplan

GOOD = """
[plan]
id = "lakeside-0042"
protocol = "iv-induction"
start = 2027-01-11
timezone = "America/Toronto"
weekdays = ["TU", "TH"]
time = "10:15"

[patient]
name = "Zoë O'Brien"
ref = "MRN-0042"

[clinic]
name = "Lakeside Wellness Clinic"
address = "100 Queen St W, Toronto"
holidays = "CA-ON"
closures = [2027-01-14, { first = 2027-02-01, last = 2027-02-02, reason = "staff training" }]
hours = { MO = "08:00-18:00", TU = "08:00-12:30, 13:00-18:00", TH = "08:00-18:00", FR = "08:00-16:00" }
chairs = 2
min_gap = "48 h"

[calendar]
privacy = "full"
reminders = ["1 day"]

[phases.maintenance]
interval = "3 weeks"
sessions = 2

[dosing]
body_weight = "72 kg"

[dosing.induction-02]
dose_per_kg = "0.5 mg/kg"
"""


def write(tmp_path: Path, text: str, name: str = "plan.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(path: Path) -> ketaplan.Plan:
    return ketaplan.load_plan(path, now=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))


def test_good_plan_file_reads_every_table(tmp_path: Path) -> None:
    """Every table of a complete plan file reaches the plan."""
    plan = load(write(tmp_path, GOOD))
    assert plan.id == "lakeside-0042"
    assert (plan.patient.name, plan.patient.ref) == ("Zoë O'Brien", "MRN-0042")
    assert (dt.time(10, 15), (ketaplan.Weekday.TU, ketaplan.Weekday.TH)) == (
        plan.preferences.time,
        plan.preferences.weekdays,
    )
    assert ("full", (dt.timedelta(days=1),)) == (plan.calendar.privacy, plan.calendar.reminders)
    assert plan.clinic.chairs == 2
    assert dt.timedelta(hours=48) == plan.clinic.min_gap
    assert plan.clinic.closures[1].reason == "staff training"
    assert len([s for s in plan.sessions if s.phase == "maintenance"]) == 2
    entries = {(e.field, e.session): str(e.quantity) for e in plan.doses}
    assert entries == {("body_weight", None): "72 kg", ("dose_per_kg", "induction-02"): "0.5 mg/kg"}


def test_closure_in_plan_file_moves_a_session(tmp_path: Path) -> None:
    """A closed date listed in the plan file moves the session that fell on it."""
    plan = load(write(tmp_path, GOOD))
    moved = plan.session("induction-02")
    assert (dt.date(2027, 1, 14), dt.date(2027, 1, 15)) == (moved.planned, moved.start.date())


def test_derived_dose_needs_every_input(tmp_path: Path) -> None:
    """Total dose is derived only for the session where both dose per kg and weight are entered."""
    plan = load(write(tmp_path, GOOD))
    assert plan.derived(plan.session("induction-01")) == []
    (total,) = plan.derived(plan.session("induction-02"))
    assert total.explain() == "36 mg (from Dose per kg 0.5 mg/kg x Body weight 72 kg)"


def test_protocol_file_by_path(tmp_path: Path) -> None:
    """plan.protocol may be a path to a protocol file, relative to the plan file."""
    source = Path(ketaplan.__file__).parent / "data" / "protocols" / "iv-induction.toml"
    text = source.read_text(encoding="utf-8").replace('name = "iv-induction"', 'name = "our-iv"')
    write(tmp_path, text, "our-iv.toml")
    plan = load(
        write(tmp_path, GOOD.replace('protocol = "iv-induction"', 'protocol = "our-iv.toml"'))
    )
    assert plan.protocol.name == "our-iv"


BAD = [
    pytest.param(
        'id = "lakeside-0042"',
        'id = "lakeside-0042"\nstrat = 2027-01-11',
        "plan.strat: unknown key; did you mean 'start'?",
        id="unknown-key",
    ),
    pytest.param(
        'protocol = "iv-induction"',
        'protocol = "iv-inductoin"',
        "plan.protocol: got 'iv-inductoin'; did you mean 'iv-induction'?",
        id="unknown-protocol",
    ),
    pytest.param(
        'timezone = "America/Toronto"',
        'timezone = "America/Torono"',
        "plan.timezone: got 'America/Torono'; expected an IANA time zone",
        id="bad-zone",
    ),
    pytest.param(
        "start = 2027-01-11",
        'start = "next monday"',
        "plan.start: got 'next monday'; expected a date such as 2027-01-11",
        id="start-not-a-date",
    ),
    pytest.param(
        'time = "10:15"',
        'time = "25:00"',
        "plan.time: got '25:00'; expected a 24-hour time of day",
        id="bad-time",
    ),
    pytest.param(
        'weekdays = ["TU", "TH"]',
        'weekdays = ["TU", "THU", "Funday"]',
        "plan.weekdays: got 'Funday'; expected one of MO, TU, WE, TH, FR, SA, SU",
        id="bad-weekday",
    ),
    pytest.param(
        'holidays = "CA-ON"',
        'holidays = "CA-XX"',
        "clinic.holidays: got 'CA-XX'; CA subdivisions are",
        id="bad-subdivision",
    ),
    pytest.param(
        'FR = "08:00-16:00"',
        'FR = "16:00-08:00"',
        "clinic.hours.FR: got '16:00-08:00'; each period closes after it opens",
        id="bad-hours",
    ),
    pytest.param(
        "chairs = 2",
        "chairs = 0",
        "clinic.chairs: got 0; expected a whole number of at least 1",
        id="zero-chairs",
    ),
    pytest.param(
        'privacy = "full"',
        'privacy = "secret"',
        "calendar.privacy: got 'secret'; expected one of minimal, standard, full",
        id="bad-privacy",
    ),
    pytest.param(
        'interval = "3 weeks"',
        'interval = "10 weeks"',
        "phases.maintenance.interval: got '10 weeks'; the protocol allows 2-6 weeks",
        id="interval-out-of-range",
    ),
    pytest.param(
        "[phases.maintenance]",
        "[phases.maintenence]",
        "phases.maintenence: got 'maintenence'; protocol 'iv-induction' has the phases",
        id="unknown-phase",
    ),
    pytest.param(
        'body_weight = "72 kg"',
        "body_weight = 72",
        "dosing.body_weight: got 72; the unit is missing; write it with its unit",
        id="unitless-dose",
    ),
    pytest.param(
        'body_weight = "72 kg"',
        'body_weight = "72 lb"',
        "dosing.body_weight: got '72 lb'; the unit must be 'kg'",
        id="wrong-unit",
    ),
    pytest.param(
        'body_weight = "72 kg"',
        'body_weight = "-72 kg"',
        "dosing.body_weight: got '-72 kg'; expected a positive number",
        id="negative-dose",
    ),
    pytest.param(
        'body_weight = "72 kg"',
        'devices = "2 devices"',
        "dosing.devices: got 'devices'; the intravenous route's dose fields are dose_per_kg, body_weight, infusion_minutes",
        id="field-of-other-route",
    ),
    pytest.param(
        "[dosing.induction-02]",
        "[dosing.induction-99]",
        "dosing.induction-99.dose_per_kg: got 'induction-99'; expected the key of one of the plan's sessions",
        id="unknown-session",
    ),
    pytest.param(
        'id = "lakeside-0042"',
        'id = "../../etc/passwd"',
        "plan.id: got '../../etc/passwd'; use 1 to 64 letters",
        id="unsafe-id",
    ),
    pytest.param(
        'id = "lakeside-0042"',
        'id = "lakeside-0042\\n"',
        "plan.id: got 'lakeside-0042\\n'; use 1 to 64 letters",
        id="id-ending-in-a-line-break",
    ),
    pytest.param(
        'min_gap = "48 h"',
        'min_gap = "two days"',
        "clinic.min_gap: got 'two days'; expected days, hours and/or minutes",
        id="bad-gap",
    ),
    pytest.param(
        "[patient]",
        "[patient]\nage = 40",
        "patient: unknown key; valid keys are name, ref",
        id="unknown-patient-key",
    ),
    pytest.param(
        "start = 2027-01-11",
        "start = 2027-02-30",
        "plan.start: not valid TOML at ",
        id="impossible-date",
    ),
    pytest.param(
        'min_gap = "48 h"',
        "min_gap = 48",
        'clinic.min_gap: got 48; expected a string in double quotes, e.g. min_gap = "48 h"',
        id="gap-without-unit",
    ),
    pytest.param(
        'time = "10:15"',
        "time = 10:15:30",
        'plan.time: got 10:15:30; expected whole minutes, e.g. "09:30"',
        id="time-with-seconds",
    ),
    pytest.param(
        "sessions = 2",
        "sessions = 0",
        "phases.maintenance.sessions: got 0; expected a whole number from 1 to 400",
        id="zero-sessions",
    ),
    pytest.param(
        "sessions = 2",
        "sessions = 100000",
        "phases.maintenance.sessions: got 100000; expected a whole number from 1 to 400",
        id="too-many-sessions",
    ),
    pytest.param(
        "[phases.maintenance]\ninterval",
        "[phases.maintenance]\nuntil = 2027-01-01\ninterval",
        "phases.maintenance.until: got '2027-01-01'; the phase cannot start before",
        id="until-before-the-phase",
    ),
    pytest.param(
        "start = 2027-01-11",
        "start = 0001-01-01",
        "plan.start: got '0001-01-01'; expected a date from 2000-01-01 to 2199-12-31",
        id="start-in-year-1",
    ),
    pytest.param(
        'timezone = "America/Toronto"',
        'timezone = "' + "Europe/" * 40 + '"',
        "plan.timezone: got 'Europe/Europe/",
        id="very-long-zone",
    ),
    pytest.param(
        'interval = "3 weeks"',
        'interval = "99999999999 weeks"',
        "phases.maintenance.interval: got '99999999999 weeks'; expected at most 1830 days",
        id="huge-interval",
    ),
]


@pytest.mark.parametrize(("old", "new", "message"), BAD)
def test_bad_plan_file_gets_a_clear_error(tmp_path: Path, old: str, new: str, message: str) -> None:
    """Each kind of bad value is a SpecError whose message names the field, the value and what is valid."""
    assert old in GOOD
    with pytest.raises(ketaplan.SpecError) as caught:
        load(write(tmp_path, GOOD.replace(old, new, 1)))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_required_field(tmp_path: Path) -> None:
    """A plan file without a start date says the field is required."""
    with pytest.raises(ketaplan.SpecError, match=r"^plan\.start: this field is required"):
        load(write(tmp_path, GOOD.replace("start = 2027-01-11\n", "")))


def test_not_toml(tmp_path: Path) -> None:
    """A file that is not TOML names the file and the parser's complaint."""
    with pytest.raises(ketaplan.SpecError, match="not valid TOML"):
        load(write(tmp_path, "[plan\nid = 1"))


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    """A plan file saved with a UTF-8 byte-order mark (as Windows editors do) reads as without."""
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert load(write(tmp_path, GOOD)).sessions == load(path).sessions


@pytest.mark.parametrize("mark", [b"", b"\xef\xbb\xbf"], ids=["plain", "byte-order-mark"])
def test_bytes_that_are_not_utf8_name_their_line(tmp_path: Path, mark: bytes) -> None:
    """Bytes that are not UTF-8 are refused with the line they are on, counted the same
    with a byte-order mark as without (not the mark's own line)."""
    path = tmp_path / "latin1.toml"
    path.write_bytes(mark + b'[plan]\nid = "a"\n[patient]\nname = "Zo\xeb"\n')
    with pytest.raises(ketaplan.SpecError, match=r"the file is not UTF-8 text \(line 4\)$"):
        load(path)


def test_only_a_key_of_more_than_sixteen_dotted_parts_is_refused_as_nested(
    tmp_path: Path,
) -> None:
    """A key of seventeen dotted parts is refused for its nesting, naming its line; the dots
    inside a quoted part do not count (the key is then refused as unknown)."""
    deep = "a" + ".a" * 16
    with pytest.raises(ketaplan.SpecError, match=r"line 3: a key has more than 16 dotted parts"):
        load(write(tmp_path, GOOD.replace("[plan]\n", f"[plan]\n{deep} = 1\n", 1)))
    with pytest.raises(ketaplan.SpecError) as refused:
        load(write(tmp_path, GOOD.replace("[plan]\n", f'[plan]\n"{deep}" = 1\n', 1)))
    assert "dotted parts" not in str(refused.value)


def test_toml_time_of_day_is_accepted(tmp_path: Path) -> None:
    """`time = 10:15:00` (a TOML time) means the same as `time = "10:15"`."""
    plan = load(write(tmp_path, GOOD.replace('time = "10:15"', "time = 10:15:00")))
    assert dt.time(10, 15) == plan.preferences.time


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('name = "Zoë', 'nmae = "Zoë', "patient"),
        ('name = "Zoë O\'Brien"', "name = 1979-05-04", "patient.name"),
        ('ref = "MRN-0042"', 'ref = ["MRN-0042", "Zoë O\'Brien"]', "patient.ref"),
        ("[patient]", "[patinet]", "patinet"),
        ("[patient]", '[x]\npatient = "Zoë O\'Brien"\n[y]', "x"),
        ('ref = "MRN-0042"', 'ref = "MRN-0042\nname = "Zoë O\'Brien"', "patient.ref"),
    ],
    ids=[
        "mistyped-key",
        "wrong-type",
        "list",
        "mistyped-table",
        "key-in-junk-table",
        "broken-string",
    ],
)
def test_errors_never_repeat_the_patients_details(
    tmp_path: Path, old: str, new: str, field: str
) -> None:
    """A mistake in or around [patient] names the field, never the patient's name or reference."""
    assert old in GOOD
    with pytest.raises(ketaplan.SpecError) as caught:
        load(write(tmp_path, GOOD.replace(old, new, 1)))
    message = str(caught.value)
    assert (field, False, False) == (message.split(":")[0], "Zoë" in message, "MRN" in message)


def test_missing_file(tmp_path: Path) -> None:
    """A plan file that does not exist is a SpecError, not an OSError traceback."""
    with pytest.raises(ketaplan.SpecError, match="no such file"):
        load(tmp_path / "nothing.toml")


def test_unknown_extension(tmp_path: Path) -> None:
    """Only .toml plan files and saved .json plans are read."""
    with pytest.raises(
        ketaplan.SpecError, match=r"expected a \.toml plan file or a saved plan \.json"
    ):
        load(write(tmp_path, GOOD, "plan.yaml"))


def test_documents_templates_folder_is_resolved(tmp_path: Path) -> None:
    """[documents] templates is a folder relative to the plan file, kept as a full path."""
    (tmp_path / "ours").mkdir()
    plan = load(write(tmp_path, GOOD + '\n[documents]\ntemplates = "ours"\n'))
    assert str((tmp_path / "ours").resolve()) == plan.documents.templates


def test_documents_templates_folder_must_exist(tmp_path: Path) -> None:
    """A template folder that does not exist is an error naming documents.templates."""
    with pytest.raises(
        ketaplan.SpecError, match=r"documents\.templates: got 'nowhere'; no such folder"
    ):
        load(write(tmp_path, GOOD + '\n[documents]\ntemplates = "nowhere"\n'))


def test_plan_file_templates_restyle_the_documents(tmp_path: Path) -> None:
    """The folder named in [documents] templates restyles the written documents."""
    (tmp_path / "ours").mkdir()
    (tmp_path / "ours" / "base.html.j2").write_text(
        '{% extends "ketaplan/base.html.j2" %}{% block header %}<p>Our letterhead</p>{% endblock %}',
        encoding="utf-8",
    )
    plan = load(write(tmp_path, GOOD + '\n[documents]\ntemplates = "ours"\n'))
    written = ketaplan.write_outputs(
        plan, tmp_path / "out", now=dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    )
    patient = next(p for p in written if p.name.endswith("-patient.html"))
    assert "<p>Our letterhead</p>" in patient.read_text(encoding="utf-8")
