"""The plan JSON: a lossless, versioned round trip through cattrs.

``{"format": "ketaplan.plan", "version": 1, ...}`` with ISO 8601 datetimes
that carry their UTC offset and the clinic's zone name, so that a saved plan
loads back into an equal :class:`~ketaplan.Plan` and rebuilds the same files.

A saved plan is read as strictly as it is written, since people and other
programs edit these files: every value must have its exact JSON type (a whole
number is a JSON number, never ``true`` or ``"3"``), every key must be known,
and the loaded plan is checked against the rules a new plan keeps (see
:mod:`ketaplan._validate`). Whatever is wrong is a
:class:`~ketaplan.SpecError` naming the plan, the key path
(``sessions[3].start``) and what would be valid. So that any file is
answered quickly, a saved plan is at most :data:`MAX_BYTES` long, nests at
most :data:`MAX_DEPTH` deep and holds at most :data:`MAX_SESSIONS` sessions;
its whole numbers run from 0 to :data:`MAX_INT` and its dates from
:data:`EARLIEST` to :data:`LATEST`.
"""

from __future__ import annotations

import collections.abc
import datetime as dt
import decimal
import enum
import functools
import json
import math
import re
import typing
from collections.abc import Callable, Iterable
from json.encoder import encode_basestring as _string  # json's C escaping
from typing import TYPE_CHECKING, Any, Literal

import attrs

from ._clinic import Clinic, Hours
from ._dosing import Quantity
from ._i18n import DEFAULT as DEFAULT_LANGUAGE
from ._limits import EARLIEST_DATE, LATEST_DATE
from ._plan import _PLAN_ID, Plan
from ._protocol import Cadence, Every, Offsets, PerWeek, Protocol, Taper, Text
from ._units import (
    Interval,
    IntervalRange,
    Weekday,
    format_duration,
    parse_duration,
    parse_time,
)
from ._validate import Shown, check_saved, display, refuse
from ._values import pattern
from .exceptions import SpecError

if TYPE_CHECKING:
    import cattrs

__all__ = [
    "EARLIEST",
    "FORMAT",
    "LATEST",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_INT",
    "MAX_SESSIONS",
    "VERSION",
    "plan_from_json",
    "plan_to_json",
]

FORMAT = "ketaplan.plan"
VERSION = 1

#: The longest saved plan read, in bytes (or characters, for text): a real
#: plan is tens of kilobytes.
MAX_BYTES = 20_000_000
#: How deeply a saved plan's objects and lists may nest (a real plan: 8).
MAX_DEPTH = 32
#: The most sessions a saved plan holds.
MAX_SESSIONS = 2_000
#: The largest whole number in a saved plan (iCalendar's largest integer).
MAX_INT = 2**31 - 1
#: The range of dates a saved plan's dates and datetimes (as instants in UTC)
#: fall in: beyond it, a time cannot always be moved between time zones.
EARLIEST = EARLIEST_DATE
LATEST = LATEST_DATE

_DATETIME = "expected an ISO 8601 datetime with its UTC offset, e.g. 2027-03-22T10:30:00-04:00"
_DATE = "expected an ISO 8601 date, e.g. 2027-03-22"
_TIME = "expected a 24-hour time of day, e.g. 09:30"
_DURATION = "expected a duration such as '45 min', '2 h' or '1 h 30 min'"
_QUANTITY = "expected a positive number and its unit, e.g. '72 kg'"
_INTERVAL = "expected an interval such as '2 weeks'"
_INTERVAL_RANGE = "expected an interval such as '2 weeks' or a range such as '1-2 weeks'"
_HOURS = "expected one opening period such as '08:00-18:00'"
_WEEKDAY = "expected one of MO, TU, WE, TH, FR, SA, SU"
_WEEKDAY_KEYS = "the keys are weekdays: MO, TU, WE, TH, FR, SA, SU"
_DECIMAL = "expected a number such as '0.5'"
_INT = f"expected a whole number from 0 to {MAX_INT} (a JSON number, not text)"
_BOOL = "expected true or false"
_STR = "expected text (a JSON string)"
_LIST = "expected a list"
_OBJECT = "expected an object"
_YEARS = f"expected a date from {EARLIEST.isoformat()} to {LATEST.isoformat()}"
_YEARS_UTC = f"expected a time from {EARLIEST.isoformat()} to {LATEST.isoformat()} in UTC"
_CADENCE_KEYS = {
    "per_week": ("per_week", "weeks", "sessions"),
    "every": ("every", "sessions", "until", "set_by_clinician"),
    "taper": ("taper",),
    "offsets": ("offsets",),
}
_CADENCE = "expected an object with one of the keys per_week, every, taper or offsets"
_NUMBER = pattern(r"^[0-9]{1,30}(?:\.[0-9]{1,30})?\Z")
_LONGEST_FORM = 64
_NUMBERISH = pattern(
    r"^\s*(?:[-+]?[0-9.,_]+(?:[eE][-+]?[0-9]+)?|true|false|yes|no|on|off)\s*$", re.I
)

