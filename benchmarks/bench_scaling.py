"""How the cost of scheduling one plan grows with its number of sessions.

    python benchmarks/bench_scaling.py

Schedules plans of 200, 400, 600 and 1,000 dosing sessions (four or five a
week, so that 1,000 fit in the 5 years a plan may span, at a Toronto clinic
with Ontario's holidays, in phases of at most 400 sessions, the largest a
phase may have) and prints the CPU time of each, the
median of ``--rounds`` runs taken in turn (200, 400, ..., 200, 400, ...),
and each size's cost against the 200-session plan's. A search whose cost
grows linearly costs 5x for 1,000 sessions; the goal is under 6x.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time

import attrs

import ketaplan

SIZES = (200, 400, 600, 1000)
START = dt.date(2027, 1, 4)


def protocol(sessions: int) -> ketaplan.Protocol:
    """The IV protocol with ``sessions`` dosing sessions, four or five a week, no companions."""
    base = ketaplan.builtin_protocols()["iv-induction"]
    dosing = next(p for p in base.phases if p.name == "induction")
    phases = []
    left, n = sessions, 0
    while left:
        count = min(left, 400)
        n += 1
        cadence = ketaplan.PerWeek(4, 5, -(-count // 4), count)
        phases.append(attrs.evolve(dosing, name=f"block-{n}", cadence=cadence, companions=()))
        left -= count
    return attrs.evolve(base, phases=tuple(phases), assessments=())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="runs of each size (default 5)")
    rounds = parser.parse_args().rounds
    clinic = ketaplan.Clinic(name="Clinic", timezone="America/Toronto", holidays=("CA-ON",))
    weekdays = tuple(ketaplan.Weekday.parse(day) for day in ("MO", "TU", "WE", "TH", "FR"))
    protocols = {size: protocol(size) for size in SIZES}
    costs: dict[int, list[float]] = {size: [] for size in SIZES}
    for _ in range(rounds):
        for size in SIZES:
            began = time.process_time()
            result = ketaplan.schedule(protocols[size], clinic, START, weekdays=weekdays)
            costs[size].append(time.process_time() - began)
            assert size == len(result.sessions), (size, len(result.sessions))
    first = statistics.median(costs[SIZES[0]])
    for size in SIZES:
        cost = statistics.median(costs[size])
        print(
            f"{size:5d} sessions: {cost * 1000:8.1f} ms CPU  {cost / size * 1e6:6.1f} us a session"
            f"  {cost / first:5.2f}x the {SIZES[0]}-session plan"
        )
    print(f"goal: {SIZES[-1]} sessions under 6x the {SIZES[0]}-session plan")


if __name__ == "__main__":
    main()
