"""Building many plans at once: ``ketaplan batch`` (docs/batch.md).

A batch reads its sources in a stable order (plan files sorted by name, or a
CSV's rows in order), books them one after another when a bookings folder is
given, and renders and writes them in worker processes. Each plan goes into
its own folder ``<out>/<plan id>/``, which is either complete or untouched at
every moment:

- a new folder is written as a hidden sibling ``.<id>.tmp-<pid>`` and renamed
  into place once every file and the manifest are on disk;
- an existing folder is updated by :func:`~ketaplan.write_outputs` (under the
  plan's lock, every file replaced atomically, a saved plan's edits kept) and
  its manifest ``.ketaplan-batch.json`` is written last.

The manifest records a digest of the plan's inputs and of each output file;
a plan whose inputs and outputs match it is skipped as unchanged, and a
folder whose files no longer match (a run stopped half-way, a saved plan
changed by hand) is built again.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import csv
import datetime as dt
import difflib
import enum
import hashlib
import io
import json
import multiprocessing
import os
import re
import resource
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from json.encoder import encode_basestring_ascii as _ascii  # json's C escaping
from pathlib import Path
from typing import Any, NamedTuple

import attrs

from . import __version__
from ._ledger import Ledger, laid_around
from ._plan import Plan
from ._planfile import _plan, load_plan
from ._reader import MAX_FILE_BYTES, Table, load_toml, read_file
from ._serialize import MAX_BYTES
from ._store import _sync_folder as _sync
from ._store import plan_lock, read_saved, write_files
from ._write import _settle, render_outputs, write_outputs
from .exceptions import NOT_SHOWN, ConflictError, KetaplanError, ScheduleError, SpecError

__all__ = ["MANIFEST", "BatchResult", "Outcome", "Progress", "Summary", "run_batch"]

#: The manifest each plan folder holds, written last.
MANIFEST = ".ketaplan-batch.json"
#: The largest patients CSV read (about 100,000 patients).
MAX_CSV_BYTES = 20_000_000
#: The most patient rows a CSV may hold.
MAX_ROWS = 100_000
_PLAN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_TEMPORARY = re.compile(r"^\.(?P<id>.+)\.tmp-(?P<pid>\d+)$")
_MANIFEST_FORMAT = "ketaplan.batch"


class Outcome(enum.Enum):
    """What became of one plan of a batch."""

    WRITTEN = "written"
    UNCHANGED = "unchanged"
    #: The plan cannot be laid, or writing it would lose a saved plan's edits.
    REFUSED = "refused"
    #: Bad input, or any other error.
    FAILED = "failed"


@attrs.frozen
class BatchResult:
    """One plan's outcome: its ``source`` (a file, or a CSV row), plan id and error message."""

    source: str
    plan_id: str
    outcome: Outcome
    message: str = ""


@attrs.frozen
class Summary:
    """A whole batch: every plan's result in source order, the wall time, and the peak
    memory of each process that built plans (process id to bytes)."""

    results: tuple[BatchResult, ...]
    seconds: float
    memory: dict[int, int]
    interrupted: str = ""

    def count(self, outcome: Outcome) -> int:
        """How many plans had ``outcome``."""
        return sum(1 for result in self.results if result.outcome is outcome)

    @property
    def exit_status(self) -> int:
        """0 when every plan was written or unchanged, else 1 (130 or 143 when interrupted)."""
        if self.interrupted == "SIGINT":
            return 130
        if self.interrupted == "SIGTERM":
            return 143
        bad = self.count(Outcome.REFUSED) + self.count(Outcome.FAILED)
        return 1 if bad else 0


# -- the CSV of patients ----------------------------------------------------------------


def _text(text: str) -> object:
    return text


def _date(text: str) -> object:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError("expected a date such as 2027-01-11") from None


def _integer(text: str) -> object:
    if not re.fullmatch(r"\s*\d{1,9}\s*", text):
        raise ValueError("expected a whole number such as 2")
    return int(text)


def _boolean(text: str) -> object:
    value = text.strip().lower()
    if value in ("true", "yes", "1"):
        return True
    if value in ("false", "no", "0"):
        return False
    raise ValueError("expected true or false")


def _words(text: str) -> object:
    """A list written with spaces or commas between its items: ``TU FR`` or ``TU,FR``."""
    return [word for word in re.split(r"[\s,]+", text.strip()) if word]