_Path = tuple[str | int, ...]
#: How attrs' own validators (``attrs.validators.ge``) word a refusal.
_ATTRS_BOUND = pattern(r"^'(?P<name>\w+)' must be (?P<rule>[<>=!]+ -?\d+): (?P<value>-?\d{1,20})$")


class _Refused(Exception):
    """A JSON value that does not have the form its place needs.

    ``got`` says what was found, as a message may show it; ``expected`` what
    would be valid; ``where`` the keys and indexes below the value a hook was
    given (a clinic's ``hours.MO[0]``).
    """

    def __init__(self, got: str, expected: str, where: _Path = ()) -> None:
        super().__init__(got, expected, where)
        self.got = got
        self.expected = expected
        self.where = where

    def under(self, *prefix: str | int) -> _Refused:
        return _Refused(self.got, self.expected, (*prefix, *self.where))


def _wrong(value: object, expected: str, *, text: bool = True) -> _Refused:
    """``value`` refused; a string is shown only where ``text`` says it is a formatted value."""
    return _Refused(display(value, text=text), expected)


# -- strict hooks: each JSON value must have its exact type and form ----------------


def _numberish(value: object) -> bool:
    """Whether a string in place of a number or a flag reads as one (``"3"``, ``"no"``),
    and so may be shown."""
    return isinstance(value, str) and bool(_NUMBERISH().match(value))


def _int(value: object, _: object) -> int:
    if type(value) is not int or not 0 <= value <= MAX_INT:
        raise _wrong(value, _INT, text=_numberish(value))
    return value


def _str(value: object, _: object) -> str:
    if not isinstance(value, str):
        raise _wrong(value, _STR)
    return value


def _bool(value: object, _: object) -> bool:
    if type(value) is not bool:
        raise _wrong(value, _BOOL, text=_numberish(value))
    return value


def _form(value: object, expected: str) -> str:
    """``value`` as a short formatted string (a date, a duration), or refused."""
    if not isinstance(value, str) or len(value) > _LONGEST_FORM:
        raise _wrong(value, expected)
    return value


