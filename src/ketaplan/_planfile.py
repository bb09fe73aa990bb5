"""Plan files: the TOML a clinic writes, read into a :class:`~ketaplan.Plan`.

Every key is checked: an unknown key is rejected with the closest valid one,
and every bad value with a message naming the field. ``docs/plan-file.md``
describes the format.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

import attrs

from ._clinic import Busy, Clinic, Closure, Hours, default_hours
from ._dosing import DoseEntry
from ._i18n import DEFAULT as DEFAULT_LANGUAGE
from ._i18n import check_language
from ._library import load_protocol
from ._plan import (
    CalendarOptions,
    DocumentOptions,
    FhirOptions,
    Patient,
    Plan,
    Preferences,
    Privacy,
)
from ._protocol import Protocol
from ._reader import Table, load_toml, read_file
from ._serialize import MAX_BYTES, plan_from_json
from ._units import IntervalRange, Weekday, parse_duration, parse_time
from .exceptions import SpecError

__all__ = ["load_plan"]


def load_plan(path: str | Path, *, now: dt.datetime) -> Plan:
    """Read a TOML plan file (and schedule it) or a saved plan JSON.

    ``now`` is recorded as the time a plan made from a TOML file was created.
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        return plan_from_json(read_file(path, what="plan file", limit=MAX_BYTES))
    if path.suffix.lower() != ".toml":
        raise SpecError("plan file", str(path), "expected a .toml plan file or a saved plan .json")
    return _plan(Table(load_toml(path, what="plan file"), ""), base=path.parent, now=now)


def _plan(root: Table, *, base: Path, now: dt.datetime) -> Plan:
    head = root.table("plan")
    plan_id = head.require("id", str)
    protocol = load_protocol(head.require("protocol", str), base=base)
    start = head.require("start", dt.date)
    timezone = head.require("timezone", str)
    language = check_language(
        head.get("language", object, DEFAULT_LANGUAGE), field=head.field("language")
    )
    preferences = Preferences(
        time=_time_of_day(head),
        weekdays=tuple(
            Weekday.parse(day, field=head.field("weekdays")) for day in head.strings("weekdays")
        ),
    )
    head.finish()

    patient_table = root.table("patient", private=True)
    patient = Patient(
        name=patient_table.get("name", str, ""), ref=patient_table.get("ref", str, "")
    )
    patient_table.finish()

    clinic = _clinic(root.table("clinic"), timezone, base=base, start=start)
    calendar = _calendar(root.table("calendar"))
    documents = _documents(root.table("documents"), base)
    fhir = _fhir(root.table("fhir"))
    protocol = _phases(root.table("phases"), protocol)
    doses = _doses(root.table("dosing"), protocol)
    root.finish()
    plan = Plan.create(
        plan_id,
        protocol,
        clinic,
        start,
        preferences=preferences,
        patient=patient,
        calendar=calendar,
        documents=documents,
        doses=doses,
        now=now,
        language=language,
    )
    return attrs.evolve(plan, fhir=fhir)


def _time_of_day(head: Table) -> dt.time:
    """``time``: a string such as "09:30", or a TOML time such as 09:30:00."""
    value = head.get("time", object, "09:00")
    if isinstance(value, dt.time):
        if value.second or value.microsecond:
            raise SpecError(head.field("time"), value, 'expected whole minutes, e.g. "09:30"')
        return value
    if not isinstance(value, str):
        raise SpecError(head.field("time"), value, 'expected a time of day, e.g. time = "09:30"')
    return parse_time(value, field=head.field("time"))


def _clinic(table: Table, timezone: str, *, base: Path, start: dt.date) -> Clinic:
    hours_table = table.table("hours")
    hours = {}
    for key in hours_table.data:
        day = Weekday.parse(key, field=hours_table.field(key))
        hours[day] = Hours.parse_day(hours_table.require(key, str), field=hours_table.field(key))
    holidays = table.strings("holidays")
    closures = tuple(
        _closure(item, table.field("closures")) for item in table.get("closures", list, [])
    )
    clinic = Clinic(
        name=table.get("name", str, ""),
        timezone=_timezone(timezone),
        address=table.get("address", str, ""),
        phone=table.get("phone", str, ""),
        email=table.get("email", str, ""),
        hours=hours if "hours" in table else default_hours(),
        holidays=holidays,
        closures=closures,
        min_gap=table.convert("min_gap", parse_duration, dt.timedelta(0), example='"48 h"'),
        consecutive_days=table.get("consecutive_days", bool, True),
        chairs=_positive(table, "chairs", 1),
        busy=_bookings(table, base, start, timezone),
    )
    table.finish()
    return clinic


