"""The clinic's ledger: capacity across plans, all-or-nothing booking, reading bookings back."""

from __future__ import annotations

import datetime as dt
import io
import time
from pathlib import Path

import icalendar
import pytest

import ketaplan
from ketaplan._busy import read_busy
from ketaplan._cli import main

from .conftest import EXAMPLES, NOW, toronto_clinic

START = dt.date(2027, 1, 11)
IV = ketaplan.builtin_protocols()["iv-induction"]


def chair_sessions(plan: ketaplan.Plan) -> list[ketaplan.Session]:
    return [
        s
        for s in plan.sessions
        if plan.template(s).resource == "chair" and s.status is not ketaplan.SessionStatus.CANCELLED
    ]


def most_at_once(intervals: list[tuple[dt.datetime, dt.datetime]]) -> int:
    """The most intervals that overlap at one moment, counted independently of the ledger."""
    edges = sorted(
        [(start.astimezone(dt.UTC), 1) for start, _ in intervals]
        + [(end.astimezone(dt.UTC), -1) for _, end in intervals]
    )
    most = in_use = 0
    for _moment, change in edges:
        in_use += change
        most = max(most, in_use)
    return most


def booked(count: int, chairs: int) -> tuple[list[ketaplan.Plan], ketaplan.Ledger]:
    clinic = toronto_clinic(chairs=chairs)
    ledger = ketaplan.Ledger.for_clinic(clinic)
    plans = []
    for n in range(count):
        plan, ledger = ketaplan.book(f"p-{n}", IV, clinic, START, now=NOW, ledger=ledger)
        plans.append(plan)
    return plans, ledger


def test_booked_plans_never_hold_more_chairs_than_the_clinic_has() -> None:
    """Six patients wanting the same days and time at a two-chair clinic are booked so that
    at no moment are more than two chair sessions under way, and the later ones say why."""
    plans, ledger = booked(6, chairs=2)
    intervals = [(s.start, s.end) for plan in plans for s in chair_sessions(plan)]
    assert 2 == most_at_once(intervals)
    assert ("p-0", "p-1", "p-2", "p-3", "p-4", "p-5") == ledger.plan_ids
    assert len(intervals) == len(ledger)
    moved = [m.rule for s in plans[2].sessions for m in s.moves]
    assert any("full: all 2 chairs are booked" in rule for rule in moved)


def test_booking_is_all_or_nothing() -> None:
    """A plan whose chair sessions do not fit raises ScheduleError naming the session, its
    date and the rule, and the ledger stays as it was."""
    clinic = toronto_clinic(chairs=1)
    plan, ledger = ketaplan.book(
        "first", IV, clinic, START, now=NOW, ledger=ketaplan.Ledger.for_clinic(clinic)
    )
    other = ketaplan.Plan.create("second", IV, clinic, START, now=NOW)  # not around the ledger
    before = (len(ledger), ledger.plan_ids)
    with pytest.raises(ketaplan.ScheduleError) as caught:
        ledger.book(other)
    clash = chair_sessions(other)[0]
    assert clash.key == caught.value.session_key
    assert clash.start.date() == caught.value.date
    assert caught.value.rule.startswith("full: the only chair is booked between")
    assert before == (len(ledger), ledger.plan_ids)
    assert len(chair_sessions(plan)) == len(ledger)


def test_booking_a_plan_again_replaces_its_earlier_booking() -> None:
    """Booking a plan id the ledger holds replaces that booking instead of counting twice."""
    plans, ledger = booked(1, chairs=1)
    assert len(ledger) == len(ledger.book(plans[0]))


