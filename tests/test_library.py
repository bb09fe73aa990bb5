"""Built-in protocols and routes: complete, sourced, and free of dose values."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ketaplan
from ketaplan import _cache

DATA = Path(ketaplan.__file__).parent / "data"
NAMES = ["esketamine-nasal", "im-kap", "iv-induction", "oral-sublingual"]


def test_builtin_protocols_are_the_four_named() -> None:
    """The built-in protocols are exactly the four documented names."""
    assert list(ketaplan.builtin_protocols()) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_every_fact_cites_a_source(name: str) -> None:
    """Every phase, companion, session template, checkpoint and assessment cites a known source."""
    protocol = ketaplan.builtin_protocols()[name]
    items: list[tuple[str, tuple[str, ...]]] = []
    for template in protocol.sessions:
        items.append((f"session {template.name}", template.sources))
        items.extend((f"checkpoint {c.label}", c.sources) for c in template.checkpoints)
    for phase in protocol.phases:
        items.append((f"phase {phase.name}", phase.sources))
        items.extend((f"companion {c.session}", c.sources) for c in phase.companions)
    items.extend((f"assessment {a}", a.sources) for a in protocol.assessments)
    unsourced = [what for what, sources in items if not sources]
    assert unsourced == []
    assert all(source in protocol.sources for _, sources in items for source in sources)


@pytest.mark.parametrize("path", sorted(DATA.rglob("*.toml")), ids=lambda p: p.name)
def test_package_data_carries_no_dose_values(path: Path) -> None:
    """No built-in file states a dose: no number followed by mg, mg/kg or mcg anywhere, sources included."""
    text = path.read_text(encoding="utf-8")
    assert re.findall(r"\b\d+(?:\.\d+)?\s*(?:mg|mcg|µg)(?:/kg)?\b", text) == []


@pytest.mark.parametrize("name", NAMES)
def test_dose_fields_are_placeholders_with_units(name: str) -> None:
    """Each route declares its dose fields with units and nothing else: no defaults, no values."""
    route = ketaplan.builtin_protocols()[name].route
    assert route.dose_fields
    assert all(field.unit for field in route.dose_fields)


def test_unknown_protocol_suggests_the_closest() -> None:
    """A misspelt protocol name gets the closest built-in name and the full list."""
    with pytest.raises(ketaplan.UnknownProtocolError, match="did you mean 'im-kap'"):
        ketaplan.load_protocol("im-kapp")


def test_esketamine_has_three_label_phases_and_a_monitoring_form() -> None:
    """The esketamine protocol follows the label: twice weekly, weekly, then weekly or every two weeks."""
    protocol = ketaplan.builtin_protocols()["esketamine-nasal"]
    cadences = [str(phase.cadence) for phase in protocol.phases if phase.session == "dosing"]
    assert cadences[:2] == [
        "8 sessions, 2 a week within 4 weeks",
        "4 sessions, 1 a week within 4 weeks",
    ]
    assert cadences[2].startswith("every 1-2 weeks")
    assert protocol.monitoring_form is not None
    assert str(protocol.monitoring_form.due_within) == "7 days"


@pytest.mark.parametrize("name", NAMES)
def test_every_builtin_template_has_calendar_wording_for_its_instructions(name: str) -> None:
    """Each built-in session template that tells the patient how to prepare or what to do after
    also says it in calendar wording, so that no calendar falls back to a bare pointer."""
    protocol = ketaplan.builtin_protocols()[name]
    missing = [
        f"{template.name}.{key}"
        for template in protocol.sessions
        for key, specific, calendar in (
            ("calendar_preparation", template.preparation, template.calendar_preparation),
            ("calendar_aftercare", template.aftercare, template.calendar_aftercare),
        )
        if specific and not calendar
    ]
    assert [] == missing


def _protocol_file(tmp_path: Path, dosing: str) -> ketaplan.Protocol:
    path = tmp_path / "own.toml"
    path.write_text(
        '[protocol]\nname = "own"\ntitle = "Own"\nroute = "intravenous"\n\n'
        f"[sessions.dosing]\n{dosing}\n\n"
        '[[phases]]\nname = "induction"\ntitle = "Induction"\nsession = "dosing"\n'
        'cadence = { every = "1 week", sessions = 2 }\nsources = ["iv-practice"]\n',
        encoding="utf-8",
    )
    return ketaplan.load_protocol(str(path))


def test_dosing_template_inherits_the_routes_calendar_wording(tmp_path: Path) -> None:
    """A [sessions.dosing] table that keeps the route's instructions keeps its calendar wording."""
    route = ketaplan.builtin_protocols()["iv-induction"].route.session
    assert route is not None
    template = _protocol_file(tmp_path, 'title = "Our session"').template("dosing")
    assert route.calendar_preparation == template.calendar_preparation
    assert route.calendar_aftercare == template.calendar_aftercare


