"""Built-in routes and protocols, and reading protocol files.

Routes live in ``data/routes.toml`` and protocols in ``data/protocols/``, as
TOML with a source for every fact. A user's own protocol file has the same
form and is loaded by path.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import tomllib
from pathlib import Path
from typing import Any, Literal, cast

import attrs

from ._cache import parsed_cached
from ._dosing import Derived, DoseField
from ._protocol import (
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
    Route,
    SessionKind,
    SessionTemplate,
    Taper,
    Text,
    check_translated,
    language_tag,
    text_paths,
)
from ._reader import MAX_FILE_BYTES, Table, load_toml, read_file
from ._units import DurationRange, Interval, IntervalRange, Weekday, parse_duration
from .exceptions import SpecError, UnknownProtocolError

__all__ = ["builtin_protocols", "load_protocol", "protocol_from_toml", "routes"]

_KINDS = ", ".join(kind.value for kind in SessionKind)


#: The package's data files (a folder of the installed package, as its templates and
#: catalogues are; ``importlib.resources`` would cost a new process 1.5 ms to find it).
_DATA = Path(__file__).parent / "data"


def _data(name: str) -> Path:
    return _DATA / name


@functools.cache
def _routes_file() -> dict[str, Any]:
    """The parsed ``routes.toml``, read once: the routes and their sources."""
    return _parsed("routes.toml")


def _parsed(name: str) -> dict[str, Any]:
    """The package's TOML data file ``name``, parsed (kept parsed in the cache folder)."""
    text = _data(name).read_text(encoding="utf-8")
    return parsed_cached(name, text, tomllib.loads)


@functools.cache
def routes() -> dict[str, Route]:
    """The built-in routes by name."""
    root = Table(_routes_file(), "")
    root.table("sources")
    section = root.table("routes")
    result = {name: _route(name, section.table(name)) for name in section.data}
    section.finish()
    root.finish()
    return result


def route_sources() -> dict[str, str]:
    """The sources cited by the built-in routes."""
    return dict(_routes_file().get("sources", {}))


@functools.cache
def _builtin_names() -> tuple[str, ...]:
    """The names of the built-in protocols (each file is named after its protocol)."""
    folder = _data("protocols")
    return tuple(
        sorted(
            entry.name.removesuffix(".toml")
            for entry in folder.iterdir()
            if entry.name.endswith(".toml")
        )
    )


@functools.cache
def _builtin(name: str) -> Protocol:
    """The built-in protocol ``name``, read from its own file only (a plan needs one)."""
    data = _parsed(f"protocols/{name}.toml")
    protocol = protocol_from_toml(data, f"protocol {name}.toml")
    if protocol.name != name:  # pragma: no cover - the package's own files
        raise SpecError("protocol.name", protocol.name, f"the file {name}.toml names it {name!r}")
    return protocol


def builtin_protocols() -> dict[str, Protocol]:
    """The built-in protocols by name, in name order."""
    return {name: _builtin(name) for name in _builtin_names()}


