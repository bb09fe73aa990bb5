"""Checking a loaded plan against the rules a plan made by ketaplan keeps.

A saved plan may have been edited by hand or written by another program, so
:func:`check_saved` refuses what ketaplan itself never writes: a session
whose template, phase or anchor the plan does not have, revisions numbered
out of order, and a scheduled session that breaks the clinic's rules (the
rule book in :mod:`ketaplan._lifecycle`, the one place they are decided).
Cancelled sessions do not take place and completed or missed ones are
history: their structure is checked, not the clinic's rules.
"""

from __future__ import annotations

import datetime as dt
import json

import attrs

from ._plan import Plan
from ._session import SessionStatus
from ._units import format_duration
from .exceptions import SpecError

__all__ = ["Shown", "check_saved", "display", "refuse"]

#: The longest message a saved plan's problem gives.
MAX_MESSAGE = 290


class Shown(str):
    """Text a message shows as it is, in place of a value (``true``, ``an object``)."""

    def __repr__(self) -> str:
        return str(self)


def refuse(plan_id: str | None, field: str, got: str, expected: str) -> SpecError:
    """A one-line SpecError about ``field`` of saved plan ``plan_id``, cut to a readable length."""
    field = _cut(_one_line(field), 80)
    got = _cut(_one_line(got), 60)
    where = f" (saved plan {plan_id!r})" if plan_id else ""
    room = MAX_MESSAGE - len(field) - len(got) - len(where) - len(": got ; ")
    return SpecError(field, Shown(got), _cut(_one_line(expected), max(room, 40)) + where)


def display(value: object, *, text: bool = True) -> str:
    """``value`` as a message shows it: JSON text for what came from a file, never a Python repr.

    A string is shown (cut short) only where ``text`` says it is a formatted
    value such as a date; elsewhere it could be a name, and is described, as
    is a list that holds anything but numbers.
    """
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value) if abs(value) < 10**18 else "a very large number"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        if not text:
            return "text"
        return json.dumps(_cut(value, 40))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return json.dumps(value.isoformat())
    if isinstance(value, dt.timedelta):
        return json.dumps(format_duration(value))
    if isinstance(value, list | tuple):
        if len(value) <= 10 and all(isinstance(item, int | float) for item in value):
            return "[" + ", ".join(display(item) for item in value) + "]"
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "a value"


def check_saved(plan: Plan) -> None:
    """Refuse ``plan`` if it breaks a rule every plan ketaplan makes keeps (see the module)."""
    templates = {template.name: template for template in plan.protocol.sessions}
    phases = [phase.name for phase in plan.protocol.phases]
    by_key = {session.key: session for session in plan.sessions}
    for number, session in enumerate(plan.sessions):
        where = f"sessions[{number}]"
        template = templates.get(session.template)
        if template is None:
            raise refuse(
                plan.id,
                f"{where}.template",
                display(session.template),
                f"session {session.key!r}: expected one of the protocol's session templates: {', '.join(templates)}",
            )
        if session.kind is not template.kind:
            raise refuse(
                plan.id,
                f"{where}.kind",
                display(session.kind.value),
                f"session {session.key!r} follows template {template.name!r}, so expected {template.kind.value!r}",
            )
        if session.phase not in phases:
            raise refuse(
                plan.id,
                f"{where}.phase",
                display(session.phase),
                f"session {session.key!r}: expected one of the protocol's phases: {', '.join(phases)}",
            )
        if session.anchor is not None:
            anchor = by_key.get(session.anchor)
            if anchor is None or anchor.key == session.key or anchor.anchor is not None:
                raise refuse(
                    plan.id,
                    f"{where}.anchor",
                    display(session.anchor),
                    f"companion session {session.key!r}: expected the key of a session of the plan that is not a companion itself",
                )
    for number, revision in enumerate(plan.history):
        if revision.number != number + 1:
            raise refuse(
                plan.id,
                f"history[{number}].number",
                display(revision.number),
                f"revisions are numbered 1, 2, 3, ... in order: expected {number + 1}",
            )
    _check_rules(plan)


def _check_rules(plan: Plan) -> None:
    """Refuse a scheduled session that the rule book would not place where it is.

    Sessions are compared as instants (in UTC): on the night the clocks go
    back, two wall-clock times in the clinic's zone may not compare as the
    instants they are.
    """
    from ._lifecycle import _rule_broken  # the rule book's answer; loaded when needed

    in_utc = attrs.evolve(
        plan,
        sessions=tuple(
            attrs.evolve(s, start=s.start.astimezone(dt.UTC), end=s.end.astimezone(dt.UTC))
            for s in plan.sessions
        ),
    )
    zone = plan.clinic.zone
    for number, session in enumerate(in_utc.sessions):
        if session.status is not SessionStatus.SCHEDULED:
            continue
        problem = _rule_broken(in_utc, session)
        if problem is not None:
            raise refuse(
                plan.id,
                f"sessions[{number}].start",
                display(session.start.astimezone(zone)),
                f"session {session.key!r} breaks a clinic rule: {problem}",
            )


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
