"""A plan as a FHIR R4 transaction Bundle, built as plain JSON-ready dicts.

The Bundle holds a CarePlan for the plan, an Appointment for every session, a
MedicationRequest for every dosing phase and a ServiceRequest for every
questionnaire due (``docs/fhir.md`` maps every element). Each resource carries
a stable identifier in ketaplan's identifier system (by default
:data:`IDENTIFIER_SYSTEM`), and each entry is a conditional update on it
(``PUT Appointment?identifier=<system>|<plan id>/<session key>``), so posting
the Bundle again after a revision updates the same resources instead of
adding new ones. Entries refer to each other by ``urn:uuid`` full URLs made
from those identifiers, which a server rewrites to the resources it keeps.

Safety: no dose value appears unless a clinician entered it. A Dosage says in
``text`` that the dose is the clinician's to set, and carries ``doseAndRate``
only from entered values (and values derived from them). Privacy: the patient
is referenced by the plan's patient reference, never by name, unless the
plan's privacy level is ``full``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import html
import json
import urllib.parse
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from .._dosing import Quantity
from .._plan import Plan
from .._protocol import Cadence, Every, Offsets, PerWeek, Phase, Protocol, SessionKind, Taper
from .._session import Session, SessionStatus
from .._units import DurationRange, Interval
from ..exceptions import SpecError

__all__ = [
    "IDENTIFIER_SYSTEM",
    "INSTRUMENTS",
    "MEDICATIONS",
    "PATIENT_SYSTEM",
    "SESSION_KIND_SYSTEM",
    "plan_to_fhir",
    "render_fhir",
]

JSON = dict[str, Any]

#: The identifier system of every resource ketaplan exports (pass your own to
#: :func:`plan_to_fhir` to keep identifiers apart between installations).
IDENTIFIER_SYSTEM = "urn:ketaplan:id"
#: The identifier system of a plan's patient reference (``[patient] ref``),
#: unless the caller names the EHR's own.
PATIENT_SYSTEM = "urn:ketaplan:patient"
#: The code system of the kinds of session (``dosing``, ``integration``...).
SESSION_KIND_SYSTEM = "urn:ketaplan:session-kind"

SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
APPOINTMENT_TYPES = "http://terminology.hl7.org/CodeSystem/v2-0276"
DOSE_RATE_TYPES = "http://terminology.hl7.org/CodeSystem/dose-rate-type"
XHTML = "http://www.w3.org/1999/xhtml"

#: Product codes by (drug, route): SNOMED CT medicinal products and RxNorm
#: clinical drug forms, each confirmed in a published source (docs/fhir.md
#: cites them). A drug and route with no confirmed code have none here.
MEDICATIONS: dict[tuple[str, str], tuple[JSON, ...]] = {
    ("esketamine", "intranasal"): (
        {
            "system": SNOMED,
            "code": "789488000",
            "display": "Product containing esketamine in nasal dose form (medicinal product form)",
        },
        {"system": RXNORM, "code": "2201623", "display": "esketamine Nasal Spray"},
    ),
    **{
        ("ketamine", route): (
            {
                "system": SNOMED,
                "code": "714231007",
                "display": "Product containing ketamine in parenteral dose form (medicinal product form)",
            },
        )
        for route in ("intravenous", "intramuscular")
    },
    **{
        ("ketamine", route): (
            {
                "system": SNOMED,
                "code": "333847008",
                "display": "Product containing ketamine (medicinal product)",
            },
        )
        for route in ("intranasal", "oral", "sublingual")
    },
}

#: LOINC codes of the questionnaires, by the name a protocol gives them.
INSTRUMENTS: dict[str, JSON] = {
    "PHQ-9": {
        "system": LOINC,
        "code": "44249-1",
        "display": "PHQ-9 quick depression assessment panel [Reported.PHQ]",
    },
    # The code is confirmed (docs/fhir.md), its LOINC display name is not: left out.
    "GAD-7": {"system": LOINC, "code": "69737-5"},
}

#: HL7 v2 table 0276 appointment reason codes (codes only).
_APPOINTMENT_TYPE = {SessionKind.FOLLOW_UP: "FOLLOWUP"}
_ROUTINE = "ROUTINE"
_PERIOD_UNITS = {"days": "d", "weeks": "wk", "months": "mo"}
_DAYS_PER = {"days": 1, "weeks": 7}
_UCUM_UNITS = frozenset({"mg", "mg/kg", "kg", "min", "h", "d", "wk", "mo"})
#: Dose fields whose unit makes them the dose itself (the rest say how it is given).
_DOSE_UNITS = ("mg", "mg/kg")
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:ketaplan")


def render_fhir(plan: Plan, *, now: dt.datetime) -> bytes:
    """The plan's Bundle as the ``<plan id>.fhir.json`` file writes it."""
    bundle = plan_to_fhir(plan, now=now)
    return (json.dumps(bundle, indent=2, ensure_ascii=False) + "\n").encode()


