"""Reading validated TOML tables with precise, field-naming errors.

Plan files and protocol files are both read through :class:`Table`, which
knows its dotted path, rejects unknown keys with a suggestion and checks each
value's type.
"""

from __future__ import annotations

import datetime as dt
import difflib
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from .exceptions import SpecError

T = TypeVar("T")

_TYPE_NAMES = {
    str: "a string",
    int: "a whole number",
    bool: "true or false",
    list: "a list",
    dict: "a table",
    dt.date: "a date such as 2027-01-11",
}


def load_toml(path: Path, *, what: str) -> dict[str, Any]:
    """Read a TOML file, turning every failure into a :class:`SpecError`."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SpecError(what, str(path), "no such file") from None
    except IsADirectoryError:
        raise SpecError(what, str(path), "expected a file, not a folder") from None
    except PermissionError:
        raise SpecError(what, str(path), "the file cannot be read (permission denied)") from None
    except UnicodeDecodeError:
        raise SpecError(what, str(path), "the file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise SpecError(what, str(path), f"not valid TOML ({error})") from None


class Table:
    """A TOML table under a dotted ``path``; every key must be read or it is unknown."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, dict):
            raise SpecError(path, data, "expected a table")
        self.data: dict[str, Any] = data
        self.path = path
        self._read: set[str] = set()

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
                None,
                f"this field is required ({_TYPE_NAMES.get(kind, kind.__name__)})",
            )
        return self._check(key, kind)

    def optional(self, key: str, kind: type[T]) -> T | None:
        """The value of ``key`` checked to be a ``kind``, or ``None``."""
        self._read.add(key)
        if key not in self.data:
            return None
        return self._check(key, kind)

    def convert(self, key: str, parse: Callable[..., T], default: T) -> T:
        """Parse a string value with ``parse(text, field=...)``, or return ``default``."""
        text = self.optional(key, str)
        return default if text is None else parse(text, field=self.field(key))

    def strings(self, key: str) -> tuple[str, ...]:
        """A list of strings (a single string is taken as a list of one)."""
        value: object = self.get(key, object, [])
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise SpecError(self.field(key), value, "expected a list of strings")
        return tuple(value)

    def table(self, key: str) -> Table:
        """The sub-table ``key`` (empty when absent)."""
        self._read.add(key)
        return Table(self.data.get(key, {}), self.field(key))

    def tables(self, key: str) -> Iterator[Table]:
        """The array of tables ``key``, each named by its position (``phases[2]``)."""
        self._read.add(key)
        items = self.data.get(key, [])
        if not isinstance(items, list):
            raise SpecError(self.field(key), items, f"expected an array of tables ([[{key}]])")
        for number, item in enumerate(items):
            yield Table(item, f"{self.field(key)}[{number}]")

    def finish(self) -> None:
        """Reject any key that was never read, suggesting the closest known one."""
        for key in self.data:
            if key not in self._read:
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
                raise SpecError(self.field(key), self.data[key], f"unknown key; {hint}")

    def _check(self, key: str, kind: type[T]) -> T:
        value = self.data[key]
        if kind is object:
            return value  # type: ignore[no-any-return]
        wrong = not isinstance(value, kind) or (kind is int and isinstance(value, bool))
        if kind is dt.date and isinstance(value, dt.datetime):
            wrong = True
        if wrong:
            raise SpecError(
                self.field(key), value, f"expected {_TYPE_NAMES.get(kind, kind.__name__)}"
            )
        return value  # type: ignore[no-any-return]
