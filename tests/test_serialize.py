"""The plan JSON: a lossless round trip that rebuilds the same files, and a saved
plan checked on load as strictly as a new one."""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

import ketaplan
from ketaplan._serialize import MAX_BYTES

from .conftest import EXAMPLES, NOW
from .test_ics import PLANS

SAVED = Path(__file__).parent / "data" / "saved"
#: The patient in tests/data/saved/ and in the fuzzed plans: never in a message.
MARKER_NAME = "Quinta Marker"
MARKER_REF = "MRN-MARKER"


@pytest.mark.parametrize("path", PLANS, ids=lambda p: p.stem)
def test_json_loads_back_into_an_equal_plan(path: Path) -> None:
    """plan_from_json(plan_to_json(plan)) == plan, for every example and test plan."""
    plan = ketaplan.load_plan(path, now=NOW)
    assert plan == ketaplan.plan_from_json(ketaplan.plan_to_json(plan))


def test_json_contract_fields(tmp_path: Path) -> None:
    """The JSON has the documented header and per-session fields, with offsets on every datetime."""
    plan = ketaplan.load_plan(PLANS[0], now=NOW)
    document = json.loads(ketaplan.plan_to_json(plan))
    assert ("ketaplan.plan", 1) == (document["format"], document["version"])
    session = document["sessions"][0]
    assert {"key", "kind", "phase", "index", "start", "end", "status"} <= set(session)
    assert dt.datetime.fromisoformat(session["start"]).utcoffset() is not None


def test_building_from_json_gives_the_same_files(tmp_path: Path) -> None:
    """Building the saved JSON writes byte-identical files to building the TOML it came from."""
    plan = ketaplan.load_plan(PLANS[0], now=NOW)
    first = ketaplan.write_outputs(plan, tmp_path / "a", now=NOW)
    json_path = next(p for p in first if p.suffix == ".json")
    again = ketaplan.load_plan(json_path, now=NOW + dt.timedelta(days=3))
    second = ketaplan.write_outputs(again, tmp_path / "b", now=NOW)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


def assert_readable(message: str) -> None:
    """One line, short, with no personal value and no Python repr."""
    assert 1 == len(message.splitlines()), message
    assert len(message) < 300, message
    assert MARKER_NAME not in message, message
    assert MARKER_REF not in message, message
    assert re.search(r"\b(datetime|date|time|timedelta|Decimal)\(", message) is None, message


def refusal(text: str | bytes) -> str:
    """The message of the SpecError loading ``text`` raises."""
    with pytest.raises(ketaplan.SpecError) as caught:
        ketaplan.plan_from_json(text)
    message = str(caught.value)
    assert_readable(message)
    return message


def base() -> dict[str, Any]:
    """The valid saved plan that every damaged file in tests/data/saved/ changes once."""
    document: dict[str, Any] = json.loads((SAVED / "base.json").read_text(encoding="utf-8"))
    return document


def session(document: dict[str, Any], key: str) -> dict[str, Any]:
    """The session ``key`` of a plan JSON document."""
    found: dict[str, Any] = next(s for s in document["sessions"] if s["key"] == key)
    return found


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "plan JSON: got '<file>'; not valid JSON (Expecting property name"),
        ('"a name"', "plan JSON: got text; this is not a saved ketaplan plan"),
        (
            '{"format": "something.else"}',
            "format: got \"something.else\"; expected 'ketaplan.plan'",
        ),
        (
            '{"format": "ketaplan.plan", "version": 99}',
            "version: got 99; this ketaplan reads plan JSON version 1",
        ),
        (
            '{"format": "ketaplan.plan", "version": 1, "id": "x"}',
            "protocol: got nothing; this key is required (an object) (saved plan 'x')",
        ),
        ('{"a": 1, "a": 2}', 'not valid JSON for a saved plan (the key "a" appears twice'),
        ('{"format": NaN}', "not valid JSON (NaN is not a JSON number)"),
        ('{"version": ' + "9" * 5000 + "}", "not valid JSON (a number is far too long)"),
        (b"\xff\xfe\xfd", "plan JSON: got '<file>'; not valid JSON"),
    ],
)
def test_bad_json_is_a_spec_error(text: str | bytes, message: str) -> None:
    """A damaged or foreign JSON file gets a SpecError saying what is wrong."""
    assert message in refusal(text)


