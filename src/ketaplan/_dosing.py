"""Dose fields: typed, unit-carrying placeholders that only a clinician fills.

ketaplan ships no dose values. A route declares its :class:`DoseField` s; a
plan holds the :class:`DoseEntry` s a clinician entered. A :class:`Derived`
value (total mg from mg/kg and body weight) is computed only when every one
of its inputs was entered, and always shows those inputs.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Mapping
from typing import Literal

import attrs

from ._values import to_tuple
from .exceptions import SpecError

__all__ = ["Derived", "DerivedValue", "DoseEntry", "DoseField", "Quantity"]

ValueForm = Literal["decimal", "integer"]

_UNIT_ALIASES = {
    "minutes": "min",
    "minute": "min",
    "mins": "min",
    "kilograms": "kg",
    "kilogram": "kg",
    "milligrams": "mg",
    "milligram": "mg",
    "device": "devices",
    "mg/kg/h": "mg/kg/h",
}
_QUANTITY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(\S.*?)?\s*$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _name(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not _NAME.match(value):
        raise SpecError(attribute.name, value, "use lower-case letters, digits and underscores")


@attrs.frozen
class Quantity:
    """A number with its unit, exactly as a clinician entered it."""

    value: decimal.Decimal
    unit: str

    def __str__(self) -> str:
        return f"{self.value:f} {self.unit}"


@attrs.frozen
class DoseField:
    """A placeholder for one clinician-entered value, such as ``dose_per_kg`` in mg/kg.

    ``form`` says what a valid entry looks like: a positive ``decimal`` or a
    positive whole ``integer``. A field that is ``required`` must be filled
    before a plan can be finalised.
    """

    name: str = attrs.field(validator=_name)
    label: str
    unit: str
    form: ValueForm = "decimal"
    required: bool = True
    note: str = ""

    def parse(self, text: object, *, field: str | None = None) -> Quantity:
        """Check an entry such as ``"72 kg"`` against this field and return it.

        The unit is required and must be this field's unit; the value must be
        positive, and whole where the field's form is ``integer``.
        """
        where = field or f"dosing.{self.name}"
        example = f"'<number> {self.unit}'"
        if isinstance(text, bool) or not isinstance(text, str | int | float):
            raise SpecError(where, text, f"expected a value with its unit, as {example}")
        match = _QUANTITY.match(str(text))
        if match is None:
            raise SpecError(
                where,
                text,
                f"expected a positive number and the unit {self.unit!r}, as {example}",
            )
        number, unit = match.groups()
        if not unit:
            raise SpecError(
                where, text, f"the unit is missing; write it with its unit, as {example}"
            )
        unit = _UNIT_ALIASES.get(unit.lower(), unit)
        if unit != self.unit:
            raise SpecError(where, text, f"the unit must be {self.unit!r}, as {example}")
        value = decimal.Decimal(number)
        if value <= 0:
            raise SpecError(where, text, f"expected a positive number, as {example}")
        if self.form == "integer" and value != value.to_integral_value():
            raise SpecError(where, text, f"expected a whole number of {self.unit}, as {example}")
        return Quantity(
            value.quantize(decimal.Decimal(1)) if self.form == "integer" else value, self.unit
        )


@attrs.frozen
class DoseEntry:
    """A clinician's entry for one dose field, for every dosing session or for one (``session``)."""

    field: str
    quantity: Quantity
    session: str | None = None


@attrs.frozen
class DerivedValue:
    """A value computed from entries, with the entries it came from."""

    label: str
    quantity: Quantity
    inputs: tuple[tuple[str, Quantity], ...]

    def explain(self) -> str:
        """The value and its inputs: ``"<total> mg (from Dose per kg <entry> x Body weight <entry>)"``."""
        parts = " x ".join(f"{label} {quantity}" for label, quantity in self.inputs)
        return f"{self.quantity} (from {parts})"


@attrs.frozen
class Derived:
    """A value derived from dose fields: computed only when every input was entered.

    ``formula`` is ``"product"`` (the inputs multiplied) or ``"intervals"``
    (``(first - 1) x second``: the minutes spent resting between devices).
    """

    name: str = attrs.field(validator=_name)
    label: str
    unit: str
    inputs: tuple[str, ...] = attrs.field(converter=to_tuple)
    formula: Literal["product", "intervals"] = "product"

    def compute(
        self, fields: Mapping[str, DoseField], entries: Mapping[str, Quantity]
    ) -> DerivedValue | None:
        """The derived value, or ``None`` while any input is still blank."""
        if any(name not in entries for name in self.inputs):
            return None
        values = [entries[name].value for name in self.inputs]
        if self.formula == "product":
            result = decimal.Decimal(1)
            for value in values:
                result *= value
        else:
            result = (values[0] - 1) * values[1]
        result = result.quantize(decimal.Decimal("0.01")).normalize()
        if result == result.to_integral_value():
            result = result.quantize(decimal.Decimal(1))
        return DerivedValue(
            self.label,
            Quantity(result, self.unit),
            tuple((fields[name].label, entries[name]) for name in self.inputs),
        )
