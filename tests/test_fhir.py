"""FHIR R4: plans as transaction Bundles, protocols as PlanDefinitions.

Every Bundle and PlanDefinition is checked with the ``fhir.resources`` models
and with Medplum's validator (``@medplum/core`` against the R4
StructureDefinitions), and the Bundles are posted, twice, to Medplum's FHIR
router with its in-memory repository, served on 127.0.0.1 by
``tests/node/medplum/server.mjs``. Those server tests skip where Node.js or
the server's packages (``npm ci`` in tests/node/medplum) are missing, unless
``KETAPLAN_REQUIRE_NODE`` is set (as CI sets it): then they fail.
"""

from __future__ import annotations

import copy
import datetime as dt
import importlib.util
import json
import os
import selectors
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.plandefinition import PlanDefinition

import ketaplan
from ketaplan._cli import main
from ketaplan.export._fhir import IDENTIFIER_SYSTEM, PATIENT_SYSTEM
from ketaplan.export._fhir_protocol import protocol_from_fhir

from .conftest import EXAMPLES, NOW, ROOT

JSON = dict[str, Any]
NODE_DIR = ROOT / "tests" / "node" / "medplum"
NODE = shutil.which("node")
STARTUP_SECONDS = 30
PROTOCOLS = list(ketaplan.builtin_protocols())
PLAN_FILES = sorted(EXAMPLES.glob("*.toml"))

# The R4 value sets (all required bindings) of the codes ketaplan writes.
STATUSES = {
    "CarePlan": {
        "draft",
        "active",
        "on-hold",
        "revoked",
        "completed",
        "entered-in-error",
        "unknown",
    },
    "Appointment": {
        "proposed",
        "pending",
        "booked",
        "arrived",
        "fulfilled",
        "cancelled",
        "noshow",
        "entered-in-error",
        "checked-in",
        "waitlist",
    },
    "MedicationRequest": {
        "active",
        "on-hold",
        "cancelled",
        "completed",
        "entered-in-error",
        "stopped",
        "draft",
        "unknown",
    },
    "ServiceRequest": {
        "draft",
        "active",
        "on-hold",
        "revoked",
        "completed",
        "entered-in-error",
        "unknown",
    },
}
PARTICIPATION = {"accepted", "declined", "tentative", "needs-action"}


# -- plans to export -------------------------------------------------------------------


def example(name: str) -> ketaplan.Plan:
    return ketaplan.load_plan(EXAMPLES / name, now=NOW)


def course() -> ketaplan.Plan:
    """examples/course.py's plan: doses entered, signed, one session completed, one
    missed, deferred, reverted and finally ceased."""
    spec = importlib.util.spec_from_file_location("course_example", EXAMPLES / "course.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    plan: ketaplan.Plan = module.play_course()
    return plan


def iv_with_doses() -> ketaplan.Plan:
    """The IV example with dose per kg and body weight entered for every session."""
    plan = example("iv-induction.toml")
    for field, value in (("dose_per_kg", "0.5 mg/kg"), ("body_weight", "72 kg")):
        plan = ketaplan.fill_dose(plan, field, value, now=NOW, by="Dr Ada Osei")
    return plan


def signed() -> ketaplan.Plan:
    """The IV example with every dose field entered and the clinician's sign-off."""
    plan = iv_with_doses()
    plan = ketaplan.fill_dose(plan, "infusion_minutes", "40 min", now=NOW, by="Dr Ada Osei")
    return ketaplan.finalise(plan, "Dr Ada Osei", now=NOW)


def missed() -> ketaplan.Plan:
    """The IV example after its first infusion was missed."""
    plan = example("iv-induction.toml")
    first = plan.session("induction-01")
    return ketaplan.miss(plan, "induction-01", now=first.end, reason="snow storm")


def ceased() -> ketaplan.Plan:
    """The signed IV example, its consultation and first infusion done, then ceased."""
    plan = signed()
    for key in ("consultation", "induction-01"):
        plan = ketaplan.complete(plan, key, now=plan.session(key).end)
    later = plan.session("induction-01").end + dt.timedelta(days=1)
    return ketaplan.cease(plan, now=later, reason="the patient moved away")


def full_privacy() -> ketaplan.Plan:
    plan = example("im-kap.toml")
    return attrs.evolve(plan, calendar=attrs.evolve(plan.calendar, privacy="full"))


VARIANTS: dict[str, Callable[[], ketaplan.Plan]] = {
    **{path.name: (lambda path=path: example(path.name)) for path in PLAN_FILES},
    "doses entered": iv_with_doses,
    "signed": signed,
    "missed session": missed,
    "ceased": ceased,
    "course": course,
    "full privacy": full_privacy,
}


@pytest.fixture(scope="module")
def plans() -> dict[str, ketaplan.Plan]:
    return {name: make() for name, make in VARIANTS.items()}


def resources(bundle: JSON, kind: str | None = None) -> list[JSON]:
    found = [entry["resource"] for entry in bundle["entry"]]
    return [r for r in found if kind is None or r["resourceType"] == kind]


def by_value(bundle: JSON, kind: str) -> dict[str, JSON]:
    return {r["identifier"][0]["value"]: r for r in resources(bundle, kind)}


def walk(value: object) -> Iterator[tuple[str, object]]:
    """Every (key, value) pair anywhere in a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def validate_with_models(resource: JSON) -> None:
    """Validate ``resource`` with its fhir.resources R4B model, and a Bundle's entries with theirs."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    for entry in resource.get("entry", []):
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])