def test_a_check_costs_the_same_with_100_or_100000_bookings() -> None:
    """Bookings are indexed by day: checking a time looks at that day's bookings only, so a
    ledger with 100,000 bookings answers about as fast as one with 100."""
    clinic = toronto_clinic(chairs=16)
    zone = clinic.zone
    day = dt.date(2027, 3, 10)

    def bookings(days: int, per_day: int) -> list[ketaplan.Busy]:
        found = []
        for offset in range(days):
            when = dt.datetime.combine(day + dt.timedelta(days=offset), dt.time(8), tzinfo=zone)
            for n in range(per_day):
                start = when + dt.timedelta(minutes=5 * (n % 100))
                found.append(ketaplan.Busy(start, start + dt.timedelta(hours=2)))
        return found

    small = ketaplan.Ledger.for_clinic(clinic).with_busy(bookings(1, 100))
    large = ketaplan.Ledger.for_clinic(clinic).with_busy(bookings(1000, 100))
    assert (100, 100_000) == (len(small), len(large))
    start = dt.datetime.combine(day, dt.time(9), tzinfo=zone)
    end = start + dt.timedelta(hours=2)
    assert small.in_use("chair", start, end) == large.in_use("chair", start, end)

    def cost(ledger: ketaplan.Ledger) -> float:
        best = float("inf")
        for _ in range(5):
            began = time.perf_counter()
            for _ in range(50):
                ledger.full("chair", start, end)
            best = min(best, time.perf_counter() - began)
        return best

    assert cost(large) < 3 * cost(small) + 0.01


def test_reading_ketaplans_clinic_calendar_back_counts_only_sessions_that_hold_a_chair(
    tmp_path: Path,
) -> None:
    """ketaplan's clinic calendar marks each chair session with X-KETAPLAN-RESOURCE; read
    back, only those events are bookings (consultations and integration sessions are not),
    the patient calendar adds none, and a foreign calendar's every busy event takes a chair."""
    plan = ketaplan.Plan.create("lakeside", IV, toronto_clinic(), START, now=NOW)
    clinic_ics = ketaplan.render_ics(plan, now=NOW, audience="clinic")
    events = icalendar.Calendar.from_ical(clinic_ics).walk("VEVENT")
    marked = [e for e in events if e.get("X-KETAPLAN-RESOURCE") == "chair"]
    assert len(chair_sessions(plan)) == len(marked)
    assert len(marked) < len(events)
    (tmp_path / "lakeside-clinic.ics").write_bytes(clinic_ics)
    (tmp_path / "lakeside.ics").write_bytes(ketaplan.render_ics(plan, now=NOW))
    ledger = ketaplan.Ledger.from_folder(tmp_path, plan.clinic, start=START)
    assert len(marked) == len(ledger)
    starts = sorted(first for day in ledger.days() for first, _, _ in ledger.on("chair", day))
    assert sorted(s.start.astimezone(dt.UTC) for s in chair_sessions(plan)) == starts

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "bookings.ics").write_bytes((EXAMPLES / "clinic-bookings.ics").read_bytes())
    expected = ketaplan.Ledger.for_clinic(plan.clinic).with_busy(
        read_busy(EXAMPLES / "clinic-bookings.ics", start=START, zone=plan.clinic.zone)
    )
    assert len(expected) == len(ketaplan.Ledger.from_folder(foreign, plan.clinic, start=START))


def test_a_saved_plan_and_its_clinic_calendar_count_once(tmp_path: Path) -> None:
    """A folder with a plan's saved JSON and its clinic calendar holds its bookings once."""
    plan = ketaplan.Plan.create("lakeside", IV, toronto_clinic(), START, now=NOW)
    written = ketaplan.write_outputs(plan, tmp_path, now=NOW)
    assert any(path.name == "lakeside-clinic.ics" for path in written)
    ledger = ketaplan.Ledger.from_folder(tmp_path, plan.clinic, start=START)
    assert ("lakeside",) == ledger.plan_ids
    assert len(chair_sessions(plan)) == len(ledger)


def test_reschedule_into_a_full_slot_is_refused_and_release_frees_it() -> None:
    """With the ledger, moving a session to where every chair is booked by another plan is
    refused with the reason; once that plan is released the move is allowed."""
    (first, second), ledger = booked(2, chairs=1)
    taken = chair_sessions(first)[0]
    moving = chair_sessions(second)[0]
    with pytest.raises(ketaplan.ScheduleError, match="full: the only chair is booked"):
        ketaplan.reschedule(second, moving.key, taken.start, now=NOW, reason="asked", ledger=ledger)
    moved = ketaplan.reschedule(
        second, moving.key, taken.start, now=NOW, reason="asked", ledger=ledger.release("p-0")
    )
    assert taken.start == moved.session(moving.key).start


def test_a_cancelled_session_frees_its_chair() -> None:
    """Booking a plan again after a session was left out frees that session's chair."""
    (plan,), ledger = booked(1, chairs=1)
    key = chair_sessions(plan)[-1].key
    omitted = ketaplan.omit(plan, key, now=NOW, reason="unwell")
    assert len(ledger) - 1 == len(ledger.book(omitted))


