"""Writing a plan's files: under the plan's lock, all rendered first, then each replaced atomically."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ._plan import Plan
from ._serialize import plan_to_json
from ._store import (
    backup_name,
    edits_since_build,
    plan_lock,
    read_saved,
    write_files,
)
from .exceptions import ConflictError, OutputError, SpecError
from .export import render_ics

if TYPE_CHECKING:
    from ._ledger import Ledger

__all__ = ["render_outputs", "write_outputs", "write_saved_outputs"]


def render_outputs(
    plan: Plan,
    *,
    now: dt.datetime,
    templates: str | os.PathLike[str] | None = None,
    fhir: bool = False,
) -> dict[str, bytes]:
    """Every output file of ``plan`` by file name, rendered in memory.

    ``templates`` is a folder of document templates that override the shipped
    ones by file name (see docs/documents.md, "Restyling"); by default the
    plan's own folder (``[documents] templates`` in its plan file), if any.
    ``fhir`` adds ``<plan id>.fhir.json``, the plan as a FHIR R4 transaction
    Bundle, as the plan's own ``[fhir] enabled`` does.
    """
    from .export.documents._render import render_documents

    templates = templates or plan.documents.templates or None
    files = {
        f"{plan.id}.ics": render_ics(plan, now=now),
        f"{plan.id}-clinic.ics": render_ics(plan, now=now, audience="clinic"),
        f"{plan.id}.json": plan_to_json(plan).encode(),
    }
    documents = render_documents(plan, now=now, templates=templates)
    for suffix, text in documents.items():
        files[f"{plan.id}{suffix}"] = text.encode()
    if fhir or plan.fhir.enabled:
        from .export._fhir import render_fhir

        files[f"{plan.id}.fhir.json"] = render_fhir(plan, now=now)
    return files


def write_outputs(
    plan: Plan,
    folder: str | Path,
    *,
    now: dt.datetime,
    templates: str | os.PathLike[str] | None = None,
    replace: bool = False,
    private: bool = False,
    fhir: bool = False,
    report: Callable[[str], None] | None = None,
    ledger: Ledger | None = None,
) -> list[Path]:
    """Write the plan's calendars, JSON and documents into ``folder`` and return their paths.

    ``fhir`` also writes ``<plan id>.fhir.json`` (as the plan's ``[fhir] enabled`` does).

    When ``folder`` already holds a saved plan with the same id, that plan is
    the clinic's record and is read again under its lock:

    - if ``plan`` is the saved plan or a later revision of it, ``plan`` is written;
    - if ``plan`` is an earlier revision of it, the saved plan is written
      (nothing saved meanwhile is lost);
    - if ``plan`` was built afresh (from the plan file) and the saved plan has
      no changes since it was built, ``plan`` is written as its next revision
      (:func:`~ketaplan.reconcile`: UIDs kept, SEQUENCE raised where a session
      changed, sessions that left the plan kept as cancelled);
    - if the saved plan has changes made since it was built (doses, sign-off,
      omitted, completed or moved sessions), ``plan`` is laid around them
      (:func:`~ketaplan._revise.replan`): what happened or was decided stays,
      only the sessions still to come are laid again, and ``report`` (if
      given) is called with one line per session that moved and one if the
      sign-off was withdrawn; with ``replace``, the saved plan is instead kept
      beside it as ``<id>.json.<time>.bak`` and ``plan`` starts it over.

    With the clinic's ``ledger`` (:class:`~ketaplan.Ledger`), a re-plan lays the
    sessions around the other plans' bookings too.

    Everything is rendered before anything is written, and each file goes to
    a temporary name first and is then renamed, so a failure leaves no
    partial file behind; a broken template (``TemplateError``) writes nothing.
    Replaced files keep their permissions, new ones follow the umask;
    ``private`` makes every file readable by its owner only (0600).
    """
    folder = Path(folder)
    # Rendered before anything is created, so that a broken template leaves no trace.
    rendered = render_outputs(plan, now=now, templates=templates, fhir=fhir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(
            f"--out: cannot create the folder {str(folder)!r} ({error.strerror})"
        ) from None
    path = folder / f"{plan.id}.json"
    with plan_lock(path):
        saved = read_saved(path)
        files: dict[str, bytes] = {}
        if saved is not None:
            settled, keep = _settle(
                saved, plan, path=path, now=now, replace=replace, report=report, ledger=ledger
            )
            if keep is not None:
                files[keep.name] = path.read_bytes()
            if settled is not plan:
                rendered = render_outputs(settled, now=now, templates=templates, fhir=fhir)
        files.update(rendered)
        written = write_files(folder, files, private=private)
    return [p for p in written if p.suffix != ".bak"]


def write_saved_outputs(
    path: str | Path,
    *,
    now: dt.datetime,
    templates: str | os.PathLike[str] | None = None,
    private: bool = False,
    fhir: bool = False,
    ledger: Ledger | None = None,
) -> list[Path]:
    """Write the files of the plan saved at ``path`` into its own folder.

    The plan is read under its lock, so a change saved meanwhile by another
    command is what gets written. With the clinic's ``ledger``, the saved
    plan's sessions must fit around the other plans' bookings (it keeps its
    dates: :class:`~ketaplan.ScheduleError` names a session that does not).
    """
    path = Path(os.path.realpath(path))
    with plan_lock(path):
        saved = read_saved(path)
        if saved is None:
            raise SpecError("plan file", str(path), "no such file")
        if ledger is not None:
            ledger.book(saved)
        files = render_outputs(saved, now=now, templates=templates, fhir=fhir)
        return write_files(path.parent, files, private=private)


def _settle(
    saved: Plan,
    plan: Plan,
    *,
    path: Path,
    now: dt.datetime,
    replace: bool,
    report: Callable[[str], None] | None = None,
    ledger: Ledger | None = None,
) -> tuple[Plan, Path | None]:
    """What to write over ``saved``, and where to keep ``saved`` first (if anywhere)."""
    from ._revise import reconcile, replan  # a plan written over a saved one only

    if saved.id != plan.id:
        raise ConflictError(f"{path}: holds plan {saved.id!r}, not {plan.id!r}")
    if plan == saved:
        return saved, None
    if len(plan.history) > 1:
        # A saved plan's revision: write whichever of the two includes the other.
        if _extends(plan, saved):
            return plan, None
        if _extends(saved, plan):
            return saved, None
        if edits_since_build(plan) and edits_since_build(saved) and not replace:
            raise ConflictError(
                f"{path}: the saved plan and the plan being written were each changed on their "
                f"own (revisions {saved.revision} and {plan.revision}); writing one would lose the "
                "other's changes. Make the changes in one of them, or start over with --replace"
            )
    if not edits_since_build(saved):
        return reconcile(saved, plan, now=now), None
    if not replace:
        replanned = replan(saved, plan, now=now, ledger=ledger)
        if report is not None:
            for line in replanned.moved:
                report(line)
            if replanned.signoff_withdrawn:
                report("sign-off withdrawn: a session it covered moved; the plan is a draft again")
        return replanned.plan, None
    backup = backup_name(path, now)
    return reconcile(saved, plan, now=now, reason="started over"), backup


def _extends(later: Plan, earlier: Plan) -> bool:
    """Whether ``later``'s history continues ``earlier``'s."""
    count = len(earlier.history)
    return len(later.history) >= count > 0 and later.history[:count] == earlier.history