# -- the Bundle ----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_bundle_validates_with_the_fhir_resources_models(
    name: str, plans: dict[str, ketaplan.Plan]
) -> None:
    """Each example plan and variant exports a Bundle the R4B models accept, with every
    status and participation code from its R4 value set."""
    bundle = ketaplan.plan_to_fhir(plans[name], now=NOW)
    validate_with_models(bundle)
    assert isinstance(Bundle.model_validate(bundle), Bundle)
    for resource in resources(bundle):
        assert resource["status"] in STATUSES[resource["resourceType"]]
    statuses = {p["status"] for a in resources(bundle, "Appointment") for p in a["participant"]}
    assert statuses <= PARTICIPATION


def test_the_models_refuse_a_broken_bundle(plans: dict[str, ketaplan.Plan]) -> None:
    """The model check is real: an Appointment with a negative length is refused."""
    bundle = ketaplan.plan_to_fhir(plans["iv-induction.toml"])
    resources(bundle, "Appointment")[0]["minutesDuration"] = -3
    with pytest.raises(ValueError, match="minutesDuration"):
        validate_with_models(bundle)


def test_bundle_is_a_transaction_of_conditional_updates(plans: dict[str, ketaplan.Plan]) -> None:
    """Every entry is a PUT on its own identifier; full URLs are unique urn:uuid values."""
    plan = plans["iv-induction.toml"]
    bundle = ketaplan.plan_to_fhir(plan, now=NOW)
    assert ("transaction", NOW.isoformat()) == (bundle["type"], bundle["timestamp"])
    for entry in bundle["entry"]:
        resource = entry["resource"]
        identifier = resource["identifier"][0]
        kind, _, query = entry["request"]["url"].partition("?")
        assert ("PUT", resource["resourceType"]) == (entry["request"]["method"], kind)
        assert {"identifier": [f"{identifier['system']}|{identifier['value']}"]} == (
            urllib.parse.parse_qs(query)
        )
        assert "id" not in resource
    urls = [entry["fullUrl"] for entry in bundle["entry"]]
    assert len(set(urls)) == len(urls)
    assert all(url.startswith("urn:uuid:") for url in urls)


def test_one_appointment_per_session_with_its_instants(plans: dict[str, ketaplan.Plan]) -> None:
    """Each session is one Appointment: its key in the identifier, start and end as
    instants with the clinic's UTC offset, and its length in minutes."""
    plan = plans["iv-induction.toml"]
    appointments = by_value(ketaplan.plan_to_fhir(plan), "Appointment")
    assert [f"{plan.id}/{s.key}" for s in plan.sessions] == list(appointments)
    for session in plan.sessions:
        appointment = appointments[f"{plan.id}/{session.key}"]
        start = dt.datetime.fromisoformat(appointment["start"])
        assert (session.start, session.end) == (
            start,
            dt.datetime.fromisoformat(appointment["end"]),
        )
        assert start.utcoffset() == session.start.astimezone(plan.clinic.zone).utcoffset()
        assert session.duration == dt.timedelta(minutes=appointment["minutesDuration"])
        assert session.kind.value == appointment["serviceType"][0]["coding"][0]["code"]


def test_a_moved_session_says_why_in_its_comment(plans: dict[str, ketaplan.Plan]) -> None:
    """A session the scheduler moved off a holiday names the day and the rule in ``comment``."""
    plan = plans["iv-induction.toml"]
    moved = next(s for s in plan.sessions if s.moves)
    appointment = by_value(ketaplan.plan_to_fhir(plan), "Appointment")[f"{plan.id}/{moved.key}"]
    assert all(move.rule in appointment["comment"] for move in moved.moves)
    unmoved = next(s for s in plan.sessions if not s.moves)
    assert (
        "comment"
        not in by_value(ketaplan.plan_to_fhir(plan), "Appointment")[f"{plan.id}/{unmoved.key}"]
    )


def test_the_care_plan_lists_every_session_and_cites_the_sources(
    plans: dict[str, ketaplan.Plan],
) -> None:
    """The CarePlan's activities reference every Appointment, MedicationRequest and
    ServiceRequest of the Bundle; its narrative names the protocol, its phases and sources."""
    plan = plans["esketamine-nasal.toml"]
    bundle = ketaplan.plan_to_fhir(plan)
    care_plan = resources(bundle, "CarePlan")[0]
    urls = [entry["fullUrl"] for entry in bundle["entry"][1:]]
    assert urls == [a["reference"]["reference"] for a in care_plan["activity"]]
    assert ("plan", plan.protocol.title) == (care_plan["intent"], care_plan["title"])
    text = care_plan["text"]["div"]
    assert plan.protocol.title in text
    assert all(phase.title in text for phase in plan.protocol.phases)
    assert all(key in text for key in plan.protocol.cited_sources())