def test_a_session_may_hold_another_resource() -> None:
    """A template's resource decides what it holds: a therapy room the clinic counts limits
    integration sessions, and chair-using templates default to 'chair'."""
    template = ketaplan.SessionTemplate(
        name="dosing", kind="dosing", title="Dose", duration=dt.timedelta(hours=1), uses_chair=True
    )
    assert "chair" == template.resource
    room = ketaplan.SessionTemplate(
        name="integration",
        kind="integration",
        title="Integration",
        duration=dt.timedelta(hours=1),
        resource="therapy-room",
    )
    ledger = ketaplan.Ledger({"chair": 1, "therapy-room": 1})
    start = dt.datetime(2027, 1, 11, 9, 0, tzinfo=dt.UTC)
    full = ledger.with_busy([ketaplan.Busy(start, start + dt.timedelta(hours=1))], room.resource)
    assert full.full("chair", start, start + dt.timedelta(hours=1)) is None
    assert "full: the only therapy-room is booked between 09:00 and 10:00" == full.full(
        "therapy-room", start, start + dt.timedelta(hours=1)
    )


def one_chair_plans(folder: Path, first: str, second: str) -> str:
    """Two plan files in ``folder``, the IV example at a one-chair clinic under two plan
    ids (lakeside-iv-0107 and -0108); the first file's text."""
    text = (EXAMPLES / "iv-induction.toml").read_text(encoding="utf-8")
    assert "chairs = 2" in text
    text = text.replace("chairs = 2", "chairs = 1")
    (folder / first).write_text(text, encoding="utf-8")
    (folder / second).write_text(
        text.replace('id = "lakeside-iv-0107"', 'id = "lakeside-iv-0108"'), encoding="utf-8"
    )
    return text


def test_build_with_bookings_books_around_the_clinics_other_plans(tmp_path: Path) -> None:
    """`ketaplan build --bookings DIR` schedules the new plan around the saved plans and
    calendars in DIR: at a one-chair clinic, no chair session of the second plan overlaps
    one of the first, while built without --bookings they would."""
    one_chair_plans(tmp_path, "first.toml", "second.toml")
    out, err = io.StringIO(), io.StringIO()
    assert 0 == main(
        ["build", str(tmp_path / "first.toml"), "--out", str(tmp_path / "a")],
        stdout=out,
        stderr=err,
    )
    for name, extra in (("b", ["--bookings", str(tmp_path / "a")]), ("c", [])):
        code = main(
            ["build", str(tmp_path / "second.toml"), "--out", str(tmp_path / name), *extra],
            stdout=out,
            stderr=err,
        )
        assert (0, "") == (code, err.getvalue())
    first = ketaplan.load_plan(tmp_path / "a" / "lakeside-iv-0107.json", now=NOW)
    around = ketaplan.load_plan(tmp_path / "b" / "lakeside-iv-0108.json", now=NOW)
    alone = ketaplan.load_plan(tmp_path / "c" / "lakeside-iv-0108.json", now=NOW)
    theirs = [(s.start, s.end) for s in chair_sessions(first)]
    assert 1 == most_at_once(theirs + [(s.start, s.end) for s in chair_sessions(around)])
    assert 2 == most_at_once(theirs + [(s.start, s.end) for s in chair_sessions(alone)])


def test_build_with_a_missing_bookings_folder_is_one_line_error(tmp_path: Path) -> None:
    """A --bookings folder that does not exist is a one-line error naming it; nothing is written."""
    out, err = io.StringIO(), io.StringIO()
    code = main(
        [
            "build",
            str(EXAMPLES / "iv-induction.toml"),
            "--out",
            str(tmp_path / "out"),
            "--bookings",
            str(tmp_path / "nowhere"),
        ],
        stdout=out,
        stderr=err,
    )
    assert 2 == code
    assert 1 == len(err.getvalue().splitlines())
    assert "bookings" in err.getvalue()
    assert not (tmp_path / "out").exists()


