"""The plan JSON: a lossless, versioned round trip through cattrs.

``{"format": "ketaplan.plan", "version": 1, ...}`` with ISO 8601 datetimes
that carry their UTC offset and the clinic's zone name, so that a saved plan
loads back into an equal :class:`~ketaplan.Plan` and rebuilds the same files.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import zoneinfo
from typing import Any

import attrs
import cattrs
from cattrs.preconf.json import make_converter

from ._clinic import Clinic, Hours
from ._dosing import Quantity
from ._plan import Plan
from ._protocol import Cadence, Every, Offsets, PerWeek, Taper
from ._units import Interval, IntervalRange, Weekday, format_duration, parse_duration
from .exceptions import SpecError

__all__ = ["FORMAT", "VERSION", "plan_from_json", "plan_to_json"]

FORMAT = "ketaplan.plan"
VERSION = 1


def _converter() -> cattrs.Converter:
    converter = make_converter(forbid_extra_keys=True)
    converter.register_unstructure_hook(dt.timedelta, format_duration)
    converter.register_structure_hook(dt.timedelta, lambda value, _: parse_duration(value))
    converter.register_unstructure_hook(dt.date, dt.date.isoformat)
    converter.register_structure_hook(dt.date, lambda value, _: dt.date.fromisoformat(value))
    converter.register_unstructure_hook(dt.time, lambda value: value.strftime("%H:%M"))
    converter.register_structure_hook(dt.time, lambda value, _: dt.time.fromisoformat(value))
    converter.register_unstructure_hook(dt.datetime, _datetime_out)
    converter.register_structure_hook(dt.datetime, lambda value, _: _datetime_in(value))
    converter.register_unstructure_hook(decimal.Decimal, str)
    converter.register_structure_hook(decimal.Decimal, lambda value, _: decimal.Decimal(value))
    converter.register_unstructure_hook(Quantity, str)
    converter.register_structure_hook(Quantity, lambda value, _: _quantity(value))
    converter.register_unstructure_hook(Interval, str)
    converter.register_structure_hook(Interval, lambda value, _: Interval.parse(value))
    converter.register_unstructure_hook(IntervalRange, str)
    converter.register_structure_hook(IntervalRange, lambda value, _: IntervalRange.parse(value))
    converter.register_unstructure_hook(Hours, str)
    converter.register_structure_hook(
        Hours, lambda value, _: Hours.parse_day(value, field="clinic.hours")[0]
    )
    converter.register_unstructure_hook(Weekday, lambda day: day.name)
    converter.register_structure_hook(Weekday, lambda value, _: Weekday[value])
    converter.register_unstructure_hook(Cadence, _cadence_out)
    converter.register_structure_hook(Cadence, lambda value, _: _cadence_in(converter, value))
    base_clinic = converter.get_unstructure_hook(Clinic)
    converter.register_unstructure_hook(
        Clinic,
        lambda clinic: {
            **base_clinic(clinic),
            "hours": {d.name: [str(h) for h in p] for d, p in clinic.hours.items()},
        },
    )
    base_clinic_in = converter.get_structure_hook(Clinic)

    def clinic_in(value: dict[str, Any], _: object) -> Clinic:
        hours = {
            Weekday[day]: tuple(Hours.parse_day(text, field="clinic.hours")[0] for text in periods)
            for day, periods in value.get("hours", {}).items()
        }
        rest = {key: item for key, item in value.items() if key != "hours"}
        clinic: Clinic = base_clinic_in(rest, Clinic)
        return attrs.evolve(clinic, hours=hours)

    converter.register_structure_hook(Clinic, clinic_in)
    return converter


def _datetime_out(value: dt.datetime) -> str:
    return value.isoformat()


def _datetime_in(value: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise SpecError("datetime", value, "expected an ISO 8601 datetime with its UTC offset")
    return moment


def _quantity(text: str) -> Quantity:
    number, _, unit = text.partition(" ")
    return Quantity(decimal.Decimal(number), unit)


def _cadence_out(cadence: Cadence) -> dict[str, Any]:
    if isinstance(cadence, PerWeek):
        return {
            "per_week": [cadence.low, cadence.high],
            "weeks": cadence.weeks,
            "sessions": cadence.sessions,
        }
    if isinstance(cadence, Every):
        out: dict[str, Any] = {"every": str(cadence.interval)}
        if cadence.sessions is not None:
            out["sessions"] = cadence.sessions
        if cadence.until is not None:
            out["until"] = cadence.until.isoformat()
        if cadence.set_by_clinician:
            out["set_by_clinician"] = True
        return out
    if isinstance(cadence, Taper):
        return {"taper": [str(interval) for interval in cadence.intervals]}
    return {"offsets": [str(offset) for offset in cadence.offsets]}


def _cadence_in(converter: cattrs.Converter, value: dict[str, Any]) -> Cadence:
    if "per_week" in value:
        low, high = value["per_week"]
        return PerWeek(low, high, value["weeks"], value["sessions"])
    if "every" in value:
        until = value.get("until")
        return Every(
            IntervalRange.parse(value["every"]),
            sessions=value.get("sessions"),
            until=dt.date.fromisoformat(until) if until else None,
            set_by_clinician=value.get("set_by_clinician", False),
        )
    if "taper" in value:
        return Taper(tuple(Interval.parse(text) for text in value["taper"]))
    return Offsets(tuple(Interval.parse(text) for text in value["offsets"]))


_CONVERTER = _converter()


def plan_to_json(plan: Plan) -> str:
    """The plan as JSON text: stable key order, two-space indents, a final newline."""
    body = _CONVERTER.unstructure(plan)
    document = {"format": FORMAT, "version": VERSION, **body}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def plan_from_json(text: str | bytes) -> Plan:
    """Load a plan saved by :func:`plan_to_json`; a bad file raises :class:`~ketaplan.SpecError`."""
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SpecError("plan JSON", "<file>", f"not valid JSON ({error})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise SpecError("format", found, f"expected {FORMAT!r}: this is not a saved ketaplan plan")
    if document.get("version") != VERSION:
        raise SpecError(
            "version", document.get("version"), f"this ketaplan reads plan JSON version {VERSION}"
        )
    body = {key: value for key, value in document.items() if key not in ("format", "version")}
    try:
        plan = _CONVERTER.structure(body, Plan)
    except SpecError:
        raise
    except (
        cattrs.BaseValidationError,
        KeyError,
        TypeError,
        ValueError,
        zoneinfo.ZoneInfoNotFoundError,
    ) as error:
        raise SpecError(
            "plan JSON", "<file>", f"the saved plan is damaged or incomplete ({_first(error)})"
        ) from None
    # JSON keeps each instant with its UTC offset; put sessions back on the
    # clinic's wall clock so that they carry its zone, as when first scheduled.
    zone = plan.clinic.zone
    sessions = tuple(
        attrs.evolve(s, start=s.start.astimezone(zone), end=s.end.astimezone(zone))
        for s in plan.sessions
    )
    return attrs.evolve(plan, sessions=sessions)


def _first(error: BaseException) -> str:
    if isinstance(error, cattrs.BaseValidationError):
        notes = cattrs.transform_error(error)
        return notes[0] if notes else str(error)
    return str(error)
