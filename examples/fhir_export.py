"""Send a plan to an EHR as FHIR R4, and take a protocol from a FHIR PlanDefinition.

Writes the esketamine protocol as a PlanDefinition, reads it back to build a
plan, and writes the plan's transaction Bundle before and after a session is
rescheduled: posting both to a FHIR server (POST to its base URL) leaves one
Appointment per session, the moved one updated. Run from any folder: the
files go to ./fhir/.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import ketaplan

NOW = dt.datetime(2027, 2, 1, 12, 0, tzinfo=dt.UTC)  # the generation time is an input
OUT = Path("fhir")
OUT.mkdir(exist_ok=True)

# A protocol as a PlanDefinition: an EHR can store it, and ketaplan reads it back.
protocol = ketaplan.builtin_protocols()["esketamine-nasal"]
definition = OUT / "esketamine-nasal.plandefinition.json"
definition.write_text(json.dumps(ketaplan.protocol_to_fhir(protocol), indent=2), encoding="utf-8")
protocol = ketaplan.load_protocol(str(definition))
print(
    definition,
    "reads back unchanged:",
    protocol == ketaplan.builtin_protocols()["esketamine-nasal"],
)

clinic = ketaplan.Clinic(
    name="Riverside Wellness Clinic",
    timezone="Europe/London",
    address="12 Riverside Walk, London SE1 9XX",
    holidays=("GB-ENG",),
)
plan = ketaplan.Plan.create(
    "riverside-0008",
    protocol.with_phase("maintenance", interval=ketaplan.IntervalRange.parse("2 weeks")),
    clinic,
    dt.date(2027, 3, 1),
    preferences=ketaplan.Preferences(time=dt.time(10, 0)),
    # The EHR finds the patient by this reference; the name stays out of the Bundle.
    patient=ketaplan.Patient(name="Zoë O'Brien", ref="RS-0008"),
    now=NOW,
)


def write(bundle: dict[str, Any], name: str) -> Path:
    path = OUT / name
    path.write_text(json.dumps(bundle, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# The EHR's own identifier system for the patient reference (a made-up one here).
first = ketaplan.plan_to_fhir(plan, now=NOW, patient_system="https://riverside.example/mrn")
print(write(first, f"{plan.id}.fhir.json"))

# The patient asks for the afternoon: the same identifiers, one Appointment changed.
session = plan.session("induction-03")
moved = ketaplan.reschedule(
    plan,
    "induction-03",
    session.start.replace(hour=14),
    now=NOW,
    reason="the patient asked for the afternoon",
)
second = ketaplan.plan_to_fhir(moved, now=NOW, patient_system="https://riverside.example/mrn")
print(write(second, f"{plan.id}.revised.fhir.json"))
changed = [
    new["request"]["url"]
    for old, new in zip(first["entry"], second["entry"], strict=True)
    if old != new
]
print("changed:", *changed)
