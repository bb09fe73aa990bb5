"""Changing a saved plan from the command line: in place, guarded, and nothing lost under concurrency."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

import ketaplan
import ketaplan._store
from ketaplan._cli import main
from ketaplan._store import edits_since_build

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


# -- rebuilding a saved plan ------------------------------------------------------------


@pytest.fixture
def edited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A plan file built into out/, then changed there by the clinic: omit, dose, finalise,
    reschedule, complete."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    plan_file = tmp_path / "plan.toml"
    plan_file.write_text((EXAMPLES / "iv-induction.toml").read_text(encoding="utf-8"))
    out = tmp_path / "out"
    assert 0 == run("build", str(plan_file), "--out", str(out))[0]
    saved = out / "lakeside-iv-0107.json"
    assert 0 == run("omit", str(saved), "maintenance-03", "--reason", "travelling")[0]
    for field, value in (("dose_per_kg", "0.5 mg/kg"), ("body_weight", "72 kg")):
        assert 0 == run("dose", str(saved), field, value)[0]
    assert 0 == run("dose", str(saved), "infusion_minutes", "40 min")[0]
    assert 0 == run("finalise", str(saved), "--clinician", "Dr Osei")[0]
    moved = ("reschedule", str(saved), "maintenance-02", "--to", "2027-03-02T11:00")
    assert 0 == run(*moved, "--reason", "patient asked")[0]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1797600000")  # 2026-12-18, after induction-01
    assert 0 == run("complete", str(saved), "induction-01")[0]
    return plan_file, saved


def _with_closure(plan_file: Path, day: str) -> None:
    text = plan_file.read_text(encoding="utf-8")
    plan_file.write_text(
        text.replace(
            'closures = [{ date = 2026-12-24, reason = "Christmas Eve: the clinic closes" }]',
            'closures = [{ date = 2026-12-24, reason = "Christmas Eve: the clinic closes" }, '
            f'{{ date = {day}, reason = "flooded" }}]',
        ),
        encoding="utf-8",
    )


def test_rebuild_after_edits_keeps_them_and_lays_the_rest_around_a_new_closure(
    edited: tuple[Path, Path],
) -> None:
    """A new closure in the plan file, rebuilt over a saved plan with edits: the completed,
    omitted and hand-moved sessions, doses and history stay; the future session on the
    closed day moves with its reason, printed and recorded; the sign-off that covered it
    is withdrawn."""
    plan_file, saved = edited
    before = ketaplan.load_plan(saved, now=NOW)
    _with_closure(plan_file, "2027-02-01")
    code, out, err = run("build", str(plan_file), "--out", str(saved.parent))
    assert (0, "") == (code, err)
    plan = ketaplan.load_plan(saved, now=NOW)
    lines = [line for line in out.splitlines() if line.startswith("re-planned\t")]
    assert [
        "re-planned\tmaintenance-01: re-planned from Mon 2027-02-01 09:30 to Wed 2027-02-03 09:30 "
        "(Mon 01 Feb 2027: closure: flooded)",
        "re-planned\tsign-off withdrawn: a session it covered moved; the plan is a draft again",
    ] == lines
    for key in ("induction-01", "maintenance-03", "maintenance-02"):
        assert before.session(key) == plan.session(key)
    assert ketaplan.SessionStatus.COMPLETED is plan.session("induction-01").status
    assert dt.date(2027, 2, 3) == plan.session("maintenance-01").start.date()
    assert before.session("maintenance-01").sequence + 1 == plan.session("maintenance-01").sequence
    assert (before.doses, None) == (plan.doses, plan.signoff)
    assert plan.is_draft
    assert before.history == plan.history[:-1]
    revision = plan.history[-1]
    assert "re-planned" == revision.action
    assert any("sign-off by Dr Osei withdrawn" in change for change in revision.changes)


def test_rebuild_after_edits_that_moves_nothing_keeps_the_sign_off(
    edited: tuple[Path, Path],
) -> None:
    """A plan file change that moves no session keeps the edits and the sign-off."""
    plan_file, saved = edited
    before = ketaplan.load_plan(saved, now=NOW)
    _with_closure(plan_file, "2027-02-10")
    code, out, _ = run("build", str(plan_file), "--out", str(saved.parent))
    assert 0 == code
    assert "re-planned\t" not in out
    plan = ketaplan.load_plan(saved, now=NOW)
    assert before.sessions == plan.sessions
    assert (before.signoff, before.doses) == (plan.signoff, plan.doses)


def test_rebuilding_the_same_plan_file_again_changes_nothing(edited: tuple[Path, Path]) -> None:
    """Building an unchanged plan file over a re-planned saved plan writes the same plan."""
    plan_file, saved = edited
    _with_closure(plan_file, "2027-02-01")
    assert 0 == run("build", str(plan_file), "--out", str(saved.parent))[0]
    first = saved.read_bytes()
    assert 0 == run("build", str(plan_file), "--out", str(saved.parent))[0]
    assert first == saved.read_bytes()


def test_invitations_are_not_edits_a_rebuild_could_lose() -> None:
    """An ``invite`` revision alone does not count as a change since the plan was built."""
    plan = ketaplan.load_plan(EXAMPLES / "iv-induction.toml", now=NOW)
    invited = ketaplan.Revision(2, NOW, "invite", changes=("induction-01: REQUEST",))
    assert [] == edits_since_build(attrs.evolve(plan, history=(*plan.history, invited)))
    omitted = ketaplan.Revision(3, NOW, "omit")
    assert ["omit"] == edits_since_build(
        attrs.evolve(plan, history=(*plan.history, invited, omitted))
    )


def test_build_from_the_saved_plan_keeps_every_change(edited: tuple[Path, Path]) -> None:
    """Building the saved JSON into its own folder keeps the omission, doses, sign-off and completion."""
    _plan_file, saved = edited
    assert 0 == run("build", str(saved), "--out", str(saved.parent))[0]
    plan = ketaplan.load_plan(saved, now=NOW)
    assert ketaplan.SessionStatus.CANCELLED is plan.session("maintenance-03").status
    assert ketaplan.SessionStatus.COMPLETED is plan.session("induction-01").status
    assert 3 == len(plan.doses)
    assert plan.signoff is not None
    assert not plan.is_draft


def test_replace_starts_over_and_keeps_the_saved_plan_as_a_backup(
    edited: tuple[Path, Path],
) -> None:
    """--replace rebuilds from the plan file, keeps the old JSON beside it and records why."""
    plan_file, saved = edited
    old = saved.read_bytes()
    code, out, _ = run("build", str(plan_file), "--out", str(saved.parent), "--replace")
    assert 0 == code
    backups = list(saved.parent.glob("*.bak"))
    assert [old] == [b.read_bytes() for b in backups]
    assert str(backups[0]) not in out
    plan = ketaplan.load_plan(saved, now=NOW)
    assert ("started over", None, ()) == (plan.history[-1].action, plan.signoff, plan.doses)
    assert ketaplan.SessionStatus.SCHEDULED is plan.session("maintenance-03").status
    restored = plan.session("maintenance-03")
    assert restored.sequence > 0  # calendars that cancelled it see it again


def test_unchanged_rebuild_of_an_unedited_plan_writes_the_same_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Building the same plan file twice (at different times) leaves the saved plan as it was."""
    out = tmp_path / "out"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    assert 0 == run("build", str(EXAMPLES / "iv-induction.toml"), "--out", str(out))[0]
    first = (out / "lakeside-iv-0107.json").read_bytes()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(EPOCH) + 3600))
    assert 0 == run("build", str(EXAMPLES / "iv-induction.toml"), "--out", str(out))[0]
    assert first == (out / "lakeside-iv-0107.json").read_bytes()


