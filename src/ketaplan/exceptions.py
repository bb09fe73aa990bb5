"""Exceptions and warnings raised by ketaplan.

Every error meant for a person is a :class:`KetaplanError`. Each subclass also
inherits the builtin exception that fits it, so ``except ValueError`` keeps
working in code that does not know ketaplan::

    KetaplanError
    ├── SpecError(ValueError)            bad input: a plan file, protocol or value
    │   └── UnknownProtocolError(LookupError)
    ├── ScheduleError(ValueError)        the plan cannot fit the protocol's rules
    ├── TemplateError(ValueError)        a document template is missing or broken
    ├── OutputError(OSError)             an output file could not be written
    │   └── ConflictError                a write would lose a saved plan's changes
    ├── PublishError(ConnectionError)    a CalDAV server refused or did not answer
    └── MissingExtraError(ImportError)   an optional extra (``ketaplan[caldav]``) is missing or too old

    KetaplanWarning(UserWarning)         allowed but suspicious input

A message names the field, shows the value received and says what would be
valid. The data is also kept on the exception as attributes, so callers need
not parse messages.
"""

from __future__ import annotations

import datetime as dt

__all__ = [
    "ConflictError",
    "KetaplanError",
    "KetaplanWarning",
    "MissingExtraError",
    "OutputError",
    "PublishError",
    "ScheduleError",
    "SpecError",
    "TemplateError",
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
        shown = _cut(field, 80)
        if value is NOT_SHOWN:
            message = f"{shown}: {expected}"
        else:
            message = f"{shown}: got {_show(value)}; {expected}"
        super().__init__(_line(message))


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
        super().__init__(
            _line(f"cannot schedule session {session_key!r} on or after {date}: {rule}")
        )


class TemplateError(KetaplanError, ValueError):
    """A document template (or a folder of them) is missing or cannot be rendered.

    ``template`` names the template file (``"header.html.j2"``; a shipped
    one as ``"ketaplan/base.html.j2"``) or the folder, ``line`` the line in
    it, if known, and ``problem`` what is wrong there.
    """

    def __init__(self, template: str, problem: str, *, line: int | None = None) -> None:
        self.template = template
        self.problem = problem
        self.line = line
        where = f"template {template}" if line is None else f"template {template}, line {line}"
        super().__init__(f"{where}: {problem}")


class OutputError(KetaplanError, OSError):
    """An output file could not be written."""


class ConflictError(OutputError):
    """Writing would lose changes made to a saved plan, or overwrite another plan.

    The saved plan is the clinic's record. A build from the plan file keeps
    the changes made to it and lays the rest around them; but when the plan
    being written and the saved one were each changed on their own (two
    copies of one plan edited apart), or the folder holds another plan under
    that name, nothing is written. Make the changes in one copy, or start
    over on purpose (``--replace``, ``replace=True``), which keeps the saved
    plan as a backup.
    """


class PublishError(KetaplanError, ConnectionError):
    """A plan could not be published to a CalDAV calendar.

    ``url`` is the calendar's address (without any password in it), ``reason``
    what went wrong, ``check`` what to look at and ``status`` the HTTP status
    the server answered with, if it answered.
    """

    def __init__(self, url: str, reason: str, check: str, *, status: int | None = None) -> None:
        self.url = url
        self.reason = reason
        self.check = check
        self.status = status
        super().__init__(f"calendar {url}: {reason}; {check}")


class MissingExtraError(KetaplanError, ImportError):
    """A feature needs an optional extra that is not installed, or is too old.

    ``feature`` says what needs it, ``extra`` names the extra (``"caldav"``),
    ``requirement`` the library it needs (``"caldav>=3.6"``) and ``installed``
    the version found, if any.
    """

    def __init__(
        self, feature: str, extra: str, requirement: str, *, installed: str | None = None
    ) -> None:
        self.feature = feature
        self.extra = extra
        self.requirement = requirement
        self.installed = installed
        if installed is None:
            message = f"{feature} needs {requirement}, which is not installed; install it with: pip install 'ketaplan[{extra}]'"
        else:
            message = f"{feature} needs {requirement}, and version {installed} is installed; upgrade it with: pip install --upgrade 'ketaplan[{extra}]'"
        super().__init__(message)


class KetaplanWarning(UserWarning):
    """Input that ketaplan accepts but that a person should look at."""


class _NotShown:
    """The value of a field whose content must not appear in a message (a patient's name)."""

    def __repr__(self) -> str:
        return "<not shown>"


#: Pass as a :class:`SpecError`'s value to leave the value out of the message.
NOT_SHOWN: object = _NotShown()


def _show(value: object) -> str:
    """A value as a person wrote it, never a Python repr such as ``datetime.date(...)``."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        text = value.isoformat()
    elif isinstance(value, dict):
        return "a table"
    elif isinstance(value, bytes | bytearray):
        return "binary data"
    elif isinstance(value, str | bool | int | float | type(None)):
        text = repr(value)
    elif isinstance(value, list | tuple):
        text = "[" + ", ".join(_show(item) for item in value) + "]"
    else:
        text = str(value)
    return _cut(text, 80)


#: The longest message a :class:`SpecError` gives: a line a person reads.
MAX_MESSAGE = 290


def _line(text: str) -> str:
    """``text`` as one readable line: every run of white space (line breaks included)
    made one space, and cut to :data:`MAX_MESSAGE` characters."""
    return _cut(" ".join(text.split()), MAX_MESSAGE)


def _cut(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 3] + "..."
