"""Reading validated TOML tables with precise, field-naming errors.

Plan files and protocol files are both read through :class:`Table`, which
knows its dotted path, rejects unknown keys with a suggestion and checks each
value's type.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from ._values import pattern
from .exceptions import NOT_SHOWN, SpecError

T = TypeVar("T")

_TYPE_NAMES = {
    str: "a string in double quotes",
    int: "a whole number",
    bool: "true or false",
    list: "a list",
    dict: "a table",
    dt.date: "a date such as 2027-01-11",
}


def read_file(
    path: Path, *, what: str, limit: int, shown: str | None = None, hint: str = ""
) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them.

    A folder, a device (``/dev/zero``) or a pipe is refused at once, without
    reading from it, and so is a file over ``limit`` bytes; every failure is a
    :class:`SpecError` naming ``what`` and the file (``shown``, if given).
    ``hint`` follows "no such file" (what to give instead).
    """
    name = str(path) if shown is None else shown
    try:
        # Opened without blocking, so that a pipe with no writer cannot hang.
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise SpecError(what, name, "no such file" + (f"; {hint}" if hint else "")) from None
    except IsADirectoryError:
        raise SpecError(what, name, "expected a file, not a folder") from None
    except OSError as error:
        raise SpecError(
            what, name, f"the file cannot be read ({error.strerror or 'error'})"
        ) from None
    mode = os.fstat(handle).st_mode
    if not stat.S_ISREG(mode):
        os.close(handle)
        if stat.S_ISDIR(mode):
            raise SpecError(what, name, "expected a file, not a folder")
        raise SpecError(what, name, "expected a regular file, not a device or a pipe")
    with os.fdopen(handle, "rb") as stream:
        try:
            data = stream.read(limit + 1)
        except OSError as error:
            raise SpecError(
                what, name, f"the file cannot be read ({error.strerror or 'error'})"
            ) from None
    if len(data) > limit:
        size = f"{limit // 1_000_000} MB" if limit >= 1_000_000 else f"{limit} bytes"
        raise SpecError(what, name, f"the file is over {size}")
    return data


def load_toml(path: Path, *, what: str) -> dict[str, Any]:
    """Read a TOML file, turning every failure into a :class:`SpecError`.

    A UTF-8 byte-order mark (as some Windows editors write) is accepted. A
    syntax error names the field it is in, where that can be told, and the
    line, but never the line's text: it may hold a patient's name.
    """
    # As "utf-8-sig" decodes, without importing that codec in every process (0.2 ms).
    data = read_file(path, what=what, limit=MAX_FILE_BYTES).removeprefix(b"\xef\xbb\xbf")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise SpecError(what, str(path), f"the file is not UTF-8 text (line {line})") from None
    _check_nesting(what, path, text)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise _syntax_error(what, path, text, error) from None
    except RecursionError:
        raise SpecError(what, str(path), "not valid TOML (nested too deeply)") from None


_QUOTED = pattern(r'"[^"]*"|\'[^\']*\'')
#: How many parts a dotted key or table name may have (a plan file needs 3).
MAX_KEY_PARTS = 16


def _check_nesting(what: str, path: Path, text: str) -> None:
    """Refuse keys nested absurdly deep before the TOML parser spends memory on them."""
    for number, line in enumerate(text.splitlines(), start=1):
        if "=" in line:
            head = line.split("=", 1)[0]
        elif line.lstrip().startswith("["):
            head = line
        else:
            continue
        # Quoted parts only take dots away: most lines need no look at them.
        if (
            head.count(".") >= MAX_KEY_PARTS
            and _QUOTED().sub("x", head).count(".") >= MAX_KEY_PARTS
        ):
            raise SpecError(
                what,
                str(path),
                f"line {number}: a key has more than {MAX_KEY_PARTS} dotted parts",
            )


#: The largest whole number a plan or protocol file may give (as a saved plan holds).
MAX_INT = 2**31 - 1

#: The largest plan or protocol file read.
MAX_FILE_BYTES = 1_000_000

#: A key and a table header, found only to name where a file's syntax is wrong (compiled
#: then, by ``re``: a process that reads only good files never pays for them).
_KEY = r"^\s*([A-Za-z0-9_.\-\"' ]+?)\s*="
_HEADER = r"^\s*\[\[?\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$"
_TOML_HINTS = {
    "Invalid date or datetime": "dates are written 2027-02-28, a real day of the calendar",
    "Invalid value": 'strings go in double quotes, e.g. "09:30"; dates are written 2027-02-28',
}