@pytest.mark.parametrize(
    ("name", "care_plan", "appointment"),
    [
        ("iv-induction.toml", "draft", "proposed"),
        ("signed", "active", "booked"),
        ("ceased", "revoked", "cancelled"),
    ],
)
def test_statuses_follow_the_plan(
    name: str, care_plan: str, appointment: str, plans: dict[str, ketaplan.Plan]
) -> None:
    """The CarePlan is a draft until signed, then active, and revoked once ceased; a future
    session is proposed, booked, or cancelled accordingly."""
    plan = plans[name]
    bundle = ketaplan.plan_to_fhir(plan)
    last = plan.sessions[-1]
    assert (care_plan, appointment) == (
        resources(bundle, "CarePlan")[0]["status"],
        by_value(bundle, "Appointment")[f"{plan.id}/{last.key}"]["status"],
    )


def test_session_statuses_become_appointment_statuses(plans: dict[str, ketaplan.Plan]) -> None:
    """Completed sessions are fulfilled, missed ones noshow; a ceased plan's requests are
    stopped where a dose was given and cancelled where none was."""
    plan = plans["ceased"]
    bundle = ketaplan.plan_to_fhir(plan)
    appointments = by_value(bundle, "Appointment")
    assert "fulfilled" == appointments[f"{plan.id}/induction-01"]["status"]
    assert (
        "noshow"
        == by_value(ketaplan.plan_to_fhir(plans["missed session"]), "Appointment")[
            f"{plan.id}/induction-01"
        ]["status"]
    )
    medications = by_value(bundle, "MedicationRequest")
    assert ("stopped", "cancelled") == (
        medications[f"{plan.id}/induction/medication"]["status"],
        medications[f"{plan.id}/maintenance/medication"]["status"],
    )


def test_no_dosage_has_a_dose_unless_one_was_entered(plans: dict[str, ketaplan.Plan]) -> None:
    """Without entries, no Dosage has doseAndRate and each says the clinician sets the dose."""
    for name in [path.name for path in PLAN_FILES] + ["missed session"]:
        plan = plans[name]
        assert not plan.doses
        bundle = ketaplan.plan_to_fhir(plan)
        keys = {key for key, _ in walk(bundle)}
        assert not keys & {"doseAndRate", "doseQuantity", "doseRange", "maxDosePerPeriod"}
        for request in resources(bundle, "MedicationRequest"):
            for dosage in request["dosageInstruction"]:
                assert "Dose to be set by the clinician" in dosage["text"]
                assert "ketaplan never sets a dose." in dosage["text"]


def test_entered_doses_are_ordered_and_derived_ones_calculated(
    plans: dict[str, ketaplan.Plan],
) -> None:
    """Entered plan-wide values give doseAndRate: the entered dose (ordered) and the dose
    derived from the entries (calculated); the field still blank is named in text."""
    plan = plans["doses entered"]
    request = by_value(ketaplan.plan_to_fhir(plan), "MedicationRequest")[
        f"{plan.id}/induction/medication"
    ]
    dosage = request["dosageInstruction"][0]
    assert [("ordered", 0.5, "mg/kg"), ("calculated", 36, "mg")] == [
        (d["type"]["coding"][0]["code"], d["doseQuantity"]["value"], d["doseQuantity"]["code"])
        for d in dosage["doseAndRate"]
    ]
    assert "Dose per kg 0.5 mg/kg, Body weight 72 kg" in dosage["text"]
    assert "Infusion time (min)" in dosage["text"]


def test_per_session_entries_are_listed_not_made_a_phase_dose(
    plans: dict[str, ketaplan.Plan],
) -> None:
    """A dose entered for one session only is listed by session in text; the phase's
    Dosage gets no doseAndRate, since its sessions differ."""
    plan = plans["esketamine-nasal.toml"]
    plan = ketaplan.fill_dose(plan, "devices", "2 devices", now=NOW, session="induction-01")
    request = by_value(ketaplan.plan_to_fhir(plan), "MedicationRequest")[
        f"{plan.id}/induction/medication"
    ]
    dosage = request["dosageInstruction"][0]
    assert "doseAndRate" not in dosage
    assert "induction-01: Devices 2 devices" in dosage["text"]


def test_one_medication_request_per_dosing_phase_in_sequence(
    plans: dict[str, ketaplan.Plan],
) -> None:
    """Each dosing phase has a MedicationRequest (draft, intent plan) whose Dosage is the
    phase's step in sequence, with the cadence and the dates of its sessions as Timing."""
    plan = plans["esketamine-nasal.toml"]
    requests = resources(ketaplan.plan_to_fhir(plan), "MedicationRequest")
    assert [
        f"{plan.id}/{name}/medication"
        for name in ("induction", "maintenance-weekly", "maintenance")
    ] == [r["identifier"][0]["value"] for r in requests]
    assert [1, 2, 3] == [r["dosageInstruction"][0]["sequence"] for r in requests]
    assert {("draft", "plan")} == {(r["status"], r["intent"]) for r in requests}
    repeat = requests[0]["dosageInstruction"][0]["timing"]["repeat"]
    days = sorted(
        s.start.astimezone(plan.clinic.zone).date().isoformat()
        for s in plan.sessions
        if s.phase == "induction"
    )
    assert {"start": days[0], "end": days[-1]} == repeat["boundsPeriod"]
    assert (8, 2, 1, "wk") == (
        repeat["count"],
        repeat["frequency"],
        repeat["period"],
        repeat["periodUnit"],
    )
    interval = requests[2]["dosageInstruction"][0]["timing"]["repeat"]
    assert (1, 2, "wk") == (interval["frequency"], interval["period"], interval["periodUnit"])


