"""Compare ketaplan's calendar writer with the straightforward icalendar approach.

    python benchmarks/bench_ics.py --rounds 20

For the same sessions, with the same event properties and alarms, the
straightforward approach creates each event with ``Event.new``, then calls
``Calendar.add_missing_timezones()`` and ``to_ical()``. ketaplan builds one
VTIMEZONE per zone covering only the plan's span, reuses it across plans and
writes the same events. Both files are read back to check they hold the same
events. Prints bytes per event and events per second for each.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import icalendar

import ketaplan
from ketaplan.export._ics import _event, _View

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


def plans() -> list[ketaplan.Plan]:
    paths = sorted((ROOT / "examples").glob("*.toml")) + sorted(
        (ROOT / "tests" / "data" / "plans").glob("*.toml")
    )
    return [ketaplan.load_plan(path, now=NOW) for path in paths]


def straightforward(plan: ketaplan.Plan) -> bytes:
    """Event.new per event (same properties and alarms), add_missing_timezones, to_ical."""
    view = _View(plan)
    events = []
    for session in plan.sessions:
        reference = _event(view, session, NOW)
        event = icalendar.Event.new(
            uid=str(reference["UID"]),
            stamp=NOW,
            start=session.start,
            end=session.end,
            summary=str(reference["SUMMARY"]),
            description=str(reference.get("DESCRIPTION", "")) or None,
            location=str(reference.get("LOCATION", "")) or None,
            categories=[str(c) for c in reference.categories],
            sequence=session.sequence,
            status=icalendar.STATUS(str(reference["STATUS"])),
            transparency=icalendar.TRANSP(str(reference["TRANSP"])),
        )
        for alarm in reference.walk("VALARM"):
            event.add_component(alarm)
        events.append(event)
    calendar = icalendar.Calendar.new(
        prodid="-//bench//EN", method="PUBLISH", uid="bench@ketaplan", subcomponents=events
    )
    calendar.add_missing_timezones()
    result: bytes = calendar.to_ical()
    return result


def uids_and_starts(data: bytes) -> set[tuple[str, dt.datetime]]:
    return {
        (str(e["UID"]), e.start.astimezone(dt.UTC))
        for e in icalendar.Calendar.from_ical(data).walk("VEVENT")
    }


def measure(render: object, inputs: list[ketaplan.Plan], rounds: int) -> tuple[float, float]:
    """(bytes per event, events per second) of ``render`` over ``inputs``."""
    events = sum(len(plan.sessions) for plan in inputs)
    size = sum(len(render(plan)) for plan in inputs)  # type: ignore[operator]
    started = time.perf_counter()
    for _ in range(rounds):
        for plan in inputs:
            render(plan)  # type: ignore[operator]
    seconds = time.perf_counter() - started
    return size / events, events * rounds / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    rounds = parser.parse_args().rounds
    inputs = plans()
    for plan in inputs:
        assert uids_and_starts(straightforward(plan)) == uids_and_starts(
            ketaplan.render_ics(plan, now=NOW)
        )
    ours = measure(lambda plan: ketaplan.render_ics(plan, now=NOW), inputs, rounds)
    theirs = measure(straightforward, inputs, rounds)
    events = sum(len(plan.sessions) for plan in inputs)
    print(f"{len(inputs)} plans, {events} events, {rounds} rounds")
    print(f"{'':28}{'bytes/event':>12}{'events/s':>12}")
    print(f"{'straightforward icalendar':28}{theirs[0]:12.0f}{theirs[1]:12.0f}")
    print(f"{'ketaplan':28}{ours[0]:12.0f}{ours[1]:12.0f}")
    print(f"ketaplan: {ours[0] / theirs[0]:.2f}x the size, {ours[1] / theirs[1]:.2f}x the speed")


if __name__ == "__main__":
    main()
