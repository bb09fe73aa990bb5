"""Carrying a plan's calendar identity from one export to the next.

Rebuilding a plan (say, after the plan file changed) gives sessions with the
same keys and so the same UIDs. :func:`reconcile` compares the rebuilt plan
with the previous one: a session whose calendar event changes gets a higher
SEQUENCE, a session that no longer exists stays in the plan as cancelled, so
that calendars which imported it remove it, and the plan records a revision
saying what changed.
"""

from __future__ import annotations

import datetime as dt

import attrs

from ._plan import Plan, Revision
from ._session import Session, SessionStatus
from .exceptions import SpecError
from .export._ics import fingerprint

__all__ = ["reconcile"]


def reconcile(previous: Plan, plan: Plan, *, now: dt.datetime, reason: str = "rebuilt") -> Plan:
    """``plan`` as the next revision of ``previous``.

    Sessions keep their keys and UIDs; each whose event changed gets
    ``sequence`` one higher than before; sessions of ``previous`` missing from
    ``plan`` are kept, cancelled. When nothing changed, ``previous`` itself is
    returned, so an unchanged rebuild writes the same plan.
    """
    if previous.id != plan.id:
        raise SpecError("plan.id", plan.id, f"a rebuild keeps the plan id ({previous.id!r})")
    before = {session.key: session for session in previous.sessions}
    sessions: list[Session] = []
    changes: list[str] = []
    for session in plan.sessions:
        old = before.pop(session.key, None)
        if old is None:
            sessions.append(session)
            changes.append(f"{session.key}: added")
        elif fingerprint(previous, old) == fingerprint(plan, session):
            sessions.append(attrs.evolve(session, sequence=old.sequence))
            if old.status is not session.status:
                changes.append(f"{session.key}: {old.status.value} -> {session.status.value}")
        else:
            sessions.append(attrs.evolve(session, sequence=old.sequence + 1))
            changes.append(f"{session.key}: changed")
    for old in before.values():
        if old.status is SessionStatus.CANCELLED:
            sessions.append(old)
        else:
            sessions.append(
                attrs.evolve(old, status=SessionStatus.CANCELLED, sequence=old.sequence + 1)
            )
            changes.append(f"{old.key}: cancelled (no longer in the plan)")
    if not changes and _same_apart_from_history(previous, plan):
        return previous
    sessions.sort(key=lambda s: (s.start, s.key))
    revision = Revision(
        previous.revision + 1, now, reason, changes=tuple(changes) or ("details changed",)
    )
    return attrs.evolve(plan, sessions=tuple(sessions), history=(*previous.history, revision))


def _same_apart_from_history(previous: Plan, plan: Plan) -> bool:
    return attrs.evolve(plan, history=previous.history, sessions=previous.sessions) == previous