def _items(text: str) -> list[str]:
    """A list written with commas between its items (items may hold spaces)."""
    return [item.strip() for item in text.split(",") if item.strip()]


def _dates(text: str) -> object:
    return [_date(item) for item in _items(text)]


#: The columns a patients CSV may have, by plan-file key, with how a cell is read.
COLUMNS: dict[str, Callable[[str], object]] = {
    "plan.id": _text,
    "plan.protocol": _text,
    "plan.start": _date,
    "plan.timezone": _text,
    "plan.weekdays": _words,
    "plan.time": _text,
    "patient.name": _text,
    "patient.ref": _text,
    "clinic.name": _text,
    "clinic.address": _text,
    "clinic.phone": _text,
    "clinic.email": _text,
    "clinic.holidays": _words,
    "clinic.closures": _dates,
    "clinic.chairs": _integer,
    "clinic.busy": _items,
    "clinic.min_gap": _text,
    "clinic.consecutive_days": _boolean,
    "calendar.privacy": _text,
    "calendar.reminders": _items,
    "documents.templates": _text,
    "fhir.enabled": _boolean,
    "fhir.system": _text,
    "fhir.patient_system": _text,
}
#: Columns named by a pattern: a phase, a weekday's hours, a dose field.
_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[str], object]], ...] = (
    (re.compile(r"^clinic\.hours\.[A-Za-z]{2,9}$"), _text),
    (re.compile(r"^phases\.[A-Za-z0-9_-]+\.interval$"), _text),
    (re.compile(r"^phases\.[A-Za-z0-9_-]+\.sessions$"), _integer),
    (re.compile(r"^phases\.[A-Za-z0-9_-]+\.until$"), _date),
    (re.compile(r"^dosing\.[A-Za-z0-9_]+$"), _text),
    (re.compile(r"^dosing\.[A-Za-z0-9_-]+\.[A-Za-z0-9_]+$"), _text),
)
_EXAMPLES = ["clinic.hours.MO", "phases.maintenance.interval", "dosing.weight"]


