"""Dose fields: units checked, values positive, derived values only from entered inputs."""

from __future__ import annotations

import decimal
import re
from pathlib import Path

import attrs
import pytest

import ketaplan

from .conftest import EXAMPLES, NOW

FIELD = ketaplan.DoseField("devices", "Devices", "devices", form="integer")


def test_entry_with_unit_is_accepted() -> None:
    """'2 devices' is a valid entry for an integer field in devices."""
    assert ketaplan.Quantity(decimal.Decimal(2), "devices") == FIELD.parse("2 devices")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2", "the unit is missing"),
        ("2 mg", "the unit must be 'devices'"),
        ("2.5 devices", "expected a whole number of devices"),
        ("0 devices", "expected a positive number"),
        ("lots", "expected a positive number and the unit 'devices'"),
    ],
)
def test_bad_entries_name_the_field(text: str, message: str) -> None:
    """A unit-less, wrong-unit, fractional, zero or wordy entry is an error naming the field."""
    with pytest.raises(ketaplan.SpecError) as caught:
        FIELD.parse(text)
    assert str(caught.value).startswith(f"dosing.devices: got {text!r}")
    assert message in str(caught.value)


def test_derived_value_waits_for_every_input() -> None:
    """Resting time is computed only once both devices and rest minutes are entered."""
    rest = ketaplan.DoseField("rest_minutes", "Rest", "min", form="integer")
    rule = ketaplan.Derived(
        "resting_time", "Resting time", "min", ("devices", "rest_minutes"), formula="intervals"
    )
    fields = {"devices": FIELD, "rest_minutes": rest}
    assert rule.compute(fields, {"devices": FIELD.parse("3 devices")}) is None
    value = rule.compute(
        fields, {"devices": FIELD.parse("3 devices"), "rest_minutes": rest.parse("5 min")}
    )
    assert value is not None
    assert value.explain() == "10 min (from Devices 3 devices x Rest 5 min)"


def test_whole_number_entry_prints_as_entered() -> None:
    """A whole-number entry such as '40 min' reads back as '40 min', not in exponent form."""
    field = ketaplan.DoseField("infusion_minutes", "Infusion time", "min", form="integer")
    assert "40 min" == str(field.parse("40 min"))


DOSE_PER_KG = ketaplan.DoseField("dose_per_kg", "Dose per kg", "mg/kg")
WEIGHT = ketaplan.DoseField("body_weight", "Body weight", "kg")


@pytest.mark.parametrize(
    ("field", "text"),
    [
        (DOSE_PER_KG, "0,5 mg/kg"),
        (WEIGHT, "1e2 kg"),
        (WEIGHT, "1E2kg"),
        (WEIGHT, "72.5e0 kg"),
        (WEIGHT, "1,000 kg"),
        (WEIGHT, "1 000 kg"),
        (WEIGHT, "1_000 kg"),
        (DOSE_PER_KG, ".5 mg/kg"),
        (DOSE_PER_KG, "5. mg/kg"),
        (DOSE_PER_KG, "+0.5 mg/kg"),
    ],
)
def test_malformed_number_is_blamed_not_the_unit(field: ketaplan.DoseField, text: str) -> None:
    """A decimal comma, an exponent, a separator or a stray sign is reported as a number that
    is not valid, with the form expected, rather than as a wrong unit."""
    with pytest.raises(ketaplan.SpecError) as caught:
        field.parse(text)
    example = {"mg/kg": "0.5 mg/kg", "kg": "72.5 kg"}[field.unit]
    assert (
        f"dosing.{field.name}: got {text!r}; the number is not valid: "
        f"write a decimal number with a point, e.g. {example}"
    ) == str(caught.value)
    assert "unit" not in str(caught.value)


def test_malformed_whole_number_shows_a_whole_number() -> None:
    """For a whole-number field the expected form is a whole number."""
    with pytest.raises(ketaplan.SpecError) as caught:
        FIELD.parse("2e1 devices")
    assert str(caught.value).endswith(
        "the number is not valid: write a whole number with its unit, e.g. 2 devices"
    )


