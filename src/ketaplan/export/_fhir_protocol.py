"""Protocols as FHIR R4 PlanDefinitions, and back.

:func:`protocol_to_fhir` writes a protocol as a PlanDefinition with a
contained ActivityDefinition for each session template: each phase is an
action with its Timing, each companion session a nested action tied to the
phase's by ``relatedAction`` (``after-end`` with an ``offsetRange`` such as
24-72 h, or ``before-start``), each questionnaire rule an action with its
LOINC code, and every source a ``relatedArtifact`` citation. What FHIR has no
element for (the route's name, the exact cadence, checkpoints, patient
instructions, lateness rules, texts in other languages) travels in extensions under
:data:`EXTENSION`, so that nothing is lost.

:func:`protocol_from_fhir` reads such a PlanDefinition back. It reads the
subset that ketaplan writes: after reading, it writes the protocol again and
compares, so an element it cannot represent, or a readable element (a
Timing, a narrative) that disagrees with the extensions it reads, is a
:class:`~ketaplan.SpecError` naming the element's path
(``PlanDefinition.action[1].timingTiming.repeat.count``). Only the metadata a
server adds or keeps (``id``, ``meta``, ``text``, ``url``, ``version``,
``name``, ``status``, ``date``, ``publisher``) may differ.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar, cast

import attrs

from .._library import routes
from .._protocol import (
    AssessmentRule,
    Cadence,
    Checkpoint,
    Companion,
    Every,
    LatenessRule,
    MonitoringForm,
    Offsets,
    PerWeek,
    Phase,
    Protocol,
    SessionKind,
    SessionTemplate,
    Taper,
    Text,
)
from .._units import DurationRange, Interval, IntervalRange, Weekday, format_duration
from ..exceptions import NOT_SHOWN, SpecError
from ._fhir import (
    INSTRUMENTS,
    SESSION_KIND_SYSTEM,
    UCUM,
    bullet_list,
    duration_of,
    exact_duration,
    heading,
    medication_concept,
    narrative,
    paragraph,
    route_concept,
    timing,
    window_range,
)

__all__ = [
    "EXTENSION",
    "PROTOCOL_SYSTEM",
    "TEMPLATE_SYSTEM",
    "protocol_from_fhir",
    "protocol_to_fhir",
]

JSON = dict[str, Any]
T = TypeVar("T")

#: The URL prefix of ketaplan's extensions (``urn:ketaplan:extension:cadence``...).
EXTENSION = "urn:ketaplan:extension:"
#: The identifier system of a protocol's name.
PROTOCOL_SYSTEM = "urn:ketaplan:protocol"
#: The identifier system of a session template's name.
TEMPLATE_SYSTEM = "urn:ketaplan:session-template"
PLAN_DEFINITION_TYPES = "http://terminology.hl7.org/CodeSystem/plan-definition-type"

#: Root elements a server may add or change without changing the protocol.
_METADATA = frozenset(
    {"id", "meta", "text", "url", "version", "name", "status", "date", "publisher"}
)
_INSTRUCTIONS = (
    ("preparation", "preparation", "Preparation"),
    ("during", "during", "During the session"),
    ("aftercare", "aftercare", "Aftercare"),
    ("side_effects", "side-effect", "Side effects"),
    ("call_the_clinic", "call-the-clinic", "Call the clinic"),
    ("calendar_preparation", "calendar-preparation", "Preparation, as a calendar says it"),
    ("calendar_aftercare", "calendar-aftercare", "Aftercare, as a calendar says it"),
)
_INTERVAL_CODES: dict[str, Literal["days", "weeks", "months"]] = {
    "d": "days",
    "wk": "weeks",
    "mo": "months",
}
_EXACT_CODES = {"h": 3600, "min": 60, "s": 1}
_RELATIONSHIPS = {"after": "after-end", "before": "before-start"}


# -- writing ------------------------------------------------------------------------


def protocol_to_fhir(protocol: Protocol) -> JSON:
    """The protocol as a FHIR R4 PlanDefinition (a dict ready for :func:`json.dumps`).

    The protocol's route must be a built-in one (the PlanDefinition names it);
    :func:`ketaplan.load_protocol` reads the result back into an equal protocol.
    """
    route = protocol.route
    known = routes()
    if known.get(route.name) != route:
        raise SpecError(
            "protocol.route",
            route.name,
            f"a PlanDefinition names a built-in route ({', '.join(known)}); this route differs from it",
        )
    ids = {template.name: f"session-{n}" for n, template in enumerate(protocol.sessions, start=1)}
    used = {phase.session for phase in protocol.phases} | {
        companion.session for phase in protocol.phases for companion in phase.companions
    }
    extensions: list[JSON] = [
        _ext("route", valueCode=route.name),
        _ext("drug", valueString=protocol.drug),
        *(_ext("weekday", valueCode=day.name) for day in protocol.weekdays),
        _ext("min-gap", valueDuration=exact_duration(protocol.min_gap)),
        *(_ext("note", valueString=note) for note in protocol.notes),
        *(_lateness_extension(rule) for rule in protocol.lateness_rules),
    ]
    if protocol.monitoring_form is not None:
        extensions.append(_form_extension(protocol.monitoring_form))
    extensions.extend(
        _ext("session-template", valueCanonical=f"#{ids[t.name]}")
        for t in protocol.sessions
        if t.name not in used
    )
    extensions.extend(
        _translation_extension(tag, key, text)
        for tag, texts in protocol.current_translations().items()
        for key, text in texts.items()
    )
    resource: JSON = {
        "resourceType": "PlanDefinition",
        "text": {"status": "generated", "div": _protocol_text(protocol)},
        "contained": [
            _activity_definition(protocol, template, ids[template.name])
            for template in protocol.sessions
        ],
        "extension": extensions,
        "identifier": [{"system": PROTOCOL_SYSTEM, "value": protocol.name}],
        "title": protocol.title,
        "type": {
            "coding": [
                {
                    "system": PLAN_DEFINITION_TYPES,
                    "code": "clinical-protocol",
                    "display": "Clinical Protocol",
                }
            ]
        },
        "status": "active",
    }
    if protocol.summary:
        resource["description"] = protocol.summary
    if protocol.lateness:
        resource["usage"] = protocol.lateness
    if protocol.sources:
        resource["relatedArtifact"] = [
            _citation(key, text) for key, text in protocol.sources.items()
        ]
    actions = [
        _phase_action(protocol, phase, number, ids)
        for number, phase in enumerate(protocol.phases, start=1)
    ]
    actions.extend(_assessment_action(protocol, rule) for rule in protocol.assessments)
    resource["action"] = actions
    return resource


def _ext(name: str, **value: Any) -> JSON:
    return {"url": EXTENSION + name, **value}


def _sub(name: str, **value: Any) -> JSON:
    return {"url": name, **value}


def _citation(key: str, text: str) -> JSON:
    return {"type": "citation", "label": key, "citation": text}


def _citations(protocol: Protocol, keys: Sequence[str]) -> list[JSON]:
    return [_citation(key, protocol.sources[key]) for key in keys]


def _sources(keys: Sequence[str]) -> list[JSON]:
    return [_sub("source", valueString=key) for key in keys]


def _lateness_extension(rule: LatenessRule) -> JSON:
    parts = [_sub("on-missed", valueCode=rule.on_missed)]
    if rule.phase is not None:
        parts.append(_sub("phase", valueString=rule.phase))
    parts.append(_sub("shift", valueDuration=duration_of(rule.shift)))
    parts.extend(_sources(rule.sources))
    return _ext("lateness-rule", extension=parts)


def _translation_extension(tag: str, key: str, text: Text) -> JSON:
    """One translated text: its language, its key and its text (or lines, in order)."""
    lines = (text,) if isinstance(text, str) else text
    return _ext(
        "translation",
        extension=[
            _sub("language", valueCode=tag),
            _sub("key", valueString=key),
            *(_sub("text", valueString=line) for line in lines),
        ],
    )


def _form_extension(form: MonitoringForm) -> JSON:
    parts = [
        _sub("name", valueString=form.name),
        _sub("due-within", valueDuration=duration_of(form.due_within)),
    ]
    if form.description:
        parts.append(_sub("description", valueString=form.description))
    parts.extend(_sources(form.sources))
    return _ext("monitoring-form", extension=parts)


def _activity_definition(protocol: Protocol, template: SessionTemplate, id_: str) -> JSON:
    extensions: list[JSON] = [
        _ext("setting", valueCode=template.setting),
        _ext("uses-chair", valueBoolean=template.uses_chair),
    ]
    if template.resource != ("chair" if template.uses_chair else ""):
        # What the session holds, when not what uses-chair implies: a room by name, or
        # nothing (false) for a chair-using session the clinic does not count.
        held = {"valueString": template.resource} if template.resource else {"valueBoolean": False}
        extensions.append(_ext("resource", **held))
    for checkpoint in template.checkpoints:
        parts = [
            _sub("at", valueDuration=exact_duration(checkpoint.at)),
            _sub("label", valueString=checkpoint.label),
            *_sources(checkpoint.sources),
        ]
        extensions.append(_ext("checkpoint", extension=parts))
    for attribute, name, _title in _INSTRUCTIONS:
        lines: tuple[str, ...] = getattr(template, attribute)
        extensions.extend(_ext(name, valueString=line) for line in lines)
    kind = template.kind
    resource: JSON = {
        "resourceType": "ActivityDefinition",
        "id": id_,
        "extension": extensions,
        "identifier": [{"system": TEMPLATE_SYSTEM, "value": template.name}],
        "title": template.title,
        "status": "active",
        "description": _template_text(template),
    }
    if template.sources:
        resource["relatedArtifact"] = _citations(protocol, template.sources)
    resource["kind"] = "Appointment"
    resource["code"] = {
        "coding": [{"system": SESSION_KIND_SYSTEM, "code": kind.value, "display": kind.label}],
        "text": kind.label,
    }
    resource["timingDuration"] = exact_duration(template.duration)
    if kind is SessionKind.DOSING:
        resource["productCodeableConcept"] = medication_concept(protocol)
        resource["dosage"] = [
            {
                "text": "The dose is the clinician's to set for each session; ketaplan never sets a dose.",
                "route": route_concept(protocol),
            }
        ]
    return resource


def _template_text(template: SessionTemplate) -> str:
    """The session's checkpoints and instructions, as Markdown."""
    chair = ", in a treatment chair" if template.uses_chair else ""
    blocks = [
        f"{template.kind.label}: {format_duration(template.duration)}, {template.setting}{chair}."
    ]
    if template.checkpoints:
        blocks.append(
            "Checkpoints:\n\n"
            + "\n".join(f"- {format_duration(c.at)}: {c.label}" for c in template.checkpoints)
        )
    for attribute, _name, title in _INSTRUCTIONS:
        lines: tuple[str, ...] = getattr(template, attribute)
        if lines:
            blocks.append(f"{title}:\n\n" + "\n".join(f"- {line}" for line in lines))
    return "\n\n".join(blocks)


