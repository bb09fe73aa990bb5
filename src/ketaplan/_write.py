"""Writing a plan's files: all rendered first, then each written atomically."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

from ._plan import Plan
from ._serialize import plan_to_json
from .exceptions import OutputError
from .export import (
    render_clinician_html,
    render_clinician_markdown,
    render_ics,
    render_patient_html,
    render_patient_markdown,
)

__all__ = ["render_outputs", "write_outputs"]


def render_outputs(
    plan: Plan, *, now: dt.datetime, templates: str | os.PathLike[str] | None = None
) -> dict[str, bytes]:
    """Every output file of ``plan`` by file name, rendered in memory.

    ``templates`` is a folder of document templates that override the shipped
    ones by file name (see docs/documents.md, "Restyling"); by default the
    plan's own folder (``[documents] templates`` in its plan file), if any.
    """
    templates = templates or plan.documents.templates or None
    return {
        f"{plan.id}.ics": render_ics(plan, now=now),
        f"{plan.id}-clinic.ics": render_ics(plan, now=now, audience="clinic"),
        f"{plan.id}.json": plan_to_json(plan).encode(),
        f"{plan.id}-patient.html": render_patient_html(plan, now=now, templates=templates).encode(),
        f"{plan.id}-patient.md": render_patient_markdown(
            plan, now=now, templates=templates
        ).encode(),
        f"{plan.id}-clinician.html": render_clinician_html(
            plan, now=now, templates=templates
        ).encode(),
        f"{plan.id}-clinician.md": render_clinician_markdown(
            plan, now=now, templates=templates
        ).encode(),
    }


def write_outputs(
    plan: Plan,
    folder: str | Path,
    *,
    now: dt.datetime,
    templates: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """Write the plan's calendars, JSON and documents into ``folder`` and return their paths.

    Everything is rendered before anything is written, and each file goes to
    a temporary name first and is then renamed, so a failure leaves no
    partial file behind; a broken template (``TemplateError``) writes nothing.
    """
    folder = Path(folder)
    files = render_outputs(plan, now=now, templates=templates)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(
            f"--out: cannot create the folder {str(folder)!r} ({error.strerror})"
        ) from None
    staged: list[tuple[str, Path]] = []
    try:
        for name, content in files.items():
            handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
            staged.append((temporary, folder / name))
            with os.fdopen(handle, "wb") as stream:
                stream.write(content)
        for temporary, final in staged:
            os.replace(temporary, final)
    except OSError as error:
        for temporary, _final in staged:
            Path(temporary).unlink(missing_ok=True)
        raise OutputError(f"--out: cannot write into {str(folder)!r} ({error.strerror})") from None
    return [final for _temporary, final in staged]
