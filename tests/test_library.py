"""Built-in protocols and routes: complete, sourced, and free of dose values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import ketaplan

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
