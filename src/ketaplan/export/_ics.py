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

:func:`event` says what a session's event holds (an :class:`Event`);
:func:`write_event` writes it with :class:`~._lines.ContentLines`, which
encodes each value with icalendar's value types and folds the lines as
icalendar does, without an icalendar component per event. The invitations
(``ketaplan._invite``) write their events the same way.

UIDs come from :meth:`~ketaplan.Plan.uid`: stable and free of personal data.

Every text is in the plan's language (``ketaplan._i18n``): the calendar's
name, the summaries, descriptions, locations and alarms.
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
from typing import Literal

import attrs

from .._i18n import N_, Language, language
from .._ledger import RESOURCE_PROPERTY
from .._plan import Plan, localized
from .._protocol import SessionKind, SessionTemplate
from .._session import Session, SessionStatus
from ._lines import ContentLines
from ._vtimezone import vtimezone_bytes

__all__ = ["fingerprint", "render_ics"]

PRODID = "-//ketaplan//ketaplan//EN"

PREPARE_POINTER = N_("See your treatment plan for how to prepare.")
AFTERCARE_POINTER = N_("See your treatment plan for what to do afterwards.")
#: The word a cancelled event's title starts with, as Outlook writes it (translated on use).
CANCELLED = N_("Cancelled")


Audience = Literal["patient", "clinic"]
Method = Literal["PUBLISH", "REQUEST", "CANCEL"]


class _View:
    """What one calendar shows of a plan: the patient's at its privacy level, or the clinic's.

    It also holds what every event of the plan needs and is worked out once:
    how many sessions each phase has, and when each session last changed.
    """

    def __init__(self, plan: Plan, audience: Audience = "patient") -> None:
        self.plan = localized(plan)
        self.audience = audience
        self.privacy: str = "full" if audience == "clinic" else plan.calendar.privacy
        self.zone = plan.clinic.zone
        self.words = language(plan.language)
        self._counts: collections.Counter[tuple[str, SessionKind]] | None = None
        self._modified: dict[str, dt.datetime] | None = None
        self._templates: dict[str, SessionTemplate] = {}
        for template in self.plan.protocol.sessions:  # the first of a name, as Protocol.template
            self._templates.setdefault(template.name, template)

    def template(self, session: Session) -> SessionTemplate:
        """The session template ``session`` follows, in the plan's language."""
        return self._templates[session.template]

    def count(self, session: Session) -> int:
        """How many sessions of ``session``'s kind its phase has."""
        if self._counts is None:
            self._counts = collections.Counter((s.phase, s.kind) for s in self.plan.sessions)
        return self._counts[(session.phase, session.kind)]

    def modified(self, session: Session, now: dt.datetime) -> dt.datetime:
        """When ``session`` last changed: the time of the last revision that names it, else of
        the plan's first revision (``now`` for a plan without history)."""
        if self._modified is None:
            keys = {s.key for s in self.plan.sessions}
            self._modified = {}
            for revision in self.plan.history:
                for change in revision.changes:
                    key = change.split(": ", 1)[0]
                    if key in keys:
                        self._modified[key] = revision.at
        history = self.plan.history
        return self._modified.get(session.key, history[0].at if history else now)


@attrs.frozen
class Alarm:
    """A display alarm: ``before`` the start, saying ``text``."""

    before: dt.timedelta
    text: str


@attrs.frozen
class Event:
    """What one event says, apart from DTSTAMP, SEQUENCE and LAST-MODIFIED: the content a
    session's fingerprint is made of, and what the writer writes."""

    uid: str
    start: dt.datetime  # wall-clock time in the clinic's zone
    end: dt.datetime
    summary: str
    description: str
    location: str
    categories: tuple[str, ...]
    cancelled: bool
    alarms: tuple[Alarm, ...]
    organizer: str  # the clinic's email address, or ""
    organizer_name: str
    #: What the session holds in the clinic's bookings (the clinic's calendar only), or "".
    resource: str = ""

    def key(self) -> tuple[object, ...]:
        """The content as plain values, with the start and end as instants in UTC."""
        return (
            self.uid,
            self.start.astimezone(dt.UTC).isoformat(),
            self.end.astimezone(dt.UTC).isoformat(),
            self.summary,
            self.description,
            self.location,
            self.categories,
            self.cancelled,
            tuple((str(alarm.before), alarm.text) for alarm in self.alarms),
            self.organizer,
            self.organizer_name,
        )