def test_write_outputs_of_an_older_revision_keeps_the_newer_saved_plan(saved: Path) -> None:
    """An API caller writing a plan it read before an edit landed does not undo that edit."""
    assert 0 == run("omit", str(saved), "maintenance-02", "--reason", "away")[0]
    stale = ketaplan.load_plan(saved, now=NOW)  # what the caller holds: revision 2
    assert 0 == run("omit", str(saved), "maintenance-03", "--reason", "away")[0]
    newer = ketaplan.load_plan(saved, now=NOW)
    ketaplan.write_outputs(stale, saved.parent, now=NOW)
    assert (3, newer) == (newer.revision, ketaplan.load_plan(saved, now=NOW))
    fresh = ketaplan.load_plan(EXAMPLES / "iv-induction.toml", now=NOW)
    ketaplan.write_outputs(fresh, saved.parent, now=NOW)
    assert newer == ketaplan.load_plan(saved, now=NOW)  # nothing to re-plan: kept as it was


# -- the files themselves ---------------------------------------------------------------


def test_killed_writers_temporary_files_are_removed_by_the_next_command(saved: Path) -> None:
    """A temporary file a killed edit left beside the plan (it holds the whole plan) is
    removed by the next command that takes the plan's lock, and no lock file stays."""
    stale = saved.parent / f".{saved.name}.k2j4x9_a.tmp"
    stale.write_bytes(saved.read_bytes())
    other = saved.parent / ".lakeside-iv-0107-patient.html.abcdefgh.tmp"
    other.write_text("partial")
    unrelated = saved.parent / ".someone-else.json.abcdefgh.tmp"
    unrelated.write_text("not ours")
    assert 0 == run("omit", str(saved), "maintenance-02", "--reason", "away")[0]
    left = sorted(p.name for p in saved.parent.iterdir() if p.name.startswith("."))
    assert [unrelated.name] == left
    assert [] == list(saved.parent.glob("*.lock"))