def _text(value: object, _: object) -> str | tuple[str, ...]:
    """A protocol's text: a string, or a list of strings."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return tuple(value)
    raise _wrong(value, "expected a string or a list of strings", text=False)


def _datetime(value: object, _: object) -> dt.datetime:
    text = _form(value, _DATETIME)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise _wrong(text, _DATETIME) from None
    if moment.utcoffset() is None:
        raise _wrong(text, _DATETIME)
    try:
        in_utc = moment.astimezone(dt.UTC)
    except OverflowError:
        raise _wrong(text, _YEARS_UTC) from None
    if not EARLIEST <= in_utc.date() <= LATEST:
        raise _wrong(text, _YEARS_UTC)
    return moment


def _date(value: object, _: object) -> dt.date:
    text = _form(value, _DATE)
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise _wrong(text, _DATE) from None
    if not EARLIEST <= day <= LATEST:
        raise _wrong(text, _YEARS)
    return day


def _time(value: object, _: object) -> dt.time:
    try:
        return parse_time(_form(value, _TIME))
    except SpecError:
        raise _wrong(value, _TIME) from None


def _duration(value: object, _: object) -> dt.timedelta:
    try:
        return parse_duration(_form(value, _DURATION))
    except (SpecError, OverflowError):
        raise _wrong(value, _DURATION) from None


def _decimal(value: object, _: object) -> decimal.Decimal:
    if not _NUMBER().match(_form(value, _DECIMAL)):
        raise _wrong(value, _DECIMAL)
    return decimal.Decimal(typing.cast(str, value))


def _quantity(value: object, _: object) -> Quantity:
    number, _space, unit = _form(value, _QUANTITY).partition(" ")
    if not _NUMBER().match(number) or not unit or unit != unit.strip():
        raise _wrong(value, _QUANTITY)
    return Quantity(decimal.Decimal(number), unit)


def _interval(value: object, _: object) -> Interval:
    try:
        return Interval.parse(_form(value, _INTERVAL))
    except (SpecError, ValueError):
        raise _wrong(value, _INTERVAL) from None


def _interval_range(value: object, _: object) -> IntervalRange:
    try:
        return IntervalRange.parse(_form(value, _INTERVAL_RANGE))
    except (SpecError, ValueError):
        raise _wrong(value, _INTERVAL_RANGE) from None


def _hours(value: object, _: object) -> Hours:
    try:
        periods = Hours.parse_day(_form(value, _HOURS), field="clinic.hours")
    except SpecError as error:
        raise _wrong(value, error.expected) from None
    if len(periods) != 1:
        raise _wrong(value, f"{_HOURS}; list each period on its own")
    return periods[0]


def _weekday(value: object, _: object) -> Weekday:
    if not isinstance(value, str) or value not in Weekday.__members__:
        raise _wrong(value, _WEEKDAY)
    return Weekday[value]


def _enum(value: object, kind: type[enum.StrEnum]) -> enum.StrEnum:
    values = [member.value for member in kind]
    if not isinstance(value, str) or value not in values:
        raise _wrong(value, "expected one of " + ", ".join(values))
    return kind(value)


def _literal_hook(kind: object) -> Callable[[object, object], object]:
    values = typing.get_args(kind)
    expected = "expected one of " + ", ".join(str(value) for value in values)

    def structure(value: object, _: object) -> object:
        if not isinstance(value, str) or value not in values:
            raise _wrong(value, expected)
        return value

    return structure


def _is_tuple(kind: object) -> bool:
    args = typing.get_args(kind)
    return typing.get_origin(kind) is tuple and len(args) == 2 and args[1] is Ellipsis


def _is_mapping(kind: object) -> bool:
    return typing.get_origin(kind) in (dict, collections.abc.Mapping)


def _is_literal(kind: object) -> bool:
    return typing.get_origin(kind) is Literal


def _checked(
    check: Callable[[object], bool], expected: str, structure: Callable[[Any, Any], Any]
) -> Callable[[Any, Any], Any]:
    """``structure``, for a value that passes ``check`` (its JSON type)."""

    def hook(value: object, kind: object) -> Any:
        if not check(value):
            raise _wrong(value, expected, text=False)
        return structure(value, kind)

    return hook


def _is_list(value: object) -> bool:
    return isinstance(value, list)


def _is_object(value: object) -> bool:
    return isinstance(value, dict)


@functools.lru_cache(maxsize=1)
def _converter() -> cattrs.Converter:
    """The plan's converter, made on first use (cattrs is imported only to read or write JSON)."""
    import cattrs.cols
    import cattrs.gen
    from cattrs.preconf.json import make_converter

    converter = make_converter(forbid_extra_keys=True)
    converter.register_unstructure_hook(dt.timedelta, format_duration)
    converter.register_unstructure_hook(dt.date, dt.date.isoformat)
    converter.register_unstructure_hook(dt.time, lambda value: value.strftime("%H:%M"))
    converter.register_unstructure_hook(dt.datetime, _datetime_out)
    converter.register_unstructure_hook(decimal.Decimal, str)
    converter.register_unstructure_hook(Quantity, str)
    converter.register_unstructure_hook(Interval, str)
    converter.register_unstructure_hook(IntervalRange, str)
    converter.register_unstructure_hook(Hours, str)
    converter.register_unstructure_hook(Weekday, lambda day: day.name)
    converter.register_unstructure_hook(Cadence, _cadence_out)
    base_clinic = converter.get_unstructure_hook(Clinic)

    def clinic_out(clinic: Clinic) -> dict[str, Any]:
        out: dict[str, Any] = {
            **base_clinic(clinic),
            "hours": {d.name: [str(h) for h in p] for d, p in clinic.hours.items()},
        }
        if not clinic.email:  # a plan saved before clinics had an email reads the same
            del out["email"]
        return out

    converter.register_unstructure_hook(Clinic, clinic_out)
    base_protocol = converter.get_unstructure_hook(Protocol)

    def protocol_out(protocol: Protocol) -> dict[str, Any]:
        out: dict[str, Any] = base_protocol(protocol)
        if not protocol.translations:  # a protocol in English only reads as one saved before
            del out["translations"], out["translated_from"]
        return out

    converter.register_unstructure_hook(Protocol, protocol_out)
    base_plan = converter.get_unstructure_hook(Plan)

    def plan_out(plan: Plan) -> dict[str, Any]:
        out: dict[str, Any] = base_plan(plan)
        if plan.language == DEFAULT_LANGUAGE:  # an English plan reads as one saved before languages
            del out["language"]
        return out

    converter.register_unstructure_hook(Plan, plan_out)

    converter.register_structure_hook_factory(
        attrs.has,
        lambda kind: _checked(
            _is_object, _OBJECT, cattrs.gen.make_dict_structure_fn(kind, converter)
        ),
    )
    converter.register_structure_hook_factory(
        _is_tuple,
        lambda kind: _checked(
            _is_list, _LIST, cattrs.cols.homogenous_tuple_structure_factory(kind, converter)
        ),
    )
    converter.register_structure_hook_factory(
        _is_mapping,
        lambda kind: _checked(
            _is_object, _OBJECT, cattrs.cols.mapping_structure_factory(kind, converter)
        ),
    )
    converter.register_structure_hook_factory(_is_literal, _literal_hook)
    for kind, hook in (
        (int, _int),
        (str, _str),
        (bool, _bool),
        (dt.datetime, _datetime),
        (dt.date, _date),
        (dt.time, _time),
        (dt.timedelta, _duration),
        (decimal.Decimal, _decimal),
        (Quantity, _quantity),
        (Interval, _interval),
        (IntervalRange, _interval_range),
        (Hours, _hours),
        (Weekday, _weekday),
        (enum.StrEnum, _enum),  # before str, in a StrEnum's method resolution order
    ):
        converter.register_structure_hook(kind, hook)
    converter.register_structure_hook(Cadence, lambda value, _: _cadence_in(converter, value))
    converter.register_structure_hook_func(lambda kind: kind == Text, _text)
    base_clinic_in = converter.get_structure_hook(Clinic)

    def clinic_in(value: object, kind: object) -> Clinic:
        if not isinstance(value, dict):
            raise _wrong(value, _OBJECT, text=False)
        rest = {key: item for key, item in value.items() if key != "hours"}
        clinic: Clinic = base_clinic_in(rest, kind)
        if "hours" not in value:
            return clinic
        return attrs.evolve(clinic, hours=_clinic_hours(value["hours"]))

    converter.register_structure_hook(Clinic, clinic_in)
    return converter


