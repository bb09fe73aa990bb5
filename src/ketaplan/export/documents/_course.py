"""A plan prepared once for its documents, and the heading both documents share.

Every view model reads the plan through a :class:`Course`: the sessions in
time order, grouped by phase, counted by phase and kind, and the dose entries
by session, each computed in one pass over the plan. Building a document is
then linear in the number of sessions.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Sequence

from ..._dosing import DerivedValue, DoseField, Quantity
from ..._i18n import Language, language
from ..._plan import Plan, localized
from ..._protocol import SessionKind, SessionTemplate
from ..._session import Session, SessionStatus
from ._format import check_aware, span, stamp, zone_place


class Course:
    """``plan`` laid out for its documents, in one pass over its sessions and dose entries."""

    def __init__(self, plan: Plan) -> None:
        plan = localized(plan)
        self.plan = plan
        """The plan, its protocol's texts in the plan's language."""
        self.words: Language = language(plan.language)
        """The plan's language: its texts and its forms of dates, times and numbers."""
        self.zone: zoneinfo.ZoneInfo = plan.clinic.zone
        self.sessions: tuple[Session, ...] = tuple(
            sorted(plan.sessions, key=lambda s: (s.start, s.key))
        )
        """Every session, in time order."""
        by_phase: dict[str, list[Session]] = {phase.name: [] for phase in plan.protocol.phases}
        counts: dict[tuple[str, SessionKind], int] = {}
        for session in self.sessions:
            found = by_phase.get(session.phase)
            if found is not None:
                found.append(session)
            group = (session.phase, session.kind)
            counts[group] = counts.get(group, 0) + 1
        self.phases: tuple[tuple[str, list[Session]], ...] = tuple(by_phase.items())
        """The protocol's phases in order, each with its sessions in time order."""
        self._counts = counts
        self._pending: dict[str, str] = {}
        for pending in plan.pending:
            self._pending.setdefault(pending.phase, pending.reason)
        self._plan_wide: dict[str, Quantity] = {}
        self._own: dict[str, dict[str, Quantity]] = {}
        for entry in plan.doses:
            if entry.session is None:
                self._plan_wide[entry.field] = entry.quantity
            else:
                self._own.setdefault(entry.session, {})[entry.field] = entry.quantity
        self._fields: dict[str, DoseField] = {
            field.name: field for field in plan.protocol.route.dose_fields
        }
        self._templates: dict[str, SessionTemplate] = {}
        for template in plan.protocol.sessions:  # the first of a name, as Protocol.template
            self._templates.setdefault(template.name, template)
        self._titles: dict[str, str] = {}
        self._spans: dict[str, str] = {}
        self._whens: dict[str, str] = {}
        self._missing: tuple[str, ...] | None = None

    def local(self, moment: dt.datetime) -> dt.datetime:
        """``moment`` in the clinic's zone."""
        return moment.astimezone(self.zone)

    def template(self, session: Session) -> SessionTemplate:
        """The session template ``session`` follows."""
        return self._templates[session.template]

    def title(self, session: Session) -> str:
        """``"IV infusion session (2 of 6)"``."""
        title = self._titles.get(session.key)
        if title is None:
            title = self._titles[session.key] = self._title(session)
        return title

    def _title(self, session: Session) -> str:
        template = self.template(session)
        total = self._counts.get((session.phase, session.kind), 0)
        if total <= 1:
            return template.title
        return self.words.gettext("%(title)s (%(index)d of %(total)d)") % {
            "title": template.title,
            "index": session.index,
            "total": total,
        }

    def span(self, session: Session) -> str:
        """``"09:30-10:30 EST"`` (:func:`span`, with the zone): the clinician's session list
        shows it, and each dosing session's form and assessments in :meth:`when`."""
        found = self._spans.get(session.key)
        if found is None:
            start, end = self.local(session.start), self.local(session.end)
            found = self._spans[session.key] = span(start, end, self.words, with_zone=True)
        return found

    def when(self, session: Session) -> str:
        """``"Tuesday 16 February 2027, 09:30-10:30 EST"`` (with the zone)."""
        found = self._whens.get(session.key)
        if found is None:
            day = self.words.long_date(self.local(session.start).date())
            found = self._whens[session.key] = f"{day}, {self.span(session)}"
        return found

    def missing(self) -> tuple[str, ...]:
        """Everything that keeps the plan a draft (:meth:`Plan.missing`), in its language."""
        if self._missing is None:
            self._missing = tuple(self.plan.missing(language=self.plan.language))
        return self._missing

    def pending(self, phase: str) -> str:
        """Why ``phase`` is not dated yet, or ``""`` when it is."""
        return self._pending.get(phase, "")

    def own_doses(self, session: Session) -> dict[str, Quantity]:
        """The dose entries made for ``session`` alone, by field name."""
        return self._own.get(session.key, {})

    def dose_entries(self, session: Session | None) -> dict[str, Quantity]:
        """The dose values entered for ``session``: plan-wide entries, then the session's own
        (``None``: the plan-wide entries only)."""
        if session is None:
            return dict(self._plan_wide)
        return {**self._plan_wide, **self.own_doses(session)}

    def derived(self, entries: dict[str, Quantity]) -> list[DerivedValue]:
        """Values derived from ``entries``, for those whose inputs are all entered."""
        found = (rule.compute(self._fields, entries) for rule in self.plan.protocol.route.derived)
        return [value for value in found if value is not None]

    def date_range(self, sessions: Sequence[Session]) -> str:
        """``"Monday 11 January 2027 to Friday 5 March 2027"`` for the sessions not cancelled."""
        days = [
            self.local(s.start).date() for s in sessions if s.status is not SessionStatus.CANCELLED
        ]
        if not days:
            return ""
        first, last = min(days), max(days)
        if first == last:
            return self.words.long_date(first)
        return self.words.gettext("%(first)s to %(last)s") % {
            "first": self.words.long_date(first),
            "last": self.words.long_date(last),
        }


