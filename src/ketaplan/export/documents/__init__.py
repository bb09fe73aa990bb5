"""The patient and clinician documents (HTML and Markdown) from Jinja2 templates.

The templates (``ketaplan/templates/*.j2``) only lay out text; everything a
reader sees is prepared first, in one view model per audience, from a plan
laid out once (:mod:`._course`): dates and times in the clinic's zone
(:mod:`._format`), sessions grouped by phase and week (:mod:`._patient`),
the timeline's geometry (:mod:`._timeline`), checkpoint clock times,
monitoring-form deadlines and dose rows (:mod:`._clinician`). The patient
documents are given no dose entries at all, so no template change can leak
a dose value into them.

HTML is autoescaped. Markdown escapes every interpolated value with
:func:`markdown_escape` (:mod:`._markdown`), so a patient called
``<b>Jo_</b>`` reads as exactly that and never as markup. The Jinja
environment and its errors are in :mod:`._environment`. ``now`` is the
generation time, an input; the output is the same bytes for the same plan
and ``now``.
"""

from ._markdown import markdown_escape
from ._render import (
    render_clinician_html,
    render_clinician_markdown,
    render_patient_html,
    render_patient_markdown,
)

__all__ = [
    "markdown_escape",
    "render_clinician_html",
    "render_clinician_markdown",
    "render_patient_html",
    "render_patient_markdown",
]
