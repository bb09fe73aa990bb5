"""ketaplan's private cache folder: what a new process would otherwise compute again.

A build starts in a new process each time, and some of its inputs cost more
to compute than the build itself: a country's statutory holidays (the
``holidays`` package loads every country's calendar to find one), the
compiled document templates, the parsed built-in protocol and route files
(TOML is slow to read, JSON fast) and each time zone's VTIMEZONE (worked out
from every change in its tzdata file). All are kept in ``$XDG_CACHE_HOME/ketaplan``
(``~/.cache/ketaplan`` by default), in a folder of this user's that nobody
else can write. Anything wrong with the cache (no home folder, a read-only
disk, a damaged file) only means the value is computed again: a cache never
fails a build and never changes its output.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import importlib.util
import json
import math
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["cache_folder", "holidays_cached", "json_cached", "parsed_cached"]

#: A calendar code safe to name a file by (anything else is computed, never cached).
_CODE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,10})?")


def cache_folder(name: str, *, replaces: str = "") -> Path | None:
    """The private cache folder ``name`` (created 0700), or ``None`` when none can be had.

    With ``replaces``, the folders whose names start with it hold what an earlier state of
    the code kept (``name`` starts with it too): making ``name`` removes them, so that
    they do not pile up with each upgrade.
    """
    base = os.environ.get("XDG_CACHE_HOME", "")
    try:
        root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
        folder = root / "ketaplan" / name
        made = False
        try:  # made before, as it mostly is: two looks instead of three attempts to make it
            info, parent = folder.stat(), folder.parent.stat()
        except FileNotFoundError:
            root.mkdir(parents=True, exist_ok=True)
            folder.parent.mkdir(mode=0o700, exist_ok=True)
            try:
                folder.mkdir(mode=0o700)
                made = True
            except FileExistsError:
                pass
            info, parent = folder.stat(), folder.parent.stat()
    except (OSError, RuntimeError):  # RuntimeError: no home folder
        return None
    for held in (info, parent):
        if not stat.S_ISDIR(held.st_mode) or held.st_mode & 0o022:
            return None
        if hasattr(os, "getuid") and held.st_uid != os.getuid():
            return None
    if made and replaces:
        _remove_older(folder, replaces)
    return folder


def _remove_older(folder: Path, replaces: str) -> None:
    """Remove the folders beside ``folder`` whose names start with ``replaces``."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder.parent):
            if not entry.name.startswith(replaces) or entry.name == folder.name:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:  # a link is removed, never followed
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


@functools.cache
def _holidays_release() -> str | None:
    """What identifies the installed ``holidays`` package, without importing it: where it
    is and when its files were written (an upgrade rewrites them). Found once a process:
    an upgrade while it runs is not seen by the package it has loaded either."""
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
    _write(folder, path.name, text)
    return found


def json_cached(
    folder_name: str, key: str, compute: Callable[[], dict[str, Any]], *, replaces: str = ""
) -> dict[str, Any]:
    """``compute()``, a JSON object that depends on ``key`` alone: from the cache folder
    ``folder_name`` when it was kept for the same ``key`` before, else computed and kept
    for the next process. The caller checks the shape of what comes back (a damaged file
    that is still JSON is returned as it is) and names the folder after everything else
    the value depends on, such as the versions of the code that computes it."""
    folder = (
        cache_folder(folder_name, replaces=replaces)
        if re.fullmatch(r"[\w.-]+", folder_name)
        else None
    )
    if folder is None:
        return compute()
    return _kept(folder, f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json", key, compute)


def _kept(
    folder: Path,
    file: str,
    key: str,
    compute: Callable[[], dict[str, Any]],
    keep: Callable[[dict[str, Any]], bool] = lambda data: True,
) -> dict[str, Any]:
    """The JSON object kept in ``folder / file`` for ``key``, else ``compute()``, kept there
    for the next process when ``keep`` says it may be."""
    with contextlib.suppress(OSError, ValueError, TypeError, LookupError):
        stored = json.loads((folder / file).read_bytes())
        if stored["key"] == key and isinstance(stored["data"], dict):
            kept: dict[str, Any] = stored["data"]
            return kept
        # Otherwise damaged, or not what ketaplan wrote: computed again and rewritten.
    data = compute()
    if keep(data):
        _write(folder, file, json.dumps({"key": key, "data": data}))
    return data


def _write(folder: Path, name: str, text: str) -> None:
    """:func:`_write_bytes` of ``text`` in UTF-8."""
    _write_bytes(folder, name, text.encode("utf-8"))


def _write_bytes(folder: Path, name: str, data: bytes) -> None:
    """Write ``data`` to ``folder / name`` whole or not at all; a failure only means the
    value is computed again next time."""
    with contextlib.suppress(OSError):
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            os.replace(temporary, folder / name)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _plain(value: object) -> bool:
    """Whether ``value`` comes back from JSON as it is: tables with text keys, lists,
    text, whole numbers, finite decimals and booleans (not a TOML date or time)."""
    if isinstance(value, dict):
        return all(isinstance(key, str) and _plain(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_plain(item) for item in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str | int)  # bool is an int


def parsed_cached(name: str, text: str, parse: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """``parse(text)``, the package's data file ``name`` (``"protocols/im-kap.toml"``):
    from the cache when this release of ketaplan parsed the same text before, else parsed
    and kept as JSON for the next process (when the parsed data is plain JSON)."""
    from . import __version__  # the package has finished importing by the time of a parse

    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    release = f"{__version__}-py{sys.version_info[0]}.{sys.version_info[1]}"
    folder = cache_folder(f"data-{release}") if re.fullmatch(r"[\w.-]+", release) else None
    if folder is None:
        return parse(text)
    file = f"{name.replace('/', '-')}-{digest}.json"
    return _kept(folder, file, digest, lambda: parse(text), keep=_plain)
