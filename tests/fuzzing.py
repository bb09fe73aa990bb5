"""Mutation fuzzing of plan files, shared by the test suite and the nightly script.

Every case starts from one of ``examples/*.toml`` with a marked patient name
and reference, applies one to three seeded mutations to its values (and
sometimes to its bytes), writes the result and loads it: through the API
(:func:`check_api`) or through ``ketaplan build`` in-process
(:func:`check_cli`). A case may load or fail, but it may only fail the way a
person can act on: a :class:`ketaplan.KetaplanError` whose message is one
short line that names a field and shows neither the patient's name or
reference nor a Python repr; on the command line, exit 2 with one ``error:``
line and nothing written.

A case is a pure function of ``(seed, example, number)``, so a failure is
reproduced with :func:`make_case` (or ``benchmarks/fuzz_nightly.py --save``).
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import io
import itertools
import math
import os
import random
import re
import shutil
import signal
import threading
import tomllib
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ketaplan
from ketaplan._cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
EPOCH = str(int(NOW.timestamp()))

PATIENT_NAME = "Zqxmarker Patient"
PATIENT_REF = "Qvjrefmark-0042"
MARKERS = ("Zqxmarker", "Qvjrefmark")
# Signs that an object's repr reached a message meant for a person.
REPRS = ("datetime.", "Decimal(", "Fraction(", "ZoneInfo(", "object at 0x", "Traceback", "<class ")
MESSAGE_LIMIT = 300
# Files a case folder holds besides the plan file and --out.
ASSETS = ("clinic-bookings.ics",)


def example_names() -> list[str]:
    """The stems of the example plan files, sorted."""
    return sorted(path.stem for path in EXAMPLES.glob("*.toml"))


def seed_document(example: str) -> dict[str, Any]:
    """An example plan file as a dict, its patient's name and reference replaced by markers."""
    document = tomllib.loads((EXAMPLES / f"{example}.toml").read_text(encoding="utf-8"))
    document.setdefault("patient", {}).update(name=PATIENT_NAME, ref=PATIENT_REF)
    return document


# --- writing TOML -------------------------------------------------------------

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def _key(key: str) -> str:
    return key if _BARE.fullmatch(key) else _string(key)