def render_ics(plan: Plan, *, now: dt.datetime, audience: Audience = "patient") -> bytes:
    """The plan's sessions as an iCalendar file; ``now`` is the DTSTAMP of every event.

    ``audience="clinic"`` gives the clinic's own calendar: full detail with the
    monitoring checkpoints, and UIDs of its own so that both files can live in
    one account.
    """
    view = _View(plan, audience)
    lines = ContentLines()
    head(
        lines,
        "PUBLISH",
        name=_calendar_name(view),
        uid=_hash(f"calendar\x00{audience}\x00{plan.id}"),
    )
    lines.extend(timezone(plan))
    stamp = lines.utc(now)
    for session in plan.sessions:
        write_event(
            lines,
            event(view, session),
            sequence=session.sequence,
            stamp=stamp,
            modified=view.modified(session, now),
        )
    lines.end("VCALENDAR")
    return lines.to_ical()


def fingerprint(plan: Plan, session: Session) -> bytes:
    """What the patient's and the clinic's events of ``session`` say, apart from DTSTAMP,
    SEQUENCE and LAST-MODIFIED: when it differs between two revisions, the session changed.

    It is made of the events' content, not of their encoded lines.
    """
    parts = (event(_View(plan, audience), session).key() for audience in ("patient", "clinic"))
    return hashlib.sha256(repr(tuple(parts)).encode()).digest()


def head(lines: ContentLines, method: Method, *, name: str = "", uid: str = "") -> None:
    """Begin a calendar: version, product, scale, method and, if given, name and UID, in the
    order icalendar writes them."""
    lines.begin("VCALENDAR")
    lines.add("VERSION", "2.0")
    lines.add("PRODID", lines.text(PRODID))
    lines.add("CALSCALE", "GREGORIAN")
    lines.add("METHOD", method)
    if name:
        # icalendar types NAME and X-WR-CALNAME as unknown values and writes a plain
        # string there verbatim: both are TEXT, escaped here.
        lines.add("NAME", lines.text(name))
        lines.add("X-WR-CALNAME", lines.text(name))
    if uid:
        lines.add("UID", lines.text(uid))


def timezone(plan: Plan) -> bytes:
    """The VTIMEZONE of the plan's clinic, for the days its sessions fall on."""
    zone = plan.clinic.zone
    days = [s.start.astimezone(zone).date() for s in plan.sessions]
    first = min(days, default=plan.start)
    last = max(days, default=plan.start)
    return vtimezone_bytes(plan.clinic.timezone, first, last)


def write_event(
    lines: ContentLines,
    content: Event,
    *,
    sequence: int,
    stamp: str,
    modified: dt.datetime,
    attendee: str = "",
) -> None:
    """Write one VEVENT, its properties in the order icalendar writes them."""
    tzid = lines.params({"TZID": content.start.tzinfo.key})  # type: ignore[union-attr]
    lines.begin("VEVENT")
    lines.add("SUMMARY", lines.text(content.summary))
    lines.add("DTSTART", lines.local(content.start), tzid)
    lines.add("DTEND", lines.local(content.end), tzid)
    lines.add("DTSTAMP", stamp)
    lines.add("UID", lines.text(content.uid))
    lines.add("SEQUENCE", lines.integer(sequence))
    if attendee:
        lines.add(
            "ATTENDEE",
            lines.address(attendee),
            lines.params({"PARTSTAT": "NEEDS-ACTION", "ROLE": "REQ-PARTICIPANT", "RSVP": "FALSE"}),
        )
    if content.categories:
        lines.add("CATEGORIES", lines.categories(content.categories))
    if content.description:
        lines.add("DESCRIPTION", lines.text(content.description))
    lines.add("LAST-MODIFIED", lines.utc(modified))
    if content.location:
        lines.add("LOCATION", lines.text(content.location))
    if content.organizer:
        names = {"CN": content.organizer_name} if content.organizer_name else {}
        lines.add("ORGANIZER", lines.address(content.organizer), lines.params(names))
    lines.add("STATUS", "CANCELLED" if content.cancelled else "CONFIRMED")
    lines.add("TRANSP", "TRANSPARENT" if content.cancelled else "OPAQUE")
    if content.resource:
        lines.add(RESOURCE_PROPERTY, lines.text(content.resource))
    for alarm in content.alarms:
        lines.begin("VALARM")
        lines.add("ACTION", "DISPLAY")
        lines.add("DESCRIPTION", lines.text(alarm.text))
        lines.add("TRIGGER", lines.duration(-alarm.before))
        lines.end("VALARM")
    lines.end("VEVENT")


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32] + "@ketaplan"


