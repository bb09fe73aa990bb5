"""The clinician documents' view model: facts, sessions by phase, dosing forms, sign-off."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import attrs

from ..._dosing import DoseField
from ..._plan import Plan
from ..._protocol import SessionKind
from ..._session import Session, SessionStatus
from ..._units import Weekday, format_duration
from ._course import Course, Heading, heading
from ._format import (
    BLANK,
    clock,
    css_string,
    elapsed,
    long_date,
    moves,
    short_date,
    span,
    stamp,
    when,
    zone_name,
)


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


def clinician_context(plan: Plan, now: dt.datetime) -> ClinicianContext:
    """What the clinician documents of ``plan`` show, generated at ``now``."""
    course = Course(plan)
    protocol = plan.protocol
    zone = course.zone
    head = heading(course, now, f"Clinical treatment plan: {protocol.title}")
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
    for name, sessions in course.phases:
        phase = protocol.phase(name)
        phases.append(
            ClinicianPhase(
                title=phase.title,
                cadence=str(phase.cadence),
                dates=course.date_range(sessions),
                sessions=tuple(_session_row(course, s) for s in sessions),
                pending=course.pending(name),
            )
        )
    dosing = tuple(
        _dosing_block(course, session)
        for session in course.sessions
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
            AssessmentDue(s.key, when(s, zone, with_zone=True), ", ".join(s.assessments))
            for s in course.sessions
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
                at=stamp(revision.at, zone),
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
            date=stamp(signoff.at, zone) if signoff is not None else "",
            blank=BLANK * 3,
        ),
        sources=tuple(Fact(key, text) for key, text in protocol.cited_sources().items()),
        page_label=css_string(f"Plan {plan.id}, revision {plan.revision}"),
    )


def _session_row(course: Course, session: Session) -> SessionRow:
    start = course.local(session.start)
    passed = moves(session)
    notes = []
    if session.anchor:
        notes.append(f"After {session.anchor}.")
    if session.assessments:
        notes.append(f"Assessments due: {', '.join(session.assessments)}.")
    if session.moves:
        notes.append(f"Moved; dates passed over: {'; '.join(passed)}.")
    return SessionRow(
        key=session.key,
        kind=session.kind.label,
        index=str(session.index),
        date=short_date(start.date()),
        time=span(start, course.local(session.end), with_zone=True),
        status=session.status.value,
        moves=passed,
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


def _dosing_block(course: Course, session: Session) -> DosingBlock:
    plan = course.plan
    template = plan.template(session)
    zone = course.zone
    start = course.local(session.start)
    record = session.status in (SessionStatus.SCHEDULED, SessionStatus.COMPLETED)
    checkpoints = []
    for checkpoint in template.checkpoints:
        moment = elapsed(session.start, checkpoint.at, zone)
        time = clock(moment)
        if moment.date() != start.date():
            time = f"{short_date(moment.date())} {time}"
        checkpoints.append(
            CheckpointRow(
                time=f"{time} {zone_name(moment)}",
                offset=f"+{format_duration(checkpoint.at)}",
                label=checkpoint.label,
                sources=", ".join(checkpoint.sources),
            )
        )
    entries = course.dose_entries(session)
    own = course.own_doses(session)
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
    found = {value.label: value for value in course.derived(entries)}
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
        title=course.title(session),
        when=when(session, zone, with_zone=True),
        status=session.status.value,
        record=record,
        checkpoints=tuple(checkpoints),
        doses=doses,
        derived=derived,
        form=due,
        assessments=", ".join(session.assessments),
        moves=moves(session),
    )