def plan_to_fhir(
    plan: Plan,
    *,
    now: dt.datetime | None = None,
    system: str | None = None,
    patient_system: str | None = None,
) -> JSON:
    """The plan as a FHIR R4 transaction Bundle (a dict ready for :func:`json.dumps`).

    ``now``, if given, is the Bundle's ``timestamp`` (an aware datetime).
    ``system`` is the identifier system of the exported resources and
    ``patient_system`` that of the plan's patient reference (by default the
    plan's ``[fhir]`` settings, else :data:`IDENTIFIER_SYSTEM` and
    :data:`PATIENT_SYSTEM`); when the plan has no patient reference, the
    patient is referred to as ``<plan id>/patient`` in ``system``. Posting the
    Bundle as a transaction again after a revision updates the resources it
    made before.
    """
    system = system or plan.fhir.system or IDENTIFIER_SYSTEM
    patient_system = patient_system or plan.fhir.patient_system or PATIENT_SYSTEM
    for name, value in (("system", system), ("patient_system", patient_system)):
        if not isinstance(value, str) or not value or any(c.isspace() for c in value):
            raise SpecError(name, value, "expected a URI without spaces, e.g. 'urn:ketaplan:id'")
    export = _Export(plan, system, patient_system)
    bundle: JSON = {"resourceType": "Bundle", "type": "transaction"}
    if now is not None:
        if now.tzinfo is None or now.utcoffset() is None:
            raise SpecError("now", now, "expected an aware datetime (with a time zone)")
        bundle["timestamp"] = now.isoformat()
    bundle["entry"] = export.entries()
    return bundle