def test_replaced_instructions_drop_the_inherited_calendar_wording(tmp_path: Path) -> None:
    """Replacing the preparation lines without new calendar wording leaves none, so a calendar
    never carries wording that no longer matches the instructions; aftercare is inherited."""
    template = _protocol_file(tmp_path, 'preparation = ["Fast for 8 hours."]').template("dosing")
    route = ketaplan.builtin_protocols()["iv-induction"].route.session
    assert route is not None
    assert () == template.calendar_preparation
    assert route.calendar_aftercare == template.calendar_aftercare


def test_calendar_wording_is_read_from_a_protocol_file(tmp_path: Path) -> None:
    """calendar_preparation and calendar_aftercare in a protocol file are the template's
    calendar wording."""
    template = _protocol_file(
        tmp_path,
        'preparation = ["Fast for 8 hours before the infusion."]\n'
        'calendar_preparation = ["Fast for 8 hours."]\n'
        'calendar_aftercare = ["Rest today."]',
    ).template("dosing")
    assert ("Fast for 8 hours.",) == template.calendar_preparation
    assert ("Rest today.",) == template.calendar_aftercare


def test_calendar_wording_must_be_a_list_of_strings(tmp_path: Path) -> None:
    """A calendar_preparation that is not a list of strings is an error naming the field."""
    with pytest.raises(ketaplan.SpecError, match=r"calendar_preparation"):
        _protocol_file(tmp_path, "calendar_preparation = 3")


def _counting(calls: list[str]) -> Callable[[str], dict[str, Any]]:
    def parse(text: str) -> dict[str, Any]:
        calls.append(text)
        return tomllib.loads(text)

    return parse


def test_a_builtin_file_is_parsed_once_into_the_private_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A built-in protocol file parsed in one process is read back from the user's cache
    folder (private to the user) by the next, the same as parsed; an edited file is
    parsed again."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    text = (DATA / "protocols" / "im-kap.toml").read_text(encoding="utf-8")
    calls: list[str] = []
    first = _cache.parsed_cached("protocols/im-kap.toml", text, _counting(calls))
    again = _cache.parsed_cached("protocols/im-kap.toml", text, _counting(calls))
    assert tomllib.loads(text) == first == again
    assert 1 == len(calls)
    (folder,) = (tmp_path / "ketaplan").glob("data-*")
    assert 0o700 == folder.stat().st_mode & 0o777
    edited = text.replace("im-kap", "im-kap-edited")
    assert tomllib.loads(edited) == _cache.parsed_cached(
        "protocols/im-kap.toml", edited, _counting(calls)
    )
    assert 2 == len(calls)


def test_a_damaged_or_unusable_data_cache_only_means_parsing_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached file that is not what ketaplan wrote is parsed again and rewritten; a cache
    folder that cannot be made, and data JSON cannot hold (a TOML date), are parsed each
    time; the protocols are the same."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    text = (DATA / "routes.toml").read_text(encoding="utf-8")
    calls: list[str] = []
    expected = tomllib.loads(text)
    assert expected == _cache.parsed_cached("routes.toml", text, _counting(calls))
    (stored,) = tmp_path.glob("ketaplan/data-*/routes.toml-*.json")
    for number, damaged in enumerate(
        ["{not json", "[1]", '{"digest": "0", "data": {}}', '{"data": {}}'], start=2
    ):
        stored.write_text(damaged, encoding="utf-8")
        assert expected == _cache.parsed_cached("routes.toml", text, _counting(calls))
        assert number == len(calls)
    assert expected == _cache.parsed_cached("routes.toml", text, _counting(calls))
    assert 5 == len(calls)
    dated = 'start = 2027-01-11\nname = "x"\n'
    for _ in range(2):
        assert tomllib.loads(dated) == _cache.parsed_cached("dated.toml", dated, _counting(calls))
    assert 7 == len(calls)
    blocked = tmp_path / "blocked"
    blocked.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    for _ in range(2):
        assert expected == _cache.parsed_cached("routes.toml", text, _counting(calls))
    assert 9 == len(calls)


def test_a_cache_folder_others_can_write_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache folder that others can write to is not used (what is kept there may be loaded
    as code); nor is any when the ketaplan folder above them is such a folder: the file is
    then parsed and nothing is kept."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _cache.cache_folder("kept-x") is not None
    (tmp_path / "ketaplan" / "kept-x").chmod(0o777)
    assert _cache.cache_folder("kept-x") is None
    assert _cache.cache_folder("kept-y") is not None
    (tmp_path / "ketaplan").chmod(0o777)
    assert _cache.cache_folder("kept-y") is None
    assert _cache.cache_folder("kept-z") is None
    text = (DATA / "routes.toml").read_text(encoding="utf-8")
    calls: list[str] = []
    for _ in range(2):
        assert tomllib.loads(text) == _cache.parsed_cached("routes.toml", text, _counting(calls))
    assert 2 == len(calls)
    assert [] == list(tmp_path.glob("ketaplan/data-*/*"))