def _cadence_extension(cadence: Cadence) -> JSON:
    parts: list[JSON]
    if isinstance(cadence, PerWeek):
        parts = [
            _sub("per-week", valuePositiveInt=cadence.low),
            _sub("per-week-max", valuePositiveInt=cadence.high),
            _sub("weeks", valuePositiveInt=cadence.weeks),
            _sub("sessions", valuePositiveInt=cadence.sessions),
        ]
    elif isinstance(cadence, Every):
        parts = [_sub("every", valueDuration=duration_of(cadence.interval.low))]
        if not cadence.interval.fixed:
            parts.append(_sub("every-max", valueDuration=duration_of(cadence.interval.high)))
        if cadence.sessions is not None:
            parts.append(_sub("sessions", valuePositiveInt=cadence.sessions))
        if cadence.until is not None:
            parts.append(_sub("until", valueDate=cadence.until.isoformat()))
        parts.append(_sub("set-by-clinician", valueBoolean=cadence.set_by_clinician))
    elif isinstance(cadence, Taper):
        parts = [_sub("taper", valueDuration=duration_of(i)) for i in cadence.intervals]
    else:
        parts = [_sub("offset", valueDuration=duration_of(o)) for o in cadence.offsets]
    return _ext("cadence", extension=parts)


def _phase_action(protocol: Protocol, phase: Phase, number: int, ids: dict[str, str]) -> JSON:
    action_id = f"phase-{number}"
    action: JSON = {
        "id": action_id,
        "extension": [
            _ext("phase-name", valueString=phase.name),
            _cadence_extension(phase.cadence),
            _ext("starts-after", valueDuration=duration_of(phase.starts_after)),
            _ext("slack", valueDuration=duration_of(phase.slack)),
        ],
        "title": phase.title,
        "description": str(phase.cadence),
    }
    if phase.sources:
        action["documentation"] = _citations(protocol, phase.sources)
    if number > 1:
        action["relatedAction"] = [
            {
                "actionId": f"phase-{number - 1}",
                "relationship": "after-end",
                "offsetDuration": duration_of(phase.starts_after),
            }
        ]
    action["timingTiming"] = timing(phase.cadence)
    action["definitionCanonical"] = f"#{ids[phase.session]}"
    companions = []
    for index, companion in enumerate(phase.companions, start=1):
        template = protocol.template(companion.session)
        entry: JSON = {
            "id": f"{action_id}-companion-{index}",
            "extension": [_ext("anchor", valueCode=companion.anchor)],
            "title": template.title,
            "description": f"{companion.window} {companion.direction} {companion.anchor} session of the phase",
        }
        if companion.sources:
            entry["documentation"] = _citations(protocol, companion.sources)
        entry["relatedAction"] = [
            {
                "actionId": action_id,
                "relationship": _RELATIONSHIPS[companion.direction],
                "offsetRange": window_range(companion.window),
            }
        ]
        entry["definitionCanonical"] = f"#{ids[companion.session]}"
        companions.append(entry)
    if companions:
        action["action"] = companions
    return action


