"""ketaplan's private cache folder: what a new process would otherwise compute again.

A build starts in a new process each time, and some of its inputs cost more
to compute than the build itself: a country's statutory holidays (the
``holidays`` package loads every country's calendar to find one) and the
compiled document templates. Both are kept in ``$XDG_CACHE_HOME/ketaplan``
(``~/.cache/ketaplan`` by default), in a folder of this user's that nobody
else can write. Anything wrong with the cache (no home folder, a read-only
disk, a damaged file) only means the value is computed again: a cache never
fails a build and never changes its output.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import importlib.util
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = ["cache_folder", "holidays_cached"]

#: A calendar code safe to name a file by (anything else is computed, never cached).
_CODE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,10})?")


def cache_folder(name: str) -> Path | None:
    """The private cache folder ``name`` (created 0700), or ``None`` when none can be had."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    try:
        root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
        folder = root / "ketaplan" / name
        root.mkdir(parents=True, exist_ok=True)
        folder.parent.mkdir(mode=0o700, exist_ok=True)
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.stat()
        parent = folder.parent.stat()
    except (OSError, RuntimeError):  # RuntimeError: no home folder
        return None
    for held in (info, parent):
        if not stat.S_ISDIR(held.st_mode) or held.st_mode & 0o022:
            return None
        if hasattr(os, "getuid") and held.st_uid != os.getuid():
            return None
    return folder


def _holidays_release() -> str | None:
    """What identifies the installed ``holidays`` package, without importing it: where it
    is and when its files were written (an upgrade rewrites them)."""
    try:
        spec = importlib.util.find_spec("holidays")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    package = Path(spec.origin).parent
    try:
        marks = [(str(path), path.stat().st_mtime_ns) for path in (package, package / "version.py")]
    except OSError:
        return None
    return hashlib.sha256(repr(marks).encode()).hexdigest()[:16]


def holidays_cached(
    code: str, year: int, compute: Callable[[], Mapping[dt.date, str]]
) -> Mapping[dt.date, str]:
    """The holidays of calendar ``code`` in ``year``: from the cache when this release of
    ``holidays`` computed them before, else ``compute()``, kept for the next process."""
    release = _holidays_release() if _CODE.fullmatch(code) else None
    folder = cache_folder(f"holidays-{release}") if release else None
    if folder is None:
        return compute()
    path = folder / f"{code}-{year}.json"
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError, LookupError):
        stored = json.loads(path.read_bytes())
        if stored["code"] == code and stored["year"] == year:
            kept = {dt.date.fromisoformat(day): name for day, name in stored["days"].items()}
            if all(isinstance(name, str) and name for name in kept.values()):
                return kept
        # Otherwise damaged, or not what ketaplan wrote: computed again and rewritten.
    found = compute()
    text = json.dumps(
        {"code": code, "year": year, "days": {day.isoformat(): found[day] for day in sorted(found)}}
    )
    with contextlib.suppress(OSError):
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{code}-{year}.")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
            os.replace(temporary, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
    return found
