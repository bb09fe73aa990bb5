"""The patient's calendar: one VEVENT per session, with the zone it needs.

Privacy levels decide what an event says (see ``docs/calendar.md``):

- ``minimal``: an appointment, its time and the clinic's address; nothing more.
- ``standard`` (default): the kind of session and its preparation and
  aftercare in the session template's calendar wording
  (``calendar_preparation``, ``calendar_aftercare``), or a pointer to the
  treatment plan where it has none; never the patient, the drug or the route.
- ``full``: patient, drug, route, phase and "session n of N", and the
  session's own preparation and aftercare.

Every text value is an iCalendar TEXT value (RFC 5545, 3.3.11), escaped by
icalendar: a line break, comma, semicolon or backslash in a clinic's or a
patient's name stays inside its property.

UIDs come from :meth:`~ketaplan.Plan.uid`: stable and free of personal data.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from typing import Literal

import attrs
import icalendar

from .._plan import Plan
from .._protocol import SessionKind, SessionTemplate
from .._session import Session, SessionStatus
from .._units import format_duration

__all__ = ["fingerprint", "render_ics"]

PRODID = "-//ketaplan//ketaplan//EN"

PREPARE_POINTER = "See your treatment plan for how to prepare."
AFTERCARE_POINTER = "See your treatment plan for what to do afterwards."


Audience = Literal["patient", "clinic"]


@attrs.frozen
class _View:
    """What one calendar shows of a plan: the patient's at its privacy level, or the clinic's."""

    plan: Plan
    audience: Audience = "patient"

    @property
    def privacy(self) -> str:
        return "full" if self.audience == "clinic" else self.plan.calendar.privacy


def render_ics(plan: Plan, *, now: dt.datetime, audience: Audience = "patient") -> bytes:
    """The plan's sessions as an iCalendar file; ``now`` is the DTSTAMP of every event.

    ``audience="clinic"`` gives the clinic's own calendar: full detail with the
    monitoring checkpoints, and UIDs of its own so that both files can live in
    one account.
    """
    view = _View(plan, audience)
    zone = plan.clinic.timezone
    days = [s.start.astimezone(plan.clinic.zone).date() for s in plan.sessions]
    first = min(days, default=plan.start)
    last = max(days, default=plan.start) + dt.timedelta(days=1)
    events = [_event(view, session, now) for session in plan.sessions]
    calendar = icalendar.Calendar.new(
        prodid=PRODID,
        method="PUBLISH",
        calscale="GREGORIAN",
        name=_text(_calendar_name(view)),
        uid=_hash(f"calendar\x00{audience}\x00{plan.id}"),
        subcomponents=[_timezone(zone, first, last), *events],
    )
    content: bytes = calendar.to_ical()
    return content


def fingerprint(plan: Plan, session: Session) -> bytes:
    """What the patient's and the clinic's events of ``session`` say, apart from
    DTSTAMP and SEQUENCE: when it differs between two revisions, the session changed."""
    stamp = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    parts = []
    for audience in ("patient", "clinic"):
        event = _event(_View(plan, audience), attrs.evolve(session, sequence=0), stamp)
        parts.append(event.to_ical())
    return b"".join(parts)


def _text(value: str) -> icalendar.vText:
    """``value`` as a TEXT value, escaped when written.

    icalendar escapes SUMMARY, DESCRIPTION, LOCATION and CATEGORIES by
    itself, but types NAME and X-WR-CALNAME as unknown values and writes a
    plain string there verbatim: a line break in a name would end the line.
    """
    return icalendar.vText(value)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32] + "@ketaplan"


def _uid(view: _View, session: Session) -> str:
    if view.audience == "patient":
        return view.plan.uid(session)
    return _hash(f"clinic\x00{view.plan.id}\x00{session.key}")


@functools.cache
def _timezone(zone: str, first: dt.date, last: dt.date) -> icalendar.Timezone:
    return icalendar.Timezone.from_tzid(zone, first_date=first, last_date=last)


def _calendar_name(view: _View) -> str:
    plan = view.plan
    if view.audience == "clinic":
        return f"Clinic: {plan.protocol.title}, plan {plan.id}"
    if view.privacy == "full":
        return f"{plan.protocol.title}: {plan.patient.name or plan.id}"
    if view.privacy == "minimal":
        return "Clinic appointments"
    return f"Appointments: {plan.clinic.name or 'clinic'}"


def summary(plan: Plan, session: Session, privacy: str | None = None) -> str:
    """The event title at ``privacy`` (by default the plan's level)."""
    privacy = privacy or plan.calendar.privacy
    if privacy == "minimal":
        return "Appointment"
    if privacy == "standard":
        return session.kind.label
    template = plan.template(session)
    total = plan.phase_count(session.phase, session.kind)
    phase = plan.protocol.phase(session.phase).title
    title = (
        f"{template.title} ({phase}, {session.index} of {total})"
        if total > 1
        else f"{template.title} ({phase})"
    )
    return f"{title}: {plan.patient.name}" if plan.patient.name else title


def description(
    plan: Plan, session: Session, privacy: str | None = None, *, staff: bool = False
) -> str:
    """The event text: the session's own preparation and aftercare (none at minimal);
    for ``staff``, also the patient reference and the monitoring checkpoints."""
    privacy = privacy or plan.calendar.privacy
    if privacy == "minimal":
        return ""
    template = plan.template(session)
    preparation, aftercare = instructions(template, privacy)
    parts = []
    if session.status is SessionStatus.CANCELLED:
        parts.append("Cancelled: this session no longer takes place.")
    if privacy == "full":
        drug = plan.protocol.drug
        parts.append(f"{plan.protocol.title} - {drug}, {plan.protocol.route.title.lower()}.")
    if staff:
        who = ", ".join(part for part in (plan.patient.name, plan.patient.ref) if part)
        parts.append(
            f"Plan {plan.id}, session {session.key}" + (f", patient {who}." if who else ".")
        )
        if session.assessments:
            parts.append("Questionnaires due: " + ", ".join(session.assessments) + ".")
        if template.checkpoints:
            zone = plan.clinic.zone
            lines = [
                f"- {(session.start.astimezone(dt.UTC) + c.at).astimezone(zone):%H:%M} {c.label}"
                for c in template.checkpoints
            ]
            parts.append("Checkpoints:\n" + "\n".join(lines))
    parts.append(f"Length: about {format_duration(session.duration)}.")
    if session.status is SessionStatus.CANCELLED:
        return "\n\n".join(parts)
    if session.moves:
        parts.append("Moved: " + "; ".join(str(move) for move in session.moves) + ".")
    if preparation:
        parts.append("Before you come:\n" + "\n".join(f"- {line}" for line in preparation))
    if aftercare:
        parts.append("Afterwards:\n" + "\n".join(f"- {line}" for line in aftercare))
    return "\n\n".join(parts)


def instructions(
    template: SessionTemplate, privacy: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The preparation and aftercare lines an event at ``privacy`` may carry.

    ``full`` gives the template's own lines. Below it an event names neither
    the drug nor the route, so it carries only the template's calendar
    wording, or a pointer to the treatment plan where the template has none.
    """
    if privacy == "full":
        return template.preparation, template.aftercare
    if privacy == "minimal":
        return (), ()
    preparation = template.calendar_preparation or (
        (PREPARE_POINTER,) if template.preparation else ()
    )
    aftercare = template.calendar_aftercare or ((AFTERCARE_POINTER,) if template.aftercare else ())
    return preparation, aftercare


def _location(view: _View, session: Session) -> str:
    plan = view.plan
    setting = plan.template(session).setting
    if setting == "home":
        return "At home"
    if setting == "telehealth":
        return "Video or phone call"
    clinic = plan.clinic
    if view.privacy == "minimal":
        return clinic.address
    return ", ".join(part for part in (clinic.name, clinic.address) if part)


def _event(view: _View, session: Session, now: dt.datetime) -> icalendar.Event:
    plan = view.plan
    cancelled = session.status is SessionStatus.CANCELLED
    categories = [] if view.privacy == "minimal" else [session.kind.label]
    event = icalendar.Event.new(
        uid=_uid(view, session),
        stamp=now.astimezone(dt.UTC),
        start=session.start,
        end=session.end,
        summary=summary(plan, session, view.privacy),
        description=description(plan, session, view.privacy, staff=view.audience == "clinic")
        or None,
        location=_location(view, session) or None,
        categories=categories,
        sequence=session.sequence,
        status=icalendar.STATUS.CANCELLED if cancelled else icalendar.STATUS.CONFIRMED,
        transparency=icalendar.TRANSP.TRANSPARENT if cancelled else icalendar.TRANSP.OPAQUE,
    )
    if not cancelled and view.audience == "patient":
        for before in plan.calendar.reminders:
            event.add_component(_alarm(view, session, before))
    return event


def _alarm(view: _View, session: Session, before: dt.timedelta) -> icalendar.Alarm:
    alarm = icalendar.Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("trigger", -before)
    text = summary(view.plan, session, view.privacy)
    preparation, _ = instructions(view.plan.template(session), view.privacy)
    if (
        preparation
        and preparation[0] != PREPARE_POINTER
        and session.kind is not SessionKind.CONSULTATION
    ):
        text = f"{text}: {preparation[0]}"
    alarm.add("description", text)
    return alarm
