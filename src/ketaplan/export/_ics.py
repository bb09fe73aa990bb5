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
import functools
import hashlib
from typing import Literal, NamedTuple

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


class _Shared:
    """What both calendars of one plan need, worked out once for the two (see :func:`_shared`):
    the plan in its language, its session templates by name, how many sessions each phase
    has, when each session last changed, and its VTIMEZONE's lines."""

    __slots__ = ("_counts", "_modified", "_timezone", "plan", "templates")

    def __init__(self, plan: Plan) -> None:
        self.plan = localized(plan)
        self.templates: dict[str, SessionTemplate] = {}
        for template in self.plan.protocol.sessions:  # the first of a name, as Protocol.template
            self.templates.setdefault(template.name, template)
        self._counts: collections.Counter[tuple[str, SessionKind]] | None = None
        self._modified: dict[str, dt.datetime] | None = None
        self._timezone: tuple[str, ...] | None = None

    def count(self, session: Session) -> int:
        if self._counts is None:
            self._counts = collections.Counter((s.phase, s.kind) for s in self.plan.sessions)
        return self._counts[(session.phase, session.kind)]

    def modified(self, session: Session, now: dt.datetime) -> dt.datetime:
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

    def timezone(self) -> tuple[str, ...]:
        if self._timezone is None:
            self._timezone = tuple(timezone(self.plan).decode().removesuffix("\r\n").split("\r\n"))
        return self._timezone


#: The last few plans' shared work, newest last: a plan's patient and clinic calendars are
#: written one after the other, and each plan is held here only until a few more came.
_RECENT: list[tuple[Plan, _Shared]] = []
_RECENT_PLANS = 4


def _shared(plan: Plan) -> _Shared:
    """The work both calendars of ``plan`` share: done for the first, found for the second."""
    for recent, shared in reversed(_RECENT):
        if recent is plan:
            return shared
    shared = _Shared(plan)
    _RECENT.append((plan, shared))
    del _RECENT[:-_RECENT_PLANS]
    return shared


class _View:
    """What one calendar shows of a plan: the patient's at its privacy level, or the clinic's.

    It also holds what every event of the plan needs and is worked out once: how many
    sessions each phase has, when each session last changed (both shared with the plan's
    other calendar), and the texts each session template gives its events.
    """

    __slots__ = ("_shared", "_texts", "audience", "plan", "privacy", "words", "zone")

    def __init__(self, plan: Plan, audience: Audience = "patient") -> None:
        self._shared = _shared(plan)
        self.plan = self._shared.plan
        self.audience = audience
        self.privacy: str = "full" if audience == "clinic" else plan.calendar.privacy
        self.zone = plan.clinic.zone
        self.words = language(plan.language)
        self._texts: dict[str, _Texts] = {}

    def template(self, session: Session) -> SessionTemplate:
        """The session template ``session`` follows, in the plan's language."""
        return self._shared.templates[session.template]

    def count(self, session: Session) -> int:
        """How many sessions of ``session``'s kind its phase has."""
        return self._shared.count(session)

    def modified(self, session: Session, now: dt.datetime) -> dt.datetime:
        """When ``session`` last changed: the time of the last revision that names it, else of
        the plan's first revision (``now`` for a plan without history)."""
        return self._shared.modified(session, now)

    def texts(self, session: Session) -> _Texts:
        """What the events of ``session``'s template say, whatever the session."""
        found = self._texts.get(session.template)
        if found is None:
            template = self.template(session)
            found = self._texts[session.template] = _Texts(
                self.plan, template, self.privacy, self.words
            )
        return found


