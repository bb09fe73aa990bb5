"""Book N patients into one clinic's ledger and print the cost of each booking.

    python benchmarks/bench_clinic.py --patients 1000

One Toronto clinic with 16 chairs, open 08:00-18:00 Monday to Friday, with
Ontario's holidays. Patients arrive over twelve months (a fixed seed decides
who arrives when), each with an induction and about three months of
maintenance of one of the built-in protocols, their own preferred weekdays and
time of day. Each is scheduled around the ledger and booked into it, one after
another, as a clinic books. Prints the total CPU time (the machine is shared:
CPU time is what another process cannot inflate), the cost of the 100th and
the 1,000th booking (the median of the 10 bookings around each), how many were
booked and refused, and the highest chair occupancy seen, which must never
exceed the clinic's chairs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time

import ketaplan

NOW = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
FIRST = dt.date(2027, 1, 4)
CHAIRS = 16
WEEKDAYS = [
    (),  # the protocol's usual days
    ("MO", "TH"),
    ("TU", "FR"),
    ("MO", "WE", "FR"),
    ("TU", "TH"),
    ("WE",),
]
TIMES = [dt.time(8, 0), dt.time(9, 30), dt.time(11, 0), dt.time(13, 0), dt.time(15, 30)]


def clinic() -> ketaplan.Clinic:
    """The clinic: 16 chairs, 08:00-18:00 Monday to Friday, Ontario's holidays."""
    hours = {ketaplan.Weekday(day): (ketaplan.Hours(dt.time(8), dt.time(18)),) for day in range(5)}
    return ketaplan.Clinic(
        name="Benchmark Clinic",
        timezone="America/Toronto",
        holidays=("CA-ON",),
        hours=hours,
        chairs=CHAIRS,
    )


def protocols() -> list[ketaplan.Protocol]:
    """Each built-in protocol with an induction and about three months of maintenance."""
    builtin = ketaplan.builtin_protocols()
    weekly, fortnightly, monthly = (
        ketaplan.IntervalRange.parse(text) for text in ("1 week", "2 weeks", "4 weeks")
    )
    return [
        builtin["esketamine-nasal"].with_phase("maintenance", interval=fortnightly, sessions=2),
        builtin["esketamine-nasal"].with_phase("maintenance", interval=weekly, sessions=4),
        builtin["iv-induction"].with_phase("maintenance", interval=monthly, sessions=3),
        builtin["im-kap"],
        builtin["oral-sublingual"],
    ]


def requests(count: int, seed: int = 9) -> list[dict[str, object]]:
    """``count`` patients arriving over twelve months, in arrival order."""
    pick = random.Random(seed)
    mix = protocols()
    found = []
    for n in range(count):
        found.append(
            {
                "id": f"patient-{n:05d}",
                "protocol": pick.choice(mix),
                "start": FIRST + dt.timedelta(days=n * 365 // max(count, 1)),
                "preferences": ketaplan.Preferences(
                    time=pick.choice(TIMES),
                    weekdays=tuple(ketaplan.Weekday.parse(d) for d in pick.choice(WEEKDAYS)),
                ),
            }
        )
    return found


def highest_occupancy(ledger: ketaplan.Ledger) -> int:
    """The most chairs in use at one moment, over every day the ledger holds."""
    return max(
        (
            ledger.in_use(
                "chair",
                dt.datetime.combine(day, dt.time(0), dt.UTC),
                dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), dt.UTC),
            )
            for day in ledger.days("chair")
        ),
        default=0,
    )


def around(costs: list[float], index: int) -> float:
    """The median of the 10 costs around the ``index``-th booking (1-based)."""
    centre = min(index, len(costs))
    return statistics.median(costs[max(0, centre - 5) : centre + 5] or [0.0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--patients", type=int, default=1000, help="number of patients (default 1000)"
    )
    count = parser.parse_args().patients
    place = clinic()
    ledger = ketaplan.Ledger.for_clinic(place)
    booked = refused = 0
    costs: list[float] = []
    total = time.process_time()
    for request in requests(count):
        began = time.process_time()
        try:
            _plan, ledger = ketaplan.book(
                request["id"],
                request["protocol"],
                place,
                request["start"],
                preferences=request["preferences"],
                now=NOW,
                ledger=ledger,
            )
            booked += 1
        except ketaplan.ScheduleError:
            refused += 1
        costs.append(time.process_time() - began)
    total = time.process_time() - total
    most = highest_occupancy(ledger)
    assert most <= CHAIRS, f"{most} chairs in use at once, the clinic has {CHAIRS}"
    print(f"patients: {count}  booked: {booked}  refused: {refused}  bookings: {len(ledger)}")
    print(f"total: {total:.2f} s CPU  ({total / max(count, 1) * 1000:.2f} ms a patient)")
    first, last = around(costs, 100), around(costs, 1000)
    print(f"100th booking: {first * 1000:.2f} ms  1,000th booking: {last * 1000:.2f} ms", end="")
    print(f"  (ratio {last / first:.2f})" if count >= 1000 and first else "")
    slow = [cost for cost in costs if cost > 0.1]
    print(
        f"slowest booking: {max(costs, default=0) * 1000:.0f} ms; {len(slow)} over 100 ms"
        f" took {sum(slow):.2f} s of the total"
    )
    print(f"highest chair occupancy: {most} of {CHAIRS}")


if __name__ == "__main__":
    main()
