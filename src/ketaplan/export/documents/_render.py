"""The four documents of a plan, each its view model rendered through a template."""

from __future__ import annotations

import datetime as dt

from ..._plan import Plan
from ._clinician import clinician_context
from ._course import Course
from ._environment import Templates, render
from ._patient import patient_context


def render_patient_html(plan: Plan, *, now: dt.datetime, templates: Templates = None) -> str:
    """The patient's schedule and instructions as one self-contained HTML page; never a dose."""
    return render(templates, "patient.html.j2", patient_context(plan, now), tag=plan.language)


def render_patient_markdown(plan: Plan, *, now: dt.datetime, templates: Templates = None) -> str:
    """The patient's schedule and instructions as Markdown; never a dose."""
    return render(templates, "patient.md.j2", patient_context(plan, now), tag=plan.language)


def render_clinician_html(plan: Plan, *, now: dt.datetime, templates: Templates = None) -> str:
    """The clinical plan as one printable HTML page: sessions, checkpoints, dose fields, sign-off."""
    return render(templates, "clinician.html.j2", clinician_context(plan, now), tag=plan.language)


def render_clinician_markdown(plan: Plan, *, now: dt.datetime, templates: Templates = None) -> str:
    """The clinical plan as Markdown: sessions, checkpoints, dose fields, sign-off."""
    return render(templates, "clinician.md.j2", clinician_context(plan, now), tag=plan.language)


def render_documents(
    plan: Plan, *, now: dt.datetime, templates: Templates = None
) -> dict[str, str]:
    """All four documents by the end of their file name (``"-patient.html"``, ...), each the
    same as its own ``render_*`` gives; the plan is laid out once, and each audience's view
    model built once for its HTML and its Markdown."""
    course = Course(plan)
    patient = patient_context(plan, now, course=course)
    clinician = clinician_context(plan, now, course=course)
    tag = plan.language
    return {
        "-patient.html": render(templates, "patient.html.j2", patient, tag=tag),
        "-patient.md": render(templates, "patient.md.j2", patient, tag=tag),
        "-clinician.html": render(templates, "clinician.html.j2", clinician, tag=tag),
        "-clinician.md": render(templates, "clinician.md.j2", clinician, tag=tag),
    }