#: Values written as their text (``str``): durations of intervals, quantities, hours.
_AS_TEXT = (decimal.Decimal, Quantity, Interval, IntervalRange, Hours)

# -- writing -----------------------------------------------------------------------
# A plan is written straight from its attrs classes to JSON text, byte for byte what
# ``json.dumps(values, indent=2, ensure_ascii=False)`` gives for the values the
# converter's unstructure hooks would make (tests compare them). Python's json writes
# an indented document with its pure-Python encoder, and would first need those
# values built; this writer does neither (about 1 ms -> 0.3 ms a one-year plan).
# Strings go through json's own C escaping; how each type is written is worked out
# once per type.

_Writer = Callable[[Any, list[str], str], None]

#: How each type is written, by exact type: a fixed set, the types a plan holds.
_WRITERS: dict[type, _Writer] = {}


def _write(value: Any, out: list[str], pad: str) -> None:
    """Append ``value`` to ``out`` as JSON text; ``pad`` is the line break and indent of
    the line it starts on."""
    try:
        writer = _WRITERS[type(value)]
    except KeyError:
        writer = _WRITERS[type(value)] = _writer(type(value))
    writer(value, out, pad)


def _write_object(
    value: Any, fields: tuple[tuple[str, str], ...], out: list[str], pad: str, opening: str = "{"
) -> None:
    """An object of ``value``'s attributes ``fields``: each a name and its key as written.
    ``opening`` is what comes before the first (``","`` after keys already written)."""
    if not fields:
        out.append("{}")
        return
    inner = pad + "  "
    separator = opening + inner
    for name, key in fields:
        item = getattr(value, name)
        if type(item) is str:  # the most common value, written without a call
            out.append(separator + key + _string(item))
        else:
            out.append(separator + key)
            _write(item, out, inner)
        separator = "," + inner
    out.append(pad + "}")


