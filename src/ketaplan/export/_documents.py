"""The patient and clinician documents (HTML and Markdown) from Jinja2 templates.

The templates (``ketaplan/templates/*.j2``) only lay out text; everything a
reader sees is prepared here first: dates and times in the clinic's zone,
sessions grouped by phase and week, checkpoint clock times, monitoring-form
deadlines and dose rows. The patient documents are given no dose entries at
all, so no template change can leak a dose value into them.

HTML is autoescaped. Markdown escapes every interpolated value with
:func:`markdown_escape`, so a patient called ``<b>Jo_</b>`` reads as exactly
that and never as markup. ``now`` is the generation time, an input; the
output is the same bytes for the same plan and ``now``.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import traceback
import zoneinfo
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import jinja2

from .._dosing import DoseField
from .._plan import Plan
from .._protocol import Every, Protocol, SessionKind, SessionTemplate
from .._session import Move, Session, SessionStatus
from .._units import Weekday, format_duration
from ..exceptions import KetaplanError, SpecError, TemplateError

__all__ = [
    "render_clinician_html",
    "render_clinician_markdown",
    "render_patient_html",
    "render_patient_markdown",
]

BLANK = "_" * 10
"""What an unfilled dose field or signature line shows before its unit."""

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

_PLACES = {"clinic": "At the clinic", "home": "At home", "telehealth": "Video or phone call"}
_WHERE = {"home": "at home", "telehealth": "by video or phone call"}


# -- rendering ---------------------------------------------------------------

Templates = str | os.PathLike[str] | None
"""A folder of templates that override the shipped ones by file name, or None."""


def render_patient_html(plan: Plan, *, now: dt.datetime, templates: Templates = None) -> str:
    """The patient's schedule and instructions as one self-contained HTML page; never a dose."""
    context = _patient_context(plan, now)
    return _render(templates, "patient.html.j2", context)


def render_patient_markdown(plan: Plan, *, now: dt.datetime, templates: Templates = None) -> str:
    """The patient's schedule and instructions as Markdown; never a dose."""
    context = _patient_context(plan, now)
    return _render(templates, "patient.md.j2", context)


def render_clinician_html(plan: Plan, *, now: dt.datetime, templates: Templates = None) -> str:
    """The clinical plan as one printable HTML page: sessions, checkpoints, dose fields, sign-off."""
    context = _clinician_context(plan, now)
    return _render(templates, "clinician.html.j2", context)


def render_clinician_markdown(plan: Plan, *, now: dt.datetime, templates: Templates = None) -> str:
    """The clinical plan as Markdown: sessions, checkpoints, dose fields, sign-off."""
    context = _clinician_context(plan, now)
    return _render(templates, "clinician.md.j2", context)


def _render(templates: Templates, name: str, context: Context) -> str:
    folder = _folder(templates)
    environment = _cached_environment(folder, markdown=name.endswith(".md.j2"))
    try:
        text = environment.get_template(name).render(doc=context)
    except KetaplanError:
        raise
    except jinja2.TemplateSyntaxError as error:
        raise _template_error(folder, error, error.filename, error.lineno) from None
    except Exception as error:
        frame = _template_frame(error)
        if frame is None and not isinstance(error, jinja2.TemplateError):
            raise
        filename, line = frame if frame is not None else (None, None)
        raise _template_error(folder, error, filename, line) from None
    # Templates use Jinja's whitespace control loosely; the output has no
    # trailing spaces, no runs of blank lines and exactly one final newline.
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n") + "\n"


_SHIPPED = Path(__file__).resolve().parent.parent / "templates"


def _template_frame(error: BaseException) -> tuple[str, int] | None:
    """The template file and line of the innermost template frame in ``error``'s traceback."""
    found = None
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename.endswith(".j2") and frame.lineno is not None:
            found = (frame.filename, frame.lineno)
    return found


def _template_error(
    folder: str | None, error: Exception, filename: str | None, line: int | None
) -> TemplateError:
    """``error`` as a TemplateError naming the template as the user would: relative to its folder."""
    name = getattr(error, "name", None) or "(unknown template)"
    if filename is not None:
        path = Path(filename).resolve()
        if folder is not None and path.is_relative_to(folder):
            name = path.relative_to(folder).as_posix()
        elif path.is_relative_to(_SHIPPED):
            name = "ketaplan/" + path.relative_to(_SHIPPED).as_posix()
        else:
            name = path.name
    if isinstance(error, jinja2.TemplateSyntaxError):
        problem = error.message or "syntax error"
    elif isinstance(error, jinja2.TemplateNotFound):
        problem = f"template {error.name!r} not found"
    elif isinstance(error, jinja2.UndefinedError):
        # "'ketaplan.export._documents.Heading object' has no attribute 'x'" -> "'Heading' has ..."
        problem = re.sub(r"'[\w.]+\.(\w+) object'", r"'\1'", error.message or "undefined value")
    else:
        problem = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return TemplateError(name, " ".join(problem.split()), line=line)