@pytest.mark.parametrize(
    ("field", "text", "expected"),
    [
        (
            DOSE_PER_KG,
            "1000000000000000 mg/kg",
            "a number of mg/kg from 0.0001 to 999999.9999, with at most 4 digits after the point",
        ),
        (
            DOSE_PER_KG,
            "0.00000000000000000001 mg/kg",
            "a number of mg/kg from 0.0001 to 999999.9999, with at most 4 digits after the point",
        ),
        (
            DOSE_PER_KG,
            "0.123456789012345678901234567890 mg/kg",
            "a number of mg/kg from 0.0001 to 999999.9999, with at most 4 digits after the point",
        ),
        (
            WEIGHT,
            "12345678901234567890 kg",
            "a number of kg from 0.001 to 999999.999, with at most 3 digits after the point",
        ),
        (WEIGHT, "1000000 kg", "a number of kg from 0.001 to 999999.999"),
        (FIELD, "1" * 40 + " devices", "a whole number of devices from 1 to 999999"),
    ],
)
def test_absurd_values_are_refused_with_the_valid_range(
    field: ketaplan.DoseField, text: str, expected: str
) -> None:
    """A value with more than six digits before the point, or more digits after it than the
    unit allows, is refused naming the field and the valid range, never rounded or crashed on."""
    with pytest.raises(ketaplan.SpecError) as caught:
        field.parse(text)
    message = str(caught.value)
    assert message.startswith(f"dosing.{field.name}: got ")
    assert f"; expected {expected}" in message
    assert len(message) < 300


@pytest.mark.parametrize(
    ("field", "text", "shown"),
    [
        (DOSE_PER_KG, "999999.9999 mg/kg", "999999.9999 mg/kg"),
        (DOSE_PER_KG, "0.0001 mg/kg", "0.0001 mg/kg"),
        (WEIGHT, "999999.999 kg", "999999.999 kg"),
        (WEIGHT, "0.001 kg", "0.001 kg"),
        (WEIGHT, "72.500000 kg", "72.500 kg"),
        (FIELD, "999999 devices", "999999 devices"),
        (FIELD, "3.0 devices", "3 devices"),
    ],
)
def test_values_within_the_bounds_print_plainly(
    field: ketaplan.DoseField, text: str, shown: str
) -> None:
    """The largest and smallest accepted values read back in plain digits, never in
    exponent form; trailing zeros beyond the unit's places are dropped."""
    assert shown == str(field.parse(text))


def test_tiny_derived_value_is_never_shown_as_zero() -> None:
    """A derived value that would round to 0 is given exactly instead."""
    rule = ketaplan.Derived("total_dose", "Total dose", "mg", ("dose_per_kg", "body_weight"))
    fields = {"dose_per_kg": DOSE_PER_KG, "body_weight": WEIGHT}
    value = rule.compute(
        fields,
        {"dose_per_kg": DOSE_PER_KG.parse("0.0001 mg/kg"), "body_weight": WEIGHT.parse("1 kg")},
    )
    assert value is not None
    assert "0.0001 mg" == str(value.quantity)


def test_largest_entries_render_in_every_output(tmp_path: Path) -> None:
    """The largest entries the fields accept fill a plan and render into every file, the
    derived total in plain digits."""
    plan = ketaplan.load_plan(EXAMPLES / "iv-induction.toml", now=NOW)
    plan = ketaplan.fill_dose(plan, "dose_per_kg", "999999.9999 mg/kg", now=NOW)
    plan = ketaplan.fill_dose(plan, "body_weight", "999999.999 kg", now=NOW)
    plan = ketaplan.fill_dose(plan, "infusion_minutes", "999999 min", now=NOW)
    ketaplan.write_outputs(plan, tmp_path, now=NOW)
    text = (tmp_path / f"{plan.id}-clinician.md").read_text(encoding="utf-8")
    assert "999999998900 mg (from Dose per kg 999999.9999 mg/kg x Body weight 999999.999 kg)" in (
        text
    )
    assert not re.search(r"\dE[+-]?\d", text)


def test_absurd_dose_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    """Entering 1000000000000000 mg/kg is a SpecError naming the field and the range; the
    plan it would have changed still renders."""
    plan = ketaplan.load_plan(EXAMPLES / "iv-induction.toml", now=NOW)
    with pytest.raises(ketaplan.SpecError, match=r"^dosing\.dose_per_kg: got '1000000000000000 "):
        ketaplan.fill_dose(plan, "dose_per_kg", "1000000000000000 mg/kg", now=NOW)
    assert ketaplan.write_outputs(plan, tmp_path, now=NOW)


def test_plan_holding_an_absurd_entry_is_refused() -> None:
    """A plan given an entry outside the bounds directly (as an old saved plan might hold)
    is refused with the same SpecError, so that no document tries to render it."""
    plan = ketaplan.load_plan(EXAMPLES / "iv-induction.toml", now=NOW)
    entry = ketaplan.DoseEntry("dose_per_kg", ketaplan.Quantity(decimal.Decimal("1E+15"), "mg/kg"))
    with pytest.raises(ketaplan.SpecError, match=r"from 0\.0001 to 999999\.9999"):
        attrs.evolve(plan, doses=(entry,))
