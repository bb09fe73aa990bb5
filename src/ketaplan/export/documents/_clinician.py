"""The clinician documents' view model: facts, sessions by phase, dosing forms, sign-off."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple

from ..._dosing import DerivedValue, DoseField, Quantity
from ..._i18n import N_, Language
from ..._plan import Plan
from ..._protocol import AssessmentRule, Cadence, Every, Offsets, PerWeek, SessionKind, Taper
from ..._session import Session, SessionStatus
from ._course import Course, Heading, heading
from ._format import (
    BLANK,
    css_string,
    elapsed,
    moves,
    stamp,
    zone_name,
)

#: A session's status as the clinician's documents name it (translated on use).
_STATUS = {
    SessionStatus.SCHEDULED: N_("scheduled"),
    SessionStatus.COMPLETED: N_("completed"),
    SessionStatus.MISSED: N_("missed"),
    SessionStatus.CANCELLED: N_("cancelled"),
}


class Fact:
    """A labelled value in the clinician's summary table."""

    __slots__ = ("label", "value")

    def __init__(self, label: str, value: str) -> None:
        self.label = label
        self.value = value


class SessionRow:
    """One session in the clinician's session list."""

    __slots__ = (
        "anchor",
        "assessments",
        "date",
        "index",
        "key",
        "kind",
        "moves",
        "notes",
        "status",
        "time",
    )

    def __init__(
        self,
        key: str,
        kind: str,
        index: str,
        date: str,
        time: str,
        status: str,
        moves: tuple[str, ...],
        assessments: str,
        anchor: str,
        notes: str,
    ) -> None:
        self.key = key
        self.kind = kind
        self.index = index
        self.date = date
        self.time = time
        self.status = status
        self.moves = moves
        self.assessments = assessments
        self.anchor = anchor
        self.notes = notes


class ClinicianPhase:
    """One phase of the clinician's plan."""

    __slots__ = ("cadence", "dates", "pending", "sessions", "title")

    def __init__(
        self, title: str, cadence: str, dates: str, sessions: tuple[SessionRow, ...], pending: str
    ) -> None:
        self.title = title
        self.cadence = cadence
        self.dates = dates
        self.sessions = sessions
        self.pending = pending


# The view model's records are plain classes, cheap to define as ketaplan starts; the rows
# of a session's checkpoints and dose record are NamedTuples, compared by value: the
# templates render each distinct set of them once (``once`` in ._environment).


class CheckpointRow(NamedTuple):
    """A checkpoint of a dosing session at its wall-clock time."""

    time: str
    offset: str
    label: str
    sources: str


class DoseRow(NamedTuple):
    """A dose field of one session: the entered value, or a blank to fill."""

    label: str
    unit: str
    value: str
    blank: str
    required: bool
    scope: str
    note: str


class DerivedRow(NamedTuple):
    """A value derived from dose fields, with its inputs, or what it still waits for."""

    label: str
    unit: str
    explanation: str
    waiting: str


class FormDue:
    """The monitoring form after one dosing session, and its deadline."""

    __slots__ = ("deadline", "description", "name", "within")

    def __init__(self, name: str, description: str, deadline: str, within: str) -> None:
        self.name = name
        self.description = description
        self.deadline = deadline
        self.within = within


class DosingBlock:
    """One dosing session as a form: checkpoints, dose fields, derived values, form due."""

    __slots__ = (
        "assessments",
        "checkpoints",
        "derived",
        "doses",
        "form",
        "key",
        "moves",
        "record",
        "status",
        "title",
        "when",
    )

    def __init__(
        self,
        key: str,
        title: str,
        when: str,
        status: str,
        record: bool,
        checkpoints: tuple[CheckpointRow, ...],
        doses: tuple[DoseRow, ...],
        derived: tuple[DerivedRow, ...],
        form: FormDue | None,
        assessments: str,
        moves: tuple[str, ...],
    ) -> None:
        self.key = key
        self.title = title
        self.when = when
        self.status = status
        self.record = record
        self.checkpoints = checkpoints
        self.doses = doses
        self.derived = derived
        self.form = form
        self.assessments = assessments
        self.moves = moves


class AssessmentDue:
    """Questionnaires due at one session."""

    __slots__ = ("instruments", "key", "when")

    def __init__(self, key: str, when: str, instruments: str) -> None:
        self.key = key
        self.when = when
        self.instruments = instruments