def _folder(templates: Templates) -> str | None:
    """The templates folder as an absolute path, checked to exist."""
    if templates is None:
        return None
    folder = Path(templates)
    if not folder.is_dir():
        raise TemplateError(
            f"folder {str(folder)!r}", "does not exist or is not a folder of .j2 templates"
        )
    return str(folder.resolve())


@functools.cache
def _cached_environment(folder: str | None, *, markdown: bool) -> jinja2.Environment:
    """One environment per templates folder: its files first, then the shipped ones.

    A shipped template is also reachable as ``ketaplan/<name>``, so a file in
    the folder can extend the shipped template it replaces.
    """
    shipped = jinja2.PackageLoader("ketaplan", "templates")
    loaders: list[jinja2.BaseLoader] = [jinja2.PrefixLoader({"ketaplan": shipped}), shipped]
    if folder is not None:
        loaders.insert(0, jinja2.FileSystemLoader(folder))
    options: dict[str, Any] = (
        {"autoescape": False, "finalize": markdown_escape} if markdown else {"autoescape": True}
    )
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
        **options,
    )


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~&$])")
# A value that starts a list item or table cell must not open a block:
# "- x", "+ x", "1. x", "1) x" would start a list and "---" a rule.
_MARKDOWN_LEADING = re.compile(r"^(?:[-+](?=\s|$)|\d{1,9}(?=[.)](?:\s|$))|-(?=--))")


def markdown_escape(value: object) -> str:
    """``value`` as Markdown text that renders literally, on one line.

    Backslash-escapes the ASCII punctuation that Markdown or HTML give a
    meaning inline (``\\ ` * _ { } [ ] < > # | ~ & $``), and a leading list
    or heading marker; newlines become spaces so a value never leaves its
    table cell or list item.
    """
    text = " ".join(str(value).split())
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    match = _MARKDOWN_LEADING.match(text)
    if match is None:
        return text
    mark = match.group(0)
    if mark.isdigit():
        return mark + "\\" + text[len(mark) :]
    return "\\" + text


# -- dates and times for people ----------------------------------------------


def long_date(day: dt.date) -> str:
    """``"Tuesday 16 February 2027"``: English names, whatever the locale."""
    return f"{Weekday(day.weekday()).label} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def short_date(day: dt.date) -> str:
    """``"Tue 16 Feb 2027"``."""
    weekday = Weekday(day.weekday()).label[:3]
    return f"{weekday} {day.day} {_MONTHS[day.month - 1][:3]} {day.year}"


def _clock(moment: dt.datetime) -> str:
    return f"{moment:%H:%M}"


def _zone_name(moment: dt.datetime) -> str:
    return moment.tzname() or f"{moment:%z}"


def _span(start: dt.datetime, end: dt.datetime, *, zone_name: bool) -> str:
    """``"09:30-10:30"`` (with the zone's abbreviation if asked), or with both dates past midnight."""
    suffix = f" {_zone_name(end)}" if zone_name else ""
    if start.date() == end.date():
        if zone_name and _zone_name(start) != _zone_name(end):
            return f"{_clock(start)} {_zone_name(start)}-{_clock(end)}{suffix}"
        return f"{_clock(start)}-{_clock(end)}{suffix}"
    return f"{_clock(start)}-{short_date(end.date())} {_clock(end)}{suffix}"


