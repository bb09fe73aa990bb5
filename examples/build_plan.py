"""Build an esketamine plan from Python, fill two dose fields and write its files.

Run from any folder: the files go to ./esketamine-plan/.
"""

from __future__ import annotations

import datetime as dt

import attrs

import ketaplan

NOW = dt.datetime(2027, 2, 1, 12, 0, tzinfo=dt.UTC)  # the generation time is an input

clinic = ketaplan.Clinic(
    name="Riverside Wellness Clinic",
    timezone="Europe/London",
    address="12 Riverside Walk, London SE1 9XX",
    holidays=("GB-ENG",),
    closures=(ketaplan.Closure(dt.date(2027, 3, 11), dt.date(2027, 3, 11), "staff training"),),
    consecutive_days=False,
)
protocol = ketaplan.builtin_protocols()["esketamine-nasal"]
# Week 9 onwards: the clinician chooses weekly or every two weeks.
protocol = protocol.with_phase("maintenance", interval=ketaplan.IntervalRange.parse("2 weeks"))

plan = ketaplan.Plan.create(
    "riverside-0007",
    protocol,
    clinic,
    dt.date(2027, 3, 1),
    preferences=ketaplan.Preferences(time=dt.time(10, 0)),
    patient=ketaplan.Patient(name="Zoë O'Brien", ref="RS-0007"),
    now=NOW,
)

# The clinician's entries: each checked against its field's unit.
fields = {field.name: field for field in protocol.route.dose_fields}
plan = attrs.evolve(
    plan,
    doses=(
        ketaplan.DoseEntry("rest_minutes", fields["rest_minutes"].parse("5 min")),
        ketaplan.DoseEntry("devices", fields["devices"].parse("2 devices"), session="induction-01"),
    ),
)

for session in plan.sessions:
    if session.moves:
        print(f"{session.key} moved: {'; '.join(str(move) for move in session.moves)}")
print("still to do:", *plan.missing(), sep="\n- ")
for path in ketaplan.write_outputs(plan, "esketamine-plan", now=NOW):
    print(path)
