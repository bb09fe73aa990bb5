"""Changing a plan: each operation returns a new revision, checks the rules and keeps calendars in step."""

from __future__ import annotations

import datetime as dt

import attrs
import icalendar
import pytest

import ketaplan

from .conftest import EXAMPLES

START = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
ZONE = "America/Toronto"


@pytest.fixture
def plan() -> ketaplan.Plan:
    return ketaplan.load_plan(EXAMPLES / "iv-induction.toml", now=START)


def local(plan: ketaplan.Plan, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=plan.clinic.zone)


def events(plan: ketaplan.Plan) -> dict[str, icalendar.Event]:
    data = ketaplan.render_ics(plan, now=START)
    return {str(e["UID"]): e for e in icalendar.Calendar.from_ical(data).walk("VEVENT")}


def test_reschedule_moves_one_session_and_raises_its_sequence(plan: ketaplan.Plan) -> None:
    """Rescheduling moves one session, records a revision with the reason and raises only its SEQUENCE."""
    session = plan.session("induction-02")
    new_start = local(plan, session.start.date(), 14)
    after = ketaplan.reschedule(
        plan, "induction-02", new_start, now=START, reason="patient asked", by="front desk"
    )
    assert (new_start, session.duration) == (
        after.session("induction-02").start,
        after.session("induction-02").duration,
    )
    assert ("reschedule", "patient asked", "front desk") == (
        after.history[-1].action,
        after.history[-1].reason,
        after.history[-1].by,
    )
    sequences = {uid: e["SEQUENCE"] for uid, e in events(after).items()}
    assert {after.uid(session): 1} == {uid: n for uid, n in sequences.items() if n}


def test_reschedule_onto_a_holiday_names_the_rule(plan: ketaplan.Plan) -> None:
    """Moving a session onto Christmas Day is refused with the holiday named."""
    with pytest.raises(ketaplan.ScheduleError, match="Christmas Day"):
        ketaplan.reschedule(
            plan, "induction-02", local(plan, dt.date(2026, 12, 25), 9, 30), now=START, reason="x"
        )


def test_past_sessions_cannot_be_moved(plan: ketaplan.Plan) -> None:
    """Once a session has started it cannot be rescheduled, omitted or deferred."""
    later = plan.session("induction-03").start + dt.timedelta(hours=1)
    with pytest.raises(ketaplan.SpecError, match="past sessions cannot be moved"):
        ketaplan.omit(plan, "induction-01", now=later, reason="x")


def test_defer_shifts_the_rest_and_honours_the_calendar(plan: ketaplan.Plan) -> None:
    """Deferring by a week shifts this and every later session, off closed days, each saying why."""
    key = "maintenance-01"
    before = {s.key: s.start for s in plan.sessions}
    after = ketaplan.defer(plan, key, 7, now=START, reason="storm closure")
    shifted = [s for s in after.sessions if s.start != before[s.key]]
    assert {s.key for s in shifted} == {
        s.key for s in plan.sessions if s.start >= plan.session(key).start
    }
    for session in shifted:
        assert session.start - before[session.key] >= dt.timedelta(days=6)
        assert (
            after.clinic.closed_reason(session.start.astimezone(after.clinic.zone).date()) is None
        )
        assert session.sequence == 1


def test_omit_cancels_one_and_leaves_the_rest(plan: ketaplan.Plan) -> None:
    """Omitting one session cancels it in the calendar and leaves every other session where it was."""
    after = ketaplan.omit(plan, "maintenance-02", now=START, reason="travelling")
    event = events(after)[after.uid(after.session("maintenance-02"))]
    assert ("CANCELLED", 1) == (str(event["STATUS"]), event["SEQUENCE"])
    assert [s.start for s in plan.sessions] == [s.start for s in after.sessions]


def test_miss_and_complete_need_the_session_to_have_happened(plan: ketaplan.Plan) -> None:
    """A session can be marked missed or completed only once it has started."""
    first = plan.session("induction-01")
    with pytest.raises(ketaplan.SpecError, match="has not happened yet"):
        ketaplan.miss(plan, "induction-01", now=START)
    after = ketaplan.complete(
        ketaplan.miss(plan, "consultation", now=first.end), "induction-01", now=first.end
    )
    assert (ketaplan.SessionStatus.MISSED, ketaplan.SessionStatus.COMPLETED) == (
        after.session("consultation").status,
        after.session("induction-01").status,
    )


