"""Exporters: iCalendar and the plan documents."""

from ._documents import (
    render_clinician_html,
    render_clinician_markdown,
    render_patient_html,
    render_patient_markdown,
)
from ._ics import render_ics

__all__ = [
    "render_clinician_html",
    "render_clinician_markdown",
    "render_ics",
    "render_patient_html",
    "render_patient_markdown",
]
