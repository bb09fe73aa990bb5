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

from ._ledger import Ledger
from ._plan import PendingPhase, Plan, Revision
from ._schedule import schedule
from ._session import Session, SessionStatus
from .exceptions import SpecError
from .export._ics import fingerprint

__all__ = ["Replanned", "reconcile", "replan"]

#: The revision a re-plan records.
REPLANNED = "re-planned"
_BUILDS = frozenset({"created", "rebuilt", "started over"})


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


@attrs.frozen
class Replanned:
    """What :func:`replan` made: the ``plan``, each session it ``moved`` (one line
    each), and whether it withdrew the sign-off (``signoff_withdrawn``)."""

    plan: Plan
    moved: tuple[str, ...] = ()
    signoff_withdrawn: bool = False


def replan(saved: Plan, plan: Plan, *, now: dt.datetime, ledger: Ledger | None = None) -> Replanned:
    """``plan`` (built afresh from a changed plan file) laid around what happened to ``saved``.

    Kept as they are: sessions completed, missed or cancelled (omitted), those
    that started by ``now``, those moved by hand (``reschedule``, ``defer``),
    the entered doses, the history and the sign-off. Only the remaining future
    sessions are laid again, with the same search, around them. The moves are
    recorded as one revision; a sign-off is withdrawn (the plan is a draft
    again) when a session it covered moved. When nothing moves, ``saved`` is
    returned as it was. With the clinic's ``ledger``, the sessions are laid
    around the other plans' bookings too (the plan's own are released first).
    """
    if saved.id != plan.id:
        raise SpecError("plan.id", plan.id, f"a rebuild keeps the plan id ({saved.id!r})")
    by_hand = _by_hand(saved, "moved to")
    added = _by_hand(saved, "added on")  # boosters a clinician added
    keep = [
        s
        for s in saved.sessions
        if s.status is not SessionStatus.SCHEDULED
        or s.start <= now
        or s.key in by_hand
        or s.key in added
    ]
    laid = schedule(
        plan.protocol,
        plan.clinic,
        plan.start,
        time=plan.preferences.time,
        weekdays=plan.preferences.weekdays,
        keep=keep,
        ledger=None if ledger is None else ledger.release(saved.id),
    )
    zone = plan.clinic.zone
    before = {s.key: s for s in saved.sessions}
    sessions: list[Session] = []
    moved: list[str] = []
    for session in laid.sessions:
        old = before.pop(session.key, None)
        if old is None:
            sessions.append(session)
            moved.append(
                f"{session.key}: added on {session.start.astimezone(zone):%a %Y-%m-%d %H:%M}"
            )
        elif old.start == session.start and old.end == session.end:
            sessions.append(old)
        else:
            sessions.append(attrs.evolve(session, sequence=old.sequence + 1))
            moved.append(
                f"{session.key}: re-planned from {old.start.astimezone(zone):%a %Y-%m-%d %H:%M} "
                f"to {session.start.astimezone(zone):%a %Y-%m-%d %H:%M}"
                + (f" ({session.moves[0]})" if session.moves else "")
            )
    for old in before.values():
        if old.status is SessionStatus.CANCELLED or old.key in added:
            sessions.append(old)
        else:
            sessions.append(
                attrs.evolve(old, status=SessionStatus.CANCELLED, sequence=old.sequence + 1)
            )
            moved.append(f"{old.key}: cancelled (no longer in the plan)")
    pending = tuple(PendingPhase(phase, reason) for phase, reason in laid.pending)
    if not moved and pending == saved.pending and plan.clinic == saved.clinic:
        return Replanned(saved)
    changes = list(moved)
    signoff = saved.signoff
    covered = {s.key for s in saved.sessions}
    withdrawn = signoff is not None and any(line.split(":", 1)[0] in covered for line in moved)
    if signoff is not None and withdrawn:
        changes.append(
            f"sign-off by {signoff.clinician} withdrawn: sessions it covered moved; "
            "the plan is a draft again"
        )
    sessions.sort(key=lambda s: (s.start, s.key))
    revision = Revision(
        saved.revision + 1,
        now,
        REPLANNED,
        reason="the plan file changed; the sessions still to come were laid again",
        changes=tuple(changes) or ("details changed",),
    )
    result = attrs.evolve(
        plan,
        sessions=tuple(sessions),
        pending=pending,
        doses=saved.doses,
        history=(*saved.history, revision),
        signoff=None if withdrawn else signoff,
    )
    return Replanned(result, tuple(moved), withdrawn)


def _by_hand(plan: Plan, what: str) -> set[str]:
    """Keys of the sessions a person's revisions say were ``what`` (``"moved to"`` by
    ``reschedule`` and ``defer``, ``"added on"`` by ``add_boosters``)."""
    keys = set()
    for revision in plan.history:
        if revision.action in _BUILDS or revision.action == REPLANNED:
            continue
        for change in revision.changes:
            key, _, done = change.partition(": ")
            if done.startswith(what):
                keys.add(key)
    return keys
