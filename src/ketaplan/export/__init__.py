"""Exporters: iCalendar and the plan documents.

The documents (and Jinja2 with them) are imported on first use, so a program
that only writes calendars does not load them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._ics import render_ics

if TYPE_CHECKING:
    from .documents import (
        render_clinician_html,
        render_clinician_markdown,
        render_patient_html,
        render_patient_markdown,
    )

__all__ = [
    "render_clinician_html",
    "render_clinician_markdown",
    "render_ics",
    "render_patient_html",
    "render_patient_markdown",
]

_DOCUMENTS = frozenset(__all__) - {"render_ics"}


def __getattr__(name: str) -> object:
    if name in _DOCUMENTS:
        from . import documents

        return getattr(documents, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
