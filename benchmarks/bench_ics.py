"""Compare ketaplan's calendar writer with straightforward icalendar code.

    python benchmarks/bench_ics.py --rounds 20

The plans are one-year plans of every built-in protocol (each phase with an
interval at its shortest, the last running for a year; a protocol that ends
sooner keeps its own length), in four zones. For the same sessions, with the
same texts, properties and alarms, the straightforward approach creates
each event with ``Event.new`` and two ``Alarm`` components, then calls
``Calendar.add_missing_timezones()`` and ``to_ical()``; ketaplan writes its
content lines directly (``render_ics``). The two are timed interleaved, plan
by plan in each round, and ketaplan's VTIMEZONE cache is emptied before each
of its renders, so that every render builds its zone's definition anew.
Both files are read back to check that they hold the same events. Prints
events per second and bytes per event for each, their ratio, and the size
of each zone's VTIMEZONE.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import time
from collections.abc import Callable

import icalendar

import ketaplan
from ketaplan.export import _ics, _vtimezone

NOW = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
START = dt.date(2027, 1, 4)
ZONES = ("America/Toronto", "Europe/London", "Australia/Sydney", "America/Vancouver")


def one_year(protocol: ketaplan.Protocol) -> ketaplan.Protocol:
    """``protocol`` with every clinician-set interval at its shortest and its last phase,
    if it has an interval, running for about a year."""
    for phase in protocol.phases:
        cadence = phase.cadence
        if isinstance(cadence, ketaplan.Every) and cadence.set_by_clinician:
            low = cadence.interval.low
            protocol = protocol.with_phase(phase.name, interval=ketaplan.IntervalRange(low, low))
    last = protocol.phases[-1]
    if isinstance(last.cadence, ketaplan.Every):
        low = last.cadence.interval.low
        days = {"days": 1, "weeks": 7, "months": 30}[low.unit] * low.amount
        protocol = protocol.with_phase(last.name, sessions=max(1, 300 // days))
    return protocol


def plans() -> list[ketaplan.Plan]:
    found = []
    protocols = [protocol for _name, protocol in sorted(ketaplan.builtin_protocols().items())]
    for number, protocol in enumerate(protocols):
        for zone in ZONES:
            clinic = ketaplan.Clinic(
                name="Lakeside Wellness Clinic",
                timezone=zone,
                address="100 Queen St W",
                email="appointments@lakeside.example",
            )
            found.append(
                ketaplan.Plan.create(
                    f"bench-{number}-{zone.replace('/', '-')}",
                    one_year(protocol),
                    clinic,
                    START,
                    now=NOW,
                )
            )
    return found


def straightforward(plan: ketaplan.Plan) -> bytes:
    """Event.new per event with two Alarms (same texts and properties),
    add_missing_timezones, to_ical."""
    view = _ics._View(plan)
    events = []
    for session in plan.sessions:
        content = _ics.event(view, session)
        organizer = icalendar.vCalAddress(f"mailto:{content.organizer}")
        organizer.params["CN"] = content.organizer_name
        event = icalendar.Event.new(
            uid=content.uid,
            stamp=NOW,
            start=content.start,
            end=content.end,
            summary=content.summary,
            description=content.description or None,
            location=content.location or None,
            categories=content.categories,
            sequence=session.sequence,
            status=icalendar.STATUS.CANCELLED if content.cancelled else icalendar.STATUS.CONFIRMED,
            transparency=icalendar.TRANSP.TRANSPARENT
            if content.cancelled
            else icalendar.TRANSP.OPAQUE,
            last_modified=view.modified(session, NOW),
            organizer=organizer,
        )
        for alarm in content.alarms:
            component = icalendar.Alarm()
            component.add("action", "DISPLAY")
            component.add("trigger", -alarm.before)
            component.add("description", alarm.text)
            event.add_component(component)
        events.append(event)
    calendar = icalendar.Calendar.new(
        prodid="-//bench//EN", method="PUBLISH", uid="bench@ketaplan", subcomponents=events
    )
    calendar.add_missing_timezones()
    result: bytes = calendar.to_ical()
    return result


def ketaplan_cold(plan: ketaplan.Plan) -> bytes:
    """ketaplan's writer with an empty VTIMEZONE cache."""
    _vtimezone.clear_cache()
    return ketaplan.render_ics(plan, now=NOW)


def uids_and_instants(data: bytes) -> set[tuple[str, dt.datetime, dt.datetime]]:
    return {
        (str(e["UID"]), e.start.astimezone(dt.UTC), e.end.astimezone(dt.UTC))
        for e in icalendar.Calendar.from_ical(data).walk("VEVENT")
    }


def interleaved(
    writers: dict[str, Callable[[ketaplan.Plan], bytes]],
    inputs: list[ketaplan.Plan],
    rounds: int,
) -> dict[str, float]:
    """Seconds each writer spent, timed plan by plan, the writers taking turns."""
    spent = dict.fromkeys(writers, 0.0)
    for number in range(rounds):
        order = list(writers.items())
        if number % 2:
            order.reverse()
        for plan in inputs:
            for name, write in order:
                started = time.perf_counter()
                write(plan)
                spent[name] += time.perf_counter() - started
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    rounds = parser.parse_args().rounds
    inputs = plans()
    events = sum(len(plan.sessions) for plan in inputs)
    sizes = {}
    for plan in inputs:
        ours, theirs = ketaplan_cold(plan), straightforward(plan)
        if uids_and_instants(ours) != uids_and_instants(theirs):
            raise SystemExit(f"{plan.id}: the two files hold different events")
        sizes[plan.id] = (len(ours), len(theirs))
    spent = interleaved(
        {"straightforward": straightforward, "ketaplan": ketaplan_cold}, inputs, rounds
    )
    speed = {name: events * rounds / seconds for name, seconds in spent.items()}
    per_event = {
        "ketaplan": sum(ours for ours, _ in sizes.values()) / events,
        "straightforward": sum(theirs for _, theirs in sizes.values()) / events,
    }
    print(
        f"{len(inputs)} one-year plans ({len(ketaplan.builtin_protocols())} protocols x {len(ZONES)} zones), {events} events, {rounds} rounds, cold VTIMEZONE cache"
    )
    print(f"{'':28}{'bytes/event':>12}{'events/s':>12}")
    for name in ("straightforward", "ketaplan"):
        label = "straightforward icalendar" if name == "straightforward" else "ketaplan"
        print(f"{label:28}{per_event[name]:12.0f}{speed[name]:12.0f}")
    print(f"ketaplan: {speed['ketaplan'] / speed['straightforward']:.2f}x the events per second")
    print("VTIMEZONE bytes per zone:")
    for zone in ZONES:
        plan = next(p for p in inputs if p.clinic.timezone == zone)
        block = re.search(rb"BEGIN:VTIMEZONE.*?END:VTIMEZONE\r\n", ketaplan_cold(plan), re.DOTALL)
        print(f"  {zone:24}{len(block.group()) if block else 0:6}")


if __name__ == "__main__":
    main()
