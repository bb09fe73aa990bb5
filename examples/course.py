"""Play a course of esketamine treatment through, change by change.

A missed induction session, a storm closure that defers a week, the
clinician's dose entries and sign-off, a return to weekly sessions when
symptoms come back in maintenance, and finally ceasing the plan. Each step
is a new revision; the calendars and documents of the final plan go to
./course/. Run from any folder.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import ketaplan

PLAN_FILE = Path(__file__).resolve().parent / "esketamine-nasal.toml"


def at(plan: ketaplan.Plan, key: str, *, hours: float = 0) -> dt.datetime:
    """A moment relative to a session's start: 'now' is always an input."""
    return plan.session(key).start + dt.timedelta(hours=hours)


def play_course() -> ketaplan.Plan:
    """The plan after every step of the course."""
    created = dt.datetime(2027, 2, 20, 12, 0, tzinfo=dt.UTC)
    plan = ketaplan.load_plan(PLAN_FILE, now=created)

    # The clinician enters the doses and signs before the first session.
    # (The values are examples of the form an entry takes.)
    for field, value in (("dose", "56 mg"), ("devices", "2 devices"), ("rest_minutes", "5 min")):
        plan = ketaplan.fill_dose(plan, field, value, now=created, by="Dr Ada Osei")
    plan = ketaplan.finalise(plan, "Dr Ada Osei", now=created)

    # Induction: the first session happens, the third is missed (continue, do not restart).
    plan = ketaplan.complete(plan, "induction-01", now=at(plan, "induction-01", hours=3))
    plan = ketaplan.miss(
        plan, "induction-03", now=at(plan, "induction-03", hours=3), reason="patient unwell"
    )

    # A storm closes the clinic: the first weekly session and everything after move a week.
    plan = ketaplan.defer(
        plan,
        "maintenance-weekly-01",
        7,
        now=at(plan, "maintenance-weekly-01", hours=-48),
        reason="storm closure",
        by="clinic manager",
    )

    # Symptoms return in maintenance: the clinician returns to weekly sessions.
    plan = ketaplan.revert_phase(
        plan,
        "maintenance",
        now=at(plan, "maintenance-01", hours=-24),
        reason="symptoms worsened",
        by="Dr Ada Osei",
    )

    # The patient stops treatment after the second maintenance session.
    return ketaplan.cease(
        plan, now=at(plan, "maintenance-02", hours=4), reason="patient's decision", by="Dr Ada Osei"
    )


if __name__ == "__main__":
    final = play_course()
    for revision in final.history:
        print(revision.number, revision.action, revision.reason, *revision.changes, sep=" | ")
    for path in ketaplan.write_outputs(final, "course", now=final.history[-1].at):
        print(path)