def _assessment_action(protocol: Protocol, rule: AssessmentRule) -> JSON:
    parts = [_sub("at", valueCode=rule.at)]
    if rule.phase is not None:
        parts.append(_sub("phase", valueString=rule.phase))
    if rule.every is not None:
        parts.append(_sub("every", valuePositiveInt=rule.every))
    codes = []
    for instrument in rule.instruments:
        concept: JSON = {"text": instrument}
        if instrument in INSTRUMENTS:
            concept = {"coding": [dict(INSTRUMENTS[instrument])], "text": instrument}
        codes.append(concept)
    action: JSON = {
        "extension": [_ext("assessment", extension=parts)],
        "title": f"Questionnaires: {rule}",
        "code": codes,
    }
    if rule.sources:
        action["documentation"] = _citations(protocol, rule.sources)
    return action


def _protocol_text(protocol: Protocol) -> str:
    phases = []
    for phase in protocol.phases:
        line = f"{phase.title}: {phase.cadence} ({protocol.template(phase.session).title})"
        for companion in phase.companions:
            title = protocol.template(companion.session).title
            line += f"; {title} {companion.window} {companion.direction} {companion.anchor}"
        phases.append(line)
    other = [f"Questionnaires: {rule}" for rule in protocol.assessments]
    if protocol.monitoring_form is not None:
        form = protocol.monitoring_form
        other.append(f"{form.name}: within {form.due_within} of each dosing session")
    other.extend(protocol.notes)
    days = ", ".join(day.label for day in protocol.weekdays)
    return narrative(
        heading(protocol.title),
        paragraph(protocol.summary),
        paragraph(f"Route: {protocol.route.title}. Drug: {protocol.drug}. Usual weekdays: {days}."),
        paragraph("Phases:"),
        bullet_list(phases),
        bullet_list(other),
        paragraph(protocol.lateness),
        paragraph("Sources:"),
        bullet_list(f"{key}: {text}" for key, text in protocol.sources.items()),
    )