def test_cease_cancels_every_future_session(plan: ketaplan.Plan) -> None:
    """Ceasing cancels every session that has not started and keeps the past ones."""
    moment = plan.session("induction-04").end
    after = ketaplan.cease(plan, now=moment, reason="patient's choice")
    future = [s for s in after.sessions if s.start > moment]
    assert future
    assert {ketaplan.SessionStatus.CANCELLED} == {s.status for s in future}
    assert all(
        s.status is ketaplan.SessionStatus.SCHEDULED for s in after.sessions if s.start <= moment
    )


def test_fill_dose_checks_units_and_finalise_needs_every_field(plan: ketaplan.Plan) -> None:
    """Doses are checked against their fields; the plan signs only when every required field is filled."""
    with pytest.raises(ketaplan.SpecError, match="the unit must be 'kg'"):
        ketaplan.fill_dose(plan, "body_weight", "72 lb", now=START)
    with pytest.raises(ketaplan.SpecError, match="Dose per kg"):
        ketaplan.finalise(plan, "Dr Ada Osei", now=START)
    for field, value in (
        ("dose_per_kg", "0.5 mg/kg"),
        ("body_weight", "72 kg"),
        ("infusion_minutes", "40 min"),
    ):
        plan = ketaplan.fill_dose(plan, field, value, now=START, by="Dr Ada Osei")
    signed = ketaplan.finalise(plan, "Dr Ada Osei", now=START)
    assert not signed.is_draft
    assert ["created", "dose", "dose", "dose", "finalise"] == [r.action for r in signed.history]
    changed = ketaplan.fill_dose(signed, "body_weight", "70 kg", now=START)
    assert changed.is_draft


def test_history_survives_the_json_round_trip(plan: ketaplan.Plan) -> None:
    """Every revision is kept in the plan JSON."""
    after = ketaplan.omit(
        ketaplan.fill_dose(plan, "body_weight", "72 kg", now=START),
        "maintenance-03",
        now=START,
        reason="r",
    )
    assert after == ketaplan.plan_from_json(ketaplan.plan_to_json(after))
    assert [1, 2, 3] == [r.number for r in after.history]


def test_scripted_course_ends_with_every_step_recorded_and_calendars_agreeing() -> None:
    """Playing examples/course.py: every step is in the history, the documents show it, and
    icalendar, vobject and the strict ical parser agree on the calendar, with no duplicate and no
    lost session."""
    import runpy

    import vobject
    from ical.calendar_stream import IcsCalendarStream

    course = runpy.run_path(str(EXAMPLES / "course.py"))
    final: ketaplan.Plan = course["play_course"]()
    actions = [r.action for r in final.history]
    assert ["created", "dose", "dose", "dose", "finalise", "completed", "missed"] == actions[:7]
    assert actions[7:] == ["defer 7 days", "revert maintenance to every 7 days", "cease"]
    data = ketaplan.render_ics(final, now=final.history[-1].at)
    text = data.decode()
    by_icalendar = {
        str(e["UID"]): (str(e["STATUS"]), int(e["SEQUENCE"]))
        for e in icalendar.Calendar.from_ical(data).walk("VEVENT")
    }
    zones = vars(vobject.icalendar)["__tzidMap"]
    for tzid in [key for key in zones if key != "UTC"]:
        del zones[tzid]
    by_vobject = {
        e.uid.value: (e.status.value, int(e.sequence.value))
        for e in vobject.readOne(text).vevent_list
    }
    by_ical = {
        e.uid: (str(e.status.value if e.status else ""), e.sequence)
        for e in IcsCalendarStream.calendar_from_ics(text).events
    }
    assert by_icalendar == by_vobject
    assert set(by_icalendar) == set(by_ical)
    assert len(final.sessions) == len(by_icalendar)
    assert {final.uid(s) for s in final.sessions} == set(by_icalendar)
    cancelled = {
        final.uid(s) for s in final.sessions if s.status is ketaplan.SessionStatus.CANCELLED
    }
    assert cancelled
    assert cancelled == {uid for uid, (status, _) in by_icalendar.items() if status == "CANCELLED"}
    clinician = ketaplan.render_clinician_markdown(final, now=final.history[-1].at)
    for reason in ("patient unwell", "storm closure", "symptoms worsened"):
        assert reason in clinician