def _syntax_error(what: str, path: Path, text: str, error: tomllib.TOMLDecodeError) -> SpecError:
    """A TOML syntax error as a message that names the field, without quoting the file."""
    match = re.search(r"\(at line (\d+), column (\d+)\)", str(error))
    problem = str(error).split(" (at line")[0].strip()
    if match is None:
        return SpecError(what, str(path), f"not valid TOML ({problem})")
    line = int(match.group(1))
    lines = text.splitlines()
    table = ""
    for earlier in lines[: line - 1]:
        header = re.match(_HEADER, earlier)
        if header:
            table = _plain_key(header.group(1))
    key = re.match(_KEY, lines[line - 1]) if 0 < line <= len(lines) else None
    field = ".".join(part for part in (table, _plain_key(key.group(1)) if key else "") if part)
    hint = next((h for start, h in _TOML_HINTS.items() if problem.startswith(start)), "")
    where = f"{path}, line {line}"
    message = f"not valid TOML at {where} ({problem})" + (f"; {hint}" if hint else "")
    return SpecError(field or what, NOT_SHOWN, message)


def _plain_key(text: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in text.split("."))


class Table:
    """A TOML table under a dotted ``path``; every key must be read or it is unknown."""

    def __init__(self, data: object, path: str, *, private: bool = False) -> None:
        if not isinstance(data, dict):
            raise SpecError(
                path or "file", NOT_SHOWN if private else data, "expected a table ([name])"
            )
        self.data: dict[str, Any] = data
        self.path = path
        self.private = private
        self._read: set[str] = set()

    def _error(self, key: str, value: object, expected: str) -> SpecError:
        """An error about ``key``; a private table's values never appear in it."""
        return SpecError(self.field(key), NOT_SHOWN if self.private else value, expected)

    def field(self, key: str) -> str:
        """The dotted name of ``key`` in this table."""
        return f"{self.path}.{key}" if self.path else key

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str, kind: type[T], default: T) -> T:
        """The value of ``key``, checked to be a ``kind``, or ``default``."""
        self._read.add(key)
        if key not in self.data:
            return default
        return self._check(key, kind)

    def require(self, key: str, kind: type[T]) -> T:
        """The value of ``key``, which must be present and a ``kind``."""
        self._read.add(key)
        if key not in self.data:
            raise SpecError(
                self.field(key),
                NOT_SHOWN,
                f"this field is required ({_TYPE_NAMES.get(kind, kind.__name__)})",
            )
        return self._check(key, kind)

    def optional(self, key: str, kind: type[T]) -> T | None:
        """The value of ``key`` checked to be a ``kind``, or ``None``."""
        self._read.add(key)
        if key not in self.data:
            return None
        return self._check(key, kind)

    def convert(self, key: str, parse: Callable[..., T], default: T, *, example: str = "") -> T:
        """Parse a string value with ``parse(text, field=...)``, or return ``default``.

        ``example`` shows the expected form when the value is not a string
        (``'"48 h"'``).
        """
        self._read.add(key)
        if key not in self.data:
            return default
        text = self.data[key]
        if not isinstance(text, str):
            form = f"a string in double quotes, e.g. {key} = {example}" if example else "a string"
            raise self._error(key, text, f"expected {form}")
        return parse(text, field=self.field(key))

    def strings(self, key: str) -> tuple[str, ...]:
        """A list of strings (a single string is taken as a list of one)."""
        value: object = self.get(key, object, [])
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self._error(key, value, "expected a list of strings")
        return tuple(value)

    def table(self, key: str, *, private: bool = False) -> Table:
        """The sub-table ``key`` (empty when absent); ``private`` hides its values in errors."""
        self._read.add(key)
        return Table(self.data.get(key, {}), self.field(key), private=private or self.private)

    def tables(self, key: str) -> Iterator[Table]:
        """The array of tables ``key``, each named by its position (``phases[2]``)."""
        self._read.add(key)
        items = self.data.get(key, [])
        if not isinstance(items, list):
            raise self._error(key, items, f"expected an array of tables ([[{key}]])")
        for number, item in enumerate(items):
            yield Table(item, f"{self.field(key)}[{number}]", private=self.private)

    def finish(self) -> None:
        """Reject any key that was never read, suggesting the closest known one."""
        for key in self.data:
            if key not in self._read:
                import difflib  # only for a suggestion in an error message

                close = difflib.get_close_matches(key, sorted(self._read), n=1, cutoff=0.6)
                hint = (
                    f"did you mean {close[0]!r}?"
                    if close
                    else (
                        "valid keys are " + ", ".join(sorted(self._read))
                        if self._read
                        else "this table takes no keys"
                    )
                )
                # A private table's keys may be personal too: name the table only.
                field = self.path if self.private else self.field(key)
                raise SpecError(field, NOT_SHOWN, f"unknown key; {hint}")

    def _check(self, key: str, kind: type[T]) -> T:
        value = self.data[key]
        if kind is object:
            return value  # type: ignore[no-any-return]
        wrong = not isinstance(value, kind) or (kind is int and isinstance(value, bool))
        if kind is dt.date and isinstance(value, dt.datetime):
            wrong = True
        if wrong:
            raise self._error(key, value, f"expected {_TYPE_NAMES.get(kind, kind.__name__)}")
        if kind is int and not -MAX_INT <= value <= MAX_INT:
            raise self._error(key, value, f"expected a whole number up to {MAX_INT}")
        return value  # type: ignore[no-any-return]
