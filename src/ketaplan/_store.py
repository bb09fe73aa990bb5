"""Saving a plan's files safely: one writer at a time, atomic replacement, nothing lost.

A saved plan ``<id>.json`` is the clinic's record. Every write of it (an edit
through :func:`update_plan`, a build through :func:`ketaplan.write_outputs`)
holds an exclusive lock on ``<id>.json.lock`` beside it and reads the saved
plan again under that lock, so that two commands never lose each other's
changes: the second waits for the first (up to ``timeout`` seconds) and then
works on its result.

Files are written to a temporary name in the same folder, flushed to disk
(``fsync``), renamed over the old file and the folder flushed again, so a
crash at any moment leaves either the old file or the new one. A temporary
file left by a process that was killed is removed by the next command that
takes the plan's lock. Replaced files keep their permissions; new files
follow the umask, or are readable by their owner only with ``private``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from ._plan import Plan
from ._reader import read_file
from ._serialize import MAX_BYTES, plan_from_json, plan_to_json
from .exceptions import OutputError, SpecError

__all__ = [
    "BUILD_ACTIONS",
    "OUTPUT_SUFFIXES",
    "edits_since_build",
    "plan_lock",
    "update_plan",
    "write_files",
]

#: The files a build writes, by suffix after the plan id.
OUTPUT_SUFFIXES = (
    ".ics",
    "-clinic.ics",
    ".json",
    "-patient.html",
    "-patient.md",
    "-clinician.html",
    "-clinician.md",
    ".fhir.json",
)

#: Revisions that come from building a plan file rather than from a person's change.
BUILD_ACTIONS = frozenset({"created", "rebuilt", "started over"})

#: Revisions that record something done with the plan, not a change to it.
_NOT_EDITS = frozenset({"invite"})

_LOCK_SUFFIX = ".lock"


def output_names(plan_id: str) -> tuple[str, ...]:
    """The names of the files a build of plan ``plan_id`` writes."""
    return tuple(plan_id + suffix for suffix in OUTPUT_SUFFIXES)


@contextlib.contextmanager
def plan_lock(path: Path, *, timeout: float = 30.0) -> Iterator[None]:
    """Hold the lock of the saved plan at ``path``: an flock on ``<path>.lock``.

    The lock file exists only while the lock is held. Under the lock,
    temporary files that a killed writer of this plan left behind are
    removed.
    """
    lock_path = path.with_name(path.name + _LOCK_SUFFIX)
    deadline = time.monotonic() + timeout
    while True:
        try:
            handle = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as error:
            raise OutputError(f"{lock_path}: cannot lock the plan ({error.strerror})") from None
        try:
            if _flock(handle, path, deadline, timeout) and _still_linked(handle, lock_path):
                break
        except BaseException:
            os.close(handle)
            raise
        os.close(handle)
    try:
        _remove_stale(path)
        yield
    finally:
        # Unlink before unlocking: a waiter that then gets the lock on the
        # unlinked file sees that it is stale and opens the new one.
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(handle)


def _flock(handle: int, path: Path, deadline: float, timeout: float) -> bool:
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise OutputError(
                    f"{path}: another command has been changing this plan for {timeout:g} s; try again"
                ) from None
            time.sleep(0.02)


def _still_linked(handle: int, lock_path: Path) -> bool:
    """Whether the locked file is still the one at ``lock_path`` (not unlinked by its last holder)."""
    try:
        current = os.stat(lock_path)
    except FileNotFoundError:
        return False
    held = os.fstat(handle)
    return (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino)


def _remove_stale(path: Path) -> None:
    """Remove the temporary files a killed writer of this plan left (as tempfile.mkstemp
    names them in :func:`write_files`: ``.<file name>.`` and eight random characters and
    ``.tmp``), in one pass over the folder, which may hold the files of thousands of
    plans."""
    prefixes = [f".{name}." for name in output_names(path.name.removesuffix(".json"))]
    try:
        entries = os.scandir(path.parent)
    except OSError:
        return
    with entries:
        for entry in entries:
            name = entry.name
            if name.endswith(".tmp") and any(
                name.startswith(prefix) and len(name) == len(prefix) + 12 for prefix in prefixes
            ):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def write_files(folder: Path, files: Mapping[str, bytes], *, private: bool = False) -> list[Path]:
    """Write ``files`` (name to content) into ``folder``, each replaced atomically.

    Every file is staged and flushed before the first is renamed, so a
    failure writes nothing; temporary files are removed on any failure.
    """
    staged: list[tuple[str, Path]] = []
    new_mode: list[int] = []  # a new file's mode, from the umask read for the first one
    try:
        for name, content in files.items():
            final = folder / name
            handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
            staged.append((temporary, final))
            with os.fdopen(handle, "wb") as stream:
                stream.write(content)
                stream.flush()
                os.fchmod(stream.fileno(), _mode(final, private, new_mode))
                os.fsync(stream.fileno())
        _sync_folder(folder)
        for temporary, final in staged:
            os.replace(temporary, final)
        _sync_folder(folder)
    except OSError as error:
        _discard(staged)
        where = error.filename or folder
        raise OutputError(f"{where}: cannot write ({error.strerror})") from None
    except BaseException:
        _discard(staged)
        raise
    return [final for _temporary, final in staged]


def _discard(staged: list[tuple[str, Path]]) -> None:
    for temporary, _final in staged:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def _mode(path: Path, private: bool, new_mode: list[int]) -> int:
    """The mode to give the file written to ``path``: its own when it is replaced; else
    ``new_mode[0]``, worked out from the umask the first time."""
    if private:
        return 0o600
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        if not new_mode:
            new_mode.append(0o666 & ~_umask())
        return new_mode[0]


def _umask() -> int:
    try:
        # Read as bytes: a text file's first "ascii" decoding imports its codec (0.3 ms).
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _sync_folder(folder: Path) -> None:
    handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def read_saved(path: Path) -> Plan | None:
    """The plan saved at ``path``, or ``None`` when there is none."""
    if not os.path.lexists(path):
        return None
    return plan_from_json(read_file(path, what="plan", limit=MAX_BYTES))


def edits_since_build(plan: Plan) -> list[str]:
    """The actions of the revisions a person made after the plan was last built.

    Sending invitations is not an edit: it changes nothing a rebuild could lose.
    """
    built = max(
        (number for number, r in enumerate(plan.history) if r.action in BUILD_ACTIONS),
        default=-1,
    )
    return [r.action for r in plan.history[built + 1 :] if r.action not in _NOT_EDITS]


def backup_name(path: Path, now: dt.datetime) -> Path:
    """A free name beside ``path`` for keeping the saved plan when a build replaces it."""
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate = path.with_name(f"{path.name}.{stamp}.bak")
    number = 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}.{stamp}-{number}.bak")
    return candidate


def update_plan(
    path: str | Path,
    change: Callable[[Plan], Plan],
    *,
    expect_revision: int | None = None,
    timeout: float = 30.0,
) -> Plan:
    """Apply ``change`` to the plan saved at ``path`` and save the result; returns it.

    ``path`` must be an existing saved plan (``.json``); the plan is read
    under its lock, so a change made meanwhile by another command is kept.
    """
    path = Path(path)
    _check_saved_plan(path)
    path = Path(os.path.realpath(path))  # through a link, change the plan it points to
    with plan_lock(path, timeout=timeout):
        plan = read_saved(path)
        if plan is None:
            raise SpecError("plan", str(path), "no such file; give a saved plan .json")
        if expect_revision is not None and plan.revision != expect_revision:
            raise SpecError(
                "--expect-revision",
                expect_revision,
                f"the plan is at revision {plan.revision}: someone changed it since; look again and retry",
            )
        changed = change(plan)
        write_files(path.parent, {path.name: plan_to_json(changed).encode()})
        return changed


def _check_saved_plan(path: Path) -> None:
    """Refuse anything but an existing saved plan, before any lock file is made."""
    if path.suffix.lower() == ".toml":
        raise SpecError(
            "plan",
            str(path),
            "changes are made to the saved plan .json that 'ketaplan build' writes, not to the plan file",
        )
    if path.is_dir():
        raise SpecError("plan", str(path), "this is a folder; give a saved plan .json")
    if not path.parent.is_dir():
        raise SpecError("plan", str(path), "no such folder; give a saved plan .json")
    if not path.is_file():
        raise SpecError("plan", str(path), "no such file; give a saved plan .json")
    if path.suffix.lower() != ".json":
        raise SpecError("plan", str(path), "expected a saved plan .json")