@pytest.mark.parametrize(
    ("name", "codes"),
    [
        ("esketamine-nasal.toml", {"789488000", "2201623"}),
        ("iv-induction.toml", {"714231007"}),
        ("im-kap.toml", {"714231007"}),
        ("oral-sublingual.toml", {"333847008"}),
    ],
)
def test_medication_carries_its_snomed_and_rxnorm_codes(
    name: str, codes: set[str], plans: dict[str, ketaplan.Plan]
) -> None:
    """The drug and route give the product codes documented in docs/fhir.md, and the route
    its SNOMED CT code."""
    plan = plans[name]
    request = resources(ketaplan.plan_to_fhir(plan), "MedicationRequest")[0]
    assert codes == {c["code"] for c in request["medicationCodeableConcept"]["coding"]}
    route = request["dosageInstruction"][0]["route"]["coding"][0]
    assert ("http://snomed.info/sct", plan.protocol.route.snomed) == (
        route["system"],
        route["code"],
    )


def test_questionnaires_are_service_requests_with_loinc_codes(
    plans: dict[str, ketaplan.Plan],
) -> None:
    """Each questionnaire due is a ServiceRequest with its LOINC panel code and the date
    of the session it is due at."""
    plan = plans["im-kap.toml"]
    requests = by_value(ketaplan.plan_to_fhir(plan), "ServiceRequest")
    due = [(s, name) for s in plan.sessions for name in s.assessments]
    assert [f"{plan.id}/{s.key}/{name}" for s, name in due] == list(requests)
    codes = {"PHQ-9": "44249-1", "GAD-7": "69737-5"}
    for session, name in due:
        request = requests[f"{plan.id}/{session.key}/{name}"]
        coding = request["code"]["coding"][0]
        assert ("http://loinc.org", codes[name]) == (coding["system"], coding["code"])
        day = session.start.astimezone(plan.clinic.zone).date().isoformat()
        assert (day, "plan") == (request["occurrenceDateTime"], request["intent"])


def test_the_patient_is_referenced_never_named(plans: dict[str, ketaplan.Plan]) -> None:
    """Below full privacy the patient is their reference only: the name appears nowhere."""
    for name in [path.name for path in PLAN_FILES]:
        plan = plans[name]
        text = json.dumps(ketaplan.plan_to_fhir(plan, now=NOW), ensure_ascii=False)
        assert plan.patient.name
        assert plan.patient.name not in text
    plan = plans["iv-induction.toml"]
    subject = resources(ketaplan.plan_to_fhir(plan), "CarePlan")[0]["subject"]
    assert {
        "type": "Patient",
        "identifier": {"system": PATIENT_SYSTEM, "value": "MRN-0107"},
    } == subject


def test_full_privacy_names_the_patient(plans: dict[str, ketaplan.Plan]) -> None:
    """At full privacy the reference also carries the patient's name as its display."""
    plan = plans["full privacy"]
    subject = resources(ketaplan.plan_to_fhir(plan), "CarePlan")[0]["subject"]
    assert (plan.patient.name, plan.patient.ref) == (
        subject["display"],
        subject["identifier"]["value"],
    )


def test_a_plan_without_a_patient_reference_refers_to_the_plan(
    plans: dict[str, ketaplan.Plan],
) -> None:
    """With no [patient] ref the patient is identified within the plan, never by name."""
    plan = plans["busy-clinic.toml"]
    assert not plan.patient.ref
    subject = resources(ketaplan.plan_to_fhir(plan), "CarePlan")[0]["subject"]
    assert {"system": IDENTIFIER_SYSTEM, "value": f"{plan.id}/patient"} == subject["identifier"]


def test_identifier_systems_come_from_the_call_or_the_plan(
    plans: dict[str, ketaplan.Plan],
) -> None:
    """``system`` and ``patient_system`` name the EHR's own systems; the plan's [fhir]
    settings are the default."""
    plan = plans["iv-induction.toml"]
    bundle = ketaplan.plan_to_fhir(
        plan, system="https://clinic.example/ids", patient_system="https://clinic.example/mrn"
    )
    care_plan = resources(bundle, "CarePlan")[0]
    assert ("https://clinic.example/ids", "https://clinic.example/mrn") == (
        care_plan["identifier"][0]["system"],
        care_plan["subject"]["identifier"]["system"],
    )
    options = ketaplan.FhirOptions(system="urn:oid:1.2.3", patient_system="urn:oid:1.2.4")
    again = resources(ketaplan.plan_to_fhir(attrs.evolve(plan, fhir=options)), "CarePlan")[0]
    assert ("urn:oid:1.2.3", "urn:oid:1.2.4") == (
        again["identifier"][0]["system"],
        again["subject"]["identifier"]["system"],
    )
    with pytest.raises(ketaplan.SpecError, match="system: got 'not a uri'"):
        ketaplan.plan_to_fhir(plan, system="not a uri")