class _Export:
    """One plan's resources, and how they refer to each other."""

    def __init__(self, plan: Plan, system: str, patient_system: str) -> None:
        self.plan = plan
        self.system = system
        self.zone = plan.clinic.zone
        self.ceased = any(revision.action == "cease" for revision in plan.history)
        ref = plan.patient.ref
        self.patient: JSON = {
            "type": "Patient",
            "identifier": {"system": patient_system, "value": ref}
            if ref
            else {"system": system, "value": f"{plan.id}/patient"},
        }
        if plan.calendar.privacy == "full" and plan.patient.name:
            self.patient["display"] = plan.patient.name
        self.care_plan = self._entry("CarePlan", plan.id)

    # -- entries ------------------------------------------------------------------

    def entries(self) -> list[JSON]:
        plan = self.plan
        appointments = [
            (self._entry("Appointment", f"{plan.id}/{s.key}"), self._appointment(s))
            for s in plan.sessions
        ]
        medications = [
            (self._entry("MedicationRequest", f"{plan.id}/{phase.name}/medication"), resource)
            for phase, resource in self._medication_requests()
        ]
        questionnaires = [
            (
                self._entry("ServiceRequest", f"{plan.id}/{s.key}/{instrument}"),
                self._service_request(s, instrument),
            )
            for s in plan.sessions
            for instrument in s.assessments
        ]
        rest = [*appointments, *medications, *questionnaires]
        activity = [{"reference": _reference(entry)} for entry, _ in rest]
        found = [(self.care_plan, self._care_plan(activity)), *rest]
        result = []
        for entry, resource in found:
            resource = {
                "resourceType": entry["type"],
                "identifier": [entry["identifier"]],
                **resource,
            }
            result.append(
                {
                    "fullUrl": entry["fullUrl"],
                    "resource": resource,
                    "request": {"method": "PUT", "url": entry["url"]},
                }
            )
        return result

    def _entry(self, kind: str, value: str) -> JSON:
        """The identifier, full URL and conditional-update URL of one resource."""
        identifier = {"system": self.system, "value": value}
        query = f"{_quote(self.system)}|{_quote(value)}"
        return {
            "type": kind,
            "identifier": identifier,
            "fullUrl": f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{kind}|{self.system}|{value}')}",
            "url": f"{kind}?identifier={query}",
        }

    # -- CarePlan -----------------------------------------------------------------

    def _care_plan(self, activity: list[JSON]) -> JSON:
        plan = self.plan
        days = [self._day(s) for s in plan.sessions]
        period: JSON = {"start": plan.start.isoformat()}
        if days:
            period["end"] = max(days).isoformat()
        resource: JSON = {
            "text": {"status": "generated", "div": self._care_plan_text()},
            "status": self._care_plan_status(),
            "intent": "plan",
            "title": plan.protocol.title,
            "description": plan.protocol.summary or plan.protocol.title,
            "subject": self.patient,
            "period": period,
        }
        if plan.history:
            resource["created"] = plan.history[0].at.isoformat()
        if activity:
            resource["activity"] = activity
        return resource

    def _care_plan_status(self) -> str:
        plan = self.plan
        if self.ceased:
            return "revoked"
        if plan.is_draft:
            return "draft"
        done = all(s.status is not SessionStatus.SCHEDULED for s in plan.sessions)
        if plan.sessions and done and not plan.pending:
            return "completed"
        return "active"

    def _care_plan_text(self) -> str:
        plan = self.plan
        protocol = plan.protocol
        pending = {p.phase: p.reason for p in plan.pending}
        phases = []
        for phase in protocol.phases:
            days = sorted(self._day(s) for s in plan.sessions if s.phase == phase.name)
            if days:
                when = f"{days[0].isoformat()} to {days[-1].isoformat()}"
            else:
                when = f"not dated yet: {pending.get(phase.name, 'no sessions')}"
            phases.append(f"{phase.title}: {phase.cadence}; {when}")
        sources = [f"{key}: {text}" for key, text in protocol.cited_sources().items()]
        return narrative(
            heading(protocol.title),
            paragraph(protocol.summary),
            paragraph(f"Route: {protocol.route.title}. Drug: {protocol.drug}."),
            paragraph("Phases:"),
            bullet_list(phases),
            paragraph("Sources:"),
            bullet_list(sources),
        )

    # -- Appointment --------------------------------------------------------------

    def _appointment(self, session: Session) -> JSON:
        plan = self.plan
        template = plan.template(session)
        kind = session.kind
        code = _APPOINTMENT_TYPE.get(kind, _ROUTINE)
        participants = [{"actor": self.patient, "status": self._participation(session)}]
        location = ", ".join(part for part in (plan.clinic.name, plan.clinic.address) if part)
        if template.setting == "clinic" and location:
            participants.append(
                {"actor": {"type": "Location", "display": location}, "status": "accepted"}
            )
        resource: JSON = {
            "status": self._appointment_status(session),
            "serviceType": [
                {
                    "coding": [
                        {"system": SESSION_KIND_SYSTEM, "code": kind.value, "display": kind.label}
                    ],
                    "text": kind.label,
                }
            ],
            "appointmentType": {"coding": [{"system": APPOINTMENT_TYPES, "code": code}]},
            "description": template.title,
            "start": session.start.astimezone(self.zone).isoformat(),
            "end": session.end.astimezone(self.zone).isoformat(),
            "minutesDuration": max(1, int(session.duration.total_seconds()) // 60),
        }
        comment = self._moved_because(session)
        if comment:
            resource["comment"] = comment
        if template.preparation:
            resource["patientInstruction"] = "\n".join(template.preparation)
        resource["participant"] = participants
        return resource

    def _appointment_status(self, session: Session) -> str:
        if session.status is SessionStatus.CANCELLED:
            return "cancelled"
        if session.status is SessionStatus.MISSED:
            return "noshow"
        if session.status is SessionStatus.COMPLETED:
            return "fulfilled"
        return "proposed" if self.plan.is_draft else "booked"

    def _participation(self, session: Session) -> str:
        if session.status is SessionStatus.SCHEDULED and self.plan.is_draft:
            return "needs-action"
        return "accepted"

    def _moved_because(self, session: Session) -> str:
        """Why the session is not where its cadence put it: each day passed over and
        why, then each revision that moved it, with its reason."""
        parts = [f"Not on {move}" for move in session.moves]
        prefix = f"{session.key}: moved to "
        for revision in self.plan.history:
            if any(change.startswith(prefix) for change in revision.changes):
                why = f": {revision.reason}" if revision.reason else ""
                parts.append(f"{revision.action} on {revision.at.date().isoformat()}{why}")
        return "; ".join(parts)

    # -- MedicationRequest --------------------------------------------------------

    def _medication_requests(self) -> Iterable[tuple[Phase, JSON]]:
        plan = self.plan
        protocol = plan.protocol
        dosing = [
            phase
            for phase in protocol.phases
            if protocol.template(phase.session).kind is SessionKind.DOSING
        ]
        medication = medication_concept(protocol)
        for number, phase in enumerate(dosing, start=1):
            sessions = [
                s for s in plan.sessions if s.phase == phase.name and s.kind is SessionKind.DOSING
            ]
            dosage: JSON = {
                "sequence": number,
                "text": self._dosage_text(phase, sessions),
                "timing": timing(phase.cadence, sorted(self._day(s) for s in sessions)),
                "route": route_concept(protocol),
            }
            dose = self._dose_and_rate(sessions)
            if dose:
                dosage["doseAndRate"] = dose
            yield (
                phase,
                {
                    "status": self._medication_status(sessions),
                    "intent": "plan",
                    "medicationCodeableConcept": medication,
                    "subject": self.patient,
                    "basedOn": [_reference(self.care_plan)],
                    "dosageInstruction": [dosage],
                },
            )

    def _medication_status(self, sessions: Sequence[Session]) -> str:
        if not self.ceased:
            return "draft"
        given = any(s.status is SessionStatus.COMPLETED for s in sessions)
        return "stopped" if given else "cancelled"

    def _entries(
        self, sessions: Sequence[Session]
    ) -> list[tuple[Session | None, dict[str, Quantity]]]:
        """The clinician's entries for each of the phase's sessions that are still to come
        or took place (plan-wide entries alone for a phase with no dated session)."""
        plan = self.plan
        counted = [s for s in sessions if s.status is not SessionStatus.CANCELLED]
        if not counted:
            everywhere = {e.field: e.quantity for e in plan.doses if e.session is None}
            return [(None, everywhere)]
        return [(s, plan.dose_entries(s)) for s in counted]

    def _dosage_text(self, phase: Phase, sessions: Sequence[Session]) -> str:
        route = self.plan.protocol.route
        per_session = self._entries(sessions)
        first = per_session[0][1]
        uniform = all(values == first for _, values in per_session)
        lines = []
        blank = [
            f"{field.label} ({field.unit})"
            for field in route.dose_fields
            if not (uniform and field.name in first)
        ]
        if uniform and first:
            entered = ", ".join(
                f"{field.label} {first[field.name]}"
                for field in route.dose_fields
                if field.name in first
            )
            lines.append(f"Entered by the clinician for {phase.title}: {entered}.")
            session = per_session[0][0]
            if session is not None:
                lines.extend(f"{v.label}: {v.explain()}." for v in self.plan.derived(session))
        elif not uniform:
            shown = []
            for session, values in per_session:
                if values and session is not None:
                    entered = ", ".join(
                        f"{field.label} {values[field.name]}"
                        for field in route.dose_fields
                        if field.name in values
                    )
                    shown.append(f"{session.key}: {entered}")
            lines.append("Entered by the clinician, by session: " + "; ".join(shown) + ".")
        if blank:
            where = "for each session" if uniform else "where not entered above"
            lines.append(f"Dose to be set by the clinician {where}: {', '.join(blank)}.")
        lines.append("ketaplan never sets a dose.")
        return " ".join(lines)

    def _dose_and_rate(self, sessions: Sequence[Session]) -> list[JSON]:
        """``doseAndRate`` from the entered dose (``ordered``) and the dose derived from
        the entries (``calculated``), when every session of the phase has the same
        entries; nothing otherwise."""
        plan = self.plan
        per_session = self._entries(sessions)
        first = per_session[0][1]
        if not first or any(values != first for _, values in per_session):
            return []
        found: list[JSON] = []
        for field in plan.protocol.route.dose_fields:
            if field.name in first and field.unit in _DOSE_UNITS:
                found.append(_dose("ordered", first[field.name]))
                break
        session = per_session[0][0]
        if session is not None:
            found.extend(
                _dose("calculated", value.quantity)
                for value in plan.derived(session)
                if value.quantity.unit in _DOSE_UNITS
            )
        return found

    # -- ServiceRequest -----------------------------------------------------------

    def _service_request(self, session: Session, instrument: str) -> JSON:
        code: JSON = {"text": instrument}
        if instrument in INSTRUMENTS:
            code = {"coding": [dict(INSTRUMENTS[instrument])], "text": instrument}
        return {
            "status": self._request_status(session),
            "intent": "plan",
            "code": code,
            "subject": self.patient,
            "basedOn": [_reference(self.care_plan)],
            "occurrenceDateTime": self._day(session).isoformat(),
        }

    def _request_status(self, session: Session) -> str:
        if session.status is SessionStatus.COMPLETED:
            return "completed"
        if session.status is not SessionStatus.SCHEDULED or self.ceased:
            return "revoked"
        return "draft" if self.plan.is_draft else "active"

    def _day(self, session: Session) -> dt.date:
        return session.start.astimezone(self.zone).date()


# -- shared with the PlanDefinition -------------------------------------------------


def timing(cadence: Cadence, days: Sequence[dt.date] = ()) -> JSON:
    """A Timing for a phase's cadence, bounded by the dates of its sessions if any.

    Without dates (a protocol, or a phase not dated yet) a per-week cadence is
    bounded by its number of weeks instead.
    """
    repeat: JSON = {}
    if days:
        repeat["boundsPeriod"] = {"start": days[0].isoformat(), "end": days[-1].isoformat()}
    elif isinstance(cadence, PerWeek):
        repeat["boundsDuration"] = duration_of(Interval(cadence.weeks, "weeks"))
    elif isinstance(cadence, Every) and cadence.until is not None:
        repeat["boundsPeriod"] = {"end": cadence.until.isoformat()}
    if isinstance(cadence, PerWeek):
        repeat["count"] = cadence.sessions
        repeat["frequency"] = cadence.low
        if cadence.high != cadence.low:
            repeat["frequencyMax"] = cadence.high
        repeat["period"] = 1
        repeat["periodUnit"] = "wk"
    elif isinstance(cadence, Every):
        if cadence.sessions is not None:
            repeat["count"] = cadence.sessions
        repeat["frequency"] = 1
        low, high = cadence.interval.low, cadence.interval.high
        if low.unit != high.unit and low.unit in _DAYS_PER and high.unit in _DAYS_PER:
            low = Interval(low.amount * _DAYS_PER[low.unit], "days")
            high = Interval(high.amount * _DAYS_PER[high.unit], "days")
        repeat["period"] = low.amount
        if high.unit == low.unit and high.amount != low.amount:
            repeat["periodMax"] = high.amount
        repeat["periodUnit"] = _PERIOD_UNITS[low.unit]
    elif isinstance(cadence, Offsets):
        repeat["count"] = len(cadence.offsets)
    elif isinstance(cadence, Taper):
        repeat["count"] = len(cadence.intervals)
    return {"repeat": repeat}


def duration_of(interval: Interval) -> JSON:
    """A calendar interval as a FHIR Duration in UCUM (``d``, ``wk`` or ``mo``)."""
    code = _PERIOD_UNITS[interval.unit]
    return {"value": interval.amount, "unit": interval.unit, "system": UCUM, "code": code}


def exact_duration(value: dt.timedelta) -> JSON:
    """An exact duration as a FHIR Duration in whole hours or minutes (seconds if need be)."""
    seconds = int(value.total_seconds())
    if value != dt.timedelta(seconds=seconds):
        raise SpecError("duration", str(value), "expected a whole number of seconds")
    if seconds % 3600 == 0:
        return {"value": seconds // 3600, "unit": "h", "system": UCUM, "code": "h"}
    if seconds % 60 == 0:
        return {"value": seconds // 60, "unit": "min", "system": UCUM, "code": "min"}
    return {"value": seconds, "unit": "s", "system": UCUM, "code": "s"}


def window_range(window: DurationRange) -> JSON:
    """A companion's window as a FHIR Range of two durations in one unit."""
    low, high = exact_duration(window.low), exact_duration(window.high)
    if low["code"] != high["code"]:
        unit = "min" if "s" not in (low["code"], high["code"]) else "s"
        size = 60 if unit == "min" else 1
        low = {**low, "value": int(window.low.total_seconds()) // size, "unit": unit, "code": unit}
        high = {
            **high,
            "value": int(window.high.total_seconds()) // size,
            "unit": unit,
            "code": unit,
        }
    return {"low": low, "high": high}


def route_concept(protocol: Protocol) -> JSON:
    """The route as a CodeableConcept with its SNOMED CT code."""
    route = protocol.route
    concept: JSON = {"text": route.title}
    if route.snomed:
        concept = {"coding": [{"system": SNOMED, "code": route.snomed}], "text": route.title}
    return concept


def medication_concept(protocol: Protocol) -> JSON:
    """The drug for the protocol's route, with the product codes known for it."""
    codings = MEDICATIONS.get((protocol.drug, protocol.route.name), ())
    concept: JSON = {"text": f"{protocol.drug} ({protocol.route.title.lower()})"}
    if codings:
        concept = {"coding": [dict(c) for c in codings], **concept}
    return concept


def _reference(entry: JSON) -> JSON:
    """A reference to another entry of the Bundle, by its full URL and with its type."""
    return {"reference": entry["fullUrl"], "type": entry["type"]}


def _dose(kind: str, quantity: Quantity) -> JSON:
    value: JSON = {"value": _number(quantity.value), "unit": quantity.unit}
    if quantity.unit in _UCUM_UNITS:
        value.update(system=UCUM, code=quantity.unit)
    return {
        "type": {"coding": [{"system": DOSE_RATE_TYPES, "code": kind}]},
        "doseQuantity": value,
    }


def _number(value: decimal.Decimal) -> int | float:
    """A decimal as a JSON number: exact for every entry a dose field accepts."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe=":/@-._~")


# -- narrative ------------------------------------------------------------------------


def narrative(*parts: str) -> str:
    """An XHTML narrative ``div`` of the given paragraphs and lists."""
    return f'<div xmlns="{XHTML}">' + "".join(parts) + "</div>"


def paragraph(text: str) -> str:
    """One escaped paragraph (nothing for empty text)."""
    return f"<p>{html.escape(text, quote=False)}</p>" if text else ""


def heading(text: str) -> str:
    """One escaped paragraph in bold."""
    return f"<p><b>{html.escape(text, quote=False)}</b></p>"


def bullet_list(items: Iterable[str]) -> str:
    """An escaped bullet list (nothing for no items)."""
    listed = "".join(f"<li>{html.escape(item, quote=False)}</li>" for item in items)
    return f"<ul>{listed}</ul>" if listed else ""
