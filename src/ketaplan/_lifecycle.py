"""Changing a plan: each operation returns a new revision and records what, why, when and who.

"Now" is an input, as the generation time is: a session that has started by
``now`` cannot be moved. Every operation that changes what a calendar shows
raises the changed sessions' SEQUENCE, so re-exported calendars update.
ketaplan never makes a clinical decision: these operations do what a person
asks and check it against the plan's rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ._dosing import DoseEntry
from ._ledger import Ledger
from ._library import routes
from ._limits import MAX_SPAN
from ._plan import Plan, Revision, SignOff
from ._protocol import Every, PerWeek, Protocol
from ._rules import Own, Rules, phase_window
from ._schedule import InTurn, lay_in_turn
from ._session import Session, SessionStatus
from .exceptions import ScheduleError, SpecError

__all__ = [
    "add_boosters",
    "cease",
    "complete",
    "defer",
    "fill_dose",
    "finalise",
    "miss",
    "omit",
    "reschedule",
    "revert_phase",
    "switch_route",
]

_DAY = dt.timedelta(days=1)


def reschedule(
    plan: Plan,
    key: str,
    start: dt.datetime,
    *,
    now: dt.datetime,
    reason: str,
    by: str = "",
    ledger: Ledger | None = None,
) -> Plan:
    """Move one session to ``start`` (an aware datetime), keeping its length.

    With the clinic's ``ledger``, a time when every resource the session
    holds (a chair) is booked by other plans is refused with the reason. The
    ledger itself is a value and does not change: book the new plan into it
    (``ledger.book(new_plan)`` replaces the plan's earlier booking).
    """
    session = _movable(plan, key, now)
    _aware("start", start)
    moved = _at(session, start)
    problem = _rule_broken(plan, moved, ledger) or _window_broken(plan, moved)
    if problem is not None:
        raise ScheduleError(key, start.astimezone(plan.clinic.zone).date(), problem)
    return _record(plan, {key: moved}, now=now, action="reschedule", reason=reason, by=by)


def defer(
    plan: Plan,
    key: str,
    days: int,
    *,
    now: dt.datetime,
    reason: str,
    by: str = "",
    ledger: Ledger | None = None,
) -> Plan:
    """Shift a session and every scheduled session after it by ``days`` calendar days.

    Each keeps its wall-clock time; one that lands where the rule book says no
    (a closed day, a full chair, too short a gap) takes the nearest other time
    that day or the first later day that works, and says why; when a later
    session cannot fit, earlier ones are laid again first (the scheduler's
    search, :func:`~ketaplan._schedule.lay_in_turn`). With the clinic's
    ``ledger``, other plans' bookings count too.
    """
    if not 1 <= days <= MAX_SPAN.days:
        raise SpecError("days", days, f"defer by 1 to {MAX_SPAN.days} days")
    first = _movable(plan, key, now)
    zone = plan.clinic.zone
    moving = sorted(
        (
            s
            for s in plan.sessions
            if s.start >= first.start and s.status is SessionStatus.SCHEDULED
        ),
        key=lambda s: (s.start, s.key),
    )
    steps = [
        InTurn(
            s,
            s.start.astimezone(zone).time(),
            s.start.astimezone(zone).date() + dt.timedelta(days=days),
        )
        for s in moving
    ]
    laid = lay_in_turn(_rules(plan, ledger), _staying(plan, moving), steps)
    changed = {
        session.key: attrs.evolve(session, planned=old.planned or old.start.astimezone(zone).date())
        for old, session in zip(moving, laid, strict=True)
    }
    return _record(plan, changed, now=now, action=f"defer {days} days", reason=reason, by=by)


def omit(plan: Plan, key: str, *, now: dt.datetime, reason: str, by: str = "") -> Plan:
    """Leave out one session and keep the rest where they are."""
    session = _movable(plan, key, now)
    return _record(
        plan,
        {key: attrs.evolve(session, status=SessionStatus.CANCELLED)},
        now=now,
        action="omit",
        reason=reason,
        by=by,
    )


def miss(plan: Plan, key: str, *, now: dt.datetime, reason: str = "", by: str = "") -> Plan:
    """Record that a session took place without the patient, then follow the protocol's
    lateness rule for its phase: ``continue`` leaves the schedule as it is; ``shift``
    defers every later scheduled session by the rule's interval; ``review`` flags the
    plan for the clinician (a draft again until re-signed). ketaplan decides nothing
    clinical: the rule is the protocol's."""
    missed = _status(plan, key, SessionStatus.MISSED, now=now, reason=reason, by=by)
    session = plan.session(key)
    rule = plan.protocol.lateness_rule(session.phase)
    if rule.on_missed == "review":
        flag = f"{key} was missed ({reason or 'no reason given'}); decide how the plan continues"
        revision = _revision(missed, now, "flag for review", reason, by, (flag,))
        return attrs.evolve(
            missed, flags=(*missed.flags, flag), history=(*missed.history, revision)
        )
    if rule.on_missed == "shift":
        later = sorted(
            (s for s in missed.sessions if s.status is SessionStatus.SCHEDULED and s.start > now),
            key=lambda s: (s.start, s.key),
        )
        if later:
            days = (rule.shift.after(later[0].start.date()) - later[0].start.date()).days
            return defer(
                missed,
                later[0].key,
                days,
                now=now,
                reason=f"{key} missed: the protocol shifts the rest",
                by=by,
            )
    return missed


def complete(plan: Plan, key: str, *, now: dt.datetime, by: str = "") -> Plan:
    """Record that a session took place."""
    return _status(plan, key, SessionStatus.COMPLETED, now=now, reason="", by=by)


def cease(plan: Plan, *, now: dt.datetime, reason: str, by: str = "") -> Plan:
    """Stop the plan: every session that has not started is cancelled."""
    _aware("now", now)
    changed = {
        s.key: attrs.evolve(s, status=SessionStatus.CANCELLED)
        for s in plan.sessions
        if s.status is SessionStatus.SCHEDULED and s.start > now
    }
    return _record(plan, changed, now=now, action="cease", reason=reason, by=by)


def fill_dose(
    plan: Plan,
    field: str,
    value: str,
    *,
    now: dt.datetime,
    session: str | None = None,
    by: str = "",
    reason: str = "",
) -> Plan:
    """Enter a clinician's value for a dose field, plan-wide or for one session.

    The value is checked against the field's unit and form; a later entry for
    the same field and session replaces the earlier one. A signed plan goes
    back to draft: doses changed after sign-off need a new signature.
    """
    dose_field = plan.protocol.route.dose_field(field)
    where = f"dosing.{field}" if session is None else f"dosing.{session}.{field}"
    quantity = dose_field.parse(value, field=where)
    if session is not None:
        plan.session(session)
    doses = tuple(e for e in plan.doses if (e.field, e.session) != (field, session))
    entry = DoseEntry(field, quantity, session)
    target = "every dosing session" if session is None else session
    revision = _revision(
        plan, now, "dose", reason, by, (f"{dose_field.label} = {quantity} for {target}",)
    )
    return attrs.evolve(
        plan, doses=(*doses, entry), history=(*plan.history, revision), signoff=None
    )


def finalise(plan: Plan, clinician: str, *, now: dt.datetime) -> Plan:
    """Sign the plan off; refused while any required field is blank or a phase is undated.

    Signing also settles every flag raised for the clinician's review.
    """
    if not clinician.strip():
        raise SpecError("clinician", clinician, "name the clinician who signs the plan")
    _aware("now", now)
    gaps = attrs.evolve(plan, signoff=SignOff(clinician, now), flags=()).missing()
    if gaps:
        raise SpecError("finalise", plan.id, "the plan cannot be signed while " + "; ".join(gaps))
    revision = _revision(plan, now, "finalise", "", clinician, (f"signed by {clinician}",))
    return attrs.evolve(
        plan, signoff=SignOff(clinician, now), history=(*plan.history, revision), flags=()
    )


# -- shared ------------------------------------------------------------------------


def _aware(field: str, value: dt.datetime) -> None:
    if not isinstance(value, dt.datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise SpecError(field, value, "expected an aware datetime (with a time zone)")


def _movable(plan: Plan, key: str, now: dt.datetime) -> Session:
    _aware("now", now)
    session = plan.session(key)
    if session.status is not SessionStatus.SCHEDULED:
        raise SpecError(
            "session",
            key,
            f"only a scheduled session can change; this one is {session.status.value}",
        )
    if session.start <= now:
        raise SpecError(
            "session",
            key,
            f"it started at {session.start.isoformat()}, before now ({now.isoformat()}); past sessions cannot be moved",
        )
    return session


def _at(session: Session, start: dt.datetime) -> Session:
    end = (start.astimezone(dt.UTC) + session.duration).astimezone(start.tzinfo)
    return attrs.evolve(session, start=start, end=end)


def _rule_broken(plan: Plan, session: Session, ledger: Ledger | None = None) -> str | None:
    """The rule ``session`` would break at its time among the plan's other scheduled
    sessions (and the other plans in ``ledger``), or ``None``: the rule book's answer
    (:mod:`ketaplan._rules`)."""
    others = (
        s for s in plan.sessions if s.key != session.key and s.status is SessionStatus.SCHEDULED
    )
    booked = None if ledger is None else ledger.release(plan.id)
    rules = Rules(plan.protocol, plan.clinic, plan.start, booked)
    return rules.check(session, Own(plan.clinic.zone, others))


def _rules(plan: Plan, ledger: Ledger | None) -> Rules:
    """The rule book for ``plan``, counting the other plans booked in ``ledger``."""
    return Rules(
        plan.protocol, plan.clinic, plan.start, None if ledger is None else ledger.release(plan.id)
    )


def _staying(plan: Plan, moving: Iterable[Session]) -> list[Session]:
    """The sessions that hold their place while ``moving`` ones are laid again: the
    scheduled and completed ones (a missed or cancelled session holds nothing)."""
    keys = {s.key for s in moving}
    holding = (SessionStatus.SCHEDULED, SessionStatus.COMPLETED)
    return [s for s in plan.sessions if s.key not in keys and s.status in holding]


def _window_broken(plan: Plan, session: Session) -> str | None:
    """The phase rule a moved session would break: a per-week phase's window and weekly cap."""
    if session.anchor is not None:
        return None
    moved = (session if s.key == session.key else s for s in plan.sessions)
    return phase_window(plan.protocol, moved, plan.clinic.zone)


def _status(
    plan: Plan, key: str, status: SessionStatus, *, now: dt.datetime, reason: str, by: str
) -> Plan:
    _aware("now", now)
    session = plan.session(key)
    if session.start > now:
        raise SpecError(
            "session", key, f"it has not happened yet (it starts {session.start.isoformat()})"
        )
    return _record(
        plan,
        {key: attrs.evolve(session, status=status)},
        now=now,
        action=status.value,
        reason=reason,
        by=by,
    )


def _revision(
    plan: Plan, now: dt.datetime, action: str, reason: str, by: str, changes: Iterable[str]
) -> Revision:
    _aware("now", now)
    return Revision(plan.revision + 1, now, action, reason=reason, by=by, changes=tuple(changes))


def _record(
    plan: Plan, changed: dict[str, Session], *, now: dt.datetime, action: str, reason: str, by: str
) -> Plan:
    """``plan`` with ``changed`` sessions (their SEQUENCE raised) and a revision saying so."""
    sessions = []
    notes = []
    for session in plan.sessions:
        new = changed.get(session.key)
        if new is None or new == session:
            sessions.append(session)
            continue
        sessions.append(attrs.evolve(new, sequence=session.sequence + 1))
        what = (
            new.status.value
            if new.status is not session.status
            else f"moved to {new.start.astimezone(plan.clinic.zone):%Y-%m-%d %H:%M}"
        )
        notes.append(f"{session.key}: {what}")
    sessions.sort(key=lambda s: (s.start, s.key))
    revision = _revision(plan, now, action, reason, by, notes)
    return attrs.evolve(plan, sessions=tuple(sessions), history=(*plan.history, revision))


def revert_phase(
    plan: Plan,
    phase: str,
    *,
    now: dt.datetime,
    reason: str,
    by: str = "",
    ledger: Ledger | None = None,
) -> Plan:
    """Return a maintenance phase's future sessions to the previous phase's frequency.

    For a label that allows it (esketamine: weekly or every two weeks, back
    to weekly when symptoms worsen). The first future session of the phase
    keeps its date; each later one follows at the previous phase's interval,
    laid by the scheduler's search where the rule book allows (see
    :func:`defer`). The clinician decides to revert; ketaplan only lays out
    the dates.
    """
    names = [p.name for p in plan.protocol.phases]
    current = plan.protocol.phase(phase)
    position = names.index(current.name)
    if position == 0:
        raise SpecError("phase", phase, "the first phase has no previous frequency to return to")
    step = _spacing(plan.protocol.phases[position - 1].cadence)
    future = sorted(
        (
            s
            for s in plan.sessions
            if s.phase == phase
            and s.anchor is None
            and s.status is SessionStatus.SCHEDULED
            and s.start > now
        ),
        key=lambda s: s.start,
    )
    if len(future) < 2:
        raise SpecError("phase", phase, "it has fewer than two future sessions to space again")
    zone = plan.clinic.zone
    first_day = future[0].start.astimezone(zone).date()
    moving = future[1:]
    steps = [
        InTurn(
            attrs.evolve(s, moves=(), planned=None),
            s.start.astimezone(zone).time(),
            lambda previous: (previous or first_day) + step,
        )
        for s in moving
    ]
    laid = lay_in_turn(_rules(plan, ledger), _staying(plan, moving), steps)
    # The day each was due on at the new frequency, when it could not be kept.
    changed = {s.key: attrs.evolve(s, planned=s.moves[0].date if s.moves else None) for s in laid}
    label = f"revert {phase} to every {step.days} days"
    return _record(plan, changed, now=now, action=label, reason=reason, by=by)


def _spacing(cadence: object) -> dt.timedelta:
    """The usual gap between sessions of a cadence, in whole days."""
    if isinstance(cadence, PerWeek):
        return dt.timedelta(days=max(1, 7 // cadence.high))
    if isinstance(cadence, Every):
        return dt.timedelta(days=max(1, round(cadence.interval.low.approx_days)))
    raise SpecError(
        "phase", str(cadence), "the previous phase has no regular frequency to return to"
    )


def add_boosters(
    plan: Plan,
    count: int,
    *,
    now: dt.datetime,
    reason: str,
    by: str = "",
    phase: str = "maintenance",
    ledger: Ledger | None = None,
) -> Plan:
    """Add ``count`` sessions to the end of an interval phase, at its interval.

    Each new booster falls the phase's (shortest) interval after the one
    before, at the preferred time, laid by the scheduler's search where the
    rule book allows (see :func:`defer`). A phase whose interval the
    clinician has not set yet cannot grow.
    """
    _aware("now", now)
    if count < 1:
        raise SpecError("count", count, "add at least one booster")
    cadence = plan.protocol.phase(phase).cadence
    if not isinstance(cadence, Every) or cadence.set_by_clinician:
        raise SpecError(
            "phase",
            phase,
            "boosters are added to a phase with a set interval (see [phases.<name>] interval)",
        )
    own = sorted(
        (s for s in plan.sessions if s.phase == phase and s.anchor is None), key=lambda s: s.start
    )
    if not own:
        raise SpecError("phase", phase, "the phase has no dated session to follow")
    template = plan.template(own[-1])
    zone = plan.clinic.zone
    last = max(own[-1].start.astimezone(zone).date(), now.astimezone(zone).date())
    index = max(s.index for s in own)
    steps = []
    for n in range(1, count + 1):
        start = dt.datetime.combine(last, plan.preferences.time, tzinfo=zone)
        end = (start.astimezone(dt.UTC) + template.duration).astimezone(zone)
        booster = Session(
            f"{phase}-{index + n:02d}", template.kind, phase, index + n, start, end, template.name
        )
        steps.append(
            InTurn(
                booster,
                plan.preferences.time,
                lambda previous: cadence.interval.low.after(previous or last),
            )
        )
    laid = lay_in_turn(_rules(plan, ledger), _staying(plan, ()), steps)
    added = [attrs.evolve(s, planned=s.moves[0].date if s.moves else None) for s in laid]
    sessions = tuple(sorted((*plan.sessions, *added), key=lambda s: (s.start, s.key)))
    changes = [f"{s.key}: added on {s.start.astimezone(zone):%Y-%m-%d %H:%M}" for s in added]
    revision = _revision(plan, now, f"add {count} boosters", reason, by, changes)
    return attrs.evolve(plan, sessions=sessions, history=(*plan.history, revision))


def _translations_follow(
    protocol: Protocol, name: str, kept: str
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """The protocol's translations with template ``name``'s texts also under ``kept``, the
    name the sessions that ran with it keep (the new route's template under ``name``
    gets the translations only where its English is the same)."""
    old, new = f"sessions.{name}.", f"sessions.{kept}."

    def follow(texts: Mapping[str, Any]) -> dict[str, Any]:
        moved = {new + key[len(old) :]: text for key, text in texts.items() if key.startswith(old)}
        return {**texts, **moved}

    translations = {tag: follow(texts) for tag, texts in protocol.translations.items()}
    return translations, follow(protocol.translated_from)


def switch_route(plan: Plan, route: str, *, now: dt.datetime, reason: str, by: str = "") -> Plan:
    """Give the plan another route: its dosing sessions take the new route's template
    (length, checkpoints, instructions), every dose entry is cleared and the sign-off
    withdrawn, and the change is flagged for the clinician."""
    _aware("now", now)
    known = routes()
    if route not in known:
        raise SpecError("route", route, f"expected one of {', '.join(known)}")
    new_route, old_route = known[route], plan.protocol.route
    if new_route.session is None:
        raise SpecError("route", route, "this route has no dosing session template")
    name = new_route.session.name
    # Sessions that happened (or were decided) keep the template they ran with,
    # under a name of its own; only the future ones take the new route's.
    kept = f"{name}-{old_route.name}"
    future = {
        s.key
        for s in plan.sessions
        if s.template == name and s.status is SessionStatus.SCHEDULED and s.start > now
    }
    past = {s.key for s in plan.sessions if s.template == name and s.key not in future}
    templates = tuple(new_route.session if t.name == name else t for t in plan.protocol.sessions)
    if past and kept not in {t.name for t in templates}:
        templates = (*templates, attrs.evolve(plan.protocol.template(name), name=kept))
    protocol = attrs.evolve(
        plan.protocol,
        route=new_route,
        sessions=templates,
    )
    if past:
        translations, stamps = _translations_follow(plan.protocol, name, kept)
        protocol = attrs.evolve(protocol, translations=translations, translated_from=stamps)
    relabelled = tuple(
        attrs.evolve(s, template=kept) if s.key in past else s for s in plan.sessions
    )
    switched = attrs.evolve(plan, protocol=protocol, sessions=relabelled, doses=(), signoff=None)
    changed: dict[str, Session] = {}
    for session in plan.sessions:
        if session.key in future:
            end = (session.start.astimezone(dt.UTC) + new_route.session.duration).astimezone(
                session.start.tzinfo
            )
            candidate = attrs.evolve(session, end=end, sequence=session.sequence + 1)
            problem = _rule_broken(
                attrs.evolve(
                    switched, sessions=tuple(s for s in switched.sessions if s.key != session.key)
                ),
                candidate,
            )
            if problem is not None:
                raise ScheduleError(
                    session.key,
                    session.start.astimezone(plan.clinic.zone).date(),
                    f"with the {route} route's session length: {problem}",
                )
            changed[session.key] = candidate
    sessions = tuple(changed.get(s.key, s) for s in switched.sessions)
    changes = (
        f"route switched from {old_route.name} to {new_route.name}",
        "every dose field is blank again and the sign-off withdrawn: clinician review needed",
        *(f"{key}: now a {new_route.session.title.lower()}" for key in changed),
    )
    revision = _revision(plan, now, "switch route", reason, by, changes)
    return attrs.evolve(switched, sessions=sessions, history=(*plan.history, revision))