def test_a_failed_write_leaves_no_temporary_file(
    saved: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When renaming fails half-way, nothing is replaced and every temporary file is removed."""
    before = saved.read_bytes()

    def broken(source: object, target: object) -> None:
        raise OSError(28, "No space left on device", str(target))

    monkeypatch.setattr(os, "replace", broken)
    code, _, err = run("omit", str(saved), "maintenance-02", "--reason", "away")
    assert 2 == code
    assert "No space left on device" in err
    assert before == saved.read_bytes()
    assert [] == [p.name for p in saved.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("plan.toml", "changes are made to the saved plan .json"),
        ("missing.json", "no such file"),
        ("folder", "this is a folder"),
        ("gone/plan.json", "no such folder"),
    ],
)
def test_edits_of_anything_but_a_saved_plan_create_no_lock(
    tmp_path: Path, name: str, message: str
) -> None:
    """`dose` on a plan file, a missing file, a folder or a path in a missing folder is
    refused with one line, and leaves no lock file behind."""
    (tmp_path / "plan.toml").write_text("[plan]\n")
    (tmp_path / "folder").mkdir()
    before = sorted(tmp_path.rglob("*"))
    code, _, err = run("dose", str(tmp_path / name), "body_weight", "72 kg")
    assert 2 == code
    assert message in err
    assert before == sorted(tmp_path.rglob("*"))


def test_an_edit_keeps_a_shared_plans_mode(saved: Path) -> None:
    """A plan shared with the clinic's group (0664) stays 0664 after edits and rebuilds."""
    for path in saved.parent.iterdir():
        path.chmod(0o664)
    assert 0 == run("omit", str(saved), "maintenance-02", "--reason", "away")[0]
    assert 0 == run("build", str(saved), "--out", str(saved.parent))[0]
    assert {0o664} == {p.stat().st_mode & 0o777 for p in saved.parent.iterdir()}


def test_new_files_follow_the_umask_and_private_makes_them_0600(tmp_path: Path) -> None:
    """New files are created with the umask's mode; --private makes them owner-only."""
    old = os.umask(0o002)
    try:
        assert 0 == run("demo", str(tmp_path / "shared"))[0]
        assert 0 == run("demo", str(tmp_path / "private"), "--private")[0]
    finally:
        os.umask(old)
    assert {0o664} == {p.stat().st_mode & 0o777 for p in (tmp_path / "shared").iterdir()}
    assert {0o600} == {p.stat().st_mode & 0o777 for p in (tmp_path / "private").iterdir()}


def test_unreadable_plan_is_one_line(saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan the command may not read gives one error line naming it, not a traceback."""
    real_open = os.open

    def denied(path: object, *args: Any, **kwargs: Any) -> int:
        if Path(str(path)) == saved:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", denied)
    code, _, err = run("dose", str(saved), "body_weight", "72 kg")
    assert 2 == code
    assert 1 == len(err.splitlines())
    assert "Permission denied" in err


def test_reschedule_to_accepts_a_time_with_its_offset(saved: Path) -> None:
    """A script that reads a start from the saved JSON (with its UTC offset) and adds 30 minutes
    can pass it to --to: an offset means that instant, shown in clinic time; without one,
    --to is clinic wall-clock time."""
    plan = ketaplan.load_plan(saved, now=NOW)
    start = plan.session("induction-02").start + dt.timedelta(minutes=30)
    utc = start.astimezone(dt.UTC).isoformat()  # another offset, the same instant
    assert 0 == run("reschedule", str(saved), "induction-02", "--to", utc, "--reason", "x")[0]
    moved = ketaplan.load_plan(saved, now=NOW).session("induction-02")
    assert (start, "10:00") == (moved.start, f"{moved.start:%H:%M}")
    wall = f"{start:%Y-%m-%d}T10:30"
    assert 0 == run("reschedule", str(saved), "induction-02", "--to", wall, "--reason", "x")[0]
    assert "10:30" == f"{ketaplan.load_plan(saved, now=NOW).session('induction-02').start:%H:%M}"


def test_a_rebuild_keeps_boosters_a_clinician_added(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Boosters added to a saved plan are a decision the plan file does not know: a rebuild
    from the plan file keeps them scheduled instead of cancelling them."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    plan_file = tmp_path / "plan.toml"
    plan_file.write_text((EXAMPLES / "iv-induction.toml").read_text(encoding="utf-8"))
    out = tmp_path / "out"
    assert 0 == run("build", str(plan_file), "--out", str(out))[0]
    saved = out / "lakeside-iv-0107.json"
    now = ketaplan.load_plan(saved, now=NOW).history[0].at
    ketaplan._store.update_plan(
        saved, lambda plan: ketaplan.add_boosters(plan, 1, now=now, reason="relapse")
    )
    booster = ketaplan.load_plan(saved, now=NOW).session("maintenance-04")
    plan_file.write_text(
        plan_file.read_text(encoding="utf-8").replace(
            "closures = [", 'closures = [{ date = 2027-01-06, reason = "storm" }, '
        ),
        encoding="utf-8",
    )
    assert 0 == run("build", str(plan_file), "--out", str(out))[0]
    kept = ketaplan.load_plan(saved, now=NOW).session("maintenance-04")
    assert (ketaplan.SessionStatus.SCHEDULED, booster.start) == (kept.status, kept.start)


def test_two_copies_changed_apart_are_not_written_over_each_other(
    saved: Path, tmp_path: Path
) -> None:
    """A copy of a saved plan edited elsewhere cannot be built over the saved plan once both
    have changes of their own: that would lose one side's edits, so nothing is written."""
    copy = tmp_path / "elsewhere" / saved.name
    copy.parent.mkdir()
    copy.write_bytes(saved.read_bytes())
    assert 0 == run("omit", str(saved), "maintenance-02", "--reason", "away")[0]
    assert 0 == run("omit", str(copy), "maintenance-03", "--reason", "away")[0]
    before = saved.read_bytes()
    code, _, err = run("build", str(copy), "--out", str(saved.parent))
    assert (2, 1) == (code, len(err.splitlines()))
    assert "were each changed on their own" in err
    assert before == saved.read_bytes()
    with pytest.raises(ketaplan.ConflictError):
        ketaplan.write_outputs(ketaplan.load_plan(copy, now=NOW), saved.parent, now=NOW)
