"""Protocols: reusable treatment templates with no dates and no doses.

A :class:`Protocol` names a :class:`Route` and a sequence of :class:`Phase` s.
Each phase has a cadence (:class:`PerWeek`, :class:`Every` or
:class:`Offsets`), the session template its sessions use and the
:class:`Companion` sessions tied to them. :class:`AssessmentRule` s say when
questionnaires fall due; a :class:`MonitoringForm` is paperwork due after each
dosing session.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from typing import Literal

import attrs

from ._dosing import Derived, DoseField
from ._limits import MAX_SESSIONS_PER_PHASE, check_date, check_sessions
from ._units import DurationRange, Interval, IntervalRange, Weekday
from ._values import to_tuple
from .exceptions import SpecError

__all__ = [
    "AssessmentRule",
    "Checkpoint",
    "Companion",
    "Every",
    "LatenessRule",
    "MonitoringForm",
    "Offsets",
    "PerWeek",
    "Phase",
    "Protocol",
    "Route",
    "SessionKind",
    "SessionTemplate",
    "Taper",
]


class SessionKind(enum.StrEnum):
    """What a session is for."""

    DOSING = "dosing"
    INTEGRATION = "integration"
    CONSULTATION = "consultation"
    PREPARATION = "preparation"
    ASSESSMENT = "assessment"
    FOLLOW_UP = "follow-up"

    @property
    def label(self) -> str:
        """Plain-language name: ``"Integration session"``."""
        return _KIND_LABELS[self]


_KIND_LABELS = {
    SessionKind.DOSING: "Treatment session",
    SessionKind.INTEGRATION: "Integration session",
    SessionKind.CONSULTATION: "Consultation",
    SessionKind.PREPARATION: "Preparation session",
    SessionKind.ASSESSMENT: "Review and assessment",
    SessionKind.FOLLOW_UP: "Follow-up",
}

Setting = Literal["clinic", "home", "telehealth"]


@attrs.frozen
class Checkpoint:
    """A timed event inside a session: blood pressure at +40 min, discharge at +120 min."""

    at: dt.timedelta
    label: str
    sources: tuple[str, ...] = attrs.field(default=(), converter=to_tuple)


@attrs.frozen
class SessionTemplate:
    """How one kind of session runs: length, place, checkpoints and instructions.

    ``preparation``, ``during`` and ``aftercare`` are plain-language lines for
    the patient; ``uses_chair`` says whether the session takes one of the
    clinic's treatment chairs. ``resource`` names what the session holds in
    the clinic's :class:`~ketaplan.Ledger` (``"chair"`` by default when it
    uses a chair, ``""`` for nothing; another name such as
    ``"therapy-room"`` for a room the clinic counts).

    ``calendar_preparation`` and ``calendar_aftercare`` say the same for a
    calendar that syncs to a third-party cloud, without naming the drug or
    the route ("Arrange for an adult to drive you home", not "after your
    infusion"). Calendars below ``full`` privacy use only these; where they
    are empty, such a calendar points to the treatment plan instead.
    """

    name: str
    kind: SessionKind = attrs.field(converter=SessionKind)
    title: str
    duration: dt.timedelta = attrs.field()
    setting: Setting = "clinic"
    uses_chair: bool = False
    checkpoints: tuple[Checkpoint, ...] = attrs.field(default=(), converter=to_tuple)
    preparation: tuple[str, ...] = attrs.field(default=(), converter=to_tuple)
    during: tuple[str, ...] = attrs.field(default=(), converter=to_tuple)
    aftercare: tuple[str, ...] = attrs.field(default=(), converter=to_tuple)
    side_effects: tuple[str, ...] = attrs.field(default=(), converter=to_tuple)
    call_the_clinic: tuple[str, ...] = attrs.field(default=(), converter=to_tuple)
    sources: tuple[str, ...] = attrs.field(default=(), converter=to_tuple)
    calendar_preparation: tuple[str, ...] = attrs.field(default=(), converter=to_tuple)
    calendar_aftercare: tuple[str, ...] = attrs.field(default=(), converter=to_tuple)
    resource: str = attrs.field(
        default=attrs.Factory(lambda self: "chair" if self.uses_chair else "", takes_self=True)
    )

    @resource.validator
    def _resource_name(self, attribute: attrs.Attribute[str], value: str) -> None:
        if not isinstance(value, str) or len(value) > 40 or not value.strip() == value:
            raise SpecError(
                f"sessions.{self.name}.resource",
                value,
                "expected a short name such as 'chair' or 'therapy-room', or '' for none",
            )

    @duration.validator
    def _positive(self, attribute: attrs.Attribute[dt.timedelta], value: dt.timedelta) -> None:
        if value <= dt.timedelta(0):
            raise SpecError(f"sessions.{self.name}.duration", value, "expected a positive duration")


@attrs.frozen
class PerWeek:
    """``sessions`` sessions, from ``low`` to ``high`` a week, within ``weeks`` weeks.

    Weeks count from the phase's first session, as a label's "weeks 1-4" do.
    """

    low: int
    high: int
    weeks: int
    sessions: int

    def __attrs_post_init__(self) -> None:
        for name, value in (("per_week", self.low), ("per_week", self.high), ("weeks", self.weeks)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
                raise SpecError(f"cadence.{name}", value, "expected a whole number of at least 1")
        check_sessions("cadence.sessions", self.sessions)
        if self.high < self.low:
            raise SpecError(
                "cadence.per_week", [self.low, self.high], "the smaller number comes first"
            )
        if self.sessions > self.high * self.weeks:
            raise SpecError(
                "cadence.sessions",
                self.sessions,
                f"at most {self.high * self.weeks} ({self.high} a week for {self.weeks} weeks)",
            )

    def __str__(self) -> str:
        per = str(self.low) if self.low == self.high else f"{self.low}-{self.high}"
        return f"{self.sessions} sessions, {per} a week within {self.weeks} weeks"


@attrs.frozen
class Every:
    """A session every ``interval`` (a fixed interval or a range) for ``sessions`` or ``until`` a date.

    With ``set_by_clinician`` the interval is a clinical choice within the
    range: the phase stays undated until a plan sets it.
    """

    interval: IntervalRange
    sessions: int | None = None
    until: dt.date | None = None
    set_by_clinician: bool = False

    def __attrs_post_init__(self) -> None:
        if self.sessions is not None:
            check_sessions("cadence.sessions", self.sessions)
        if self.until is not None:
            check_date("cadence.until", self.until)
        if self.sessions is None and self.until is None:
            raise SpecError("cadence", "every", "give a number of sessions or an end date (until)")

    def __str__(self) -> str:
        parts = [f"every {self.interval}"]
        if self.sessions is not None:
            parts.append(f"for {self.sessions} sessions")
        if self.until is not None:
            parts.append(f"until {self.until.isoformat()}")
        return " ".join(parts)


@attrs.frozen
class Offsets:
    """One session at each calendar offset from the end of the previous phase (or the start)."""

    offsets: tuple[Interval, ...] = attrs.field(converter=to_tuple)

    def __attrs_post_init__(self) -> None:
        if not 1 <= len(self.offsets) <= MAX_SESSIONS_PER_PHASE:
            raise SpecError(
                "cadence.offsets",
                len(self.offsets),
                f"list from 1 to {MAX_SESSIONS_PER_PHASE} offsets, e.g. ['0 days', '4 weeks']",
            )

    def __str__(self) -> str:
        return "at " + ", ".join(str(o) if o.amount else "the start" for o in self.offsets)


@attrs.frozen
class Taper:
    """An explicit taper: each session the next interval after the one before it.

    The first interval counts from the previous phase's last session (or the
    start, for a first phase): ``1 week, 2 weeks, 4 weeks`` spaces four
    sessions ever further apart.
    """

    intervals: tuple[Interval, ...] = attrs.field(converter=to_tuple)

    def __attrs_post_init__(self) -> None:
        if not 1 <= len(self.intervals) <= MAX_SESSIONS_PER_PHASE:
            raise SpecError(
                "cadence.taper",
                len(self.intervals),
                f"list from 1 to {MAX_SESSIONS_PER_PHASE} intervals, e.g. ['1 week', '2 weeks']",
            )

    def __str__(self) -> str:
        return "tapering: " + ", then ".join(str(interval) for interval in self.intervals)


Cadence = PerWeek | Every | Offsets | Taper


@attrs.frozen
class Companion:
    """A session tied to the phase's sessions by an offset window.

    ``anchor`` picks which of the phase's sessions it attaches to (``each``,
    ``first`` or ``last``); ``after`` or ``before`` is the window, measured
    from the end of the anchor (after) or its start (before).
    """

    session: str
    anchor: Literal["each", "first", "last"]
    window: DurationRange
    direction: Literal["after", "before"]
    sources: tuple[str, ...] = attrs.field(default=(), converter=to_tuple)


@attrs.frozen
class Phase:
    """A stretch of a protocol with one cadence.

    ``starts_after`` is the least calendar time between the previous phase's
    last session and this phase's first; ``slack`` how far a session may move
    past its date when that date cannot be used.
    """

    name: str
    title: str
    cadence: Cadence
    session: str
    companions: tuple[Companion, ...] = attrs.field(default=(), converter=to_tuple)
    starts_after: Interval = attrs.field(default=Interval(1, "days"))
    slack: Interval = attrs.field(default=Interval(7, "days"))
    sources: tuple[str, ...] = attrs.field(default=(), converter=to_tuple)


@attrs.frozen
class AssessmentRule:
    """Questionnaires due at ``baseline``, at the ``end`` of a phase, or ``every`` N dosing sessions."""

    instruments: tuple[str, ...] = attrs.field(converter=to_tuple)
    at: Literal["baseline", "end", "every"]
    phase: str | None = None
    every: int | None = None
    sources: tuple[str, ...] = attrs.field(default=(), converter=to_tuple)

    def __str__(self) -> str:
        names = ", ".join(self.instruments)
        if self.at == "baseline":
            return f"{names} at baseline"
        if self.at == "end":
            return f"{names} at the end of {self.phase}"
        return f"{names} every {self.every} dosing sessions"


@attrs.frozen
class MonitoringForm:
    """A form due within ``due_within`` calendar days of each dosing session."""

    name: str
    due_within: Interval
    description: str = ""
    sources: tuple[str, ...] = attrs.field(default=(), converter=to_tuple)


@attrs.frozen
class LatenessRule:
    """What a missed session of a phase means, as the protocol states it.

    ``continue``: keep the schedule as it is (the esketamine label: do not
    restart). ``shift``: move every later scheduled session on by ``shift``.
    ``review``: flag the plan for the clinician, who decides. ``phase`` is
    ``None`` for every phase without a rule of its own.
    """

    on_missed: Literal["continue", "shift", "review"]
    phase: str | None = None
    shift: Interval = attrs.field(default=Interval(7, "days"))
    sources: tuple[str, ...] = attrs.field(default=(), converter=to_tuple)


@attrs.frozen
class Route:
    """A route of administration and what it brings to every protocol that uses it."""

    name: str
    title: str
    snomed: str
    dose_fields: tuple[DoseField, ...] = attrs.field(converter=to_tuple)
    derived: tuple[Derived, ...] = attrs.field(default=(), converter=to_tuple)
    session: SessionTemplate | None = None
    sources: tuple[str, ...] = attrs.field(default=(), converter=to_tuple)

    def dose_field(self, name: str) -> DoseField:
        """The dose field ``name``, or a :class:`SpecError` listing the valid names."""
        for field in self.dose_fields:
            if field.name == name:
                return field
        names = ", ".join(field.name for field in self.dose_fields)
        raise SpecError(f"dosing.{name}", name, f"the {self.name} route's dose fields are {names}")


def _sorted_dict(value: Mapping[str, str]) -> dict[str, str]:
    return dict(sorted(value.items()))


@attrs.frozen
class Protocol:
    """A reusable treatment template: route, phases, sessions and instructions; no dates, no doses."""

    name: str
    title: str
    summary: str
    route: Route
    phases: tuple[Phase, ...] = attrs.field(converter=to_tuple)
    sessions: tuple[SessionTemplate, ...] = attrs.field(converter=to_tuple)
    weekdays: tuple[Weekday, ...] = attrs.field(converter=to_tuple)
    assessments: tuple[AssessmentRule, ...] = attrs.field(default=(), converter=to_tuple)
    monitoring_form: MonitoringForm | None = None
    drug: str = "ketamine"
    min_gap: dt.timedelta = dt.timedelta(0)
    lateness: str = ""
    lateness_rules: tuple[LatenessRule, ...] = attrs.field(default=(), converter=to_tuple)
    notes: tuple[str, ...] = attrs.field(default=(), converter=to_tuple)
    sources: Mapping[str, str] = attrs.field(factory=dict, converter=_sorted_dict)

    def __attrs_post_init__(self) -> None:
        names = {template.name for template in self.sessions}
        if len(names) != len(self.sessions):
            raise SpecError("sessions", sorted(names), "session template names must be unique")
        phase_names = [phase.name for phase in self.phases]
        if len(set(phase_names)) != len(phase_names):
            raise SpecError("phases", phase_names, "phase names must be unique")
        if not self.phases:
            raise SpecError("phases", [], "a protocol needs at least one phase")
        for phase in self.phases:
            for name in (phase.session, *(companion.session for companion in phase.companions)):
                if name not in names:
                    raise SpecError(
                        f"phases.{phase.name}.session",
                        name,
                        f"expected one of {', '.join(sorted(names))}",
                    )
        for rule in self.assessments:
            if rule.phase is not None and rule.phase not in phase_names:
                raise SpecError(
                    "assessments.phase", rule.phase, f"expected one of {', '.join(phase_names)}"
                )
        for lateness in self.lateness_rules:
            if lateness.phase is not None and lateness.phase not in phase_names:
                raise SpecError(
                    "lateness.phase", lateness.phase, f"expected one of {', '.join(phase_names)}"
                )
        self.cited_sources()

    def cited_sources(self) -> dict[str, str]:
        """The sources this protocol and its route cite, by id, in id order.

        ``sources`` may hold more (a protocol file inherits every built-in
        route's citations); this is what the protocol relies on.
        """
        cited = set(self.route.sources)
        for template in self.sessions:
            cited.update(template.sources)
            for checkpoint in template.checkpoints:
                cited.update(checkpoint.sources)
        for phase in self.phases:
            cited.update(phase.sources)
            for companion in phase.companions:
                cited.update(companion.sources)
        for rule in self.assessments:
            cited.update(rule.sources)
        for lateness in self.lateness_rules:
            cited.update(lateness.sources)
        if self.monitoring_form is not None:
            cited.update(self.monitoring_form.sources)
        missing = sorted(cited - set(self.sources))
        if missing:
            raise SpecError("sources", missing[0], "every cited source needs an entry in [sources]")
        return {key: text for key, text in self.sources.items() if key in cited}

    def lateness_rule(self, phase: str) -> LatenessRule:
        """The rule for a missed session of ``phase``: its own, the protocol's general one,
        or flagging for review when the protocol states none."""
        for rule in self.lateness_rules:
            if rule.phase == phase:
                return rule
        for rule in self.lateness_rules:
            if rule.phase is None:
                return rule
        return LatenessRule("review")

    def template(self, name: str) -> SessionTemplate:
        """The session template called ``name``."""
        for template in self.sessions:
            if template.name == name:
                return template
        raise KeyError(name)

    def phase(self, name: str) -> Phase:
        """The phase called ``name``, or a :class:`SpecError` listing the phases."""
        for phase in self.phases:
            if phase.name == name:
                return phase
        raise SpecError("phases", name, f"expected one of {', '.join(p.name for p in self.phases)}")

    def with_phase(
        self,
        name: str,
        *,
        interval: IntervalRange | None = None,
        sessions: int | None = None,
        until: dt.date | None = None,
    ) -> Protocol:
        """This protocol with one phase's cadence adjusted for a plan.

        ``interval`` must lie inside the range the protocol allows; setting it
        dates a phase whose interval is set by the clinician.
        """
        phase = self.phase(name)
        cadence = phase.cadence
        where = f"phases.{name}"
        if interval is not None:
            if not isinstance(cadence, Every):
                raise SpecError(
                    f"{where}.interval",
                    str(interval),
                    f"phase {name!r} has no interval ({cadence})",
                )
            if not cadence.interval.contains(interval):
                raise SpecError(
                    f"{where}.interval",
                    str(interval),
                    f"the protocol allows {cadence.interval} for phase {name!r}",
                )
            cadence = attrs.evolve(cadence, interval=interval, set_by_clinician=False)
        if sessions is not None:
            check_sessions(f"{where}.sessions", sessions)
            if isinstance(cadence, Offsets | Taper):
                raise SpecError(
                    f"{where}.sessions", sessions, f"phase {name!r} has a fixed number of sessions"
                )
            if isinstance(cadence, PerWeek) and sessions > cadence.high * cadence.weeks:
                raise SpecError(
                    f"{where}.sessions",
                    sessions,
                    f"at most {cadence.high * cadence.weeks} fit {cadence.high} a week for {cadence.weeks} weeks",
                )
            cadence = attrs.evolve(cadence, sessions=sessions)
        if until is not None:
            if not isinstance(cadence, Every):
                raise SpecError(
                    f"{where}.until",
                    until,
                    f"only a phase with an interval can end on a date ({name!r} does not)",
                )
            cadence = attrs.evolve(cadence, until=until)
        phases = tuple(
            attrs.evolve(p, cadence=cadence) if p.name == name else p for p in self.phases
        )
        return attrs.evolve(self, phases=phases)