def test_identical_bookings_each_take_a_chair_and_one_over_midnight_counts_once() -> None:
    """Two bookings at the same times hold two chairs; a booking that runs past midnight
    (UTC) is counted once by a check that spans both days."""
    start = dt.datetime(2027, 1, 11, 22, 0, tzinfo=dt.UTC)
    late = ketaplan.Busy(start, start + dt.timedelta(hours=4))
    ledger = ketaplan.Ledger({"chair": 3}).with_busy([late, late])
    assert 2 == ledger.in_use("chair", start, start + dt.timedelta(hours=5))
    assert (dt.date(2027, 1, 11), dt.date(2027, 1, 12)) == ledger.days()


def _dosing_template(tmp_path: Path, dosing: str) -> ketaplan.SessionTemplate:
    path = tmp_path / "own.toml"
    path.write_text(
        '[protocol]\nname = "own"\ntitle = "Own"\nroute = "intravenous"\n\n'
        f"[sessions.dosing]\n{dosing}\n\n"
        '[[phases]]\nname = "induction"\ntitle = "Induction"\nsession = "dosing"\n'
        'cadence = { every = "1 week", sessions = 2 }\nsources = ["iv-practice"]\n',
        encoding="utf-8",
    )
    return ketaplan.load_protocol(str(path)).template("dosing")


def test_a_protocol_file_names_the_resource_a_session_holds(tmp_path: Path) -> None:
    """`resource` in a protocol file's session table is what its sessions hold; without it, a
    dosing session keeps the route's chair, and `uses_chair = false` holds nothing."""
    assert "chair" == _dosing_template(tmp_path, 'title = "Ours"').resource
    assert "" == _dosing_template(tmp_path, "uses_chair = false").resource
    assert "infusion-bay" == _dosing_template(tmp_path, 'resource = "infusion-bay"').resource


def test_defer_revert_and_boosters_lay_sessions_around_the_ledger() -> None:
    """Deferring a booked plan's sessions, adding boosters or returning a phase to an earlier
    frequency with the clinic's ledger never puts a session where every chair is held by
    another plan: each takes another time or day and says the chairs were full."""
    clinic = toronto_clinic(chairs=1)
    protocol = ketaplan.builtin_protocols()["esketamine-nasal"].with_phase(
        "maintenance", interval=ketaplan.IntervalRange.parse("2 weeks"), sessions=4
    )
    ledger = ketaplan.Ledger.for_clinic(clinic)
    first, ledger = ketaplan.book("p-0", protocol, clinic, START, now=NOW, ledger=ledger)
    second, ledger = ketaplan.book("p-1", protocol, clinic, START, now=NOW, ledger=ledger)
    key = chair_sessions(second)[0].key
    changed = [
        ketaplan.defer(second, key, 7, now=NOW, reason="away", ledger=ledger),
        ketaplan.add_boosters(second, 3, now=NOW, reason="review", ledger=ledger),
        ketaplan.revert_phase(second, "maintenance", now=NOW, reason="worse", ledger=ledger),
    ]
    theirs = [(s.start, s.end) for s in chair_sessions(first)]
    for plan in changed:
        mine = [(s.start, s.end) for s in chair_sessions(plan)]
        assert 1 == most_at_once(theirs + mine)
        added = len(chair_sessions(plan)) - len(chair_sessions(second))
        assert len(ledger) + added == len(ledger.book(plan))  # it fits, replacing its booking
    deferred = changed[0]
    moved = [m.rule for s in chair_sessions(deferred) for m in s.moves]
    assert any("full: the only chair is booked" in rule for rule in moved)