def test_reexport_after_a_reschedule_changes_only_the_moved_appointment(
    plans: dict[str, ketaplan.Plan],
) -> None:
    """After moving one session, every identifier and full URL stays, and the only
    resource that differs is that session's Appointment, now saying why it moved."""
    plan = plans["iv-induction.toml"]
    session = plan.session("induction-03")
    assert not session.assessments
    later = session.start.replace(hour=13, minute=0)
    moved = ketaplan.reschedule(
        plan, "induction-03", later, now=NOW, reason="the patient asked for the afternoon"
    )
    before = ketaplan.plan_to_fhir(plan, now=NOW)
    after = ketaplan.plan_to_fhir(moved, now=NOW)
    assert [e["fullUrl"] for e in before["entry"]] == [e["fullUrl"] for e in after["entry"]]
    assert [e["request"] for e in before["entry"]] == [e["request"] for e in after["entry"]]
    changed = [
        old["resource"]["identifier"][0]["value"]
        for old, new in zip(before["entry"], after["entry"], strict=True)
        if old != new
    ]
    assert [f"{plan.id}/induction-03"] == changed
    appointment = by_value(after, "Appointment")[f"{plan.id}/induction-03"]
    assert later.isoformat() == appointment["start"]
    assert "the patient asked for the afternoon" in appointment["comment"]


def test_the_bundle_is_deterministic(plans: dict[str, ketaplan.Plan]) -> None:
    """The same plan and generation time give byte-identical files."""
    from ketaplan.export._fhir import render_fhir

    plan = plans["course"]
    assert render_fhir(plan, now=NOW) == render_fhir(plan, now=NOW)


def test_a_naive_timestamp_is_refused(plans: dict[str, ketaplan.Plan]) -> None:
    """``now`` must be aware, as everywhere in ketaplan."""
    with pytest.raises(
        ketaplan.SpecError, match="now: got 2026-11-20T12:00:00; expected an aware datetime"
    ):
        ketaplan.plan_to_fhir(plans["iv-induction.toml"], now=NOW.replace(tzinfo=None))


# -- PlanDefinition --------------------------------------------------------------------


@pytest.mark.parametrize("name", PROTOCOLS)
def test_every_builtin_protocol_survives_the_round_trip(name: str, tmp_path: Path) -> None:
    """protocol -> PlanDefinition (JSON file) -> load_protocol gives the same protocol."""
    protocol = ketaplan.builtin_protocols()[name]
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(ketaplan.protocol_to_fhir(protocol), indent=2), encoding="utf-8")
    assert protocol == ketaplan.load_protocol(str(path))


@pytest.mark.parametrize(
    ("template", "resource"), [("integration", "therapy-room"), ("dosing", "")]
)
def test_what_a_session_holds_survives_the_round_trip(
    template: str, resource: str, tmp_path: Path
) -> None:
    """A template's resource (a room the clinic counts, or nothing for a chair session the
    clinic does not count) comes back from the PlanDefinition as it was, and the document
    still validates."""
    protocol = ketaplan.builtin_protocols()["iv-induction"]
    changed = attrs.evolve(protocol.template(template), resource=resource)
    protocol = attrs.evolve(
        protocol,
        sessions=tuple(changed if t.name == template else t for t in protocol.sessions),
    )
    document = ketaplan.protocol_to_fhir(protocol)
    validate_with_models(document)
    path = tmp_path / "protocol.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    loaded = ketaplan.load_protocol(str(path))
    assert resource == loaded.template(template).resource
    assert protocol == loaded


@pytest.mark.parametrize("name", PROTOCOLS)
def test_every_plan_definition_validates_with_the_fhir_resources_models(name: str) -> None:
    """The R4B PlanDefinition model accepts each built-in protocol's PlanDefinition."""
    document = ketaplan.protocol_to_fhir(ketaplan.builtin_protocols()[name])
    validate_with_models(document)
    model = PlanDefinition.model_validate(document)
    assert len(ketaplan.builtin_protocols()[name].sessions) == len(model.contained or [])


def test_a_plan_definition_carries_templates_phases_companions_and_sources() -> None:
    """Each template is a contained ActivityDefinition with its checkpoints in text; each
    phase an action with Timing; integration a related action 24-72 h after the end;
    every source a relatedArtifact citation."""
    protocol = ketaplan.builtin_protocols()["iv-induction"]
    document = ketaplan.protocol_to_fhir(protocol)
    definitions = {d["identifier"][0]["value"]: d for d in document["contained"]}
    assert [t.name for t in protocol.sessions] == list(definitions)
    dosing = definitions["dosing"]
    assert all(c.label in dosing["description"] for c in protocol.template("dosing").checkpoints)
    assert {"value": 2, "unit": "h", "system": "http://unitsofmeasure.org", "code": "h"} == dosing[
        "timingDuration"
    ]
    induction = document["action"][1]
    assert ("Induction series", 2, 3) == (
        induction["title"],
        induction["timingTiming"]["repeat"]["frequency"],
        induction["timingTiming"]["repeat"]["frequencyMax"],
    )
    link = induction["action"][0]["relatedAction"][0]
    assert ("phase-2", "after-end", 24, 72, "h") == (
        link["actionId"],
        link["relationship"],
        link["offsetRange"]["low"]["value"],
        link["offsetRange"]["high"]["value"],
        link["offsetRange"]["high"]["code"],
    )
    assert dict(protocol.sources) == {
        a["label"]: a["citation"] for a in document["relatedArtifact"]
    }
    questionnaires = document["action"][-1]
    assert ["44249-1", "69737-5"] == [c["coding"][0]["code"] for c in questionnaires["code"]]