class RevisionRow:
    """One entry of the revision history."""

    __slots__ = ("action", "at", "by", "changes", "detail", "number", "reason")

    def __init__(
        self,
        number: int,
        at: str,
        action: str,
        reason: str,
        by: str,
        changes: tuple[str, ...],
        detail: str,
    ) -> None:
        self.number = number
        self.at = at
        self.action = action
        self.reason = reason
        self.by = by
        self.changes = changes
        self.detail = detail


class SignOffBlock:
    """The sign-off: filled from the plan's sign-off, or blank lines to sign on paper."""

    __slots__ = ("blank", "clinician", "date")

    def __init__(self, clinician: str, date: str, blank: str) -> None:
        self.clinician = clinician
        self.date = date
        self.blank = blank


class ClinicianContext:
    """Everything the clinician documents show."""

    __slots__ = (
        "assessments",
        "derived_rules",
        "dose_fields",
        "dosing",
        "facts",
        "form",
        "head",
        "history",
        "lateness",
        "notes",
        "page_label",
        "phases",
        "rules",
        "signoff",
        "sources",
        "summary",
    )

    def __init__(
        self,
        head: Heading,
        summary: str,
        facts: tuple[Fact, ...],
        dose_fields: tuple[DoseRow, ...],
        derived_rules: tuple[Fact, ...],
        phases: tuple[ClinicianPhase, ...],
        dosing: tuple[DosingBlock, ...],
        rules: tuple[str, ...],
        assessments: tuple[AssessmentDue, ...],
        form: FormDue | None,
        lateness: str,
        notes: tuple[str, ...],
        history: tuple[RevisionRow, ...],
        signoff: SignOffBlock,
        sources: tuple[Fact, ...],
        page_label: str,
    ) -> None:
        self.head = head
        self.summary = summary
        self.facts = facts
        self.dose_fields = dose_fields
        self.derived_rules = derived_rules
        self.phases = phases
        self.dosing = dosing
        self.rules = rules
        self.assessments = assessments
        self.form = form
        self.lateness = lateness
        self.notes = notes
        self.history = history
        self.signoff = signoff
        self.sources = sources
        self.page_label = page_label


_Records = tuple[tuple[DoseRow, ...], tuple[DerivedRow, ...]]
"""A dosing session's dose fields with their entries, and the values derived from them."""

_FixedCheckpoint = tuple[dt.timedelta, str, str, str]
"""A checkpoint of a session template: when after the start, and its offset, label and
sources as every session of the template shows them."""