def _write_list(values: Iterable[Any], out: list[str], pad: str) -> None:
    inner = pad + "  "
    separator = "[" + inner
    for item in values:
        out.append(separator)
        _write(item, out, inner)
        separator = "," + inner
    out.append("[]" if separator[0] == "[" else pad + "]")


def _write_mapping(value: collections.abc.Mapping[Any, Any], out: list[str], pad: str) -> None:
    inner = pad + "  "
    separator = "{" + inner
    for key, item in value.items():
        out.append(separator + _key(key))
        _write(item, out, inner)
        separator = "," + inner
    out.append("{}" if separator[0] == "{" else pad + "}")


def _key(key: Any) -> str:
    """A mapping's key as json writes it, with its ``": "``: a weekday by name, an enum by
    value, a date in ISO form; a number, ``true``, ``false`` or ``null`` as text."""
    if isinstance(key, Weekday):
        key = key.name
    elif isinstance(key, enum.Enum):
        key = key.value
    elif not isinstance(key, str | bool | int | float | None):
        key = _text_of(key)
    if isinstance(key, str):
        return _string(key) + ": "
    if isinstance(key, bool | int | float | None):
        return '"' + _number(key) + '": '
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _text_of(value: Any) -> Any:
    """A date, time, duration, quantity, interval or opening hours as its text; anything
    else unchanged."""
    if isinstance(value, dt.datetime):
        return _datetime_out(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    if isinstance(value, dt.timedelta):
        return format_duration(value)
    if isinstance(value, _AS_TEXT):
        return str(value)
    return value


def _number(value: bool | float | None) -> str:
    """``null``, ``true``, ``false`` or a number, as json writes it."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _writer(kind: type) -> _Writer:
    """How a value of type ``kind`` is written: as the converter's unstructure hooks give
    it (attrs classes as objects of their fields in order, tuples as lists, enums by
    value, a weekday by name, dates and times in ISO form, durations and cadences as a
    plan file writes them; a clinic and a plan without the keys older plans lack)."""
    if issubclass(kind, Weekday):
        return lambda value, out, _pad: out.append(_string(value.name))
    if issubclass(kind, enum.Enum):
        return lambda value, out, pad: _write(value.value, out, pad)
    if issubclass(kind, str):
        return lambda value, out, _pad: out.append(_string(value))
    if kind is type(None):
        return lambda _value, out, _pad: out.append("null")
    if issubclass(kind, bool | float):
        return lambda value, out, _pad: out.append(_number(value))
    if issubclass(kind, int):
        return lambda value, out, _pad: out.append(int.__repr__(value))
    if issubclass(kind, tuple | list):
        return _write_list
    if issubclass(kind, collections.abc.Mapping):
        return _write_mapping
    if issubclass(kind, dt.datetime):
        return lambda value, out, _pad: out.append(_string(_datetime_out(value)))
    if issubclass(kind, (dt.date, dt.time, dt.timedelta, *_AS_TEXT)):
        return lambda value, out, _pad: out.append(_string(_text_of(value)))
    if issubclass(kind, PerWeek | Every | Taper | Offsets):
        return lambda value, out, pad: _write(_cadence_out(value), out, pad)
    if issubclass(kind, Protocol):  # the same in a batch's every plan of it: written once
        return lambda value, out, pad: out.append(_protocol_json(value, pad))
    if not attrs.has(kind):
        raise TypeError(f"Object of type {kind.__name__} is not JSON serializable")
    fields = _fields(kind)
    if issubclass(kind, Clinic):  # a plan saved before clinics had an email reads the same
        without = tuple(field for field in fields if field[0] != "email")
        return lambda value, out, pad: _write_object(
            value, fields if value.email else without, out, pad
        )
    if issubclass(kind, Plan):
        return lambda value, out, pad: _write_object(value, _plan_fields(value), out, pad)
    return lambda value, out, pad: _write_object(value, fields, out, pad)


def _fields(kind: type) -> tuple[tuple[str, str], ...]:
    """The fields of the attrs class ``kind``, in order: each name and its key as written."""
    return tuple((field.name, _string(field.name) + ": ") for field in attrs.fields(kind))


def _plan_fields(plan: Plan) -> tuple[tuple[str, str], ...]:
    """The fields ``plan`` writes: an English plan reads as one saved before languages."""
    return _PLAN_FIELDS if plan.language != DEFAULT_LANGUAGE else _PLAN_FIELDS_ENGLISH


_PLAN_FIELDS = _fields(Plan)
_PLAN_FIELDS_ENGLISH = tuple(field for field in _PLAN_FIELDS if field[0] != "language")


def _clinic_hours(value: object) -> dict[Weekday, tuple[Hours, ...]]:
    """``{"MO": ["08:00-12:00", "13:00-17:00"], ...}``: a list of periods for each weekday."""
    if not isinstance(value, dict):
        raise _wrong(value, _OBJECT, text=False).under("hours")
    hours = {}
    for day, periods in value.items():
        try:
            weekday = _weekday(day, Weekday)
        except _Refused:
            raise _Refused("an unknown key", _WEEKDAY_KEYS).under("hours", day) from None
        if not isinstance(periods, list):
            raise _wrong(periods, _LIST, text=False).under("hours", day)
        found = []
        for number, text in enumerate(periods):
            try:
                found.append(_hours(text, Hours))
            except _Refused as error:
                raise error.under("hours", day, number) from None
        hours[weekday] = tuple(found)
    return hours


def _datetime_out(value: dt.datetime) -> str:
    return value.isoformat()


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


def _cadence_in(converter: cattrs.Converter, value: object) -> Cadence:
    if not isinstance(value, dict):
        raise _wrong(value, _CADENCE, text=False)
    kinds = [kind for kind in _CADENCE_KEYS if kind in value]
    if len(kinds) != 1:
        raise _Refused(
            "no cadence key" if not kinds else "the keys " + " and ".join(kinds), _CADENCE
        )
    allowed = _CADENCE_KEYS[kinds[0]]
    for key in value:
        if key not in allowed:
            raise _Refused("an unknown key", _valid_keys(key, allowed)).under(key)

    import cattrs

    def get(key: str, kind: Any, default: Any = attrs.NOTHING) -> Any:
        if key not in value:
            if default is attrs.NOTHING:
                raise _Refused("nothing", "this key is required").under(key)
            return default
        try:
            return converter.structure(value[key], kind)
        except _Refused as error:
            raise error.under(key) from None
        except cattrs.BaseValidationError as error:  # in a list: name the item
            path, problem, _owner, _kind = _first_problem(error)
            if isinstance(problem, _Refused):
                raise problem.under(key, *path) from None
            raise

    if kinds == ["per_week"]:
        low_high = get("per_week", tuple[int, ...])
        if len(low_high) != 2:
            raise _Refused(
                f"{len(low_high)} numbers", "expected two numbers, the fewest and the most a week"
            ).under("per_week")
        return PerWeek(low_high[0], low_high[1], get("weeks", int), get("sessions", int))
    if kinds == ["every"]:
        return Every(
            get("every", IntervalRange),
            sessions=get("sessions", int, None),
            until=get("until", dt.date, None),
            set_by_clinician=get("set_by_clinician", bool, False),
        )
    if kinds == ["taper"]:
        return Taper(get("taper", tuple[Interval, ...]))
    return Offsets(get("offsets", tuple[Interval, ...]))


def plan_to_json(plan: Plan) -> str:
    """The plan as JSON text: stable key order, two-space indents, a final newline.

    Written by :func:`_write` from the attrs classes' own fields (cattrs, which
    reading needs, is not loaded to write: a build starts faster).
    """
    out = [f"{{\n  {_string('format')}: {_string(FORMAT)},\n  {_string('version')}: {VERSION}"]
    _write_object(plan, _plan_fields(plan), out, "\n", opening=",")
    out.append("\n")
    return "".join(out)


@functools.lru_cache(maxsize=16)
def _protocol_json(protocol: Protocol, pad: str) -> str:
    """``protocol`` as JSON text, starting on a line indented by ``pad``: the same in a
    batch's every plan of it, so written once."""
    fields = _fields(Protocol)
    if not protocol.translations:  # a protocol in English only reads as one saved before
        fields = tuple(field for field in fields if field[0] not in _TRANSLATIONS)
    out: list[str] = []
    _write_object(protocol, fields, out, pad)
    return "".join(out)


