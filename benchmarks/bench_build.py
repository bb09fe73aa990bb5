"""Time scheduling and writing N plans and print plans per second.

    python benchmarks/bench_build.py --plans 200

Each plan is one of the example plan files with its start date shifted by a
different number of days, so that plans meet different holidays and DST
changes. Scheduling is timed alone, then scheduling together with writing all
six files of each plan into a temporary folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import attrs

import ketaplan

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOW = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


def requests(count: int) -> list[ketaplan.Plan]:
    """``count`` plans to rebuild: the examples with shifted start dates."""
    bases = [ketaplan.load_plan(path, now=NOW) for path in sorted(EXAMPLES.glob("*.toml"))]
    return [
        attrs.evolve(
            bases[n % len(bases)],
            id=f"bench-{n:05d}",
            start=bases[n % len(bases)].start + dt.timedelta(days=n % 365),
        )
        for n in range(count)
    ]


def schedule(plan: ketaplan.Plan) -> ketaplan.Plan | None:
    """Schedule ``plan`` afresh; ``None`` when its shifted dates cannot fit."""
    try:
        return ketaplan.Plan.create(
            plan.id,
            plan.protocol,
            plan.clinic,
            plan.start,
            preferences=plan.preferences,
            patient=plan.patient,
            calendar=plan.calendar,
            now=NOW,
        )
    except ketaplan.ScheduleError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=200, help="number of plans (default 200)")
    count = parser.parse_args().plans
    inputs = requests(count)

    started = time.perf_counter()
    scheduled = [schedule(plan) for plan in inputs]
    schedule_seconds = time.perf_counter() - started

    plans = [plan for plan in scheduled if plan is not None]
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        for plan in inputs:
            built = schedule(plan)
            if built is not None:
                ketaplan.write_outputs(built, folder, now=NOW)
        total_seconds = time.perf_counter() - started
    sessions = sum(len(plan.sessions) for plan in plans)
    print(
        f"{len(plans)} of {count} plans scheduled ({count - len(plans)} could not fit), {sessions} sessions"
    )
    print(f"schedule only:          {len(plans) / schedule_seconds:8.1f} plans/s")
    print(f"schedule + write files: {len(plans) / total_seconds:8.1f} plans/s")


if __name__ == "__main__":
    main()