def _uid(view: _View, session: Session) -> str:
    if view.audience == "patient":
        return view.plan.uid(session)
    return _hash(f"clinic\x00{view.plan.id}\x00{session.key}")


def _calendar_name(view: _View) -> str:
    plan = view.plan
    _ = view.words.gettext
    if view.audience == "clinic":
        return _("Clinic: %(protocol)s, plan %(plan)s") % {
            "protocol": plan.protocol.title,
            "plan": plan.id,
        }
    if view.privacy == "full":
        return f"{plan.protocol.title}: {plan.patient.name or plan.id}"
    if view.privacy == "minimal":
        return _("Clinic appointments")
    return _("Appointments: %(clinic)s") % {"clinic": plan.clinic.name or _("clinic")}


def summary(plan: Plan, session: Session, privacy: str | None = None) -> str:
    """The event title at ``privacy`` (by default the plan's level)."""
    return _summary(localized(plan), session, privacy or plan.calendar.privacy, None)


def _summary(plan: Plan, session: Session, privacy: str, view: _View | None) -> str:
    words = view.words if view is not None else language(plan.language)
    if privacy == "minimal":
        return words.gettext("Appointment")
    if privacy == "standard":
        return words.kind(session.kind)
    template = view.template(session) if view is not None else plan.template(session)
    total = (
        view.count(session) if view is not None else plan.phase_count(session.phase, session.kind)
    )
    phase = plan.protocol.phase(session.phase).title
    title = (
        words.gettext("%(title)s (%(phase)s, %(index)d of %(total)d)")
        % {"title": template.title, "phase": phase, "index": session.index, "total": total}
        if total > 1
        else f"{template.title} ({phase})"
    )
    return f"{title}: {plan.patient.name}" if plan.patient.name else title


def description(
    plan: Plan, session: Session, privacy: str | None = None, *, staff: bool = False
) -> str:
    """The event text: the session's own preparation and aftercare (none at minimal);
    for ``staff``, also the patient reference and the monitoring checkpoints. ``plan`` is
    as a calendar's view holds it: its protocol's texts in its language."""
    privacy = privacy or plan.calendar.privacy
    if privacy == "minimal":
        return ""
    words = language(plan.language)
    _ = words.gettext
    template = plan.template(session)
    preparation, aftercare = instructions(template, privacy, words)
    parts = []
    if session.status is SessionStatus.CANCELLED:
        parts.append(_("Cancelled: this session no longer takes place."))
    if privacy == "full":
        drug = plan.protocol.drug
        parts.append(f"{plan.protocol.title} - {drug}, {plan.protocol.route.title.lower()}.")
    if staff:
        who = ", ".join(part for part in (plan.patient.name, plan.patient.ref) if part)
        where = {"plan": plan.id, "session": session.key, "patient": who}
        parts.append(
            _("Plan %(plan)s, session %(session)s, patient %(patient)s.") % where
            if who
            else _("Plan %(plan)s, session %(session)s.") % where
        )
        if session.assessments:
            parts.append(
                _("Questionnaires due: %(names)s.") % {"names": ", ".join(session.assessments)}
            )
        if template.checkpoints:
            zone = plan.clinic.zone
            lines = [
                f"- {words.clock((session.start.astimezone(dt.UTC) + c.at).astimezone(zone))} {c.label}"
                for c in template.checkpoints
            ]
            parts.append(_("Checkpoints:") + "\n" + "\n".join(lines))
    parts.append(_("Length: about %(length)s.") % {"length": words.duration(session.duration)})
    if session.status is SessionStatus.CANCELLED:
        return "\n\n".join(parts)
    if session.moves:
        parts.append(_moved(session, words, staff=staff))
    if preparation:
        parts.append(_("Before you come:") + "\n" + "\n".join(f"- {line}" for line in preparation))
    if aftercare:
        parts.append(_("Afterwards:") + "\n" + "\n".join(f"- {line}" for line in aftercare))
    return "\n\n".join(parts)


