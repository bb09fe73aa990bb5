"""How ketaplan scales and starts: documents linear in the sessions."""

from __future__ import annotations

import datetime as dt

import pytest

import ketaplan
from ketaplan.export.documents._clinician import clinician_context
from ketaplan.export.documents._patient import patient_context

from .conftest import EXAMPLES, NOW


class CountedPasses(tuple):  # type: ignore[type-arg]
    """A tuple that counts how many times it is iterated over from the start."""

    passes = 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        type(self).passes += 1
        return super().__iter__()


def _passes_over_sessions(plan: ketaplan.Plan, build: object) -> int:
    """How many times building a view model of ``plan`` walks through its sessions."""
    counted = type("Counted", (CountedPasses,), {"passes": 0})
    object.__setattr__(plan, "sessions", counted(plan.sessions))
    build(plan, NOW)  # type: ignore[operator]
    return counted.passes  # type: ignore[no-any-return]


@pytest.mark.parametrize("build", [patient_context, clinician_context])
def test_view_models_walk_the_sessions_a_fixed_number_of_times(build: object) -> None:
    """Building a document's view model passes over the plan's sessions as many times for a
    plan with twice the sessions: the work grows linearly with the number of sessions."""
    base = ketaplan.load_plan(EXAMPLES / "iv-induction.toml", now=NOW)
    later = NOW + dt.timedelta(days=1)
    small = ketaplan.add_boosters(base, 20, now=later, reason="longer course")
    large = ketaplan.add_boosters(base, 40, now=later, reason="longer course")
    assert len(large.sessions) - len(base.sessions) == 2 * (
        len(small.sessions) - len(base.sessions)
    )
    assert _passes_over_sessions(small, build) == _passes_over_sessions(large, build)
