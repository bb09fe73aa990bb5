"""The scheduler: dates, moves with reasons, errors that name the rule, and invariants."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ketaplan
from ketaplan import SessionKind

from .conftest import NOW, ROOT, toronto_clinic
from .strategies import clinics, preferences, starts

IV = ketaplan.builtin_protocols()["iv-induction"]
IV_MONTHLY = IV.with_phase("maintenance", interval=ketaplan.IntervalRange.parse("4 weeks"))


def dated(plan: ketaplan.Schedule, kind: SessionKind = SessionKind.DOSING) -> list[tuple[str, str]]:
    return [(s.key, s.start.isoformat()) for s in plan.sessions if s.kind is kind]


def test_iv_induction_three_a_week_on_preferred_days() -> None:
    """With Monday, Wednesday and Friday preferred, six infusions fall on those days over two weeks."""
    result = ketaplan.schedule(
        IV,
        toronto_clinic(),
        dt.date(2027, 1, 11),
        time=dt.time(9, 30),
        weekdays=(ketaplan.Weekday.MO, ketaplan.Weekday.WE, ketaplan.Weekday.FR),
    )
    expected = [
        ("induction-01", "2027-01-13T09:30:00-05:00"),
        ("induction-02", "2027-01-15T09:30:00-05:00"),
        ("induction-03", "2027-01-18T09:30:00-05:00"),
        ("induction-04", "2027-01-20T09:30:00-05:00"),
        ("induction-05", "2027-01-22T09:30:00-05:00"),
        ("induction-06", "2027-01-25T09:30:00-05:00"),
    ]
    assert expected == dated(result)


def test_two_preferred_days_give_two_a_week_within_three_weeks() -> None:
    """Tuesday and Thursday give two infusions a week, all six inside the three-week window."""
    result = ketaplan.schedule(
        IV,
        toronto_clinic(),
        dt.date(2027, 1, 11),
        weekdays=(ketaplan.Weekday.TU, ketaplan.Weekday.TH),
    )
    days = [s.start.date() for s in result.sessions if s.kind is SessionKind.DOSING]
    assert [dt.date(2027, 1, d) for d in (12, 14, 19, 21, 26, 28)] == days


def test_holiday_moves_session_to_next_open_day_with_reason() -> None:
    """An infusion that falls on Christmas moves to the next open day and says why, naming the holiday."""
    result = ketaplan.schedule(IV, toronto_clinic(), dt.date(2026, 12, 14), time=dt.time(9, 30))
    moved = [s for s in result.sessions if s.kind is SessionKind.DOSING and s.moves]
    assert [s.key for s in moved] == ["induction-05"]
    session = moved[0]
    assert dt.date(2026, 12, 25) == session.planned
    assert dt.date(2026, 12, 29) == session.start.date()
    assert "Christmas Day (CA-ON)" in session.moves[0].rule
    assert [dt.date(2026, 12, d) for d in (25, 26, 27, 28)] == [m.date for m in session.moves]


def test_moved_session_keeps_the_preferred_time() -> None:
    """A session moved to another day keeps its wall-clock time."""
    result = ketaplan.schedule(IV, toronto_clinic(), dt.date(2026, 12, 14), time=dt.time(10, 15))
    moved = next(s for s in result.sessions if s.moves and s.kind is SessionKind.DOSING)
    assert dt.time(10, 15) == moved.start.time()


def test_closure_is_a_move_reason() -> None:
    """A clinic closure moves a session to the nearest preferred weekday, and the reason carries
    the closure's own words."""
    clinic = toronto_clinic(
        closures=(ketaplan.Closure(dt.date(2027, 1, 13), dt.date(2027, 1, 13), "storm"),)
    )
    result = ketaplan.schedule(IV, clinic, dt.date(2027, 1, 11))
    first = next(s for s in result.sessions if s.key == "induction-01")
    assert first.moves[0].rule == "closure: storm"
    assert dt.date(2027, 1, 15) == first.start.date()
    assert "Thursday is not a preferred weekday" == first.moves[1].rule


