"""Plans: a protocol laid onto a clinic's calendar for one patient.

A :class:`Plan` holds everything its outputs are made from (the protocol,
the clinic, the patient reference, the preferences, the dated
:class:`Session` s, the clinician's dose entries and the revision history),
so that a saved plan rebuilds the same files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import weakref
from collections.abc import Iterable, Mapping
from typing import Literal

import attrs

from ._clinic import Clinic
from ._dosing import DerivedValue, DoseEntry, DoseField, Quantity
from ._i18n import DEFAULT as DEFAULT_LANGUAGE
from ._i18n import check_language
from ._i18n import language as _language
from ._ledger import Ledger
from ._limits import check_start
from ._protocol import Protocol, SessionKind, SessionTemplate
from ._schedule import schedule
from ._session import Session, SessionStatus, _aware
from ._units import Weekday
from ._values import pattern, to_tuple
from .exceptions import SpecError

__all__ = [
    "CalendarOptions",
    "DocumentOptions",
    "FhirOptions",
    "Patient",
    "PendingPhase",
    "Plan",
    "Preferences",
    "Revision",
    "SignOff",
]

Privacy = Literal["minimal", "standard", "full"]
_PLAN_ID = pattern(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


@attrs.frozen
class Patient:
    """Who the plan is for. Both fields are optional and never leave the plan by default."""

    name: str = ""
    ref: str = ""


def _weekday_set(days: Iterable[Weekday]) -> tuple[Weekday, ...]:
    return tuple(sorted(set(days)))


@attrs.frozen
class Preferences:
    """The patient's preferred weekdays and time of day (wall-clock, in the clinic's zone).

    Empty ``weekdays`` means the protocol's usual weekdays.
    """

    time: dt.time = attrs.field(default=dt.time(9, 0))
    weekdays: tuple[Weekday, ...] = attrs.field(default=(), converter=_weekday_set)

    @time.validator
    def _naive_time(self, attribute: attrs.Attribute[dt.time], value: dt.time) -> None:
        if value.tzinfo is not None:
            raise SpecError(
                "plan.time",
                value,
                "expected a wall-clock time without a time zone; the clinic's zone applies",
            )


@attrs.frozen
class CalendarOptions:
    """How much the patient's calendar file says, and when it reminds."""

    privacy: Privacy = attrs.field(
        default="standard", validator=attrs.validators.in_(("minimal", "standard", "full"))
    )
    reminders: tuple[dt.timedelta, ...] = attrs.field(
        factory=lambda: (dt.timedelta(days=1), dt.timedelta(hours=2)), converter=to_tuple
    )


@attrs.frozen
class DocumentOptions:
    """Where a clinic's own document templates are: a folder whose files override the
    shipped templates by name (empty: the shipped templates)."""

    templates: str = ""


