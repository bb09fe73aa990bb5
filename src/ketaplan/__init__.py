"""ketaplan: ketamine and esketamine treatment protocols laid onto a clinic's calendar.

The public API is what this module exports; every other module is private.

>>> import datetime as dt
>>> import ketaplan
>>> clinic = ketaplan.Clinic(name="Lakeside Clinic", timezone="America/Toronto", holidays=("CA-ON",))
>>> plan = ketaplan.Plan.create(
...     "demo-1",
...     ketaplan.builtin_protocols()["esketamine-nasal"],
...     clinic,
...     dt.date(2027, 1, 11),
...     now=dt.datetime(2027, 1, 4, 12, 0, tzinfo=dt.UTC),
... )
>>> plan.sessions[0].start.isoformat()
'2027-01-11T09:00:00-05:00'
>>> plan.is_draft
True
"""

from typing import TYPE_CHECKING

from ._clinic import Busy, Clinic, Closure, Hours
from ._dosing import Derived, DerivedValue, DoseEntry, DoseField, Quantity
from ._ledger import Ledger, book
from ._library import builtin_protocols, load_protocol
from ._plan import (
    CalendarOptions,
    DocumentOptions,
    FhirOptions,
    Patient,
    PendingPhase,
    Plan,
    Preferences,
    Revision,
    SignOff,
)
from ._planfile import load_plan
from ._protocol import (
    AssessmentRule,
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
)
from ._schedule import Schedule, schedule
from ._serialize import plan_from_json, plan_to_json
from ._session import Move, Session, SessionStatus
from ._units import DurationRange, Interval, IntervalRange, Weekday
from .exceptions import (
    ConflictError,
    KetaplanError,
    KetaplanWarning,
    MissingExtraError,
    OutputError,
    PublishError,
    ScheduleError,
    SpecError,
    TemplateError,
    UnknownProtocolError,
)
from .export import render_ics

if TYPE_CHECKING:
    from ._lifecycle import (
        add_boosters,
        cease,
        complete,
        defer,
        fill_dose,
        finalise,
        miss,
        omit,
        reschedule,
        revert_phase,
        switch_route,
    )
    from ._publish import PublishResult, publish
    from ._revise import Replanned, reconcile, replan
    from ._write import write_outputs
    from .export._fhir import plan_to_fhir
    from .export._fhir_protocol import protocol_to_fhir
    from .export.documents import (
        render_clinician_html,
        render_clinician_markdown,
        render_patient_html,
        render_patient_markdown,
    )

__version__ = "0.1.0"

__all__ = [
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
    "Replanned",
    "Revision",
    "Route",
    "Schedule",
    "ScheduleError",
    "Session",
    "SessionKind",
    "SessionStatus",
    "SessionTemplate",
    "SignOff",
    "SpecError",
    "Taper",
    "TemplateError",
    "UnknownProtocolError",
    "Weekday",
    "add_boosters",
    "book",
    "builtin_protocols",
    "cease",
    "complete",
    "defer",
    "fill_dose",
    "finalise",
    "load_plan",
    "load_protocol",
    "miss",
    "omit",
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
    "replan",
    "reschedule",
    "revert_phase",
    "schedule",
    "switch_route",
    "write_outputs",
]

# Imported on first use: what only some programs need (CalDAV, FHIR, the
# documents and Jinja2, the changes to a saved plan and re-planning) is not
# loaded by ``import ketaplan``.
_LAZY = {
    **dict.fromkeys(
        (
            "add_boosters",
            "cease",
            "complete",
            "defer",
            "fill_dose",
            "finalise",
            "miss",
            "omit",
            "reschedule",
            "revert_phase",
            "switch_route",
        ),
        "._lifecycle",
    ),
    **dict.fromkeys(("Replanned", "reconcile", "replan"), "._revise"),
    "PublishResult": "._publish",
    "publish": "._publish",
    "plan_to_fhir": ".export._fhir",
    "protocol_to_fhir": ".export._fhir_protocol",
    "render_clinician_html": ".export.documents",
    "render_clinician_markdown": ".export.documents",
    "render_patient_html": ".export.documents",
    "render_patient_markdown": ".export.documents",
    "write_outputs": "._write",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