def test_a_plan_file_can_name_a_plan_definition(tmp_path: Path) -> None:
    """`protocol = "x.json"` in a plan file reads the PlanDefinition beside it."""
    protocol = ketaplan.builtin_protocols()["im-kap"]
    (tmp_path / "kap.json").write_text(
        json.dumps(ketaplan.protocol_to_fhir(protocol)), encoding="utf-8"
    )
    text = (EXAMPLES / "im-kap.toml").read_text(encoding="utf-8")
    (tmp_path / "plan.toml").write_text(
        text.replace('protocol = "im-kap"', 'protocol = "kap.json"'), encoding="utf-8"
    )
    assert (
        example("im-kap.toml").sessions
        == ketaplan.load_plan(tmp_path / "plan.toml", now=NOW).sessions
    )


def edited(change: Callable[[JSON], None], name: str = "esketamine-nasal") -> JSON:
    document = copy.deepcopy(ketaplan.protocol_to_fhir(ketaplan.builtin_protocols()[name]))
    change(document)
    return document


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["action"][0].update(trigger=[{"type": "named-event", "name": "x"}]),
            r"PlanDefinition\.action\[0\]\.trigger: ketaplan cannot represent this element",
        ),
        (
            lambda d: d["action"][1]["timingTiming"]["repeat"].update(count=5),
            r"PlanDefinition\.action\[1\]\.timingTiming\.repeat\.count: got 5; expected 8",
        ),
        (
            lambda d: d["action"][1]["extension"][1]["extension"][0].update(valuePositiveInt="2"),
            r"PlanDefinition\.action\[1\]\.extension\[1\]\.extension\[0\]\.valuePositiveInt: got '2'; expected a whole number",
        ),
        (
            lambda d: d["extension"][0].update(valueCode="rectal"),
            r"PlanDefinition\.extension\[0\]\.valueCode: got 'rectal'; expected one of intravenous",
        ),
        (
            lambda d: d["relatedArtifact"].pop(),
            r"label: got 'spravato-schedule'; every cited source needs a relatedArtifact",
        ),
        (
            lambda d: d["action"][1]["extension"][1]["extension"][3].update(valuePositiveInt=99),
            r"PlanDefinition\.action\[1\]\.extension: cadence\.sessions: at most 8 \(2 a week for 4 weeks\)",
        ),
        (
            lambda d: d.update(resourceType="ActivityDefinition"),
            r"resourceType: got 'ActivityDefinition'; expected a PlanDefinition",
        ),
        (
            lambda d: d.update(contained="x"),
            r"PlanDefinition\.contained: got 'x'; expected a JSON list",
        ),
    ],
)
def test_what_cannot_be_represented_is_refused_by_its_path(
    change: Callable[[JSON], None], message: str
) -> None:
    """An element ketaplan cannot read, a readable element that disagrees with the
    extensions, or a bad value, is a SpecError naming the element's path."""
    with pytest.raises(ketaplan.SpecError, match=message) as caught:
        protocol_from_fhir(edited(change))
    assert "\n" not in str(caught.value)
    assert len(str(caught.value)) <= 300


def test_metadata_a_server_adds_is_accepted() -> None:
    """id, meta, a new narrative and another status (as an EHR keeps them) change nothing."""

    def stored(document: JSON) -> None:
        document.update(
            id="pd-1",
            meta={"versionId": "3", "lastUpdated": "2027-01-01T00:00:00Z"},
            status="retired",
            text={
                "status": "generated",
                "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>',
            },
        )

    assert ketaplan.builtin_protocols()["esketamine-nasal"] == protocol_from_fhir(edited(stored))


def test_an_edited_extension_changes_the_protocol() -> None:
    """The extensions carry the protocol: editing one (and the readable Timing with it)
    gives the edited protocol."""

    def fewer(document: JSON) -> None:
        document["action"][1]["extension"][1]["extension"][3]["valuePositiveInt"] = 6
        document["action"][1]["timingTiming"]["repeat"]["count"] = 6
        document["action"][1]["description"] = "6 sessions, 2 a week within 4 weeks"

    protocol = protocol_from_fhir(edited(fewer))
    assert 6 == protocol.phase("induction").cadence.sessions  # type: ignore[union-attr]


def test_a_custom_route_cannot_be_written() -> None:
    """A PlanDefinition names a built-in route; a protocol with a changed route is refused."""
    protocol = ketaplan.builtin_protocols()["im-kap"]
    changed = attrs.evolve(protocol, route=attrs.evolve(protocol.route, title="IM"))
    with pytest.raises(ketaplan.SpecError, match=r"protocol\.route: got 'intramuscular'"):
        ketaplan.protocol_to_fhir(changed)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[]", "PlanDefinition: expected a JSON object"),
    ],
)
def test_a_broken_plan_definition_file_is_refused(
    content: bytes, message: str, tmp_path: Path
) -> None:
    """A .json protocol that is not a PlanDefinition object is a one-line SpecError."""
    path = tmp_path / "protocol.json"
    path.write_bytes(content)
    with pytest.raises(ketaplan.SpecError, match=message):
        ketaplan.load_protocol(str(path))
    with pytest.raises(ketaplan.SpecError, match="no such file"):
        ketaplan.load_protocol(str(tmp_path / "missing.json"))