def _string(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def dumps(document: dict[str, Any]) -> str:
    """``document`` as TOML text: plain values first, then each table under its header."""
    lines: list[str] = []

    def table(data: dict[str, Any], path: tuple[str, ...]) -> None:
        if path:
            lines.append("")
            lines.append("[" + ".".join(_key(part) for part in path) + "]")
        for key, value in data.items():
            if not isinstance(value, dict):
                lines.append(f"{_key(key)} = {_value(value)}")
        for key, value in data.items():
            if isinstance(value, dict):
                table(value, (*path, key))

    table(document, ())
    return "\n".join(lines).lstrip("\n") + "\n"


# --- mutations ------------------------------------------------------------------

Path_ = tuple[str | int, ...]


class _NotApplicable(Exception):
    """This mutation does not fit this document; the case draws another."""


def _paths(node: object, prefix: Path_ = ()) -> Iterator[Path_]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            if isinstance(value, dict | list):
                yield (*prefix, index)
                yield from _paths(value, (*prefix, index))


def _get(document: dict[str, Any], path: Path_) -> Any:
    node: Any = document
    for part in path:
        node = node[part]
    return node


def _set(document: dict[str, Any], path: Path_, value: object) -> None:
    """Set the value at ``path``, making the tables on the way that are missing (or not tables)."""
    node: Any = document
    for part, following in itertools.pairwise(path):
        if isinstance(part, str):
            child = node.get(part)
            if not (
                isinstance(child, dict) or (isinstance(child, list) and isinstance(following, int))
            ):
                node[part] = {}
        node = node[part]
    node[path[-1]] = value


def _table(document: dict[str, Any], name: str) -> dict[str, Any]:
    """The top-level table ``name``, or an empty dict if it is missing or not a table."""
    value = document.get(name)
    return value if isinstance(value, dict) else {}


def _name(path: Path_) -> str:
    return ".".join(str(part) for part in path)


def _any_path(document: dict[str, Any], rng: random.Random) -> Path_:
    paths = list(_paths(document))
    if not paths:
        raise _NotApplicable
    return rng.choice(paths)


def _key_path(document: dict[str, Any], rng: random.Random) -> Path_:
    """A path that ends in a dict key (not a list index)."""
    paths = [p for p in _paths(document) if isinstance(p[-1], str)]
    if not paths:
        raise _NotApplicable
    return rng.choice(paths)


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 2:
        return word + "x"
    i = rng.randrange(len(word) - 1)
    kind = rng.randrange(5)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    if kind == 2:
        return word[:i] + word[i] + word[i:]
    if kind == 3:
        return word.upper() if word != word.upper() else word.lower()
    return word + "s"


def delete_key(document: dict[str, Any], rng: random.Random) -> str:
    path = _key_path(document, rng)
    parent = _get(document, path[:-1])
    del parent[path[-1]]
    return f"delete {_name(path)}"


def rename_key(document: dict[str, Any], rng: random.Random) -> str:
    path = _key_path(document, rng)
    parent = _get(document, path[:-1])
    old = path[-1]
    assert isinstance(old, str)
    new = _typo(old, rng)
    if new == old or new in parent:
        raise _NotApplicable
    parent[new] = parent.pop(old)
    return f"rename {_name(path)} to {new!r}"


def _samples(old: object) -> list[object]:
    return [
        0,
        -1,
        2**63 - 1,
        3.5,
        float("nan"),
        float("inf"),
        True,
        "",
        "text",
        dt.date(2027, 2, 28),
        dt.time(9, 30),
        dt.datetime(2027, 3, 14, 2, 30),
        dt.datetime(2027, 3, 14, 2, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        [],
        [1, "a"],
        ["MO"],
        {},
        {"x": 1},
        [old],
        {"value": old},
    ]


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, dt.datetime):
        return "datetime" if value.tzinfo is None else "offset datetime"
    return type(value).__name__


def retype(document: dict[str, Any], rng: random.Random) -> str:
    path = _any_path(document, rng)
    old = _get(document, path)
    choices = [v for v in _samples(old) if _kind(v) != _kind(old)]
    new = rng.choice(choices)
    _set(document, path, copy.deepcopy(new))
    return f"{_name(path)} = {_value(new)[:60]} (a {_kind(new)})"


BOUNDARY_NUMBERS = (0, -1, 1, 2**63 - 1, 2**63, -(2**63), 100_000, 400, 401, 10**30)


def boundary_number(document: dict[str, Any], rng: random.Random) -> str:
    """A number field set to an edge; a string's first number replaced by one."""
    path = _any_path(document, rng)
    old = _get(document, path)
    number = rng.choice(BOUNDARY_NUMBERS)
    if isinstance(old, str) and re.search(r"\d+", old):
        new: object = re.sub(r"\d+", str(number), old, count=1)
    elif isinstance(old, int | float) and not isinstance(old, bool):
        new = number
    else:
        raise _NotApplicable
    _set(document, path, new)
    return f"{_name(path)} = {_value(new)[:60]}"


DATES = (
    dt.date(1, 1, 1),
    dt.date(9999, 12, 31),
    dt.date(2027, 2, 28),
    dt.date(1999, 12, 31),
    dt.date(2000, 1, 1),
    dt.date(2199, 12, 31),
    dt.date(2200, 1, 1),
    dt.date(2028, 2, 29),
)
# Days the clocks change in the examples' zones.
DST_DAYS = {
    "America/Toronto": (dt.date(2027, 3, 14), dt.date(2027, 11, 7)),
    "America/Vancouver": (dt.date(2027, 3, 14), dt.date(2027, 11, 7)),
    "Europe/London": (dt.date(2027, 3, 28), dt.date(2027, 10, 31)),
    "Australia/Sydney": (dt.date(2027, 4, 4), dt.date(2027, 10, 3)),
}


def odd_date(document: dict[str, Any], rng: random.Random) -> str:
    dated = [p for p in _paths(document) if isinstance(_get(document, p), dt.date)]
    path = rng.choice(dated) if dated and rng.random() < 0.8 else ("plan", "start")
    new = rng.choice(DATES)
    _set(document, path, new)
    return f"{_name(path)} = {new.isoformat()}"


def start_inside_dst(document: dict[str, Any], rng: random.Random) -> str:
    """Start on a day the clocks change, at a time in (or near) the gap, every day open."""
    zone = _table(document, "plan").get("timezone")
    if (
        not isinstance(zone, str)
        or zone not in DST_DAYS
        or not isinstance(document.get("clinic"), dict)
    ):
        raise _NotApplicable
    day = rng.choice(DST_DAYS[zone])
    time = rng.choice(["02:30", "01:30", "02:00", "03:00", "00:00", "23:30"])
    document["plan"].update(
        start=day, time=time, weekdays=["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
    )
    span = rng.choice(["00:00-23:59", "00:00-24:00", "01:00-04:00"])
    document["clinic"]["hours"] = dict.fromkeys(("MO", "TU", "WE", "TH", "FR", "SA", "SU"), span)
    return f"start {day} at {time} in {zone}, open {span} daily"


def _long_text(rng: random.Random) -> str:
    size = rng.choice([300, 5_000, 100_000, 100_000, 1_100_000])
    return rng.choice(["x", "é", "💉", "\u202e", "a\n"]) * (size // 2 if size > 1000 else size)


ODD_TEXTS = (
    "",
    " ",
    "line one\nline two",
    "carriage\r\nreturn",
    "lone\rreturn",
    "nul\x00byte",
    "tab\there",
    "💉🙂👩🏽‍⚕️",
    "\u202eRTL override\u202c",
    "مرحبا بالعالم",
    "עברית",
    "\uff46\uff55\uff4c\uff4c \uff57\uff49\uff44\uff54\uff48",
    "zero\u200bwidth",
    "e\u0301",
    "\x1b[31mred",
    "quote\" and 'single'",
    "back\\slash",
    "semi;colon,comma",
    "<script>alert(1)</script>",
    "{{ 7 * 7 }}",
    "%s%n%x",
    "X\nATTENDEE:mailto:evil@example.com",
    "line\u2028separator",
)


def odd_string(document: dict[str, Any], rng: random.Random) -> str:
    strings = [p for p in _paths(document) if isinstance(_get(document, p), str)]
    if not strings:
        raise _NotApplicable
    path = rng.choice(strings)
    old = _get(document, path)
    if rng.random() < 0.3:
        new = _long_text(rng)
        description = f"{len(new)} characters"
    else:
        text = rng.choice(ODD_TEXTS)
        new = rng.choice([text, old + text, text + old])
        description = repr(new)[:60]
    _set(document, path, new)
    return f"{_name(path)} = {description}"


def _choose(document: dict[str, Any], rng: random.Random, path: Path_, values: list[object]) -> str:
    new = copy.deepcopy(rng.choice(values))
    _set(document, path, new)
    return f"{_name(path)} = {_value(new)[:60]}"


TIMEZONES = [
    "A" * 300,
    "America/" + "x" * 300,
    "",
    "UTC",
    "Etc/GMT+14",
    "EST5EDT",
    "Factory",
    "localtime",
    "posixrules",
    "zone.tab",
    "../../../../etc/passwd",
    "/usr/share/zoneinfo/UTC",
    "America/Toronto\n",
    "america/toronto",
    "America/Toronto/..",
    "Europe/Kyiv",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "Australia/Lord_Howe",
    "Antarctica/Troll",
    "Pacific/Kiritimati",
    "nul\x00zone",
]


def timezone(document: dict[str, Any], rng: random.Random) -> str:
    return _choose(document, rng, ("plan", "timezone"), TIMEZONES)


WEEKDAY_LISTS: list[object] = [
    [],
    ["XX"],
    ["MO", "XX"],
    ["mo"],
    ["Monday", "wednesday"],
    ["MO", "MO", "MO"],
    "MO",
    [1, 2],
    [["MO"]],
    ["SU"],
    ["SA", "SU"],
    ["MO", "TU", "WE", "TH", "FR", "SA", "SU"],
    ["M O"],
    ["MO "],
    ["\uff2d\uff2f"],
    [""],
]


def weekdays(document: dict[str, Any], rng: random.Random) -> str:
    return _choose(document, rng, ("plan", "weekdays"), WEEKDAY_LISTS)


HOURS: list[object] = [
    "18:00-08:00",
    "08:00",
    "25:00-26:00",
    "08:00-08:00",
    "8-18",
    "08:00-12:00, 11:00-18:00",
    "",
    "24:00-24:00",
    "00:00-24:00",
    "08:00-18:00,",
    "08:60-18:00",
    "08:00-09:00",
    "08:00\u201318:00",
    "08:00-18:00\n",
    8,
]


def hours(document: dict[str, Any], rng: random.Random) -> str:
    clinic = document.setdefault("clinic", {})
    if not isinstance(clinic, dict):
        raise _NotApplicable
    if rng.random() < 0.2:
        return _choose(
            document,
            rng,
            ("clinic", "hours"),
            [{}, "08:00-18:00", {"XX": "08:00-18:00"}, {"MO": "08:00-18:00", "mo": "09:00-17:00"}],
        )
    day = rng.choice(["MO", "TU", "WE", "TH", "FR", "SA", "SU"])
    return _choose(document, rng, ("clinic", "hours", day), HOURS)


def _phase_names(document: dict[str, Any]) -> list[str]:
    names = set(_table(document, "phases"))
    protocol = _table(document, "plan").get("protocol")
    with contextlib.suppress(Exception):
        names.update(p.name for p in ketaplan.builtin_protocols()[protocol].phases)
    return sorted(names) or ["induction", "maintenance"]


def phase(document: dict[str, Any], rng: random.Random) -> str:
    """``[phases.<name>]``: sessions zero, negative or huge, ``until`` before the start, odd intervals."""
    name = rng.choice([*_phase_names(document), "inducton"])
    start = _table(document, "plan").get("start")
    start = start if isinstance(start, dt.date) else dt.date(2027, 1, 11)
    key = rng.choice(["sessions", "sessions", "until", "until", "interval"])
    values: list[object] = {
        "sessions": [0, -1, 1, 400, 401, 100_000, 2**63 - 1, 2**63],
        "until": [
            start - dt.timedelta(days=1),
            start,
            start + dt.timedelta(days=1),
            dt.date(9999, 12, 31),
        ],
        "interval": [
            "0 weeks",
            "-1 weeks",
            "1000000 weeks",
            "1-0 weeks",
            "2-6 weeks",
            "1 day",
            "weeks",
            "1 fortnight",
            "",
            "4 weeks",
        ],
    }[key]
    return _choose(document, rng, ("phases", name, key), values)


def clinic_value(document: dict[str, Any], rng: random.Random) -> str:
    """A clinic setting set to a wrong or extreme value."""
    key, values = rng.choice(
        [
            (
                "min_gap",
                [48, "48", "48 h", "-48 h", "0 h", "100000 h", "367 days", "48h", "h", 4.8],
            ),
            ("chairs", [0, -1, 2**63, 100_000, "2"]),
            (
                "holidays",
                ["XX-YY", "", ["CA-ON", "CA-ON"], "CA", "ca-on", "US-XX", "x" * 300, 5],
            ),
            (
                "closures",
                [
                    [dt.date(2027, 1, 1)],
                    [{"first": dt.date(2027, 2, 19), "last": dt.date(2027, 2, 15)}],
                    ["2026-12-24"],
                    [{"date": dt.date(2027, 1, 4), "extra": 1}],
                    [{"first": dt.date(2000, 1, 1), "last": dt.date(2199, 12, 31)}],
                    [{"reason": "no dates"}],
                ],
            ),
            (
                "busy",
                ["missing.ics", ".", "clinic-bookings.ics", "/dev/null", "", "../../etc/passwd"],
            ),
            ("consecutive_days", ["false", 0]),
        ]
    )
    return _choose(document, rng, ("clinic", key), values)


def plan_value(document: dict[str, Any], rng: random.Random) -> str:
    """``[plan]`` id, protocol or time set to a wrong or extreme value."""
    key, values = rng.choice(
        [
            (
                "time",
                [
                    dt.time(9, 30),
                    dt.time(9, 30, 15),
                    dt.time(9, 30, 0, 500),
                    "9:30",
                    "25:00",
                    "09:30:00",
                    "24:00",
                    "00:00",
                    "23:59",
                    "09:30am",
                    "",
                    930,
                    dt.datetime(2027, 1, 1, 9, 30),
                ],
            ),
            (
                "protocol",
                [
                    "",
                    "nonexistent",
                    "../../etc/passwd",
                    "IV-INDUCTION",
                    "iv induction",
                    "iv-induction",
                    "im-kap",
                    "esketamine-nasal",
                    "oral-sublingual",
                    "x" * 300,
                    "missing.toml",
                    "/dev/null",
                    ".",
                ],
            ),
            (
                "id",
                ["", "../escape", "a/b", ".", "..", "x" * 65, "x" * 64, "-lead", "id\n", "ok id"],
            ),
            ("language", ["", "xx", "fr-CA", "en", "de"]),
        ]
    )
    return _choose(document, rng, ("plan", key), values)


DOSE_VALUES: list[object] = [
    "72 kg",
    "1000000000000000 kg",
    "1000000000000000 mg/kg",
    "1e308 mg/kg",
    "0.5 mg/kg",
    "-1 kg",
    "0 kg",
    "kg",
    "nan kg",
    "inf mg",
    "72",
    72,
    "72 lb",
    "40 min",
    "0 min",
    "100000 min",
    "84 mg",
    3,
    "3 devices",
]


def dosing(document: dict[str, Any], rng: random.Random) -> str:
    name = rng.choice(
        [
            "body_weight",
            "dose_per_kg",
            "infusion_minutes",
            "dose",
            "devices",
            "hold_minutes",
            "nosuch",
        ]
    )
    where: Path_ = ("dosing", name)
    if rng.random() < 0.3:
        where = ("dosing", rng.choice(["induction-01", "maintenance-01", "nosuch-01"]), name)
    return _choose(document, rng, where, DOSE_VALUES)


def calendar_value(document: dict[str, Any], rng: random.Random) -> str:
    if rng.random() < 0.5:
        return _choose(document, rng, ("calendar", "privacy"), ["", "Full", "none", 1, "full"])
    return _choose(
        document,
        rng,
        ("calendar", "reminders"),
        [[], ["0 min"], ["-1 day"], ["100000 days"], ["1 day"] * 50, "1 day", [1], ["soon"]],
    )


def documents(document: dict[str, Any], rng: random.Random) -> str:
    return _choose(
        document,
        rng,
        ("documents", "templates"),
        ["missing", "/", "..", "", "x" * 300, "clinic-bookings.ics", "."],
    )


def add_key(document: dict[str, Any], rng: random.Random) -> str:
    """An unknown key in a table, or an unknown table, holding a personal value."""
    tables = [()] + [p for p in _paths(document) if isinstance(_get(document, p), dict)]
    where = rng.choice(tables)
    key = rng.choice(["extra", "nmae", "Start", "start ", "ü", "x" * 300, "patients"])
    value = rng.choice([1, PATIENT_NAME, {"name": PATIENT_NAME, "ref": PATIENT_REF}])
    node = _get(document, where)
    if key in node:
        raise _NotApplicable
    node[key] = copy.deepcopy(value)
    return f"add {_name((*where, key))[:60]} = {_value(value)[:60]}"


def rename_table(document: dict[str, Any], rng: random.Random) -> str:
    """A table name mistyped: ``[pateint]``."""
    tables = [k for k, v in document.items() if isinstance(v, dict)]
    if not tables:
        raise _NotApplicable
    old = rng.choice(tables)
    new = _typo(old, rng)
    if new == old or new in document:
        raise _NotApplicable
    document[new] = document.pop(old)
    return f"rename table [{old}] to [{new}]"


MUTATIONS: tuple[Callable[[dict[str, Any], random.Random], str], ...] = (
    delete_key,
    rename_key,
    retype,
    retype,
    boundary_number,
    odd_date,
    start_inside_dst,
    start_inside_dst,
    odd_string,
    odd_string,
    odd_string,
    timezone,
    weekdays,
    hours,
    phase,
    phase,
    clinic_value,
    plan_value,
    dosing,
    calendar_value,
    documents,
    add_key,
    rename_table,
)


# --- byte mutations ----------------------------------------------------------


def _bytes_mutation(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    kind = rng.randrange(13)
    where = rng.randrange(len(data) + 1)
    if kind == 0:
        return b"\xef\xbb\xbf" + data, "UTF-8 BOM"
    if kind == 1:
        return data.replace(b"\n", b"\r\n"), "CRLF line ends"
    if kind == 2:
        return data[:where], f"cut at byte {where}"
    if kind == 3:
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 20)))
        return data[:where] + junk + data[where:], f"{len(junk)} random bytes at {where}"
    if kind == 4 and data:
        i = min(where, len(data) - 1)
        flipped = data[i] ^ (1 << rng.randrange(8))
        return data[:i] + bytes([flipped]) + data[i + 1 :], f"bit flip at {i}"
    if kind == 5:
        return data[:where] + b"\x00" + data[where:], f"NUL at {where}"
    if kind == 6:
        return data[:where] + rng.choice([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80"]) + data[
            where:
        ], f"invalid UTF-8 at {where}"
    if kind == 7:
        quote = data.find(b'"', where)
        if quote < 0:
            return data, "unchanged"
        return data[: quote + 1] + b"\n" + data[quote + 1 :], f"raw newline in a string at {quote}"
    if kind == 8:
        lines = data.split(b"\n")
        i = rng.randrange(len(lines))
        return b"\n".join([*lines[: i + 1], lines[i], *lines[i + 1 :]]), f"line {i + 1} twice"
    if kind == 9:
        depth, text = rng.choice(
            [
                (100_000, b"deep = " + b"[" * 100_000 + b"]" * 100_000),
                (5_000, b"deep = " + b"{a = " * 5_000 + b"1" + b"}" * 5_000),
                (900, b"deep = " + b"[" * 900 + b"]" * 900),
                (2_000, b"deep." + b"a." * 2_000 + b"a = 1"),
            ]
        )
        return text + b"\n" + data, f"a value nested {depth} deep"
    if kind == 10:
        return data.decode("utf-8", "replace").encode("utf-16"), "UTF-16"
    if kind == 11:
        return data.decode("utf-8", "replace").encode("latin-1", "replace"), "Latin-1"
    return rng.choice([b"", b"   \n\t\n", b"# only a comment\n"]), "empty"


# --- cases ---------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One mutated plan file: which example, which case number, what was done."""

    seed: int
    example: str
    number: int
    mutations: tuple[str, ...]
    content: bytes

    @property
    def label(self) -> str:
        return f"{self.example}#{self.number}"

    def describe(self) -> str:
        return f"{self.label} (seed {self.seed}): " + "; ".join(self.mutations)


def make_case(seed: int, example: str, number: int) -> Case:
    """The mutated plan file number ``number`` of ``example`` under ``seed``."""
    rng = random.Random(f"{seed}/{example}/{number}")
    document = seed_document(example)
    done: list[str] = []
    wanted = rng.choice([1, 1, 1, 1, 2, 2, 3])
    attempts = 0
    while len(done) < wanted and attempts < 50:
        attempts += 1
        mutation = rng.choice(MUTATIONS)
        trial = copy.deepcopy(document)
        try:
            done.append(mutation(trial, rng))
        except (_NotApplicable, OverflowError):  # e.g. a day after 9999-12-31
            continue
        document = trial
    content = dumps(document).encode("utf-8")
    if rng.random() < 0.2:
        content, description = _bytes_mutation(content, rng)
        done.append(description)
    return Case(seed, example, number, tuple(done), content)


# --- checking -------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """A case that failed one check; ``kind`` groups failures of one cause."""

    case: Case
    kind: str
    detail: str
    via: str = "api"

    def __str__(self) -> str:
        return f"[{self.via}] {self.kind}: {self.detail[:240]!r}\n    {self.case.describe()[:400]}"


class _Timeout(BaseException):
    """A case ran past its deadline."""


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    if (
        not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def message_problems(message: str) -> list[tuple[str, str]]:
    """What is wrong with an error message a person will read, as (kind, detail) pairs."""
    problems = []
    if len(message.splitlines()) != 1:
        problems.append(("message is not one line", message))
    if len(message) >= MESSAGE_LIMIT:
        problems.append((f"message is {MESSAGE_LIMIT} characters or more", message))
    for marker in MARKERS:
        if marker in message:
            problems.append(("message shows the patient's name or reference", message))
    for sign in REPRS:
        if sign in message:
            problems.append((f"message shows a Python repr ({sign})", message))
    return problems


def names_field(error: ketaplan.KetaplanError, message: str) -> bool:
    """Whether the message names what is wrong: the field, the session or the template."""
    if isinstance(error, ketaplan.SpecError):  # a long field name may be cut short
        return bool(error.field) and str(error.field)[:40] in message
    if isinstance(error, ketaplan.ScheduleError):
        return error.session_key in message
    if isinstance(error, ketaplan.TemplateError):
        return error.template in message
    return bool(re.search(r"\b(plan|clinic|patient|phases|dosing|calendar|documents)\b", message))


def prepare(folder: Path, case: Case) -> Path:
    """Write the case's plan file (and the example's assets) into ``folder``; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ASSETS:
        if not (folder / name).exists():
            shutil.copyfile(EXAMPLES / name, folder / name)
    path = folder / f"{case.example}.toml"
    path.write_bytes(case.content)
    return path


def _warning_problems(caught: Iterable[warnings.WarningMessage]) -> list[tuple[str, str]]:
    problems = []
    for warning in caught:
        text = str(warning.message)
        if not issubclass(warning.category, ketaplan.KetaplanWarning):
            problems.append((f"{warning.category.__name__} warned", text))
        else:
            problems.extend(
                (f"warning: {kind}", detail)
                for kind, detail in message_problems(text)
                if "one line" not in kind
            )
    return problems


def check_api(case: Case, folder: Path, *, timeout: float = 10.0) -> tuple[str, list[Failure]]:
    """Load the case with ``ketaplan.load_plan``: it loads, or fails with a readable KetaplanError.

    Returns what happened (``"loaded"``, ``"SpecError plan.start"``...) and the failed checks.
    """
    path = prepare(folder, case)
    problems: list[tuple[str, str]] = []
    outcome = "loaded"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with _deadline(timeout):
                plan = ketaplan.load_plan(path, now=NOW)
                problems.extend(_round_trip_problems(plan))
        except _Timeout:
            outcome = "timeout"
            problems.append((f"took more than {timeout:g} s", ""))
        except ketaplan.KetaplanError as error:
            outcome = type(error).__name__
            if isinstance(error, ketaplan.SpecError):
                outcome += f" {str(error.field)[:40]}"
            message = str(error)
            problems.extend(message_problems(message))
            if not names_field(error, message):
                problems.append(("message names no field", message))
        except Exception as error:  # RecursionError included
            outcome = f"crash: {type(error).__name__}"
            problems.append((f"{type(error).__name__} escaped", str(error)))
    problems.extend(_warning_problems(caught))
    return outcome, [Failure(case, kind, detail) for kind, detail in problems]


def _round_trip_problems(plan: ketaplan.Plan) -> list[tuple[str, str]]:
    """A plan that loaded is saved as JSON that loads back equal."""
    try:
        again = ketaplan.plan_from_json(ketaplan.plan_to_json(plan))
    except Exception as error:
        return [("its saved JSON does not load back", f"{type(error).__name__}: {error}")]
    if again != plan:
        return [("its saved JSON loads back different", "")]
    return []


def _stray(folder: Path, plan_file: Path, out: Path) -> list[str]:
    expected = {plan_file.name, out.name, *ASSETS}
    return sorted(p.name for p in folder.iterdir() if p.name not in expected)


def check_cli(case: Case, folder: Path, *, timeout: float = 30.0) -> tuple[str, list[Failure]]:
    """Build the case with ``ketaplan build`` in-process: exit 0, or exit 2 with one line and nothing written."""
    if folder.exists():
        shutil.rmtree(folder)
    path = prepare(folder, case)
    out = folder / "out"
    stdout, stderr = io.StringIO(), io.StringIO()
    problems: list[tuple[str, str]] = []
    code: int | None = None
    with warnings.catch_warnings(record=True) as caught, _environment(SOURCE_DATE_EPOCH=EPOCH):
        warnings.simplefilter("always")
        try:
            with _deadline(timeout):
                code = main(["build", str(path), "--out", str(out)], stdout=stdout, stderr=stderr)
        except _Timeout:
            problems.append((f"took more than {timeout:g} s", ""))
        except BaseException as error:
            problems.append((f"{type(error).__name__} escaped main()", str(error)))
    problems.extend(_warning_problems(caught))
    lines = stderr.getvalue().splitlines()
    if code == 0:
        problems.extend(_written_plan_problems(out))
    elif code == 2:
        if len(lines) != 1 or not lines[0].startswith("error: "):
            problems.append(("stderr is not one 'error:' line", stderr.getvalue()))
        else:
            problems.extend(message_problems(lines[0].removeprefix("error: ")))
        if out.exists() and any(out.iterdir()):
            problems.append(("wrote files and then failed", ", ".join(sorted(os.listdir(out)))))
    elif code is not None:
        problems.append((f"exit {code}", stderr.getvalue()))
    leftovers = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.tmp"))
    if leftovers:
        problems.append(("left a .tmp file", ", ".join(leftovers)))
    stray = _stray(folder, path, out)
    if stray:
        problems.append(("wrote outside --out", ", ".join(stray)))
    return f"exit {code}", [Failure(case, kind, detail, via="cli") for kind, detail in problems]


def _written_plan_problems(out: Path) -> list[tuple[str, str]]:
    """A build that succeeded wrote a saved plan that loads back."""
    saved = [p for p in out.glob("*.json") if not p.name.endswith(".fhir.json")]
    if len(saved) != 1:
        return [
            ("a successful build did not write one saved plan", ", ".join(p.name for p in saved))
        ]
    try:
        ketaplan.load_plan(saved[0], now=NOW)
    except Exception as error:
        return [
            ("the saved plan a build wrote does not load back", f"{type(error).__name__}: {error}")
        ]
    return []


# --- running many ----------------------------------------------------------------


@dataclass
class Report:
    """The outcome of a fuzz run."""

    cases: int = 0
    cli_cases: int = 0
    failures: list[Failure] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)

    def summary(self, examples_per_kind: int = 1) -> list[str]:
        """One entry per kind of failure, with its count and the first case(s) that showed it."""
        counts = Counter((f.via, f.kind) for f in self.failures)
        shown: Counter[tuple[str, str]] = Counter()
        lines = []
        for failure in self.failures:
            key = (failure.via, failure.kind)
            if shown[key] < examples_per_kind:
                shown[key] += 1
                lines.append(f"{counts[key]} x {failure}")
        return lines


def run(
    seed: int,
    examples: Iterable[str],
    numbers: Iterable[int],
    folder: Path,
    *,
    api: bool = True,
    cli: Callable[[int], bool] = lambda number: False,
    progress: Callable[[Report], None] | None = None,
) -> Report:
    """Check case ``n`` of each example for each ``n`` in ``numbers``: through the API
    (unless ``api`` is false) and through the CLI when ``cli(n)``."""
    report = Report()
    numbers = list(numbers)
    for example in examples:
        for number in numbers:
            case = make_case(seed, example, number)
            report.cases += 1
            if api:
                outcome, failures = check_api(case, folder / "api")
                report.outcomes[outcome] += 1
                report.failures.extend(failures)
            if cli(number):
                report.cli_cases += 1
                outcome, failures = check_cli(case, folder / "cli")
                report.outcomes[f"cli {outcome}"] += 1
                report.failures.extend(failures)
            if progress is not None:
                progress(report)
    return report