class Heading:
    """What both documents of a plan say at the top."""

    __slots__ = (
        "clinic_address",
        "clinic_name",
        "clinic_phone",
        "clinic_phone_link",
        "draft",
        "generated",
        "missing",
        "patient_name",
        "patient_ref",
        "plan_id",
        "protocol",
        "revision",
        "title",
        "zone",
        "zone_place",
    )

    def __init__(
        self,
        title: str,
        protocol: str,
        clinic_name: str,
        clinic_address: str,
        clinic_phone: str,
        clinic_phone_link: str,
        zone: str,
        zone_place: str,
        patient_name: str,
        patient_ref: str,
        plan_id: str,
        revision: int,
        generated: str,
        draft: bool,
        missing: tuple[str, ...],
    ) -> None:
        self.title = title
        self.protocol = protocol
        self.clinic_name = clinic_name
        self.clinic_address = clinic_address
        self.clinic_phone = clinic_phone
        self.clinic_phone_link = clinic_phone_link
        """``clinic_phone`` as a ``tel:`` link a phone can dial, or ``""``: see :func:`phone_link`."""
        self.zone = zone
        self.zone_place = zone_place
        self.patient_name = patient_name
        self.patient_ref = patient_ref
        self.plan_id = plan_id
        self.revision = revision
        self.generated = generated
        self.draft = draft
        self.missing = missing


def heading(course: Course, now: dt.datetime, title: str) -> Heading:
    """The heading of one of ``course``'s documents, generated at ``now``."""
    check_aware(now)
    plan = course.plan
    clinic = plan.clinic
    missing = course.missing()
    return Heading(
        title=title,
        protocol=plan.protocol.title,
        clinic_name=clinic.name,
        clinic_address=clinic.address,
        clinic_phone=clinic.phone,
        clinic_phone_link=phone_link(clinic.phone),
        zone=clinic.timezone,
        zone_place=zone_place(clinic.timezone),
        patient_name=plan.patient.name,
        patient_ref=plan.patient.ref,
        plan_id=plan.id,
        revision=plan.revision,
        generated=stamp(now, course.zone, course.words),
        draft=bool(missing),
        missing=missing,
    )


_EXTENSION = re.compile(r"[\s,;]*(?:ext\.?|extension|x|poste|p\.)\s*(\d+)\s*$", re.IGNORECASE)


def phone_link(phone: str) -> str:
    """``phone`` as a ``tel:`` URI (RFC 3966) that a tap on a phone dials: its digits, a
    leading ``+`` kept, an extension ("ext. 12", "x12", "poste 12") as ``;ext=12``.

    ``""`` when ``phone`` cannot be dialled as written: fewer than three digits, or
    letters (a vanity number such as 1-800-KETAMINE), which would dial a wrong number.
    """
    number, extension = phone, ""
    found = _EXTENSION.search(phone)
    if found:
        number, extension = phone[: found.start()], f";ext={found.group(1)}"
    if any(char.isalpha() for char in number):
        return ""
    digits = "".join(char for char in number if char in "0123456789")
    if len(digits) < 3:
        return ""
    plus = "+" if number.lstrip().startswith("+") else ""
    return f"tel:{plus}{digits}{extension}"
