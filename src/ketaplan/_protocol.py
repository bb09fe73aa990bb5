"""Protocols: reusable treatment templates with no dates and no doses.

A :class:`Protocol` names a :class:`Route` and a sequence of :class:`Phase` s.
Each phase has a cadence (:class:`PerWeek`, :class:`Every` or
:class:`Offsets`), the session template its sessions use and the
:class:`Companion` sessions tied to them. :class:`AssessmentRule` s say when
questionnaires fall due; a :class:`MonitoringForm` is paperwork due after each
dosing session.

A protocol's texts (titles, instructions, checkpoints, notes) are English; its
``translations`` hold the same texts in other languages, by language tag and
text key (``"sessions.dosing.aftercare"``), each tied to the English it
translates, and :meth:`Protocol.in_language` gives the protocol with its
texts in one of them.
"""

from __future__ import annotations

import copy
import datetime as dt
import enum
import hashlib
import json
import warnings
from collections.abc import Iterator, Mapping
from typing import Any, Literal, NoReturn

import attrs

from ._dosing import Derived, DoseField
from ._limits import MAX_SESSIONS_PER_PHASE, check_date, check_sessions
from ._units import DurationRange, Interval, IntervalRange, Weekday
from ._values import pattern, to_tuple
from .exceptions import NOT_SHOWN, KetaplanWarning, SpecError

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