_TRANSLATIONS = ("translations", "translated_from")


def plan_from_json(text: str | bytes) -> Plan:
    """Load a plan saved by :func:`plan_to_json`, checked as a new plan is.

    A damaged, hand-edited or foreign file raises :class:`~ketaplan.SpecError`
    naming the plan id, the key path (``sessions[3].start``) or the session,
    and what would be valid; see the module's documentation for the limits.
    """
    document = _parse(text)
    if not isinstance(document, dict):
        raise SpecError("plan JSON", Shown(display(document, text=False)), _NOT_A_PLAN)
    if document.get("format") != FORMAT:
        found = display(document.get("format"), text=True) if "format" in document else "nothing"
        raise SpecError("format", Shown(found), f"expected {FORMAT!r}: {_NOT_A_PLAN}")
    plan_id = document.get("id")
    plan_id = plan_id if isinstance(plan_id, str) and _PLAN_ID().match(plan_id) else None
    version = document.get("version")
    if type(version) is not int or version != VERSION:
        raise refuse(
            plan_id,
            "version",
            display(version) if "version" in document else "nothing",
            f"this ketaplan reads plan JSON version {VERSION}",
        )
    _check_sessions(document.get("sessions"), plan_id)
    body = {key: value for key, value in document.items() if key not in ("format", "version")}
    import cattrs

    try:
        plan = _converter().structure(body, Plan)
    except (cattrs.BaseValidationError, _Refused, SpecError, KeyError, TypeError) as error:
        located = _located(error, plan_id)
        if located is None:
            raise
        raise located from None
    # JSON keeps each instant with its UTC offset; put sessions back on the
    # clinic's wall clock so that they carry its zone, as when first scheduled.
    zone = plan.clinic.zone
    sessions = tuple(
        attrs.evolve(s, start=s.start.astimezone(zone), end=s.end.astimezone(zone))
        for s in plan.sessions
    )
    plan = attrs.evolve(plan, sessions=sessions)
    check_saved(plan)
    return plan


