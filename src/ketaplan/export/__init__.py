"""Exporters: iCalendar and the plan documents."""

from ._ics import render_ics
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
