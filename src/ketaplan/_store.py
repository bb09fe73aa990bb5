"""Changing a saved plan file safely: one writer at a time, atomic replacement.

:func:`update_plan` takes an exclusive lock on ``<plan>.lock`` beside the
file, reads the plan, checks the revision the caller expected, applies the
change and writes the result to a temporary file that then replaces the
plan. Two commands changing the same plan at once never lose a change: the
second waits for the first (up to ``timeout`` seconds) and then works on
its result, or fails naming the revision it expected.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ._plan import Plan
from ._serialize import plan_from_json, plan_to_json
from .exceptions import OutputError, SpecError

__all__ = ["update_plan"]


@contextlib.contextmanager
def _locked(path: Path, timeout: float) -> Iterator[None]:
    lock_path = path.with_name(path.name + ".lock")
    with open(lock_path, "a+b") as lock:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise OutputError(
                        f"{path}: another command has been changing this plan for {timeout:g} s; try again"
                    ) from None
                time.sleep(0.02)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def update_plan(
    path: str | Path,
    change: Callable[[Plan], Plan],
    *,
    expect_revision: int | None = None,
    timeout: float = 30.0,
) -> Plan:
    """Apply ``change`` to the plan saved at ``path`` and save the result; returns it."""
    path = Path(path)
    with _locked(path, timeout):
        try:
            plan = plan_from_json(path.read_bytes())
        except FileNotFoundError:
            raise SpecError("plan", str(path), "no such file; give a saved plan .json") from None
        if expect_revision is not None and plan.revision != expect_revision:
            raise SpecError(
                "--expect-revision",
                expect_revision,
                f"the plan is at revision {plan.revision}: someone changed it since; look again and retry",
            )
        changed = change(plan)
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(plan_to_json(changed))
            os.replace(temporary, path)
        except OSError as error:
            Path(temporary).unlink(missing_ok=True)
            raise OutputError(f"{path}: cannot save the plan ({error.strerror})") from None
        return changed