def test_add_boosters_continues_the_phase_at_its_interval(plan: ketaplan.Plan) -> None:
    """Two added boosters follow the last one at the maintenance interval, with new keys and calendar events."""
    last = max((s for s in plan.sessions if s.phase == "maintenance"), key=lambda s: s.start)
    after = ketaplan.add_boosters(plan, 2, now=START, reason="symptoms returned", by="Dr Ada Osei")
    new = [after.session(f"maintenance-0{n}") for n in (4, 5)]
    assert all(s.start.date() > last.start.date() for s in new)
    assert new[1].start.date() - new[0].start.date() >= dt.timedelta(weeks=4)
    assert all(
        after.clinic.closed_reason(s.start.astimezone(after.clinic.zone).date()) is None
        for s in new
    )
    assert {after.uid(s) for s in new} <= set(events(after))


def test_switch_route_resets_doses_and_flags_review(plan: ketaplan.Plan) -> None:
    """Switching IV to intramuscular clears every dose entry and the sign-off, gives future dosing
    sessions the new route's template, and says a clinician must review."""
    plan = ketaplan.fill_dose(plan, "body_weight", "72 kg", now=START)
    after = ketaplan.switch_route(
        plan, "intramuscular", now=START, reason="no IV access", by="Dr Ada Osei"
    )
    assert ("intramuscular", ()) == (after.protocol.route.name, after.doses)
    assert after.signoff is None
    assert "clinician review needed" in " ".join(after.history[-1].changes)
    dosing = after.session("induction-02")
    assert dt.timedelta(hours=3) == dosing.duration
    assert "Dose per kg (mg/kg) is blank for every dosing session" in after.missing()
    with pytest.raises(ketaplan.SpecError, match="expected one of"):
        ketaplan.switch_route(plan, "transdermal", now=START, reason="x")


def test_missed_session_follows_the_protocols_lateness_rule() -> None:
    """Missing an esketamine induction session continues the schedule (the label); missing a
    maintenance session flags the plan for the clinician, who settles it by signing again."""
    plan = ketaplan.load_plan(EXAMPLES / "esketamine-nasal.toml", now=START)
    third = plan.session("induction-03")
    after = ketaplan.miss(plan, "induction-03", now=third.end, reason="unwell")
    assert ([s.start for s in plan.sessions], ()) == (
        [s.start for s in after.sessions],
        after.flags,
    )
    weekly = after.session("maintenance-weekly-01")
    flagged = ketaplan.miss(after, "maintenance-weekly-01", now=weekly.end, reason="no transport")
    assert [
        "maintenance-weekly-01 was missed (no transport); decide how the plan continues"
    ] == list(flagged.flags)
    assert "flag for review" == flagged.history[-1].action
    assert any("for the clinician's review" in gap for gap in flagged.missing())


def test_shift_rule_moves_the_rest_of_the_plan(plan: ketaplan.Plan) -> None:
    """A protocol whose rule is to shift moves every later scheduled session on by its interval."""
    shifting = attrs.evolve(
        plan.protocol,
        lateness_rules=(ketaplan.LatenessRule("shift", shift=ketaplan.Interval(7, "days")),),
    )
    plan = attrs.evolve(plan, protocol=shifting)
    second = plan.session("induction-02")
    later = {s.key: s.start for s in plan.sessions if s.start > second.end}
    after = ketaplan.miss(plan, "induction-02", now=second.end, reason="sick")
    moved = {s.key: s.start for s in after.sessions if s.key in later}
    assert all(moved[key] - later[key] >= dt.timedelta(days=7) for key in later)


def test_reschedule_outside_the_phase_window_names_the_protocol_rule(plan: ketaplan.Plan) -> None:
    """Moving the last infusion past the induction's three weeks is refused, naming the phase rule."""
    last = plan.session("induction-06")
    late = last.start + dt.timedelta(days=21)
    with pytest.raises(
        ketaplan.ScheduleError,
        match="phase 'induction' needs 6 sessions, 2-3 a week within 3 weeks",
    ):
        ketaplan.reschedule(plan, "induction-06", late, now=START, reason="holiday travel")


def test_switch_route_keeps_the_template_of_sessions_that_happened(plan: ketaplan.Plan) -> None:
    """After a route switch, a completed session still reads as the session it was (length,
    title, checkpoints); only future sessions take the new route's template."""
    first = plan.session("induction-01")
    done = ketaplan.complete(plan, "induction-01", now=first.end)
    after = ketaplan.switch_route(done, "intramuscular", now=first.end, reason="no IV access")
    kept = after.session("induction-01")
    assert (ketaplan.SessionStatus.COMPLETED, first.start, first.end) == (
        kept.status,
        kept.start,
        kept.end,
    )
    assert plan.template(first).title == after.template(kept).title
    assert plan.template(first).checkpoints == after.template(kept).checkpoints
    assert "IV" not in after.template(after.session("induction-02")).title
    again = ketaplan.plan_from_json(ketaplan.plan_to_json(after))
    assert after == again