def clinician_context(
    plan: Plan, now: dt.datetime, *, course: Course | None = None
) -> ClinicianContext:
    """What the clinician documents of ``plan`` show, generated at ``now``; ``course`` is ``plan``
    laid out already (:class:`Course`), to share it between documents."""
    course = course if course is not None else Course(plan)
    plan = course.plan  # its protocol's texts in its language
    words = course.words
    _ = words.gettext
    protocol = plan.protocol
    zone = course.zone
    head = heading(
        course, now, _("Clinical treatment plan: %(protocol)s") % {"protocol": protocol.title}
    )
    route = protocol.route
    preferred = ", ".join(words.weekday(day) for day in plan.preferences.weekdays)
    not_given = _("(not given)")
    time = words.clock(plan.preferences.time)
    facts = (
        Fact(_("Plan"), _("%(plan)s, revision %(revision)d") % _revision(plan)),
        Fact(_("Patient"), plan.patient.name or not_given),
        Fact(_("Patient reference"), plan.patient.ref or not_given),
        Fact(_("Protocol"), f"{protocol.title} ({protocol.name})"),
        Fact(_("Route"), f"{route.title} (SNOMED CT {route.snomed})"),
        Fact(_("Drug"), protocol.drug),
        Fact(_("Clinic"), ", ".join(p for p in (plan.clinic.name, plan.clinic.address) if p)),
        Fact(_("Clinic phone"), plan.clinic.phone or not_given),
        Fact(
            _("Time zone"),
            _("%(zone)s (all times below are clinic time)") % {"zone": plan.clinic.timezone},
        ),
        Fact(_("Start"), words.long_date(plan.start)),
        Fact(
            _("Preferred time"),
            _("%(time)s on %(days)s") % {"time": time, "days": preferred} if preferred else time,
        ),
    )
    fields = route.dose_fields
    phases = []
    for name, sessions in course.phases:
        phase = protocol.phase(name)
        phases.append(
            ClinicianPhase(
                title=phase.title,
                cadence=_cadence(phase.cadence, words),
                dates=course.date_range(sessions),
                sessions=tuple(_session_row(course, s) for s in sessions),
                pending=course.pending(name),
            )
        )
    plan_wide: list[_Records] = []

    def records(session: Session) -> _Records:
        own = course.own_doses(session)
        if own:
            return _dose_records(course, course.dose_entries(session), own)
        if not plan_wide:  # the same for every session without entries of its own
            plan_wide.append(_dose_records(course, course.dose_entries(None), {}))
        return plan_wide[0]

    # What every dosing session of a template shows alike, worked out once: its checkpoints'
    # offsets, labels and sources (a year's plan has dozens of sessions of a template).
    fixed: dict[str, tuple[_FixedCheckpoint, ...]] = {}

    def checkpoints(session: Session) -> tuple[_FixedCheckpoint, ...]:
        found = fixed.get(session.template)
        if found is None:
            found = fixed[session.template] = tuple(
                (c.at, f"+{words.duration(c.at)}", c.label, ", ".join(c.sources))
                for c in course.template(session).checkpoints
            )
        return found

    form = protocol.monitoring_form
    within = words.interval(form.due_within) if form is not None else ""
    dosing = tuple(
        _dosing_block(course, session, records(session), checkpoints(session), within)
        for session in course.sessions
        if session.kind is SessionKind.DOSING
    )
    signoff = plan.signoff
    return ClinicianContext(
        head=head,
        summary=protocol.summary,
        facts=facts,
        dose_fields=tuple(
            _dose_row(field, value=_plan_wide(plan, field.name, words)) for field in fields
        ),
        derived_rules=tuple(
            Fact(rule.label, _derived_rule(rule.inputs, rule.formula, fields, rule.unit, words))
            for rule in route.derived
        ),
        phases=tuple(phases),
        dosing=dosing,
        rules=tuple(_assessment_rule(rule, words) for rule in protocol.assessments),
        assessments=tuple(
            AssessmentDue(s.key, course.when(s), ", ".join(s.assessments))
            for s in course.sessions
            if s.assessments
        ),
        form=(
            FormDue(form.name, form.description, "", words.interval(form.due_within))
            if form is not None
            else None
        ),
        lateness=protocol.lateness,
        notes=protocol.notes,
        history=tuple(
            RevisionRow(
                number=revision.number,
                at=stamp(revision.at, zone, words),
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
            date=stamp(signoff.at, zone, words) if signoff is not None else "",
            blank=BLANK * 3,
        ),
        sources=tuple(Fact(key, text) for key, text in protocol.cited_sources().items()),
        page_label=css_string(_("Plan %(plan)s, revision %(revision)d") % _revision(plan)),
    )


def _revision(plan: Plan) -> dict[str, object]:
    return {"plan": plan.id, "revision": plan.revision}


def _session_row(course: Course, session: Session) -> SessionRow:
    words = course.words
    _ = words.gettext
    start = course.local(session.start)
    passed = moves(session, words)
    notes = []
    if session.anchor:
        notes.append(_("After %(session)s.") % {"session": session.anchor})
    if session.assessments:
        notes.append(_("Assessments due: %(names)s.") % {"names": ", ".join(session.assessments)})
    if session.moves:
        notes.append(_("Moved; dates passed over: %(dates)s.") % {"dates": "; ".join(passed)})
    return SessionRow(
        key=session.key,
        kind=words.kind(session.kind),
        index=str(session.index),
        date=words.short_date(start.date()),
        time=course.span(session),
        status=_(_STATUS[session.status]),
        moves=passed,
        assessments=", ".join(session.assessments),
        anchor=session.anchor or "",
        notes=" ".join(notes),
    )


def _plan_wide(plan: Plan, name: str, words: Language) -> str:
    for entry in plan.doses:
        if entry.session is None and entry.field == name:
            return _quantity(entry.quantity, words)
    return ""


def _quantity(quantity: Quantity, words: Language) -> str:
    """A dose value as the clinician entered it, its unit kept, in the language's number form."""
    return words.quantity(quantity.value, quantity.unit)


def _explain(value: DerivedValue, words: Language) -> str:
    """``"<total> mg (from Dose per kg <entry> x Body weight <entry>)"``, numbers in the
    language's form."""
    if words.english:
        return value.explain()
    inputs = " x ".join(f"{label} {_quantity(quantity, words)}" for label, quantity in value.inputs)
    return words.gettext("%(value)s (from %(inputs)s)") % {
        "value": _quantity(value.quantity, words),
        "inputs": inputs,
    }


def _cadence(cadence: Cadence, words: Language) -> str:
    """How often a phase's sessions fall, in words: ``"6 sessions, 2-3 a week within 3 weeks"``."""
    if words.english:
        return str(cadence)
    _ = words.gettext
    if isinstance(cadence, PerWeek):
        per = str(cadence.low) if cadence.low == cadence.high else f"{cadence.low}-{cadence.high}"
        return words.ngettext(
            "%(count)d session, %(per)s a week within %(weeks)d weeks",
            "%(count)d sessions, %(per)s a week within %(weeks)d weeks",
            cadence.sessions,
        ) % {"count": cadence.sessions, "per": per, "weeks": cadence.weeks}
    if isinstance(cadence, Every):
        parts = [_("every %(interval)s") % {"interval": words.interval_range(cadence.interval)}]
        if cadence.sessions is not None:
            parts.append(
                words.ngettext("for %(count)d session", "for %(count)d sessions", cadence.sessions)
                % {"count": cadence.sessions}
            )
        if cadence.until is not None:
            parts.append(_("until %(date)s") % {"date": words.long_date(cadence.until)})
        return " ".join(parts)
    if isinstance(cadence, Offsets):
        at = [words.interval(o) if o.amount else _("the start") for o in cadence.offsets]
        return _("at %(offsets)s") % {"offsets": ", ".join(at)}
    if isinstance(cadence, Taper):
        return _("tapering: %(intervals)s") % {
            "intervals": _(", then ").join(words.interval(i) for i in cadence.intervals)
        }
    return str(cadence)


def _assessment_rule(rule: AssessmentRule, words: Language) -> str:
    """When a protocol's questionnaires are due, in words: ``"PHQ-9 at baseline"``."""
    if words.english:
        return str(rule)
    _ = words.gettext
    names = ", ".join(rule.instruments)
    if rule.at == "baseline":
        return _("%(names)s at baseline") % {"names": names}
    if rule.at == "end":
        return _("%(names)s at the end of %(phase)s") % {"names": names, "phase": rule.phase}
    return _("%(names)s every %(count)d dosing sessions") % {"names": names, "count": rule.every}


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
    inputs: Sequence[str],
    formula: str,
    fields: Sequence[DoseField],
    unit: str,
    words: Language,
) -> str:
    labels = {field.name: field.label for field in fields}
    names = [labels.get(name, name) for name in inputs]
    if formula == "intervals" and len(names) == 2:
        product = f"({names[0]} - 1) x {names[1]}"
    else:
        product = " x ".join(names)
    return words.gettext("%(product)s, in %(unit)s") % {"product": product, "unit": unit}


