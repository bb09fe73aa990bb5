"""The patient documents' view model: the course at a glance, the schedule by week, guides.

The patient documents are given no dose entries at all, so no template change
can leak a dose value into them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from ..._i18n import N_, Language
from ..._plan import Plan
from ..._protocol import Every, SessionTemplate
from ..._session import Session, SessionStatus
from ._course import Course, Heading, heading
from ._format import moves, span, week_start
from ._timeline import Timeline, timeline

_PLACES = {
    "clinic": N_("At the clinic"),
    "home": N_("At home"),
    "telehealth": N_("Video or phone call"),
}
_WHERE = {"home": N_("at home"), "telehealth": N_("by video or phone call")}
_STATUS = {
    SessionStatus.COMPLETED: N_("Completed."),
    SessionStatus.MISSED: N_("Missed."),
    SessionStatus.CANCELLED: N_("Cancelled."),
}


class GlanceRow:
    """One phase of the course at a glance."""

    __slots__ = ("dates", "pending", "sessions", "title")

    def __init__(self, title: str, dates: str, sessions: tuple[str, ...], pending: str) -> None:
        self.title = title
        self.dates = dates
        self.sessions = sessions
        self.pending = pending


class PatientRow:
    """One appointment as the patient reads it."""

    __slots__ = ("cancelled", "date", "day", "length", "notes", "place", "session", "time")

    def __init__(
        self,
        day: str,
        date: str,
        time: str,
        length: str,
        place: str,
        session: str,
        notes: tuple[str, ...],
        cancelled: bool,
    ) -> None:
        self.day = day
        self.date = date
        self.time = time
        self.length = length
        self.place = place
        self.session = session
        self.notes = notes
        self.cancelled = cancelled


class Week:
    """The appointments of one calendar week (Monday to Sunday)."""

    __slots__ = ("heading", "rows")

    def __init__(self, heading: str, rows: tuple[PatientRow, ...]) -> None:
        self.heading = heading
        self.rows = rows


class PatientPhase:
    """One phase of the patient's schedule."""

    __slots__ = ("pending", "title", "weeks")

    def __init__(self, title: str, weeks: tuple[Week, ...], pending: str) -> None:
        self.title = title
        self.weeks = weeks
        self.pending = pending


class Guide:
    """What to expect at one kind of session, from its template."""

    __slots__ = (
        "aftercare",
        "call_the_clinic",
        "during",
        "kind",
        "length",
        "preparation",
        "side_effects",
        "title",
        "where",
    )

    def __init__(
        self,
        title: str,
        kind: str,
        length: str,
        where: str,
        preparation: tuple[str, ...],
        during: tuple[str, ...],
        aftercare: tuple[str, ...],
        side_effects: tuple[str, ...],
        call_the_clinic: tuple[str, ...],
    ) -> None:
        self.title = title
        self.kind = kind
        self.length = length
        self.where = where
        self.preparation = preparation
        self.during = during
        self.aftercare = aftercare
        self.side_effects = side_effects
        self.call_the_clinic = call_the_clinic


class PatientContext:
    """Everything the patient documents show."""

    __slots__ = ("glance", "guides", "head", "phases", "timeline")

    def __init__(
        self,
        head: Heading,
        glance: tuple[GlanceRow, ...],
        phases: tuple[PatientPhase, ...],
        guides: tuple[Guide, ...],
        timeline: Timeline | None,
    ) -> None:
        self.head = head
        self.glance = glance
        self.phases = phases
        self.guides = guides
        self.timeline = timeline


def patient_context(
    plan: Plan, now: dt.datetime, *, course: Course | None = None
) -> PatientContext:
    """What the patient documents of ``plan`` show, generated at ``now``; ``course`` is ``plan``
    laid out already (:class:`Course`), to share it between documents."""
    course = course if course is not None else Course(plan)
    plan = course.plan  # its protocol's texts in its language
    head = heading(course, now, course.words.gettext("Your treatment plan"))
    glance = []
    phases = []
    for name, sessions in course.phases:
        phase = plan.protocol.phase(name)
        pending = _patient_pending(plan, name, course.words) if course.pending(name) else ""
        glance.append(
            GlanceRow(
                title=phase.title,
                dates=course.date_range(sessions),
                sessions=_counts(plan, sessions, course.words),
                pending=pending,
            )
        )
        phases.append(
            PatientPhase(title=phase.title, weeks=_weeks(course, sessions), pending=pending)
        )
    return PatientContext(
        head=head,
        glance=tuple(glance),
        phases=tuple(phases),
        guides=tuple(_guide(plan, template, course.words) for template in _templates_used(course)),
        timeline=timeline(course),
    )