class _FrozenDict(dict[str, Any]):
    """A dict that cannot change after it is made, so the values holding it stay hashable."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (dict(self),))

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("a protocol's mappings cannot be changed; use attrs.evolve")

    __setitem__ = __delitem__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse
    __ior__ = _refuse


def _sorted_dict(value: Mapping[str, str]) -> Mapping[str, str]:
    return _FrozenDict(sorted(value.items()))


#: A text of a protocol: one string (a title) or lines (instructions).
Text = str | tuple[str, ...]

#: The texts of a session template, by attribute; ``checkpoints`` are their labels.
TEMPLATE_TEXTS = (
    "title",
    "preparation",
    "calendar_preparation",
    "during",
    "aftercare",
    "calendar_aftercare",
    "side_effects",
    "call_the_clinic",
    "checkpoints",
)

_TAG = pattern(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")
_TAG_EXAMPLE = "expected a language tag such as 'fr' or 'fr-CA' (BCP 47)"


def language_tag(value: object, field: str) -> str:
    """``value`` as a BCP 47 language tag in its usual case (``"fr-ca"`` gives ``"fr-CA"``)."""
    if not isinstance(value, str) or len(value) > 35 or not _TAG().fullmatch(value):
        raise SpecError(field, value, _TAG_EXAMPLE)
    first, *rest = value.split("-")
    parts = [first.lower()]
    for part in rest:
        if len(part) == 2 and part.isalpha():
            parts.append(part.upper())  # a region: CA
        elif len(part) == 4 and part.isalpha():
            parts.append(part.title())  # a script: Latn
        else:
            parts.append(part.lower())
    return "-".join(parts)


def _lookup_chain(tag: str) -> list[str]:
    """``fr-CA`` looks in ``fr-CA``, then ``fr`` (RFC 4647 lookup), before English."""
    parts = tag.split("-")
    return ["-".join(parts[:end]) for end in range(len(parts), 0, -1)]


def _translations(
    value: Mapping[str, Mapping[str, Text | list[str]]],
) -> Mapping[str, Mapping[str, Text]]:
    """Translations by canonical tag, then by key, each in order, lists as tuples."""
    if not isinstance(value, Mapping):
        raise SpecError("translations", NOT_SHOWN, "expected a mapping of language tags to texts")
    result: dict[str, Mapping[str, Text]] = {}
    for raw_tag, texts in value.items():
        tag = language_tag(raw_tag, "translations")
        if tag in result:
            raise SpecError(f"translations.{tag}", raw_tag, "each language may appear only once")
        if not isinstance(texts, Mapping):
            raise SpecError(f"translations.{tag}", NOT_SHOWN, "expected a mapping of text keys")
        entries: dict[str, Text] = {}
        for key, text in texts.items():
            where = f"translations.{tag}.{key}"
            if isinstance(text, str):
                entries[key] = text
            elif isinstance(text, list | tuple) and all(isinstance(line, str) for line in text):
                entries[key] = tuple(text)
            else:
                raise SpecError(where, NOT_SHOWN, "expected a string or a list of strings")
        result[tag] = _FrozenDict(sorted(entries.items()))
    return _FrozenDict(sorted(result.items()))


@attrs.frozen
class Protocol:
    """A reusable treatment template: route, phases, sessions and instructions; no dates, no doses.

    Its texts are English. ``translations`` holds them in other languages,
    by BCP 47 tag and then by text key (the keys of :meth:`texts`); a list
    has one item for each English item. ``translated_from`` ties each
    translated key to the English it was written for (filled in when the
    translations are given), so that a translation stops being used once
    its English changes.
    """

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
    translations: Mapping[str, Mapping[str, Text]] = attrs.field(
        factory=dict, converter=_translations
    )
    translated_from: Mapping[str, str] = attrs.field(factory=dict, converter=_sorted_dict)

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
        stamps = dict(self.translated_from)
        if self.translations:
            english = self.texts()
            for tag, texts in self.translations.items():
                _check_translation(tag, texts, english, stamps)
            for key in sorted({key for texts in self.translations.values() for key in texts}):
                if key not in stamps:
                    stamps[key] = _stamp(english[key])
        translated = {key for texts in self.translations.values() for key in texts}
        stamps = {key: stamp for key, stamp in stamps.items() if key in translated}
        if stamps != self.translated_from:
            # Filled in once, when the translations are first given; attrs.evolve carries it.
            object.__setattr__(self, "translated_from", _sorted_dict(stamps))

    @property
    def languages(self) -> tuple[str, ...]:
        """The language tags this protocol has texts for: ``"en"``, then its translations'."""
        return ("en", *self.translations)

    def texts(self) -> dict[str, Text]:
        """Every text of this protocol by key, English, in protocol order.

        The keys are the ones a translation uses: ``protocol.title``,
        ``sessions.dosing.aftercare``, ``sessions.dosing.checkpoints`` (the
        checkpoints' labels), ``phases.induction.title``,
        ``route.dose_fields.body_weight.label``, ``monitoring_form.description``.
        """
        return {".".join(path): text for path, text in _text_paths(self)}

    def in_language(self, language: str) -> Protocol:
        """This protocol with every text in ``language`` (a BCP 47 tag such as ``"fr-CA"``).

        A text is looked up in the tag, then in each shorter tag (``fr-CA``,
        then ``fr``); a text found in neither stays English, with one
        :class:`~ketaplan.KetaplanWarning` naming its key. ``"en"`` gives this
        protocol unchanged, as does an English variant (``"en-CA"``) it has
        no texts for. The result holds the texts in its usual fields
        and carries no translations of its own: ask the protocol as loaded
        for another language.
        """
        tag = language_tag(language, "language")
        if tag == "en":
            return self
        chain = [found for found in _lookup_chain(tag) if found in self.translations]
        english_variant = tag.split("-")[0] == "en"
        chosen: dict[str, Text] = {}
        for key, text in self.texts().items():
            current = self.translated_from.get(key) == _stamp(text)
            for found in chain if current else ():
                if key in self.translations[found]:
                    chosen[key] = self.translations[found][key]
                    break
            else:
                if text and not english_variant:
                    warnings.warn(
                        f"{key} has no {tag!r} text; using English", KetaplanWarning, stacklevel=2
                    )
        if english_variant and not chosen:
            return self
        return _with_texts(attrs.evolve(self, translations={}), chosen)

    def current_translations(self) -> dict[str, dict[str, Text]]:
        """The translations whose English is still the text they were written for.

        A translation is tied to the English it translates (``translated_from``
        keeps a fingerprint of it): once that text changes, for example when a
        plan switches route and its dosing session takes the new route's
        instructions, the translation is no longer used.
        """
        english = self.texts()
        current = {
            key for key, text in english.items() if self.translated_from.get(key) == _stamp(text)
        }
        found: dict[str, dict[str, Text]] = {}
        for tag, texts in self.translations.items():
            kept = {key: text for key, text in texts.items() if key in current}
            if kept:
                found[tag] = kept
        return found

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
        # Only a cadence changes, checked as it was made: every check of the protocol (its
        # names, texts and translations) holds as it did, so the copy keeps its fields
        # instead of making them and checking them again (a plan file's phase settings
        # cost a plan 0.08 ms that way, a batch of plans one such copy each).
        adjusted = copy.copy(self)
        object.__setattr__(adjusted, "phases", phases)
        return adjusted


def _text_paths(protocol: Protocol) -> Iterator[tuple[tuple[str, ...], Text]]:
    """Each text of ``protocol`` with its key's parts, in protocol order."""
    yield ("protocol", "title"), protocol.title
    yield ("protocol", "summary"), protocol.summary
    yield ("protocol", "lateness"), protocol.lateness
    yield ("protocol", "notes"), protocol.notes
    route = protocol.route
    yield ("route", "title"), route.title
    for field in route.dose_fields:
        yield ("route", "dose_fields", field.name, "label"), field.label
        yield ("route", "dose_fields", field.name, "note"), field.note
    for derived in route.derived:
        yield ("route", "derived", derived.name, "label"), derived.label
    for template in protocol.sessions:
        for attribute in TEMPLATE_TEXTS:
            value = getattr(template, attribute)
            if attribute == "checkpoints":
                value = tuple(checkpoint.label for checkpoint in value)
            yield ("sessions", template.name, attribute), value
    for phase in protocol.phases:
        yield ("phases", phase.name, "title"), phase.title
    if protocol.monitoring_form is not None:
        yield ("monitoring_form", "name"), protocol.monitoring_form.name
        yield ("monitoring_form", "description"), protocol.monitoring_form.description


