"""Shared fixtures: a fixed generation time and plans built from the examples."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import ketaplan

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def now() -> dt.datetime:
    """The generation time every test uses."""
    return NOW


def toronto_clinic(**changes: object) -> ketaplan.Clinic:
    """A Toronto clinic open Monday to Friday, 08:00-18:00, with Ontario's holidays."""
    values: dict[str, object] = {
        "name": "Lakeside Wellness Clinic",
        "timezone": "America/Toronto",
        "address": "100 Queen St W, Toronto",
        "holidays": ("CA-ON",),
    }
    values.update(changes)
    return ketaplan.Clinic(**values)  # type: ignore[arg-type]