def _patient_pending(plan: Plan, name: str, words: Language) -> str:
    _ = words.gettext
    cadence = plan.protocol.phase(name).cadence
    planned = ""
    if isinstance(cadence, Every):
        facts = {"count": cadence.sessions or 0, "every": words.interval_range(cadence.interval)}
        if cadence.until:
            facts["until"] = words.long_date(cadence.until)
        if cadence.sessions and cadence.until:
            plans = words.ngettext(
                "The protocol plans %(count)d session, one every %(every)s until %(until)s.",
                "The protocol plans %(count)d sessions, one every %(every)s until %(until)s.",
                cadence.sessions,
            )
        elif cadence.sessions:
            plans = words.ngettext(
                "The protocol plans %(count)d session, one every %(every)s.",
                "The protocol plans %(count)d sessions, one every %(every)s.",
                cadence.sessions,
            )
        elif cadence.until:
            plans = _("The protocol plans sessions, one every %(every)s until %(until)s.")
        else:
            plans = _("The protocol plans sessions, one every %(every)s.")
        planned = " " + plans % facts
    return (
        _(
            "Not dated yet. Your clinician will decide when these sessions happen, "
            "and the clinic will give you an updated plan with the dates."
        )
        + planned
    )


def _counts(plan: Plan, sessions: Iterable[Session], words: Language) -> tuple[str, ...]:
    counts: dict[str, int] = {}
    for session in sessions:
        if session.status is not SessionStatus.CANCELLED:
            title = plan.template(session).title
            counts[title] = counts.get(title, 0) + 1
    return tuple(f"{title} \u00d7 {words.number(count)}" for title, count in counts.items())


def _weeks(course: Course, sessions: Sequence[Session]) -> tuple[Week, ...]:
    words = course.words
    weeks: dict[dt.date, list[PatientRow]] = {}
    # A year's sessions share a few lengths and places: each put into words once.
    lengths: dict[dt.timedelta, str] = {}
    places: dict[str, str] = {}
    for session in sessions:
        start, end = course.local(session.start), course.local(session.end)
        day = start.date()
        setting = course.template(session).setting
        place = places.get(setting)
        if place is None:
            place = places[setting] = words.gettext(_PLACES[setting])
        length = lengths.get(session.duration)
        if length is None:
            length = lengths[session.duration] = words.duration(session.duration)
        notes: tuple[str, ...] = ()
        if session.status is not SessionStatus.SCHEDULED or session.moves:
            status = session.status
            done = () if status is SessionStatus.SCHEDULED else (words.gettext(_STATUS[status]),)
            notes = (*done, *_patient_moves(session, words))
        row = PatientRow(
            day=words.weekday(start.weekday()),
            date=words.day_month_year(day),
            time=span(start, end, words, with_zone=False),
            length=length,
            place=place,
            session=course.title(session),
            notes=notes,
            cancelled=session.status is SessionStatus.CANCELLED,
        )
        weeks.setdefault(week_start(day), []).append(row)
    return tuple(
        Week(
            heading=words.gettext("Week of %(monday)s") % {"monday": words.long_date(monday)},
            rows=tuple(rows),
        )
        for monday, rows in weeks.items()
    )


def _patient_moves(session: Session, words: Language) -> list[str]:
    """``"Moved from Monday 15 February 2027: statutory holiday: ..."``, with every date passed over.

    The scheduler records its reasons in English: in another language the
    patient reads the date the session was planned for, without them.
    """
    if not session.moves:
        return []
    planned = session.planned or session.moves[0].date
    if not words.english:
        return [words.gettext("Moved from %(date)s.") % {"date": words.long_date(planned)}]
    if len(session.moves) == 1 and session.moves[0].date == planned:
        return [f"Moved from {words.long_date(planned)}: {session.moves[0].rule}."]
    return [f"Moved from {words.long_date(planned)}. {'; '.join(moves(session, words))}."]


def _templates_used(course: Course) -> list[SessionTemplate]:
    """Session templates in order of first use, then those of phases not yet dated."""
    plan = course.plan
    names: dict[str, None] = {}
    for session in course.sessions:
        names.setdefault(session.template, None)
    for pending in plan.pending:
        phase = plan.protocol.phase(pending.phase)
        names.setdefault(phase.session, None)
        for companion in phase.companions:
            names.setdefault(companion.session, None)
    return [plan.protocol.template(name) for name in names]


def _guide(plan: Plan, template: SessionTemplate, words: Language) -> Guide:
    _ = words.gettext
    where = _WHERE.get(template.setting)
    return Guide(
        title=template.title,
        kind=words.kind(template.kind),
        length=words.duration(template.duration),
        where=_(where)
        if where
        else (
            _("at %(clinic)s") % {"clinic": plan.clinic.name}
            if plan.clinic.name
            else _("at the clinic")
        ),
        preparation=template.preparation,
        during=template.during,
        aftercare=template.aftercare,
        side_effects=template.side_effects,
        call_the_clinic=template.call_the_clinic,
    )
