"""Small helpers shared by the value classes."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import Any


def to_tuple(value: Iterable[Any]) -> tuple[Any, ...]:
    """Converter that stores any iterable as a tuple, so frozen values hold no mutable lists."""
    return tuple(value)


def pattern(regex: str, flags: int = 0) -> Callable[[], re.Pattern[str]]:
    """``regex`` compiled on first use, not when its module is imported (a command that
    never checks such a value does not pay for compiling it): ``_ID = pattern(r"...")``,
    then ``_ID().match(text)``."""

    @functools.cache
    def compiled() -> re.Pattern[str]:
        return re.compile(regex, flags)

    return compiled
