"""Book a clinic's month of new patients, one after another, and print the chair occupancy.

A Toronto clinic with 4 chairs, open 08:00-18:00 Monday to Friday, takes
twenty new patients in January 2027 (IV ketamine and esketamine, different
preferred days and times). Each plan is scheduled around the clinic's ledger
and booked into it; the ledger is a value, so each booking gives a new one.
Prints, for each day in January and February, the most chairs in use at
once. Run from any folder; nothing is written.
"""

from __future__ import annotations

import datetime as dt

import ketaplan

NOW = dt.datetime(2026, 12, 20, 12, 0, tzinfo=dt.UTC)
HOURS = (ketaplan.Hours(dt.time(8), dt.time(18)),)


def clinic() -> ketaplan.Clinic:
    return ketaplan.Clinic(
        name="Lakeside Wellness Clinic",
        timezone="America/Toronto",
        holidays=("CA-ON",),
        hours={ketaplan.Weekday(day): HOURS for day in range(5)},
        chairs=4,
    )


def book_month() -> tuple[list[ketaplan.Plan], ketaplan.Ledger]:
    """Twenty patients, a new one every weekday or so, booked in arrival order."""
    place = clinic()
    builtin = ketaplan.builtin_protocols()
    protocols = [
        builtin["iv-induction"].with_phase(
            "maintenance", interval=ketaplan.IntervalRange.parse("4 weeks"), sessions=1
        ),
        builtin["esketamine-nasal"],
    ]
    preferences = [
        ketaplan.Preferences(time=dt.time(9, 0)),
        ketaplan.Preferences(
            time=dt.time(9, 0), weekdays=(ketaplan.Weekday.TU, ketaplan.Weekday.FR)
        ),
        ketaplan.Preferences(time=dt.time(13, 30)),
    ]
    ledger = ketaplan.Ledger.for_clinic(place)
    plans = []
    for n in range(20):
        start = dt.date(2027, 1, 4) + dt.timedelta(days=n * 3 // 2)
        plan, ledger = ketaplan.book(
            f"lakeside-{n + 1:03d}",
            protocols[n % len(protocols)],
            place,
            start,
            preferences=preferences[n % len(preferences)],
            now=NOW,
            ledger=ledger,
        )
        plans.append(plan)
    return plans, ledger


def occupancy(ledger: ketaplan.Ledger, zone: dt.tzinfo, day: dt.date) -> int:
    """The most chairs in use at once on local date ``day``."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    return ledger.in_use("chair", start, end)


def main() -> None:
    plans, ledger = book_month()
    zone = plans[0].clinic.zone
    chairs = ledger.capacity("chair") or 0
    moved = sum(1 for plan in plans for session in plan.sessions if session.moves)
    print(f"{len(plans)} patients booked, {len(ledger)} chair sessions, {moved} sessions moved")
    day = dt.date(2027, 1, 4)
    while day < dt.date(2027, 3, 1):
        if day.weekday() < 5:
            used = occupancy(ledger, zone, day)
            assert used <= chairs
            print(f"{day:%a %d %b}  {'#' * used}{'.' * (chairs - used)}  {used} of {chairs}")
        day += dt.timedelta(days=1)


if __name__ == "__main__":
    main()