def _bookings(table: Table, base: Path, start: dt.date, timezone: str) -> tuple[Busy, ...]:
    """The busy intervals of every .ics file in ``busy``, paths relative to the plan file."""
    names = table.strings("busy")
    if not names:
        return ()
    from ._busy import read_busy  # the calendar parser and its recurrences: busy files only

    zone = zoneinfo.ZoneInfo(timezone)
    found: list[Busy] = []
    for name in names:
        found.extend(read_busy(base / name, start=start, zone=zone, field=table.field("busy")))
    return tuple(found)


def _timezone(name: str) -> str:
    try:
        Clinic(name="", timezone=name)
    except SpecError as error:
        raise SpecError("plan.timezone", name, error.expected) from None
    return name


def _positive(table: Table, key: str, default: int) -> int:
    value = table.get(key, int, default)
    if value < 1:
        raise SpecError(table.field(key), value, "expected a whole number of at least 1")
    return value


def _closure(item: object, field: str) -> Closure:
    if isinstance(item, dt.date) and not isinstance(item, dt.datetime):
        return Closure(item, item)
    if isinstance(item, dict):
        entry = Table(item, field)
        if "date" in entry:
            first = last = entry.require("date", dt.date)
        else:
            first, last = entry.require("first", dt.date), entry.require("last", dt.date)
        reason = entry.get("reason", str, "clinic closed")
        entry.finish()
        if last < first:
            raise SpecError(
                f"{field}.last", last, f"the last day comes on or after the first ({first})"
            )
        return Closure(first, last, reason)
    raise SpecError(
        field,
        item,
        "expected dates (2026-12-24) or tables such as { first = 2027-02-15, last = 2027-02-19, reason = 'staff training' }",
    )


def _calendar(table: Table) -> CalendarOptions:
    privacy = table.get("privacy", str, "standard")
    if privacy not in ("minimal", "standard", "full"):
        raise SpecError(table.field("privacy"), privacy, "expected one of minimal, standard, full")
    default = CalendarOptions().reminders
    if "reminders" in table:
        reminders = tuple(
            parse_duration(text, field=table.field("reminders"))
            for text in table.strings("reminders")
        )
    else:
        reminders = default
    table.finish()
    level: Privacy = privacy  # type: ignore[assignment]
    return CalendarOptions(privacy=level, reminders=reminders)


def _documents(table: Table, base: Path) -> DocumentOptions:
    """``[documents] templates``: a folder of templates, relative to the plan file."""
    folder = table.get("templates", str, "")
    table.finish()
    if not folder:
        return DocumentOptions()
    path = base / folder
    try:
        path = path.resolve()
        found = path.is_dir()
    except (OSError, ValueError):
        found = False
    if not found:
        raise SpecError(
            table.field("templates"),
            folder,
            f"no such folder ({path}); give a folder of template files",
        )
    return DocumentOptions(templates=str(path))


def _fhir(table: Table) -> FhirOptions:
    """``[fhir]``: ``enabled`` writes ``<plan id>.fhir.json`` on every build; ``system`` and
    ``patient_system`` are the identifier systems (empty: ketaplan's own)."""
    options = FhirOptions(
        enabled=table.get("enabled", bool, False),
        system=table.get("system", str, ""),
        patient_system=table.get("patient_system", str, ""),
    )
    table.finish()
    return options


def _phases(table: Table, protocol: Protocol) -> Protocol:
    for name in table.data:
        protocol.phase(name) if name in {p.name for p in protocol.phases} else _unknown_phase(
            table, name, protocol
        )
        entry = table.table(name)
        protocol = protocol.with_phase(
            name,
            interval=entry.convert("interval", IntervalRange.parse, None, example='"4 weeks"'),
            sessions=entry.optional("sessions", int),
            until=entry.optional("until", dt.date),
        )
        entry.finish()
    table.finish()
    return protocol


def _unknown_phase(table: Table, name: str, protocol: Protocol) -> None:
    names = ", ".join(phase.name for phase in protocol.phases)
    raise SpecError(table.field(name), name, f"protocol {protocol.name!r} has the phases {names}")


def _doses(table: Table, protocol: Protocol) -> tuple[DoseEntry, ...]:
    """Plan-wide entries (``[dosing]``) and per-session ones (``[dosing.<session key>]``)."""
    entries = []
    for key, value in table.data.items():
        if isinstance(value, dict):
            entries.extend(_entries(table.table(key), protocol, session=key))
    entries.extend(_entries(table, protocol, session=None))
    table.finish()
    return tuple(entries)


def _entries(table: Table, protocol: Protocol, *, session: str | None) -> list[DoseEntry]:
    entries = []
    for name, value in table.data.items():
        if isinstance(value, dict):
            continue
        try:
            field = protocol.route.dose_field(name)
        except SpecError as error:
            raise SpecError(table.field(name), name, error.expected) from None
        text: object = table.get(name, object, None)
        entries.append(DoseEntry(name, field.parse(text, field=table.field(name)), session))
    if session is not None:
        table.finish()
    return entries