_NOT_A_PLAN = "this is not a saved ketaplan plan"


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return document


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _parse(text: str | bytes) -> object:
    """The JSON document in ``text``, or a SpecError saying why there is none."""
    if len(text) > MAX_BYTES:
        raise SpecError(
            "plan JSON",
            Shown(f"{len(text) / 1_000_000:.1f} MB"),
            f"a saved plan is at most {MAX_BYTES // 1_000_000} MB",
        )
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except RecursionError:
        raise SpecError("plan JSON", "<file>", "not valid JSON (nested too deeply)") from None
    except UnicodeDecodeError:
        raise SpecError("plan JSON", "<file>", "not valid JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as error:
        raise SpecError("plan JSON", "<file>", f"not valid JSON ({error})") from None
    except _DuplicateKey as error:
        raise SpecError(
            "plan JSON",
            "<file>",
            f"not valid JSON for a saved plan (the key {display(error.key)} appears twice in one object)",
        ) from None
    except ValueError as error:  # a number of over 4300 digits, NaN or Infinity
        problem = str(error) if "JSON number" in str(error) else "a number is far too long"
        raise SpecError("plan JSON", "<file>", f"not valid JSON ({problem})") from None
    if _depth(document) > MAX_DEPTH:
        raise SpecError("plan JSON", "<file>", "not valid JSON (nested too deeply)")
    return document


def _depth(document: object) -> int:
    """How deeply ``document``'s lists and objects nest, without recursion."""
    deepest = 0
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                break
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)
    return deepest


def _check_sessions(sessions: object, plan_id: str | None) -> None:
    """Refuse too many sessions, or two with one key, before building any of them."""
    if not isinstance(sessions, list):
        return  # structuring says what is wrong
    if len(sessions) > MAX_SESSIONS:
        raise refuse(
            plan_id,
            "sessions",
            f"{len(sessions)} sessions",
            f"a saved plan holds at most {MAX_SESSIONS} sessions",
        )
    first: dict[str, int] = {}
    for number, session in enumerate(sessions):
        key = session.get("key") if isinstance(session, dict) else None
        if isinstance(key, str):
            if key in first:
                raise refuse(
                    plan_id,
                    f"sessions[{number}].key",
                    display(key),
                    f"every session needs its own key; sessions[{first[key]}] has this one",
                )
            first[key] = number


# -- turning a structuring failure into one located message ---------------------