def _reader(column: str) -> Callable[[str], object] | None:
    if column in COLUMNS:
        return COLUMNS[column]
    return next((read for pattern, read in _PATTERNS if pattern.match(column)), None)


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the rows (with their spreadsheet row numbers) of a patients CSV.

    A problem with the file or its header is a :class:`SpecError` (the command's misuse).
    """
    data = read_file(path, what="SOURCE", limit=MAX_CSV_BYTES, hint="give a folder or a .csv")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise SpecError("SOURCE", str(path), f"the CSV is not UTF-8 text (line {line})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [cell.strip() for cell in next(reader, [])]
        if not any(header):
            raise SpecError(
                "SOURCE", str(path), "the CSV has no header row; name the columns plan.id, ..."
            )
        for number, column in enumerate(header, start=1):
            if not column:
                raise SpecError("SOURCE", str(path), f"column {number} of the header has no name")
            if _reader(column) is None:
                close = difflib.get_close_matches(column, [*COLUMNS, *_EXAMPLES], n=1, cutoff=0.5)
                hint = f"did you mean {close[0]!r}?" if close else "columns are plan-file keys"
                raise SpecError(
                    f"{path} column {number}", column, f"unknown column; {hint} (see docs/batch.md)"
                )
            if header.count(column) > 1:
                raise SpecError(f"{path} column {number}", column, "the column is given twice")
        rows: list[tuple[int, list[str]]] = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue  # a blank line
            if len(rows) == MAX_ROWS:
                raise SpecError("SOURCE", str(path), f"the CSV has over {MAX_ROWS} rows")
            rows.append((reader.line_num, cells))
    except csv.Error as error:
        raise SpecError(
            "SOURCE", str(path), f"not valid CSV at line {reader.line_num} ({error})"
        ) from None
    return header, rows


def _apply_row(template: dict[str, Any], cells: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The template's tables with the row's non-empty cells in place of its values."""
    data = copy.deepcopy(template)
    for column, text in cells:
        if not text.strip():
            continue
        read = _reader(column)
        if read is None:  # pragma: no cover - the header was checked
            raise SpecError(f"column {column}", NOT_SHOWN, "unknown column")
        try:
            value = read(text)
        except ValueError as error:
            raise SpecError(f"column {column}", NOT_SHOWN, str(error)) from None
        *tables, key = column.split(".")
        table = data
        for name in tables:
            inner = table.setdefault(name, {})
            if not isinstance(inner, dict):
                raise SpecError(column, NOT_SHOWN, f"the template's {name} is not a table")
            table = inner
        table[key] = value
    return data


# -- what to build ----------------------------------------------------------------------


class _Entry(NamedTuple):
    """One plan to build, as read from its source."""

    source: str
    path: Path | None = None
    cells: tuple[tuple[str, str], ...] = ()
    row_error: str = ""


class _Task(NamedTuple):
    """What a worker needs to build one plan."""

    source: str
    plan_id: str
    digest: str
    path: Path | None = None
    cells: tuple[tuple[str, str], ...] = ()
    plan: Plan | None = None


class _Context(NamedTuple):
    """What every task of a batch shares."""

    out: Path
    now: dt.datetime
    template: Path | None = None
    template_data: dict[str, Any] | None = None


def _entries(source: Path, template: Path | None) -> list[_Entry]:
    if source.is_dir():
        if template is not None:
            raise SpecError("--template", str(template), "give it with a CSV SOURCE only")
        files = sorted(
            p
            for p in source.iterdir()
            if p.suffix.lower() in (".toml", ".json") and not p.name.startswith(".")
        )
        if not files:
            raise SpecError(
                "SOURCE", str(source), "the folder holds no plan files (.toml or saved .json)"
            )
        return [_Entry(str(p), path=p) for p in files]
    if source.suffix.lower() != ".csv":
        raise SpecError(
            "SOURCE",
            str(source),
            "expected a folder of plan files, or a .csv of patients with --template",
        )
    if template is None:
        raise SpecError("--template", NOT_SHOWN, "a CSV SOURCE needs a --template plan file")
    if template.suffix.lower() != ".toml":
        raise SpecError("--template", str(template), "expected a .toml plan file")
    header, rows = _read_csv(source)
    entries = []
    for number, cells in rows:
        name = f"{source} row {number}"
        if len(cells) != len(header):
            problem = f"the row has {len(cells)} cells and the header {len(header)}"
            entries.append(_Entry(name, row_error=problem))
        else:
            entries.append(_Entry(name, cells=tuple(zip(header, cells, strict=True))))
    if not entries:
        raise SpecError("SOURCE", str(source), "the CSV has no patient rows")
    return entries


def _identify(
    entry: _Entry, template: dict[str, Any] | None, now: dt.datetime
) -> tuple[str, dt.date | None]:
    """The plan id (checked to be a folder name) and start date of ``entry``.

    Raises the error loading the plan would raise when the id cannot be read.
    """
    if entry.row_error:
        raise SpecError("row", NOT_SHOWN, entry.row_error)
    if entry.path is None:
        head = _apply_row(template or {}, entry.cells).get("plan", {})
    elif entry.path.suffix.lower() == ".toml":
        head = load_toml(entry.path, what="plan file").get("plan", {})
    else:
        data = read_file(entry.path, what="plan file", limit=MAX_BYTES)
        try:
            head = json.loads(data)
        except ValueError:
            head = {}
    head = head if isinstance(head, dict) else {}
    plan_id, start = head.get("id"), head.get("start")
    if not isinstance(plan_id, str) or not _PLAN_ID.match(plan_id):
        # Loading names the problem as a build would.
        plan_id = _load(entry.path, entry.cells, template, now).id
    if isinstance(start, str):
        with contextlib.suppress(ValueError):
            start = dt.date.fromisoformat(start[:10])
    return plan_id, start if isinstance(start, dt.date) else None


def _load(
    path: Path | None,
    cells: Sequence[tuple[str, str]],
    template: dict[str, Any] | None,
    now: dt.datetime,
    base: Path | None = None,
) -> Plan:
    if path is not None:
        return load_plan(path, now=now)
    data = _apply_row(template or {}, cells)
    return _plan(Table(data, ""), base=base or Path("."), now=now)


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256(__version__.encode())
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _folder_digest(folder: Path) -> bytes:
    """A digest of the saved plans and calendars in a bookings folder."""
    digest = hashlib.sha256()
    for file in sorted(folder.iterdir()):
        if file.suffix.lower() in (".json", ".ics") and file.is_file():
            digest.update(file.name.encode() + b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.digest()


# -- building one plan (in a worker) ----------------------------------------------------

_context: _Context | None = None


def _start_worker(context: _Context) -> None:
    """A worker leaves Ctrl-C to the batch, which lets it finish its plan."""
    global _context
    _context = context
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _run_chunk(tasks: Sequence[_Task]) -> tuple[int, int, list[BatchResult]]:
    """Build ``tasks``; returns this process's id, its peak memory in bytes, the results."""
    context = _context
    if context is None:  # pragma: no cover - set by _start_worker
        raise RuntimeError("worker not started")
    staged: list[tuple[int, Path, Path]] = []
    results = [_build(task, context, staged, number) for number, task in enumerate(tasks)]
    _place(staged, results, context.out)
    return os.getpid(), _peak_memory(), results


def _place(staged: Sequence[tuple[int, Path, Path]], results: list[BatchResult], out: Path) -> None:
    """Make the chunk's new plan folders durable at once, then rename each into place.

    Their files were written without a flush each: one ``sync`` (Linux waits for it to
    reach the disk, as ``fsync`` of every file would) costs what one file's ``fsync``
    does, where a flush per file and folder cost about a dozen per plan. A folder is
    renamed only once its files are on the disk, so each is complete or absent.
    """
    if not staged:
        return
    try:
        _flush([temporary for _number, temporary, _folder in staged])
    except OSError as error:
        for number, temporary, _folder in staged:
            shutil.rmtree(temporary, ignore_errors=True)
            result = results[number]
            message = _one_line(f"{temporary}: cannot write ({error.strerror})")
            results[number] = attrs.evolve(result, outcome=Outcome.FAILED, message=message)
        return
    for number, temporary, folder in staged:
        try:
            os.rename(temporary, folder)
        except OSError as error:
            shutil.rmtree(temporary, ignore_errors=True)
            message = _one_line(f"{folder}: cannot write ({error.strerror})")
            results[number] = attrs.evolve(results[number], outcome=Outcome.FAILED, message=message)
    _sync(out)


def _flush(folders: Sequence[Path]) -> None:
    """Put the files in ``folders`` on the disk.

    On Linux one ``sync`` writes them all out and waits for the disk. It reports no
    error: a disk that fails to take a file then goes unnoticed here, but the file
    no longer matches the digest in its folder's manifest, so the next run finds the
    folder not intact and builds it again (an ``fsync`` of each file after the sync
    would report it, at the cost of a disk flush per file). Elsewhere ``sync`` may
    return before the writes are done, and each file is flushed on its own.
    """
    if sys.platform.startswith("linux"):
        os.sync()
        return
    for folder in folders:
        for path in folder.iterdir():
            handle = os.open(path, os.O_RDONLY)
            try:
                os.fsync(handle)
            finally:
                os.close(handle)
        _sync(folder)


def _peak_memory() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _build(
    task: _Task, context: _Context, staged: list[tuple[int, Path, Path]], number: int
) -> BatchResult:
    folder = context.out / task.plan_id
    try:
        if task.plan is None and intact(folder, task.digest):
            return BatchResult(task.source, task.plan_id, Outcome.UNCHANGED)
        plan = task.plan
        if plan is None:
            base = context.template.parent if context.template else None
            plan = _load(task.path, task.cells, context.template_data, context.now, base)
        if plan.id != task.plan_id:
            raise SpecError("plan.id", plan.id, f"the batch read the id {task.plan_id!r}")
        pending = _write(plan, folder, context, task.digest)
        if pending is not None:
            staged.append((number, pending, folder))
    except (ScheduleError, ConflictError) as error:
        return BatchResult(task.source, task.plan_id, Outcome.REFUSED, _one_line(str(error)))
    except KetaplanError as error:
        message = _message(error, task.cells)
        return BatchResult(task.source, task.plan_id, Outcome.FAILED, message)
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        message = _one_line(where + (error.strerror or type(error).__name__))
        return BatchResult(task.source, task.plan_id, Outcome.FAILED, message)
    except Exception as error:  # one bad plan never stops the others
        message = f"unexpected error ({type(error).__name__}); please report it"
        return BatchResult(task.source, task.plan_id, Outcome.FAILED, message)
    return BatchResult(task.source, task.plan_id, Outcome.WRITTEN)


def _write(plan: Plan, folder: Path, context: _Context, digest: str) -> Path | None:
    """Write ``plan`` into ``folder``: an existing folder now, through
    :func:`~ketaplan.write_outputs`; a new one into a temporary folder returned to be made
    durable and renamed into place with the rest of the chunk (:func:`_place`)."""
    if os.path.lexists(folder):
        if not folder.is_dir() or folder.is_symlink():
            raise SpecError("plan.id", plan.id, f"{folder} is not a folder; move it away")
        # The manifest goes first, so a run stopped half-way leaves the folder "not intact".
        (folder / MANIFEST).unlink(missing_ok=True)
        written = write_outputs(plan, folder, now=context.now)
        outputs = {path.name: path.read_bytes() for path in written}
        write_files(folder, {MANIFEST: _manifest(outputs, digest)})
        return None
    files = render_outputs(plan, now=context.now)
    files[MANIFEST] = _manifest(files, digest)
    temporary = context.out / f".{plan.id}.tmp-{os.getpid()}"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    try:
        for name, content in files.items():
            with open(temporary / name, "xb") as stream:  # new files follow the umask
                stream.write(content)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return temporary


def _manifest(outputs: Mapping[str, bytes], digest: str) -> bytes:
    """The manifest of a plan folder holding ``outputs`` (file name to content), built for
    inputs ``digest``.

    The text of ``json.dumps(manifest, indent=2, sort_keys=True)`` (a test compares them),
    written directly: json's indented writer is pure Python, and slower than this.
    """
    digests = [
        f'{_ascii(name)}: "{hashlib.sha256(content).hexdigest()}"'
        for name, content in sorted(outputs.items())
    ]
    listed = "{\n    " + ",\n    ".join(digests) + "\n  }" if digests else "{}"
    return (
        "{\n"
        f'  "format": {_ascii(_MANIFEST_FORMAT)},\n'
        f'  "inputs": {_ascii(digest)},\n'
        f'  "ketaplan": {_ascii(__version__)},\n'
        f'  "outputs": {listed},\n'
        '  "version": 1\n'
        "}\n"
    ).encode()


def intact(folder: Path, digest: str) -> bool:
    """Whether ``folder``'s manifest was written for inputs ``digest`` and every output it
    lists is there with its digest."""
    try:
        manifest = json.loads((folder / MANIFEST).read_bytes())
        outputs = manifest["outputs"]
        if manifest.get("format") != _MANIFEST_FORMAT or manifest.get("inputs") != digest:
            return False
        if not isinstance(outputs, dict) or not outputs:
            return False
        for name, expected in outputs.items():
            if "/" in name or name.startswith("."):
                return False
            if hashlib.sha256((folder / name).read_bytes()).hexdigest() != expected:
                return False
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True


def _message(error: KetaplanError, cells: Sequence[tuple[str, str]]) -> str:
    """The error's message; about a CSV cell, without the cell's value (it may be personal)."""
    if isinstance(error, SpecError) and any(error.field == column for column, _ in cells):
        error = SpecError(f"column {error.field}", NOT_SHOWN, error.expected)
    return _one_line(str(error))


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


# -- booking (in the batch's own process) -------------------------------------------------


class _Bookings:
    """The clinic's ledgers (one per clinic: name, time zone and chairs), filled in order."""

    def __init__(self, folder: Path, earliest: dt.date) -> None:
        self.folder = folder
        self.earliest = earliest
        self.ledgers: dict[tuple[str, str, int], Ledger] = {}
        self.chain = hashlib.sha256(_folder_digest(folder))

    def ledger(self, plan: Plan) -> tuple[tuple[str, str, int], Ledger]:
        clinic = plan.clinic
        key = (clinic.name, clinic.timezone, clinic.chairs)
        if key not in self.ledgers:
            # Each plan's own ``busy`` calendars are added when it is scheduled.
            self.ledgers[key] = Ledger.from_folder(
                self.folder, attrs.evolve(clinic, busy=()), start=self.earliest
            )
        return key, self.ledgers[key]

    def record(self, plan: Plan, *, check: bool) -> None:
        """Book ``plan`` (checking the chairs, with its own ``busy`` bookings, if ``check``)."""
        key, ledger = self.ledger(plan)
        if check:
            ledger.with_busy(plan.clinic.busy).book(plan)
        self.ledgers[key] = ledger.book(plan, check=False)
        lines = [plan.id] + [
            f"{s.key} {s.start.isoformat()} {s.end.isoformat()} {s.status.value}"
            for s in plan.sessions
        ]
        self.chain.update(("\n".join(lines) + "\n\n").encode())

    def place(self, plan: Plan, folder: Path, now: dt.datetime) -> Plan:
        """``plan`` laid around the ledger, settled over its saved plan, and booked."""
        _key, ledger = self.ledger(plan)
        plan = laid_around(plan, ledger)
        path = folder / f"{plan.id}.json"
        if path.is_file():
            with plan_lock(path):
                saved = read_saved(path)
            if saved is not None:
                plan, _keep = _settle(saved, plan, path=path, now=now, replace=False, ledger=ledger)
        self.record(plan, check=True)
        return plan


# -- progress -------------------------------------------------------------------------


class Progress:
    """Progress of a batch on ``stream``: a bar redrawn in place on a terminal (at most
    ten times a second), a plain line every 5 seconds or 10% otherwise."""

    def __init__(self, stream: Any, total: int, *, terminal: bool | None = None) -> None:
        self.stream = stream
        self.total = total
        self.done = 0
        self.terminal = stream.isatty() if terminal is None else terminal
        self.started = time.monotonic()
        self.shown = -1.0
        self.shown_done = 0

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if self.terminal:
            if now - self.shown >= 0.1 or self.done == self.total:
                self.shown = now
                self.stream.write("\r" + self._bar(now))
                self.stream.flush()
        else:
            step = max(1, self.total // 10)
            if (
                now - self.started - self.shown >= 5
                or self.done - self.shown_done >= step
                or self.done == self.total
            ):
                self.shown, self.shown_done = now - self.started, self.done
                self.stream.write(self._line(now) + "\n")
                self.stream.flush()

    def finish(self) -> None:
        if self.terminal and self.shown >= 0:
            self.stream.write("\n")
            self.stream.flush()

    def _rate(self, now: float) -> tuple[float, str]:
        elapsed = max(now - self.started, 1e-6)
        rate = self.done / elapsed
        if self.done == 0:
            return rate, "--:--"
        left = int((self.total - self.done) / rate) if rate else 0
        return rate, f"{left // 60}:{left % 60:02d}"

    def _bar(self, now: float) -> str:
        rate, left = self._rate(now)
        width = 30
        filled = width * self.done // max(self.total, 1)
        bar = "#" * filled + "-" * (width - filled)
        return f"[{bar}] {self.done}/{self.total} plans  {rate:.1f}/s  {left} left "

    def _line(self, now: float) -> str:
        rate, left = self._rate(now)
        percent = 100 * self.done // max(self.total, 1)
        return (
            f"batch: {self.done}/{self.total} plans ({percent}%), {rate:.1f} plans/s, {left} left"
        )


# -- the batch ----------------------------------------------------------------------------


class _Stop(BaseException):
    """SIGTERM, raised in the batch's own process to stop it as Ctrl-C does."""


def run_batch(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    now: dt.datetime,
    template: str | os.PathLike[str] | None = None,
    bookings: str | os.PathLike[str] | None = None,
    jobs: int | None = None,
    progress: Callable[[int], Progress] | None = None,
) -> Summary:
    """Build every plan of ``source`` into ``out/<plan id>/``; see docs/batch.md.

    A misused command (a bad ``source``, ``out``, ``template`` or CSV header)
    raises :class:`~ketaplan.SpecError` before anything is written; a plan's
    own failure is its :class:`BatchResult`. ``progress(total)`` makes the
    progress display, if any.
    """
    started = time.monotonic()
    source, out = Path(source), Path(out)
    template = Path(template) if template is not None else None
    if not os.path.lexists(source):
        raise SpecError("SOURCE", str(source), "no such file or folder")
    if os.path.lexists(out) and not out.is_dir():
        raise SpecError("--out", str(out), "expected a folder (this is a file)")
    entries = _entries(source, template)
    template_data: dict[str, Any] | None = None
    template_bytes = b""
    if template is not None:
        template_bytes = read_file(template, what="--template", limit=MAX_FILE_BYTES)
        template_data = load_toml(template, what="--template")
    bookings_folder = Path(bookings) if bookings is not None else None
    if bookings_folder is not None and not bookings_folder.is_dir():
        raise SpecError(
            "--bookings", str(bookings_folder), "expected a folder of saved plans and .ics files"
        )
    _prepare_out(out)
    context = _Context(out=out, now=now, template=template, template_data=template_data)
    results: dict[int, BatchResult] = {}
    tasks: list[tuple[int, _Task | None, _Entry, bytes]] = []
    seen: dict[str, str] = {}
    earliest: dt.date | None = None
    for number, entry in enumerate(entries):
        try:
            plan_id, start = _identify(entry, template_data, now)
        except KetaplanError as error:
            message = _message(error, entry.cells)
            results[number] = BatchResult(entry.source, "", _outcome(error), message)
            continue
        if plan_id in seen:
            message = f"plan.id: {plan_id!r} is also the id of {seen[plan_id]}; each plan needs its own id"
            results[number] = BatchResult(entry.source, plan_id, Outcome.FAILED, message)
            continue
        seen[plan_id] = entry.source
        if start is not None and (earliest is None or start < earliest):
            earliest = start
        if entry.path is not None:
            inputs = entry.path.read_bytes()
        else:
            row = json.dumps(sorted(entry.cells), ensure_ascii=False).encode()
            inputs = template_bytes + b"\0" + row
        digest = _digest(inputs)
        tasks.append(
            (number, _Task(entry.source, plan_id, digest, entry.path, entry.cells), entry, inputs)
        )

    display = progress(len(entries)) if progress is not None else None
    if display is not None and results:
        display.advance(len(results))
    memory: dict[int, int] = {}
    interrupted = ""
    booked = (
        _Bookings(bookings_folder, earliest or dt.date(2000, 1, 1)) if bookings_folder else None
    )

    def collect(numbers: Sequence[int], chunk: tuple[int, int, list[BatchResult]]) -> None:
        pid, peak, found = chunk
        memory[pid] = max(memory.get(pid, 0), peak)
        for number, result in zip(numbers, found, strict=True):
            results[number] = result
        if display is not None:
            display.advance(len(found))

    def ready() -> Iterator[tuple[int, _Task]]:
        """The tasks in order, booked first when there is a ledger."""
        for number, task, _entry, inputs in tasks:
            if task is None:
                continue
            if booked is None:
                yield number, task
                continue
            task = task._replace(digest=_digest(inputs, booked.chain.digest()))
            folder = out / task.plan_id
            try:
                if intact(folder, task.digest):
                    saved = read_saved(folder / f"{task.plan_id}.json")
                    if saved is not None:
                        booked.record(saved, check=False)
                        results[number] = BatchResult(task.source, task.plan_id, Outcome.UNCHANGED)
                        if display is not None:
                            display.advance(1)
                        continue
                base = template.parent if template else None
                plan = _load(task.path, task.cells, template_data, now, base)
                plan = booked.place(plan, folder, now)
            except KetaplanError as error:
                result = BatchResult(
                    task.source, task.plan_id, _outcome(error), _message(error, task.cells)
                )
                results[number] = result
                if display is not None:
                    display.advance(1)
                continue
            yield number, task._replace(plan=plan)

    workers = max(1, jobs if jobs is not None else (os.cpu_count() or 1))
    previous = signal.getsignal(signal.SIGTERM)
    with contextlib.suppress(ValueError):  # not the main thread: no SIGTERM handling
        signal.signal(signal.SIGTERM, _raise_stop)
    try:
        if workers == 1:
            global _context
            saved_context, _context = _context, context
            try:
                for number, task in ready():
                    collect([number], _run_chunk([task]))
            finally:
                _context = saved_context
        else:
            interrupted = _in_workers(
                ready(), context, workers, len(tasks), collect, results, display
            )
    except KeyboardInterrupt:
        interrupted = "SIGINT"
    except _Stop:
        interrupted = "SIGTERM"
    finally:
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signal.SIGTERM, previous)
        if display is not None:
            display.finish()
    _remove_leftovers(out)
    ordered = tuple(results[number] for number in sorted(results))
    return Summary(ordered, time.monotonic() - started, memory, interrupted)


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop()


_Chunk = list[tuple[int, _Task]]
_Future = concurrent.futures.Future[tuple[int, int, list[BatchResult]]]


class _Pool:
    """Worker processes building chunks of tasks. When a worker dies, the pool is started
    again and the chunks that were waiting are sent once more; a chunk whose worker died
    twice fails."""

    def __init__(
        self,
        context: _Context,
        workers: int,
        collect: Callable[[Sequence[int], tuple[int, int, list[BatchResult]]], None],
        fail: Callable[[_Chunk], None],
    ) -> None:
        self.context, self.workers = context, workers
        self.collect, self.fail = collect, fail
        self.pending: dict[_Future, tuple[_Chunk, bool]] = {}
        self.executor = self._start()

    def _start(self) -> concurrent.futures.ProcessPoolExecutor:
        # Workers start from a fresh server process, not as copies of this one: a copy
        # would carry (and, as it runs, touch) every task of the batch, so a worker's
        # memory would grow with the size of the batch rather than with one plan.
        context = multiprocessing.get_context(
            "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        )
        return concurrent.futures.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=_start_worker,
            initargs=(self.context,),
        )

    def submit(self, chunk: _Chunk, retried: bool = False) -> None:
        try:
            future = self.executor.submit(_run_chunk, [task for _, task in chunk])
        except concurrent.futures.process.BrokenProcessPool:
            self._restart([(chunk, retried)])
            return
        self.pending[future] = (chunk, retried)

    def wait(self, *, block: bool) -> None:
        """Collect finished chunks: all of them (``block``), or until few are waiting."""
        while self.pending and (block or len(self.pending) >= self.workers * 4):
            done, _ = concurrent.futures.wait(
                self.pending, return_when=concurrent.futures.FIRST_COMPLETED
            )
            broken: list[tuple[_Chunk, bool]] = []
            for future in done:
                chunk, retried = self.pending.pop(future)
                try:
                    self.collect([number for number, _ in chunk], future.result())
                except concurrent.futures.process.BrokenProcessPool:
                    broken.append((chunk, retried))
            if broken:
                self._restart(broken)
            if not block:
                break

    def _restart(self, broken: list[tuple[_Chunk, bool]]) -> None:
        waiting = broken + list(self.pending.values())
        self.pending.clear()
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.executor = self._start()
        for chunk, retried in waiting:
            if retried:
                self.fail(chunk)
            else:
                self.submit(chunk, retried=True)

    def stop(self) -> None:
        """Start no more chunks; collect those being built (each folder complete or untouched)."""
        for future in self.pending:
            future.cancel()
        for future, (chunk, _retried) in list(self.pending.items()):
            if not future.cancelled():
                try:
                    self.collect([number for number, _ in chunk], future.result())
                except Exception:
                    self.fail(chunk)
        self.pending.clear()

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


def _in_workers(
    ready: Iterator[tuple[int, _Task]],
    context: _Context,
    workers: int,
    total: int,
    collect: Callable[[Sequence[int], tuple[int, int, list[BatchResult]]], None],
    results: dict[int, BatchResult],
    display: Progress | None,
) -> str:
    """Build the tasks in ``workers`` processes, a few at a time each; returns how it was
    interrupted, if it was."""

    def fail(chunk: _Chunk) -> None:
        message = "the worker process building it stopped; run the batch again to finish"
        for number, task in chunk:
            results[number] = BatchResult(task.source, task.plan_id, Outcome.FAILED, message)
        if display is not None:
            display.advance(len(chunk))

    size = max(1, min(16, total // (workers * 8)))
    pool = _Pool(context, workers, collect, fail)
    interrupted = ""
    try:
        chunk: _Chunk = []
        for item in ready:
            chunk.append(item)
            if len(chunk) >= size:
                pool.submit(chunk)
                chunk = []
                pool.wait(block=False)
        if chunk:
            pool.submit(chunk)
        pool.wait(block=True)
    except (KeyboardInterrupt, _Stop) as stop:
        interrupted = "SIGINT" if isinstance(stop, KeyboardInterrupt) else "SIGTERM"
        pool.stop()
    finally:
        pool.close()
    return interrupted


def _outcome(error: Exception) -> Outcome:
    return Outcome.REFUSED if isinstance(error, ScheduleError | ConflictError) else Outcome.FAILED


def _prepare_out(out: Path) -> None:
    """Create ``out`` if needed and remove temporary folders that stopped runs left."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SpecError("--out", str(out), f"cannot create the folder ({error.strerror})") from None
    _remove_leftovers(out)


def _remove_leftovers(out: Path) -> None:
    """Remove the temporary folders of processes that are gone (a stopped run, a killed worker)."""
    for entry in out.iterdir():
        match = _TEMPORARY.match(entry.name)
        if match and entry.is_dir() and not _alive(int(match.group("pid"))):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