def test_reschedule_before_the_plans_start_is_refused(plan: ketaplan.Plan) -> None:
    """Nothing is booked before the plan's start date, not even by hand."""
    earlier = local(plan, plan.start - dt.timedelta(days=3), 10)
    with pytest.raises(ketaplan.ScheduleError, match="nothing is booked before it") as caught:
        ketaplan.reschedule(plan, "induction-02", earlier, now=START, reason="asked")
    assert "induction-02" == caught.value.session_key


def test_defer_by_an_absurd_number_of_days_is_a_clear_error(plan: ketaplan.Plan) -> None:
    """Deferring by more days than a plan may span is refused, naming the limit."""
    with pytest.raises(ketaplan.SpecError, match=r"defer by 1 to \d+ days"):
        ketaplan.defer(plan, "induction-02", 99_999_999, now=START, reason="x")


def test_rules_compare_instants_on_the_night_the_clocks_go_back() -> None:
    """On the autumn night, 00:30-01:20 EDT ends an hour before 01:10-01:40 EST starts:
    moving a session there is not an overlap, though the wall clocks say so."""
    saved = EXAMPLES.parent / "tests" / "data" / "saved" / "fall-back.json"
    plan = ketaplan.plan_from_json(saved.read_bytes())
    first = plan.session("consultation")
    later = first.start - dt.timedelta(minutes=30)
    moved = ketaplan.reschedule(
        plan, "consultation", later, now=START - dt.timedelta(days=60), reason="x"
    )
    assert later == moved.session("consultation").start
    busy = ketaplan.Busy(later, later + first.duration)
    clinic = attrs.evolve(plan.clinic, busy=(busy,))
    other = plan.session("induction-01-integration")
    assert ketaplan.Ledger.for_clinic(clinic).full("chair", other.start, other.end) is None


def test_sessions_laid_again_revisit_an_earlier_choice_before_giving_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Laying sessions again in turn (defer, revert_phase, add_boosters) is a search: when
    the second session finds no day after the first one's, the first takes a later day so
    that both fit, where placing each at its first open day would fail. Each records the
    days it passed over and why."""
    from ketaplan import _schedule
    from ketaplan._rules import Rules

    monkeypatch.setattr(_schedule, "REACH_DAYS", 1)
    monday = dt.date(2027, 3, 1)
    clinic = ketaplan.Clinic(
        name="Clinic",
        timezone=ZONE,
        closures=(ketaplan.Closure(monday + dt.timedelta(2), monday + dt.timedelta(3), "audit"),),
    )
    protocol = ketaplan.builtin_protocols()["iv-induction"]
    template = protocol.template("dosing")
    zone = clinic.zone

    def session(key: str) -> ketaplan.Session:
        start = dt.datetime.combine(monday, dt.time(9), tzinfo=zone)
        end = start + template.duration
        return ketaplan.Session(key, template.kind, "induction", 1, start, end, template.name)

    rules = Rules(protocol, clinic, monday)
    steps = [
        _schedule.InTurn(session("a"), dt.time(9), monday),
        _schedule.InTurn(
            session("b"), dt.time(9), lambda previous: (previous or monday) + dt.timedelta(2)
        ),
    ]
    a, b = _schedule.lay_in_turn(rules, [], steps)
    # a on Monday would put b on Wednesday or Thursday: the audit closes both.
    assert (monday + dt.timedelta(1), monday + dt.timedelta(4)) == (
        a.start.astimezone(zone).date(),
        b.start.astimezone(zone).date(),
    )
    assert "the sessions after it do not fit from there" == a.moves[0].rule
    assert ["closure: audit"] == [m.rule for m in b.moves]
    with pytest.raises(
        ketaplan.ScheduleError, match=r"'b'.*Wed 03 Mar to Thu 04 Mar closed: audit"
    ):
        _schedule.lay_in_turn(
            rules,
            [],
            [
                *steps[:1],
                _schedule.InTurn(steps[1].session, dt.time(9), lambda _p: monday + dt.timedelta(2)),
            ],
        )