def test_the_base_of_the_damaged_files_loads() -> None:
    """tests/data/saved/base.json is a valid saved plan, so each damaged file fails for its one change."""
    plan = ketaplan.plan_from_json((SAVED / "base.json").read_bytes())
    assert ("lakeside-iv-0107", 5) == (plan.id, len(plan.sessions))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "closed-day.json",
            "sessions[3].start: got \"2026-12-20T09:30:00-05:00\"; session 'induction-02' breaks a clinic rule: the clinic is closed on Sundays (saved plan 'lakeside-iv-0107')",
        ),
        (
            "dosing-overlap.json",
            "sessions[1].start: got \"2026-12-16T09:30:00-05:00\"; session 'induction-01' breaks a clinic rule: the plan's own induction-02 is at 10:00 that day (saved plan 'lakeside-iv-0107')",
        ),
        (
            "missing-anchor.json",
            "sessions[4].anchor: got \"induction-09\"; companion session 'induction-02-integration': expected the key of a session of the plan that is not a companion itself (saved plan 'lakeside-iv-0107')",
        ),
        (
            "history-numbering.json",
            "history[1].number: got 3; revisions are numbered 1, 2, 3, ... in order: expected 2 (saved plan 'lakeside-iv-0107')",
        ),
        (
            "version-true.json",
            "version: got true; this ketaplan reads plan JSON version 1 (saved plan 'lakeside-iv-0107')",
        ),
        (
            "sequence-text.json",
            'sessions[3].sequence: got "3"; expected a whole number from 0 to 2147483647 (a JSON number, not text)',
        ),
        (
            "end-before-start.json",
            "sessions[3].end: got \"2026-12-18T08:30:00-05:00\"; session 'induction-02' must end after it starts (2026-12-18T09:30:00-05:00) (saved plan 'lakeside-iv-0107')",
        ),
        (
            "year-9999.json",
            'sessions[3].start: got "9999-12-31T23:00:00-05:00"; expected a time from 1900-01-01 to 2999-12-31 in UTC',
        ),
        (
            "year-1.json",
            'history[0].at: got "0001-01-01T00:00:00+01:00"; expected a time from 1900-01-01 to 2999-12-31 in UTC',
        ),
        (
            "datetime-without-offset.json",
            'sessions[3].start: got "2026-12-18T09:30:00"; expected an ISO 8601 datetime with its UTC offset, e.g. 2027-03-22T10:30:00-04:00',
        ),
        (
            "unknown-key.json",
            "sessions[3].room: got an unknown key; valid keys are key, kind, phase, index, start, end,",
        ),
        (
            "missing-key.json",
            "sessions[3].end: got nothing; this key is required (an ISO 8601 datetime with its UTC offset",
        ),
        (
            "fall-back-overlap.json",
            "sessions[0].start: got \"2026-11-01T01:00:00-04:00\"; session 'consultation' breaks a clinic rule: the plan's own induction-01-integration is at 01:30 that day",
        ),
    ],
)
def test_a_damaged_saved_plan_is_refused_naming_the_plan_the_key_and_the_rule(
    name: str, message: str
) -> None:
    """Each damaged file in tests/data/saved/ is a SpecError naming the plan id, the key path
    or session and the rule, on one line, without the patient's name."""
    found = refusal((SAVED / name).read_bytes())
    assert message in found
    assert "(saved plan 'lakeside-iv-0107')" in found


