"""Small helpers shared by the value classes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def to_tuple(value: Iterable[Any]) -> tuple[Any, ...]:
    """Converter that stores any iterable as a tuple, so frozen values hold no mutable lists."""
    return tuple(value)