# -- reading ------------------------------------------------------------------------


def protocol_from_fhir(document: object) -> Protocol:
    """Read a PlanDefinition written by :func:`protocol_to_fhir` back into a Protocol.

    ``document`` is the parsed JSON. Anything ketaplan cannot represent is a
    :class:`~ketaplan.SpecError` naming the element's path.
    """
    root = _Node(document, "PlanDefinition")
    kind = root.get("resourceType", str)
    if kind != "PlanDefinition":
        raise SpecError("resourceType", kind, "expected a PlanDefinition")
    protocol = _Reader(root).protocol()
    _compare(protocol_to_fhir(protocol), cast(JSON, document), "PlanDefinition", root=True)
    return protocol


_MISSING: Any = object()


class _Node:
    """One JSON object of the document, with its path for messages."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, dict):
            raise SpecError(path, _shown(data), "expected a JSON object")
        self.data: dict[str, Any] = data
        self.path = path

    def field(self, key: str) -> str:
        return f"{self.path}.{key}"

    def get(self, key: str, kind: type[T], default: Any = _MISSING) -> T:
        if key not in self.data:
            if default is _MISSING:
                raise SpecError(self.field(key), NOT_SHOWN, "this element is required")
            return cast(T, default)
        value = self.data[key]
        if kind is int:
            if type(value) is not int:
                raise SpecError(self.field(key), _shown(value), "expected a whole number")
        elif not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise SpecError(self.field(key), _shown(value), f"expected {_KIND_NAMES[kind]}")
        return cast(T, value)

    def node(self, key: str) -> _Node:
        return _Node(self.get(key, dict), self.field(key))

    def nodes(self, key: str) -> list[_Node]:
        return [
            _Node(item, f"{self.field(key)}[{n}]") for n, item in enumerate(self.get(key, list, []))
        ]

    def extensions(self, url: str) -> list[_Node]:
        """The extensions (or, inside a complex extension, the parts) with ``url``."""
        return [item for item in self.nodes("extension") if item.get("url", str) == url]

    def extension(self, url: str, *, required: bool = True) -> _Node | None:
        found = self.extensions(url)
        if len(found) > 1:
            raise SpecError(found[1].path, url, "this extension may appear only once")
        if not found:
            if required:
                raise SpecError(self.field("extension"), url, "this extension is required")
            return None
        return found[0]


_KIND_NAMES = {
    str: "text (a JSON string)",
    bool: "true or false",
    dict: "a JSON object",
    list: "a JSON list",
}


def _shown(value: object) -> object:
    """A value as a message may show it: scalars as they are, never a whole object."""
    if isinstance(value, dict | list):
        return NOT_SHOWN
    return value


class _Reader:
    """Builds the Protocol from the elements that carry it."""

    def __init__(self, root: _Node) -> None:
        self.root = root
        self.sources = self._all_sources()

    def protocol(self) -> Protocol:
        root = self.root
        route_name = _code(self._ext(root, "route"))
        known = routes()
        if route_name not in known:
            raise SpecError(
                self._ext(root, "route").field("valueCode"),
                route_name,
                f"expected one of {', '.join(known)}",
            )
        templates, by_id = self._templates()
        phase_actions, assessment_actions = self._actions()
        form_node = root.extension(EXTENSION + "monitoring-form", required=False)
        protocol = self._build(
            root.field("extension"),
            lambda: Protocol(
                name=self._protocol_name(),
                title=root.get("title", str),
                summary=root.get("description", str, ""),
                route=known[route_name],
                phases=tuple(self._phase(node, by_id) for node in phase_actions),
                sessions=templates,
                weekdays=tuple(self._weekday(node) for node in self._exts(root, "weekday")),
                assessments=tuple(self._assessment(node) for node in assessment_actions),
                monitoring_form=self._form(form_node) if form_node is not None else None,
                drug=_string(self._ext(root, "drug")),
                min_gap=_exact(self._ext(root, "min-gap").node("valueDuration")),
                lateness=root.get("usage", str, ""),
                lateness_rules=tuple(
                    self._lateness(node) for node in self._exts(root, "lateness-rule")
                ),
                notes=tuple(_string(node) for node in self._exts(root, "note")),
                sources=self.sources,
            ),
        )
        translations = self._exts(root, "translation")
        if not translations:
            return protocol
        return self._build(
            root.field("extension"),
            lambda: attrs.evolve(protocol, translations=self._translations(protocol, translations)),
        )

    def _translations(self, protocol: Protocol, nodes: list[_Node]) -> dict[str, dict[str, Text]]:
        english = protocol.texts()
        found: dict[str, dict[str, Text]] = {}
        for node in nodes:
            key_node = cast(_Node, node.extension("key"))
            key = _string(key_node)
            lines = tuple(_string(part) for part in node.extensions("text"))
            tag = _code(cast(_Node, node.extension("language")))
            if key not in english:
                raise SpecError(key_node.field("valueString"), key, "not a text of this protocol")
            single = isinstance(english[key], str)
            if single and len(lines) != 1:
                raise SpecError(node.field("extension"), NOT_SHOWN, "expected one text part")
            found.setdefault(tag, {})[key] = lines[0] if single else lines
        return found

    # -- helpers --------------------------------------------------------------------

    @staticmethod
    def _build(path: str, make: Callable[[], T]) -> T:
        """``make()``, with a value it refuses reported at ``path``."""
        try:
            return make()
        except SpecError as error:
            if error.field.startswith("PlanDefinition"):
                raise
            raise SpecError(path, NOT_SHOWN, f"{error.field}: {error.expected}") from None

    @staticmethod
    def _ext(node: _Node, name: str) -> _Node:
        return cast(_Node, node.extension(EXTENSION + name))

    @staticmethod
    def _exts(node: _Node, name: str) -> list[_Node]:
        return node.extensions(EXTENSION + name)

    def _all_sources(self) -> dict[str, str]:
        sources = {}
        for node in self.root.nodes("relatedArtifact"):
            sources[node.get("label", str)] = node.get("citation", str)
        return sources

    def _cited(self, node: _Node, key: str) -> tuple[str, ...]:
        keys = []
        for item in node.nodes(key):
            label = item.get("label", str)
            if label not in self.sources:
                raise SpecError(
                    item.field("label"), label, "every cited source needs a relatedArtifact"
                )
            keys.append(label)
        return tuple(keys)

    def _protocol_name(self) -> str:
        found = [
            item.get("value", str)
            for item in self.root.nodes("identifier")
            if item.get("system", str, "") == PROTOCOL_SYSTEM
        ]
        if len(found) != 1:
            raise SpecError(
                self.root.field("identifier"),
                NOT_SHOWN,
                f"expected one identifier in the system {PROTOCOL_SYSTEM!r}: the protocol's name",
            )
        return found[0]

    def _weekday(self, node: _Node) -> Weekday:
        code = _code(node)
        if code not in Weekday.__members__:
            raise SpecError(
                node.field("valueCode"), code, "expected one of MO, TU, WE, TH, FR, SA, SU"
            )
        return Weekday[code]

    # -- session templates ----------------------------------------------------------

    def _templates(self) -> tuple[tuple[SessionTemplate, ...], dict[str, str]]:
        templates = []
        by_id: dict[str, str] = {}
        for node in self.root.nodes("contained"):
            kind = node.get("resourceType", str)
            if kind != "ActivityDefinition":
                raise SpecError(node.field("resourceType"), kind, "expected an ActivityDefinition")
            template = self._build(node.path, functools.partial(self._template, node))
            by_id[node.get("id", str)] = template.name
            templates.append(template)
        return tuple(templates), by_id

    def _template(self, node: _Node) -> SessionTemplate:
        names = [
            item.get("value", str)
            for item in node.nodes("identifier")
            if item.get("system", str, "") == TEMPLATE_SYSTEM
        ]
        if len(names) != 1:
            raise SpecError(
                node.field("identifier"),
                NOT_SHOWN,
                f"expected one identifier in the system {TEMPLATE_SYSTEM!r}: the template's name",
            )
        code = node.node("code")
        kinds = [c.get("code", str) for c in code.nodes("coding")]
        if len(kinds) != 1 or kinds[0] not in {k.value for k in SessionKind}:
            raise SpecError(
                code.field("coding"),
                kinds[0] if len(kinds) == 1 else NOT_SHOWN,
                "expected one code: " + ", ".join(k.value for k in SessionKind),
            )
        setting = _code(self._ext(node, "setting"))
        if setting not in ("clinic", "home", "telehealth"):
            raise SpecError(
                self._ext(node, "setting").field("valueCode"),
                setting,
                "expected one of clinic, home, telehealth",
            )
        lines: dict[str, Any] = {
            attribute: tuple(_string(item) for item in self._exts(node, name))
            for attribute, name, _title in _INSTRUCTIONS
        }
        return SessionTemplate(
            name=names[0],
            kind=SessionKind(kinds[0]),
            title=node.get("title", str),
            duration=_exact(node.node("timingDuration")),
            setting=cast(Literal["clinic", "home", "telehealth"], setting),
            uses_chair=self._ext(node, "uses-chair").get("valueBoolean", bool),
            **self._resource(node),
            checkpoints=tuple(self._checkpoint(item) for item in self._exts(node, "checkpoint")),
            sources=self._cited(node, "relatedArtifact"),
            **lines,
        )

    def _resource(self, node: _Node) -> dict[str, str]:
        """The template's ``resource`` when the definition names one (else its default)."""
        held = node.extension(EXTENSION + "resource", required=False)
        if held is None:
            return {}
        if held.get("valueBoolean", bool, None) is False:
            return {"resource": ""}
        return {"resource": held.get("valueString", str)}

    def _checkpoint(self, node: _Node) -> Checkpoint:
        return Checkpoint(
            at=_exact(_part(node, "at").node("valueDuration")),
            label=_string(_part(node, "label")),
            sources=_part_sources(node),
        )

    # -- actions --------------------------------------------------------------------

    def _actions(self) -> tuple[list[_Node], list[_Node]]:
        phases, assessments = [], []
        for node in self.root.nodes("action"):
            if node.extension(EXTENSION + "assessment", required=False) is not None:
                assessments.append(node)
            else:
                phases.append(node)
        return phases, assessments

    def _definition(self, node: _Node, by_id: dict[str, str]) -> str:
        canonical = node.get("definitionCanonical", str)
        if not canonical.startswith("#") or canonical[1:] not in by_id:
            raise SpecError(
                node.field("definitionCanonical"),
                canonical,
                "expected '#' and the id of a contained ActivityDefinition",
            )
        return by_id[canonical[1:]]

    def _phase(self, node: _Node, by_id: dict[str, str]) -> Phase:
        companions = tuple(self._companion(item, by_id) for item in node.nodes("action"))
        return self._build(
            node.field("extension"),
            lambda: Phase(
                name=_string(self._ext(node, "phase-name")),
                title=node.get("title", str),
                cadence=self._cadence(self._ext(node, "cadence")),
                session=self._definition(node, by_id),
                companions=companions,
                starts_after=_interval(self._ext(node, "starts-after").node("valueDuration")),
                slack=_interval(self._ext(node, "slack").node("valueDuration")),
                sources=self._cited(node, "documentation"),
            ),
        )

    def _companion(self, node: _Node, by_id: dict[str, str]) -> Companion:
        related = node.nodes("relatedAction")
        if len(related) != 1:
            raise SpecError(
                node.field("relatedAction"),
                len(related),
                "expected one related action: the phase's, after-end or before-start",
            )
        link = related[0]
        relationship = link.get("relationship", str)
        directions = {value: key for key, value in _RELATIONSHIPS.items()}
        if relationship not in directions:
            raise SpecError(
                link.field("relationship"), relationship, "expected after-end or before-start"
            )
        window = link.node("offsetRange")
        anchor = _code(self._ext(node, "anchor"))
        if anchor not in ("each", "first", "last"):
            raise SpecError(
                self._ext(node, "anchor").field("valueCode"),
                anchor,
                "expected one of each, first, last",
            )
        return self._build(
            node.path,
            lambda: Companion(
                session=self._definition(node, by_id),
                anchor=cast(Literal["each", "first", "last"], anchor),
                window=DurationRange(
                    _exact(window.node("low"), quantity=True),
                    _exact(window.node("high"), quantity=True),
                ),
                direction=cast(Literal["after", "before"], directions[relationship]),
                sources=self._cited(node, "documentation"),
            ),
        )

    def _cadence(self, node: _Node) -> Cadence:
        names = [item.get("url", str) for item in node.nodes("extension")]
        if "per-week" in names:
            return PerWeek(
                _positive(_part(node, "per-week")),
                _positive(_part(node, "per-week-max")),
                _positive(_part(node, "weeks")),
                _positive(_part(node, "sessions")),
            )
        if "every" in names:
            low = _interval(_part(node, "every").node("valueDuration"))
            high_node = _part(node, "every-max", required=False)
            high = _interval(high_node.node("valueDuration")) if high_node else low
            sessions = _part(node, "sessions", required=False)
            until = _part(node, "until", required=False)
            return Every(
                IntervalRange(low, high),
                sessions=_positive(sessions) if sessions else None,
                until=_date(until) if until else None,
                set_by_clinician=_part(node, "set-by-clinician").get("valueBoolean", bool),
            )
        if "taper" in names:
            return Taper(
                tuple(_interval(item.node("valueDuration")) for item in node.extensions("taper"))
            )
        if "offset" in names:
            return Offsets(
                tuple(_interval(item.node("valueDuration")) for item in node.extensions("offset"))
            )
        raise SpecError(
            node.field("extension"), NOT_SHOWN, "a cadence needs per-week, every, taper or offset"
        )

    def _assessment(self, node: _Node) -> AssessmentRule:
        part = self._ext(node, "assessment")
        at = _code(_part(part, "at"))
        if at not in ("baseline", "end", "every"):
            raise SpecError(
                _part(part, "at").field("valueCode"), at, "expected one of baseline, end, every"
            )
        phase = _part(part, "phase", required=False)
        every = _part(part, "every", required=False)
        return self._build(
            node.path,
            lambda: AssessmentRule(
                instruments=tuple(item.get("text", str) for item in node.nodes("code")),
                at=cast(Literal["baseline", "end", "every"], at),
                phase=_string(phase) if phase else None,
                every=_positive(every) if every else None,
                sources=self._cited(node, "documentation"),
            ),
        )

    def _lateness(self, node: _Node) -> LatenessRule:
        action = _code(_part(node, "on-missed"))
        if action not in ("continue", "shift", "review"):
            raise SpecError(
                _part(node, "on-missed").field("valueCode"),
                action,
                "expected one of continue, shift, review",
            )
        phase = _part(node, "phase", required=False)
        return self._build(
            node.path,
            lambda: LatenessRule(
                on_missed=cast(Literal["continue", "shift", "review"], action),
                phase=_string(phase) if phase else None,
                shift=_interval(_part(node, "shift").node("valueDuration")),
                sources=_part_sources(node),
            ),
        )

    def _form(self, node: _Node) -> MonitoringForm:
        description = _part(node, "description", required=False)
        return self._build(
            node.path,
            lambda: MonitoringForm(
                name=_string(_part(node, "name")),
                due_within=_interval(_part(node, "due-within").node("valueDuration")),
                description=_string(description) if description else "",
                sources=_part_sources(node),
            ),
        )