def test_sessions_in_the_hour_the_clocks_go_back_compare_as_instants() -> None:
    """01:10-01:40 EST follows 01:00-01:50 EDT on the night the clocks go back: no overlap."""
    plan = ketaplan.plan_from_json((SAVED / "fall-back.json").read_bytes())
    first, second = plan.sessions
    assert first.end < second.start.astimezone(dt.UTC)
    assert plan == ketaplan.plan_from_json(ketaplan.plan_to_json(plan))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: session(d, "induction-02").update(start="2026-12-18T21:30:00-05:00"),
            "session 'induction-02' must end after it starts",
        ),
        (
            lambda d: session(d, "induction-02").update(start="2026-12-18T07:00:00-05:00"),
            "session 'induction-02' breaks a clinic rule: a 4 h 30 min session from 07:00 does not fit the opening hours (08:00-16:00)",
        ),
        (
            lambda d: session(d, "induction-01").update(
                start="2026-12-17T09:30:00-05:00", end="2026-12-17T11:30:00-05:00"
            ),
            "session 'induction-01' breaks a clinic rule: no dosing on consecutive days",
        ),
        (
            lambda d: d["clinic"].update(
                chairs=1, busy=[{"start": "2026-12-16T14:00:00Z", "end": "2026-12-16T16:00:00Z"}]
            ),
            "sessions[1].start: got \"2026-12-16T09:30:00-05:00\"; session 'induction-01' breaks a clinic rule: full",
        ),
        (
            lambda d: session(d, "induction-01").update(template="infusion"),
            "sessions[1].template: got \"infusion\"; session 'induction-01': expected one of the protocol's session templates: consultation, integration, review, dosing",
        ),
        (
            lambda d: session(d, "induction-01").update(phase="booster"),
            "sessions[1].phase: got \"booster\"; session 'induction-01': expected one of the protocol's phases: consultation, induction, maintenance",
        ),
        (
            lambda d: session(d, "induction-01").update(kind="integration"),
            "sessions[1].kind: got \"integration\"; session 'induction-01' follows template 'dosing', so expected 'dosing'",
        ),
        (
            lambda d: session(d, "induction-01-integration").update(
                anchor="induction-01-integration"
            ),
            "sessions[2].anchor: got \"induction-01-integration\"; companion session 'induction-01-integration': expected the key of a session of the plan that is not a companion itself",
        ),
        (
            lambda d: session(d, "induction-02").update(key="induction-01"),
            'sessions[3].key: got "induction-01"; every session needs its own key; sessions[1] has this one',
        ),
    ],
)
def test_a_saved_plan_keeps_the_rules_of_a_new_one(
    change: Callable[[dict[str, Any]], object], message: str
) -> None:
    """Hand edits that a scheduled plan could not have are refused, naming the rule."""
    document = base()
    change(document)
    found = refusal(json.dumps(document))
    assert message in found
    assert found.endswith("(saved plan 'lakeside-iv-0107')")


@pytest.mark.parametrize("status", ["cancelled", "completed", "missed"])
def test_sessions_that_do_not_take_place_or_took_place_are_not_checked_for_clinic_rules(
    status: str,
) -> None:
    """A cancelled, completed or missed session on a closed day still loads: it is not booked."""
    document = base()
    session(document, "induction-02").update(
        start="2026-12-20T09:30:00-05:00", end="2026-12-20T11:30:00-05:00", status=status
    )
    plan = ketaplan.plan_from_json(json.dumps(document))
    assert status == plan.session("induction-02").status.value


