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

from ._values import pattern, to_tuple
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
# An entry splits into what looks like a number (signs, digits, separators,
# an exponent) and the rest, the unit; the number must then be plain.
_ENTRY = pattern(r"([+-]?[0-9.,_]*(?:[eE][+-]?[0-9]+)?)\s*(.*)", re.DOTALL)
_PLAIN = pattern(r"[0-9]+(?:\.[0-9]+)?")
_NAME = pattern(r"^[a-z][a-z0-9_]*\Z")

#: The most digits an entry may have before the point, whatever its unit.
MAX_WHOLE_DIGITS = 6
#: The most digits an entry may have after the point, by unit; a whole-number
#: field allows none.
MAX_DECIMAL_PLACES = {"mg/kg": 4, "mg/kg/h": 4, "mg": 3, "kg": 3, "min": 1}
#: The most digits after the point for a unit not listed above.
DEFAULT_DECIMAL_PLACES = 4
_EXAMPLES = {"mg/kg": "0.5", "mg/kg/h": "0.5", "kg": "72.5", "mg": "12.5", "min": "40"}


def _name(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not _NAME().match(value):
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

        The number is written plainly, digits with an optional decimal point
        (no comma, exponent or sign); the unit is required and must be this
        field's unit. The value must be positive, whole where the field's form
        is ``integer``, and at most :attr:`largest`, with at most
        :attr:`decimal_places` digits after the point.
        """
        where = field or f"dosing.{self.name}"
        example = f"'<number> {self.unit}'"
        if isinstance(text, bool) or not isinstance(text, str | int | float):
            raise SpecError(where, text, f"expected a value with its unit, as {example}")
        match = _ENTRY().fullmatch(str(text).strip())
        number, unit = match.groups() if match else ("", str(text))
        if not number:
            raise SpecError(
                where,
                text,
                f"expected a positive number and the unit {self.unit!r}, as {example}",
            )
        if number.startswith("-") and _PLAIN().fullmatch(number[1:]):
            raise SpecError(where, text, f"expected a positive number, as {example}")
        if not _PLAIN().fullmatch(number) or (unit and unit[0] in "0123456789.,"):
            raise SpecError(where, text, f"the number is not valid: {self._form_text()}")
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
        places = self.decimal_places
        if value > self.largest or (
            value != value.quantize(decimal.Decimal(1).scaleb(-places), rounding=decimal.ROUND_DOWN)
        ):
            raise SpecError(where, text, f"expected {self._range_text()}, e.g. {self.example}")
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            value = value.quantize(decimal.Decimal(1).scaleb(-places))  # only zeros dropped
        return Quantity(
            value.quantize(decimal.Decimal(1)) if self.form == "integer" else value, self.unit
        )

    @property
    def decimal_places(self) -> int:
        """How many digits an entry may have after the point: none for a whole-number field."""
        if self.form == "integer":
            return 0
        return MAX_DECIMAL_PLACES.get(self.unit, DEFAULT_DECIMAL_PLACES)

    @property
    def largest(self) -> decimal.Decimal:
        """The largest entry this field accepts: six nines before the point, and after it
        as many as :attr:`decimal_places` allows."""
        nines = "9" * MAX_WHOLE_DIGITS
        if self.decimal_places:
            nines += "." + "9" * self.decimal_places
        return decimal.Decimal(nines)

    @property
    def example(self) -> str:
        """A well-formed entry, to show in messages: ``"0.5 mg/kg"``, ``"2 devices"``."""
        number = _EXAMPLES.get(self.unit, "1.5")
        if self.form == "integer" and "." in number:
            number = "2"
        return f"{number} {self.unit}"

    def _form_text(self) -> str:
        if self.form == "integer":
            return f"write a whole number with its unit, e.g. {self.example}"
        return f"write a decimal number with a point, e.g. {self.example}"

    def _range_text(self) -> str:
        smallest = decimal.Decimal(1).scaleb(-self.decimal_places)
        if self.form == "integer":
            return f"a whole number of {self.unit} from 1 to {self.largest}"
        return (
            f"a number of {self.unit} from {smallest} to {self.largest}, "
            f"with at most {self.decimal_places} digits after the point"
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
        """The derived value, or ``None`` while any input is still blank.

        The value is rounded to two decimal places, unless that would show a
        value above zero as 0: then it is given exactly.
        """
        if any(name not in entries for name in self.inputs):
            return None
        values = [entries[name].value for name in self.inputs]
        # Precise enough for the exact result of entries within DoseField's bounds.
        with decimal.localcontext(prec=max(28, 12 * len(values))):
            if self.formula == "product":
                exact = decimal.Decimal(1)
                for value in values:
                    exact *= value
            else:
                exact = (values[0] - 1) * values[1]
            result = exact.quantize(decimal.Decimal("0.01"))
            if not result and exact:
                result = exact
            result = result.normalize()
            if result == result.to_integral_value():
                result = result.quantize(decimal.Decimal(1))
        return DerivedValue(
            self.label,
            Quantity(result, self.unit),
            tuple((fields[name].label, entries[name]) for name in self.inputs),
        )