def test_replan_lays_the_future_around_other_plans_bookings(tmp_path: Path) -> None:
    """A plan file that changed after its plan was saved and edited is re-planned around
    the clinic's other plans given with --bookings, not only its own sessions."""
    text = one_chair_plans(tmp_path, "ours.toml", "theirs.toml")
    ours, theirs = tmp_path / "ours.toml", tmp_path / "theirs.toml"
    out, err = io.StringIO(), io.StringIO()
    assert 0 == main(["build", str(ours), "--out", str(tmp_path / "a")], stdout=out, stderr=err)
    saved = tmp_path / "a" / "lakeside-iv-0107.json"
    first = ketaplan.load_plan(saved, now=NOW)
    future = [s for s in chair_sessions(first) if s.start > NOW]
    # An edit since the build (a session left out), so a rebuild re-plans around it.
    code = main(
        ["omit", str(saved), future[-1].key, "--reason", "declined"], stdout=out, stderr=err
    )
    assert (0, "") == (code, err.getvalue())
    # The other plan takes our chair times: built without bookings, at the same times.
    assert 0 == main(["build", str(theirs), "--out", str(tmp_path / "b")], stdout=out, stderr=err)
    other = ketaplan.load_plan(tmp_path / "b" / "lakeside-iv-0108.json", now=NOW)
    # Our plan file changes (a closure), and is rebuilt around the other plan.
    day = future[0].start.astimezone(first.clinic.zone).date()
    closure = f'{{ date = {day.isoformat()}, reason = "inventory" }}]'
    assert text.count('reason = "Christmas Eve: the clinic closes" }]') == 1
    ours.write_text(
        text.replace('the clinic closes" }]', f'the clinic closes" }}, {closure}'), encoding="utf-8"
    )
    code = main(
        ["build", str(ours), "--out", str(tmp_path / "a"), "--bookings", str(tmp_path / "b")],
        stdout=out,
        stderr=err,
    )
    assert (0, "") == (code, err.getvalue())
    replanned = ketaplan.load_plan(saved, now=NOW)
    assert "re-planned" == replanned.history[-1].action
    mine = [(s.start, s.end) for s in chair_sessions(replanned) if s.start > NOW]
    assert 1 == most_at_once(mine + [(s.start, s.end) for s in chair_sessions(other)])


def test_a_saved_plan_rebuilt_in_its_folder_must_fit_the_bookings(tmp_path: Path) -> None:
    """`ketaplan build DIR/PLAN.json --out DIR --bookings OTHER` checks the saved plan's
    dates against the other plans' bookings: at a one-chair clinic a plan at the same
    times is refused with one error line naming a session and the full chair."""
    one_chair_plans(tmp_path, "first.toml", "second.toml")
    out, err = io.StringIO(), io.StringIO()
    for name in ("first", "second"):
        code = main(
            ["build", str(tmp_path / f"{name}.toml"), "--out", str(tmp_path / name)],
            stdout=out,
            stderr=err,
        )
        assert (0, "") == (code, err.getvalue())
    saved = tmp_path / "second" / "lakeside-iv-0108.json"
    before = saved.read_bytes()
    code = main(
        [
            "build",
            str(saved),
            "--out",
            str(tmp_path / "second"),
            "--bookings",
            str(tmp_path / "first"),
        ],
        stdout=out,
        stderr=err,
    )
    assert 2 == code
    assert "full: the only chair is booked" in err.getvalue()
    assert 1 == len(err.getvalue().splitlines())
    assert before == saved.read_bytes()
    err.truncate(0)
    code = main(
        [
            "build",
            str(saved),
            "--out",
            str(tmp_path / "second"),
            "--bookings",
            str(tmp_path / "second"),
        ],
        stdout=out,
        stderr=err,
    )
    assert (0, "") == (code, err.getvalue())


def test_a_clinics_busy_bookings_count_once_in_its_ledger(tmp_path: Path) -> None:
    """A two-chair clinic with one chair busy all day has one chair left: a plan made with the
    clinic's ledger (which holds the busy bookings) or booked around an empty bookings folder
    takes the 09:00 slot as a plan made without a ledger does."""
    first = dt.date(2027, 1, 11)
    busy = tuple(
        ketaplan.Busy(
            dt.datetime.combine(first + dt.timedelta(days=n), dt.time(8), tzinfo=dt.UTC),
            dt.datetime.combine(first + dt.timedelta(days=n), dt.time(23), tzinfo=dt.UTC),
        )
        for n in range(60)
    )
    clinic = toronto_clinic(chairs=2, busy=busy)
    alone = ketaplan.Plan.create("p-0", IV, clinic, START, now=NOW)
    booked, _ledger = ketaplan.book(
        "p-0", IV, clinic, START, now=NOW, ledger=ketaplan.Ledger.for_clinic(clinic)
    )
    (tmp_path / "empty").mkdir()
    around = ketaplan._ledger.book_around(alone, tmp_path / "empty")
    assert [s.start for s in alone.sessions] == [s.start for s in booked.sessions]
    assert [s.start for s in alone.sessions] == [s.start for s in around.sessions]