def test_history_is_still_checked_for_its_structure() -> None:
    """A completed session that ends before it starts is refused: history keeps its shape."""
    document = base()
    session(document, "induction-02").update(status="completed", end="2026-12-18T09:00:00-05:00")
    assert "sessions[3].end" in refusal(json.dumps(document))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: session(d, "induction-02").update(start="2026-02-30T10:00:00-05:00"),
            'sessions[3].start: got "2026-02-30T10:00:00-05:00"; expected an ISO 8601 datetime with its UTC offset, e.g. 2027-03-22T10:30:00-04:00',
        ),
        (
            lambda d: session(d, "induction-02").update(planned="18 Dec 2026"),
            'sessions[3].planned: got "18 Dec 2026"; expected an ISO 8601 date, e.g. 2027-03-22',
        ),
        (
            lambda d: d["preferences"].update(time="9.30"),
            'preferences.time: got "9.30"; expected a 24-hour time of day, e.g. 09:30',
        ),
        (
            lambda d: d["protocol"]["sessions"][0].update(duration="an hour"),
            "protocol.sessions[0].duration: got \"an hour\"; expected a duration such as '45 min', '2 h' or '1 h 30 min'",
        ),
        (
            lambda d: d.update(doses=[{"field": "body_weight", "quantity": "72", "session": None}]),
            "doses[0].quantity: got \"72\"; expected a positive number and its unit, e.g. '72 kg'",
        ),
        (
            lambda d: session(d, "induction-02").update(status="done"),
            'sessions[3].status: got "done"; expected one of scheduled, completed, missed, cancelled',
        ),
        (
            lambda d: d["calendar"].update(privacy="public"),
            'calendar.privacy: got "public"; expected one of minimal, standard, full',
        ),
        (
            lambda d: session(d, "induction-02").update(index=2.0),
            "sessions[3].index: got 2.0; expected a whole number from 0 to 2147483647",
        ),
        (
            lambda d: session(d, "induction-02").update(index=0),
            "sessions[3].index: got 0; expected a whole number of at least 1",
        ),
        (
            lambda d: session(d, "induction-02").update(sequence=-1),
            "sessions[3].sequence: got -1; expected a whole number from 0 to 2147483647",
        ),
        (
            lambda d: session(d, "induction-02").update(sequence=2**63),
            "sessions[3].sequence: got a very large number; expected a whole number from 0",
        ),
        (
            lambda d: d["clinic"].update(chairs=True),
            "clinic.chairs: got true; expected a whole number from 0 to 2147483647",
        ),
        (
            lambda d: d["clinic"].update(consecutive_days=0),
            "clinic.consecutive_days: got 0; expected true or false",
        ),
        (
            lambda d: d["patient"].update(name=["Quinta", "Marker"]),
            "patient.name: got a list; expected text (a JSON string)",
        ),
        (
            lambda d: d.update(patient="Quinta Marker"),
            "patient: got text; expected an object",
        ),
        (
            lambda d: d["clinic"]["hours"].update(MO="08:00-18:00"),
            "clinic.hours.MO: got text; expected a list",
        ),
        (
            lambda d: d["clinic"]["hours"].update(Monday=["08:00-18:00"]),
            "clinic.hours.Monday: got an unknown key; the keys are weekdays: MO, TU, WE, TH, FR, SA, SU",
        ),
        (
            lambda d: d["protocol"]["phases"][1]["cadence"].update(per_week=[2, 3, 4]),
            "protocol.phases[1].cadence.per_week: got 3 numbers; expected two numbers",
        ),
        (
            lambda d: d["protocol"]["phases"][1]["cadence"].update(per_week=[2, "3"]),
            'protocol.phases[1].cadence.per_week[1]: got "3"; expected a whole number',
        ),
        (
            lambda d: d["protocol"]["phases"][1]["cadence"].update(weeks="3"),
            'protocol.phases[1].cadence.weeks: got "3"; expected a whole number',
        ),
        (
            lambda d: d["protocol"]["phases"][2]["cadence"].update(every="4 weeks", until="soon"),
            'protocol.phases[2].cadence.until: got "soon"; expected an ISO 8601 date',
        ),
        (
            lambda d: session(d, "induction-02").update(stat="scheduled"),
            "sessions[3].stat: got an unknown key; did you mean 'start'?",
        ),
        (
            lambda d: d["clinic"].pop("timezone"),
            "clinic.timezone: got nothing; this key is required (text)",
        ),
        (
            lambda d: d["clinic"].update(chairs=0),
            "clinic.chairs: got 0; expected a number >= 1",
        ),
    ],
)
def test_damaged_values_name_the_key_path_and_the_expected_form(
    change: Callable[[dict[str, Any]], object], message: str
) -> None:
    """A value of the wrong type or form names its key path and what would be valid: JSON
    types are exact (no "3" for 3, no true for 1) and a string is shown only where it is a
    formatted value, never where it could be a name."""
    document = base()
    change(document)
    found = refusal(json.dumps(document))
    assert message in found


def test_nesting_100000_deep_is_not_valid_json() -> None:
    """Deep nesting is refused as not valid JSON, not with a RecursionError."""
    assert "plan JSON: got '<file>'; not valid JSON (nested too deeply)" == refusal("[" * 100_000)


def test_nesting_deeper_than_a_plan_is_refused_even_where_json_can_read_it() -> None:
    """A list 200 deep inside a plan is refused before any of it is built."""
    document = base()
    document["patient"]["name"] = json.loads("[" * 200 + "]" * 200)
    assert "not valid JSON (nested too deeply)" in refusal(json.dumps(document))


def test_a_file_over_the_size_limit_is_refused_before_parsing() -> None:
    """A saved plan larger than MAX_BYTES (20 MB) is refused whatever it holds."""
    text = " " * (MAX_BYTES + 1)
    assert "plan JSON: got 20.0 MB; a saved plan is at most 20 MB" == refusal(text)


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("sessions", 3, "start"), "9999-12-31T23:00:00-05:00"),
        (("sessions", 3, "end"), "9999-12-31T23:59:59+14:00"),
        (("sessions", 3, "start"), "0001-01-01T00:00:00+01:00"),
        (("history", 0, "at"), "9999-12-31T23:59:59-12:00"),
        (("start",), "9999-12-31"),
        (("clinic", "closures", 0, "first"), "0001-01-01"),
        (("sessions", 3, "planned"), "9999-12-31"),
    ],
)
def test_year_1_and_year_9999_are_refused_not_overflowed(
    where: tuple[str | int, ...], value: str
) -> None:
    """Dates and times at the ends of the calendar, which cannot all be moved between time
    zones, are refused with the range a saved plan's dates have."""
    document = base()
    target: Any = document
    for part in where[:-1]:
        target = target[part]
    target[where[-1]] = value
    assert "from 1900-01-01 to 2999-12-31" in refusal(json.dumps(document))