@pytest.mark.parametrize(
    ("zone", "start", "change"),
    [
        ("America/Toronto", dt.date(2027, 2, 22), dt.date(2027, 3, 14)),
        ("Europe/London", dt.date(2027, 3, 8), dt.date(2027, 3, 28)),
        ("Australia/Sydney", dt.date(2027, 3, 22), dt.date(2027, 4, 4)),
        ("America/Toronto", dt.date(2026, 10, 19), dt.date(2026, 11, 1)),
    ],
)
def test_wall_clock_time_kept_across_dst(zone: str, start: dt.date, change: dt.date) -> None:
    """Sessions stay at 09:30 local time on both sides of a DST change, so their UTC offset changes."""
    clinic = ketaplan.Clinic(name="c", timezone=zone)
    result = ketaplan.schedule(IV_MONTHLY, clinic, start, time=dt.time(9, 30))
    dosing = [s for s in result.sessions if s.kind is SessionKind.DOSING]
    assert {dt.time(9, 30)} == {s.start.astimezone(clinic.zone).time() for s in dosing}
    before = {s.start.utcoffset() for s in dosing if s.start.date() < change}
    after = {s.start.utcoffset() for s in dosing if s.start.date() > change}
    assert before
    assert after
    assert before.isdisjoint(after)


def test_session_duration_is_exact_across_dst_night() -> None:
    """A session's end is its start plus the exact duration, even on the night clocks change."""
    clinic = ketaplan.Clinic(
        name="c",
        timezone="Europe/London",
        hours={d: (ketaplan.Hours(dt.time(0), dt.time(23, 59)),) for d in ketaplan.Weekday},
    )
    result = ketaplan.schedule(IV, clinic, dt.date(2027, 3, 27), time=dt.time(0, 30))
    for session in result.sessions:
        assert session.end - session.start == IV.template(session.template).duration


def test_preferred_time_that_does_not_exist_moves_with_reason() -> None:
    """01:30 does not exist on the day London's clocks go forward: the session takes the nearest
    time that exists that day, and says why."""
    clinic = ketaplan.Clinic(
        name="c",
        timezone="Europe/London",
        hours={d: (ketaplan.Hours(dt.time(0), dt.time(23, 59)),) for d in ketaplan.Weekday},
    )
    protocol = ketaplan.builtin_protocols()["iv-induction"]
    result = ketaplan.schedule(protocol, clinic, dt.date(2027, 3, 28), time=dt.time(1, 30))
    consultation = result.sessions[0]
    assert dt.datetime(2027, 3, 28, 2, 0) == consultation.start.replace(tzinfo=None)
    assert "01:30: 01:30 does not exist" in consultation.moves[0].rule


def test_session_not_fitting_opening_hours_moves() -> None:
    """A two-hour infusion at 15:00 does not fit a Friday that closes at 16:00, so it moves on."""
    hours = {d: (ketaplan.Hours(dt.time(8), dt.time(18)),) for d in list(ketaplan.Weekday)[:4]}
    hours[ketaplan.Weekday.FR] = (ketaplan.Hours(dt.time(8), dt.time(16)),)
    result = ketaplan.schedule(
        IV, toronto_clinic(hours=hours), dt.date(2027, 1, 11), time=dt.time(15)
    )
    friday = next(s for s in result.sessions if s.key == "induction-02")
    assert "does not fit the opening hours (08:00-16:00)" in friday.moves[0].rule


def test_full_slot_moves_session_and_says_so() -> None:
    """When every chair is booked all day, the session moves to another day and names the full slot."""
    zone = toronto_clinic().zone
    busy = (
        ketaplan.Busy(
            dt.datetime(2027, 1, 13, 8, tzinfo=zone), dt.datetime(2027, 1, 13, 17, tzinfo=zone)
        ),
    )
    result = ketaplan.schedule(IV, toronto_clinic(busy=busy, chairs=1), dt.date(2027, 1, 11))
    first = next(s for s in result.sessions if s.key == "induction-01")
    assert first.start.date() == dt.date(2027, 1, 15)
    assert first.moves[0].rule.startswith("full: the only chair is booked")


