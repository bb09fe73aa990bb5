"""The plan JSON: a lossless round trip that rebuilds the same files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

import ketaplan

from .conftest import NOW
from .test_ics import PLANS


@pytest.mark.parametrize("path", PLANS, ids=lambda p: p.stem)
def test_json_loads_back_into_an_equal_plan(path: Path) -> None:
    """plan_from_json(plan_to_json(plan)) == plan, for every example and test plan."""
    plan = ketaplan.load_plan(path, now=NOW)
    assert plan == ketaplan.plan_from_json(ketaplan.plan_to_json(plan))


def test_json_contract_fields(tmp_path: Path) -> None:
    """The JSON has the documented header and per-session fields, with offsets on every datetime."""
    plan = ketaplan.load_plan(PLANS[0], now=NOW)
    document = json.loads(ketaplan.plan_to_json(plan))
    assert (document["format"], document["version"]) == ("ketaplan.plan", 1)
    session = document["sessions"][0]
    assert {"key", "kind", "phase", "index", "start", "end", "status"} <= set(session)
    assert dt.datetime.fromisoformat(session["start"]).utcoffset() is not None


def test_building_from_json_gives_the_same_files(tmp_path: Path) -> None:
    """Building the saved JSON writes byte-identical files to building the TOML it came from."""
    plan = ketaplan.load_plan(PLANS[0], now=NOW)
    first = ketaplan.write_outputs(plan, tmp_path / "a", now=NOW)
    json_path = next(p for p in first if p.suffix == ".json")
    again = ketaplan.load_plan(json_path, now=NOW + dt.timedelta(days=3))
    second = ketaplan.write_outputs(again, tmp_path / "b", now=NOW)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "plan JSON: got '<file>'; not valid JSON"),
        ('{"format": "something.else"}', "format: got 'something.else'; expected 'ketaplan.plan'"),
        (
            '{"format": "ketaplan.plan", "version": 99}',
            "version: got 99; this ketaplan reads plan JSON version 1",
        ),
        (
            '{"format": "ketaplan.plan", "version": 1, "id": "x"}',
            "the saved plan is damaged or incomplete",
        ),
    ],
)
def test_bad_json_is_a_spec_error(text: str, message: str) -> None:
    """A damaged or foreign JSON file gets a SpecError saying what is wrong."""
    with pytest.raises(ketaplan.SpecError) as caught:
        ketaplan.plan_from_json(text)
    assert message in str(caught.value)