def _uri(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or any(c.isspace() for c in value) or len(value) > 255:
        raise SpecError(
            f"fhir.{attribute.name}",
            value,
            "expected a URI without spaces, e.g. 'https://clinic.example/mrn' (empty: ketaplan's own)",
        )


def _flag(instance: object, attribute: attrs.Attribute[bool], value: bool) -> None:
    if not isinstance(value, bool):
        raise SpecError(f"fhir.{attribute.name}", value, "expected true or false")


@attrs.frozen
class FhirOptions:
    """Whether a build also writes the plan as a FHIR R4 Bundle (``<plan id>.fhir.json``),
    and the identifier systems it uses (empty: ketaplan's own, see docs/fhir.md):
    ``system`` for the exported resources, ``patient_system`` for the patient reference."""

    enabled: bool = attrs.field(default=False, validator=_flag)
    system: str = attrs.field(default="", validator=_uri)
    patient_system: str = attrs.field(default="", validator=_uri)


@attrs.frozen
class SignOff:
    """The clinician who signed the plan, and when."""

    clinician: str
    at: dt.datetime = attrs.field(validator=_aware)


@attrs.frozen
class Revision:
    """One recorded change to a plan: what, why, when and by whom."""

    number: int
    at: dt.datetime = attrs.field(validator=_aware)
    action: str
    reason: str = ""
    by: str = ""
    changes: tuple[str, ...] = attrs.field(default=(), converter=to_tuple)


@attrs.frozen
class PendingPhase:
    """A phase the scheduler could not date yet, and why (an interval the clinician sets)."""

    phase: str
    reason: str


def _plan_id(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not _PLAN_ID().match(value):
        raise SpecError(
            "plan.id",
            value,
            "use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )


@attrs.frozen
class Plan:
    """A dated treatment plan for one patient; change it only through new revisions."""

    id: str = attrs.field(validator=_plan_id)
    protocol: Protocol
    clinic: Clinic
    start: dt.date = attrs.field(validator=lambda _p, _a, value: check_start("plan.start", value))
    sessions: tuple[Session, ...] = attrs.field(converter=to_tuple)
    preferences: Preferences = Preferences()
    patient: Patient = Patient()
    calendar: CalendarOptions = CalendarOptions()
    documents: DocumentOptions = DocumentOptions()
    doses: tuple[DoseEntry, ...] = attrs.field(default=(), converter=to_tuple)
    pending: tuple[PendingPhase, ...] = attrs.field(default=(), converter=to_tuple)
    history: tuple[Revision, ...] = attrs.field(default=(), converter=to_tuple)
    signoff: SignOff | None = None
    flags: tuple[str, ...] = attrs.field(default=(), converter=to_tuple)
    fhir: FhirOptions = FhirOptions()
    #: What the patient and the clinician read it in (see ``ketaplan._i18n.LANGUAGES``).
    language: str = attrs.field(
        default=DEFAULT_LANGUAGE, validator=lambda _p, _a, value: check_language(value)
    )

    def __attrs_post_init__(self) -> None:
        keys = {session.key for session in self.sessions}
        if len(keys) != len(self.sessions):
            raise SpecError("sessions", len(self.sessions), "every session needs its own key")
        for entry in self.doses:
            field = self.protocol.route.dose_field(entry.field)
            where = (
                f"dosing.{entry.field}"
                if entry.session is None
                else f"dosing.{entry.session}.{entry.field}"
            )
            field.parse(str(entry.quantity), field=where)
            if entry.session is not None and entry.session not in keys:
                raise SpecError(
                    where, entry.session, "expected the key of one of the plan's sessions"
                )

    @classmethod
    def create(
        cls,
        id: str,
        protocol: Protocol,
        clinic: Clinic,
        start: dt.date,
        *,
        preferences: Preferences = Preferences(),
        patient: Patient = Patient(),
        calendar: CalendarOptions = CalendarOptions(),
        documents: DocumentOptions = DocumentOptions(),
        doses: tuple[DoseEntry, ...] = (),
        now: dt.datetime,
        by: str = "",
        ledger: Ledger | None = None,
        language: str = DEFAULT_LANGUAGE,
    ) -> Plan:
        """Schedule ``protocol`` on ``clinic``'s calendar from ``start`` and record it as revision 1.

        ``now`` is when the plan is made (an aware datetime): it is recorded,
        never read from the clock. ``ledger`` holds the clinic's other
        bookings (a booking of this same ``id`` is left out): sessions that
        hold a resource go only where one is free. Creating a plan does not
        book it: :meth:`Ledger.book <ketaplan.Ledger.book>` does. ``language``
        is what its documents and calendars are written in (``"en"``,
        ``"fr-CA"``).
        """
        _aware(None, attrs.fields(Revision).at, now)
        check_language(language)
        laid = schedule(
            protocol,
            clinic,
            start,
            time=preferences.time,
            weekdays=preferences.weekdays,
            ledger=None if ledger is None else ledger.release(id),
        )
        return cls(
            id=id,
            protocol=protocol,
            clinic=clinic,
            start=start,
            sessions=laid.sessions,
            preferences=preferences,
            patient=patient,
            calendar=calendar,
            documents=documents,
            doses=doses,
            pending=tuple(PendingPhase(phase, reason) for phase, reason in laid.pending),
            history=(
                Revision(
                    1, now, "created", reason=f"scheduled from protocol {protocol.name!r}", by=by
                ),
            ),
            language=language,
        )

    @property
    def revision(self) -> int:
        """The number of the current revision (0 before any is recorded)."""
        return self.history[-1].number if self.history else 0

    def session(self, key: str) -> Session:
        """The session with ``key``, or a :class:`SpecError` naming the valid keys."""
        for session in self.sessions:
            if session.key == key:
                return session
        raise SpecError(
            "session", key, f"plan {self.id!r} has no such session; see its session keys"
        )

    def template(self, session: Session) -> SessionTemplate:
        """The session template ``session`` follows."""
        return self.protocol.template(session.template)

    def uid(self, session: Session) -> str:
        """A calendar UID for ``session``: stable, and free of personal data."""
        digest = hashlib.sha256(f"{self.id}\x00{session.key}".encode()).hexdigest()[:32]
        return f"{digest}@ketaplan"

    def phase_count(self, phase: str, kind: SessionKind) -> int:
        """How many sessions of ``kind`` the phase has."""
        return sum(1 for s in self.sessions if s.phase == phase and s.kind is kind)

    def dose_entries(self, session: Session) -> dict[str, Quantity]:
        """The dose values entered for ``session``: plan-wide entries, then the session's own."""
        values = {entry.field: entry.quantity for entry in self.doses if entry.session is None}
        values.update(
            {entry.field: entry.quantity for entry in self.doses if entry.session == session.key}
        )
        return values

    def derived(self, session: Session) -> list[DerivedValue]:
        """Values derived from the dose entries of ``session``, for those whose inputs are all entered."""
        fields: Mapping[str, DoseField] = {
            field.name: field for field in self.protocol.route.dose_fields
        }
        entries = self.dose_entries(session)
        found = (rule.compute(fields, entries) for rule in self.protocol.route.derived)
        return [value for value in found if value is not None]

    def missing(self, *, language: str = DEFAULT_LANGUAGE) -> list[str]:
        """Everything that keeps this plan a draft, in plain words (in ``language``; the
        scheduler's reasons and the review flags stay as they were recorded)."""
        _ = _language(language).gettext
        gaps = []
        required = [field for field in self.protocol.route.dose_fields if field.required]
        dosing = [
            s
            for s in self.sessions
            if s.kind is SessionKind.DOSING and s.status is SessionStatus.SCHEDULED
        ]
        for field in required:
            empty = [s.key for s in dosing if field.name not in self.dose_entries(s)]
            if empty:
                where = _("every dosing session") if len(empty) == len(dosing) else ", ".join(empty)
                gaps.append(
                    _("%(field)s (%(unit)s) is blank for %(where)s")
                    % {"field": field.label, "unit": field.unit, "where": where}
                )
        gaps.extend(
            _("phase %(phase)s is not dated: %(reason)s")
            % {"phase": repr(p.phase), "reason": p.reason}
            for p in self.pending
        )
        gaps.extend(
            _("for the clinician's review: %(flag)s") % {"flag": flag} for flag in self.flags
        )
        if self.signoff is None:
            gaps.append(_("no clinician has signed the plan"))
        return gaps

    @property
    def is_draft(self) -> bool:
        """Whether the plan still has blanks or lacks a sign-off."""
        return bool(self.missing())


#: Protocols put into a plan's language, by the protocol as loaded: (loaded, language, result).
_LOCALIZED: list[tuple[Protocol, str, Protocol]] = []
#: Every protocol :func:`localized` made that is still in use, by its ``id`` and language:
#: it is in that language already (it has no translations left to look up). An entry goes
#: when its protocol does, so the ``id`` of another protocol never finds it.
_IN_LANGUAGE: weakref.WeakValueDictionary[tuple[int, str], Protocol] = weakref.WeakValueDictionary()


def localized(plan: Plan) -> Plan:
    """``plan`` with its protocol's texts in the plan's language (:meth:`Protocol.in_language`),
    for what the patient and the clinician read. A protocol is put into a language once:
    asking again for the same protocol, or for one already put into it, gives it back."""
    if plan.language == DEFAULT_LANGUAGE:
        return plan
    protocol = plan.protocol
    if _IN_LANGUAGE.get((id(protocol), plan.language)) is protocol:
        return plan
    for loaded, language, result in _LOCALIZED:
        if language == plan.language and protocol is loaded:
            return attrs.evolve(plan, protocol=result)
    result = protocol.in_language(plan.language)
    _LOCALIZED.append((protocol, plan.language, result))
    del _LOCALIZED[:-8]
    _IN_LANGUAGE[(id(result), plan.language)] = result
    return attrs.evolve(plan, protocol=result)