def test_a_session_must_end_after_it_starts() -> None:
    """Session refuses an end at or before its start, compared as instants."""
    start = dt.datetime(2027, 1, 11, 9, 0, tzinfo=dt.UTC)
    with pytest.raises(ketaplan.SpecError) as caught:
        ketaplan.Session("induction-01", "dosing", "induction", 1, start, start, "dosing")
    assert (
        "end: got '2027-01-11T09:00:00+00:00'; session 'induction-01' must end after it starts"
        in str(caught.value)
    )


def test_an_end_in_the_repeated_hour_is_after_a_start_before_it() -> None:
    """A session from 01:30 EDT to 01:15 EST (45 minutes) is valid on the night the clocks go back."""
    zone = ketaplan.Clinic("c", "America/Toronto").zone
    start = dt.datetime(2026, 11, 1, 1, 30, tzinfo=zone)
    end = dt.datetime(2026, 11, 1, 1, 15, tzinfo=zone, fold=1)
    made = ketaplan.Session("a", "integration", "induction", 1, start, end, "integration")
    assert dt.timedelta(minutes=45) == made.end.astimezone(dt.UTC) - made.start.astimezone(dt.UTC)


# -- mutation fuzz -----------------------------------------------------------------------

_OTHER_TYPES: tuple[object, ...] = (None, True, 7, 2.5, "text", [], {})
_MUTATIONS = (
    "delete",
    "retype",
    "huge int",
    "negative int",
    "deep list",
    "empty string",
    "newline",
    "swap starts",
    "shift a date",
)


def _places(document: object) -> list[tuple[Any, Any, str]]:
    """Every (container, key or index, path) in a JSON document."""
    found: list[tuple[Any, Any, str]] = []
    stack: list[tuple[Any, str]] = [(document, "")]
    while stack:
        node, path = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            where = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"
            found.append((node, key, where))
            if isinstance(value, dict | list):
                stack.append((value, where))
    return found


def _shifted(text: str, rng: random.Random) -> str | None:
    """``text`` a day earlier or later, if it is an ISO date or datetime."""
    days = dt.timedelta(days=rng.choice((-1, 1)))
    for kind in (dt.datetime, dt.date):
        try:
            return (kind.fromisoformat(text) + days).isoformat()
        except ValueError:
            continue
    return None


def mutate(document: dict[str, Any], rng: random.Random) -> str:
    """Change ``document`` once, structurally; say what was done."""
    places = _places(document)
    container, key, where = rng.choice(places)
    mutation = rng.choice(_MUTATIONS)
    if mutation == "delete":
        del container[key]
    elif mutation == "retype":
        kind = type(container[key])
        container[key] = copy.deepcopy(rng.choice([v for v in _OTHER_TYPES if type(v) is not kind]))
    elif mutation == "huge int":
        container[key] = rng.choice((2**31, 2**63, 10**30))
    elif mutation == "negative int":
        container[key] = -rng.randint(1, 10**6)
    elif mutation == "deep list":
        nested: list[Any] = []
        for _ in range(rng.randint(2, 60)):
            nested = [nested]
        container[key] = nested
    elif mutation == "empty string":
        container[key] = ""
    elif mutation == "newline":
        container[key] = "two\nlines"
    elif mutation == "swap starts":
        first, second = rng.sample(document["sessions"], 2)
        first["start"], second["start"] = second["start"], first["start"]
        where = f"sessions {first['key']} and {second['key']}"
    else:
        dated = [(c, k, w) for c, k, w in places if isinstance(c[k], str) and _shifted(c[k], rng)]
        container, key, where = rng.choice(dated)
        container[key] = _shifted(container[key], rng)
    return f"{mutation} at {where}"


