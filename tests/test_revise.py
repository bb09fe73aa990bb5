"""Re-exports after a change: same UIDs, SEQUENCE up only where something changed, nothing lost."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import attrs
import icalendar
import pytest

import ketaplan
from ketaplan._cli import main

from .conftest import EXAMPLES, NOW

LATER = NOW + dt.timedelta(days=2)
SOURCE = EXAMPLES / "iv-induction.toml"


def events(data: bytes) -> dict[str, icalendar.Event]:
    return {str(e["UID"]): e for e in icalendar.Calendar.from_ical(data).walk("VEVENT")}


def test_unchanged_rebuild_is_the_previous_plan() -> None:
    """Rebuilding the same plan file changes nothing: same plan, same revision."""
    first = ketaplan.load_plan(SOURCE, now=NOW)
    again = ketaplan.reconcile(first, ketaplan.load_plan(SOURCE, now=LATER), now=LATER)
    assert first == again


def test_changed_clinic_closure_raises_sequence_only_where_sessions_moved(tmp_path: Path) -> None:
    """A new closure moves some sessions: those get SEQUENCE 1, all others stay at 0, every UID stays."""
    first = ketaplan.load_plan(SOURCE, now=NOW)
    text = SOURCE.read_text(encoding="utf-8").replace(
        "closures = [", 'closures = [{ date = 2026-12-21, reason = "burst pipe" }, '
    )
    assert "burst pipe" in text
    (tmp_path / "plan.toml").write_text(text, encoding="utf-8")
    second = ketaplan.reconcile(
        first, ketaplan.load_plan(tmp_path / "plan.toml", now=LATER), now=LATER
    )
    before = events(ketaplan.render_ics(first, now=NOW))
    after = events(ketaplan.render_ics(second, now=LATER))
    assert set(before) == set(after)
    changed = {
        uid
        for uid in after
        if before[uid].to_ical().replace(b"SEQUENCE:0", b"")
        != after[uid].to_ical().replace(b"SEQUENCE:1", b"")
    }
    raised = {uid for uid, event in after.items() if event.get("SEQUENCE") == 1}
    assert raised
    assert {uid for uid, e in after.items() if e.get("SEQUENCE") not in (0, 1)} == set()
    moved_keys = {s.key for s in second.sessions if s.sequence == 1}
    assert {second.uid(s) for s in second.sessions if s.key in moved_keys} == raised
    assert raised <= changed
    assert 2 == second.revision
    assert second.history[-1].changes


def test_session_that_disappears_is_cancelled_not_dropped() -> None:
    """A session missing from the rebuilt plan stays, with STATUS:CANCELLED and a higher SEQUENCE."""
    first = ketaplan.load_plan(SOURCE, now=NOW)
    shorter = first.protocol.with_phase("maintenance", sessions=2)
    rebuilt = ketaplan.Plan.create(
        first.id,
        shorter,
        first.clinic,
        first.start,
        preferences=first.preferences,
        patient=first.patient,
        calendar=first.calendar,
        now=LATER,
    )
    second = ketaplan.reconcile(first, rebuilt, now=LATER)
    gone = second.session("maintenance-03")
    assert (ketaplan.SessionStatus.CANCELLED, 1) == (gone.status, gone.sequence)
    event = events(ketaplan.render_ics(second, now=LATER))[second.uid(gone)]
    assert ("CANCELLED", 1) == (str(event["STATUS"]), event["SEQUENCE"])
    assert "maintenance-03: cancelled (no longer in the plan)" in second.history[-1].changes


def test_rebuild_with_another_id_is_refused() -> None:
    """reconcile only follows the same plan."""
    first = ketaplan.load_plan(SOURCE, now=NOW)
    with pytest.raises(ketaplan.SpecError, match="a rebuild keeps the plan id"):
        ketaplan.reconcile(first, attrs.evolve(first, id="other"), now=LATER)


def test_cli_rebuild_into_the_same_folder_carries_sequence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ketaplan build` into a folder that holds the plan's JSON treats the build as a new revision."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1795000000")
    plan_file = tmp_path / "plan.toml"
    plan_file.write_text(SOURCE.read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "out"
    assert 0 == main(["build", str(plan_file), "--out", str(out)])
    first = ketaplan.load_plan(next(out.glob("*.json")), now=NOW)
    plan_file.write_text(
        plan_file.read_text(encoding="utf-8").replace('time = "09:30"', 'time = "10:00"'),
        encoding="utf-8",
    )
    assert 0 == main(["build", str(plan_file), "--out", str(out)])
    second = ketaplan.load_plan(next(out.glob("*.json")), now=NOW)
    assert 2 == second.revision
    assert {s.key for s in first.sessions} == {s.key for s in second.sessions}
    assert any(s.sequence == 1 for s in second.sessions)