def _first_problem(
    error: BaseException,
) -> tuple[_Path, BaseException, type | None, object]:
    """The first failure inside cattrs' ``error``, with its path, the class it was
    building and the type it was structuring."""
    import cattrs

    path: list[str | int] = []
    owner: type | None = None
    kind: object = None
    while isinstance(error, cattrs.ClassValidationError | cattrs.IterableValidationError):
        if isinstance(error, cattrs.ClassValidationError):
            owner = error.cl
        noted, unnoted = error.group_exceptions()
        if not noted:
            error = unnoted[0]
            continue
        error, note = noted[0]
        path.append(note.name if isinstance(note, cattrs.AttributeValidationNote) else note.index)
        kind = note.type
    return tuple(path), error, owner, kind


def _located(error: BaseException, plan_id: str | None) -> SpecError | None:
    """The first problem in ``error`` as a SpecError with its key path, or ``None``
    for a failure that is not the file's (a bug, to be seen as one)."""
    import cattrs

    path, error, owner, kind = _first_problem(error)
    if isinstance(error, _Refused):
        return refuse(plan_id, _path((*path, *error.where)), error.got, error.expected)
    if isinstance(error, KeyError):
        return refuse(plan_id, _path(path), "nothing", f"this key is required ({_describe(kind)})")
    if isinstance(error, cattrs.ForbiddenExtraKeysError):
        key = sorted(error.extra_fields)[0]
        allowed = [field.name for field in attrs.fields(error.cl)]
        if error.cl is Plan:
            allowed = ["format", "version", *allowed]
        return refuse(plan_id, _path((*path, key)), "an unknown key", _valid_keys(key, allowed))
    if isinstance(error, SpecError):
        field = _spec_field(path, owner, error.field)
        return refuse(plan_id, field, display(error.value), error.expected)
    bound = _ATTRS_BOUND().match(str(error)) if isinstance(error, ValueError) else None
    if bound is not None and owner is not None and bound["name"] in attrs.fields_dict(owner):
        return refuse(
            plan_id,
            _path((*path, bound["name"])),
            bound["value"],
            f"expected a number {bound['rule']}",
        )
    if not isinstance(error, ValueError | TypeError | OverflowError):
        return None
    return refuse(plan_id, _path(path) or "plan JSON", "a value it cannot use", str(error))


def _spec_field(path: _Path, owner: type | None, field: str) -> str:
    """The key path of a value refused by a class's own check, which names it ``field``
    as a plan file would (``end``, ``cadence.per_week``, ``plan.start``)."""
    parts = field.split(".")
    names = attrs.fields_dict(owner) if owner is not None and attrs.has(owner) else {}
    if path and path[-1] == parts[0]:
        return _path((*path, *parts[1:]))
    if parts[0] in names:
        return _path((*path, *parts))
    if parts[-1] in names:
        return _path((*path, parts[-1]))
    return _path(path) or field


def _path(parts: _Path) -> str:
    """``sessions[3].start`` from ``("sessions", 3, "start")``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            text += f".{part}" if text else part
        else:
            text += f"[{display(part)}]"
    return text


def _valid_keys(key: str, allowed: collections.abc.Sequence[str]) -> str:
    import difflib  # only for a suggestion in an error message

    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return "valid keys are " + ", ".join(allowed)


_DESCRIPTIONS: dict[object, str] = {
    int: "a whole number",
    str: "text",
    bool: "true or false",
    dt.datetime: _DATETIME,
    dt.date: _DATE,
    dt.time: _TIME,
    dt.timedelta: _DURATION,
    Quantity: _QUANTITY,
    Interval: _INTERVAL,
    IntervalRange: _INTERVAL_RANGE,
    Cadence: _CADENCE,
}


def _describe(kind: object) -> str:
    """What a value of ``kind`` looks like in a saved plan."""
    if kind in _DESCRIPTIONS:
        return _DESCRIPTIONS[kind].removeprefix("expected ")
    if _is_tuple(kind):
        return "a list"
    if (isinstance(kind, type) and attrs.has(kind)) or _is_mapping(kind):
        return "an object"
    if kind is Weekday:
        return _WEEKDAY.removeprefix("expected ")
    if isinstance(kind, type) and issubclass(kind, enum.StrEnum):
        return "one of " + ", ".join(member.value for member in kind)
    if _is_literal(kind):
        return "one of " + ", ".join(str(value) for value in typing.get_args(kind))
    return "a value"