def _dose_records(
    course: Course, entries: dict[str, Quantity], own: dict[str, Quantity]
) -> _Records:
    """The dose fields of a session with its ``entries`` (``own`` those made for it alone),
    and the values derived from them."""
    plan = course.plan
    words = course.words
    _ = words.gettext
    doses = tuple(
        _dose_row(
            field,
            value=_quantity(entries[field.name], words) if field.name in entries else "",
            scope=(
                (_("this session only") if field.name in own else _("plan-wide"))
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
            explanation=_explain(found[rule.label], words) if rule.label in found else "",
            waiting=", ".join(
                labels.get(name, name) for name in rule.inputs if name not in entries
            ),
        )
        for rule in plan.protocol.route.derived
    )
    return doses, derived


def _dosing_block(
    course: Course,
    session: Session,
    records: _Records,
    checkpoints: tuple[_FixedCheckpoint, ...],
    within: str,
) -> DosingBlock:
    """One dosing session as a form; ``records`` are its dose fields and derived values,
    ``checkpoints`` its template's, ``within`` the monitoring form's delay in words."""
    plan = course.plan
    words = course.words
    zone = course.zone
    day = course.local(session.start).date()
    rows = []
    for at, offset, label, sources in checkpoints:
        moment = elapsed(session.start, at, zone)
        time = words.clock(moment)
        if moment.date() != day:
            time = f"{words.short_date(moment.date())} {time}"
        rows.append(CheckpointRow(f"{time} {zone_name(moment, words)}", offset, label, sources))
    doses, derived = records
    form = plan.protocol.monitoring_form
    due = None
    if form is not None:
        deadline = form.due_within.after(day)
        due = FormDue(form.name, form.description, words.long_date(deadline), within)
    return DosingBlock(
        key=session.key,
        title=course.title(session),
        when=course.when(session),
        status=words.gettext(_STATUS[session.status]),
        record=session.status in (SessionStatus.SCHEDULED, SessionStatus.COMPLETED),
        checkpoints=tuple(rows),
        doses=doses,
        derived=derived,
        form=due,
        assessments=", ".join(session.assessments),
        moves=moves(session, words),
    )
