"""Changing a saved plan from the command line: in place, guarded, and nothing lost under concurrency."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ketaplan
from ketaplan._cli import main

from .conftest import EXAMPLES, NOW

EPOCH = "1796000000"  # 2026-11-30, before the example's first session


@pytest.fixture
def saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    assert 0 == main(
        ["build", str(EXAMPLES / "iv-induction.toml"), "--out", str(tmp_path)], stdout=io.StringIO()
    )
    return next(p for p in tmp_path.glob("*.json"))


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(args), stdout=out, stderr=err), out.getvalue(), err.getvalue()


def test_sessions_lists_keys_dates_and_status(saved: Path) -> None:
    """`ketaplan sessions` prints each session's key, kind, clinic time and status."""
    code, out, _ = run("sessions", str(saved))
    assert 0 == code
    assert "induction-01\tdosing\t2026-12-16 09:30\tscheduled" in out.splitlines()


def test_verbs_change_the_plan_in_place_and_history_shows_them(saved: Path) -> None:
    """omit, reschedule, dose and defer each add a revision that `ketaplan history` shows."""
    assert (
        0
        == run(
            "omit", str(saved), "maintenance-02", "--reason", "travelling", "--by", "front desk"
        )[0]
    )
    assert (
        0
        == run(
            "reschedule",
            str(saved),
            "induction-02",
            "--to",
            "2026-12-18T14:00",
            "--reason",
            "asked",
        )[0]
    )
    assert 0 == run("dose", str(saved), "body_weight", "72 kg", "--by", "Dr Osei")[0]
    assert 0 == run("defer", str(saved), "maintenance-03", "--days", "7", "--reason", "storm")[0]
    plan = ketaplan.load_plan(saved, now=NOW)
    assert ["created", "omit", "reschedule", "dose", "defer 7 days"] == [
        r.action for r in plan.history
    ]
    code, out, _ = run("history", str(saved))
    assert 0 == code
    assert "omit by front desk: travelling" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["omit", "{plan}", "induction-99", "--reason", "x"], "error: session: got 'induction-99'"),
        (
            ["reschedule", "{plan}", "induction-02", "--to", "2026-12-25T09:30", "--reason", "x"],
            "Christmas Day",
        ),
        (
            ["reschedule", "{plan}", "induction-02", "--to", "next week", "--reason", "x"],
            "error: --to: got 'next week'",
        ),
        (
            ["omit", "{plan}", "induction-02"],
            "error: the following arguments are required: --reason",
        ),
        (
            ["omit", "{plan}", "induction-02", "--reason", "x", "--expect-revision", "5"],
            "the plan is at revision 1",
        ),
    ],
)
def test_bad_changes_are_one_line_and_leave_the_plan_untouched(
    saved: Path, args: list[str], message: str
) -> None:
    """A refused change prints one error line, exits 2 and leaves the saved plan byte for byte as it was."""
    before = saved.read_bytes()
    code, _, err = run(*(a.format(plan=saved) for a in args))
    assert 2 == code
    assert 1 == len(err.splitlines())
    assert message in err
    assert before == saved.read_bytes()


def test_concurrent_changes_lose_nothing(saved: Path) -> None:
    """Twelve processes entering doses into one plan at once: every change lands, the file stays valid."""
    plan = ketaplan.load_plan(saved, now=NOW)
    keys = [s.key for s in plan.sessions if s.kind is ketaplan.SessionKind.DOSING][:12]
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH}
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ketaplan",
                "dose",
                str(saved),
                "body_weight",
                f"{60 + n} kg",
                "--session",
                key,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for n, key in enumerate(keys)
    ]
    errors = [worker.communicate(timeout=120)[1] for worker in workers]
    codes = [worker.returncode for worker in workers]
    assert [b""] * len(keys) == errors
    assert [0] * len(keys) == codes
    final = ketaplan.load_plan(saved, now=NOW)
    assert 1 + len(keys) == final.revision
    assert list(range(1, 2 + len(keys))) == [r.number for r in final.history]
    entered = {e.session: str(e.quantity) for e in final.doses}
    assert {key: f"{60 + n} kg" for n, key in enumerate(keys)} == entered
    assert [] == [p.name for p in saved.parent.iterdir() if p.suffix == ".tmp"]