def _part(node: _Node, name: str, *, required: bool = True) -> _Node:
    found = node.extension(name, required=required)
    return cast(_Node, found)


def _part_sources(node: _Node) -> tuple[str, ...]:
    return tuple(_string(item) for item in node.extensions("source"))


def _string(node: _Node) -> str:
    return node.get("valueString", str)


def _code(node: _Node) -> str:
    return node.get("valueCode", str)


def _positive(node: _Node) -> int:
    value = node.get("valuePositiveInt", int)
    if value < 1:
        raise SpecError(
            node.field("valuePositiveInt"), value, "expected a whole number of at least 1"
        )
    return value


def _date(node: _Node) -> dt.date:
    text = node.get("valueDate", str)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise SpecError(
            node.field("valueDate"), text, "expected a date such as 2027-03-22"
        ) from None


def _quantity(node: _Node, codes: dict[str, Any], example: str) -> tuple[int, str]:
    system = node.get("system", str)
    code = node.get("code", str)
    if system != UCUM or code not in codes:
        raise SpecError(
            node.field("code"),
            code,
            f"expected a UCUM duration in {', '.join(codes)}, e.g. {example}",
        )
    value = node.get("value", int)
    if value < 0:
        raise SpecError(node.field("value"), value, "expected a whole number of at least 0")
    return value, code