def test_second_chair_keeps_the_slot() -> None:
    """With two chairs, one existing booking leaves room at the preferred time."""
    zone = toronto_clinic().zone
    busy = (
        ketaplan.Busy(
            dt.datetime(2027, 1, 13, 8, tzinfo=zone), dt.datetime(2027, 1, 13, 17, tzinfo=zone)
        ),
    )
    result = ketaplan.schedule(IV, toronto_clinic(busy=busy, chairs=2), dt.date(2027, 1, 11))
    first = next(s for s in result.sessions if s.key == "induction-01")
    assert (dt.date(2027, 1, 13), ()) == (first.start.date(), first.moves)


def test_consecutive_days_rule_moves_with_reason() -> None:
    """A clinic that forbids dosing on consecutive days keeps a moved session off the days next
    to the others, and says why."""
    clinic = toronto_clinic(
        consecutive_days=False,
        closures=(ketaplan.Closure(dt.date(2027, 1, 18), dt.date(2027, 1, 18), "storm"),),
    )
    result = ketaplan.schedule(IV, clinic, dt.date(2027, 1, 11))
    days = [s.start.date() for s in result.sessions if s.kind is SessionKind.DOSING]
    assert all((b - a).days >= 2 for a, b in itertools.pairwise(days))
    third = next(s for s in result.sessions if s.key == "induction-03")
    assert dt.date(2027, 1, 20) == third.start.date()
    assert ["closure: storm", "Tuesday is not a preferred weekday"] == [m.rule for m in third.moves]
    clinic = toronto_clinic(consecutive_days=False)
    result = ketaplan.schedule(
        IV, clinic, dt.date(2027, 1, 11), weekdays=tuple(ketaplan.Weekday)[:5]
    )
    second = next(s for s in result.sessions if s.key == "induction-02")
    assert "no dosing on consecutive days" in second.moves[0].rule


def test_impossible_window_raises_naming_session_date_and_rule() -> None:
    """A three-week closure makes the induction impossible: the error names the session, date and
    rule, and which rules closed each day of the window."""
    closure = ketaplan.Closure(dt.date(2027, 1, 18), dt.date(2027, 2, 12), "renovation")
    with pytest.raises(ketaplan.ScheduleError) as caught:
        ketaplan.schedule(IV, toronto_clinic(closures=(closure,)), dt.date(2027, 1, 11))
    error = caught.value
    assert error.session_key.startswith("induction-")
    assert "6 sessions, 2-3 a week within 3 weeks" in error.rule
    assert "to Mon 01 Feb closed: Saturdays, Sundays, renovation" in str(error)


def test_clinician_set_interval_leaves_phase_pending() -> None:
    """Maintenance whose interval the clinician sets stays undated and is reported as pending."""
    result = ketaplan.schedule(IV, toronto_clinic(), dt.date(2027, 1, 11))
    assert [s for s in result.sessions if s.phase == "maintenance"] == []
    assert result.pending[0][0] == "maintenance"
    assert "2-6 weeks" in result.pending[0][1]


def test_interval_outside_protocol_range_is_rejected() -> None:
    """Setting a booster interval the protocol does not allow is an error listing the allowed range."""
    with pytest.raises(ketaplan.SpecError, match="the protocol allows 2-6 weeks"):
        IV.with_phase("maintenance", interval=ketaplan.IntervalRange.parse("10 weeks"))


def test_boosters_follow_the_set_interval() -> None:
    """Boosters fall every four weeks after the last induction session."""
    result = ketaplan.schedule(IV_MONTHLY, toronto_clinic(), dt.date(2027, 1, 11))
    induction_end = max(
        s.start.date()
        for s in result.sessions
        if s.phase == "induction" and s.kind is SessionKind.DOSING
    )
    boosters = [s.start.date() for s in result.sessions if s.phase == "maintenance"]
    assert [induction_end + dt.timedelta(weeks=4 * n) for n in (1, 2, 3)] == boosters


