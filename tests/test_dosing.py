"""Dose fields: units checked, values positive, derived values only from entered inputs."""

from __future__ import annotations

import decimal

import pytest

import ketaplan

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