def text_paths(protocol: Protocol) -> dict[tuple[str, ...], Text]:
    """Every text of ``protocol`` by its key's parts (``("sessions", "dosing", "title")``)."""
    return dict(_text_paths(protocol))


def _stamp(english: Text) -> str:
    """A short fingerprint of an English text, to tell when it has changed."""
    return hashlib.sha256(json.dumps(english, ensure_ascii=False).encode()).hexdigest()[:16]


def _check_translation(
    tag: str, texts: Mapping[str, Text], english: Mapping[str, Text], stamps: Mapping[str, str]
) -> None:
    """Every new key (one not yet tied to its English) is one of the protocol's, with the
    English text's type and length."""
    if tag == "en":
        raise SpecError(
            "translations", tag, "the English texts are the protocol's own; name another language"
        )
    for key, text in texts.items():
        if key in stamps:
            continue  # checked when it was given; in_language uses it only while current
        where = f"translations.{tag}.{key}"
        if key not in english:
            import difflib  # only for a suggestion in an error message

            close = difflib.get_close_matches(key, list(english), n=1, cutoff=0.6)
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else "expected a key such as 'protocol.title'"
            )
            raise SpecError(f"translations.{tag}", key, f"not a text of this protocol; {hint}")
        check_translated(where, text, english[key])


def check_translated(where: str, text: Text, english: Text) -> None:
    """A translated text has the English text's form: one string, or as many lines."""
    if isinstance(english, str):
        if not isinstance(text, str):
            raise SpecError(where, NOT_SHOWN, "expected a string, as the English text is one")
        if not text.strip():
            raise SpecError(where, text, "a translation is not empty: leave the key out instead")
        return
    if isinstance(text, str):
        raise SpecError(where, text, f"expected a list of {len(english)} strings, as in English")
    if len(text) != len(english):
        raise SpecError(
            where,
            NOT_SHOWN,
            f"has {len(text)} items; the English has {len(english)}: one for each English item",
        )
    for line in text:
        if not line.strip():
            raise SpecError(where, NOT_SHOWN, "a translated line is not empty")


def _with_texts(protocol: Protocol, texts: Mapping[str, Any]) -> Protocol:
    """``protocol`` with the texts in ``texts`` (by key) in place of its own."""
    if not texts:
        return protocol

    def text(*path: str, default: Any) -> Any:
        return texts.get(".".join(path), default)

    route = protocol.route
    route = attrs.evolve(
        route,
        title=text("route", "title", default=route.title),
        dose_fields=tuple(
            attrs.evolve(
                field,
                label=text("route", "dose_fields", field.name, "label", default=field.label),
                note=text("route", "dose_fields", field.name, "note", default=field.note),
            )
            for field in route.dose_fields
        ),
        derived=tuple(
            attrs.evolve(
                derived,
                label=text("route", "derived", derived.name, "label", default=derived.label),
            )
            for derived in route.derived
        ),
    )
    sessions = []
    for template in protocol.sessions:
        changes = {
            attribute: text(
                "sessions", template.name, attribute, default=getattr(template, attribute)
            )
            for attribute in TEMPLATE_TEXTS
            if attribute != "checkpoints"
        }
        labels = text(
            "sessions",
            template.name,
            "checkpoints",
            default=tuple(checkpoint.label for checkpoint in template.checkpoints),
        )
        changes["checkpoints"] = tuple(
            attrs.evolve(checkpoint, label=label)
            for checkpoint, label in zip(template.checkpoints, labels, strict=True)
        )
        sessions.append(attrs.evolve(template, **changes))
    form = protocol.monitoring_form
    if form is not None:
        form = attrs.evolve(
            form,
            name=text("monitoring_form", "name", default=form.name),
            description=text("monitoring_form", "description", default=form.description),
        )
    return attrs.evolve(
        protocol,
        title=text("protocol", "title", default=protocol.title),
        summary=text("protocol", "summary", default=protocol.summary),
        lateness=text("protocol", "lateness", default=protocol.lateness),
        notes=text("protocol", "notes", default=protocol.notes),
        route=route,
        sessions=tuple(sessions),
        phases=tuple(
            attrs.evolve(phase, title=text("phases", phase.name, "title", default=phase.title))
            for phase in protocol.phases
        ),
        monitoring_form=form,
    )