def test_a_plan_definition_that_is_not_a_plain_file_is_refused_at_once(tmp_path: Path) -> None:
    """A .json protocol that is a FIFO, a device or a folder is refused without reading it."""
    os.mkfifo(tmp_path / "fifo.json")
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    (tmp_path / "folder.json").mkdir()
    for name, message in (
        ("fifo.json", "expected a regular file"),
        ("zero.json", "expected a regular file"),
        ("folder.json", "expected a file, not a folder"),
    ):
        with pytest.raises(ketaplan.SpecError, match=message):
            ketaplan.load_protocol(str(tmp_path / name))


# -- building ------------------------------------------------------------------------


def run(*args: str) -> tuple[int, str, str]:
    import io

    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_build_fhir_writes_the_bundle_beside_the_other_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ketaplan build --fhir` adds <plan id>.fhir.json: the saved plan's Bundle."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1795000000")
    code, out, err = run(
        "build", str(EXAMPLES / "iv-induction.toml"), "--out", str(tmp_path), "--fhir"
    )
    assert (0, "") == (code, err)
    path = tmp_path / "lakeside-iv-0107.fhir.json"
    assert str(path) in out.split()
    saved = ketaplan.plan_from_json((tmp_path / "lakeside-iv-0107.json").read_bytes())
    now = dt.datetime.fromtimestamp(1795000000, dt.UTC)
    assert ketaplan.plan_to_fhir(saved, now=now) == json.loads(path.read_text(encoding="utf-8"))
    assert not saved.fhir.enabled
    code, out, err = run("build", str(tmp_path / "lakeside-iv-0107.json"), "--out", str(tmp_path))
    assert (0, "") == (code, err)
    assert str(path) not in out.split()


def test_fhir_enabled_in_the_plan_file_is_kept_in_the_saved_plan(tmp_path: Path) -> None:
    """[fhir] enabled = true writes the Bundle, is saved in the plan JSON, and a rebuild
    from the saved plan writes it again."""
    text = (EXAMPLES / "im-kap.toml").read_text(encoding="utf-8")
    plan_file = tmp_path / "plan.toml"
    plan_file.write_text(
        text + '\n[fhir]\nenabled = true\npatient_system = "https://clinic.example/mrn"\n',
        encoding="utf-8",
    )
    plan = ketaplan.load_plan(plan_file, now=NOW)
    out = tmp_path / "out"
    written = {p.name for p in ketaplan.write_outputs(plan, out, now=NOW)}
    assert f"{plan.id}.fhir.json" in written
    saved = ketaplan.plan_from_json((out / f"{plan.id}.json").read_bytes())
    assert (
        ketaplan.FhirOptions(enabled=True, patient_system="https://clinic.example/mrn")
        == saved.fhir
    )
    (out / f"{plan.id}.fhir.json").unlink()
    assert 0 == run("build", str(out / f"{plan.id}.json"), "--out", str(out))[0]
    bundle = json.loads((out / f"{plan.id}.fhir.json").read_text(encoding="utf-8"))
    subject = resources(bundle, "CarePlan")[0]["subject"]
    assert "https://clinic.example/mrn" == subject["identifier"]["system"]


def test_a_saved_plan_without_the_fhir_option_still_loads() -> None:
    """Saved plans written before [fhir] existed load with the option off."""
    saved = ROOT / "tests" / "data" / "saved" / "base.json"
    assert "fhir" not in json.loads(saved.read_text(encoding="utf-8"))
    assert ketaplan.FhirOptions() == ketaplan.plan_from_json(saved.read_bytes()).fhir


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('enabled = "yes"', "fhir.enabled: got 'yes'"),
        ("enable = true", "fhir.enable"),
        ('system = "two words"', "fhir.system: got 'two words'; expected a URI without spaces"),
    ],
)
def test_a_bad_fhir_table_names_the_field(table: str, message: str, tmp_path: Path) -> None:
    """A wrong [fhir] value or key is a SpecError naming it."""
    text = (EXAMPLES / "im-kap.toml").read_text(encoding="utf-8")
    path = tmp_path / "plan.toml"
    path.write_text(f"{text}\n[fhir]\n{table}\n", encoding="utf-8")
    with pytest.raises(ketaplan.SpecError, match=message):
        ketaplan.load_plan(path, now=NOW)


# -- a real FHIR engine: Medplum's router and in-memory repository ---------------------


def start_medplum() -> tuple[subprocess.Popen[bytes], str]:
    """Start tests/node/medplum/server.mjs on a free port; its address."""
    ready = NODE is not None and (NODE_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir()
    if not ready:
        why = "Node.js and tests/node/medplum's packages (npm ci there) are needed"
        if os.environ.get("KETAPLAN_REQUIRE_NODE"):
            pytest.fail(why)
        pytest.skip(why)
    assert NODE is not None
    process = subprocess.Popen(
        [NODE, "server.mjs"],
        cwd=NODE_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        line = process.stdout.readline() if selector.select(STARTUP_SECONDS) else b""
    if not line.startswith(b"listening "):
        stop_medplum(process)
        pytest.fail(f"the Medplum test server did not start: {line!r}")
    return process, f"http://127.0.0.1:{int(line.split()[1])}"


def stop_medplum(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


@pytest.fixture(scope="module")
def medplum() -> Iterator[str]:
    """A running server, shared by the tests that only validate."""
    process, address = start_medplum()
    yield address
    stop_medplum(process)


@pytest.fixture
def fresh_medplum() -> Iterator[str]:
    """A running server with an empty repository."""
    process, address = start_medplum()
    yield address
    stop_medplum(process)


def fhir(address: str, method: str, path: str, body: JSON | None = None) -> tuple[int, JSON]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{address}/{path}",
        data=data,
        method=method,
        headers={"content-type": "application/fhir+json", "accept": "application/fhir+json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.load(error)


def problems(address: str, resource: JSON) -> list[JSON]:
    """What Medplum's validator says about ``resource``, information aside."""
    status, outcome = fhir(address, "POST", "$validate", resource)
    assert 200 == status, outcome
    return [issue for issue in outcome["issue"] if issue["severity"] != "information"]


def urn_reference_warning(issue: JSON, bundle: JSON) -> bool:
    """Medplum's warning for a reference it cannot type: a urn:uuid of the Bundle itself
    (FHIR's way to refer between the entries of a transaction)."""
    urls = {entry["fullUrl"] for entry in bundle["entry"]}
    text = issue["details"]["text"]
    return (
        issue["severity"] == "warning"
        and text.startswith('Invalid reference: got "urn:uuid:')
        and text.split('"')[1] in urls
    )


@pytest.mark.parametrize("name", list(VARIANTS))
def test_medplum_validates_every_bundle(
    name: str, plans: dict[str, ketaplan.Plan], medplum: str
) -> None:
    """Medplum's validator finds no error in any Bundle; its only warnings are for the
    Bundle's own urn:uuid references, which it cannot type."""
    bundle = ketaplan.plan_to_fhir(plans[name], now=NOW)
    found = problems(medplum, bundle)
    assert [] == [issue for issue in found if not urn_reference_warning(issue, bundle)]


@pytest.mark.parametrize("name", PROTOCOLS)
def test_medplum_validates_every_plan_definition(name: str, medplum: str) -> None:
    """Medplum's validator finds nothing at all to say about each PlanDefinition."""
    document = ketaplan.protocol_to_fhir(ketaplan.builtin_protocols()[name])
    assert [] == problems(medplum, document)


def test_medplum_refuses_an_invalid_bundle(plans: dict[str, ketaplan.Plan], medplum: str) -> None:
    """The validator is live: a Bundle with an Appointment lacking its participants is
    refused, by $validate and on posting, and nothing is stored."""
    bundle = ketaplan.plan_to_fhir(plans["iv-induction.toml"])
    del resources(bundle, "Appointment")[0]["participant"]
    errors = [i for i in problems(medplum, bundle) if i["severity"] == "error"]
    assert ["Bundle.entry[1].resource.participant"] == [i["expression"][0] for i in errors]
    status, outcome = fhir(medplum, "POST", "", bundle)
    assert 400 == status, outcome
    assert 0 == len(fhir(medplum, "GET", "CarePlan?_count=1000")[1].get("entry", []))


def stored(address: str, kind: str) -> list[JSON]:
    status, found = fhir(address, "GET", f"{kind}?_count=1000")
    assert 200 == status, found
    return [entry["resource"] for entry in found.get("entry", [])]


def test_posting_again_after_a_revision_updates_instead_of_duplicating(
    plans: dict[str, ketaplan.Plan], fresh_medplum: str
) -> None:
    """Post the Bundle, reschedule a session, post again: the server holds one resource
    per session, phase and questionnaire, the moved Appointment at its new time, the
    CarePlan's activities pointing at the stored resources, and every stored resource
    valid without a single issue."""
    plan = plans["iv-induction.toml"]
    session = plan.session("induction-03")
    later = session.start.replace(hour=13, minute=0)
    revised = ketaplan.reschedule(plan, "induction-03", later, now=NOW, reason="afternoon")
    for version in (plan, revised):
        status, answer = fhir(fresh_medplum, "POST", "", ketaplan.plan_to_fhir(version, now=NOW))
        assert (200, "transaction-response") == (status, answer.get("type")), answer
        assert all(e["response"]["status"] in ("200", "201") for e in answer["entry"])

    appointments = stored(fresh_medplum, "Appointment")
    values = sorted(a["identifier"][0]["value"] for a in appointments)
    assert sorted(f"{plan.id}/{s.key}" for s in plan.sessions) == values
    moved = next(a for a in appointments if a["identifier"][0]["value"].endswith("/induction-03"))
    assert later == dt.datetime.fromisoformat(moved["start"])

    expected = ketaplan.plan_to_fhir(revised)
    counts = {kind: len(stored(fresh_medplum, kind)) for kind in STATUSES}
    assert {kind: len(resources(expected, kind)) for kind in STATUSES} == counts

    ids = {
        f"{r['resourceType']}/{r['id']}" for kind in STATUSES for r in stored(fresh_medplum, kind)
    }
    care_plan = stored(fresh_medplum, "CarePlan")[0]
    activity = [a["reference"]["reference"] for a in care_plan["activity"]]
    assert len(expected["entry"]) - 1 == len(activity)
    assert set(activity) <= ids
    for kind in STATUSES:
        for resource in stored(fresh_medplum, kind):
            assert [] == problems(fresh_medplum, resource)