def test_mutated_saved_plans_load_equal_or_give_one_readable_line() -> None:
    """1,000 seeded structural mutations of the example plans: each either loads into a plan
    that saves and loads back equal, or is a short one-line SpecError without the patient's
    name; nothing else is raised."""
    documents = []
    for path in sorted(EXAMPLES.glob("*.toml")):
        plan = ketaplan.load_plan(path, now=NOW)
        marked = attrs.evolve(plan, patient=ketaplan.Patient(MARKER_NAME, MARKER_REF))
        documents.append(json.loads(ketaplan.plan_to_json(marked)))
    rng = random.Random(20261125)
    outcomes = {"loaded": 0, "refused": 0}
    for case in range(1000):
        document = copy.deepcopy(documents[case % len(documents)])
        done = mutate(document, rng)
        try:
            plan = ketaplan.plan_from_json(json.dumps(document))
        except ketaplan.SpecError as error:
            message = str(error)
            assert "\n" not in message, f"case {case}: {done}"
            assert len(message) < 300, f"case {case}: {done}: {message}"
            assert MARKER_NAME not in message, f"case {case}: {done}"
            assert MARKER_REF not in message, f"case {case}: {done}"
            outcomes["refused"] += 1
        else:
            again = ketaplan.plan_from_json(ketaplan.plan_to_json(plan))
            assert plan == again, f"case {case}: {done}"
            outcomes["loaded"] += 1
    assert outcomes["loaded"] > 50, outcomes
    assert outcomes["refused"] > 500, outcomes


def test_a_plan_is_saved_the_same_whether_its_protocol_was_written_before() -> None:
    """A protocol's JSON is written once and reused for the next plan with an equal
    protocol: each plan's text is its content laid out as json.dumps lays it out, the
    same as with nothing kept, and a patient whose name and reference look like the
    stand-in for the protocol loads back as given."""
    from ketaplan._serialize import _protocol_json

    first = ketaplan.load_plan(EXAMPLES / "iv-induction.toml", now=NOW)
    second = attrs.evolve(
        ketaplan.load_plan(EXAMPLES / "iv-induction.toml", now=NOW),
        id="lakeside-iv-0108",
        patient=ketaplan.Patient(name="\x00protocol\x00", ref='"\x00protocol\x00"'),
    )
    assert first.protocol == second.protocol
    assert first.protocol is not second.protocol
    _protocol_json.cache_clear()
    fresh = ketaplan.plan_to_json(second)
    ketaplan.plan_to_json(first)
    kept = ketaplan.plan_to_json(second)
    assert fresh == kept
    assert json.dumps(json.loads(kept), indent=2, ensure_ascii=False) + "\n" == kept
    assert second == ketaplan.plan_from_json(kept)


@pytest.mark.parametrize(
    "value",
    [
        {},
        [],
        {"empty": [], "also": {}, "nested": [[], [{}], {"a": [1, [2, [3]]]}]},
        ["é, ü, ß, 日本語, emoji \U0001f600", 'quote " backslash \\ slash /'],
        {"control": "\x00\x01\x1f\t\n\r\b\f\x7f", "line\nkey": "\u2028\u2029"},
        [0, -1, 2**70, 1.5, -0.0, 1e100, 1e-7, True, False, None],
        {3: "int key", 2.5: "float key", True: "bool key", None: "null key"},
        "a plain string",
        42,
        None,
    ],
)
def test_json_writer_writes_what_json_dumps_writes(value: Any) -> None:
    """The plan's JSON writer gives json.dumps(indent=2, ensure_ascii=False)'s exact text
    for strings with escapes and any script, numbers, empty and nested lists and objects."""
    from ketaplan._serialize import _write

    out: list[str] = []
    _write(value, out, "\n")
    assert json.dumps(value, indent=2, ensure_ascii=False) == "".join(out)


@pytest.mark.parametrize("language", ["en", "fr-CA"])
@pytest.mark.parametrize("path", PLANS[:6], ids=lambda p: p.stem)
def test_plan_json_is_the_converters_values_as_json_dumps_writes_them(
    path: Path, language: str
) -> None:
    """A plan's JSON is its values as the cattrs converter unstructures them, written by
    json.dumps with two-space indents: byte for byte, names with quotes, line breaks and
    accents included."""
    from ketaplan._serialize import FORMAT, VERSION, _converter

    plan = ketaplan.load_plan(path, now=NOW)
    patient = attrs.evolve(plan.patient, name='Zoë "Q" O\'Brien\nÅsa \\ 日本')
    plan = attrs.evolve(plan, patient=patient, language=language)
    values = {"format": FORMAT, "version": VERSION, **_converter().unstructure(plan)}
    expected = json.dumps(values, indent=2, ensure_ascii=False) + "\n"
    assert expected == ketaplan.plan_to_json(plan)
