"""Exceptions and warnings raised by ketaplan.

Every error meant for a person is a :class:`KetaplanError`. Each subclass also
inherits the builtin exception that fits it, so ``except ValueError`` keeps
working in code that does not know ketaplan::

    KetaplanError
    ├── SpecError(ValueError)            bad input: a plan file, protocol or value
    │   └── UnknownProtocolError(LookupError)
    ├── ScheduleError(ValueError)        the plan cannot fit the protocol's rules
    └── OutputError(OSError)             an output file could not be written

    KetaplanWarning(UserWarning)         allowed but suspicious input

A message names the field, shows the value received and says what would be
valid. The data is also kept on the exception as attributes, so callers need
not parse messages.
"""

from __future__ import annotations

import datetime as dt

__all__ = [
    "KetaplanError",
    "KetaplanWarning",
    "OutputError",
    "ScheduleError",
    "SpecError",
    "UnknownProtocolError",
]


class KetaplanError(Exception):
    """Base class of every error ketaplan raises for a person to read."""


class SpecError(KetaplanError, ValueError):
    """A value in a plan file, protocol file or API call is not valid.

    ``field`` is the dotted name of the offending field (``"plan.start"``),
    ``value`` the value received.
    """

    def __init__(self, field: str, value: object, expected: str) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(f"{field}: got {_show(value)}; {expected}")


class UnknownProtocolError(SpecError, LookupError):
    """A protocol name that is neither built in nor a readable file."""


class ScheduleError(KetaplanError, ValueError):
    """The protocol's rules cannot be kept on the clinic's calendar.

    ``session_key`` names the session that could not be placed, ``date`` the
    date the scheduler was trying and ``rule`` the rule that failed.
    """

    def __init__(self, session_key: str, date: dt.date, rule: str) -> None:
        self.session_key = session_key
        self.date = date
        self.rule = rule
        super().__init__(f"cannot schedule session {session_key!r} on or after {date}: {rule}")


class OutputError(KetaplanError, OSError):
    """An output file could not be written."""


class KetaplanWarning(UserWarning):
    """Input that ketaplan accepts but that a person should look at."""


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