def _moved(session: Session, words: Language, *, staff: bool) -> str:
    """Which dates a moved session passed over, and why: the scheduler records its reasons
    in English, so a patient's calendar in another language gives the dates alone."""
    if words.english:
        return "Moved: " + "; ".join(str(move) for move in session.moves) + "."
    dates = [words.short_date(move.date) for move in session.moves]
    if staff:
        dates = [f"{day}: {move.rule}" for day, move in zip(dates, session.moves, strict=True)]
    return words.gettext("Moved from: %(dates)s.") % {"dates": "; ".join(dates)}


def instructions(
    template: SessionTemplate, privacy: str, words: Language | None = None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The preparation and aftercare lines an event at ``privacy`` may carry.

    ``full`` gives the template's own lines. Below it an event names neither
    the drug nor the route, so it carries only the template's calendar
    wording, or a pointer to the treatment plan where the template has none
    (in the language of ``words``; English by default).
    """
    if privacy == "full":
        return template.preparation, template.aftercare
    if privacy == "minimal":
        return (), ()
    _ = (words or language("en")).gettext
    preparation = template.calendar_preparation or (
        (_(PREPARE_POINTER),) if template.preparation else ()
    )
    aftercare = template.calendar_aftercare or (
        (_(AFTERCARE_POINTER),) if template.aftercare else ()
    )
    return preparation, aftercare


def _location(view: _View, session: Session) -> str:
    plan = view.plan
    setting = view.template(session).setting
    if setting == "home":
        return view.words.gettext("At home")
    if setting == "telehealth":
        return view.words.gettext("Video or phone call")
    clinic = plan.clinic
    if view.privacy == "minimal":
        return clinic.address
    return ", ".join(part for part in (clinic.name, clinic.address) if part)


def event(view: _View, session: Session) -> Event:
    """What ``session``'s event says in ``view``'s calendar."""
    plan = view.plan
    cancelled = session.status is SessionStatus.CANCELLED
    title = _summary(plan, session, view.privacy, view)
    alarms: tuple[Alarm, ...] = ()
    if not cancelled and view.audience == "patient" and plan.calendar.reminders:
        text = _alarm_text(view, session, title)
        alarms = tuple(Alarm(before, text) for before in plan.calendar.reminders)
    clinic = plan.clinic
    return Event(
        uid=_uid(view, session),
        start=session.start.astimezone(view.zone),
        end=session.end.astimezone(view.zone),
        summary=f"{view.words.gettext(CANCELLED)}: {title}" if cancelled else title,
        description=description(plan, session, view.privacy, staff=view.audience == "clinic"),
        location=_location(view, session),
        categories=() if view.privacy == "minimal" else (view.words.kind(session.kind),),
        cancelled=cancelled,
        alarms=alarms,
        organizer=clinic.email,
        organizer_name=clinic.name if view.privacy != "minimal" else "",
        resource=view.template(session).resource
        if view.audience == "clinic" and not cancelled
        else "",
    )


def _alarm_text(view: _View, session: Session, title: str) -> str:
    preparation, _ = instructions(view.template(session), view.privacy, view.words)
    if (
        preparation
        and preparation[0] != view.words.gettext(PREPARE_POINTER)
        and session.kind is not SessionKind.CONSULTATION
    ):
        return f"{title}: {preparation[0]}"
    return title
