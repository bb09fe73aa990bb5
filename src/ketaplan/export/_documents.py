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
import re
import zoneinfo
from collections.abc import Iterable, Iterator, Sequence

import attrs
import jinja2

from .._dosing import DoseField
from .._plan import Plan
from .._protocol import Every, Protocol, SessionKind, SessionTemplate
from .._session import Move, Session, SessionStatus
from .._units import Weekday, format_duration
from ..exceptions import SpecError

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


def render_patient_html(plan: Plan, *, now: dt.datetime) -> str:
    """The patient's schedule and instructions as one self-contained HTML page; never a dose."""
    return _render(_html_environment(), "patient.html.j2", _patient_context(plan, now))


def render_patient_markdown(plan: Plan, *, now: dt.datetime) -> str:
    """The patient's schedule and instructions as Markdown; never a dose."""
    return _render(_markdown_environment(), "patient.md.j2", _patient_context(plan, now))


def render_clinician_html(plan: Plan, *, now: dt.datetime) -> str:
    """The clinical plan as one printable HTML page: sessions, checkpoints, dose fields, sign-off."""
    return _render(_html_environment(), "clinician.html.j2", _clinician_context(plan, now))


def render_clinician_markdown(plan: Plan, *, now: dt.datetime) -> str:
    """The clinical plan as Markdown: sessions, checkpoints, dose fields, sign-off."""
    return _render(_markdown_environment(), "clinician.md.j2", _clinician_context(plan, now))


def _render(environment: jinja2.Environment, name: str, context: Context) -> str:
    text = environment.get_template(name).render(doc=context)
    # Templates use Jinja's whitespace control loosely; the output has no
    # trailing spaces, no runs of blank lines and exactly one final newline.
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n") + "\n"


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


def _loader() -> jinja2.BaseLoader:
    return jinja2.PackageLoader("ketaplan", "templates")


@functools.cache
def _html_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=_loader(),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )


@functools.cache
def _markdown_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=_loader(),
        autoescape=False,
        finalize=markdown_escape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )


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
class PatientContext:
    """Everything the patient documents show."""

    head: Heading
    glance: tuple[GlanceRow, ...]
    phases: tuple[PatientPhase, ...]
    guides: tuple[Guide, ...]


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