def test_integration_follows_each_dosing_within_window() -> None:
    """Every infusion has an integration session 24-72 h after it ends, never before."""
    result = ketaplan.schedule(IV, toronto_clinic(), dt.date(2026, 12, 14))
    by_key = {s.key: s for s in result.sessions}
    companions = [s for s in result.sessions if s.kind is SessionKind.INTEGRATION]
    assert len(companions) == 6
    for session in companions:
        anchor = by_key[session.anchor or ""]
        assert dt.timedelta(hours=24) <= session.start - anchor.end <= dt.timedelta(hours=72)


def test_assessments_at_baseline_and_end_of_induction() -> None:
    """PHQ-9 and GAD-7 fall due at the consultation and at the end-of-induction review."""
    result = ketaplan.schedule(IV, toronto_clinic(), dt.date(2027, 1, 11))
    due = {s.key: s.assessments for s in result.sessions if s.assessments}
    assert due == {"consultation": ("PHQ-9", "GAD-7"), "induction-06-review": ("PHQ-9", "GAD-7")}


def test_fewer_preferred_weekdays_than_the_cadence_needs_uses_other_days() -> None:
    """One preferred weekday cannot carry two sessions a week: the others take other days, and
    each says why it is not on a Monday."""
    result = ketaplan.schedule(
        IV, toronto_clinic(), dt.date(2027, 1, 11), weekdays=(ketaplan.Weekday.MO,)
    )
    dosing = [s for s in result.sessions if s.kind is SessionKind.DOSING]
    assert 6 == len(dosing)
    first = dosing[0].start.date()
    assert dosing[-1].start.date() < first + dt.timedelta(weeks=3)
    assert all(s.moves for s in dosing if s.start.weekday() != 0)


def test_datetime_start_is_rejected() -> None:
    """The start is a date: a datetime is rejected rather than silently truncated."""
    with pytest.raises(ketaplan.SpecError, match=r"plan\.start"):
        ketaplan.schedule(IV, toronto_clinic(), dt.datetime(2027, 1, 11, 9, tzinfo=dt.UTC))


def test_schedule_is_deterministic() -> None:
    """The same inputs give equal schedules."""
    first = ketaplan.schedule(IV_MONTHLY, toronto_clinic(), dt.date(2026, 12, 14))
    second = ketaplan.schedule(IV_MONTHLY, toronto_clinic(), dt.date(2026, 12, 14))
    assert first == second


PROTOCOLS = sorted(ketaplan.builtin_protocols())


def _dateable(protocol: ketaplan.Protocol) -> ketaplan.Protocol:
    for phase in protocol.phases:
        if isinstance(phase.cadence, ketaplan.Every) and phase.cadence.set_by_clinician:
            protocol = protocol.with_phase(
                phase.name,
                interval=ketaplan.IntervalRange(
                    phase.cadence.interval.low, phase.cadence.interval.low
                ),
            )
    return protocol


def _expected_count(phase: ketaplan.Phase) -> int:
    cadence = phase.cadence
    if isinstance(cadence, ketaplan.PerWeek):
        return cadence.sessions
    if isinstance(cadence, ketaplan.Offsets):
        return len(cadence.offsets)
    assert cadence.sessions is not None
    return cadence.sessions


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(PROTOCOLS), clinic=clinics(), preferences=preferences(), start=starts())
def test_schedule_invariants(
    name: str, clinic: ketaplan.Clinic, preferences: ketaplan.Preferences, start: dt.date
) -> None:
    """Whatever the clinic, a schedule is sorted, starts on or after the start date, has the declared
    counts, keeps the gaps, uses no closed day or hour, keeps the local time and never overlaps; or it
    raises an error that names the session and the rule."""
    protocol = _dateable(ketaplan.builtin_protocols()[name])
    try:
        result = ketaplan.schedule(
            protocol, clinic, start, time=preferences.time, weekdays=preferences.weekdays
        )
    except (ketaplan.ScheduleError, ketaplan.SpecError) as error:
        failure: Exception = error
    else:
        check_invariants(protocol, clinic, preferences, start, result)
        return
    if isinstance(failure, ketaplan.ScheduleError):
        assert failure.session_key
        assert failure.rule
    else:
        assert isinstance(failure, ketaplan.SpecError)
        assert failure.field == "plan.weekdays"


