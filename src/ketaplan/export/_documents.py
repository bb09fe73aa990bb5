"""The patient and clinician documents (HTML and Markdown) from Jinja2 templates."""

from __future__ import annotations

import datetime as dt

from .._plan import Plan

__all__ = [
    "render_clinician_html",
    "render_clinician_markdown",
    "render_patient_html",
    "render_patient_markdown",
]


def render_patient_html(plan: Plan, *, now: dt.datetime) -> str:
    raise NotImplementedError


def render_patient_markdown(plan: Plan, *, now: dt.datetime) -> str:
    raise NotImplementedError


def render_clinician_html(plan: Plan, *, now: dt.datetime) -> str:
    raise NotImplementedError


def render_clinician_markdown(plan: Plan, *, now: dt.datetime) -> str:
    raise NotImplementedError
