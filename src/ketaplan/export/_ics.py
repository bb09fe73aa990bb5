"""The patient's calendar: one VEVENT per session, with the zone it needs.

Privacy levels decide what an event says (see ``docs/calendar.md``):

- ``minimal``: an appointment, its time and the clinic's address; nothing more.
- ``standard`` (default): the kind of session and its preparation and
  aftercare; never the patient, the drug or the route.
- ``full``: patient, drug, route, phase and "session n of N".

UIDs come from :meth:`~ketaplan.Plan.uid`: stable and free of personal data.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib

import icalendar

from .._plan import Plan
from .._protocol import SessionKind
from .._session import Session, SessionStatus
from .._units import format_duration

__all__ = ["render_ics"]

PRODID = "-//ketaplan//ketaplan//EN"


def render_ics(plan: Plan, *, now: dt.datetime) -> bytes:
    """The plan's sessions as an iCalendar file; ``now`` is the DTSTAMP of every event."""
    zone = plan.clinic.timezone
    days = [s.start.astimezone(plan.clinic.zone).date() for s in plan.sessions]
    first = min(days, default=plan.start)
    last = max(days, default=plan.start) + dt.timedelta(days=1)
    events = [_event(plan, session, now) for session in plan.sessions]
    calendar = icalendar.Calendar.new(
        prodid=PRODID,
        method="PUBLISH",
        calscale="GREGORIAN",
        name=_calendar_name(plan),
        uid=hashlib.sha256(f"calendar\x00{plan.id}".encode()).hexdigest()[:32] + "@ketaplan",
        subcomponents=[_timezone(zone, first, last), *events],
    )
    content: bytes = calendar.to_ical()
    return content


@functools.cache
def _timezone(zone: str, first: dt.date, last: dt.date) -> icalendar.Timezone:
    return icalendar.Timezone.from_tzid(zone, first_date=first, last_date=last)


def _calendar_name(plan: Plan) -> str:
    if plan.calendar.privacy == "full":
        return f"{plan.protocol.title}: {plan.patient.name or plan.id}"
    return (
        "Clinic appointments"
        if plan.calendar.privacy == "minimal"
        else f"Appointments: {plan.clinic.name or 'clinic'}"
    )


def summary(plan: Plan, session: Session) -> str:
    """The event title at the plan's privacy level."""
    privacy = plan.calendar.privacy
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


def description(plan: Plan, session: Session) -> str:
    """The event text: the session's own preparation and aftercare (none at minimal)."""
    privacy = plan.calendar.privacy
    if privacy == "minimal":
        return ""
    template = plan.template(session)
    parts = []
    if privacy == "full":
        drug = plan.protocol.drug
        parts.append(f"{plan.protocol.title} - {drug}, {plan.protocol.route.title.lower()}.")
    parts.append(f"Length: about {format_duration(session.duration)}.")
    if session.moves:
        parts.append("Moved: " + "; ".join(str(move) for move in session.moves) + ".")
    if template.preparation:
        parts.append("Before you come:\n" + "\n".join(f"- {line}" for line in template.preparation))
    if template.aftercare:
        parts.append("Afterwards:\n" + "\n".join(f"- {line}" for line in template.aftercare))
    return "\n\n".join(parts)


def _location(plan: Plan, session: Session) -> str:
    setting = plan.template(session).setting
    if setting == "home":
        return "At home"
    if setting == "telehealth":
        return "Video or phone call"
    clinic = plan.clinic
    if plan.calendar.privacy == "minimal":
        return clinic.address
    return ", ".join(part for part in (clinic.name, clinic.address) if part)


def _event(plan: Plan, session: Session, now: dt.datetime) -> icalendar.Event:
    cancelled = session.status is SessionStatus.CANCELLED
    categories = [] if plan.calendar.privacy == "minimal" else [session.kind.label]
    event = icalendar.Event.new(
        uid=plan.uid(session),
        stamp=now.astimezone(dt.UTC),
        start=session.start,
        end=session.end,
        summary=summary(plan, session),
        description=description(plan, session) or None,
        location=_location(plan, session) or None,
        categories=categories,
        sequence=0,
        status=icalendar.STATUS.CANCELLED if cancelled else icalendar.STATUS.CONFIRMED,
        transparency=icalendar.TRANSP.OPAQUE,
    )
    if not cancelled:
        for before in plan.calendar.reminders:
            event.add_component(_alarm(plan, session, before))
    return event


def _alarm(plan: Plan, session: Session, before: dt.timedelta) -> icalendar.Alarm:
    alarm = icalendar.Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("trigger", -before)
    text = summary(plan, session)
    template = plan.template(session)
    if (
        plan.calendar.privacy != "minimal"
        and template.preparation
        and session.kind is not SessionKind.CONSULTATION
    ):
        text = f"{text}: {template.preparation[0]}"
    alarm.add("description", text)
    return alarm
