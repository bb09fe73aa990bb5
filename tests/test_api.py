"""The public surface: exactly what ketaplan exports, and the exception tree."""

from __future__ import annotations

import ketaplan

EXPECTED = {
    "AssessmentRule",
    "Busy",
    "CalendarOptions",
    "Checkpoint",
    "Clinic",
    "Closure",
    "Companion",
    "ConflictError",
    "Derived",
    "DerivedValue",
    "DocumentOptions",
    "DoseEntry",
    "DoseField",
    "DurationRange",
    "Every",
    "FhirOptions",
    "Hours",
    "Interval",
    "IntervalRange",
    "KetaplanError",
    "KetaplanWarning",
    "LatenessRule",
    "Ledger",
    "Replanned",
    "replan",
    "MissingExtraError",
    "MonitoringForm",
    "Move",
    "Offsets",
    "OutputError",
    "Patient",
    "PendingPhase",
    "PerWeek",
    "Phase",
    "Plan",
    "Preferences",
    "Protocol",
    "PublishError",
    "PublishResult",
    "Quantity",
    "Revision",
    "Route",
    "Schedule",
    "ScheduleError",
    "Session",
    "SessionKind",
    "SessionStatus",
    "SessionTemplate",
    "SignOff",
    "Taper",
    "SpecError",
    "TemplateError",
    "UnknownProtocolError",
    "Weekday",
    "add_boosters",
    "book",
    "builtin_protocols",
    "switch_route",
    "cease",
    "complete",
    "defer",
    "fill_dose",
    "finalise",
    "miss",
    "omit",
    "reschedule",
    "revert_phase",
    "load_plan",
    "load_protocol",
    "plan_from_json",
    "plan_to_fhir",
    "plan_to_json",
    "protocol_to_fhir",
    "publish",
    "reconcile",
    "render_clinician_html",
    "render_clinician_markdown",
    "render_ics",
    "render_patient_html",
    "render_patient_markdown",
    "schedule",
    "write_outputs",
}


def test_all_is_exactly_the_intended_surface() -> None:
    """__all__ lists the intended public names, sorted, and each one exists."""
    assert set(ketaplan.__all__) == EXPECTED
    assert sorted(ketaplan.__all__) == ketaplan.__all__
    assert all(hasattr(ketaplan, name) for name in ketaplan.__all__)


def test_exceptions_inherit_the_fitting_builtins() -> None:
    """Every error is a KetaplanError and also the builtin a caller would expect."""
    assert issubclass(ketaplan.SpecError, ValueError)
    assert issubclass(ketaplan.UnknownProtocolError, LookupError)
    assert issubclass(ketaplan.UnknownProtocolError, ketaplan.SpecError)
    assert issubclass(ketaplan.ScheduleError, ValueError)
    assert issubclass(ketaplan.TemplateError, ValueError)
    assert issubclass(ketaplan.OutputError, OSError)
    assert issubclass(ketaplan.ConflictError, ketaplan.OutputError)
    assert issubclass(ketaplan.PublishError, ConnectionError)
    assert issubclass(ketaplan.MissingExtraError, ImportError)
    for error in (
        ketaplan.SpecError,
        ketaplan.ScheduleError,
        ketaplan.TemplateError,
        ketaplan.OutputError,
        ketaplan.PublishError,
        ketaplan.MissingExtraError,
    ):
        assert issubclass(error, ketaplan.KetaplanError)
    assert issubclass(ketaplan.KetaplanWarning, UserWarning)


def test_values_are_frozen() -> None:
    """Plans and their parts cannot be changed in place."""
    import attrs
    import pytest

    clinic = ketaplan.Clinic(name="c", timezone="UTC")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        clinic.name = "d"  # type: ignore[misc]