def load_protocol(reference: str, *, base: Path | None = None) -> Protocol:
    """A built-in protocol by name, or a protocol file by path (relative to ``base``):
    a ``.toml`` protocol file, or a ``.json`` FHIR R4 PlanDefinition as
    :func:`ketaplan.protocol_to_fhir` writes it."""
    known = _builtin_names()
    if reference in known:
        return _builtin(reference)
    if reference.endswith((".toml", ".json")) or "/" in reference or "\\" in reference:
        path = Path(reference)
        if base is not None and not path.is_absolute():
            path = base / path
        if path.suffix.lower() == ".json":
            return _plan_definition(path)
        return protocol_from_toml(load_toml(path, what="plan.protocol"), str(path))
    import difflib  # only for a suggestion in an error message

    close = difflib.get_close_matches(reference, list(known), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise UnknownProtocolError(
        "plan.protocol",
        reference,
        f"{hint}built-in protocols are {', '.join(known)}; or give a path to a .toml protocol file or a .json PlanDefinition",
    )


def _plan_definition(path: Path) -> Protocol:
    """The protocol in a FHIR PlanDefinition file (JSON)."""
    from .export._fhir_protocol import protocol_from_fhir  # the exporters import this module

    # A FIFO or a device such as /dev/zero is refused at once, as for TOML files.
    data = read_file(path, what="plan.protocol", limit=MAX_FILE_BYTES)
    try:
        document = json.loads(data)
    except RecursionError:
        raise SpecError("plan.protocol", str(path), "not valid JSON (nested too deeply)") from None
    except UnicodeDecodeError:
        raise SpecError("plan.protocol", str(path), "not valid JSON (not UTF-8 text)") from None
    except ValueError as error:
        problem = error.msg if isinstance(error, json.JSONDecodeError) else "a number is too long"
        raise SpecError("plan.protocol", str(path), f"not valid JSON ({problem})") from None
    return protocol_from_fhir(document)


def protocol_from_toml(data: dict[str, Any], origin: str) -> Protocol:
    """Build a :class:`Protocol` from the parsed TOML of a protocol file."""
    root = Table(data, "")
    head = root.table("protocol")
    route_name = head.require("route", str)
    known_routes = routes()
    if route_name not in known_routes:
        raise SpecError("protocol.route", route_name, f"expected one of {', '.join(known_routes)}")
    route = known_routes[route_name]
    sources = {**route_sources(), **_sources(root.table("sources"))}
    templates = _templates(root.table("sessions"), route)
    phases = tuple(_phase(table) for table in root.tables("phases"))
    assessments = tuple(_assessment(table) for table in root.tables("assessments"))
    form = _form(root.table("monitoring_form")) if "monitoring_form" in root else None
    protocol = Protocol(
        name=head.require("name", str),
        title=head.require("title", str),
        summary=head.get("summary", str, ""),
        route=route,
        phases=phases,
        sessions=templates,
        weekdays=tuple(
            Weekday.parse(day, field="protocol.weekdays") for day in head.strings("weekdays")
        )
        or (Weekday.MO, Weekday.TH),
        assessments=assessments,
        monitoring_form=form,
        drug=head.get("drug", str, "ketamine"),
        min_gap=head.convert("min_gap", parse_duration, parse_duration("0 min")),
        lateness=head.get("lateness", str, ""),
        lateness_rules=tuple(_lateness(table) for table in root.tables("lateness")),
        notes=head.strings("notes"),
        sources=sources,
    )
    head.finish()
    if "text" in root:
        protocol = attrs.evolve(protocol, translations=_translations(root.table("text"), protocol))
    root.finish()
    return protocol


def _translations(table: Table, protocol: Protocol) -> dict[str, dict[str, Text]]:
    """The ``[text.<language>]`` tables: each mirrors the keys of the protocol's texts."""
    english = text_paths(protocol)
    found: dict[str, dict[str, Text]] = {}
    for raw in table.data:
        tag = language_tag(raw, table.field(raw))
        if tag == "en":
            raise SpecError(
                table.field(raw),
                raw,
                "the English texts are the protocol's own keys; name another language",
            )
        if tag in found:
            raise SpecError(table.field(raw), raw, f"{tag!r} appears twice")
        texts: dict[str, Text] = {}
        _text_table(table.table(raw), (), english, texts)
        found[tag] = texts
    table.finish()
    return found


def _text_table(
    table: Table,
    at: tuple[str, ...],
    english: dict[tuple[str, ...], Text],
    found: dict[str, Text],
) -> None:
    """Read one table of a translation: its keys are the next parts of the English keys."""
    below = {path[len(at)] for path in english if len(path) > len(at) and path[: len(at)] == at}
    for key in sorted(below):
        path = (*at, key)
        if key not in table:
            table.get(key, object, None)  # a known key: offered when another is misspelt
        elif path in english:
            single = isinstance(english[path], str)
            text: Text = table.require(key, str) if single else table.strings(key)
            check_translated(table.field(key), text, english[path])
            found[".".join(path)] = text
        else:
            _text_table(table.table(key), path, english, found)
    table.finish()


def _sources(table: Table) -> dict[str, str]:
    for key, value in table.data.items():
        table.get(key, str, "")
        if not value.strip():
            raise SpecError(table.field(key), value, "a source needs a citation")
    table.finish()
    return dict(table.data)


def _route(name: str, table: Table) -> Route:
    fields = []
    for item in table.tables("dose_fields"):
        fields.append(
            DoseField(
                name=item.require("name", str),
                label=item.require("label", str),
                unit=item.require("unit", str),
                form=cast(
                    Literal["decimal", "integer"],
                    _choice(item, "form", ("decimal", "integer"), "decimal"),
                ),
                required=item.get("required", bool, True),
                note=item.get("note", str, ""),
            )
        )
        item.finish()
    derived = []
    for item in table.tables("derived"):
        derived.append(
            Derived(
                name=item.require("name", str),
                label=item.require("label", str),
                unit=item.require("unit", str),
                inputs=item.strings("inputs"),
                formula=cast(
                    Literal["product", "intervals"],
                    _choice(item, "formula", ("product", "intervals"), "product"),
                ),
            )
        )
        item.finish()
    session = _template("dosing", table.table("session"), None) if "session" in table else None
    route = Route(
        name=name,
        title=table.require("title", str),
        snomed=table.require("snomed", str),
        dose_fields=tuple(fields),
        derived=tuple(derived),
        session=session,
        sources=table.strings("sources"),
    )
    table.finish()
    return route


def _choice(table: Table, key: str, choices: tuple[str, ...], default: str) -> str:
    value = table.get(key, str, default)
    if value not in choices:
        raise SpecError(table.field(key), value, f"expected one of {', '.join(choices)}")
    return value


def _templates(table: Table, route: Route) -> tuple[SessionTemplate, ...]:
    result = []
    for name in table.data:
        base = route.session if route.session is not None and name == route.session.name else None
        result.append(_template(name, table.table(name), base))
    if route.session is not None and route.session.name not in table.data:
        result.append(route.session)
    table.finish()
    return tuple(result)


def _template(name: str, table: Table, base: SessionTemplate | None) -> SessionTemplate:
    def lines(key: str, inherited: tuple[str, ...]) -> tuple[str, ...]:
        return table.strings(key) if key in table else inherited

    def calendar_lines(key: str, specific: str, inherited: tuple[str, ...]) -> tuple[str, ...]:
        # Calendar wording restates the specific lines: inherit it only while
        # those are inherited too, never next to lines it no longer matches.
        if key in table:
            return table.strings(key)
        return () if specific in table else inherited

    checkpoints = (
        tuple(_checkpoint(item) for item in table.tables("checkpoints"))
        if "checkpoints" in table
        else (base.checkpoints if base else ())
    )
    kind_text = table.get("kind", str, base.kind.value if base else "")
    try:
        kind = SessionKind(kind_text)
    except ValueError:
        raise SpecError(table.field("kind"), kind_text, f"expected one of {_KINDS}") from None
    uses_chair = table.get("uses_chair", bool, base.uses_chair if base else False)
    resource = "chair" if uses_chair else ""
    if base is not None and uses_chair == base.uses_chair:
        resource = base.resource
    template = SessionTemplate(
        name=name,
        kind=kind,
        title=table.get("title", str, base.title if base else "") or kind.label,
        duration=table.convert("duration", parse_duration, base.duration if base else None)
        or _missing(table, "duration"),
        setting=cast(
            Literal["clinic", "home", "telehealth"],
            _choice(
                table,
                "setting",
                ("clinic", "home", "telehealth"),
                base.setting if base else "clinic",
            ),
        ),
        uses_chair=uses_chair,
        resource=table.get("resource", str, resource),
        checkpoints=checkpoints,
        preparation=lines("preparation", base.preparation if base else ()),
        during=lines("during", base.during if base else ()),
        aftercare=lines("aftercare", base.aftercare if base else ()),
        side_effects=lines("side_effects", base.side_effects if base else ()),
        call_the_clinic=lines("call_the_clinic", base.call_the_clinic if base else ()),
        sources=lines("sources", base.sources if base else ()),
        calendar_preparation=calendar_lines(
            "calendar_preparation", "preparation", base.calendar_preparation if base else ()
        ),
        calendar_aftercare=calendar_lines(
            "calendar_aftercare", "aftercare", base.calendar_aftercare if base else ()
        ),
    )
    table.finish()
    return template


def _missing(table: Table, key: str) -> Any:
    raise SpecError(table.field(key), None, "this field is required")


def _checkpoint(table: Table) -> Checkpoint:
    checkpoint = Checkpoint(
        at=parse_duration(table.require("at", str), field=table.field("at")),
        label=table.require("label", str),
        sources=table.strings("sources"),
    )
    table.finish()
    return checkpoint


def _phase(table: Table) -> Phase:
    companions = []
    for item in table.tables("companions"):
        after, before = item.optional("after", str), item.optional("before", str)
        if (after is None) == (before is None):
            raise SpecError(
                item.field("after"),
                after,
                "give exactly one of after or before, e.g. after = '24-72 h'",
            )
        direction: Literal["after", "before"] = "after" if after is not None else "before"
        companions.append(
            Companion(
                session=item.require("session", str),
                anchor=cast(
                    Literal["each", "first", "last"],
                    _choice(item, "anchor", ("each", "first", "last"), "each"),
                ),
                window=DurationRange.parse(after or before or "", field=item.field(direction)),
                direction=direction,
                sources=item.strings("sources"),
            )
        )
        item.finish()
    phase = Phase(
        name=table.require("name", str),
        title=table.require("title", str),
        cadence=_cadence(table.table("cadence")),
        session=table.require("session", str),
        companions=tuple(companions),
        starts_after=table.convert("starts_after", Interval.parse, Interval(1, "days")),
        slack=table.convert("slack", Interval.parse, Interval(7, "days")),
        sources=table.strings("sources"),
    )
    table.finish()
    return phase


def _cadence(table: Table) -> Cadence:
    cadence: Cadence
    if "per_week" in table:
        raw = table.get("per_week", object, None)
        if isinstance(raw, int) and not isinstance(raw, bool):
            low = high = raw
        elif isinstance(raw, list) and len(raw) == 2 and all(isinstance(n, int) for n in raw):
            low, high = raw
        else:
            raise SpecError(
                table.field("per_week"),
                raw,
                "expected a number of sessions a week or a range [2, 3]",
            )
        weeks = table.require("weeks", int)
        cadence = PerWeek(low, high, weeks, table.get("sessions", int, low * weeks))
    elif "every" in table:
        cadence = Every(
            interval=IntervalRange.parse(table.require("every", str), field=table.field("every")),
            sessions=table.optional("sessions", int),
            until=table.optional("until", dt.date),
            set_by_clinician=table.get("set_by_clinician", bool, False),
        )
    elif "taper" in table:
        intervals = table.strings("taper")
        cadence = Taper(
            tuple(Interval.parse(text, field=table.field("taper")) for text in intervals)
        )
    elif "offsets" in table:
        cadence = Offsets(
            tuple(
                Interval.parse(text, field=table.field("offsets"))
                for text in table.strings("offsets")
            )
        )
    else:
        raise SpecError(table.path, table.data, "a cadence needs per_week, every, taper or offsets")
    table.finish()
    return cadence


def _assessment(table: Table) -> AssessmentRule:
    at = _choice(table, "at", ("baseline", "end", "every"), "baseline")
    rule = AssessmentRule(
        instruments=table.strings("instruments"),
        at=cast(Literal["baseline", "end", "every"], at),
        phase=table.optional("phase", str),
        every=table.optional("every", int),
        sources=table.strings("sources"),
    )
    if at == "end" and rule.phase is None:
        raise SpecError(
            table.field("phase"), None, "an assessment at the end of a phase names the phase"
        )
    if at == "every" and not rule.every:
        raise SpecError(
            table.field("every"),
            rule.every,
            "give the number of dosing sessions between assessments",
        )
    table.finish()
    return rule


def _lateness(table: Table) -> LatenessRule:
    action = _choice(table, "on_missed", ("continue", "shift", "review"), "review")
    rule = LatenessRule(
        on_missed=cast(Literal["continue", "shift", "review"], action),
        phase=table.optional("phase", str),
        shift=table.convert("shift", Interval.parse, Interval(7, "days")),
        sources=table.strings("sources"),
    )
    table.finish()
    return rule


def _form(table: Table) -> MonitoringForm:
    form = MonitoringForm(
        name=table.require("name", str),
        due_within=Interval.parse(
            table.require("due_within", str), field=table.field("due_within")
        ),
        description=table.get("description", str, ""),
        sources=table.strings("sources"),
    )
    table.finish()
    return form