def check_invariants(
    protocol: ketaplan.Protocol,
    clinic: ketaplan.Clinic,
    preferences: ketaplan.Preferences,
    start: dt.date,
    result: ketaplan.Schedule,
) -> None:
    sessions = result.sessions
    zone = clinic.zone
    assert sorted(sessions, key=lambda s: (s.start, s.key)) == list(sessions)
    assert all(s.start.astimezone(zone).date() >= start for s in sessions)
    for phase in protocol.phases:
        own = [s for s in sessions if s.phase == phase.name and s.anchor is None]
        assert _expected_count(phase) == len(own)
        for companion in phase.companions:
            template = protocol.template(companion.session)
            tied = [
                s
                for s in sessions
                if s.phase == phase.name and s.template == template.name and s.anchor
            ]
            expected = len(own) if companion.anchor == "each" else 1
            assert expected == len(tied)
        if isinstance(phase.cadence, ketaplan.PerWeek):
            first = min(s.start.date() for s in own)
            assert max(s.start.date() for s in own) < first + dt.timedelta(
                weeks=phase.cadence.weeks
            )
    dosing = [s for s in sessions if s.kind is SessionKind.DOSING]
    gap = max(clinic.min_gap, protocol.min_gap)
    for earlier, later in itertools.pairwise(dosing):
        assert later.start - earlier.start >= gap
        if not clinic.consecutive_days:
            assert (
                later.start.astimezone(zone).date() - earlier.start.astimezone(zone).date()
            ).days >= 2
    for session in sessions:
        local = session.start.astimezone(zone)
        assert clinic.closed_reason(local.date()) is None
        assert clinic.hours_reason(session.start, session.end) is None
        assert session.end - session.start == protocol.template(session.template).duration
        if session.anchor is None and preferences.time != local.time():
            assert session.moves, "a session off the preferred time says why"
        assert bool(session.moves) == (session.planned is not None)
        if session.moves:
            assert all(move.rule for move in session.moves)
    for earlier, later in itertools.pairwise(sessions):
        assert earlier.end <= later.start


def _one_phase(cadence: object) -> ketaplan.Protocol:
    phase = ketaplan.Phase(name="course", title="Course", cadence=cadence, session="dosing")  # type: ignore[arg-type]
    return ketaplan.Protocol(
        name="t",
        title="t",
        summary="",
        route=IV.route,
        phases=(phase,),
        sessions=(IV.template("dosing"),),
        weekdays=(ketaplan.Weekday.MO,),
        sources=IV.sources,
    )


def test_taper_spaces_sessions_ever_further_apart() -> None:
    """A taper of 1, 2 and 4 weeks puts each session that interval after the one before."""
    taper = ketaplan.Taper(
        tuple(ketaplan.Interval.parse(t) for t in ("1 week", "2 weeks", "4 weeks"))
    )
    result = ketaplan.schedule(_one_phase(taper), toronto_clinic(), dt.date(2027, 1, 4))
    assert [dt.date(2027, 1, 11), dt.date(2027, 1, 25), dt.date(2027, 2, 22)] == [
        s.start.date() for s in result.sessions
    ]