class _Texts:
    """The parts of an event's description that depend on its session template alone, at a
    calendar's privacy level."""

    __slots__ = ("closing", "drug", "lengths", "preparation")

    def __init__(
        self, plan: Plan, template: SessionTemplate, privacy: str, words: Language
    ) -> None:
        _ = words.gettext
        #: The preparation lines an event may carry (the first may go into its alarm).
        self.preparation, aftercare = instructions(template, privacy, words)
        #: The protocol, drug and route (full detail only), or "".
        self.drug = ""
        if privacy == "full":
            protocol = plan.protocol
            self.drug = f"{protocol.title} - {protocol.drug}, {protocol.route.title.lower()}."
        paragraphs = []
        if self.preparation:
            lines = "\n".join(f"- {line}" for line in self.preparation)
            paragraphs.append(_("Before you come:") + "\n" + lines)
        if aftercare:
            paragraphs.append(
                _("Afterwards:") + "\n" + "\n".join(f"- {line}" for line in aftercare)
            )
        #: The paragraphs that end the description of a session still on, or "".
        self.closing = "\n\n".join(paragraphs)
        #: "Length: about ..." by session length, as they come.
        self.lengths: dict[dt.timedelta, str] = {}


class Alarm(NamedTuple):
    """A display alarm: ``before`` the start, saying ``text``."""

    before: dt.timedelta
    text: str


class Event(NamedTuple):
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
    lines.add_lines(view._shared.timezone())
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
    lines.begin("VEVENT")
    lines.add_text("SUMMARY", content.summary)
    lines.add_local("DTSTART", content.start)
    lines.add_local("DTEND", content.end)
    lines.add("DTSTAMP", stamp)
    lines.add("UID", lines.text(content.uid))  # its own in every event: not cached
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
        lines.add_text("DESCRIPTION", content.description)
    lines.add("LAST-MODIFIED", lines.utc(modified))
    lines.add_lines(
        _event_end(
            content.location,
            content.organizer,
            content.organizer_name,
            content.cancelled,
            content.resource,
            content.alarms,
        )
    )


@functools.lru_cache(maxsize=256)
def _event_end(
    location: str,
    organizer: str,
    organizer_name: str,
    cancelled: bool,
    resource: str,
    alarms: tuple[Alarm, ...],
) -> tuple[str, ...]:
    """The lines that end an event, from LOCATION on: the same in most events of a plan,
    written once."""
    lines = ContentLines()
    if location:
        lines.add_text("LOCATION", location)
    if organizer:
        names = {"CN": organizer_name} if organizer_name else {}
        lines.add("ORGANIZER", lines.address(organizer), lines.params(names))
    lines.add("STATUS", "CANCELLED" if cancelled else "CONFIRMED")
    lines.add("TRANSP", "TRANSPARENT" if cancelled else "OPAQUE")
    if resource:
        lines.add_text(RESOURCE_PROPERTY, resource)
    for alarm in alarms:
        lines.begin("VALARM")
        lines.add("ACTION", "DISPLAY")
        lines.add_text("DESCRIPTION", alarm.text)
        lines.add("TRIGGER", lines.duration(-alarm.before))
        lines.end("VALARM")
    lines.end("VEVENT")
    return lines.lines()


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
    template = plan.template(session)
    texts = _Texts(plan, template, privacy, words)
    return _description(plan, session, template, texts, words, staff=staff)


def _description(
    plan: Plan,
    session: Session,
    template: SessionTemplate,
    texts: _Texts,
    words: Language,
    *,
    staff: bool,
) -> str:
    """:func:`description` above minimal, with the template's ``texts`` worked out."""
    _ = words.gettext
    parts = []
    cancelled = session.status is SessionStatus.CANCELLED
    if cancelled:
        parts.append(_("Cancelled: this session no longer takes place."))
    if texts.drug:
        parts.append(texts.drug)
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
    length = texts.lengths.get(session.duration)
    if length is None:
        length = texts.lengths[session.duration] = _("Length: about %(length)s.") % {
            "length": words.duration(session.duration)
        }
    parts.append(length)
    if cancelled:
        return "\n\n".join(parts)
    if session.moves:
        parts.append(_moved(session, words, staff=staff))
    if texts.closing:
        parts.append(texts.closing)
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
        description=""
        if view.privacy == "minimal"
        else _description(
            plan,
            session,
            view.template(session),
            view.texts(session),
            view.words,
            staff=view.audience == "clinic",
        ),
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
    preparation = view.texts(session).preparation
    if (
        preparation
        and preparation[0] != view.words.gettext(PREPARE_POINTER)
        and session.kind is not SessionKind.CONSULTATION
    ):
        return f"{title}: {preparation[0]}"
    return title