def _local(plan: Plan, moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(plan.clinic.zone)


def _when(plan: Plan, session: Session, *, zone_name: bool = False) -> str:
    """``"Tuesday 16 February 2027, 09:30-10:30"`` in the clinic's zone."""
    start, end = _local(plan, session.start), _local(plan, session.end)
    return f"{long_date(start.date())}, {_span(start, end, zone_name=zone_name)}"


def _stamp(plan: Plan, moment: dt.datetime) -> str:
    """``"Fri 1 Jan 2027 09:30 EST"``: an instant, in the clinic's zone."""
    local = _local(plan, moment)
    return f"{short_date(local.date())} {_clock(local)} {_zone_name(local)}"


def _elapsed(start: dt.datetime, after: dt.timedelta, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """The wall-clock moment ``after`` elapsed time from ``start`` (exact across DST)."""
    return (start.astimezone(dt.UTC) + after).astimezone(zone)


def _week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _zone_place(zone: str) -> str:
    return zone.rsplit("/", 1)[-1].replace("_", " ")


def _aware(now: dt.datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise SpecError("now", now, "expected an aware datetime (with a time zone)")


# -- what the templates are given ----------------------------------------------


@attrs.frozen
class Heading:
    """What both documents of a plan say at the top."""

    title: str
    protocol: str
    clinic_name: str
    clinic_address: str
    clinic_phone: str
    zone: str
    zone_place: str
    patient_name: str
    patient_ref: str
    plan_id: str
    revision: int
    generated: str
    draft: bool
    missing: tuple[str, ...]


@attrs.frozen
class GlanceRow:
    """One phase of the course at a glance."""

    title: str
    dates: str
    sessions: tuple[str, ...]
    pending: str


@attrs.frozen
class PatientRow:
    """One appointment as the patient reads it."""

    day: str
    date: str
    time: str
    length: str
    place: str
    session: str
    notes: tuple[str, ...]
    cancelled: bool


@attrs.frozen
class Week:
    """The appointments of one calendar week (Monday to Sunday)."""

    heading: str
    rows: tuple[PatientRow, ...]


@attrs.frozen
class PatientPhase:
    """One phase of the patient's schedule."""

    title: str
    weeks: tuple[Week, ...]
    pending: str


@attrs.frozen
class Guide:
    """What to expect at one kind of session, from its template."""

    title: str
    kind: str
    length: str
    where: str
    preparation: tuple[str, ...]
    during: tuple[str, ...]
    aftercare: tuple[str, ...]
    side_effects: tuple[str, ...]
    call_the_clinic: tuple[str, ...]


@attrs.frozen
class Band:
    """One phase drawn as a coloured band along the timeline's date axis."""

    x: int
    width: int
    colour: str
    title: str


@attrs.frozen
class Tick:
    """One session on the timeline: a dosing tick is tall, any other session's is short."""

    x: int
    top: int
    bottom: int
    kind: str
    cancelled: bool
    label: str


@attrs.frozen
class MonthMark:
    """A month boundary on the date axis and its label."""

    x: int
    label: str


@attrs.frozen
class LegendItem:
    """One entry of the timeline's legend: a swatch (a band colour or a tick kind) and its text."""

    x: int
    y: int
    swatch: str
    colour: str
    text: str


@attrs.frozen
class TimelineMonth:
    """The timeline as text: the days of one month with a session, by kind."""

    month: str
    dosing: str
    other: str


@attrs.frozen
class Timeline:
    """The course drawn along a date axis; every coordinate an integer in SVG user units."""

    width: int
    height: int
    band_top: int
    band_height: int
    axis_y: int
    label_y: int
    left: int
    right: int
    title: str
    description: str
    bands: tuple[Band, ...]
    ticks: tuple[Tick, ...]
    months: tuple[MonthMark, ...]
    legend: tuple[LegendItem, ...]
    text: tuple[TimelineMonth, ...]


@attrs.frozen
class PatientContext:
    """Everything the patient documents show."""

    head: Heading
    glance: tuple[GlanceRow, ...]
    phases: tuple[PatientPhase, ...]
    guides: tuple[Guide, ...]
    timeline: Timeline | None


@attrs.frozen
class Fact:
    """A labelled value in the clinician's summary table."""

    label: str
    value: str


@attrs.frozen
class SessionRow:
    """One session in the clinician's session list."""

    key: str
    kind: str
    index: str
    date: str
    time: str
    status: str
    moves: tuple[str, ...]
    assessments: str
    anchor: str
    notes: str


@attrs.frozen
class ClinicianPhase:
    """One phase of the clinician's plan."""

    title: str
    cadence: str
    dates: str
    sessions: tuple[SessionRow, ...]
    pending: str


@attrs.frozen
class CheckpointRow:
    """A checkpoint of a dosing session at its wall-clock time."""

    time: str
    offset: str
    label: str
    sources: str


@attrs.frozen
class DoseRow:
    """A dose field of one session: the entered value, or a blank to fill."""

    label: str
    unit: str
    value: str
    blank: str
    required: bool
    scope: str
    note: str


@attrs.frozen
class DerivedRow:
    """A value derived from dose fields, with its inputs, or what it still waits for."""

    label: str
    unit: str
    explanation: str
    waiting: str


@attrs.frozen
class FormDue:
    """The monitoring form after one dosing session, and its deadline."""

    name: str
    description: str
    deadline: str
    within: str


@attrs.frozen
class DosingBlock:
    """One dosing session as a form: checkpoints, dose fields, derived values, form due."""

    key: str
    title: str
    when: str
    status: str
    record: bool
    checkpoints: tuple[CheckpointRow, ...]
    doses: tuple[DoseRow, ...]
    derived: tuple[DerivedRow, ...]
    form: FormDue | None
    assessments: str
    moves: tuple[str, ...]


@attrs.frozen
class AssessmentDue:
    """Questionnaires due at one session."""

    key: str
    when: str
    instruments: str


@attrs.frozen
class RevisionRow:
    """One entry of the revision history."""

    number: int
    at: str
    action: str
    reason: str
    by: str
    changes: tuple[str, ...]
    detail: str


@attrs.frozen
class SignOffBlock:
    """The sign-off: filled from the plan's sign-off, or blank lines to sign on paper."""

    clinician: str
    date: str
    blank: str


@attrs.frozen
class ClinicianContext:
    """Everything the clinician documents show."""

    head: Heading
    summary: str
    facts: tuple[Fact, ...]
    dose_fields: tuple[DoseRow, ...]
    derived_rules: tuple[Fact, ...]
    phases: tuple[ClinicianPhase, ...]
    dosing: tuple[DosingBlock, ...]
    rules: tuple[str, ...]
    assessments: tuple[AssessmentDue, ...]
    form: FormDue | None
    lateness: str
    notes: tuple[str, ...]
    history: tuple[RevisionRow, ...]
    signoff: SignOffBlock
    sources: tuple[Fact, ...]
    page_label: str


Context = PatientContext | ClinicianContext


# -- shared preparation --------------------------------------------------------


def _heading(plan: Plan, now: dt.datetime, title: str) -> Heading:
    _aware(now)
    clinic = plan.clinic
    return Heading(
        title=title,
        protocol=plan.protocol.title,
        clinic_name=clinic.name,
        clinic_address=clinic.address,
        clinic_phone=clinic.phone,
        zone=clinic.timezone,
        zone_place=_zone_place(clinic.timezone),
        patient_name=plan.patient.name,
        patient_ref=plan.patient.ref,
        plan_id=plan.id,
        revision=plan.revision,
        generated=_stamp(plan, now),
        draft=plan.is_draft,
        missing=tuple(plan.missing()),
    )


def _phase_sessions(plan: Plan) -> Iterator[tuple[str, list[Session]]]:
    """The protocol's phases in order, each with its sessions in time order."""
    for phase in plan.protocol.phases:
        found = sorted(
            (s for s in plan.sessions if s.phase == phase.name), key=lambda s: (s.start, s.key)
        )
        yield phase.name, found


def _date_range(plan: Plan, sessions: Sequence[Session]) -> str:
    days = [
        _local(plan, s.start).date() for s in sessions if s.status is not SessionStatus.CANCELLED
    ]
    if not days:
        return ""
    first, last = min(days), max(days)
    if first == last:
        return long_date(first)
    return f"{long_date(first)} to {long_date(last)}"


def _title(plan: Plan, session: Session) -> str:
    """``"IV infusion session (2 of 6)"``."""
    template = plan.template(session)
    total = plan.phase_count(session.phase, session.kind)
    return f"{template.title} ({session.index} of {total})" if total > 1 else template.title


def _moves(session: Session) -> tuple[str, ...]:
    return tuple(_move(move) for move in session.moves)


def _move(move: Move) -> str:
    return f"{short_date(move.date)}: {move.rule}"


def _pending(plan: Plan, phase: str) -> str:
    for pending in plan.pending:
        if pending.phase == phase:
            return pending.reason
    return ""


def _cadence(protocol: Protocol, phase: str) -> str:
    return str(protocol.phase(phase).cadence)


# -- the patient's documents -----------------------------------------------


def _patient_context(plan: Plan, now: dt.datetime) -> PatientContext:
    head = _heading(plan, now, "Your treatment plan")
    glance = []
    phases = []
    for name, sessions in _phase_sessions(plan):
        phase = plan.protocol.phase(name)
        pending = _patient_pending(plan, name) if _pending(plan, name) else ""
        glance.append(
            GlanceRow(
                title=phase.title,
                dates=_date_range(plan, sessions),
                sessions=_counts(plan, sessions),
                pending=pending,
            )
        )
        phases.append(
            PatientPhase(title=phase.title, weeks=_weeks(plan, sessions), pending=pending)
        )
    return PatientContext(
        head=head,
        glance=tuple(glance),
        phases=tuple(phases),
        guides=tuple(_guide(plan, template) for template in _templates_used(plan)),
        timeline=_timeline(plan),
    )


def _patient_pending(plan: Plan, name: str) -> str:
    cadence = plan.protocol.phase(name).cadence
    planned = ""
    if isinstance(cadence, Every):
        count = f"{cadence.sessions} sessions" if cadence.sessions else "sessions"
        until = f" until {long_date(cadence.until)}" if cadence.until else ""
        planned = f" The protocol plans {count}, one every {cadence.interval}{until}."
    return (
        "Not dated yet. Your clinician will decide when these sessions happen, "
        f"and the clinic will give you an updated plan with the dates.{planned}"
    )


def _counts(plan: Plan, sessions: Iterable[Session]) -> tuple[str, ...]:
    counts: dict[str, int] = {}
    for session in sessions:
        if session.status is not SessionStatus.CANCELLED:
            title = plan.template(session).title
            counts[title] = counts.get(title, 0) + 1
    return tuple(f"{title} \u00d7 {count}" for title, count in counts.items())


def _weeks(plan: Plan, sessions: Sequence[Session]) -> tuple[Week, ...]:
    weeks: dict[dt.date, list[PatientRow]] = {}
    for session in sessions:
        start, end = _local(plan, session.start), _local(plan, session.end)
        template = plan.template(session)
        notes = []
        if session.status is not SessionStatus.SCHEDULED:
            notes.append(f"{session.status.value.capitalize()}.")
        notes.extend(_patient_moves(session))
        row = PatientRow(
            day=Weekday(start.weekday()).label,
            date=f"{start.day} {_MONTHS[start.month - 1]} {start.year}",
            time=_span(start, end, zone_name=False),
            length=format_duration(session.duration),
            place=_PLACES[template.setting],
            session=_title(plan, session),
            notes=tuple(notes),
            cancelled=session.status is SessionStatus.CANCELLED,
        )
        weeks.setdefault(_week_start(start.date()), []).append(row)
    return tuple(
        Week(heading=f"Week of {long_date(monday)}", rows=tuple(rows))
        for monday, rows in weeks.items()
    )


def _patient_moves(session: Session) -> list[str]:
    """``"Moved from Monday 15 February 2027: statutory holiday: ..."``, with every date passed over."""
    if not session.moves:
        return []
    planned = session.planned or session.moves[0].date
    if len(session.moves) == 1 and session.moves[0].date == planned:
        return [f"Moved from {long_date(planned)}: {session.moves[0].rule}."]
    return [f"Moved from {long_date(planned)}. {'; '.join(_moves(session))}."]


def _templates_used(plan: Plan) -> list[SessionTemplate]:
    """Session templates in order of first use, then those of phases not yet dated."""
    names: dict[str, None] = {}
    for session in sorted(plan.sessions, key=lambda s: (s.start, s.key)):
        names.setdefault(session.template, None)
    for pending in plan.pending:
        phase = plan.protocol.phase(pending.phase)
        names.setdefault(phase.session, None)
        for companion in phase.companions:
            names.setdefault(companion.session, None)
    return [plan.protocol.template(name) for name in names]


def _guide(plan: Plan, template: SessionTemplate) -> Guide:
    return Guide(
        title=template.title,
        kind=template.kind.label,
        length=format_duration(template.duration),
        where=_WHERE.get(template.setting) or f"at {plan.clinic.name or 'the clinic'}",
        preparation=template.preparation,
        during=template.during,
        aftercare=template.aftercare,
        side_effects=template.side_effects,
        call_the_clinic=template.call_the_clinic,
    )


# -- the patient's timeline ---------------------------------------------------

# SVG user units; the viewBox scales to the page, so 720 wide prints on Letter and A4.
_TIMELINE_WIDTH = 720
_TIMELINE_LEFT = 12
_TIMELINE_RIGHT = _TIMELINE_WIDTH - 12
_BAND_TOP = 24
_BAND_HEIGHT = 28
_AXIS_Y = 62
_DOSING_TICK = (16, _AXIS_Y)
_OTHER_TICK = (40, _AXIS_Y)
_LABEL_Y = 80
_LEGEND_Y = 104
_LEGEND_ROW = 20
_CHAR_WIDTH = 7  # a generous average advance of the 11px sans-serif labels
_PHASE_COLOURS = ("#9ec5e8", "#b8deb0", "#f3d49b", "#d6c2ea", "#f2b8b5", "#c9d6df")
_TICK_COLOURS = {"dosing": "#14324f", "other": "#a3480a"}


def _timeline(plan: Plan) -> Timeline | None:
    """The course along a date axis: a band per phase, a tick per session, month marks, a legend."""
    sessions = sorted(plan.sessions, key=lambda s: (s.start, s.key))
    if not sessions:
        return None
    days = [_local(plan, s.start).date() for s in sessions]
    first, last = min(days), max(days)
    span = (last - first).days + 1
    plot = _TIMELINE_RIGHT - _TIMELINE_LEFT

    def edge(day: dt.date) -> int:
        return _TIMELINE_LEFT + ((day - first).days * plot) // span

    def middle(day: dt.date) -> int:
        return _TIMELINE_LEFT + ((2 * (day - first).days + 1) * plot) // (2 * span)

    bands = []
    summary = []
    for number, (name, found) in enumerate(_phase_sessions(plan)):
        title = plan.protocol.phase(name).title
        if not found:
            summary.append(f"{title}: not dated yet.")
            continue
        start = _local(plan, found[0].start).date()
        end = _local(plan, found[-1].start).date()
        x = edge(start)
        bands.append(
            Band(
                x=x,
                width=max(edge(end + dt.timedelta(days=1)) - x, 1),
                colour=_PHASE_COLOURS[number % len(_PHASE_COLOURS)],
                title=title,
            )
        )
        count = len(found)
        summary.append(
            f"{title}: {count} session{'s' if count != 1 else ''}, {_date_range(plan, found) or long_date(start)}."
        )

    ticks = []
    for session, day in zip(sessions, days, strict=True):
        kind = "dosing" if session.kind is SessionKind.DOSING else "other"
        top, bottom = _DOSING_TICK if kind == "dosing" else _OTHER_TICK
        cancelled = session.status is SessionStatus.CANCELLED
        label = f"{_title(plan, session)}, {long_date(day)}" + (" (cancelled)" if cancelled else "")
        ticks.append(Tick(middle(day), top, bottom, kind, cancelled, label))

    months: list[MonthMark] = []
    month = first.replace(day=1)
    free_from = _TIMELINE_LEFT
    while month <= last:
        x = edge(max(month, first))
        label = _MONTHS[month.month - 1][:3]
        if not months or month.month == 1:
            label = f"{label} {month.year}"
        width = len(label) * _CHAR_WIDTH
        if x < free_from or x + width > _TIMELINE_RIGHT:
            label = ""
        else:
            free_from = x + width + _CHAR_WIDTH
        months.append(MonthMark(x, label))
        month = (month + dt.timedelta(days=32)).replace(day=1)

    entries = [("band", band.colour, band.title) for band in bands]
    kinds = {tick.kind for tick in ticks}
    if "dosing" in kinds:
        entries.append(("dosing", _TICK_COLOURS["dosing"], SessionKind.DOSING.label))
    if "other" in kinds:
        labels = dict.fromkeys(s.kind.label for s in sessions if s.kind is not SessionKind.DOSING)
        entries.append(("other", _TICK_COLOURS["other"], f"Other sessions ({', '.join(labels)})"))
    if any(tick.cancelled for tick in ticks):
        entries.append(("cancelled", "#6b6b6b", "Cancelled"))
    legend = []
    x, y = _TIMELINE_LEFT, _LEGEND_Y
    for swatch, colour, text in entries:
        width = 22 + len(text) * _CHAR_WIDTH + 18
        if x + width > _TIMELINE_RIGHT and x > _TIMELINE_LEFT:
            x, y = _TIMELINE_LEFT, y + _LEGEND_ROW
        legend.append(LegendItem(x, y, swatch, colour, text))
        x += width

    return Timeline(
        width=_TIMELINE_WIDTH,
        height=y + 10,
        band_top=_BAND_TOP,
        band_height=_BAND_HEIGHT,
        axis_y=_AXIS_Y,
        label_y=_LABEL_Y,
        left=_TIMELINE_LEFT,
        right=_TIMELINE_RIGHT,
        title="Timeline of your course",
        description=" ".join(summary),
        bands=tuple(bands),
        ticks=tuple(ticks),
        months=tuple(months),
        legend=tuple(legend),
        text=_timeline_text(sessions, days),
    )


def _timeline_text(
    sessions: Sequence[Session], days: Sequence[dt.date]
) -> tuple[TimelineMonth, ...]:
    """The timeline in words: for each month, the days with a treatment session and with another.

    Each day is listed once in each list, however many sessions share it, and
    marked cancelled only when every one of those sessions is.
    """
    # (year, month) -> (dosing days, other days), each day -> "all its sessions cancelled"
    months: dict[tuple[int, int], tuple[dict[int, bool], dict[int, bool]]] = {}
    for session, day in zip(sessions, days, strict=True):
        dosing, other = months.setdefault((day.year, day.month), ({}, {}))
        found = dosing if session.kind is SessionKind.DOSING else other
        cancelled = session.status is SessionStatus.CANCELLED
        found[day.day] = found.get(day.day, True) and cancelled

    def listed(found: dict[int, bool]) -> str:
        return ", ".join(f"{day}" + (" (cancelled)" if gone else "") for day, gone in found.items())

    return tuple(
        TimelineMonth(f"{_MONTHS[month - 1]} {year}", listed(dosing), listed(other))
        for (year, month), (dosing, other) in months.items()
    )


# -- the clinician's documents -----------------------------------------------


def _clinician_context(plan: Plan, now: dt.datetime) -> ClinicianContext:
    protocol = plan.protocol
    head = _heading(plan, now, f"Clinical treatment plan: {protocol.title}")
    route = protocol.route
    preferred = ", ".join(Weekday(day).label for day in plan.preferences.weekdays)
    facts = (
        Fact("Plan", f"{plan.id}, revision {plan.revision}"),
        Fact("Patient", plan.patient.name or "(not given)"),
        Fact("Patient reference", plan.patient.ref or "(not given)"),
        Fact("Protocol", f"{protocol.title} ({protocol.name})"),
        Fact("Route", f"{route.title} (SNOMED CT {route.snomed})"),
        Fact("Drug", protocol.drug),
        Fact("Clinic", ", ".join(p for p in (plan.clinic.name, plan.clinic.address) if p)),
        Fact("Clinic phone", plan.clinic.phone or "(not given)"),
        Fact("Time zone", f"{plan.clinic.timezone} (all times below are clinic time)"),
        Fact("Start", long_date(plan.start)),
        Fact(
            "Preferred time",
            f"{plan.preferences.time:%H:%M}" + (f" on {preferred}" if preferred else ""),
        ),
    )
    fields = route.dose_fields
    phases = []
    for name, sessions in _phase_sessions(plan):
        phase = protocol.phase(name)
        phases.append(
            ClinicianPhase(
                title=phase.title,
                cadence=_cadence(protocol, name),
                dates=_date_range(plan, sessions),
                sessions=tuple(_session_row(plan, s) for s in sessions),
                pending=_pending(plan, name),
            )
        )
    dosing = tuple(
        _dosing_block(plan, session)
        for session in sorted(plan.sessions, key=lambda s: (s.start, s.key))
        if session.kind is SessionKind.DOSING
    )
    form = protocol.monitoring_form
    signoff = plan.signoff
    return ClinicianContext(
        head=head,
        summary=protocol.summary,
        facts=facts,
        dose_fields=tuple(_dose_row(field, value=_plan_wide(plan, field.name)) for field in fields),
        derived_rules=tuple(
            Fact(rule.label, _derived_rule(rule.inputs, rule.formula, fields, rule.unit))
            for rule in route.derived
        ),
        phases=tuple(phases),
        dosing=dosing,
        rules=tuple(str(rule) for rule in protocol.assessments),
        assessments=tuple(
            AssessmentDue(s.key, _when(plan, s, zone_name=True), ", ".join(s.assessments))
            for s in sorted(plan.sessions, key=lambda s: (s.start, s.key))
            if s.assessments
        ),
        form=(
            FormDue(form.name, form.description, "", str(form.due_within))
            if form is not None
            else None
        ),
        lateness=protocol.lateness,
        notes=protocol.notes,
        history=tuple(
            RevisionRow(
                number=revision.number,
                at=_stamp(plan, revision.at),
                action=revision.action,
                reason=revision.reason,
                by=revision.by,
                changes=revision.changes,
                detail="; ".join(part for part in (revision.reason, *revision.changes) if part),
            )
            for revision in plan.history
        ),
        signoff=SignOffBlock(
            clinician=signoff.clinician if signoff is not None else "",
            date=_stamp(plan, signoff.at) if signoff is not None else "",
            blank=BLANK * 3,
        ),
        sources=tuple(Fact(key, text) for key, text in plan.protocol.cited_sources().items()),
        page_label=_css_string(f"Plan {plan.id}, revision {plan.revision}"),
    )


def _session_row(plan: Plan, session: Session) -> SessionRow:
    start = _local(plan, session.start)
    notes = []
    if session.anchor:
        notes.append(f"After {session.anchor}.")
    if session.assessments:
        notes.append(f"Assessments due: {', '.join(session.assessments)}.")
    if session.moves:
        notes.append(f"Moved; dates passed over: {'; '.join(_moves(session))}.")
    return SessionRow(
        key=session.key,
        kind=session.kind.label,
        index=str(session.index),
        date=short_date(start.date()),
        time=_span(start, _local(plan, session.end), zone_name=True),
        status=session.status.value,
        moves=_moves(session),
        assessments=", ".join(session.assessments),
        anchor=session.anchor or "",
        notes=" ".join(notes),
    )


def _plan_wide(plan: Plan, name: str) -> str:
    for entry in plan.doses:
        if entry.session is None and entry.field == name:
            return str(entry.quantity)
    return ""


def _dose_row(field: DoseField, *, value: str = "", scope: str = "") -> DoseRow:
    return DoseRow(
        label=field.label,
        unit=field.unit,
        value=value,
        blank=BLANK,
        required=field.required,
        scope=scope,
        note=field.note,
    )


def _derived_rule(
    inputs: Sequence[str], formula: str, fields: Sequence[DoseField], unit: str
) -> str:
    labels = {field.name: field.label for field in fields}
    names = [labels.get(name, name) for name in inputs]
    if formula == "intervals" and len(names) == 2:
        return f"({names[0]} - 1) x {names[1]}, in {unit}"
    return f"{' x '.join(names)}, in {unit}"


def _dosing_block(plan: Plan, session: Session) -> DosingBlock:
    template = plan.template(session)
    zone = plan.clinic.zone
    start = _local(plan, session.start)
    record = session.status in (SessionStatus.SCHEDULED, SessionStatus.COMPLETED)
    checkpoints = []
    for checkpoint in template.checkpoints:
        moment = _elapsed(session.start, checkpoint.at, zone)
        time = _clock(moment)
        if moment.date() != start.date():
            time = f"{short_date(moment.date())} {time}"
        checkpoints.append(
            CheckpointRow(
                time=f"{time} {_zone_name(moment)}",
                offset=f"+{format_duration(checkpoint.at)}",
                label=checkpoint.label,
                sources=", ".join(checkpoint.sources),
            )
        )
    entries = plan.dose_entries(session)
    own = {entry.field for entry in plan.doses if entry.session == session.key}
    doses = tuple(
        _dose_row(
            field,
            value=str(entries[field.name]) if field.name in entries else "",
            scope=(
                ("this session only" if field.name in own else "plan-wide")
                if field.name in entries
                else ""
            ),
        )
        for field in plan.protocol.route.dose_fields
    )
    found = {value.label: value for value in plan.derived(session)}
    labels = {field.name: field.label for field in plan.protocol.route.dose_fields}
    derived = tuple(
        DerivedRow(
            label=rule.label,
            unit=rule.unit,
            explanation=found[rule.label].explain() if rule.label in found else "",
            waiting=", ".join(
                labels.get(name, name) for name in rule.inputs if name not in entries
            ),
        )
        for rule in plan.protocol.route.derived
    )
    form = plan.protocol.monitoring_form
    due = None
    if form is not None:
        deadline = form.due_within.after(start.date())
        due = FormDue(form.name, form.description, long_date(deadline), str(form.due_within))
    return DosingBlock(
        key=session.key,
        title=_title(plan, session),
        when=_when(plan, session, zone_name=True),
        status=session.status.value,
        record=record,
        checkpoints=tuple(checkpoints),
        doses=doses,
        derived=derived,
        form=due,
        assessments=", ".join(session.assessments),
        moves=_moves(session),
    )


def _css_string(text: str) -> str:
    """``text`` as the inside of a double-quoted CSS string: anything unusual as a hex escape."""
    return "".join(
        char if char.isascii() and (char.isalnum() or char in " .,-") else f"\\{ord(char):x} "
        for char in text
    )