def _interval(node: _Node) -> Interval:
    """A Duration in days, weeks or months: a calendar interval."""
    value, code = _quantity(node, _INTERVAL_CODES, "{'value': 2, 'code': 'wk'}")
    try:
        return Interval(value, _INTERVAL_CODES[code])
    except SpecError as error:
        raise SpecError(node.field("value"), value, error.expected) from None


def _exact(node: _Node, *, quantity: bool = False) -> dt.timedelta:
    """A Duration (or a Range's Quantity) in hours, minutes or seconds: an exact length."""
    value, code = _quantity(node, _EXACT_CODES, "{'value': 40, 'code': 'min'}")
    try:
        return dt.timedelta(seconds=value * _EXACT_CODES[code])
    except OverflowError:
        raise SpecError(node.field("value"), value, "the duration is too long") from None


# -- comparing with what ketaplan writes ---------------------------------------------


def _compare(expected: object, actual: object, path: str, *, root: bool = False) -> None:
    """Raise at the first element of ``actual`` that differs from ``expected``."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in actual:
            if key not in expected and not (root and key in _METADATA):
                raise SpecError(
                    f"{path}.{key}",
                    NOT_SHOWN,
                    "ketaplan cannot represent this element; leave it out",
                )
        for key, value in expected.items():
            if root and key in _METADATA:
                continue
            if key not in actual:
                raise SpecError(
                    f"{path}.{key}",
                    NOT_SHOWN,
                    f"missing: ketaplan writes {_describe(value)} here for this protocol",
                )
            _compare(value, actual[key], f"{path}.{key}")
        return
    if isinstance(expected, list) and isinstance(actual, list):
        for index, (one, other) in enumerate(zip(expected, actual, strict=False)):
            _compare(one, other, f"{path}[{index}]")
        if len(actual) > len(expected):
            raise SpecError(
                f"{path}[{len(expected)}]",
                NOT_SHOWN,
                "ketaplan cannot represent this item (it writes "
                f"{len(expected)} here for this protocol); leave it out",
            )
        if len(actual) < len(expected):
            raise SpecError(
                f"{path}[{len(actual)}]",
                NOT_SHOWN,
                f"missing: ketaplan writes {_describe(expected[len(actual)])} here for this protocol",
            )
        return
    if type(expected) is not type(actual) or expected != actual:
        raise SpecError(
            path,
            _shown(actual),
            f"expected {_describe(expected)}, as the elements ketaplan reads say; edit those instead",
        )


def _describe(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, str) and len(value) > 60:
        value = value[:57] + "..."
    return json.dumps(value, ensure_ascii=False)