def test_every_until_a_date_stops_at_that_date() -> None:
    """An interval phase with an end date books sessions up to that date and no further.

    The session planned on Family Day (a Monday) takes the nearest Monday, the preferred
    weekday, inside the phase's slack: of the two a week either side, the earlier; the next
    follows two weeks after it.
    """
    every = ketaplan.Every(ketaplan.IntervalRange.parse("2 weeks"), until=dt.date(2027, 3, 1))
    result = ketaplan.schedule(_one_phase(every), toronto_clinic(), dt.date(2027, 1, 4))
    assert [
        dt.date(2027, 1, 4),
        dt.date(2027, 1, 18),
        dt.date(2027, 2, 1),
        dt.date(2027, 2, 8),
        dt.date(2027, 2, 22),
    ] == [s.start.date() for s in result.sessions]
    assert "statutory holiday: Family Day (CA-ON)" in result.sessions[3].moves[0].rule


REAL_PLANS = sorted((ROOT / "examples").glob("*.toml")) + sorted(
    (ROOT / "tests" / "data" / "plans").glob("*.toml")
)


@pytest.mark.parametrize("path", REAL_PLANS, ids=lambda p: p.stem)
def test_real_world_plans_keep_every_invariant(path: Path) -> None:
    """Each example and real-world test plan (three continents, DST changes, holidays, closures)
    keeps every schedule invariant."""
    plan = ketaplan.load_plan(path, now=NOW)
    result = ketaplan.Schedule(plan.sessions, tuple((p.phase, p.reason) for p in plan.pending))
    weekdays = plan.preferences.weekdays or plan.protocol.weekdays
    preferences = ketaplan.Preferences(time=plan.preferences.time, weekdays=weekdays)
    assert plan.pending == ()
    check_invariants(plan.protocol, plan.clinic, preferences, plan.start, result)


def test_a_laid_session_is_the_session_made_the_usual_way() -> None:
    """The scheduler's sessions skip the checks they already passed, and are equal, field for
    field, to sessions made the usual way (a field added to Session must be laid too)."""
    zone = toronto_clinic().zone
    start = dt.datetime(2027, 3, 1, 9, 30, tzinfo=zone)
    end = dt.datetime(2027, 3, 1, 11, 30, tzinfo=zone)
    moves = (ketaplan.Move(dt.date(2027, 2, 26), "closure: audit"),)
    usual = ketaplan.Session(
        key="induction-02",
        kind=SessionKind.DOSING,
        phase="induction",
        index=2,
        start=start,
        end=end,
        template="infusion",
        anchor=None,
        planned=dt.date(2027, 2, 26),
        moves=moves,
    )
    laid = ketaplan.Session._laid(
        "induction-02",
        SessionKind.DOSING,
        "induction",
        2,
        start,
        end,
        "infusion",
        None,
        dt.date(2027, 2, 26),
        moves,
    )
    assert usual == laid
    assert repr(usual) == repr(laid)
    assert hash(usual) == hash(laid)


def test_the_clinic_facts_kept_between_plans_stay_bounded_and_change_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The rule book keeps what it learns of a clinic's days and times for the next plan,
    up to a bound: a plan laid while the facts are cleared again and again (a bound of 50)
    is the plan laid with them all kept, and no more than the bound are ever kept."""
    from ketaplan import _rules

    protocol = ketaplan.builtin_protocols()["im-kap"]
    clinic = toronto_clinic(consecutive_days=False)
    starts = [dt.date(2026, 12, 7) + dt.timedelta(days=9 * n) for n in range(4)]
    _rules._KNOWN.clear()
    kept = [ketaplan.schedule(protocol, clinic, start, time=dt.time(13, 30)) for start in starts]
    _rules._KNOWN.clear()
    monkeypatch.setattr(_rules, "_FACTS", 50)
    bounded = []
    for start in starts:
        bounded.append(ketaplan.schedule(protocol, clinic, start, time=dt.time(13, 30)))
        facts = list(_rules._KNOWN.values())
        kept_now = sum(
            len(f.closed) + len(f.times) + len(f.at) + sum(map(len, f.at.values())) for f in facts
        )
        assert kept_now <= 50
    assert kept == bounded
    _rules._KNOWN.clear()
